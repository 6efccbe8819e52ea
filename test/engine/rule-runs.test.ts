// The rules' trigger logic, stepped through fixed timestamps with hand-made
// windows: exactly at a threshold, one window short, a gap in the data, a
// window without a value.
import { describe, expect, test } from 'bun:test';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { jitterRuns } from '../../src/engine/rules/jitter_burst.ts';
import { lossRuns } from '../../src/engine/rules/loss_spike.ts';
import { flapRuns } from '../../src/engine/rules/route_flap.ts';
import { busySpans, overloadRuns, overloadedCarrier } from '../../src/engine/rules/node_overload.ts';
import { bottleneckRuns, countedByLink, type WorstHopWindow } from '../../src/engine/rules/bottleneck.ts';
import { judgeLink } from '../../src/engine/rules/rf_drop.ts';
import { silenceFindings } from '../../src/engine/rules/agent_silent.ts';
import type { LinkQuality, RouteWindow } from '../../src/engine/signals.repository.ts';

const T0 = Date.parse('2026-03-02T06:00:00Z');
/** Window i of a route probed every 40 s. */
const at = (i: number) => new Date(T0 + i * 40_000);
const iso = (i: number) => at(i).toISOString();

function windows(values: Array<[jitter: number | null, loss: number | null]>, opts: { start?: number; route?: string[] } = {}): RouteWindow[] {
  return values.map(([jitter_ms, loss_pct], i) => ({
    src: 'A', dst: 'C', time: at((opts.start ?? 0) + i), jitter_ms, loss_pct, route: opts.route ?? ['A', 'B', 'C'],
  }));
}
const jit = (...js: Array<number | null>) => windows(js.map((j) => [j, 0.1]));
const loss = (...ls: Array<number | null>) => windows(ls.map((l) => [5, l]));

describe('jitter_burst: jitter > 30 ms in 3 consecutive windows', () => {
  const cfg = DEFAULT_RULES.jitter_burst;

  test('three windows over the threshold make a run starting at the first of them', () => {
    const runs = jitterRuns(jit(5, 31, 40, 35, 6), cfg);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.start.toISOString()).toBe(iso(1));
    expect(runs[0]!.end.toISOString()).toBe(iso(3));
    expect(runs[0]!.clearAt!.toISOString()).toBe(iso(4));
    expect(runs[0]!.severity).toBe('major');
    expect(runs[0]!.peaks.jitter_ms).toBe(40);
  });

  test('exactly at the threshold is not over it', () => {
    expect(jitterRuns(jit(30, 30, 30, 30), cfg)).toEqual([]);
    expect(jitterRuns(jit(30.01, 30.01, 30.01), cfg)).toHaveLength(1);
  });

  test('one window short is noise', () => {
    expect(jitterRuns(jit(47, 43, 5, 47, 43, 5), cfg)).toEqual([]);
  });

  test('a run still going has no clear window yet', () => {
    const runs = jitterRuns(jit(5, 50, 50, 50), cfg);
    expect(runs[0]!.clearAt).toBeNull();
  });

  test('critical above twice the threshold (strictly)', () => {
    expect(jitterRuns(jit(60, 60, 60), cfg)[0]!.severity).toBe('major');
    expect(jitterRuns(jit(40, 61, 40), cfg)[0]!.severity).toBe('critical');
  });

  test('a window without jitter neither breaks nor extends the streak', () => {
    const runs = jitterRuns(jit(40, null, 40, 40), cfg);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.peaks.consecutive_windows).toBe(3);
  });

  test('a gap in the data does not break a streak: missing data is not health', () => {
    const ws = [...jit(40, 40), ...windows([[40, 0]], { start: 20 })];
    expect(jitterRuns(ws, cfg)).toHaveLength(1);
  });

  test('two bursts separated by a clear window are two runs', () => {
    const runs = jitterRuns(jit(40, 40, 40, 5, 40, 40, 40), cfg);
    expect(runs.map((r) => r.start.toISOString())).toEqual([iso(0), iso(4)]);
    expect(runs[0]!.clearAt!.toISOString()).toBe(iso(3));
  });
});

