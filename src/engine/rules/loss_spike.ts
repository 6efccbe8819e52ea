import type { RouteScope } from '../../incidents/incident.schema.ts';
import { MINUTE, type Finding, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import type { RouteWindow } from '../signals.repository.ts';
import { EVIDENCE_WINDOWS_PER_RUN, openRoutes, routeWindowsByRoute, topology, windowEvidence } from './common.ts';

const QUIET_WINDOWS = 3;

interface Mark {
  w: RouteWindow;
  /** `burst`: consecutive windows over loss_pct; `steady`: the mean over mean_window_min. */
  via: 'burst' | 'steady' | null;
  /** The first window that made the trigger true at this window. */
  from: number;
}

/**
 * The trigger at each window with a loss value: the last `consecutive`
 * windows all over loss_pct, or the mean over the last mean_window_min above
 * mean_loss_pct (with enough windows, and more than one of them lossy, so a
 * single lossy window never makes a mean). Consecutive trigger windows form a run.
 */
export function lossRuns(all: RouteWindow[], cfg: RulesConfig['loss_spike']): Run[] {
  const ws = all.filter((w) => w.loss_pct !== null);
  const spanMs = cfg.mean_window_min * MINUTE;
  const marks: Mark[] = ws.map((w, i) => {
    if (i + 1 >= cfg.consecutive && ws.slice(i + 1 - cfg.consecutive, i + 1).every((x) => x.loss_pct! > cfg.loss_pct)) {
      return { w, via: 'burst', from: i + 1 - cfg.consecutive };
    }
    let j = i;
    while (j > 0 && ws[j - 1]!.time.getTime() > w.time.getTime() - spanMs) j--;
    const span = ws.slice(j, i + 1);
    const lossy = span.filter((x) => x.loss_pct! > cfg.mean_loss_pct);
    const mean = span.reduce((s, x) => s + x.loss_pct!, 0) / span.length;
    if (span.length >= cfg.mean_min_windows && lossy.length >= cfg.mean_min_lossy_windows && mean > cfg.mean_loss_pct) {
      // Its start: the first lossy window of the stretch that ends here — an
      // older lossy window cut off by QUIET_WINDOWS clean ones is noise.
      let from = i;
      let quiet = 0;
      for (let x = i; x >= j; x--) {
        if (ws[x]!.loss_pct! > cfg.mean_loss_pct) { from = x; quiet = 0; } else if (++quiet >= QUIET_WINDOWS) break;
      }
      return { w, via: 'steady', from };
    }
    return { w, via: null, from: i };
  });

  const runs: Run[] = [];
  let i = 0;
  while (i < marks.length) {
    if (!marks[i]!.via) { i++; continue; }
    let k = i;
    while (k + 1 < marks.length && marks[k + 1]!.via) k++;
    const from = marks[i]!.from;
    const involved = ws.slice(from, k + 1);
    const peak = Math.max(...involved.map((w) => w.loss_pct!));
    const burst = marks.slice(i, k + 1).some((m) => m.via === 'burst');
    runs.push({
      start: ws[from]!.time,
      end: ws[k]!.time,
      clearAt: k + 1 < marks.length ? marks[k + 1]!.w.time : null,
      severity: peak >= cfg.critical_loss_pct ? 'critical' : 'major',
      peaks: { loss_pct: peak, ...(burst ? {} : { mean_loss_pct: meanAt(ws, k, spanMs) }) },
      windows: involved.filter((w) => w.loss_pct! > cfg.mean_loss_pct).slice(0, EVIDENCE_WINDOWS_PER_RUN).map(windowEvidence),
      pattern: burst ? 'burst' : 'steady',
    });
    i = k + 1;
  }
  return runs;
}

function meanAt(ws: RouteWindow[], i: number, spanMs: number): number {
  const t = ws[i]!.time.getTime();
  const span = ws.filter((w, j) => j <= i && w.time.getTime() > t - spanMs);
  return Math.round((span.reduce((s, w) => s + w.loss_pct!, 0) / span.length) * 100) / 100;
}

export const loss_spike: Rule = {
  kind: 'loss_spike',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.loss_spike;
    const byRoute = await routeWindowsByRoute(db, ctx);
    const open = openRoutes(ctx, 'loss_spike');
    const findings: Finding[] = [];
    for (const [key, windows] of byRoute) {
      const runs = lossRuns(windows, cfg);
      if (!runs.length && !open.has(key)) continue;
      const first = windows[0]!;
      const scope: RouteScope = { type: 'route', src: first.src, dst: first.dst };
      const involved = windows.filter((w) => w.loss_pct !== null && w.loss_pct > cfg.mean_loss_pct && runs.some((r) => w.time >= r.start && w.time <= r.end));
      const topo = topology(involved);
      const patterns = new Set(runs.map((r) => r.pattern));
      findings.push({
        kind: 'loss_spike',
        scope,
        runs,
        lastDataAt: windows.at(-1)!.time,
        routes: [{ src: scope.src, dst: scope.dst }],
        nodes: topo.nodes,
        links: topo.links,
        hopLists: topo.hopLists,
        evidence: {
          thresholds: {
            loss_pct: cfg.loss_pct,
            consecutive: cfg.consecutive,
            mean_loss_pct: cfg.mean_loss_pct,
            mean_window_min: cfg.mean_window_min,
            critical_loss_pct: cfg.critical_loss_pct,
          },
          ...(topo.hopLists.length ? { hop_lists: topo.hopLists.slice(0, 10) } : {}),
          ...(patterns.size ? { pattern: patterns.has('burst') ? 'burst' : 'steady' } : {}),
        },
      });
    }
    return findings;
  },
};
