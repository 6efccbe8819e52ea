import { sql, type Selectable } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { Incidents } from '../db/schema.generated.ts';
import type { Link, Route } from '../incidents/keys.ts';
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
  /** Each is "touching": the node, link or route is in incidents.nodes / .links / .routes. */
  node?: string | undefined;
  link?: Link | undefined;
  route?: Route | undefined;
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
  /** The current acknowledgement (incident_acks), null when none. */
  acknowledged: { by: string; at: string; note: string | null } | null;
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
  acknowledged: (a) => `(SELECT json_build_object('by', ack.by, 'at', ${iso('ack.at')}, 'note', ack.note) FROM incident_acks ack WHERE ack.incident_id = ${a}.id)`,
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
  // jsonb containment, what the jsonb_path_ops GIN indexes of migration 0008 answer.
  if (f.link) q = q.where(sql<boolean>`i.links @> ${JSON.stringify([{ a: f.link.a, b: f.link.b }])}::jsonb`);
  if (f.route) q = q.where(sql<boolean>`i.routes @> ${JSON.stringify([{ src: f.route.src, dst: f.route.dst }])}::jsonb`);
  if (f.rootsOnly) q = q.where('i.parent_id', 'is', null);
  if (f.after) q = q.where(sql<boolean>`(i.started_at, i.id) < (${f.after.startedAt}::timestamptz, ${f.after.id})`);
  return (await q.orderBy('i.started_at', 'desc').orderBy('i.id', 'desc').limit(f.limit).execute()) as unknown as IncidentListRow[];
}

/** Of the given links, those some incident touches (incidents.links): to read an ambiguous `?link=`. */
export async function linksHeld(db: Executor, links: Link[]): Promise<Link[]> {
  if (!links.length) return [];
  const { rows } = await sql<Link>`
    SELECT l.a, l.b
    FROM unnest(${links.map((l) => l.a)}::text[], ${links.map((l) => l.b)}::text[]) AS l(a, b)
    WHERE EXISTS (SELECT 1 FROM incidents i WHERE i.links @> jsonb_build_array(jsonb_build_object('a', l.a, 'b', l.b)))
    ORDER BY 1, 2`.execute(db);
  return rows;
}

export interface EventRow {
  at: string;
  event: string;
  detail: Record<string, unknown>;
}

export interface HopListRow {
  src: string;
  dst: string;
  hops: string[];
  windows: number;
  first_seen: string;
  last_seen: string;
}

export interface WindowStats {
  windows: number;
  bad_windows: number;
  bursts: number;
  longest_bad_run: number;
}

export type IncidentDrawerRow = Selectable<Incidents> & {
  acknowledged: IncidentListRow['acknowledged'];
  /** Oldest first. */
  events: EventRow[];
  /** Newest first, at most the limit asked for. */
  children_list: IncidentListRow[];
  children_count: number;
  /** The routes analysed, in order: the scope's own route first, then the engine's list; at most routesLimit. */
  refs: Array<{ src: string; dst: string }>;
  /** Distinct well-formed routes before the limit. */
  routes_total: number;
  /** The span analysed, as ISO text. */
  analysed_from: string;
  analysed_to: string;
  /** The incident's own thresholds where the engine recorded them, else the ones passed in. */
  thresholds: { jitter_ms: number; loss_pct: number };
  /** Distinct hop lists per route over the span (most used first). */
  hop_lists: HopListRow[];
  /** How the bad windows of the judged routes are spread over the span. */
  stats: WindowStats;
};

const HOP_LIST_JSON = sql.raw(
  `json_build_object('src', src, 'dst', dst, 'hops', route, 'windows', windows, 'first_seen', ${iso('first_seen')}, 'last_seen', ${iso('last_seen')})`,
);

/**
 * Everything the details drawer shows, in one statement: a drawer opens
 * often, and each statement's round trip and executor start-up counted for a
 * third of its cost. The incident with its timeline and children; the routes
 * it affects (its own route first, then the ones the engine recorded,
 * deduplicated); over its last `spanMs` (up to now when open) their distinct
 * hop lists, and how the bad windows — jitter or loss over the thresholds —
 * of the judged routes are spread: counts, runs of consecutive bad windows per
 * route (gaps and islands), the longest run. A route incident is judged on its
 * own route, a link or node incident on every route it affects.
 */
