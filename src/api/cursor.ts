import { z } from 'zod';
import { IncidentId } from './ids.ts';
import { inRange } from './query.ts';

/**
 * Keyset position in the (started_at DESC, id DESC) order. The time is kept as
 * PostgreSQL printed it, to the microsecond: a JS Date would round it to the
 * millisecond and a page boundary inside one millisecond would skip or repeat rows.
 */
export interface CursorPosition {
  startedAt: string;
  id: string;
}

/**
 * What a cursor carries is checked as strictly as the parameters a client
 * types: a cursor is base64 anyone can forge, and a well-formed but
 * impossible time (month 13, 30 February, year 0000) or a NUL in the id
 * would otherwise reach the database.
 */
const Payload = z.object({
  t: z.iso
    .datetime({ precision: 6 })
    .refine((t) => inRange(new Date(t))),
  i: IncidentId,
});

export function encodeCursor(p: CursorPosition): string {
  return Buffer.from(JSON.stringify({ t: p.startedAt, i: p.id })).toString('base64url');
}

export function decodeCursor(s: string): CursorPosition | null {
  if (!/^[A-Za-z0-9_-]{1,600}$/.test(s)) return null;
  try {
    const parsed = Payload.safeParse(JSON.parse(Buffer.from(s, 'base64url').toString('utf8')));
    return parsed.success ? { startedAt: parsed.data.t, id: parsed.data.i } : null;
  } catch {
    return null;
  }
}

/** The `cursor` query parameter: the `next` of the previous page, opaque to clients. */
export const CursorParam = z
  .string()
  .transform((s, ctx) => {
    const c = decodeCursor(s);
    if (!c) {
      ctx.issues.push({ code: 'custom', message: 'is not a cursor this API issued (pass the `next` of the previous page unchanged)', input: s });
      return z.NEVER;
    }
    return c;
  })
  .meta({ description: 'The `next` value of the previous page; omit for the first page' });
