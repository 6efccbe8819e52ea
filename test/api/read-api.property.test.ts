// Whatever a panel, a script or a scanner puts in a read URL, the answer is a
// 200, or a 400/404 problem that names what was wrong — never a 500 — and the
// same request answers the same way again (no state left behind by a bad one).
import { beforeAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { encodeCursor } from '../../src/api/cursor.ts';
import { PROBLEM_CONTENT_TYPE } from '../../src/http/problem.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncident } from '../support/incident-fixtures.ts';

const RUNS = Number(process.env.MESHMON_PROPERTY_RUNS ?? 60);

const PARAMS = ['status', 'since', 'until', 'kind', 'severity', 'node', 'link', 'route', 'roots', 'limit', 'cursor', 'step', '_', 'Status', 'limit[]', ''];

/**
 * Cursors anyone can forge (they are base64 JSON): well-formed, but the time
 * is impossible or the id is not an id. Each must be a 400, never reach the
 * database.
 */
const FORGED_CURSORS = [
  ['2026-13-01T00:00:00.000000Z', 'inc_a'], ['2026-02-30T00:00:00.000000Z', 'inc_a'], ['2025-02-29T00:00:00.000000Z', 'inc_a'],
  ['0000-01-01T00:00:00.000000Z', 'inc_a'], ['2026-01-01T24:00:00.000000Z', 'inc_a'], ['2026-01-01T23:59:60.000000Z', 'inc_a'],
  ['2026-00-10T00:00:00.000000Z', 'inc_a'], ['2026-04-31T12:00:00.000000Z', 'inc_a'], ['2026-03-02T10:00:00.000000Z', 'inc_\u0000'],
  ['2026-03-02T10:00:00.000000Z', '\u0000'], ['2026-03-02T10:00:00.000000Z', 'a\ud800'], ['2026-03-02T10:00:00.000000Z', 'x'.repeat(201)],
].map(([t, i]) => encodeCursor({ startedAt: t!, id: i! }));

const value = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
  fc.constantFrom(
    'open', 'closed', 'all', 'true', 'false', '0', '1', '500', '501', '-1', '1e3', '0x10', ' 5', 'NaN', 'Infinity',
    'jitter_burst,loss_spike', 'critical,', ',', 'minor,minor', 'A--B', 'A--', '--B', 'A,B', 'A,', 'A>B', 'node-A',
    '2026-03-02T12:00:00Z', '2026-03-02T12:00:00', '2026-03-02', '+275760-09-13T00:00:00Z', '2026-02-30T00:00:00Z',
    '5m', '0s', '1d', '9999999d', 'eyJ0Ijoi', 'bm90IGpzb24', 'eyJ0IjoiMjAyNi0wMy0wMlQxMDowMDowMFoiLCJpIjoiaW5jX2EifQ',
    'a'.repeat(3000), '%', '%zz', '%00', '\u0000', 'x\ud800y', '💥', "'; DROP TABLE incidents; --",
    'node\u0000', 'A--B\u0000', 'A,B\u0000', '2026-13-01T00:00:00Z', '0000-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00',
  ),
  fc.constantFrom(...FORGED_CURSORS),
);

