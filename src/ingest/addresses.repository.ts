import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';

// Moving what was recorded under a mesh address to the node's name, once the
// name is known (node_addresses). Bounded: each call moves at most `chunk`
// rows of one table and column, recent rows only (the engine, the registry's
// "reporting" view and the default charts look back hours, not months; older
// rows, possibly compressed, keep the address). A row whose renamed key
// already exists (the same measurement stored under both) is deleted instead:
// the copy under the name wins.

export interface PendingPair {
  address: string;
  node: string;
  updated_at: Date;
}

/** Pairs learnt or changed since their rows were last moved. */
export async function pendingPairs(db: Executor, limit: number): Promise<PendingPair[]> {
  return db
    .selectFrom('node_addresses')
    .select(['address', 'node', 'updated_at'])
    .where((eb) => eb.or([eb('rekeyed_at', 'is', null), eb('rekeyed_at', '<', eb.ref('updated_at'))]))
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/** Marks pairs done, unless they changed again meanwhile. */
export async function markRekeyed(db: Executor, pairs: PendingPair[], at: Date): Promise<void> {
  if (!pairs.length) return;
  await sql`
    UPDATE node_addresses a SET rekeyed_at = GREATEST(${at}::timestamptz, a.updated_at)
    FROM unnest(${pairs.map((p) => p.address)}::text[], ${pairs.map((p) => p.updated_at.toISOString())}::timestamptz[]) AS d(address, updated_at)
    WHERE a.address = d.address AND a.updated_at = d.updated_at`.execute(db);
}

/** A table's unique key, the column that may hold the address, and its time column (the horizon). */
export interface KeyedColumn {
  table: 'path_probe' | 'hop_quality' | 'agent_health' | 'crash_report' | 'ingest_clock_ledger';
  keys: readonly string[];
  column: string;
  time: string;
}

export const KEYED_COLUMNS: readonly KeyedColumn[] = [
  { table: 'path_probe', keys: ['src', 'dst', 'time'], column: 'dst', time: 'time' },
  { table: 'path_probe', keys: ['src', 'dst', 'time'], column: 'src', time: 'time' },
  { table: 'hop_quality', keys: ['src', 'dst', 'hop_index', 'time'], column: 'dst', time: 'time' },
  { table: 'hop_quality', keys: ['src', 'dst', 'hop_index', 'time'], column: 'src', time: 'time' },
  { table: 'agent_health', keys: ['node', 'time'], column: 'node', time: 'time' },
  { table: 'crash_report', keys: ['node', 'time'], column: 'node', time: 'time' },
  { table: 'ingest_clock_ledger', keys: ['tbl', 'src', 'dst', 'hop_index', 'sent_at'], column: 'src', time: 'received_at' },
  { table: 'ingest_clock_ledger', keys: ['tbl', 'src', 'dst', 'hop_index', 'sent_at'], column: 'dst', time: 'received_at' },
];

const mapping = (pairs: Array<{ address: string; node: string }>) =>
  sql`SELECT * FROM unnest(${pairs.map((p) => p.address)}::text[], ${pairs.map((p) => p.node)}::text[]) AS m(addr, node)`;

const cols = (names: readonly string[], alias: string) => sql.join(names.map((n) => sql.ref(`${alias}.${n}`)));

/**
 * Renames up to `chunk` rows of one key column from addresses to names.
 * Returns how many rows it looked at (fewer than `chunk`: the column is done).
 */
export async function rekeyColumn(db: Executor, c: KeyedColumn, pairs: Array<{ address: string; node: string }>, p: { from: Date; chunk: number }): Promise<number> {
  const others = c.keys.filter((k) => k !== c.column);
  const t = sql.table(c.table);
  const same = (a: string, b: string, newer: boolean): RawBuilder<unknown> =>
    sql.join([
      ...others.map((k) => sql`${sql.ref(`${a}.${k}`)} = ${sql.ref(`${b}.${k}`)}`),
      sql`${sql.ref(`${a}.${c.column}`)} = ${sql.ref(`${b}.${newer ? 'new_value' : 'old_value'}`)}`,
    ], sql` AND `);
  const { rows } = await sql<{ picked: number }>`
    WITH m AS (${mapping(pairs)}),
    pick AS (
      SELECT ${cols(others, 'p')}, ${sql.ref(`p.${c.column}`)} AS old_value, m.node AS new_value,
             row_number() OVER (PARTITION BY ${cols(others, 'p')}, m.node ORDER BY ${sql.ref(`p.${c.column}`)}) AS k
      FROM ${t} p JOIN m ON ${sql.ref(`p.${c.column}`)} = m.addr
      WHERE ${sql.ref(`p.${c.time}`)} >= ${p.from}
      LIMIT ${p.chunk}
    ),
    gone AS (
      DELETE FROM ${t} p USING pick k
      WHERE ${same('p', 'k', false)}
        AND (k.k > 1 OR EXISTS (SELECT 1 FROM ${t} q WHERE ${same('q', 'k', true)}))
      RETURNING 1
    ),
    moved AS (
      UPDATE ${t} p SET ${sql.ref(c.column)} = k.new_value FROM pick k
      WHERE ${same('p', 'k', false)}
        AND k.k = 1 AND NOT EXISTS (SELECT 1 FROM ${t} q WHERE ${same('q', 'k', true)})
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM pick)::int AS picked, (SELECT count(*) FROM gone) + (SELECT count(*) FROM moved) AS done`.execute(db);
  return rows[0]!.picked;
}

/** Renames addresses inside hop lists (path_probe.route) of up to `chunk` rows. */
export async function rekeyRoutes(db: Executor, pairs: Array<{ address: string; node: string }>, p: { from: Date; chunk: number }): Promise<number> {
  const { rows } = await sql<{ picked: number }>`
    WITH m AS (${mapping(pairs)}),
    pick AS (
      SELECT src, dst, time FROM path_probe
      WHERE time >= ${p.from} AND route && ${pairs.map((x) => x.address)}::text[]
      LIMIT ${p.chunk}
    ),
    moved AS (
      UPDATE path_probe w SET route = ARRAY(
        SELECT COALESCE(m.node, u.r) FROM unnest(w.route) WITH ORDINALITY AS u(r, o) LEFT JOIN m ON m.addr = u.r ORDER BY u.o)
      FROM pick k WHERE w.src = k.src AND w.dst = k.dst AND w.time = k.time
      RETURNING 1
    )
    SELECT count(*)::int AS picked FROM moved`.execute(db);
  return rows[0]!.picked;
}

/** Renames the ends of up to `chunk` hops (hop_quality.from_node / to_node). */
export async function rekeyHopEnds(db: Executor, pairs: Array<{ address: string; node: string }>, p: { from: Date; chunk: number }): Promise<number> {
  const addrs = pairs.map((x) => x.address);
  const { rows } = await sql<{ picked: number }>`
    WITH m AS (${mapping(pairs)}),
    pick AS (
      SELECT src, dst, hop_index, time FROM hop_quality
      WHERE time >= ${p.from} AND (from_node = ANY(${addrs}::text[]) OR to_node = ANY(${addrs}::text[]))
      LIMIT ${p.chunk}
    ),
    moved AS (
      UPDATE hop_quality h SET
        from_node = COALESCE((SELECT m.node FROM m WHERE m.addr = h.from_node), h.from_node),
        to_node = COALESCE((SELECT m.node FROM m WHERE m.addr = h.to_node), h.to_node)
      FROM pick k WHERE h.src = k.src AND h.dst = k.dst AND h.hop_index = k.hop_index AND h.time = k.time
      RETURNING 1
    )
    SELECT count(*)::int AS picked FROM moved`.execute(db);
  return rows[0]!.picked;
}

/**
 * One node known by its address and by its name: the registry entry and the
 * drop statistics of the address are merged into the name's. Small tables,
 * one pair at a time.
 */
export async function mergeNode(db: Executor, pair: { address: string; node: string }): Promise<void> {
  await sql`
    WITH old AS (DELETE FROM nodes WHERE node = ${pair.address} RETURNING *)
    INSERT INTO nodes (node, first_seen, last_seen, last_received_at, last_type, agent_version, routing_daemon,
                       hardware_model, firmware_version, grid_square, lat, lon, clock_skew_s, skew_flagged_at, extra)
    SELECT ${pair.node}, first_seen, last_seen, last_received_at, last_type, agent_version, routing_daemon,
           hardware_model, firmware_version, grid_square, lat, lon, clock_skew_s, skew_flagged_at, extra
    FROM old
    ON CONFLICT (node) DO UPDATE SET
      first_seen = LEAST(nodes.first_seen, excluded.first_seen),
      last_seen = GREATEST(nodes.last_seen, excluded.last_seen),
      last_received_at = GREATEST(nodes.last_received_at, excluded.last_received_at),
      last_type = CASE WHEN excluded.last_seen > nodes.last_seen THEN excluded.last_type ELSE nodes.last_type END,
      agent_version = COALESCE(nodes.agent_version, excluded.agent_version),
      routing_daemon = COALESCE(nodes.routing_daemon, excluded.routing_daemon),
      hardware_model = COALESCE(nodes.hardware_model, excluded.hardware_model),
      firmware_version = COALESCE(nodes.firmware_version, excluded.firmware_version),
      grid_square = COALESCE(nodes.grid_square, excluded.grid_square),
      lat = COALESCE(nodes.lat, excluded.lat),
      lon = COALESCE(nodes.lon, excluded.lon),
      extra = excluded.extra || nodes.extra`.execute(db);
  await sql`
    WITH old AS (DELETE FROM ingest_volume WHERE node = ${pair.address} RETURNING *)
    INSERT INTO ingest_volume (node, bucket, kind, measurements, affected, last_at)
    SELECT ${pair.node}, bucket, kind, measurements, affected, last_at FROM old ORDER BY bucket, kind
    ON CONFLICT (node, bucket, kind) DO UPDATE SET
      measurements = ingest_volume.measurements + excluded.measurements,
      affected = ingest_volume.affected + excluded.affected,
      last_at = GREATEST(ingest_volume.last_at, excluded.last_at)`.execute(db);
  await sql`
    WITH old AS (DELETE FROM ingest_drops WHERE node = ${pair.address} RETURNING *)
    INSERT INTO ingest_drops (node, bucket, reason, drops, last_at)
    SELECT ${pair.node}, bucket, reason, drops, last_at FROM old ORDER BY bucket, reason
    ON CONFLICT (node, bucket, reason) DO UPDATE SET
      drops = ingest_drops.drops + excluded.drops,
      last_at = GREATEST(ingest_drops.last_at, excluded.last_at)`.execute(db);
}

/** The spelling the collector already uses for a name a DNS answer gives in other letter case. */
export async function knownSpelling(db: Executor, name: string): Promise<string | null> {
  const { rows } = await sql<{ node: string }>`
    SELECT node FROM nodes WHERE lower(node) = lower(${name})
    UNION ALL SELECT node FROM node_addresses WHERE lower(node) = lower(${name})
    LIMIT 1`.execute(db);
  return rows[0]?.node ?? null;
}