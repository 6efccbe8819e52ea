import { randomBytes } from 'node:crypto';
import { encodeCursor } from '../api/cursor.ts';
import type { Executor } from '../db/database.ts';
import { problems } from '../http/problem.ts';
import { incidentTitle, type IncidentKind, type Scope } from '../incidents/incident.schema.ts';
import { link, route, type Link, type Route } from '../incidents/keys.ts';
import { recordWrite } from '../operator/audit.service.ts';
import type { WriteContext } from '../operator/audit.schema.ts';
import { coveringWindow, isActiveAt, nextBoundary, windowCovers, type ActiveWindow, type CoverTarget } from './coverage.ts';
import {
  coverCandidates,
  coverRows,
  currentWindows,
  deleteWindow,
  endWindow,
  findWindow,
  findWindowForUpdate,
  insertWindow,
  listWindows,
  openCoverRows,
  windowsOverlapping,
  type CoverRow,
  type WindowRow,
} from './maintenance.repository.ts';
import type {
  CoveredIncident,
  CreateWindowBody,
  MaintenanceList,
  MaintenanceQuery,
  MaintenanceWindow,
  MaintenanceWindowDetail,
  WindowScope,
} from './maintenance.schema.ts';

/** Longest window: a typo in a year must not silence a node for a decade. */
export const MAX_WINDOW_MS = 31 * 86_400_000;
/** Incidents listed as covered by one window. */
export const COVERED_LIMIT = 500;
/** Open incidents the summary and the notifier look at; an outage storm is far below. */
export const OPEN_INCIDENTS_LIMIT = 20_000;

const iso = (d: Date | string) => new Date(d).toISOString();
const newWindowId = () => `mw_${randomBytes(10).toString('hex')}`;

export function toActiveWindow(r: WindowRow): ActiveWindow & { row: WindowRow } {
  return { id: r.id, scope: r.scope as WindowScope, starts_at: new Date(r.starts_at), ends_at: new Date(r.ends_at), reason: r.reason, row: r };
}

export function toCoverTarget(r: Pick<CoverRow, 'scope' | 'nodes' | 'links'>): CoverTarget {
  return { scope: r.scope as Scope, nodes: r.nodes ?? [], links: ((r.links ?? []) as Link[]).map((l) => link(l.a, l.b)) };
}

function statusAt(r: WindowRow, now: Date): MaintenanceWindow['status'] {
  if (new Date(r.starts_at) > now) return 'scheduled';
  return new Date(r.ends_at) > now ? 'active' : 'ended';
}

export function toWindow(r: WindowRow, now: Date): MaintenanceWindow {
  return {
    id: r.id,
    scope: r.scope as WindowScope,
    status: statusAt(r, now),
    starts_at: iso(r.starts_at),
    ends_at: iso(r.ends_at),
    planned_ends_at: iso(r.planned_ends_at),
    reason: r.reason,
    created_by: r.created_by,
    created_at: iso(r.created_at),
    ended_early: r.ended_early_at && r.ended_by ? { by: r.ended_by, at: iso(r.ended_early_at) } : null,
  };
}

export async function createWindow(db: Executor, body: CreateWindowBody, ctx: WriteContext): Promise<MaintenanceWindow> {
  const startsAt = body.starts_at ?? ctx.at;
  const errors = [];
  if (body.ends_at <= startsAt) errors.push({ path: 'ends_at', message: 'must be after starts_at' });
  else if (body.ends_at <= ctx.at) errors.push({ path: 'ends_at', message: 'must be in the future (a window entirely in the past would cover nothing)' });
  if (body.ends_at.getTime() - startsAt.getTime() > MAX_WINDOW_MS) errors.push({ path: 'ends_at', message: 'a window lasts at most 31 days' });
  if (errors.length) throw problems.unprocessable('the maintenance window is not valid', errors);
  const row = await insertWindow(db, {
    id: newWindowId(),
    scope: JSON.stringify(body.scope),
    starts_at: startsAt,
    ends_at: body.ends_at,
    planned_ends_at: body.ends_at,
    reason: body.reason,
    created_by: body.by,
    created_at: ctx.at,
  });
  await recordWrite(db, ctx, {
    action: 'maintenance.create',
    by: body.by,
    target: row.id,
    detail: { scope: body.scope, starts_at: iso(startsAt), ends_at: iso(body.ends_at), reason: body.reason },
  });
  return toWindow(row, ctx.at);
}

