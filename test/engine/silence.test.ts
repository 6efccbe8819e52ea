// Many nodes silent at once (spec/rules.md): the pure cores — agent_silent's
// silence view and findings, the partition decision (graph in, verdict out),
// the lifecycle and correlate — stepped through fixed timestamps.
import { describe, expect, test } from 'bun:test';
import type { Tracked } from '../../src/engine/lifecycle.ts';
import { DAY, nodeSilence, type NodeSilence } from '../../src/engine/rules/agent_silent.ts';
import { findPartitions, partitionCandidates, partitionCause } from '../../src/engine/rules/partition.ts';
import { DEFAULT_RULES, parseRules } from '../../src/engine/rules.config.ts';
import { scopeKey } from '../../src/incidents/incident.schema.ts';
import { link, type Link } from '../../src/incidents/keys.ts';
import { arrivals, at, runSilenceTicks } from './support/silence-ticks.ts';

const cfg = DEFAULT_RULES.agent_silent;
const describeIncident = (t: Tracked) => `${t.kind} ${scopeKey(t.scope)}`;
const roots = (all: Tracked[]) => all.filter((t) => !t.parentId);
const childrenOf = (all: Tracked[], root: Tracked) => all.filter((t) => t.parentId === root.id).map(describeIncident).sort();
const links = (...pairs: Array<[string, string]>): Link[] => pairs.map(([x, y]) => link(x, y));

/** Reports every 40 s with a phase, over the given spans (minutes). */
const reporting = (phaseS: number, ...spans: Array<[number, number]>) => spans.flatMap(([from, to]) => arrivals(from, to, 40, phaseS));

describe('outage: every agent silent at once is one incident for "*"', () => {
  // Nodes fall silent at 19:40, 19:50 and 20:00 (their last arrivals): with
  // 10 s ticks each crosses its 5 min threshold one tick after the other, and
  // "everyone" is only known at the third.
  const reports = {
    A: reporting(20, [0, 19.7], [35, 55]),
    B: reporting(30, [0, 19.85], [35, 55]),
    C: reporting(0, [0, 20.01], [35, 55]),
    D: reporting(0, [0, 20.01], [35.2, 55]),
  };
  const topo = links(['A', 'B'], ['B', 'C'], ['C', 'D'], ['D', 'A']);

  test('nodes going silent across three consecutive ticks: one root, the early ones re-parented', () => {
    const r = runSilenceTicks({ reports, links: topo, fromMin: 0, toMin: 55 });
    // A at 24:50, B at 25:00, then C, D and everyone at 25:10
    expect(r.opened.map((o) => new Date(o.at).toISOString().slice(11, 19))).toEqual(['06:24:50', '06:25:00', '06:25:10']);
    const star = roots(r.incidents);
    expect(star.map(describeIncident)).toEqual(['agent_silent node:*']);
    expect(star[0]!.startedAt.toISOString()).toBe('2026-03-02T06:20:00.000Z');
    expect(childrenOf(r.incidents, star[0]!)).toEqual(['agent_silent node:A', 'agent_silent node:B']);
    const a = r.incidents.find((t) => describeIncident(t) === 'agent_silent node:A')!;
    expect(a.events.map((e) => e.event)).toContain('reparented');
    expect(a.cause).toContain('every other agent');
    // everyone back at 35:00: "*" clears from its first report and closes 15 min on
    expect(star[0]!.state).toEqual({ status: 'closed', endedAt: new Date(at(35)), closedBy: 'clear' });
    // nothing in an outage looks like a partition: the topology was never needed
    expect(r.topologyReads).toBe(0);
    expect(r.incidents.some((t) => t.kind === 'partition')).toBe(false);
  });

  test('the answer does not depend on the ticks: one root for any tick length and phase', () => {
    for (const tickS of [7, 10, 13, 30, 60]) {
      for (const offsetS of [0, 3]) {
        const r = runSilenceTicks({ reports, links: topo, fromMin: offsetS / 60, toMin: 50, tickS });
        expect({ tickS, offsetS, roots: roots(r.incidents).map(describeIncident) }).toEqual({ tickS, offsetS, roots: ['agent_silent node:*'] });
      }
    }
  });

  test('a node that does not come back with the rest gets its own incident, a root', () => {
    const r = runSilenceTicks({ reports: { ...reports, D: reporting(0, [0, 20.01]) }, links: topo, fromMin: 0, toMin: 50 });
    expect(roots(r.incidents).map(describeIncident)).toEqual(['agent_silent node:*', 'agent_silent node:D']);
  });
});

