import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface FieldError {
  /** Index of the message in an ingest batch, when the body was an array or one message (0). */
  index?: number;
  /** Dotted path of the offending field or the query parameter's name. */
  path: string;
  message: string;
}

/**
 * An RFC 9457 problem. Thrown anywhere in a request; the app's one `onError`
 * turns it into the response, so every error body has the same shape.
 */
export class HttpProblem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
    this.name = 'HttpProblem';
  }
}

export const problems = {
  badRequest: (detail: string, errors?: FieldError[]) =>
    new HttpProblem(400, 'Bad Request', detail, errors ? { errors } : {}),
  unauthorized: (detail = 'a valid bearer token is required') =>
    new HttpProblem(401, 'Unauthorized', detail, {}, { 'WWW-Authenticate': 'Bearer realm="meshmon"' }),
  forbidden: (detail: string) => new HttpProblem(403, 'Forbidden', detail),
  notFound: (detail: string) => new HttpProblem(404, 'Not Found', detail),
  conflict: (detail: string) => new HttpProblem(409, 'Conflict', detail),
  tooLarge: (detail: string) => new HttpProblem(413, 'Content Too Large', detail),
  unsupportedMediaType: (detail: string) => new HttpProblem(415, 'Unsupported Media Type', detail),
  unprocessable: (detail: string, errors: FieldError[]) =>
    new HttpProblem(422, 'Unprocessable Content', detail, { errors }),
  unavailable: (detail = 'the database is unavailable; retry later', retryAfterS = 5) =>
    new HttpProblem(503, 'Service Unavailable', detail, {}, { 'Retry-After': String(retryAfterS) }),
};

const slug = (title: string) => title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/(^-|-$)/g, '');

export function problemBody(p: HttpProblem, instance: string, requestId: string | undefined) {
  return {
    type: `https://meshmon.invalid/problems/${slug(p.title)}`,
    title: p.title,
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    instance,
    request_id: requestId ?? null,
    ...p.extra,
  };
}

export function problemResponse(c: Context, p: HttpProblem): Response {
  const body = problemBody(p, c.req.path, c.get('requestId' as never) as string | undefined);
  return new Response(JSON.stringify(body), {
    status: p.status,
    headers: { 'Content-Type': PROBLEM_CONTENT_TYPE, ...p.headers },
  });
}
