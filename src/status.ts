/** In-process state of scheduled jobs and rules, shown by /healthz and persisted to job_state. */
export interface JobStatus {
  name: string;
  schedule?: string;
  next_run_at: string | null;
  last_run_at: string | null;
  last_success_at: string | null;
  last_result: 'ok' | 'error' | 'skipped' | null;
  last_error: string | null;
  duration_ms: number | null;
  details?: Record<string, unknown>;
}

/** The database answered but could not do the work (disk full, read-only, out of memory…), or did not answer. */
export interface DatabaseTrouble {
  reason: string;
  since: string;
  last_at: string;
}

export class StatusRegistry {
  private readonly jobs = new Map<string, JobStatus>();
  private readonly nextRun = new Map<string, () => Date | null>();
  private trouble: DatabaseTrouble | null = null;

  /**
   * A request or job failed because the database cannot work now. A
   * database that still answers reads (a full disk refuses only what needs
   * new space) is otherwise invisible to a probe that only reads.
   */
  databaseFailed(reason: string, at: Date): void {
    const iso = at.toISOString();
    this.trouble = { reason, since: this.trouble?.since ?? iso, last_at: iso };
  }

  /** A write went through (a committed POST, an engine tick, a passed write probe). */
  databaseRecovered(): void {
    this.trouble = null;
  }

  databaseTrouble(): DatabaseTrouble | null {
    return this.trouble;
  }

  /** Lists a job from start-up on, before its first run. */
  scheduled(name: string, schedule: string, nextRun: () => Date | null): void {
    this.nextRun.set(name, nextRun);
    const cur = this.jobs.get(name);
    this.jobs.set(name, { ...(cur ?? blank(name)), schedule });
  }

  record(name: string, r: { at: Date; ok: boolean; skipped?: boolean; error?: string; durationMs: number; details?: Record<string, unknown> }): JobStatus {
    const cur = this.jobs.get(name) ?? blank(name);
    const next: JobStatus = {
      ...cur,
      last_run_at: r.at.toISOString(),
      last_success_at: r.ok ? r.at.toISOString() : cur.last_success_at,
      last_result: r.skipped ? 'skipped' : r.ok ? 'ok' : 'error',
      last_error: r.ok ? null : (r.error ?? 'unknown error'),
      duration_ms: Math.round(r.durationMs * 10) / 10,
      ...(r.details ? { details: r.details } : {}),
    };
    this.jobs.set(name, next);
    return next;
  }

  get(name: string): JobStatus | undefined {
    const j = this.jobs.get(name);
    return j && this.withNext(j);
  }

  list(): JobStatus[] {
    return [...this.jobs.values()].map((j) => this.withNext(j)).sort((a, b) => a.name.localeCompare(b.name));
  }

  private withNext(j: JobStatus): JobStatus {
    const next = this.nextRun.get(j.name)?.();
    return { ...j, next_run_at: next ? next.toISOString() : null };
  }
}

function blank(name: string): JobStatus {
  return { name, next_run_at: null, last_run_at: null, last_success_at: null, last_result: null, last_error: null, duration_ms: null };
}
