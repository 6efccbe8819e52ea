import { afterEach, expect, test, setDefaultTimeout } from 'bun:test';
import type { Cron } from 'croner';
import { sql } from 'kysely';
import pg from 'pg';
import { configFrom } from '../../src/config.ts';
import { listJobRuns } from '../../src/db/job-state.repository.ts';
import { listNativePolicies } from '../../src/ops/maintenance.repository.ts';
import { POLICIES_JOB, RETENTION_JOB, ROLLUP_JOB, runMaintenanceJob, startMaintenanceJobs } from '../../src/ops/maintenance.job.ts';
import { cronIntervalSeconds, ensurePolicies } from '../../src/ops/policies.ts';
import { testApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';

// Real databases on a shared machine: PGlite start-up and pg_dump take seconds.
setDefaultTimeout(60_000);

let crons: Cron[] = [];
afterEach(() => {
  for (const c of crons) c.stop();
  crons = [];
});

describeEachMode('maintenance jobs', (get, mode) => {
  test('a run is recorded in /healthz, job_state and the metrics', async () => {
    const t = testApp(get(), { now: '2026-03-02T12:17:00Z' });
    const r = await runMaintenanceJob(t.deps, RETENTION_JOB);
    expect(r.ok).toBe(true);
    expect(r.skipped).toBe(false);

    const { body } = await t.json('/healthz');
    const job = body.jobs.find((j: { name: string }) => j.name === RETENTION_JOB);
    expect(job).toMatchObject({ last_run_at: '2026-03-02T12:17:00.000Z', last_result: 'ok', last_error: null });
    expect(job.details.tables.map((x: { table: string }) => x.table)).toContain('path_probe');

    const persisted = (await listJobRuns(t.deps.db)).find((j) => j.name === RETENTION_JOB)!;
    expect(persisted.last_result).toBe('ok');
    expect(new Date(persisted.last_run_at!).toISOString()).toBe('2026-03-02T12:17:00.000Z');

    const metrics = await t.deps.metrics.registry.getSingleMetricAsString('meshmon_job_runs_total');
    expect(metrics).toContain('meshmon_job_runs_total{job="retention",result="ok"} 1');
  });

  test('the rollup job advances its watermark (or refreshes the continuous aggregate)', async () => {
    const t = testApp(get(), { now: '2026-03-02T12:20:00Z' });
    const r = await runMaintenanceJob(t.deps, ROLLUP_JOB);
    expect(r.ok).toBe(true);
    const rollups = (r.details as { rollups: Array<{ method: string; received_through?: string }> }).rollups;
    expect(rollups).toHaveLength(2);
    if (mode === 'timescale') expect(rollups.every((x) => x.method === 'continuous_aggregate')).toBe(true);
    else expect(rollups.map((x) => x.received_through)).toEqual(['2026-03-02T12:18:00.000Z', '2026-03-02T12:18:00.000Z']);
  });

  test.if(mode !== 'timescale')('a second collector running the same job skips it', async () => {
    const tdb = get();
    const t = testApp(tdb, { now: '2026-03-02T12:25:00Z' });
    const other = new pg.Client({ connectionString: tdb.url! });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1, $2)', [0x6d6f_7073, 2]);
      const r = await runMaintenanceJob(t.deps, ROLLUP_JOB);
      expect(r).toMatchObject({ ok: true, skipped: true });
      expect(t.deps.status.get(ROLLUP_JOB)!.last_result).toBe('skipped');
    } finally {
      await other.end();
    }
  });

  test('a failing run is recorded as an error, not thrown', async () => {
    const t = testApp(get(), { now: '2026-03-02T12:30:00Z' });
    const broken = { ...t.deps, db: { connection: () => ({ execute: async () => { throw new Error('boom'); } }) } as never };
    const r = await runMaintenanceJob(broken, RETENTION_JOB);
    expect(r).toMatchObject({ ok: false, error: 'boom' });
    expect(t.deps.status.get(RETENTION_JOB)).toMatchObject({ last_result: 'error', last_error: 'boom' });
    expect(await t.deps.metrics.registry.getSingleMetricAsString('meshmon_job_runs_total')).toContain('result="error"} 1');
  });

  test('startMaintenanceJobs schedules named, protected jobs and lists them before their first run', async () => {
    const t = testApp(get(), { env: { MAINTENANCE_CRON: '5 3 * * *', ROLLUP_CRON: '*/10 * * * *' } });
    crons = startMaintenanceJobs(t.deps);
    expect(crons.map((c) => c.name)).toEqual([RETENTION_JOB, ROLLUP_JOB]);
    expect(crons.every((c) => c.options.protect && c.options.catch)).toBe(true);
    const retention = t.deps.status.get(RETENTION_JOB)!;
    expect(retention.schedule).toBe('5 3 * * *');
    expect(retention.next_run_at).toMatch(/T03:05:00/);
    if (mode === 'timescale') {
      // The native policies are ensured at start-up; the rollup cron stays paused.
      for (let i = 0; i < 100 && !t.deps.status.get(POLICIES_JOB)?.last_run_at; i++) await Bun.sleep(50);
      expect(t.deps.status.get(POLICIES_JOB)!.last_result).toBe('ok');
      expect(crons[1]!.isRunning()).toBe(false);
      expect(t.deps.status.get(ROLLUP_JOB)?.schedule).toBeUndefined();
    } else {
      expect(crons[1]!.isRunning()).toBe(true);
      expect(t.deps.status.get(ROLLUP_JOB)!.schedule).toBe('*/10 * * * *');
    }
  });

  test('a restarted collector shows the persisted runs until its jobs run again', async () => {
    const t = testApp(get());
    crons = startMaintenanceJobs(t.deps);
    for (let i = 0; i < 100 && !t.deps.status.get(RETENTION_JOB)?.last_run_at; i++) await Bun.sleep(20);
    expect(t.deps.status.get(RETENTION_JOB)!.last_run_at).toBe('2026-03-02T12:17:00.000Z');
  });
});

