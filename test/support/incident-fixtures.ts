import type { Insertable } from 'kysely';
import type { Executor } from '../../src/db/database.ts';
import type { Incidents, Nodes } from '../../src/db/schema.generated.ts';
import { scopeKey, type IncidentKind, type Scope, type Severity } from '../../src/incidents/incident.schema.ts';
import { link, linksOf, route, routeKey, type Link, type Route } from '../../src/incidents/keys.ts';

// Test-only: incidents, events, probes and registry rows written straight into
// the tables, in the shape the engine and ingest write them, so API tests do
// not depend on the engine's rules.

type TimeLike = Date | string;
const d = (t: TimeLike) => new Date(t);

export interface EventFixture {
  at: TimeLike;
  event: string;
  detail?: Record<string, unknown>;
}

export interface IncidentFixture {
  id?: string;
  kind?: IncidentKind;
  scope?: Scope;
  severity?: Severity;
  /** Default: closed when ended_at is set, else open. */
  status?: 'open' | 'clearing' | 'closed';
  started_at: TimeLike;
  ended_at?: TimeLike | null;
  detected_at?: TimeLike;
  updated_at?: TimeLike;
  parent_id?: string | null;
  cause?: string;
  next_steps?: string[];
  evidence?: Record<string, unknown>;
  /** Hop list of a route scope: adds its nodes and links. */
  hops?: string[];
  /** Extra affected routes: {src, dst}, or "S>D" (no node name holds ">"). */
  routes?: Array<Route | string>;
  nodes?: string[];
  links?: Link[];
  /** Default: opened at started_at, closed at ended_at. */
  events?: EventFixture[];
}

let seq = 0;
/** Ids that sort in creation order, unique across a test file. */
export const nextId = (prefix = 'inc_t') => `${prefix}${String(++seq).padStart(6, '0')}`;

const uniq = (xs: string[]) => [...new Set(xs)];

/** Open incidents are unique per (kind, scope): without a scope, each fixture gets its own route. */
const scopeOf = (f: IncidentFixture & { id: string }): Scope => f.scope ?? { type: 'route', src: 'SRC', dst: `DST_${f.id}` };

function touched(f: IncidentFixture & { id: string }): { nodes: string[]; links: Link[]; routes: Route[] } {
  const s = scopeOf(f);
  const nodes: string[] = [];
  const links: Link[] = [];
  const routes: Route[] = [];
  if (s.type === 'route') {
    routes.push(route(s.src, s.dst));
    nodes.push(s.src, s.dst);
  } else if (s.type === 'link') {
    links.push(link(s.a, s.b));
    nodes.push(s.a, s.b);
  } else if (s.node !== '*') {
    nodes.push(s.node);
  }
  const hops = f.hops ?? [];
  nodes.push(...hops);
  links.push(...linksOf(hops));
  for (const x of f.routes ?? []) {
    const r = typeof x === 'string' ? route(x.slice(0, x.indexOf('>')), x.slice(x.indexOf('>') + 1)) : x;
    routes.push(r);
    nodes.push(r.src, r.dst);
  }
  // In the given order (the engine sorts; tests may not).
  const ordered = <T>(xs: T[], key: (x: T) => string) => [...new Map(xs.map((x) => [key(x), x])).values()];
  return { nodes: uniq([...nodes, ...(f.nodes ?? [])]), links: ordered([...links, ...(f.links ?? [])], (l) => `${l.a} ${l.b}`), routes: ordered(routes, (r) => routeKey(r)) };
}

export function incidentRow(fixture: IncidentFixture): Insertable<Incidents> {
  const f = { ...fixture, id: fixture.id ?? nextId() };
  const scope = scopeOf(f);
  const { nodes, links, routes } = touched(f);
  const ended = f.ended_at ? d(f.ended_at) : null;
  const status = f.status ?? (ended ? 'closed' : 'open');
  const kind = f.kind ?? 'jitter_burst';
  return {
    id: f.id,
    kind,
    scope: JSON.stringify(scope),
    scope_key: scopeKey(scope),
    status,
    severity: f.severity ?? 'major',
    impact: JSON.stringify({ routes_affected: routes.length, routes: routes.slice(0, 20).map((r) => routeKey(r)), nodes }),
    cause: f.cause ?? `test cause of ${kind}`,
    next_steps: f.next_steps ?? ['look', 'fix'],
    evidence: JSON.stringify(f.evidence ?? { thresholds: { jitter_ms: 30, loss_pct: 2 } }),
    nodes,
    links: JSON.stringify(links),
    routes: JSON.stringify(routes),
    started_at: d(f.started_at),
    ended_at: ended,
    detected_at: f.detected_at ? d(f.detected_at) : new Date(d(f.started_at).getTime() + 60_000),
    updated_at: f.updated_at ? d(f.updated_at) : (ended ?? new Date(d(f.started_at).getTime() + 60_000)),
    clear_since: status === 'clearing' ? new Date(d(f.started_at).getTime() + 120_000) : null,
    last_data_at: null,
    parent_id: f.parent_id ?? null,
  };
}

