import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export async function listNodes(db: Executor) {
  return db
    .selectFrom('nodes')
    .select([
      'node', 'first_seen', 'last_seen', 'last_received_at', 'last_type', 'agent_version', 'routing_daemon',
      'hardware_model', 'firmware_version', 'grid_square', 'lat', 'lon', 'clock_skew_s', 'skew_flagged_at',
    ])
    .orderBy('node')
    .execute();
}
export type NodeRow = Awaited<ReturnType<typeof listNodes>>[number];

/**
 * Per node, when the engine last retired it: the end of its latest agent_silent
 * incident closed with closed_by "retired" (spec: gone for good after
 * retire_after). A node that reported after that is back.
 */
export async function retiredAt(db: Executor): Promise<Map<string, Date>> {
  const rows = await db
    .selectFrom('incidents')
    .select([sql<string>`scope ->> 'node'`.as('node'), (eb) => eb.fn.max('ended_at').as('retired_at')])
    .where('kind', '=', 'agent_silent')
    .where(sql<boolean>`scope ->> 'type' = 'node' AND evidence ->> 'closed_by' = 'retired'`)
    .groupBy(sql`scope ->> 'node'`)
    .execute();
  return new Map(rows.map((r) => [r.node, new Date(r.retired_at as Date)]));
}
