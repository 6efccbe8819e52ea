import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export async function serverInfo(db: Executor): Promise<{ major: number; version: string; database: string; timescaledb: string | null; available: string | null }> {
  const { rows } = await sql<{ num: string; version: string; database: string; ext: string | null; available: string | null }>`
    SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
           current_database() AS database,
           (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ext,
           (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS available`.execute(db);
  const r = rows[0]!;
  return { major: Math.floor(Number(r.num) / 10_000), version: r.version, database: r.database, timescaledb: r.ext, available: r.available };
}

/**
 * Relations in the public schema that no extension owns: a database where
 * the collector (or anything else) created tables is not empty. The
 * timescaledb extension itself, which the image creates, does not count.
 */
export async function userRelationCount(db: Executor): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`.execute(db);
  return rows[0]!.n;
}

/** Other client sessions on this database (a running collector), by application name. */
export async function otherSessions(db: Executor): Promise<Array<{ application: string; count: number }>> {
  const { rows } = await sql<{ application: string; count: number }>`
    SELECT COALESCE(NULLIF(application_name, ''), '(unnamed)') AS application, count(*)::int AS count
    FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
    GROUP BY 1 ORDER BY 1`.execute(db);
  return rows;
}

/**
 * Empties the database for --force: everything in public, and TimescaleDB
 * with its catalog (a restore brings both back). Must not run in a
 * transaction with the restore: pg_restore uses its own sessions.
 */
export async function wipeDatabase(db: Executor, major: number): Promise<void> {
  await sql`DROP SCHEMA public CASCADE`.execute(db);
  await sql`DROP EXTENSION IF EXISTS timescaledb CASCADE`.execute(db);
  // As initdb creates it (PostgreSQL 15 changed the owner and the grants).
  if (major >= 15) await sql`CREATE SCHEMA public AUTHORIZATION pg_database_owner`.execute(db);
  else await sql`CREATE SCHEMA public`.execute(db);
  await sql.raw(major >= 15 ? 'GRANT USAGE ON SCHEMA public TO PUBLIC' : 'GRANT ALL ON SCHEMA public TO PUBLIC').execute(db);
}

export async function createTimescaleExtension(db: Executor): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
}

/** Stops TimescaleDB's background jobs and catalog triggers while pg_restore writes its catalog back. */
export async function timescalePreRestore(db: Executor): Promise<void> {
  await sql`SELECT timescaledb_pre_restore()`.execute(db);
}

export async function timescalePostRestore(db: Executor): Promise<void> {
  await sql`SELECT timescaledb_post_restore()`.execute(db);
}

export async function appliedMigrations(db: Executor): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT name FROM kysely_migration ORDER BY name`.execute(db).catch(() => ({ rows: [] as Array<{ name: string }> }));
  return rows.map((r) => r.name);
}
