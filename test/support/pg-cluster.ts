import { existsSync, readdirSync } from 'node:fs';
import { appendFile, chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from './free-port.ts';

/**
 * A throwaway PostgreSQL 15 cluster from the Debian packages (initdb/pg_ctl
 * in /usr/lib/postgresql/15/bin), on a free loopback port, in a temp
 * directory: what a Pi user gets from apt, without touching the shared
 * server on 5432. As root the cluster runs as `postgres` (runuser).
 * The TimescaleDB library is there when .ci/install-timescaledb.sh built it.
 */
export const PG15_BIN = '/usr/lib/postgresql/15/bin';
const PG15_LIB = '/usr/lib/postgresql/15/lib';

export function hasPg15(): boolean {
  return existsSync(path.join(PG15_BIN, 'initdb')) && existsSync(path.join(PG15_BIN, 'pg_ctl'));
}

export function hasTimescaleLibrary(): boolean {
  try {
    return hasPg15() && readdirSync(PG15_LIB).some((f) => /^timescaledb(-[\d.]+)?\.so$/.test(f));
  } catch {
    return false;
  }
}

export interface ThrowawayCluster {
  dir: string;
  port: number;
  configFile: string;
  url(database?: string): string;
  /** Appends a line to postgresql.conf (takes effect at the next restart). */
  configure(line: string): Promise<void>;
  restart(): Promise<void>;
  /** pg_ctl stop -m fast. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server (if running) and deletes the directory. */
  remove(): Promise<void>;
}

const isRoot = process.getuid?.() === 0;

async function run(argv: string[]): Promise<void> {
  const full = isRoot ? ['runuser', '-u', 'postgres', '--', ...argv] : argv;
  const p = Bun.spawn(full, { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}:\n${out}${err}`);
}

export async function startThrowawayCluster(prefix = 'meshmon-pg15'): Promise<ThrowawayCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  // mkdtemp makes it 0700; the server's user must enter it.
  await chmod(dir, 0o755);
  if (isRoot) {
    const uid = Number(Bun.spawnSync(['id', '-u', 'postgres']).stdout.toString());
    const gid = Number(Bun.spawnSync(['id', '-g', 'postgres']).stdout.toString());
    await chown(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await findFreePort();
  const ctl = (...args: string[]) => run([path.join(PG15_BIN, 'pg_ctl'), '-D', data, ...args]);
  let running = false;
  const cluster: ThrowawayCluster = {
    dir,
    port,
    configFile: path.join(data, 'postgresql.conf'),
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    configure: (line) => appendFile(path.join(data, 'postgresql.conf'), `${line}\n`),
    start: async () => {
      await ctl('-w', '-t', '60', '-l', path.join(dir, 'server.log'), 'start');
      running = true;
    },
    stop: async () => {
      if (!running) return;
      await ctl('-w', '-t', '60', '-m', 'fast', 'stop');
      running = false;
    },
    restart: async () => {
      await ctl('-w', '-t', '60', '-m', 'fast', '-l', path.join(dir, 'server.log'), 'restart');
      running = true;
    },
    remove: async () => {
      await cluster.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await run([path.join(PG15_BIN, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C']);
    // Loopback only, socket in our directory, and a throwaway's durability trade-offs.
    await cluster.configure(`port = ${port}`);
    await cluster.configure(`listen_addresses = '127.0.0.1'`);
    await cluster.configure(`unix_socket_directories = '${dir}'`);
    await cluster.configure('fsync = off');
    await cluster.configure('max_connections = 30');
    await cluster.configure('shared_buffers = 16MB');
    await cluster.start();
    return cluster;
  } catch (err) {
    await cluster.remove();
    throw err;
  }
}
