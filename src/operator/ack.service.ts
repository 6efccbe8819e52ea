import type { Executor } from '../db/database.ts';
import { problems } from '../http/problem.ts';
import { findIncidentForWrite, insertTimelineEvent, upsertAck } from './ack.repository.ts';
import type { AckBody, AckResponse, NoteBody, NoteResponse } from './ack.schema.ts';
import { recordWrite } from './audit.service.ts';
import type { WriteContext } from './audit.schema.ts';

async function incidentOrThrow(db: Executor, id: string) {
  const row = await findIncidentForWrite(db, id);
  if (!row) throw problems.notFound(`no incident with id ${JSON.stringify(id)}`);
  return row;
}

/**
 * Acknowledges an open incident. A second acknowledgement (someone takes
 * over) replaces the current one; the timeline keeps both. A closed incident
 * needs nobody on it: 409 (a note is still possible).
 */
export async function acknowledge(db: Executor, id: string, body: AckBody, ctx: WriteContext): Promise<AckResponse> {
  const row = await incidentOrThrow(db, id);
  if (row.ended_at) throw problems.conflict(`the incident ended at ${new Date(row.ended_at).toISOString()}: there is nothing left to acknowledge (add a note instead)`);
  const note = body.note ?? null;
  await upsertAck(db, { incident_id: id, by: body.by, at: ctx.at, note });
  await insertTimelineEvent(db, { incident_id: id, at: ctx.at, event: 'acknowledged', detail: { by: body.by, note } });
  await recordWrite(db, ctx, { action: 'incident.acknowledge', by: body.by, target: id, detail: { note } });
  return { incident_id: id, acknowledged: { by: body.by, at: ctx.at.toISOString(), note } };
}

/** Adds a note to an incident's timeline, open or closed (a post-mortem is a note too). */
export async function addNote(db: Executor, id: string, body: NoteBody, ctx: WriteContext): Promise<NoteResponse> {
  await incidentOrThrow(db, id);
  await insertTimelineEvent(db, { incident_id: id, at: ctx.at, event: 'note', detail: { by: body.by, note: body.note } });
  await recordWrite(db, ctx, { action: 'incident.note', by: body.by, target: id, detail: { note: body.note } });
  return { incident_id: id, note: { by: body.by, at: ctx.at.toISOString(), note: body.note } };
}