export function defaultEvents(row: Insertable<Incidents>): EventFixture[] {
  const ev: EventFixture[] = [{ at: row.started_at as Date, event: 'opened', detail: { severity: row.severity } }];
  if (row.ended_at) ev.push({ at: row.ended_at as Date, event: 'closed', detail: { closed_by: 'clear' } });
  return ev;
}

/** Inserts incidents (parents before children, in the given order) and their events. Returns their ids. */
export async function insertIncidents(db: Executor, fixtures: IncidentFixture[]): Promise<string[]> {
  if (!fixtures.length) return [];
  const rows = fixtures.map(incidentRow);
  await db.insertInto('incidents').values(rows).execute();
  const events = rows.flatMap((row, i) =>
    (fixtures[i]!.events ?? defaultEvents(row)).map((e) => ({
      incident_id: row.id,
      at: d(e.at),
      event: e.event,
      detail: JSON.stringify(e.detail ?? {}),
    })),
  );
  if (events.length) await db.insertInto('incident_events').values(events).execute();
  return rows.map((r) => r.id);
}

export async function insertIncident(db: Executor, f: IncidentFixture): Promise<string> {
  return (await insertIncidents(db, [f]))[0]!;
}

export interface ProbeFixture {
  time: TimeLike;
  src: string;
  dst: string;
  route?: string[];
  rtt_ms?: number | null;
  jitter_ms?: number | null;
  loss_pct?: number | null;
}

export async function insertProbes(db: Executor, probes: ProbeFixture[]): Promise<void> {
  for (let i = 0; i < probes.length; i += 1000) {
    await db
      .insertInto('path_probe')
      .values(
        probes.slice(i, i + 1000).map((p) => ({
          time: d(p.time),
          src: p.src,
          dst: p.dst,
          route: p.route ?? [p.src, p.dst],
          rtt_ms: p.rtt_ms ?? null,
          jitter_ms: p.jitter_ms ?? null,
          loss_pct: p.loss_pct ?? null,
          sent_at: d(p.time),
          received_at: d(p.time),
        })),
      )
      .execute();
  }
}

/** Probe windows of one route every `everyS` seconds over [from, to). */
export function probeSeries(
  src: string,
  dst: string,
  from: TimeLike,
  to: TimeLike,
  everyS: number,
  metrics: (t: Date, i: number) => Partial<ProbeFixture> = () => ({ rtt_ms: 20, jitter_ms: 5, loss_pct: 0 }),
): ProbeFixture[] {
  const out: ProbeFixture[] = [];
  for (let t = d(from).getTime(), i = 0; t < d(to).getTime(); t += everyS * 1000, i++) {
    out.push({ time: new Date(t), src, dst, ...metrics(new Date(t), i) });
  }
  return out;
}

export async function insertNode(db: Executor, n: Partial<Insertable<Nodes>> & { node: string; last_received_at: TimeLike }): Promise<void> {
  const received = d(n.last_received_at);
  await db
    .insertInto('nodes')
    .values({
      first_seen: n.first_seen ?? new Date(received.getTime() - 86_400_000),
      last_seen: n.last_seen ?? received,
      ...n,
      last_received_at: received,
    })
    .execute();
}

export async function saveEngineTick(db: Executor, at: TimeLike): Promise<void> {
  await db
    .insertInto('job_state')
    .values({ name: 'engine', last_run_at: d(at), last_success_at: d(at), last_result: 'ok', duration_ms: 12 })
    .onConflict((oc) => oc.column('name').doUpdateSet({ last_run_at: d(at) }))
    .execute();
}
