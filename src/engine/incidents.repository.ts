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

// Statements are bounded whatever a tick has to write (20,000 nodes that
// fall silent are 20,000 incidents and events in one tick): PostgreSQL takes
// at most 65,535 bind parameters per statement, and one huge statement is a
// memory spike on a Pi. Incidents have 20 columns, events 4.
const INCIDENT_ROWS_PER_STATEMENT = 500;
const EVENT_ROWS_PER_STATEMENT = 2_000;

function* chunks<T>(rows: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

export type IncidentWrite = { op: 'insert'; row: NewIncidentRow } | { op: 'update'; row: NewIncidentRow };

/**
 * Writes a tick's new and changed incidents in the order given (roots before
 * the children that reference them; an incident closed before another opens
 * on its scope), a run of consecutive inserts or updates at a time, each run
 * in bounded statements.
 */
export async function writeIncidents(db: Executor, writes: readonly IncidentWrite[]): Promise<void> {
  for (let i = 0; i < writes.length; ) {
    const op = writes[i]!.op;
    let j = i;
    while (j < writes.length && writes[j]!.op === op) j++;
    const rows = writes.slice(i, j).map((w) => w.row);
    for (const chunk of chunks(rows, INCIDENT_ROWS_PER_STATEMENT)) {
      if (op === 'insert') await db.insertInto('incidents').values(chunk).execute();
      else await updateIncidents(db, chunk);
    }
    i = j;
  }
}

/** Columns the engine owns: an update leaves every other column (added by other features) as it is. */
const ENGINE_COLUMNS = [
  'kind', 'scope', 'scope_key', 'status', 'severity', 'impact', 'cause', 'next_steps', 'evidence', 'nodes', 'links', 'routes',
  'started_at', 'ended_at', 'detected_at', 'updated_at', 'clear_since', 'last_data_at', 'parent_id',
] as const satisfies ReadonlyArray<keyof NewIncidentRow>;
const JSON_COLUMNS = new Set<string>(['scope', 'impact', 'evidence', 'links', 'routes']);

/**
 * Many incidents in one statement with one parameter: the rows travel as a
 * JSON array that PostgreSQL turns into rows of the incidents table's own
 * type (jsonb_populate_recordset), so every column keeps its type.
 */
async function updateIncidents(db: Executor, rows: readonly NewIncidentRow[]): Promise<void> {
  if (!rows.length) return;
  const records = rows.map((r) => {
    const rec: Record<string, unknown> = { id: r.id };
    for (const c of ENGINE_COLUMNS) {
      const v = r[c];
      rec[c] = JSON_COLUMNS.has(c) && typeof v === 'string' ? JSON.parse(v) : v;
    }
    return rec;
  });
  const set = sql.join(ENGINE_COLUMNS.map((c) => sql`${sql.ref(c)} = r.${sql.ref(c)}`));
  await sql`
    UPDATE incidents AS i SET ${set}
    FROM jsonb_populate_recordset(NULL::incidents, ${JSON.stringify(records)}::jsonb) AS r
    WHERE i.id = r.id`.execute(db);
}

export async function insertEvents(db: Executor, events: IncidentEvent[]): Promise<void> {
  for (const chunk of chunks(events, EVENT_ROWS_PER_STATEMENT)) {
    await db
      .insertInto('incident_events')
      .values(chunk.map((e) => ({ incident_id: e.incident_id, at: e.at, event: e.event, detail: JSON.stringify(e.detail) })))
      .execute();
  }
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
