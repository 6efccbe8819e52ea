/**
 * A promise that did not settle in time. Its code is the one a driver gives
 * a connection that timed out, so `unavailableReason` and the doctor's
 * checks read both the same way.
 */
export class TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * `p`, or a TimeoutError with `message` once `ms` have passed. The work
 * behind `p` is not cancelled (a query goes on until the server ends it);
 * the caller only stops waiting. The timer never outlives the race.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, message = `no answer within ${ms} ms`): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Waits for `p` at most `ms`: true when it settled (either way), false when it was still running. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(p.then(() => true, () => true), ms).catch(() => false);
}
