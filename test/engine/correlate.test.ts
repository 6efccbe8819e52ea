// One root, not a storm: which incidents become children of which, pure.
import { describe, expect, test } from 'bun:test';
import { correlate } from '../../src/engine/correlate.ts';
import type { LifeState, Tracked } from '../../src/engine/lifecycle.ts';
import { scopeKey, type IncidentKind, type Scope } from '../../src/incidents/incident.schema.ts';
import { linksOf, type Link } from '../../src/incidents/keys.ts';

const T0 = Date.parse('2026-03-02T06:00:00Z');
const min = (m: number) => new Date(T0 + m * 60_000);

let n = 0;
function inc(kind: IncidentKind, scope: Scope, start: number, o: { nodes?: string[]; links?: Link[]; isNew?: boolean; state?: LifeState; evidence?: Record<string, unknown>; detected?: number } = {}): Tracked {
  return {
    id: `inc_${++n}`, kind, scope, scopeKey: scopeKey(scope), state: o.state ?? { status: 'open' }, severity: 'major',
    startedAt: min(start), detectedAt: min(o.detected ?? start + 1), updatedAt: min(start + 1), lastDataAt: null, parentId: null,
    cause: 'generic', nextSteps: [], evidence: o.evidence ?? {}, impact: {}, routes: [], nodes: o.nodes ?? [], links: o.links ?? [],
    isNew: o.isNew ?? true, loadedSignature: null, events: [],
  };
}
const route = (src: string, dst: string) => ({ type: 'route', src, dst }) as const;
const link = (a: string, b: string) => ({ type: 'link', a, b }) as const;
const node = (x: string) => ({ type: 'node', node: x }) as const;
/** A route incident over the hop list A→…→Z. */
const over = (kind: IncidentKind, hops: string, start: number, o: Parameters<typeof inc>[3] = {}) => {
  const h = hops.split('');
  const links = linksOf(h);
  return inc(kind, route(h[0]!, h.at(-1)!), start, { nodes: [...h].sort(), links, ...o });
};