describe('loss_spike: loss > 2 % in 2 consecutive windows, or mean > 1 % over 10 min', () => {
  const cfg = DEFAULT_RULES.loss_spike;

  test('two consecutive lossy windows: a burst from the first of them, held by the 10-min mean after', () => {
    const quiet = Array<number>(10).fill(0.1);
    const runs = lossRuns(loss(...quiet, 7, 7.5, ...quiet, ...quiet), cfg);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.start.toISOString()).toBe(iso(10));
    expect(runs[0]!.pattern).toBe('burst');
    expect(runs[0]!.severity).toBe('major');
    // the mean over the last 10 min holds until window 10 leaves the span (at window 25)
    expect(runs[0]!.clearAt!.toISOString()).toBe(iso(25));
  });

  test('exactly 2 % is not over 2 %', () => {
    expect(lossRuns(loss(2, 2, 2, 0), cfg).filter((r) => r.pattern === 'burst')).toEqual([]);
  });

  test('one lossy window is noise, however lossy', () => {
    expect(lossRuns(loss(0.1, 0.2, 40, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1), cfg)).toEqual([]);
  });

  test('a steady low loss over 10 min is caught by the mean, from its first lossy window', () => {
    const runs = lossRuns(loss(0.1, 1.5, 1.6, 1.5, 1.4, 1.8, 1.5, 1.6), cfg);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.pattern).toBe('steady');
    expect(runs[0]!.start.toISOString()).toBe(iso(1));
  });

  test('the mean needs enough windows: one short is not a mean', () => {
    expect(lossRuns(loss(1.5, 1.5, 1.5, 1.5), cfg)).toEqual([]);
    expect(lossRuns(loss(1.5, 1.5, 1.5, 1.5, 1.5), cfg)).toHaveLength(1);
  });

  test('the mean span is the last 10 min: sparse windows are not averaged together', () => {
    const sparse = [0, 16, 32, 48, 64].map((i) => ({ ...loss(1.5)[0]!, time: at(i) }));
    expect(lossRuns(sparse, cfg)).toEqual([]);
  });

  test('critical at a peak of 20 % or more', () => {
    expect(lossRuns(loss(19.9, 19.9), cfg)[0]!.severity).toBe('major');
    expect(lossRuns(loss(20, 3), cfg)[0]!.severity).toBe('critical');
  });
});

describe('route_flap: >= 3 distinct hop lists within 5 min', () => {
  const cfg = DEFAULT_RULES.route_flap;
  const hops = (...lists: string[]) => lists.map((l, i) => ({ src: 'A', dst: 'C', time: at(i), jitter_ms: 5, loss_pct: 0, route: l.split('') }));

  test('three hop lists within 5 min: minor, started at the first change', () => {
    const runs = flapRuns(hops('ABC', 'ABC', 'ABC', 'ADC', 'AC', 'ABC'), cfg);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.start.toISOString()).toBe(iso(3));
    expect(runs[0]!.severity).toBe('minor');
    expect(runs[0]!.peaks.distinct_hop_lists).toBe(3);
  });

  test('two hop lists is a reroute, not a flap', () => {
    expect(flapRuns(hops('ABC', 'ADC', 'ABC', 'ADC', 'ABC'), cfg)).toEqual([]);
  });

  test('major at 5 distinct hop lists', () => {
    expect(flapRuns(hops('ABC', 'ADC', 'AC', 'AEC', 'AFC'), cfg)[0]!.severity).toBe('major');
  });

  test('changes further apart than 5 min do not add up', () => {
    const ws = hops('ABC', 'ADC', 'AC').map((w, i) => ({ ...w, time: at(i * 5) }));
    expect(flapRuns(ws, cfg)).toEqual([]);
  });

  test('clears once the last 5 min hold fewer than 3 hop lists', () => {
    const runs = flapRuns(hops('ABC', 'ADC', 'AC', 'AC', 'AC', 'AC', 'AC', 'AC', 'AC', 'AC', 'AC'), cfg);
    expect(runs[0]!.clearAt).not.toBeNull();
    // window 8 (5:20) is the first whose last 5 min no longer hold ABC (0:00)
    expect(runs[0]!.clearAt!.toISOString()).toBe(iso(8));
  });
});

