import type { Cron } from 'croner';
import type { AppDeps } from '../app-deps.ts';

export function startMaintenanceJobs(_deps: AppDeps): Cron[] {
  return [];
}
