import { redact } from '../db/database.ts';
import type { JobStatus } from '../status.ts';

/**
 * Is the Issue Engine doing its work? `failing`: its last tick failed (no
 * incident opens, changes or closes until one passes); `stale`: this
 * collector schedules it but no tick finished for several intervals (a tick
 * stuck on a lock, a hung database); `unknown`: no tick recorded anywhere
 * (engine disabled here and nobody else ran it yet).
 */
export type EngineCondition = 'ok' | 'failing' | 'stale' | 'unknown';

export interface EngineState {
  state: EngineCondition;
  last_tick_at: string | null;
  last_success_at: string | null;
  /** Why it fails, in a few words (no addresses); null when it does not. */
  error: string | null;
}

/** A tick recorded by whichever collector leads (job_state), as /summary reads it. */
export interface StoredEngineRun {
  last_run_at: Date | string | null;
  last_result: string | null;
  last_error: string | null;
  last_success_at: Date | string | null;
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);
const later = (a: string | null, b: string | null) => (!a ? b : !b ? a : a > b ? a : b);

/** A tick must finish within this many intervals (plus a minute) to count as current. */
const STALE_INTERVALS = 3;

export function engineState(p: { local?: JobStatus | undefined; stored?: StoredEngineRun | null; intervalS: number; now: Date }): EngineState {
  const local = p.local;
  // A standby's own record says only that another collector leads: the leader's is in job_state.
  const leadsHere = !!local?.last_run_at && !(local.last_result === 'skipped' && (local.details as { role?: string } | undefined)?.role === 'standby');
  const storedAt = iso(p.stored?.last_run_at);
  const useLocal = leadsHere && (!storedAt || local!.last_run_at! >= storedAt);
  const lastTick = useLocal ? local!.last_run_at : storedAt;
  const lastResult = useLocal ? local!.last_result : (p.stored?.last_result ?? null);
  const lastError = useLocal ? local!.last_error : (p.stored?.last_error ?? null);
  const lastSuccess = later(local?.last_success_at ?? null, iso(p.stored?.last_success_at));
  const scheduledHere = !!local?.schedule;

  let state: EngineCondition = 'ok';
  if (!lastTick) state = scheduledHere ? 'ok' : 'unknown';
  else if (lastResult === 'error') state = 'failing';
  else if (p.now.getTime() - Date.parse(lastTick) > (STALE_INTERVALS * p.intervalS + 60) * 1000) state = scheduledHere ? 'stale' : 'ok';
  return {
    state,
    last_tick_at: lastTick,
    last_success_at: lastSuccess,
    error: state === 'failing' ? redact(lastError ?? 'unknown error') : state === 'stale' ? `no engine tick finished since ${lastTick}` : null,
  };
}
