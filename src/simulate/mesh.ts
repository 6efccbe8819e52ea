// A simulated AREDN mesh: sites with callsign hostnames and positions, RF
// links between near neighbours (plus a tunnel on larger meshes), routes by
// lowest ETX as OLSR picks them, and the probe plan of the agents
// (shared/scenarios/README.md): every 40 s each agent probes its two fixed
// neighbours and one peer that rotates through the mesh in one global order.
// Everything comes from one seed, so a seed names a mesh.

export type Rng = () => number;

/** mulberry32: small, fast, and the same sequence on every platform. */
export function rngFrom(seed: number): Rng {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
export const between = (rng: Rng, a: number, b: number) => a + rng() * (b - a);
export const pickOne = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
export function shuffled<T>(rng: Rng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
export const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export interface SimNode {
  name: string;
  lat: number;
  lon: number;
  /** Mesh address (what the field agent's dst_ip carries). */
  ip: string;
  model: string;
  /** Second of the 40 s probe cycle at which this agent probes. */
  phase: number;
}

export interface SimLink {
  /** a < b */
  a: string;
  b: string;
  type: 'RF' | 'TUN';
  /** Baseline link quality seen from a (lq) and from b (nlq); 1 for tunnels. */
  lq: number;
  nlq: number;
  latencyMs: number;
}

export const PROBE_INTERVAL_S = 40;
export const HEALTH_INTERVAL_S = 300;

const MODELS: Record<string, string> = {
  HAP: 'MikroTik RouterBOARD 952Ui-5ac2nD (hAP ac lite)',
  RKT: 'Ubiquiti Rocket M5',
  LHG: 'MikroTik RouterBOARD LHG 5nD',
  PBE: 'Ubiquiti PowerBeam M5 400',
  NSM5: 'Ubiquiti NanoStation M5',
};

export const linkId = (x: string, y: string) => (x < y ? `${x}--${y}` : `${y}--${x}`);

function callsigns(rng: Rng, n: number): string[] {
  const L = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const used = new Set<string>();
  while (used.size < n) {
    const prefix = pickOne(rng, ['K', 'W', 'N', 'A']) + L[Math.floor(rng() * 26)];
    const suffix = Array.from({ length: 3 }, () => L[Math.floor(rng() * 26)]).join('');
    const model = pickOne(rng, Object.keys(MODELS));
    used.add(`${prefix}${Math.floor(rng() * 10)}${suffix}-${model}-${1 + Math.floor(rng() * 3)}`);
  }
  return [...used];
}

/** Metres between two positions (equirectangular: plenty for a few tens of km). */
function distance(p: { lat: number; lon: number }, q: { lat: number; lon: number }): number {
  const k = Math.PI / 180;
  const x = (q.lon - p.lon) * k * Math.cos(((p.lat + q.lat) / 2) * k);
  const y = (q.lat - p.lat) * k;
  return Math.sqrt(x * x + y * y) * 6_371_000;
}

export interface Mesh {
  nodes: SimNode[];
  links: SimLink[];
  byName: Map<string, SimNode>;
  neighbours: Map<string, string[]>;
  /** The two neighbours each agent probes every round (the nearest by route when it has one neighbour). */
  fixed: Map<string, string[]>;
  /** Global order the rotating peer follows. */
  order: string[];
  /** Sites that hang on one link (for a partition): `a` stays, `b` and the group go. */
  spur: { a: string; b: string; group: string[] } | null;
  link(x: string, y: string): SimLink | undefined;
  /** Lowest-ETX route, src first; `avoid` drops links (by linkId). */
  route(src: string, dst: string, avoid?: ReadonlySet<string>): string[] | null;
  /** The peer `node` probes in round `round` besides its fixed neighbours. */
  peer(node: string, round: number): string;
}

export function buildMesh(count: number, rng: Rng): Mesh {
  if (count < 3) throw new Error('a mesh needs at least 3 nodes');
  const names = callsigns(rng, count);
  const centre = { lat: 37.4 + between(rng, -0.3, 0.3), lon: -122.0 + between(rng, -0.3, 0.3) };
  const spread = 0.05 + 0.012 * Math.sqrt(count);
  // With 6 or more sites, two or three of them hang on one link (a valley
  // behind a ridge site): the place a partition cuts off.
  const spurSize = count >= 12 ? 3 : count >= 6 ? 2 : 0;
  const mainCount = count - spurSize;
  const nodes: SimNode[] = names.map((name, i) => ({
    name,
    lat: round(centre.lat + between(rng, -spread, spread), 5),
    lon: round(centre.lon + between(rng, -spread, spread) * 1.25, 5),
    ip: `10.${(i * 37 + 11) % 250}.${(i * 91 + 5) % 250}.${1 + ((i * 53) % 250)}`,
    model: MODELS[name.split('-')[1]!]!,
    phase: Math.floor(rng() * PROBE_INTERVAL_S),
  }));
  const main = nodes.slice(0, mainCount);
  const spurNodes = nodes.slice(mainCount);

  const links = new Map<string, SimLink>();
  const addLink = (x: SimNode, y: SimNode, type: 'RF' | 'TUN' = 'RF') => {
    const [p, q] = x.name < y.name ? [x, y] : [y, x];
    const d = distance(p, q);
    const quality = () => round(Math.min(1, Math.max(0.8, 1 - d / 400_000 - between(rng, 0, 0.12))), 3);
    links.set(linkId(p.name, q.name), type === 'TUN'
      ? { a: p.name, b: q.name, type, lq: 1, nlq: 1, latencyMs: round(between(rng, 8, 18), 1) }
      : { a: p.name, b: q.name, type, lq: quality(), nlq: quality(), latencyMs: round(between(rng, 4, 13), 1) });
  };

  // The main mesh: a minimum spanning tree of the sites (every site reaches
  // every other), then the shortest remaining hops up to ~1.6 links a site.
  const pairs: Array<[number, number, number]> = [];
  for (let i = 0; i < main.length; i++) for (let j = i + 1; j < main.length; j++) pairs.push([i, j, distance(main[i]!, main[j]!)]);
  pairs.sort((x, y) => x[2] - y[2]);
  const parent = main.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const extra: Array<[number, number, number]> = [];
  for (const p of pairs) {
    const [ri, rj] = [find(p[0]), find(p[1])];
    if (ri !== rj) {
      parent[ri] = rj;
      addLink(main[p[0]]!, main[p[1]]!);
    } else extra.push(p);
  }
  const target = Math.round(main.length * 1.55);
  for (const p of extra) {
    if (links.size >= target) break;
    addLink(main[p[0]]!, main[p[1]]!);
  }
  if (main.length >= 10) {
    // One tunnel between two far sites, as AREDN meshes join islands over the internet.
    const far = pairs.at(-1)!;
    if (!links.has(linkId(main[far[0]]!.name, main[far[1]]!.name))) addLink(main[far[0]]!, main[far[1]]!, 'TUN');
  }

  let spur: Mesh['spur'] = null;
  if (spurSize) {
    // The spur hangs on the main site farthest from the centre, placed beyond it.
    const anchor = main.reduce((best, n) => (distance(n, centre) > distance(best, centre) ? n : best));
    const out = { lat: anchor.lat - centre.lat, lon: anchor.lon - centre.lon };
    const norm = Math.hypot(out.lat, out.lon) || 1;
    spurNodes.forEach((n, i) => {
      const k = spread * (0.35 + 0.25 * i);
      n.lat = round(anchor.lat + (out.lat / norm) * k + between(rng, -0.01, 0.01), 5);
      n.lon = round(anchor.lon + (out.lon / norm) * k * 1.25 + between(rng, -0.01, 0.01), 5);
    });
    const [b, ...rest] = spurNodes;
    addLink(anchor, b!);
    for (const r of rest) addLink(b!, r);
    if (rest.length === 2) addLink(rest[0]!, rest[1]!);
    spur = { a: anchor.name, b: b!.name, group: spurNodes.map((n) => n.name).sort() };
  }

  const byName = new Map(nodes.map((n) => [n.name, n]));
  const neighbours = new Map<string, string[]>(nodes.map((n) => [n.name, []]));
  for (const l of links.values()) {
    neighbours.get(l.a)!.push(l.b);
    neighbours.get(l.b)!.push(l.a);
  }
  for (const ns of neighbours.values()) ns.sort();

  const etx = (l: SimLink) => 1 / (l.lq * l.nlq);
  const routeCache = new Map<string, string[] | null>();
  const route = (src: string, dst: string, avoid?: ReadonlySet<string>): string[] | null => {
    const key = avoid?.size ? null : `${src}>${dst}`;
    if (key && routeCache.has(key)) return routeCache.get(key)!;
    const dist = new Map<string, number>([[src, 0]]);
    const prev = new Map<string, string>();
    const done = new Set<string>();
    while (true) {
      let u: string | null = null;
      for (const [n, d] of dist) if (!done.has(n) && (u === null || d < dist.get(u)! || (d === dist.get(u)! && n < u))) u = n;
      if (u === null || u === dst) break;
      done.add(u);
      for (const v of neighbours.get(u)!) {
        const id = linkId(u, v);
        if (avoid?.has(id)) continue;
        const d = dist.get(u)! + etx(links.get(id)!);
        if (d < (dist.get(v) ?? Infinity) - 1e-9) {
          dist.set(v, d);
          prev.set(v, u);
        }
      }
    }
    let r: string[] | null = null;
    if (dist.has(dst)) {
      r = [dst];
      while (r[0] !== src) r.unshift(prev.get(r[0]!)!);
    }
    if (key) routeCache.set(key, r);
    return r;
  };

  const fixed = new Map<string, string[]>();
  for (const n of nodes) {
    const ns = neighbours.get(n.name)!;
    const two = ns.slice(0, 2);
    if (two.length < 2) {
      // A site with one neighbour probes the nearest site beyond it too.
      const beyond = nodes
        .filter((m) => m.name !== n.name && !two.includes(m.name))
        .map((m) => ({ m: m.name, hops: route(n.name, m.name)?.length ?? 99 }))
        .sort((x, y) => x.hops - y.hops || x.m.localeCompare(y.m));
      if (beyond[0]) two.push(beyond[0].m);
    }
    fixed.set(n.name, two);
  }
  const order = shuffled(rng, names);
  const peers = new Map(nodes.map((n) => [n.name, order.filter((m) => m !== n.name && !fixed.get(n.name)!.includes(m))]));

  return {
    nodes,
    links: [...links.values()].sort((x, y) => linkId(x.a, x.b).localeCompare(linkId(y.a, y.b))),
    byName,
    neighbours,
    fixed,
    order,
    spur,
    link: (x, y) => links.get(linkId(x, y)),
    route,
    peer: (node, r) => {
      const ps = peers.get(node)!;
      return ps[((r % ps.length) + ps.length) % ps.length]!;
    },
  };
}

/** Consecutive pairs of a hop list as link ids. */
export function routeLinks(route: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < route.length; i++) out.push(linkId(route[i - 1]!, route[i]!));
  return out;
}

/** Maidenhead locator (6 characters) of a position, as AREDN nodes report it. */
export function gridSquare(lat: number, lon: number): string {
  const x = lon + 180;
  const y = lat + 90;
  const A = 'ABCDEFGHIJKLMNOPQR';
  const a = 'abcdefghijklmnopqrstuvwx';
  return (
    A[Math.floor(x / 20)]! + A[Math.floor(y / 10)]! +
    String(Math.floor((x % 20) / 2)) + String(Math.floor(y % 10)) +
    a[Math.floor(((x % 2) * 60) / 5)]! + a[Math.floor(((y % 1) * 60) / 2.5)]!
  );
}
