import type { Executor } from '../db/database.ts';
import type { Registry, RegistryNode, RegistryQuery } from './registry.schema.ts';
import { listNodes, retiredAt, type NodeRow } from './registry.repository.ts';

const iso = (d: Date | string) => new Date(d).toISOString();

function toNode(r: NodeRow, now: Date, silentAfterS: number, retired: Date | undefined): RegistryNode {
  // The collector's receive time, not the agent's sent_at: a drifting router clock must not make it look silent.
  const lastReceived = new Date(r.last_received_at);
  const silentForS = Math.max(0, Math.floor((now.getTime() - lastReceived.getTime()) / 1000));
  // Retired by the engine and not heard from since: a report after that brings it back.
  const isRetired = !!retired && retired >= lastReceived;
  return {
    node: r.node,
    status: isRetired ? 'retired' : silentForS > silentAfterS ? 'silent' : 'reporting',
    first_seen: iso(r.first_seen),
    last_seen: iso(r.last_seen),
    last_received_at: iso(r.last_received_at),
    silent_for_s: silentForS,
    retired_at: isRetired ? retired!.toISOString() : null,
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
  const retired = await retiredAt(db);
  const all = (await listNodes(db)).map((r) => toNode(r, opts.now, opts.silentAfterS, retired.get(r.node)));
  const count = (s: RegistryNode['status']) => all.filter((n) => n.status === s).length;
  return {
    nodes: q.status === 'all' ? all : all.filter((n) => n.status === q.status),
    counts: { total: all.length, reporting: count('reporting'), silent: count('silent'), retired: count('retired') },
    silent_after_s: opts.silentAfterS,
    generated_at: opts.now.toISOString(),
  };
}
