import { sql, type Insertable, type Selectable } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { MaintenanceWindows } from '../db/schema.generated.ts';
import type { CursorPosition } from '../api/cursor.ts';
import type { Link, Route } from '../incidents/keys.ts';

export type WindowRow = Selectable<MaintenanceWindows>;
/** A window row with its starts_at to the microsecond, for the cursor. */
export type WindowListRow = WindowRow & { cursor_ts: string };

/** More windows than a collector should ever have current at once; a bound, not a limit anyone meets. */
export const CURRENT_WINDOWS_LIMIT = 1000;

export async function insertWindow(db: Executor, row: Insertable<MaintenanceWindows>): Promise<WindowRow> {
  return db.insertInto('maintenance_windows').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findWindow(db: Executor, id: string): Promise<WindowRow | undefined> {
  return db.selectFrom('maintenance_windows').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks the row for the rest of the transaction: an end and a delete of one window do not interleave. */
export async function findWindowForUpdate(db: Executor, id: string): Promise<WindowRow | undefined> {
  return db.selectFrom('maintenance_windows').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export interface WindowFilter {
  status: 'scheduled' | 'active' | 'ended' | 'current' | 'all';
  now: Date;
  after?: CursorPosition | undefined;
  limit: number;
}

export async function listWindows(db: Executor, f: WindowFilter): Promise<WindowListRow[]> {
  let q = db
    .selectFrom('maintenance_windows as w')
    .selectAll('w')
    .select(sql<string>`to_char(w.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursor_ts'));
  if (f.status === 'scheduled') q = q.where('w.starts_at', '>', f.now);
  else if (f.status === 'active') q = q.where('w.starts_at', '<=', f.now).where('w.ends_at', '>', f.now);
  else if (f.status === 'ended') q = q.where('w.ends_at', '<=', f.now);
  else if (f.status === 'current') q = q.where('w.ends_at', '>', f.now);
  if (f.after) q = q.where(sql<boolean>`(w.starts_at, w.id) < (${f.after.startedAt}::timestamptz, ${f.after.id})`);
  return q.orderBy('w.starts_at', 'desc').orderBy('w.id', 'desc').limit(f.limit).execute();
}

/** Windows that are active at `now` or start later: the ones that can cover anything from now on. */
export async function currentWindows(db: Executor, now: Date): Promise<WindowRow[]> {
  return db
    .selectFrom('maintenance_windows')
    .selectAll()
    .where('ends_at', '>', now)
    .orderBy('starts_at')
    .orderBy('id')
    .limit(CURRENT_WINDOWS_LIMIT)
    .execute();
}

/** Windows that were active at some instant of [from, to). */
export async function windowsOverlapping(db: Executor, from: Date, to: Date, limit = CURRENT_WINDOWS_LIMIT): Promise<WindowRow[]> {
  return db
    .selectFrom('maintenance_windows')
    .selectAll()
    .where('starts_at', '<', to)
    .where('ends_at', '>', from)
    .whereRef('ends_at', '>', 'starts_at')
    .orderBy('starts_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function endWindow(db: Executor, id: string, at: Date, by: string): Promise<WindowRow> {
  return db
    .updateTable('maintenance_windows')
    .set({ ends_at: at, ended_by: by, ended_early_at: at })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteWindow(db: Executor, id: string): Promise<void> {
  await db.deleteFrom('maintenance_windows').where('id', '=', id).execute();
}

/** What coverage needs of an incident (coverage.ts). */
export interface CoverRow {
  id: string;
  kind: string;
  severity: string;
  status: string;
  scope: unknown;
  nodes: string[];
  /** jsonb: Link[] (coverage.ts reads it through toCoverTarget). */
  links: unknown;
  parent_id: string | null;
  started_at: Date;
  ended_at: Date | null;
}

const COVER_COLUMNS = ['id', 'kind', 'severity', 'status', 'scope', 'nodes', 'links', 'parent_id', 'started_at', 'ended_at'] as const;

export async function coverRows(db: Executor, ids: readonly string[]): Promise<CoverRow[]> {
  if (!ids.length) return [];
  return db.selectFrom('incidents').select(COVER_COLUMNS).where('id', 'in', [...ids]).execute();
}

/** Open (not ended) incidents, for the summary and the notifier; bounded. */
export async function openCoverRows(db: Executor, limit: number): Promise<CoverRow[]> {
  return db
    .selectFrom('incidents')
    .select(COVER_COLUMNS)
    .where('ended_at', 'is', null)
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/**
 * Incidents active during [from, to) that a window with this scope could
 * cover — a superset (the GIN indexes of nodes/links/routes narrow it; the
 * exact test is coverage.ts) — oldest first, bounded.
 */
export async function coverCandidates(
  db: Executor,
  w: { from: Date; to: Date; node?: string; link?: Link; route?: Route },
  limit: number,
): Promise<CoverRow[]> {
  let q = db
    .selectFrom('incidents')
    .select(COVER_COLUMNS)
    .where('started_at', '<', w.to)
    .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', w.from)]));
  if (w.node) q = q.where(sql<boolean>`nodes @> ARRAY[${w.node}]::text[]`);
  if (w.link) q = q.where(sql<boolean>`links @> ${JSON.stringify([{ a: w.link.a, b: w.link.b }])}::jsonb`);
  if (w.route) q = q.where(sql<boolean>`routes @> ${JSON.stringify([{ src: w.route.src, dst: w.route.dst }])}::jsonb`);
  return q.orderBy('started_at').orderBy('id').limit(limit).execute();
}
