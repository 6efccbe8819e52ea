import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';

// One statement per request: each table's rows travel as one JSON parameter
// and come apart in json_to_recordset, so a batch of 5,000 is no more round
// trips than a batch of one. Every insert is ON CONFLICT DO NOTHING on the
// table's natural key, which is what makes a retried POST a no-op; rows are
// inserted in key order so two concurrent requests with overlapping keys wait
// for each other instead of deadlocking.
//
// Times are ISO strings with milliseconds; `n` is the row's ordinal in the
// caller's array, returned for the rows that were new.

export interface PathProbeRow {
  n: number;
  time: string;
  src: string;
  dst: string;
  route: string[];
  rtt_ms: number | null;
  jitter_ms: number | null;
  loss_pct: number | null;
  window_s: number;
  sent_at: string;
  clock_skew_s: number | null;
  source: 'path_result' | 'network_status';
  agent_version: string | null;
  agent_cpu_pct: number | null;
  agent_mem_mb: number | null;
  extra: Record<string, unknown> | null;
}

export interface HopQualityRow {
  n: number;
  time: string;
  src: string;
  dst: string;
  hop_index: number;
  from_node: string;
  to_node: string;
  lq: number | null;
  nlq: number | null;
  etx: number | null;
  link_type: string | null;
  rtt_ms: number | null;
  sent_at: string;
  clock_skew_s: number | null;
  extra: Record<string, unknown> | null;
}

export interface AgentHealthRow {
  n: number;
  time: string;
  node: string;
  cpu_pct: number | null;
  mem_mb: number | null;
  queue_len: number | null;
  neighbors_seen: number | null;
  sent_at: string;
  clock_skew_s: number | null;
  extra: Record<string, unknown> | null;
}

export interface CrashReportRow {
  n: number;
  time: string;
  node: string;
  crash_time: string | null;
  signal: number | null;
  signal_name: string | null;
  reason: string | null;
  restart_count: number | null;
  uptime_before_crash: number | null;
  sent_at: string;
  clock_skew_s: number | null;
  extra: Record<string, unknown> | null;
}

export interface NodeRow {
  node: string;
  first_seen: string;
  last_seen: string;
  last_type: string;
  agent_version: string | null;
  routing_daemon: string | null;
  hardware_model: string | null;
  firmware_version: string | null;
  grid_square: string | null;
  lat: number | null;
  lon: number | null;
  /** Measured offset of the agent's clock; null when this batch says nothing about it (only buffered messages). */
  clock_skew_s: number | null;
  /** Set when the offset is over the limit; with a measured offset and no flag, the clock is fine again. */
  skew_flagged_at: string | null;
  extra: Record<string, unknown>;
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000 or unpaired surrogates, which
 * JSON.stringify writes as `\u0000` / `\udXXX` escapes (paired surrogates it
 * writes raw). They can only come from free-text and unknown fields, so they
 * become U+FFFD instead of failing the insert. An escape is real only after an
 * even run of backslashes.
 */
export function toJsonParam(rows: unknown[]): string {
  const s = JSON.stringify(rows);
  if (!s.includes('\\u0000') && !/\\ud[89a-f]/i.test(s)) return s;
  return s.replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi, '$1\\ufffd');
}

export interface RowSet {
  path: PathProbeRow[];
  hop: HopQualityRow[];
  health: AgentHealthRow[];
  crash: CrashReportRow[];
  nodes: NodeRow[];
}

/** Ordinals of the rows stored now (not duplicates), per table. */
export interface Inserted {
  path: number[];
  hop: number[];
  health: number[];
  crash: number[];
}

interface TableSpec {
  key: keyof Inserted;
  table: string;
  /** json_to_recordset column definitions, `n` first. */
  columns: RawBuilder<unknown>;
  insertColumns: RawBuilder<unknown>;
  /** The SELECT list feeding the insert; `$received` is the receive time. */
  select: (received: Date) => RawBuilder<unknown>;
  keyColumns: RawBuilder<unknown>;
  /** The ledger series of a row of `input` aliased `i`. */
  series: RawBuilder<unknown>;
}

