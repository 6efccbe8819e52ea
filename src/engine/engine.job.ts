import { Cron } from 'croner';
import type pg from 'pg';
import type { AppDeps } from '../app-deps.ts';
import { publicReason, unavailableReason } from '../db/database.ts';
import { saveJobRun } from '../jobs/job-state.repository.ts';
import type { Logger } from '../log.ts';
import { runTick, type TickResult } from './engine.ts';
import { ENGINE_LEADER_KEY, pingSession, tryLeaderLock, tryTickLock, unlockLeader } from './leader-lock.repository.ts';
import { rulesFromConfig, type RulesConfig } from './rules.config.ts';

export const ENGINE_JOB = 'engine';
const PING_TIMEOUT_MS = 5_000;

/**
 * Leadership = a session-level advisory lock on one pooled connection kept
 * out of the pool for as long as this collector leads. When that session
 * dies (collector killed, network cut, backend terminated) the server drops
 * the lock and another collector's next tick takes it.
 */
export class LeaderLock {
  private client: pg.PoolClient | null = null;
  private pid: number | null = null;
  private dead = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool | undefined,
    private readonly log: Logger,
    private readonly key = ENGINE_LEADER_KEY,
  ) {}

  /** Backend pid of the session holding the lock, while this process leads. */
  get backendPid(): number | null {
    return this.client ? this.pid : null;
  }

  /** True when this process leads after the call. Throws when the database is unreachable. */
  async ensure(): Promise<boolean> {
    if (this.stopped) return false;
    // PGlite lives inside this process: nobody else can evaluate on it.
    if (!this.pool) return true;
    if (this.client) {
      if (!this.dead) {
        try {
          // A half-open connection (network cut) would hang the ping, and with it every later tick.
          await withTimeout(pingSession(this.client), PING_TIMEOUT_MS, 'leader lock connection did not answer');
          return true;
        } catch (err) {
          this.log.warn('engine leader lock connection lost', { err: (err as Error).message });
        }
      }
      this.drop();
    }
    const client = await this.pool.connect();
    // A checked-out client has no error listener of the pool's: without ours
    // a dying connection would crash the process.
    const onError = (err: Error) => {
      this.dead = true;
      this.log.warn('engine leader lock connection error', { err: err.message });
    };
    client.on('error', onError);
    let locked = false;
    try {
      const r = await tryLeaderLock(client, this.key);
      locked = r.locked;
      this.pid = r.pid;
    } catch (err) {
      client.removeListener('error', onError);
      client.release(err as Error);
      throw err;
    }
    if (!locked || this.stopped) {
      client.removeListener('error', onError);
      // Destroying rather than returning it: a session that might hold the lock must not be reused.
      client.release(locked ? true : undefined);
      return false;
    }
    this.client = client;
    this.dead = false;
    this.log.info('engine leadership acquired', { backend_pid: this.pid });
    return true;
  }

  /**
   * Gives leadership up for good: unlocks explicitly (so a standby can take
   * over as soon as this resolves), then closes the session. Bounded, so a
   * hung server cannot hold up shutdown.
   */
  async release(): Promise<void> {
    this.stopped = true;
    const c = this.client;
    if (c && !this.dead) {
      await Promise.race([unlockLeader(c, this.key).catch(() => {}), Bun.sleep(1_000)]);
    }
    this.drop();
  }

  /** Closes the lock session rather than pooling it: a session that may hold the lock must not be reused. */
  private drop() {
    const c = this.client;
    this.client = null;
    this.dead = false;
    if (!c) return;
    try {
      c.release(true);
    } catch {
      // already released
    }
  }
}

export type TickOutcome =
  | { role: 'leader'; result: TickResult; durationMs: number }
  | { role: 'standby'; reason: 'not_leader' | 'tick_in_progress'; durationMs: number }
  | { role: 'error'; error: string; unavailable: boolean; durationMs: number };

export interface EngineRunner {
  readonly rules: RulesConfig;
  readonly leader: LeaderLock;
  /** One evaluation at `now`; never throws (failures are recorded). */
  tick(now: Date): Promise<TickOutcome>;
  /** Releases the leader lock (resolved once a standby can take over); later ticks do nothing. */
  stop(): Promise<void>;
}

type RunnerDeps = Pick<AppDeps, 'db' | 'pool' | 'log' | 'metrics' | 'status'>;

