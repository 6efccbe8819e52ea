import { describe, expect, test } from 'bun:test';
import type { Incident } from '../../src/incidents/incident.schema.ts';
import { judge, type ExpectedFault } from '../support/scenario-judge.ts';

const fault: ExpectedFault = {
  kind: 'bottleneck',
  scope: { type: 'link', a: 'A', b: 'B' },
  start_at: '2026-03-02T08:00:00Z',
  end_at: '2026-03-02T08:30:00Z',
};

let n = 0;
function incident(over: Partial<Incident>): Incident {
  return {
    id: `i${++n}`,
    kind: 'bottleneck',
    title: 'Bottleneck on link A ↔ B',
    scope: { type: 'link', a: 'A', b: 'B' },
    status: 'closed',
    severity: 'major',
    impact: { routes_affected: 0, routes: [], nodes: [] },
    cause: '',
    next_steps: [],
    evidence: {},
    started_at: '2026-03-02T08:00:30Z',
    ended_at: '2026-03-02T08:31:00Z',
    detected_at: '2026-03-02T08:03:00Z',
    updated_at: '2026-03-02T08:50:00Z',
    parent_id: null,
    ...over,
  };
}

describe('scenario judge (shared/scenarios/README.md)', () => {
  test('a right root, with a child on a crossing route, passes and reports its delays', () => {
    const root = incident({});
    const child = incident({ kind: 'jitter_burst', scope: { type: 'route', src: 'A', dst: 'B' }, parent_id: root.id });
    const v = judge([root, child], [fault]);
    expect(v.problems).toEqual([]);
    expect(v.faults[0]).toMatchObject({ found: true, detection_delay_s: 180, close_delay_s: 60, closed_in_time: true, children: 1 });
  });

  test('the start window is 2 min before the fault to 10 min after its end', () => {
    expect(judge([incident({ started_at: '2026-03-02T07:58:00Z' })], [fault]).problems).toEqual([]);
    expect(judge([incident({ started_at: '2026-03-02T08:40:00Z' })], [fault]).problems).toEqual([]);
    const early = judge([incident({ started_at: '2026-03-02T07:57:59Z' })], [fault]);
    expect(early.problems).toEqual([expect.stringMatching(/^missed: bottleneck/), expect.stringMatching(/^false root: bottleneck/)]);
    expect(judge([incident({ started_at: '2026-03-02T08:40:01Z' })], [fault]).false_roots).toHaveLength(1);
  });

  test('a route incident as a root is a false alarm; a second root on the fault is a duplicate', () => {
    const v = judge(
      [incident({}), incident({ started_at: '2026-03-02T08:20:00Z' }), incident({ kind: 'jitter_burst', scope: { type: 'route', src: 'A', dst: 'B' } })],
      [fault],
    );
    expect(v.duplicates).toHaveLength(1);
    expect(v.false_roots.map((r) => r.kind)).toEqual(['jitter_burst']);
    expect(v.problems).toHaveLength(2);
  });

  test('kind and scope must both match (links are undirected, routes are not)', () => {
    expect(judge([incident({ kind: 'rf_drop' })], [fault]).problems).toHaveLength(2);
    const route: ExpectedFault = { ...fault, kind: 'loss_spike', scope: { type: 'route', src: 'A', dst: 'B' } };
    expect(judge([incident({ kind: 'loss_spike', scope: { type: 'route', src: 'B', dst: 'A' } })], [route]).problems).toHaveLength(2);
  });

  test('closing more than 30 min after the fault ends, or never, fails', () => {
    expect(judge([incident({ ended_at: '2026-03-02T09:00:00Z' })], [fault]).problems).toEqual([]);
    expect(judge([incident({ ended_at: '2026-03-02T09:00:01Z' })], [fault]).problems).toEqual([expect.stringMatching(/^closed late/)]);
    expect(judge([incident({ ended_at: null, status: 'open' })], [fault]).problems).toEqual([expect.stringMatching(/^never closed/)]);
  });

  test('a quiet scenario wants nothing at all; a child whose parent is missing is reported', () => {
    expect(judge([], []).problems).toEqual([]);
    expect(judge([incident({})], []).false_roots).toHaveLength(1);
    expect(judge([incident({ kind: 'loss_spike', parent_id: 'gone' })], []).orphans).toHaveLength(1);
  });
});
