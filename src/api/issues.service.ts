import type { Executor } from '../db/database.ts';
import { toIncident } from '../incidents/incident.mapper.ts';
import { incidentTitle } from '../incidents/incident.schema.ts';
import { link, linkKey, routeKey, type Link } from '../incidents/keys.ts';
import { problems } from '../http/problem.ts';
import type { Incident } from '../incidents/incident.schema.ts';
import { maintenanceMarks, maintenanceTimeline, toCoverTarget, windowsAt, type MaintenanceMark, type WindowsNow } from '../maintenance/maintenance.service.ts';
import { coverRows } from '../maintenance/maintenance.repository.ts';
import { encodeCursor } from './cursor.ts';
import { findIncidentDrawer, linksHeld, listIncidents, type IncidentFilter, type IncidentListRow } from './issues.repository.ts';
import type {
  AffectedRoute,
  ByObjectList,
  ByObjectQuery,
  IssueDetail,
  IssueList,
  IssueListItem,
  IssuesQuery,
  Pattern,
} from './issues.schema.ts';

/** Routes listed (with hop lists) in a detail; a bottleneck can touch many more. */
export const DETAIL_ROUTES_LIMIT = 50;
/** Children listed in a detail; children_count has the real number. */
export const DETAIL_CHILDREN_LIMIT = 200;
/**
 * Measurements read for a detail: the incident, at most its last two hours —
 * 180 windows a route at 40 s, plenty to tell a burst from a steady fault, and
 * a bounded read for a bottleneck with dozens of routes (each route's windows
 * sit on their own heap pages, interleaved with every other route's).
 */
export const ANALYSIS_SPAN_MS = 2 * 3600_000;

export interface PatternThresholds {
  jitter_ms: number;
  loss_pct: number;
}

/** The engine may leave impact `{}` on a row it has not refreshed yet; the API shape always has the lists. */
function withImpactLists(impact: unknown): Incident['impact'] {
  const i = (impact ?? {}) as Partial<Incident['impact']>;
  return { ...i, routes_affected: i.routes_affected ?? 0, routes: i.routes ?? [], nodes: i.nodes ?? [] };
}

function toListItem(row: IncidentListRow, marks: ReadonlyMap<string, MaintenanceMark>): IssueListItem {
  const kind = row.kind as IssueListItem['kind'];
  const scope = row.scope as IssueListItem['scope'];
  return {
    id: row.id,
    kind,
    title: incidentTitle(kind, scope),
    scope,
    status: row.status as IssueListItem['status'],
    severity: row.severity as IssueListItem['severity'],
    impact: withImpactLists(row.impact),
    cause: row.cause,
    next_steps: row.next_steps,
    started_at: row.started_at,
    ended_at: row.ended_at,
    detected_at: row.detected_at,
    updated_at: row.updated_at,
    parent_id: row.parent_id,
    children: row.children,
    acknowledged: row.acknowledged ?? null,
    maintenance: marks.get(row.id) ?? null,
  };
}

/**
 * A list answer and until when it holds without a data change: the next start
 * or end of a maintenance window, which changes `maintenance` by the clock alone.
 */
export interface Timed<T> {
  body: T;
  validUntil: Date | null;
}

async function page(db: Executor, filter: IncidentFilter, now: Date): Promise<Timed<IssueList>> {
  const rows = await listIncidents(db, { ...filter, limit: filter.limit + 1 });
  const more = rows.length > filter.limit;
  const items = more ? rows.slice(0, filter.limit) : rows;
  const last = items.at(-1);
  const windows: WindowsNow = await windowsAt(db, now);
  const marks = await maintenanceMarks(db, items, windows);
  return {
    body: {
      items: items.map((r) => toListItem(r, marks)),
      next: more && last ? encodeCursor({ startedAt: last.cursor_ts, id: last.id }) : null,
    },
    validUntil: windows.next,
  };
}

export function listIssues(db: Executor, q: IssuesQuery, now: Date): Promise<Timed<IssueList>> {
  return page(db, {
    status: q.status,
    since: q.since,
    until: q.until,
    kinds: q.kind,
    severities: q.severity,
    node: q.node,
    rootsOnly: q.roots,
    after: q.cursor,
    limit: q.limit,
  }, now);
}

/**
 * The one link a `?link=` value means: its only reading, or — an old-style
 * `A--B--C` that splits several ways — the one reading some incident holds.
 */
async function resolveLink(db: Executor, readings: Link[]): Promise<Link> {
  if (readings.length === 1) return readings[0]!;
  const held = await linksHeld(db, readings);
  if (held.length === 1) return link(held[0]!.a, held[0]!.b);
  const ways = readings.map((l) => `${l.a} ↔ ${l.b}`).join(' or ');
  throw problems.badRequest(
    `ambiguous link: it can be read as ${ways}, and ${held.length ? 'incidents hold more than one of them' : 'no incident holds any of them'}; write it as A,B`,
    [{ path: 'link', message: `ambiguous: write it as ${readings.map((l) => linkKey(l)).join(' or ')}` }],
  );
}

