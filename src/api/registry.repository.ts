import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/**
 * The engine's retirements: per node, the end of its latest agent_silent
 * incident closed with closed_by "retired" (gone for good after
 * retire_after); in force while nothing arrived from the node since. A small
 * partial index (migration 0008) holds exactly those incidents.
 */
const RETIRED = sql`
  SELECT scope ->> 'node' AS node, max(ended_at) AS retired_at FROM incidents
  WHERE kind = 'agent_silent' AND evidence ->> 'closed_by' = 'retired'
  GROUP BY 1`;

/**
 * One page of nodes in name order, after `after`; `silentBefore` splits
 * reporting from silent, and a retired node is neither.
 */
export async function listNodes(
  db: Executor, p: { status: 'reporting' | 'silent' | 'retired' | 'all'; silentBefore: Date; after: string | null; limit: number },
) {
  // RETIRED, as a builder for the join.
  const retiredNow = db
    .selectFrom('incidents')
    .select([sql<string>`scope ->> 'node'`.as('node'), (eb) => eb.fn.max('ended_at').as('retired_at')])
    .where('kind', '=', 'agent_silent')
    .where(sql<boolean>`evidence ->> 'closed_by' = 'retired'`)
    .groupBy(sql`scope ->> 'node'`);
  let q = db
    .selectFrom('nodes')
    .leftJoin(retiredNow.as('r'), (j) => j.onRef('r.node', '=', 'nodes.node').on(sql<boolean>`r.retired_at >= nodes.last_received_at`))
    .select([
      'nodes.node', 'first_seen', 'last_seen', 'last_received_at', 'last_type', 'agent_version', 'routing_daemon',
      'hardware_model', 'firmware_version', 'grid_square', 'lat', 'lon', 'clock_skew_s', 'skew_flagged_at',
      'r.retired_at',
    ])
    .orderBy('nodes.node')
    .limit(p.limit);
  if (p.after !== null) q = q.where('nodes.node', '>', p.after);
  if (p.status === 'retired') q = q.where(sql<boolean>`r.retired_at IS NOT NULL`);
  if (p.status === 'silent') q = q.where('last_received_at', '<', p.silentBefore).where(sql<boolean>`r.retired_at IS NULL`);
  if (p.status === 'reporting') q = q.where('last_received_at', '>=', p.silentBefore).where(sql<boolean>`r.retired_at IS NULL`);
  return q.execute();
}
export type NodeRow = Awaited<ReturnType<typeof listNodes>>[number];

/** Every node counted: retired, else silent, else reporting. */
export async function nodeCounts(db: Executor, silentBefore: Date): Promise<{ total: number; silent: number; retired: number }> {
  const { rows } = await sql<{ total: number; silent: number; retired: number }>`
    WITH retired AS (${RETIRED})
    SELECT count(*)::int AS total,
           (count(*) FILTER (WHERE r.retired_at IS NULL AND n.last_received_at < ${silentBefore}))::int AS silent,
           (count(*) FILTER (WHERE r.retired_at IS NOT NULL))::int AS retired
    FROM nodes n LEFT JOIN retired r ON r.node = n.node AND r.retired_at >= n.last_received_at`.execute(db);
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
