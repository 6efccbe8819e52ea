import path from 'node:path';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { compress } from 'hono/compress';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { z } from 'zod';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { entityTag, noneMatch } from '../http/conditional.ts';
import { HttpProblem } from '../http/problem.ts';
import { StaticAsset } from '../http/static-asset.ts';
import { IncidentKind } from '../incidents/incident.schema.ts';
import type { ApiOperation } from '../api/openapi.ts';
import type { Topology } from './mesh-view.tsx';
import {
  ErrorPage, HealthHeader, IncidentPage, IncidentsPage, Layout, LoginPage, MeshPage, NodesPage, type IncidentFilters, type PageContext, type SeriesForPlot,
} from './pages.tsx';
import { contentSecurityPolicy, panelAuth, requireSession, safeNext } from './security.ts';

// The operator panel: pages rendered on the collector from the same JSON the
// API serves. It asks the API in-process (the app's own `request`), so it
// shows exactly what an API client sees — filters, caches, ETags and the
// fields other features add — without a query of its own.
//
// Refreshing: panel.js re-asks the page it shows with `X-Panel-Partial: 1`
// and its ETag; the collector renders the live part again and answers 304
// when those bytes did not change (they hold no clock-dependent text).

type Json = Record<string, any>;
/** A request to the app itself (the root app's `request`), given by createApp. */
export type ApiCall = (path: string, init?: RequestInit) => Response | Promise<Response>;

const MINUTE = 60_000;
/** The header warns when no agent was heard for this long. */
const STALE_AFTER_MS = 5 * MINUTE;
/** Series plotted per incident page (routes), besides the link's. */
const PLOTTED_ROUTES = 3;
const CLOSED_SHOWN = 20;

const assetsDir = path.join(import.meta.dir, 'assets');
const ASSETS = {
  'panel.css': new StaticAsset(path.join(assetsDir, 'panel.css')),
  'panel.js': new StaticAsset(path.join(assetsDir, 'panel.js')),
};

/** Every path the panel serves (Hono patterns). */
const PANEL_PATHS = ['/', '/incidents/*', '/mesh', '/nodes', '/login', '/logout', '/panel/assets/*'];

const IncidentsQuery = z.object({
  status: z.enum(['open', 'closed', 'all']).default('open'),
  kind: z.string().regex(/^[a-z_,]*$/).optional(),
  severity: z.string().regex(/^[a-z,]*$/).optional(),
  node: z.string().max(63).optional(),
  link: z.string().max(130).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(500).optional(),
});

