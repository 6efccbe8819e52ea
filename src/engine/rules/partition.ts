import { scopeKey, type LinkScope, type NodeScope } from '../../incidents/incident.schema.ts';
import { link, uniqueLinks, uniqueRoutes, type Link } from '../../incidents/keys.ts';
import { MINUTE, type Finding, type OpenIncident, type Rule, type Run } from '../rule.ts';
import type { RulesConfig } from '../rules.config.ts';
import { firstReportsAfter, lastAnsweredThrough, linksTouching, type RouteWindow } from '../signals.repository.ts';
import { silenceInput, silenceView, type NodeSilence, type SilenceView } from './agent_silent.ts';
import { isBad, notable } from './common.ts';

// Many nodes silent at once, behind one link (spec/rules.md, "Many nodes
// silent at once"). The decision is a pure function of the nodes' silence and
// the links seen over the last hour (graph in, verdict out); the rule around
// it only reads.

const byName = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** Nodes that fell silent within one silence threshold of each other (chained), latest report first to last. */
export function silentClusters(nodes: readonly NodeSilence[], exclude: ReadonlySet<string>): NodeSilence[][] {
  const silent = nodes
    .filter((n) => n.silent && n.retiredAt === null && !exclude.has(n.node))
    .sort((x, y) => x.last - y.last || byName(x.node, y.node));
  const out: NodeSilence[][] = [];
  let cur: NodeSilence[] = [];
  for (const n of silent) {
    const prev = cur.at(-1);
    if (prev && n.last - prev.last > Math.max(prev.thresholdMs, n.thresholdMs)) {
      out.push(cur);
      cur = [];
    }
    cur.push(n);
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Who kept reporting while `cluster` fell silent: nodes heard from well after
 * the cluster's last report — more than half its shortest silence threshold.
 * When the collector itself was cut off, every node's last report lies within
 * about one report interval of the others': then nobody counts as reporting,
 * which is what tells an outage from a partition before every node has
 * crossed its own threshold.
 */
export function reportingAfter(cluster: readonly NodeSilence[], nodes: readonly NodeSilence[]): Set<string> {
  const lastOfCluster = Math.max(...cluster.map((n) => n.last));
  const margin = Math.min(...cluster.map((n) => n.thresholdMs)) / 2;
  return new Set(nodes.filter((n) => n.retiredAt === null && !n.silent && n.last > lastOfCluster + margin).map((n) => n.node));
}

/**
 * Clusters big enough to be a partition while others report: the cheap test
 * before the topology is read. Only a cluster that fell silent after `since`
 * (the start of the topology's span) counts: a group is decided within
 * minutes of falling silent, and one silent for longer than the topology
 * remembers is left to its nodes' own incidents rather than re-examined every tick.
 */
export function partitionCandidates(nodes: readonly NodeSilence[], exclude: ReadonlySet<string>, minNodes: number, since = -Infinity): NodeSilence[][] {
  return silentClusters(nodes, exclude).filter(
    (c) => c.length >= minNodes && Math.max(...c.map((n) => n.last)) > since && reportingAfter(c, nodes).size > 0,
  );
}

/**
 * The nodes whose links the decision needs: every known node that is not
 * reporting for some candidate cluster (the cut-off parts are made of them;
 * links among reporting nodes never matter).
 */
export function nodesToMap(nodes: readonly NodeSilence[], candidates: readonly NodeSilence[][]): string[] {
  const reporting = candidates.map((c) => reportingAfter(c, nodes));
  return nodes.filter((n) => reporting.some((r) => !r.has(n.node))).map((n) => n.node);
}

/** Nodes of `links` that no agent reports for (routers without one) and whose own links were not read yet. */
export function unmappedRouters(links: readonly Link[], known: ReadonlySet<string>, mapped: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const l of links) for (const n of [l.a, l.b]) if (!known.has(n) && !mapped.has(n)) out.add(n);
  return [...out].sort(byName);
}

/** The earliest instant after which a router's answered probe shows it up for some candidate cluster. */
export function routersUpAfter(candidates: readonly NodeSilence[][]): number {
  return Math.min(...candidates.map((c) => Math.max(...c.map((n) => n.last)) + Math.min(...c.map((n) => n.thresholdMs)) / 2));
}

/** Rounds of reading links beyond the silent nodes, through routers without an agent. */
const MAX_MAP_ROUNDS = 4;

export interface PartitionInput {
  /** Every node that has reported (retired ones included). */
  nodes: readonly NodeSilence[];
  /** Silent nodes that cannot form a new group: already behind an open partition, or standing in an outage. */
  exclude: ReadonlySet<string>;
  /** The topology: links seen over the last hour (any order, duplicates allowed). */
  links: readonly Link[];
  minNodes: number;
  /** Only groups whose last report came after this (ms): see partitionCandidates. */
  since?: number;
  /**
   * Routers without an agent (nodes of `links` that never reported): when a
   * probe through each last came back (ms). One still answering after the
   * group fell silent is up — on the reporting side; one that did not is part
   * of the way into the cut-off part. Absent: not up.
   */
  routersAnswered?: ReadonlyMap<string, number>;
}

export interface PartitionVerdict {
  scope: LinkScope | NodeScope;
  /** The nodes that fell silent together behind it, by name. */
  group: string[];
  /** The cut-off part: the group and the non-reporting nodes it reaches without crossing a reporting one. */
  cutOff: string[];
  /** Links between the cut-off part and reporting nodes, sorted. */
  boundary: Link[];
  /** For a link scope: its reporting end and its silent end. */
  reportingEnd: string | null;
  silentEnd: string | null;
  /** When the group's silence began: its earliest member's. */
  start: number;
}

/**
 * Groups of ≥ minNodes nodes that fell silent within one silence threshold of
 * each other while others kept reporting, and what they hang on. The cut-off
 * part of a group is what it reaches in the graph without stepping on a
 * reporting node (silent nodes of other times and nodes without an agent are
 * part of it); its boundary is every link from it to a reporting node. One
 * boundary link A–B: every path from the group to the reporting nodes crosses
 * it, a partition on that link. Several: a partition on the cut-off node with
 * the most boundary links (ties by name). A cut-off part still holding a node
 * that is neither silent nor reporting yet (it may be about to fall silent
 * with the rest) is decided at a later tick, once it is one or the other.
 */
export function findPartitions({ nodes, exclude, links, minNodes, since, routersAnswered }: PartitionInput): PartitionVerdict[] {
  const info = new Map(nodes.map((n) => [n.node, n]));
  const adj = new Map<string, Set<string>>();
  for (const l of links) {
    if (l.a === l.b) continue;
    if (!adj.has(l.a)) adj.set(l.a, new Set());
    if (!adj.has(l.b)) adj.set(l.b, new Set());
    adj.get(l.a)!.add(l.b);
    adj.get(l.b)!.add(l.a);
  }
  const out: PartitionVerdict[] = [];
  for (const cluster of partitionCandidates(nodes, exclude, minNodes, since)) {
    const reporting = reportingAfter(cluster, nodes);
    const after = Math.max(...cluster.map((n) => n.last)) + Math.min(...cluster.map((n) => n.thresholdMs)) / 2;
    for (const [router, at] of routersAnswered ?? []) if (!info.has(router) && at > after) reporting.add(router);
    const members = new Set(cluster.map((n) => n.node));
    const seen = new Set<string>();
    for (const m of cluster) {
      if (seen.has(m.node)) continue;
      seen.add(m.node);
      const part: string[] = [];
      const boundary: Link[] = [];
      const queue = [m.node];
      let undecided = false;
      while (queue.length) {
        const x = queue.pop()!;
        part.push(x);
        const n = info.get(x);
        if (n && n.retiredAt === null && !n.silent) undecided = true;
        for (const y of [...(adj.get(x) ?? [])].sort(byName)) {
          if (reporting.has(y)) boundary.push(link(x, y));
          else if (!seen.has(y)) {
            seen.add(y);
            queue.push(y);
          }
        }
      }
      const group = part.filter((x) => members.has(x)).sort(byName);
      if (group.length < minNodes || undecided || !boundary.length) continue;
      const cut = uniqueLinks(boundary);
      const start = Math.min(...group.map((x) => info.get(x)!.silentFrom));
      let scope: LinkScope | NodeScope;
      let reportingEnd: string | null = null;
      let silentEnd: string | null = null;
      if (cut.length === 1) {
        const only = cut[0]!;
        scope = { type: 'link', ...only };
        reportingEnd = reporting.has(only.a) ? only.a : only.b;
        silentEnd = reportingEnd === only.a ? only.b : only.a;
      } else {
        const inPart = new Set(part);
        const count = new Map<string, number>();
        for (const l of cut) {
          const x = inPart.has(l.a) ? l.a : l.b;
          count.set(x, (count.get(x) ?? 0) + 1);
        }
        // The silent node nearest the reporting part: an agent that fell
        // silent before a node without one, then most links, then by name.
        const rank = [...count].sort(([x, cx], [y, cy]) => Number(!info.has(x)) - Number(!info.has(y)) || cy - cx || byName(x, y));
        scope = { type: 'node', node: rank[0]![0] };
      }
      out.push({ scope, group, cutOff: part.sort(byName), boundary: cut, reportingEnd, silentEnd, start });
    }
  }
  return out.sort((x, y) => byName(scopeKey(x.scope), scopeKey(y.scope)));
}

/** The operator's one line: what is down, and how many sites it cut off. */
export function partitionCause(scope: LinkScope | NodeScope, group: readonly string[], silentEnd: string | null): string {
  const n = group.length;
  const sites = `${n} site${n === 1 ? '' : 's'} behind it ${n === 1 ? 'is' : 'are'} cut off`;
  if (scope.type === 'link') {
    const far = silentEnd ?? scope.b;
    return `The link ${scope.a} ↔ ${scope.b} (or the site ${far}) is down: ${sites}`;
  }
  return `The site ${scope.node} (or every link into it) is down: ${sites}`;
}

/** The start of the topology's span: links seen since then; groups silent since then. */
export const topologySince = (now: Date, rules: RulesConfig) => now.getTime() - rules.partition.topology_min * MINUTE;

/** Silent nodes that cannot start a new group: behind an open partition already, or standing in an outage ("*"). */
export function partitionExclusions(view: SilenceView, open: readonly OpenIncident[]): Set<string> {
  return new Set([...open.flatMap((o) => o.nodes), ...view.withOutage]);
}

export interface PartitionStepInput {
  now: Date;
  view: SilenceView;
  /** Open partition incidents. */
  open: readonly OpenIncident[];
  /** The links seen over the last topology_min; null when not read (no group could be cut off). */
  links: readonly Link[] | null;
  /** Routers without an agent: when a probe through each last came back (findPartitions). */
  routersAnswered?: ReadonlyMap<string, number>;
  /** Per node behind an open partition: its first report after it fell silent (null: none yet). */
  resumed: ReadonlyMap<string, Date | null>;
  /** Bad windows of the routes' lookback: the routes into a group are listed in its impact. */
  bad: readonly RouteWindow[];
  rules: RulesConfig;
}

/**
 * The partition rule at `now`, pure: new partitions from findPartitions (a
 * group already behind an open one is not decided again, so the scope found
 * first stays), and the open ones, which hold while their whole group is
 * silent and clear from the first report of any of it (the link is back).
 * Like agent_silent, a partition whose nodes are all retired closes "retired".
 */
export function partitionFindings({ now, view, open, links, routersAnswered, resumed, bad, rules }: PartitionStepInput): Finding[] {
  const cfg = rules.partition;
  const info = new Map(view.nodes.map((n) => [n.node, n]));
  const exclude = partitionExclusions(view, open);
  const openKeys = new Set(open.map((o) => scopeKey(o.scope)));
  const fresh = links
    ? findPartitions({ nodes: view.nodes, exclude, links, minNodes: cfg.min_nodes, since: topologySince(now, rules), ...(routersAnswered ? { routersAnswered } : {}) })
        .filter((v) => !openKeys.has(scopeKey(v.scope)))
    : [];
  const silenceMs = rules.agent_silent.min_silence_min * MINUTE;
  const known = view.known.length;
  const severity = (n: number) => (known > 0 && n / known >= cfg.critical_share ? 'critical' : 'major') as 'major' | 'critical';
  // Probes from the reporting side into the group, or through it.
  const routesInto = (group: readonly string[], since: number) => {
    const g = new Set(group);
    return uniqueRoutes(bad.filter((w) => !g.has(w.src) && w.time.getTime() >= since && (g.has(w.dst) || w.route.some((n) => g.has(n)))));
  };
  const lastOf = (group: readonly string[]) => Math.max(...group.map((x) => info.get(x)?.last ?? 0));

  const findings: Finding[] = [];
  for (const o of open) {
    if (o.scope.type === 'route') continue;
    const group = [...o.nodes];
    const backs = group.map((x) => resumed.get(x)).filter((d): d is Date => !!d).map((d) => d.getTime());
    const retired = group.length > 0 && group.every((x) => info.get(x)?.retiredAt != null);
    const runs: Run[] = !backs.length && !retired
      ? [{ start: o.startedAt, end: now, clearAt: null, severity: severity(group.length), peaks: { nodes_cut_off: group.length }, windows: [] }]
      : [];
    const last = lastOf(group);
    findings.push({
      kind: 'partition',
      scope: o.scope,
      runs,
      lastDataAt: last > 0 ? new Date(last) : null,
      ...(backs.length ? { clearSince: new Date(Math.min(...backs)) } : {}),
      ...(retired ? { retiredAt: new Date(Math.max(...group.map((x) => info.get(x)!.retiredAt!))) } : {}),
      routes: routesInto(group, o.startedAt.getTime() - silenceMs),
      nodes: group,
      links: o.scope.type === 'link' ? [link(o.scope.a, o.scope.b)] : [],
      evidence: {},
    });
  }
  for (const v of fresh) {
    const share = known ? Math.round((v.group.length / known) * 1000) / 1000 : null;
    findings.push({
      kind: 'partition',
      scope: v.scope,
      runs: [{ start: new Date(v.start), end: now, clearAt: null, severity: severity(v.group.length), peaks: { nodes_cut_off: v.group.length }, windows: [] }],
      lastDataAt: new Date(lastOf(v.group)),
      routes: routesInto(v.group, v.start - silenceMs),
      nodes: v.group,
      links: v.scope.type === 'link' ? [link(v.scope.a, v.scope.b)] : v.boundary,
      cause: partitionCause(v.scope, v.group, v.silentEnd),
      evidence: {
        group: v.group,
        boundary: v.boundary,
        ...(v.reportingEnd ? { reporting_end: v.reportingEnd, silent_end: v.silentEnd } : {}),
        cut_off: v.cutOff,
        nodes_known: known,
        share_cut_off: share,
        last_report_at: Object.fromEntries(v.group.map((x) => [x, new Date(info.get(x)!.last).toISOString()])),
        thresholds: { topology_min: cfg.topology_min, min_nodes: cfg.min_nodes, critical_share: cfg.critical_share },
      },
    });
  }
  return findings;
}

export const partition: Rule = {
  kind: 'partition',
  async evaluate(db, ctx) {
    const { now, rules } = ctx;
    const view = silenceView(await silenceInput(db, ctx));
    const open = ctx.open('partition');
    const since = topologySince(now, rules);
    const candidates = partitionCandidates(view.nodes, partitionExclusions(view, open), rules.partition.min_nodes, since);
    // The topology is read only when a group could be cut off (most ticks it
    // is not), and only around the nodes that are not reporting: the links
    // that touch them, then those of any router without an agent they lead to.
    let links: Link[] | null = null;
    let routersAnswered: Map<string, number> | undefined;
    if (candidates.length) {
      const known = new Set(view.nodes.map((n) => n.node));
      let toRead = nodesToMap(view.nodes, candidates);
      const mapped = new Set<string>();
      links = [];
      for (let round = 0; toRead.length && round < MAX_MAP_ROUNDS; round++) {
        for (const n of toRead) mapped.add(n);
        links.push(...(await linksTouching(db, { from: new Date(since), now, nodes: toRead })));
        toRead = unmappedRouters(links, known, mapped);
      }
      const routers = unmappedRouters(links, known, new Set());
      if (routers.length) routersAnswered = await lastAnsweredThrough(db, { nodes: routers, since: new Date(routersUpAfter(candidates)), now });
    }
    // Members of an open partition were all silent when it opened: nothing
    // arrived from them in the min_silence before, so a report after that is a return.
    const silenceMs = rules.agent_silent.min_silence_min * MINUTE;
    const resumed = await firstReportsAfter(db, {
      now,
      nodes: open.flatMap((o) => o.nodes.map((node) => ({ node, since: new Date(o.detectedAt.getTime() - silenceMs) }))),
    });
    const bad = (await notable(db, ctx)).filter((w) => isBad(w, rules));
    return partitionFindings({ now, view, open, links, ...(routersAnswered ? { routersAnswered } : {}), resumed, bad, rules });
  },
};
