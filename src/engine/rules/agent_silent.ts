import type { Executor } from '../../db/database.ts';
import type { NodeScope } from '../../incidents/incident.schema.ts';
import { MINUTE, type Finding, type Rule, type RuleContext, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { firstMeshReportAfter, firstReportsAfter, lastReports, usualIntervals } from '../signals.repository.ts';

/** Scope of the one incident for "every agent at once": the collector's own outage or uplink. */
export const EVERY_NODE = '*';
export const DAY = 24 * 60 * MINUTE;

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

/** What one node's reports say at `now` (times in ms). */
export interface NodeSilence {
  node: string;
  /** Its latest report. */
  last: number;
  usualMs: number | null;
  /** Silent once nothing arrived for longer than this: max(interval_factor × usual, min_silence). */
  thresholdMs: number;
  /** When its silence began: the report that did not come, one usual interval after the last. */
  silentFrom: number;
  silent: boolean;
  /** Gone for good since this instant (last + retire_after), or null. */
  retiredAt: number | null;
}

export function nodeSilence(a: { node: string; last_at: Date; usual_s: number | null }, now: number, cfg: RulesConfig['agent_silent']): NodeSilence {
  const last = a.last_at.getTime();
  const usualMs = a.usual_s !== null ? a.usual_s * 1000 : null;
  const thresholdMs = Math.max(cfg.interval_factor * (usualMs ?? 0), cfg.min_silence_min * MINUTE);
  const retireAt = last + cfg.retire_after_days * DAY;
  return {
    node: a.node,
    last,
    usualMs,
    thresholdMs,
    silentFrom: last + Math.min(usualMs ?? thresholdMs, thresholdMs),
    silent: now - last > thresholdMs,
    retiredAt: now >= retireAt ? retireAt : null,
  };
}

/** The whole mesh's silence at `now`: one pure view that agent_silent and partition share. */
export interface SilenceView {
  now: number;
  /** Every node that has reported, retired ones included, by name. */
  nodes: NodeSilence[];
  /** Nodes not retired: the known agents. */
  known: NodeSilence[];
  /** Latest report from any known node. */
  lastAny: number | null;
  /** Every known agent silent at once (the collector's outage or uplink). */
  allSilent: boolean;
  /** Start of the "*" incident (now or still open), null when there is none. */
  starStart: number | null;
  /** The first report after an open "*" incident's start, once every agent is no longer silent. */
  starBack: number | null;
  /** Silent nodes the "*" incident stands for: silent with everyone, and not yet given their usual time to come back. */
  withOutage: ReadonlySet<string>;
}

export function silenceView({ now, nodes, open, resumed, cfg }: SilenceInput): SilenceView {
  const t = now.getTime();
  const all = nodes
    .filter((a): a is NodeReport & { last_at: Date } => a.last_at !== null)
    .map((a) => nodeSilence(a, t, cfg))
    .sort((x, y) => (x.node < y.node ? -1 : x.node > y.node ? 1 : 0));
  const known = all.filter((n) => n.retiredAt === null);
  const lastAny = known.length ? Math.max(...known.map((n) => n.last)) : null;
  const allSilent = lastAny !== null && known.length >= 2 && t - lastAny > cfg.min_silence_min * MINUTE;
  const starOpen = open.get(EVERY_NODE);
  const starStart = allSilent ? lastAny : (starOpen?.getTime() ?? null);
  const starBack = !allSilent && starOpen ? (resumed.get(EVERY_NODE)?.getTime() ?? null) : null;
  const withOutage = new Set(
    known
      .filter((n) => n.silent && starStart !== null && n.last >= starStart - n.thresholdMs)
      .filter((n) => allSilent || starBack === null || t - starBack <= n.thresholdMs)
      .map((n) => n.node),
  );
  return { now: t, nodes: all, known, lastAny, allSilent, starStart, starBack, withOutage };
}

/**
 * A node is silent once nothing arrived from it for longer than
 * max(interval_factor × its usual report interval, min_silence). When every
 * node is silent at once, one incident for "*" stands for all of them; nodes
 * that went quiet well before the rest keep their own, and a node that does
 * not come back with the rest gets its own once it has had its usual time.
 * A node silent for retire_after is gone for good: its incident closes
 * (closed_by "retired") and nothing opens for it until it reports again.
 */
export function silenceFindings(input: SilenceInput): Finding[] {
  const { now, open, resumed, cfg } = input;
  const view = silenceView(input);
  const majorMs = cfg.major_after_min * MINUTE;
  const t = view.now;
  const sev = (ms: number) => (ms >= majorMs ? 'major' : 'minor') as 'major' | 'minor';
  const findings: Finding[] = [];

  if (view.allSilent || open.has(EVERY_NODE)) {
    const lastAny = view.lastAny;
    const runs: Run[] = view.allSilent
      ? [{ start: new Date(lastAny!), end: now, clearAt: null, severity: sev(t - lastAny!), peaks: { silent_s: (t - lastAny!) / 1000 }, windows: [] }]
      : [];
    // Every node retired while the whole mesh stayed silent: the "*" incident goes with them.
    const retiredAt = !view.known.length && view.nodes.length ? Math.max(...view.nodes.map((n) => n.retiredAt!)) : null;
    findings.push({
      kind: 'agent_silent',
      scope: { type: 'node', node: EVERY_NODE },
      runs,
      lastDataAt: lastAny !== null ? new Date(lastAny) : null,
      ...(view.starBack !== null ? { clearSince: new Date(view.starBack) } : {}),
      ...(retiredAt !== null ? { retiredAt: new Date(retiredAt) } : {}),
      routes: [],
      nodes: [],
      links: [],
      evidence: {
        nodes_known: view.known.length,
        last_report_at: lastAny !== null ? new Date(lastAny).toISOString() : null,
        min_silence_min: cfg.min_silence_min,
      },
    });
  }

  for (const n of view.nodes) {
    if (n.retiredAt !== null) {
      if (open.has(n.node)) {
        findings.push({
          kind: 'agent_silent',
          scope: { type: 'node', node: n.node },
          runs: [],
          lastDataAt: new Date(n.last),
          retiredAt: new Date(n.retiredAt),
          routes: [],
          nodes: [n.node],
          links: [],
          evidence: { retire_after_days: cfg.retire_after_days, last_report_at: new Date(n.last).toISOString() },
        });
      }
      continue;
    }
    const runs: Run[] = [];
    if (n.silent && !view.withOutage.has(n.node)) {
      runs.push({ start: new Date(n.silentFrom), end: now, clearAt: null, severity: sev(t - n.last), peaks: { silent_s: (t - n.last) / 1000 }, windows: [] });
    }
    if (!runs.length && !open.has(n.node)) continue;
    const back = resumed.get(n.node);
    const scope: NodeScope = { type: 'node', node: n.node };
    findings.push({
      kind: 'agent_silent',
      scope,
      runs,
      lastDataAt: new Date(n.last),
      ...(!n.silent && back ? { clearSince: back } : {}),
      routes: [],
      nodes: [n.node],
      links: [],
      evidence: {
        ...(n.usualMs !== null ? { usual_interval_s: Math.round(n.usualMs / 100) / 10 } : {}),
        silence_threshold_s: n.thresholdMs / 1000,
        major_after_min: cfg.major_after_min,
        last_report_at: new Date(n.last).toISOString(),
      },
    });
  }
  return findings;
}

/**
 * The reads behind the silence view, once per tick (agent_silent and
 * partition share them): every node's latest arrival, the usual interval of
 * the nodes quiet long enough to matter, and when the open agent_silent
 * incidents' nodes (or anyone, for "*") reported again.
 */
export function silenceInput(db: Executor, ctx: RuleContext): Promise<SilenceInput> {
  return ctx.memo('silence-input', async () => {
    const cfg = ctx.rules.agent_silent;
    const now = ctx.now;
    const t = now.getTime();
    const open = new Map(ctx.open('agent_silent').flatMap((o) => (o.scope.type === 'node' ? [[o.scope.node, o.startedAt] as const] : [])));
    const reports = await lastReports(db, { now });
    // Only a node quiet for min_silence can be silent: only those need their
    // usual interval; a retired one needs none.
    const quiet = reports.filter((r): r is { node: string; last_at: Date } =>
      r.last_at !== null &&
      t - r.last_at.getTime() < cfg.retire_after_days * DAY &&
      (t - r.last_at.getTime() > cfg.min_silence_min * MINUTE || open.has(r.node)));
    const usual = await usualIntervals(db, { nodes: quiet, learnMin: cfg.learn_min });
    const resumed = new Map(await firstReportsAfter(db, {
      now,
      nodes: [...open].filter(([n]) => n !== EVERY_NODE).map(([node, since]) => ({ node, since })),
    }));
    const star = open.get(EVERY_NODE);
    if (star) resumed.set(EVERY_NODE, await firstMeshReportAfter(db, { now, since: star }));
    return {
      now,
      nodes: reports.map((r) => ({ node: r.node, last_at: r.last_at, usual_s: usual.get(r.node) ?? null })),
      open,
      resumed,
      cfg,
    };
  });
}

export const agent_silent: Rule = {
  kind: 'agent_silent',
  async evaluate(db, ctx) {
    return silenceFindings(await silenceInput(db, ctx));
  },
};