export async function issuesByObject(db: Executor, q: ByObjectQuery, now: Date): Promise<Timed<ByObjectList>> {
  const lnk = q.link ? await resolveLink(db, q.link) : undefined;
  const object: ByObjectList['object'] = lnk
    ? { type: 'link', a: lnk.a, b: lnk.b, key: linkKey(lnk) }
    : q.route
      ? { type: 'route', src: q.route.src, dst: q.route.dst, key: routeKey(q.route) }
      : { type: 'node', node: q.node!, key: q.node! };
  const list = await page(db, {
    status: q.status,
    since: q.since,
    until: q.until,
    kinds: q.kind,
    severities: q.severity,
    link: lnk,
    route: q.route,
    node: q.node,
    rootsOnly: q.roots,
    after: q.cursor,
    limit: q.limit,
  }, now);
  return { body: { ...list.body, object }, validUntil: list.validUntil };
}

function engineVerdict(evidence: Record<string, unknown>): 'burst' | 'steady' | null {
  const p = evidence.pattern;
  const v = typeof p === 'string' ? p : (p as { type?: unknown } | null | undefined)?.type;
  return v === 'burst' || v === 'steady' ? v : null;
}

export async function issueDetail(
  db: Executor,
  id: string,
  opts: { now: Date; thresholds: PatternThresholds },
): Promise<IssueDetail | null> {
  const row = await findIncidentDrawer(db, id, {
    now: opts.now,
    childrenLimit: DETAIL_CHILDREN_LIMIT,
    routesLimit: DETAIL_ROUTES_LIMIT,
    spanMs: ANALYSIS_SPAN_MS,
    thresholds: opts.thresholds,
  });
  if (!row) return null;
  const { events, children_list, children_count, refs, routes_total, analysed_from, analysed_to, thresholds, hop_lists: lists, stats, acknowledged, ...incidentRow } = row;

  const routes: AffectedRoute[] = refs.map((r) => {
    const mine = lists.filter((l) => l.src === r.src && l.dst === r.dst);
    // ISO text of one format: the greatest string is the latest time.
    const latest = mine.reduce<(typeof mine)[number] | null>((a, b) => (!a || b.last_seen > a.last_seen ? b : a), null);
    return {
      route: `${r.src}>${r.dst}`,
      src: r.src,
      dst: r.dst,
      hops: latest ? latest.hops : null,
      hop_lists: mine.map((l) => ({ hops: l.hops, windows: l.windows, first_seen: l.first_seen, last_seen: l.last_seen })),
    };
  });

  const verdict = engineVerdict((row.evidence ?? {}) as Record<string, unknown>);
  const measured: Pattern['type'] = stats.bad_windows === 0 ? 'unknown' : stats.bad_windows * 2 >= stats.windows ? 'steady' : 'burst';
  const pattern: Pattern = {
    type: verdict ?? measured,
    source: verdict ? 'engine' : 'measured',
    windows: stats.windows,
    bad_windows: stats.bad_windows,
    bad_fraction: stats.windows ? Math.round((stats.bad_windows / stats.windows) * 1000) / 1000 : null,
    bursts: stats.bursts,
    longest_bad_run: stats.longest_bad_run,
    thresholds,
  };

  const incident = { ...toIncident(incidentRow), impact: withImpactLists(row.impact) };
  const windows = await windowsAt(db, opts.now);
  const marks = await maintenanceMarks(db, [row, ...children_list], windows);
  const parent = row.parent_id ? (await coverRows(db, [row.parent_id]))[0] : undefined;
  const covered = await maintenanceTimeline(
    db,
    { started_at: row.started_at, ended_at: row.ended_at, target: toCoverTarget(row), parent: parent ? toCoverTarget(parent) : null },
    opts.now,
  );
  // ISO text of one format sorts as time; a stable sort keeps the stored order within one instant.
  const timeline = [...events.map((e) => ({ at: e.at, event: e.event, detail: e.detail ?? {} })), ...covered].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return {
    ...incident,
    acknowledged: acknowledged ?? null,
    maintenance: marks.get(row.id) ?? null,
    links: ((row.links ?? []) as Link[]).map((l) => link(l.a, l.b)),
    children_count,
    children: children_list.map((c) => toListItem(c, marks)),
    timeline,
    routes,
    routes_truncated: routes_total > refs.length,
    analysed: { from: analysed_from, to: analysed_to },
    pattern,
    playbook: { cause: incident.cause, next_steps: incident.next_steps },
  };
}
