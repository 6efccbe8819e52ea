import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DatabaseMode } from '../db/mode.ts';

// Reads of path_probe for the API: the bucketed series of one route with its
// route changes, and an incident's hop lists and window statistics. Every
// query is bounded by (src, dst) and a time range, so it walks path_probe_key.
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
const r3 = (e: RawBuilder<unknown>) => sql`round((${e})::numeric, 3)::float8`;

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

export interface HopListRow {
  src: string;
  dst: string;
  hops: string[];
  windows: number;
  first_seen: string;
  last_seen: string;
}

export interface WindowStats {
  windows: number;
  bad_windows: number;
  bursts: number;
  longest_bad_run: number;
}

/**
 * For an incident's drawer, over [from, to]: the distinct hop lists of each
 * route (most used first), and how the bad windows (jitter or loss over the
 * thresholds) of the judged routes are spread — counts, runs of consecutive
 * bad windows per route (gaps and islands), the longest run.
 */
// Parameterless, so plain text: compiled fragments cost CPU on every request.
const HOP_LIST_JSON = sql.raw(
  `json_build_object('src', src, 'dst', dst, 'hops', route, 'windows', windows, ` +
    `'first_seen', to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), ` +
    `'last_seen', to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`,
);

export async function routeEvidence(
  db: Executor,
  routes: Array<RouteRef & { judged: boolean }>,
  from: Date,
  to: Date,
  thresholds: { jitter_ms: number; loss_pct: number },
): Promise<{ hop_lists: HopListRow[]; stats: WindowStats }> {
  if (!routes.length) return { hop_lists: [], stats: { windows: 0, bad_windows: 0, bursts: 0, longest_bad_run: 0 } };
  const { rows } = await sql<{ hop_lists: HopListRow[]; stats: WindowStats }>`
    WITH w AS (
      SELECT p.src, p.dst, p.time, p.route, r.judged,
             (coalesce(p.jitter_ms, 0) > ${thresholds.jitter_ms} OR coalesce(p.loss_pct, 0) > ${thresholds.loss_pct}) AS bad
      FROM unnest(${routes.map((r) => r.src)}::text[], ${routes.map((r) => r.dst)}::text[], ${routes.map((r) => r.judged)}::bool[]) AS r(src, dst, judged)
      JOIN path_probe p ON p.src = r.src AND p.dst = r.dst AND p.time >= ${from} AND p.time <= ${to}
    ), hl AS (
      SELECT src, dst, route, count(*)::int AS windows, min(time) AS first_seen, max(time) AS last_seen
      FROM w WHERE cardinality(route) > 0
      GROUP BY src, dst, route
    ), runs AS (
      SELECT bad, count(*) AS len
      FROM (
        SELECT src, dst, bad,
               row_number() OVER (PARTITION BY src, dst ORDER BY time)
             - row_number() OVER (PARTITION BY src, dst, bad ORDER BY time) AS grp
        FROM w WHERE judged
      ) g
      GROUP BY src, dst, bad, grp
    )
    SELECT
      (SELECT coalesce(json_agg(${HOP_LIST_JSON} ORDER BY src, dst, windows DESC, last_seen DESC), '[]') FROM hl) AS hop_lists,
      (SELECT json_build_object(
                'windows', coalesce(sum(len), 0)::int,
                'bad_windows', coalesce(sum(len) FILTER (WHERE bad), 0)::int,
                'bursts', count(*) FILTER (WHERE bad),
                'longest_bad_run', coalesce(max(len) FILTER (WHERE bad), 0))
         FROM runs) AS stats`.execute(db);
  return rows[0]!;
}
