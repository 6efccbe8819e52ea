import { sql } from 'kysely';
import type { Database, Executor } from '../db/database.ts';

export async function databaseSize(db: Executor): Promise<number> {
  const { rows } = await sql<{ size: number }>`SELECT pg_database_size(current_database())::bigint AS size`.execute(db);
  return Number(rows[0]?.size ?? 0);
}

/**
 * Can the database write now? Run only after a write failed, to notice
 * promptly when it can again: a sort made to spill to a temporary file
 * (ENOSPC → 53100 disk_full), and an UPDATE that touches no row but is
 * refused by a read-only server (25006). Nothing is kept: the transaction
 * writes no row and the temporary file is removed.
 */
export async function writeProbe(db: Database): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`SET LOCAL work_mem = '64kB'`.execute(trx);
    await sql`SELECT count(*) FROM (SELECT g FROM generate_series(1, 10000) AS g ORDER BY g DESC OFFSET 0) AS s`.execute(trx);
    await sql`UPDATE job_state SET name = name WHERE false`.execute(trx);
  });
}
