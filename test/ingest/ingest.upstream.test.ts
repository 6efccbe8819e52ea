import { describe, expect, test } from 'bun:test';
import { sql } from 'kysely';
import { rekeyPending } from '../../src/ingest/addresses.service.ts';
import { MeshAddresses } from '../../src/ingest/addresses.service.ts';
import { withAbsoluteUrl } from '../../src/server.ts';
import { silentLogger } from '../../src/log.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { spawnCollector } from '../support/collector-process.ts';
import { describeEachMode } from '../support/databases.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { CAPTURED_AT, counts, freshTables, postLikeTheAgent, UPSTREAM_CAPTURES, upstreamBody, upstreamText } from './helpers.ts';

// The upstream agent (AREDN-Phonebook's mesh monitor) as it really talks:
// its captured bodies, one per request, HTTP/1.0 over a new connection each,
// to a real listening server. Everything the contract calls usable must be
// stored; what is not must be visible where an operator looks.

const RECV = new Date(CAPTURED_AT + 5_000);

/** Serves a test app on loopback for the duration of `fn`. */
async function serving<T>(t: TestApp, fn: (port: number) => Promise<T>): Promise<T> {
  const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: withAbsoluteUrl(t.app.fetch, '127.0.0.1') });
  try {
    return await fn(server.port!);
  } finally {
    await server.stop(true);
  }
}

const OLSR_PAIRS: Record<string, string> = Object.fromEntries(
  Array.from({ length: 10 }, (_, i) => [`10.54.13.${i + 1}`, `KX6N${String(i + 1).padStart(2, '0')}-NODE-${i + 1}`]),
);
const BABEL_PAIRS: Record<string, string> = { '10.54.12.1': 'KX6DEF-RKT-1', '10.77.3.9': 'KX6JKL-TUN-HUB' };

