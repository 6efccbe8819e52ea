import { beforeEach, describe, expect, test } from 'bun:test';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncident, insertIncidents, insertProbes, nextId, probeSeries } from '../support/incident-fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const at = (hhmm: string, day = '2026-03-02') => `${day}T${hhmm}:00Z`;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function expectProblem(r: { status: number; body: any; res: Response }, status: number) {
  expect(r.status).toBe(status);
  expect(r.res.headers.get('content-type')).toBe('application/problem+json');
  expect(r.body.status).toBe(status);
  expect(r.body.request_id).toBeTruthy();
}

/** Every parameter the 400 names. */
const named = (body: any): string[] => (body.errors ?? []).map((e: { path: string }) => e.path).sort();

describeEachMode('GET /issues', (get) => {
  let t: TestApp;
  beforeEach(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW });
  });

  test('defaults to open root incidents, newest first, each with its children count', async () => {
    const root = await insertIncident(get().db, { id: 'inc_root', kind: 'bottleneck', scope: { type: 'link', a: 'N1', b: 'N2' }, severity: 'critical', started_at: at('10:00') });
    await insertIncidents(get().db, [
      { id: 'inc_child1', parent_id: root, started_at: at('10:05'), scope: { type: 'route', src: 'N1', dst: 'N3' } },
      { id: 'inc_child2', parent_id: root, started_at: at('10:06'), ended_at: at('10:30'), scope: { type: 'route', src: 'N3', dst: 'N1' } },
      { id: 'inc_newer', started_at: at('11:00'), kind: 'loss_spike', severity: 'minor' },
      { id: 'inc_clearing', started_at: at('09:00'), status: 'clearing' },
      { id: 'inc_closed', started_at: at('11:30'), ended_at: at('11:50') },
    ]);

    const { status, body, res } = await t.json('/issues');
    expect(status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(body.items.map((i: any) => i.id)).toEqual(['inc_newer', 'inc_root', 'inc_clearing']);
    expect(body.next).toBeNull();
    const r = body.items[1];
    expect(r.children).toBe(2);
    expect(r.kind).toBe('bottleneck');
    expect(r.scope).toEqual({ type: 'link', a: 'N1', b: 'N2' });
    expect(r.severity).toBe('critical');
    expect(r.status).toBe('open');
    expect(r.parent_id).toBeNull();
    expect(r.evidence).toBeUndefined();
    expect(r.impact.nodes).toEqual(['N1', 'N2']);
    expect(r.next_steps).toEqual(['look', 'fix']);
    expect(body.items[2].status).toBe('clearing');
    for (const i of body.items) {
      for (const k of ['started_at', 'detected_at', 'updated_at']) expect(i[k]).toMatch(ISO_UTC);
      expect(i.ended_at).toBeNull();
    }
  });

  test('status=closed and status=all; roots=false lists children too', async () => {
    await insertIncidents(get().db, [
      { id: 'inc_a', started_at: at('08:00'), ended_at: at('08:40') },
      { id: 'inc_b', started_at: at('09:00') },
      { id: 'inc_c', started_at: at('09:30'), parent_id: 'inc_b' },
    ]);
    const closed = await t.json('/issues?status=closed');
    expect(closed.body.items.map((i: any) => i.id)).toEqual(['inc_a']);
    expect(closed.body.items[0].ended_at).toBe('2026-03-02T08:40:00.000Z');
    expect(closed.body.items[0].status).toBe('closed');

    const all = await t.json('/issues?status=all');
    expect(all.body.items.map((i: any) => i.id)).toEqual(['inc_b', 'inc_a']);

    const flat = await t.json('/issues?status=all&roots=false');
    expect(flat.body.items.map((i: any) => i.id)).toEqual(['inc_c', 'inc_b', 'inc_a']);
    expect(flat.body.items[0].parent_id).toBe('inc_b');
    expect(flat.body.items[1].children).toBe(1);
  });

  test('since / until select incidents active in the range', async () => {
    await insertIncidents(get().db, [
      { id: 'inc_early', started_at: at('01:00'), ended_at: at('02:00') },
      { id: 'inc_span', started_at: at('03:00'), ended_at: at('06:00') },
      { id: 'inc_late', started_at: at('07:00'), ended_at: at('07:30') },
      { id: 'inc_open', started_at: at('02:30') },
    ]);
    const r = await t.json(`/issues?status=all&since=${at('04:00')}&until=${at('06:30')}`);
    expect(r.body.items.map((i: any) => i.id)).toEqual(['inc_span', 'inc_open']);
    // An offset is accepted and means the same instant.
    const o = await t.json(`/issues?status=all&since=${encodeURIComponent('2026-03-02T08:00:00+04:00')}&until=${encodeURIComponent('2026-03-02T10:30:00+04:00')}`);
    expect(o.body.items.map((i: any) => i.id)).toEqual(['inc_span', 'inc_open']);
    const onlySince = await t.json(`/issues?status=all&since=${at('07:15')}`);
    expect(onlySince.body.items.map((i: any) => i.id)).toEqual(['inc_late', 'inc_open']);
    const onlyUntil = await t.json(`/issues?status=all&until=${at('02:45')}`);
    expect(onlyUntil.body.items.map((i: any) => i.id)).toEqual(['inc_open', 'inc_early']);
  });

  test('kind, severity (comma lists) and node filters', async () => {
    await insertIncidents(get().db, [
      { id: 'inc_1', kind: 'jitter_burst', severity: 'major', started_at: at('01:00'), scope: { type: 'route', src: 'X1', dst: 'X2' }, hops: ['X1', 'R1', 'X2'] },
      { id: 'inc_2', kind: 'loss_spike', severity: 'critical', started_at: at('02:00'), scope: { type: 'route', src: 'X3', dst: 'X4' } },
      { id: 'inc_3', kind: 'node_overload', severity: 'major', started_at: at('03:00'), scope: { type: 'node', node: 'R1' } },
      { id: 'inc_4', kind: 'rf_drop', severity: 'minor', started_at: at('04:00'), scope: { type: 'link', a: 'R1', b: 'X9' } },
    ]);
    const ids = async (q: string) => (await t.json(`/issues?${q}`)).body.items.map((i: any) => i.id);
    expect(await ids('kind=loss_spike')).toEqual(['inc_2']);
    expect(await ids('kind=loss_spike,rf_drop')).toEqual(['inc_4', 'inc_2']);
    expect(await ids('severity=major')).toEqual(['inc_3', 'inc_1']);
    expect(await ids('severity=critical,minor')).toEqual(['inc_4', 'inc_2']);
    expect(await ids('node=R1')).toEqual(['inc_4', 'inc_3', 'inc_1']);
    expect(await ids('node=R1&severity=major&kind=jitter_burst')).toEqual(['inc_1']);
    expect(await ids('node=NOBODY')).toEqual([]);
  });

  test('pages with limit and next until the last page; an empty result is one empty page', async () => {
    const empty = await t.json('/issues?status=all');
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ items: [], next: null });

    // Five share one start time: the id breaks the tie, so no page boundary loses or repeats one.
    const fixtures = Array.from({ length: 11 }, (_, i) => ({ id: `inc_p${String(i).padStart(2, '0')}`, started_at: i < 5 ? at('05:00') : at(`${String(i + 1).padStart(2, '0')}:30`) }));
    await insertIncidents(get().db, fixtures);
    const seen: string[] = [];
    let next: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: any } = await t.json(`/issues?status=all&limit=3${next ? `&cursor=${next}` : ''}`);
      expect(r.status).toBe(200);
      expect(r.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...r.body.items.map((i: any) => i.id));
      next = r.body.next;
      pages++;
    } while (next);
    expect(pages).toBe(4);
    expect(seen).toEqual(['inc_p10', 'inc_p09', 'inc_p08', 'inc_p07', 'inc_p06', 'inc_p05', 'inc_p04', 'inc_p03', 'inc_p02', 'inc_p01', 'inc_p00']);

    // A page that ends exactly at the last row says so: no dangling empty page.
    const exact = await t.json('/issues?status=all&limit=11');
    expect(exact.body.items).toHaveLength(11);
    expect(exact.body.next).toBeNull();
  });

  test('a cursor is stable when incidents are inserted between pages', async () => {
    await insertIncidents(get().db, [1, 2, 3, 4, 5, 6].map((h) => ({ id: `inc_s${h}`, started_at: at(`0${h}:00`) })));
    const first = await t.json('/issues?limit=2');
    expect(first.body.items.map((i: any) => i.id)).toEqual(['inc_s6', 'inc_s5']);

    // Newer ones (the engine keeps working) and one older than the cursor, started earlier but detected now.
    await insertIncidents(get().db, [
      { id: 'inc_new1', started_at: at('11:00') },
      { id: 'inc_new2', started_at: at('11:30') },
      { id: 'inc_late_detected', started_at: at('02:30') },
    ]);
    const second = await t.json(`/issues?limit=2&cursor=${first.body.next}`);
    expect(second.body.items.map((i: any) => i.id)).toEqual(['inc_s4', 'inc_s3']);
    const third = await t.json(`/issues?limit=2&cursor=${second.body.next}`);
    expect(third.body.items.map((i: any) => i.id)).toEqual(['inc_late_detected', 'inc_s2']);
    const last = await t.json(`/issues?limit=2&cursor=${third.body.next}`);
    expect(last.body.items.map((i: any) => i.id)).toEqual(['inc_s1']);
    expect(last.body.next).toBeNull();
    // The newer ones are on a fresh first page.
    const fresh = await t.json('/issues?limit=2');
    expect(fresh.body.items.map((i: any) => i.id)).toEqual(['inc_new2', 'inc_new1']);
  });

  test('microsecond start times do not break page boundaries', async () => {
    const db = get().db;
    await insertIncidents(db, [
      { id: 'inc_u1', started_at: at('05:00') },
      { id: 'inc_u2', started_at: at('05:00') },
      { id: 'inc_u3', started_at: at('05:00') },
    ]);
    // The engine's clock has microseconds; a JS Date would round them away.
    const { sql } = await import('kysely');
    await sql`UPDATE incidents SET started_at = started_at + interval '0.000250 s' WHERE id = 'inc_u2'`.execute(db);
    await sql`UPDATE incidents SET started_at = started_at + interval '0.000700 s' WHERE id = 'inc_u1'`.execute(db);
    const ids: string[] = [];
    let next: string | null = null;
    do {
      const r: { body: any } = await t.json(`/issues?limit=1${next ? `&cursor=${next}` : ''}`);
      ids.push(...r.body.items.map((i: any) => i.id));
      next = r.body.next;
    } while (next);
    expect(ids).toEqual(['inc_u1', 'inc_u2', 'inc_u3']);
  });

  test('every bad parameter is a 400 problem naming it', async () => {
    const cases: Array<[string, string[]]> = [
      ['status=opened', ['status']],
      ['limit=0', ['limit']],
      ['limit=501', ['limit']],
      ['limit=ten', ['limit']],
      ['limit=2.5', ['limit']],
      ['since=yesterday', ['since']],
      ['since=2026-03-02T10:00:00', ['since']],
      ['until=2026-13-40T00:00:00Z', ['until']],
      [`since=${at('10:00')}&until=${at('09:00')}`, ['until']],
      ['kind=rf_drop,meteor', ['kind']],
      ['kind=', ['kind']],
      ['severity=huge', ['severity']],
      ['node=bad%20name', ['node']],
      ['roots=maybe', ['roots']],
      ['cursor=not-a-cursor', ['cursor']],
      [`cursor=${Buffer.from('{"t":"x","i":"y"}').toString('base64url')}`, ['cursor']],
      ['severty=major', ['severty']],
      ['status=open&status=closed', ['status']],
    ];
    for (const [q, params] of cases) {
      const r = await t.json(`/issues?${q}`);
      expectProblem(r, 400);
      expect({ q, params: named(r.body) }).toEqual({ q, params });
      for (const p of params) expect(r.body.detail).toContain(p);
    }
    // jQuery's cache buster is not an error.
    expect((await t.json('/issues?_=1740000000000')).status).toBe(200);
  });
});