describe('correlate', () => {
  test('route incidents crossing a bottleneck link in the same period become its children, cause naming the link', () => {
    const root = inc('bottleneck', link('B', 'C'), 10);
    const crossing = over('jitter_burst', 'ABCD', 11);
    const elsewhere = over('loss_spike', 'AEF', 11);
    const before = over('loss_spike', 'ABC', -30, { state: { status: 'closed', endedAt: min(-20), closedBy: 'clear' } });
    correlate([root, crossing, elsewhere, before], { now: min(20) });
    expect(crossing.parentId).toBe(root.id);
    expect(crossing.cause).toContain('B ↔ C');
    expect(elsewhere.parentId).toBeNull();
    expect(before.parentId).toBeNull();
  });

  test('node_overload explains routes through or from the node, not to it; and wins over a link root', () => {
    const overload = inc('node_overload', node('B'), 10);
    const bottleneck = inc('bottleneck', link('B', 'C'), 10);
    const from = over('jitter_burst', 'BC', 11);
    const through = over('jitter_burst', 'ABC', 11);
    const to = over('jitter_burst', 'AB', 11);
    correlate([bottleneck, overload, from, through, to], { now: min(20) });
    expect(from.parentId).toBe(overload.id);
    expect(through.parentId).toBe(overload.id);
    expect(to.parentId).toBeNull();
    expect(through.cause).toContain('overloaded node B');
  });

  test('rf_drop explains route incidents crossing its link, route_flap included', () => {
    const rf = inc('rf_drop', link('C', 'B'), 10);
    const flap = over('route_flap', 'ABCD', 12);
    correlate([rf, flap], { now: min(20) });
    expect(flap.parentId).toBe(rf.id);
  });

  test('a root that opens after its child re-parents it, recorded as a timeline event', () => {
    const child = over('loss_spike', 'ABC', 10, { isNew: false });
    const root = inc('bottleneck', link('A', 'B'), 12);
    correlate([child, root], { now: min(13) });
    expect(child.parentId).toBe(root.id);
    expect(child.events).toEqual([expect.objectContaining({ event: 'reparented', detail: expect.objectContaining({ parent_id: root.id }) })]);
  });

  test('a child keeps its parent; roots are never children; agent_silent is never a parent', () => {
    const a = inc('bottleneck', link('A', 'B'), 10);
    const child = over('jitter_burst', 'ABC', 11);
    child.parentId = 'inc_elsewhere';
    const silent = inc('agent_silent', node('A'), 10);
    const other = over('jitter_burst', 'AC', 11);
    const rf = inc('rf_drop', link('A', 'B'), 10);
    correlate([a, child, silent, other, rf], { now: min(20) });
    expect(child.parentId).toBe('inc_elsewhere');
    expect(other.parentId).toBeNull();
    expect(rf.parentId).toBeNull();
  });

  test('a partition explains its group’s silences and the route incidents into (or through) it, not routes from it', () => {
    const p = inc('partition', link('B', 'C'), 10, { nodes: ['C', 'D'] });
    const silentC = inc('agent_silent', node('C'), 10, { isNew: false });
    const silentE = inc('agent_silent', node('E'), 10);
    const into = over('loss_spike', 'ABCD', 9);
    const through = over('jitter_burst', 'ACDF', 11);
    const from = over('loss_spike', 'DF', 11);
    const flap = over('route_flap', 'ABC', 11);
    correlate([p, silentC, silentE, into, through, from, flap], { now: min(20) });
    expect([silentC, into, through, flap].map((c) => c.parentId)).toEqual([p.id, p.id, p.id, p.id]);
    expect([silentE, from].map((c) => c.parentId)).toEqual([null, null]);
    expect(silentC.events.map((e) => e.event)).toEqual(['reparented']);
    expect(into.cause).toContain('cut off behind the link B ↔ C');
  });

  test('a single silent node explains the loss on routes into it (its router is down too)', () => {
    const silent = inc('agent_silent', node('C'), 10, { evidence: { silence_threshold_s: 300 } });
    const into = over('loss_spike', 'ABC', 9, { isNew: false });
    const from = over('loss_spike', 'CBA', 10);
    correlate([silent, into, from], { now: min(20) });
    expect(into.parentId).toBe(silent.id);
    expect(into.cause).toContain('C is silent');
    expect(from.parentId).toBeNull();
  });

  test('a route incident adopted by a node’s silence moves to the partition that node turns out to be cut off behind', () => {
    const silentC = inc('agent_silent', node('C'), 10, { isNew: false });
    const into = over('loss_spike', 'ABC', 9, { isNew: false });
    correlate([silentC, into], { now: min(15) });
    expect(into.parentId).toBe(silentC.id);
    const p = inc('partition', link('B', 'C'), 10, { nodes: ['C', 'D'] });
    correlate([silentC, into, p], { now: min(16) });
    expect(silentC.parentId).toBe(p.id);
    expect(into.parentId).toBe(p.id);
    expect(into.events.map((e) => e.event)).toEqual(['reparented', 'reparented']);
  });

  test('the outage ("*") adopts the silences that began within a threshold of it and were noticed before the mesh came back', () => {
    const star = inc('agent_silent', node('*'), 20, { detected: 25, state: { status: 'clearing', clearSince: min(40) } });
    const early = inc('agent_silent', node('A'), 20.5, { detected: 25, isNew: false, evidence: { silence_threshold_s: 300 } });
    const before = inc('agent_silent', node('B'), 10, { detected: 15, evidence: { silence_threshold_s: 300 } });
    const away = inc('agent_silent', node('C'), 20.2, { detected: 45, evidence: { silence_threshold_s: 300 } });
    correlate([star, early, before, away], { now: min(46) });
    expect(early.parentId).toBe(star.id);
    expect(early.cause).toContain('every other agent');
    expect(before.parentId).toBeNull();
    expect(away.parentId).toBeNull();
    expect(star.parentId).toBeNull();
  });

  test('a root closed long before the child started explains nothing', () => {
    const root = inc('bottleneck', link('A', 'B'), 10, { state: { status: 'closed', endedAt: min(20), closedBy: 'clear' } });
    const late = over('jitter_burst', 'ABC', 40);
    correlate([root, late], { now: min(45) });
    expect(late.parentId).toBeNull();
  });
});
