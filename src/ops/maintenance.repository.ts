import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/** Tables retention may delete from, with the column it deletes by (never user input in SQL). */
export const DELETABLE = {
  path_probe: 'time',
  hop_quality: 'time',
  agent_health: 'time',
  crash_report: 'time',
  path_probe_hourly: 'bucket',
  hop_quality_hourly: 'bucket',
} as const;
export type DeletableTable = keyof typeof DELETABLE;

export type Relation = 'path_probe' | 'hop_quality' | 'agent_health' | 'path_probe_hourly' | 'hop_quality_hourly';

/** What the schema actually is, which can differ from the server's licence after a restore. */
export interface StorageLayout {
  extension: string | null;
  license: 'timescale' | 'apache' | null;
  /** Public hypertables (the raw tables, and the rollup tables in apache mode) → compression enabled. */
  hypertables: Map<string, { compression: boolean }>;
  /** Continuous aggregates by view name. */
  caggs: Set<string>;
}

export async function readStorageLayout(db: Executor): Promise<StorageLayout> {
  const { rows } = await sql<{ ext: string | null; license: string | null }>`
    SELECT (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ext,
           current_setting('timescaledb.license', true) AS license`.execute(db);
  const r = rows[0]!;
  const layout: StorageLayout = { extension: r.ext, license: null, hypertables: new Map(), caggs: new Set() };
  if (!r.ext) return layout;
  if (!r.license) {
    // Without shared_preload_libraries (PGlite) the setting appears after the first call.
    await sql`SELECT time_bucket(interval '1 hour', now())`.execute(db);
    const again = await sql<{ license: string | null }>`SELECT current_setting('timescaledb.license', true) AS license`.execute(db);
    r.license = again.rows[0]!.license;
  }
  layout.license = r.license === 'timescale' ? 'timescale' : 'apache';
  const ht = await sql<{ name: string; compression: boolean }>`
    SELECT hypertable_name AS name, compression_enabled AS compression
    FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'`.execute(db);
  for (const h of ht.rows) layout.hypertables.set(h.name, { compression: h.compression });
  const ca = await sql<{ name: string }>`
    SELECT view_name AS name FROM timescaledb_information.continuous_aggregates WHERE view_schema = 'public'`.execute(db);
  for (const c of ca.rows) layout.caggs.add(c.name);
  return layout;
}

/** Whole chunks entirely older than `olderThan`; returns how many were dropped. */
export async function dropChunks(db: Executor, table: Relation, olderThan: Date): Promise<number> {
  const { rows } = await sql<{ chunk: string }>`
    SELECT drop_chunks(${table}::regclass, older_than => ${olderThan}::timestamptz) AS chunk`.execute(db);
  return rows.length;
}

/**
 * Deletes at most `limit` rows older than `before`. Each call is its own short
 * statement, so plain-table retention never holds locks for long; callers loop.
 */
