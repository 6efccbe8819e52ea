import type { Executor } from '../db/database.ts';
import type { IncidentKind, Scope, Severity } from '../incidents/incident.schema.ts';
import type { Link, Route } from '../incidents/keys.ts';
import type { RulesConfig } from './rules.config.ts';

/**
 * One stretch of consecutive windows at which a rule's trigger held.
 * `start` is the first window that made the trigger true (an incident's
 * started_at), `end` the last window at which it still held, `clearAt` the
 * first window after `end` (null: it still holds at the latest data).
 */
export interface Run {
  start: Date;
  end: Date;
  clearAt: Date | null;
  severity: Severity;
  /** Peak values seen in the run, merged (max) into the incident's evidence. */
  peaks: Record<string, number>;
  /** The windows that triggered, for evidence (a few). */
  windows: EvidenceWindow[];
  /** Where it applies: a short burst, or a steady degradation (a mean over a span). */
  pattern?: 'burst' | 'steady';
}

export interface EvidenceWindow {
  at: string;
  [k: string]: unknown;
}

/** What a rule saw for one scope at `now`. */
export interface Finding {
  kind: IncidentKind;
  scope: Scope;
  /** Trigger runs inside the rule's lookback, oldest first. */
  runs: Run[];
  /** Latest data of the scope at or before now; null = none in the lookback. */
  lastDataAt: Date | null;
  /**
   * For rules judged at `now` only (no per-window history): when the
   * condition is clear now, the earliest time it is known to be clear.
   */
  clearSince?: Date | null;
  /**
   * The node (or every node of the scope) is gone for good since this instant
   * (agent_silent's retire_after): the incident closes with closed_by "retired".
   */
  retiredAt?: Date;
  /** Affected routes (uncapped; the lifecycle caps impact.routes). */
  routes: Route[];
  nodes: string[];
  links: Link[];
  /** Extra evidence (thresholds, hop lists, pattern …) merged into the incident's. */
  evidence: Record<string, unknown>;
  /** Replaces the playbook's generic cause when the rule knows better. */
  cause?: string;
  /** Impact extras beyond routes/nodes. */
  impact?: Record<string, unknown>;
  /** Route incidents: hop lists seen, for correlation. */
  hopLists?: string[][];
}

export interface OpenIncident {
  scope: Scope;
  startedAt: Date;
  /** The tick that opened it. */
  detectedAt: Date;
  /** impact.nodes: for a partition, the group behind it. */
  nodes: readonly string[];
}

export interface RuleContext {
  now: Date;
  rules: RulesConfig;
  /** Findings of rules evaluated earlier in this tick (node_overload runs before bottleneck). */
  earlier: ReadonlyMap<IncidentKind, Finding[]>;
  /** Open incidents of a kind: a rule reports on their scopes even when its trigger is quiet. */
  open(kind: IncidentKind): OpenIncident[];
  /** Runs a read once per tick when several rules share it. */
  memo<T>(key: string, read: () => Promise<T>): Promise<T>;
}

export interface Rule {
  kind: IncidentKind;
  /** Read-only: every query is bounded by `time <= now` and a lookback. */
  evaluate(db: Executor, ctx: RuleContext): Promise<Finding[]>;
}

export const MINUTE = 60_000;
export const addMs = (d: Date, ms: number) => new Date(d.getTime() + ms);