const SPECS: TableSpec[] = [
  {
    key: 'path', table: 'path_probe',
    columns: sql`n int, time timestamptz, src text, dst text, route text[], rtt_ms float8, jitter_ms float8,
      loss_pct float8, window_s int2, sent_at timestamptz, clock_skew_s float8, source text,
      agent_version text, agent_cpu_pct float8, agent_mem_mb float8, extra jsonb`,
    insertColumns: sql`time, src, dst, route, rtt_ms, jitter_ms, loss_pct, window_s, sent_at, received_at,
      clock_skew_s, source, agent_version, agent_cpu_pct, agent_mem_mb, extra`,
    select: (r) => sql`time, src, dst, COALESCE(route, '{}'), rtt_ms, jitter_ms, loss_pct, window_s, sent_at, ${r}::timestamptz,
      clock_skew_s, source, agent_version, agent_cpu_pct, agent_mem_mb, extra`,
    keyColumns: sql`src, dst, time`,
    series: sql`i.src || ' ' || i.dst`,
  },
  {
    key: 'hop', table: 'hop_quality',
    columns: sql`n int, time timestamptz, src text, dst text, hop_index int2, from_node text, to_node text,
      lq float8, nlq float8, etx float8, link_type text, rtt_ms float8, sent_at timestamptz,
      clock_skew_s float8, extra jsonb`,
    insertColumns: sql`time, src, dst, hop_index, from_node, to_node, lq, nlq, etx, link_type, rtt_ms,
      sent_at, received_at, clock_skew_s, extra`,
    select: (r) => sql`time, src, dst, hop_index, from_node, to_node, lq, nlq, etx, link_type, rtt_ms,
      sent_at, ${r}::timestamptz, clock_skew_s, extra`,
    keyColumns: sql`src, dst, hop_index, time`,
    series: sql`i.src || ' ' || i.dst || ' ' || i.hop_index`,
  },
  {
    key: 'health', table: 'agent_health',
    columns: sql`n int, time timestamptz, node text, cpu_pct float8, mem_mb float8, queue_len int4,
      neighbors_seen int4, sent_at timestamptz, clock_skew_s float8, extra jsonb`,
    insertColumns: sql`time, node, cpu_pct, mem_mb, queue_len, neighbors_seen, sent_at, received_at, clock_skew_s, extra`,
    select: (r) => sql`time, node, cpu_pct, mem_mb, queue_len, neighbors_seen, sent_at, ${r}::timestamptz, clock_skew_s, extra`,
    keyColumns: sql`node, time`,
    series: sql`i.node`,
  },
  {
    key: 'crash', table: 'crash_report',
    columns: sql`n int, time timestamptz, node text, crash_time timestamptz, signal int4, signal_name text, reason text,
      restart_count int4, uptime_before_crash int8, sent_at timestamptz, clock_skew_s float8, extra jsonb`,
    insertColumns: sql`time, node, crash_time, signal, signal_name, reason, restart_count, uptime_before_crash,
      sent_at, received_at, clock_skew_s, extra`,
    select: (r) => sql`time, node, crash_time, signal, signal_name, reason, restart_count, uptime_before_crash,
      sent_at, ${r}::timestamptz, clock_skew_s, extra`,
    keyColumns: sql`node, time`,
    series: sql`i.node`,
  },
];

/**
 * The CTEs that store one table's rows:
 * - `<t>_in`: the rows, out of the JSON parameter;
 * - `<t>_skew`: claims the ledger entries of the skewed rows, returning the
 *   ones that were new;
 * - `<t>_ins`: the insert. A skewed row goes in only when its ledger entry was
 *   new; a trusted row unless the same measurement was stored earlier while
 *   the agent's clock looked skewed (it then sits at that receive time, not at
 *   sent_at, so the unique key cannot see it).
 */
function tableCtes(spec: TableSpec, rows: unknown[], received: Date) {
  const t = spec.table;
  const input = sql.ref(`${t}_in`);
  const skew = sql.ref(`${t}_skew`);
  const ins = sql.ref(`${t}_ins`);
  const series = spec.series;
  return sql`
    ${input} AS (SELECT * FROM json_to_recordset(${toJsonParam(rows)}::json) AS r(${spec.columns})),
    ${skew} AS (
      INSERT INTO ingest_skew_ledger (tbl, series, sent_at, time)
      SELECT ${t}::text, ${series}, i.sent_at, i.time FROM ${input} i WHERE i.clock_skew_s IS NOT NULL
      ON CONFLICT DO NOTHING
      RETURNING series, sent_at
    ),
    ${ins} AS (
      INSERT INTO ${sql.table(t)} (${spec.insertColumns})
      SELECT ${spec.select(received)}
      FROM ${input} i
      WHERE CASE WHEN i.clock_skew_s IS NULL
        THEN NOT EXISTS (SELECT 1 FROM ingest_skew_ledger l WHERE l.tbl = ${t}::text AND l.series = ${series} AND l.sent_at = i.sent_at)
        ELSE EXISTS (SELECT 1 FROM ${skew} k WHERE k.series = ${series} AND k.sent_at = i.sent_at) END
      ORDER BY ${spec.keyColumns}
      ON CONFLICT DO NOTHING
      RETURNING ${spec.keyColumns}
    )`;
}

