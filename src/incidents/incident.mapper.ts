import type { Selectable } from 'kysely';
import type { Incidents } from '../db/schema.generated.ts';
import { incidentTitle, type Incident } from './incident.schema.ts';

export type IncidentRow = Selectable<Incidents>;

const iso = (d: Date | string) => new Date(d).toISOString();

/** Row → the API / replay shape. Times are ISO-8601 UTC. */
export function toIncident(row: IncidentRow): Incident {
  const kind = row.kind as Incident['kind'];
  const scope = row.scope as Incident['scope'];
  return {
    id: row.id,
    kind,
    title: incidentTitle(kind, scope),
    scope,
    status: row.status as Incident['status'],
    severity: row.severity as Incident['severity'],
    impact: row.impact as Incident['impact'],
    cause: row.cause,
    next_steps: row.next_steps,
    evidence: (row.evidence ?? {}) as Record<string, unknown>,
    started_at: iso(row.started_at),
    ended_at: row.ended_at ? iso(row.ended_at) : null,
    detected_at: iso(row.detected_at),
    updated_at: iso(row.updated_at),
    parent_id: row.parent_id,
  };
}
