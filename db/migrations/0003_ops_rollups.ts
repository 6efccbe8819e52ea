import { sql, type Kysely } from 'kysely';

// Frozen: hourly rollups and what the collector needs to maintain them.
// Never import app code here; later changes are new migrations.
//
// Community TimescaleDB gets continuous aggregates (refreshed and trimmed by
// native policies the collector creates at start-up, because their intervals
// come from the configuration). Apache-only TimescaleDB and plain PostgreSQL
// get tables with the same names and columns, refreshed by the collector.

async function features(db: Kysely<any>) {
  const { rows } = await sql<{ ext: boolean; license: string | null }>`
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS ext,
           current_setting('timescaledb.license', true) AS license`.execute(db);
  const r = rows[0]!;
  if (r.ext && !r.license) {
    // The licence setting appears once the library is loaded (first call when not preloaded).
    await sql`SELECT time_bucket(interval '1 hour', now())`.execute(db);
    const again = await sql<{ license: string | null }>`SELECT current_setting('timescaledb.license', true) AS license`.execute(db);
    r.license = again.rows[0]!.license;
  }
  return { hypertables: r.ext, compression: r.ext && r.license === 'timescale' };
}

export async function up(db: Kysely<any>): Promise<void> {
  const f = await features(db);

  // A real 95th percentile (linear interpolation, as percentile_cont) that a
  // continuous aggregate accepts: ordered-set aggregates are refused there and
  // the toolkit's sketches are not in the small image. The state is the
  // bucket's values; an hour of one route holds about a hundred windows.
  await sql`
    CREATE FUNCTION meshmon_p95_final(state double precision[]) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY v) FROM unnest(state) AS v
    $$`.execute(db);
  // Strict, so NULL inputs are skipped instead of stored in the state.
  await sql`
    CREATE FUNCTION meshmon_p95_accum(state double precision[], v double precision) RETURNS double precision[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT array_append(state, v) $$`.execute(db);
  await sql`
    CREATE AGGREGATE meshmon_p95(double precision) (
      SFUNC = meshmon_p95_accum,
      STYPE = double precision[],
      INITCOND = '{}',
      FINALFUNC = meshmon_p95_final,
      COMBINEFUNC = array_cat,
      PARALLEL = SAFE
    )`.execute(db);

  // How far the collector's incremental refresh has read, by receive time.
  await sql`
    CREATE TABLE rollup_watermark (
      name              text PRIMARY KEY,
      received_through  timestamptz NOT NULL,
      updated_at        timestamptz NOT NULL
    )`.execute(db);

  if (f.compression) {
    // materialized_only = false: the hours not yet materialized are computed
    // from the raw rows at read time, so readers never see a gap.
    await sql`
      CREATE MATERIALIZED VIEW path_probe_hourly
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(interval '1 hour', time) AS bucket,
             src, dst,
             avg(rtt_ms) AS rtt_ms_avg,
             meshmon_p95(jitter_ms) AS jitter_ms_p95,
             avg(loss_pct) AS loss_pct_avg,
             max(loss_pct) AS loss_pct_max,
             count(*) AS windows
      FROM path_probe
      GROUP BY 1, 2, 3
      WITH NO DATA`.execute(db);
    await sql`
      CREATE MATERIALIZED VIEW hop_quality_hourly
      WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
      SELECT time_bucket(interval '1 hour', time) AS bucket,
             from_node, to_node,
             avg(lq) AS lq_avg,
             avg(nlq) AS nlq_avg,
             avg(etx) AS etx_avg,
             count(*) AS samples
      FROM hop_quality
      GROUP BY 1, 2, 3
      WITH NO DATA`.execute(db);
    // Long series of one route or link read by key, then time.
    await sql`CREATE INDEX path_probe_hourly_route ON path_probe_hourly (src, dst, bucket DESC)`.execute(db);
    await sql`CREATE INDEX hop_quality_hourly_link ON hop_quality_hourly (from_node, to_node, bucket DESC)`.execute(db);
    return;
  }

  await sql`
    CREATE TABLE path_probe_hourly (
      bucket         timestamptz NOT NULL,
      src            text NOT NULL,
      dst            text NOT NULL,
      rtt_ms_avg     double precision,
      jitter_ms_p95  double precision,
      loss_pct_avg   double precision,
      loss_pct_max   double precision,
      windows        bigint NOT NULL,
      PRIMARY KEY (src, dst, bucket)
    )`.execute(db);
  await sql`
    CREATE TABLE hop_quality_hourly (
      bucket     timestamptz NOT NULL,
      from_node  text NOT NULL,
      to_node    text NOT NULL,
      lq_avg     double precision,
      nlq_avg    double precision,
      etx_avg    double precision,
      samples    bigint NOT NULL,
      PRIMARY KEY (from_node, to_node, bucket)
    )`.execute(db);
  if (f.hypertables) {
    // Ten-day chunks, as TimescaleDB gives a continuous aggregate over one-day
    // chunks: retention then removes the same whole blocks in every mode.
    for (const t of ['path_probe_hourly', 'hop_quality_hourly']) {
      await sql`SELECT create_hypertable(${t}::regclass, 'bucket', chunk_time_interval => interval '10 days', if_not_exists => true)`.execute(db);
    }
  } else {
    await sql`CREATE INDEX path_probe_hourly_bucket ON path_probe_hourly (bucket)`.execute(db);
    await sql`CREATE INDEX hop_quality_hourly_bucket ON hop_quality_hourly (bucket)`.execute(db);
  }

  // The incremental refresh finds the hours touched since its last run by
  // receive time. Rows arrive roughly in received_at order, so a BRIN index
  // (a few pages per table) answers that without a full scan.
  await sql`CREATE INDEX path_probe_received ON path_probe USING brin (received_at) WITH (autosummarize = on)`.execute(db);
  await sql`CREATE INDEX hop_quality_received ON hop_quality USING brin (received_at) WITH (autosummarize = on)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['path_probe_hourly', 'hop_quality_hourly']) {
    const { rows } = await sql<{ relkind: string }>`SELECT relkind FROM pg_class WHERE oid = to_regclass(${name})`.execute(db);
    const kind = rows[0]?.relkind;
    if (kind === 'v') await sql`DROP MATERIALIZED VIEW ${sql.table(name)} CASCADE`.execute(db);
    else if (kind) await sql`DROP TABLE ${sql.table(name)} CASCADE`.execute(db);
  }
  await sql`DROP TABLE IF EXISTS rollup_watermark`.execute(db);
  await sql`DROP INDEX IF EXISTS path_probe_received, hop_quality_received`.execute(db);
  await sql`DROP AGGREGATE IF EXISTS meshmon_p95(double precision)`.execute(db);
  await sql`DROP FUNCTION IF EXISTS meshmon_p95_accum(double precision[], double precision), meshmon_p95_final(double precision[])`.execute(db);
}
