import { z } from 'zod';
import { NodeName } from '../ingest/ingest.schema.ts';
import { Duration, IsoTime, paramIssue, queryObject } from './query.ts';

const Time = z.iso.datetime();

export const SeriesParams = z.object({
  src: NodeName.meta({ description: 'Source node of the route' }),
  dst: NodeName.meta({ description: 'Destination node of the route' }),
});

export const SeriesQuery = queryObject({
  since: IsoTime.optional().meta({ description: 'Start of the range (inclusive); default until − 24 h' }),
  until: IsoTime.optional().meta({ description: 'End of the range (exclusive); default now' }),
  step: Duration.optional().meta({
    description: 'Bucket width: `30s`, `5m`, `1h`, `1d` or seconds. Default: the smallest of 1m, 5m, 10m, 15m, 30m, 1h, 2h, 6h, 12h, 1d giving at most 300 buckets',
  }),
}).superRefine((q, ctx) => {
  if (q.since && q.until && q.since >= q.until) paramIssue(ctx, 'until', 'must be after since');
});
export type SeriesQuery = z.infer<typeof SeriesQuery>;

const Ms = z.number().nullable();

export const SeriesPoint = z
  .object({
    t: Time.meta({ description: 'Bucket start; buckets are aligned to multiples of the step from the Unix epoch' }),
    windows: z.number().int().nonnegative().meta({ description: 'Probe windows in the bucket' }),
    rtt_ms: Ms.meta({ description: 'Mean RTT' }),
    rtt_ms_max: Ms.meta({ description: 'Worst RTT (raw windows only; null from the hourly rollup)' }),
    jitter_ms: Ms.meta({ description: 'Mean jitter (raw windows only; null from the hourly rollup)' }),
    jitter_ms_p95: Ms.meta({ description: '95th percentile of jitter (from the rollup: the worst hourly p95 of the bucket)' }),
    jitter_ms_max: Ms.meta({ description: 'Worst jitter (raw windows only)' }),
    loss_pct: Ms.meta({ description: 'Mean loss, %' }),
    loss_pct_max: Ms.meta({ description: 'Worst loss, %' }),
    route_changes: z.number().int().nonnegative().meta({ description: 'Windows whose hop list differed from the previous window’s' }),
  })
  .meta({ id: 'SeriesPoint' });
export type SeriesPoint = z.infer<typeof SeriesPoint>;

export const RouteChange = z
  .object({
    at: Time,
    from: z.array(z.string()).meta({ description: 'Hop list before, src first' }),
    to: z.array(z.string()).meta({ description: 'Hop list from this window on' }),
  })
  .meta({ id: 'RouteChange' });

export const PathSeries = z
  .object({
    src: z.string(),
    dst: z.string(),
    route: z.string().meta({ description: '`SRC>DST`' }),
    since: Time,
    until: Time,
    step_s: z.number().int().positive(),
    source: z.enum(['raw', 'hourly']).meta({
      description: '`raw`: probe windows (path_probe); `hourly`: the hourly rollup, used for ranges of two days or more in whole-hour steps',
    }),
    points: z.array(SeriesPoint).meta({ description: 'Oldest first; buckets without windows are absent (missing data is not health)' }),
    route_changes: z.array(RouteChange).meta({ description: 'Oldest first, from raw windows; the latest 500 at most (see route_changes_total)' }),
    route_changes_total: z.number().int().nonnegative(),
  })
  .meta({ id: 'PathSeries', description: 'RTT, jitter, loss and route changes of one directed route, bucketed' });
export type PathSeries = z.infer<typeof PathSeries>;
