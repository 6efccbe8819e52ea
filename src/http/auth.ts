import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../app-deps.ts';
import type { Config } from '../config.ts';
import { INGEST_PATHS } from '../ingest/ingest.routes.ts';
import { problems } from './problem.ts';

/**
 * Paths that never need a token: the container healthcheck, and the API's
 * description (it holds no data, and a browser opening /docs cannot send a
 * bearer header anyway).
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/openapi.json', '/docs']);
const INGEST: ReadonlySet<string> = new Set(INGEST_PATHS);
/** The /docs page's script and style (Swagger UI): no data either. */
const OPEN_PREFIX = '/docs/assets/';

/** Methods that change something. Besides ingest (the agents'), only the operator API has them. */
const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A request for the operator API: guarded by OPERATOR_TOKEN (operatorAuth on its routes), not by API_TOKEN. */
export function isOperatorWrite(method: string, path: string): boolean {
  return WRITE_METHODS.has(method) && !INGEST.has(path);
}

/** The identity a valid OPERATOR_TOKEN stands for, recorded as `actor` in the audit log. */
export const OPERATOR_IDENTITY = 'operator';

/**
 * CORS for the panel's origin(s). Nothing is sent when CORS_ORIGINS is empty,
 * so browsers on other origins are refused by default. Preflights are
 * answered here, before the token check: browsers never send credentials on them.
 */
export function corsMiddleware(config: Pick<Config, 'CORS_ORIGINS'>): MiddlewareHandler<AppEnv> {
  const origins = config.CORS_ORIGINS;
  if (!origins.length) return async (_c, next) => { await next(); };
  return cors({
    origin: origins.includes('*') ? '*' : [...origins],
    allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'If-None-Match'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate', 'ETag', 'X-Cache'],
    maxAge: 600,
  });
}

// Both sides hashed to the same length first: timingSafeEqual needs equal
// lengths, and comparing digests leaks neither the token nor its length.
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

function presentedToken(header: string | undefined): string | null {
  const m = header ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
  return m ? m[1]! : null;
}

/**
 * Optional bearer tokens: API_TOKEN for the reads, INGEST_TOKEN for /ingest
 * and /api/reports.
 * A token that is not configured leaves its routes open, so the agents'
 * contract is unchanged by default. Tokens are only read from the
 * Authorization header (never the query string, which the access log would
 * keep) and are never logged.
 */
export function bearerAuth(config: Pick<Config, 'API_TOKEN' | 'INGEST_TOKEN'>): MiddlewareHandler<AppEnv> {
  const api = config.API_TOKEN ? digest(config.API_TOKEN) : null;
  const ingest = config.INGEST_TOKEN ? digest(config.INGEST_TOKEN) : null;
  if (!api && !ingest) return async (_c, next) => { await next(); };

  return async (c, next) => {
    const path = c.req.path;
    if (c.req.method === 'OPTIONS' || OPEN_PATHS.has(path) || path.startsWith(OPEN_PREFIX) || isOperatorWrite(c.req.method, path)) return next();
    const isIngest = INGEST.has(path);
    const expected = isIngest ? ingest : api;
    if (expected) {
      const token = presentedToken(c.req.header('authorization'));
      if (!token) throw problems.unauthorized(`send Authorization: Bearer <${isIngest ? 'INGEST_TOKEN' : 'API_TOKEN'}>`);
      if (!timingSafeEqual(digest(token), expected)) throw problems.unauthorized('the bearer token is not valid here');
    }
    await next();
  };
}

/**
 * The write API's own token. Writes are off until OPERATOR_TOKEN is set: a
 * collector on an open mesh must not let anyone silence its incidents, and
 * a 403 that says how to turn them on beats a 401 nobody can satisfy.
 * Mounted on each write route, before its validators.
 */
export function operatorAuth(config: Pick<Config, 'OPERATOR_TOKEN'>): MiddlewareHandler<AppEnv> {
  const expected = config.OPERATOR_TOKEN ? digest(config.OPERATOR_TOKEN) : null;
  return async (c, next) => {
    if (!expected) {
      throw problems.forbidden('writes are disabled on this collector: set OPERATOR_TOKEN (at least 16 characters) in its environment and send it as Authorization: Bearer <OPERATOR_TOKEN>');
    }
    const token = presentedToken(c.req.header('authorization'));
    if (!token) throw problems.unauthorized('send Authorization: Bearer <OPERATOR_TOKEN>');
    if (!timingSafeEqual(digest(token), expected)) throw problems.unauthorized('the bearer token is not valid here');
    await next();
  };
}
