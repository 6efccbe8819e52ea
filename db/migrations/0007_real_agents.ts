import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// What the field agent needs (issue 11):
//
// - node_addresses: mesh addresses and the node names they belong to, learnt
//   from probes that carry both (a named destination whose hop list ends at
//   an address) or from the mesh's reverse DNS. rekeyed_at trails updated_at
//   until the rows recorded under the address have been moved to the name.
// - ingest_volume / ingest_drops: per node, per 5-minute bucket of receive
//   time, how many new measurements of each kind arrived, how many of them
//   were dropped or stored without a part, and the drops by reason. Aggregated
//   so they stay small whatever an agent sends; retention prunes them.
// - ingest_clock_ledger replaces ingest_skew_ledger (0002): the same idea
//   (a row stored at a corrected time is keyed on the agent's own time, so its
//   retry or repeat is recognised whatever the offset was then), with the
//   series as columns instead of one "src dst idx" string, so renaming an
//   address to its node name can follow it, and with the receive time, which
//   is what decides how long an entry is needed (a retry comes soon after).
// All plain tables in every mode: small, and keyed on what is not time.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE node_addresses (
      address     text PRIMARY KEY,
      node        text NOT NULL,
      source      text NOT NULL CHECK (source IN ('probe', 'dns')),
      learned_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      rekeyed_at  timestamptz
    )`.execute(db);
  await sql`CREATE INDEX node_addresses_pending ON node_addresses (updated_at) WHERE rekeyed_at IS NULL OR rekeyed_at < updated_at`.execute(db);

  await sql`
    CREATE TABLE ingest_volume (
      node          text NOT NULL,
      bucket        timestamptz NOT NULL,
      kind          text NOT NULL CHECK (kind IN ('path', 'hop', 'health', 'crash')),
      measurements  integer NOT NULL,
      affected      integer NOT NULL,
      last_at       timestamptz NOT NULL,
      PRIMARY KEY (node, bucket, kind)
    )`.execute(db);
  await sql`CREATE INDEX ingest_volume_bucket ON ingest_volume (bucket)`.execute(db);

  await sql`
    CREATE TABLE ingest_drops (
      node     text NOT NULL,
      bucket   timestamptz NOT NULL,
      reason   text NOT NULL,
      drops    integer NOT NULL,
      last_at  timestamptz NOT NULL,
      PRIMARY KEY (node, bucket, reason)
    )`.execute(db);
  await sql`CREATE INDEX ingest_drops_bucket ON ingest_drops (bucket)`.execute(db);

  await sql`
    CREATE TABLE ingest_clock_ledger (
      tbl          text NOT NULL,
      src          text NOT NULL,
      dst          text NOT NULL DEFAULT '',
      hop_index    smallint NOT NULL DEFAULT 0,
      sent_at      timestamptz NOT NULL,
      received_at  timestamptz NOT NULL,
      PRIMARY KEY (tbl, src, dst, hop_index, sent_at)
    )`.execute(db);
  await sql`CREATE INDEX ingest_clock_ledger_received ON ingest_clock_ledger (received_at)`.execute(db);
  // Node names never hold spaces, so the old series strings split cleanly.
  await sql`
    INSERT INTO ingest_clock_ledger (tbl, src, dst, hop_index, sent_at, received_at)
    SELECT tbl, split_part(series, ' ', 1), split_part(series, ' ', 2),
           COALESCE(NULLIF(split_part(series, ' ', 3), ''), '0')::smallint, sent_at, time
    FROM ingest_skew_ledger
    ON CONFLICT DO NOTHING`.execute(db);
  await sql`DROP TABLE ingest_skew_ledger`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE IF NOT EXISTS ingest_skew_ledger (
      tbl      text NOT NULL,
      series   text NOT NULL,
      sent_at  timestamptz NOT NULL,
      time     timestamptz NOT NULL,
      PRIMARY KEY (tbl, series, sent_at)
    )`.execute(db);
  await sql`CREATE INDEX IF NOT EXISTS ingest_skew_ledger_time ON ingest_skew_ledger (time)`.execute(db);
  await sql`
    INSERT INTO ingest_skew_ledger (tbl, series, sent_at, time)
    SELECT tbl, concat_ws(' ', src, NULLIF(dst, ''), CASE WHEN tbl = 'hop_quality' THEN hop_index::text END), sent_at, received_at
    FROM ingest_clock_ledger
    ON CONFLICT DO NOTHING`.execute(db);
  for (const t of ['ingest_clock_ledger', 'ingest_drops', 'ingest_volume', 'node_addresses']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(t)}`.execute(db);
  }
}