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
