import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/** The tables `meshmon status` and /metrics report on, in display order. */
export const REPORTED_TABLES = [
  'path_probe', 'hop_quality', 'agent_health', 'crash_report', 'nodes',
  'incidents', 'incident_events', 'path_probe_hourly', 'hop_quality_hourly',
  'ingest_clock_ledger', 'ingest_volume', 'ingest_drops', 'node_addresses', 'job_state',
] as const;

export async function databaseSize(db: Executor): Promise<{ name: string; bytes: number }> {
  const { rows } = await sql<{ name: string; size: number }>`
    SELECT current_database() AS name, pg_database_size(current_database())::bigint AS size`.execute(db);
  return { name: rows[0]!.name, bytes: Number(rows[0]!.size) };
}

export interface TableInfo {
  table: string;
  kind: 'hypertable' | 'continuous_aggregate' | 'table';
  size_bytes: number;
  /** pg_class.reltuples summed over chunks: -1 until the table was first analysed. */
  estimated_rows: number;
}

/**
 * Size of each MeshMon table with its indexes and TOAST; a hypertable's or a
 * continuous aggregate's over all its chunks. Reads only the catalog and file
 * sizes, so it is cheap enough for a scrape.
 */
export async function tableInfo(db: Executor, timescale: boolean): Promise<TableInfo[]> {
  const names = [...REPORTED_TABLES] as string[];
  if (!timescale) {
    const { rows } = await sql<{ table: string; size_bytes: number; estimated_rows: number }>`
      SELECT c.relname AS table, pg_total_relation_size(c.oid)::bigint AS size_bytes, c.reltuples::bigint AS estimated_rows
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = ANY (${names}::text[]) AND c.relkind IN ('r', 'p')`.execute(db);
    return order(rows.map((r) => ({ ...r, kind: 'table' as const })));
  }
  // A continuous aggregate's rows live in its materialization hypertable.
  const { rows } = await sql<{ table: string; kind: TableInfo['kind']; size_bytes: number; estimated_rows: number }>`
    WITH rel AS (
      SELECT c.relname AS name, c.oid,
             ca.materialization_hypertable_schema AS mschema, ca.materialization_hypertable_name AS mname,
             h.hypertable_name IS NOT NULL AS hyper
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN timescaledb_information.continuous_aggregates ca ON ca.view_schema = n.nspname AND ca.view_name = c.relname
      LEFT JOIN timescaledb_information.hypertables h ON h.hypertable_schema = n.nspname AND h.hypertable_name = c.relname
      WHERE n.nspname = 'public' AND c.relname = ANY (${names}::text[]) AND c.relkind IN ('r', 'p', 'v')
    ), target AS (
      SELECT name,
             CASE WHEN mname IS NOT NULL THEN 'continuous_aggregate' WHEN hyper THEN 'hypertable' ELSE 'table' END AS kind,
             CASE WHEN mname IS NOT NULL THEN format('%I.%I', mschema, mname)::regclass ELSE oid::regclass END AS rel,
             mname IS NOT NULL OR hyper AS chunked
      FROM rel
    )
    SELECT t.name AS table, t.kind,
           CASE WHEN t.chunked THEN COALESCE(hypertable_size(t.rel), 0) ELSE pg_total_relation_size(t.rel) END::bigint AS size_bytes,
           CASE WHEN t.chunked THEN (
             SELECT COALESCE(sum(GREATEST(c.reltuples, 0)), 0) + GREATEST((SELECT reltuples FROM pg_class WHERE oid = t.rel), 0)
             FROM show_chunks(t.rel) s JOIN pg_class c ON c.oid = s)
           ELSE (SELECT reltuples FROM pg_class WHERE oid = t.rel) END::bigint AS estimated_rows
    FROM target t`.execute(db);
  return order(rows);
}

function order(rows: TableInfo[]): TableInfo[] {
  const pos = (t: string) => (REPORTED_TABLES as readonly string[]).indexOf(t);
  return rows.map((r) => ({ ...r, size_bytes: Number(r.size_bytes), estimated_rows: Number(r.estimated_rows) })).sort((a, b) => pos(a.table) - pos(b.table));
}

/** Exact row count of one reported table (a full scan: `meshmon status` only). */
export async function countRows(db: Executor, table: (typeof REPORTED_TABLES)[number]): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::bigint AS n FROM ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Uses incidents_one_open's partial index: cheap at every scrape. */
export async function openIncidentCounts(db: Executor) {
  return db
    .selectFrom('incidents')
    .select(['kind', 'severity', (eb) => eb.fn.countAll<number>().as('count')])
    .where('ended_at', 'is', null)
    .groupBy(['kind', 'severity'])
    .orderBy('kind')
    .orderBy('severity')
    .execute();
}

export async function listOpenIncidents(db: Executor, limit: number) {
  return db
    .selectFrom('incidents')
    .select(['id', 'kind', 'severity', 'status', 'scope_key', 'started_at', 'updated_at'])
    .where('ended_at', 'is', null)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

// Advisory lock namespace of the maintenance jobs ("mops"), apart from the
// migration's and the engine's keys.
const JOB_LOCK_NS = 0x6d6f_7073;

/**
 * Session lock on `db`, which must be a single connection
 * (db.connection().execute): two collectors on one database never run the
 * same maintenance job at once; the second skips.
 */
export async function tryJobLock(db: Executor, job: number): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${JOB_LOCK_NS}, ${job}) AS ok`.execute(db);
  return rows[0]!.ok;
}

export async function unlockJob(db: Executor, job: number): Promise<void> {
  await sql`SELECT pg_advisory_unlock(${JOB_LOCK_NS}, ${job})`.execute(db);
}
