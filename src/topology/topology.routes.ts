import { Hono } from 'hono';
import { apiReads, type AppDeps, type AppEnv } from '../app-deps.ts';
import type { ApiOperation } from '../api/openapi.ts';
import { NoQuery } from '../api/query.ts';
import { validate } from '../http/validation.ts';
import { NetworkGraph } from './topology.schema.ts';
import { topology } from './topology.service.ts';

export function topologyRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const reads = apiReads(deps);

  app.get('/topology', validate('query', NoQuery), async (c) => {
    const body: NetworkGraph = await topology(reads, { now: deps.now(), version: deps.version, silentAfterS: deps.config.REGISTRY_SILENT_AFTER });
    return c.json(body);
  });

  return app;
}

export const topologyOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/topology',
    operationId: 'getTopology',
    summary: 'The mesh of the last hour as a NetJSON NetworkGraph (for OpenWISP Network Topology)',
    description:
      'Nodes from the registry (status, position, firmware, open incidents), plus routers seen only as hops; ' +
      'links from the hop samples of the last hour, cost = mean ETX, with LQ/NLQ, link type and open incidents. ' +
      'Point an OpenWISP topology with strategy "fetch" and the NetJSON parser at this URL (docs/openwisp.md).',
    tags: ['topology'],
    auth: 'read',
    query: NoQuery,
    responses: [{ status: 200, description: 'A NetJSON NetworkGraph', schema: NetworkGraph }],
    problems: [400],
  },
];
