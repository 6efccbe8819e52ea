import { z } from 'zod';
import { Incident, IncidentKind, Severity } from '../incidents/incident.schema.ts';
import { Link, LINK_SEPARATOR, link, linkKey, route, type Route } from '../incidents/keys.ts';
import { NodeName } from '../ingest/ingest.schema.ts';
import { CursorParam } from './cursor.ts';
import { IncidentId } from './ids.ts';
import { BooleanParam, IsoTime, Limit, csvEnum, paramIssue, queryObject } from './query.ts';

// Requests and responses of /issues, /issues/{id} and /issues/by-object.
// The same schemas validate the query, type the handlers and make /openapi.json.

const Time = z.iso.datetime();

export const StatusFilter = z
  .enum(['open', 'closed', 'all'])
  .meta({ description: '`open`: not ended yet (status open or clearing); `closed`: ended; `all`: both' });

function sinceBeforeUntil(q: { since?: Date | undefined; until?: Date | undefined }, ctx: z.RefinementCtx) {
  if (q.since && q.until && q.since > q.until) paramIssue(ctx, 'until', 'must not be before since');
}

const filterShape = {
  since: IsoTime.optional().meta({ description: 'Only incidents still active at or after this time (ended_at ≥ since, or not ended)' }),
  until: IsoTime.optional().meta({ description: 'Only incidents that started at or before this time' }),
  kind: csvEnum(IncidentKind.options).optional(),
  severity: csvEnum(Severity.options).optional(),
  limit: Limit(50, 500),
  cursor: CursorParam.optional(),
};

export const IssuesQuery = queryObject({
  status: StatusFilter.default('open'),
  ...filterShape,
  node: NodeName.optional().meta({ description: 'Only incidents touching this node (it is in the incident’s nodes)' }),
  roots: BooleanParam(true).meta({ description: '`true`: root incidents only (no parent), each with its children count; `false`: every incident' }),
}).superRefine(sinceBeforeUntil);
export type IssuesQuery = z.infer<typeof IssuesQuery>;

const isName = (s: string) => NodeName.safeParse(s).success;

/**
 * Every link a `?link=` value can mean. `A,B` is exact (no node name holds a
 * comma). `A--B` is the older form: node names may hold "--" themselves, so
 * `A--B--C` can mean A ↔ B--C or A--B ↔ C — each split at a "--" between two
 * valid, different names is a reading (the service keeps the one the
 * incidents hold).
 */
export function linkReadings(s: string): Link[] {
  if (s.includes(LINK_SEPARATOR)) {
    const parts = s.split(LINK_SEPARATOR).map((p) => p.trim());
    return parts.length === 2 && parts.every(isName) && parts[0] !== parts[1] ? [link(parts[0]!, parts[1]!)] : [];
  }
  const out = new Map<string, Link>();
  for (let i = s.indexOf('--'); i >= 0; i = s.indexOf('--', i + 1)) {
    const x = s.slice(0, i);
    const y = s.slice(i + 2);
    if (isName(x) && isName(y) && x !== y) out.set(linkKey(x, y), link(x, y));
  }
  return [...out.values()];
}

/** A link in either order → its readings (one, unless an old-style `A--B` value is ambiguous). */
export const LinkParam = z
  .string()
  .transform((s, ctx) => {
    const readings = linkReadings(s);
    if (!readings.length) {
      ctx.issues.push({ code: 'custom', message: 'must be two different node names joined by a comma, e.g. KX6ABC-HAP-2,KJ6XYZ-RKT-1 (either order; "A--B" is read too)', input: s });
      return z.NEVER;
    }
    return readings;
  })
  .meta({
    description:
      'A link as `A,B` (either order). The older `A--B` is accepted too; when a node name itself holds "--" and the value splits ' +
      'more than one way, the reading that the incidents hold is used (400 when none or several do: write it as `A,B`)',
    examples: ['KX6ABC-HAP-2,KJ6XYZ-RKT-1'],
  });

/** "SRC,DST" (or "SRC>DST", as the API prints routes) → the route. */
export const RouteParam = z
  .string()
  .transform((s, ctx): Route => {
    const parts = s.includes('>') ? s.split('>') : s.split(',');
    const ok = parts.length === 2 && parts.every((p) => isName(p.trim()));
    if (!ok) {
      ctx.issues.push({ code: 'custom', message: 'must be SRC,DST: two node names separated by a comma (a route is directed)', input: s });
      return z.NEVER;
    }
    return route(parts[0]!.trim(), parts[1]!.trim());
  })
  .meta({ description: 'A directed route as `SRC,DST`' });

const OBJECT_PARAMS = ['link', 'node', 'route'] as const;

export const ByObjectQuery = queryObject({
  link: LinkParam.optional(),
  node: NodeName.optional().meta({ description: 'A node name' }),
  route: RouteParam.optional(),
  status: StatusFilter.default('all'),
  ...filterShape,
  roots: BooleanParam(false).meta({ description: '`true`: only root incidents; `false` (default): children too' }),
}).superRefine((q, ctx) => {
  const given = OBJECT_PARAMS.filter((k) => q[k] !== undefined);
  if (given.length === 0) {
    for (const k of OBJECT_PARAMS) paramIssue(ctx, k, 'exactly one of link, node, route is required');
  } else if (given.length > 1) {
    for (const k of given) paramIssue(ctx, k, `exactly one of link, node, route may be given (got ${given.join(', ')})`);
  }
  sinceBeforeUntil(q, ctx);
});
export type ByObjectQuery = z.infer<typeof ByObjectQuery>;

export const IssueIdParam = z.object({ id: IncidentId });

