import { sql } from 'kysely';
import type { Executor } from './database.ts';

export interface JobRun {
  at: Date;
  ok: boolean;
  result: 'ok' | 'error' | 'skipped';
  error?: string | null;
  durationMs: number;
  details?: Record<string, unknown>;
}

/** Persists a job's (or the engine's) last run so `meshmon status` in another process can show it. */
export async function saveJobRun(db: Executor, name: string, run: JobRun): Promise<void> {
  await db
    .insertInto('job_state')
    .values({
      name,
      last_run_at: run.at,
      last_success_at: run.ok ? run.at : null,
      last_result: run.result,
      last_error: run.error ?? null,
      duration_ms: run.durationMs,
      details: JSON.stringify(run.details ?? {}),
    })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({
        last_run_at: (eb) => eb.ref('excluded.last_run_at'),
        last_success_at: sql`COALESCE(excluded.last_success_at, job_state.last_success_at)`,
        last_result: (eb) => eb.ref('excluded.last_result'),
        last_error: (eb) => eb.ref('excluded.last_error'),
        duration_ms: (eb) => eb.ref('excluded.duration_ms'),
        details: (eb) => eb.ref('excluded.details'),
      }),
    )
    .execute();
}

export async function listJobRuns(db: Executor) {
  return db.selectFrom('job_state').selectAll().orderBy('name').execute();
}
