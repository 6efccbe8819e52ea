import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { docsRoutes } from './docs.routes.ts';
import { issuesRoutes } from './issues.routes.ts';
import { pathsRoutes } from './paths.routes.ts';
import { statusRoutes } from './status.routes.ts';

/** The read API for the OpenWISP Issues panel and other clients, and its description. */
export function apiRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  app.route('/', issuesRoutes(deps));
  app.route('/', statusRoutes(deps));
  app.route('/', pathsRoutes(deps));
  app.route('/', docsRoutes(deps));
  return app;
}
