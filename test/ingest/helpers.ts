import { beforeAll, beforeEach, expect } from 'bun:test';
import net from 'node:net';
import path from 'node:path';
import { sql } from 'kysely';
import type { TestDatabase } from '../support/databases.ts';
import { EXAMPLES_DIR } from '../support/fixtures.ts';
import { loadTimescaleTsl } from '../support/pglite-tsl.ts';

export const TABLES = ['path_probe', 'hop_quality', 'agent_health', 'crash_report', 'nodes', 'ingest_clock_ledger', 'ingest_volume', 'ingest_drops', 'node_addresses'] as const;
export type Counts = Record<(typeof TABLES)[number], number>;

export async function counts(tdb: TestDatabase): Promise<Counts> {
  const { rows } = await sql.raw<Counts>(
    `SELECT ${TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`,
  ).execute(tdb.db);
  return rows[0]!;
}

export const EMPTY: Counts = { path_probe: 0, hop_quality: 0, agent_health: 0, crash_report: 0, nodes: 0, ingest_clock_ledger: 0, ingest_volume: 0, ingest_drops: 0, node_addresses: 0 };

/**
 * Per-describe setup shared by the ingest suites: TSL loaded (PGlite), the
 * tables ingest writes emptied before each test. DELETE, not TRUNCATE: on
 * tables this small it is a millisecond instead of a few hundred.
 */
export function freshTables(get: () => TestDatabase) {
  beforeAll(() => loadTimescaleTsl(get()));
  beforeEach(async () => {
    for (const t of TABLES) await sql.raw(`DELETE FROM ${t}`).execute(get().db);
  });
}

/** A problem+json response with the given status. */
export function expectProblem(r: { status: number; body: any; res: Response }, status: number) {
  expect(r.status).toBe(status);
  expect(r.res.headers.get('content-type')).toBe('application/problem+json');
  expect(r.body.status).toBe(status);
  expect(typeof r.body.title).toBe('string');
  expect(typeof r.body.type).toBe('string');
  expect(['/ingest', '/api/reports']).toContain(r.body.instance);
  expect(r.body.request_id).toBeTruthy();
}

export const pathResult = (over: Record<string, unknown> = {}) => ({
  schema: 'meshmon.v1',
  type: 'path_result',
  src: 'node-A',
  dst: 'node-K',
  sent_at: '2026-03-02T11:59:00Z',
  window_s: 5,
  route: ['node-A', 'node-D', 'node-K'],
  metrics: { rtt_ms_avg: 20.5, jitter_ms_rfc3550: 3.2, loss_pct: 0 },
  ...over,
});

export const hopResult = (over: Record<string, unknown> = {}) => ({
  schema: 'meshmon.v1',
  type: 'hop_result',
  src: 'node-A',
  dst: 'node-K',
  sent_at: '2026-03-02T11:59:00Z',
  hop_index: 1,
  hop: { from: 'node-A', to: 'node-D' },
  l2: { lq: 0.9, nlq: 0.8, etx: 1.3 },
  ...over,
});

export const agentHealth = (over: Record<string, unknown> = {}) => ({
  schema: 'meshmon.v1',
  type: 'agent_health',
  node: 'node-A',
  sent_at: '2026-03-02T11:59:00Z',
  cpu_pct: 3.1,
  mem_mb: 5.9,
  queue_len: 0,
  neighbors_seen: 5,
  ...over,
});

/** Windows of one route every 40 s from `start`, with their hops: a realistic batch. */
export function windows(n: number, start = Date.parse('2026-03-02T11:00:00Z'), src = 'node-A', dst = 'node-K') {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const sent_at = new Date(start + i * 40_000).toISOString();
    out.push(pathResult({ src, dst, sent_at, route: [src, 'node-D', dst] }));
    out.push(hopResult({ src, dst, sent_at, hop_index: 1, hop: { from: src, to: 'node-D' } }));
    out.push(hopResult({ src, dst, sent_at, hop_index: 2, hop: { from: 'node-D', to: dst } }));
  }
  return out;
}

/** The upstream agent's captured bodies (examples/upstream/), as it POSTed them. */
export const UPSTREAM_CAPTURES = [
  'agent_health', 'network_status-olsr-real', 'network_status-babel-real', 'network_status-olsr-parsable', 'network_status-babel-parsable',
] as const;
export type UpstreamCapture = (typeof UPSTREAM_CAPTURES)[number];

export async function upstreamText(name: UpstreamCapture): Promise<string> {
  return Bun.file(path.join(EXAMPLES_DIR, 'upstream', `${name}.json`)).text();
}

/** The captures were made on 2026-12-06 (see their README). */
export const CAPTURED_AT = Date.parse('2026-12-06T19:15:57Z');

/**
 * A capture with every time (sent_at, probes' timestamp) moved by `shiftMs`,
 * still pretty-printed as the agent sends it.
 */
export async function upstreamBody(name: UpstreamCapture, shiftMs = 0): Promise<string> {
  const text = await upstreamText(name);
  if (!shiftMs) return text;
  return text.replace(/"(sent_at|timestamp)": "([^"]+)"/g, (_, k: string, v: string) => `"${k}": "${new Date(Date.parse(v) + shiftMs).toISOString().replace('.000Z', 'Z')}"`);
}

/**
 * What the upstream agent's sender does (http_client.c): one request per
 * connection, HTTP/1.0, `Host` without the port, Connection: close, the
 * pretty-printed body; it reads the first 511 bytes of the answer.
 */
export function postLikeTheAgent(port: number, urlPath: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const at = text.indexOf('\r\n\r\n');
      const head = text.slice(0, at);
      resolve({ status: Number(head.split(' ')[1]), head, body: text.slice(at + 4) });
    });
    sock.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(
        `POST ${urlPath} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
      );
    });
  });
}
