import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { readStorageLayout, refreshContinuousAggregate, type StorageLayout } from './maintenance.repository.ts';
import { rawCutoff } from './retention.ts';
import {
  getWatermark,
  reaggregateHopHours,
  reaggregatePathHours,
  setWatermark,
  touchedHours,
  type RollupSource,
} from './rollup.repository.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Rows received this recently are left for the next run: an ingest
 * transaction that took its receive time before the cut may not have
 * committed yet.
 */
export const SETTLE_MS = 2 * 60_000;
/** Hours re-aggregated per transaction, so a first run over months of data commits as it goes. */
export const HOURS_PER_TRANSACTION = 48;
/**
 * How far back the continuous aggregates' refresh reaches for late rows
 * (agents buffer while the collector is away). It must stay clear of the raw
 * retention boundary: refreshing an hour whose raw chunk was dropped empties it.
 */
export const LATE_WINDOW_MS = 7 * DAY_MS;
/** The refresh policy leaves the running hour to real-time aggregation. */
export const REFRESH_END_OFFSET_MS = HOUR_MS;

const ROLLUP_OF: Record<RollupSource, 'path_probe_hourly' | 'hop_quality_hourly'> = {
  path_probe: 'path_probe_hourly',
  hop_quality: 'hop_quality_hourly',
};

export function lateWindowMs(config: Config): number {
  const clearOfRetention = config.RETENTION_RAW_DAYS * DAY_MS - 2 * DAY_MS;
  return Math.max(3 * HOUR_MS, Math.min(LATE_WINDOW_MS, clearOfRetention));
}

export interface RollupReport {
  rollups: Array<
    | { rollup: string; method: 'incremental'; hours: number; rows: number; received_through: string; previous: string | null }
    | { rollup: string; method: 'continuous_aggregate'; from: string; to: string }
  >;
}

/**
 * Brings the hourly rollups up to `now`. Rollup tables (Apache-only and plain
 * PostgreSQL) are refreshed incrementally: every hour holding a row received
 * since the watermark is re-aggregated whole, so late rows land in their own
 * hour. Continuous aggregates are refreshed over the late window — their
 * native policy does the same on a server with background workers.
 */
export async function refreshRollups(db: Database, now: Date, config: Config, layout?: StorageLayout): Promise<RollupReport> {
  const l = layout ?? (await readStorageLayout(db));
  const report: RollupReport = { rollups: [] };
  for (const source of ['path_probe', 'hop_quality'] as const) {
    const rollup = ROLLUP_OF[source];
    if (l.caggs.has(rollup)) {
      const to = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS);
      const from = new Date(Math.max(to.getTime() - lateWindowMs(config), rawCutoff(now, config).getTime() + DAY_MS));
      if (to > from) await refreshContinuousAggregate(db, rollup, from, to);
      report.rollups.push({ rollup, method: 'continuous_aggregate', from: from.toISOString(), to: to.toISOString() });
      continue;
    }
    const previous = await getWatermark(db, rollup);
    const through = new Date(now.getTime() - SETTLE_MS);
    if (previous && through <= previous) {
      report.rollups.push({ rollup, method: 'incremental', hours: 0, rows: 0, received_through: previous.toISOString(), previous: previous.toISOString() });
      continue;
    }
    // Hours retention is about to drop are not worth re-aggregating from a partial raw table.
    const hours = await touchedHours(db, source, previous, through, rawCutoff(now, config));
    let rows = 0;
    for (let i = 0; i < hours.length; i += HOURS_PER_TRANSACTION) {
      const batch = hours.slice(i, i + HOURS_PER_TRANSACTION);
      rows += await db.transaction().execute((trx) => (source === 'path_probe' ? reaggregatePathHours(trx, batch) : reaggregateHopHours(trx, batch)));
    }
    await setWatermark(db, rollup, through, now);
    report.rollups.push({ rollup, method: 'incremental', hours: hours.length, rows, received_through: through.toISOString(), previous: previous?.toISOString() ?? null });
  }
  return report;
}
