import type { Executor } from '../db/database.ts';
import { encodeRegistryCursor, type IngestDrops, type Registry, type RegistryNode, type RegistryQuery } from './registry.schema.ts';
import { dropsOf, listNodes, nodeCounts, type NodeRow } from './registry.repository.ts';

const iso = (d: Date | string) => new Date(d).toISOString();
const DAY_MS = 86_400_000;
const NO_DROPS: IngestDrops = { last_24h: 0, last_at: null, last_reason: null };

function toNode(r: NodeRow, now: Date, silentAfterS: number, drops: IngestDrops): RegistryNode {
  // The collector's receive time, not the agent's sent_at: a drifting router clock must not make it look silent.
  const silentForS = Math.max(0, Math.floor((now.getTime() - new Date(r.last_received_at).getTime()) / 1000));
  return {
    node: r.node,
    // Retired by the engine and not heard from since (the query's join): a report brings it back.
    status: r.retired_at ? 'retired' : silentForS > silentAfterS ? 'silent' : 'reporting',
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
    last_received_at: iso(r.last_received_at),
    silent_for_s: silentForS,
    retired_at: r.retired_at ? iso(r.retired_at) : null,
    last_type: r.last_type,
    agent_version: r.agent_version,
    routing_daemon: r.routing_daemon,
    hardware_model: r.hardware_model,
    firmware_version: r.firmware_version,
    position: { lat: r.lat, lon: r.lon, grid_square: r.grid_square },
    clock_skew_s: r.clock_skew_s,
    clock_skew_flagged_at: r.skew_flagged_at ? iso(r.skew_flagged_at) : null,
    ingest_drops: drops,
  };
}

/** One page of the registry, in node-name order; counts over every node. */
export async function registry(db: Executor, q: RegistryQuery, opts: { now: Date; silentAfterS: number }): Promise<Registry> {
  // silent: more than silentAfterS whole seconds since the last message (as toNode judges it).
  const silentBefore = new Date(opts.now.getTime() - (opts.silentAfterS + 1) * 1000 + 1);
  const rows = await listNodes(db, { status: q.status, silentBefore, after: q.cursor?.after ?? null, limit: q.limit + 1 });
  const page = rows.slice(0, q.limit);
  const drops = new Map((await dropsOf(db, page.map((r) => r.node), new Date(opts.now.getTime() - DAY_MS))).map((d) => [d.node, d]));
  const counts = await nodeCounts(db, silentBefore);
  return {
    nodes: page.map((r) => {
      const d = drops.get(r.node);
      return toNode(r, opts.now, opts.silentAfterS, d ? { last_24h: d.recent, last_at: d.last_at ? iso(d.last_at) : null, last_reason: d.last_reason } : NO_DROPS);
    }),
    next: rows.length > q.limit ? encodeRegistryCursor({ after: page.at(-1)!.node }) : null,
    counts: { total: counts.total, reporting: counts.total - counts.silent - counts.retired, silent: counts.silent, retired: counts.retired },
    silent_after_s: opts.silentAfterS,
    generated_at: opts.now.toISOString(),
  };
}
