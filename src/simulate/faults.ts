import type { Scope } from '../incidents/incident.schema.ts';
import { between, linkId, pickOne, routeLinks, shuffled, type Mesh, type Rng } from './mesh.ts';

// The faults a simulated mesh can suffer, shaped like the ones in the
// recorded scenarios (shared/scenarios), and the truth a judge compares the
// Issue Engine's incidents with.

export const FAULT_KINDS = [
  'jitter_burst', 'loss_spike', 'rf_drop', 'route_flap', 'bottleneck', 'node_overload', 'agent_silent', 'partition', 'outage', 'noise',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Typical length of each fault, minutes (the recordings' values; ±20 % by seed). */
export const DEFAULT_MINUTES: Record<FaultKind, number> = {
  jitter_burst: 6, loss_spike: 3.5, rf_drop: 21, route_flap: 8, bottleneck: 31, node_overload: 12,
  agent_silent: 20, partition: 18, outage: 15, noise: 1.5,
};

/** `--faults all`: every kind once, the outage last (it silences everything). */
export const ALL_FAULTS: FaultKind[] = ['jitter_burst', 'loss_spike', 'rf_drop', 'route_flap', 'bottleneck', 'node_overload', 'agent_silent', 'noise', 'partition', 'outage'];

export interface FaultRequest {
  kind: FaultKind;
  minutes?: number;
}

/** `jitter_burst,bottleneck:12,outage` → requests; `all`, `none`. */
export function parseFaults(spec: string): FaultRequest[] {
  if (spec.trim() === 'none' || spec.trim() === '') return [];
  const out: FaultRequest[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'all') {
      out.push(...ALL_FAULTS.map((kind) => ({ kind })));
      continue;
    }
    const [kind, minutes] = part.split(':');
    if (!(FAULT_KINDS as readonly string[]).includes(kind!)) {
      throw new Error(`unknown fault "${kind}"; known: ${FAULT_KINDS.join(', ')}, all, none`);
    }
    const m = minutes === undefined ? undefined : Number(minutes);
    if (m !== undefined && !(m > 0 && m <= 24 * 60)) throw new Error(`fault "${part}": the minutes must be a number between 0 and 1440`);
    out.push({ kind: kind as FaultKind, ...(m !== undefined ? { minutes: m } : {}) });
  }
  return out;
}

export interface Fault {
  kind: FaultKind;
  /** Simulated epoch ms; the fault acts on windows in [start, end). */
  start: number;
  end: number;
  route?: { src: string; dst: string };
  link?: { a: string; b: string };
  node?: string;
  /** partition: the sites cut off. */
  group?: string[];
  /** route_flap: the hop lists the route cycles through. */
  hopLists?: string[][];
  /** Probed routes (fixed neighbours) crossing the link, for the truth file. */
  routes?: string[];
}

export interface TruthEntry {
  kind: string;
  scope: Scope;
  routes?: string[];
  group?: string[];
  start_at: string;
  end_at: string;
}

const isoS = (ms: number) => new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** The routes agents probe every round: each node to its two fixed neighbours. */
export function fixedRoutes(mesh: Mesh): Array<{ src: string; dst: string; hops: string[] }> {
  const out = [];
  for (const n of mesh.nodes) for (const d of mesh.fixed.get(n.name)!) {
    const hops = mesh.route(n.name, d);
    if (hops) out.push({ src: n.name, dst: d, hops });
  }
  return out;
}

function crossing(mesh: Mesh, id: string): string[] {
  return fixedRoutes(mesh).filter((r) => routeLinks(r.hops).includes(id)).map((r) => `${r.src}>${r.dst}`).sort();
}

/**
 * Places the requested faults one after another from `firstAt`, each
 * `gapMin` (±5) minutes of quiet after the previous one, on targets picked
 * by the seed: a different route, link or node for each where the mesh allows.
 */
export function scheduleFaults(mesh: Mesh, rng: Rng, requests: FaultRequest[], opts: { firstAt: number; gapMin: number }): Fault[] {
  const faults: Fault[] = [];
  const used = new Set<string>();
  const spurNodes = new Set(mesh.spur ? mesh.spur.group : []);
  const fixed = fixedRoutes(mesh).filter((r) => !spurNodes.has(r.src) && !spurNodes.has(r.dst));
  const fresh = <T>(xs: T[], key: (x: T) => string): T => {
    const free = xs.filter((x) => !used.has(key(x)));
    const x = pickOne(rng, free.length ? free : xs);
    used.add(key(x));
    return x;
  };
  const mainLinks = mesh.links.filter((l) => l.type === 'RF' && !spurNodes.has(l.a) && !spurNodes.has(l.b));
  // How many probed routes cross each link (fixed and rotating): a bottleneck wants a busy one.
  const load = new Map<string, number>();
  for (const src of mesh.nodes) for (const dst of mesh.nodes) {
    if (src === dst || spurNodes.has(src.name) || spurNodes.has(dst.name)) continue;
    for (const id of routeLinks(mesh.route(src.name, dst.name) ?? [])) load.set(id, (load.get(id) ?? 0) + 1);
  }
  let t = opts.firstAt;
  for (const req of requests) {
    const minutes = req.minutes ?? DEFAULT_MINUTES[req.kind] * between(rng, 0.85, 1.15);
    const start = Math.floor(t / 1000) * 1000 + Math.floor(between(rng, 0, 40)) * 1000;
    const f: Fault = { kind: req.kind, start, end: start + Math.round(minutes * 60) * 1000 };
    switch (req.kind) {
      case 'jitter_burst':
      case 'loss_spike':
      case 'noise': {
        const r = fresh(fixed, (x) => `route:${x.src}>${x.dst}`);
        f.route = { src: r.src, dst: r.dst };
        break;
      }
      case 'route_flap': {
        // A route with two alternatives when its first hop is down: three hop lists in turn.
        const candidates = shuffled(rng, fixed).map((r) => {
          const alt1 = mesh.route(r.src, r.dst, new Set([routeLinks(r.hops)[0]!]));
          const alt2 = alt1 ? mesh.route(r.src, r.dst, new Set([routeLinks(r.hops)[0]!, routeLinks(alt1)[0]!])) : null;
          return { r, lists: alt1 && alt2 ? [alt1, alt2, r.hops] : null };
        }).filter((c) => c.lists);
        const c = candidates.find((x) => !used.has(`route:${x.r.src}>${x.r.dst}`)) ?? candidates[0];
        if (!c) throw new Error('route_flap: no probed route of this mesh has two alternative paths; try more --nodes or another --seed');
        used.add(`route:${c.r.src}>${c.r.dst}`);
        f.route = { src: c.r.src, dst: c.r.dst };
        f.hopLists = c.lists!;
        break;
      }
      case 'rf_drop': {
        const probed = mainLinks.filter((l) => crossing(mesh, linkId(l.a, l.b)).length > 0);
        const l = fresh(probed.length ? probed : mainLinks, (x) => `link:${linkId(x.a, x.b)}`);
        f.link = { a: l.a, b: l.b };
        f.routes = crossing(mesh, linkId(l.a, l.b));
        break;
      }
      case 'bottleneck': {
        const busiest = [...mainLinks].sort((x, y) => (load.get(linkId(y.a, y.b)) ?? 0) - (load.get(linkId(x.a, x.b)) ?? 0));
        const l = busiest.find((x) => !used.has(`link:${linkId(x.a, x.b)}`)) ?? busiest[0]!;
        used.add(`link:${linkId(l.a, l.b)}`);
        f.link = { a: l.a, b: l.b };
        f.routes = crossing(mesh, linkId(l.a, l.b));
        break;
      }
      case 'node_overload':
      case 'agent_silent': {
        const candidates = mesh.nodes.filter((n) => !spurNodes.has(n.name) && (req.kind === 'agent_silent' || mesh.neighbours.get(n.name)!.length >= 2));
        f.node = fresh(candidates, (n) => `node:${n.name}`).name;
        break;
      }
      case 'partition': {
        if (!mesh.spur) throw new Error('partition: the mesh needs at least 6 nodes (two sites behind one link)');
        f.link = { a: mesh.spur.a < mesh.spur.b ? mesh.spur.a : mesh.spur.b, b: mesh.spur.a < mesh.spur.b ? mesh.spur.b : mesh.spur.a };
        f.group = mesh.spur.group;
        break;
      }
      case 'outage':
        break;
    }
    faults.push(f);
    t = f.end + Math.max(1, opts.gapMin + between(rng, -5, 5)) * 60_000;
  }
  return faults;
}

/** One expected incident per fault (noise expects none), as shared/scenarios' truth files list them. */
export function truthOf(faults: Fault[]): TruthEntry[] {
  const out: TruthEntry[] = [];
  for (const f of faults) {
    const when = { start_at: isoS(f.start), end_at: isoS(f.end) };
    switch (f.kind) {
      case 'noise':
        break;
      case 'jitter_burst':
      case 'loss_spike':
      case 'route_flap':
        out.push({ kind: f.kind, scope: { type: 'route', src: f.route!.src, dst: f.route!.dst }, ...when });
        break;
      case 'rf_drop':
      case 'bottleneck':
        out.push({ kind: f.kind, scope: { type: 'link', a: f.link!.a, b: f.link!.b }, routes: f.routes ?? [], ...when });
        break;
      case 'node_overload':
      case 'agent_silent':
        out.push({ kind: f.kind, scope: { type: 'node', node: f.node! }, ...when });
        break;
      case 'partition':
        out.push({ kind: 'partition', scope: { type: 'link', a: f.link!.a, b: f.link!.b }, group: f.group!, ...when });
        break;
      case 'outage':
        out.push({ kind: 'agent_silent', scope: { type: 'node', node: '*' }, ...when });
        break;
    }
  }
  return out;
}

export function scopeOf(f: Fault): Scope | null {
  return truthOf([f])[0]?.scope ?? null;
}
