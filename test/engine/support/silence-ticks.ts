// The silence rules' pure cores (agent_silent's silenceFindings, partition's
// partitionFindings), the lifecycle's step and correlate, stepped through
// fixed timestamps the way runTick strings them together — with the
// database's part (arrivals, first reports after a silence) computed here
// from a list of arrival times per node.
import { correlate } from '../../../src/engine/correlate.ts';
import { step, type Tracked } from '../../../src/engine/lifecycle.ts';
import { MINUTE, type OpenIncident } from '../../../src/engine/rule.ts';
import { DEFAULT_RULES, type RulesConfig } from '../../../src/engine/rules.config.ts';
import { EVERY_NODE, silenceFindings, silenceView, type SilenceInput } from '../../../src/engine/rules/agent_silent.ts';
import { partitionCandidates, partitionExclusions, partitionFindings, topologySince } from '../../../src/engine/rules/partition.ts';
import type { Link } from '../../../src/incidents/keys.ts';

export const T0 = Date.parse('2026-03-02T06:00:00Z');
export const at = (min: number) => T0 + Math.round(min * MINUTE);

/** Arrivals every `everyS` seconds over [fromMin, toMin), shifted by `phaseS`. */
export function arrivals(fromMin: number, toMin: number, everyS = 40, phaseS = 0): number[] {
  const out: number[] = [];
  for (let t = at(fromMin) + phaseS * 1000; t < at(toMin); t += everyS * 1000) out.push(t);
  return out;
}

export interface SilenceTicks {
  /** Every incident as the last tick left it, by start then id. */
  incidents: Tracked[];
  /** Per tick: the ids it opened. */
  opened: Array<{ at: number; ids: string[] }>;
  /** Ticks at which the topology would have been read. */
  topologyReads: number;
}

/**
 * Runs the silence rules at each tick of [fromMin, toMin] every `tickS`
 * seconds. `reports`: node → arrival times (ms); `links`: the topology seen.
 */
export function runSilenceTicks(o: { reports: Record<string, number[]>; links: Link[]; fromMin: number; toMin: number; tickS?: number; rules?: RulesConfig }): SilenceTicks {
  const rules = o.rules ?? DEFAULT_RULES;
  const cfg = rules.agent_silent;
  const sorted = Object.fromEntries(Object.entries(o.reports).map(([n, ts]) => [n, [...ts].sort((a, b) => a - b)]));
  let live: Tracked[] = [];
  const lastClosed = new Map<string, Date>();
  const opened: SilenceTicks['opened'] = [];
  let topologyReads = 0;
  const firstAfter = (node: string, since: number, now: number) => {
    const t = sorted[node]?.find((x) => x > since && x <= now);
    return t === undefined ? null : new Date(t);
  };

  for (let now = at(o.fromMin); now <= at(o.toMin); now += (o.tickS ?? 10) * 1000) {
    const openOf = (kind: Tracked['kind']): OpenIncident[] =>
      live.filter((t) => t.kind === kind && t.state.status !== 'closed').map((t) => ({ scope: t.scope, startedAt: t.startedAt, detectedAt: t.detectedAt, nodes: t.nodes }));
    const openSilent = new Map(openOf('agent_silent').flatMap((x) => (x.scope.type === 'node' ? [[x.scope.node, x.startedAt] as const] : [])));
    const nodes = Object.keys(sorted).sort().map((node) => {
      const seen = sorted[node]!.filter((t) => t <= now);
      const last = seen.at(-1);
      if (last === undefined) return { node, last_at: null, usual_s: null };
      const learnt = seen.filter((t) => t > last - cfg.learn_min * MINUTE);
      const gaps = learnt.slice(1).map((t, i) => (t - learnt[i]!) / 1000).sort((a, b) => a - b);
      const usual = gaps.length ? (gaps.length % 2 ? gaps[gaps.length >> 1]! : (gaps[gaps.length / 2 - 1]! + gaps[gaps.length / 2]!) / 2) : null;
      return { node, last_at: new Date(last), usual_s: usual };
    });
    const resumed = new Map<string, Date | null>();
    for (const [node, since] of openSilent) {
      if (node === EVERY_NODE) {
        const firsts = Object.keys(sorted).map((n) => firstAfter(n, since.getTime(), now)).filter((d): d is Date => !!d);
        resumed.set(node, firsts.length ? new Date(Math.min(...firsts.map((d) => d.getTime()))) : null);
      } else resumed.set(node, firstAfter(node, since.getTime(), now));
    }
    const input: SilenceInput = { now: new Date(now), nodes, open: openSilent, resumed, cfg };
    const view = silenceView(input);
    const openPartitions = openOf('partition');
    const candidates = partitionCandidates(view.nodes, partitionExclusions(view, openPartitions), rules.partition.min_nodes, topologySince(new Date(now), rules));
    if (candidates.length) topologyReads++;
    const back = new Map<string, Date | null>();
    for (const p of openPartitions) for (const n of p.nodes) back.set(n, firstAfter(n, p.detectedAt.getTime() - cfg.min_silence_min * MINUTE, now));

    const all = new Map(live.map((t) => [t.id, t]));
    const stepKind = (kind: Tracked['kind'], findings: ReturnType<typeof silenceFindings>) => {
      const open = [...all.values()].filter((t) => t.kind === kind && t.state.status !== 'closed');
      for (const t of step({ kind, now: new Date(now), rules, findings, open, lastClosed, exemptFromStale: true })) all.set(t.id, t);
    };
    stepKind('agent_silent', silenceFindings(input));
    stepKind('partition', partitionFindings({ now: new Date(now), view, open: openPartitions, links: candidates.length ? o.links : null, resumed: back, bad: [], rules }));
    const tracked = [...all.values()];
    correlate(tracked, { now: new Date(now) });
    opened.push({ at: now, ids: tracked.filter((t) => t.isNew).map((t) => t.id) });
    for (const t of tracked) {
      if (t.state.status === 'closed') {
        const k = `${t.kind}|${t.scopeKey}`;
        const cur = lastClosed.get(k);
        if (!cur || cur < t.state.endedAt) lastClosed.set(k, t.state.endedAt);
      }
    }
    live = tracked.map((t) => ({ ...t, isNew: false, events: [...t.events] }));
  }
  return {
    incidents: live.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.id.localeCompare(b.id)),
    opened: opened.filter((x) => x.ids.length),
    topologyReads,
  };
}
