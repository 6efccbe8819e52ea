// The operator's write API through HTTP, in every database mode: acknowledge,
// notes, maintenance windows, OPERATOR_TOKEN, and the audit of every write.
import { beforeEach, describe, expect, test } from 'bun:test';
import { IncidentListCache } from '../../src/api/list-cache.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncident, insertIncidents } from '../support/incident-fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const at = (hhmm: string) => `2026-03-02T${hhmm}:00Z`;
const OPERATOR_TOKEN = 'operator-token-0123456789';
const API_TOKEN = 'api-token-0123456789abcdef';
const op = { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } };

function expectProblem(r: { status: number; body: any; res: Response }, status: number) {
  expect({ status: r.status, type: r.res.headers.get('content-type') }).toEqual({ status, type: 'application/problem+json' });
  return r.body;
}

const del = (t: TestApp, path: string, init: RequestInit = op) => t.json(path, { ...init, method: 'DELETE' });

describeEachMode('operator writes', (get) => {
  beforeEach(() => get().truncate());

  describe('tokens', () => {
    test('without OPERATOR_TOKEN every write is a 403 that says how to enable it; reads still work', async () => {
      const t = testApp(get(), { now: NOW });
      await insertIncident(get().db, { id: 'inc_w1', started_at: at('10:00') });
      const writes = [
        () => t.post('/issues/inc_w1/ack', { by: 'KX6ABC' }),
        () => t.post('/issues/inc_w1/notes', { by: 'KX6ABC', note: 'hello' }),
        () => t.post('/maintenance', { by: 'KX6ABC', scope: { type: 'mesh' }, ends_at: at('13:00'), reason: 'x' }),
        () => t.post('/maintenance/mw_x/end', { by: 'KX6ABC' }),
        () => del(t, '/maintenance/mw_x?by=KX6ABC', {}),
        // A token sent anyway changes nothing: there is none to match.
        () => t.post('/issues/inc_w1/ack', { by: 'KX6ABC' }, op),
      ];
      for (const w of writes) {
        const body = expectProblem(await w(), 403);
        expect(body.title).toBe('Forbidden');
        expect(body.detail).toContain('OPERATOR_TOKEN');
      }
      expect((await t.json('/maintenance')).status).toBe(200);
      expect((await t.json('/issues')).body.items[0].acknowledged).toBeNull();
      // Nothing was written, so nothing was audited.
      expect((await t.json('/audit')).body.items).toEqual([]);
    });

    test('with OPERATOR_TOKEN: missing or wrong token (API_TOKEN included) is a 401; the read token does not open writes', async () => {
      const t = testApp(get(), { now: NOW, env: { OPERATOR_TOKEN, API_TOKEN } });
      await insertIncident(get().db, { id: 'inc_w2', started_at: at('10:00') });
      for (const init of [{}, { headers: { Authorization: `Bearer ${API_TOKEN}` } }, { headers: { Authorization: 'Bearer wrong-token-0123456789' } }]) {
        const r = await t.post('/issues/inc_w2/ack', { by: 'KX6ABC' }, init);
        expectProblem(r, 401);
        expect(r.res.headers.get('www-authenticate')).toBe('Bearer realm="meshmon"');
      }
      expect((await t.post('/issues/inc_w2/ack', { by: 'KX6ABC' }, op)).status).toBe(200);
      // Reads keep needing API_TOKEN, and the operator token is not a read token.
      expect((await t.json('/issues/inc_w2', op)).status).toBe(401);
      const read = await t.json('/issues/inc_w2', { headers: { Authorization: `Bearer ${API_TOKEN}` } });
      expect(read.body.acknowledged).toMatchObject({ by: 'KX6ABC' });
    });
  });

  describe('acknowledge and notes', () => {
    let t: TestApp;
    beforeEach(() => {
      t = testApp(get(), { now: NOW, env: { OPERATOR_TOKEN } });
    });

    test('an acknowledged incident stays open and counted, and shows who, when and the note in the list, the detail and the timeline', async () => {
      await insertIncidents(get().db, [
        { id: 'inc_a1', started_at: at('10:00'), severity: 'critical' },
        { id: 'inc_a2', started_at: at('10:05'), severity: 'minor' },
      ]);
      t.setNow(at('11:00'));
      const ack = await t.post('/issues/inc_a1/ack', { by: ' KX6ABC ', note: 'driving to the site' }, op);
      expect(ack.status).toBe(200);
      expect(ack.body).toEqual({ incident_id: 'inc_a1', acknowledged: { by: 'KX6ABC', at: '2026-03-02T11:00:00.000Z', note: 'driving to the site' } });

      t.setNow(NOW);
      const list = (await t.json('/issues')).body.items;
      expect(list.map((i: any) => [i.id, i.status, i.acknowledged?.by ?? null])).toEqual([['inc_a2', 'open', null], ['inc_a1', 'open', 'KX6ABC']]);
      expect(list[1].acknowledged).toEqual({ by: 'KX6ABC', at: '2026-03-02T11:00:00.000Z', note: 'driving to the site' });
      expect(list.every((i: any) => i.maintenance === null)).toBe(true);

      const summary = (await t.json('/summary')).body;
      expect(summary.health).toBe('red');
      expect(summary.open).toMatchObject({ total: 2, acknowledged: 1, maintenance: 0, by_severity: { critical: 1, minor: 1 } });

      const detail = (await t.json('/issues/inc_a1')).body;
      expect(detail.acknowledged).toEqual(list[1].acknowledged);
      expect(detail.timeline.map((e: any) => e.event)).toEqual(['opened', 'acknowledged']);
      expect(detail.timeline[1]).toEqual({ at: '2026-03-02T11:00:00.000Z', event: 'acknowledged', detail: { by: 'KX6ABC', note: 'driving to the site' } });
    });

    test('notes go into the timeline, on open and closed incidents; a second acknowledgement takes over; a closed incident cannot be acknowledged', async () => {
      await insertIncidents(get().db, [
        { id: 'inc_n1', started_at: at('10:00') },
        { id: 'inc_n2', started_at: at('08:00'), ended_at: at('09:00') },
      ]);
      t.setNow(at('11:00'));
      expect((await t.post('/issues/inc_n1/ack', { by: 'KX6ABC' }, op)).status).toBe(200);
      t.setNow(at('11:10'));
      const note = await t.post('/issues/inc_n1/notes', { by: 'KJ6XYZ', note: 'antenna realigned' }, op);
      expect(note.status).toBe(201);
      expect(note.body).toEqual({ incident_id: 'inc_n1', note: { by: 'KJ6XYZ', at: '2026-03-02T11:10:00.000Z', note: 'antenna realigned' } });
      t.setNow(at('11:20'));
      expect((await t.post('/issues/inc_n1/ack', { by: 'KJ6XYZ', note: 'taking over' }, op)).status).toBe(200);

      const detail = (await t.json('/issues/inc_n1')).body;
      expect(detail.acknowledged).toEqual({ by: 'KJ6XYZ', at: '2026-03-02T11:20:00.000Z', note: 'taking over' });
      expect(detail.timeline.slice(1)).toEqual([
        { at: '2026-03-02T11:00:00.000Z', event: 'acknowledged', detail: { by: 'KX6ABC', note: null } },
        { at: '2026-03-02T11:10:00.000Z', event: 'note', detail: { by: 'KJ6XYZ', note: 'antenna realigned' } },
        { at: '2026-03-02T11:20:00.000Z', event: 'acknowledged', detail: { by: 'KJ6XYZ', note: 'taking over' } },
      ]);

      expect(expectProblem(await t.post('/issues/inc_n2/ack', { by: 'KX6ABC' }, op), 409).detail).toContain('ended');
      expect((await t.post('/issues/inc_n2/notes', { by: 'KX6ABC', note: 'post-mortem: power cut' }, op)).status).toBe(201);
      expect((await t.json('/issues/inc_n2')).body.timeline.map((e: any) => e.event)).toEqual(['opened', 'closed', 'note']);
      expect((await t.json('/issues/inc_n2')).body.acknowledged).toBeNull();
    });

    test('bad requests: unknown incident 404, a body without who or with unknown fields 422, malformed JSON 400', async () => {
      await insertIncident(get().db, { id: 'inc_b1', started_at: at('10:00') });
      expectProblem(await t.post('/issues/inc_nope/ack', { by: 'KX6ABC' }, op), 404);
      expectProblem(await t.post('/issues/inc_nope/notes', { by: 'KX6ABC', note: 'x' }, op), 404);
      for (const body of [{}, { by: '' }, { by: 'KX6ABC', extra: 1 }, { by: 'KX6ABC', note: '' }]) {
        const p = expectProblem(await t.post('/issues/inc_b1/ack', body, op), 422);
        expect(p.errors.length).toBeGreaterThan(0);
      }
      expectProblem(await t.post('/issues/inc_b1/notes', { by: 'KX6ABC' }, op), 422);
      expectProblem(await t.post('/issues/inc_b1/ack', '{"by":', op), 400);
      expect((await t.json('/issues/inc_b1')).body.timeline.map((e: any) => e.event)).toEqual(['opened']);
    });

    test('every write is in the audit log: who (the request’s by and the token’s identity), when, what', async () => {
      await insertIncident(get().db, { id: 'inc_au', started_at: at('10:00') });
      t.setNow(at('11:00'));
      await t.post('/issues/inc_au/ack', { by: 'KX6ABC', note: 'on it' }, { headers: { ...op.headers, 'X-Request-Id': 'req-ack-1' } });
      t.setNow(at('11:05'));
      await t.post('/issues/inc_au/notes', { by: 'KX6ABC', note: 'fixed' }, op);
      t.setNow(at('11:10'));
      const w = (await t.post('/maintenance', { by: 'KJ6XYZ', scope: { type: 'node', node: 'N1' }, starts_at: at('13:00'), ends_at: at('14:00'), reason: 'tower work' }, op)).body;
      t.setNow(at('11:15'));
      expect((await del(t, `/maintenance/${w.id}?by=KJ6XYZ`)).status).toBe(204);
      // A refused write is not a write.
      await t.post('/issues/inc_au/ack', { by: 'KX6ABC' }, { headers: { Authorization: 'Bearer wrong-token-0123456789' } });

      const log = (await t.json('/audit')).body;
      expect(log.next).toBeNull();
      expect(log.items.map((e: any) => [e.at, e.actor, e.by, e.action, e.target])).toEqual([
        ['2026-03-02T11:15:00.000Z', 'operator', 'KJ6XYZ', 'maintenance.delete', w.id],
        ['2026-03-02T11:10:00.000Z', 'operator', 'KJ6XYZ', 'maintenance.create', w.id],
        ['2026-03-02T11:05:00.000Z', 'operator', 'KX6ABC', 'incident.note', 'inc_au'],
        ['2026-03-02T11:00:00.000Z', 'operator', 'KX6ABC', 'incident.acknowledge', 'inc_au'],
      ]);
      expect(log.items[3]).toMatchObject({ detail: { note: 'on it' }, request_id: 'req-ack-1' });
      expect(log.items[0].detail).toMatchObject({ scope: { type: 'node', node: 'N1' }, reason: 'tower work', created_by: 'KJ6XYZ' });
      const page = (await t.json('/audit?limit=3')).body;
      expect(page.items).toHaveLength(3);
      expect((await t.json(`/audit?before=${page.next}`)).body.items.map((e: any) => e.action)).toEqual(['incident.acknowledge']);
    });
  });

  describe('maintenance windows', () => {
    let t: TestApp;
    beforeEach(() => {
      t = testApp(get(), { now: NOW, env: { OPERATOR_TOKEN } });
    });
    const create = (body: Record<string, unknown>) => t.post('/maintenance', { by: 'KX6ABC', reason: 'planned work', ...body }, op);

    test('a window that starts while an incident is open covers it from its start: marked, not colouring the health, in the history; ending it early uncovers it', async () => {
      await insertIncidents(get().db, [
        { id: 'inc_m1', kind: 'rf_drop', scope: { type: 'link', a: 'N1', b: 'N2' }, started_at: at('10:00'), severity: 'critical' },
        { id: 'inc_m2', scope: { type: 'route', src: 'N5', dst: 'N6' }, started_at: at('10:30'), severity: 'minor' },
      ]);
      // Scheduled for 12:30, made at 12:00 while both incidents are open.
      const made = await create({ scope: { type: 'node', node: 'N2' }, starts_at: at('12:30'), ends_at: at('14:00'), reason: 'replacing the dish' });
      expect(made.status).toBe(201);
      const id: string = made.body.id;
      expect(id).toMatch(/^mw_[0-9a-f]{20}$/);
      expect(made.res.headers.get('location')).toBe(`/maintenance/${id}`);
      expect(made.body).toMatchObject({
        scope: { type: 'node', node: 'N2' }, status: 'scheduled',
        starts_at: '2026-03-02T12:30:00.000Z', ends_at: '2026-03-02T14:00:00.000Z', planned_ends_at: '2026-03-02T14:00:00.000Z',
        reason: 'replacing the dish', created_by: 'KX6ABC', created_at: '2026-03-02T12:00:00.000Z', ended_early: null,
      });

      // Before its start it covers nothing.
      expect((await t.json('/issues/inc_m1')).body.maintenance).toBeNull();
      expect((await t.json('/summary')).body.health).toBe('red');

      // The window starts: the incident already open is covered from then on.
      t.setNow(at('12:45'));
      const list = (await t.json('/issues')).body.items;
      const m1 = list.find((i: any) => i.id === 'inc_m1');
      expect(m1.maintenance).toEqual({ window_id: id, reason: 'replacing the dish', ends_at: '2026-03-02T14:00:00.000Z' });
      expect(m1.status).toBe('open');
      expect(list.find((i: any) => i.id === 'inc_m2').maintenance).toBeNull();
      const summary = (await t.json('/summary')).body;
      expect(summary.health).toBe('yellow');
      expect(summary.open).toMatchObject({ total: 2, maintenance: 1, by_severity: { critical: 1, minor: 1 } });
      expect((await t.json('/issues/by-object?link=N1--N2')).body.items[0].maintenance?.window_id).toBe(id);

      const window = (await t.json(`/maintenance/${id}`)).body;
      expect(window.status).toBe('active');
      expect(window.covered).toEqual([
        { id: 'inc_m1', kind: 'rf_drop', title: 'RF drop on link N1 ↔ N2', severity: 'critical', status: 'open', from: '2026-03-02T12:30:00.000Z', until: null },
      ]);
      expect((await t.json('/maintenance?status=active')).body.items.map((w: any) => w.id)).toEqual([id]);
      expect((await t.json('/maintenance?status=scheduled')).body.items).toEqual([]);

      // Ended early at 13:00: uncovered, and the history keeps the coverage.
      t.setNow(at('13:00'));
      const ended = await t.post(`/maintenance/${id}/end`, { by: 'KJ6XYZ' }, op);
      expect(ended.status).toBe(200);
      expect(ended.body).toMatchObject({ status: 'ended', ends_at: '2026-03-02T13:00:00.000Z', planned_ends_at: '2026-03-02T14:00:00.000Z', ended_early: { by: 'KJ6XYZ', at: '2026-03-02T13:00:00.000Z' } });
      t.setNow(at('13:10'));
      expect((await t.json('/issues/inc_m1')).body.maintenance).toBeNull();
      expect((await t.json('/summary')).body.health).toBe('red');
      const detail = (await t.json('/issues/inc_m1')).body;
      expect(detail.timeline).toEqual([
        { at: '2026-03-02T10:00:00.000Z', event: 'opened', detail: { severity: 'critical' } },
        { at: '2026-03-02T12:30:00.000Z', event: 'maintenance_started', detail: { window_id: id, reason: 'replacing the dish', by: 'KX6ABC', scope: { type: 'node', node: 'N2' } } },
        { at: '2026-03-02T13:00:00.000Z', event: 'maintenance_ended', detail: { window_id: id, ended_early_by: 'KJ6XYZ' } },
      ]);
      expect((await t.json(`/maintenance/${id}`)).body.covered[0]).toMatchObject({ id: 'inc_m1', from: '2026-03-02T12:30:00.000Z', until: '2026-03-02T13:00:00.000Z' });
      expect((await t.json('/maintenance?status=ended')).body.items.map((w: any) => w.id)).toEqual([id]);
      // Ended is ended; a started window is history and cannot be deleted.
      expectProblem(await t.post(`/maintenance/${id}/end`, { by: 'KJ6XYZ' }, op), 409);
      expect(expectProblem(await del(t, `/maintenance/${id}?by=KJ6XYZ`), 409).detail).toContain('end it early');
    });

    test('what a window covers: a node its links and routes through it, a link its routes, a route only itself, the mesh everything; children follow a covered parent', async () => {
      await insertIncidents(get().db, [
        { id: 'inc_c_node', kind: 'node_overload', scope: { type: 'node', node: 'N2' }, started_at: at('10:00') },
        { id: 'inc_c_link', kind: 'rf_drop', scope: { type: 'link', a: 'N2', b: 'N3' }, started_at: at('10:01') },
        { id: 'inc_c_through', scope: { type: 'route', src: 'N1', dst: 'N3' }, hops: ['N1', 'N2', 'N3'], started_at: at('10:02') },
        { id: 'inc_c_other', scope: { type: 'route', src: 'N4', dst: 'N5' }, hops: ['N4', 'N5'], started_at: at('10:03') },
        { id: 'inc_c_silent', kind: 'agent_silent', scope: { type: 'node', node: 'N9' }, started_at: at('10:04'), parent_id: 'inc_c_link' },
        { id: 'inc_c_all', kind: 'agent_silent', scope: { type: 'node', node: '*' }, started_at: at('10:05') },
      ]);
      const covered = async () => {
        const items = (await t.json('/issues?roots=false')).body.items;
        return items.filter((i: any) => i.maintenance).map((i: any) => i.id).sort();
      };
      const windowFor = async (scope: Record<string, unknown>) => {
        const r = await create({ scope, starts_at: at('11:00'), ends_at: at('13:00') });
        expect(r.status).toBe(201);
        const ids = await covered();
        t.setNow(at('11:30'));
        expect((await t.post(`/maintenance/${r.body.id}/end`, { by: 'KX6ABC' }, op)).status).toBe(200);
        t.setNow(NOW);
        return ids;
      };
      expect(await windowFor({ type: 'node', node: 'N2' })).toEqual(['inc_c_link', 'inc_c_node', 'inc_c_silent', 'inc_c_through']);
      expect(await windowFor({ type: 'link', a: 'N3', b: 'N2' })).toEqual(['inc_c_link', 'inc_c_silent', 'inc_c_through']);
      expect(await windowFor({ type: 'route', src: 'N1', dst: 'N3' })).toEqual(['inc_c_through']);
      expect(await windowFor({ type: 'route', src: 'N3', dst: 'N1' })).toEqual([]);
      expect(await windowFor({ type: 'mesh' })).toHaveLength(6);
    });

    test('validation, delete of a scheduled window, and the list', async () => {
      for (const [body, path] of [
        [{ scope: { type: 'node', node: 'N1' }, starts_at: at('13:00'), ends_at: at('12:30') }, 'ends_at'],
        [{ scope: { type: 'node', node: 'N1' }, starts_at: at('10:00'), ends_at: at('11:00') }, 'ends_at'],
        [{ scope: { type: 'node', node: 'N1' }, ends_at: '2026-05-01T00:00:00Z' }, 'ends_at'],
        [{ scope: { type: 'link', a: 'N1', b: 'N1' }, ends_at: at('13:00') }, 'scope.b'],
        [{ scope: { type: 'planet' }, ends_at: at('13:00') }, 'scope.type'],
        [{ scope: { type: 'node', node: 'bad name!' }, ends_at: at('13:00') }, 'scope.node'],
        [{ scope: { type: 'mesh' }, ends_at: '13:00' }, 'ends_at'],
        [{ scope: { type: 'mesh' }, ends_at: at('13:00'), reason: '' }, 'reason'],
      ] as const) {
        const p = expectProblem(await create(body), 422);
        expect({ body, paths: p.errors.map((e: any) => e.path) }).toEqual({ body, paths: expect.arrayContaining([path]) });
      }
      const later = (await create({ scope: { type: 'route', src: 'N1', dst: 'N2' }, starts_at: at('15:00'), ends_at: at('16:00') })).body;
      const now = (await create({ scope: { type: 'link', a: 'N2', b: 'N1' }, ends_at: at('13:00') })).body;
      expect(now).toMatchObject({ status: 'active', starts_at: '2026-03-02T12:00:00.000Z', scope: { type: 'link', a: 'N1', b: 'N2' } });
      expect((await t.json('/maintenance')).body.items.map((w: any) => w.id)).toEqual([later.id, now.id]);
      expect((await t.json('/maintenance?status=current&limit=1')).body).toMatchObject({ items: [{ id: later.id }], next: expect.any(String) });
      expectProblem(await t.post(`/maintenance/${later.id}/end`, { by: 'KX6ABC' }, op), 409);
      expectProblem(await del(t, `/maintenance/${later.id}`), 400);
      expect((await del(t, `/maintenance/${later.id}?by=KX6ABC`)).status).toBe(204);
      expectProblem(await del(t, `/maintenance/${later.id}?by=KX6ABC`), 404);
      expectProblem(await t.json(`/maintenance/${later.id}`), 404);
      expect((await t.json('/maintenance')).body.items.map((w: any) => w.id)).toEqual([now.id]);
      expectProblem(await t.json('/maintenance?status=soon'), 400);
    });

    test('a cached /issues answer expires when a window starts, without any table change', async () => {
      const cache = new IncidentListCache();
      cache.setListening(true);
      const c = testApp(get(), { now: NOW, env: { OPERATOR_TOKEN }, listCache: cache });
      await insertIncident(get().db, { id: 'inc_k1', scope: { type: 'node', node: 'N7' }, kind: 'node_overload', started_at: at('10:00') });
      expect((await c.post('/maintenance', { by: 'KX6ABC', scope: { type: 'node', node: 'N7' }, starts_at: at('12:30'), ends_at: at('13:00'), reason: 'r' }, op)).status).toBe(201);
      const first = await c.json('/issues');
      expect(first.res.headers.get('x-cache')).toBe('miss');
      expect(first.body.items[0].maintenance).toBeNull();
      expect((await c.json('/issues')).res.headers.get('x-cache')).toBe('hit');
      c.setNow(at('12:30'));
      const started = await c.json('/issues');
      expect(started.res.headers.get('x-cache')).toBe('miss');
      expect(started.body.items[0].maintenance).toMatchObject({ reason: 'r' });
      c.setNow(at('13:00'));
      expect((await c.json('/issues')).body.items[0].maintenance).toBeNull();
    });
  });
});