/** Percent-encodes every byte of the UTF-8 text (a lone surrogate becomes U+FFFD, as a browser sends it). */
const enc = (s: string) => Array.from(new TextEncoder().encode(s), (b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** Escapes no encoder makes but a hand-typed or hostile URL may hold: sent as they are. */
const rawEscape = fc.constantFrom('%', '%zz', '%ED%A0%80', '%C0%AF', '%FF', '+', '%2B', '&&', '==', '%3D%26');

const query = fc
  .array(fc.tuple(fc.constantFrom(...PARAMS), fc.oneof({ weight: 6, arbitrary: value.map(enc) }, { weight: 1, arbitrary: rawEscape })), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${enc(k)}=${v}`).join('&'));

const segment = fc.oneof(
  fc.constantFrom('inc_a', 'inc_b', 'inc_missing', 'node-A', 'node-B', 'by-object', '', '..', '%2F', '%', 'a'.repeat(500), '%00', 'inc_a%00', '%00inc_a', 'node-A%00', '%C0%80', '%01', '%7F'),
  fc.string({ maxLength: 20 }).map(enc),
  rawEscape,
);

const url = fc.oneof(
  fc.tuple(fc.constantFrom('/issues', '/issues/by-object', '/summary', '/registry', '/maintenance', '/topology', '/audit'), query).map(([p, q]) => (q ? `${p}?${q}` : p)),
  fc.tuple(segment, query).map(([id, q]) => `/issues/${id}${q ? `?${q}` : ''}`),
  fc.tuple(segment, query).map(([id, q]) => `/maintenance/${id}${q ? `?${q}` : ''}`),
  fc.tuple(segment, segment, query).map(([s, d, q]) => `/paths/${s}/${d}/series${q ? `?${q}` : ''}`),
);

describeEachMode(
  'read API property',
  (get) => {
    let t: TestApp;
    beforeAll(async () => {
      await get().truncate();
      t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z' });
      await insertIncident(get().db, { id: 'inc_b', started_at: '2026-03-02T11:00:00Z', ended_at: '2026-03-02T11:30:00Z' });
    });

    test('any URL gets a 200 or a 4xx problem, never a 500, and the same answer twice', async () => {
      await fc.assert(
        fc.asyncProperty(url, async (u) => {
          const first = await t.json(u);
          expect([200, 400, 404]).toContain(first.status);
          // Dot segments can take a URL out of the API (`/issues/..` is `/`): the panel's pages answer in HTML.
          const panelPage = /^\/(mesh|nodes|login|incidents\/[^/]+)?$/.test(new URL(u, 'http://collector').pathname);
          if (panelPage) {
            expect(first.res.headers.get('content-type')).toStartWith('text/html');
          } else if (first.status === 200) {
            expect(first.res.headers.get('content-type')).toStartWith('application/json');
          } else {
            expect(first.res.headers.get('content-type')).toStartWith(PROBLEM_CONTENT_TYPE);
            expect(first.body).toMatchObject({ status: first.status, title: expect.any(String), detail: expect.any(String) });
            if (first.status === 400 && first.body.errors) {
              for (const e of first.body.errors) expect(e.path).toEqual(expect.any(String));
            }
          }
          const again = await t.json(u);
          expect(again.status).toBe(first.status);
          if (first.status === 200 && !panelPage) expect(again.body).toEqual(first.body);
        }),
        { numRuns: RUNS * 4 },
      );
    });
  },
  ['apache', 'none'],
);

describeEachMode(
  'read API: hostile ids and cursors',
  (get) => {
    test('a NUL or a control character in an id or a name, and a forged cursor, are a 400 naming the parameter', async () => {
      await get().truncate();
      const t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
      const cases: Array<[string, string]> = [
        ['/issues/%00', 'id'], ['/issues/inc_a%00', 'id'], ['/issues/%01', 'id'], ['/issues/a%7Fb', 'id'], ['/issues/%C0%80', 'id'],
        ['/issues/by-object?node=%00', 'node'], ['/issues/by-object?node=A%00', 'node'], ['/issues/by-object?link=A--B%00', 'link'],
        ['/issues/by-object?route=A,B%00', 'route'], ['/issues?node=%00', 'node'], ['/paths/A%00/B/series', 'src'], ['/paths/A/%00/series', 'dst'],
        ['/issues?since=0000-01-01T00:00:00Z', 'since'], ['/issues?until=2026-13-01T00:00:00Z', 'until'], ['/issues?since=2026-02-30T00:00:00Z', 'since'],
        ['/paths/A/B/series?since=0001-01-01T00:00:00%2B01:00', 'since'], ['/maintenance/%00', 'id'], ['/maintenance/mw_a%00', 'id'],
        ['/maintenance?cursor=' + FORGED_CURSORS[0], 'cursor'],
        ...FORGED_CURSORS.flatMap((c) => [[`/issues?cursor=${c}`, 'cursor'], [`/issues/by-object?node=A&cursor=${c}`, 'cursor']] as Array<[string, string]>),
      ];
      for (const [u, param] of cases) {
        const r = await t.json(u);
        expect({ u, status: r.status }).toEqual({ u, status: 400 });
        expect(r.res.headers.get('content-type')).toStartWith(PROBLEM_CONTENT_TYPE);
        expect({ u, paths: r.body.errors.map((e: { path: string }) => e.path) }).toEqual({ u, paths: [param] });
      }
    });
  },
  ['apache', 'none'],
);

describeEachMode(
  'writes: text the database cannot store',
  (get) => {
    test('a NUL or another control character in who, a note or a reason is a 4xx naming the field, never a 500', async () => {
      await get().truncate();
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z' });
      const token = 'operator-token-0123456789';
      const t = testApp(get(), { now: '2026-03-02T12:00:00Z', env: { OPERATOR_TOKEN: token } });
      const auth = { Authorization: `Bearer ${token}` };
      const window = { by: 'KX6ABC', scope: { type: 'mesh' }, ends_at: '2026-03-02T13:00:00Z', reason: 'antenna work' };
      const cases: Array<[string, string, unknown, string]> = [
        ['POST', '/issues/inc_a/ack', { by: 'KX6\u0000ABC' }, 'by'],
        ['POST', '/issues/inc_a/ack', { by: 'KX6ABC', note: 'on it\u0000' }, 'note'],
        ['POST', '/issues/inc_a/notes', { by: 'KX6ABC', note: '\u0007bell' }, 'note'],
        ['POST', '/maintenance', { ...window, reason: 'antenna\u0000work' }, 'reason'],
        ['POST', '/maintenance', { ...window, by: '\u0000' }, 'by'],
        ['DELETE', '/maintenance/mw_x?by=a%00', undefined, 'by'],
      ];
      for (const [method, u, body, field] of cases) {
        const r = await t.json(u, { method, headers: { 'Content-Type': 'application/json', ...auth }, ...(body ? { body: JSON.stringify(body) } : {}) });
        expect({ u, field, status: r.status }).toEqual({ u, field, status: method === 'DELETE' ? 400 : 422 });
        expect(r.body.errors.map((e: { path: string }) => e.path)).toEqual([field]);
      }
      // Tab and line breaks are text.
      expect((await t.post('/issues/inc_a/notes', { by: 'KX6ABC', note: 'line one\nline two\tand a tab' }, { headers: auth })).status).toBe(201);
    });
  },
  ['apache', 'none'],
);

test('the URL generator reaches every route, with and without parameters', () => {
  // A guard on the generator itself: a property that only ever produced 404s would prove nothing.
  const samples = fc.sample(url, { numRuns: 400, seed: 7 });
  for (const p of ['/issues?', '/issues/by-object', '/summary', '/registry', '/paths/']) expect(samples.some((s) => s.startsWith(p))).toBe(true);
  expect(samples.some((s) => s === '/issues' || s === '/summary' || s === '/registry')).toBe(true);
});
