import { createHash } from 'node:crypto';
import { scopeKey, type IncidentKind, type Scope, type Severity } from '../incidents/incident.schema.ts';
import { link, linkKey, route, routeKey, type Link, type Route } from '../incidents/keys.ts';
import type { IncidentEvent, IncidentRow, NewIncidentRow } from './incidents.repository.ts';
import { playbook } from './playbook.ts';
import { MINUTE, type EvidenceWindow, type Finding, type Run } from './rule.ts';
import type { RulesConfig } from './rules.config.ts';

/**
 * An incident's lifecycle state. `clearing`: the condition has been clear
 * since `clearSince`, waiting out close_after with data present. A trigger
 * while clearing puts it back to `open` (same incident, no re-open churn).
 */
export type LifeState =
  | { status: 'open' }
  | { status: 'clearing'; clearSince: Date }
  | { status: 'closed'; endedAt: Date; closedBy: ClosedBy };

/** Why an incident closed: its condition cleared, its data stopped (stale), or its node was retired (agent_silent). */
export type ClosedBy = 'clear' | 'no_data' | 'retired';

/** An incident as the engine works on it during one tick. */
export interface Tracked {
  id: string;
  kind: IncidentKind;
  scope: Scope;
  scopeKey: string;
  state: LifeState;
  severity: Severity;
  startedAt: Date;
  detectedAt: Date;
  updatedAt: Date;
  lastDataAt: Date | null;
  parentId: string | null;
  cause: string;
  nextSteps: string[];
  evidence: Record<string, unknown>;
  impact: Record<string, unknown>;
  routes: Route[];
  nodes: string[];
  links: Link[];
  /** Not yet in the database. */
  isNew: boolean;
  /** The persisted form when loaded, to write only what changed. */
  loadedSignature: string | null;
  events: IncidentEvent[];
}

const SEVERITY_RANK: Record<Severity, number> = { minor: 0, major: 1, critical: 2 };
export const maxSeverity = (a: Severity, b: Severity): Severity => (SEVERITY_RANK[b] > SEVERITY_RANK[a] ? b : a);

/** Deterministic: the same incident re-derived from the same data gets the same id. */
export function incidentId(kind: IncidentKind, key: string, startedAt: Date): string {
  const h = createHash('sha256').update(`${kind}|${key}|${startedAt.toISOString()}`).digest('hex');
  return `inc_${h.slice(0, 20)}`;
}

export function fromRow(row: IncidentRow): Tracked {
  const state: LifeState = row.ended_at
    ? { status: 'closed', endedAt: new Date(row.ended_at), closedBy: ((row.evidence as Record<string, unknown>)?.closed_by as ClosedBy) ?? 'clear' }
    : row.status === 'clearing' && row.clear_since
      ? { status: 'clearing', clearSince: new Date(row.clear_since) }
      : { status: 'open' };
  const t: Tracked = {
    id: row.id,
    kind: row.kind as IncidentKind,
    scope: row.scope as Scope,
    scopeKey: row.scope_key,
    state,
    severity: row.severity as Severity,
    startedAt: new Date(row.started_at),
    detectedAt: new Date(row.detected_at),
    updatedAt: new Date(row.updated_at),
    lastDataAt: row.last_data_at ? new Date(row.last_data_at) : null,
    parentId: row.parent_id,
    cause: row.cause,
    nextSteps: row.next_steps,
    evidence: (row.evidence ?? {}) as Record<string, unknown>,
    impact: (row.impact ?? {}) as Record<string, unknown>,
    // Rebuilt, not taken as read: jsonb reorders object keys, and the signature compares JSON text.
    routes: (row.routes as Route[]).map((r) => route(r.src, r.dst)),
    nodes: row.nodes,
    links: (row.links as Link[]).map((l) => link(l.a, l.b)),
    isNew: false,
    loadedSignature: null,
    events: [],
  };
  t.loadedSignature = signature(t);
  return t;
}

/** The persisted columns of an incident, as written. */
export function toRow(t: Tracked): NewIncidentRow {
  return {
    id: t.id,
    kind: t.kind,
    scope: JSON.stringify(t.scope),
    scope_key: t.scopeKey,
    status: t.state.status,
    severity: t.severity,
    impact: JSON.stringify(t.impact),
    cause: t.cause,
    next_steps: t.nextSteps,
    evidence: JSON.stringify(t.evidence),
    nodes: t.nodes,
    links: JSON.stringify(t.links),
    routes: JSON.stringify(t.routes),
    started_at: t.startedAt,
    ended_at: t.state.status === 'closed' ? t.state.endedAt : null,
    detected_at: t.detectedAt,
    updated_at: t.updatedAt,
    clear_since: t.state.status === 'clearing' ? t.state.clearSince : null,
    last_data_at: t.lastDataAt,
    parent_id: t.parentId,
  };
}

// No replacer: Dates serialize through their toJSON, and a replacer function
// takes JSON.stringify off its fast path (this runs for every open incident, twice a tick).
export function signature(t: Tracked): string {
  const { updated_at: _u, ...rest } = toRow(t);
  return JSON.stringify(rest);
}

