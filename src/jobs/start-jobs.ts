import type { Cron } from 'croner';
import type { AppDeps } from '../app-deps.ts';
import { startEngineJob } from '../engine/engine.job.ts';
import { startAddressJob } from '../ingest/addresses.job.ts';
import { startMaintenanceJobs } from '../ops/maintenance.job.ts';
import { startAlertmanagerJob } from '../alertmanager/alertmanager.job.ts';

/** Every in-process schedule. Each croner job sets name, protect and catch, and passes `now` on. */
export function startJobs(deps: AppDeps): Cron[] {
  return [...startEngineJob(deps), ...startMaintenanceJobs(deps), ...startAlertmanagerJob(deps), ...startAddressJob(deps)];
}