describe('node_overload: cpu > 80 % with bad windows through the node within ± one probe interval', () => {
  const cfg = DEFAULT_RULES.node_overload;
  const cpu = (i: number, cpu_pct: number) => ({ node: 'B', time: at(i), cpu_pct });
  const bad = (i: number, route: string[], j = 45) => ({ src: route[0]!, dst: route.at(-1)!, time: at(i), jitter_ms: j, loss_pct: 0, route });

  test('busy samples with bad windows through the node trigger; a low sample clears', () => {
    const samples = [cpu(0, 10), cpu(2, 95), cpu(4, 92), cpu(6, 20)];
    const ws = [bad(2, ['A', 'B', 'C']), bad(2, ['B', 'D']), bad(4, ['B', 'C'])];
    const runs = overloadRuns(samples, ws, 'B', cfg);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.start.toISOString()).toBe(iso(2));
    expect(runs[0]!.clearAt!.toISOString()).toBe(iso(6));
  });

  test('exactly 80 % is not over it', () => {
    expect(overloadRuns([cpu(2, 80)], [bad(2, ['B', 'C']), bad(2, ['B', 'D'])], 'B', cfg)).toEqual([]);
  });

  test('one bad window is not enough; one more than a probe interval away does not count', () => {
    expect(overloadRuns([cpu(2, 95)], [bad(2, ['B', 'C'])], 'B', cfg)).toEqual([]);
    expect(overloadRuns([cpu(2, 95)], [bad(2, ['B', 'C']), { ...bad(0, ['B', 'D']), time: new Date(at(2).getTime() - 41_000) }], 'B', cfg)).toEqual([]);
  });

  test('routes to the node do not count: "through or from" it', () => {
    expect(overloadRuns([cpu(2, 95)], [bad(2, ['A', 'B']), bad(2, ['C', 'B'])], 'B', cfg)).toEqual([]);
  });

  test('busy spans pad each busy sample by a probe interval and bridge consecutive busy samples', () => {
    const spans = busySpans([cpu(0, 10), cpu(2, 95), cpu(10, 90), cpu(12, 5), cpu(14, 85)], cfg);
    expect(spans).toEqual([
      { from: at(2).getTime() - 40_000, to: at(10).getTime() + 40_000 },
      { from: at(14).getTime() - 40_000, to: at(14).getTime() + 40_000 },
    ]);
    const busy = new Map([['B', spans]]);
    expect(overloadedCarrier(bad(6, ['A', 'B', 'C']), busy)).toBe('B');
    expect(overloadedCarrier(bad(6, ['A', 'C', 'B']), busy)).toBeNull();
    expect(overloadedCarrier(bad(12, ['B', 'C']), busy)).toBeNull();
  });
});

