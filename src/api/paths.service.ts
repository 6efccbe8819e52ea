import type { Executor } from '../db/database.ts';
import type { DatabaseMode } from '../db/mode.ts';
import { problems } from '../http/problem.ts';
import type { PathSeries, SeriesQuery } from './paths.schema.ts';
import { routeSeries, type RouteRef } from './paths.repository.ts';

const HOUR_S = 3600;
const DAY_MS = 86_400_000;
export const DEFAULT_RANGE_MS = DAY_MS;
export const MAX_RANGE_MS = 400 * DAY_MS;
export const MAX_BUCKETS = 5000;
/** Ranges at least this long, in whole-hour steps, read the hourly rollup. */
export const ROLLUP_MIN_RANGE_MS = 2 * DAY_MS;
export const ROUTE_CHANGES_LISTED = 500;
const AUTO_STEPS_S = [60, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 604800];
const AUTO_MAX_BUCKETS = 300;

export interface SeriesRange {
  since: Date;
  until: Date;
  stepS: number;
}

const bad = (param: string, message: string) =>
  problems.badRequest(`invalid query parameter: ${param} (${message})`, [{ path: param, message }]);

/** Fills the defaults (they depend on the clock) and checks what only makes sense together. */
export function resolveRange(q: SeriesQuery, now: Date): SeriesRange {
  const until = q.until ?? (q.since && q.since > now ? new Date(q.since.getTime() + DEFAULT_RANGE_MS) : now);
  const since = q.since ?? new Date(until.getTime() - DEFAULT_RANGE_MS);
  if (since >= until) throw bad('since', 'must be before until (default until: now)');
  const span = until.getTime() - since.getTime();
  if (span > MAX_RANGE_MS) throw bad('since', `the range may span at most ${MAX_RANGE_MS / DAY_MS} days`);
  let stepS = q.step;
  if (stepS === undefined) {
    stepS = AUTO_STEPS_S.find((s) => span / (s * 1000) <= AUTO_MAX_BUCKETS) ?? AUTO_STEPS_S.at(-1)!;
  } else if (span / (stepS * 1000) > MAX_BUCKETS) {
    throw bad('step', `too small for the range: at most ${MAX_BUCKETS} buckets (${Math.ceil(span / (stepS * 1000))} requested)`);
  }
  return { since, until, stepS };
}

export async function pathSeries(db: Executor, mode: DatabaseMode, route: RouteRef, range: SeriesRange): Promise<PathSeries> {
  const { since, until, stepS } = range;
  const hourly = stepS % HOUR_S === 0 && until.getTime() - since.getTime() >= ROLLUP_MIN_RANGE_MS;
  // The rollup holds whole hours: start at the hour holding `since`.
  const rollupFrom = hourly ? new Date(Math.floor(since.getTime() / (HOUR_S * 1000)) * HOUR_S * 1000) : null;
  const r = await routeSeries(db, mode, route, { since, until, stepS, rollupFrom }, ROUTE_CHANGES_LISTED);
  return {
    src: route.src,
    dst: route.dst,
    route: `${route.src}>${route.dst}`,
    since: since.toISOString(),
    until: until.toISOString(),
    step_s: stepS,
    source: hourly ? 'hourly' : 'raw',
    points: r.points,
    route_changes: r.route_changes,
    route_changes_total: r.route_changes_total,
  };
}
