import { sql, type Selectable } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Incidents } from '../db/schema.generated.ts';
import type { CursorPosition } from './cursor.ts';

// The read side of incidents. Lists go newest first on (started_at, id), the
// order of the incidents_started index, and page by keyset so a page never
// shifts when the engine inserts meanwhile.

export interface IncidentFilter {
  status: 'open' | 'closed' | 'all';
  since?: Date | undefined;
  until?: Date | undefined;
  kinds?: string[] | undefined;
  severities?: string[] | undefined;
  /** Each is "touching": the key is in incidents.nodes / .links / .routes. */
  node?: string | undefined;
  link?: string | undefined;
  route?: string | undefined;
  rootsOnly: boolean;
  after?: CursorPosition | undefined;
  limit: number;
}

/**
 * A list row, shaped for the wire: times already ISO-8601 UTC text and arrays
 * as JSON, so a page of hundreds of rows skips the driver's Date and text[]
 * parsing (the bulk of a list request's CPU). No evidence: it can be large and
 * cards do not show it.
 */
export interface IncidentListRow {
  id: string;
  kind: string;
  scope: unknown;
  status: string;
  severity: string;
  impact: unknown;
  cause: string;
  next_steps: string[];
  started_at: string;
  ended_at: string | null;
  detected_at: string;
  updated_at: string;
  parent_id: string | null;
  children: number;
  /** started_at to the microsecond, for the cursor. */
  cursor_ts: string;
}

/** Same text as Date.prototype.toISOString (milliseconds, Z). */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * The list row's columns over incidents aliased `a`, as SQL text: for Kysely
 * selects and for raw JSON aggregation alike. Plain text, not sql`` fragments:
 * they have no parameters, and compiling a dozen nested fragments on every
 * request was a tenth of a detail request's CPU.
 */
const LIST_COLUMNS: Record<keyof IncidentListRow, (a: string) => string> = {
  id: (a) => `${a}.id`,
  kind: (a) => `${a}.kind`,
  scope: (a) => `${a}.scope`,
  status: (a) => `${a}.status`,
  severity: (a) => `${a}.severity`,
  impact: (a) => `${a}.impact`,
  cause: (a) => `${a}.cause`,
  next_steps: (a) => `to_json(${a}.next_steps)`,
  started_at: (a) => iso(`${a}.started_at`),
  ended_at: (a) => iso(`${a}.ended_at`),
  detected_at: (a) => iso(`${a}.detected_at`),
  updated_at: (a) => iso(`${a}.updated_at`),
  parent_id: (a) => `${a}.parent_id`,
  children: (a) => `(SELECT count(*) FROM incidents c WHERE c.parent_id = ${a}.id)::int`,
  cursor_ts: (a) => `to_char(${a}.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
};

// Built once: the fragments are immutable and the same for every request.
const LIST_SELECT = Object.entries(LIST_COLUMNS).map(([name, col]) => sql.raw(col('i')).as(name));
const CHILD_COLUMNS = sql.raw(Object.entries(LIST_COLUMNS).map(([name, col]) => `${col('k')} AS "${name}"`).join(', '));
const EVENT_JSON = sql.raw(`json_build_object('at', ${iso('e.at')}, 'event', e.event, 'detail', e.detail)`);

export async function listIncidents(db: Executor, f: IncidentFilter): Promise<IncidentListRow[]> {
  let q = db.selectFrom('incidents as i').select(LIST_SELECT);
  if (f.status === 'open') q = q.where('i.ended_at', 'is', null);
  else if (f.status === 'closed') q = q.where('i.ended_at', 'is not', null);
  // Active at some instant of [since, until].
  if (f.until) q = q.where('i.started_at', '<=', f.until);
  if (f.since) {
    const since = f.since;
    q = q.where((eb) => eb.or([eb('i.ended_at', 'is', null), eb('i.ended_at', '>=', since)]));
  }
  if (f.kinds?.length) q = q.where('i.kind', 'in', f.kinds);
  if (f.severities?.length) q = q.where('i.severity', 'in', f.severities);
  if (f.node) q = q.where(sql<boolean>`i.nodes @> ARRAY[${f.node}]::text[]`);
  if (f.link) q = q.where(sql<boolean>`i.links @> ARRAY[${f.link}]::text[]`);
  if (f.route) q = q.where(sql<boolean>`i.routes @> ARRAY[${f.route}]::text[]`);
  if (f.rootsOnly) q = q.where('i.parent_id', 'is', null);
  if (f.after) q = q.where(sql<boolean>`(i.started_at, i.id) < (${f.after.startedAt}::timestamptz, ${f.after.id})`);
  return (await q.orderBy('i.started_at', 'desc').orderBy('i.id', 'desc').limit(f.limit).execute()) as unknown as IncidentListRow[];
}

export interface EventRow {
  at: string;
  event: string;
  detail: Record<string, unknown>;
}

export type IncidentDetailRow = Selectable<Incidents> & {
  /** Oldest first. */
  events: EventRow[];
  /** Newest first, at most the limit asked for. */
  children_list: IncidentListRow[];
  children_count: number;
};

/**
 * The incident with its timeline and children, in one round trip: a drawer
 * opens often, and on a Pi every query's syscalls and parsing count.
 */
export async function findIncidentDetail(db: Executor, id: string, childrenLimit: number): Promise<IncidentDetailRow | undefined> {
  const { rows } = await sql<IncidentDetailRow>`
    SELECT i.*,
           (SELECT coalesce(json_agg(${EVENT_JSON} ORDER BY e.at, e.id), '[]')
              FROM incident_events e WHERE e.incident_id = i.id) AS events,
           (SELECT coalesce(json_agg(k ORDER BY k.cursor_ts DESC, k.id DESC), '[]')
              FROM (SELECT ${CHILD_COLUMNS} FROM incidents k WHERE k.parent_id = i.id
                    ORDER BY k.started_at DESC, k.id DESC LIMIT ${childrenLimit}) k) AS children_list,
           (SELECT count(*) FROM incidents c WHERE c.parent_id = i.id)::int AS children_count
    FROM incidents i
    WHERE i.id = ${id}`.execute(db);
  return rows[0];
}
