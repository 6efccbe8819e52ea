import { z } from 'zod';

// Query-parameter building blocks shared by the read API. Each one parses the
// raw string Hono hands over; a failure becomes a 400 naming the parameter
// (src/http/validation.ts). They stay JSON-Schema friendly on their input side
// so /openapi.json can describe each parameter from the same schema.

/** jQuery's `cache: false` (OpenWISP's admin uses jQuery) appends `_=<timestamp>`: tolerated, ignored. */
const IGNORED_PARAMS = new Set(['_']);

/**
 * An object of query parameters that rejects unknown ones: a misspelt filter
 * (`?severty=critical`) must fail loudly, not return everything unfiltered.
 */
export function queryObject<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.looseObject(shape).superRefine((v, ctx) => {
    for (const k of Object.keys(v)) {
      if (!(k in shape) && !IGNORED_PARAMS.has(k)) {
        ctx.addIssue({ code: 'custom', path: [k], message: `unknown query parameter; known: ${Object.keys(shape).join(', ')}` });
      }
    }
  });
}

/** For endpoints without parameters: a stray one is still a 400, not silently ignored. */
export const NoQuery = queryObject({});

/** The instants PostgreSQL and every client agree on (no year 0, no BC, four-digit years). */
export const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
export const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');
export const inRange = (d: Date) => d.getTime() >= FIRST_INSTANT && d.getTime() <= LAST_INSTANT;

/**
 * ISO-8601 date-time with a zone, parsed to a Date. The calendar is checked
 * (no month 13, no 30 February, no hour 24) and the instant must lie in
 * years 0001–9999: the database never sees a time it would refuse.
 */
export const IsoTime = z
  .iso.datetime({ offset: true, error: 'must be an ISO-8601 date-time with a zone (Z or ±hh:mm)' })
  .transform((s, ctx) => {
    const d = new Date(s);
    if (Number.isNaN(d.getTime()) || !inRange(d)) {
      ctx.issues.push({ code: 'custom', message: 'must be a date-time between 0001-01-01 and 9999-12-31', input: s });
      return z.NEVER;
    }
    return d;
  })
  .meta({ examples: ['2026-03-02T07:15:00Z'] });

/** `a,b,c` → ['a','b','c'], each one of `values`; the pattern also tells /openapi.json readers what is allowed. */
export function csvEnum<const T extends readonly string[]>(values: T) {
  const one = `(?:${values.join('|')})`;
  return z
    .string()
    .regex(new RegExp(`^${one}(?:,${one})*$`), `expected a comma-separated list of: ${values.join(', ')}`)
    .transform((s) => [...new Set(s.split(','))] as T[number][])
    .meta({ description: `Comma-separated list of: ${values.join(', ')}`, examples: [values.slice(0, 2).join(',')] });
}

export const BooleanParam = (dflt: boolean) =>
  z
    .enum(['true', 'false'])
    .default(dflt ? 'true' : 'false')
    .transform((v) => v === 'true');

export const Limit = (dflt: number, max: number) =>
  z.coerce
    .number({ error: (iss) => (iss.code === 'invalid_type' ? 'must be an integer' : undefined) })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`)
    .default(dflt)
    .meta({ description: `Page size, 1–${max}` });

/** Durations as `90s`, `5m`, `1h`, `1d` or plain seconds. */
export const Duration = z
  .string()
  .transform((s, ctx) => {
    const m = /^(\d{1,7})([smhd]?)$/.exec(s.trim());
    const seconds = m ? Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'] : NaN;
    if (!Number.isFinite(seconds) || seconds <= 0) {
      ctx.issues.push({ code: 'custom', message: 'must be a positive duration such as 30s, 5m, 1h, 1d (or seconds)', input: s });
      return z.NEVER;
    }
    return seconds;
  })
  .meta({ description: 'A duration: `30s`, `5m`, `1h`, `1d`, or a number of seconds', examples: ['5m'] });

/** For checks that span parameters (since ≤ until): the issue still names one. */
export function paramIssue(ctx: z.RefinementCtx, param: string, message: string) {
  ctx.addIssue({ code: 'custom', path: [param], message });
}
