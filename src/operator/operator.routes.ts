import { Hono } from 'hono';
import { apiReads, type AppDeps, type AppEnv } from '../app-deps.ts';
import { IssueIdParam } from '../api/issues.schema.ts';
import type { ApiOperation } from '../api/openapi.ts';
import { NoQuery } from '../api/query.ts';
import { operatorAuth } from '../http/auth.ts';
import { validate } from '../http/validation.ts';
import { AckBody, AckResponse, NoteBody, NoteResponse } from './ack.schema.ts';
import { acknowledge, addNote } from './ack.service.ts';
import { AuditList, AuditQuery } from './audit.schema.ts';
import { auditLog } from './audit.service.ts';
import { operatorWrite } from './write.ts';

/** Acknowledgements and notes on incidents (OPERATOR_TOKEN), and the audit log of every write (read token). */
export function operatorRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const operator = operatorAuth(deps.config);

  app.post('/issues/:id/ack', operator, validate('param', IssueIdParam), validate('query', NoQuery), validate('json', AckBody), async (c) => {
    const { id } = c.req.valid('param');
    const input = c.req.valid('json');
    const body: AckResponse = await operatorWrite(deps, c, (trx, ctx) => acknowledge(trx, id, input, ctx));
    deps.log.info('incident acknowledged', { id, by: input.by });
    return c.json(body);
  });

  app.post('/issues/:id/notes', operator, validate('param', IssueIdParam), validate('query', NoQuery), validate('json', NoteBody), async (c) => {
    const { id } = c.req.valid('param');
    const input = c.req.valid('json');
    const body: NoteResponse = await operatorWrite(deps, c, (trx, ctx) => addNote(trx, id, input, ctx));
    deps.log.info('incident note added', { id, by: input.by });
    return c.json(body, 201);
  });

  app.get('/audit', validate('query', AuditQuery), async (c) => {
    const body: AuditList = await auditLog(apiReads(deps), c.req.valid('query'));
    return c.json(body);
  });

  return app;
}

export const operatorOperations: ApiOperation[] = [
  {
    method: 'post',
    path: '/issues/{id}/ack',
    operationId: 'acknowledgeIssue',
    summary: 'Acknowledge an open incident ("I am on it"), with an optional note',
    description:
      'The incident stays open and counted, shown with `acknowledged`; the timeline gets an `acknowledged` event. ' +
      'A later acknowledgement replaces the current one (the timeline keeps both). A closed incident answers 409. ' +
      'Needs OPERATOR_TOKEN; recorded in the audit log.',
    tags: ['operator'],
    auth: 'operator',
    params: IssueIdParam,
    query: NoQuery,
    body: { schema: AckBody, description: 'Who, and optionally what they do' },
    responses: [{ status: 200, description: 'Acknowledged', schema: AckResponse }],
    problems: [400, 403, 404, 409, 422],
  },
  {
    method: 'post',
    path: '/issues/{id}/notes',
    operationId: 'addIssueNote',
    summary: 'Add a note to an incident’s timeline (open or closed)',
    description: 'The timeline gets a `note` event with `{by, note}`. Needs OPERATOR_TOKEN; recorded in the audit log.',
    tags: ['operator'],
    auth: 'operator',
    params: IssueIdParam,
    query: NoQuery,
    body: { schema: NoteBody, description: 'Who, and the note' },
    responses: [{ status: 201, description: 'Added', schema: NoteResponse }],
    problems: [400, 403, 404, 422],
  },
  {
    method: 'get',
    path: '/audit',
    operationId: 'listAudit',
    summary: 'Every write of the operator API: who, when, what',
    tags: ['operator'],
    auth: 'read',
    query: AuditQuery,
    responses: [{ status: 200, description: 'Newest first', schema: AuditList }],
    problems: [400],
  },
];
