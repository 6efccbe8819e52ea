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
 * The incidents a tick may change: the open ones (ended_at IS NULL), and
 * those closed after `closedSince` that have no parent — a later root may
 * still adopt them. A closed incident with a parent never changes again.
 */
export async function loadLiveIncidents(db: Executor, now: Date, closedSince: Date): Promise<IncidentRow[]> {
  return db
    .selectFrom('incidents')
    .selectAll()
    .where('started_at', '<=', now)
    .where((eb) => eb.or([eb('ended_at', 'is', null), eb.and([eb('ended_at', '>', closedSince), eb('parent_id', 'is', null)])]))
    .orderBy('started_at')
    .orderBy('id')
    .execute();
}

/** Per (kind, scope_key): the latest end of an incident closed after `closedSince`. */
export async function lastCloses(db: Executor, now: Date, closedSince: Date): Promise<Array<{ kind: string; scope_key: string; ended_at: Date }>> {
  const rows = await db
    .selectFrom('incidents')
    .select(['kind', 'scope_key', (eb) => eb.fn.max('ended_at').as('ended_at')])
    .where('started_at', '<=', now)
    .where('ended_at', '>', closedSince)
    .groupBy(['kind', 'scope_key'])
    .execute();
  return rows.map((r) => ({ kind: r.kind, scope_key: r.scope_key, ended_at: new Date(r.ended_at as Date) }));
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

/**
 * A failing rule must not abort the tick's transaction. One savepoint covers
 * every rule (a savepoint per rule cost two round trips each, every tick):
 * after a failure the tick rolls back to it — rules only read, so nothing
 * of the rules that passed is lost — and the savepoint stays for the rest.
 */
export async function setRulesSavepoint(db: Executor): Promise<void> {
  if (db.isTransaction) await sql`SAVEPOINT engine_rules`.execute(db);
}

export async function rollbackToRulesSavepoint(db: Executor): Promise<void> {
  if (db.isTransaction) await sql`ROLLBACK TO SAVEPOINT engine_rules`.execute(db);
}
