import { ConfigError, loadConfig } from '../config.ts';
import { createLogger, stderrSink } from '../log.ts';
import { openDatabase, retryWhileUnavailable, type OpenDatabase } from './connect.ts';
import { migrateToLatest } from './migrate.ts';
import { StartupProblem } from '../startup-problem.ts';

/** `meshmon migrate`: prints one JSON line (mode, versions, applied migrations) on stdout; logs go to stderr. */
export async function run(_args: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`meshmon: ${err.message}`); return 2; }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL, stderrSink);
  let database: OpenDatabase | null = null;
  try {
    database = await openDatabase(config, log, { poolSize: 2, applicationName: 'meshmon-migrate' });
    const db = database.db;
    const info = await retryWhileUnavailable(
      () => migrateToLatest(db, { timescaledb: config.TIMESCALEDB, log }),
      { timeoutMs: config.DATABASE_STARTUP_TIMEOUT * 1000, log, what: 'migrations' },
    );
    console.log(JSON.stringify({ mode: info.mode, version: info.version, timescaledb: info.timescaledb, applied: info.applied }));
    return 0;
  } catch (err) {
    if (err instanceof StartupProblem) {
      process.stderr.write(`${err.describe('meshmon migrate')}\n`);
      return err.exitCode;
    }
    log.error('migration failed', { err: (err as Error).message });
    return 1;
  } finally {
    await database?.close();
  }
}
