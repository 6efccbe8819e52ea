import type { Executor } from '../db/database.ts';

/** The incident's row lock for the write: a concurrent engine tick commits first or waits. */
export async function findIncidentForWrite(db: Executor, id: string): Promise<{ id: string; ended_at: Date | null } | undefined> {
  return db.selectFrom('incidents').select(['id', 'ended_at']).where('id', '=', id).forShare().executeTakeFirst();
}

export async function upsertAck(db: Executor, a: { incident_id: string; by: string; at: Date; note: string | null }): Promise<void> {
  await db
    .insertInto('incident_acks')
    .values(a)
    .onConflict((oc) => oc.column('incident_id').doUpdateSet({ by: a.by, at: a.at, note: a.note }))
    .execute();
}

export async function insertTimelineEvent(db: Executor, e: { incident_id: string; at: Date; event: string; detail: Record<string, unknown> }): Promise<void> {
  await db.insertInto('incident_events').values({ ...e, detail: JSON.stringify(e.detail) }).execute();
}
