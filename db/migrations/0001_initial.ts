import { sql, type Kysely } from 'kysely';

// Frozen: this file describes the schema as it was first released. Never import
// app code here; later changes are new migrations.
//
// The migration reads what the database offers itself: the collector creates
// the timescaledb extension beforehand when it wants it (TIMESCALEDB=auto).

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

  await sql`
    CREATE TABLE nodes (
      node              text PRIMARY KEY,
      first_seen        timestamptz NOT NULL,
      last_seen         timestamptz NOT NULL,
      last_received_at  timestamptz NOT NULL,
      last_type         text,
      agent_version     text,
      routing_daemon    text,
      hardware_model    text,
      firmware_version  text,
      grid_square       text,
      lat               double precision,
      lon               double precision,
      clock_skew_s      double precision,
      skew_flagged_at   timestamptz,
      extra             jsonb NOT NULL DEFAULT '{}'::jsonb
    )`.execute(db);

  // time: the window's trusted time (sent_at, or received_at when the agent's
  // clock ran too far ahead); sent_at keeps what the agent said.
  await sql`
    CREATE TABLE path_probe (
      time          timestamptz NOT NULL,
      src           text NOT NULL,
      dst           text NOT NULL,
      route         text[] NOT NULL DEFAULT '{}',
      rtt_ms        double precision,
      jitter_ms     double precision,
      loss_pct      double precision,
      window_s      smallint NOT NULL DEFAULT 5,
      sent_at       timestamptz NOT NULL,
      received_at   timestamptz NOT NULL,
      clock_skew_s  double precision,
      source        text NOT NULL DEFAULT 'path_result',
      agent_version text,
      agent_cpu_pct double precision,
      agent_mem_mb  double precision,
      extra         jsonb
    )`.execute(db);

  await sql`
    CREATE TABLE hop_quality (
      time          timestamptz NOT NULL,
      src           text NOT NULL,
      dst           text NOT NULL,
      hop_index     smallint NOT NULL,
      from_node     text NOT NULL,
      to_node       text NOT NULL,
      lq            double precision,
      nlq           double precision,
      etx           double precision,
      link_type     text,
      rtt_ms        double precision,
      sent_at       timestamptz NOT NULL,
      received_at   timestamptz NOT NULL,
      clock_skew_s  double precision,
      extra         jsonb
    )`.execute(db);

  await sql`
    CREATE TABLE agent_health (
      time            timestamptz NOT NULL,
      node            text NOT NULL,
      cpu_pct         double precision,
      mem_mb          double precision,
      queue_len       integer,
      neighbors_seen  integer,
      sent_at         timestamptz NOT NULL,
      received_at     timestamptz NOT NULL,
      clock_skew_s    double precision,
      extra           jsonb
    )`.execute(db);

  await sql`
    CREATE TABLE crash_report (
      time                  timestamptz NOT NULL,
      node                  text NOT NULL,
      crash_time            timestamptz,
      signal                integer,
      signal_name           text,
      reason                text,
      restart_count         integer,
      uptime_before_crash   bigint,
      sent_at               timestamptz NOT NULL,
      received_at           timestamptz NOT NULL,
      clock_skew_s          double precision,
      extra                 jsonb,
      PRIMARY KEY (node, time)
    )`.execute(db);

  if (f.hypertables) {
    for (const t of ['path_probe', 'hop_quality', 'agent_health']) {
      await sql`SELECT create_hypertable(${t}::regclass, 'time', chunk_time_interval => interval '1 day', if_not_exists => true)`.execute(db);
    }
  }

  // The keys that make a retried POST a no-op (ON CONFLICT DO NOTHING).
  await sql`CREATE UNIQUE INDEX path_probe_key ON path_probe (src, dst, time)`.execute(db);
  await sql`CREATE UNIQUE INDEX hop_quality_key ON hop_quality (src, dst, hop_index, time)`.execute(db);
  await sql`CREATE UNIQUE INDEX agent_health_key ON agent_health (node, time)`.execute(db);
  await sql`CREATE INDEX hop_quality_link ON hop_quality (from_node, to_node, time DESC)`.execute(db);
  if (!f.hypertables) {
    // Rules read "everything in the last hour" and retention deletes by age:
    // time first. create_hypertable adds the same index itself.
    await sql`CREATE INDEX path_probe_time ON path_probe (time DESC)`.execute(db);
    await sql`CREATE INDEX hop_quality_time ON hop_quality (time DESC)`.execute(db);
    await sql`CREATE INDEX agent_health_time ON agent_health (time DESC)`.execute(db);
  }

  if (f.compression) {
    await sql`ALTER TABLE path_probe SET (timescaledb.compress, timescaledb.compress_segmentby = 'src, dst', timescaledb.compress_orderby = 'time DESC')`.execute(db);
    await sql`ALTER TABLE hop_quality SET (timescaledb.compress, timescaledb.compress_segmentby = 'src, dst, hop_index', timescaledb.compress_orderby = 'time DESC')`.execute(db);
    await sql`ALTER TABLE agent_health SET (timescaledb.compress, timescaledb.compress_segmentby = 'node', timescaledb.compress_orderby = 'time DESC')`.execute(db);
  }

  await sql`
    CREATE TABLE incidents (
      id            text PRIMARY KEY,
      kind          text NOT NULL,
      scope         jsonb NOT NULL,
      scope_key     text NOT NULL,
      status        text NOT NULL CHECK (status IN ('open', 'clearing', 'closed')),
      severity      text NOT NULL CHECK (severity IN ('minor', 'major', 'critical')),
      impact        jsonb NOT NULL DEFAULT '{}'::jsonb,
      cause         text NOT NULL DEFAULT '',
      next_steps    text[] NOT NULL DEFAULT '{}',
      evidence      jsonb NOT NULL DEFAULT '{}'::jsonb,
      nodes         text[] NOT NULL DEFAULT '{}',
      links         text[] NOT NULL DEFAULT '{}',
      routes        text[] NOT NULL DEFAULT '{}',
      started_at    timestamptz NOT NULL,
      ended_at      timestamptz,
      detected_at   timestamptz NOT NULL,
      updated_at    timestamptz NOT NULL,
      clear_since   timestamptz,
      last_data_at  timestamptz,
      parent_id     text REFERENCES incidents (id) ON DELETE SET NULL
    )`.execute(db);
  // At most one open incident per (kind, scope): the database enforces the rule.
  await sql`CREATE UNIQUE INDEX incidents_one_open ON incidents (kind, scope_key) WHERE ended_at IS NULL`.execute(db);
  await sql`CREATE INDEX incidents_started ON incidents (started_at DESC, id DESC)`.execute(db);
  await sql`CREATE INDEX incidents_ended ON incidents (ended_at)`.execute(db);
  await sql`CREATE INDEX incidents_parent ON incidents (parent_id) WHERE parent_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX incidents_nodes ON incidents USING gin (nodes)`.execute(db);
  await sql`CREATE INDEX incidents_links ON incidents USING gin (links)`.execute(db);
  await sql`CREATE INDEX incidents_routes ON incidents USING gin (routes)`.execute(db);

  await sql`
    CREATE TABLE incident_events (
      id           bigserial PRIMARY KEY,
      incident_id  text NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      at           timestamptz NOT NULL,
      event        text NOT NULL,
      detail       jsonb NOT NULL DEFAULT '{}'::jsonb
    )`.execute(db);
  await sql`CREATE INDEX incident_events_incident ON incident_events (incident_id, at)`.execute(db);

  // Last run of each scheduled job and each rule, readable by `meshmon status`
  // from another process.
  await sql`
    CREATE TABLE job_state (
      name             text PRIMARY KEY,
      last_run_at      timestamptz,
      last_success_at  timestamptz,
      last_result      text,
      last_error       text,
      duration_ms      double precision,
      details          jsonb NOT NULL DEFAULT '{}'::jsonb
    )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['job_state', 'incident_events', 'incidents', 'crash_report', 'agent_health', 'hop_quality', 'path_probe', 'nodes']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(t)} CASCADE`.execute(db);
  }
}
