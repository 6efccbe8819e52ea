import { Cron } from 'croner';
import type { AppDeps } from '../app-deps.ts';
import type { Config } from '../config.ts';
import { publicReason, unavailableReason, type Database } from '../db/database.ts';
import { listJobRuns, saveJobRun } from '../jobs/job-state.repository.ts';
import { readStorageLayout } from './maintenance.repository.ts';
import { tryJobLock, unlockJob } from './ops.repository.ts';
import { ensurePolicies, type PoliciesReport } from './policies.ts';
import { runRetention, type RetentionReport } from './retention.ts';
import { refreshRollups, type RollupReport } from './rollup.ts';

export const RETENTION_JOB = 'retention';
export const ROLLUP_JOB = 'rollup';
export const POLICIES_JOB = 'policies';
export const MAINTENANCE_JOBS = [RETENTION_JOB, ROLLUP_JOB, POLICIES_JOB] as const;
export type MaintenanceJob = (typeof MAINTENANCE_JOBS)[number];

const LOCK_ID: Record<MaintenanceJob, number> = { retention: 1, rollup: 2, policies: 3 };

export interface MaintenanceReport extends RetentionReport {
  policies?: PoliciesReport;
}

/**
 * The retention job's work as of `now`. Under the community licence it first
 * makes sure the native policies still match the configuration (cheap and
 * idempotent) and reports their state; the tables the policies cannot reach
 * (incidents, crash reports) are trimmed here in every mode.
 */
export async function runMaintenance(db: Database, now: Date, config: Config): Promise<MaintenanceReport> {
  const layout = await readStorageLayout(db);
  const policies = layout.license === 'timescale' ? await ensurePolicies(db, config, layout) : undefined;
  const retention = await runRetention(db, now, config, layout);
  return { ...retention, ...(policies ? { policies } : {}) };
}

export { refreshRollups, ensurePolicies, runRetention };

type JobResult = { skipped?: string; details: Record<string, unknown> };

/**
 * Runs one maintenance job at `now` on a single connection holding the job's
 * advisory lock, and records the outcome everywhere it is read: the status
 * registry (/healthz), job_state (`meshmon status`) and the metrics.
 */
export async function runMaintenanceJob(deps: AppDeps, job: MaintenanceJob, now = deps.now()): Promise<{ ok: boolean; skipped: boolean; details: Record<string, unknown>; error?: string }> {
  const log = deps.log.child({ job });
  const t0 = performance.now();
  let outcome: JobResult;
  try {
    outcome = await deps.db.connection().execute(async (conn) => {
      if (!(await tryJobLock(conn, LOCK_ID[job]))) {
        return { skipped: 'another collector is running this job', details: {} };
      }
      try {
        return { details: await work(conn, job, now, deps.config) };
      } finally {
        await unlockJob(conn, LOCK_ID[job]).catch(() => {});
      }
    });
  } catch (err) {
    const durationMs = performance.now() - t0;
    const error = (err as Error).message ?? String(err);
    const unavailableWhy = unavailableReason(err);
    const unavailable = unavailableWhy !== null;
    // Shown by /healthz and `meshmon status`: a short reason, no addresses; the log keeps the message.
    deps.status.record(job, { at: now, ok: false, error: publicReason(err), durationMs, details: { unavailable } });
    if (unavailableWhy) deps.status.databaseFailed(unavailableWhy, now);
    deps.metrics.jobRuns.inc({ job, result: 'error' });
    deps.metrics.jobDuration.set({ job }, durationMs / 1000);
    log.error('maintenance job failed', { err: error, unavailable });
    if (!unavailable) {
      await saveJobRun(deps.db, job, { at: now, ok: false, result: 'error', error: publicReason(err), durationMs }).catch(() => {});
    }
    return { ok: false, skipped: false, details: {}, error };
  }

  const durationMs = performance.now() - t0;
  const skipped = !!outcome.skipped;
  const details = skipped ? { reason: outcome.skipped } : outcome.details;
  deps.status.record(job, { at: now, ok: true, skipped, durationMs, details });
  deps.metrics.jobRuns.inc({ job, result: skipped ? 'skipped' : 'ok' });
  deps.metrics.jobDuration.set({ job }, durationMs / 1000);
  if (!skipped) deps.metrics.jobLastSuccess.set({ job }, now.getTime() / 1000);
  observe(deps, job, details);
  await saveJobRun(deps.db, job, { at: now, ok: true, result: skipped ? 'skipped' : 'ok', durationMs, details }).catch((err) =>
    log.warn('could not save the job run', { err: (err as Error).message }),
  );
  log.info('maintenance job done', { duration_ms: Math.round(durationMs), ...(skipped ? { skipped: outcome.skipped } : summary(job, details)) });
  return { ok: true, skipped, details };
}

async function work(db: Database, job: MaintenanceJob, now: Date, config: Config): Promise<Record<string, unknown>> {
  if (job === RETENTION_JOB) return { ...(await runMaintenance(db, now, config)) };
  if (job === ROLLUP_JOB) return { ...(await refreshRollups(db, now, config)) };
  return { ...(await ensurePolicies(db, config)) };
}

