import { Cron } from 'croner';
import type { AppDeps } from '../app-deps.ts';
import { isDatabaseUnavailable } from '../db/database.ts';

export const ADDRESSES_JOB = 'addresses';
/** Every 30 s, and soon after ingest learnt a pair or met an address it cannot name. */
const PATTERN = '*/30 * * * * *';

/**
 * Drains the mesh-address work of this process (reverse DNS, moving rows to
 * learnt names) in the background, one run at a time; recorded in /healthz.
 */
export function startAddressJob(deps: AppDeps): Cron[] {
  const addresses = deps.addresses;
  if (!addresses) return [];
  const log = deps.log.child({ component: 'addresses' });
  const cron = new Cron(
    PATTERN,
    {
      name: ADDRESSES_JOB,
      protect: true,
      catch: (err) => log.error('address job threw', { err: (err as Error).message }),
    },
    async () => {
      const at = deps.now();
      const t0 = performance.now();
      try {
        const details = await addresses.work();
        deps.status.record(ADDRESSES_JOB, { at, ok: true, durationMs: performance.now() - t0, details: { ...details } });
      } catch (err) {
        const error = (err as Error).message ?? String(err);
        deps.status.record(ADDRESSES_JOB, { at, ok: false, error, durationMs: performance.now() - t0, details: { unavailable: isDatabaseUnavailable(err) } });
        log.warn('address job failed', { err: error });
      }
    },
  );
  let soon: ReturnType<typeof setTimeout> | null = null;
  // Coalesced: a burst of reports triggers one run, a second later.
  addresses.onWork(() => {
    soon ??= setTimeout(() => {
      soon = null;
      if (!cron.isStopped() && !cron.isBusy()) void cron.trigger();
    }, 1000);
    (soon as { unref?: () => void }).unref?.();
  });
  deps.status.scheduled(ADDRESSES_JOB, PATTERN, () => cron.nextRun());
  return [cron];
}
