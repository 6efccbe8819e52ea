import type { Executor } from '../db/database.ts';
import type { Scope, Severity } from '../incidents/incident.schema.ts';
import { openIncidentCoverage } from '../maintenance/maintenance.service.ts';
import { topologyLinks, topologyNodes } from './topology.repository.ts';
import type { NetworkGraph, TopologyLink, TopologyNode } from './topology.schema.ts';

/** "The mesh of the last hour". */
export const TOPOLOGY_SPAN_MS = 3600_000;

const SEVERITY_RANK: Record<Severity, number> = { minor: 1, major: 2, critical: 3 };
const round = (x: number | null, digits = 3) => (x === null || x === undefined ? null : Math.round(x * 10 ** digits) / 10 ** digits);
const iso = (d: Date | string) => new Date(d).toISOString();
const pairKey = (a: string, b: string) => JSON.stringify([a, b]);

interface Attached {
  incidents: Array<{ id: string; kind: TopologyNode['properties']['incidents'][number]['kind']; severity: Severity }>;
  severity: Severity | null;
}

export async function topology(db: Executor, opts: { now: Date; version: string; silentAfterS: number }): Promise<NetworkGraph> {
  const from = new Date(opts.now.getTime() - TOPOLOGY_SPAN_MS);
  const [registry, links, coverage] = [await topologyNodes(db), await topologyLinks(db, from, opts.now), await openIncidentCoverage(db, opts.now)];

  // Open incidents on a node or a link; a covered one is listed but does not colour it.
  const onNode = new Map<string, Attached>();
  const onLink = new Map<string, Attached>();
  for (const r of [...coverage.open].reverse()) {
    const scope = r.scope as Scope;
    const target = scope.type === 'node' ? onNode : scope.type === 'link' ? onLink : null;
    if (!target) continue;
    const key = scope.type === 'node' ? scope.node : pairKey((scope as { a: string }).a, (scope as { b: string }).b);
    const entry = target.get(key) ?? { incidents: [], severity: null };
    const severity = r.severity as Severity;
    entry.incidents.push({ id: r.id, kind: r.kind as Attached['incidents'][number]['kind'], severity });
    if (!coverage.covered.has(r.id) && (!entry.severity || SEVERITY_RANK[severity] > SEVERITY_RANK[entry.severity])) entry.severity = severity;
    target.set(key, entry);
  }
  const attached = (m: Map<string, Attached>, key: string) => m.get(key) ?? { incidents: [], severity: null };

  const nodes: TopologyNode[] = [];
  const known = new Set<string>();
  for (const n of registry) {
    known.add(n.node);
    const silentForS = (opts.now.getTime() - new Date(n.last_received_at).getTime()) / 1000;
    const a = attached(onNode, n.node);
    nodes.push({
      id: n.node,
      label: n.node,
      properties: {
        status: silentForS > opts.silentAfterS ? 'silent' : 'reporting',
        lat: n.lat,
        lon: n.lon,
        firmware_version: n.firmware_version,
        hardware_model: n.hardware_model,
        last_seen: iso(n.last_seen),
        severity: a.severity,
        incidents: a.incidents,
      },
    });
  }
  // Routers without an agent are still hops of the agents' routes.
  const hopOnly = new Map<string, Date>();
  for (const l of links) {
    for (const n of [l.a, l.b]) {
      if (known.has(n)) continue;
      const seen = new Date(l.last_seen);
      const prev = hopOnly.get(n);
      if (!prev || seen > prev) hopOnly.set(n, seen);
    }
  }
  for (const [n, seen] of [...hopOnly].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const a = attached(onNode, n);
    nodes.push({
      id: n,
      label: n,
      properties: { status: 'unmonitored', lat: null, lon: null, firmware_version: null, hardware_model: null, last_seen: iso(seen), severity: a.severity, incidents: a.incidents },
    });
  }

  const out: TopologyLink[] = links.map((l) => {
    const a = attached(onLink, pairKey(l.a, l.b));
    return {
      source: l.a,
      target: l.b,
      cost: round(l.etx) ?? 1,
      properties: {
        lq: round(l.lq),
        nlq: round(l.nlq),
        link_type: l.link_type,
        samples: l.samples,
        last_seen: iso(l.last_seen),
        severity: a.severity,
        incidents: a.incidents,
      },
    };
  });

  return {
    type: 'NetworkGraph',
    protocol: 'meshmon',
    version: opts.version,
    metric: 'etx',
    label: `MeshMon: the mesh seen from ${from.toISOString()} to ${opts.now.toISOString()}`,
    nodes,
    links: out,
  };
}
