import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DropReason } from './ingest.schema.ts';
import type { Kind } from './ingest.read.ts';

// One statement per request: each table's rows travel as one JSON parameter
// and come apart in json_to_recordset, so a batch of 5,000 is no more round
// trips than a batch of one. Every insert is ON CONFLICT DO NOTHING on the
// table's natural key, which is what makes a retried POST a no-op; rows are
// inserted in key order so two concurrent requests with overlapping keys wait
// for each other instead of deadlocking.
//
// Times are ISO strings with milliseconds; `n` is the row's ordinal in the
// caller's array, returned for the rows that were new; `bad` lists the
// reasons of the values dropped from the measurement (null when none).

export interface PathProbeRow {
  n: number;
  bad: DropReason[] | null;
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
  bad: DropReason[] | null;
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
  bad: DropReason[] | null;
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
  bad: DropReason[] | null;
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
  /** Null with last_type (heard only in unreadable messages). */
  first_seen: string | null;
  last_seen: string | null;
  agent_version: string | null;
  routing_daemon: string | null;
  hardware_model: string | null;
  firmware_version: string | null;
  grid_square: string | null;
  lat: number | null;
  lon: number | null;
  /** Null for a node heard only in messages that could not be read: then only last_received_at moves. */
  last_type: string | null;
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
  /** Measurements dropped whole, per sender, kind and reason (known senders only). */
  dropped: Array<{ node: string; kind: Kind; reason: DropReason; n: number }>;
}

/** Drop statistics go into buckets of this many ms of receive time. */
export const DROP_BUCKET_MS = 5 * 60_000;

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
  /** The kind of measurement its rows are, for the drop statistics. */
  kind: Kind;
  /** json_to_recordset column definitions, `n` first. */
  columns: RawBuilder<unknown>;
  insertColumns: RawBuilder<unknown>;
  /** The SELECT list feeding the insert; `$received` is the receive time. */
  select: (received: Date) => RawBuilder<unknown>;
  keyColumns: RawBuilder<unknown>;
  /** The ledger's (src, dst, hop_index) of a row of `input` aliased `i`, and the sender. */
  ledger: RawBuilder<unknown>;
  sender: RawBuilder<unknown>;
  /** The unique key's columns with time = the agent's time (a copy stored at a trusted time). */
  trusted: RawBuilder<unknown>;
}

const SPECS: TableSpec[] = [
  {
    key: 'path', table: 'path_probe', kind: 'path',
    columns: sql`n int, time timestamptz, src text, dst text, route text[], rtt_ms float8, jitter_ms float8,
      loss_pct float8, window_s int2, sent_at timestamptz, clock_skew_s float8, source text,
      agent_version text, agent_cpu_pct float8, agent_mem_mb float8, extra jsonb, bad text[]`,
    insertColumns: sql`time, src, dst, route, rtt_ms, jitter_ms, loss_pct, window_s, sent_at, received_at,
      clock_skew_s, source, agent_version, agent_cpu_pct, agent_mem_mb, extra`,
    select: (r) => sql`time, src, dst, COALESCE(route, '{}'), rtt_ms, jitter_ms, loss_pct, window_s, sent_at, ${r}::timestamptz,
      clock_skew_s, source, agent_version, agent_cpu_pct, agent_mem_mb, extra`,
    keyColumns: sql`src, dst, time`,
    ledger: sql`i.src, i.dst, 0::int2`,
    sender: sql`i.src`,
    trusted: sql`SELECT 1 FROM path_probe p WHERE p.src = i.src AND p.dst = i.dst AND p.time = i.sent_at`,
  },
  {
    key: 'hop', table: 'hop_quality', kind: 'hop',
    columns: sql`n int, time timestamptz, src text, dst text, hop_index int2, from_node text, to_node text,
      lq float8, nlq float8, etx float8, link_type text, rtt_ms float8, sent_at timestamptz,
      clock_skew_s float8, extra jsonb, bad text[]`,
    insertColumns: sql`time, src, dst, hop_index, from_node, to_node, lq, nlq, etx, link_type, rtt_ms,
      sent_at, received_at, clock_skew_s, extra`,
    select: (r) => sql`time, src, dst, hop_index, from_node, to_node, lq, nlq, etx, link_type, rtt_ms,
      sent_at, ${r}::timestamptz, clock_skew_s, extra`,
    keyColumns: sql`src, dst, hop_index, time`,
    ledger: sql`i.src, i.dst, i.hop_index`,
    sender: sql`i.src`,
    trusted: sql`SELECT 1 FROM hop_quality p WHERE p.src = i.src AND p.dst = i.dst AND p.hop_index = i.hop_index AND p.time = i.sent_at`,
  },
  {
    key: 'health', table: 'agent_health', kind: 'health',
    columns: sql`n int, time timestamptz, node text, cpu_pct float8, mem_mb float8, queue_len int4,
      neighbors_seen int4, sent_at timestamptz, clock_skew_s float8, extra jsonb, bad text[]`,
    insertColumns: sql`time, node, cpu_pct, mem_mb, queue_len, neighbors_seen, sent_at, received_at, clock_skew_s, extra`,
    select: (r) => sql`time, node, cpu_pct, mem_mb, queue_len, neighbors_seen, sent_at, ${r}::timestamptz, clock_skew_s, extra`,
    keyColumns: sql`node, time`,
    ledger: sql`i.node, ''::text, 0::int2`,
    sender: sql`i.node`,
    trusted: sql`SELECT 1 FROM agent_health p WHERE p.node = i.node AND p.time = i.sent_at`,
  },
  {
    key: 'crash', table: 'crash_report', kind: 'crash',
    columns: sql`n int, time timestamptz, node text, crash_time timestamptz, signal int4, signal_name text, reason text,
      restart_count int4, uptime_before_crash int8, sent_at timestamptz, clock_skew_s float8, extra jsonb, bad text[]`,
    insertColumns: sql`time, node, crash_time, signal, signal_name, reason, restart_count, uptime_before_crash,
      sent_at, received_at, clock_skew_s, extra`,
    select: (r) => sql`time, node, crash_time, signal, signal_name, reason, restart_count, uptime_before_crash,
      sent_at, ${r}::timestamptz, clock_skew_s, extra`,
    keyColumns: sql`node, time`,
    ledger: sql`i.node, ''::text, 0::int2`,
    sender: sql`i.node`,
    trusted: sql`SELECT 1 FROM crash_report p WHERE p.node = i.node AND p.time = i.sent_at`,
  },
];