describeEachMode('GET /issues/{id}', (get) => {
  let t: TestApp;
  beforeEach(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW });
  });

  test('the details drawer: children, timeline, routes with hop lists, pattern, evidence, playbook', async () => {
    const db = get().db;
    const rootId = await insertIncident(db, {
      id: 'inc_bn',
      kind: 'bottleneck',
      scope: { type: 'link', a: 'HUB', b: 'RELAY' },
      severity: 'critical',
      started_at: at('10:00'),
      routes: ['S1>D1', 'S2>D2'],
      cause: 'Link HUB ↔ RELAY carries too much traffic',
      next_steps: ['Confirm utilisation', 'Add an alternative link'],
      evidence: { peaks: { jitter_ms: 80 }, windows: [{ at: at('10:00'), jitter_ms: 80 }], thresholds: { jitter_ms: 30, loss_pct: 2 } },
      events: [
        { at: at('10:01'), event: 'opened', detail: { severity: 'major' } },
        { at: at('10:20'), event: 'severity_changed', detail: { from: 'major', to: 'critical' } },
      ],
    });
    await insertIncidents(db, [
      { id: 'inc_kid1', parent_id: rootId, kind: 'jitter_burst', scope: { type: 'route', src: 'S1', dst: 'D1' }, started_at: at('10:02') },
      { id: 'inc_kid2', parent_id: rootId, kind: 'loss_spike', scope: { type: 'route', src: 'S2', dst: 'D2' }, started_at: at('10:04'), ended_at: at('10:40') },
    ]);
    // S1→D1 flips between two hop lists; S2→D2 has no data at all.
    await insertProbes(
      db,
      probeSeries('S1', 'D1', at('10:00'), at('11:00'), 40, (_t, i) => ({
        route: i % 3 === 0 ? ['S1', 'RELAY', 'D1'] : ['S1', 'HUB', 'RELAY', 'D1'],
        rtt_ms: 30,
        jitter_ms: i % 2 ? 60 : 10,
        loss_pct: 0,
      })),
    );

    const { status, body } = await t.json('/issues/inc_bn');
    expect(status).toBe(200);
    expect(body.id).toBe('inc_bn');
    expect(body.kind).toBe('bottleneck');
    expect(body.links).toEqual([{ a: 'HUB', b: 'RELAY' }]);
    expect(body.children_count).toBe(2);
    expect(body.children.map((c: any) => c.id)).toEqual(['inc_kid2', 'inc_kid1']);
    expect(body.children[0].parent_id).toBe('inc_bn');
    expect(body.timeline).toEqual([
      { at: '2026-03-02T10:01:00.000Z', event: 'opened', detail: { severity: 'major' } },
      { at: '2026-03-02T10:20:00.000Z', event: 'severity_changed', detail: { from: 'major', to: 'critical' } },
    ]);
    expect(body.evidence.peaks).toEqual({ jitter_ms: 80 });
    expect(body.playbook).toEqual({ cause: 'Link HUB ↔ RELAY carries too much traffic', next_steps: ['Confirm utilisation', 'Add an alternative link'] });
    expect(body.routes_truncated).toBe(false);
    expect(body.analysed).toEqual({ from: '2026-03-02T10:00:00.000Z', to: '2026-03-02T12:00:00.000Z' });

    const [r1, r2] = body.routes;
    expect(r1.route).toBe('S1>D1');
    expect(r1.hop_lists.map((h: any) => h.hops)).toEqual([['S1', 'HUB', 'RELAY', 'D1'], ['S1', 'RELAY', 'D1']]);
    expect(r1.hop_lists[0].windows + r1.hop_lists[1].windows).toBe(90);
    expect(r1.hop_lists[1].windows).toBe(30);
    expect(r1.hop_lists[0].first_seen).toBe('2026-03-02T10:00:40.000Z');
    // The last window (i = 89) used the long list.
    expect(r1.hops).toEqual(['S1', 'HUB', 'RELAY', 'D1']);
    expect(r2).toEqual({ route: 'S2>D2', src: 'S2', dst: 'D2', hops: null, hop_lists: [] });

    // Every other window jittery: bad in half of them, in runs of one.
    expect(body.pattern).toEqual({
      type: 'steady',
      source: 'measured',
      windows: 90,
      bad_windows: 45,
      bad_fraction: 0.5,
      bursts: 45,
      longest_bad_run: 1,
      thresholds: { jitter_ms: 30, loss_pct: 2 },
    });
  });

  test('pattern: burst for short runs among good windows, steady when it holds, unknown without data', async () => {
    const db = get().db;
    await insertIncidents(db, [
      { id: 'inc_burst', scope: { type: 'route', src: 'B1', dst: 'B2' }, started_at: at('09:00'), ended_at: at('10:00') },
      { id: 'inc_steady', kind: 'loss_spike', scope: { type: 'route', src: 'C1', dst: 'C2' }, started_at: at('09:00'), ended_at: at('10:00') },
      { id: 'inc_silent', kind: 'agent_silent', scope: { type: 'node', node: 'Q1' }, started_at: at('09:00') },
      { id: 'inc_engine', scope: { type: 'route', src: 'B1', dst: 'B2' }, started_at: at('09:00'), ended_at: at('09:30'), evidence: { pattern: 'steady' } },
    ]);
    await insertProbes(db, [
      // Two bursts of 3 windows in 90.
      ...probeSeries('B1', 'B2', at('09:00'), at('10:00'), 40, (_t, i) => ({ jitter_ms: (i >= 10 && i < 13) || (i >= 50 && i < 53) ? 70 : 5, loss_pct: 0 })),
      // Lossy in 80 of 90 windows.
      ...probeSeries('C1', 'C2', at('09:00'), at('10:00'), 40, (_t, i) => ({ jitter_ms: 3, loss_pct: i < 80 ? 9 : 0 })),
      // Outside the incident: ignored.
      ...probeSeries('B1', 'B2', at('10:30'), at('11:00'), 40, () => ({ jitter_ms: 99 })),
    ]);
    const burst = (await t.json('/issues/inc_burst')).body;
    expect(burst.pattern).toMatchObject({ type: 'burst', source: 'measured', windows: 90, bad_windows: 6, bursts: 2, longest_bad_run: 3 });
    const steady = (await t.json('/issues/inc_steady')).body;
    expect(steady.pattern).toMatchObject({ type: 'steady', windows: 90, bad_windows: 80, bursts: 1, longest_bad_run: 80 });
    const silent = (await t.json('/issues/inc_silent')).body;
    expect(silent.pattern).toMatchObject({ type: 'unknown', windows: 0, bad_fraction: null });
    expect(silent.routes).toEqual([]);
    expect(silent.timeline.map((e: any) => e.event)).toEqual(['opened']);
    const engine = (await t.json('/issues/inc_engine')).body;
    expect(engine.pattern).toMatchObject({ type: 'steady', source: 'engine' });
    expect(engine.timeline.map((e: any) => e.event)).toEqual(['opened', 'closed']);
  });

  test('only the last hours of a long incident are analysed', async () => {
    await insertIncident(get().db, { id: 'inc_long', started_at: at('00:00', '2026-02-20') });
    const { body } = await t.json('/issues/inc_long');
    expect(body.analysed).toEqual({ from: '2026-03-02T10:00:00.000Z', to: '2026-03-02T12:00:00.000Z' });
  });

  test('an unknown id is a 404 problem; a stray parameter a 400', async () => {
    const r = await t.json('/issues/inc_nope');
    expectProblem(r, 404);
    expect(r.body.detail).toContain('inc_nope');
    await insertIncident(get().db, { id: 'inc_x', started_at: at('10:00') });
    const q = await t.json('/issues/inc_x?verbose=1');
    expectProblem(q, 400);
    expect(named(q.body)).toEqual(['verbose']);
    const long = await t.json(`/issues/${'x'.repeat(201)}`);
    expectProblem(long, 400);
    expect(named(long.body)).toEqual(['id']);
  });
});

