import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DatabaseMode } from '../db/mode.ts';

// Reads of path_probe for the API: the bucketed series of one route with its
// route changes (an incident's hop lists and window statistics are part of
// the drawer's statement, in issues.repository.ts). Every query is bounded by
// (src, dst) and a time range, so it walks path_probe_key.
//
// Each request is one round trip whose result PostgreSQL already shapes as
// JSON (times as ISO text, numbers rounded): on a Pi the driver's per-value
// parsing of a few thousand cells costs more than the query itself.

export interface RouteRef {
  src: string;
  dst: string;
}

/** Same text as Date.prototype.toISOString. */
const iso = (e: RawBuilder<unknown>) => sql<string>`to_char(${e} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
// Three decimals in float8, not numeric: a 24 h series rounds ~2,600 values and
// the numeric casts were 15 % of the statement's CPU. (float8 rounds half to
// even and sees 1.2345 as 1.23449…: a thousandth either way.)
const r3 = (e: RawBuilder<unknown>) => sql`round((${e})::float8 * 1000) / 1000`;

// Buckets start at multiples of the step from the Unix epoch in every mode,
// so the same data gives the same buckets with or without TimescaleDB.
const EPOCH = sql`TIMESTAMPTZ '1970-01-01 00:00:00+00'`;

function bucket(mode: DatabaseMode, stepS: number, col: RawBuilder<unknown>) {
  const width = sql`make_interval(secs => ${stepS})`;
  return mode === 'none' ? sql<Date>`date_bin(${width}, ${col}, ${EPOCH})` : sql<Date>`time_bucket(${width}, ${col}, ${EPOCH})`;
}

export interface SeriesPointRow {
  t: string;
  windows: number;
  rtt_ms: number | null;
  rtt_ms_max: number | null;
  jitter_ms: number | null;
  jitter_ms_p95: number | null;
  jitter_ms_max: number | null;
  loss_pct: number | null;
  loss_pct_max: number | null;
  route_changes: number;
}

export interface RouteChangeRow {
  at: string;
  from: string[];
  to: string[];
}

export interface SeriesResult {
  points: SeriesPointRow[];
  /** The latest `changesListed`, oldest first. */
  route_changes: RouteChangeRow[];
  route_changes_total: number;
}

/**
 * One route's series over [since, until) in buckets of stepS, from the raw
 * windows or from path_probe_hourly (migration 0003: a continuous aggregate
 * with real-time hours, or a table the rollup job refreshes). From the rollup,
 * hours are re-bucketed: means weighted by windows, a bucket's jitter p95 is
 * the worst of its hours' (a p95 of p95s does not exist), and the means and
 * maxima the rollup does not keep are null. `rollupFrom` is `since` floored to
 * the hour, as the rollup holds whole hours.
 *
 * Route changes always come from the raw windows: a window whose hop list
 * differs from the previous window's, both inside the range. Empty hop lists
 * (the agent could not read the route) are skipped: not knowing the route is
 * not a change of route.
 */
export async function routeSeries(
  db: Executor,
  mode: DatabaseMode,
  r: RouteRef,
  range: { since: Date; until: Date; stepS: number; rollupFrom: Date | null },
  changesListed: number,
): Promise<SeriesResult> {
  const { since, until, stepS, rollupFrom } = range;
  const raw = sql`
    SELECT time, rtt_ms, jitter_ms, loss_pct, route FROM path_probe
    WHERE src = ${r.src} AND dst = ${r.dst} AND time >= ${since} AND time < ${until}`;
  const buckets = rollupFrom
    ? sql`
      SELECT ${bucket(mode, stepS, sql.ref('bucket'))} AS t,
             sum(windows)::int AS windows,
             sum(rtt_ms_avg * windows) / nullif(sum(windows) FILTER (WHERE rtt_ms_avg IS NOT NULL), 0) AS rtt_ms,
             NULL::float8 AS rtt_ms_max,
             NULL::float8 AS jitter_ms,
             max(jitter_ms_p95) AS jitter_ms_p95,
             NULL::float8 AS jitter_ms_max,
             sum(loss_pct_avg * windows) / nullif(sum(windows) FILTER (WHERE loss_pct_avg IS NOT NULL), 0) AS loss_pct,
             max(loss_pct_max) AS loss_pct_max
      FROM path_probe_hourly
      WHERE src = ${r.src} AND dst = ${r.dst} AND bucket >= ${rollupFrom} AND bucket < ${until}
      GROUP BY 1`
    : sql`
      SELECT ${bucket(mode, stepS, sql.ref('time'))} AS t,
             count(*)::int AS windows,
             avg(rtt_ms) AS rtt_ms, max(rtt_ms) AS rtt_ms_max,
             avg(jitter_ms) AS jitter_ms,
             percentile_cont(0.95) WITHIN GROUP (ORDER BY jitter_ms) AS jitter_ms_p95,
             max(jitter_ms) AS jitter_ms_max,
             avg(loss_pct) AS loss_pct, max(loss_pct) AS loss_pct_max
      FROM w
      GROUP BY 1`;
  const { rows } = await sql<SeriesResult>`
    WITH w AS (${raw}),
    ch AS (
      SELECT time AS at, prev, route
      FROM (SELECT time, route, lag(route) OVER (ORDER BY time) AS prev FROM w WHERE cardinality(route) > 0) x
      WHERE prev IS NOT NULL AND route <> prev
    ),
    b AS (${buckets}),
    cb AS (SELECT ${bucket(mode, stepS, sql.ref('at'))} AS t, count(*)::int AS n FROM ch GROUP BY 1)
    SELECT
      (SELECT coalesce(json_agg(json_build_object(
                't', ${iso(sql.ref('b.t'))}, 'windows', b.windows,
                'rtt_ms', ${r3(sql.ref('b.rtt_ms'))}, 'rtt_ms_max', ${r3(sql.ref('b.rtt_ms_max'))},
                'jitter_ms', ${r3(sql.ref('b.jitter_ms'))}, 'jitter_ms_p95', ${r3(sql.ref('b.jitter_ms_p95'))},
                'jitter_ms_max', ${r3(sql.ref('b.jitter_ms_max'))},
                'loss_pct', ${r3(sql.ref('b.loss_pct'))}, 'loss_pct_max', ${r3(sql.ref('b.loss_pct_max'))},
                'route_changes', coalesce(cb.n, 0)) ORDER BY b.t), '[]')
         FROM b LEFT JOIN cb ON cb.t = b.t) AS points,
      (SELECT coalesce(json_agg(json_build_object('at', ${iso(sql.ref('l.at'))}, 'from', l.prev, 'to', l.route) ORDER BY l.at), '[]')
         FROM (SELECT * FROM ch ORDER BY at DESC LIMIT ${changesListed}) l) AS route_changes,
      (SELECT count(*)::int FROM ch) AS route_changes_total`.execute(db);
  return rows[0]!;
}
