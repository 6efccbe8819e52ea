import { z } from 'zod';
import { Link, Route, link, linkKey, routeKey } from './keys.ts';

// The incident as the API returns it and `meshmon replay` prints it. The
// engine writes rows (incidents table); incident.mapper.ts turns rows into this.

export const IncidentKind = z.enum([
  'rf_drop', 'jitter_burst', 'loss_spike', 'route_flap', 'bottleneck', 'node_overload', 'agent_silent', 'partition', 'agent_misreport',
]);
export type IncidentKind = z.infer<typeof IncidentKind>;

export const Severity = z.enum(['minor', 'major', 'critical']);
export type Severity = z.infer<typeof Severity>;

/** open → (clearing: condition clear, waiting out close_after) → closed */
export const IncidentStatus = z.enum(['open', 'clearing', 'closed']);
export type IncidentStatus = z.infer<typeof IncidentStatus>;

export const RouteScope = z.object({ type: z.literal('route'), ...Route.shape });
/** An undirected link: a < b (sorted), so A→B and B→A are the same link. */
export const LinkScope = z.object({ type: z.literal('link'), ...Link.shape });
/** node "*" = every agent at once (the collector's own outage or uplink). */
export const NodeScope = z.object({ type: z.literal('node'), node: z.string() });
export const Scope = z.discriminatedUnion('type', [RouteScope, LinkScope, NodeScope]);
export type RouteScope = z.infer<typeof RouteScope>;
export type LinkScope = z.infer<typeof LinkScope>;
export type NodeScope = z.infer<typeof NodeScope>;
export type Scope = z.infer<typeof Scope>;

export function linkScope(x: string, y: string): LinkScope {
  return { type: 'link', ...link(x, y) };
}

/**
 * A scope's text form, "route:S>D", "link:A,B", "node:N" (incidents.scope_key,
 * which keeps one open incident per kind and scope): for equality and lookup,
 * never parsed back (keys.ts).
 */
export function scopeKey(s: Scope): string {
  switch (s.type) {
    case 'route': return `route:${routeKey(s)}`;
    case 'link': return `link:${linkKey(s)}`;
    case 'node': return `node:${s.node}`;
  }
}

export { Link, Route, link, linkKey, route, routeKey } from './keys.ts';

export const Impact = z
  .object({
    routes_affected: z.number().int().nonnegative(),
    /** affected routes as "SRC>DST", capped (see routes_truncated) */
    routes: z.array(z.string()),
    routes_truncated: z.boolean().optional(),
    nodes: z.array(z.string()),
  })
  .catchall(z.unknown());
export type Impact = z.infer<typeof Impact>;

export const Incident = z.object({
  id: z.string(),
  kind: IncidentKind,
  title: z.string().meta({ description: 'One short line for lists and notifications, e.g. "Jitter burst on A → B"' }),
  scope: Scope,
  status: IncidentStatus,
  severity: Severity,
  impact: Impact,
  cause: z.string(),
  next_steps: z.array(z.string()),
  evidence: z.record(z.string(), z.unknown()),
  started_at: z.iso.datetime(),
  ended_at: z.iso.datetime().nullable(),
  detected_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  parent_id: z.string().nullable(),
});
export type Incident = z.infer<typeof Incident>;

const KIND_TITLES: Record<IncidentKind, string> = {
  rf_drop: 'RF drop',
  jitter_burst: 'Jitter burst',
  loss_spike: 'Loss spike',
  route_flap: 'Route flapping',
  bottleneck: 'Bottleneck',
  node_overload: 'Node overloaded',
  agent_silent: 'Agent silent',
  partition: 'Partition',
  agent_misreport: 'Agent misreporting',
};

/** The short line lists and notifications show: derived from kind and scope, so it is never stored. */
export function incidentTitle(kind: IncidentKind, scope: Scope): string {
  const what = KIND_TITLES[kind] ?? kind;
  switch (scope.type) {
    case 'route': return `${what} on ${scope.src} → ${scope.dst}`;
    case 'link': return `${what} on link ${scope.a} ↔ ${scope.b}`;
    case 'node':
      if (scope.node === '*') return kind === 'agent_silent' ? 'Every agent silent' : `${what}: every node`;
      return `${what}: ${scope.node}`;
  }
}
