import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config.ts';
import { openDatabase } from '../db/connect.ts';
import { createDatabase, createPool, type Database } from '../db/database.ts';
import { checkPasswordReadable, embeddedUrl, readEmbeddedPassword, runningServerPid } from '../db/embedded.ts';
import type { Logger } from '../log.ts';

export interface ToolDatabase {
  db: Database;
  pool: pg.Pool;
  url: string;
  /** 'url': DATABASE_URL; 'embedded-running': the collector's embedded server; 'embedded-started': started for this command. */
  source: 'url' | 'embedded-running' | 'embedded-started';
  /** A new pool on the same server; the old sessions are closed (restore needs sessions that never saw the old extension). */
  reconnect(): Promise<void>;
  close(): Promise<void>;
}

function onUrl(url: string, log: Logger, applicationName: string, source: ToolDatabase['source'], stop?: () => Promise<void>): ToolDatabase {
  const t: ToolDatabase = {
    db: null as never,
    pool: null as never,
    url,
    source,
    reconnect: async () => {
      await t.db.destroy().catch(() => {});
      t.pool = createPool({ url, max: 2, log, applicationName });
      t.db = createDatabase(t.pool);
    },
    close: async () => {
      await t.db.destroy().catch(() => {});
      await stop?.();
    },
  };
  t.pool = createPool({ url, max: 2, log, applicationName });
  t.db = createDatabase(t.pool);
  return t;
}

/**
 * The database an operator's command works on. With DATABASE_URL, that one.
 * Otherwise the embedded PostgreSQL in DATA_DIR: when a collector is running
 * it is already up and is used as is (starting it again would stop the
 * collector's server); when not, it is started for the command and stopped
 * afterwards.
 */
export async function openToolDatabase(config: Config, log: Logger, applicationName: string): Promise<ToolDatabase> {
  if (config.DATABASE_URL) return onUrl(config.DATABASE_URL, log, applicationName, 'url');
  checkPasswordReadable(config.DATA_DIR);
  const dir = path.resolve(config.DATA_DIR, 'postgres');
  if (runningServerPid(dir)) {
    const password = readEmbeddedPassword(config.DATA_DIR);
    return onUrl(embeddedUrl(runningPort(dir) ?? config.EMBEDDED_PG_PORT, password), log, applicationName, 'embedded-running');
  }
  const opened = await openDatabase(config, log, { poolSize: 1, applicationName });
  // Only the server is kept: the tool's own pool is made like the others.
  await opened.db.destroy().catch(() => {});
  return onUrl(opened.url, log, applicationName, 'embedded-started', async () => { await opened.embedded?.stop(); });
}

/** postmaster.pid's fourth line is the port the server listens on. */
export function runningPort(dir: string): number | null {
  try {
    const port = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[3]);
    return Number.isInteger(port) && port > 0 ? port : null;
  } catch {
    return null;
  }
}

/** The URL without its password (which goes to PGPASSWORD), so it never shows in `ps`. */
export function splitPassword(url: string): { url: string; password: string | undefined } {
  const u = new URL(url);
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = '';
  return { url: u.toString(), password };
}
