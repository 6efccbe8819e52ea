import type { Severity } from '../incidents/incident.schema.ts';

export type OverallHealth = 'green' | 'yellow' | 'red';

/** spec/rules.md: green when nothing is open, red when any critical is open, yellow otherwise. */
export function overallHealth(openSeverities: Iterable<Severity>): OverallHealth {
  let any = false;
  for (const s of openSeverities) {
    if (s === 'critical') return 'red';
    any = true;
  }
  return any ? 'yellow' : 'green';
}
