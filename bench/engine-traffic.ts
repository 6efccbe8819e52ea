// A simulated AREDN mesh for bench/engine.ts: nodes on a grid with a few
// diagonal links; each agent probes 2 neighbours + 1 rotating peer every 40 s
// (5 s windows, one hop row per hop) and sends agent_health every 5 min — the
// cadence of shared/scenarios. A few faults keep the rules busy the way a real
// mesh would: jittery and lossy routes, an RF link going bad, a hot CPU.

export interface ProbeRow {
  time: Date;
  src: string;
  dst: string;
  route: string[];
  rtt_ms: number;
  jitter_ms: number;
  loss_pct: number;
}

export interface HopRow {
  time: Date;
  src: string;
  dst: string;
  hop_index: number;
  from_node: string;
  to_node: string;
  lq: number;
  nlq: number;
  etx: number;
}

export interface HealthRow {
  time: Date;
  node: string;
  cpu_pct: number;
  mem_mb: number;
  queue_len: number;
  neighbors_seen: number;
}

export interface Traffic {
  probes: ProbeRow[];
  hops: HopRow[];
  health: HealthRow[];
}

export const PROBE_INTERVAL_S = 40;
export const HEALTH_INTERVAL_S = 300;

/** Deterministic PRNG (mulberry32): the same seed fills the same database. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Mesh {
  readonly names: string[];
  readonly neighbours: number[][];
  private readonly phase: number[];
  private readonly parents = new Map<number, Int32Array>();
  private readonly random: () => number;
  /** Faults: jittery routes by src index, a bad link, an overloaded node. */
  readonly faults: { jitterySrc: Set<number>; lossySrc: Set<number>; badLink: [number, number]; hotNode: number };

  constructor(readonly size: number, readonly t0: Date, seed = 500) {
    this.random = rng(seed);
    const cols = Math.ceil(Math.sqrt(size * 1.25));
    const models = ['HAP', 'LHG', 'RKT', 'PBE', 'NSM5'];
    this.names = Array.from({ length: size }, (_, i) => `K${String.fromCharCode(65 + (i % 26))}${i.toString().padStart(4, '0')}-${models[i % models.length]}-${1 + (i % 3)}`);
    this.neighbours = Array.from({ length: size }, () => []);
    const link = (a: number, b: number) => {
      if (a === b || b >= size || this.neighbours[a]!.includes(b)) return;
      this.neighbours[a]!.push(b);
      this.neighbours[b]!.push(a);
    };
    for (let i = 0; i < size; i++) {
      const col = i % cols;
      if (col + 1 < cols) link(i, i + 1);
      link(i, i + cols);
      if (col + 1 < cols && this.random() < 0.15) link(i, i + cols + 1);
    }
    // Long shots and tunnels: a real mesh of this size is a small world, not a grid.
    for (let i = 0; i < size / 10; i++) link(Math.floor(this.random() * size), Math.floor(this.random() * size));
    this.phase = Array.from({ length: size }, () => Math.floor(this.random() * PROBE_INTERVAL_S * 1000));
    const pick = (n: number) => new Set(Array.from({ length: n }, () => Math.floor(this.random() * size)));
    const badA = Math.floor(this.random() * size);
    this.faults = { jitterySrc: pick(4), lossySrc: pick(3), badLink: [badA, this.neighbours[badA]![0]!], hotNode: Math.floor(this.random() * size) };
  }

  /** Shortest path src → dst (BFS tree per source, cached). */
  route(src: number, dst: number): number[] {
    let parent = this.parents.get(src);
    if (!parent) {
      parent = new Int32Array(this.size).fill(-1);
      parent[src] = src;
      const queue = [src];
      for (let q = 0; q < queue.length; q++) {
        const u = queue[q]!;
        for (const v of this.neighbours[u]!) {
          if (parent[v] === -1) {
            parent[v] = u;
            queue.push(v);
          }
        }
      }
      this.parents.set(src, parent);
    }
    const path = [dst];
    for (let v = dst; v !== src; ) {
      v = parent[v]!;
      if (v < 0) return [];
      path.push(v);
    }
    return path.reverse();
  }

  /** Every message sent in [from, to). */
  traffic(from: Date, to: Date): Traffic {
    const out: Traffic = { probes: [], hops: [], health: [] };
    const start = from.getTime();
    const end = to.getTime();
    const t0 = this.t0.getTime();
    const elapsedMin = (t: number) => (t - t0) / 60_000;
    for (let i = 0; i < this.size; i++) {
      const first = t0 + this.phase[i]!;
      let k = Math.max(0, Math.ceil((start - first) / (PROBE_INTERVAL_S * 1000)));
      for (let t = first + k * PROBE_INTERVAL_S * 1000; t < end; k++, t += PROBE_INTERVAL_S * 1000) {
        const nb = this.neighbours[i]!;
        const peer = (i + 1 + ((k * 37) % (this.size - 1))) % this.size;
        for (const dst of [nb[0]!, nb[1 % nb.length]!, peer]) this.probe(out, i, dst, new Date(t), elapsedMin(t));
      }
      const hFirst = t0 + ((this.phase[i]! * 7) % (HEALTH_INTERVAL_S * 1000));
      let h = Math.max(0, Math.ceil((start - hFirst) / (HEALTH_INTERVAL_S * 1000)));
      for (let t = hFirst + h * HEALTH_INTERVAL_S * 1000; t < end; h++, t += HEALTH_INTERVAL_S * 1000) {
        const hot = i === this.faults.hotNode && elapsedMin(t) > 40;
        out.health.push({
          time: new Date(t),
          node: this.names[i]!,
          cpu_pct: hot ? 92 + this.random() * 6 : 5 + this.random() * 25,
          mem_mb: 4 + this.random() * 6,
          queue_len: 0,
          neighbors_seen: this.neighbours[i]!.length,
        });
      }
    }
    return out;
  }

  private probe(out: Traffic, src: number, dst: number, time: Date, minute: number) {
    const path = this.route(src, dst);
    if (path.length < 2) return;
    const [badA, badB] = this.faults.badLink;
    const crossesBad = path.some((v, j) => j > 0 && ((path[j - 1] === badA && v === badB) || (path[j - 1] === badB && v === badA)));
    const throughHot = path.includes(this.faults.hotNode) && minute > 40;
    const jittery = (this.faults.jitterySrc.has(src) && minute > 30 && minute < 45) || throughHot;
    const lossy = this.faults.lossySrc.has(src) && minute > 50;
    const rfBad = crossesBad && minute > 45;
    const hops = path.length - 1;
    out.probes.push({
      time,
      src: this.names[src]!,
      dst: this.names[dst]!,
      route: path.map((v) => this.names[v]!),
      rtt_ms: hops * (2 + this.random() * 3),
      jitter_ms: jittery ? 35 + this.random() * 40 : 1 + this.random() * 6,
      loss_pct: lossy || rfBad ? 3 + this.random() * 8 : this.random() < 0.97 ? 0 : this.random(),
    });
    for (let j = 1; j < path.length; j++) {
      const a = path[j - 1]!;
      const b = path[j]!;
      const bad = rfBad && ((a === badA && b === badB) || (a === badB && b === badA));
      const lq = bad ? 0.45 + this.random() * 0.1 : 0.85 + this.random() * 0.15;
      const nlq = bad ? 0.5 + this.random() * 0.1 : 0.85 + this.random() * 0.15;
      out.hops.push({
        time,
        src: this.names[src]!,
        dst: this.names[dst]!,
        hop_index: j,
        from_node: this.names[a]!,
        to_node: this.names[b]!,
        lq: round(lq, 3),
        nlq: round(nlq, 3),
        etx: round(1 / (lq * nlq), 3),
      });
    }
  }
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
