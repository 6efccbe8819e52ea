import { Hono } from 'hono';
import { apiReads, type AppDeps, type AppEnv } from '../app-deps.ts';
import type { ApiOperation } from '../api/openapi.ts';
import { NoQuery } from '../api/query.ts';
import { operatorAuth } from '../http/auth.ts';
import { problems } from '../http/problem.ts';
import { validate } from '../http/validation.ts';
import { operatorWrite } from '../operator/write.ts';
import {
  CreateWindowBody,
  DeleteWindowQuery,
  EndWindowBody,
  MaintenanceList,
  MaintenanceQuery,
  MaintenanceWindow,
  MaintenanceWindowDetail,
  WindowIdParam,
} from './maintenance.schema.ts';
import { createWindow, endWindowEarly, listMaintenance, maintenanceDetail, removeWindow } from './maintenance.service.ts';

/** Maintenance windows: read with the read API's token, written with OPERATOR_TOKEN. */
export function maintenanceRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const reads = apiReads(deps);
  const operator = operatorAuth(deps.config);

  app.get('/maintenance', validate('query', MaintenanceQuery), async (c) => {
    const body: MaintenanceList = await listMaintenance(reads, c.req.valid('query'), deps.now());
    return c.json(body);
  });

  app.post('/maintenance', operator, validate('query', NoQuery), validate('json', CreateWindowBody), async (c) => {
    const input = c.req.valid('json');
    const body: MaintenanceWindow = await operatorWrite(deps, c, (trx, ctx) => createWindow(trx, input, ctx));
    deps.log.info('maintenance window created', { id: body.id, by: body.created_by, scope: body.scope, starts_at: body.starts_at, ends_at: body.ends_at });
    return c.json(body, 201, { Location: `/maintenance/${body.id}` });
  });

  app.get('/maintenance/:id', validate('param', WindowIdParam), validate('query', NoQuery), async (c) => {
    const { id } = c.req.valid('param');
    const body: MaintenanceWindowDetail | null = await maintenanceDetail(reads, id, deps.now());
    if (!body) throw problems.notFound(`no maintenance window with id ${JSON.stringify(id)}`);
    return c.json(body);
  });

  app.post('/maintenance/:id/end', operator, validate('param', WindowIdParam), validate('query', NoQuery), validate('json', EndWindowBody), async (c) => {
    const { id } = c.req.valid('param');
    const { by } = c.req.valid('json');
    const body: MaintenanceWindow = await operatorWrite(deps, c, (trx, ctx) => endWindowEarly(trx, id, by, ctx));
    deps.log.info('maintenance window ended early', { id, by });
    return c.json(body);
  });

  app.delete('/maintenance/:id', operator, validate('param', WindowIdParam), validate('query', DeleteWindowQuery), async (c) => {
    const { id } = c.req.valid('param');
    const { by } = c.req.valid('query');
    await operatorWrite(deps, c, (trx, ctx) => removeWindow(trx, id, by, ctx));
    deps.log.info('maintenance window deleted', { id, by });
    return c.body(null, 204);
  });

  return app;
}

export const maintenanceOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/maintenance',
    operationId: 'listMaintenance',
    summary: 'Maintenance windows, latest start first',
    description: 'Every window by default, past ones included (they are the history of what was covered). Page with `limit` and `next`.',
    tags: ['maintenance'],
    auth: 'read',
    query: MaintenanceQuery,
    responses: [{ status: 200, description: 'A page of windows', schema: MaintenanceList }],
    problems: [400],
  },
  {
    method: 'post',
    path: '/maintenance',
    operationId: 'createMaintenance',
    summary: 'Open a maintenance window (node, link, route or the whole mesh)',
    description:
      'While it is active, incidents it covers are marked `maintenance`, are not notified (Alertmanager) and do not colour /summary’s health. ' +
      'A node window covers the node’s incidents, the links with the node at either end and the routes from, to or through it; ' +
      'a link window the link’s incidents and the routes crossing it; a route window that route’s; a mesh window everything. ' +
      'An incident whose parent is covered is covered. Needs OPERATOR_TOKEN; recorded in the audit log.',
    tags: ['maintenance'],
    auth: 'operator',
    query: NoQuery,
    body: { schema: CreateWindowBody, description: 'Who, what, when and why' },
    responses: [{ status: 201, description: 'Created', schema: MaintenanceWindow }],
    problems: [400, 403, 422],
  },
  {
    method: 'get',
    path: '/maintenance/{id}',
    operationId: 'getMaintenance',
    summary: 'One maintenance window with the incidents it covered',
    tags: ['maintenance'],
    auth: 'read',
    params: WindowIdParam,
    query: NoQuery,
    responses: [{ status: 200, description: 'The window', schema: MaintenanceWindowDetail }],
    problems: [400, 404],
  },
  {
    method: 'post',
    path: '/maintenance/{id}/end',
    operationId: 'endMaintenance',
    summary: 'End an active window now',
    description: 'The window keeps its planned end (`planned_ends_at`) and records who ended it. A window that has not started is deleted instead (409).',
    tags: ['maintenance'],
    auth: 'operator',
    params: WindowIdParam,
    query: NoQuery,
    body: { schema: EndWindowBody, description: 'Who ends it' },
    responses: [{ status: 200, description: 'The window, ended', schema: MaintenanceWindow }],
    problems: [400, 403, 404, 409, 422],
  },
  {
    method: 'delete',
    path: '/maintenance/{id}',
    operationId: 'deleteMaintenance',
    summary: 'Delete a window that has not started',
    description:
      'Only a scheduled window can be deleted: one that has started stays as history (409; end it early instead). ' +
      'The audit log keeps what was deleted.',
    tags: ['maintenance'],
    auth: 'operator',
    params: WindowIdParam,
    query: DeleteWindowQuery,
    responses: [{ status: 204, description: 'Deleted' }],
    problems: [400, 403, 404, 409],
  },
];
