// Recordings of the "many nodes silent at once" family, made here rather than
// copied: a random mesh (a connected core with cycles, plus sites hanging off
// it), agents that probe 2 neighbours + 1 rotating peer every 40 s and send
// agent_health every 5 min 20 s, each on its own phase, and faults laid over
// that traffic the way shared/scenarios' silence recordings show them:
// - outage: nothing from anyone (the collector's uplink);
// - partition: the sites behind one link (or one site with several links)
//   send nothing, and probes from the rest of the mesh into them lose every
//   echo (a path result with its hop list, loss 100 %, no hop results);
// - silent: one agent stops; its router still answers probes.
// The truth lists what a correct engine reports, in the truth-file format.
import { link, linkKey, type Link } from '../../../src/incidents/keys.ts';
import type { Scope } from '../../../src/incidents/incident.schema.ts';
import type { ExpectedFault } from '../../support/scenario-judge.ts';

export type MeshFault =
  | { kind: 'outage'; atMin: number; minutes: number }
  /** `sites` nodes behind one link (`via: 'link'`) or behind one site with two links into it (`via: 'site'`). */
  | { kind: 'partition'; atMin: number; minutes: number; site: number }
  | { kind: 'silent'; atMin: number; minutes: number; node?: string };

export interface SiteSpec {
  /** Nodes of the site (≥ 1), the first one the site's gateway. */
  size: number;
  /** Links from the gateway into the core: 1 (hangs on one link) or more. */
  uplinks: number;
  /** Give the gateway a name holding "--". */
  dashedName?: boolean;
  /** Hang it on the core's routers without an agent. */
  viaAgentless?: boolean;
}

export interface MeshSpec {
  seed: number;
  /** Nodes of the core (≥ 4). */
  core: number;
  /** Links of the core beyond a spanning tree. */
  extraLinks: number;
  /** Core routers without an agent: they never report, but forward and answer probes. */
  agentless?: number;
  sites: SiteSpec[];
  minutes: number;
  faults: MeshFault[];
  t0?: string;
  /** `core`: path_result + hop_result (default); `field`: the upstream agent's network_status, sent 15 s after its probes. */
  style?: 'core' | 'field';
  /**
   * What a probe that lost every echo says about its hops: `none` (no hop
   * results, an empty field path; core's default, as the shared recordings),
   * `unmeasured` (the hops without LQ/ETX; field's default) or `stale` (the
   * hops with ordinary-looking values, as a routing table might still show).
   */
  lostHops?: 'none' | 'unmeasured' | 'stale';
}

export interface MeshRecording {
  names: string[];
  links: Link[];
  /** Per site: its nodes (gateway first) and its uplinks. */
  sites: Array<{ nodes: string[]; uplinks: Link[] }>;
  messages: Array<Record<string, unknown> & { sent_at: string }>;
  expected: ExpectedFault[];
}

function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODELS = ['HAP', 'RKT', 'LHG', 'PBE', 'NSM5'];

