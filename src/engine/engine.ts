import type { Executor } from '../db/database.ts';
import type { IncidentKind } from '../incidents/incident.schema.ts';
import { silentLogger, type Logger } from '../log.ts';
import { correlate } from './correlate.ts';
import { insertEvents, lastCloses, loadLiveIncidents, rollbackToRulesSavepoint, setRulesSavepoint, writeIncidents, type IncidentWrite } from './incidents.repository.ts';
import { closeKey, fromRow, signature, step, toRow, type Tracked } from './lifecycle.ts';
import { MINUTE, type Finding, type Rule } from './rule.ts';
import type { RulesConfig } from './rules.config.ts';
import { agent_misreport } from './rules/agent_misreport.ts';
import { agent_silent } from './rules/agent_silent.ts';
import { bottleneck } from './rules/bottleneck.ts';
import { jitter_burst } from './rules/jitter_burst.ts';
import { loss_spike } from './rules/loss_spike.ts';
import { node_overload } from './rules/node_overload.ts';
import { partition } from './rules/partition.ts';
import { rf_drop } from './rules/rf_drop.ts';
import { route_flap } from './rules/route_flap.ts';

export type { RulesConfig } from './rules.config.ts';

export interface RuleRun {
  rule: string;
  durationMs: number;
  health: 'ok' | 'error';
  error: string | null;
  findings: number;
}

export interface TickResult {
  now: Date;
  durationMs: number;
  rules: RuleRun[];
  opened: string[];
  updated: string[];
  closed: string[];
  /** The incidents as this tick left them: the next tick's starting point, once this tick has committed. */
  carry: Carry;
}

/**
 * The live incidents (what loadLiveIncidents would read back) and the latest
 * close per scope, as one tick left them. A single evaluator running ticks
 * back to back (a replay) hands each tick's carry to the next instead of
 * reading the incidents table again — only after that tick committed.
 */
export interface Carry {
  at: Date;
  live: readonly Tracked[];
  lastClosed: ReadonlyMap<string, Date>;
}

/** Causes before effects: node_overload feeds bottleneck, both come before the route rules; partition shares agent_silent's reads. */
export const RULES: readonly Rule[] = [node_overload, bottleneck, rf_drop, jitter_burst, loss_spike, route_flap, agent_silent, partition, agent_misreport];

/** Kinds whose lack of data is the condition itself. */
const STALE_EXEMPT = new Set<IncidentKind>(['agent_silent', 'partition']);
/** Roots are written before their children (parent_id is a foreign key); within a kind, roots first ("*" before a node). */
const WRITE_ORDER: IncidentKind[] = ['node_overload', 'bottleneck', 'rf_drop', 'partition', 'agent_silent', 'route_flap', 'jitter_burst', 'loss_spike', 'agent_misreport'];

/**
 * One evaluation of every rule at `now`, inside the caller's transaction.
 * A pure function of the stored data with time <= now and the incidents
 * table: the same inputs give the same incidents, and a second tick at the
 * same `now` changes nothing. A failing rule is recorded in its RuleRun and
 * leaves its incidents untouched; the other rules still run.
 */
