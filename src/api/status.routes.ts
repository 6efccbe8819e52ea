import { Hono } from 'hono';
import { apiReads, type AppDeps, type AppEnv } from '../app-deps.ts';
import { validate } from '../http/validation.ts';
import type { ApiOperation } from './openapi.ts';
import { NoQuery } from './query.ts';
import { Registry, RegistryQuery } from './registry.schema.ts';
import { registry } from './registry.service.ts';
import { Summary } from './summary.schema.ts';
import { summary } from './summary.service.ts';

export function statusRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const reads = apiReads(deps);

  app.get('/summary', validate('query', NoQuery), async (c) => {
    const body: Summary = await summary(reads, { now: deps.now(), status: deps.status, engineIntervalS: deps.config.ENGINE_INTERVAL });
    return c.json(body);
  });

  app.get('/registry', validate('query', RegistryQuery), async (c) => {
    const body: Registry = await registry(reads, c.req.valid('query'), {
      now: deps.now(),
      silentAfterS: deps.config.REGISTRY_SILENT_AFTER,
    });
    return c.json(body);
  });

  return app;
}

export const statusOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/summary',
    operationId: 'getSummary',
    summary: 'Overall health (green / yellow / red), open counts, last ingest and engine tick',
    tags: ['status'],
    auth: 'read',
    query: NoQuery,
    responses: [{ status: 200, description: 'The panel header', schema: Summary }],
    problems: [400],
  },
  {
    method: 'get',
    path: '/registry',
    operationId: 'getRegistry',
    summary: 'Known nodes: first/last seen, reporting or silent, agent, hardware, firmware, position, clock skew, ingest drops; paged by node name',
    tags: ['status'],
    auth: 'read',
    query: RegistryQuery,
    responses: [{ status: 200, description: 'The node registry', schema: Registry }],
    problems: [400],
  },
];
