// The mesh view: GET /topology's NetJSON NetworkGraph drawn as SVG. Sites
// with a position are placed by it; the others by a force layout that is
// seeded from the names, so the picture does not move between refreshes.
import { linkKey } from '../incidents/keys.ts';

export interface TopoIncident {
  id: string;
  kind: string;
  severity: string;
}
export interface TopoNode {
  id: string;
  label?: string;
  properties?: { status?: string; lat?: number | null; lon?: number | null; severity?: string | null; incidents?: TopoIncident[]; [k: string]: unknown };
}
export interface TopoLink {
  source: string;
  target: string;
  cost?: number;
  properties?: { lq?: number | null; nlq?: number | null; link_type?: string | null; severity?: string | null; incidents?: TopoIncident[]; [k: string]: unknown };
}
export interface Topology {
  type: string;
  nodes: TopoNode[];
  links: TopoLink[];
  label?: string;
}

const W = 1000;
const H = 700;
const PAD = 60;

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0) / 4294967296;
}

type Pos = Map<string, { x: number; y: number; fixed: boolean }>;

// The last layout, by the shape it was made for: refreshes of an unchanged
// mesh (the common case) skip the force layout's O(n²) rounds.
let lastLayout: { key: string; pos: Pos } | null = null;

/** Positions in the SVG's box: projected lat/lon where most sites have one, a force layout for the rest. */
export function layout(t: Topology): Pos {
  const key = JSON.stringify([
    t.nodes.map((n) => [n.id, n.properties?.lat ?? null, n.properties?.lon ?? null]),
    t.links.map((l) => [l.source, l.target]),
  ]);
  if (lastLayout?.key === key) return lastLayout.pos;
  const pos = computeLayout(t);
  lastLayout = { key, pos };
  return pos;
}

function computeLayout(t: Topology): Pos {
  const pos: Pos = new Map();
  const geo = t.nodes.filter((n) => typeof n.properties?.lat === 'number' && typeof n.properties?.lon === 'number');
  if (geo.length >= 2 && geo.length * 3 >= t.nodes.length * 2) {
    const lats = geo.map((n) => n.properties!.lat!);
    const lons = geo.map((n) => n.properties!.lon!);
    const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
    const k = Math.cos(((minLat + maxLat) / 2) * (Math.PI / 180));
    const spanX = Math.max((maxLon - minLon) * k, 1e-6);
    const spanY = Math.max(maxLat - minLat, 1e-6);
    const s = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
    for (const n of geo) {
      pos.set(n.id, {
        x: PAD + ((n.properties!.lon! - minLon) * k) * s + (W - 2 * PAD - spanX * s) / 2,
        y: PAD + (maxLat - n.properties!.lat!) * s + (H - 2 * PAD - spanY * s) / 2,
        fixed: true,
      });
    }
  }
  const free = t.nodes.filter((n) => !pos.has(n.id));
  free.forEach((n, i) => {
    const a = hash(n.id) * 2 * Math.PI;
    const r = 0.25 + 0.2 * ((i % 7) / 7);
    pos.set(n.id, { x: W / 2 + Math.cos(a) * r * W, y: H / 2 + Math.sin(a) * r * H, fixed: false });
  });
  if (free.length) {
    // Fruchterman–Reingold, cooling over a fixed number of rounds.
    const ids = [...pos.keys()];
    const edges = t.links.filter((l) => pos.has(l.source) && pos.has(l.target));
    const k = Math.sqrt(((W - 2 * PAD) * (H - 2 * PAD)) / Math.max(1, ids.length)) * 0.9;
    let temp = W / 8;
    const rounds = ids.length > 150 ? 120 : 250;
    for (let it = 0; it < rounds; it++) {
      const disp = new Map(ids.map((id) => [id, { x: 0, y: 0 }]));
      for (let i = 0; i < ids.length; i++) {
        const p = pos.get(ids[i]!)!;
        for (let j = i + 1; j < ids.length; j++) {
          const q = pos.get(ids[j]!)!;
          let dx = p.x - q.x;
          let dy = p.y - q.y;
          let d = Math.hypot(dx, dy);
          if (d < 0.01) { dx = 0.01 * (i - j); dy = 0.01; d = Math.hypot(dx, dy); }
          const f = (k * k) / d;
          const di = disp.get(ids[i]!)!;
          const dj = disp.get(ids[j]!)!;
          di.x += (dx / d) * f; di.y += (dy / d) * f;
          dj.x -= (dx / d) * f; dj.y -= (dy / d) * f;
        }
      }
      for (const e of edges) {
        const p = pos.get(e.source)!;
        const q = pos.get(e.target)!;
        const dx = p.x - q.x;
        const dy = p.y - q.y;
        const d = Math.max(0.01, Math.hypot(dx, dy));
        const f = (d * d) / k;
        const ds = disp.get(e.source)!;
        const dt = disp.get(e.target)!;
        ds.x -= (dx / d) * f; ds.y -= (dy / d) * f;
        dt.x += (dx / d) * f; dt.y += (dy / d) * f;
      }
      for (const id of ids) {
        const p = pos.get(id)!;
        if (p.fixed) continue;
        const d = disp.get(id)!;
        const len = Math.max(0.01, Math.hypot(d.x, d.y));
        p.x = Math.min(W - PAD, Math.max(PAD, p.x + (d.x / len) * Math.min(len, temp)));
        p.y = Math.min(H - PAD, Math.max(PAD, p.y + (d.y / len) * Math.min(len, temp)));
      }
      temp *= 0.97;
    }
  }
  return pos;
}

