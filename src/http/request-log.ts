import type { MiddlewareHandler } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';

let counter = 0;

// Requests the collector makes to itself (the panel asking the API
// in-process). Known by identity, so no header a client could send makes
// its own requests look internal; they are logged at debug, not info.
const internal = new WeakSet<Request>();

/** A request to this app from the app itself; its log line goes to debug. */
export function internalRequest(url: string, init?: RequestInit): Request {
  const req = new Request(url, init);
  internal.add(req);
  return req;
}
const prefix = Math.random().toString(36).slice(2, 8);

/** Request id, one JSON log line per request, and the duration histogram. */
export function requestContext(deps: Pick<AppDeps, 'log' | 'metrics'>): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const id = incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : `${prefix}-${(++counter).toString(36)}`;
    c.set('requestId', id);
    const t0 = performance.now();
    await next();
    const ms = performance.now() - t0;
    c.res.headers.set('X-Request-Id', id);
    const route = c.req.routePath && c.req.routePath !== '/*' && c.req.routePath !== '*' ? c.req.routePath : 'unmatched';
    deps.metrics.httpRequestDuration.observe({ method: c.req.method, route, status: String(c.res.status) }, ms / 1000);
    // The path only: query strings may carry tokens or other secrets.
    const line = { method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(ms * 10) / 10, request_id: id };
    if (internal.has(c.req.raw)) deps.log.debug('request', { ...line, internal: true });
    else deps.log.info('request', line);
  };
}
