import { Hono, type Context } from 'hono';
import { apiReads, type AppDeps, type AppEnv } from '../app-deps.ts';
import { DEFAULT_RULES, rulesFromConfig, type RulesConfig } from '../engine/rules.config.ts';
import { conditionalJson, entityTag } from '../http/conditional.ts';
import { problems } from '../http/problem.ts';
import { validate } from '../http/validation.ts';
import type { ApiOperation } from './openapi.ts';
import { NoQuery } from './query.ts';
import { ByObjectList, ByObjectQuery, IssueDetail, IssueIdParam, IssueList, IssuesQuery } from './issues.schema.ts';
import { issueDetail, issuesByObject, listIssues, type PatternThresholds, type Timed } from './issues.service.ts';

export function issuesRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const reads = apiReads(deps);

  // The rules file is the engine's; read once, on the first detail, and only for pattern thresholds.
  let thresholds: PatternThresholds | null = null;
  const patternThresholds = (): PatternThresholds => {
    if (!thresholds) {
      let rules: RulesConfig = DEFAULT_RULES;
      try {
        rules = rulesFromConfig(deps.config);
      } catch (err) {
        deps.log.warn('rules file unreadable; issue patterns use default thresholds', { err: (err as Error).message });
      }
      thresholds = { jitter_ms: rules.jitter_burst.jitter_ms, loss_pct: rules.loss_spike.loss_pct };
    }
    return thresholds;
  };

  // The panel polls these with the same few queries; between two changes of
  // the incidents table the answer is the same. Keyed by the parsed query, so
  // `?status=open` and the default are one entry, parameter order does not
  // matter, and jQuery's `_=<timestamp>` cache buster does not defeat the cache.
  const cachedJson = async <Q extends object>(c: Context<AppEnv>, query: Q, read: (q: Q, now: Date) => Promise<Timed<IssueList | ByObjectList>>) => {
    const cache = deps.listCache;
    const now = deps.now();
    if (!cache) return conditionalJson(c, JSON.stringify((await read(query, now)).body));
    const { _: _buster, ...significant } = query as Record<string, unknown>;
    const key = c.req.path + JSON.stringify(significant);
    const hit = cache.get(key, now.getTime());
    deps.metrics.listCacheRequests.inc({ result: hit ? 'hit' : 'miss' });
    if (hit !== undefined) return conditionalJson(c, hit.body, hit.etag, { 'X-Cache': 'hit' });
    const generation = cache.begin();
    const answer = await read(query, now);
    const body = JSON.stringify(answer.body);
    const etag = entityTag(body);
    cache.put(key, { body, etag, ...(answer.validUntil ? { expiresAt: answer.validUntil.getTime() } : {}) }, generation);
    return conditionalJson(c, body, etag, { 'X-Cache': 'miss' });
  };

  app.get('/issues', validate('query', IssuesQuery), (c) => cachedJson(c, c.req.valid('query'), (q, now) => listIssues(reads, q, now)));

  // Before /issues/:id, which would otherwise take "by-object" for an id.
  app.get('/issues/by-object', validate('query', ByObjectQuery), (c) => cachedJson(c, c.req.valid('query'), (q, now) => issuesByObject(reads, q, now)));

  app.get('/issues/:id', validate('param', IssueIdParam), validate('query', NoQuery), async (c) => {
    const { id } = c.req.valid('param');
    const body: IssueDetail | null = await issueDetail(reads, id, { now: deps.now(), thresholds: patternThresholds() });
    if (!body) throw problems.notFound(`no incident with id ${JSON.stringify(id)}`);
    return conditionalJson(c, JSON.stringify(body));
  });

  return app;
}

export const issuesOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/issues',
    operationId: 'listIssues',
    summary: 'List incidents (issue cards)',
    description:
      'Newest first by start time. By default the open root incidents, each with its number of children. ' +
      'Page with `limit` and the `next` cursor: a page never shifts when new incidents arrive.',
    tags: ['issues'],
    auth: 'read',
    conditional: true,
    query: IssuesQuery,
    responses: [{ status: 200, description: 'A page of incidents', schema: IssueList }],
    problems: [400],
  },
  {
    method: 'get',
    path: '/issues/by-object',
    operationId: 'issuesByObject',
    summary: 'Incidents touching one link, node or route',
    description: 'Exactly one of `link`, `node`, `route`. Every status by default, children included, paged like /issues.',
    tags: ['issues'],
    auth: 'read',
    conditional: true,
    query: ByObjectQuery,
    responses: [{ status: 200, description: 'A page of incidents touching the object', schema: ByObjectList }],
    problems: [400],
  },
  {
    method: 'get',
    path: '/issues/{id}',
    operationId: 'getIssue',
    summary: 'One incident with children, timeline, affected routes, pattern and playbook',
    tags: ['issues'],
    auth: 'read',
    conditional: true,
    params: IssueIdParam,
    query: NoQuery,
    responses: [{ status: 200, description: 'The incident, for the details drawer', schema: IssueDetail }],
    problems: [400, 404],
  },
];
