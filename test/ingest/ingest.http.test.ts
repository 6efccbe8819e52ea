import { expect, test } from 'bun:test';
import net from 'node:net';
import { createLogger } from '../../src/log.ts';
import { withAbsoluteUrl } from '../../src/server.ts';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { example } from '../support/fixtures.ts';
import { agentHealth, counts, freshTables, pathResult, windows } from './helpers.ts';

/** What the upstream agent's sender does: HTTP/1.0, no Host, Connection: close, pretty JSON. */
function http10(port: number, body: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', rest = ''] = text.split('\r\n\r\n', 2);
      resolve({ status: Number(head.split(' ')[1]), headers: head, body: rest });
    });
    sock.on('connect', () => {
      sock.write(
        `POST /ingest HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
  });
}

describeEachMode('POST /ingest over the wire', (get) => {
  freshTables(get);

  test('an HTTP/1.0 client with Connection: close and pretty-printed JSON gets a 200', async () => {
    const msg = await example<{ sent_at: string }>('network_status');
    const t = testApp(get(), { now: new Date(Date.parse(msg.sent_at) + 5000) });
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: withAbsoluteUrl(t.app.fetch, '127.0.0.1') });
    try {
      const r = await http10(server.port!, JSON.stringify(msg, null, 2));
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).accepted.network_status).toBe(1);
      expect((await counts(get())).path_probe).toBe(2);
      // Its retry: still a 200 (anything else is a failure to the agent), nothing new.
      const again = await http10(server.port!, JSON.stringify(msg, null, 2));
      expect(again.status).toBe(200);
      expect(JSON.parse(again.body).duplicates.network_status).toBe(1);
    } finally {
      server.stop(true);
    }
  });

  test('concurrent requests with overlapping rows in opposite orders all succeed, each row stored once', async () => {
    const t = testApp(get());
    const a = [...windows(15, Date.parse('2026-03-02T11:00:00Z'), 'node-A', 'node-B'), ...windows(15, Date.parse('2026-03-02T11:00:00Z'), 'node-B', 'node-A')];
    const b = [...a].reverse();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => t.post('/ingest', i % 2 ? a : b)));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    const accepted = results.reduce((s, r) => s + r.body.accepted.path_result + r.body.accepted.hop_result, 0);
    expect(accepted).toBe(90);
    expect(await counts(get())).toMatchObject({ path_probe: 30, hop_quality: 60, nodes: 2 });
  }, 30_000);

  const BOGUS = { schema: 'meshmon.v1', type: 'bogus', sent_at: '2026-03-02T11:59:00Z' };

  test('counts messages, drops and requests in the metrics', async () => {
    const t = testApp(get());
    await t.post('/ingest', [pathResult(), agentHealth()]);
    await t.post('/ingest', [pathResult()]);
    await t.post('/ingest', [pathResult({ sent_at: '2026-03-02T11:58:00Z' }), agentHealth({ cpu_pct: 500 }), BOGUS]);
    await t.post('/ingest', '{');
    await t.post('/ingest', '[{"schema":"meshmon.v2"}]');
    // Read, but nothing in it to store: its own drop counts.
    expect((await t.post('/ingest', { schema: 'meshmon.v1', type: 'network_status', node: 'n9', sent_at: '2026-03-02T11:59:00Z', probes: 'x' })).status).toBe(200);
    const text = await t.deps.metrics.registry.metrics();
    expect(text).toContain('meshmon_ingest_messages_total{type="path_result",outcome="accepted"} 2');
    expect(text).toContain('meshmon_ingest_messages_total{type="agent_health",outcome="accepted"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="agent_health",outcome="duplicate"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="path_result",outcome="duplicate"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="unknown",outcome="skipped"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="unknown",outcome="rejected",reason="invalid"} 1');
    // The cpu of 500 % is dropped from a health report already stored: not counted again; the bogus message is.
    expect(text).toContain('meshmon_ingest_dropped_total{reason="unknown_type"} 1');
    expect(text).toContain('meshmon_ingest_dropped_total{reason="unknown_schema"} 1');
    expect(text).not.toContain('reason="out_of_range"');
    expect(text).toContain('meshmon_ingest_dropped_total{reason="wrong_type"} 1');
    expect(text).toContain('meshmon_ingest_requests_total{status="200"} 4');
    expect(text).toContain('meshmon_ingest_requests_total{status="422"} 1');
    expect(text).toContain('meshmon_ingest_requests_total{status="400"} 1');
  });

  test('one log line per request that dropped something, naming the first reasons', async () => {
    const lines: Array<Record<string, any>> = [];
    const log = createLogger('info', (l) => lines.push(JSON.parse(l)));
    const t = testApp(get(), { log });
    await t.post('/ingest', [pathResult()]);
    await t.post('/ingest', [pathResult({ sent_at: '2026-03-02T11:58:00Z', metrics: { loss_pct: 140 } }), BOGUS, agentHealth({ node: '' })]);
    const dropped = lines.filter((l) => l.msg === 'ingest dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({
      level: 'warn', drops: 3, stored: true, reasons: { out_of_range: 1, unknown_type: 1, bad_sender: 1 },
      first: [{ index: 0, path: 'metrics.loss_pct', reason: 'out_of_range' }, { index: 1, path: 'type', reason: 'unknown_type' }, { index: 2, path: 'node', reason: 'bad_sender' }],
    });
    expect(dropped[0]!.request_id).toBeTruthy();
  });

  test('the answer is JSON with received_at, what was stored, and what was dropped', async () => {
    const t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
    const r = await t.post('/ingest', pathResult());
    expect(r.res.headers.get('content-type')).toContain('application/json');
    expect(r.body).toEqual({
      messages: 1,
      accepted: { path_result: 1, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 },
      duplicates: { path_result: 0, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 },
      skipped: 0,
      rows: {
        path_probe: { inserted: 1, duplicates: 0, dropped: 0 }, hop_quality: { inserted: 0, duplicates: 0, dropped: 0 },
        agent_health: { inserted: 0, duplicates: 0, dropped: 0 }, crash_report: { inserted: 0, duplicates: 0, dropped: 0 },
      },
      dropped: { total: 0, by_reason: {} },
      drops: [],
      clock_skewed: 0,
      nodes: 1,
      received_at: '2026-03-02T12:00:00.000Z',
    });
  });

  test('the answer lists at most 100 drops and counts them all', async () => {
    const t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
    const r = await t.post('/ingest', [agentHealth(), ...Array.from({ length: 150 }, () => (BOGUS))]);
    expect(r.status).toBe(200);
    expect(r.body.drops).toHaveLength(100);
    expect(r.body.dropped).toEqual({ total: 150, by_reason: { unknown_type: 150 } });
    const all = await t.post('/ingest', Array.from({ length: 150 }, () => (BOGUS)));
    expect(all.status).toBe(422);
    expect(all.body.errors).toHaveLength(100);
  });

  test('/api/reports is the same endpoint: same answer, same INGEST_TOKEN', async () => {
    const t = testApp(get(), { env: { INGEST_TOKEN: 'a-long-ingest-token-1234' } });
    const noToken = await t.post('/api/reports', pathResult());
    expect(noToken.status).toBe(401);
    const auth = { headers: { Authorization: 'Bearer a-long-ingest-token-1234' } };
    const ok = await t.post('/api/reports', pathResult(), auth);
    expect(ok.status).toBe(200);
    expect((await t.post('/ingest', pathResult(), auth)).body.duplicates.path_result).toBe(1);
    const wrong = await testApp(get()).json('/api/reports');
    expect(wrong.status).toBe(405);
    expect(wrong.body.detail).toContain('/api/reports');
  });

  test('a client that closes the connection mid-body is counted apart (499), not logged as a server error', async () => {
    const lines: Array<Record<string, any>> = [];
    const t = testApp(get(), { log: createLogger('info', (l) => lines.push(JSON.parse(l))) });
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: withAbsoluteUrl(t.app.fetch, '127.0.0.1') });
    try {
      await new Promise<void>((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port: server.port! });
        sock.on('error', reject);
        sock.on('connect', () => {
          sock.write('POST /ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n[{"schema":"meshmon.v1",');
          // Gone before the rest of its body.
          setTimeout(() => { sock.destroy(); resolve(); }, 50);
        });
      });
      // The server notices when it next reads: wait for it to count the request (bounded).
      for (let i = 0; i < 100 && !(await t.deps.metrics.registry.metrics()).includes('status="499"'); i++) await Bun.sleep(50);
    } finally {
      await server.stop(true);
    }
    const text = await t.deps.metrics.registry.metrics();
    expect(text).toContain('meshmon_ingest_requests_total{status="499"} 1');
    expect(text).not.toContain('status="500"');
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(lines.some((l) => l.msg === 'ingest client closed the connection')).toBe(true);
    expect(await counts(get())).toMatchObject({ path_probe: 0, nodes: 0 });
  });
});
