import { sql } from 'kysely';
import type { Executor } from '../src/db/database.ts';
import type { HealthRow, HopRow, ProbeRow } from './engine-traffic.ts';

// Bulk loading for the bench, bypassing ingest's validation: one INSERT …
// SELECT FROM unnest(column arrays) per chunk, a few parameters however many
// rows. received_at = time (agents with good clocks and no backlog).

const CHUNK = 20_000;

function* chunks<T>(rows: T[]): Generator<T[]> {
  for (let i = 0; i < rows.length; i += CHUNK) yield rows.slice(i, i + CHUNK);
}

const col = <T, K extends keyof T>(rows: T[], k: K) => rows.map((r) => r[k]);
const times = <T extends { time: Date }>(rows: T[]) => rows.map((r) => r.time.toISOString());

export async function insertProbes(db: Executor, rows: ProbeRow[]): Promise<void> {
  for (const c of chunks(rows)) {
    await sql`
      INSERT INTO path_probe (time, src, dst, route, rtt_ms, jitter_ms, loss_pct, window_s, sent_at, received_at, source)
      SELECT t, s, d, string_to_array(r, ' '), rtt, j, l, 5, t, t, 'path_result'
      FROM unnest(${times(c)}::timestamptz[], ${col(c, 'src')}::text[], ${col(c, 'dst')}::text[],
                  ${c.map((r) => r.route.join(' '))}::text[], ${col(c, 'rtt_ms')}::float8[],
                  ${col(c, 'jitter_ms')}::float8[], ${col(c, 'loss_pct')}::float8[]) AS u(t, s, d, r, rtt, j, l)
      ON CONFLICT DO NOTHING`.execute(db);
  }
}

export async function insertHops(db: Executor, rows: HopRow[]): Promise<void> {
  for (const c of chunks(rows)) {
    await sql`
      INSERT INTO hop_quality (time, src, dst, hop_index, from_node, to_node, lq, nlq, etx, link_type, sent_at, received_at)
      SELECT t, s, d, i, f, o, lq, nlq, etx, 'RF', t, t
      FROM unnest(${times(c)}::timestamptz[], ${col(c, 'src')}::text[], ${col(c, 'dst')}::text[],
                  ${col(c, 'hop_index')}::int2[], ${col(c, 'from_node')}::text[], ${col(c, 'to_node')}::text[],
                  ${col(c, 'lq')}::float8[], ${col(c, 'nlq')}::float8[], ${col(c, 'etx')}::float8[]) AS u(t, s, d, i, f, o, lq, nlq, etx)
      ON CONFLICT DO NOTHING`.execute(db);
  }
}

export async function insertHealth(db: Executor, rows: HealthRow[]): Promise<void> {
  for (const c of chunks(rows)) {
    await sql`
      INSERT INTO agent_health (time, node, cpu_pct, mem_mb, queue_len, neighbors_seen, sent_at, received_at)
      SELECT t, n, cpu, mem, q, nb, t, t
      FROM unnest(${times(c)}::timestamptz[], ${col(c, 'node')}::text[], ${col(c, 'cpu_pct')}::float8[],
                  ${col(c, 'mem_mb')}::float8[], ${col(c, 'queue_len')}::int4[], ${col(c, 'neighbors_seen')}::int4[]) AS u(t, n, cpu, mem, q, nb)
      ON CONFLICT DO NOTHING`.execute(db);
  }
}

/** The registry rows ingest keeps (first/last seen per node). */
export async function upsertNodesFrom(db: Executor, names: string[], firstSeen: Date, lastSeen: Date): Promise<void> {
  await sql`
    INSERT INTO nodes (node, first_seen, last_seen, last_received_at, last_type)
    SELECT n, ${firstSeen.toISOString()}::timestamptz, ${lastSeen.toISOString()}::timestamptz, ${lastSeen.toISOString()}::timestamptz, 'path_result'
    FROM unnest(${names}::text[]) AS u(n)
    ON CONFLICT (node) DO UPDATE SET last_seen = excluded.last_seen, last_received_at = excluded.last_received_at`.execute(db);
}

export async function analyze(db: Executor): Promise<void> {
  await sql`ANALYZE path_probe, hop_quality, agent_health, nodes`.execute(db);
}

export async function tableSizes(db: Executor): Promise<Record<string, number>> {
  const { rows } = await sql<{ t: string; n: number }>`
    SELECT 'path_probe' AS t, count(*)::int AS n FROM path_probe
    UNION ALL SELECT 'hop_quality', count(*)::int FROM hop_quality
    UNION ALL SELECT 'agent_health', count(*)::int FROM agent_health
    UNION ALL SELECT 'incidents', count(*)::int FROM incidents`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}
