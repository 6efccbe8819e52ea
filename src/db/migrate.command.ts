import { runCommand } from '../command.ts';
import { StartupProblem } from '../startup-problem.ts';
import { retryWhileUnavailable } from './connect.ts';
import { migrateToLatest } from './migrate.ts';

const USAGE = `usage: meshmon migrate

Brings the database schema up to date and exits; prints one JSON line (mode,
versions, applied migrations) on stdout, logs on stderr. Works while the
collector runs: with the embedded database it uses the collector's running
server (the command must run as the collector's user, who can read
DATA_DIR/postgres-password); migrations take an advisory lock, so a collector
starting at the same time waits for them.`;

/** `meshmon migrate`. */
export function run(args: string[]): Promise<number> {
  return runCommand({ name: 'migrate', usage: USAGE, options: {}, logLevel: (config) => config!.LOG_LEVEL }, args, async ({ config, log, database: open }) => {
    const { db } = await open();
    try {
      const info = await retryWhileUnavailable(
        () => migrateToLatest(db, { timescaledb: config.TIMESCALEDB, log }),
        { timeoutMs: config.DATABASE_STARTUP_TIMEOUT * 1000, log, what: 'migrations' },
      );
      console.log(JSON.stringify({ mode: info.mode, version: info.version, timescaledb: info.timescaledb, applied: info.applied }));
      return 0;
    } catch (err) {
      if (err instanceof StartupProblem) throw err;
      log.error('migration failed', { err: (err as Error).message });
      return 1;
    }
  });
}
