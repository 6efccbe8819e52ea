import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export type RollupSource = 'path_probe' | 'hop_quality';

// date_bin from this origin puts hours exactly where time_bucket puts them.
const ORIGIN = sql`TIMESTAMPTZ '2000-01-01 00:00:00+00'`;

export async function getWatermark(db: Executor, name: string): Promise<Date | null> {
  const row = await db.selectFrom('rollup_watermark').select('received_through').where('name', '=', name).executeTakeFirst();
  return row?.received_through ?? null;
}

export async function setWatermark(db: Executor, name: string, receivedThrough: Date, at: Date): Promise<void> {
  await db
    .insertInto('rollup_watermark')
    .values({ name, received_through: receivedThrough, updated_at: at })
    .onConflict((oc) => oc.column('name').doUpdateSet({ received_through: receivedThrough, updated_at: at }))
    .execute();
}

export async function listWatermarks(db: Executor) {
  return db.selectFrom('rollup_watermark').selectAll().orderBy('name').execute();
}

/**
 * The hours holding rows received in (after, through], not older than
 * `notBefore`. The BRIN index on received_at keeps this from reading every row.
 */
export async function touchedHours(db: Executor, source: RollupSource, after: Date | null, through: Date, notBefore: Date): Promise<Date[]> {
  const lower = after ? sql`${after}::timestamptz` : sql`'-infinity'::timestamptz`;
  const { rows } = await sql<{ hour: Date }>`
    SELECT DISTINCT date_bin(interval '1 hour', time, ${ORIGIN}) AS hour
    FROM ${sql.table(source)}
    WHERE received_at > ${lower} AND received_at <= ${through} AND time >= ${notBefore}
    ORDER BY 1`.execute(db);
  return rows.map((r) => r.hour);
}

/** Recomputes whole hours of path_probe_hourly from the raw rows (late rows included). */
export async function reaggregatePathHours(db: Executor, hours: Date[]): Promise<number> {
  if (!hours.length) return 0;
  const { from, to, list } = span(hours);
  const r = await sql`
    INSERT INTO path_probe_hourly AS h (bucket, src, dst, rtt_ms_avg, jitter_ms_p95, loss_pct_avg, loss_pct_max, windows)
    SELECT date_bin(interval '1 hour', time, ${ORIGIN}) AS bucket, src, dst,
           avg(rtt_ms), meshmon_p95(jitter_ms), avg(loss_pct), max(loss_pct), count(*)
    FROM path_probe
    WHERE time >= ${from} AND time < ${to}
      AND date_bin(interval '1 hour', time, ${ORIGIN}) = ANY (${list}::timestamptz[])
    GROUP BY 1, 2, 3
    ON CONFLICT (src, dst, bucket) DO UPDATE SET
      rtt_ms_avg = excluded.rtt_ms_avg, jitter_ms_p95 = excluded.jitter_ms_p95,
      loss_pct_avg = excluded.loss_pct_avg, loss_pct_max = excluded.loss_pct_max,
      windows = excluded.windows`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Recomputes whole hours of hop_quality_hourly from the raw rows. */
export async function reaggregateHopHours(db: Executor, hours: Date[]): Promise<number> {
  if (!hours.length) return 0;
  const { from, to, list } = span(hours);
  const r = await sql`
    INSERT INTO hop_quality_hourly AS h (bucket, from_node, to_node, lq_avg, nlq_avg, etx_avg, samples)
    SELECT date_bin(interval '1 hour', time, ${ORIGIN}) AS bucket, from_node, to_node,
           avg(lq), avg(nlq), avg(etx), count(*)
    FROM hop_quality
    WHERE time >= ${from} AND time < ${to}
      AND date_bin(interval '1 hour', time, ${ORIGIN}) = ANY (${list}::timestamptz[])
    GROUP BY 1, 2, 3
    ON CONFLICT (from_node, to_node, bucket) DO UPDATE SET
      lq_avg = excluded.lq_avg, nlq_avg = excluded.nlq_avg, etx_avg = excluded.etx_avg,
      samples = excluded.samples`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

function span(hours: Date[]) {
  const ms = hours.map((h) => h.getTime());
  const from = new Date(Math.min(...ms));
  const to = new Date(Math.max(...ms) + 3_600_000);
  // pg serialises a JS array of Dates as a PostgreSQL array literal.
  return { from, to, list: hours.map((h) => h.toISOString()) };
}
