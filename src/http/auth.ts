import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../app-deps.ts';
import type { Config } from '../config.ts';
import { problems, type HttpProblem } from './problem.ts';

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

/** A bearer guard: the middleware, and the same check for a handler that cannot be middleware (notFound). */
export interface BearerGuard extends MiddlewareHandler<AppEnv> {
  /** Why this request may not pass; null when it may. */
  refusal(c: Context): HttpProblem | null;
}

/**
 * An optional bearer token: `Authorization: Bearer <token>` required while
 * `token` is set, nothing while it is not (so the agents' contract is
 * unchanged by default). Tokens are only read from the Authorization header
 * (never the query string, which the access log would keep) and are never
 * logged. Mounted on each route it guards, before its validators, like
 * operatorAuth: who may call a route is written beside it.
 */
function bearerGuard(token: string | undefined, name: string): BearerGuard {
  const expected = token ? digest(token) : null;
  const refusal = (c: Context): HttpProblem | null => {
    if (!expected) return null;
    const presented = presentedToken(c.req.header('authorization'));
    if (!presented) return problems.unauthorized(`send Authorization: Bearer <${name}>`);
    if (!timingSafeEqual(digest(presented), expected)) return problems.unauthorized('the bearer token is not valid here');
    return null;
  };
  const guard: MiddlewareHandler<AppEnv> = async (c, next) => {
    const refused = refusal(c);
    if (refused) throw refused;
    await next();
  };
  return Object.assign(guard, { refusal });
}

/** The read API (and /metrics, and unknown paths read with GET): API_TOKEN when set. The panel has its own sign-in on top. */
export const readAuth = (config: Pick<Config, 'API_TOKEN'>) => bearerGuard(config.API_TOKEN, 'API_TOKEN');

/** /ingest and /api/reports: INGEST_TOKEN when set, and only it. */
export const ingestAuth = (config: Pick<Config, 'INGEST_TOKEN'>) => bearerGuard(config.INGEST_TOKEN, 'INGEST_TOKEN');

/**
 * Unknown paths: a read answers as the read API does (401 without the
 * token, so nobody learns which paths exist); a write is answered 404 and
 * counted (an agent posting to a wrong URL: /metrics, meshmon doctor). A
 * preflight never carries credentials.
 */
const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function unknownPathRefusal(guard: BearerGuard, c: Context): HttpProblem | null {
  return WRITE_METHODS.has(c.req.method) || c.req.method === 'OPTIONS' ? null : guard.refusal(c);
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
