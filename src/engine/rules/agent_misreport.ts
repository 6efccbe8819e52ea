import type { NodeScope } from '../../incidents/incident.schema.ts';
import { dropReasons, routingDaemons, volumeOfTroubledNodes } from '../misreport.repository.ts';
import { MINUTE, type EvidenceWindow, type Finding, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';

// agent_misreport: a node most of whose measurements of one kind (path
// results, hops, health reports, crash reports) were dropped, or stored
// without a part, over the last window_min minutes. The upstream agent never
// reads the collector's answer, so this incident is where its defect shows.
// Judged on ingest's drop statistics: per node and 5-minute bucket of receive
// time, the new measurements and how many of them lost something.

/** Ingest's statistics bucket (src/ingest/ingest.repository.ts DROP_BUCKET_MS). */
export const BUCKET_MS = 5 * MINUTE;

export interface VolumeBucket {
  /** Bucket start (receive time). */
  at: Date;
  /** The latest receipt counted in it. */
  lastAt: Date;
  kind: string;
  measurements: number;
  affected: number;
}

export interface NodeVolume {
  node: string;
  buckets: VolumeBucket[];
  /** Drops by reason over the lookback. */
  reasons: Array<{ reason: string; drops: number }>;
  routingDaemon: string | null;
}

export interface MisreportInput {
  now: Date;
  nodes: NodeVolume[];
  /** Nodes with an open agent_misreport incident: a finding even when quiet. */
  open: ReadonlySet<string>;
  cfg: RulesConfig['agent_misreport'];
}

/** How far back the rule reads: a window, the clear stretch before a close, a margin. */
export function misreportLookbackMs(rules: RulesConfig): number {
  return (rules.agent_misreport.window_min + rules.lifecycle.close_after_min + 10) * MINUTE;
}

/**
 * Pure: at each bucket, the trailing window of window_min holds when some
 * kind has at least min_measurements new measurements and more than
 * dropped_fraction of them were affected. Runs of holding buckets are the
 * incident's triggers; the first bucket after a run that does not hold is its
 * clear point.
 */
export function misreportFindings({ now, nodes, open, cfg }: MisreportInput): Finding[] {
  const windowMs = cfg.window_min * MINUTE;
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const n of nodes) {
    seen.add(n.node);
    const times = [...new Set(n.buckets.map((b) => b.at.getTime()))].sort((a, b) => a - b);
    const runs: Run[] = [];
    let run: Run | null = null;
    let worst = { ratio: 0, kind: '', measurements: 0, affected: 0 };
    for (const t of times) {
      const sums = new Map<string, { m: number; a: number }>();
      for (const b of n.buckets) {
        const at = b.at.getTime();
        if (at > t || at <= t - windowMs) continue;
        const s = sums.get(b.kind) ?? { m: 0, a: 0 };
        s.m += b.measurements;
        s.a += b.affected;
        sums.set(b.kind, s);
      }
      let hit: { kind: string; m: number; a: number } | null = null;
      for (const [kind, s] of sums) {
        if (s.m >= cfg.min_measurements && s.a / s.m > cfg.dropped_fraction && (!hit || s.a / s.m > hit.a / hit.m)) hit = { kind, ...s };
      }
      const at = new Date(t);
      if (hit) {
        const ratio = hit.a / hit.m;
        if (ratio >= worst.ratio) worst = { ratio, kind: hit.kind, measurements: hit.m, affected: hit.a };
        const w: EvidenceWindow = { at: at.toISOString(), kind: hit.kind, measurements: hit.m, affected: hit.a };
        if (!run) {
          run = { start: at, end: at, clearAt: null, severity: 'minor', peaks: { dropped_pct: round(ratio * 100) }, windows: [w], pattern: 'steady' };
          runs.push(run);
        } else {
          run.end = at;
          run.peaks.dropped_pct = Math.max(run.peaks.dropped_pct!, round(ratio * 100));
          if (run.windows.length < 5) run.windows.push(w);
        }
      } else if (run) {
        run.clearAt = at;
        run = null;
      }
    }
    if (!runs.length && !open.has(n.node)) continue;
    const lastDataAt = n.buckets.length ? new Date(Math.max(...n.buckets.map((b) => b.lastAt.getTime()))) : null;
    const top = [...n.reasons].sort((a, b) => b.drops - a.drops || a.reason.localeCompare(b.reason));
    const scope: NodeScope = { type: 'node', node: n.node };
    findings.push({
      kind: 'agent_misreport',
      scope,
      runs,
      lastDataAt,
      routes: [],
      nodes: [n.node],
      links: [],
      evidence: {
        window_min: cfg.window_min,
        dropped_fraction: cfg.dropped_fraction,
        ...(worst.kind ? { kind: worst.kind, measurements: worst.measurements, affected: worst.affected } : {}),
        reasons: top.slice(0, 5),
        routing_daemon: n.routingDaemon,
      },
      ...(runs.length ? { cause: misreportCause(n.node, top[0]?.reason ?? null, n.routingDaemon, worst) } : {}),
    });
  }
  for (const node of open) {
    if (seen.has(node)) continue;
    findings.push({ kind: 'agent_misreport', scope: { type: 'node', node }, runs: [], lastDataAt: null, routes: [], nodes: [node], links: [], evidence: {} });
  }
  return findings;
}

