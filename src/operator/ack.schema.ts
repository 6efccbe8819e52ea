import { z } from 'zod';
import { STORABLE_MESSAGE, storable } from '../api/ids.ts';
import { Acknowledgement } from '../api/issues.schema.ts';
import { Who } from '../maintenance/maintenance.schema.ts';

const Note = z.string().trim().min(1, 'must not be empty').max(2000).refine(storable, STORABLE_MESSAGE);

export const AckBody = z.strictObject({
  by: Who,
  note: Note.optional().meta({ description: 'What is being done, e.g. "driving to the site"' }),
});
export type AckBody = z.infer<typeof AckBody>;

export const NoteBody = z.strictObject({ by: Who, note: Note });
export type NoteBody = z.infer<typeof NoteBody>;

export const AckResponse = z
  .object({ incident_id: z.string(), acknowledged: Acknowledgement })
  .meta({ id: 'AckResponse' });
export type AckResponse = z.infer<typeof AckResponse>;

export const NoteResponse = z
  .object({ incident_id: z.string(), note: z.object({ by: z.string(), at: z.iso.datetime(), note: z.string() }) })
  .meta({ id: 'NoteResponse' });
export type NoteResponse = z.infer<typeof NoteResponse>;