/** Ends an active window now. A scheduled one is deleted instead; an ended one stays as it is. */
export async function endWindowEarly(db: Executor, id: string, by: string, ctx: WriteContext): Promise<MaintenanceWindow> {
  const w = await findWindowForUpdate(db, id);
  if (!w) throw problems.notFound(`no maintenance window with id ${JSON.stringify(id)}`);
  const status = statusAt(w, ctx.at);
  if (status === 'scheduled') throw problems.conflict('the window has not started: delete it instead (DELETE /maintenance/{id})');
  if (status === 'ended') throw problems.conflict(`the window already ended at ${iso(w.ends_at)}`);
  const row = await endWindow(db, id, ctx.at, by);
  await recordWrite(db, ctx, { action: 'maintenance.end', by, target: id, detail: { planned_ends_at: iso(w.planned_ends_at), ended_at: iso(ctx.at) } });
  return toWindow(row, ctx.at);
}

/**
 * Deletes a window that has not started. One that has started has covered
 * (or could have covered) incidents, and that is history: it can be ended
 * early, not deleted. The audit log keeps the deleted window's content.
 */
export async function removeWindow(db: Executor, id: string, by: string, ctx: WriteContext): Promise<void> {
  const w = await findWindowForUpdate(db, id);
  if (!w) throw problems.notFound(`no maintenance window with id ${JSON.stringify(id)}`);
  if (statusAt(w, ctx.at) !== 'scheduled') {
    throw problems.conflict('the window has started, so it stays in the history: end it early instead (POST /maintenance/{id}/end)');
  }
  await deleteWindow(db, id);
  await recordWrite(db, ctx, {
    action: 'maintenance.delete',
    by,
    target: id,
    detail: { scope: w.scope, starts_at: iso(w.starts_at), ends_at: iso(w.ends_at), reason: w.reason, created_by: w.created_by },
  });
}

export async function listMaintenance(db: Executor, q: MaintenanceQuery, now: Date): Promise<MaintenanceList> {
  const rows = await listWindows(db, { status: q.status, now, after: q.cursor, limit: q.limit + 1 });
  const more = rows.length > q.limit;
  const items = more ? rows.slice(0, q.limit) : rows;
  const last = items.at(-1);
  return {
    items: items.map((r) => toWindow(r, now)),
    next: more && last ? encodeCursor({ startedAt: last.cursor_ts, id: last.id }) : null,
  };
}

/** The GIN-indexed prefilter matching a window's scope (coverage.ts has the exact test). */
function candidateFilter(scope: WindowScope): { node?: string; link?: Link; route?: Route } {
  switch (scope.type) {
    case 'mesh': return {};
    case 'node': return { node: scope.node };
    case 'link': return { link: link(scope.a, scope.b) };
    case 'route': return { route: route(scope.src, scope.dst) };
  }
}

export async function maintenanceDetail(db: Executor, id: string, now: Date): Promise<MaintenanceWindowDetail | null> {
  const w = await findWindow(db, id);
  if (!w) return null;
  const scope = w.scope as WindowScope;
  const from = new Date(w.starts_at);
  const end = new Date(w.ends_at);
  const to = end < now ? end : now;
  const rows = from < to ? await coverCandidates(db, { from, to, ...candidateFilter(scope) }, COVERED_LIMIT + 1) : [];
  const covered: CoveredIncident[] = [];
  for (const r of rows) {
    if (!windowCovers(scope, toCoverTarget(r))) continue;
    const started = new Date(r.started_at);
    const ended = r.ended_at ? new Date(r.ended_at) : null;
    const until = ended && ended < end ? ended : end <= now ? end : null;
    const kind = r.kind as IncidentKind;
    covered.push({
      id: r.id,
      kind,
      title: incidentTitle(kind, r.scope as Scope),
      severity: r.severity as CoveredIncident['severity'],
      status: r.status as CoveredIncident['status'],
      from: iso(started > from ? started : from),
      until: until ? iso(until) : null,
    });
  }
  return { ...toWindow(w, now), covered: covered.slice(0, COVERED_LIMIT), covered_truncated: rows.length > COVERED_LIMIT };
}

export interface MaintenanceMark {
  window_id: string;
  reason: string;
  ends_at: string;
}

/** The windows covering anything at `now`, and the next instant that can change (a start or an end). */
export interface WindowsNow {
  active: Array<ActiveWindow & { row: WindowRow }>;
  next: Date | null;
}

export async function windowsAt(db: Executor, now: Date): Promise<WindowsNow> {
  const current = (await currentWindows(db, now)).map(toActiveWindow);
  return { active: current.filter((w) => isActiveAt(w, now)), next: nextBoundary(current, now) };
}

const mark = (w: ActiveWindow): MaintenanceMark => ({ window_id: w.id, reason: w.reason, ends_at: iso(w.ends_at) });

