import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// The Issues panel's default list is the open incidents, newest first, and
// its header counts them by kind and severity (/summary). With only the
// (started_at, id) index, a healthy mesh — a handful open, months of closed
// history — makes every list request walk the whole history to find that
// there are no more open ones (an agent_silent on a decommissioned node stays
// open for good, and it is the oldest row); and the counts visit one heap page
// per open incident (rows are wide: evidence). Open incidents are few, so a
// partial index over them, carrying what the counts and the roots filter
// read, is small and answers both from the index alone.
// incidents is a plain table in every mode: no TimescaleDB check.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE INDEX IF NOT EXISTS incidents_open_started ON incidents (started_at DESC, id DESC)
    INCLUDE (kind, severity, parent_id) WHERE ended_at IS NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS incidents_open_started`.execute(db);
}
