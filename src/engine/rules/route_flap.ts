import type { RouteScope } from '../../incidents/incident.schema.ts';
import { linkKey, linksOf, uniqueLinks, type Link } from '../../incidents/keys.ts';
import { MINUTE, type Finding, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import type { RouteWindow } from '../signals.repository.ts';
import { openRoutes, routeWindowsByRoute, topology } from './common.ts';

const hopsKey = (w: RouteWindow) => w.route.join('>');

/**
 * The trigger at each window: at least `distinct_routes` different hop lists
 * among the route's windows of the last window_min. Its start is the first
 * change of hop list inside that span, not the span's first window (which
 * still had the old, stable path). Windows without a hop list are skipped.
 */
export function flapRuns(all: RouteWindow[], cfg: RulesConfig['route_flap']): Run[] {
  const ws = all.filter((w) => w.route.length > 0);
  const spanMs = cfg.window_min * MINUTE;
  const marks = ws.map((w, i) => {
    let j = i;
    while (j > 0 && ws[j - 1]!.time.getTime() > w.time.getTime() - spanMs) j--;
    const distinct = new Set(ws.slice(j, i + 1).map(hopsKey));
    if (distinct.size < cfg.distinct_routes) return { distinct: distinct.size, from: -1, j };
    let c = Math.max(j, 1);
    while (c <= i && hopsKey(ws[c]!) === hopsKey(ws[c - 1]!)) c++;
    return { distinct: distinct.size, from: Math.min(c, i), j };
  });

  const runs: Run[] = [];
  let i = 0;
  while (i < marks.length) {
    if (marks[i]!.from < 0) { i++; continue; }
    let k = i;
    while (k + 1 < marks.length && marks[k + 1]!.from >= 0) k++;
    const from = marks[i]!.from;
    const peak = Math.max(...marks.slice(i, k + 1).map((m) => m.distinct));
    const seen = new Map<string, RouteWindow>();
    for (const w of ws.slice(Math.max(0, from - 1), k + 1)) if (!seen.has(hopsKey(w))) seen.set(hopsKey(w), w);
    runs.push({
      start: ws[from]!.time,
      end: ws[k]!.time,
      clearAt: k + 1 < marks.length ? ws[k + 1]!.time : null,
      severity: peak >= cfg.major_at ? 'major' : 'minor',
      peaks: { distinct_hop_lists: peak },
      // One window per hop list: when each path was first seen.
      windows: [...seen.values()].slice(0, 10).map((w) => ({ at: w.time.toISOString(), hops: w.route })),
    });
    i = k + 1;
  }
  return runs;
}

export const route_flap: Rule = {
  kind: 'route_flap',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.route_flap;
    const byRoute = await routeWindowsByRoute(db, ctx);
    const open = openRoutes(ctx, 'route_flap');
    const findings: Finding[] = [];
    for (const [key, windows] of byRoute) {
      const runs = flapRuns(windows, cfg);
      if (!runs.length && !open.has(key)) continue;
      const first = windows[0]!;
      const scope: RouteScope = { type: 'route', src: first.src, dst: first.dst };
      const involved = windows.filter((w) => runs.some((r) => w.time >= r.start && w.time <= r.end));
      const topo = topology(involved);
      findings.push({
        kind: 'route_flap',
        scope,
        runs,
        lastDataAt: windows.at(-1)!.time,
        routes: [{ src: scope.src, dst: scope.dst }],
        nodes: topo.nodes,
        links: topo.links,
        hopLists: topo.hopLists,
        evidence: {
          thresholds: { distinct_hop_lists: cfg.distinct_routes, window_min: cfg.window_min, major_at: cfg.major_at },
          ...(topo.hopLists.length ? { hop_lists: topo.hopLists.slice(0, 10) } : {}),
          ...(runs.length ? { unstable_hops: unstableHops(topo.hopLists) } : {}),
        },
      });
    }
    return findings;
  },
};

/** Links present in some hop lists but not all: where the path keeps changing. */
function unstableHops(lists: string[][]): Link[] {
  const count = new Map<string, { link: Link; n: number }>();
  for (const l of lists) {
    for (const x of uniqueLinks(linksOf(l))) {
      const k = linkKey(x);
      const c = count.get(k);
      if (c) c.n++;
      else count.set(k, { link: x, n: 1 });
    }
  }
  return uniqueLinks([...count.values()].filter((c) => c.n < lists.length).map((c) => c.link));
}
