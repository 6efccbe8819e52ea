import type { LinkScope } from '../../incidents/incident.schema.ts';
import { link, linkKey, routeKey, uniqueRoutes, type Link } from '../../incidents/keys.ts';
import { MINUTE, type Finding, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { crossingsSince, worstHops, type RouteWindow } from '../signals.repository.ts';
import { bottleneckLookbackMs, isBad, notable, openLinks } from './common.ts';
import { overloadedCarrier, overloadView, type Busy } from './node_overload.ts';

/** A bad window with its worst hop (null when no hop row was stored for it). */
export interface WorstHopWindow extends RouteWindow {
  from_node: string | null;
  to_node: string | null;
  etx: number | null;
}

/** A link with the bad windows that count for it. */
export interface CountedLink {
  link: Link;
  windows: WorstHopWindow[];
}

/**
 * Bad windows that count for a link: its worst hop is that link and no
 * overloaded node carries the route. Keyed by the link's text form.
 */
export function countedByLink(bad: WorstHopWindow[], busy: ReadonlyMap<string, Busy[]>): Map<string, CountedLink> {
  const out = new Map<string, CountedLink>();
  for (const w of bad) {
    if (!w.from_node || !w.to_node || w.from_node === w.to_node) continue;
    if (overloadedCarrier(w, busy)) continue;
    const l = link(w.from_node, w.to_node);
    const k = linkKey(l);
    let c = out.get(k);
    if (!c) out.set(k, (c = { link: l, windows: [] }));
    c.windows.push(w);
  }
  for (const c of out.values()) c.windows.sort((a, b) => a.time.getTime() - b.time.getTime());
  return out;
}

/**
 * The trigger holds at a counted window when the last window_min hold at
 * least `bad_windows` counted windows from `distinct_routes` routes. Trigger
 * windows form one run until a clear window (a window crossing the link that
 * was not bad: `clearTimes`) or a quiet stretch longer than `gapMs` comes
 * between them. A run's start is the first counted window of its span.
 */
export function bottleneckRuns(counted: WorstHopWindow[], clearTimes: number[], cfg: RulesConfig['bottleneck'], gapMs: number): Run[] {
  const spanMs = cfg.window_min * MINUTE;
  const triggers: Array<{ i: number; from: number }> = [];
  const perRoute = new Map<string, number>();
  let j = 0;
  for (let i = 0; i < counted.length; i++) {
    const t = counted[i]!.time.getTime();
    const k = routeKey(counted[i]!.src, counted[i]!.dst);
    perRoute.set(k, (perRoute.get(k) ?? 0) + 1);
    while (counted[j]!.time.getTime() <= t - spanMs) {
      const kj = routeKey(counted[j]!.src, counted[j]!.dst);
      const n = perRoute.get(kj)! - 1;
      if (n) perRoute.set(kj, n);
      else perRoute.delete(kj);
      j++;
    }
    if (i - j + 1 >= cfg.bad_windows && perRoute.size >= cfg.distinct_routes) triggers.push({ i, from: j });
  }

  const clears = [...clearTimes].sort((a, b) => a - b);
  const firstClearAfter = (t: number) => clears.find((c) => c > t) ?? null;
  const runs: Run[] = [];
  let prevEnd = -Infinity;
  let r = 0;
  while (r < triggers.length) {
    let k = r;
    while (k + 1 < triggers.length) {
      const a = counted[triggers[k]!.i]!.time.getTime();
      const b = counted[triggers[k + 1]!.i]!.time.getTime();
      const clear = firstClearAfter(a);
      if (b - a > gapMs || (clear !== null && clear < b)) break;
      k++;
    }
    const endIdx = triggers[k]!.i;
    const end = counted[endIdx]!.time.getTime();
    // The start: the first counted window of the cluster that triggered — not
    // a stray bad window that happened to fall in the same 30 minutes.
    let from = triggers[r]!.i;
    while (from > triggers[r]!.from && counted[from]!.time.getTime() - counted[from - 1]!.time.getTime() <= spanMs / 3) from--;
    while (counted[from]!.time.getTime() <= prevEnd) from++;
    const involved = counted.slice(from, endIdx + 1);
    const routes = new Set(involved.map((x) => routeKey(x.src, x.dst)));
    const clear = firstClearAfter(end);
    const next = k + 1 < triggers.length ? counted[triggers[k + 1]!.i]!.time.getTime() : null;
    runs.push({
      start: counted[from]!.time,
      end: new Date(end),
      // A run ended by a quiet stretch, with no clear window seen: just after its last trigger.
      clearAt: clear !== null && (next === null || clear < next) ? new Date(clear) : next !== null ? new Date(end + 1) : null,
      severity: routes.size >= cfg.critical_routes ? 'critical' : 'major',
      peaks: { bad_windows: involved.length, routes: routes.size, etx: Math.max(...involved.map((x) => x.etx ?? 0)) },
      windows: involved.slice(0, 10).map((x) => ({
        at: x.time.toISOString(), route: routeKey(x.src, x.dst), jitter_ms: x.jitter_ms, loss_pct: x.loss_pct, etx: x.etx,
      })),
    });
    prevEnd = end;
    r = k + 1;
  }
  return runs;
}

export const bottleneck: Rule = {
  kind: 'bottleneck',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.bottleneck;
    const view = await overloadView(db, ctx);
    // Bad windows younger than one probe interval wait: the CPU sample that
    // would pin them on an overloaded node may not have arrived yet.
    const to = new Date(ctx.now.getTime() - ctx.rules.node_overload.probe_interval_s * 1000);
    const from = new Date(ctx.now.getTime() - bottleneckLookbackMs(ctx.rules));
    const thresholds = { jitterMs: ctx.rules.jitter_burst.jitter_ms, lossPct: ctx.rules.loss_spike.loss_pct };
    const bad = (await notable(db, ctx)).filter((w) => w.time > from && w.time <= to && isBad(w, ctx.rules));
    // Windows an overloaded node explains need no hop lookup. Nor do windows
    // in which nothing came back: a congested link drops some packets, a dead
    // route (a node or a link down, the silence rules' business) drops all —
    // such a window is neither bad nor clear for a bottleneck.
    const free = bad.filter((w) => !overloadedCarrier(w, view.busy) && !unanswered(w));
    const worst = new Map((await worstHops(db, free)).map((h) => [`${h.src}>${h.dst}@${h.time.getTime()}`, h]));
    const withHops: WorstHopWindow[] = free.map((w) => {
      const h = worst.get(`${w.src}>${w.dst}@${w.time.getTime()}`);
      return { ...w, from_node: h?.from_node ?? null, to_node: h?.to_node ?? null, etx: h?.etx ?? null };
    });
    const counted = countedByLink(withHops, view.busy);

    const gapMs = ctx.rules.lifecycle.close_after_min * MINUTE;
    const runsByLink = new Map<string, Run[]>();
    for (const [k, c] of counted) {
      const runs = bottleneckRuns(c.windows, [], cfg, gapMs);
      if (runs.length) runsByLink.set(k, runs);
    }
    const links = new Map<string, Link>([...openLinks(ctx, 'bottleneck')]);
    for (const k of runsByLink.keys()) links.set(k, counted.get(k)!.link);
    const keys = [...links.keys()].sort();
    // Clear windows: windows crossing the link after its last trigger that were not bad.
    const badKeys = new Set(bad.map((w) => `${w.src}>${w.dst}@${w.time.getTime()}`));
    const crossings = await crossingsSince(db, {
      to,
      links: keys.map((k) => ({ link: links.get(k)!, since: runsByLink.get(k)?.at(-1)?.end ?? from })),
    });
    const clearsByLink = new Map<string, number[]>();
    const lastCrossing = new Map<string, Date>();
    for (const c of crossings) {
      const k = linkKey(c.a, c.b);
      lastCrossing.set(k, c.time);
      if (badKeys.has(`${c.src}>${c.dst}@${c.time.getTime()}`)) continue;
      let l = clearsByLink.get(k);
      if (!l) clearsByLink.set(k, (l = []));
      l.push(c.time.getTime());
    }

    const findings: Finding[] = [];
    for (const k of keys) {
      const l = links.get(k)!;
      const ws = counted.get(k)?.windows ?? [];
      const runs = bottleneckRuns(ws, clearsByLink.get(k) ?? [], cfg, gapMs);
      const involved = ws.filter((w) => runs.some((r) => w.time >= r.start && w.time <= r.end));
      const scope: LinkScope = { type: 'link', ...l };
      const lastData = maxDate(lastCrossing.get(k) ?? null, ws.at(-1)?.time ?? null);
      findings.push({
        kind: 'bottleneck',
        scope,
        runs,
        lastDataAt: lastData,
        routes: uniqueRoutes(involved),
        nodes: [l.a, l.b],
        links: [l],
        evidence: {
          thresholds: { bad_windows: cfg.bad_windows, distinct_routes: cfg.distinct_routes, window_min: cfg.window_min, critical_routes: cfg.critical_routes },
          bad_window_thresholds: { jitter_ms: thresholds.jitterMs, loss_pct: thresholds.lossPct },
        },
      });
    }
    return findings;
  },
};

/** A window in which no probe was answered. */
export const unanswered = (w: RouteWindow) => w.loss_pct !== null && w.loss_pct >= 100;

const maxDate = (a: Date | null, b: Date | null) => (!a ? b : !b ? a : a > b ? a : b);
