import { z } from 'zod';

// Assembles an OpenAPI 3.1 document from the zod schemas the routes validate
// with and answer in. OpenAPI 3.1 schemas are JSON Schema 2020-12, which is
// what z.toJSONSchema writes; the only work is moving each conversion's
// `$defs` (schemas with a meta id) into components.schemas and pointing the
// references there.

export type AuthKind = 'read' | 'ingest' | 'operator' | 'none';

export interface ApiResponse {
  status: number;
  description: string;
  schema?: z.ZodType;
  /** Default application/json when there is a schema. */
  contentType?: string;
  /** A body no zod schema describes (Prometheus text, HTML, this document). */
  jsonSchema?: Record<string, unknown>;
  headers?: Record<string, { description: string; schema: Record<string, unknown> }>;
}

/** One operation; the routes export these beside the handlers that use the same schemas. */
export interface ApiOperation {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI template: /issues/{id} */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  auth: AuthKind;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: { schema: z.ZodType; description: string };
  responses: ApiResponse[];
  /** Problem statuses besides 401 (added for authenticated operations) and 503. */
  problems?: number[];
  /** Answers carry an ETag and honour If-None-Match with a 304 (http/conditional.ts). */
  conditional?: boolean;
}

/** The body of every error (src/http/problem.ts renders it). */
export const Problem = z
  .looseObject({
    type: z.string().meta({ description: 'A URI naming the kind of problem' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().meta({ description: 'The request path' }),
    request_id: z.string().nullable().meta({ description: 'Also in the X-Request-Id header and the collector log' }),
    errors: z
      .array(
        z.object({
          index: z.number().int().optional().meta({ description: 'Message index in an ingest batch' }),
          path: z.string().meta({ description: 'The offending query parameter, or the field path in the body' }),
          reason: z.string().optional().meta({ description: 'Ingest: why it was dropped (a DropReason)' }),
          message: z.string(),
        }),
      )
      .optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' });

const PROBLEM_TEXT: Record<number, string> = {
  400: 'A query or path parameter is invalid; `errors[].path` names it',
  401: 'The bearer token is missing or wrong (only when a token is configured)',
  403: 'Writes are disabled: the collector has no OPERATOR_TOKEN configured (the detail says how to enable them)',
  404: 'Not found',
  413: 'The body or the batch is too large',
  409: 'The request conflicts with the current state (the detail says why and what to do instead)',
  415: 'The body is not application/json',
  422: 'Nothing in the body is usable (or the batch is empty); `errors[]` lists what was dropped and why, with index and field path',
  503: 'The database is unavailable; retry after Retry-After seconds',
};

type Json = Record<string, unknown>;

class ComponentSet {
  readonly schemas: Record<string, Json> = {};
  private readonly encoded = new Map<string, string>();

  /** A schema object for the document: a $ref when the root has an id, inline otherwise. */
  add(schema: z.ZodType, io: 'input' | 'output'): Json {
    const raw = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
    const rewritten = JSON.parse(JSON.stringify(raw).replaceAll('"#/$defs/', '"#/components/schemas/')) as Json;
    const { $schema: _s, $defs, ...root } = rewritten as Json & { $defs?: Record<string, Json> };
    for (const [id, def] of Object.entries($defs ?? {})) {
      const text = JSON.stringify(def);
      const prior = this.encoded.get(id);
      if (prior !== undefined && prior !== text) {
        throw new Error(`OpenAPI component "${id}" is described two different ways (request vs response shape?)`);
      }
      this.encoded.set(id, text);
      this.schemas[id] = def;
    }
    return root;
  }
}

function parameters(components: ComponentSet, where: 'path' | 'query', obj: z.ZodObject | undefined): Json[] {
  if (!obj) return [];
  return Object.entries(obj.shape).map(([name, field]) => {
    const f = field as z.ZodType;
    const schema = components.add(f, 'input');
    const { description, ...rest } = schema as Json & { description?: string };
    return {
      name,
      in: where,
      required: where === 'path' || !f.safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const SECURITY: Record<AuthKind, Json[] | undefined> = {
  // `{}`: tokens are off unless configured, so the unauthenticated call is valid too.
  read: [{ apiToken: [] }, {}],
  ingest: [{ ingestToken: [] }, {}],
  // Writes are never open: without OPERATOR_TOKEN they answer 403.
  operator: [{ operatorToken: [] }],
  none: [],
};

export interface DocumentInfo {
  version: string;
  operations: ApiOperation[];
}

const CONDITIONAL_HEADERS: Record<string, Json> = {
  ETag: { description: 'A tag of this exact answer; send it back in If-None-Match', schema: { type: 'string' } },
  'Cache-Control': { description: '`no-cache`: keep the answer, but revalidate before using it again', schema: { type: 'string' } },
};

const IF_NONE_MATCH: Json = {
  name: 'If-None-Match',
  in: 'header',
  required: false,
  description: 'The ETag of an answer already held: a 304 without a body when it is still current',
  schema: { type: 'string' },
};

export function buildOpenApiDocument({ version, operations }: DocumentInfo): Json {
  const components = new ComponentSet();
  const problemRef = components.add(Problem, 'output');
  const paths: Record<string, Record<string, Json>> = {};

  for (const op of operations) {
    const responses: Record<string, Json> = {};
    for (const r of op.responses) {
      const contentType = r.contentType ?? 'application/json';
      responses[String(r.status)] = {
        description: r.description,
        ...(r.headers ? { headers: r.headers } : {}),
        ...(r.schema
          ? { content: { [contentType]: { schema: components.add(r.schema, 'output') } } }
          : r.jsonSchema
            ? { content: { [contentType]: { schema: r.jsonSchema } } }
            : {}),
      };
    }
    if (op.conditional) {
      const ok = responses['200'] as Record<string, Json>;
      ok.headers = { ...(ok.headers as Record<string, Json> | undefined), ...CONDITIONAL_HEADERS };
      responses['304'] = { description: 'Not modified: the answer is still the one whose ETag the request sent in If-None-Match', headers: CONDITIONAL_HEADERS };
    }
    const statuses = new Set([...(op.problems ?? []), ...(op.auth !== 'none' ? [401] : []), 503]);
    for (const s of [...statuses].sort()) {
      responses[String(s)] ??= {
        description: PROBLEM_TEXT[s] ?? 'Problem',
        content: { 'application/problem+json': { schema: problemRef } },
      };
    }
    const params = [
      ...parameters(components, 'path', op.params),
      ...parameters(components, 'query', op.query),
      ...(op.conditional ? [IF_NONE_MATCH] : []),
    ];
    (paths[op.path] ??= {})[op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: op.tags,
      ...(params.length ? { parameters: params } : {}),
      ...(op.body
        ? {
            requestBody: {
              required: true,
              description: op.body.description,
              content: { 'application/json': { schema: components.add(op.body.schema, 'input') } },
            },
          }
        : {}),
      responses,
      security: SECURITY[op.auth],
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'MeshMon Collector API',
      version,
      description:
        'The collector of MeshMon, monitoring for AREDN mesh networks: router agents POST measurements to /ingest (or /api/reports); ' +
        'the OpenWISP "Issues" panel and other clients read incidents, health, the node registry and route series. ' +
        'Times are ISO-8601 UTC. Errors are RFC 9457 problem+json. Bearer tokens are optional and off by default: ' +
        'API_TOKEN guards the reads, INGEST_TOKEN guards /ingest and /api/reports; /healthz, /openapi.json and /docs stay open. ' +
        'The write API (acknowledgements, notes, maintenance windows) needs OPERATOR_TOKEN and answers 403 while none is configured; ' +
        'every write is recorded in the audit log (GET /audit).',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'issues', description: 'Incidents found by the Issue Engine' },
      { name: 'status', description: 'Overall health and the node registry' },
      { name: 'paths', description: 'Measurements of routes' },
      { name: 'operator', description: 'Acknowledgements, notes and the audit log of every write' },
      { name: 'maintenance', description: 'Maintenance windows: planned work that stays quiet' },
      { name: 'topology', description: 'The mesh as a NetJSON NetworkGraph (OpenWISP Network Topology)' },
      { name: 'ingest', description: 'The agents’ contract (meshmon.v1)' },
      { name: 'ops', description: 'Probes and metrics for operators' },
      { name: 'panel', description: 'The operator panel’s HTML pages (for browsers; listed so the document covers every route)' },
    ],
    paths,
    components: {
      schemas: components.schemas,
      securitySchemes: {
        apiToken: { type: 'http', scheme: 'bearer', description: 'API_TOKEN, when the collector has one configured' },
        ingestToken: { type: 'http', scheme: 'bearer', description: 'INGEST_TOKEN, when the collector has one configured' },
        operatorToken: { type: 'http', scheme: 'bearer', description: 'OPERATOR_TOKEN: required by every write; without it configured, writes answer 403' },
      },
    },
  };
}

/** `/issues/{id}` → `/issues/:id` (Hono's form), for matching against app.routes. */
export const toHonoPath = (p: string) => p.replace(/\{([^}]+)\}/g, ':$1');
