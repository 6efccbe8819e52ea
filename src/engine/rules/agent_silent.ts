import type { NodeScope } from '../../incidents/incident.schema.ts';
import { MINUTE, type Finding, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { firstMeshReportAfter, firstReportsAfter, lastReports, usualIntervals } from '../signals.repository.ts';

/** Scope of the one incident for "every agent at once": the collector's own outage or uplink. */
export const EVERY_NODE = '*';

export interface NodeReport {
  node: string;
  /** Latest report received at or before now. */
  last_at: Date | null;
  /** Median gap between its reports, seconds (known for nodes quiet long enough to matter). */
  usual_s: number | null;
}

export interface SilenceInput {
  now: Date;
  nodes: NodeReport[];
  /** Open agent_silent incidents: node (or "*") → started_at. */
  open: ReadonlyMap<string, Date>;
  /** For open incidents: the first report received after their start (null: none yet). */
  resumed: ReadonlyMap<string, Date | null>;
  cfg: RulesConfig['agent_silent'];
}

/**
 * A node is silent once nothing arrived from it for longer than
 * max(interval_factor × its usual report interval, min_silence). When every
 * node is silent at once, one incident for "*" stands for all of them; nodes
 * that went quiet well before the rest keep their own, and a node that does
 * not come back with the rest gets its own once it has had its usual time.
 */
export function silenceFindings({ now, nodes, open, resumed, cfg }: SilenceInput): Finding[] {
  const minMs = cfg.min_silence_min * MINUTE;
  const majorMs = cfg.major_after_min * MINUTE;
  const t = now.getTime();
  const known = nodes.filter((a) => a.last_at !== null);
  const lastAny = known.length ? Math.max(...known.map((a) => a.last_at!.getTime())) : null;
  const allSilent = lastAny !== null && known.length >= 2 && t - lastAny > minMs;
  const sev = (ms: number) => (ms >= majorMs ? 'major' : 'minor') as 'major' | 'minor';
  const findings: Finding[] = [];

  const starStart = allSilent ? lastAny : (open.get(EVERY_NODE)?.getTime() ?? null);
  const starBack = !allSilent && open.has(EVERY_NODE) ? (resumed.get(EVERY_NODE)?.getTime() ?? null) : null;
  if (allSilent || open.has(EVERY_NODE)) {
    const runs: Run[] = allSilent
      ? [{ start: new Date(lastAny!), end: now, clearAt: null, severity: sev(t - lastAny!), peaks: { silent_s: (t - lastAny!) / 1000 }, windows: [] }]
      : [];
    findings.push({
      kind: 'agent_silent',
      scope: { type: 'node', node: EVERY_NODE },
      runs,
      lastDataAt: lastAny !== null ? new Date(lastAny) : null,
      ...(starBack !== null ? { clearSince: new Date(starBack) } : {}),
      routes: [],
      nodes: [],
      links: [],
      evidence: {
        nodes_known: known.length,
        last_report_at: lastAny !== null ? new Date(lastAny).toISOString() : null,
        min_silence_min: cfg.min_silence_min,
      },
    });
  }

  for (const a of known) {
    const last = a.last_at!.getTime();
    const usualMs = a.usual_s !== null ? a.usual_s * 1000 : null;
    const thr = Math.max(cfg.interval_factor * (usualMs ?? 0), minMs);
    // The report that did not come: one usual interval after the last one.
    const expected = Math.min(usualMs ?? thr, thr);
    const silent = t - last > thr;
    const runs: Run[] = [];
    if (silent) {
      const withEveryone = starStart !== null && last >= starStart - thr;
      const waiting = allSilent || starBack === null || t - starBack <= thr;
      if (!(withEveryone && waiting)) {
        runs.push({ start: new Date(last + expected), end: now, clearAt: null, severity: sev(t - last), peaks: { silent_s: (t - last) / 1000 }, windows: [] });
      }
    }
    if (!runs.length && !open.has(a.node)) continue;
    const back = resumed.get(a.node);
    const scope: NodeScope = { type: 'node', node: a.node };
    findings.push({
      kind: 'agent_silent',
      scope,
      runs,
      lastDataAt: a.last_at,
      ...(!silent && back ? { clearSince: back } : {}),
      routes: [],
      nodes: [a.node],
      links: [],
      evidence: {
        ...(usualMs !== null ? { usual_interval_s: Math.round(usualMs / 100) / 10 } : {}),
        silence_threshold_s: thr / 1000,
        major_after_min: cfg.major_after_min,
        last_report_at: a.last_at!.toISOString(),
      },
    });
  }
  return findings;
}

export const agent_silent: Rule = {
  kind: 'agent_silent',
  async evaluate(db, ctx) {
    const cfg = ctx.rules.agent_silent;
    const now = ctx.now;
    const open = new Map(ctx.open('agent_silent').flatMap((o) => (o.scope.type === 'node' ? [[o.scope.node, o.startedAt] as const] : [])));
    const reports = await lastReports(db, { now });
    // Only a node quiet for min_silence can be silent: only those need their usual interval.
    const quiet = reports.filter((r): r is { node: string; last_at: Date } =>
      r.last_at !== null && (now.getTime() - r.last_at.getTime() > cfg.min_silence_min * MINUTE || open.has(r.node)));
    const usual = await usualIntervals(db, { nodes: quiet, learnMin: cfg.learn_min });
    const resumed = new Map(await firstReportsAfter(db, {
      now,
      nodes: [...open].filter(([n]) => n !== EVERY_NODE).map(([node, since]) => ({ node, since })),
    }));
    const star = open.get(EVERY_NODE);
    if (star) resumed.set(EVERY_NODE, await firstMeshReportAfter(db, { now, since: star }));
    return silenceFindings({
      now,
      nodes: reports.map((r) => ({ node: r.node, last_at: r.last_at, usual_s: usual.get(r.node) ?? null })),
      open,
      resumed,
      cfg,
    });
  },
};