/** The key of `StepInput.lastClosed`: one per kind and scope. */
export const closeKey = (kind: string, scopeKey: string) => `${kind}|${scopeKey}`;

export interface StepInput {
  kind: IncidentKind;
  now: Date;
  rules: RulesConfig;
  findings: Finding[];
  /** Open incidents (ended_at IS NULL) of this kind. */
  open: Tracked[];
  /** closeKey(kind, scope_key) → ended_at of the latest closed incident. */
  lastClosed: ReadonlyMap<string, Date>;
  /** Kinds whose silence is the condition itself: never closed for lack of data. */
  exemptFromStale?: boolean;
}

/**
 * Advances every incident of one kind by one tick: open the scopes whose
 * trigger held after their last incident ended, refresh the open ones, move
 * them to clearing / closed. Returns every incident it touched or created.
 */
export function step(input: StepInput): Tracked[] {
  const { kind, now, findings, open, lastClosed } = input;
  const openByKey = new Map(open.map((t) => [t.scopeKey, t]));
  const seen = new Set<string>();
  const out: Tracked[] = [];

  for (const f of findings) {
    const key = scopeKey(f.scope);
    if (seen.has(key)) continue;
    seen.add(key);
    let t = openByKey.get(key);
    if (!t) {
      // Triggers up to the last close belong to that incident; a run still
      // going after it (late data) starts a new one just after the close.
      const prevEnd = lastClosed.get(closeKey(kind, key));
      const fresh = f.runs.filter((r) => !prevEnd || r.end > prevEnd);
      if (!fresh.length) continue;
      const start = prevEnd && fresh[0]!.start <= prevEnd ? new Date(prevEnd.getTime() + 1000) : fresh[0]!.start;
      t = create(kind, f.scope, key, start, now);
    }
    advance(t, f, input);
    out.push(t);
  }
  for (const t of open) {
    if (seen.has(t.scopeKey)) continue;
    advance(t, null, input);
    out.push(t);
  }
  return out;
}

function create(kind: IncidentKind, scope: Scope, key: string, startedAt: Date, now: Date): Tracked {
  const play = playbook(kind, scope);
  const t: Tracked = {
    id: incidentId(kind, key, startedAt),
    kind,
    scope,
    scopeKey: key,
    state: { status: 'open' },
    severity: 'minor',
    startedAt,
    detectedAt: now,
    updatedAt: now,
    lastDataAt: null,
    parentId: null,
    cause: play.cause,
    nextSteps: play.next_steps,
    evidence: {},
    impact: {},
    routes: [],
    nodes: [],
    links: [],
    isNew: true,
    loadedSignature: null,
    events: [],
  };
  return t;
}

