import { expect, test } from 'bun:test';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { example } from '../support/fixtures.ts';
import { agentHealth, counts, EMPTY, expectProblem, freshTables, hopResult, pathResult, windows } from './helpers.ts';

const NOW = '2026-03-02T12:00:00Z';

describeEachMode('POST /ingest refuses', (get, mode) => {
  freshTables(get);

  /** Every refusal leaves every table as it was. */
  async function refused(status: number, body: unknown, init?: RequestInit, env?: Record<string, string>) {
    const t = testApp(get(), { now: NOW, ...(env ? { env } : {}) });
    const r = await t.post('/ingest', body, init);
    expectProblem(r, status);
    expect(await counts(get())).toEqual(EMPTY);
    return r;
  }

  const raw = (body: string | Uint8Array, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
    testApp(get(), { now: NOW }).json('/ingest', { method: 'POST', headers, body });

  describe400();
  function describe400() {
    test('400: malformed JSON', async () => {
      const r = await refused(400, '[{"schema":"meshmon.v1",');
      expect(r.body.detail).toContain('not valid JSON');
    });
    test('400: an empty body', async () => {
      await refused(400, '');
    });
    test('400: a body that is not UTF-8', async () => {
      const r = await raw(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
      expectProblem(r, 400);
      expect(r.body.detail).toContain('UTF-8');
      expect(await counts(get())).toEqual(EMPTY);
    });
  }

  test('413: Content-Length over MAX_BODY_BYTES, refused before reading', async () => {
    let pulled = 0;
    // A body that would never end: the answer must come from the header alone.
    const body = new ReadableStream({ pull(c) { pulled++; c.enqueue(new TextEncoder().encode(' '.repeat(1024))); } });
    const t = testApp(get(), { env: { MAX_BODY_BYTES: '1000' } });
    const r = await t.json('/ingest', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': '5000' }, body, duplex: 'half' } as RequestInit);
    expectProblem(r, 413);
    expect(r.body.detail).toContain('MAX_BODY_BYTES');
    expect(pulled).toBeLessThanOrEqual(1);
    expect(await counts(get())).toEqual(EMPTY);
  });

  test('413: a chunked body is counted while read and refused when it passes the limit', async () => {
    const msg = JSON.stringify(windows(10));
    let sent = 0;
    const enc = new TextEncoder().encode(msg);
    const body = new ReadableStream({
      pull(c) {
        if (sent >= enc.length) return c.close();
        c.enqueue(enc.subarray(sent, sent + 256));
        sent += 256;
      },
    });
    const t = testApp(get(), { env: { MAX_BODY_BYTES: '1000' } });
    const r = await t.json('/ingest', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expectProblem(r, 413);
    expect(sent).toBeLessThan(enc.length);
    expect(await counts(get())).toEqual(EMPTY);
  });

  test('413: the default limit is 1 MiB', async () => {
    const big = JSON.stringify([pathResult({ pad: 'x'.repeat(1024 * 1024) })]);
    await refused(413, big);
  });

  test('413: a batch over MAX_BATCH_MESSAGES', async () => {
    const r = await refused(413, windows(4), undefined, { MAX_BATCH_MESSAGES: '10' });
    expect(r.body.detail).toContain('12 messages');
    expect(r.body.detail).toContain('MAX_BATCH_MESSAGES');
  });

  test('415: a content type other than JSON', async () => {
    const r = await refused(415, JSON.stringify(pathResult()), { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(r.body.detail).toContain('application/json');
    await refused(415, JSON.stringify(pathResult()), { headers: { 'Content-Type': 'text/plain' } });
    await refused(415, JSON.stringify(pathResult()), { headers: { 'Content-Type': 'application/json; charset=latin1' } });
  });

  test('415: no content type at all', async () => {
    const r = await raw(JSON.stringify(pathResult()), {});
    // fetch adds text/plain for a string body; a raw byte body has no type at all.
    expectProblem(r, 415);
    const r2 = await raw(new TextEncoder().encode(JSON.stringify(pathResult())), {});
    expectProblem(r2, 415);
    expect(await counts(get())).toEqual(EMPTY);
  });

  test('415: a compressed body', async () => {
    const r = await refused(415, JSON.stringify(pathResult()), { headers: { 'Content-Encoding': 'gzip' } });
    expect(r.body.detail).toContain('gzip');
  });

  test('405: other methods on /ingest say to POST', async () => {
    const r = await testApp(get()).json('/ingest');
    expect(r.status).toBe(405);
    expect(r.res.headers.get('allow')).toBe('POST');
    expect(r.res.headers.get('content-type')).toBe('application/problem+json');
  });

  test('a JSON content type with charset and +json suffix is fine', async () => {
    const t = testApp(get(), { now: NOW });
    expect((await t.post('/ingest', pathResult(), { headers: { 'Content-Type': 'application/json; charset=UTF-8' } })).status).toBe(200);
    expect((await t.post('/ingest', agentHealth(), { headers: { 'Content-Type': 'application/vnd.meshmon+json' } })).status).toBe(200);
  });

  test('a batch with unusable messages: the usable ones are stored, each unusable part listed with index, path and reason', async () => {
    const batch = [
      pathResult(),
      pathResult({ schema: 'meshmon.v2' }),
      hopResult(),
      pathResult({ sent_at: '2026-03-02T11:58:00Z', metrics: { rtt_ms_avg: -1, jitter_ms_rfc3550: 1, loss_pct: 101 } }),
      agentHealth({ sent_at: '2026-03-02T11:59:00' }),
      { schema: 'meshmon.v1', type: 'mystery', sent_at: NOW },
      agentHealth(),
    ];
    const r = await testApp(get(), { now: NOW }).post('/ingest', batch);
    expect(r.status).toBe(200);
    expect(r.body.drops).toEqual([
      { index: 1, path: 'schema', reason: 'unknown_schema', message: expect.any(String) },
      { index: 3, path: 'metrics.loss_pct', reason: 'out_of_range', message: expect.any(String) },
      { index: 3, path: 'metrics.rtt_ms_avg', reason: 'out_of_range', message: expect.any(String) },
      { index: 4, path: 'sent_at', reason: 'bad_sent_at', message: expect.stringContaining('zone') },
      { index: 5, path: 'type', reason: 'unknown_type', message: expect.any(String) },
    ]);
    expect(r.body.skipped).toBe(3);
    expect(r.body.dropped).toEqual({ total: 5, by_reason: { unknown_schema: 1, out_of_range: 2, bad_sent_at: 1, unknown_type: 1 } });
    expect(r.body.rows).toMatchObject({
      path_probe: { inserted: 2, duplicates: 0, dropped: 1 },
      hop_quality: { inserted: 1, duplicates: 0, dropped: 0 },
      agent_health: { inserted: 1, duplicates: 0, dropped: 1 },
    });
    expect(await counts(get())).toMatchObject({ path_probe: 2, hop_quality: 1, agent_health: 1 });
    // The window with nonsense values is stored without them.
    const w = await get().db.selectFrom('path_probe').select(['rtt_ms', 'jitter_ms', 'loss_pct']).where('sent_at', '=', new Date('2026-03-02T11:58:00Z')).executeTakeFirstOrThrow();
    expect(w).toEqual({ rtt_ms: null, jitter_ms: 1, loss_pct: null });
  });

  test('422 only when nothing is usable: a single unreadable message is index 0, and nothing is written', async () => {
    const { src: _s, ...msg } = pathResult();
    const r = await refused(422, msg);
    expect(r.body.errors).toEqual([{ index: 0, path: 'src', reason: 'bad_sender', message: expect.any(String) }]);
    expect(r.body.detail).toContain('nothing in the request is usable');
  });

  test('422: a body that is not a message or an array of messages', async () => {
    for (const body of ['42', '"path_result"', 'null', 'true', '[1]', '[[]]', '{}']) {
      const r = await refused(422, body);
      expect(r.body.errors.length).toBeGreaterThan(0);
    }
  });

  test('422: an empty batch has nothing to store', async () => {
    const r = await refused(422, '[]');
    expect(r.body.detail).toContain('empty');
  });

  /** [name, message, field path, reason, whole: the message is skipped] */
  const unusable: Array<[string, unknown, string, string, boolean?]> = [
    ['missing schema', (({ schema: _s, ...m }) => m)(pathResult()), 'schema', 'unknown_schema', true],
    ['missing type', (({ type: _t, ...m }) => m)(pathResult()), 'type', 'unknown_type', true],
    ['missing sent_at', (({ sent_at: _s, ...m }) => m)(pathResult()), 'sent_at', 'bad_sent_at', true],
    ['sent_at not a date', pathResult({ sent_at: 'yesterday' }), 'sent_at', 'bad_sent_at', true],
    ['sent_at without a zone', pathResult({ sent_at: '2026-03-02T11:59:00' }), 'sent_at', 'bad_sent_at', true],
    ['sent_at on 30 February', pathResult({ sent_at: '2026-02-30T11:59:00Z' }), 'sent_at', 'bad_sent_at', true],
    ['sent_at as a number', pathResult({ sent_at: 1772452740 }), 'sent_at', 'bad_sent_at', true],
    ['sent_at past year 9999 by its offset', pathResult({ sent_at: '9999-12-31T23:59:59-23:59' }), 'sent_at', 'bad_sent_at', true],
    ['empty node name', agentHealth({ node: '' }), 'node', 'bad_sender', true],
    ['node name with a space', agentHealth({ node: 'node A' }), 'node', 'bad_sender', true],
    ['node name with a slash', agentHealth({ node: 'a/b' }), 'node', 'bad_sender', true],
    ['node label over 63 characters', agentHealth({ node: 'a'.repeat(64) }), 'node', 'bad_sender', true],
    ['node name over 63 characters in all', agentHealth({ node: Array(8).fill('abcdefghi').join('.') }), 'node', 'bad_sender', true],
    ['node name over 253 characters', agentHealth({ node: Array(50).fill('abcdef').join('.') }), 'node', 'bad_sender', true],
    ['node name with an empty label', agentHealth({ node: 'a..b' }), 'node', 'bad_sender', true],
    ['path_result without a usable dst', pathResult({ dst: 'no good' }), 'dst', 'no_destination'],
    ['crash_time in year 0', { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: NOW, crash_time: '0000-06-01T00:00:00Z' }, 'crash_time', 'bad_timestamp'],
    ['crash_time pulled into year 0 by its offset', { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: NOW, crash_time: '0001-01-01T00:00:00+01:00' }, 'crash_time', 'bad_timestamp'],
    ['crash_time without a zone', { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: NOW, crash_time: '2026-03-02 11:00' }, 'crash_time', 'bad_timestamp'],
    ['loss over 100', pathResult({ metrics: { loss_pct: 100.5 } }), 'metrics.loss_pct', 'out_of_range'],
    ['loss under 0', pathResult({ metrics: { loss_pct: -0.1 } }), 'metrics.loss_pct', 'out_of_range'],
    ['negative rtt', pathResult({ metrics: { rtt_ms_avg: -3 } }), 'metrics.rtt_ms_avg', 'out_of_range'],
    ['negative jitter', pathResult({ metrics: { jitter_ms_rfc3550: -0.01 } }), 'metrics.jitter_ms_rfc3550', 'out_of_range'],
    ['rtt as a string', pathResult({ metrics: { rtt_ms_avg: '12' } }), 'metrics.rtt_ms_avg', 'not_a_number'],
    ['Infinity (1e999)', '{"schema":"meshmon.v1","type":"path_result","src":"a","dst":"b","sent_at":"2026-03-02T11:59:00Z","route":[],"metrics":{"rtt_ms_avg":1e999}}', 'metrics.rtt_ms_avg', 'not_a_number'],
    ['NaN as C prints it', '{"schema":"meshmon.v1","type":"path_result","src":"a","dst":"b","sent_at":"2026-03-02T11:59:00Z","route":[],"metrics":{"rtt_ms_avg":12,"jitter_ms_rfc3550":-nan,"loss_pct":inf}}', 'metrics.jitter_ms_rfc3550', 'not_a_number'],
    ['lq over 1', hopResult({ l2: { lq: 1.2 } }), 'l2.lq', 'out_of_range'],
    ['nlq under 0', hopResult({ l2: { nlq: -0.2 } }), 'l2.nlq', 'out_of_range'],
    ['etx under 1', hopResult({ l2: { etx: 0.5 } }), 'l2.etx', 'out_of_range'],
    ['hop_index too big for the column', hopResult({ hop_index: 40000 }), 'hop_index', 'bad_hop'],
    ['hop_index not an integer', hopResult({ hop_index: 1.5 }), 'hop_index', 'bad_hop'],
    ['hop.from a bad name', hopResult({ hop: { from: '', to: 'x' } }), 'hop.from', 'bad_hop'],
    ['cpu over 100', agentHealth({ cpu_pct: 101 }), 'cpu_pct', 'out_of_range'],
    ['cpu negative', agentHealth({ cpu_pct: -1 }), 'cpu_pct', 'out_of_range'],
    ['queue_len too big for the column', agentHealth({ queue_len: 3_000_000_000 }), 'queue_len', 'out_of_range'],
    ['route not starting at src', pathResult({ route: ['node-X', 'node-K'] }), 'route', 'bad_route'],
    ['route not ending at dst', pathResult({ route: ['node-A', 'node-D'] }), 'route', 'bad_route'],
    ['route with a bad name', pathResult({ route: ['node-A', 'bad name', 'node-K'] }), 'route', 'bad_route'],
    ['window_s zero', pathResult({ window_s: 0 }), 'window_s', 'out_of_range'],
    ['network_status without probes', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW }, 'probes', 'wrong_type'],
    ['a probe that is not an object', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [7] }, 'probes.0', 'bad_probe'],
    ['a probe without a timestamp', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', path: [] }] }, 'probes.0.timestamp', 'bad_timestamp'],
    ['a probe naming no destination at all', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: '', timestamp: NOW, path: [] }] }, 'probes.0.dst_node', 'no_destination'],
    ['a probe with a bad dst_node name', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n 2', dst_ip: '10.1.2.3', timestamp: NOW }] }, 'probes.0.dst_node', 'bad_node_name'],
    ['probe path ending at another named node', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: NOW, path: [{ node: 'n3' }] }] }, 'probes.0.path', 'bad_route'],
    ['a probe hop with a bad node name', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: NOW, path: [{ node: 'a b' }, { node: 'n2' }] }] }, 'probes.0.path.0.node', 'bad_hop'],
    ['probe loss over 100', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: NOW, loss_pct: 300 }] }, 'probes.0.loss_pct', 'out_of_range'],
    ['an OLSR probe hop with an ETX under 1', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, routing_daemon: 'olsr', probes: [{ dst_node: 'n2', timestamp: NOW, path: [{ node: 'n2', etx: 0.5 }] }] }, 'probes.0.path.0.etx', 'out_of_range'],
    ['unknown fields nested too deep', pathResult({ x: JSON.parse('['.repeat(40) + ']'.repeat(40)) }), 'x' + '.0'.repeat(15), 'too_deep'],
  ];
  for (const [name, msg, path, reason, whole] of unusable) {
    test(`${whole ? 'skipped' : 'dropped alone'}: ${name}`, async () => {
      // Beside a usable message, which is stored all the same.
      const body = typeof msg === 'string' ? `[${JSON.stringify(agentHealth())}, ${msg}]` : [agentHealth(), msg];
      const r = await testApp(get(), { now: NOW }).post('/ingest', body);
      expect(r.status).toBe(200);
      expect(r.body.drops.every((e: { index: number }) => e.index === 1)).toBe(true);
      expect(r.body.drops.map((e: { path: string; reason: string }) => [e.path, e.reason])).toContainEqual([path, reason]);
      expect(r.body.skipped).toBe(whole ? 1 : 0);
      expect((await counts(get())).agent_health).toBeGreaterThanOrEqual(1);
    });
  }

  test('what the upstream agent leaves out or never fills is no drop', async () => {
    const t = testApp(get(), { now: NOW });
    const bodies = [
      (({ metrics: _m, ...m }) => m)(pathResult()),
      (({ route: _r, ...m }) => m)(pathResult({ sent_at: '2026-03-02T11:58:00Z' })),
      (({ cpu_pct: _c, mem_mb: _m, queue_len: _q, ...m }) => m)(agentHealth()),
      hopResult({ l2: { lq: 0, nlq: 0, etx: 0 } }),
      { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, routing_daemon: 'babel', probes: [{ dst_node: 'n2', timestamp: NOW, hop_count: -7, path: [{ node: 'n2', etx: 0.38, lq: 0, nlq: 0, rtt_ms: 0, link_type: 'unknown', interface: '' }] }] },
      { schema: 'meshmon.v1', type: 'network_status', node: 'n3', sent_at: NOW, probes: [{ dst_node: 'n4', timestamp: NOW, path: [{ node: 'n4', etx: 0 }], hop_count: 1e308 }] },
    ];
    for (const b of bodies) {
      const r = await t.post('/ingest', b);
      expect({ b, status: r.status, drops: r.body.drops }).toEqual({ b, status: 200, drops: [] });
    }
    const hops = await get().db.selectFrom('hop_quality').select(['src', 'lq', 'nlq', 'etx', 'rtt_ms', 'link_type', 'extra']).orderBy('src').execute();
    expect(hops.map((h) => [h.lq, h.nlq, h.etx])).toEqual([[null, null, null], [null, null, null], [null, null, null]]);
    expect(hops.find((h) => h.src === 'n1')!.extra).toEqual({ interface: '', babel_metric: 97 });
  });

  test('a message with a missing identifying field is refused; other missing fields drop at most their measurement', async () => {
    const identifying: Record<string, string[]> = {
      path_result: ['schema', 'type', 'src', 'sent_at'], hop_result: ['schema', 'type', 'src', 'sent_at'],
      agent_health: ['schema', 'type', 'node', 'sent_at'], network_status: ['schema', 'type', 'node', 'sent_at'], crash_report: ['schema', 'type', 'node', 'sent_at'],
    };
    const measurement: Record<string, string[]> = { path_result: ['dst'], hop_result: ['dst', 'hop_index', 'hop'] };
    for (const [name, fields] of Object.entries(identifying)) {
      const msg = await example<Record<string, unknown> & { sent_at: string }>(name);
      const t = testApp(get(), { now: new Date(Date.parse(msg.sent_at) + 60_000) });
      for (const f of Object.keys(msg)) {
        const { [f]: _gone, ...rest } = msg;
        const r = await t.post('/ingest', rest);
        if (fields.includes(f)) {
          expect({ name, f, status: r.status }).toEqual({ name, f, status: 422 });
          expect(r.body.errors[0].path, `${name} without ${f}`).toBe(f);
        } else {
          expect({ name, f, status: r.status }).toEqual({ name, f, status: 200 });
          const lost = Object.values(r.body.rows as Record<string, { dropped: number }>).reduce((s, x) => s + x.dropped, 0);
          expect({ name, f, lost }).toEqual({ name, f, lost: (measurement[name] ?? []).includes(f) ? 1 : 0 });
        }
        await get().truncate();
      }
    }
  });

  test('503 with Retry-After when the database is down; nothing acknowledged', async () => {
    const pool = createPool({ url: 'postgres://postgres@127.0.0.1:1/meshmon', max: 1 });
    const down = { ...get(), db: createDatabase(pool), pool };
    try {
      const t = testApp(down, { now: NOW });
      const r = await t.post('/ingest', windows(3));
      expectProblem(r, 503);
      expect(r.res.headers.get('retry-after')).toBeTruthy();
      expect(await counts(get())).toEqual(EMPTY);
      const m = await t.deps.metrics.registry.getSingleMetricAsString('meshmon_ingest_requests_total');
      expect(m).toContain('status="503"');
    } finally {
      await down.db.destroy();
    }
  });

  // PGlite runs in-process: it has no connections to drop.
  test.skipIf(mode === 'timescale')('after the server drops our connections, the next request succeeds or is a 503, never a 500', async () => {
    const t = testApp(get(), { now: NOW });
    expect((await t.post('/ingest', windows(2))).status).toBe(200);
    const { withAdmin } = await import('../support/admin.ts');
    const name = new URL(get().url!).pathname.slice(1);
    await withAdmin((c) => c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]));
    const batch = windows(2, Date.parse('2026-03-02T11:30:00Z'));
    const r = await t.post('/ingest', batch);
    expect([200, 503]).toContain(r.status);
    const retry = await t.post('/ingest', batch);
    expect(retry.status).toBe(200);
    expect((await counts(get())).path_probe).toBe(4);
  });
});
