import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/** A mesh is a few thousand nodes at most; these bound what one request reads and answers. */
export const TOPOLOGY_NODES_LIMIT = 10_000;
export const TOPOLOGY_LINKS_LIMIT = 50_000;

export async function topologyNodes(db: Executor) {
  return db
    .selectFrom('nodes')
    .select(['node', 'lat', 'lon', 'firmware_version', 'hardware_model', 'last_seen', 'last_received_at'])
    .orderBy('node')
    .limit(TOPOLOGY_NODES_LIMIT)
    .execute();
}
export type TopologyNodeRow = Awaited<ReturnType<typeof topologyNodes>>[number];

export interface TopologyLinkRow {
  a: string;
  b: string;
  etx: number | null;
  lq: number | null;
  nlq: number | null;
  link_type: string | null;
  samples: number;
  last_seen: Date;
}

/**
 * Hop samples of (from, to] folded into undirected links a < b. LQ is what a
 * node measures of the packets it receives from its neighbour and NLQ what
 * the neighbour measures of its own: a sample taken b→a is the mirror of one
 * taken a→b, so its LQ counts as the link's NLQ and the other way round.
 */
export async function topologyLinks(db: Executor, from: Date, to: Date): Promise<TopologyLinkRow[]> {
  const { rows } = await sql<TopologyLinkRow>`
    SELECT a, b, avg(etx)::float8 AS etx, avg(lq)::float8 AS lq, avg(nlq)::float8 AS nlq,
           (array_agg(link_type ORDER BY time DESC) FILTER (WHERE link_type IS NOT NULL))[1] AS link_type,
           count(*)::int AS samples, max(time) AS last_seen
    FROM (
      SELECT least(from_node, to_node) AS a, greatest(from_node, to_node) AS b, etx, link_type, time,
             CASE WHEN from_node < to_node THEN lq ELSE nlq END AS lq,
             CASE WHEN from_node < to_node THEN nlq ELSE lq END AS nlq
      FROM hop_quality
      WHERE time > ${from} AND time <= ${to} AND from_node <> to_node
    ) h
    GROUP BY a, b
    ORDER BY a, b
    LIMIT ${TOPOLOGY_LINKS_LIMIT}`.execute(db);
  return rows;
}