describe('bottleneck: the worst hop of >= 5 bad windows from >= 2 routes within 30 min', () => {
  const cfg = DEFAULT_RULES.bottleneck;
  const GAP = 15 * 60_000;
  const w = (i: number, src: string, dst: string, from = 'X', to = 'Y'): WorstHopWindow => ({
    src, dst, time: at(i), jitter_ms: 50, loss_pct: 3, route: [src, from, to, dst], from_node: from, to_node: to, etx: 2,
  });

  test('five counted windows from two routes trigger at the fifth; started at the first', () => {
    const ws = [w(0, 'A', 'B'), w(1, 'C', 'D'), w(2, 'A', 'B'), w(3, 'C', 'D'), w(4, 'A', 'B')];
    const runs = bottleneckRuns(ws, [], cfg, GAP);
    expect(runs).toHaveLength(1);
    expect(runs[0]!.start.toISOString()).toBe(iso(0));
    expect(runs[0]!.severity).toBe('major');
  });

  test('one window short, or one route alone, is not a bottleneck', () => {
    expect(bottleneckRuns([w(0, 'A', 'B'), w(1, 'C', 'D'), w(2, 'A', 'B'), w(3, 'C', 'D')], [], cfg, GAP)).toEqual([]);
    expect(bottleneckRuns([0, 1, 2, 3, 4, 5].map((i) => w(i, 'A', 'B')), [], cfg, GAP)).toEqual([]);
  });

  test('critical with three routes; a good window crossing the link is the clear window', () => {
    const ws = [w(0, 'A', 'B'), w(1, 'C', 'D'), w(2, 'E', 'F'), w(3, 'C', 'D'), w(4, 'A', 'B')];
    const runs = bottleneckRuns(ws, [at(6).getTime()], cfg, GAP);
    expect(runs[0]!.severity).toBe('critical');
    expect(runs[0]!.clearAt!.toISOString()).toBe(iso(6));
  });

  test('a clear window or a quiet stretch longer than close_after splits runs', () => {
    const burst = (from: number) => [w(from, 'A', 'B'), w(from + 1, 'C', 'D'), w(from + 2, 'A', 'B'), w(from + 3, 'C', 'D'), w(from + 4, 'A', 'B'), w(from + 5, 'C', 'D')];
    expect(bottleneckRuns([...burst(0), ...burst(8)], [], cfg, GAP)).toHaveLength(1);
    const split = bottleneckRuns([...burst(0), ...burst(8)], [at(6).getTime()], cfg, GAP);
    expect(split.map((r) => [r.start.toISOString(), r.clearAt?.toISOString() ?? null])).toEqual([[iso(0), iso(6)], [iso(8), null]]);
    const later = bottleneckRuns([...burst(0), ...burst(40)], [], cfg, GAP);
    expect(later.map((r) => r.start.toISOString())).toEqual([iso(0), iso(40)]);
  });

  test('windows through an overloaded node belong to it and do not count', () => {
    const busy = new Map([['A', [{ from: at(0).getTime(), to: at(10).getTime() }]]]);
    const counted = countedByLink([w(0, 'A', 'B'), w(1, 'C', 'D', 'Y', 'X')], busy);
    expect([...counted.values()].map((c) => c.link)).toEqual([{ a: 'X', b: 'Y' }]);
    expect([...counted.values()][0]!.windows.map((x) => x.src)).toEqual(['C']);
  });
});

describe('rf_drop: recent ETX above the 60 min baseline and mean LQ or NLQ < 0.70', () => {
  const cfg = DEFAULT_RULES.rf_drop;
  const q = (o: Partial<LinkQuality>): LinkQuality => ({
    a: 'A', b: 'B', recent_n: 15, recent_etx: 2.5, recent_lq: 0.6, recent_nlq: 0.8, recent_babel: 0, base_n: 90, base_etx: 1.3, last_at: at(0), ...o,
  });

  test('rising ETX with LQ under 0.70 triggers; critical at twice the baseline', () => {
    expect(judgeLink(q({}), cfg)).toMatchObject({ triggered: true, severity: 'major' });
    expect(judgeLink(q({ recent_etx: 2.6 }), cfg)).toMatchObject({ triggered: true, severity: 'critical' });
  });

  test('LQ exactly 0.70 is not under it; ETX not rising does not trigger', () => {
    expect(judgeLink(q({ recent_lq: 0.7, recent_nlq: 0.7 }), cfg).triggered).toBe(false);
    expect(judgeLink(q({ recent_etx: 1.3 }), cfg).triggered).toBe(false);
  });

  test('critical when min(LQ, NLQ) < 0.40', () => {
    expect(judgeLink(q({ recent_etx: 1.6, recent_nlq: 0.39 }), cfg).severity).toBe('critical');
  });

  test('Babel hops: ETX alone, rising by 50 % or more', () => {
    const babel = { recent_lq: null, recent_nlq: null, recent_babel: 15 };
    expect(judgeLink(q({ ...babel, recent_etx: 1.3 * 1.5 }), cfg).triggered).toBe(true);
    expect(judgeLink(q({ ...babel, recent_etx: 1.3 * 1.49 }), cfg).triggered).toBe(false);
  });

  test('too few samples on either side: no verdict', () => {
    expect(judgeLink(q({ recent_n: 2 }), cfg).triggered).toBe(false);
    expect(judgeLink(q({ base_n: 2 }), cfg).triggered).toBe(false);
  });
});

