import type { IncidentKind } from '../incidents/incident.schema.ts';
import { link, sameLink } from '../incidents/keys.ts';
import type { Tracked } from './lifecycle.ts';
import { MINUTE } from './rule.ts';
import { EVERY_NODE } from './rules/agent_silent.ts';

// One root, not a storm: incidents explained by a node, link or mesh-wide
// problem become children of it. A cause explains its effects, never the
// reverse:
// - route incidents: node_overload, bottleneck, rf_drop, partition, a node's
//   agent_silent (in that order of preference when several match) — a node
//   whose router is down as well loses the probes into it, like a partition
//   of one;
// - a node's agent_silent: the partition it is cut off behind, else the
//   outage ("*") it went silent with.

const ROUTE_ROOTS: IncidentKind[] = ['node_overload', 'bottleneck', 'rf_drop', 'partition', 'agent_silent'];
const ROUTE_CHILDREN = new Set<IncidentKind>(['jitter_burst', 'loss_spike', 'route_flap']);

/** Roots may start a little after their children (they need more evidence) or before. */
const PERIOD_SLACK_MS = 5 * MINUTE;

export interface CorrelateOptions {
  now: Date;
}

const isStar = (t: Tracked) => t.kind === 'agent_silent' && t.scope.type === 'node' && t.scope.node === EVERY_NODE;
const endOf = (t: Tracked, now: Date) => (t.state.status === 'closed' ? t.state.endedAt : now);
const order = (kinds: IncidentKind[]) => (a: Tracked, b: Tracked) =>
  kinds.indexOf(a.kind) - kinds.indexOf(b.kind) || a.startedAt.getTime() - b.startedAt.getTime() || a.id.localeCompare(b.id);

/**
 * Sets parent_id and cause on the incidents a root explains. A child that
 * already has a parent keeps it; one that gains a parent after it opened
 * (the root needed more evidence, or was recognised a few ticks later)
 * records a `reparented` event on its timeline.
 */
export function correlate(all: Tracked[], { now }: CorrelateOptions): void {
  const routeRoots = all.filter((t) => ROUTE_ROOTS.includes(t.kind) && !isStar(t)).sort(order(ROUTE_ROOTS));
  const partitions = all.filter((t) => t.kind === 'partition').sort(order(['partition']));
  const outages = all.filter(isStar).sort(order(['agent_silent']));

  const byId = new Map(all.map((t) => [t.id, t]));
  for (const c of all) {
    let root: Tracked | undefined;
    if (c.parentId) {
      // A child keeps its parent — unless that is a node's agent_silent and
      // the partition that node turned out to be cut off behind explains the
      // child too: the route incidents into a group belong to the group's root.
      const parent = byId.get(c.parentId);
      if (!parent || parent.kind !== 'agent_silent' || !ROUTE_CHILDREN.has(c.kind)) continue;
      root = partitions.find((p) => explains(p, c, now));
    } else if (ROUTE_CHILDREN.has(c.kind)) root = routeRoots.find((r) => explains(r, c, now));
    else if (c.kind === 'agent_silent' && !isStar(c)) root = partitions.find((p) => cutOffBehind(p, c, now)) ?? outages.find((s) => silentWith(s, c, now));
    if (!root) continue;
    c.parentId = root.id;
    c.cause = causeFrom(root, c);
    c.evidence = { ...c.evidence, parent: { id: root.id, kind: root.kind, scope: root.scope } };
    if (!c.isNew) {
      c.events.push({ incident_id: c.id, at: now, event: 'reparented', detail: { parent_id: root.id, parent_kind: root.kind } });
    }
  }
}

function overlaps(root: Tracked, child: Tracked, now: Date): boolean {
  return (
    child.startedAt.getTime() <= endOf(root, now).getTime() + PERIOD_SLACK_MS &&
    endOf(child, now).getTime() >= root.startedAt.getTime() - PERIOD_SLACK_MS
  );
}

function explains(root: Tracked, child: Tracked, now: Date): boolean {
  if (!overlaps(root, child, now) || child.scope.type !== 'route') return false;
  const { src, dst } = child.scope;
  const s = root.scope;
  if (root.kind === 'partition') {
    // Probes from the reporting side into the cut-off group lose their echoes
    // (and the paths to it change), and so do those whose hop list passed through it.
    if (root.nodes.includes(src)) return false;
    return root.nodes.includes(dst) || child.nodes.some((n) => n !== src && root.nodes.includes(n));
  }
  if (root.kind === 'agent_silent') {
    // The silent node's probes into it (or through it) lost: its router is down too.
    if (s.type !== 'node' || src === s.node) return false;
    return dst === s.node || child.nodes.includes(s.node);
  }
  if (s.type === 'node') {
    if (root.kind !== 'node_overload') return false;
    // through or from the node: any hop list node but the destination
    return src === s.node || (child.nodes.includes(s.node) && s.node !== dst);
  }
  if (s.type === 'link') {
    const root = link(s.a, s.b);
    return child.links.some((l) => sameLink(l, root));
  }
  return false;
}

/** A node's silence during a partition whose group holds it. */
function cutOffBehind(p: Tracked, child: Tracked, now: Date): boolean {
  return child.scope.type === 'node' && p.nodes.includes(child.scope.node) && overlaps(p, child, now);
}

/**
 * A node's silence that began within one silence threshold of the outage
 * ("*"), and was noticed before the mesh reported again — whichever tick
 * noticed it first. A node that does not come back with the rest gets its
 * own incident later, after the outage cleared: that one stays a root.
 */
function silentWith(star: Tracked, child: Tracked, now: Date): boolean {
  const thr = child.evidence.silence_threshold_s;
  const slack = typeof thr === 'number' && thr > 0 ? thr * 1000 : PERIOD_SLACK_MS;
  const back = star.state.status === 'clearing' ? star.state.clearSince : endOf(star, now);
  return Math.abs(child.startedAt.getTime() - star.startedAt.getTime()) <= slack && child.detectedAt.getTime() <= back.getTime();
}

function causeFrom(root: Tracked, child: Tracked): string {
  const s = root.scope;
  if (child.kind === 'agent_silent') {
    if (root.kind === 'partition') {
      const where = s.type === 'link' ? `the link ${s.a} ↔ ${s.b}` : s.type === 'node' ? `the site ${s.node}` : root.id;
      return `Cut off behind ${where} with ${root.nodes.length - 1} other site${root.nodes.length === 2 ? '' : 's'}: the agent may be fine`;
    }
    return 'Silent together with every other agent: the collector or its uplink, not this node';
  }
  const what = child.kind === 'jitter_burst' ? 'Jitter' : child.kind === 'loss_spike' ? 'Loss' : 'Route changes';
  if (root.kind === 'partition') {
    const where = s.type === 'link' ? `the link ${s.a} ↔ ${s.b}` : s.type === 'node' ? `the site ${s.node}` : root.id;
    return `${what} because the destination is cut off behind ${where}`;
  }
  if (root.kind === 'agent_silent' && s.type === 'node') return `${what} because ${s.node} is silent: down, or cut off`;
  if (s.type === 'node') return `${what} caused by overloaded node ${s.node} on this route`;
  if (s.type === 'link') {
    const why = root.kind === 'bottleneck' ? 'congested (bottleneck) link' : 'degraded RF link';
    return `${what} caused by ${why} ${s.a} ↔ ${s.b} on this route`;
  }
  return `${what} caused by ${root.kind} ${root.id}`;
}