export async function findIncidentDrawer(
  db: Executor,
  id: string,
  p: { now: Date; childrenLimit: number; routesLimit: number; spanMs: number; thresholds: { jitter_ms: number; loss_pct: number } },
): Promise<IncidentDrawerRow | undefined> {
  const { rows } = await sql<IncidentDrawerRow>`
    WITH i AS (SELECT * FROM incidents WHERE id = ${id}),
    win AS (
      SELECT t_to, least(t_to, greatest(started_at, t_to - ${p.spanMs} * interval '1 millisecond')) AS t_from
      FROM (SELECT coalesce(ended_at, ${p.now}::timestamptz) AS t_to, started_at FROM i) x
    ),
    thr AS (
      SELECT coalesce(CASE WHEN jsonb_typeof(evidence #> '{thresholds,jitter_ms}') = 'number' THEN (evidence #>> '{thresholds,jitter_ms}')::float8 END, ${p.thresholds.jitter_ms}::float8) AS jitter_ms,
             coalesce(CASE WHEN jsonb_typeof(evidence #> '{thresholds,loss_pct}') = 'number' THEN (evidence #>> '{thresholds,loss_pct}')::float8 END, ${p.thresholds.loss_pct}::float8) AS loss_pct
      FROM i
    ),
    keys AS (
      SELECT src, dst, min(o) AS o FROM (
        SELECT scope ->> 'src' AS src, scope ->> 'dst' AS dst, 0::bigint AS o FROM i WHERE scope ->> 'type' = 'route'
        UNION ALL
        SELECT e ->> 'src', e ->> 'dst', n
        FROM i, jsonb_array_elements(CASE WHEN jsonb_typeof(i.routes) = 'array' THEN i.routes ELSE '[]'::jsonb END) WITH ORDINALITY AS x(e, n)
        WHERE jsonb_typeof(e) = 'object'
      ) a
      WHERE src <> '' AND dst <> ''
      GROUP BY src, dst
    ),
    refs AS (
      SELECT src, dst, rank,
             rank = 1 OR (SELECT scope ->> 'type' FROM i) IS DISTINCT FROM 'route' AS judged
      FROM (SELECT src, dst, row_number() OVER (ORDER BY o, src, dst) AS rank FROM keys) r
      WHERE rank <= ${p.routesLimit}
    ),
    w AS (
      SELECT pp.src, pp.dst, pp.time, pp.route, r.judged,
             (coalesce(pp.jitter_ms, 0) > thr.jitter_ms OR coalesce(pp.loss_pct, 0) > thr.loss_pct) AS bad
      FROM refs r CROSS JOIN thr
      JOIN path_probe pp ON pp.src = r.src AND pp.dst = r.dst
        AND pp.time >= (SELECT t_from FROM win) AND pp.time <= (SELECT t_to FROM win)
    ),
    hl AS (
      SELECT src, dst, route, count(*)::int AS windows, min(time) AS first_seen, max(time) AS last_seen
      FROM w WHERE cardinality(route) > 0
      GROUP BY src, dst, route
    ),
    runs AS (
      SELECT bad, count(*) AS len
      FROM (
        SELECT src, dst, bad,
               row_number() OVER (PARTITION BY src, dst ORDER BY time)
             - row_number() OVER (PARTITION BY src, dst, bad ORDER BY time) AS grp
        FROM w WHERE judged
      ) g
      GROUP BY src, dst, bad, grp
    )
    SELECT i.*,
           ${sql.raw(LIST_COLUMNS.acknowledged('i'))} AS acknowledged,
           (SELECT coalesce(json_agg(${EVENT_JSON} ORDER BY e.at, e.id), '[]')
              FROM incident_events e WHERE e.incident_id = i.id) AS events,
           (SELECT coalesce(json_agg(k ORDER BY k.cursor_ts DESC, k.id DESC), '[]')
              FROM (SELECT ${CHILD_COLUMNS} FROM incidents k WHERE k.parent_id = i.id
                    ORDER BY k.started_at DESC, k.id DESC LIMIT ${p.childrenLimit}) k) AS children_list,
           (SELECT count(*) FROM incidents c WHERE c.parent_id = i.id)::int AS children_count,
           (SELECT coalesce(json_agg(json_build_object('src', src, 'dst', dst) ORDER BY rank), '[]') FROM refs) AS refs,
           (SELECT count(*)::int FROM keys) AS routes_total,
           (SELECT ${sql.raw(iso('t_from'))} FROM win) AS analysed_from,
           (SELECT ${sql.raw(iso('t_to'))} FROM win) AS analysed_to,
           (SELECT json_build_object('jitter_ms', jitter_ms, 'loss_pct', loss_pct) FROM thr) AS thresholds,
           (SELECT coalesce(json_agg(${HOP_LIST_JSON} ORDER BY src, dst, windows DESC, last_seen DESC), '[]') FROM hl) AS hop_lists,
           (SELECT json_build_object(
                     'windows', coalesce(sum(len), 0)::int,
                     'bad_windows', coalesce(sum(len) FILTER (WHERE bad), 0)::int,
                     'bursts', count(*) FILTER (WHERE bad),
                     'longest_bad_run', coalesce(max(len) FILTER (WHERE bad), 0))
              FROM runs) AS stats
    FROM i`.execute(db);
  return rows[0];
}