function observe(deps: AppDeps, job: MaintenanceJob, details: Record<string, unknown>) {
  if (job === RETENTION_JOB) {
    for (const t of (details as unknown as RetentionReport).tables ?? []) {
      if (t.removed) deps.metrics.retentionRemoved.inc({ table: t.table, unit: t.method === 'drop_chunks' ? 'chunks' : 'rows' }, t.removed);
    }
  }
  if (job === ROLLUP_JOB) {
    for (const r of (details as unknown as RollupReport).rollups ?? []) {
      if (r.method === 'incremental') deps.metrics.rollupWatermark.set({ rollup: r.rollup }, Date.parse(r.received_through) / 1000);
    }
  }
}

function summary(job: MaintenanceJob, details: Record<string, unknown>): Record<string, unknown> {
  if (job === RETENTION_JOB) {
    const removed = Object.fromEntries(((details as unknown as RetentionReport).tables ?? []).filter((t) => t.removed).map((t) => [t.table, t.removed]));
    return { removed };
  }
  if (job === ROLLUP_JOB) {
    return { hours: Object.fromEntries(((details as unknown as RollupReport).rollups ?? []).map((r) => [r.rollup, 'hours' in r ? r.hours : 'refreshed'])) };
  }
  const p = details as unknown as PoliciesReport;
  return { native: p.native, changed: (p.policies ?? []).filter((x) => x.action !== 'unchanged').map((x) => `${x.kind}:${x.relation}`) };
}

/**
 * Retention on MAINTENANCE_CRON and rollup refresh on ROLLUP_CRON, each
 * passing `now` on. Under the community licence the native policies are
 * ensured at start-up instead (and again at every retention run); the rollup
 * job then runs only if a rollup is a plain table (a schema restored from
 * another mode).
 */
export function startMaintenanceJobs(deps: AppDeps): Cron[] {
  const log = deps.log.child({ component: 'maintenance' });
  const community = deps.dbInfo.mode === 'timescale';

  const schedule = (job: MaintenanceJob, pattern: string, paused: boolean) => {
    const cron = new Cron(
      pattern,
      {
        name: job,
        protect: () => log.warn('maintenance job still running; this run is skipped', { job }),
        catch: (err) => log.error('maintenance job threw', { job, err: (err as Error).message }),
        paused,
      },
      async () => {
        await runMaintenanceJob(deps, job, deps.now());
      },
    );
    return cron;
  };

  const retention = schedule(RETENTION_JOB, deps.config.MAINTENANCE_CRON, false);
  deps.status.scheduled(RETENTION_JOB, deps.config.MAINTENANCE_CRON, () => retention.nextRun());
  const rollup = schedule(ROLLUP_JOB, deps.config.ROLLUP_CRON, community);
  if (!community) deps.status.scheduled(ROLLUP_JOB, deps.config.ROLLUP_CRON, () => rollup.nextRun());

  void restoreStatus(deps).catch(() => {});
  if (community) {
    void (async () => {
      await runMaintenanceJob(deps, POLICIES_JOB, deps.now());
      const layout = await readStorageLayout(deps.db);
      if (!layout.caggs.has('path_probe_hourly') || !layout.caggs.has('hop_quality_hourly')) {
        log.warn('rollups are plain tables on a community TimescaleDB; the collector refreshes them itself');
        deps.status.scheduled(ROLLUP_JOB, deps.config.ROLLUP_CRON, () => rollup.nextRun());
        rollup.resume();
      }
    })().catch((err) => log.error('could not ensure the native policies', { err: (err as Error).message }));
  }
  log.info('maintenance scheduled', {
    retention: deps.config.MAINTENANCE_CRON,
    rollup: community ? 'native policy' : deps.config.ROLLUP_CRON,
    raw_days: deps.config.RETENTION_RAW_DAYS,
    rollup_days: deps.config.RETENTION_ROLLUP_DAYS,
    incident_days: deps.config.RETENTION_INCIDENT_DAYS,
    compress_after_days: community ? deps.config.COMPRESS_AFTER_DAYS : null,
  });
  return [retention, rollup];
}

/** A restarted collector shows the last persisted runs in /healthz until its jobs run again. */
async function restoreStatus(deps: AppDeps) {
  for (const r of await listJobRuns(deps.db)) {
    if (!(MAINTENANCE_JOBS as readonly string[]).includes(r.name) || !r.last_run_at) continue;
    if (deps.status.get(r.name)?.last_run_at) continue;
    deps.status.record(r.name, {
      at: r.last_run_at,
      ok: r.last_result !== 'error',
      skipped: r.last_result === 'skipped',
      ...(r.last_error ? { error: r.last_error } : {}),
      durationMs: r.duration_ms ?? 0,
      details: (r.details ?? {}) as Record<string, unknown>,
    });
  }
}
