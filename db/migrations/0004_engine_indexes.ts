import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// Indexes for the Issue Engine's per-tick reads (src/engine/signals.repository.ts):
// - the windows over a jitter/loss threshold of the last hour or so, read
//   every tick by every path-based rule: a partial index keeps that read to
//   the few notable rows instead of every window of the hour. Its predicate
//   sits below the default thresholds; the engine names it in its query
//   whenever the configured thresholds are at least these.
// - agent CPU over 50 % (node_overload), partial for the same reason.
// - hop samples that look like an RF drop (LQ or NLQ under 0.7, or a Babel
//   hop with ETX of 1.5 or more): rf_drop only looks closer at those links.
// - a node's own windows by time (agent_silent's report history, CPU samples
//   of one node): the (src, dst, time) key cannot range over time for a src.
// Plain CREATE INDEX works alike on tables and hypertables (per chunk).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX IF NOT EXISTS path_probe_notable ON path_probe (time DESC) WHERE jitter_ms > 20 OR loss_pct > 1`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS path_probe_busy_cpu ON path_probe (time DESC) WHERE agent_cpu_pct > 50`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS path_probe_src_time ON path_probe (src, time DESC)`.execute(db);
  await sql`
    CREATE INDEX IF NOT EXISTS hop_quality_weak ON hop_quality (time DESC)
    WHERE lq < 0.7 OR nlq < 0.7 OR (lq IS NULL AND nlq IS NULL AND etx >= 1.5)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS path_probe_notable, path_probe_busy_cpu, path_probe_src_time, hop_quality_weak`.execute(db);
}