describeEachMode('GET /issues/by-object', (get) => {
  let t: TestApp;
  beforeEach(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW });
    await insertIncidents(get().db, [
      { id: 'inc_link', kind: 'rf_drop', scope: { type: 'link', a: 'L1', b: 'L2' }, started_at: at('08:00'), ended_at: at('09:00') },
      { id: 'inc_route', kind: 'jitter_burst', scope: { type: 'route', src: 'L0', dst: 'L3' }, hops: ['L0', 'L1', 'L2', 'L3'], started_at: at('09:00'), parent_id: 'inc_link' },
      { id: 'inc_back', kind: 'loss_spike', scope: { type: 'route', src: 'L3', dst: 'L0' }, started_at: at('10:00') },
      { id: 'inc_node', kind: 'node_overload', scope: { type: 'node', node: 'L2' }, started_at: at('11:00') },
    ]);
  });
  const ids = async (q: string) => {
    const r = await t.json(`/issues/by-object?${q}`);
    expect(r.status).toBe(200);
    return r.body.items.map((i: any) => i.id);
  };

  test('a link in either order, a node, a directed route; any status, children included', async () => {
    expect(await ids('link=L1--L2')).toEqual(['inc_route', 'inc_link']);
    expect(await ids('link=L2--L1')).toEqual(['inc_route', 'inc_link']);
    expect(await ids('node=L2')).toEqual(['inc_node', 'inc_route', 'inc_link']);
    expect(await ids('route=L0,L3')).toEqual(['inc_route']);
    expect(await ids('route=L3,L0')).toEqual(['inc_back']);
    expect(await ids('route=L3>L0')).toEqual(['inc_back']);
    expect(await ids('link=L1--L9')).toEqual([]);
    expect(await ids('link=L2,L1')).toEqual(['inc_route', 'inc_link']);
    const r = await t.json('/issues/by-object?link=L2--L1');
    expect(r.body.object).toEqual({ type: 'link', a: 'L1', b: 'L2', key: 'L1,L2' });
    expect((await t.json('/issues/by-object?route=L0,L3')).body.object).toEqual({ type: 'route', src: 'L0', dst: 'L3', key: 'L0>L3' });
    expect((await t.json('/issues/by-object?node=L2')).body.object).toEqual({ type: 'node', node: 'L2', key: 'L2' });
  });

  test('node names holding "--": A,B is exact; an old-style A--B--C is read the way the incidents hold it', async () => {
    await insertIncidents(get().db, [
      // the link B ↔ KX6--A, and a route over it
      { id: 'inc_dash', kind: 'rf_drop', scope: { type: 'link', a: 'B', b: 'KX6--A' }, started_at: at('08:30') },
      { id: 'inc_over', kind: 'loss_spike', scope: { type: 'route', src: 'C', dst: 'KX6--A' }, hops: ['C', 'B', 'KX6--A'], started_at: at('08:40') },
    ]);
    expect(await ids('link=B,KX6--A')).toEqual(['inc_over', 'inc_dash']);
    expect(await ids('link=KX6--A,B')).toEqual(['inc_over', 'inc_dash']);
    // B ↔ KX6--A or B--KX6 ↔ A: only the first is held
    expect(await ids('link=B--KX6--A')).toEqual(['inc_over', 'inc_dash']);
    expect((await t.json('/issues/by-object?link=B--KX6--A')).body.object).toEqual({ type: 'link', a: 'B', b: 'KX6--A', key: 'B,KX6--A' });
    expect(await ids('node=KX6--A')).toEqual(['inc_over', 'inc_dash']);
    expect(await ids('route=C,KX6--A')).toEqual(['inc_over']);
    // once both readings are held, the old form cannot tell: 400, and A,B still can
    await insertIncidents(get().db, [{ id: 'inc_other', kind: 'rf_drop', scope: { type: 'link', a: 'A', b: 'B--KX6' }, started_at: at('08:50') }]);
    const amb = await t.json('/issues/by-object?link=B--KX6--A');
    expectProblem(amb, 400);
    expect(named(amb.body)).toEqual(['link']);
    expect(amb.body.detail).toContain('A,B');
    expect(await ids('link=A,B--KX6')).toEqual(['inc_other']);
    expect(await ids('link=B,KX6--A')).toEqual(['inc_over', 'inc_dash']);
  });

  test('with the list filters and paging', async () => {
    expect(await ids('link=L1--L2&status=open')).toEqual(['inc_route']);
    expect(await ids('link=L1--L2&status=closed')).toEqual(['inc_link']);
    expect(await ids('link=L1--L2&roots=true')).toEqual(['inc_link']);
    expect(await ids('node=L2&kind=node_overload,rf_drop')).toEqual(['inc_node', 'inc_link']);
    const p1 = await t.json('/issues/by-object?node=L2&limit=2');
    expect(p1.body.items.map((i: any) => i.id)).toEqual(['inc_node', 'inc_route']);
    const p2 = await t.json(`/issues/by-object?node=L2&limit=2&cursor=${p1.body.next}`);
    expect(p2.body.items.map((i: any) => i.id)).toEqual(['inc_link']);
    expect(p2.body.next).toBeNull();
  });

  test('none, several or a malformed object is a 400 naming the parameters', async () => {
    const none = await t.json('/issues/by-object');
    expectProblem(none, 400);
    expect(named(none.body)).toEqual(['link', 'node', 'route']);
    const two = await t.json('/issues/by-object?link=L1--L2&node=L1');
    expectProblem(two, 400);
    expect(named(two.body)).toEqual(['link', 'node']);
    expect(two.body.detail).toContain('exactly one');
    for (const [q, p] of [
      ['link=L1-L2', 'link'],
      ['link=L1--L1', 'link'],
      ['link=L1,L1', 'link'],
      ['link=L1,L2,L3', 'link'],
      ['link=L1--L2--L3', 'link'],
      ['route=L1', 'route'],
      ['route=L1,L2,L3', 'route'],
      ['node=', 'node'],
      ['node=L1&status=any', 'status'],
      ['node=L1&nodes=L2', 'nodes'],
    ] as const) {
      const r = await t.json(`/issues/by-object?${q}`);
      expectProblem(r, 400);
      expect({ q, named: named(r.body) }).toEqual({ q, named: [p] });
    }
  });
});

describe('incident fixtures', () => {
  test('ids sort in creation order', () => {
    const a = nextId();
    const b = nextId();
    expect(a < b).toBe(true);
  });
});
