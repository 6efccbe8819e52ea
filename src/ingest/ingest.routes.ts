import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { isDatabaseUnavailable } from '../db/database.ts';
import { HttpProblem, problems } from '../http/problem.ts';
import type { IngestResponse } from './ingest.schema.ts';
import { messageTypeOf, parseMessages, storeMessages } from './ingest.service.ts';

/** Deadlocks and serialization failures are another request's timing, not this body's fault. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 3;

/**
 * POST /ingest: one `meshmon.v1` message or a batch, stored all-or-nothing in
 * one transaction; 200 only after commit. The upstream agent takes anything
 * but 200/202 as failure and retries, which the unique keys make harmless.
 */
export function ingestRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const { config, metrics, log } = deps;

  app.post('/ingest', async (c) => {
    let items: unknown[] | null = null;
    const countRejected = (reason: string) => {
      for (const item of items ?? []) metrics.ingestMessages.inc({ type: messageTypeOf(item), outcome: 'rejected', reason });
    };
    try {
      checkContentType(c.req.header('content-type'), c.req.header('content-encoding'));
      const bytes = await readLimited(c.req.raw, config.MAX_BODY_BYTES);
      const body = parseJson(bytes);
      if (Array.isArray(body) && body.length > config.MAX_BATCH_MESSAGES) {
        throw problems.tooLarge(`the batch holds ${body.length} messages; the limit is ${config.MAX_BATCH_MESSAGES} (MAX_BATCH_MESSAGES)`);
      }
      items = Array.isArray(body) ? body : [body];

      const receivedAt = deps.now();
      const parsed = parseMessages(body, { now: receivedAt, config });
      if (!parsed.ok) {
        const bad = new Set(parsed.errors.map((e) => e.index));
        items.forEach((item, i) => metrics.ingestMessages.inc({ type: messageTypeOf(item), outcome: 'rejected', reason: bad.has(i) ? 'invalid' : 'batch_invalid' }));
        items = null;
        log.warn('ingest rejected', { request_id: c.get('requestId'), messages: bad.size, of: Array.isArray(body) ? body.length : 1 });
        throw problems.unprocessable(
          `${bad.size} of ${Array.isArray(body) ? body.length : 1} message${bad.size === 1 ? ' is' : 's are'} invalid; nothing was stored`,
          parsed.errors,
        );
      }

      const result = await withRetry(
        () => deps.db.transaction().execute((trx) => storeMessages(trx, parsed.messages, { receivedAt, config })),
        (err) => log.warn('ingest transaction retried', { request_id: c.get('requestId'), err: (err as Error).message }),
      );
      for (const [type, n] of Object.entries(result.accepted)) if (n) metrics.ingestMessages.inc({ type, outcome: 'accepted' }, n);
      for (const [type, n] of Object.entries(result.duplicates)) if (n) metrics.ingestMessages.inc({ type, outcome: 'duplicate' }, n);
      metrics.ingestRequests.inc({ status: '200' });
      const response: IngestResponse = { ...result, received_at: receivedAt.toISOString() };
      return c.json(response, 200);
    } catch (err) {
      const status = err instanceof HttpProblem ? err.status : isDatabaseUnavailable(err) ? 503 : 500;
      countRejected(status === 503 ? 'unavailable' : 'error');
      metrics.ingestRequests.inc({ status: String(status) });
      throw err;
    }
  });

  app.all('/ingest', (c) => {
    throw new HttpProblem(405, 'Method Not Allowed', `${c.req.method} is not allowed on /ingest; POST messages`, {}, { Allow: 'POST' });
  });

  return app;
}

async function withRetry<T>(fn: () => Promise<T>, onRetry: (err: unknown) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      onRetry(err);
    }
  }
}

/** JSON only: `application/json` or a `+json` type, UTF-8 when a charset is named, not compressed. */
function checkContentType(header: string | undefined, encoding: string | undefined) {
  if (encoding && encoding.trim().toLowerCase() !== 'identity') {
    throw problems.unsupportedMediaType(`send the body uncompressed (Content-Encoding ${encoding} is not supported)`);
  }
  if (!header) throw problems.unsupportedMediaType('send the body as application/json (no Content-Type was given)');
  const [type = '', ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw problems.unsupportedMediaType(`send the body as application/json, not ${type || 'an empty type'}`);
  }
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii') {
    throw problems.unsupportedMediaType(`the body must be UTF-8, not ${charset}`);
  }
}

/**
 * Reads the body, refusing it as soon as it is known to be over the limit: by
 * Content-Length before reading, and by counting while reading (chunked
 * bodies, or a Content-Length that lied).
 */
async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const tooLarge = (size: string) => problems.tooLarge(`the body is ${size}; the limit is ${limit} bytes (MAX_BODY_BYTES)`);
  const declared = req.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limit) throw tooLarge(`${declared} bytes`);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(`over ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const ch of chunks) {
    out.set(ch, at);
    at += ch.byteLength;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw problems.badRequest('the body is not valid UTF-8');
  }
  if (text.trim() === '') throw problems.badRequest('the body is empty; send a JSON message or an array of messages');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw problems.badRequest(`the body is not valid JSON: ${(err as Error).message}`);
  }
}
