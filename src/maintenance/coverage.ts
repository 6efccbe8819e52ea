import type { Scope } from '../incidents/incident.schema.ts';
import { sameLink, type Link } from '../incidents/keys.ts';
import type { WindowScope } from './maintenance.schema.ts';

// Which incidents a maintenance window covers. A function of the window's
// scope and the incident's scope and touched nodes/links (what the engine
// records in incidents.nodes / .links), evaluated when incidents are read or
// notified — never stored, so a window that starts while an incident is open
// covers it from that instant, and the engine's writes stay untouched.
//
// - mesh: everything.
// - node N: incidents on N; links with N at either end; routes from, to or
//   through N (N among the route incident's nodes).
// - link A–B: incidents on that link; routes crossing it.
// - route S→D: incidents on that directed route.
// An incident whose parent is covered is covered too: the effects of planned
// work are planned (a partition's silent nodes behind a site under maintenance).
// The collector-wide silence (node "*") is covered by a mesh window only.

/** What coverage needs to know of an incident. */
export interface CoverTarget {
  scope: Scope;
  nodes: readonly string[];
  links: readonly Link[];
}

export function windowCovers(w: WindowScope, t: CoverTarget): boolean {
  const s = t.scope;
  switch (w.type) {
    case 'mesh':
      return true;
    case 'node':
      if (s.type === 'node') return s.node === w.node;
      if (s.type === 'link') return s.a === w.node || s.b === w.node;
      return s.src === w.node || s.dst === w.node || t.nodes.includes(w.node);
    case 'link':
      if (s.type === 'link') return s.a === w.a && s.b === w.b;
      if (s.type === 'route') return t.links.some((l) => sameLink(l, w));
      return false;
    case 'route':
      return s.type === 'route' && s.src === w.src && s.dst === w.dst;
  }
}

export interface ActiveWindow {
  id: string;
  scope: WindowScope;
  starts_at: Date;
  ends_at: Date;
  reason: string;
}

export const isActiveAt = (w: { starts_at: Date; ends_at: Date }, at: Date) => w.starts_at <= at && at < w.ends_at;

/**
 * The window covering the incident, among `windows` (already the active ones):
 * the one that ends last when several do, so "until" is the honest answer.
 */
export function coveringWindow<W extends ActiveWindow>(windows: readonly W[], target: CoverTarget, parent?: CoverTarget | null): W | null {
  let best: W | null = null;
  for (const w of windows) {
    if (!windowCovers(w.scope, target) && !(parent && windowCovers(w.scope, parent))) continue;
    if (!best || w.ends_at > best.ends_at || (w.ends_at.getTime() === best.ends_at.getTime() && w.id < best.id)) best = w;
  }
  return best;
}

/** The next instant at which some window starts or ends after `now`: coverage can only change then (or when data changes). */
export function nextBoundary(windows: readonly { starts_at: Date; ends_at: Date }[], now: Date): Date | null {
  let next: number | null = null;
  for (const w of windows) {
    for (const t of [w.starts_at.getTime(), w.ends_at.getTime()]) {
      if (t > now.getTime() && (next === null || t < next)) next = t;
    }
  }
  return next === null ? null : new Date(next);
}
