import type { Executor } from '../../db/database.ts';
import type { IncidentKind } from '../../incidents/incident.schema.ts';
import { link, linkKey, linksOf, routeKey, uniqueLinks, type Link } from '../../incidents/keys.ts';
import { MINUTE, type EvidenceWindow, type RuleContext } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { notableWindows, routesWithChangingHops, windowsOfRoutes, type RouteWindow } from '../signals.repository.ts';

export const ROUTE_KINDS: IncidentKind[] = ['jitter_burst', 'loss_spike', 'route_flap'];
export const EVIDENCE_WINDOWS_PER_RUN = 10;

/**
 * How far back the route rules look: a whole stable (clear) run after the
 * last trigger, plus the longest trigger span, plus a margin.
 */
export function routeLookbackMs(rules: RulesConfig): number {
  return (rules.lifecycle.close_after_min + Math.max(rules.loss_spike.mean_window_min, rules.route_flap.window_min) + 5) * MINUTE;
}

export function bottleneckLookbackMs(rules: RulesConfig): number {
  return (rules.bottleneck.window_min + rules.lifecycle.close_after_min + 5) * MINUTE;
}

/**
 * node_overload's own clear runs, and bottleneck's: a bad window it still
 * counts must still find the CPU samples that excuse it.
 */
export function overloadLookbackMs(rules: RulesConfig): number {
  const own = (rules.lifecycle.close_after_min + 15) * MINUTE;
  return Math.max(own, bottleneckLookbackMs(rules)) + 2 * rules.node_overload.probe_interval_s * 1000;
}

/** A window over the jitter threshold or the loss threshold of the bottleneck / node_overload rules. */
export const isBad = (w: RouteWindow, rules: RulesConfig) =>
  (w.jitter_ms !== null && w.jitter_ms > rules.jitter_burst.jitter_ms) || (w.loss_pct !== null && w.loss_pct > rules.loss_spike.loss_pct);

/**
 * Every window over a jitter or loss threshold in the longest lookback of the
 * path-based rules: one pass over the recent path_probe rows per tick.
 */
export function notable(db: Executor, ctx: RuleContext): Promise<RouteWindow[]> {
  return ctx.memo('notable-windows', () => {
    const r = ctx.rules;
    const lookback = Math.max(routeLookbackMs(r), overloadLookbackMs(r));
    return notableWindows(db, {
      from: new Date(ctx.now.getTime() - lookback),
      now: ctx.now,
      jitterMs: r.jitter_burst.jitter_ms,
      lossPct: Math.min(r.loss_spike.loss_pct, r.loss_spike.mean_loss_pct),
    });
  });
}

/**
 * The full window history (route lookback) of the routes a route rule must
 * look at: a notable window, a changing hop list, or an open incident.
 * Grouped per route "S>D", oldest first. Read once per tick, shared.
 */
export function routeWindowsByRoute(db: Executor, ctx: RuleContext): Promise<Map<string, RouteWindow[]>> {
  return ctx.memo('route-windows', async () => {
    const from = new Date(ctx.now.getTime() - routeLookbackMs(ctx.rules));
    const hot = new Map<string, { src: string; dst: string }>();
    for (const w of await notable(db, ctx)) if (w.time > from) hot.set(routeKey(w.src, w.dst), w);
    const flapFrom = new Date(ctx.now.getTime() - ctx.rules.route_flap.window_min * MINUTE);
    for (const r of await routesWithChangingHops(db, { from: flapFrom, now: ctx.now })) hot.set(routeKey(r.src, r.dst), r);
    for (const k of ROUTE_KINDS) for (const o of ctx.open(k)) if (o.scope.type === 'route') hot.set(routeKey(o.scope.src, o.scope.dst), o.scope);
    const rows = await windowsOfRoutes(db, { from, now: ctx.now, routes: [...hot.values()] });
    const out = new Map<string, RouteWindow[]>();
    for (const r of rows) {
      const k = routeKey(r.src, r.dst);
      let list = out.get(k);
      if (!list) out.set(k, (list = []));
      list.push(r);
    }
    return out;
  });
}

export const openRoutes = (ctx: RuleContext, kind: IncidentKind) =>
  new Set(ctx.open(kind).flatMap((o) => (o.scope.type === 'route' ? [routeKey(o.scope.src, o.scope.dst)] : [])));
/** Open incidents' links by text form. */
export const openLinks = (ctx: RuleContext, kind: IncidentKind): Map<string, Link> =>
  new Map(ctx.open(kind).flatMap((o) => (o.scope.type === 'link' ? [[linkKey(o.scope), link(o.scope.a, o.scope.b)] as const] : [])));
export const openNodes = (ctx: RuleContext, kind: IncidentKind) =>
  new Set(ctx.open(kind).flatMap((o) => (o.scope.type === 'node' ? [o.scope.node] : [])));

/** Nodes and links of the hop lists seen (src/dst when a window has none). */
export function topology(windows: RouteWindow[]): { nodes: string[]; links: Link[]; hopLists: string[][] } {
  const nodes = new Set<string>();
  const links: Link[] = [];
  const lists = new Map<string, string[]>();
  for (const w of windows) {
    const hops = w.route.length ? w.route : [w.src, w.dst];
    const k = hops.join(' ');
    if (lists.has(k)) continue;
    lists.set(k, hops);
    for (const n of hops) nodes.add(n);
    links.push(...linksOf(hops));
  }
  return { nodes: [...nodes].sort(), links: uniqueLinks(links), hopLists: [...lists.values()] };
}

export function windowEvidence(w: RouteWindow): EvidenceWindow {
  return { at: w.time.toISOString(), jitter_ms: w.jitter_ms, loss_pct: w.loss_pct, hops: w.route };
}