describeEachMode('the upstream agent’s captured reports', (get) => {
  freshTables(get);

  for (const urlPath of ['/ingest', '/api/reports']) {
    test(`posted as the agent posts them to ${urlPath}: every probe stored, nothing usable dropped, drops visible in /registry`, async () => {
      const t = testApp(get(), { now: RECV });
      const answers = await serving(t, async (port) => {
        const out: Record<string, any> = {};
        for (const name of UPSTREAM_CAPTURES) {
          const r = await postLikeTheAgent(port, urlPath, await upstreamText(name));
          // What the agent looks for: "200" in the first 511 bytes.
          expect({ name, ok: r.head.slice(0, 511).includes('200') }).toEqual({ name, ok: true });
          expect(r.head).toMatch(/\r\nDate: /i);
          out[name] = JSON.parse(r.body);
        }
        return out;
      });

      for (const name of UPSTREAM_CAPTURES) {
        const a = answers[name];
        // Nothing dropped whole; the only drops are the empty dst_node values of the -real reports.
        expect({ name, dropped: Object.values(a.rows).map((r: any) => r.dropped) }).toEqual({ name, dropped: [0, 0, 0, 0] });
        expect({ name, skipped: a.skipped }).toEqual({ name, skipped: 0 });
        const reasons = Object.keys(a.dropped.by_reason);
        expect({ name, reasons }).toEqual({ name, reasons: name.endsWith('-real') ? ['dst_node_empty'] : [] });
      }
      expect(answers['network_status-olsr-real'].drops).toEqual([
        { index: 0, path: 'probes.0.dst_node', reason: 'dst_node_empty', message: expect.stringContaining('dst_ip') },
        { index: 0, path: 'probes.1.dst_node', reason: 'dst_node_empty', message: expect.any(String) },
      ]);
      expect(answers['network_status-olsr-parsable'].rows.path_probe).toEqual({ inserted: 10, duplicates: 0, dropped: 0 });
      expect(answers['network_status-olsr-parsable'].rows.hop_quality).toEqual({ inserted: 19, duplicates: 0, dropped: 0 });

      const db = get().db;
      // -real: path results identified by dst_ip, without hops.
      const real = await db.selectFrom('path_probe').select(['src', 'dst', 'route', 'rtt_ms', 'jitter_ms', 'loss_pct', 'extra'])
        .where('src', 'in', ['KX6ABC-HAP-2', 'KX6ABC-BBL-4']).orderBy('src').orderBy('time').execute();
      expect(real.map((r) => [r.src, r.dst, r.route])).toEqual([
        ['KX6ABC-BBL-4', '127.0.0.1', []], ['KX6ABC-BBL-4', '127.0.0.1', []],
        ['KX6ABC-HAP-2', '127.0.0.1', []], ['KX6ABC-HAP-2', '127.0.0.1', []],
      ]);
      expect(real[2]).toMatchObject({ rtt_ms: 464.99, jitter_ms: 103.14, loss_pct: 0, extra: { dst_node: '', dst_ip: '127.0.0.1', hop_count: 0 } });
      expect(await db.selectFrom('hop_quality').select('src').where('src', 'in', ['KX6ABC-HAP-2', 'KX6ABC-BBL-4']).execute()).toEqual([]);

      // -parsable: hops from node to node, by name: the pairs each report teaches name every address.
      const olsr = await db.selectFrom('path_probe').select(['dst', 'route']).where('src', '=', 'KX6ABC-RKT-7').orderBy('dst').execute();
      expect(olsr).toHaveLength(10);
      for (const p of olsr) {
        const n = Number(/NODE-(\d+)$/.exec(p.dst)![1]);
        expect(p.route).toEqual(n === 1 ? ['KX6ABC-RKT-7', 'KX6N01-NODE-1'] : ['KX6ABC-RKT-7', 'KX6N01-NODE-1', p.dst]);
      }
      const hops = await db.selectFrom('hop_quality').select(['src', 'dst', 'hop_index', 'from_node', 'to_node', 'lq', 'nlq', 'etx', 'link_type', 'rtt_ms', 'extra']).execute();
      expect(hops).toHaveLength(22);
      for (const h of hops) {
        expect({ h: [h.from_node, h.to_node], address: /^\d+\.\d+\.\d+\.\d+$/.test(h.from_node) || /^\d+\.\d+\.\d+\.\d+$/.test(h.to_node) }).toEqual({ h: [h.from_node, h.to_node], address: false });
        // Never filled by the agent: unknown, not a dead link.
        expect([h.lq, h.nlq, h.link_type, h.rtt_ms]).toEqual([null, null, null, null]);
      }
      const hop = (src: string, dst: string, i: number) => hops.find((h) => h.src === src && h.dst === dst && h.hop_index === i)!;
      expect(hop('KX6ABC-RKT-7', 'KX6N10-NODE-10', 1)).toMatchObject({ from_node: 'KX6ABC-RKT-7', to_node: 'KX6N01-NODE-1', etx: null });
      expect(hop('KX6ABC-RKT-7', 'KX6N10-NODE-10', 2)).toMatchObject({ from_node: 'KX6N01-NODE-1', to_node: 'KX6N10-NODE-10', etx: 2 });
      // Babel's metric / 256 is kept, never taken for an ETX.
      expect(hop('KX6ABC-BBL-3', 'KX6JKL-TUN-HUB', 2)).toMatchObject({ from_node: 'KX6DEF-RKT-1', to_node: 'KX6JKL-TUN-HUB', etx: null, extra: { babel_metric: 609, interface: '' } });
      expect(hop('KX6ABC-BBL-3', 'KX6DEF-RKT-1', 1)).toMatchObject({ etx: null, extra: { babel_metric: 97 } });
      const pairs = Object.fromEntries((await db.selectFrom('node_addresses').select(['address', 'node']).execute()).map((r) => [r.address, r.node]));
      expect(pairs).toEqual({ ...OLSR_PAIRS, ...BABEL_PAIRS });

      // The registry shows every sender, with what was dropped of it.
      const reg = await t.json('/registry');
      const by = Object.fromEntries(reg.body.nodes.map((n: any) => [n.node, n]));
      expect(Object.keys(by).sort()).toEqual(['KX6ABC-BBL-3', 'KX6ABC-BBL-4', 'KX6ABC-HAP-2', 'KX6ABC-RKT-7']);
      const recv = RECV.toISOString();
      expect(by['KX6ABC-HAP-2'].ingest_drops).toEqual({ last_24h: 2, last_at: recv, last_reason: 'dst_node_empty' });
      expect(by['KX6ABC-BBL-4'].ingest_drops).toEqual({ last_24h: 2, last_at: recv, last_reason: 'dst_node_empty' });
      expect(by['KX6ABC-RKT-7'].ingest_drops).toEqual({ last_24h: 0, last_at: null, last_reason: null });
      expect(by['KX6ABC-HAP-2']).toMatchObject({
        routing_daemon: 'olsr', hardware_model: 'MikroTik RouterBOARD 952Ui-5ac2nD', firmware_version: '3.25.5.0',
        position: { lat: 37.7749, lon: -122.4194, grid_square: 'CM87ss' }, clock_skew_flagged_at: null,
      });
      expect(by['KX6ABC-BBL-4'].routing_daemon).toBe('babel');

      // …and so do the metrics.
      const m = await t.deps.metrics.registry.getSingleMetricAsString('meshmon_ingest_dropped_total');
      expect(m).toContain('meshmon_ingest_dropped_total{reason="dst_node_empty"} 4');
      const req = await t.deps.metrics.registry.getSingleMetricAsString('meshmon_ingest_requests_total');
      expect(req).toContain('meshmon_ingest_requests_total{status="200"} 5');
    });
  }

  test('the agent repeats its last 20 probes in every report: each is stored once, and its drops counted once', async () => {
    const t = testApp(get(), { now: RECV });
    await serving(t, async (port) => {
      const first = JSON.parse((await postLikeTheAgent(port, '/api/reports', await upstreamText('network_status-olsr-real'))).body);
      expect(first.rows.path_probe.inserted).toBe(2);
      // The next report, 40 s later: the same two probes and one new.
      const next = JSON.parse(await upstreamText('network_status-olsr-real'));
      next.sent_at = '2026-12-06T19:16:29Z';
      next.probes.unshift({ ...next.probes[0], timestamp: '2026-12-06T19:16:29Z' });
      t.setNow(new Date(RECV.getTime() + 40_000));
      const r = JSON.parse((await postLikeTheAgent(port, '/api/reports', JSON.stringify(next, null, 2))).body);
      expect(r.rows.path_probe).toEqual({ inserted: 1, duplicates: 2, dropped: 0 });
      expect(r.accepted.network_status).toBe(1);
    });
    expect((await counts(get())).path_probe).toBe(3);
    const reg = await t.json('/registry');
    // Three distinct probes, each without a destination name: three drops, not five.
    expect(reg.body.nodes[0].ingest_drops.last_24h).toBe(3);
  });

  test('rows recorded under an address before its name was learnt are moved to the name: one node, not two', async () => {
    const t = testApp(get(), { now: RECV });
    const report = JSON.parse(await upstreamText('network_status-olsr-parsable'));
    const probes = report.probes as Array<{ dst_node: string; path: unknown[] }>;
    const toTen = probes.find((p) => p.dst_node === 'KX6N10-NODE-10')!;
    const toOne = probes.find((p) => p.dst_node === 'KX6N01-NODE-1')!;
    // An agent that reports under its mesh address (not a name) is the same node too.
    const byAddress = {
      schema: 'meshmon.v1', type: 'agent_health', node: '10.54.13.1', sent_at: report.sent_at, cpu_pct: 3, mem_mb: 2, queue_len: 0,
    };
    const first = await t.post('/ingest', [{ ...report, probes: [toTen] }, byAddress]);
    expect(first.status).toBe(200);
    const db = get().db;
    // 10.54.13.10 is learnt from this very probe; 10.54.13.1 is not known yet.
    expect(await db.selectFrom('hop_quality').select(['from_node', 'to_node']).orderBy('hop_index').execute()).toEqual([
      { from_node: 'KX6ABC-RKT-7', to_node: '10.54.13.1' },
      { from_node: '10.54.13.1', to_node: 'KX6N10-NODE-10' },
    ]);
    expect((await t.json('/registry')).body.nodes.map((n: any) => n.node)).toEqual(['10.54.13.1', 'KX6ABC-RKT-7']);

    // The probe that names 10.54.13.1 arrives; the background work moves what came before.
    t.setNow(new Date(RECV.getTime() + 40_000));
    const second = await t.post('/ingest', { ...report, sent_at: '2026-12-06T19:16:37Z', probes: [{ ...toOne, timestamp: '2026-12-06T19:16:37Z' }] });
    expect(second.status).toBe(200);
    const addresses = new MeshAddresses({ db, log: silentLogger, metrics: t.deps.metrics, now: () => new Date(RECV.getTime() + 45_000), maxNodes: 5000 }, null);
    const work = await addresses.work();
    expect(work.pairs_moved).toBe(2);

    const names = await sql<{ n: string }>`
      SELECT src AS n FROM path_probe UNION SELECT dst FROM path_probe UNION SELECT unnest(route) FROM path_probe
      UNION SELECT from_node FROM hop_quality UNION SELECT to_node FROM hop_quality UNION SELECT node FROM agent_health`.execute(db);
    expect(names.rows.map((r) => r.n).sort()).toEqual(['KX6ABC-RKT-7', 'KX6N01-NODE-1', 'KX6N10-NODE-10']);
    expect((await db.selectFrom('path_probe').select('route').where('dst', '=', 'KX6N10-NODE-10').executeTakeFirstOrThrow()).route)
      .toEqual(['KX6ABC-RKT-7', 'KX6N01-NODE-1', 'KX6N10-NODE-10']);
    const reg = (await t.json('/registry')).body;
    expect(reg.nodes.map((n: any) => n.node)).toEqual(['KX6ABC-RKT-7', 'KX6N01-NODE-1']);
    expect(reg.nodes[1].last_type).toBe('agent_health');
    // Once known, later reports are named at ingest.
    const third = await t.post('/ingest', { ...report, sent_at: '2026-12-06T19:17:17Z', probes: [{ ...toTen, timestamp: '2026-12-06T19:17:17Z' }] });
    expect(third.body.rows.hop_quality.inserted).toBe(2);
    expect(await db.selectFrom('hop_quality').select(['from_node', 'to_node']).where('sent_at', '=', new Date('2026-12-06T19:17:17Z')).orderBy('hop_index').execute()).toEqual([
      { from_node: 'KX6ABC-RKT-7', to_node: 'KX6N01-NODE-1' },
      { from_node: 'KX6N01-NODE-1', to_node: 'KX6N10-NODE-10' },
    ]);
    // …and so is a sender that still reports under its address.
    expect((await t.post('/ingest', { ...byAddress, sent_at: '2026-12-06T19:17:17Z' })).status).toBe(200);
    expect((await t.json('/registry')).body.nodes.map((n: any) => n.node)).toEqual(['KX6ABC-RKT-7', 'KX6N01-NODE-1']);
    expect((await db.selectFrom('agent_health').select('node').execute()).map((r) => r.node)).toEqual(['KX6N01-NODE-1', 'KX6N01-NODE-1']);
    // Nothing left to move.
    expect((await rekeyPending(db, { now: new Date(RECV.getTime() + 90_000) })).pairs).toBe(0);
  });

  test('times shifted to today: the same captures, stored at their own (recent) times', async () => {
    const now = Date.parse('2027-05-01T10:00:00Z');
    const shift = now - 5_000 - CAPTURED_AT;
    const t = testApp(get(), { now: new Date(now) });
    for (const name of UPSTREAM_CAPTURES) expect((await t.post('/api/reports', await upstreamBody(name, shift))).status).toBe(200);
    const newest = await db().selectFrom('path_probe').select((eb) => eb.fn.max('time').as('t')).executeTakeFirstOrThrow();
    expect(new Date(newest.t as Date).getTime()).toBe(now - 5_000);
    expect(await db().selectFrom('path_probe').select('clock_skew_s').where('clock_skew_s', 'is not', null).execute()).toEqual([]);
    function db() {
      return get().db;
    }
  });
});
describe('a real collector process, posted to as the agent posts', () => {
  test('every capture (times moved to now) stored through /api/reports; the collector logs what it dropped; /registry shows it', async () => {
    const scratch = await createScratchDatabase('meshmon_upstream_process');
    const c = await spawnCollector({ DATABASE_URL: scratch.url, TIMESCALEDB: 'off', ENGINE_ENABLED: 'false', MESH_DNS: 'off', LOG_LEVEL: 'info' });
    try {
      await c.waitForHealth(200);
      const shift = Date.now() - 5_000 - CAPTURED_AT;
      for (const name of UPSTREAM_CAPTURES) {
        const r = await postLikeTheAgent(c.port, '/api/reports', await upstreamBody(name, shift));
        expect({ name, status: r.status }).toEqual({ name, status: 200 });
        expect(JSON.parse(r.body).rows.path_probe.dropped).toBe(0);
      }
      const reg = await (await fetch(`${c.url}/registry`)).json() as any;
      const drops = Object.fromEntries(reg.nodes.map((n: any) => [n.node, n.ingest_drops.last_24h]));
      expect(drops).toEqual({ 'KX6ABC-BBL-3': 0, 'KX6ABC-BBL-4': 2, 'KX6ABC-HAP-2': 2, 'KX6ABC-RKT-7': 0 });
      const lines = c.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      expect(lines.filter((l) => l.msg === 'ingest dropped').map((l) => l.reasons)).toEqual([{ dst_node_empty: 2 }, { dst_node_empty: 2 }]);
      expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    } finally {
      await c.stop('SIGTERM');
      await scratch.drop();
    }
  }, 90_000);
});