/**
 * Stores a request's rows in one statement: each table's insert and the
 * registry upsert are CTEs of it, so a request costs one round trip (plus the
 * caller's BEGIN and COMMIT) however many tables it touches. Returns which
 * rows were new.
 */
export async function storeRows(db: Executor, rows: RowSet, received: Date): Promise<Inserted> {
  const inserted: Inserted = { path: [], hop: [], health: [], crash: [] };
  const ctes: RawBuilder<unknown>[] = [];
  const selects: RawBuilder<unknown>[] = [];
  SPECS.forEach((spec, k) => {
    const list = rows[spec.key];
    if (!list.length) return;
    ctes.push(tableCtes(spec, list, received));
    selects.push(sql`SELECT ${sql.lit(k)}::int AS t, i.n FROM ${sql.ref(`${spec.table}_in`)} i JOIN ${sql.ref(`${spec.table}_ins`)} USING (${spec.keyColumns})`);
  });
  if (rows.nodes.length) ctes.push(nodesCte(rows.nodes, received));
  if (!ctes.length) return inserted;
  // Data-modifying CTEs run to completion whether or not the query reads them.
  const query = selects.length ? sql.join(selects, sql` UNION ALL `) : sql`SELECT 0 AS t, 0 AS n WHERE false`;
  const { rows: out } = await sql<{ t: number; n: number }>`WITH ${sql.join(ctes, sql`, `)} ${query}`.execute(db);
  for (const r of out) inserted[SPECS[r.t]!.key].push(r.n);
  return inserted;
}

/**
 * The registry, one row per node (the caller merges a batch). A buffered old
 * message must not move last_seen back or overwrite newer attributes;
 * attributes a message does not carry keep their stored value. Rows go in
 * node order, like the inserts in key order, so concurrent requests wait for
 * each other rather than deadlock.
 */
function nodesCte(rows: NodeRow[], received: Date) {
  const newer = sql`excluded.last_seen >= nodes.last_seen`;
  const attr = (col: string) =>
    sql`${sql.ref(col)} = CASE WHEN ${newer} THEN COALESCE(excluded.${sql.ref(col)}, nodes.${sql.ref(col)})
                               ELSE COALESCE(nodes.${sql.ref(col)}, excluded.${sql.ref(col)}) END`;
  return sql`nodes_up AS (
    INSERT INTO nodes (node, first_seen, last_seen, last_received_at, last_type, agent_version, routing_daemon,
                       hardware_model, firmware_version, grid_square, lat, lon, clock_skew_s, skew_flagged_at, extra)
    SELECT node, first_seen, last_seen, ${received}::timestamptz, last_type, agent_version, routing_daemon,
           hardware_model, firmware_version, grid_square, lat, lon, clock_skew_s, skew_flagged_at, COALESCE(extra, '{}')
    FROM json_to_recordset(${toJsonParam(rows)}::json) AS r(
      node text, first_seen timestamptz, last_seen timestamptz, last_type text, agent_version text,
      routing_daemon text, hardware_model text, firmware_version text, grid_square text, lat float8, lon float8,
      clock_skew_s float8, skew_flagged_at timestamptz, extra jsonb)
    ORDER BY node
    ON CONFLICT (node) DO UPDATE SET
      first_seen = LEAST(nodes.first_seen, excluded.first_seen),
      last_seen = GREATEST(nodes.last_seen, excluded.last_seen),
      last_received_at = GREATEST(nodes.last_received_at, excluded.last_received_at),
      last_type = CASE WHEN ${newer} THEN excluded.last_type ELSE nodes.last_type END,
      ${attr('agent_version')}, ${attr('routing_daemon')}, ${attr('hardware_model')},
      ${attr('firmware_version')}, ${attr('grid_square')}, ${attr('lat')}, ${attr('lon')},
      -- A measured offset replaces the stored one; a flag keeps the time it was first raised;
      -- a measured offset without a flag clears it; no measurement leaves both.
      clock_skew_s = COALESCE(excluded.clock_skew_s, nodes.clock_skew_s),
      skew_flagged_at = CASE WHEN excluded.clock_skew_s IS NULL THEN nodes.skew_flagged_at
                             WHEN excluded.skew_flagged_at IS NULL THEN NULL
                             ELSE COALESCE(nodes.skew_flagged_at, excluded.skew_flagged_at) END,
      extra = CASE WHEN ${newer} THEN nodes.extra || excluded.extra ELSE excluded.extra || nodes.extra END
    RETURNING 1
  )`;
}

/** For retention: ledger entries whose rows are gone. */
export async function deleteSkewLedgerBefore(db: Executor, before: Date): Promise<number> {
  const r = await sql`DELETE FROM ingest_skew_ledger WHERE time < ${before}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}
