import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';

export function apiRoutes(_deps: AppDeps) {
  const app = new Hono<AppEnv>();
  return app;
}