export function panelRoutes(deps: AppDeps, api: ApiCall) {
  const app = new Hono<AppEnv>();
  const auth = panelAuth(deps.config, deps.now);
  const csp = contentSecurityPolicy(deps.config);
  const kinds = IncidentKind.options;

  // Headers and compression for the panel's own paths only: a sub-app's
  // `use('*')` would reach every route of the app it is mounted in.
  const securityHeaders: MiddlewareHandler<AppEnv> = async (c, next) => {
    await next();
    c.res.headers.set('Content-Security-Policy', csp);
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('Referrer-Policy', 'same-origin');
  };
  for (const p of PANEL_PATHS) app.use(p, securityHeaders, compress());

  app.get('/panel/assets/:file', (c) => {
    const asset = ASSETS[c.req.param('file') as keyof typeof ASSETS];
    if (!asset) throw new HttpProblem(404, 'Not Found', 'no such asset');
    return asset.serve(c);
  });

  // ---- sign-in (only meaningful with API_TOKEN) ------------------------------
  app.get('/login', async (c) => {
    if (!auth.required) return c.redirect('./', 303);
    const next = safeNext(c.req.query('next'));
    return page(c, ctx('./', 'Sign in', 'login', false), () => <LoginPage base="./" next={next} failed={c.req.query('failed') === '1'} />, { live: false });
  });
  app.post('/login', async (c) => {
    if (!auth.required) return c.redirect('./', 303);
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    if (typeof form.token !== 'string' || !auth.tokenMatches(form.token)) {
      deps.log.warn('panel sign-in refused', { request_id: c.get('requestId') });
      return c.redirect(`./login?failed=1&next=${encodeURIComponent(next)}`, 303);
    }
    auth.signIn(c);
    return c.redirect(`.${next}`, 303);
  });
  app.post('/logout', (c) => {
    auth.signOut(c);
    return c.redirect(auth.required ? './login' : './', 303);
  });

  const session = requireSession(auth, (next) => `/login?next=${encodeURIComponent(next)}`);
  app.use('/', session);
  app.use('/mesh', session);
  app.use('/nodes', session);
  app.use('/incidents/*', session);

  // ---- the API, in-process ----------------------------------------------------
  const authHeader: Record<string, string> = deps.config.API_TOKEN ? { Authorization: `Bearer ${deps.config.API_TOKEN}` } : {};
  let sub = 0;
  /** The API's answer as text with its ETag (null: a 404 allowed by `allow404`). */
  async function getText(c: Context<AppEnv>, pathAndQuery: string, opts: { allow404?: boolean } = {}): Promise<{ text: string; etag: string | null } | null> {
    const res = await api(pathAndQuery, { headers: { ...authHeader, 'X-Request-Id': `${c.get('requestId')}.${(++sub % 1000).toString(36)}` } });
    if (res.ok) return { text: await res.text(), etag: res.headers.get('etag') };
    if (res.status === 404 && opts.allow404) return null;
    const body = (await res.json().catch(() => ({}))) as Json;
    throw new HttpProblem(res.status as 400, body.title ?? 'Error', body.detail ?? `the API answered ${res.status}`, {}, res.headers.get('retry-after') ? { 'Retry-After': res.headers.get('retry-after')! } : {});
  }
  async function get(c: Context<AppEnv>, pathAndQuery: string, opts: { allow404?: boolean } = {}): Promise<Json | null> {
    const r = await getText(c, pathAndQuery, opts);
    return r ? (JSON.parse(r.text) as Json) : null;
  }

  // The live part of the pages whose data says what they show (the incident
  // list: the API's ETags and the header's counts), by URL: a refresh that
  // finds the same data answers from here without rendering again.
  const rendered = new Map<string, { fingerprint: string; html: string; tag: string }>();
  const RENDERED_KEPT = 32;

  function ctx(base: string, title: string, nav: PageContext['nav'], signOut = auth.required): PageContext {
    return {
      base,
      assets: { css: `panel/assets/panel.css?v=${ASSETS['panel.css'].version()}`, js: `panel/assets/panel.js?v=${ASSETS['panel.js'].version()}` },
      refreshS: deps.config.PANEL_REFRESH,
      version: deps.version,
      signOut,
      title,
      nav,
    };
  }

  /**
   * The whole page, or (X-Panel-Partial) only its live part; either way a 304
   * when the client has these bytes. With a `fingerprint` of the data, the
   * live part is rendered once per distinct data.
   */
  async function page(
    c: Context<AppEnv>,
    pc: PageContext,
    content: () => Child,
    opts: { live?: boolean; header?: Json; fingerprint?: string; outside?: Child } = {},
  ) {
    const key = c.req.path + '?' + new URL(c.req.url).search;
    let hit = opts.fingerprint !== undefined ? rendered.get(key) : undefined;
    if (hit && hit.fingerprint !== opts.fingerprint) hit = undefined;
    if (!hit) {
      const live = (
        <>
          {opts.header ? <HealthHeader summary={opts.header} base={pc.base} staleAfterMs={STALE_AFTER_MS} /> : null}
          {content()}
        </>
      );
      const html = String(await live.toString());
      hit = { fingerprint: opts.fingerprint ?? '', html, tag: entityTag(html) };
      if (opts.fingerprint !== undefined) {
        rendered.delete(key);
        rendered.set(key, hit);
        if (rendered.size > RENDERED_KEPT) rendered.delete(rendered.keys().next().value!);
      }
    }
    const partial = !!c.req.header('x-panel-partial');
    const html = partial ? hit.html : `<!doctype html>${await (<Layout ctx={pc} live={raw(hit.html)} liveTag={hit.tag} outside={opts.outside ?? null} />).toString()}`;
    const etag = partial ? hit.tag : entityTag(html);
    const headers = { ETag: etag, 'Cache-Control': 'no-cache', Vary: 'X-Panel-Partial, Accept-Encoding' };
    if (opts.live !== false && noneMatch(c.req.header('if-none-match'), etag)) return c.body(null, 304, headers);
    return c.html(html, 200, headers);
  }

  /** The header's data without what changes with every message: it colours nothing by itself. */
  function stableSummary(summary: Json): Json {
    const lastIngest = summary.last_ingest_at ? Date.parse(summary.last_ingest_at) : null;
    const stale = lastIngest === null || Date.parse(summary.generated_at) - lastIngest > STALE_AFTER_MS;
    return { ...summary, generated_at: null, last_engine_tick_at: null, last_ingest_at: stale ? summary.last_ingest_at : 'fresh' };
  }

  // ---- pages --------------------------------------------------------------------
  app.get('/', async (c) => {
    const parsed = IncidentsQuery.safeParse(c.req.query());
    if (!parsed.success) throw new HttpProblem(400, 'Bad Request', 'unknown filter values');
    const q = parsed.data;
    const filters: IncidentFilters = { status: q.status, kind: q.kind || undefined, severity: q.severity || undefined, node: q.node || undefined, link: q.link || undefined };
    const params = (status: string, limit: number, cursor?: string) => {
      const s = new URLSearchParams({ status, limit: String(limit) });
      if (filters.kind) s.set('kind', filters.kind);
      if (filters.severity) s.set('severity', filters.severity);
      if (cursor) s.set('cursor', cursor);
      if (filters.link) s.set('link', filters.link);
      else if (filters.node) s.set('node', filters.node);
      return s;
    };
    // A link (from the mesh view) lists every incident touching it, children too; otherwise the roots.
    const listText = (status: string, limit: number, cursor?: string) =>
      getText(c, filters.link ? `/issues/by-object?${params(status, limit, cursor)}` : `/issues?${params(status, limit, cursor)}`);
    const more = (status: string, next: string | null) => {
      if (!next) return null;
      const s = new URLSearchParams(Object.entries({ ...filters, status }).filter(([, v]) => v) as Array<[string, string]>);
      s.set('cursor', next);
      return `./?${s}`;
    };
    const partial = !!c.req.header('x-panel-partial');
    const [summary, first, closed, registry] = await Promise.all([
      get(c, '/summary'),
      listText(q.status, q.limit, q.cursor),
      q.status === 'open' && !q.cursor ? listText('closed', CLOSED_SHOWN) : Promise.resolve(null),
      // Node names for the filter's suggestions: outside the live part, so a refresh does without them.
      partial ? Promise.resolve(null) : get(c, '/registry'),
    ]);
    const nodes = ((registry?.nodes ?? []) as Json[]).map((n) => n.node as string);
    const fingerprint = JSON.stringify([stableSummary(summary!), first!.etag ?? first!.text, closed ? (closed.etag ?? closed.text) : null]);
    return page(c, ctx('./', 'Incidents', 'incidents'), () => {
      const firstList = JSON.parse(first!.text) as Json;
      const lists = [{
        title: q.status === 'open' ? 'Open' : q.status === 'closed' ? 'Closed' : 'All incidents',
        id: q.status === 'open' ? 'open' : q.status,
        items: firstList.items,
        next: firstList.next,
        moreHref: more(q.status, firstList.next),
      }];
      if (closed) {
        const closedList = JSON.parse(closed.text) as Json;
        lists.push({ title: 'Recently closed', id: 'closed', items: closedList.items, next: closedList.next, moreHref: closedList.next ? `./?status=closed` : null });
      }
      return <IncidentsPage base="./" filters={filters} kinds={kinds} lists={lists} />;
    }, { header: summary!, fingerprint, outside: <datalist id="node-names">{nodes.map((n) => <option value={n} />)}</datalist> });
  });

  app.get('/incidents/:id', async (c) => {
    const id = c.req.param('id');
    const [summary, detail] = await Promise.all([get(c, '/summary'), get(c, `/issues/${encodeURIComponent(id)}`)]);
    const i = detail!;
    const parent = i.parent_id ? await get(c, `/issues/${encodeURIComponent(i.parent_id)}`, { allow404: true }) : null;
    const blameScope = (i.scope.type === 'route' && parent ? parent.scope : i.scope) as Json;
    const blame: { link?: [string, string]; node?: string } =
      blameScope.type === 'link' ? { link: [blameScope.a, blameScope.b] } : blameScope.type === 'node' && blameScope.node !== '*' ? { node: blameScope.node } : {};

    // Around the incident: as much before as it lasted (2 min to 6 h), and as much after it once closed.
    const now = deps.now().getTime();
    const start = Date.parse(i.started_at);
    const end = i.ended_at ? Date.parse(i.ended_at) : now;
    const margin = Math.min(360 * MINUTE, Math.max(2 * MINUTE, end - start));
    const from = start - margin;
    // An open incident's range ends at the next whole minute, so refreshes within a minute ask the same question.
    const to = i.ended_at ? Math.min(now, end + margin) : Math.ceil((now + 1) / MINUTE) * MINUTE;
    const stepS = Math.max(10, Math.ceil((to - from) / 1000 / 150));
    const range = `since=${new Date(from).toISOString()}&until=${new Date(to).toISOString()}&step=${stepS}`;
    const routes: Json[] = (i.routes ?? []).filter((r: Json) => r.src && r.dst).slice(0, PLOTTED_ROUTES);
    const [paths, link] = await Promise.all([
      Promise.all(routes.map(async (r): Promise<SeriesForPlot> => {
        const s = await get(c, `/paths/${encodeURIComponent(r.src)}/${encodeURIComponent(r.dst)}/series?${range}`);
        return { route: s!.route, from, to, stepMs: stepS * 1000, points: s!.points };
      })),
      i.scope.type === 'link'
        ? get(c, `/links/${encodeURIComponent(i.scope.a)}/${encodeURIComponent(i.scope.b)}/series?${range}`, { allow404: true })
          .then((s): SeriesForPlot | null => (s ? { link: s.link, ends: [s.a, s.b], from, to, stepMs: stepS * 1000, points: s.points } : null))
        : Promise.resolve(null),
    ]);
    const thresholds = i.pattern?.thresholds ?? { jitter_ms: 30, loss_pct: 2 };
    return page(c, ctx('../', i.title, 'incident'),
      () => <IncidentPage base="../" i={i} parent={parent} blame={blame} paths={paths} link={link} thresholds={thresholds} />, { header: summary! });
  });

  app.get('/mesh', async (c) => {
    const [summary, topo] = await Promise.all([get(c, '/summary'), get(c, '/topology', { allow404: true })]);
    return page(c, ctx('./', 'Mesh', 'mesh'), () => <MeshPage topo={topo as Topology | null} base="./" />, { header: summary! });
  });

  app.get('/nodes', async (c) => {
    const summary = await get(c, '/summary');
    // Follow the registry's pages when it has them (a few thousand nodes at most).
    let registry = (await get(c, '/registry'))!;
    for (let pages = 0; registry.next && pages < 20; pages++) {
      const more = (await get(c, `/registry?cursor=${encodeURIComponent(registry.next)}`))!;
      registry = { ...more, nodes: [...registry.nodes, ...more.nodes] };
    }
    return page(c, ctx('./', 'Nodes', 'nodes'), () => <NodesPage registry={registry} base="./" />, { header: summary! });
  });

  // HTML errors for the pages (the API keeps its problem+json).
  app.onError(async (err, c) => {
    const status = err instanceof HttpProblem ? err.status : 500;
    if (status === 500) deps.log.error('panel page failed', { request_id: c.get('requestId'), path: c.req.path, err });
    const detail = err instanceof HttpProblem ? (err.detail ?? err.title) : 'see the collector log for this request id';
    const base = c.req.path.startsWith('/incidents/') ? '../' : './';
    const html = `<!doctype html>${await (<Layout ctx={ctx(base, 'Error', 'incidents')} live={<ErrorPage status={status} detail={detail} base={base} />} liveTag="" outside={null} />).toString()}`;
    return c.html(html, status as 404, err instanceof HttpProblem ? err.headers : {});
  });

  return app;
}

