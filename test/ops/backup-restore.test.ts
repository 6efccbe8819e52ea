import { afterAll, beforeAll, expect, test, setDefaultTimeout } from 'bun:test';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createDatabase, createPool, type Database } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { detectDatabase } from '../../src/db/mode.ts';
import { replayFile } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { silentLogger } from '../../src/log.ts';
import { runMaintenanceJob } from '../../src/ops/maintenance.job.ts';
import { findPgTool, parseToolVersion, PgToolError } from '../../src/ops/pg-tools.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { testApp } from '../support/app.ts';
import { MESHMON_BIN, REPO_ROOT } from '../support/collector-process.ts';
import { describeEachMode } from '../support/databases.ts';
import { scenarioPath } from '../support/fixtures.ts';

// Real databases on a shared machine: PGlite start-up and pg_dump take seconds.
setDefaultTimeout(60_000);

const TABLES = [
  'path_probe', 'hop_quality', 'agent_health', 'crash_report', 'nodes', 'incidents', 'incident_events',
  'path_probe_hourly', 'hop_quality_hourly', 'rollup_watermark', 'job_state', 'ingest_clock_ledger', 'ingest_volume', 'ingest_drops', 'node_addresses', 'kysely_migration',
] as const;

async function counts(db: Database) {
  const { rows } = await sql.raw<Record<string, number>>(
    `SELECT ${TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`,
  ).execute(db);
  return rows[0]!;
}

async function snapshot(db: Database) {
  return {
    counts: await counts(db),
    incidents: await db.selectFrom('incidents').selectAll().orderBy('id').execute(),
    events: await db.selectFrom('incident_events').selectAll().orderBy('id').execute(),
    rollups: await db.selectFrom('path_probe_hourly').selectAll().orderBy('bucket').orderBy('src').orderBy('dst').execute(),
    // Sums catch a row that is there but altered.
    sums: (await sql<Record<string, number>>`
      SELECT sum(rtt_ms) AS rtt, sum(jitter_ms) AS jitter, sum(loss_pct) AS loss,
             (SELECT sum(lq) FROM hop_quality) AS lq, (SELECT sum(cpu_pct) FROM agent_health) AS cpu
      FROM path_probe`.execute(db)).rows[0],
  };
}

