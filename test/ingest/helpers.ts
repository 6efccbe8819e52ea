import { beforeAll, beforeEach, expect } from 'bun:test';
import { sql } from 'kysely';
import type { TestDatabase } from '../support/databases.ts';
import { loadTimescaleTsl } from '../support/pglite-tsl.ts';

export const TABLES = ['path_probe', 'hop_quality', 'agent_health', 'crash_report', 'nodes', 'ingest_skew_ledger'] as const;
export type Counts = Record<(typeof TABLES)[number], number>;

export async function counts(tdb: TestDatabase): Promise<Counts> {
  const { rows } = await sql.raw<Counts>(
    `SELECT ${TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`,
  ).execute(tdb.db);
  return rows[0]!;
}

export const EMPTY: Counts = { path_probe: 0, hop_quality: 0, agent_health: 0, crash_report: 0, nodes: 0, ingest_skew_ledger: 0 };

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
  expect(r.body.instance).toBe('/ingest');
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
