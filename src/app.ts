import { Hono } from 'hono';
import type { AppDeps, AppEnv } from './app-deps.ts';
import { unavailableReason } from './db/database.ts';
import { HttpProblem, problemResponse, problems } from './http/problem.ts';
import { internalRequest, requestContext } from './http/request-log.ts';
import { bodyLimit, closeAfterHugeBody } from './http/body-limit.ts';
import { recordUnknownPath } from './http/unknown-paths.ts';
import { bearerAuth, corsMiddleware } from './http/auth.ts';
import { healthRoutes } from './health/health.routes.ts';
import { INGEST_PATHS, ingestRoutes } from './ingest/ingest.routes.ts';
import { apiRoutes } from './api/api.routes.ts';
import { metricsRoutes } from './ops/metrics.routes.ts';
import { panelRoutes } from './panel/panel.routes.tsx';
import { operatorRoutes } from './operator/operator.routes.ts';
import { maintenanceRoutes } from './maintenance/maintenance.routes.ts';
import { topologyRoutes } from './topology/topology.routes.ts';

export type { AppDeps, AppEnv } from './app-deps.ts';

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', requestContext(deps));
  app.use('*', closeAfterHugeBody());
  app.use('*', corsMiddleware(deps.config));
  // The panel's pages come before the bearer check: a browser cannot send the
  // header when it follows a link, so the panel has its own sign-in (a
  // session cookie) and asks the API in-process, with the token.
  app.route('/', panelRoutes(deps, (path, init) => app.request(internalRequest(`http://collector${path}`, init))));
  app.use('*', bearerAuth(deps.config));
  // Every route but the ingest paths, which read their body with their own limit (and count what they refuse).
  const limitBody = bodyLimit(deps.config.MAX_BODY_BYTES);
  app.use('*', (c, next) => ((INGEST_PATHS as readonly string[]).includes(c.req.path) ? next() : limitBody(c, next)));
  // A committed write clears a database trouble noted by an earlier failure (see /healthz).
  app.use('*', async (c, next) => {
    await next();
    if (c.req.method === 'POST' && c.res.status < 300 && deps.status.databaseTrouble()) deps.status.databaseRecovered();
  });

  app.route('/', healthRoutes(deps));
  // One handler, mounted where agents post: /ingest and the upstream agent's /api/reports.
  const ingest = ingestRoutes(deps);
  for (const path of INGEST_PATHS) app.route(path, ingest);
  app.route('/', metricsRoutes(deps));
  app.route('/', apiRoutes(deps));
  app.route('/', operatorRoutes(deps));
  app.route('/', maintenanceRoutes(deps));
  app.route('/', topologyRoutes(deps));

  app.notFound((c) => {
    recordUnknownPath(deps.metrics, c.req.method, c.req.path, deps.now());
    return problemResponse(c, problems.notFound(`no route for ${c.req.method} ${c.req.path}`));
  });

  app.onError((err, c) => {
    if (err instanceof HttpProblem) return problemResponse(c, err);
    const unavailable = unavailableReason(err);
    if (unavailable) {
      deps.log.warn('database unavailable', { request_id: c.get('requestId'), err: (err as Error).message, code: (err as { code?: unknown }).code });
      deps.status.databaseFailed(unavailable, deps.now());
      return problemResponse(c, problems.unavailable(`${unavailable}; retry later`));
    }
    // A character PostgreSQL cannot store (a NUL) that a schema let through: the client's input, not a
    // server fault. Every field is meant to be checked before the database sees it; this is the net.
    const code = (err as { code?: unknown }).code;
    if (code === '22021' || code === '22P05') {
      deps.log.warn('input the database cannot store reached it (a schema should refuse it)', { request_id: c.get('requestId'), path: c.req.path, code });
      return problemResponse(c, problems.badRequest('the request holds a character the database cannot store (NUL or an invalid byte sequence)'));
    }
    // Hono's own HTTPException (e.g. from middleware) keeps its status.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return problemResponse(c, new HttpProblem(status as 400, 'Bad Request', err.message));
    }
    deps.log.error('unhandled error', { request_id: c.get('requestId'), path: c.req.path, err });
    return problemResponse(c, new HttpProblem(500, 'Internal Server Error', 'an unexpected error occurred; see the collector log for this request id'));
  });

  return app;
}
