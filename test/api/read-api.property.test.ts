// Whatever a panel, a script or a scanner puts in a read URL, the answer is a
// 200, or a 400/404 problem that names what was wrong — never a 500 — and the
// same request answers the same way again (no state left behind by a bad one).
import { beforeAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { PROBLEM_CONTENT_TYPE } from '../../src/http/problem.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncident } from '../support/incident-fixtures.ts';

const RUNS = Number(process.env.MESHMON_PROPERTY_RUNS ?? 60);

const PARAMS = ['status', 'since', 'until', 'kind', 'severity', 'node', 'link', 'route', 'roots', 'limit', 'cursor', 'step', '_', 'Status', 'limit[]', ''];

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
  ),
);

/** Percent-encodes every byte of the UTF-8 text (a lone surrogate becomes U+FFFD, as a browser sends it). */
const enc = (s: string) => Array.from(new TextEncoder().encode(s), (b) => `%${b.toString(16).padStart(2, '0')}`).join('');

/** Escapes no encoder makes but a hand-typed or hostile URL may hold: sent as they are. */
const rawEscape = fc.constantFrom('%', '%zz', '%ED%A0%80', '%C0%AF', '%FF', '+', '%2B', '&&', '==', '%3D%26');

const query = fc
  .array(fc.tuple(fc.constantFrom(...PARAMS), fc.oneof({ weight: 6, arbitrary: value.map(enc) }, { weight: 1, arbitrary: rawEscape })), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${enc(k)}=${v}`).join('&'));

const segment = fc.oneof(
  fc.constantFrom('inc_a', 'inc_b', 'inc_missing', 'node-A', 'node-B', 'by-object', '', '..', '%2F', '%', 'a'.repeat(500)),
  fc.string({ maxLength: 20 }).map(enc),
  rawEscape,
);

const url = fc.oneof(
  fc.tuple(fc.constantFrom('/issues', '/issues/by-object', '/summary', '/registry'), query).map(([p, q]) => (q ? `${p}?${q}` : p)),
  fc.tuple(segment, query).map(([id, q]) => `/issues/${id}${q ? `?${q}` : ''}`),
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

test('the URL generator reaches every route, with and without parameters', () => {
  // A guard on the generator itself: a property that only ever produced 404s would prove nothing.
  const samples = fc.sample(url, { numRuns: 400, seed: 7 });
  for (const p of ['/issues?', '/issues/by-object', '/summary', '/registry', '/paths/']) expect(samples.some((s) => s.startsWith(p))).toBe(true);
  expect(samples.some((s) => s === '/issues' || s === '/summary' || s === '/registry')).toBe(true);
});
