/** Exponential backoff: `initialMs` after the first failure, doubled after each further one, at most `maxMs`. */
export function backoff(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(initialMs * 2 ** Math.max(0, failures - 1), maxMs);
}

export interface RetryOptions {
  /** Whether this failure is worth another attempt; any other is thrown at once. */
  retryIf(err: unknown): boolean;
  /** At most this many attempts (default: no limit but `timeoutMs`). */
  attempts?: number;
  /** No retry whose wait would end later than this many ms after the first attempt started. */
  timeoutMs?: number;
  /** The wait after `failures` failures, before the next attempt (default: none). */
  delayMs?: (failures: number) => number;
  onRetry?(err: unknown, next: { attempt: number; delayMs: number }): void;
}

/** Runs `fn` (given the attempt's number, from 1) until it succeeds, or a failure is not worth retrying, or the limits are reached: then that failure is thrown. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const until = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const delayMs = opts.delayMs?.(attempt) ?? 0;
      if (!opts.retryIf(err) || attempt >= (opts.attempts ?? Infinity) || Date.now() + delayMs > until) throw err;
      opts.onRetry?.(err, { attempt, delayMs });
      if (delayMs > 0) await Bun.sleep(delayMs);
    }
  }
}
