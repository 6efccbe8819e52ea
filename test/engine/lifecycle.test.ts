// The incident lifecycle as a pure function of (incidents, findings, now),
// stepped through fixed timestamps.
import { describe, expect, test } from 'bun:test';
import { step, toRow, fromRow, type Tracked } from '../../src/engine/lifecycle.ts';
import type { Finding, Run } from '../../src/engine/rule.ts';
import { DEFAULT_RULES, parseRules } from '../../src/engine/rules.config.ts';
import type { IncidentRow } from '../../src/engine/incidents.repository.ts';

const T0 = Date.parse('2026-03-02T06:00:00Z');
const min = (m: number) => new Date(T0 + m * 60_000);
const scope = { type: 'route', src: 'A', dst: 'C' } as const;

function run(start: number, end: number, clearAt: number | null, severity: Run['severity'] = 'major', peak = 40): Run {
  return { start: min(start), end: min(end), clearAt: clearAt === null ? null : min(clearAt), severity, peaks: { jitter_ms: peak }, windows: [{ at: min(start).toISOString() }] };
}

function finding(runs: Run[], lastData: number | null, extra: Partial<Finding> = {}): Finding {
  return {
    kind: 'jitter_burst', scope, runs, lastDataAt: lastData === null ? null : min(lastData),
    routes: [{ src: 'A', dst: 'C' }], nodes: ['A', 'B', 'C'], links: [{ a: 'A', b: 'B' }, { a: 'B', b: 'C' }], evidence: { thresholds: { jitter_ms: 30 } }, ...extra,
  };
}

/** Runs one tick and "persists" the result the way the engine does (through a row). */
function tick(open: Tracked[], findings: Finding[], now: number, lastClosed = new Map<string, Date>(), kind: Finding['kind'] = 'jitter_burst', rules = DEFAULT_RULES) {
  const out = step({ kind, now: min(now), rules, findings, open, lastClosed, exemptFromStale: kind === 'agent_silent' });
  const persisted = out.map((t) => ({ t, reloaded: fromRow({ ...(toRow(t) as unknown as IncidentRow), scope: t.scope, evidence: t.evidence, impact: t.impact, links: t.links, routes: t.routes } as IncidentRow) }));
  return { out, events: out.flatMap((t) => t.events.map((e) => e.event)), next: persisted.map((p) => p.reloaded).filter((t) => t.state.status !== 'closed') };
}

describe('open', () => {
  test('a trigger opens an incident: started_at is the run start, detected_at the tick', () => {
    const { out, events } = tick([], [finding([run(0, 2, null)], 2)], 3);
    expect(out).toHaveLength(1);
    const t = out[0]!;
    expect(t.startedAt).toEqual(min(0));
    expect(t.detectedAt).toEqual(min(3));
    expect(t.state.status).toBe('open');
    expect(t.severity).toBe('major');
    expect(t.impact).toMatchObject({ routes_affected: 1, routes: ['A>C'], nodes: ['A', 'B', 'C'] });
    expect(t.routes).toEqual([{ src: 'A', dst: 'C' }]);
    expect(t.links).toEqual([{ a: 'A', b: 'B' }, { a: 'B', b: 'C' }]);
    expect(t.cause).toContain('A → C');
    expect(t.nextSteps.length).toBeGreaterThan(1);
    expect(events).toEqual(['opened']);
  });

  test('the id is a function of kind, scope and start: the same data gives the same incident', () => {
    const a = tick([], [finding([run(0, 2, null)], 2)], 3).out[0]!;
    const b = tick([], [finding([run(0, 2, null)], 2)], 3).out[0]!;
    expect(a.id).toBe(b.id);
  });

  test('no run, no incident', () => {
    expect(tick([], [finding([], 2)], 3).out).toEqual([]);
  });
});

describe('update', () => {
  test('severity rises with the data and never falls back; peaks are kept', () => {
    let s = tick([], [finding([run(0, 2, null)], 2)], 3);
    s = tick(s.next, [finding([run(0, 4, null, 'critical', 70)], 4)], 5);
    expect(s.out[0]!.severity).toBe('critical');
    expect(s.events).toEqual(['severity_changed']);
    s = tick(s.next, [finding([run(0, 6, null, 'major', 35)], 6)], 7);
    expect(s.out[0]!.severity).toBe('critical');
    expect((s.out[0]!.evidence.peaks as Record<string, number>).jitter_ms).toBe(70);
    expect(s.events).toEqual([]);
  });
});

