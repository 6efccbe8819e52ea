import { expect, test } from 'bun:test';
import net from 'node:net';
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

  test('counts messages and requests in the metrics', async () => {
    const t = testApp(get());
    await t.post('/ingest', [pathResult(), agentHealth()]);
    await t.post('/ingest', [pathResult()]);
    await t.post('/ingest', [pathResult({ sent_at: '2026-03-02T11:58:00Z' }), agentHealth({ cpu_pct: 500 })]);
    await t.post('/ingest', '{');
    const text = await t.deps.metrics.registry.metrics();
    expect(text).toContain('meshmon_ingest_messages_total{type="path_result",outcome="accepted"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="agent_health",outcome="accepted"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="path_result",outcome="duplicate"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="agent_health",outcome="rejected",reason="invalid"} 1');
    expect(text).toContain('meshmon_ingest_messages_total{type="path_result",outcome="rejected",reason="batch_invalid"} 1');
    expect(text).toContain('meshmon_ingest_requests_total{status="200"} 2');
    expect(text).toContain('meshmon_ingest_requests_total{status="422"} 1');
    expect(text).toContain('meshmon_ingest_requests_total{status="400"} 1');
  });

  test('the answer is JSON with received_at and per-type counts', async () => {
    const t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
    const r = await t.post('/ingest', pathResult());
    expect(r.res.headers.get('content-type')).toContain('application/json');
    expect(r.body).toEqual({
      messages: 1,
      accepted: { path_result: 1, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 },
      duplicates: { path_result: 0, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 },
      rows: {
        path_probe: { inserted: 1, duplicates: 0 }, hop_quality: { inserted: 0, duplicates: 0 },
        agent_health: { inserted: 0, duplicates: 0 }, crash_report: { inserted: 0, duplicates: 0 },
      },
      clock_skewed: 0,
      nodes: 1,
      received_at: '2026-03-02T12:00:00.000Z',
    });
  });
});
