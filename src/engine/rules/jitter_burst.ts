import type { RouteScope } from '../../incidents/incident.schema.ts';
import type { Finding, Rule, Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import type { RouteWindow } from '../signals.repository.ts';
import { EVIDENCE_WINDOWS_PER_RUN, openRoutes, routeWindowsByRoute, topology, windowEvidence } from './common.ts';

/**
 * Streaks of windows over the jitter threshold; a streak of `consecutive` or
 * more is a run. A window without a jitter value neither extends nor breaks a
 * streak (missing data is not health).
 */
export function jitterRuns(windows: RouteWindow[], cfg: RulesConfig['jitter_burst']): Run[] {
  const runs: Run[] = [];
  let streak: RouteWindow[] = [];
  const flush = (clearAt: Date | null) => {
    if (streak.length >= cfg.consecutive) {
      const peak = Math.max(...streak.map((w) => w.jitter_ms!));
      runs.push({
        start: streak[0]!.time,
        end: streak.at(-1)!.time,
        clearAt,
        severity: peak > cfg.critical_factor * cfg.jitter_ms ? 'critical' : 'major',
        peaks: { jitter_ms: peak, consecutive_windows: streak.length },
        windows: streak.slice(0, EVIDENCE_WINDOWS_PER_RUN).map(windowEvidence),
      });
    }
    streak = [];
  };
  for (const w of windows) {
    if (w.jitter_ms === null) continue;
    if (w.jitter_ms > cfg.jitter_ms) streak.push(w);
    else flush(w.time);
  }
  flush(null);
  return runs;
}

export const jitter_burst: Rule = {
  kind: 'jitter_burst',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.jitter_burst;
    const byRoute = await routeWindowsByRoute(db, ctx);
    const open = openRoutes(ctx, 'jitter_burst');
    const findings: Finding[] = [];
    for (const [key, windows] of byRoute) {
      const runs = jitterRuns(windows, cfg);
      if (!runs.length && !open.has(key)) continue;
      const first = windows[0]!;
      const scope: RouteScope = { type: 'route', src: first.src, dst: first.dst };
      const involved = windows.filter((w) => w.jitter_ms !== null && w.jitter_ms > cfg.jitter_ms && runs.some((r) => w.time >= r.start && w.time <= r.end));
      const topo = topology(involved);
      findings.push({
        kind: 'jitter_burst',
        scope,
        runs,
        lastDataAt: windows.at(-1)!.time,
        routes: [{ src: scope.src, dst: scope.dst }],
        nodes: topo.nodes,
        links: topo.links,
        hopLists: topo.hopLists,
        evidence: {
          thresholds: { jitter_ms: cfg.jitter_ms, consecutive: cfg.consecutive, critical_above_ms: cfg.critical_factor * cfg.jitter_ms },
          hop_lists: topo.hopLists.slice(0, 10),
          pattern: 'burst',
        },
      });
    }
    return findings;
  },
};
