import { afterAll, expect, test, setDefaultTimeout } from 'bun:test';
import net from 'node:net';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode, type TestDatabase } from '../support/databases.ts';

// Real databases on a shared machine: PGlite start-up and pg_dump take seconds.
setDefaultTimeout(60_000);

async function scrape(t: TestApp) {
  const res = await t.app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const families = parsePrometheusTextFormat(text);
  const family = (name: string) => families.find((f) => f.name === name);
  const value = (name: string, labels: Record<string, string> = {}) => {
    const f = family(name);
    const s = f?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return s?.value === undefined ? undefined : Number(s.value);
  };
  return { text, families, family, value };
}

const at = '2026-03-02T12:00:00Z';
const message = (dst: string, over: Record<string, unknown> = {}) => ({
  schema: 'meshmon.v1', type: 'path_result', src: 'N0DE-A', dst, sent_at: '2026-03-02T11:59:00Z',
  route: ['N0DE-A', dst], metrics: { rtt_ms_avg: 12, jitter_ms_rfc3550: 2, loss_pct: 0 }, ...over,
});

describeEachMode('GET /metrics', (get, mode) => {
  test('parses as Prometheus text and describes the database', async () => {
    const t = testApp(get(), { now: at });
    const m = await scrape(t);
    expect(m.value('meshmon_db_up')).toBe(1);
    expect(m.value('meshmon_db_info', { mode })).toBe(1);
    expect(m.value('meshmon_db_embedded')).toBe(0);
    expect(m.value('meshmon_db_size_bytes')).toBeGreaterThan(0);
    for (const table of ['path_probe', 'hop_quality', 'agent_health', 'incidents', 'path_probe_hourly', 'hop_quality_hourly']) {
      expect(m.value('meshmon_db_table_size_bytes', { table }), table).toBeGreaterThanOrEqual(0);
    }
    if (mode === 'timescale') {
      expect(m.value('meshmon_db_pool_connections')).toBeUndefined(); // PGlite has no pool
    } else {
      expect(m.value('meshmon_db_pool_connections')).toBeGreaterThanOrEqual(1);
      expect(m.value('meshmon_db_pool_idle_connections')).toBeGreaterThanOrEqual(0);
      expect(m.value('meshmon_db_pool_waiting_clients')).toBe(0);
    }
    for (const name of ['meshmon_http_request_duration_seconds', 'meshmon_engine_tick_duration_seconds', 'meshmon_engine_last_success_timestamp_seconds', 'meshmon_job_runs_total']) {
      expect(m.family(name), name).toBeDefined();
    }
  });

  test('message counters move when messages are accepted, duplicated, dropped in part and rejected', async () => {
    const t = testApp(get(), { now: at });
    const before = await scrape(t);
    expect(before.value('meshmon_ingest_messages_total', { type: 'path_result', outcome: 'accepted' }) ?? 0).toBe(0);

    expect((await t.post('/ingest', [message('N0DE-B'), message('N0DE-C')])).status).toBe(200);
    expect((await t.post('/ingest', message('N0DE-B'))).status).toBe(200);
    // Stored without its impossible loss.
    expect((await t.post('/ingest', message('N0DE-D', { metrics: { loss_pct: 140 } }))).status).toBe(200);
    expect((await t.post('/ingest', message('N0DE-E', { schema: 'meshmon.v0' }))).status).toBe(422);

    const after = await scrape(t);
    expect(after.value('meshmon_ingest_messages_total', { type: 'path_result', outcome: 'accepted' })).toBe(3);
    expect(after.value('meshmon_ingest_messages_total', { type: 'path_result', outcome: 'duplicate' })).toBe(1);
    expect(after.value('meshmon_ingest_messages_total', { type: 'path_result', outcome: 'rejected', reason: 'invalid' })).toBe(1);
    expect(after.value('meshmon_ingest_dropped_total', { reason: 'out_of_range' })).toBe(1);
    expect(after.value('meshmon_ingest_dropped_total', { reason: 'unknown_schema' })).toBe(1);
    // Request durations are recorded by route pattern.
    // (The parser folds labelled histograms into one sample, so their series are read from the text.)
    expect(after.family('meshmon_http_request_duration_seconds')!.type).toBe('HISTOGRAM');
    const counts = [...after.text.matchAll(/^meshmon_http_request_duration_seconds_count\{([^}]*)\} (\S+)$/gm)]
      .filter((m) => m[1]!.includes('route="/ingest"'))
      .map((m) => [m[1]!.match(/status="(\d+)"/)![1], Number(m[2])]);
    expect(counts.sort()).toEqual([['200', 3], ['422', 1]]);
  });

  test('open incidents are counted by kind and severity', async () => {
    const tdb = get();
    const t = testApp(tdb, { now: at });
    const base = { scope: '{}', detected_at: at, updated_at: at, started_at: at };
    await tdb.db.insertInto('incidents').values([
      { ...base, id: 'm1', kind: 'jitter_burst', scope_key: 'a', status: 'open', severity: 'major' },
      { ...base, id: 'm2', kind: 'jitter_burst', scope_key: 'b', status: 'clearing', severity: 'major' },
      { ...base, id: 'm3', kind: 'rf_drop', scope_key: 'c', status: 'open', severity: 'critical' },
      { ...base, id: 'm4', kind: 'rf_drop', scope_key: 'd', status: 'closed', severity: 'minor', ended_at: at },
    ]).execute();
    const m = await scrape(t);
    expect(m.value('meshmon_incidents_open', { kind: 'jitter_burst', severity: 'major' })).toBe(2);
    expect(m.value('meshmon_incidents_open', { kind: 'rf_drop', severity: 'critical' })).toBe(1);
    expect(m.value('meshmon_incidents_open', { kind: 'rf_drop', severity: 'minor' })).toBeUndefined();
    await tdb.db.deleteFrom('incidents').where('id', 'in', ['m1', 'm2', 'm3', 'm4']).execute();
    // Label sets of incidents that closed since the last scrape disappear.
    const again = await scrape(t);
    expect(again.family('meshmon_incidents_open')?.metrics ?? []).toEqual([]);
  });
}, ['timescale', 'apache', 'none']);

describeEachMode('GET /metrics without a database', (get) => {
  // A server that accepts connections and never answers: the worst case for a scrape.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => { sockets.add(s); });
  const ready = new Promise<number>((resolve) => silent.listen(0, '127.0.0.1', () => resolve((silent.address() as net.AddressInfo).port)));
  afterAll(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));

  for (const [name, url] of [
    ['refused', async () => 'postgres://postgres@127.0.0.1:1/nothing'],
    ['hanging', async () => `postgres://postgres@127.0.0.1:${await ready}/nothing`],
  ] as const) {
    test(`reports meshmon_db_up 0 instead of failing (${name})`, async () => {
      const pool = createPool({ url: await url() });
      const dead: TestDatabase = { ...get(), db: createDatabase(pool), pool };
      const t = testApp(dead, { now: at });
      const started = Date.now();
      const m = await scrape(t);
      expect(Date.now() - started).toBeLessThan(2_900);
      expect(m.value('meshmon_db_up')).toBe(0);
      expect(m.family('meshmon_db_size_bytes')?.metrics ?? []).toEqual([]);
      expect(m.value('meshmon_db_info', { mode: 'none' })).toBe(1);
      pool.end().catch(() => {});
    });
  }
}, ['none']);
