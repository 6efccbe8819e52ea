import { linkKey, type IncidentKind } from '../incidents/incident.schema.ts';
import type { Tracked } from './lifecycle.ts';
import { MINUTE } from './rule.ts';

// One root, not a storm: route incidents explained by a node or link problem
// become children of it. A cause explains its effects, never the reverse, so
// roots are only ever node_overload, bottleneck and rf_drop, in that order of
// preference when several match.

const ROOT_ORDER: IncidentKind[] = ['node_overload', 'bottleneck', 'rf_drop'];
const CHILD_KINDS = new Set<IncidentKind>(['jitter_burst', 'loss_spike', 'route_flap']);

/** Roots may start a little after their children (they need more evidence) or before. */
const PERIOD_SLACK_MS = 5 * MINUTE;

export interface CorrelateOptions {
  now: Date;
}

/**
 * Sets parent_id and cause on route incidents crossing a root's link or node
 * in the same period. A child that already has a parent keeps it; one that
 * gains a parent after it opened (the root needed more evidence) records a
 * `reparented` event on its timeline.
 */
export function correlate(all: Tracked[], { now }: CorrelateOptions): void {
  const byId = new Map(all.map((t) => [t.id, t]));
  const roots = all
    .filter((t) => ROOT_ORDER.includes(t.kind))
    .sort((a, b) => ROOT_ORDER.indexOf(a.kind) - ROOT_ORDER.indexOf(b.kind) || a.startedAt.getTime() - b.startedAt.getTime() || a.id.localeCompare(b.id));

  for (const c of all) {
    if (!CHILD_KINDS.has(c.kind)) continue;
    if (c.parentId && byId.has(c.parentId)) continue;
    if (c.parentId) continue; // parent outside the live set: it was assigned earlier, keep it
    const root = roots.find((r) => explains(r, c, now));
    if (!root) continue;
    c.parentId = root.id;
    c.cause = causeFrom(root, c);
    c.evidence = { ...c.evidence, parent: { id: root.id, kind: root.kind, scope: root.scope } };
    if (!c.isNew) {
      c.events.push({ incident_id: c.id, at: now, event: 'reparented', detail: { parent_id: root.id, parent_kind: root.kind } });
    }
  }
}

function explains(root: Tracked, child: Tracked, now: Date): boolean {
  const rEnd = root.state.status === 'closed' ? root.state.endedAt : now;
  const cEnd = child.state.status === 'closed' ? child.state.endedAt : now;
  const overlaps =
    child.startedAt.getTime() <= rEnd.getTime() + PERIOD_SLACK_MS &&
    cEnd.getTime() >= root.startedAt.getTime() - PERIOD_SLACK_MS;
  if (!overlaps) return false;
  const s = root.scope;
  if (s.type === 'node') {
    if (root.kind !== 'node_overload') return false;
    const src = child.scope.type === 'route' ? child.scope.src : null;
    // through or from the node: any hop list node but the destination
    const dst = child.scope.type === 'route' ? child.scope.dst : null;
    return src === s.node || (child.nodes.includes(s.node) && s.node !== dst);
  }
  if (s.type === 'link') return child.links.includes(linkKey(s.a, s.b));
  return false;
}

function causeFrom(root: Tracked, child: Tracked): string {
  const what = child.kind === 'jitter_burst' ? 'Jitter' : child.kind === 'loss_spike' ? 'Loss' : 'Route changes';
  const s = root.scope;
  if (s.type === 'node') return `${what} caused by overloaded node ${s.node} on this route`;
  if (s.type === 'link') {
    const why = root.kind === 'bottleneck' ? 'congested (bottleneck) link' : 'degraded RF link';
    return `${what} caused by ${why} ${s.a} ↔ ${s.b} on this route`;
  }
  return `${what} caused by ${root.kind} ${root.id}`;
}
