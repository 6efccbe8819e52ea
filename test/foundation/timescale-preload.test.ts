// TimescaleDB installed on the server but not in shared_preload_libraries:
// what a Pi user gets after `apt install postgresql-15-timescaledb` without
// timescaledb-tune. A throwaway PostgreSQL 15 cluster (Debian's binaries,
// the TimescaleDB library .ci/install-timescaledb.sh built), never the
// shared server on 5432.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import pg from 'pg';
import { isPreloaded, notPreloadedProblem, preloadLine } from '../../src/db/timescale.ts';
import type { TimescaleFacts } from '../../src/db/timescale.repository.ts';
import { MESHMON_BIN, REPO_ROOT, spawnCollector } from '../support/collector-process.ts';
import { hasTimescaleLibrary, startThrowawayCluster, type ThrowawayCluster } from '../support/pg-cluster.ts';

const available = hasTimescaleLibrary();
if (!available) process.stderr.write('[test] timescale-preload: no PostgreSQL 15 with the TimescaleDB library in /usr/lib/postgresql/15 (bash .ci/install-timescaledb.sh); skipped\n');

async function query<T = Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query(text)).rows as T[];
  } finally {
    await c.end().catch(() => {});
  }
}

/** `meshmon <argv>` as a process; killed at `deadlineMs` (then code is null). */
async function meshmon(argv: string[], env: Record<string, string>, deadlineMs: number) {
  const proc = Bun.spawn([MESHMON_BIN, ...argv], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC', HOST: '127.0.0.1', PORT: '0', ENGINE_ENABLED: 'false', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), deadlineMs);
  const [stdout, stderr, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code: proc.signalCode ? null : exit, stdout, stderr };
}

describe.skipIf(!available)('TimescaleDB installed but not preloaded (throwaway PostgreSQL 15)', () => {
  let cluster: ThrowawayCluster;
  beforeAll(async () => {
    cluster = await startThrowawayCluster('meshmon-preload');
    for (const db of ['meshmon_refused', 'meshmon_plain']) await query(cluster.url(), `CREATE DATABASE ${db}`);
  }, 120_000);
  afterAll(async () => {
    await cluster?.remove();
  }, 60_000);

  test('the collector exits 2 at once, naming shared_preload_libraries, the config file, the restart and TIMESCALEDB=off', async () => {
    // DATABASE_STARTUP_TIMEOUT would allow a minute of retries: none may happen.
    const r = await meshmon(['serve'], { DATABASE_URL: cluster.url('meshmon_refused'), DATABASE_STARTUP_TIMEOUT: '60' }, 10_000);
    expect({ code: r.code, out: r.code === 2 ? '' : r.stdout + r.stderr }).toEqual({ code: 2, out: '' });
    expect(r.stderr).toContain("shared_preload_libraries = 'timescaledb'");
    expect(r.stderr).toContain(cluster.configFile);
    expect(r.stderr).toContain('restart PostgreSQL');
    expect(r.stderr).toContain('TIMESCALEDB=off');
    expect(r.stdout + r.stderr).not.toContain('database not reachable');
    // The JSON log line carries the detail, /healthz style.
    const line = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.msg === 'collector cannot start');
    expect(line).toMatchObject({
      level: 'error',
      problem: 'timescaledb_not_preloaded',
      database: { preloaded: false, timescaledb_installed: null, config_file: cluster.configFile, shared_preload_libraries: '' },
    });
    expect(line.database.timescaledb_available).toMatch(/^2\./);
    // Nothing was created: the next start after the fix still chooses freely.
    const [state] = await query<{ t: string | null; ext: number }>(cluster.url('meshmon_refused'),
      `SELECT to_regclass('public.path_probe')::text AS t, (SELECT count(*)::int FROM pg_extension WHERE extname = 'timescaledb') AS ext`);
    expect(state).toEqual({ t: null, ext: 0 });
  }, 30_000);

  test('meshmon migrate says the same with exit 2', async () => {
    const r = await meshmon(['migrate'], { DATABASE_URL: cluster.url('meshmon_refused') }, 10_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('shared_preload_libraries');
    expect(r.stderr).toContain('TIMESCALEDB=off');
  }, 30_000);

  test('with TIMESCALEDB=off it starts in none mode', async () => {
    const c = await spawnCollector({ DATABASE_URL: cluster.url('meshmon_plain'), TIMESCALEDB: 'off', ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn' });
    try {
      const body = await c.waitForHealth(200, 60_000);
      expect(body.database.mode).toBe('none');
      expect(body.database.timescaledb).toBeNull();
    } finally {
      expect(await c.stop('SIGTERM')).toBe(0);
    }
  }, 90_000);

  test('after the line is added and the server restarted, it starts in apache mode', async () => {
    await cluster.configure("shared_preload_libraries = 'timescaledb'");
    await cluster.restart();
    const c = await spawnCollector({ DATABASE_URL: cluster.url('meshmon_refused'), ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn' });
    try {
      const body = await c.waitForHealth(200, 60_000);
      expect(body.database.mode).toBe('apache');
      expect(body.database.timescaledb).toMatch(/^2\./);
    } finally {
      expect(await c.stop('SIGTERM')).toBe(0);
    }
  }, 90_000);

  test('a TimescaleDB database on a server that lost the preload: exit 2, and TIMESCALEDB=off is not offered', async () => {
    // The last setting in the file wins.
    await cluster.configure("shared_preload_libraries = ''");
    await cluster.restart();
    try {
      for (const env of [{}, { TIMESCALEDB: 'off' }] as Record<string, string>[]) {
        const r = await meshmon(['serve'], { DATABASE_URL: cluster.url('meshmon_refused'), ...env }, 10_000);
        expect({ env, code: r.code }).toEqual({ env, code: 2 });
        expect(r.stderr).toContain("shared_preload_libraries = 'timescaledb'");
        expect(r.stderr).toContain('TIMESCALEDB=off does not help');
        expect(r.stdout + r.stderr).not.toContain('database not reachable');
      }
    } finally {
      await cluster.configure("shared_preload_libraries = 'timescaledb'");
      await cluster.restart();
    }
  }, 60_000);
});

describe('the preload line and the preloaded test', () => {
  const facts = (over: Partial<TimescaleFacts>): TimescaleFacts => ({
    server_version: '16.4', server_version_num: 160_004, pglite: false, available: '2.17.2', installed: null,
    preload_libraries: '', loader_loaded: false, license: null, config_file: null, migrated: false, superuser: false, ...over,
  });

  test('keeps what the server already preloads', () => {
    expect(preloadLine(facts({ preload_libraries: 'pg_stat_statements' }))).toBe("shared_preload_libraries = 'pg_stat_statements,timescaledb'");
    expect(preloadLine(facts({ preload_libraries: null }))).toBe("shared_preload_libraries = 'timescaledb'");
  });

  test('a library path, a loader that announced itself, or PGlite count as preloaded', () => {
    expect(isPreloaded(facts({ preload_libraries: 'pg_stat_statements, "$libdir/timescaledb"' }))).toBe(true);
    expect(isPreloaded(facts({ preload_libraries: null, loader_loaded: true }))).toBe(true);
    expect(isPreloaded(facts({ pglite: true }))).toBe(true);
    expect(isPreloaded(facts({ preload_libraries: 'timescaledb_toolkit' }))).toBe(false);
  });

  test('without a readable config file, the message says where Debian keeps it', () => {
    const p = notPreloadedProblem(facts({}));
    expect(p.fix[0]).toContain('/etc/postgresql/16/main/postgresql.conf');
    expect(p.exitCode).toBe(2);
  });
});
