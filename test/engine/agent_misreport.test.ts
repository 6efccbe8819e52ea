import { describe, expect, test } from 'bun:test';
import { configFrom } from '../../src/config.ts';
import { runTick } from '../../src/engine/engine.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { misreportFindings, type VolumeBucket } from '../../src/engine/rules/agent_misreport.ts';
import { readMessages } from '../../src/ingest/ingest.read.ts';
import { storeMessages } from '../../src/ingest/ingest.service.ts';
import { describeEachMode } from '../support/databases.ts';
import { events, incidents } from './support/mesh.ts';

const T0 = Date.parse('2026-12-06T18:00:00Z');
const min = (m: number) => new Date(T0 + m * 60_000);
const cfg = DEFAULT_RULES.agent_misreport;

describe('agent_misreport (pure)', () => {
  const bucket = (m: number, kind: string, measurements: number, affected: number): VolumeBucket => ({ at: min(m), lastAt: min(m + 4), kind, measurements, affected });

  test('holds while most of one kind’s new measurements in the window lost something; clears at the first bucket where not', () => {
    const buckets = [
      bucket(0, 'path', 8, 0), bucket(0, 'health', 5, 0),
      bucket(5, 'path', 8, 8), bucket(5, 'health', 5, 0),
      bucket(10, 'path', 8, 8),
      bucket(15, 'path', 8, 8),
      bucket(20, 'path', 8, 0), bucket(25, 'path', 8, 0), bucket(30, 'path', 8, 0), bucket(35, 'path', 8, 0), bucket(40, 'path', 8, 0),
    ];
    const [f, ...rest] = misreportFindings({
      now: min(44), open: new Set(), cfg,
      nodes: [{ node: 'A', buckets, reasons: [{ reason: 'dst_node_empty', drops: 24 }, { reason: 'out_of_range', drops: 1 }], routingDaemon: 'olsr' }],
    });
    expect(rest).toEqual([]);
    // 0–5: 8 of 16 path results (not "most"); 0–10: 16 of 24 — from there on until the 30-min window holds more clear than affected.
    expect(f!.runs).toHaveLength(1);
    expect(f!.runs[0]).toMatchObject({ start: min(10), end: min(30), clearAt: min(35), severity: 'minor', peaks: { dropped_pct: 75 } });
    expect(f!.lastDataAt).toEqual(min(44));
    expect(f!.cause).toBe(
      'The agent on A sends measurements the collector cannot use (75 % of its path results, mostly dst_node_empty): ' +
        'this agent version cannot parse olsrd’s jsoninfo: every probe lacks its destination (stored by address, without hops); upgrade the agent',
    );
    expect(f!.evidence).toMatchObject({ window_min: 30, reasons: [{ reason: 'dst_node_empty', drops: 24 }, { reason: 'out_of_range', drops: 1 }], routing_daemon: 'olsr' });
  });

  test('too few measurements say nothing; a healthy node gives no finding; an open incident gets one even when quiet', () => {
    const few = misreportFindings({ now: min(30), open: new Set(), cfg, nodes: [{ node: 'A', buckets: [bucket(0, 'path', 4, 4)], reasons: [], routingDaemon: null }] });
    expect(few).toEqual([]);
    const quiet = misreportFindings({ now: min(30), open: new Set(['B']), cfg, nodes: [] });
    expect(quiet).toEqual([expect.objectContaining({ kind: 'agent_misreport', scope: { type: 'node', node: 'B' }, runs: [], lastDataAt: null })]);
  });

  test('Babel wording, and a reason without its own explanation', () => {
    const f = misreportFindings({ now: min(10), open: new Set(), cfg, nodes: [{ node: 'B', buckets: [bucket(5, 'path', 6, 6)], reasons: [{ reason: 'dst_node_empty', drops: 6 }], routingDaemon: 'babel' }] });
    expect(f[0]!.cause).toContain('babeld’s route dump');
    const g = misreportFindings({ now: min(10), open: new Set(), cfg, nodes: [{ node: 'C', buckets: [bucket(5, 'hop', 6, 5)], reasons: [{ reason: 'too_deep', drops: 5 }], routingDaemon: null }] });
    expect(g[0]!.cause).toContain('83 % of its hop samples, mostly too_deep');
  });
});

describeEachMode('agent_misreport (engine)', (get) => {
  const config = configFrom();

  /** The upstream agent's report: the last probes, each 40 s apart, named or not. */
  function report(node: string, at: number, named: boolean) {
    const probes = [0, 40, 80].map((back) => {
      const ts = new Date(at - back * 1000).toISOString();
      return named
        ? { dst_node: 'KX6DEF-RKT-1', dst_ip: '10.54.12.9', timestamp: ts, rtt_ms_avg: 450, jitter_ms: 10, loss_pct: 0, hop_count: 1, path: [{ node: '10.54.12.1', lq: 0, nlq: 0, etx: 0 }] }
        : { dst_node: '', dst_ip: '10.54.12.9', timestamp: ts, rtt_ms_avg: 450, jitter_ms: 10, loss_pct: 0, hop_count: 0, path: [] };
    });
    return { schema: 'meshmon.v1', type: 'network_status', node, sent_at: new Date(at).toISOString(), routing_daemon: 'olsr', probe_count: 3, probes };
  }

  test('opens (minor) for a node sending only probes without destinations, and closes when its reports become usable', async () => {
    await get().truncate();
    const db = get().db;
    let openedAt: Date | null = null;
    let closedAt: Date | null = null;
    // 50 min of unusable reports, then usable ones; a report and an engine tick every 40 s.
    for (let m = 0; m < 110; m += 40 / 60) {
      const now = new Date(T0 + Math.round(m * 60_000));
      await db.transaction().execute(async (trx) => {
        const msgs = [report('KX6ABC-HAP-2', now.getTime() - 1000, m >= 50), report('KX6GOOD-1', now.getTime() - 1000, true)];
        await storeMessages(trx, readMessages(msgs), { receivedAt: now, config });
        const r = await runTick(trx, now, DEFAULT_RULES);
        if (r.opened.length && !openedAt) openedAt = now;
        if (r.closed.length && !closedAt) closedAt = now;
      });
    }
    const all = (await incidents(db)).filter((i) => i.kind === 'agent_misreport');
    expect(all).toHaveLength(1);
    const inc = all[0]!;
    expect(inc).toMatchObject({ scope: { type: 'node', node: 'KX6ABC-HAP-2' }, severity: 'minor', status: 'closed', title: 'Agent misreporting: KX6ABC-HAP-2' });
    expect(inc.cause).toContain('cannot parse olsrd’s jsoninfo');
    expect(inc.cause).toContain('upgrade the agent');
    expect(inc.next_steps.join(' ')).toContain('docs/agents.md');
    expect(inc.evidence).toMatchObject({ closed_by: 'clear', reasons: expect.arrayContaining([expect.objectContaining({ reason: 'dst_node_empty' })]) });
    // Opened within the first ten minutes; closed after the reports turned usable, once clear for close_after.
    expect(openedAt!.getTime()).toBeLessThanOrEqual(min(10).getTime());
    expect(closedAt!.getTime()).toBeGreaterThan(min(50).getTime());
    expect(new Date(inc.ended_at!).getTime()).toBeGreaterThan(min(50).getTime());
    expect((await events(db, inc.id)).map((e) => e.event)).toEqual(['opened', 'clearing', 'closed']);
  });
});