describe('close', () => {
  const opened = () => tick([], [finding([run(0, 2, null)], 2)], 3).next;

  test('clear with data present for close_after: closed, ended_at = first clear window', () => {
    let s = tick(opened(), [finding([run(0, 2, 3)], 4)], 4);
    expect(s.out[0]!.state).toEqual({ status: 'clearing', clearSince: min(3) });
    s = tick(s.next, [finding([run(0, 2, 3)], 17.9)], 18);
    expect(s.out[0]!.state.status).toBe('clearing');
    s = tick(s.next, [finding([run(0, 2, 3)], 18)], 18.1);
    expect(s.out[0]!.state).toEqual({ status: 'closed', endedAt: min(3), closedBy: 'clear' });
    expect(s.out[0]!.evidence.closed_by).toBe('clear');
    expect(s.events).toEqual(['closed']);
  });

  test('close_after comes from the rules file', () => {
    const rules = parseRules({ lifecycle: { close_after_min: 5 } });
    const s = tick(opened(), [finding([run(0, 2, 3)], 8)], 8, new Map(), 'jitter_burst', rules);
    expect(s.out[0]!.state.status).toBe('closed');
  });

  test('a new trigger inside the stable run keeps the same incident open', () => {
    let s = tick(opened(), [finding([run(0, 2, 3)], 10)], 10);
    const id = s.out[0]!.id;
    s = tick(s.next, [finding([run(0, 2, 3), run(11, 13, null)], 13)], 13);
    expect(s.out[0]!.id).toBe(id);
    expect(s.out[0]!.state.status).toBe('open');
    expect(s.events).toEqual(['active_again']);
    // the stable run restarts at the new run's clear window
    s = tick(s.next, [finding([run(0, 2, 3), run(11, 13, 14)], 25)], 25);
    expect(s.out[0]!.state).toEqual({ status: 'clearing', clearSince: min(14) });
    s = tick(s.next, [finding([run(11, 13, 14)], 29)], 29);
    expect(s.out[0]!.state).toEqual({ status: 'closed', endedAt: min(14), closedBy: 'clear' });
  });

  test('missing data is not health: no data, no close — until stale_close_after, then closed_by no_data', () => {
    let s = tick(opened(), [], 30);
    expect(s.out[0]!.state.status).toBe('open');
    s = tick(s.next, [finding([], null)], 61.9);
    expect(s.out[0]!.state.status).toBe('open');
    s = tick(s.next, [], 62);
    expect(s.out[0]!.state).toEqual({ status: 'closed', endedAt: min(62), closedBy: 'no_data' });
    expect(s.out[0]!.evidence.closed_by).toBe('no_data');
  });

  test('clear windows without data after them do not close: the stable run needs data to its end', () => {
    const s = tick(opened(), [finding([run(0, 2, 3)], 3)], 40);
    expect(s.out[0]!.state.status).toBe('clearing');
  });

  test('a rule judged at now only: data after the last trigger starts the stable run at the first clear tick', () => {
    let s = tick(opened(), [finding([], 2)], 4);
    expect(s.out[0]!.state.status).toBe('open');
    s = tick(s.next, [finding([], 4.5)], 5);
    expect(s.out[0]!.state).toEqual({ status: 'clearing', clearSince: min(5) });
    s = tick(s.next, [finding([], 20)], 20);
    expect(s.out[0]!.state).toEqual({ status: 'closed', endedAt: min(5), closedBy: 'clear' });
  });

  test('a kind whose silence is the condition (agent_silent) never closes for lack of data', () => {
    const f = (runs: Run[], last: number) => finding(runs, last, { kind: 'agent_silent', scope: { type: 'node', node: 'B' } });
    let s = tick([], [f([run(5, 5, null, 'minor')], 0)], 6, new Map(), 'agent_silent');
    s = tick(s.next, [f([run(5, 120, null, 'major')], 0)], 120, new Map(), 'agent_silent');
    expect(s.out[0]!.state.status).toBe('open');
    expect(s.out[0]!.severity).toBe('major');
  });
});

describe('after a close', () => {
  test('a later problem on the same scope is a new incident with a new id', () => {
    let s = tick([], [finding([run(0, 2, null)], 2)], 3);
    const first = s.out[0]!;
    s = tick(s.next, [finding([run(0, 2, 3)], 18)], 18);
    expect(s.out[0]!.state.status).toBe('closed');
    const lastClosed = new Map([[`jitter_burst|${first.scopeKey}`, min(3)]]);
    // the old run is not a new incident
    expect(tick([], [finding([run(0, 2, 3)], 19)], 19, lastClosed).out).toEqual([]);
    const again = tick([], [finding([run(0, 2, 3), run(20, 22, null)], 22)], 22, lastClosed).out;
    expect(again).toHaveLength(1);
    expect(again[0]!.id).not.toBe(first.id);
    expect(again[0]!.startedAt).toEqual(min(20));
  });
});
