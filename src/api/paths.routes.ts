import { Hono } from 'hono';
import { apiReads, type AppDeps, type AppEnv } from '../app-deps.ts';
import { conditionalJson } from '../http/conditional.ts';
import { validate } from '../http/validation.ts';
import type { ApiOperation } from './openapi.ts';
import { LinkSeries, LinkSeriesParams, LinkSeriesQuery } from './links.schema.ts';
import { linkQualitySeries } from './links.service.ts';
import { PathSeries, SeriesParams, SeriesQuery } from './paths.schema.ts';
import { pathSeries, resolveRange } from './paths.service.ts';

export function pathsRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const reads = apiReads(deps);

  app.get('/paths/:src/:dst/series', validate('param', SeriesParams), validate('query', SeriesQuery), async (c) => {
    const range = resolveRange(c.req.valid('query'), deps.now());
    const body: PathSeries = await pathSeries(reads, deps.dbInfo.mode, c.req.valid('param'), range);
    return conditionalJson(c, JSON.stringify(body));
  });

  app.get('/links/:a/:b/series', validate('param', LinkSeriesParams), validate('query', LinkSeriesQuery), async (c) => {
    const range = resolveRange(c.req.valid('query'), deps.now());
    const { a, b } = c.req.valid('param');
    const body: LinkSeries = await linkQualitySeries(reads, deps.dbInfo.mode, a, b, range);
    return conditionalJson(c, JSON.stringify(body));
  });

  return app;
}

export const pathsOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/paths/{src}/{dst}/series',
    operationId: 'getPathSeries',
    summary: 'RTT, jitter, loss and route changes of one route, bucketed',
    description:
      'What a details drawer plots. Raw probe windows are bucketed by `step`; ranges of two days or more in whole-hour ' +
      'steps read the hourly rollup instead. Route changes always come from the raw windows.',
    tags: ['paths'],
    auth: 'read',
    conditional: true,
    params: SeriesParams,
    query: SeriesQuery,
    responses: [{ status: 200, description: 'The series', schema: PathSeries }],
    problems: [400],
  },
  {
    method: 'get',
    path: '/links/{a}/{b}/series',
    operationId: 'getLinkSeries',
    summary: 'LQ, NLQ and ETX of one link, bucketed',
    description:
      'What a link incident’s page plots. Both directions of the link are read; LQ and NLQ are as seen from `a` ' +
      '(the first node in sorted order, whatever order the path gives). Range and step as for the path series.',
    tags: ['paths'],
    auth: 'read',
    conditional: true,
    params: LinkSeriesParams,
    query: LinkSeriesQuery,
    responses: [{ status: 200, description: 'The series', schema: LinkSeries }],
    problems: [400],
  },
];
