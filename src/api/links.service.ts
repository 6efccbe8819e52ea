import type { Executor } from '../db/database.ts';
import type { DatabaseMode } from '../db/mode.ts';
import { link, linkKey } from '../incidents/keys.ts';
import type { LinkSeries } from './links.schema.ts';
import { linkSeries } from './links.repository.ts';
import { ROLLUP_MIN_RANGE_MS, type SeriesRange } from './paths.service.ts';

const HOUR_S = 3600;

/** LQ/NLQ/ETX of the link x–y (either order) over the range, as the path series: raw, or the hourly rollup for long whole-hour ranges. */
export async function linkQualitySeries(db: Executor, mode: DatabaseMode, x: string, y: string, range: SeriesRange): Promise<LinkSeries> {
  const { a, b } = link(x, y);
  const { since, until, stepS } = range;
  const hourly = stepS % HOUR_S === 0 && until.getTime() - since.getTime() >= ROLLUP_MIN_RANGE_MS;
  const rollupFrom = hourly ? new Date(Math.floor(since.getTime() / (HOUR_S * 1000)) * HOUR_S * 1000) : null;
  const points = await linkSeries(db, mode, { a, b }, { since, until, stepS, rollupFrom });
  return {
    a, b, link: linkKey(a, b),
    since: since.toISOString(), until: until.toISOString(), step_s: stepS,
    source: hourly ? 'hourly' : 'raw',
    points,
  };
}
