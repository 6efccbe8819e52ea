import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Incidents } from '../db/schema.generated.ts';

// The write side of incidents (the API reads them through its own repository).

export type IncidentRow = Selectable<Incidents>;
export type NewIncidentRow = Insertable<Incidents>;
export type IncidentPatch = Updateable<Incidents>;

export interface IncidentEvent {
  incident_id: string;
  at: Date;
  event: 'opened' | 'severity_changed' | 'reparented' | 'clearing' | 'active_again' | 'closed';
  detail: Record<string, unknown>;
}

/**
 * Open (ended_at IS NULL) incidents, and those closed after `closedSince`
 * (for re-parenting, and so a trigger before a close is not a new incident).
 */
export async function loadLiveIncidents(db: Executor, now: Date, closedSince: Date): Promise<IncidentRow[]> {
  return db
    .selectFrom('incidents')
    .selectAll()
    .where('started_at', '<=', now)
    .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', closedSince)]))
    .orderBy('started_at')
    .orderBy('id')
    .execute();
}

export async function insertIncident(db: Executor, row: NewIncidentRow): Promise<void> {
  await db.insertInto('incidents').values(row).execute();
}

export async function updateIncident(db: Executor, id: string, patch: IncidentPatch): Promise<void> {
  await db.updateTable('incidents').set(patch).where('id', '=', id).execute();
}

export async function insertEvents(db: Executor, events: IncidentEvent[]): Promise<void> {
  if (!events.length) return;
  await db
    .insertInto('incident_events')
    .values(events.map((e) => ({ incident_id: e.incident_id, at: e.at, event: e.event, detail: JSON.stringify(e.detail) })))
    .execute();
}

/** A failing rule must not abort the tick's transaction: each runs inside its own savepoint. */
export async function withSavepoint<T>(db: Executor, name: string, fn: () => Promise<T>): Promise<T> {
  if (!db.isTransaction) return fn();
  const sp = sql.id(name);
  await sql`SAVEPOINT ${sp}`.execute(db);
  try {
    const out = await fn();
    await sql`RELEASE SAVEPOINT ${sp}`.execute(db);
    return out;
  } catch (err) {
    await sql`ROLLBACK TO SAVEPOINT ${sp}`.execute(db);
    await sql`RELEASE SAVEPOINT ${sp}`.execute(db);
    throw err;
  }
}
