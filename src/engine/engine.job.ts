import type { Cron } from 'croner';
import type { AppDeps } from '../app-deps.ts';

export function startEngineJob(_deps: AppDeps): Cron[] {
  return [];
}