describe('partition: several nodes silent together behind one link while others report', () => {
  // A core ring R1..R4; a site G1 (gateway) – G2 – G3 hanging off R2.
  const core = links(['R1', 'R2'], ['R2', 'R3'], ['R3', 'R4'], ['R4', 'R1']);
  const site = links(['R2', 'G1'], ['G1', 'G2'], ['G2', 'G3'], ['G1', 'G3']);
  const up = (phase: number) => reporting(phase, [0, 60]);
  // The site is cut off from 20:00 to 40:00; its nodes' last arrivals at 19:30, 19:40, 19:50.
  const cut = (phase: number) => reporting(phase, [0, 19.9], [40, 60]);
  // More of the mesh further out, so that the site is under a quarter of it.
  const far = ['R5', 'R6', 'R7', 'R8', 'R9', 'R10'];
  const base = { R1: up(0), R2: up(10), R3: up(20), R4: up(30), ...Object.fromEntries(far.map((n, i) => [n, up(i * 5)])) };
  const tail = links(...far.map((n, i) => [i ? far[i - 1]! : 'R1', n] as [string, string]));

  test('a group behind one link: one partition on the link, the group’s silences its children', () => {
    const r = runSilenceTicks({ reports: { ...base, G1: cut(10), G2: cut(20), G3: cut(30) }, links: [...core, ...tail, ...site], fromMin: 0, toMin: 60 });
    const rs = roots(r.incidents);
    expect(rs.map(describeIncident)).toEqual(['partition link:G1,R2']);
    const p = rs[0]!;
    expect(p.scope).toEqual({ type: 'link', a: 'G1', b: 'R2' });
    expect(p.nodes).toEqual(['G1', 'G2', 'G3']);
    expect(p.impact.nodes).toEqual(['G1', 'G2', 'G3']);
    expect(p.severity).toBe('major');
    expect(p.cause).toBe('The link G1 ↔ R2 (or the site G1) is down: 3 sites behind it are cut off');
    expect(p.evidence).toMatchObject({ group: ['G1', 'G2', 'G3'], reporting_end: 'R2', silent_end: 'G1', boundary: [{ a: 'G1', b: 'R2' }] });
    expect(childrenOf(r.incidents, p)).toEqual(['agent_silent node:G1', 'agent_silent node:G2', 'agent_silent node:G3']);
    // started with its first member's silence; closed from the group's first report back
    expect(p.startedAt.toISOString()).toBe('2026-03-02T06:20:10.000Z');
    expect(p.state.status).toBe('closed');
    expect((p.state as { endedAt: Date }).endedAt.getTime()).toBeLessThanOrEqual(at(40) + 40_000);
  });

  test('the same for any tick length: one root, the same scope', () => {
    for (const tickS of [7, 10, 30, 60]) {
      const r = runSilenceTicks({ reports: { ...base, G1: cut(10), G2: cut(20), G3: cut(30) }, links: [...core, ...tail, ...site], fromMin: 0, toMin: 60, tickS });
      expect({ tickS, roots: roots(r.incidents).map(describeIncident) }).toEqual({ tickS, roots: ['partition link:G1,R2'] });
    }
  });

  test('a group with two links into it: node scope, the node with the most links to the reporting part', () => {
    const twoUp = [...core, ...tail, ...links(['R2', 'G1'], ['R4', 'G1'], ['G1', 'G2'])];
    const r = runSilenceTicks({ reports: { ...base, G1: cut(10), G2: cut(20) }, links: twoUp, fromMin: 0, toMin: 60 });
    expect(roots(r.incidents).map(describeIncident)).toEqual(['partition node:G1']);
    const p = roots(r.incidents)[0]!;
    expect(p.cause).toBe('The site G1 (or every link into it) is down: 2 sites behind it are cut off');
    expect(p.links).toEqual(links(['G1', 'R2'], ['G1', 'R4']));
    expect(childrenOf(r.incidents, p)).toEqual(['agent_silent node:G1', 'agent_silent node:G2']);
  });

  test('a single silent node: its own agent_silent, no partition, no topology read', () => {
    const r = runSilenceTicks({ reports: { ...base, R3: reporting(20, [0, 19.9], [40, 60]), G1: up(5) }, links: [...core, ...tail, ...site], fromMin: 0, toMin: 60 });
    expect(roots(r.incidents).map(describeIncident)).toEqual(['agent_silent node:R3']);
    expect(r.topologyReads).toBe(0);
  });

  test('a quarter or more of the known nodes behind it: critical', () => {
    const r = runSilenceTicks({ reports: { R1: up(0), R2: up(10), G1: cut(10), G2: cut(20) }, links: links(['R1', 'R2'], ['R2', 'G1'], ['G1', 'G2']), fromMin: 0, toMin: 60 });
    expect(roots(r.incidents).map((t) => `${describeIncident(t)} ${t.severity}`)).toEqual(['partition link:G1,R2 critical']);
  });
});

