import { beforeEach, expect, test } from 'bun:test';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncidents, insertNode, saveEngineTick } from '../support/incident-fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const at = (hhmm: string) => `2026-03-02T${hhmm}:00Z`;

describeEachMode('GET /summary', (get) => {
  let t: TestApp;
  beforeEach(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW });
  });

  test('green with nothing open; no ingest or engine tick yet', async () => {
    await insertIncidents(get().db, [{ started_at: at('08:00'), ended_at: at('09:00'), severity: 'critical' }]);
    const { status, body } = await t.json('/summary');
    expect(status).toBe(200);
    expect(body).toEqual({
      health: 'green',
      open: {
        total: 0,
        roots: 0,
        by_severity: { minor: 0, major: 0, critical: 0 },
        by_kind: { rf_drop: 0, jitter_burst: 0, loss_spike: 0, route_flap: 0, bottleneck: 0, node_overload: 0, agent_silent: 0, partition: 0, agent_misreport: 0 },
        acknowledged: 0,
        maintenance: 0,
      },
      last_ingest_at: null,
      last_engine_tick_at: null,
      engine: { state: 'unknown', last_tick_at: null, last_success_at: null, error: null },
      generated_at: '2026-03-02T12:00:00.000Z',
    });
  });

  test('yellow with minor/major open, red with a critical one; counts by severity and kind', async () => {
    await insertIncidents(get().db, [
      { id: 'inc_r', kind: 'bottleneck', scope: { type: 'link', a: 'A', b: 'B' }, severity: 'major', started_at: at('08:00') },
      { kind: 'jitter_burst', severity: 'minor', started_at: at('08:10'), parent_id: 'inc_r' },
      { kind: 'loss_spike', severity: 'major', started_at: at('08:20'), status: 'clearing' },
      { kind: 'loss_spike', severity: 'critical', started_at: at('07:00'), ended_at: at('07:30') },
    ]);
    const yellow = (await t.json('/summary')).body;
    expect(yellow.health).toBe('yellow');
    expect(yellow.open.total).toBe(3);
    expect(yellow.open.roots).toBe(2);
    expect(yellow.open.by_severity).toEqual({ minor: 1, major: 2, critical: 0 });
    expect(yellow.open.by_kind).toMatchObject({ bottleneck: 1, jitter_burst: 1, loss_spike: 1, rf_drop: 0 });

    await insertIncidents(get().db, [{ kind: 'rf_drop', scope: { type: 'link', a: 'C', b: 'D' }, severity: 'critical', started_at: at('11:00') }]);
    const red = (await t.json('/summary')).body;
    expect(red.health).toBe('red');
    expect(red.open.by_severity.critical).toBe(1);
  });

  test('last ingest from the registry; last engine tick from job_state or this process, the later one', async () => {
    await insertNode(get().db, { node: 'N1', last_received_at: at('11:58') });
    await insertNode(get().db, { node: 'N2', last_received_at: at('11:59') });
    await saveEngineTick(get().db, at('11:59'));
    let body = (await t.json('/summary')).body;
    expect(body.last_ingest_at).toBe('2026-03-02T11:59:00.000Z');
    expect(body.last_engine_tick_at).toBe('2026-03-02T11:59:00.000Z');

    t.deps.status.record('engine', { at: new Date('2026-03-02T11:59:50Z'), ok: true, durationMs: 5 });
    body = (await t.json('/summary')).body;
    expect(body.last_engine_tick_at).toBe('2026-03-02T11:59:50.000Z');
  });

  test('takes no parameters', async () => {
    const r = await t.json('/summary?health=red');
    expect(r.status).toBe(400);
    expect(r.body.errors.map((e: any) => e.path)).toEqual(['health']);
  });
});

