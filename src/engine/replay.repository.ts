import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { IncidentRow } from '../incidents/incident.mapper.ts';

/** Every incident, open and closed, oldest first (ties by id so two runs print alike). */
export async function listAllIncidents(db: Executor): Promise<IncidentRow[]> {
  return db.selectFrom('incidents').selectAll().orderBy('started_at').orderBy('id').execute();
}

/** A replay must not mix its simulated incidents into a database that already has data. */
export async function hasMeshData(db: Executor): Promise<boolean> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.exists(eb.selectFrom('nodes').select('node')).as('nodes'),
      eb.exists(eb.selectFrom('incidents').select('id')).as('incidents'),
    ])
    .executeTakeFirstOrThrow();
  return Boolean(row.nodes) || Boolean(row.incidents);
}

/**
 * A replay database is thrown away afterwards: its commits (one per tick,
 * about 1,900 for a 5-hour recording) need not wait for the WAL flush. Set
 * for the replay's connection, and reset before it goes back to its pool.
 */
export async function relaxCommit(conn: Executor): Promise<void> {
  await sql`SET synchronous_commit = off`.execute(conn);
}

export async function restoreCommit(conn: Executor): Promise<void> {
  await sql`RESET synchronous_commit`.execute(conn);
}
