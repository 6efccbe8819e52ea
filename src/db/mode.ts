import { sql } from 'kysely';
import type { Executor } from './database.ts';
import { isPreloaded, notPreloadedProblem } from './timescale.ts';
import { createTimescaleExtension, readTimescaleFacts, type TimescaleFacts } from './timescale.repository.ts';

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
 * Returns why it did not, for the start-up log. Throws a StartupProblem
 * (exit 2, no retry) when the server has the extension but does not preload
 * it: creating it would end the session with a FATAL error.
 */
export async function enableTimescale(db: Executor, known?: TimescaleFacts): Promise<{ enabled: boolean; reason?: string }> {
  const facts = known ?? (await readTimescaleFacts(db));
  if (facts.installed) return { enabled: true };
  if (facts.migrated) return { enabled: false, reason: 'schema was created without TimescaleDB' };
  if (!facts.available) return { enabled: false, reason: 'extension not installed on the server' };
  if (!isPreloaded(facts)) throw notPreloadedProblem(facts);
  try {
    await createTimescaleExtension(db);
    return { enabled: true };
  } catch (err) {
    // Preloading checked above can still be missed (a loader that defines no settings): same answer.
    if (/must be preloaded/i.test((err as Error).message ?? '')) throw notPreloadedProblem(facts);
    return { enabled: false, reason: (err as Error).message };
  }
}