const round = (x: number) => Math.round(x * 10) / 10;

const KIND_WORDS: Record<string, string> = { path: 'path results', hop: 'hop samples', health: 'health reports', crash: 'crash reports' };

/** One line naming the reason and what to do about it. */
export function misreportCause(node: string, reason: string | null, daemon: string | null, worst: { ratio: number; kind: string }): string {
  const share = `${Math.round(worst.ratio * 100)} % of its ${KIND_WORDS[worst.kind] ?? 'measurements'}`;
  const parser = daemon === 'babel' ? 'babeld’s route dump' : daemon === 'olsr' ? 'olsrd’s jsoninfo' : 'its routing daemon’s output';
  const why: Record<string, string> = {
    dst_node_empty: `this agent version cannot parse ${parser}: every probe lacks its destination (stored by address, without hops); upgrade the agent`,
    no_destination: `this agent version cannot parse ${parser}: its probes name no destination at all and are dropped; upgrade the agent`,
    bad_sent_at: 'its messages carry no readable sent_at (ISO-8601 with a zone) and are dropped; fix the agent’s time format or upgrade it',
    bad_timestamp: 'its probes carry no readable timestamp (ISO-8601 with a zone) and are dropped; fix the agent’s time format or upgrade it',
    out_of_range: 'it sends values outside their physical range (loss over 100 %, a negative RTT, LQ over 1, an ETX under 1 …), which are dropped; upgrade the agent',
    not_a_number: 'it sends values that are not numbers (NaN, text), which are dropped; upgrade the agent',
    wrong_type: 'it sends fields of the wrong JSON type, which are dropped; upgrade the agent',
    bad_node_name: 'it names nodes with strings that are not hostnames, which are dropped; check its node names or upgrade it',
    bad_sender: 'its own node name is not a usable hostname: its messages are dropped; fix the node name in its configuration',
    bad_hop: 'its hop lists hold unusable entries, which are dropped; upgrade the agent',
    bad_route: 'its hop lists do not lead from the node to the destination and are stored without them; upgrade the agent',
    unknown_schema: 'it speaks another contract than meshmon.v1: its messages are dropped; upgrade the agent or the collector',
    unknown_type: 'it sends message types the collector does not know: they are dropped; upgrade the collector or the agent',
    too_long: 'it sends texts longer than the contract allows, which are dropped; upgrade the agent',
  };
  const what = (reason && why[reason]) ?? `most of it is dropped${reason ? ` (${reason})` : ''}; see the node’s drops in /registry and the collector log`;
  return `The agent on ${node} sends measurements the collector cannot use (${share}${reason ? `, mostly ${reason}` : ''}): ${what}`;
}

export const agent_misreport: Rule = {
  kind: 'agent_misreport',
  async evaluate(db, ctx) {
    const now = ctx.now;
    const from = new Date(now.getTime() - misreportLookbackMs(ctx.rules));
    const open = new Set(ctx.open('agent_misreport').flatMap((o) => (o.scope.type === 'node' ? [o.scope.node] : [])));
    const rows = await volumeOfTroubledNodes(db, { from, now, nodes: [...open] });
    const byNode = new Map<string, VolumeBucket[]>();
    for (const r of rows) {
      let list = byNode.get(r.node);
      if (!list) byNode.set(r.node, (list = []));
      list.push({ at: new Date(r.bucket), lastAt: new Date(r.last_at), kind: r.kind, measurements: r.measurements, affected: r.affected });
    }
    const names = [...byNode.keys()];
    const reasons = await dropReasons(db, { from, now, nodes: names });
    const daemons = await routingDaemons(db, names);
    return misreportFindings({
      now,
      nodes: names.map((node) => ({
        node,
        buckets: byNode.get(node)!,
        reasons: reasons.filter((r) => r.node === node).map((r) => ({ reason: r.reason, drops: r.drops })),
        routingDaemon: daemons.get(node) ?? null,
      })),
      open,
      cfg: ctx.rules.agent_misreport,
    });
  },
};
