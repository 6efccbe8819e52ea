// The panel's pages through HTTP, in every database mode (the headless
// Chromium test covers what a browser does with them): what each page shows
// from the API, the 304 of an unchanged refresh, the sign-in when API_TOKEN
// is set, the CSP and its framing setting, and HTML error pages.
import { beforeAll, describe, expect, test } from 'bun:test';
import { createLogger } from '../../src/log.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncidents, insertNode, insertProbes, probeSeries } from '../support/incident-fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const at = (hhmm: string) => `2026-03-02T${hhmm}:00Z`;
const API_TOKEN = 'api-token-0123456789abcdef';
const OPERATOR_TOKEN = 'operator-token-0123456789';

const LINK = { type: 'link' as const, a: 'KB1AAA-HAP-1', b: 'KC1BBB-RKT-2' };
const HOPS = ['KA1SRC-LHG-1', 'KB1AAA-HAP-1', 'KC1BBB-RKT-2', 'KD1DST-PBE-3'];

async function html(t: TestApp, path: string, init?: RequestInit) {
  const res = await t.app.request(path, init);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const text = new TextDecoder().decode(res.headers.get('content-encoding') === 'gzip' ? Bun.gunzipSync(bytes) : bytes);
  return { res, status: res.status, text };
}

describeEachMode('panel pages', (get) => {
  let t: TestApp;
  beforeAll(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW, env: { OPERATOR_TOKEN } });
    await insertIncidents(get().db, [
      {
        id: 'inc_p1', kind: 'bottleneck', scope: LINK, severity: 'critical', started_at: at('11:00'),
        routes: ['KA1SRC-LHG-1>KD1DST-PBE-3'], nodes: HOPS, cause: 'Link carries too much traffic',
        next_steps: ['Confirm utilisation on both ends'], evidence: { peaks: { bad_windows: 12, routes: 3, etx: 1.9 }, thresholds: { window_min: 30, bad_windows: 5, distinct_routes: 2 } },
      },
      { id: 'inc_p2', kind: 'jitter_burst', scope: { type: 'route', src: HOPS[0]!, dst: HOPS[3]! }, hops: HOPS, parent_id: 'inc_p1', started_at: at('11:01'), severity: 'major' },
      { id: 'inc_p3', kind: 'agent_silent', scope: { type: 'node', node: 'KZ9OLD-NSM5-1' }, severity: 'minor', started_at: at('08:00'), ended_at: at('09:00') },
    ]);
    await insertNode(get().db, { node: 'KB1AAA-HAP-1', last_received_at: at('11:59'), lat: 37.4, lon: -122.1, firmware_version: '3.25.5.0', hardware_model: 'hAP ac lite' });
    await insertProbes(get().db, probeSeries(HOPS[0]!, HOPS[3]!, at('10:30'), at('12:00'), 40, () => ({ route: HOPS, rtt_ms: 20, jitter_ms: 45, loss_pct: 0.1 })));
    // Acknowledged through the operator API: the card and the page say so.
    expect((await t.post('/issues/inc_p1/ack', { by: 'KX6ABC', note: 'on my way up the hill' }, { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } })).status).toBe(200);
  });

  test('/ shows health, open root cards with scope, severity and children, and recently closed ones', async () => {
    const r = await html(t, '/');
    expect(r.status).toBe(200);
    expect(r.res.headers.get('content-type')).toContain('text/html');
    expect(r.text).toContain('data-health="red"');
    const open = r.text.slice(r.text.indexOf('id="open"'), r.text.indexOf('id="closed"'));
    expect(open).toContain('data-id="inc_p1"');
    expect(open).not.toContain('data-id="inc_p2"'); // a child: counted on its root's card
    expect(open).toContain('Bottleneck on link KB1AAA-HAP-1 ↔ KC1BBB-RKT-2');
    expect(open).toContain('data-severity="critical"');
    expect(open).toContain('1 related');
    expect(open).toContain('acknowledged by KX6ABC');
    expect(r.text.slice(r.text.indexOf('id="closed"'))).toContain('data-id="inc_p3"');
    // Filters go to the API: severity=minor&status=all finds the closed silence only.
    const f = await html(t, '/?status=all&severity=minor');
    expect(f.text).toContain('data-id="inc_p3"');
    expect(f.text).not.toContain('data-id="inc_p1"');
    // A link from the mesh view: every incident touching it, children too.
    const l = await html(t, `/?status=all&link=${LINK.b}--${LINK.a}`);
    expect(l.text).toContain('data-id="inc_p1"');
    expect(l.text).toContain('data-id="inc_p2"');
  });

  test('an incident page: cause, steps, evidence in words, the route chain with the blamed link, plots, timeline, children', async () => {
    const r = await html(t, '/incidents/inc_p1');
    expect(r.status).toBe(200);
    for (const s of ['Likely cause', 'Confirm utilisation on both ends', 'worst hop of 12 bad windows on 3 different routes', 'Acknowledged by KX6ABC', 'on my way up the hill', 'Caused by this one']) {
      expect(r.text).toContain(s);
    }
    // KB1AAA → KC1BBB is the blamed hop of the chain.
    expect(r.text).toMatch(/KB1AAA-HAP-1<\/li><li class="hoplink blamed" data-blamed="link"[^>]*>⚡<\/li><li class="hop">KC1BBB-RKT-2/);
    const points = [...r.text.matchAll(/data-points="(\d+)"/g)].map((m) => Number(m[1]));
    expect(points.length).toBe(5); // LQ/NLQ, ETX, RTT, jitter, loss
    expect(points.slice(2).every((n) => n > 0)).toBe(true);
    expect(r.text).toContain('class="period"');
    expect(r.text).toContain('Acknowledged by KX6ABC');
    // The child's page blames its parent's link and links back to it.
    const child = await html(t, '/incidents/inc_p2');
    expect(child.text).toContain('href="../incidents/inc_p1"');
    expect(child.text).toContain('data-blamed="link"');
  });

  test('an unchanged page refreshes with a 304; the live part only with X-Panel-Partial', async () => {
    const full = await html(t, '/');
    const liveTag = /id="live" data-etag="([^"]+)"/.exec(full.text)![1]!.replaceAll('&quot;', '"');
    const partial = await html(t, '/', { headers: { 'X-Panel-Partial': '1' } });
    expect(partial.status).toBe(200);
    expect(partial.text).not.toContain('<html');
    expect(partial.res.headers.get('etag')).toBe(liveTag);
    const again = await html(t, '/', { headers: { 'X-Panel-Partial': '1', 'If-None-Match': liveTag } });
    expect(again.status).toBe(304);
    expect(again.text).toBe('');
    // The whole page revalidates too.
    expect((await html(t, '/', { headers: { 'If-None-Match': full.res.headers.get('etag')! } })).status).toBe(304);
    // A change (an incident closes) changes the live part.
    await get().db.updateTable('incidents').set({ status: 'closed', ended_at: new Date(at('11:30')) }).where('id', '=', 'inc_p3').execute();
    await insertIncidents(get().db, [{ id: 'inc_p4', kind: 'loss_spike', started_at: at('11:50'), severity: 'major' }]);
    expect((await html(t, '/', { headers: { 'X-Panel-Partial': '1', 'If-None-Match': liveTag } })).status).toBe(200);
  });

  test('pages are compressed, carry a CSP that allows nothing from outside, and name their assets by content hash', async () => {
    const r = await html(t, '/nodes', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(r.res.headers.get('content-encoding')).toBe('gzip');
    const csp = r.res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(r.text).toContain('data-node="KB1AAA-HAP-1"');
    expect(r.text).toContain('3.25.5.0');
    for (const src of r.text.matchAll(/(?:src|href)="(panel\/assets\/[^"]+)"/g)) {
      const a = await t.app.request(`/${src[1]}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('cache-control')).toContain('immutable');
    }
    expect((await t.app.request('/panel/assets/nope.js')).status).toBe(404);
  });

  test("the panel's headers and compression stay on its own pages: the API's answers are as they were", async () => {
    for (const u of ['/issues', '/summary', '/healthz', '/openapi.json', '/metrics', '/topology']) {
      const r = await t.app.request(u, { headers: { 'Accept-Encoding': 'gzip' } });
      expect({ u, status: r.status, encoding: r.headers.get('content-encoding'), csp: r.headers.get('content-security-policy') }).toEqual({ u, status: 200, encoding: null, csp: null });
    }
  });

  test('an unknown incident is an HTML 404 page; the mesh page draws the topology nodes', async () => {
    const r = await html(t, '/incidents/inc_nope');
    expect(r.status).toBe(404);
    expect(r.res.headers.get('content-type')).toContain('text/html');
    expect(r.text).toContain('Not found');
    const m = await html(t, '/mesh');
    expect(m.status).toBe(200);
    expect(m.text).toContain('class="mesh"');
    expect(m.text).toContain('data-node="KB1AAA-HAP-1"');
  });
  test('odd URLs get an HTML page with a 4xx, never a 500', async () => {
    for (const u of ['/incidents/%', '/incidents/a%2Fb', '/incidents/%ZZ', '/?node=%00', '/?kind=%3Cscript%3E', '/?status=bogus', '/?limit=0', '/?cursor=zzz', '/?link=nonsense', `/?node=${'a'.repeat(100)}`]) {
      const r = await html(t, u);
      expect({ u, status: r.status < 500 && r.status >= 400, type: r.res.headers.get('content-type') }).toEqual({ u, status: true, type: 'text/html; charset=UTF-8' });
      expect(r.text).not.toContain('<script>');
    }
  });
  test("the page's in-process API requests are logged at debug, under the page's request id", async () => {
    const lines: Array<Record<string, any>> = [];
    const logged = testApp(get(), { now: NOW, log: createLogger('debug', (l) => lines.push(JSON.parse(l))) });
    await logged.app.request('/', { headers: { 'X-Request-Id': 'page-1' } });
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.filter((l) => l.level === 'info').map((l) => [l.path, l.request_id])).toEqual([['/', 'page-1']]);
    const inner = requests.filter((l) => l.level === 'debug');
    expect(inner.map((l) => l.path).sort()).toEqual(['/issues', '/issues', '/registry', '/summary']);
    expect(inner.every((l) => l.internal === true && l.request_id.startsWith('page-1.'))).toBe(true);
    // A client cannot make its own requests look internal.
    lines.length = 0;
    await logged.app.request('/summary', { headers: { 'X-Request-Id': 'page-1.1' } });
    expect(lines.filter((l) => l.msg === 'request').map((l) => l.level)).toEqual(['info']);
  });

  test('a maintenance window shows on the card, the page and in the header', async () => {
    const op = { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } };
    const w = await t.post('/maintenance', { by: 'KX6ABC', scope: { type: 'link', a: LINK.b, b: LINK.a }, starts_at: at('11:30'), ends_at: '2026-03-02T14:00:00Z', reason: 'Replacing the sector antenna' }, op);
    expect(w.status).toBe(201);
    const r = await html(t, '/');
    expect(r.text).toContain('maintenance: Replacing the sector antenna');
    expect(r.text).toMatch(/\d+ under maintenance/);
    const p = await html(t, '/incidents/inc_p1');
    expect(p.text).toContain('Under maintenance until');
    expect(p.text).toContain('Replacing the sector antenna');
  });
}, ['none', 'apache', 'timescale']);

describeEachMode('panel sign-in with API_TOKEN', (get) => {
  test('pages redirect to /login; a right token sets an HttpOnly cookie that opens them (not the JSON API); a wrong one does not', async () => {
    await get().truncate();
    const t = testApp(get(), { now: NOW, env: { API_TOKEN, PANEL_FRAME_ANCESTORS: "'self' https://openwisp.example.org" } });
    const first = await t.app.request('/incidents/inc_x?a=1');
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/login?next=%2Fincidents%2Finc_x%3Fa%3D1');
    expect((await t.app.request('/', { headers: { 'X-Panel-Partial': '1' } })).status).toBe(401);
    const form = await html(t, '/login');
    expect(form.text).toContain('name="token"');
    expect(form.res.headers.get('content-security-policy')).toContain("frame-ancestors 'self' https://openwisp.example.org");

    const post = (token: string, next = '/nodes') =>
      t.app.request('/login', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token, next }).toString() });
    const wrong = await post('not-the-token-0123456789');
    expect(wrong.status).toBe(303);
    expect(wrong.headers.get('location')).toContain('login?failed=1');
    expect(wrong.headers.get('set-cookie')).toBeNull();

    // An absolute or protocol-relative "next" never leaves the collector.
    expect((await post(API_TOKEN, '//evil.example/x')).headers.get('location')).toBe('./');
    const ok = await post(API_TOKEN);
    expect(ok.headers.get('location')).toBe('./nodes');
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax'); // plain HTTP: a cross-site frame would need HTTPS
    const session = cookie.split(';')[0]!;
    const page = await t.app.request('/nodes', { headers: { Cookie: session } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Sign out');
    // The cookie is for the pages; the API still wants the bearer header.
    expect((await t.app.request('/issues', { headers: { Cookie: session } })).status).toBe(401);
    // A forged or expired session is refused; the bearer header works for scripts.
    expect((await t.app.request('/nodes', { headers: { Cookie: 'meshmon_session=9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })).status).toBe(303);
    expect((await t.app.request('/nodes', { headers: { Cookie: `meshmon_session=1.${session.split('.')[1]}` } })).status).toBe(303);
    expect((await t.app.request('/nodes', { headers: { Authorization: `Bearer ${API_TOKEN}` } })).status).toBe(200);
    const out = await t.app.request('/logout', { method: 'POST', headers: { Cookie: session } });
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    // /docs stays open.
    expect((await t.app.request('/docs')).status).toBe(200);
  });
}, ['none']);

describe('PANEL_FRAME_ANCESTORS', () => {
  test('rejects what is not a CSP source', async () => {
    const { loadConfig } = await import('../../src/config.ts');
    expect(loadConfig({ PANEL_FRAME_ANCESTORS: 'https://a.example, https://b.example:8443' }).PANEL_FRAME_ANCESTORS).toEqual(['https://a.example', 'https://b.example:8443']);
    expect(() => loadConfig({ PANEL_FRAME_ANCESTORS: "https://a.example; script-src *" })).toThrow('PANEL_FRAME_ANCESTORS');
  });
});
