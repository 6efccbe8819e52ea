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

  test('422: lists every invalid message with index, path and message; stores none of the valid ones', async () => {
    const batch = [
      pathResult(),
      pathResult({ schema: 'meshmon.v2' }),
      hopResult(),
      pathResult({ metrics: { rtt_ms_avg: -1, jitter_ms_rfc3550: 1, loss_pct: 101 } }),
      agentHealth({ sent_at: '2026-03-02T11:59:00' }),
      { schema: 'meshmon.v1', type: 'mystery', sent_at: NOW },
      agentHealth(),
    ];
    const r = await refused(422, batch);
    expect(r.body.detail).toBe('4 of 7 messages are invalid; nothing was stored');
    expect(r.body.errors).toEqual([
      { index: 1, path: 'schema', message: expect.any(String) },
      { index: 3, path: 'metrics.rtt_ms_avg', message: expect.any(String) },
      { index: 3, path: 'metrics.loss_pct', message: expect.any(String) },
      { index: 4, path: 'sent_at', message: expect.stringContaining('zone') },
      { index: 5, path: 'type', message: expect.any(String) },
    ]);
  });

  test('422: a single invalid message is index 0', async () => {
    const { src: _s, ...msg } = pathResult();
    const r = await refused(422, msg);
    expect(r.body.errors).toEqual([{ index: 0, path: 'src', message: expect.any(String) }]);
  });

  test('422: a body that is not a message or an array of messages', async () => {
    for (const body of ['42', '"path_result"', 'null', 'true', '[1]', '[[]]', '{}']) {
      const r = await refused(422, body);
      expect(r.body.errors.length).toBeGreaterThan(0);
    }
  });

  const invalid: Array<[string, unknown, string]> = [
    ['missing schema', (({ schema: _s, ...m }) => m)(pathResult()), 'schema'],
    ['missing type', (({ type: _t, ...m }) => m)(pathResult()), 'type'],
    ['missing sent_at', (({ sent_at: _s, ...m }) => m)(pathResult()), 'sent_at'],
    ['missing metrics', (({ metrics: _m, ...m }) => m)(pathResult()), 'metrics'],
    ['missing route', (({ route: _r, ...m }) => m)(pathResult()), 'route'],
    ['sent_at not a date', pathResult({ sent_at: 'yesterday' }), 'sent_at'],
    ['sent_at without a zone', pathResult({ sent_at: '2026-03-02T11:59:00' }), 'sent_at'],
    ['sent_at on 30 February', pathResult({ sent_at: '2026-02-30T11:59:00Z' }), 'sent_at'],
    ['sent_at as a number', pathResult({ sent_at: 1772452740 }), 'sent_at'],
    ['sent_at past year 9999 by its offset', pathResult({ sent_at: '9999-12-31T23:59:59-23:59' }), 'sent_at'],
    ['crash_time in year 0', { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: NOW, crash_time: '0000-06-01T00:00:00Z' }, 'crash_time'],
    ['crash_time pulled into year 0 by its offset', { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: NOW, crash_time: '0001-01-01T00:00:00+01:00' }, 'crash_time'],
    ['sent_at older than retention', pathResult({ sent_at: '2025-11-01T00:00:00Z' }), 'sent_at'],
    ['loss over 100', pathResult({ metrics: { loss_pct: 100.5 } }), 'metrics.loss_pct'],
    ['loss under 0', pathResult({ metrics: { loss_pct: -0.1 } }), 'metrics.loss_pct'],
    ['negative rtt', pathResult({ metrics: { rtt_ms_avg: -3 } }), 'metrics.rtt_ms_avg'],
    ['negative jitter', pathResult({ metrics: { jitter_ms_rfc3550: -0.01 } }), 'metrics.jitter_ms_rfc3550'],
    ['rtt as a string', pathResult({ metrics: { rtt_ms_avg: '12' } }), 'metrics.rtt_ms_avg'],
    ['Infinity (1e999)', '{"schema":"meshmon.v1","type":"path_result","src":"a","dst":"b","sent_at":"2026-03-02T11:59:00Z","route":[],"metrics":{"rtt_ms_avg":1e999}}', 'metrics.rtt_ms_avg'],
    ['lq over 1', hopResult({ l2: { lq: 1.2 } }), 'l2.lq'],
    ['nlq under 0', hopResult({ l2: { nlq: -0.2 } }), 'l2.nlq'],
    ['etx under 1', hopResult({ l2: { etx: 0.5 } }), 'l2.etx'],
    ['hop_index too big for the column', hopResult({ hop_index: 40000 }), 'hop_index'],
    ['hop_index not an integer', hopResult({ hop_index: 1.5 }), 'hop_index'],
    ['cpu over 100', agentHealth({ cpu_pct: 101 }), 'cpu_pct'],
    ['cpu negative', agentHealth({ cpu_pct: -1 }), 'cpu_pct'],
    ['queue_len too big for the column', agentHealth({ queue_len: 3_000_000_000 }), 'queue_len'],
    ['empty node name', agentHealth({ node: '' }), 'node'],
    ['node name with a space', agentHealth({ node: 'node A' }), 'node'],
    ['node name with a slash', agentHealth({ node: 'a/b' }), 'node'],
    ['node label over 63 characters', agentHealth({ node: 'a'.repeat(64) }), 'node'],
    ['node name over 253 characters', agentHealth({ node: Array(50).fill('abcdef').join('.') }), 'node'],
    ['node name with an empty label', agentHealth({ node: 'a..b' }), 'node'],
    ['route not starting at src', pathResult({ route: ['node-X', 'node-K'] }), 'route'],
    ['route not ending at dst', pathResult({ route: ['node-A', 'node-D'] }), 'route'],
    ['route with a bad name', pathResult({ route: ['node-A', 'bad name', 'node-K'] }), 'route.1'],
    ['hop.from a bad name', hopResult({ hop: { from: '', to: 'x' } }), 'hop.from'],
    ['window_s zero', pathResult({ window_s: 0 }), 'window_s'],
    ['crash_time without a zone', { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: NOW, crash_time: '2026-03-02 11:00' }, 'crash_time'],
    ['network_status without probes', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW }, 'probes'],
    ['probe path not ending at dst_node', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: NOW, path: [{ node: 'n3' }] }] }, 'probes.0.path'],
    ['probe timestamp older than retention', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: '2020-01-01T00:00:00Z', path: [] }] }, 'probes.0.timestamp'],
    ['probe loss over 100', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: NOW, loss_pct: 300 }] }, 'probes.0.loss_pct'],
    ['probe hop etx under 1', { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: NOW, probes: [{ dst_node: 'n2', timestamp: NOW, path: [{ node: 'n2', etx: 0 }] }] }, 'probes.0.path.0.etx'],
    ['unknown fields nested too deep', pathResult({ x: JSON.parse('['.repeat(40) + ']'.repeat(40)) }), 'x' + '.0'.repeat(15)],
  ];
  for (const [name, msg, path] of invalid) {
    test(`422: ${name}`, async () => {
      // Beside a valid message, to show that nothing of the batch is stored.
      const body = typeof msg === 'string' ? `[${JSON.stringify(agentHealth())}, ${msg}]` : [agentHealth(), msg];
      const r = await refused(422, body);
      expect(r.body.errors.length).toBeGreaterThan(0);
      expect(r.body.errors.every((e: { index: number }) => e.index === 1)).toBe(true);
      expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    });
  }

  test('422: old is fine within retention (agents buffer)', async () => {
    const t = testApp(get(), { now: NOW });
    expect((await t.post('/ingest', pathResult({ sent_at: '2025-12-10T00:00:00Z' }))).status).toBe(200);
  });

  test('every example with one required field removed is refused', async () => {
    const required: Record<string, string[]> = {
      path_result: ['schema', 'type', 'src', 'dst', 'sent_at', 'route', 'metrics'],
      hop_result: ['src', 'dst', 'sent_at', 'hop_index', 'hop'],
      agent_health: ['node', 'sent_at', 'cpu_pct', 'mem_mb', 'queue_len'],
      network_status: ['node', 'sent_at', 'probes'],
      crash_report: ['node', 'sent_at'],
    };
    for (const [name, fields] of Object.entries(required)) {
      const msg = await example<Record<string, unknown> & { sent_at: string }>(name);
      for (const f of fields) {
        const { [f]: _gone, ...rest } = msg;
        const t = testApp(get(), { now: new Date(Date.parse(msg.sent_at) + 60_000) });
        const r = await t.post('/ingest', rest);
        expect(r.status, `${name} without ${f}`).toBe(422);
        expect(r.body.errors[0].path, `${name} without ${f}`).toBe(f);
      }
    }
    expect(await counts(get())).toEqual(EMPTY);
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