describe('agent_silent: nothing for more than max(3 × usual interval, 5 min)', () => {
  const cfg = DEFAULT_RULES.agent_silent;
  const now = new Date(T0 + 60 * 60_000);
  const ago = (m: number) => new Date(now.getTime() - m * 60_000);
  const node = (name: string, lastMinAgo: number, usual_s: number | null = 40) => ({ node: name, last_at: ago(lastMinAgo), usual_s });
  const run = (nodes: ReturnType<typeof node>[], open = new Map<string, Date>(), resumed = new Map<string, Date | null>()) =>
    silenceFindings({ now, nodes, open, resumed, cfg });

  test('silent for more than 5 min: minor, started one usual interval after the last report', () => {
    const f = run([node('A', 0.5), node('B', 5.5), node('C', 4.9)]);
    expect(f.map((x) => x.scope)).toEqual([{ type: 'node', node: 'B' }]);
    expect(f[0]!.runs[0]).toMatchObject({ start: new Date(ago(5.5).getTime() + 40_000), clearAt: null, severity: 'minor' });
  });

  test('exactly 5 min is not more than 5 min; 30 min makes it major', () => {
    expect(run([node('A', 0.5), node('B', 5)])).toEqual([]);
    expect(run([node('A', 0.5), node('B', 30)])[0]!.runs[0]!.severity).toBe('major');
  });

  test('a node that usually reports every 5 min is silent after 15', () => {
    expect(run([node('A', 0.5), node('B', 14, 300)])).toEqual([]);
    expect(run([node('A', 0.5), node('B', 16, 300)])).toHaveLength(1);
  });

  test('every node silent at once: one incident for "*", none per node', () => {
    const f = run([node('A', 6), node('B', 6.5), node('C', 7)]);
    expect(f.map((x) => x.scope)).toEqual([{ type: 'node', node: '*' }]);
    expect(f[0]!.runs[0]).toMatchObject({ start: ago(6), severity: 'minor' });
  });

  test('a node that went quiet long before the rest keeps its own incident', () => {
    const f = run([node('A', 6), node('B', 6.5), node('C', 40)], new Map([['C', ago(39)]]));
    expect(f.map((x) => (x.scope as { node: string }).node)).toEqual(['*', 'C']);
    expect(f[1]!.runs).toHaveLength(1);
  });

  test('after the outage: a node back is clear from its first report; one still away waits its usual time, then is its own', () => {
    const open = new Map([['*', ago(30)]]);
    const back = run([node('A', 0.2), node('B', 31)], open, new Map([['*', ago(2)]]));
    expect(back.map((x) => (x.scope as { node: string }).node)).toEqual(['*']);
    expect(back[0]).toMatchObject({ runs: [], clearSince: ago(2) });
    const later = run([node('A', 0.2), node('B', 31)], open, new Map([['*', ago(6)]]));
    expect(later.map((x) => (x.scope as { node: string }).node)).toEqual(['*', 'B']);
  });

  test('an open incident whose node reports again is clear from its first report after the silence', () => {
    const f = run([node('A', 0.2), node('B', 0.5)], new Map([['B', ago(20)]]), new Map([['B', ago(8)]]));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ runs: [], clearSince: ago(8), lastDataAt: ago(0.5) });
  });
});

describe('a stray bad window before a fault does not pull its start back', () => {
  test('loss_spike (mean): the start is the first lossy window of the stretch', () => {
    const ws = loss(0.1, 3, 0.1, 0.1, 0.1, 0.1, 1.5, 1.6, 1.5, 1.4, 1.8);
    const runs = lossRuns(ws, DEFAULT_RULES.loss_spike);
    expect(runs.map((r) => r.start.toISOString())).toEqual([iso(6)]);
  });

  test('bottleneck: the start is the first counted window of the cluster', () => {
    const w = (i: number, src: string): WorstHopWindow => ({
      src, dst: 'Z', time: at(i), jitter_ms: 50, loss_pct: 3, route: [src, 'X', 'Y', 'Z'], from_node: 'X', to_node: 'Y', etx: 2,
    });
    // one stray window 20 min (30 windows) before the fault, then the fault
    const runs = bottleneckRuns([w(0, 'A'), w(30, 'A'), w(31, 'B'), w(32, 'A'), w(33, 'B'), w(34, 'A')], [], DEFAULT_RULES.bottleneck, 15 * 60_000);
    expect(runs.map((r) => r.start.toISOString())).toEqual([iso(30)]);
  });
});
