import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AppDeps } from '../../src/app-deps.ts';
import { configFrom } from '../../src/config.ts';
import { createDatabase, createPool, type Database } from '../../src/db/database.ts';
import { createEngineRunner, ENGINE_JOB, EngineCron, engineSchedule, startEngineJob, type EngineRunner } from '../../src/engine/engine.job.ts';
import { RULES } from '../../src/engine/engine.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { listJobRuns } from '../../src/db/job-state.repository.ts';
import { silentLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { loadRules, startServer } from '../../src/server.ts';
import { StartupProblem } from '../../src/startup-problem.ts';
import { StatusRegistry } from '../../src/status.ts';
import { withAdmin } from '../support/admin.ts';
import { testApp } from '../support/app.ts';
import { createTestDatabase, describeEachMode, type TestDatabase } from '../support/databases.ts';

const NOW = new Date('2026-03-02T12:00:00Z');
const RULE_NAMES = RULES.map((r) => r.kind);

/** A second collector on the same database: its own pool, status and metrics. */
function collector(url: string) {
  const pool = createPool({ url, max: 3, applicationName: 'meshmon-test-collector' });
  const db = createDatabase(pool);
  const deps = { db, pool, log: silentLogger, metrics: createMetrics(), status: new StatusRegistry() };
  return { ...deps, runner: createEngineRunner(deps, DEFAULT_RULES), close: () => db.destroy() };
}

function terminateBackend(pid: number) {
  return withAdmin((c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
}

describeEachMode('engine job: one tick', (get, mode) => {
  test('records the tick and every rule (status, /healthz, metrics, job_state)', async () => {
    const tdb = get();
    const t = testApp(tdb, { now: NOW });
    const runner = createEngineRunner(t.deps, DEFAULT_RULES);
    try {
      const outcome = await runner.tick(NOW);
      expect(outcome.role).toBe('leader');

      const engine = t.deps.status.get(ENGINE_JOB)!;
      expect(engine.last_result).toBe('ok');
      expect(engine.last_run_at).toBe(NOW.toISOString());
      expect(engine.duration_ms).toBeGreaterThanOrEqual(0);
      for (const name of RULE_NAMES) {
        const r = t.deps.status.get(`rule:${name}`);
        expect(r, name).toBeDefined();
        expect(r!.last_result).toBe('ok');
        expect(r!.last_error).toBeNull();
        expect(r!.details).toMatchObject({ health: 'ok', findings: 0 });
      }

      const { body } = await t.json('/healthz');
      expect(body.engine.last_result).toBe('ok');
      expect(body.rules.map((r: { name: string }) => r.name).sort()).toEqual(RULE_NAMES.map((n) => `rule:${n}`).sort());

      const metrics = await t.deps.metrics.registry.metrics();
      expect(metrics).toContain('meshmon_engine_rule_duration_seconds{rule="jitter_burst"}');
      expect(metrics).toMatch(new RegExp(`meshmon_engine_last_success_timestamp_seconds ${NOW.getTime() / 1000}`));

      const saved = (await listJobRuns(tdb.db)).find((j) => j.name === ENGINE_JOB)!;
      expect(saved.last_result).toBe('ok');
      expect(new Date(saved.last_run_at!).toISOString()).toBe(NOW.toISOString());
      expect(Object.keys((saved.details as { rules: object }).rules).sort()).toEqual([...RULE_NAMES].sort());
      // PGlite lives in this process: there is nothing to compete with, so no lock connection.
      if (mode === 'timescale') expect(runner.leader.backendPid).toBeNull();
      else expect(runner.leader.backendPid).toBeGreaterThan(0);
    } finally {
      await runner.stop();
    }
  });
});

describe('engine job: leadership (local PostgreSQL)', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase('none');
  }, 60_000);
  afterAll(async () => {
    await tdb?.close();
  });

  test('two collectors on one database: only one evaluates; the other takes over when the leader dies', async () => {
    const a = collector(tdb.url!);
    const b = collector(tdb.url!);
    try {
      expect((await a.runner.tick(NOW)).role).toBe('leader');
      const standby = await b.runner.tick(NOW);
      expect(standby).toMatchObject({ role: 'standby', reason: 'not_leader' });
      expect(b.status.get(ENGINE_JOB)).toMatchObject({ last_result: 'skipped', details: { role: 'standby' } });
      expect(b.status.get('rule:jitter_burst')).toBeUndefined();

      // The leader keeps leading, tick after tick; the standby keeps waiting.
      const later = new Date(NOW.getTime() + 10_000);
      expect((await a.runner.tick(later)).role).toBe('leader');
      expect((await b.runner.tick(later)).role).toBe('standby');

      // The leader's lock connection dies (crash, network cut, killed backend).
      await terminateBackend(a.runner.leader.backendPid!);
      await Bun.sleep(50);
      const next = new Date(NOW.getTime() + 20_000);
      expect((await b.runner.tick(next)).role).toBe('leader');
      expect(b.status.get('rule:jitter_burst')?.last_result).toBe('ok');
      // The old leader notices, does not crash, and stands by.
      const old = await a.runner.tick(next);
      expect(old).toMatchObject({ role: 'standby', reason: 'not_leader' });
      expect(a.runner.leader.backendPid).toBeNull();
    } finally {
      await a.runner.stop();
      await b.runner.stop();
      await a.close();
      await b.close();
    }
  });

  test('stopping the cron job releases the lock at once, and the pool can still end', async () => {
    const a = collector(tdb.url!);
    const b = collector(tdb.url!);
    const deps: AppDeps = {
      config: configFrom({ ENGINE_INTERVAL: '3600' }),
      db: a.db,
      pool: a.pool,
      dbInfo: tdb.info,
      rules: DEFAULT_RULES,
      log: silentLogger,
      metrics: a.metrics,
      status: a.status,
      version: 'test',
      now: () => NOW,
      embedded: false,
    };
    const jobs = startEngineJob(deps);
    try {
      expect(jobs).toHaveLength(1);
      const job = jobs[0]!;
      expect(job.name).toBe(ENGINE_JOB);
      expect(a.status.get(ENGINE_JOB)?.schedule).toBe('0 0 * * * *');
      await job.trigger();
      expect(a.status.get(ENGINE_JOB)?.last_result).toBe('ok');
      expect((await b.runner.tick(NOW)).role).toBe('standby');

      job.stop();
      await (job as EngineCron).released;
      expect((await b.runner.tick(NOW)).role).toBe('leader');
      // No client is left checked out of the leader's pool: ending it does not hang.
      await a.close();
    } finally {
      for (const j of jobs) j.stop();
      await b.runner.stop();
      await b.close();
      await a.close().catch(() => {});
    }
  });

  test('a database that is down is recorded as a failed tick, not thrown', async () => {
    const pool = createPool({ url: 'postgres://postgres@127.0.0.1:1/none', max: 1 });
    const db: Database = createDatabase(pool);
    const status = new StatusRegistry();
    const metrics = createMetrics();
    const runner: EngineRunner = createEngineRunner({ db, pool, log: silentLogger, metrics, status }, DEFAULT_RULES);
    try {
      const outcome = await runner.tick(NOW);
      expect(outcome).toMatchObject({ role: 'error', unavailable: true });
      expect(status.get(ENGINE_JOB)).toMatchObject({ last_result: 'error' });
      expect(status.get(ENGINE_JOB)!.last_error).toBeTruthy();
      expect(await metrics.registry.getSingleMetricAsString('meshmon_engine_tick_failures_total')).toContain('meshmon_engine_tick_failures_total 1');
    } finally {
      await runner.stop();
      await db.destroy();
    }
  });
});

