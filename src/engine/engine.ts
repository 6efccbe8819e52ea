import type { Executor } from '../db/database.ts';
import type { IncidentKind } from '../incidents/incident.schema.ts';
import { silentLogger, type Logger } from '../log.ts';
import { correlate } from './correlate.ts';
import { insertEvents, insertIncident, loadLiveIncidents, updateIncident, withSavepoint } from './incidents.repository.ts';
import { fromRow, hasChanged, step, toRow, type Tracked } from './lifecycle.ts';
import { MINUTE, type Finding, type Rule } from './rule.ts';
import type { RulesConfig } from './rules.config.ts';
import { agent_silent } from './rules/agent_silent.ts';
import { bottleneck } from './rules/bottleneck.ts';
import { jitter_burst } from './rules/jitter_burst.ts';
import { loss_spike } from './rules/loss_spike.ts';
import { node_overload } from './rules/node_overload.ts';
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
}

/** Causes before effects: node_overload feeds bottleneck, both come before the route rules. */
export const RULES: readonly Rule[] = [node_overload, bottleneck, rf_drop, jitter_burst, loss_spike, route_flap, agent_silent];

/** Kinds whose lack of data is the condition itself. */
const STALE_EXEMPT = new Set<IncidentKind>(['agent_silent']);
/** Roots are written before their children (parent_id is a foreign key). */
const WRITE_ORDER: IncidentKind[] = ['node_overload', 'bottleneck', 'rf_drop', 'agent_silent', 'route_flap', 'jitter_burst', 'loss_spike'];

/**
 * One evaluation of every rule at `now`, inside the caller's transaction.
 * A pure function of the stored data with time <= now and the incidents
 * table: the same inputs give the same incidents, and a second tick at the
 * same `now` changes nothing. A failing rule is recorded in its RuleRun and
 * leaves its incidents untouched; the other rules still run.
 */
export async function runTick(db: Executor, now: Date, rules: RulesConfig, opts: { log?: Logger } = {}): Promise<TickResult> {
  const log = opts.log ?? silentLogger;
  const t0 = performance.now();
  // Closed incidents stay in view for a while: re-parenting, and "a trigger
  // before the last close is not a new incident".
  const horizon = new Date(now.getTime() - 3 * 60 * MINUTE);
  const live = (await loadLiveIncidents(db, now, horizon)).map(fromRow);
  const lastClosed = new Map<string, Date>();
  for (const t of live) {
    if (t.state.status !== 'closed') continue;
    const k = `${t.kind}|${t.scopeKey}`;
    const cur = lastClosed.get(k);
    if (!cur || cur < t.state.endedAt) lastClosed.set(k, t.state.endedAt);
  }

  const all = new Map<string, Tracked>(live.map((t) => [t.id, t]));
  const earlier = new Map<IncidentKind, Finding[]>();
  const runs: RuleRun[] = [];
  const openScopes = (kind: IncidentKind) => live.filter((t) => t.kind === kind && t.state.status !== 'closed').map((t) => ({ scope: t.scope, startedAt: t.startedAt }));
  const memos = new Map<string, Promise<unknown>>();
  const memo = <T>(key: string, read: () => Promise<T>): Promise<T> => {
    let p = memos.get(key) as Promise<T> | undefined;
    if (!p) memos.set(key, (p = read()));
    return p;
  };

  for (const rule of RULES) {
    const r0 = performance.now();
    try {
      const findings = await withSavepoint(db, `rule_${rule.kind}`, () => rule.evaluate(db, { now, rules, earlier, open: openScopes, memo }));
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
  const changed = tracked
    .filter(hasChanged)
    .sort((a, b) => WRITE_ORDER.indexOf(a.kind) - WRITE_ORDER.indexOf(b.kind) || a.startedAt.getTime() - b.startedAt.getTime());
  const events = [];
  for (const t of changed) {
    t.updatedAt = now;
    const row = toRow(t);
    if (t.isNew) {
      await insertIncident(db, row);
      opened.push(t.id);
      log.info('incident opened', { id: t.id, kind: t.kind, scope: t.scopeKey, severity: t.severity, started_at: t.startedAt.toISOString() });
    } else {
      const { id: _id, ...patch } = row;
      await updateIncident(db, t.id, patch);
      if (t.state.status !== 'closed' || t.events.every((e) => e.event !== 'closed')) updated.push(t.id);
    }
    if (t.state.status === 'closed' && t.events.some((e) => e.event === 'closed')) {
      closed.push(t.id);
      log.info('incident closed', { id: t.id, kind: t.kind, scope: t.scopeKey, ended_at: t.state.endedAt.toISOString() });
    }
    events.push(...t.events);
  }
  await insertEvents(db, events);

  return { now, durationMs: performance.now() - t0, rules: runs, opened, updated, closed };
}
