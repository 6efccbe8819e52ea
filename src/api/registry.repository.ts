import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/** One page of nodes in name order, after `after`; `silentBefore` splits reporting from silent. */
export async function listNodes(
  db: Executor, p: { status: 'reporting' | 'silent' | 'all'; silentBefore: Date; after: string | null; limit: number },
) {
  let q = db
    .selectFrom('nodes')
    .select([
      'node', 'first_seen', 'last_seen', 'last_received_at', 'last_type', 'agent_version', 'routing_daemon',
      'hardware_model', 'firmware_version', 'grid_square', 'lat', 'lon', 'clock_skew_s', 'skew_flagged_at',
    ])
    .orderBy('node')
    .limit(p.limit);
  if (p.after !== null) q = q.where('node', '>', p.after);
  if (p.status === 'silent') q = q.where('last_received_at', '<', p.silentBefore);
  if (p.status === 'reporting') q = q.where('last_received_at', '>=', p.silentBefore);
  return q.execute();
}
export type NodeRow = Awaited<ReturnType<typeof listNodes>>[number];

/** Every node counted, reporting or silent. */
export async function nodeCounts(db: Executor, silentBefore: Date): Promise<{ total: number; silent: number }> {
  const { rows } = await sql<{ total: number; silent: number }>`
    SELECT count(*)::int AS total, (count(*) FILTER (WHERE last_received_at < ${silentBefore}))::int AS silent FROM nodes`.execute(db);
  return rows[0]!;
}

/**
 * The drops of these nodes: their sum since `since`, and the latest drop's
 * time and reason. One short index walk per node (ingest_drops' key starts
 * with the node).
 */
export async function dropsOf(db: Executor, nodes: string[], since: Date) {
  if (!nodes.length) return [];
  const { rows } = await sql<{ node: string; recent: number; last_at: Date | null; last_reason: string | null }>`
    SELECT n.node,
           COALESCE((SELECT sum(d.drops) FROM ingest_drops d WHERE d.node = n.node AND d.bucket >= ${since}), 0)::int AS recent,
           l.last_at, l.reason AS last_reason
    FROM unnest(${nodes}::text[]) AS n(node)
    LEFT JOIN LATERAL (
      SELECT d.last_at, d.reason FROM ingest_drops d WHERE d.node = n.node
      ORDER BY d.bucket DESC, d.last_at DESC, d.reason LIMIT 1
    ) l ON true`.execute(db);
  return rows;
}