/**
 * The CTEs that store one table's rows:
 * - `<t>_in`: the rows, out of the JSON parameter;
 * - `<t>_skew`: claims the clock-ledger entries of the rows stored at a
 *   corrected time, returning the ones that were new;
 * - `<t>_ins`: the insert. A corrected row goes in only when its ledger entry
 *   was new and no copy sits at the agent's own time; a trusted row unless the
 *   same measurement was stored earlier at a corrected time (the unique key
 *   cannot see that copy: it sits at another time);
 * - `<t>_new`: the input rows that were inserted, with their sender.
 */
function tableCtes(spec: TableSpec, rows: unknown[], received: Date) {
  const t = spec.table;
  const input = sql.ref(`${t}_in`);
  const skew = sql.ref(`${t}_skew`);
  const ins = sql.ref(`${t}_ins`);
  const fresh = sql.ref(`${t}_new`);
  return sql`
    ${input} AS (SELECT * FROM json_to_recordset(${toJsonParam(rows)}::json) AS r(${spec.columns})),
    ${skew} AS (
      INSERT INTO ingest_clock_ledger (tbl, src, dst, hop_index, sent_at, received_at)
      SELECT ${t}::text, ${spec.ledger}, i.sent_at, ${received}::timestamptz FROM ${input} i WHERE i.clock_skew_s IS NOT NULL
      ORDER BY 2, 3, 4, 5
      ON CONFLICT DO NOTHING
      RETURNING src, dst, hop_index, sent_at
    ),
    ${ins} AS (
      INSERT INTO ${sql.table(t)} (${spec.insertColumns})
      SELECT ${spec.select(received)}
      FROM ${input} i
      WHERE CASE WHEN i.clock_skew_s IS NULL
        THEN NOT EXISTS (SELECT 1 FROM ingest_clock_ledger l WHERE l.tbl = ${t}::text AND (l.src, l.dst, l.hop_index) = (${spec.ledger}) AND l.sent_at = i.sent_at)
        ELSE EXISTS (SELECT 1 FROM ${skew} k WHERE (k.src, k.dst, k.hop_index) = (${spec.ledger}) AND k.sent_at = i.sent_at)
             AND NOT EXISTS (${spec.trusted}) END
      ORDER BY ${spec.keyColumns}
      ON CONFLICT DO NOTHING
      RETURNING ${spec.keyColumns}
    ),
    ${fresh} AS (
      SELECT i.n, ${spec.sender} AS node, i.bad FROM ${input} i JOIN ${ins} USING (${spec.keyColumns})
    )`;
}

/**
 * Stores a request's rows in one statement: each table's insert, the
 * registry upsert and the drop statistics are CTEs of it, so a request costs
 * one round trip (plus the caller's BEGIN and COMMIT) however many tables it
 * touches. Returns which rows were new.
 */
