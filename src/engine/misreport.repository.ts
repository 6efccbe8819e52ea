import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

// What agent_misreport reads: the drop statistics ingest keeps per node and
// 5-minute bucket of receive time (ingest_volume, ingest_drops; migration
// 0007), bounded by a lookback and the nodes that matter.

export interface VolumeRow {
  node: string;
  bucket: Date;
  kind: string;
  measurements: number;
  affected: number;
  last_at: Date;
}

/**
 * The volume buckets in (from, now] of the nodes with anything dropped in
 * that span, and of `nodes` (those with an open incident).
 */
export async function volumeOfTroubledNodes(db: Executor, p: { from: Date; now: Date; nodes: string[] }): Promise<VolumeRow[]> {
  const { rows } = await sql<VolumeRow>`
    SELECT v.node, v.bucket, v.kind, v.measurements, v.affected, v.last_at
    FROM ingest_volume v
    WHERE v.bucket > ${p.from} AND v.bucket <= ${p.now} AND v.last_at <= ${p.now}
      AND (v.node = ANY(${p.nodes}::text[]) OR v.node IN (
        SELECT DISTINCT node FROM ingest_volume WHERE bucket > ${p.from} AND bucket <= ${p.now} AND affected > 0))
    ORDER BY v.node, v.bucket, v.kind`.execute(db);
  return rows;
}

/** Drops by node and reason in (from, now]. */
export async function dropReasons(db: Executor, p: { from: Date; now: Date; nodes: string[] }): Promise<Array<{ node: string; reason: string; drops: number }>> {
  if (!p.nodes.length) return [];
  const { rows } = await sql<{ node: string; reason: string; drops: number }>`
    SELECT node, reason, sum(drops)::int AS drops FROM ingest_drops
    WHERE node = ANY(${p.nodes}::text[]) AND bucket > ${p.from} AND bucket <= ${p.now}
    GROUP BY node, reason ORDER BY node, reason`.execute(db);
  return rows;
}

/** The routing daemon the registry knows for these nodes (for the cause's wording). */
export async function routingDaemons(db: Executor, nodes: string[]): Promise<Map<string, string | null>> {
  if (!nodes.length) return new Map();
  const rows = await db.selectFrom('nodes').select(['node', 'routing_daemon']).where('node', '=', sql<string>`ANY(${nodes}::text[])`).execute();
  return new Map(rows.map((r) => [r.node, r.routing_daemon]));
}
