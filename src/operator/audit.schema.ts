import { z } from 'zod';
import { Limit, queryObject } from '../api/query.ts';

/** Who is writing, as the edge knows it: the token's identity, the request, the clock. */
export interface WriteContext {
  /** The identity of the token that authorised the write ("operator"). */
  actor: string;
  requestId: string | null;
  at: Date;
}

export const AuditAction = z.enum(['incident.acknowledge', 'incident.note', 'maintenance.create', 'maintenance.end', 'maintenance.delete']);
export type AuditAction = z.infer<typeof AuditAction>;

export const AuditQuery = queryObject({
  limit: Limit(100, 1000),
  before: z.coerce.number().int().positive().optional().meta({ description: 'The `next` of the previous page: entries older than this id' }),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

export const AuditEntry = z
  .object({
    id: z.number().int(),
    at: z.iso.datetime(),
    actor: z.string().meta({ description: 'The identity of the token that authorised the write (`operator` for OPERATOR_TOKEN)' }),
    by: z.string().nullable().meta({ description: 'Who the request said did it (its `by`)' }),
    action: AuditAction,
    target: z.string().nullable().meta({ description: 'The incident or window id' }),
    detail: z.record(z.string(), z.unknown()).meta({ description: 'What was written' }),
    request_id: z.string().nullable(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditList = z
  .object({
    items: z.array(AuditEntry).meta({ description: 'Newest first' }),
    next: z.number().int().nullable().meta({ description: 'Pass as `before` for the next page; null on the last' }),
  })
  .meta({ id: 'AuditList' });
export type AuditList = z.infer<typeof AuditList>;
