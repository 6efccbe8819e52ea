import { z } from 'zod';
import { INGEST_PATHS } from '../ingest/ingest.routes.ts';
import { IngestBody, IngestResponse } from '../ingest/ingest.schema.ts';
import type { ApiOperation } from './openapi.ts';

// The routes other features serve, as /openapi.json describes them. /ingest
// is described by the ingest feature's own schemas; /healthz and /metrics
// build their bodies by hand, so their shape is written down here.

const JobStatus = z
  .object({
    name: z.string(),
    schedule: z.string().optional(),
    next_run_at: z.iso.datetime().nullable(),
    last_run_at: z.iso.datetime().nullable(),
    last_success_at: z.iso.datetime().nullable(),
    last_result: z.enum(['ok', 'error', 'skipped']).nullable(),
    last_error: z.string().nullable(),
    duration_ms: z.number().nullable(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'JobStatus' });

export const HealthStatus = z
  .looseObject({
    status: z.enum(['ok', 'degraded', 'unavailable']).meta({
      description:
        '`ok` (200): the database answers and can write, the Issue Engine ticks; `degraded` (503): the database answers but cannot write ' +
        '(disk full, read-only, out of memory…) or the engine fails; `unavailable` (503): the database does not answer',
    }),
    reasons: z.array(z.string()).meta({ description: 'What is wrong, in a few words each (never an address, user or host); empty when ok' }),
    version: z.string(),
    database: z.looseObject({
      up: z.boolean(),
      writable: z.boolean().nullable().meta({ description: 'Checked only after a write failed: false while writes fail, true once they pass again; null otherwise' }),
      mode: z.enum(['timescale', 'apache', 'none']),
      version: z.string(),
      timescaledb: z.string().nullable(),
      embedded: z.boolean(),
      size_bytes: z.number().nullable(),
      error: z.string().optional().meta({ description: 'Why the database is unavailable or cannot write, in a few words' }),
      failing_since: z.iso.datetime().optional().meta({ description: 'When writes first failed, while they still do' }),
    }),
    engine: JobStatus.nullable(),
    jobs: z.array(JobStatus),
    rules: z.array(JobStatus),
  })
  .meta({ id: 'HealthStatus' });

export const collectorOperations: ApiOperation[] = [
  ...INGEST_PATHS.map((path): ApiOperation => ({
    method: 'post',
    path,
    operationId: path === '/ingest' ? 'ingest' : 'ingestReports',
    summary: path === '/ingest'
      ? 'Store agent messages (meshmon.v1): one message or a batch; every usable measurement is stored, the rest is listed'
      : 'The same endpoint as /ingest, where the upstream agent’s sample configuration posts (collector_url)',
    description:
      'The router agents’ contract. Every usable measurement is stored and every unusable message, probe, hop or value is ' +
      'dropped alone and listed in the answer (`drops`, with index, field path and reason), in one transaction; a retried ' +
      'or repeated measurement is stored once, judged by the agent’s own timestamps whatever its clock. 422 only when ' +
      'nothing in the request is usable (or the batch is empty). Limits: MAX_BODY_BYTES and MAX_BATCH_MESSAGES (413); ' +
      'new nodes beyond MAX_NODES are dropped. With INGEST_TOKEN set, `Authorization: Bearer <token>` is required. ' +
      'HTTP/1.0 requests without a Host header (the upstream agent’s) are fine.',
    tags: ['ingest'],
    auth: 'ingest',
    body: { schema: IngestBody, description: 'One message or an array of them' },
    responses: [{ status: 200, description: 'Stored (the transaction committed): what was stored, and what was dropped and why', schema: IngestResponse }],
    problems: [400, 413, 415, 422],
  })),
  {
    method: 'get',
    path: '/healthz',
    operationId: 'healthz',
    summary: 'Health of the collector, its database and its Issue Engine; never needs a token (container healthcheck)',
    tags: ['ops'],
    auth: 'none',
    responses: [
      { status: 200, description: 'ok: the database answers and can write; the Issue Engine ticks', schema: HealthStatus },
      { status: 503, description: 'degraded or unavailable (with Retry-After); same shape, `reasons` says what is wrong', schema: HealthStatus },
    ],
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['ops'],
    auth: 'read',
    responses: [{ status: 200, description: 'Prometheus text format 0.0.4', contentType: 'text/plain', jsonSchema: { type: 'string' } }],
  },
];