const html = { contentType: 'text/html', jsonSchema: { type: 'string' } };

/** The panel's pages in /openapi.json: they are served routes too (HTML for browsers, not for API clients). */
export const panelOperations: ApiOperation[] = [
  { method: 'get', path: '/', operationId: 'panelIncidents', summary: 'Panel: health, incident cards and filters (HTML)', tags: ['panel'], auth: 'none',
    description: 'Query: status, kind, severity, node, link, limit, cursor (as /issues). With API_TOKEN set, a signed-in session (cookie from /login) or the bearer token. `X-Panel-Partial: 1` returns the live part only; send its ETag back for a 304.',
    responses: [{ status: 200, description: 'An HTML page', ...html }, { status: 303, description: 'To /login when API_TOKEN is set and the browser is not signed in' }] },
  { method: 'get', path: '/incidents/{id}', operationId: 'panelIncident', summary: 'Panel: one incident with timeline, children, cause, evidence, routes and plots (HTML)', tags: ['panel'], auth: 'none',
    params: z.object({ id: z.string() }),
    responses: [{ status: 200, description: 'An HTML page', ...html }, { status: 303, description: 'To /login when not signed in' }, { status: 404, description: 'No such incident (an HTML page)', ...html }] },
  { method: 'get', path: '/mesh', operationId: 'panelMesh', summary: 'Panel: the mesh of the last hour coloured by open incidents (HTML, from /topology)', tags: ['panel'], auth: 'none',
    responses: [{ status: 200, description: 'An HTML page', ...html }, { status: 303, description: 'To /login when not signed in' }] },
  { method: 'get', path: '/nodes', operationId: 'panelNodes', summary: 'Panel: the node registry (HTML)', tags: ['panel'], auth: 'none',
    responses: [{ status: 200, description: 'An HTML page', ...html }, { status: 303, description: 'To /login when not signed in' }] },
  { method: 'get', path: '/login', operationId: 'panelLoginForm', summary: 'Panel: sign-in form (only with API_TOKEN set)', tags: ['panel'], auth: 'none',
    responses: [{ status: 200, description: 'An HTML page', ...html }] },
  { method: 'post', path: '/login', operationId: 'panelLogin', summary: 'Panel: sign in with API_TOKEN (form field `token`); sets an HttpOnly session cookie', tags: ['panel'], auth: 'none',
    responses: [{ status: 303, description: 'Back to the page asked for, or to the form again when the token is wrong' }] },
  { method: 'post', path: '/logout', operationId: 'panelLogout', summary: 'Panel: sign out (drops the session cookie)', tags: ['panel'], auth: 'none',
    responses: [{ status: 303, description: 'To the sign-in form' }] },
  { method: 'get', path: '/panel/assets/{file}', operationId: 'panelAsset', summary: 'Panel: its script and style', tags: ['panel'], auth: 'none',
    params: z.object({ file: z.enum(['panel.css', 'panel.js']) }),
    responses: [{ status: 200, description: 'The file (gzip when accepted); `?v=` pins a version for a year', contentType: 'text/css', jsonSchema: { type: 'string' } }], problems: [404] },
];
