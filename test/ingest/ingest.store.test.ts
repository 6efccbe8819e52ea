import { expect, test } from 'bun:test';
import { sql } from 'kysely';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { example } from '../support/fixtures.ts';
import { agentHealth, counts, EMPTY, freshTables, pathResult, windows } from './helpers.ts';

const d = (s: string) => new Date(s);
const after = (iso: string, s = 60) => new Date(Date.parse(iso) + s * 1000);

describeEachMode('POST /ingest stores', (get) => {
  freshTables(get);

  test('reference guide §8: the curl single message, verbatim', async () => {
    const t = testApp(get(), { now: '2025-09-29T18:45:00Z' });
    // The -d body of the guide's curl, byte for byte.
    const body = `{
  "schema":"meshmon.v1","type":"path_result",
  "src":"node-A","dst":"node-K",
  "sent_at":"2025-09-29T18:41:05Z","window_s":5,
  "route":["node-A","node-D","node-H","node-K"],
  "metrics":{"rtt_ms_avg":72.3,"jitter_ms_rfc3550":31.8,"loss_pct":0.9}
 }`;
    const r = await t.post('/ingest', body);
    expect(r.status).toBe(200);
    expect(r.body.accepted.path_result).toBe(1);
    const rows = await get().db.selectFrom('path_probe').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      time: d('2025-09-29T18:41:05Z'), src: 'node-A', dst: 'node-K', route: ['node-A', 'node-D', 'node-H', 'node-K'],
      rtt_ms: 72.3, jitter_ms: 31.8, loss_pct: 0.9, window_s: 5,
    });
  });

  test('reference guide §8: the batch file, verbatim', async () => {
    const t = testApp(get(), { now: '2025-09-29T18:45:00Z' });
    const batch = `[
 {"schema":"meshmon.v1","type":"path_result","src":"node-A","dst":"node-K","sent_at":"2025-09-29T18:41:05Z","window_s":5,"route":["node-A","node-D","node-H","node-K"],"metrics":{"rtt_ms_avg":70,"jitter_ms_rfc3550":35,"loss_pct":0.5}},
 {"schema":"meshmon.v1","type":"path_result","src":"node-A","dst":"node-K","sent_at":"2025-09-29T18:41:45Z","window_s":5,"route":["node-A","node-D","node-H","node-K"],"metrics":{"rtt_ms_avg":75,"jitter_ms_rfc3550":33,"loss_pct":0.8}},
 {"schema":"meshmon.v1","type":"path_result","src":"node-A","dst":"node-K","sent_at":"2025-09-29T18:42:25Z","window_s":5,"route":["node-A","node-D","node-H","node-K"],"metrics":{"rtt_ms_avg":73,"jitter_ms_rfc3550":38,"loss_pct":0.6}}
]
`;
    const r = await t.post('/ingest', batch);
    expect(r.status).toBe(200);
    expect(r.body.accepted.path_result).toBe(3);
    const rows = await get().db.selectFrom('path_probe').select(['time', 'rtt_ms', 'jitter_ms', 'loss_pct']).orderBy('time').execute();
    expect(rows).toEqual([
      { time: d('2025-09-29T18:41:05Z'), rtt_ms: 70, jitter_ms: 35, loss_pct: 0.5 },
      { time: d('2025-09-29T18:41:45Z'), rtt_ms: 75, jitter_ms: 33, loss_pct: 0.8 },
      { time: d('2025-09-29T18:42:25Z'), rtt_ms: 73, jitter_ms: 38, loss_pct: 0.6 },
    ]);
    // The guide's `SELECT COUNT(*) FROM path_probe` after both smoke tests: a retry adds nothing.
    const again = await t.post('/ingest', batch);
    expect(again.status).toBe(200);
    expect(again.body.duplicates.path_result).toBe(3);
    expect((await counts(get())).path_probe).toBe(3);
  });

  test('every spec example is accepted, at the time it was sent', async () => {
    for (const name of ['path_result', 'hop_result', 'agent_health', 'agent_health-field', 'network_status', 'crash_report']) {
      const msg = await example<{ type: string; sent_at: string }>(name);
      const t = testApp(get(), { now: after(msg.sent_at) });
      const r = await t.post('/ingest', msg);
      expect(r.status, name).toBe(200);
      expect(r.body.accepted[msg.type], name).toBe(1);
      expect(r.body.received_at).toBe(after(msg.sent_at).toISOString());
    }
  });

  test('path_result: every column', async () => {
    const msg = await example<{ sent_at: string }>('path_result');
    const recv = after(msg.sent_at);
    await testApp(get(), { now: recv }).post('/ingest', msg);
    const rows = await get().db.selectFrom('path_probe').selectAll().execute();
    expect(rows).toEqual([{
      time: d('2025-09-29T18:41:05Z'), src: 'node-A', dst: 'node-K', route: ['node-A', 'node-D', 'node-H', 'node-K'],
      rtt_ms: 72.3, jitter_ms: 11.8, loss_pct: 0.9, window_s: 5,
      sent_at: d('2025-09-29T18:41:05Z'), received_at: recv, clock_skew_s: null, source: 'path_result',
      agent_version: '0.1.0', agent_cpu_pct: 4.2, agent_mem_mb: 6.8, extra: null,
    }]);
    const node = await get().db.selectFrom('nodes').selectAll().executeTakeFirstOrThrow();
    expect(node).toMatchObject({
      node: 'node-A', first_seen: d('2025-09-29T18:41:05Z'), last_seen: d('2025-09-29T18:41:05Z'), last_received_at: recv,
      last_type: 'path_result', agent_version: '0.1.0', clock_skew_s: 60 * -1, skew_flagged_at: null,
    });
  });

  test('hop_result: every column', async () => {
    const msg = await example<{ sent_at: string }>('hop_result');
    const recv = after(msg.sent_at);
    await testApp(get(), { now: recv }).post('/ingest', msg);
    const rows = await get().db.selectFrom('hop_quality').selectAll().execute();
    expect(rows).toEqual([{
      time: d('2025-09-29T18:41:05Z'), src: 'node-A', dst: 'node-K', hop_index: 1, from_node: 'node-A', to_node: 'node-D',
      lq: 0.86, nlq: 0.91, etx: 1.28, link_type: null, rtt_ms: null,
      sent_at: d('2025-09-29T18:41:05Z'), received_at: recv, clock_skew_s: null, extra: null,
    }]);
    expect(await get().db.selectFrom('nodes').select(['node', 'last_type']).execute()).toEqual([{ node: 'node-A', last_type: 'hop_result' }]);
  });

  test('agent_health (guide §11): every column', async () => {
    const msg = await example<{ sent_at: string }>('agent_health');
    const recv = after(msg.sent_at);
    await testApp(get(), { now: recv }).post('/ingest', msg);
    expect(await get().db.selectFrom('agent_health').selectAll().execute()).toEqual([{
      time: d('2025-09-29T18:41:00Z'), node: 'node-A', cpu_pct: 3.1, mem_mb: 5.9, queue_len: 0, neighbors_seen: 5,
      sent_at: d('2025-09-29T18:41:00Z'), received_at: recv, clock_skew_s: null, extra: null,
    }]);
  });

  test('agent_health from the field: no neighbors_seen, extra fields stored, registry filled', async () => {
    const msg = await example<Record<string, unknown> & { sent_at: string }>('agent_health-field');
    const recv = after(msg.sent_at, 2);
    await testApp(get(), { now: recv }).post('/ingest', msg);
    const row = await get().db.selectFrom('agent_health').selectAll().executeTakeFirstOrThrow();
    const { schema: _s, type: _t, node: _n, sent_at: _a, cpu_pct: _c, mem_mb: _m, queue_len: _q, ...extra } = msg;
    expect(row).toEqual({
      time: d('2026-03-02T07:15:00Z'), node: 'KX6ABC-HAP-2', cpu_pct: 12.5, mem_mb: 4.2, queue_len: 0, neighbors_seen: null,
      sent_at: d('2026-03-02T07:15:00Z'), received_at: recv, clock_skew_s: null, extra: extra as never,
    });
    const node = await get().db.selectFrom('nodes').selectAll().executeTakeFirstOrThrow();
    expect(node).toEqual({
      node: 'KX6ABC-HAP-2', first_seen: d('2026-03-02T07:15:00Z'), last_seen: d('2026-03-02T07:15:00Z'),
      last_received_at: recv, last_type: 'agent_health', agent_version: null, routing_daemon: 'babel',
      hardware_model: 'MikroTik hAP ac lite', firmware_version: '3.25.5.0', grid_square: 'CM87ss',
      lat: 37.7749, lon: -122.4194, clock_skew_s: -2, skew_flagged_at: null,
      extra: { uptime_seconds: 86400, restart_count: 1, threads_responsive: true, health_score: 96 },
    });
  });

  test('network_status fans out into path and hop rows', async () => {
    const msg = await example<{ sent_at: string }>('network_status');
    const recv = after(msg.sent_at, 1);
    const r = await testApp(get(), { now: recv }).post('/ingest', msg);
    expect(r.body.rows).toEqual({
      path_probe: { inserted: 2, duplicates: 0, dropped: 0 }, hop_quality: { inserted: 3, duplicates: 0, dropped: 0 },
      agent_health: { inserted: 0, duplicates: 0, dropped: 0 }, crash_report: { inserted: 0, duplicates: 0, dropped: 0 },
    });
    const report = { sent_at: '2026-03-02T07:15:40.000Z', routing_daemon: 'olsr', probe_count: 2 };
    const common = { received_at: recv, clock_skew_s: null, source: 'network_status', window_s: 5, agent_version: null, agent_cpu_pct: null, agent_mem_mb: null };
    const paths = await get().db.selectFrom('path_probe').selectAll().orderBy('time').execute();
    expect(paths).toEqual([
      {
        ...common, time: d('2026-03-02T07:15:30Z'), sent_at: d('2026-03-02T07:15:30Z'), src: 'KX6ABC-HAP-2', dst: 'KX6DEF-RKT-1',
        route: ['KX6ABC-HAP-2', 'KX6GHI-NSM5-1', 'KX6DEF-RKT-1'], rtt_ms: 18.4, jitter_ms: 3.1, loss_pct: 0,
        extra: { dst_ip: '10.54.12.1', routing_daemon: 'olsr', hop_count: 2, report },
      },
      {
        ...common, time: d('2026-03-02T07:15:35Z'), sent_at: d('2026-03-02T07:15:35Z'), src: 'KX6ABC-HAP-2', dst: 'KX6JKL-TUN-HUB',
        route: ['KX6ABC-HAP-2', 'KX6JKL-TUN-HUB'], rtt_ms: 61, jitter_ms: 34.8, loss_pct: 4,
        extra: { dst_ip: '10.77.3.9', routing_daemon: 'olsr', hop_count: 1, report },
      },
    ] as never);
    const hops = await get().db.selectFrom('hop_quality').selectAll().orderBy('time').orderBy('hop_index').execute();
    const hc = { received_at: recv, clock_skew_s: null, src: 'KX6ABC-HAP-2' };
    expect(hops).toEqual([
      { ...hc, time: d('2026-03-02T07:15:30Z'), sent_at: d('2026-03-02T07:15:30Z'), dst: 'KX6DEF-RKT-1', hop_index: 1, from_node: 'KX6ABC-HAP-2', to_node: 'KX6GHI-NSM5-1', lq: 0.94, nlq: 0.91, etx: 1.17, link_type: 'RF', rtt_ms: 6.2, extra: { interface: 'wlan0' } },
      { ...hc, time: d('2026-03-02T07:15:30Z'), sent_at: d('2026-03-02T07:15:30Z'), dst: 'KX6DEF-RKT-1', hop_index: 2, from_node: 'KX6GHI-NSM5-1', to_node: 'KX6DEF-RKT-1', lq: 0.88, nlq: 0.85, etx: 1.34, link_type: 'RF', rtt_ms: 18.4, extra: { interface: 'wlan0' } },
      { ...hc, time: d('2026-03-02T07:15:35Z'), sent_at: d('2026-03-02T07:15:35Z'), dst: 'KX6JKL-TUN-HUB', hop_index: 1, from_node: 'KX6ABC-HAP-2', to_node: 'KX6JKL-TUN-HUB', lq: 1, nlq: 1, etx: 1, link_type: 'TUN', rtt_ms: 61, extra: { interface: 'tun50' } },
    ] as never);
    const node = await get().db.selectFrom('nodes').selectAll().executeTakeFirstOrThrow();
    expect(node).toMatchObject({ node: 'KX6ABC-HAP-2', routing_daemon: 'olsr', last_type: 'network_status', last_seen: d('2026-03-02T07:15:40Z') });
  });

  test('crash_report: every column', async () => {
    const msg = await example<{ sent_at: string }>('crash_report');
    const recv = after(msg.sent_at, 3);
    await testApp(get(), { now: recv }).post('/ingest', msg);
    expect(await get().db.selectFrom('crash_report').selectAll().execute()).toEqual([{
      time: d('2026-03-02T07:20:02Z'), node: 'KX6ABC-HAP-2', crash_time: d('2026-03-02T07:19:58Z'), signal: 11,
      signal_name: 'SIGSEGV', reason: 'probe thread', restart_count: 2, uptime_before_crash: 3600,
      sent_at: d('2026-03-02T07:20:02Z'), received_at: recv, clock_skew_s: null, extra: null,
    }]);
  });

  test('unknown fields are stored, at any level', async () => {
    const t = testApp(get());
    const r = await t.post('/ingest', [
      pathResult({ probe_method: 'icmp', metrics: { rtt_ms_avg: 1, jitter_ms_rfc3550: 2, loss_pct: 3, rtt_ms_p95: 9 }, agent: { ver: '0.2', uptime_s: 5 } }),
      { schema: 'meshmon.v1', type: 'hop_result', src: 'node-B', dst: 'node-C', sent_at: '2026-03-02T11:59:00Z', hop_index: 1, hop: { from: 'node-B', to: 'node-C', iface: 'wlan0' }, l2: { rxcost: 256, snr: 31 } },
    ]);
    expect(r.status).toBe(200);
    const p = await get().db.selectFrom('path_probe').select('extra').executeTakeFirstOrThrow();
    expect(p.extra).toEqual({ probe_method: 'icmp', metrics: { rtt_ms_p95: 9 }, agent: { uptime_s: 5 } });
    const h = await get().db.selectFrom('hop_quality').select(['extra', 'lq', 'nlq', 'etx']).executeTakeFirstOrThrow();
    expect(h).toEqual({ extra: { hop: { iface: 'wlan0' }, l2: { rxcost: 256, snr: 31 } }, lq: null, nlq: null, etx: null });
  });

  test('a retried batch is stored once and the answer says so', async () => {
    const t = testApp(get());
    const batch = [...windows(20), agentHealth(), agentHealth({ node: 'node-B' })];
    const first = await t.post('/ingest', batch);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      messages: 62,
      accepted: { path_result: 20, hop_result: 40, agent_health: 2, network_status: 0, crash_report: 0 },
      duplicates: { path_result: 0, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 },
      nodes: 2,
    });
    const before = await counts(get());
    // ingest_volume: node-A's path results, hops and health report, node-B's health report.
    expect(before).toEqual({ ...EMPTY, path_probe: 20, hop_quality: 40, agent_health: 2, nodes: 2, ingest_volume: 4 });
    t.setNow('2026-03-02T12:00:30Z');
    const retry = await t.post('/ingest', batch);
    expect(retry.status).toBe(200);
    expect(retry.body.accepted).toEqual({ path_result: 0, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 });
    expect(retry.body.duplicates).toEqual({ path_result: 20, hop_result: 40, agent_health: 2, network_status: 0, crash_report: 0 });
    expect(await counts(get())).toEqual(before);
    // The registry still moved: the node was heard from again.
    const n = await get().db.selectFrom('nodes').select('last_received_at').where('node', '=', 'node-A').executeTakeFirstOrThrow();
    expect(n.last_received_at).toEqual(d('2026-03-02T12:00:30Z'));
  });

  test('the same message twice in one batch is stored once', async () => {
    const r = await testApp(get()).post('/ingest', [pathResult(), pathResult(), agentHealth(), agentHealth()]);
    expect(r.status).toBe(200);
    expect(r.body.accepted).toMatchObject({ path_result: 1, agent_health: 1 });
    expect(r.body.duplicates).toMatchObject({ path_result: 1, agent_health: 1 });
    expect(await counts(get())).toMatchObject({ path_probe: 1, agent_health: 1 });
  });

  test('a partly new network_status stores only the new probes', async () => {
    const msg = await example<{ sent_at: string; probes: unknown[] }>('network_status');
    const t = testApp(get(), { now: after(msg.sent_at) });
    await t.post('/ingest', { ...msg, probes: msg.probes.slice(0, 1) });
    const r = await t.post('/ingest', msg);
    expect(r.body.accepted.network_status).toBe(1);
    expect(r.body.rows.path_probe).toEqual({ inserted: 1, duplicates: 1, dropped: 0 });
    expect(r.body.rows.hop_quality).toEqual({ inserted: 1, duplicates: 2, dropped: 0 });
    const again = await t.post('/ingest', msg);
    expect(again.body.duplicates.network_status).toBe(1);
  });

  test('an empty route is allowed (the agent could not read it)', async () => {
    const r = await testApp(get()).post('/ingest', pathResult({ route: [] }));
    expect(r.status).toBe(200);
    expect((await get().db.selectFrom('path_probe').select('route').executeTakeFirstOrThrow()).route).toEqual([]);
  });

  test('null metrics are stored as NULL, window_s defaults to 5', async () => {
    const { window_s: _w, ...msg } = pathResult({ metrics: { rtt_ms_avg: null, jitter_ms_rfc3550: null, loss_pct: 100 } });
    expect((await testApp(get()).post('/ingest', msg)).status).toBe(200);
    expect(await get().db.selectFrom('path_probe').select(['rtt_ms', 'jitter_ms', 'loss_pct', 'window_s']).executeTakeFirstOrThrow())
      .toEqual({ rtt_ms: null, jitter_ms: null, loss_pct: 100, window_s: 5 });
  });

  test('sent_at with an offset is stored as the same instant', async () => {
    await testApp(get()).post('/ingest', pathResult({ sent_at: '2026-03-02T13:59:00+02:00' }));
    expect((await get().db.selectFrom('path_probe').select('time').executeTakeFirstOrThrow()).time).toEqual(d('2026-03-02T11:59:00Z'));
  });

  test('a buffered (old) message does not move the registry backwards', async () => {
    const t = testApp(get());
    await t.post('/ingest', agentHealth({ sent_at: '2026-03-02T11:59:00Z', firmware_version: '3.25.5.0', lat: 'unknown', lon: 'unknown', hardware_model: 'unknown' }));
    await t.post('/ingest', agentHealth({ sent_at: '2026-03-01T10:00:00Z', firmware_version: '3.24.1.0', lat: '45.5', lon: '-122.6', hardware_model: 'hAP' }));
    const n = await get().db.selectFrom('nodes').selectAll().executeTakeFirstOrThrow();
    expect(n).toMatchObject({
      first_seen: d('2026-03-01T10:00:00Z'), last_seen: d('2026-03-02T11:59:00Z'),
      // Newer value kept; values the newer message did not have are filled in.
      firmware_version: '3.25.5.0', hardware_model: 'hAP', lat: 45.5, lon: -122.6,
    });
  });

  test('a position is stored only when numeric', async () => {
    const t = testApp(get());
    await t.post('/ingest', [
      agentHealth({ node: 'n1', lat: 'unknown', lon: 'unknown' }),
      agentHealth({ node: 'n2', lat: 47.1, lon: 8.5 }),
      agentHealth({ node: 'n3', lat: '95', lon: '8' }),
    ]);
    const rows = await get().db.selectFrom('nodes').select(['node', 'lat', 'lon']).orderBy('node').execute();
    expect(rows).toEqual([{ node: 'n1', lat: null, lon: null }, { node: 'n2', lat: 47.1, lon: 8.5 }, { node: 'n3', lat: null, lon: null }]);
  });

  test('text that PostgreSQL cannot hold (NUL, lone surrogates) is replaced, not a 500', async () => {
    const r = await testApp(get()).post('/ingest', JSON.stringify(pathResult({ note: 'a\u0000b\ud800c', metrics: { loss_pct: 1, x: '\\u0000' } })));
    expect(r.status).toBe(200);
    const p = await get().db.selectFrom('path_probe').select('extra').executeTakeFirstOrThrow();
    expect(p.extra).toEqual({ note: 'a\ufffdb\ufffdc', metrics: { x: '\\u0000' } });
  });

  test('a body of only duplicates still commits nothing new', async () => {
    const t = testApp(get());
    await t.post('/ingest', [agentHealth()]);
    const r = await t.post('/ingest', agentHealth());
    expect(r.body.duplicates.agent_health).toBe(1);
    expect((await counts(get())).agent_health).toBe(1);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM nodes`.execute(get().db);
    expect(rows[0]!.n).toBe(1);
  });
});