export async function storeRows(db: Executor, rows: RowSet, received: Date): Promise<Inserted> {
  const inserted: Inserted = { path: [], hop: [], health: [], crash: [] };
  const ctes: RawBuilder<unknown>[] = [];
  const selects: RawBuilder<unknown>[] = [];
  const stats: RawBuilder<unknown>[] = [];
  SPECS.forEach((spec, k) => {
    const list = rows[spec.key];
    if (!list.length) return;
    ctes.push(tableCtes(spec, list, received));
    selects.push(sql`SELECT ${sql.lit(k)}::int AS t, n FROM ${sql.ref(`${spec.table}_new`)}`);
    stats.push(sql`SELECT node, ${spec.kind}::text AS kind, 1 AS m, (COALESCE(cardinality(bad), 0) > 0)::int AS a, bad FROM ${sql.ref(`${spec.table}_new`)}`);
  });
  if (rows.nodes.length) ctes.push(nodesCte(rows.nodes, received));
  if (rows.dropped.length) {
    ctes.push(sql`dropped_in AS (SELECT * FROM json_to_recordset(${toJsonParam(rows.dropped)}::json) AS r(node text, kind text, reason text, n int))`);
    stats.push(sql`SELECT node, kind, n AS m, n AS a, ARRAY[reason] AS bad FROM dropped_in`);
  }
  if (stats.length) ctes.push(statsCtes(stats, received));
  if (!ctes.length) return inserted;
  // Data-modifying CTEs run to completion whether or not the query reads them.
  const query = selects.length ? sql.join(selects, sql` UNION ALL `) : sql`SELECT 0 AS t, 0 AS n WHERE false`;
  const { rows: out } = await sql<{ t: number; n: number }>`WITH ${sql.join(ctes, sql`, `)} ${query}`.execute(db);
  for (const r of out) inserted[SPECS[r.t]!.key].push(r.n);
  return inserted;
}

/**
 * Per sender, kind and reason: the new measurements and the drops, added to
 * the request's receive-time bucket. Only what was stored now counts (a
 * repeat is not measured twice), plus what was dropped whole. Rows go in key
 * order, like every upsert here, so concurrent requests do not deadlock.
 */
function statsCtes(parts: RawBuilder<unknown>[], received: Date) {
  const bucket = new Date(Math.floor(received.getTime() / DROP_BUCKET_MS) * DROP_BUCKET_MS);
  return sql`
    stats_in AS (${sql.join(parts, sql` UNION ALL `)}),
    volume_up AS (
      INSERT INTO ingest_volume (node, bucket, kind, measurements, affected, last_at)
      SELECT node, ${bucket}::timestamptz, kind, sum(m), sum(a), ${received}::timestamptz
      FROM stats_in GROUP BY node, kind ORDER BY node, kind
      ON CONFLICT (node, bucket, kind) DO UPDATE SET
        measurements = ingest_volume.measurements + excluded.measurements,
        affected = ingest_volume.affected + excluded.affected,
        last_at = GREATEST(ingest_volume.last_at, excluded.last_at)
      RETURNING 1
    ),
    drops_up AS (
      INSERT INTO ingest_drops (node, bucket, reason, drops, last_at)
      SELECT s.node, ${bucket}::timestamptz, r.reason, sum(s.m), ${received}::timestamptz
      FROM stats_in s CROSS JOIN LATERAL unnest(s.bad) AS r(reason)
      GROUP BY s.node, r.reason ORDER BY s.node, r.reason
      ON CONFLICT (node, bucket, reason) DO UPDATE SET
        drops = ingest_drops.drops + excluded.drops,
        last_at = GREATEST(ingest_drops.last_at, excluded.last_at)
      RETURNING 1
    )`;
}

/**
 * The registry, one row per node (the caller merges a batch). A buffered old
 * message must not move last_seen back or overwrite newer attributes;
 * attributes a message does not carry keep their stored value. Rows go in
 * node order, like the inserts in key order, so concurrent requests wait for
 * each other rather than deadlock.
 */