describeEachMode('GET /registry', (get) => {
  let t: TestApp;
  beforeEach(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW, env: { REGISTRY_SILENT_AFTER: '600' } });
    await insertNode(get().db, {
      node: 'KX6ABC-HAP-2',
      first_seen: at('01:00'),
      last_seen: at('11:55'),
      last_received_at: at('11:55'),
      last_type: 'agent_health',
      agent_version: '0.3.1',
      routing_daemon: 'olsr',
      hardware_model: 'MikroTik hAP ac lite',
      firmware_version: '3.24.6.0',
      grid_square: 'CM87',
      lat: 37.5,
      lon: -122.1,
      clock_skew_s: 420,
      skew_flagged_at: at('11:00'),
    });
    await insertNode(get().db, { node: 'AB1CDE-RKT-1', last_received_at: at('11:40'), routing_daemon: 'babel' });
    // Exactly at the limit still counts as reporting.
    await insertNode(get().db, { node: 'ZZ9ZZZ-NSM-1', last_received_at: at('11:50') });
  });

  test('every known node with status relative to the app clock', async () => {
    const { status, body } = await t.json('/registry');
    expect(status).toBe(200);
    expect(body.nodes.map((n: any) => [n.node, n.status])).toEqual([
      ['AB1CDE-RKT-1', 'silent'],
      ['KX6ABC-HAP-2', 'reporting'],
      ['ZZ9ZZZ-NSM-1', 'reporting'],
    ]);
    expect(body.counts).toEqual({ total: 3, reporting: 2, silent: 1, retired: 0 });
    expect(body.silent_after_s).toBe(600);
    expect(body.generated_at).toBe('2026-03-02T12:00:00.000Z');
    expect(body.nodes[1]).toEqual({
      node: 'KX6ABC-HAP-2',
      status: 'reporting',
      first_seen: '2026-03-02T01:00:00.000Z',
      last_seen: '2026-03-02T11:55:00.000Z',
      last_received_at: '2026-03-02T11:55:00.000Z',
      silent_for_s: 300,
      retired_at: null,
      last_type: 'agent_health',
      agent_version: '0.3.1',
      routing_daemon: 'olsr',
      hardware_model: 'MikroTik hAP ac lite',
      firmware_version: '3.24.6.0',
      position: { lat: 37.5, lon: -122.1, grid_square: 'CM87' },
      clock_skew_s: 420,
      clock_skew_flagged_at: '2026-03-02T11:00:00.000Z',
      ingest_drops: { last_24h: 0, last_at: null, last_reason: null },
    });
    expect(body.next).toBeNull();
    expect(body.nodes[0]).toMatchObject({ routing_daemon: 'babel', agent_version: null, position: { lat: null, lon: null, grid_square: null }, clock_skew_flagged_at: null });

    t.setNow('2026-03-02T12:30:00Z');
    const later = (await t.json('/registry')).body;
    expect(later.counts).toEqual({ total: 3, reporting: 0, silent: 3, retired: 0 });
  });

  test('status filter; bad values are 400', async () => {
    expect((await t.json('/registry?status=silent')).body.nodes.map((n: any) => n.node)).toEqual(['AB1CDE-RKT-1']);
    const rep = (await t.json('/registry?status=reporting')).body;
    expect(rep.nodes).toHaveLength(2);
    expect(rep.counts.total).toBe(3);
    const bad = await t.json('/registry?status=dead');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.path)).toEqual(['status']);
  });

  test('retired: the engine closed its agent_silent as retired and nothing came since; a report brings it back', async () => {
    // A node whose name holds "--", silent since 8 days, retired by the engine a day ago.
    await insertNode(get().db, { node: 'KX6--GONE-1', last_received_at: '2026-02-22T12:00:00Z' });
    await insertIncidents(get().db, [{
      kind: 'agent_silent', scope: { type: 'node', node: 'KX6--GONE-1' }, started_at: '2026-02-22T12:00:40Z',
      ended_at: '2026-03-01T12:00:00Z', evidence: { closed_by: 'retired' },
    }]);
    const body = (await t.json('/registry')).body;
    expect(body.counts).toEqual({ total: 4, reporting: 2, silent: 1, retired: 1 });
    expect(body.nodes.find((n: any) => n.node === 'KX6--GONE-1')).toMatchObject({ status: 'retired', retired_at: '2026-03-01T12:00:00.000Z' });
    expect((await t.json('/registry?status=retired')).body.nodes.map((n: any) => n.node)).toEqual(['KX6--GONE-1']);
    expect((await t.json('/registry?status=silent')).body.nodes.map((n: any) => n.node)).toEqual(['AB1CDE-RKT-1']);

    await get().db.updateTable('nodes').set({ last_received_at: new Date('2026-03-02T11:59:00Z') }).where('node', '=', 'KX6--GONE-1').execute();
    const back = (await t.json('/registry')).body;
    expect(back.nodes.find((n: any) => n.node === 'KX6--GONE-1')).toMatchObject({ status: 'reporting', retired_at: null });
    expect(back.counts).toEqual({ total: 4, reporting: 3, silent: 1, retired: 0 });
  });

  test('pages by node name with limit and cursor; counts cover every node; the filter applies across pages', async () => {
    for (let i = 0; i < 7; i++) await insertNode(get().db, { node: `PAGE-${i}`, last_received_at: at(i % 2 ? '11:00' : '11:59') });
    const seen: string[] = [];
    let url = '/registry?limit=4';
    for (let pages = 0; ; pages++) {
      const { status, body } = await t.json(url);
      expect(status).toBe(200);
      expect(body.nodes.length).toBeLessThanOrEqual(4);
      expect(body.counts).toEqual({ total: 10, reporting: 6, silent: 4, retired: 0 });
      seen.push(...body.nodes.map((n: any) => n.node));
      if (!body.next) break;
      expect(pages).toBeLessThan(3);
      url = `/registry?limit=4&cursor=${body.next}`;
    }
    expect(seen).toEqual([...seen].sort());
    expect(seen).toHaveLength(10);
    const silent: string[] = [];
    for (let url2 = '/registry?status=silent&limit=2'; ;) {
      const { body } = await t.json(url2);
      silent.push(...body.nodes.map((n: any) => n.node));
      if (!body.next) break;
      url2 = `/registry?status=silent&limit=2&cursor=${body.next}`;
    }
    expect(silent).toEqual(['AB1CDE-RKT-1', 'PAGE-1', 'PAGE-3', 'PAGE-5']);
  });

  test('a limit out of range, or a cursor it did not issue, is a 400', async () => {
    for (const q of ['limit=0', 'limit=5001', 'limit=x', 'cursor=abc', 'cursor=%00', `cursor=${Buffer.from('{"a":""}').toString('base64url')}`, `cursor=${Buffer.from('{"a":"x\\u0000"}').toString('base64url')}`]) {
      const r = await t.json(`/registry?${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 400 });
      expect(r.res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  test('ingest_drops: drops of the last 24 h, and the latest drop time and reason', async () => {
    const db = get().db;
    await db.insertInto('ingest_drops').values([
      { node: 'KX6ABC-HAP-2', bucket: at('11:50'), reason: 'dst_node_empty', drops: 12, last_at: at('11:54') },
      { node: 'KX6ABC-HAP-2', bucket: at('11:50'), reason: 'out_of_range', drops: 1, last_at: at('11:51') },
      { node: 'KX6ABC-HAP-2', bucket: new Date(Date.parse(NOW) - 2 * 86_400_000), reason: 'bad_hop', drops: 40, last_at: new Date(Date.parse(NOW) - 2 * 86_400_000) },
      { node: 'AB1CDE-RKT-1', bucket: new Date(Date.parse(NOW) - 3 * 86_400_000), reason: 'bad_sent_at', drops: 2, last_at: new Date(Date.parse(NOW) - 3 * 86_400_000 + 1000) },
    ]).execute();
    const { body } = await t.json('/registry');
    const by = Object.fromEntries(body.nodes.map((n: any) => [n.node, n.ingest_drops]));
    expect(by['KX6ABC-HAP-2']).toEqual({ last_24h: 13, last_at: '2026-03-02T11:54:00.000Z', last_reason: 'dst_node_empty' });
    expect(by['AB1CDE-RKT-1']).toEqual({ last_24h: 0, last_at: '2026-02-27T12:00:01.000Z', last_reason: 'bad_sent_at' });
    expect(by['ZZ9ZZZ-NSM-1']).toEqual({ last_24h: 0, last_at: null, last_reason: null });
  });
});