export async function runTick(db: Executor, now: Date, rules: RulesConfig, opts: { log?: Logger; carry?: Carry | null } = {}): Promise<TickResult> {
  const log = opts.log ?? silentLogger;
  const t0 = performance.now();
  // Closed incidents stay in view for a while: re-parenting, and "a trigger
  // before the last close is not a new incident".
  const horizon = new Date(now.getTime() - 3 * 60 * MINUTE);
  const carry = opts.carry && opts.carry.at <= now ? opts.carry : null;
  const live = carry
    ? carry.live.filter((t) => t.state.status !== 'closed' || t.state.endedAt > horizon).map((t) => ({ ...t, events: [] }))
    : (await loadLiveIncidents(db, now, horizon)).map(fromRow);
  const lastClosed = carry
    ? new Map([...carry.lastClosed].filter(([, at]) => at > horizon))
    : new Map((await lastCloses(db, now, horizon)).map((c) => [closeKey(c.kind, c.scope_key), c.ended_at]));

  const all = new Map<string, Tracked>(live.map((t) => [t.id, t]));
  const earlier = new Map<IncidentKind, Finding[]>();
  const runs: RuleRun[] = [];
  const openScopes = (kind: IncidentKind) => live.filter((t) => t.kind === kind && t.state.status !== 'closed').map((t) => ({ scope: t.scope, startedAt: t.startedAt, detectedAt: t.detectedAt, nodes: t.nodes }));
  const memos = new Map<string, Promise<unknown>>();
  const memo = <T>(key: string, read: () => Promise<T>): Promise<T> => {
    let p = memos.get(key) as Promise<T> | undefined;
    if (!p) memos.set(key, (p = read()));
    return p;
  };

  await setRulesSavepoint(db);
  for (const rule of RULES) {
    const r0 = performance.now();
    try {
      let findings: Finding[];
      try {
        findings = await rule.evaluate(db, { now, rules, earlier, open: openScopes, memo });
      } catch (err) {
        await rollbackToRulesSavepoint(db);
        throw err;
      }
      earlier.set(rule.kind, findings);
      const open = [...all.values()].filter((t) => t.kind === rule.kind && t.state.status !== 'closed');
      for (const t of step({ kind: rule.kind, now, rules, findings, open, lastClosed, exemptFromStale: STALE_EXEMPT.has(rule.kind) })) {
        all.set(t.id, t);
      }
      runs.push({ rule: rule.kind, durationMs: performance.now() - r0, health: 'ok', error: null, findings: findings.length });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.warn('engine rule failed', { rule: rule.kind, err: message, now: now.toISOString() });
      runs.push({ rule: rule.kind, durationMs: performance.now() - r0, health: 'error', error: message, findings: 0 });
    }
  }

  const tracked = [...all.values()];
  correlate(tracked, { now });

  const opened: string[] = [];
  const updated: string[] = [];
  const closed: string[] = [];
  const signatures = new Map(tracked.map((t) => [t, signature(t)]));
  const changed = tracked
    .filter((t) => t.isNew || signatures.get(t) !== t.loadedSignature)
    .sort((a, b) => WRITE_ORDER.indexOf(a.kind) - WRITE_ORDER.indexOf(b.kind) || Number(!!a.parentId) - Number(!!b.parentId) || a.startedAt.getTime() - b.startedAt.getTime());
  const events = [];
  const writes: IncidentWrite[] = [];
  for (const t of changed) {
    t.updatedAt = now;
    const row = toRow(t);
    if (t.isNew) {
      writes.push({ op: 'insert', row });
      opened.push(t.id);
      log.info('incident opened', { id: t.id, kind: t.kind, scope: t.scopeKey, severity: t.severity, started_at: t.startedAt.toISOString() });
    } else {
      writes.push({ op: 'update', row });
      if (t.state.status !== 'closed' || t.events.every((e) => e.event !== 'closed')) updated.push(t.id);
    }
    if (t.state.status === 'closed' && t.events.some((e) => e.event === 'closed')) {
      closed.push(t.id);
      log.info('incident closed', { id: t.id, kind: t.kind, scope: t.scopeKey, ended_at: t.state.endedAt.toISOString() });
    }
    for (const e of t.events) events.push(e);
  }
  await writeIncidents(db, writes);
  await insertEvents(db, events);

  const nextClosed = new Map(lastClosed);
  for (const t of tracked) {
    if (t.state.status !== 'closed') continue;
    const k = closeKey(t.kind, t.scopeKey);
    const cur = nextClosed.get(k);
    if (!cur || cur < t.state.endedAt) nextClosed.set(k, t.state.endedAt);
  }
  const next: Carry = {
    at: now,
    // As loadLiveIncidents would read them back: a closed incident with a parent never changes again.
    live: tracked
      .filter((t) => t.state.status !== 'closed' || !t.parentId)
      .sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((t) => ({ ...t, isNew: false, loadedSignature: signatures.get(t)!, events: [] })),
    lastClosed: nextClosed,
  };
  return { now, durationMs: performance.now() - t0, rules: runs, opened, updated, closed, carry: next };
}