function nodesCte(rows: NodeRow[], received: Date) {
  const newer = sql`(excluded.last_type IS NOT NULL AND excluded.last_seen >= nodes.last_seen)`;
  const attr = (col: string) =>
    sql`${sql.ref(col)} = CASE WHEN ${newer} THEN COALESCE(excluded.${sql.ref(col)}, nodes.${sql.ref(col)})
                               ELSE COALESCE(nodes.${sql.ref(col)}, excluded.${sql.ref(col)}) END`;
  return sql`nodes_up AS (
    INSERT INTO nodes (node, first_seen, last_seen, last_received_at, last_type, agent_version, routing_daemon,
                       hardware_model, firmware_version, grid_square, lat, lon, clock_skew_s, skew_flagged_at, extra)
    SELECT node, COALESCE(first_seen, ${received}::timestamptz), COALESCE(last_seen, ${received}::timestamptz), ${received}::timestamptz, last_type, agent_version, routing_daemon,
           hardware_model, firmware_version, grid_square, lat, lon, clock_skew_s, skew_flagged_at, COALESCE(extra, '{}')
    FROM json_to_recordset(${toJsonParam(rows)}::json) AS r(
      node text, first_seen timestamptz, last_seen timestamptz, last_type text, agent_version text,
      routing_daemon text, hardware_model text, firmware_version text, grid_square text, lat float8, lon float8,
      clock_skew_s float8, skew_flagged_at timestamptz, extra jsonb)
    ORDER BY node
    -- A node heard only in unreadable messages (last_type null) moves last_received_at alone.
    ON CONFLICT (node) DO UPDATE SET
      first_seen = CASE WHEN excluded.last_type IS NULL THEN nodes.first_seen ELSE LEAST(nodes.first_seen, excluded.first_seen) END,
      last_seen = CASE WHEN excluded.last_type IS NULL THEN nodes.last_seen ELSE GREATEST(nodes.last_seen, excluded.last_seen) END,
      last_received_at = GREATEST(nodes.last_received_at, excluded.last_received_at),
      last_type = CASE WHEN ${newer} THEN COALESCE(excluded.last_type, nodes.last_type) ELSE nodes.last_type END,
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

/**
 * For retention: clock-ledger entries received before `before`. A retry or
 * a repeated probe comes within minutes; the ledger only needs to outlive that.
 */
export async function deleteClockLedgerBefore(db: Executor, before: Date): Promise<number> {
  const r = await sql`DELETE FROM ingest_clock_ledger WHERE received_at < ${before}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** For retention: drop statistics of buckets before `before`. */
export async function deleteDropStatsBefore(db: Executor, before: Date): Promise<number> {
  const a = await sql`DELETE FROM ingest_volume WHERE bucket < ${before}`.execute(db);
  const b = await sql`DELETE FROM ingest_drops WHERE bucket < ${before}`.execute(db);
  return Number(a.numAffectedRows ?? 0) + Number(b.numAffectedRows ?? 0);
}

/** The known address → name pairs of these addresses. */
export async function lookupAddresses(db: Executor, addresses: string[]): Promise<Array<{ address: string; node: string }>> {
  if (!addresses.length) return [];
  return db.selectFrom('node_addresses').select(['address', 'node']).where('address', '=', sql<string>`ANY(${addresses}::text[])`).execute();
}

/**
 * Saves learnt pairs (a new address, or one whose name changed) and marks
 * them for re-keying; returns the ones saved. New addresses are taken only
 * while the table holds fewer than `cap`: an agent cannot make it grow
 * without bound.
 */
export async function saveAddressPairs(
  db: Executor, pairs: Array<{ address: string; node: string }>, p: { now: Date; source: 'probe' | 'dns'; cap: number },
): Promise<Array<{ address: string; node: string }>> {
  if (!pairs.length) return [];
  const sorted = [...pairs].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const { rows } = await sql<{ address: string; node: string }>`
    WITH room AS (SELECT GREATEST(${p.cap}::int - count(*)::int, 0) AS free FROM node_addresses),
    input AS (
      SELECT r.address, r.node, EXISTS (SELECT 1 FROM node_addresses a WHERE a.address = r.address) AS present
      FROM json_to_recordset(${toJsonParam(sorted)}::json) AS r(address text, node text)
    ),
    ranked AS (SELECT *, row_number() OVER (PARTITION BY present ORDER BY address) AS k FROM input)
    INSERT INTO node_addresses AS a (address, node, source, learned_at, updated_at, rekeyed_at)
    SELECT i.address, i.node, ${p.source}, ${p.now}::timestamptz, ${p.now}::timestamptz, NULL
    FROM ranked i, room
    WHERE i.present OR i.k <= room.free
    ORDER BY i.address
    ON CONFLICT (address) DO UPDATE SET node = excluded.node, source = excluded.source, updated_at = excluded.updated_at
      WHERE a.node IS DISTINCT FROM excluded.node
    RETURNING a.address, a.node`.execute(db);
  return rows;
}

/** Which of these nodes the registry holds. */
export async function registeredNodes(db: Executor, nodes: string[]): Promise<string[]> {
  if (!nodes.length) return [];
  const rows = await db.selectFrom('nodes').select('node').where('node', '=', sql<string>`ANY(${nodes}::text[])`).execute();
  return rows.map((r) => r.node);
}

/** Admitting new nodes: serialised, so two requests cannot both take the last free place. */
export async function lockNodeAdmission(db: Executor): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${NODE_ADMISSION_LOCK}::bigint)`.execute(db);
}

export async function countNodes(db: Executor): Promise<number> {
  const r = await db.selectFrom('nodes').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** An advisory lock key of its own ("mmna"). */
const NODE_ADMISSION_LOCK = 0x6d6d_6e61;
