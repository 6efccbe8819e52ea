import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-deps.ts';
import { problems } from './problem.ts';

/**
 * Above this, an unread body is not drained after the answer: the connection
 * is closed instead (a client may declare gigabytes, or never end a chunked
 * body). Below it Bun discards the rest of the body and the client reads its
 * 413 without a reset.
 */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

const declaredLength = (req: Request): number | null => {
  if (req.headers.has('transfer-encoding')) return null;
  const v = req.headers.get('content-length');
  return v !== null && /^\s*\d+\s*$/.test(v) ? Number(v) : null;
};

const tooLarge = (size: string, limit: number) =>
  problems.tooLarge(`the body is ${size}; the limit is ${limit} bytes (MAX_BODY_BYTES)`);

/**
 * Bodies for routes that do not bound their own reading: refused by their
 * Content-Length before anything is read, or counted while read (chunked)
 * and refused as soon as they pass the limit — a 413 problem either way,
 * never the server's bare 413, and never more than the limit in memory.
 */
export function bodyLimit(limit: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const req = c.req.raw;
    if (!req.body) return next();
    const declared = declaredLength(req);
    if (declared !== null) {
      if (declared > limit) throw tooLarge(`${declared} bytes`, limit);
      return next();
    }
    // Unknown length (chunked): read here, up to the limit, so that whatever
    // reads it later (a JSON validator turns any read error into a 400) gets
    // a complete body or the request never reaches it.
    const reader = req.body.getReader();
    const chunks: Uint8Array[] = [];
    let seen = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      seen += value.byteLength;
      if (seen > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(`over ${limit} bytes`, limit);
      }
      chunks.push(value);
    }
    c.req.raw = new Request(req, { body: Buffer.concat(chunks) });
    return next();
  };
}

/**
 * A 413 to a body too large to drain, or of unknown length, closes the
 * connection once answered: the client reads the problem, then stops.
 */
export function closeAfterHugeBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (c.res.status !== 413) return;
    const declared = declaredLength(c.req.raw);
    if (declared === null || declared > DRAIN_LIMIT_BYTES) c.res.headers.set('Connection', 'close');
  };
}
