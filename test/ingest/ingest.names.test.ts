// Repeats and retries stay duplicates when a request names an address: the
// agent repeats its last 20 probes in every report, so the report that
// teaches a pair usually also carries probes stored earlier under the address.
import { expect, test } from 'bun:test';
import { sql } from 'kysely';
import { testApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { freshTables } from './helpers.ts';

const NOW = Date.parse('2026-03-02T12:00:00Z');
const at = (s: number) => new Date(NOW + s * 1000).toISOString();

const probe = (dst_node: string, ts: string, path: string[]) => ({
  dst_node, dst_ip: '10.0.0.1', timestamp: ts, rtt_ms_avg: 12, jitter_ms: 3, loss_pct: 0, hop_count: path.length,
  path: path.map((node) => ({ node, interface: 'wlan0', link_type: 'RF', lq: 0.9, nlq: 0.9, etx: 1.2, rtt_ms: 0 })),
});
const report = (node: string, sentAt: string, probes: unknown[]) => ({
  schema: 'meshmon.v1', type: 'network_status', node, sent_at: sentAt, routing_daemon: 'olsr', probe_count: probes.length, probes,
});

describeEachMode('naming addresses, repeats and retries', (get) => {
  freshTables(get);
  const rows = async () =>
    (await sql<{ src: string; dst: string }>`SELECT src, dst FROM path_probe ORDER BY time, src, dst`.execute(get().db)).rows;

  test('a pair learnt in a request names its sender too: the retry stores nothing new', async () => {
    const t = testApp(get(), { now: new Date(NOW) });
    const body = [
      report('10.54.13.1', at(-60), [probe('', at(-70), [])]),
      // node-A's mesh address is where this named probe's hop list ends.
      report('node-B', at(-50), [probe('node-A', at(-55), ['10.54.13.1'])]),
    ];
    const first = await t.post('/ingest', body);
    expect(first.status).toBe(200);
    expect(first.body.rows.path_probe.inserted).toBe(2);
    expect((await rows()).map((r) => r.src).sort()).toEqual(['node-A', 'node-B']);
    t.setNow(new Date(NOW + 30_000));
    const retry = await t.post('/ingest', body);
    expect(retry.status).toBe(200);
    for (const table of ['path_probe', 'hop_quality', 'agent_health', 'crash_report']) expect(retry.body.rows[table].inserted).toBe(0);
    expect(await rows()).toHaveLength(2);
  });

  test('the report that names an address also repeats probes stored under it: they are duplicates, moved to the name', async () => {
    const t = testApp(get(), { now: new Date(NOW) });
    const p1 = probe('', at(-120), ['10.54.13.7']);
    expect((await t.post('/ingest', report('node-B', at(-110), [p1]))).body.rows.path_probe.inserted).toBe(1);
    expect(await rows()).toEqual([{ src: 'node-B', dst: '10.54.13.7' }]);
    t.setNow(new Date(NOW + 40_000));
    const second = await t.post('/ingest', report('node-B', at(-70), [probe('node-G', at(-80), ['10.54.13.7']), p1]));
    expect(second.status).toBe(200);
    expect(second.body.rows.path_probe).toMatchObject({ inserted: 1, duplicates: 1 });
    expect(await rows()).toEqual([{ src: 'node-B', dst: 'node-G' }, { src: 'node-B', dst: 'node-G' }]);
  });
});
