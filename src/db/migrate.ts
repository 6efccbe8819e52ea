import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { FileMigrationProvider, Migrator, type MigrationResult } from 'kysely/migration';
import type { Logger } from '../log.ts';
import { enableTimescale, detectDatabase, type DatabaseInfo } from './mode.ts';
import { isPreloaded, notPreloadedProblem } from './timescale.ts';
import { readTimescaleFacts } from './timescale.repository.ts';

export const MIGRATIONS_DIR = path.resolve(import.meta.dir, '../../db/migrations');
/** Arbitrary but fixed: every MeshMon process migrating this database takes the same lock. */
const MIGRATION_LOCK_KEY = 0x6d65_7368; // "mesh"

export interface MigrateOptions {
  /** `off` keeps plain tables even when the server has TimescaleDB. */
  timescaledb?: 'auto' | 'off';
  log?: Logger;
}

/**
 * Brings the schema up to date under a session-level advisory lock, so two
 * collectors starting against one empty database never run DDL concurrently:
 * the second waits, then finds nothing to do.
 */
export async function migrateToLatest(db: Kysely<any>, opts: MigrateOptions = {}): Promise<DatabaseInfo & { applied: string[] }> {
  return db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
    try {
      const facts = await readTimescaleFacts(conn);
      // Whatever TIMESCALEDB says: a database with the extension loads it at its first hypertable query.
      if (facts.installed && !isPreloaded(facts)) throw notPreloadedProblem(facts);
      if (opts.timescaledb !== 'off') {
        const res = await enableTimescale(conn, facts);
        if (!res.enabled) opts.log?.info('TimescaleDB not used', { reason: res.reason });
      }
      const migrator = new Migrator({
        db: conn,
        provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
        allowUnorderedMigrations: true,
      });
      const { error, results } = await migrator.migrateToLatest();
      const applied = (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw new Error(`migration ${failed ?? '(unknown)'} failed: ${(error as Error).message}`, { cause: error });
      }
      for (const name of applied) opts.log?.info('migration applied', { migration: name });
      const info = await detectDatabase(conn);
      return { ...info, applied };
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn).catch(() => {});
    }
  });
}