describe('findPartitions: graph in, verdict out', () => {
  const now = at(30);
  /** A node last heard `agoMin` minutes before now, reporting every 40 s. */
  const node = (name: string, agoMin: number): NodeSilence =>
    nodeSilence({ node: name, last_at: new Date(now - agoMin * 60_000), usual_s: 40 }, now, cfg);
  const decide = (nodes: NodeSilence[], l: Link[], exclude: string[] = []) =>
    findPartitions({ nodes, exclude: new Set(exclude), links: l, minNodes: 2 }).map((v) => ({ scope: scopeKey(v.scope), group: v.group }));

  test('every path from the group to the reporting nodes crosses one link: that link', () => {
    const nodes = [node('A', 0.2), node('B', 0.3), node('C', 6), node('D', 6.2)];
    expect(decide(nodes, links(['A', 'B'], ['B', 'C'], ['C', 'D']))).toEqual([{ scope: 'link:B,C', group: ['C', 'D'] }]);
  });

  test('several links into the group: the node with the most; ties by name', () => {
    const nodes = [node('A', 0.2), node('B', 0.3), node('E', 0.1), node('C', 6), node('D', 6.2)];
    expect(decide(nodes, links(['A', 'C'], ['B', 'C'], ['E', 'D'], ['C', 'D']))).toEqual([{ scope: 'node:C', group: ['C', 'D'] }]);
    expect(decide(nodes, links(['A', 'D'], ['B', 'C'], ['C', 'D']))).toEqual([{ scope: 'node:C', group: ['C', 'D'] }]);
  });

  test('a node neither silent nor clearly reporting next to the group: decided later, once it is one or the other', () => {
    // D reported 2 min after C: it may be about to fall silent with it
    const nodes = [node('A', 0.2), node('B', 7), node('C', 6.5), node('D', 4.5)];
    const topo = links(['A', 'B'], ['B', 'C'], ['C', 'D']);
    expect(decide(nodes, topo)).toEqual([]);
    // D reports again: reporting nodes on both sides of the group, two links into it
    expect(decide([...nodes.slice(0, 3), node('D', 0.1)], topo)).toEqual([{ scope: 'node:B', group: ['B', 'C'] }]);
    // D falls silent too: the three hang on A–B
    expect(decide([...nodes.slice(0, 3), node('D', 6)], topo)).toEqual([{ scope: 'link:A,B', group: ['B', 'C', 'D'] }]);
  });

  test('silent nodes of other times and nodes without an agent are part of the way, not of the group', () => {
    // X (agent silent for an hour) relays for the site behind it; Y has no agent at all
    const nodes = [node('A', 0.2), node('X', 60), node('C', 6), node('D', 6.2)];
    expect(decide(nodes, links(['A', 'X'], ['X', 'C'], ['C', 'D']))).toEqual([{ scope: 'link:A,X', group: ['C', 'D'] }]);
    expect(decide(nodes, links(['A', 'Y'], ['Y', 'C'], ['C', 'D']))).toEqual([{ scope: 'link:A,Y', group: ['C', 'D'] }]);
  });

  test('a router without an agent is up when probes through it still came back after the group fell silent', () => {
    const nodes = [node('A', 0.2), node('C', 6), node('D', 6.2)];
    const topo = links(['A', 'Y'], ['Y', 'C'], ['C', 'D']);
    const up = (at: number) => findPartitions({ nodes, exclude: new Set(), links: topo, minNodes: 2, routersAnswered: new Map([['Y', at]]) }).map((v) => scopeKey(v.scope));
    // answered a minute ago: Y is up, the link Y–C is what failed
    expect(up(now - 60_000)).toEqual(['link:C,Y']);
    // last answered before the group fell silent: Y is part of the way in
    expect(up(now - 7 * 60_000)).toEqual(['link:A,Y']);
  });

  test('no reporting node, one silent node, nodes silent at different times, or a group cut off in no link seen: no partition', () => {
    const topo = links(['A', 'B'], ['B', 'C'], ['C', 'D']);
    // everyone within a report interval of each other: an outage, not a partition
    expect(partitionCandidates([node('A', 4.8), node('B', 5.5), node('C', 6), node('D', 6.2)], new Set(), 2)).toEqual([]);
    expect(decide([node('A', 0.2), node('B', 0.3), node('C', 0.2), node('D', 6.2)], topo)).toEqual([]);
    expect(decide([node('A', 0.2), node('B', 0.3), node('C', 6), node('D', 25)], topo)).toEqual([]);
    expect(decide([node('A', 0.2), node('B', 0.3), node('C', 6), node('D', 6.2)], links(['A', 'B']))).toEqual([]);
    // a group already behind an open partition is not decided again
    expect(decide([node('A', 0.2), node('B', 0.3), node('C', 6), node('D', 6.2)], topo, ['C', 'D'])).toEqual([]);
    // nor one silent for longer than the topology's hour: no topology read for it every tick
    const old = [node('A', 0.2), node('B', 0.3), node('C', 90), node('D', 90.5)];
    expect(partitionCandidates(old, new Set(), 2, now - 60 * 60_000)).toEqual([]);
    expect(partitionCandidates(old, new Set(), 2)).toHaveLength(1);
  });

  test('node names holding "--" are names like any other', () => {
    const nodes = [node('A', 0.2), node('B--KX6', 0.3), node('KX6--C', 6), node('D', 6.2)];
    const v = findPartitions({ nodes, exclude: new Set(), links: links(['A', 'B--KX6'], ['B--KX6', 'KX6--C'], ['KX6--C', 'D']), minNodes: 2 });
    expect(v.map((x) => x.scope)).toEqual([{ type: 'link', a: 'B--KX6', b: 'KX6--C' }]);
    expect(partitionCause(v[0]!.scope, v[0]!.group, v[0]!.silentEnd)).toBe('The link B--KX6 ↔ KX6--C (or the site KX6--C) is down: 2 sites behind it are cut off');
  });
});

