import { Scalar } from '@scalar/hono-api-reference';
import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { collectorOperations } from './collector.operations.ts';
import { issuesOperations } from './issues.routes.ts';
import { buildOpenApiDocument, type ApiOperation } from './openapi.ts';
import { pathsOperations } from './paths.routes.ts';
import { statusOperations } from './status.routes.ts';
import { maintenanceOperations } from '../maintenance/maintenance.routes.ts';
import { operatorOperations } from '../operator/operator.routes.ts';
import { topologyOperations } from '../topology/topology.routes.ts';

export function allOperations(): ApiOperation[] {
  return [
    ...issuesOperations, ...operatorOperations, ...maintenanceOperations, ...statusOperations, ...topologyOperations,
    ...pathsOperations, ...collectorOperations, ...docsOperations,
  ];
}

export function docsRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  // Built on first request, then kept: the schemas do not change while running.
  let document: Record<string, unknown> | null = null;

  app.get('/openapi.json', (c) => {
    document ??= buildOpenApiDocument({ version: deps.version, operations: allOperations() });
    return c.json(document);
  });

  // The page loads Scalar's script from its CDN in the reader's browser; the document itself is served here.
  app.get('/docs', Scalar({ url: '/openapi.json', pageTitle: 'MeshMon Collector API' }));

  return app;
}

export const docsOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    summary: 'This document (OpenAPI 3.1)',
    tags: ['ops'],
    auth: 'none',
    responses: [{ status: 200, description: 'The OpenAPI document', jsonSchema: { type: 'object', description: 'An OpenAPI 3.1 document' } }],
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    summary: 'Human-readable API reference (Scalar) for this document',
    tags: ['ops'],
    auth: 'none',
    responses: [{ status: 200, description: 'An HTML page', contentType: 'text/html', jsonSchema: { type: 'string' } }],
  },
];
