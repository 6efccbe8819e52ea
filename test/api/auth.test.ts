import { beforeAll, describe, expect, test } from 'bun:test';
import { createLogger } from '../../src/log.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { example } from '../support/fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const API_TOKEN = 'api-token-0123456789abcdef';
const INGEST_TOKEN = 'ingest-token-fedcba9876543210';
const PANEL = 'https://openwisp.example.org';

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });
const message = async () => ({ ...(await example('path_result')), sent_at: '2026-03-02T11:59:00Z' });

// Auth and CORS sit in front of every route and do not depend on the database mode.
describeEachMode(
  'bearer tokens and CORS',
  (get) => {
    beforeAll(() => get().truncate());

    describe('with no token configured (the default)', () => {
      test('reads and ingest are open, so the agents’ contract is unchanged', async () => {
        const t = testApp(get(), { now: NOW });
        expect((await t.json('/issues')).status).toBe(200);
        expect((await t.json('/summary')).status).toBe(200);
        expect((await t.post('/ingest', await message())).status).toBe(200);
        // A token sent anyway is ignored.
        expect((await t.json('/issues', bearer('whatever-token-value'))).status).toBe(200);
      });
    });

    describe('with API_TOKEN and INGEST_TOKEN', () => {
      const lines: string[] = [];
      let t: TestApp;
      beforeAll(() => {
        t = testApp(get(), { now: NOW, env: { API_TOKEN, INGEST_TOKEN }, log: createLogger('debug', (l) => lines.push(l)) });
      });

      test('reads need API_TOKEN: 401 problem+json with a challenge without it or with a wrong one', async () => {
        for (const path of ['/issues', '/issues/by-object?node=N1', '/issues/inc_x', '/summary', '/registry', '/paths/A/B/series', '/metrics', '/nope']) {
          for (const init of [undefined, bearer('wrong-token-0123456789'), bearer(INGEST_TOKEN), { headers: { Authorization: API_TOKEN } }, { headers: { Authorization: `Basic ${btoa(`x:${API_TOKEN}`)}` } }]) {
            const r = await t.json(path, init);
            expect({ path, status: r.status }).toEqual({ path, status: 401 });
            expect(r.res.headers.get('content-type')).toBe('application/problem+json');
            expect(r.res.headers.get('www-authenticate')).toBe('Bearer realm="meshmon"');
            expect(r.body.title).toBe('Unauthorized');
            expect(r.body.request_id).toBeTruthy();
          }
        }
        expect((await t.json('/issues', bearer(API_TOKEN))).status).toBe(200);
        expect((await t.json('/issues', { headers: { Authorization: `bearer ${API_TOKEN}` } })).status).toBe(200);
        expect((await t.json('/summary', bearer(API_TOKEN))).status).toBe(200);
        // Past the token check, the route's own answer.
        expect((await t.json('/issues/inc_x', bearer(API_TOKEN))).status).toBe(404);
        // Never from the query string (it would end up in access logs).
        expect((await t.json(`/issues?access_token=${API_TOKEN}`)).status).toBe(401);
      });

      test('/ingest needs INGEST_TOKEN, and only it', async () => {
        const body = await message();
        expect((await t.post('/ingest', body)).status).toBe(401);
        expect((await t.post('/ingest', body, bearer(API_TOKEN))).status).toBe(401);
        const ok = await t.post('/ingest', body, bearer(INGEST_TOKEN));
        expect(ok.status).toBe(200);
      });

      test('/healthz, /openapi.json and /docs stay open', async () => {
        expect((await t.json('/healthz')).status).toBe(200);
        expect((await t.json('/openapi.json')).status).toBe(200);
        expect((await t.app.request('/docs')).status).toBe(200);
      });

      test('tokens never reach the log', () => {
        expect(lines.length).toBeGreaterThan(20);
        const all = lines.join('\n');
        expect(all).not.toContain(API_TOKEN);
        expect(all).not.toContain(INGEST_TOKEN);
        expect(all).toContain('"status":401');
      });
    });

    test('every route is guarded as /openapi.json says (each route mounts its own guard)', async () => {
      const t = testApp(get(), { now: NOW, env: { API_TOKEN, INGEST_TOKEN } });
      const doc = (await t.json('/openapi.json')).body;
      const seen: string[] = [];
      for (const [template, ops] of Object.entries(doc.paths as Record<string, Record<string, { security: Array<Record<string, unknown>> }>>)) {
        const path = template.replace(/\{[^}]+\}/g, 'x');
        for (const [method, op] of Object.entries(ops)) {
          const schemes = op.security.flatMap((s) => Object.keys(s));
          const status = (await t.app.request(path, {
            method: method.toUpperCase(),
            ...(method === 'get' ? {} : { headers: { 'Content-Type': 'application/json' }, body: '{}' }),
          })).status;
          const expected = schemes.includes('operatorToken') ? 403 : schemes.length ? 401 : 'open';
          seen.push(`${method} ${template}`);
          if (expected === 'open') expect({ method, template, status: status === 401 || status === 403 ? status : 'open' }).toEqual({ method, template, status: 'open' });
          else expect({ method, template, status }).toEqual({ method, template, status: expected });
        }
      }
      expect(seen).toContain('get /metrics');
      expect(seen).toContain('post /api/reports');
      expect(seen).toContain('get /docs/assets/{file}');
      // Paths no route serves: reads need the token, writes are 404 (and counted), preflights pass.
      expect((await t.json('/nope')).status).toBe(401);
      expect((await t.post('/api/report', {})).status).toBe(404);
      expect((await t.app.request('/nope', { method: 'OPTIONS' })).status).toBe(404);
      expect((await t.app.request('/ingest', bearer(INGEST_TOKEN))).status).toBe(405);
      expect((await t.app.request('/ingest')).status).toBe(401);
    });

    test('one token alone guards only its own routes', async () => {
      const readsOnly = testApp(get(), { now: NOW, env: { API_TOKEN } });
      expect((await readsOnly.json('/issues')).status).toBe(401);
      expect((await readsOnly.post('/ingest', await message())).status).toBe(200);
      const ingestOnly = testApp(get(), { now: NOW, env: { INGEST_TOKEN } });
      expect((await ingestOnly.json('/issues')).status).toBe(200);
      expect((await ingestOnly.post('/ingest', await message())).status).toBe(401);
    });

    describe('CORS', () => {
      test('off by default: no CORS headers for any origin', async () => {
        const t = testApp(get(), { now: NOW });
        const r = await t.json('/issues', { headers: { Origin: PANEL } });
        expect(r.status).toBe(200);
        expect(r.res.headers.get('access-control-allow-origin')).toBeNull();
      });

      test('the configured panel origin may read, others may not', async () => {
        const t = testApp(get(), { now: NOW, env: { CORS_ORIGINS: `${PANEL}, https://other.example.org`, API_TOKEN } });
        const ok = await t.json('/summary', { headers: { Origin: PANEL, ...bearer(API_TOKEN).headers } });
        expect(ok.status).toBe(200);
        expect(ok.res.headers.get('access-control-allow-origin')).toBe(PANEL);
        expect(ok.res.headers.get('vary')).toContain('Origin');
        expect(ok.res.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
        expect(ok.res.headers.get('access-control-expose-headers')).toContain('ETag');

        const foreign = await t.json('/summary', { headers: { Origin: 'https://evil.example.com', ...bearer(API_TOKEN).headers } });
        expect(foreign.res.headers.get('access-control-allow-origin')).toBeNull();

        // The panel can read a 401 (to ask for the token) …
        const denied = await t.json('/summary', { headers: { Origin: PANEL } });
        expect(denied.status).toBe(401);
        expect(denied.res.headers.get('access-control-allow-origin')).toBe(PANEL);

        // … and its preflight passes without credentials, as browsers send it.
        const pre = await t.app.request('/issues', {
          method: 'OPTIONS',
          headers: { Origin: PANEL, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
        });
        expect(pre.status).toBe(204);
        expect(pre.headers.get('access-control-allow-origin')).toBe(PANEL);
        expect(pre.headers.get('access-control-allow-headers')).toContain('Authorization');
        expect(pre.headers.get('access-control-allow-headers')).toContain('If-None-Match');
        expect(pre.headers.get('access-control-allow-methods')).toContain('GET');
        expect(pre.headers.get('access-control-max-age')).toBe('600');
      });

      test('"*" allows any origin', async () => {
        const t = testApp(get(), { now: NOW, env: { CORS_ORIGINS: '*' } });
        const r = await t.json('/issues', { headers: { Origin: 'https://anywhere.example' } });
        expect(r.res.headers.get('access-control-allow-origin')).toBe('*');
      });
    });
  },
  ['none'],
);
