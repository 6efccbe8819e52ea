import { z } from 'zod';
import { NodeName } from '../ingest/ingest.schema.ts';
import { SeriesQuery } from './paths.schema.ts';

const Time = z.iso.datetime();

export const LinkSeriesParams = z.object({
  a: NodeName.meta({ description: 'One end of the link (either order)' }),
  b: NodeName.meta({ description: 'The other end' }),
}).superRefine((p, ctx) => {
  if (p.a === p.b) ctx.addIssue({ code: 'custom', path: ['b'], message: 'must differ from a: a link joins two nodes' });
});

/** Same range and step rules as the path series. */
export const LinkSeriesQuery = SeriesQuery;
export type LinkSeriesQuery = z.infer<typeof LinkSeriesQuery>;

const Q = z.number().nullable();

export const LinkSeriesPoint = z
  .object({
    t: Time.meta({ description: 'Bucket start, aligned to multiples of the step from the Unix epoch' }),
    samples: z.number().int().nonnegative().meta({ description: 'Hop measurements of the link in the bucket (both directions)' }),
    lq: Q.meta({ description: 'Mean LQ as seen from `a` (hops measured b→a have LQ and NLQ swapped); null when unknown (Babel)' }),
    nlq: Q.meta({ description: 'Mean NLQ as seen from `a`' }),
    lq_min: Q.meta({ description: 'Worst of LQ and NLQ in the bucket (raw hops only; null from the hourly rollup)' }),
    etx: Q.meta({ description: 'Mean ETX' }),
    etx_max: Q.meta({ description: 'Worst ETX (raw hops only; null from the hourly rollup)' }),
  })
  .meta({ id: 'LinkSeriesPoint' });
export type LinkSeriesPoint = z.infer<typeof LinkSeriesPoint>;

export const LinkSeries = z
  .object({
    a: z.string().meta({ description: 'The link’s first node in sorted order' }),
    b: z.string(),
    link: z.string().meta({ description: '`A,B`: the link as one string, sorted (a comma, which no node name holds)' }),
    since: Time,
    until: Time,
    step_s: z.number().int().positive(),
    source: z.enum(['raw', 'hourly']).meta({ description: '`raw`: hop measurements; `hourly`: the hourly rollup (ranges of two days or more in whole-hour steps)' }),
    points: z.array(LinkSeriesPoint).meta({ description: 'Oldest first; buckets without measurements are absent' }),
  })
  .meta({ id: 'LinkSeries', description: 'LQ, NLQ and ETX of one link, bucketed' });
export type LinkSeries = z.infer<typeof LinkSeries>;
