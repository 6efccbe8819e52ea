import { Hono } from 'hono';
import type { AppDeps, AppEnv } from './app-deps.ts';
import { isDatabaseUnavailable } from './db/database.ts';
import { HttpProblem, problemResponse, problems } from './http/problem.ts';
import { internalRequest, requestContext } from './http/request-log.ts';
import { recordUnknownPath } from './http/unknown-paths.ts';
import { bearerAuth, corsMiddleware } from './http/auth.ts';
import { healthRoutes } from './health/health.routes.ts';
import { ingestRoutes } from './ingest/ingest.routes.ts';
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
  app.use('*', corsMiddleware(deps.config));
  // The panel's pages come before the bearer check: a browser cannot send the
  // header when it follows a link, so the panel has its own sign-in (a
  // session cookie) and asks the API in-process, with the token.
  app.route('/', panelRoutes(deps, (path, init) => app.request(internalRequest(`http://collector${path}`, init))));
  app.use('*', bearerAuth(deps.config));

  app.route('/', healthRoutes(deps));
  app.route('/', ingestRoutes(deps));
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
    if (isDatabaseUnavailable(err)) {
      deps.log.warn('database unavailable', { request_id: c.get('requestId'), err: (err as Error).message });
      return problemResponse(c, problems.unavailable());
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
