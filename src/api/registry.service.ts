import type { Executor } from '../db/database.ts';
import type { Registry, RegistryNode, RegistryQuery } from './registry.schema.ts';
import { listNodes, type NodeRow } from './registry.repository.ts';

const iso = (d: Date | string) => new Date(d).toISOString();

function toNode(r: NodeRow, now: Date, silentAfterS: number): RegistryNode {
  // The collector's receive time, not the agent's sent_at: a drifting router clock must not make it look silent.
  const silentForS = Math.max(0, Math.floor((now.getTime() - new Date(r.last_received_at).getTime()) / 1000));
  return {
    node: r.node,
    status: silentForS > silentAfterS ? 'silent' : 'reporting',
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
    last_received_at: iso(r.last_received_at),
    silent_for_s: silentForS,
    last_type: r.last_type,
    agent_version: r.agent_version,
    routing_daemon: r.routing_daemon,
    hardware_model: r.hardware_model,
    firmware_version: r.firmware_version,
    position: { lat: r.lat, lon: r.lon, grid_square: r.grid_square },
    clock_skew_s: r.clock_skew_s,
    clock_skew_flagged_at: r.skew_flagged_at ? iso(r.skew_flagged_at) : null,
  };
}

export async function registry(db: Executor, q: RegistryQuery, opts: { now: Date; silentAfterS: number }): Promise<Registry> {
  const all = (await listNodes(db)).map((r) => toNode(r, opts.now, opts.silentAfterS));
  const silent = all.filter((n) => n.status === 'silent').length;
  return {
    nodes: q.status === 'all' ? all : all.filter((n) => n.status === q.status),
    counts: { total: all.length, reporting: all.length - silent, silent },
    silent_after_s: opts.silentAfterS,
    generated_at: opts.now.toISOString(),
  };
}
