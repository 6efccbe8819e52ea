import type pg from 'pg';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { createDatabase, createPool, isDatabaseUnavailable, type Database } from './database.ts';
import type { EmbeddedServer } from './embedded.ts';
import { StartupProblem } from '../startup-problem.ts';

export interface OpenDatabase {
  db: Database;
  pool: pg.Pool;
  url: string;
  embedded: EmbeddedServer | null;
  close(): Promise<void>;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL in DATA_DIR. */
export async function openDatabase(config: Config, log: Logger, opts: { poolSize?: number; applicationName?: string } = {}): Promise<OpenDatabase> {
  let embedded: EmbeddedServer | null = null;
  let url = config.DATABASE_URL;
  if (!url) {
    const { startEmbedded } = await import('./embedded.ts');
    embedded = await startEmbedded({ dataDir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT, log });
    url = embedded.url;
  }
  const pool = createPool({ url, max: opts.poolSize ?? config.DATABASE_POOL_SIZE, log, applicationName: opts.applicationName ?? 'meshmon' });
  const db = createDatabase(pool);
  return {
    db,
    pool,
    url,
    embedded,
    close: async () => {
      // The pool first: the embedded server waits for its clients to leave.
      // A client that is never released (a job stuck in a query) would hold
      // pool.end() forever; the server's stop ends those sessions anyway.
      await Promise.race([db.destroy().catch(() => {}), Bun.sleep(5_000)]);
      await embedded?.stop();
    },
  };
}

/**
 * Runs `fn` until it stops failing with "database unavailable" or `timeoutMs`
 * has passed. After a reboot the collector may start before its database
 * accepts connections ("the database system is starting up"); anything else
 * (bad password, failed migration) fails at once. A StartupProblem is
 * permanent by definition (e.g. TimescaleDB not preloaded, whose FATAL would
 * otherwise look like a lost connection): never retried.
 */
export async function retryWhileUnavailable<T>(fn: () => Promise<T>, opts: { timeoutMs: number; log: Logger; what: string }): Promise<T> {
  const until = Date.now() + opts.timeoutMs;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StartupProblem || !isDatabaseUnavailable(err) || Date.now() + delay > until) throw err;
      opts.log.warn(`database not reachable for ${opts.what}; retrying`, { attempt, retry_in_ms: delay, err: (err as Error).message });
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }
}