export function meshRecording(spec: MeshSpec): MeshRecording {
  const rnd = prng(spec.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(65 + int(26))).join('');
  const used = new Set<string>();
  const name = (dashed = false) => {
    for (;;) {
      const n = dashed
        ? `${letters(1)}${int(10)}${letters(2)}--${MODELS[int(MODELS.length)]}-${1 + int(3)}`
        : `${['K', 'W', 'N', 'A'][int(4)]}${letters(1)}${int(10)}${letters(3)}-${MODELS[int(MODELS.length)]}-${1 + int(3)}`;
      if (!used.has(n)) {
        used.add(n);
        return n;
      }
    }
  };

  const core = Array.from({ length: spec.core }, () => name());
  const edges = new Map<string, Link>();
  const addEdge = (x: string, y: string) => {
    if (x !== y) edges.set(linkKey(x, y), link(x, y));
  };
  for (let i = 1; i < core.length; i++) addEdge(core[i]!, core[int(i)]!);
  for (let k = 0; k < spec.extraLinks; k++) addEdge(core[int(core.length)]!, core[int(core.length)]!);
  const noAgent = new Set(core.slice(0, spec.agentless ?? 0));
  const sites = spec.sites.map((s) => {
    const nodes = [name(s.dashedName)];
    for (let i = 1; i < s.size; i++) nodes.push(name());
    for (let i = 1; i < nodes.length; i++) addEdge(nodes[i]!, nodes[int(i)]!);
    if (nodes.length > 2) addEdge(nodes[nodes.length - 1]!, nodes[0]!);
    const ups = new Set<string>();
    const pool = s.viaAgentless && noAgent.size ? [...noAgent] : core;
    while (ups.size < Math.min(s.uplinks, pool.length)) ups.add(pool[int(pool.length)]!);
    const uplinks = [...ups].map((c) => link(c, nodes[0]!));
    for (const u of uplinks) addEdge(u.a, u.b);
    return { nodes, uplinks };
  });
  const names = [...core, ...sites.flatMap((s) => s.nodes)];
  const adj = new Map(names.map((n) => [n, [] as string[]]));
  for (const e of edges.values()) {
    adj.get(e.a)!.push(e.b);
    adj.get(e.b)!.push(e.a);
  }
  for (const l of adj.values()) l.sort();

  const pathCache = new Map<string, string[]>();
  const path = (src: string, dst: string): string[] => {
    const k = `${src} ${dst}`;
    const hit = pathCache.get(k);
    if (hit) return hit;
    const prev = new Map<string, string>([[src, src]]);
    const queue = [src];
    while (queue.length) {
      const x = queue.shift()!;
      if (x === dst) break;
      for (const y of adj.get(x)!) if (!prev.has(y)) { prev.set(y, x); queue.push(y); }
    }
    const out = [dst];
    while (out[0] !== src) out.unshift(prev.get(out[0]!)!);
    pathCache.set(k, out);
    return out;
  };

  const t0 = Date.parse(spec.t0 ?? '2026-03-02T06:00:00Z');
  const minute = (m: number) => t0 + m * 60_000;
  const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');
  const within = (f: MeshFault, t: number) => t >= minute(f.atMin) && t < minute(f.atMin + f.minutes);

  const silentNode = new Map<MeshFault, string>();
  const expected: ExpectedFault[] = [];
  for (const f of spec.faults) {
    const span = { start_at: iso(minute(f.atMin)), end_at: iso(minute(f.atMin + f.minutes)) };
    if (f.kind === 'outage') expected.push({ kind: 'agent_silent', scope: { type: 'node', node: '*' }, ...span });
    else if (f.kind === 'silent') {
      const n = f.node ?? core.filter((c) => !noAgent.has(c))[int(core.length - noAgent.size)]!;
      silentNode.set(f, n);
      expected.push({ kind: 'agent_silent', scope: { type: 'node', node: n }, ...span });
    } else {
      const s = sites[f.site]!;
      if (s.nodes.length === 1) {
        // One node behind the link: its own silence, no partition.
        expected.push({ kind: 'agent_silent', scope: { type: 'node', node: s.nodes[0]! }, ...span });
        continue;
      }
      const scope: Scope = s.uplinks.length === 1 ? { type: 'link', ...s.uplinks[0]! } : { type: 'node', node: s.nodes[0]! };
      expected.push({ kind: 'partition', scope, ...span, ...({ group: [...s.nodes].sort() } as object) });
    }
  }
  const cutOff = (t: number) => {
    const out = new Set<string>();
    for (const f of spec.faults) if (f.kind === 'partition' && within(f, t)) for (const n of sites[f.site]!.nodes) out.add(n);
    return out;
  };
  const sends = (node: string, t: number) =>
    !spec.faults.some((f) => within(f, t) && (f.kind === 'outage' || (f.kind === 'silent' && silentNode.get(f) === node))) && !cutOff(t).has(node);

  const messages: MeshRecording['messages'] = [];
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  names.forEach((src, i) => {
    if (noAgent.has(src)) return;
    const phase = int(40_000);
    const healthPhase = int(320_000);
    const peers = names.filter((n) => n !== src);
    let rot = int(peers.length);
    for (let t = t0 + phase; t < minute(spec.minutes); t += 40_000) {
      const targets = [...adj.get(src)!.slice(0, 2)];
      let peer = peers[rot++ % peers.length]!;
      if (targets.includes(peer)) peer = peers[rot++ % peers.length]!;
      targets.push(peer);
      if (!sends(src, t)) continue;
      const cut = cutOff(t);
      const lostHops = spec.lostHops ?? (spec.style === 'field' ? 'unmeasured' : 'none');
      const hop = () => ({ lq: r3(0.88 + rnd() * 0.11), nlq: r3(0.88 + rnd() * 0.11), etx: r3(1.03 + rnd() * 0.2) });
      if (spec.style === 'field') {
        const probes = targets.map((dst) => {
          const route = path(src, dst);
          const lost = route.some((n) => cut.has(n));
          return {
            dst_node: dst, timestamp: iso(t), routing_daemon: 'olsr',
            rtt_ms_avg: lost ? null : r1(4 + 4 * route.length + rnd() * 6),
            jitter_ms: lost ? null : r1(1 + rnd() * 8),
            loss_pct: lost ? 100 : r3(rnd() < 0.6 ? 0 : rnd() * 0.5),
            hop_count: route.length - 1,
            path: lost && lostHops === 'none'
              ? []
              : route.slice(1).map((node) => (lost && lostHops === 'unmeasured'
                ? { node, link_type: 'RF', lq: null, nlq: null, etx: null }
                : { node, interface: 'wlan0', link_type: 'RF', ...hop() })),
          };
        });
        messages.push({ schema: 'meshmon.v1', type: 'network_status', node: src, sent_at: iso(t + 15_000), routing_daemon: 'olsr', probe_count: probes.length, probes });
        continue;
      }
      for (const dst of targets) {
        const route = path(src, dst);
        const sent_at = iso(t);
        if (route.some((n) => cut.has(n))) {
          messages.push({ schema: 'meshmon.v1', type: 'path_result', src, dst, sent_at, window_s: 5, route, metrics: { rtt_ms_avg: null, jitter_ms_rfc3550: null, loss_pct: 100 } });
          if (lostHops !== 'none') {
            for (let h = 1; h < route.length; h++) {
              messages.push({ schema: 'meshmon.v1', type: 'hop_result', src, dst, sent_at, hop_index: h, hop: { from: route[h - 1], to: route[h] }, l2: lostHops === 'stale' ? hop() : {} });
            }
          }
          continue;
        }
        messages.push({
          schema: 'meshmon.v1', type: 'path_result', src, dst, sent_at, window_s: 5, route,
          metrics: { rtt_ms_avg: r1(4 + 4 * route.length + rnd() * 6), jitter_ms_rfc3550: r1(1 + rnd() * 8), loss_pct: r3(rnd() < 0.6 ? 0 : rnd() * 0.5) },
        });
        for (let h = 1; h < route.length; h++) {
          messages.push({
            schema: 'meshmon.v1', type: 'hop_result', src, dst, sent_at, hop_index: h,
            hop: { from: route[h - 1], to: route[h] }, l2: hop(),
          });
        }
      }
    }
    for (let t = t0 + (i % 40) * 1000 + (healthPhase % 1000); t < minute(spec.minutes); t += 320_000) {
      if (sends(src, t)) {
        messages.push({ schema: 'meshmon.v1', type: 'agent_health', node: src, sent_at: iso(t), cpu_pct: r1(2 + rnd() * 15), mem_mb: r1(4 + rnd() * 5), queue_len: 0, neighbors_seen: adj.get(src)!.length });
      }
    }
  });
  messages.sort((a, b) => (a.sent_at < b.sent_at ? -1 : a.sent_at > b.sent_at ? 1 : 0));
  return { names, links: [...edges.values()], sites, messages, expected };
}