function advance(t: Tracked, f: Finding | null, { now, rules, exemptFromStale }: StepInput): void {
  const cfg = rules.lifecycle;
  const closeAfter = cfg.close_after_min * MINUTE;
  const runs = (f?.runs ?? []).filter((r) => r.end >= t.startedAt);

  let severity = t.isNew ? (runs[0]?.severity ?? 'minor') : t.severity;
  for (const r of runs) severity = maxSeverity(severity, r.severity);

  const ev = { ...t.evidence };
  if (f) Object.assign(ev, f.evidence);
  // Hop lists accumulate: the lookback moves on, the incident's paths stay.
  if (t.evidence.hop_lists || f?.evidence.hop_lists) {
    const lists = [...((t.evidence.hop_lists as string[][]) ?? []), ...((f?.evidence.hop_lists as string[][]) ?? [])];
    ev.hop_lists = [...new Map(lists.map((l) => [l.join('>'), l])).values()].slice(0, MAX_HOP_LISTS);
  }
  ev.peaks = mergePeaks((ev.peaks as Record<string, number>) ?? {}, runs);
  ev.windows = mergeWindows((t.evidence.windows as EvidenceWindow[]) ?? [], runs, cfg.max_evidence_windows);
  const lastRun = runs.at(-1);
  const lastTriggerAt = lastRun ? maxIso(ev.last_trigger_at as string | undefined, lastRun.end) : (ev.last_trigger_at as string | undefined);
  const lastDataAt = maxDate(t.lastDataAt, f?.lastDataAt ?? null);

  if (f) {
    t.routes = unionBy(t.routes, f.routes, (r) => routeKey(r));
    t.nodes = unionBy(t.nodes, f.nodes, (n) => n);
    t.links = unionBy(t.links, f.links, (l) => linkKey(l));
    if (f.cause && !t.parentId) t.cause = f.cause;
  }
  t.impact = {
    ...t.impact,
    ...(f?.impact ?? {}),
    routes_affected: t.routes.length,
    routes: t.routes.slice(0, cfg.max_routes_listed).map((r) => routeKey(r)),
    ...(t.routes.length > cfg.max_routes_listed ? { routes_truncated: true } : {}),
    nodes: t.nodes,
  };
  if (!(t.routes.length > cfg.max_routes_listed)) delete t.impact.routes_truncated;

  const prevState = t.state;
  const holding = runs.some((r) => r.clearAt === null);
  let next: LifeState = prevState;
  if (holding) {
    next = { status: 'open' };
  } else {
    // The first clear window: seen in the data, or remembered from an earlier
    // tick, or (a rule judged at `now` only) this tick — but only when data
    // arrived after the last trigger: no data says nothing either way.
    const lastTrigger = lastTriggerAt ? Date.parse(lastTriggerAt) : t.startedAt.getTime();
    const clearSince =
      lastRun?.clearAt ??
      (prevState.status === 'clearing' ? prevState.clearSince : null) ??
      f?.clearSince ??
      (f?.lastDataAt && f.lastDataAt.getTime() > lastTrigger ? now : null);
    if (clearSince) {
      next = lastDataAt && lastDataAt.getTime() - clearSince.getTime() >= closeAfter
        ? { status: 'closed', endedAt: clearSince, closedBy: 'clear' }
        : { status: 'clearing', clearSince };
    }
  }
  if (f?.retiredAt && next.status !== 'closed') {
    // Gone for good (agent_silent's retire_after): closed at the instant it retired, whatever the tick.
    next = { status: 'closed', endedAt: f.retiredAt, closedBy: 'retired' };
    ev.closed_by = 'retired';
  }
  if (next.status !== 'closed' && !exemptFromStale) {
    const last = lastDataAt ?? t.startedAt;
    if (now.getTime() - last.getTime() >= cfg.stale_close_after_min * MINUTE) {
      next = { status: 'closed', endedAt: now, closedBy: 'no_data' };
      ev.closed_by = 'no_data';
    }
  }
  if (next.status === 'closed' && next.closedBy === 'clear') ev.closed_by = 'clear';

  if (t.isNew) {
    t.events.push({ incident_id: t.id, at: now, event: 'opened', detail: { severity, started_at: t.startedAt.toISOString() } });
  } else if (severity !== t.severity) {
    t.events.push({ incident_id: t.id, at: now, event: 'severity_changed', detail: { from: t.severity, to: severity } });
  }
  if (next.status === 'closed') {
    t.events.push({ incident_id: t.id, at: now, event: 'closed', detail: { ended_at: next.endedAt.toISOString(), closed_by: next.closedBy } });
  } else if (next.status === 'clearing' && prevState.status !== 'clearing') {
    t.events.push({ incident_id: t.id, at: now, event: 'clearing', detail: { clear_since: next.clearSince.toISOString() } });
  } else if (next.status === 'open' && prevState.status === 'clearing') {
    t.events.push({ incident_id: t.id, at: now, event: 'active_again', detail: {} });
  }

  // Heartbeats (latest data, latest trigger) are written when they move by a
  // minute or the state changes: an open incident is not rewritten every tick.
  const settled = next.status === prevState.status && !t.isNew;
  const beat = (stored: string | undefined, fresh: string | undefined) =>
    settled && stored && fresh && Date.parse(fresh) - Date.parse(stored) < HEARTBEAT_MS ? stored : fresh;
  const trig = beat(t.evidence.last_trigger_at as string | undefined, lastTriggerAt);
  if (trig) ev.last_trigger_at = trig;
  const data = beat(t.lastDataAt?.toISOString(), lastDataAt?.toISOString());
  if (data) ev.last_data_at = data;

  t.state = next;
  t.severity = severity;
  t.evidence = ev;
  t.lastDataAt = data ? new Date(data) : null;
}

const HEARTBEAT_MS = 60_000;
const MAX_HOP_LISTS = 10;

function mergePeaks(peaks: Record<string, number>, runs: Run[]): Record<string, number> {
  const out = { ...peaks };
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.peaks)) {
      const cur = out[k];
      // "min_" peaks are the lowest seen (e.g. min LQ), the rest the highest.
      out[k] = cur === undefined ? v : k.startsWith('min_') ? Math.min(cur, v) : Math.max(cur, v);
    }
  }
  return out;
}

function mergeWindows(kept: EvidenceWindow[], runs: Run[], cap: number): EvidenceWindow[] {
  const byAt = new Map(kept.map((w) => [w.at, w]));
  for (const r of runs) for (const w of r.windows) if (!byAt.has(w.at)) byAt.set(w.at, w);
  return [...byAt.values()].sort((a, b) => a.at.localeCompare(b.at)).slice(0, cap);
}

/** a ∪ b by text form, sorted by it; `a` itself when b adds nothing (the signature then stays the same). */
function unionBy<T>(a: T[], b: T[], key: (x: T) => string): T[] {
  const have = new Map(a.map((x) => [key(x), x]));
  if (b.every((x) => have.has(key(x)))) return a;
  for (const x of b) if (!have.has(key(x))) have.set(key(x), x);
  return [...have].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, v]) => v);
}
const maxDate = (a: Date | null, b: Date | null) => (!a ? b : !b ? a : a > b ? a : b);
const maxIso = (a: string | undefined, b: Date) => (a && a > b.toISOString() ? a : b.toISOString());
