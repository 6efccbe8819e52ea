import { sql, type RawBuilder } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { DatabaseMode } from '../db/mode.ts';

// Reads of hop_quality for the API: one link's LQ/NLQ/ETX, bucketed. A link
// is undirected; its hops are stored in the direction they were measured, so
// both directions are read (each through hop_quality_link) and the b→a ones
// turned around: LQ from b is NLQ from a.

export interface LinkRef {
  /** a < b */
  a: string;
  b: string;
}

export interface LinkPointRow {
  t: string;
  samples: number;
  lq: number | null;
  nlq: number | null;
  lq_min: number | null;
  etx: number | null;
  etx_max: number | null;
}

const iso = (e: RawBuilder<unknown>) => sql<string>`to_char(${e} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const r3 = (e: RawBuilder<unknown>) => sql`round((${e})::float8 * 1000) / 1000`;
const EPOCH = sql`TIMESTAMPTZ '1970-01-01 00:00:00+00'`;

function bucket(mode: DatabaseMode, stepS: number, col: RawBuilder<unknown>) {
  const width = sql`make_interval(secs => ${stepS})`;
  return mode === 'none' ? sql`date_bin(${width}, ${col}, ${EPOCH})` : sql`time_bucket(${width}, ${col}, ${EPOCH})`;
}

/** One link's points over [since, until) in buckets of stepS, from raw hops or from hop_quality_hourly (`rollupFrom` set). */
export async function linkSeries(
  db: Executor,
  mode: DatabaseMode,
  l: LinkRef,
  range: { since: Date; until: Date; stepS: number; rollupFrom: Date | null },
): Promise<LinkPointRow[]> {
  const { since, until, stepS, rollupFrom } = range;
  const body = rollupFrom
    ? sql`
      WITH h AS (
        SELECT bucket AS time, lq_avg AS lq, nlq_avg AS nlq, etx_avg AS etx, samples FROM hop_quality_hourly
         WHERE from_node = ${l.a} AND to_node = ${l.b} AND bucket >= ${rollupFrom} AND bucket < ${until}
        UNION ALL
        SELECT bucket, nlq_avg, lq_avg, etx_avg, samples FROM hop_quality_hourly
         WHERE from_node = ${l.b} AND to_node = ${l.a} AND bucket >= ${rollupFrom} AND bucket < ${until})
      SELECT ${bucket(mode, stepS, sql.ref('time'))} AS t, sum(samples)::int AS samples,
             sum(lq * samples) / nullif(sum(samples) FILTER (WHERE lq IS NOT NULL), 0) AS lq,
             sum(nlq * samples) / nullif(sum(samples) FILTER (WHERE nlq IS NOT NULL), 0) AS nlq,
             NULL::float8 AS lq_min,
             sum(etx * samples) / nullif(sum(samples) FILTER (WHERE etx IS NOT NULL), 0) AS etx,
             NULL::float8 AS etx_max
      FROM h GROUP BY 1`
    : sql`
      WITH h AS (
        SELECT time, lq, nlq, etx FROM hop_quality
         WHERE from_node = ${l.a} AND to_node = ${l.b} AND time >= ${since} AND time < ${until}
        UNION ALL
        SELECT time, nlq, lq, etx FROM hop_quality
         WHERE from_node = ${l.b} AND to_node = ${l.a} AND time >= ${since} AND time < ${until})
      SELECT ${bucket(mode, stepS, sql.ref('time'))} AS t, count(*)::int AS samples,
             avg(lq) AS lq, avg(nlq) AS nlq, min(least(lq, nlq)) AS lq_min, avg(etx) AS etx, max(etx) AS etx_max
      FROM h GROUP BY 1`;
  const { rows } = await sql<{ points: LinkPointRow[] }>`
    SELECT coalesce(json_agg(json_build_object(
             't', ${iso(sql.ref('b.t'))}, 'samples', b.samples,
             'lq', ${r3(sql.ref('b.lq'))}, 'nlq', ${r3(sql.ref('b.nlq'))}, 'lq_min', ${r3(sql.ref('b.lq_min'))},
             'etx', ${r3(sql.ref('b.etx'))}, 'etx_max', ${r3(sql.ref('b.etx_max'))}) ORDER BY b.t), '[]') AS points
    FROM (${body}) b`.execute(db);
  return rows[0]!.points;
}