describe('gone for good: retire_after', () => {
  const reports = { R1: reporting(0, [0, 8 * 24 * 60 + 120]), R2: reporting(10, [0, 8 * 24 * 60 + 120]), X: [...reporting(5, [0, 10]), ...reporting(5, [7 * 24 * 60 + 60, 7 * 24 * 60 + 61])] };
  const topo = links(['R1', 'R2'], ['R2', 'X']);

  test('a node silent for 7 days is retired (closed_by retired); nothing opens until it reports, and then it reports', () => {
    const r = runSilenceTicks({ reports, links: topo, fromMin: 0, toMin: 7 * 24 * 60 + 55, tickS: 600 });
    const x = r.incidents.filter((t) => describeIncident(t) === 'agent_silent node:X');
    expect(x).toHaveLength(1);
    expect(x[0]!.state).toEqual({ status: 'closed', endedAt: new Date(reports.X[14]! + 7 * DAY), closedBy: 'retired' });
    expect(x[0]!.evidence.closed_by).toBe('retired');
    expect(x[0]!.events.map((e) => e.event).at(-1)).toBe('closed');
    // back at day 7 + 1 h, silent again after one report: a new incident, a new id
    const later = runSilenceTicks({ reports, links: topo, fromMin: 0, toMin: 7 * 24 * 60 + 120, tickS: 600 });
    const again = later.incidents.filter((t) => describeIncident(t) === 'agent_silent node:X');
    expect(again).toHaveLength(2);
    expect(again[1]!.state.status).toBe('open');
    expect(again[1]!.startedAt.getTime()).toBeGreaterThan(at(7 * 24 * 60 + 60));
  });

  test('retire_after is in the rules file, validated', () => {
    expect(cfg.retire_after_days).toBe(7);
    expect(parseRules({ agent_silent: { retire_after_days: 1 } }).agent_silent.retire_after_days).toBe(1);
    expect(() => parseRules({ agent_silent: { retire_after_days: 0 } })).toThrow(/retire_after_days/);
    expect(() => parseRules({ agent_silent: { retire_after_days: 0.01 } })).toThrow(/retire_after_days: must be longer than/);
  });
});