export function createEngineRunner(deps: RunnerDeps, rules: RulesConfig): EngineRunner {
  const log = deps.log.child({ job: ENGINE_JOB });
  const leader = new LeaderLock(deps.pool, log);
  let failing = false;
  let stopped = false;
  let standingBy = false;

  const tick = async (now: Date): Promise<TickOutcome> => {
    const t0 = performance.now();
    const elapsed = () => performance.now() - t0;
    if (stopped) return { role: 'standby', reason: 'not_leader', durationMs: 0 };
    try {
      if (!(await leader.ensure())) {
        deps.status.record(ENGINE_JOB, { at: now, ok: true, skipped: true, durationMs: elapsed(), details: { role: 'standby' } });
        if (!standingBy) log.info('engine standing by: another collector evaluates');
        standingBy = true;
        recovered();
        return { role: 'standby', reason: 'not_leader', durationMs: elapsed() };
      }
      standingBy = false;
      const result = await deps.db.transaction().execute(async (trx) => {
        if (!(await tryTickLock(trx))) return null;
        return runTick(trx, now, rules, { log });
      });
      if (!result) {
        deps.status.record(ENGINE_JOB, { at: now, ok: true, skipped: true, durationMs: elapsed(), details: { role: 'leader', skipped: 'tick_in_progress' } });
        return { role: 'standby', reason: 'tick_in_progress', durationMs: elapsed() };
      }
      const durationMs = elapsed();
      record(now, result, durationMs);
      recovered();
      await saveJobRun(deps.db, ENGINE_JOB, {
        at: now,
        ok: true,
        result: 'ok',
        durationMs,
        details: summary(result, leader.backendPid),
      }).then(
        () => deps.status.databaseRecovered(),
        (err) => {
          log.warn('could not save engine run', { err: (err as Error).message });
          const why = unavailableReason(err);
          if (why) deps.status.databaseFailed(why, now);
        },
      );
      return { role: 'leader', result, durationMs };
    } catch (err) {
      const durationMs = elapsed();
      const message = (err as Error).message ?? String(err);
      const unavailableWhy = unavailableReason(err);
      const unavailable = unavailableWhy !== null;
      deps.metrics.engineTickFailures.inc();
      // /healthz and /summary show the error to anyone: a short reason, no addresses; the log keeps the message.
      deps.status.record(ENGINE_JOB, { at: now, ok: false, error: publicReason(err), durationMs, details: { unavailable } });
      if (unavailableWhy) deps.status.databaseFailed(unavailableWhy, now);
      // One line per outage, not one per tick.
      if (!failing) log.error('engine tick failed', { err: message, unavailable });
      else log.debug('engine tick failed', { err: message, unavailable });
      failing = true;
      if (!unavailable) {
        await saveJobRun(deps.db, ENGINE_JOB, { at: now, ok: false, result: 'error', error: publicReason(err), durationMs }).catch(() => {});
      }
      return { role: 'error', error: message, unavailable, durationMs };
    }
  };

  const recovered = () => {
    if (failing) log.info('engine tick recovered');
    failing = false;
  };

  const record = (now: Date, result: TickResult, durationMs: number) => {
    const failed = result.rules.filter((r) => r.error);
    deps.status.record(ENGINE_JOB, {
      at: now,
      ok: true,
      durationMs,
      details: { role: 'leader', opened: result.opened.length, updated: result.updated.length, closed: result.closed.length, ...(failed.length ? { failed_rules: failed.map((r) => r.rule) } : {}) },
    });
    for (const r of result.rules) {
      deps.status.record(`rule:${r.rule}`, {
        at: now,
        ok: !r.error,
        ...(r.error ? { error: r.error } : {}),
        durationMs: r.durationMs,
        details: { health: r.health, findings: r.findings },
      });
      deps.metrics.engineRuleDuration.set({ rule: r.rule }, r.durationMs / 1000);
    }
    deps.metrics.engineTickDuration.observe(durationMs / 1000);
    deps.metrics.engineLastSuccess.set(now.getTime() / 1000);
  };

  return {
    rules,
    leader,
    tick,
    stop: () => {
      stopped = true;
      return leader.release();
    },
  };
}

function summary(result: TickResult, backendPid: number | null): Record<string, unknown> {
  return {
    opened: result.opened.length,
    updated: result.updated.length,
    closed: result.closed.length,
    leader_pid: backendPid,
    rules: Object.fromEntries(
      result.rules.map((r) => [r.rule, { duration_ms: Math.round(r.durationMs * 10) / 10, health: r.health, findings: r.findings, error: r.error ?? null }]),
    ),
  };
}

/** Seconds → a croner schedule: aligned patterns where the interval divides the minute or hour. */
export function engineSchedule(seconds: number): { pattern: string; interval?: number } {
  if (seconds < 60 && 60 % seconds === 0) return { pattern: `*/${seconds} * * * * *` };
  const minutes = seconds / 60;
  if (minutes === 60) return { pattern: '0 0 * * * *' };
  if (Number.isInteger(minutes) && 60 % minutes === 0) return { pattern: `0 */${minutes} * * * *` };
  return { pattern: '* * * * * *', interval: seconds };
}

/**
 * Stopping the job also gives up leadership, so a standby takes over at once
 * and no client stays checked out of the pool (pool.end() would wait for it).
 */
export class EngineCron extends Cron {
  onStop: (() => Promise<void>) | undefined;
  /** Resolves when leadership is released after stop(). */
  released: Promise<void> = Promise.resolve();
  override stop(): void {
    super.stop();
    if (this.onStop) this.released = this.onStop().catch(() => {});
  }
}

/**
 * The Issue Engine's schedule. Rules are loaded here, at start-up: a bad
 * RULES_FILE throws (RulesFileError names the file and every bad key) and the
 * collector does not start.
 */
export function startEngineJob(deps: AppDeps): Cron[] {
  if (!deps.config.ENGINE_ENABLED) {
    deps.log.info('issue engine disabled (ENGINE_ENABLED=false)');
    return [];
  }
  const rules = rulesFromConfig(deps.config);
  const runner = createEngineRunner(deps, rules);
  const { pattern, interval } = engineSchedule(deps.config.ENGINE_INTERVAL);
  const job = new EngineCron(
    pattern,
    {
      name: ENGINE_JOB,
      protect: () => deps.log.warn('engine tick still running; this tick is skipped', { job: ENGINE_JOB }),
      catch: (err) => deps.log.error('engine job failed', { job: ENGINE_JOB, err: (err as Error).message }),
      ...(interval ? { interval } : {}),
    },
    async () => {
      await runner.tick(deps.now());
    },
  );
  job.onStop = () => runner.stop();
  deps.status.scheduled(ENGINE_JOB, interval ? `every ${interval} s` : pattern, () => job.nextRun());
  deps.log.info('issue engine scheduled', { every_s: deps.config.ENGINE_INTERVAL, rules_file: deps.config.RULES_FILE ?? null });
  return [job];
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