describeEachMode('native policies', (get, mode) => {
  test.if(mode !== 'timescale')('are not used without the community licence', async () => {
    const r = await ensurePolicies(get().db, configFrom());
    expect(r.native).toBe(false);
    expect(r.policies).toEqual([]);
  });

  test.if(mode === 'timescale')('are created once, then left alone', async () => {
    const { db } = get();
    const config = configFrom();
    const first = await ensurePolicies(db, config);
    expect(first.native).toBe(true);
    const summary = first.policies.map((p) => `${p.kind}:${p.relation}:${p.after_s / 86400}:${p.action}`).sort();
    expect(summary).toEqual([
      'compression:agent_health:7:created',
      'compression:hop_quality:7:created',
      'compression:path_probe:7:created',
      'refresh:hop_quality_hourly:7:created',
      'refresh:path_probe_hourly:7:created',
      'retention:agent_health:90:created',
      'retention:hop_quality:90:created',
      'retention:hop_quality_hourly:365:created',
      'retention:path_probe:90:created',
      'retention:path_probe_hourly:365:created',
    ]);
    expect(first.policies.every((p) => p.job_id !== null)).toBe(true);
    const second = await ensurePolicies(db, config);
    expect(second.policies.every((p) => p.action === 'unchanged')).toBe(true);
    expect(second.policies.map((p) => p.job_id)).toEqual(first.policies.map((p) => p.job_id));
    // The refresh follows ROLLUP_CRON (every 5 minutes by default).
    expect(first.policies.find((p) => p.kind === 'refresh')!.schedule_s).toBe(300);
  });

  test.if(mode === 'timescale')('are replaced when the configured interval changes', async () => {
    const { db } = get();
    const config = configFrom({ RETENTION_RAW_DAYS: '30', COMPRESS_AFTER_DAYS: '2', RETENTION_ROLLUP_DAYS: '180', ROLLUP_CRON: '*/15 * * * *' });
    const r = await ensurePolicies(db, config);
    const by = (kind: string, rel: string) => r.policies.find((p) => p.kind === kind && p.relation === rel)!;
    expect(by('retention', 'path_probe')).toMatchObject({ action: 'updated', after_s: 30 * 86400 });
    expect(by('compression', 'hop_quality')).toMatchObject({ action: 'updated', after_s: 2 * 86400 });
    expect(by('retention', 'path_probe_hourly')).toMatchObject({ action: 'updated', after_s: 180 * 86400 });
    expect(by('refresh', 'path_probe_hourly')).toMatchObject({ action: 'updated', schedule_s: 900 });
    // One policy of each kind per relation, never two.
    const all = await listNativePolicies(db);
    const keys = all.map((p) => `${p.kind}:${p.relation}`);
    expect(new Set(keys).size).toBe(keys.length);
    const { rows } = await sql<{ drop_after: string }>`
      SELECT config->>'drop_after' AS drop_after FROM timescaledb_information.jobs
      WHERE proc_name = 'policy_retention' AND hypertable_name = 'path_probe'`.execute(db);
    expect(rows).toEqual([{ drop_after: '30 days' }]);
  });
});

test('cronIntervalSeconds reads the period of a pattern', () => {
  expect(cronIntervalSeconds('*/5 * * * *')).toBe(300);
  expect(cronIntervalSeconds('17 * * * *')).toBe(3600);
});