export async function deleteOlderBatch(db: Executor, table: DeletableTable, before: Date, limit: number): Promise<number> {
  const col = sql.ref(DELETABLE[table]);
  const t = sql.table(table);
  const r = await sql`
    DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
      SELECT ctid FROM ${t} WHERE ${col} < ${before} LIMIT ${limit}))`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Closed incidents that ended before `before` (their events go with them: ON DELETE CASCADE). */
export async function deleteClosedIncidentsBatch(db: Executor, before: Date, limit: number): Promise<number> {
  const r = await sql`
    DELETE FROM incidents WHERE id = ANY (ARRAY(
      SELECT id FROM incidents
      WHERE status = 'closed' AND ended_at IS NOT NULL AND ended_at < ${before}
      LIMIT ${limit}))`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

// ---- native policies (community TimescaleDB) ----

export type PolicyKind = 'retention' | 'compression' | 'refresh';

export interface NativePolicy {
  job_id: number;
  kind: PolicyKind;
  /** The hypertable or continuous aggregate the job works on. */
  relation: string;
  config: Record<string, unknown>;
  schedule_interval_s: number;
  /** drop_after / compress_after / start_offset, in seconds. */
  after_s: number | null;
  end_offset_s: number | null;
  last_run_status: string | null;
  last_run_started_at: Date | null;
  last_successful_finish: Date | null;
  next_start: Date | null;
  total_failures: number | null;
}

const PROC_KIND: Record<string, PolicyKind> = {
  policy_retention: 'retention',
  policy_compression: 'compression',
  policy_refresh_continuous_aggregate: 'refresh',
};

export async function listNativePolicies(db: Executor): Promise<NativePolicy[]> {
  const { rows } = await sql<{
    job_id: number; proc_name: string; relation: string; config: Record<string, unknown>;
    schedule_interval_s: number; after_s: number | null; end_offset_s: number | null;
    last_run_status: string | null; last_run_started_at: Date | null; last_successful_finish: Date | null;
    next_start: Date | null; total_failures: number | null;
  }>`
    SELECT j.job_id, j.proc_name,
           COALESCE(ca.view_name, j.hypertable_name) AS relation,
           j.config,
           extract(epoch FROM j.schedule_interval)::float8 AS schedule_interval_s,
           extract(epoch FROM COALESCE(j.config->>'drop_after', j.config->>'compress_after', j.config->>'start_offset')::interval)::float8 AS after_s,
           extract(epoch FROM (j.config->>'end_offset')::interval)::float8 AS end_offset_s,
           s.last_run_status, s.last_run_started_at, s.last_successful_finish, s.next_start,
           s.total_failures::int AS total_failures
    FROM timescaledb_information.jobs j
    LEFT JOIN timescaledb_information.continuous_aggregates ca
      ON ca.materialization_hypertable_schema = j.hypertable_schema
     AND ca.materialization_hypertable_name = j.hypertable_name
    LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
    WHERE j.proc_name IN ('policy_retention', 'policy_compression', 'policy_refresh_continuous_aggregate')
    ORDER BY j.job_id`.execute(db);
  return rows.map((r) => ({ ...r, kind: PROC_KIND[r.proc_name]!, job_id: Number(r.job_id) }));
}

/** Whole days read as days in timescaledb_information.jobs ("90 days", not "2160:00:00"). */
const interval = (seconds: number) =>
  sql`${seconds % 86_400 === 0 ? `${seconds / 86_400} days` : `${seconds} seconds`}::interval`;

export async function addRetentionPolicy(db: Executor, relation: Relation, dropAfterS: number): Promise<void> {
  await sql`SELECT add_retention_policy(${relation}::regclass, drop_after => ${interval(dropAfterS)}, if_not_exists => true)`.execute(db);
}

export async function removeRetentionPolicy(db: Executor, relation: Relation): Promise<void> {
  await sql`SELECT remove_retention_policy(${relation}::regclass, if_exists => true)`.execute(db);
}

export async function addCompressionPolicy(db: Executor, relation: Relation, compressAfterS: number): Promise<void> {
  await sql`SELECT add_compression_policy(${relation}::regclass, compress_after => ${interval(compressAfterS)}, if_not_exists => true)`.execute(db);
}

export async function removeCompressionPolicy(db: Executor, relation: Relation): Promise<void> {
  await sql`SELECT remove_compression_policy(${relation}::regclass, if_exists => true)`.execute(db);
}

export async function addRefreshPolicy(db: Executor, view: Relation, startOffsetS: number, endOffsetS: number, scheduleS: number): Promise<void> {
  await sql`
    SELECT add_continuous_aggregate_policy(${view}::regclass,
      start_offset => ${interval(startOffsetS)}, end_offset => ${interval(endOffsetS)},
      schedule_interval => ${interval(scheduleS)}, if_not_exists => true)`.execute(db);
}

export async function removeRefreshPolicy(db: Executor, view: Relation): Promise<void> {
  await sql`SELECT remove_continuous_aggregate_policy(${view}::regclass, if_exists => true)`.execute(db);
}

export async function setJobSchedule(db: Executor, jobId: number, scheduleS: number): Promise<void> {
  await sql`SELECT alter_job(${jobId}, schedule_interval => ${interval(scheduleS)})`.execute(db);
}

/**
 * Runs a native job in the foreground. Only for tests and manual use: PGlite
 * has no background workers, and on a real server the scheduler runs them.
 */
export async function runNativeJob(db: Executor, jobId: number): Promise<void> {
  await sql`CALL run_job(${jobId})`.execute(db);
}

/** Materializes [from, to) of a continuous aggregate. Must not run inside a transaction. */
export async function refreshContinuousAggregate(db: Executor, view: Relation, from: Date, to: Date): Promise<void> {
  await sql`CALL refresh_continuous_aggregate(${view}::regclass, ${from}::timestamptz, ${to}::timestamptz)`.execute(db);
}

export interface CompressionStats {
  table: string;
  total_chunks: number;
  compressed_chunks: number;
  before_bytes: number | null;
  after_bytes: number | null;
}

export async function compressionStats(db: Executor, table: Relation): Promise<CompressionStats> {
  const { rows } = await sql<{ total_chunks: number | null; compressed_chunks: number | null; before_bytes: number | null; after_bytes: number | null }>`
    SELECT total_chunks::int AS total_chunks, number_compressed_chunks::int AS compressed_chunks,
           before_compression_total_bytes::bigint AS before_bytes, after_compression_total_bytes::bigint AS after_bytes
    FROM hypertable_compression_stats(${table}::regclass)`.execute(db);
  const r = rows[0];
  return {
    table,
    total_chunks: r?.total_chunks ?? 0,
    compressed_chunks: r?.compressed_chunks ?? 0,
    before_bytes: r?.before_bytes ?? null,
    after_bytes: r?.after_bytes ?? null,
  };
}
