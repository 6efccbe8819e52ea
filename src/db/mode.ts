import { sql } from 'kysely';
import type { Executor } from './database.ts';

/** What the database offers: `timescale` = community licence, `apache` = hypertables only, `none` = plain PostgreSQL. */
export type DatabaseMode = 'timescale' | 'apache' | 'none';

export interface DatabaseInfo {
  mode: DatabaseMode;
  /** server_version, e.g. "15.20 (Debian 15.20-0+deb12u1)" */
  version: string;
  /** TimescaleDB extension version when installed */
  timescaledb: string | null;
}

export async function detectDatabase(db: Executor): Promise<DatabaseInfo> {
  const { rows } = await sql<{ version: string; ext: string | null; license: string | null }>`
    SELECT current_setting('server_version') AS version,
           (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS ext,
           current_setting('timescaledb.license', true) AS license`.execute(db);
  const row = rows[0]!;
  if (row.ext && !row.license) {
    // The licence setting exists once the library is loaded; without
    // shared_preload_libraries (PGlite) that happens at the first call.
    await sql`SELECT time_bucket(interval '1 hour', now())`.execute(db);
    const again = await sql<{ license: string | null }>`SELECT current_setting('timescaledb.license', true) AS license`.execute(db);
    row.license = again.rows[0]!.license;
  }
  const mode: DatabaseMode = !row.ext ? 'none' : row.license === 'timescale' ? 'timescale' : 'apache';
  return { mode, version: row.version, timescaledb: row.ext };
}

/**
 * Creates the TimescaleDB extension when the server can load it — but only on a
 * database that MeshMon has not set up yet: a plain schema must never become a
 * half-hypertable one because the server gained the library later.
 * Returns why it did not, for the start-up log.
 */
export async function enableTimescale(db: Executor): Promise<{ enabled: boolean; reason?: string }> {
  const { rows: existing } = await sql<{ has: boolean; migrated: boolean }>`
    SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS has,
           to_regclass('public.path_probe') IS NOT NULL AS migrated`.execute(db);
  if (existing[0]!.has) return { enabled: true };
  if (existing[0]!.migrated) return { enabled: false, reason: 'schema was created without TimescaleDB' };
  const { rows: avail } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'timescaledb'`.execute(db);
  if (!avail[0]!.n) return { enabled: false, reason: 'extension not installed on the server' };
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
    return { enabled: true };
  } catch (err) {
    return { enabled: false, reason: (err as Error).message };
  }
}