describe('engine job: start-up', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const deps = (env: Parameters<typeof configFrom>[0]): AppDeps => ({
    config: configFrom(env),
    // Never reached: nothing ticks in these tests.
    db: undefined as never,
    dbInfo: { mode: 'none', version: 'test', timescaledb: null },
    rules: DEFAULT_RULES,
    log: silentLogger,
    metrics: createMetrics(),
    status: new StatusRegistry(),
    version: 'test',
    now: () => NOW,
    embedded: false,
  });

  // The composition root reads RULES_FILE once, for the engine and the API, before it opens the database.
  const startUpError = async (env: Parameters<typeof configFrom>[0]) => {
    try {
      await startServer(configFrom(env), silentLogger);
    } catch (err) {
      return err;
    }
    throw new Error('start-up did not fail');
  };

  test('a bad RULES_FILE stops start-up (exit 2) with a message naming the file and the bad keys', async () => {
    const file = path.join(dir, 'rules.json');
    await writeFile(file, JSON.stringify({ jitter_burst: { jitter_ms: -5, consecutiv: 3 } }));
    const err = await startUpError({ RULES_FILE: file, DATABASE_URL: 'postgres://never-opened@127.0.0.1:1/none' });
    expect(err).toBeInstanceOf(StartupProblem);
    expect((err as StartupProblem).exitCode).toBe(2);
    const msg = (err as StartupProblem).describe();
    expect(msg).toContain('RULES_FILE');
    expect(msg).toContain(file);
    expect(msg).toContain('jitter_burst.jitter_ms');
    expect(msg).toContain('jitter_burst.consecutiv');
  });

  test('a missing or unparsable RULES_FILE is named too, whether or not the engine runs (the API shows its thresholds)', async () => {
    const missing = path.join(dir, 'nope.json');
    for (const ENGINE_ENABLED of ['true', 'false']) {
      const err = await startUpError({ RULES_FILE: missing, ENGINE_ENABLED, DATABASE_URL: 'postgres://never-opened@127.0.0.1:1/none' });
      expect((err as Error).message).toContain(missing);
    }
    expect(loadRules({})).toBe(DEFAULT_RULES);
  });

  test('ENGINE_ENABLED=false schedules nothing', () => {
    expect(startEngineJob(deps({ ENGINE_ENABLED: 'false' }))).toEqual([]);
  });

  test('ENGINE_INTERVAL becomes an aligned pattern when it can, an interval otherwise', () => {
    expect(engineSchedule(10)).toEqual({ pattern: '*/10 * * * * *' });
    expect(engineSchedule(60)).toEqual({ pattern: '0 */1 * * * *' });
    expect(engineSchedule(300)).toEqual({ pattern: '0 */5 * * * *' });
    expect(engineSchedule(45)).toEqual({ pattern: '* * * * * *', interval: 45 });
    expect(engineSchedule(3600)).toEqual({ pattern: '0 0 * * * *' });
    expect(engineSchedule(90)).toEqual({ pattern: '* * * * * *', interval: 90 });
  });
});