export const Acknowledgement = z
  .object({
    by: z.string().meta({ description: 'Who acknowledged it' }),
    at: Time,
    note: z.string().nullable(),
  })
  .meta({ id: 'Acknowledgement', description: 'An operator said "I am on it"; the incident stays open and counted' });
export type Acknowledgement = z.infer<typeof Acknowledgement>;

export const MaintenanceMark = z
  .object({
    window_id: z.string(),
    reason: z.string(),
    ends_at: Time.meta({ description: 'When the covering window ends (the latest-ending one when several cover it)' }),
  })
  .meta({
    id: 'MaintenanceMark',
    description: 'The maintenance window covering the incident now: not notified, not colouring the health. Null once the incident has ended (its timeline keeps the history)',
  });
export type MaintenanceMark = z.infer<typeof MaintenanceMark>;

const operatorFields = {
  acknowledged: Acknowledgement.nullable().meta({ description: 'The latest acknowledgement; null when nobody acknowledged it' }),
  maintenance: MaintenanceMark.nullable(),
};

export const IssueListItem = Incident.omit({ evidence: true })
  .extend({
    children: z.number().int().nonnegative().meta({ description: 'How many incidents have this one as parent (any status)' }),
    ...operatorFields,
  })
  .meta({ id: 'IssueListItem', description: 'An issue card: the incident without its evidence (see /issues/{id})' });
export type IssueListItem = z.infer<typeof IssueListItem>;

export const IssueList = z
  .object({
    items: z.array(IssueListItem).meta({ description: 'Newest first (started_at, then id, descending)' }),
    next: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page' }),
  })
  .meta({ id: 'IssueList' });
export type IssueList = z.infer<typeof IssueList>;

export const ObjectRef = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('link'), ...Link.shape, key: z.string().meta({ description: '`A,B` (sorted)' }) }),
    z.object({ type: z.literal('route'), src: z.string(), dst: z.string(), key: z.string().meta({ description: '`SRC>DST`' }) }),
    z.object({ type: z.literal('node'), node: z.string(), key: z.string().meta({ description: 'The node name' }) }),
  ])
  .meta({ id: 'ObjectRef', description: 'The object asked about, as it was read: a link {a, b}, a route {src, dst} or a node; `key` is the same as one string' });
export type ObjectRef = z.infer<typeof ObjectRef>;

export const ByObjectList = IssueList.extend({ object: ObjectRef }).meta({ id: 'ByObjectList' });
export type ByObjectList = z.infer<typeof ByObjectList>;

export const TimelineEntry = z
  .object({
    at: Time,
    event: z.string().meta({
      description:
        'opened, severity_changed, reparented, clearing, active_again, closed (the engine); acknowledged, note (`detail`: `{by, note}`); ' +
        'maintenance_started, maintenance_ended (`detail.window_id`: a window began or stopped covering it)',
    }),
    detail: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'TimelineEntry' });
export type TimelineEntry = z.infer<typeof TimelineEntry>;

export const HopList = z.object({
  hops: z.array(z.string()).meta({ description: 'Source first, destination last' }),
  windows: z.number().int().nonnegative(),
  first_seen: Time,
  last_seen: Time,
});

export const AffectedRoute = z
  .object({
    route: z.string().meta({ description: '`SRC>DST`' }),
    src: z.string(),
    dst: z.string(),
    hops: z.array(z.string()).nullable().meta({ description: 'The last hop list measured in the analysed period; null without data' }),
    hop_lists: z.array(HopList).meta({ description: 'Distinct hop lists measured in the analysed period, most used first' }),
  })
  .meta({ id: 'AffectedRoute' });
export type AffectedRoute = z.infer<typeof AffectedRoute>;

export const PatternType = z.enum(['burst', 'steady', 'unknown']);

export const Pattern = z
  .object({
    type: PatternType.meta({
      description: '`steady`: the condition held in most windows (≥ half); `burst`: bad windows came in short runs among good ones; `unknown`: no windows to judge',
    }),
    source: z.enum(['engine', 'measured']).meta({ description: '`engine`: as the Issue Engine classified it; `measured`: from the windows below' }),
    windows: z.number().int().nonnegative(),
    bad_windows: z.number().int().nonnegative(),
    bad_fraction: z.number().min(0).max(1).nullable(),
    bursts: z.number().int().nonnegative().meta({ description: 'Runs of consecutive bad windows' }),
    longest_bad_run: z.number().int().nonnegative(),
    thresholds: z.object({ jitter_ms: z.number(), loss_pct: z.number() }),
  })
  .meta({ id: 'Pattern', description: 'How the bad windows of the affected routes were spread over the analysed period' });
export type Pattern = z.infer<typeof Pattern>;

export const Playbook = z.object({ cause: z.string(), next_steps: z.array(z.string()) }).meta({ id: 'Playbook' });

export const IssueDetail = Incident.extend({
  ...operatorFields,
  links: z.array(Link).meta({ description: 'Links the incident touches' }),
  children_count: z.number().int().nonnegative(),
  children: z.array(IssueListItem).meta({ description: 'Incidents caused by this one, newest first' }),
  timeline: z.array(TimelineEntry).meta({ description: 'Oldest first: opened, severity changes, re-parenting, clearing, closed, acknowledgements, notes, maintenance' }),
  routes: z.array(AffectedRoute),
  routes_truncated: z.boolean().meta({ description: 'More routes were affected than are listed' }),
  analysed: z
    .object({ from: Time, to: Time })
    .meta({ description: 'The period whose measurements fed routes and pattern: the incident, its last hours at most' }),
  pattern: Pattern,
  playbook: Playbook,
}).meta({ id: 'IssueDetail' });
export type IssueDetail = z.infer<typeof IssueDetail>;
