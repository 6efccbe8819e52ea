import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import { deleteClockLedgerBefore, deleteDropStatsBefore } from '../ingest/ingest.repository.ts';
import {
  compressionStats,
  deleteClosedIncidentsBatch,
  deleteOlderBatch,
  dropChunks,
  readStorageLayout,
  type CompressionStats,
  type DeletableTable,
  type Relation,
  type StorageLayout,
} from './maintenance.repository.ts';

const DAY_MS = 86_400_000;
/** Raw hypertables use one-day chunks; TimescaleDB gives their continuous aggregates ten-day ones. */
export const RAW_BLOCK_MS = DAY_MS;
export const ROLLUP_BLOCK_MS = 10 * DAY_MS;
/** A retry or a repeated probe comes within minutes: the clock ledger keeps two days. */
export const LEDGER_KEEP_DAYS = 2;
/** The registry shows a day of drops, agent_misreport looks back half an hour: a week is plenty. */
export const DROP_STATS_KEEP_DAYS = 7;
/** Rows per DELETE: a few milliseconds of row locks each on a Pi. */
export const DELETE_BATCH = 5_000;

export const RAW_TABLES = ['path_probe', 'hop_quality', 'agent_health'] as const satisfies Relation[];
export const ROLLUPS = ['path_probe_hourly', 'hop_quality_hourly'] as const satisfies Relation[];

/**
 * Retention removes whole blocks (a UTC day of raw data, ten days of rollups)
 * once all of the block is past the limit — what drop_chunks does with the
 * chunks of a hypertable. Plain tables cut at the same boundary, so every
 * mode keeps exactly the same rows.
 */
export function blockCutoff(now: Date, days: number, blockMs: number): Date {
  const limit = now.getTime() - days * DAY_MS;
  return new Date(Math.floor(limit / blockMs) * blockMs);
}

export function rawCutoff(now: Date, config: Config): Date {
  return blockCutoff(now, config.RETENTION_RAW_DAYS, RAW_BLOCK_MS);
}

export function rollupCutoff(now: Date, config: Config): Date {
  return blockCutoff(now, config.RETENTION_ROLLUP_DAYS, ROLLUP_BLOCK_MS);
}

export type RetentionMethod = 'native_policy' | 'drop_chunks' | 'delete';

export interface TableRetention {
  table: string;
  method: RetentionMethod;
  cutoff: string;
  /** Rows deleted (delete) or chunks dropped (drop_chunks); null when a native policy does it. */
  removed: number | null;
}

export interface RetentionReport {
  tables: TableRetention[];
  compression: 'native_policy' | 'unavailable';
  compression_stats?: CompressionStats[];
}

/**
 * One retention pass as of `now`: raw data older than RETENTION_RAW_DAYS,
 * rollups older than RETENTION_ROLLUP_DAYS, closed incidents older than
 * RETENTION_INCIDENT_DAYS. Hypertables under the community licence are left
 * to their native policies (ensurePolicies); Apache-only hypertables lose
 * whole chunks; plain tables are deleted from in short batches, each its own
 * transaction.
 */
export async function runRetention(db: Database, now: Date, config: Config, layout?: StorageLayout): Promise<RetentionReport> {
  const l = layout ?? (await readStorageLayout(db));
  const raw = rawCutoff(now, config);
  const rollup = rollupCutoff(now, config);
  const tables: TableRetention[] = [];

  const trim = async (table: Relation, cutoff: Date) => {
    const hyper = l.hypertables.has(table);
    const cagg = l.caggs.has(table);
    if ((hyper || cagg) && l.license === 'timescale') {
      tables.push({ table, method: 'native_policy', cutoff: cutoff.toISOString(), removed: null });
    } else if (hyper) {
      tables.push({ table, method: 'drop_chunks', cutoff: cutoff.toISOString(), removed: await dropChunks(db, table, cutoff) });
    } else if (cagg) {
      // A continuous aggregate on a server that lost the community licence: nothing can trim it.
      tables.push({ table, method: 'native_policy', cutoff: cutoff.toISOString(), removed: null });
    } else {
      tables.push({ table, method: 'delete', cutoff: cutoff.toISOString(), removed: await deleteInBatches(db, table, cutoff) });
    }
  };

  for (const t of RAW_TABLES) await trim(t, raw);
  for (const t of ROLLUPS) await trim(t, rollup);
  // Never hypertables: crash reports are rare; the clock ledger only has to
  // outlive a retry or a repeat, the drop statistics the registry's and the
  // agent_misreport rule's view (a day, half an hour).
  tables.push({ table: 'crash_report', method: 'delete', cutoff: raw.toISOString(), removed: await deleteInBatches(db, 'crash_report', raw) });
  const ledger = new Date(Math.max(raw.getTime(), now.getTime() - LEDGER_KEEP_DAYS * DAY_MS));
  tables.push({ table: 'ingest_clock_ledger', method: 'delete', cutoff: ledger.toISOString(), removed: await deleteClockLedgerBefore(db, ledger) });
  const stats = new Date(Math.max(raw.getTime(), now.getTime() - DROP_STATS_KEEP_DAYS * DAY_MS));
  tables.push({ table: 'ingest_drops', method: 'delete', cutoff: stats.toISOString(), removed: await deleteDropStatsBefore(db, stats) });

  const incidentCutoff = new Date(now.getTime() - config.RETENTION_INCIDENT_DAYS * DAY_MS);
  let incidents = 0;
  for (let n = DELETE_BATCH; n === DELETE_BATCH; incidents += n) {
    n = await deleteClosedIncidentsBatch(db, incidentCutoff, DELETE_BATCH);
  }
  tables.push({ table: 'incidents', method: 'delete', cutoff: incidentCutoff.toISOString(), removed: incidents });

  const report: RetentionReport = { tables, compression: l.license === 'timescale' ? 'native_policy' : 'unavailable' };
  if (l.license === 'timescale') {
    report.compression_stats = [];
    for (const t of RAW_TABLES) if (l.hypertables.get(t)?.compression) report.compression_stats.push(await compressionStats(db, t));
  }
  return report;
}

async function deleteInBatches(db: Database, table: DeletableTable, before: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await deleteOlderBatch(db, table, before, DELETE_BATCH);
    total += n;
    if (n < DELETE_BATCH) return total;
  }
}