/**
 * `maintenance` of incidents being answered: the window covering each one
 * now, for those not ended (an ended incident's timeline keeps its history).
 * Reads the incidents' nodes/links (and their parents') only when a window is active.
 */
export async function maintenanceMarks(
  db: Executor,
  items: ReadonlyArray<{ id: string; parent_id: string | null; ended_at: string | Date | null }>,
  windows: WindowsNow,
): Promise<Map<string, MaintenanceMark>> {
  const marks = new Map<string, MaintenanceMark>();
  const open = items.filter((i) => i.ended_at === null);
  if (!windows.active.length || !open.length) return marks;
  const ids = new Set<string>();
  for (const i of open) {
    ids.add(i.id);
    if (i.parent_id) ids.add(i.parent_id);
  }
  const targets = new Map((await coverRows(db, [...ids])).map((r) => [r.id, toCoverTarget(r)]));
  for (const i of open) {
    const t = targets.get(i.id);
    if (!t) continue;
    const w = coveringWindow(windows.active, t, i.parent_id ? targets.get(i.parent_id) : null);
    if (w) marks.set(i.id, mark(w));
  }
  return marks;
}

export interface OpenCoverage {
  /** Open incidents, newest first, at most OPEN_INCIDENTS_LIMIT. */
  open: CoverRow[];
  /** Covering window of each covered open incident. */
  covered: Map<string, MaintenanceMark>;
  windows: WindowsNow;
}

/** Every open incident and which of them a window covers now: for the summary, the topology and the notifier. */
export async function openIncidentCoverage(db: Executor, now: Date, known?: WindowsNow): Promise<OpenCoverage> {
  const windows = known ?? (await windowsAt(db, now));
  const open = await openCoverRows(db, OPEN_INCIDENTS_LIMIT);
  return { open, covered: await coverMarks(db, open, windows), windows };
}

/** The covering window of each of `rows` (open incidents) under the active `windows`; parents read as needed. */
export async function coverMarks(
  db: Executor,
  rows: ReadonlyArray<Pick<CoverRow, 'id' | 'scope' | 'nodes' | 'links' | 'parent_id'>>,
  windows: WindowsNow,
): Promise<Map<string, MaintenanceMark>> {
  const covered = new Map<string, MaintenanceMark>();
  if (!windows.active.length) return covered;
  const byId = new Map<string, Pick<CoverRow, 'scope' | 'nodes' | 'links'>>(rows.map((r) => [r.id, r]));
  const missingParents = [...new Set(rows.flatMap((r) => (r.parent_id && !byId.has(r.parent_id) ? [r.parent_id] : [])))];
  for (const p of await coverRows(db, missingParents)) byId.set(p.id, p);
  for (const r of rows) {
    const parent = r.parent_id ? byId.get(r.parent_id) : undefined;
    const w = coveringWindow(windows.active, toCoverTarget(r), parent ? toCoverTarget(parent) : null);
    if (w) covered.set(r.id, mark(w));
  }
  return covered;
}

export interface MaintenanceEvent {
  at: string;
  event: 'maintenance_started' | 'maintenance_ended';
  detail: Record<string, unknown>;
}

/**
 * The incident's timeline entries for the windows that covered it, derived
 * from the windows (nothing is written when a window starts or ends).
 */
export async function maintenanceTimeline(
  db: Executor,
  incident: { started_at: Date | string; ended_at: Date | string | null; target: CoverTarget; parent: CoverTarget | null },
  now: Date,
): Promise<MaintenanceEvent[]> {
  const started = new Date(incident.started_at);
  const ended = incident.ended_at ? new Date(incident.ended_at) : null;
  const until = ended && ended < now ? ended : now;
  if (until < started) return [];
  // Bounded: an incident lives days at most, and windows are made by hand.
  const windows = (await windowsOverlapping(db, started, new Date(until.getTime() + 1), 200)).map(toActiveWindow);
  const out: MaintenanceEvent[] = [];
  for (const w of windows) {
    if (!windowCovers(w.scope, incident.target) && !(incident.parent && windowCovers(w.scope, incident.parent))) continue;
    const from = w.starts_at > started ? w.starts_at : started;
    out.push({ at: iso(from), event: 'maintenance_started', detail: { window_id: w.id, reason: w.reason, by: w.row.created_by, scope: w.scope } });
    if (w.ends_at <= now && (!ended || w.ends_at < ended)) {
      out.push({
        at: iso(w.ends_at),
        event: 'maintenance_ended',
        detail: { window_id: w.id, ...(w.row.ended_early_at ? { ended_early_by: w.row.ended_by } : {}) },
      });
    }
  }
  return out;
}