// The link's one-string form, `A,B`: exact even for names holding "--" (the ?link= of /issues/by-object).
const keyOf = (x: string, y: string) => linkKey(x, y);
const incidentsText = (xs: TopoIncident[] | undefined) => (xs?.length ? xs.map((i) => `${i.severity} ${i.kind.replaceAll('_', ' ')}`).join(', ') : 'no open incident');

export function MeshSvg({ topo, pos, base }: { topo: Topology; pos: Pos; base: string }) {
  const worst = (s: string | null | undefined) => (s ? `sev-${s}` : 'sev-none');
  return (
    <svg class="mesh" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${topo.nodes.length} nodes, ${topo.links.length} links`}>
      <g class="links">
        {topo.links.filter((l) => pos.has(l.source) && pos.has(l.target)).map((l) => {
          const p = pos.get(l.source)!;
          const q = pos.get(l.target)!;
          const key = keyOf(l.source, l.target);
          const sev = l.properties?.severity ?? null;
          const tunnel = /tun/i.test(l.properties?.link_type ?? '');
          return (
            <a href={`${base}?link=${encodeURIComponent(key)}&status=all`} class={`link ${worst(sev)}${tunnel ? ' tunnel' : ''}`} data-link={key} data-severity={sev ?? ''}>
              <title>{`${l.source} ↔ ${l.target}: ETX ${l.cost ?? '?'}, ${incidentsText(l.properties?.incidents)}`}</title>
              <line class="hit" x1={p.x.toFixed(1)} y1={p.y.toFixed(1)} x2={q.x.toFixed(1)} y2={q.y.toFixed(1)} />
              <line class="wire" x1={p.x.toFixed(1)} y1={p.y.toFixed(1)} x2={q.x.toFixed(1)} y2={q.y.toFixed(1)} />
            </a>
          );
        })}
      </g>
      <g class="nodes">
        {topo.nodes.filter((n) => pos.has(n.id)).map((n) => {
          const p = pos.get(n.id)!;
          const sev = n.properties?.severity ?? null;
          const status = n.properties?.status ?? 'reporting';
          return (
            <a href={`${base}?node=${encodeURIComponent(n.id)}&status=all`} class={`node ${worst(sev)} st-${status}`} data-node={n.id} data-severity={sev ?? ''}>
              <title>{`${n.label ?? n.id} (${status}): ${incidentsText(n.properties?.incidents)}`}</title>
              <circle cx={p.x.toFixed(1)} cy={p.y.toFixed(1)} r="9" />
              <text x={p.x.toFixed(1)} y={(p.y - 13).toFixed(1)} text-anchor="middle">{n.label ?? n.id}</text>
            </a>
          );
        })}
      </g>
    </svg>
  );
}
