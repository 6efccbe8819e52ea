import { beforeAll, expect, test } from 'bun:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { z } from 'zod';
import { allOperations } from '../../src/api/docs.routes.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { example } from '../support/fixtures.ts';
import { insertIncidents, insertNode, insertProbes, probeSeries } from '../support/incident-fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

// The document does not depend on the database: one mode is enough.
describeEachMode(
  'GET /openapi.json and /docs',
  (get) => {
    let t: TestApp;
    let doc: any;
    beforeAll(async () => {
      await get().truncate();
      t = testApp(get(), { now: NOW });
      const r = await t.json('/openapi.json');
      expect(r.status).toBe(200);
      doc = r.body;
    });

    test('is a valid OpenAPI 3.1 document', async () => {
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.info.version).toBe('test');
      // validate() dereferences in place: give it a copy.
      await SwaggerParser.validate(structuredClone(doc));
    });

    test('describes every route the app serves, and nothing it does not', () => {
      const served = new Set(
        t.app.routes
          // Middleware (app.use) is registered as method ALL.
          .filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`),
      );
      expect(served.size).toBeGreaterThan(8);
      const documented = new Set(
        Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map((m) => `${m} ${path}`)),
      );
      for (const route of served) expect({ route, documented: documented.has(route) }).toEqual({ route, documented: true });
      for (const op of documented) expect({ op, served: served.has(op) }).toEqual({ op, served: true });
    });

    test('carries the ingest request contract and the query parameters of the reads', () => {
      const ingest = doc.paths['/ingest'].post;
      expect(ingest.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/IngestBody' });
      for (const id of ['IngestBody', 'AgentMessage', 'PathResult', 'HopResult', 'AgentHealth', 'NetworkStatus', 'CrashReport', 'IngestResponse']) {
        expect(doc.components.schemas[id]).toBeDefined();
      }
      // Request side: window_s has a default, so the agent may leave it out.
      expect(doc.components.schemas.PathResult.required).not.toContain('window_s');
      expect(ingest.security).toEqual([{ ingestToken: [] }, {}]);
      expect(Object.keys(ingest.responses).sort()).toEqual(['200', '400', '401', '413', '415', '422', '503']);

      const params = (path: string, where = 'query') =>
        Object.fromEntries(doc.paths[path].get.parameters.filter((p: any) => where === 'any' || p.in === where || (where === 'query' && p.in === 'path')).map((p: any) => [p.name, p]));
      const list = params('/issues');
      expect(Object.keys(list).sort()).toEqual(['cursor', 'kind', 'limit', 'node', 'roots', 'severity', 'since', 'status', 'until']);
      expect(list.status.schema.enum).toEqual(['open', 'closed', 'all']);
      expect(list.status.schema.default).toBe('open');
      expect(list.limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 500 });
      expect(list.status.required).toBe(false);
      expect(list.since.description).toContain('active');
      const byObject = params('/issues/by-object');
      expect(Object.keys(byObject)).toEqual(expect.arrayContaining(['link', 'node', 'route']));
      const detail = params('/issues/{id}');
      expect(detail.id).toMatchObject({ in: 'path', required: true });
      const series = params('/paths/{src}/{dst}/series');
      expect(Object.keys(series).sort()).toEqual(['dst', 'since', 'src', 'step', 'until']);
      expect(doc.paths['/issues/{id}'].get.responses['404'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
      // The reads are conditional: ETag on the answer, If-None-Match → 304.
      for (const path of ['/issues', '/issues/by-object', '/issues/{id}', '/paths/{src}/{dst}/series']) {
        const get = doc.paths[path].get;
        expect({ path, header: params(path, 'header')['If-None-Match']?.in }).toEqual({ path, header: 'header' });
        expect({ path, etag: !!get.responses['200'].headers?.ETag, notModified: !!get.responses['304'] }).toEqual({ path, etag: true, notModified: true });
      }
      for (const path of ['/healthz', '/summary', '/registry']) expect(doc.paths[path].get.responses['304']).toBeUndefined();
      expect(doc.paths['/healthz'].get.security).toEqual([]);
      expect(doc.paths['/issues'].get.security).toEqual([{ apiToken: [] }, {}]);
    });

    test('real responses match the schemas the document was made from', async () => {
      await insertIncidents(get().db, [
        { id: 'inc_oa1', kind: 'bottleneck', scope: { type: 'link', a: 'A1', b: 'A2' }, started_at: '2026-03-02T10:00:00Z', routes: ['A0>A3'] },
        { id: 'inc_oa2', parent_id: 'inc_oa1', scope: { type: 'route', src: 'A0', dst: 'A3' }, started_at: '2026-03-02T10:01:00Z', ended_at: '2026-03-02T11:00:00Z' },
      ]);
      await insertNode(get().db, { node: 'A1', last_received_at: '2026-03-02T11:59:00Z', lat: 1, lon: 2 });
      await insertProbes(get().db, probeSeries('A0', 'A3', '2026-03-02T10:00:00Z', '2026-03-02T11:00:00Z', 40, () => ({ route: ['A0', 'A1', 'A2', 'A3'], rtt_ms: 5, jitter_ms: 40, loss_pct: 0 })));
      const sample: Record<string, string> = {
        '/issues': '/issues?status=all&roots=false&limit=1',
        '/issues/by-object': '/issues/by-object?link=A2--A1',
        '/issues/{id}': '/issues/inc_oa1',
        '/summary': '/summary',
        '/registry': '/registry',
        '/paths/{src}/{dst}/series': '/paths/A0/A3/series',
        '/links/{a}/{b}/series': '/links/A2/A1/series',
        '/healthz': '/healthz',
        '/topology': '/topology',
        '/maintenance': '/maintenance',
        '/maintenance/{id}': '/maintenance/mw_oa1',
        '/audit': '/audit',
      };
      await get().db.insertInto('maintenance_windows').values({
        id: 'mw_oa1', scope: JSON.stringify({ type: 'link', a: 'A1', b: 'A2' }), starts_at: new Date('2026-03-02T09:00:00Z'),
        ends_at: new Date('2026-03-02T13:00:00Z'), planned_ends_at: new Date('2026-03-02T13:00:00Z'), reason: 'test', created_by: 'KX6ABC', created_at: new Date('2026-03-02T09:00:00Z'),
      }).execute();
      await get().db.insertInto('incident_acks').values({ incident_id: 'inc_oa1', by: 'KX6ABC', at: new Date('2026-03-02T10:30:00Z'), note: null }).execute();
      await get().db.insertInto('audit_log').values({ at: new Date('2026-03-02T10:30:00Z'), actor: 'operator', by: 'KX6ABC', action: 'incident.acknowledge', target: 'inc_oa1', detail: '{}', request_id: null }).execute();
      for (const op of allOperations()) {
        const ok = op.responses.find((r) => r.status === 200);
        if (!ok?.schema || op.method !== 'get') continue;
        const url = sample[op.path];
        expect({ path: op.path, sampled: !!url }).toEqual({ path: op.path, sampled: true });
        const r = await t.json(url!);
        expect({ url, status: r.status }).toEqual({ url, status: 200 });
        const parsed = (ok.schema as z.ZodType).safeParse(r.body);
        expect({ url, issues: parsed.success ? [] : parsed.error.issues }).toEqual({ url, issues: [] });
      }
      const ing = await t.post('/ingest', { ...(await example('path_result')), sent_at: '2026-03-02T11:59:00Z' });
      const ingestOp = allOperations().find((o) => o.path === '/ingest')!;
      expect(ing.status).toBe(200);
      expect(ingestOp.responses[0]!.schema!.safeParse(ing.body).success).toBe(true);
      // Problems match Problem.
      const { Problem } = await import('../../src/api/openapi.ts');
      expect(Problem.safeParse((await t.json('/issues?limit=0')).body).success).toBe(true);
    });

    test('/docs is an HTML reference page for /openapi.json', async () => {
      const res = await t.app.request('/docs');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      const html = await res.text();
      expect(html).toContain('MeshMon Collector API');
      // Everything it loads is the collector's own (the headless Chromium test checks it renders offline).
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(srcs.length).toBe(3);
      for (const src of srcs) {
        expect(src).toStartWith('docs/assets/');
        const asset = await t.app.request(`/${src}`, { headers: { 'Accept-Encoding': 'gzip' } });
        expect({ src, status: asset.status }).toEqual({ src, status: 200 });
        // Pinned by content hash: a year in the browser's cache, then a 304 on revalidation.
        expect(asset.headers.get('cache-control')).toContain('immutable');
        expect(asset.headers.get('content-encoding')).toBe('gzip');
        const again = await t.app.request(`/${src.split('?')[0]}`, { headers: { 'If-None-Match': asset.headers.get('etag')! } });
        expect(again.status).toBe(304);
      }
      const init = await (await t.app.request(`/${srcs[2]}`)).text();
      expect(init).toContain("url: 'openapi.json'");
      expect((await t.app.request('/docs/assets/nope.js')).status).toBe(404);
    });
  },
  ['none'],
);