async function cli(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([MESHMON_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC', LOG_LEVEL: 'warn', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: stdout.trim(), stderr };
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-backup-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeEachMode('backup and restore', (get, mode) => {
  const t0 = new Date('2026-03-02T06:00:00Z');
  const until = new Date(t0.getTime() + 40 * 60_000);
  let before: Awaited<ReturnType<typeof snapshot>>;
  let file = '';
  let target: Awaited<ReturnType<typeof createScratchDatabase>> | null = null;
  afterAll(async () => { await target?.drop(); });

  test('a scenario is ingested, evaluated and rolled up', async () => {
    const tdb = get();
    // The first 40 minutes of mesh16-core: a jitter burst among them.
    await replayFile(scenarioPath('mesh16-core'), { rules: DEFAULT_RULES, tickSeconds: 20, db: tdb.db, log: silentLogger, until });
    const t = testApp(tdb, { now: until });
    expect((await runMaintenanceJob(t.deps, 'rollup')).ok).toBe(true);
    before = await snapshot(tdb.db);
    expect(before.counts.path_probe).toBeGreaterThan(2000);
    expect(before.counts.hop_quality).toBeGreaterThan(4000);
    expect(before.counts.incidents).toBeGreaterThan(0);
    expect(before.counts.path_probe_hourly).toBeGreaterThan(0);
  }, 180_000);

  test('`meshmon backup` writes a compressed custom-format dump with a dated name', async () => {
    const r = await cli(['backup', '--out', dir], { DATABASE_URL: get().url! });
    expect(r.code, r.stderr).toBe(0);
    file = r.stdout;
    expect(path.dirname(file)).toBe(dir);
    expect(path.basename(file)).toMatch(/^meshmon-meshmon_test_\w+-\d{8}T\d{6}Z\.dump$/);
    const head = (await readFile(file)).subarray(0, 5).toString();
    expect(head).toBe('PGDMP');
    // The backup is recorded where `meshmon status` and /healthz look.
    const job = await get().db.selectFrom('job_state').selectAll().where('name', '=', 'backup').executeTakeFirstOrThrow();
    expect(job.last_result).toBe('ok');
    expect((job.details as { file: string }).file).toBe(file);
  });

  test('`meshmon restore` into a fresh database gives back every row and incident', async () => {
    target = await createScratchDatabase(`meshmon_restore_${mode}`);
    const r = await cli(['restore', file], { DATABASE_URL: target.url });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ mode, migrations: before.counts.kysely_migration });

    const pool = createPool({ url: target.url, max: 2 });
    const db = createDatabase(pool);
    try {
      const after = await snapshot(db);
      // job_state gained the backup's own row after the dump was taken.
      expect({ ...after.counts, job_state: 0 }).toEqual({ ...before.counts, job_state: 0 });
      expect(after.incidents).toEqual(before.incidents);
      expect(after.events).toEqual(before.events);
      expect(after.rollups).toEqual(before.rollups);
      expect(after.sums).toEqual(before.sums);
      expect((await detectDatabase(db)).mode).toBe(mode);
      // A collector starting on it finds nothing to migrate and can keep going.
      expect((await migrateToLatest(db, { timescaledb: 'auto' })).applied).toEqual([]);
      const t = testApp({ ...get(), db, pool }, { now: new Date(until.getTime() + 10 * 60_000) });
      const ingest = await t.post('/ingest', {
        schema: 'meshmon.v1', type: 'path_result', src: 'N0DE-A', dst: 'N0DE-B', sent_at: until.toISOString(),
        route: ['N0DE-A', 'N0DE-B'], metrics: { rtt_ms_avg: 5, jitter_ms_rfc3550: 1, loss_pct: 0 },
      });
      expect(ingest.status).toBe(200);
      expect((await runMaintenanceJob(t.deps, 'retention')).ok).toBe(true);
    } finally {
      await db.destroy();
    }
  }, 120_000);

  test('refuses a database that is not empty, unless --force', async () => {
    const r = await cli(['restore', file], { DATABASE_URL: target!.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not empty');
    const forced = await cli(['restore', file, '--force'], { DATABASE_URL: target!.url });
    expect(forced.code, forced.stderr).toBe(0);
    const pool = createPool({ url: target!.url, max: 1 });
    const db = createDatabase(pool);
    try {
      expect({ ...(await counts(db)), job_state: 0 }).toEqual({ ...before.counts, job_state: 0 });
    } finally {
      await db.destroy();
    }
  }, 120_000);

  test('refuses while another session (a running collector) is connected', async () => {
    const pool = createPool({ url: target!.url, max: 1, applicationName: 'meshmon' });
    const db = createDatabase(pool);
    try {
      await sql`SELECT 1`.execute(db);
      const r = await cli(['restore', file], { DATABASE_URL: target!.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('stop the collector first');
    } finally {
      await db.destroy();
    }
  });
}, ['apache', 'none']);

test('usage errors exit 2 and name the problem', async () => {
  expect((await cli(['restore'], {})).stderr).toContain('which backup file?');
  expect((await cli(['restore', '/nonexistent.dump'], {})).code).toBe(2);
  const r = await cli(['backup', '--bogus'], {});
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('unknown option --bogus');
});

test('pg_dump is looked for by server major, and a missing or too old one is a clear error', async () => {
  const fake = await mkdtemp(path.join(os.tmpdir(), 'meshmon-pgbin-'));
  try {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)')).toEqual({ major: 15, version: '15.20' });
    expect(parseToolVersion('pg_restore (PostgreSQL) 17.2')).toEqual({ major: 17, version: '17.2' });

    const found = await findPgTool('pg_dump', 15);
    expect(found.major).toBe(15);

    const missing = findPgTool('pg_dump', 15, { searchPath: fake, libDir: path.join(fake, 'none') });
    expect(missing).rejects.toThrow(PgToolError);
    expect(missing).rejects.toThrow(/not found on PATH or in .*apt install postgresql-client-15.*docker compose exec db pg_dump/);

    const old = path.join(fake, 'pg_dump');
    await writeFile(old, '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.11"\n');
    await chmod(old, 0o755);
    expect(findPgTool('pg_dump', 16, { binDir: fake })).rejects.toThrow('pg_dump 14.11 found, but the server is PostgreSQL 16 and pg_dump must be at least that version');
    // A newer client reads an older server.
    expect((await findPgTool('pg_dump', 13, { binDir: fake })).version).toBe('14.11');
  } finally {
    await rm(fake, { recursive: true, force: true });
  }
});

test('backup without any reachable database fails with exit 1, not a stack trace', async () => {
  const r = await cli(['backup', '--out', dir], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nothing' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^meshmon backup: cannot reach the database|^meshmon backup: backup failed/m);
  expect(r.stderr).not.toContain('    at ');
});
