import { createRequire } from 'node:module';
import path from 'node:path';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { problems } from '../http/problem.ts';
import { StaticAsset } from '../http/static-asset.ts';
import { contentSecurityPolicy } from '../panel/security.ts';
import { collectorOperations } from './collector.operations.ts';
import { issuesOperations } from './issues.routes.ts';
import { panelOperations } from '../panel/panel.routes.tsx';
import { buildOpenApiDocument, type ApiOperation } from './openapi.ts';
import { pathsOperations } from './paths.routes.ts';
import { statusOperations } from './status.routes.ts';
import { maintenanceOperations } from '../maintenance/maintenance.routes.ts';
import { operatorOperations } from '../operator/operator.routes.ts';
import { topologyOperations } from '../topology/topology.routes.ts';

export function allOperations(): ApiOperation[] {
  return [
    ...issuesOperations, ...operatorOperations, ...maintenanceOperations, ...statusOperations, ...topologyOperations,
    ...pathsOperations, ...collectorOperations, ...docsOperations, ...panelOperations,
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

  // Swagger UI from the collector's own node_modules (pinned in package.json)
  // and a few lines that start it: a mesh without internet gets the whole page.
  const assets = docsAssets();
  const csp = contentSecurityPolicy(deps.config, { inlineStyles: true });
  app.get('/docs', (c) => {
    const v = (name: keyof typeof assets) => `docs/assets/${name}?v=${assets[name].version()}`;
    c.header('Content-Security-Policy', csp);
    c.header('Cache-Control', 'no-cache');
    return c.html(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MeshMon Collector API</title>` +
        `<meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<link rel="stylesheet" href="${v('swagger-ui.css')}"></head>` +
        `<body><div id="swagger-ui"></div><script src="${v('swagger-ui-bundle.js')}"></script>` +
        `<script src="${v('docs.js')}"></script></body></html>`,
    );
  });
  app.get('/docs/assets/:file', (c) => {
    const asset = assets[c.req.param('file') as keyof typeof assets];
    if (!asset) throw problems.notFound(`no asset ${JSON.stringify(c.req.param('file'))}`);
    c.header('Content-Security-Policy', csp);
    return asset.serve(c);
  });

  return app;
}

const require = createRequire(import.meta.url);

function docsAssets() {
  const swagger = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  return {
    'swagger-ui.css': new StaticAsset(path.join(swagger, 'swagger-ui.css')),
    'swagger-ui-bundle.js': new StaticAsset(path.join(swagger, 'swagger-ui-bundle.js')),
    'docs.js': new StaticAsset(path.join(import.meta.dir, '../panel/assets/docs.js')),
  };
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
    summary: 'Human-readable API reference (Swagger UI, served by the collector itself) for this document',
    tags: ['ops'],
    auth: 'none',
    responses: [{ status: 200, description: 'An HTML page', contentType: 'text/html', jsonSchema: { type: 'string' } }],
  },
  {
    method: 'get',
    path: '/docs/assets/{file}',
    operationId: 'docsAsset',
    summary: 'Script and style of the /docs page (Swagger UI from the collector’s node_modules)',
    tags: ['ops'],
    auth: 'none',
    params: z.object({ file: z.enum(['swagger-ui.css', 'swagger-ui-bundle.js', 'docs.js']) }),
    responses: [{ status: 200, description: 'The file (gzip when accepted); `?v=` pins a version for a year', contentType: 'text/javascript', jsonSchema: { type: 'string' } }],
    problems: [404],
  },
];
