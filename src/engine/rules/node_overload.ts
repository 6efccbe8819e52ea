import type { Executor } from '../../db/database.ts';
import type { NodeScope } from '../../incidents/incident.schema.ts';
import { routeKey, uniqueRoutes } from '../../incidents/keys.ts';
import type { Finding, Rule, RuleContext, Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { cpuSamplesOfBusyNodes, type CpuSample, type RouteWindow } from '../signals.repository.ts';
import { isBad, notable, openNodes, overloadLookbackMs } from './common.ts';

/** A time span during which a node's CPU was over the threshold. */
export interface Busy {
  from: number;
  to: number;
}

export interface OverloadView {
  samples: Map<string, CpuSample[]>;
  /** Per node: when it counts as overloaded ("at that time", ± one probe interval). */
  busy: Map<string, Busy[]>;
}

/**
 * Overloaded spans from CPU samples: each sample over the threshold covers
 * ± probe_interval_s, and two such samples with no lower one between them
 * bridge the gap (agent_health may come only every few minutes).
 */
export function busySpans(samples: CpuSample[], cfg: RulesConfig['node_overload']): Busy[] {
  const pad = cfg.probe_interval_s * 1000;
  const spans: Busy[] = [];
  let cur: Busy | null = null;
  for (const s of samples) {
    const t = s.time.getTime();
    if (s.cpu_pct > cfg.cpu_pct) {
      if (cur) cur.to = t + pad;
      else cur = { from: t - pad, to: t + pad };
    } else if (cur) {
      spans.push(cur);
      cur = null;
    }
  }
  if (cur) spans.push(cur);
  return spans;
}

/** "Through or from": every node of the hop list but the destination. */
export function routeCarriers(w: RouteWindow): string[] {
  return w.route.length > 1 ? w.route.slice(0, -1) : [w.src];
}

export function overloadedCarrier(w: RouteWindow, busy: ReadonlyMap<string, Busy[]>): string | null {
  const t = w.time.getTime();
  for (const n of routeCarriers(w)) if (busy.get(n)?.some((b) => t >= b.from && t <= b.to)) return n;
  return null;
}

/** The CPU picture of the tick, shared by node_overload and bottleneck. */
export function overloadView(db: Executor, ctx: RuleContext): Promise<OverloadView> {
  return ctx.memo('overload', async () => {
    const cfg = ctx.rules.node_overload;
    const rows = await cpuSamplesOfBusyNodes(db, {
      from: new Date(ctx.now.getTime() - overloadLookbackMs(ctx.rules)),
      now: ctx.now,
      cpuPct: cfg.cpu_pct,
      nodes: [...openNodes(ctx, 'node_overload')],
    });
    const samples = new Map<string, CpuSample[]>();
    for (const r of rows) {
      let l = samples.get(r.node);
      if (!l) samples.set(r.node, (l = []));
      l.push(r);
    }
    const busy = new Map([...samples].map(([n, s]) => [n, busySpans(s, cfg)] as const));
    return { samples, busy };
  });
}

/**
 * Per CPU sample of one node: the trigger holds when the CPU is over the
 * threshold and at least `bad_windows` bad windows on routes through or from
 * the node fall within ± one probe interval; a sample at or under the
 * threshold is clear; a busy sample with no bad traffic around it is neither.
 */
export function overloadRuns(samples: CpuSample[], bad: RouteWindow[], node: string, cfg: RulesConfig['node_overload']): Run[] {
  const pad = cfg.probe_interval_s * 1000;
  const mine = bad.filter((w) => routeCarriers(w).includes(node));
  const marks = samples.map((s) => {
    const t = s.time.getTime();
    if (s.cpu_pct <= cfg.cpu_pct) return { s, state: 'clear' as const, near: [] as RouteWindow[] };
    const near = mine.filter((w) => Math.abs(w.time.getTime() - t) <= pad);
    return { s, state: near.length >= cfg.bad_windows ? ('trigger' as const) : ('busy' as const), near };
  });
  const runs: Run[] = [];
  let i = 0;
  while (i < marks.length) {
    if (marks[i]!.state !== 'trigger') { i++; continue; }
    let k = i;
    let last = i;
    while (k + 1 < marks.length && marks[k + 1]!.state !== 'clear') {
      k++;
      if (marks[k]!.state === 'trigger') last = k;
    }
    const group = marks.slice(i, last + 1);
    const near = [...new Map(group.flatMap((m) => m.near).map((w) => [`${w.src}>${w.dst}@${w.time.getTime()}`, w])).values()]
      .sort((a, b) => a.time.getTime() - b.time.getTime());
    const first = Math.min(marks[i]!.s.time.getTime(), near[0]?.time.getTime() ?? Infinity);
    runs.push({
      start: new Date(first),
      end: marks[last]!.s.time,
      clearAt: k + 1 < marks.length ? marks[k + 1]!.s.time : null,
      severity: 'major',
      peaks: { cpu_pct: Math.max(...group.map((m) => m.s.cpu_pct)), bad_windows: near.length },
      // The triggering samples, each with the bad windows around it.
      windows: group.filter((m) => m.state === 'trigger').slice(0, 10).map((m) => ({
        at: m.s.time.toISOString(),
        cpu_pct: m.s.cpu_pct,
        bad_windows: m.near.map((w) => ({ at: w.time.toISOString(), route: routeKey(w.src, w.dst), jitter_ms: w.jitter_ms, loss_pct: w.loss_pct })),
      })),
    });
    i = k + 1;
  }
  return runs;
}

export const node_overload: Rule = {
  kind: 'node_overload',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.node_overload;
    const view = await overloadView(db, ctx);
    const nodes = [...view.samples.keys()];
    if (!nodes.length) return [];
    const pad = cfg.probe_interval_s * 1000;
    const busy = new Set(nodes);
    const bad = (await notable(db, ctx)).filter((w) => isBad(w, ctx.rules) && routeCarriers(w).some((n) => busy.has(n)));
    const open = openNodes(ctx, 'node_overload');
    const findings: Finding[] = [];
    for (const node of nodes) {
      const samples = view.samples.get(node)!;
      const runs = overloadRuns(samples, bad, node, cfg);
      if (!runs.length && !open.has(node)) continue;
      const scope: NodeScope = { type: 'node', node };
      const affected = bad.filter((w) => routeCarriers(w).includes(node) && runs.some((r) => w.time.getTime() >= r.start.getTime() && w.time.getTime() <= r.end.getTime() + pad));
      findings.push({
        kind: 'node_overload',
        scope,
        runs,
        lastDataAt: samples.at(-1)!.time,
        routes: uniqueRoutes(affected),
        nodes: [node],
        links: [],
        evidence: {
          thresholds: { cpu_pct: cfg.cpu_pct, within_s: cfg.probe_interval_s, bad_windows: cfg.bad_windows },
        },
      });
    }
    return findings;
  },
};
