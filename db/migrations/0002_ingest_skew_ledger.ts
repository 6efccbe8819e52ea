import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// A message whose sent_at lies too far in the future is stored at its receive
// time, so a retry (received later) would get another `time` and slip past the
// (…, time) unique keys. This ledger keys such rows on what the agent said
// instead: one row per stored skewed measurement, so its retry is a duplicate.
// It is a plain table in every mode: a hypertable's unique index must contain
// its time column, which is exactly what differs between the two receipts.
// Only skewed rows land here, so it stays small; retention prunes it by `time`.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE ingest_skew_ledger (
      tbl      text NOT NULL,
      series   text NOT NULL,
      sent_at  timestamptz NOT NULL,
      time     timestamptz NOT NULL,
      PRIMARY KEY (tbl, series, sent_at)
    )`.execute(db);
  await sql`CREATE INDEX ingest_skew_ledger_time ON ingest_skew_ledger (time)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE IF EXISTS ingest_skew_ledger`.execute(db);
}
