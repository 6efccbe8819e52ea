import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { isDatabaseUnavailable } from '../db/database.ts';
import { HttpProblem, problems } from '../http/problem.ts';
import { AddressBook } from './ingest.addresses.ts';
import { readMessages } from './ingest.read.ts';
import type { Drop, IngestResponse } from './ingest.schema.ts';
import { KnownNodes, MAX_LISTED_DROPS, messageTypeOf, storeMessages, type StoreOutcome } from './ingest.service.ts';

/** Deadlocks and serialization failures are another request's timing, not this body's fault. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 3;
/** A log line names this many drops; the answer and the registry have the rest. */
const LOGGED_DROPS = 3;

/**
 * The paths agents post to: /ingest, and /api/reports, where the upstream
 * agent's sample configuration points (collector_url). One handler, mounted
 * at both (src/app.ts); INGEST_TOKEN guards both.
 */
export const INGEST_PATHS = ['/ingest', '/api/reports'] as const satisfies readonly string[];

/** A client that went away before its body arrived: not a server error, not its body's fault. */
export class ClientClosedRequest extends HttpProblem {
  constructor() {
    super(499 as ContentfulStatusCode, 'Client Closed Request', 'the client closed the connection before the body arrived; nothing was stored');
  }
}

/**
 * POST one `meshmon.v1` message or a batch. Every usable measurement is
 * stored (one transaction per request), every unusable part is dropped alone
 * and listed; the 200 comes after commit. 4xx only when nothing in the
 * request is usable. The upstream agent never reads the answer, so drops are
 * also counted per node (registry), per reason (metrics) and logged.
 */
export function ingestRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const { config, metrics, log } = deps;
  const book = deps.addresses?.book ?? new AddressBook();
  const known = new KnownNodes();

  app.post('/', async (c) => {
    let items: unknown[] | null = null;
    const countRejected = (reason: string) => {
      for (const item of items ?? []) metrics.ingestMessages.inc({ type: messageTypeOf(item), outcome: 'rejected', reason });
    };
    try {
      checkContentType(c.req.header('content-type'), c.req.header('content-encoding'));
      const bytes = await readBody(c.req.raw, config.MAX_BODY_BYTES);
      const text = decode(bytes);
      const first = parseJson(text);
      if (Array.isArray(first) && first.length > config.MAX_BATCH_MESSAGES) {
        throw problems.tooLarge(`the batch holds ${first.length} messages; the limit is ${config.MAX_BATCH_MESSAGES} (MAX_BATCH_MESSAGES)`);
      }
      if (Array.isArray(first) && first.length === 0) {
        throw problems.unprocessable('the batch is empty: there is nothing to store; send one message or an array of them', []);
      }
      items = Array.isArray(first) ? first : [first];

      const receivedAt = deps.now();
      let attempt = 0;
      const outcome = await withRetry(
        // Each attempt reads afresh: storing fills in names and times.
        () => deps.db.transaction().execute((trx) => storeMessages(trx, readMessages(attempt++ ? parseJson(text) : first), { receivedAt, config, book, known })),
        (err) => log.warn('ingest transaction retried', { request_id: c.get('requestId'), err: (err as Error).message }),
      );
      account(c, outcome);
      if (!outcome.usable) {
        countRejected('invalid');
        throw problems.unprocessable(
          `nothing in the request is usable (${outcome.drops.length} drop${outcome.drops.length === 1 ? '' : 's'}); nothing was stored`,
          outcome.drops.slice(0, MAX_LISTED_DROPS).map(asFieldError),
        );
      }
      // Committed: this process's caches and the address work learn from it.
      const nowMs = receivedAt.getTime();
      for (const l of outcome.learned) book.set(l.address, l.node, nowMs);
      known.add(outcome.registered);
      if (outcome.learned.length) deps.addresses?.learned(outcome.learned);
      if (outcome.unknownAddresses.length) deps.addresses?.unknown(outcome.unknownAddresses);

      const { result } = outcome;
      for (const [type, n] of Object.entries(result.accepted)) if (n) metrics.ingestMessages.inc({ type, outcome: 'accepted' }, n);
      for (const [type, n] of Object.entries(result.duplicates)) if (n) metrics.ingestMessages.inc({ type, outcome: 'duplicate' }, n);
      for (const i of outcome.skippedIndexes) metrics.ingestMessages.inc({ type: messageTypeOf(items[i]), outcome: 'skipped' });
      metrics.ingestRequests.inc({ status: '200' });
      const response: IngestResponse = { ...result, received_at: receivedAt.toISOString() };
      return c.json(response, 200);
    } catch (err) {
      if (!(err instanceof HttpProblem) && (c.req.raw.signal.aborted || (err as Error)?.name === 'AbortError')) {
        metrics.ingestRequests.inc({ status: '499' });
        log.info('ingest client closed the connection', { request_id: c.get('requestId') });
        throw new ClientClosedRequest();
      }
      const status = err instanceof HttpProblem ? err.status : isDatabaseUnavailable(err) ? 503 : 500;
      if (!(err instanceof HttpProblem && status === 422)) countRejected(status === 503 ? 'unavailable' : status >= 500 ? 'error' : 'invalid');
      metrics.ingestRequests.inc({ status: String(status) });
      throw err;
    }
  });

  /** Drop counters and the one log line of a request that dropped something. */
  function account(c: Context<AppEnv>, o: StoreOutcome) {
    for (const [reason, n] of Object.entries(o.counted)) if (n) metrics.ingestDropped.inc({ reason }, n);
    if (o.refusedNodes.length) metrics.nodesRefused.inc(o.refusedNodes.length);
    if (!o.drops.length) return;
    const by: Record<string, number> = {};
    for (const d of o.drops) by[d.reason] = (by[d.reason] ?? 0) + 1;
    log.warn('ingest dropped', {
      request_id: c.get('requestId'),
      path: c.req.path,
      stored: o.usable,
      drops: o.drops.length,
      reasons: by,
      first: o.drops.slice(0, LOGGED_DROPS).map((d) => ({ index: d.index, path: d.path, reason: d.reason })),
      ...(o.refusedNodes.length ? { refused_nodes: o.refusedNodes.slice(0, LOGGED_DROPS), max_nodes: config.MAX_NODES } : {}),
    });
  }

  app.all('/', (c) => {
    throw new HttpProblem(405, 'Method Not Allowed', `${c.req.method} is not allowed on ${c.req.path}; POST messages`, {}, { Allow: 'POST' });
  });

  return app;
}

const asFieldError = (d: Drop) => ({ index: d.index, path: d.path || '(root)', reason: d.reason, message: d.message });

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
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
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

function decode(bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw problems.badRequest('the body is not valid UTF-8');
  }
  if (text.trim() === '') throw problems.badRequest('the body is empty; send a JSON message or an array of messages');
  return text;
}

/**
 * JSON.parse, and one second chance: agents written in C print a NaN or an
 * infinity with printf ("nan", "-inf"), which JSON cannot hold. Outside
 * strings, those bare words become the string "NaN", which the reader then
 * drops as the one value that is not a number, instead of losing the body.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const mended = /nan|inf/i.test(text) ? mendNonFinite(text) : null;
    if (mended !== null) {
      try {
        return JSON.parse(mended);
      } catch { /* the first error says more */ }
    }
    throw problems.badRequest(`the body is not valid JSON: ${(err as Error).message}`);
  }
}

const NON_FINITE = /^-?(?:nan|inf(?:inity)?)(?![A-Za-z0-9_])/i;

function mendNonFinite(text: string): string | null {
  let out = '';
  let from = 0;
  let changed = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      // Skip the string, escapes included.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      continue;
    }
    if (ch === 'n' || ch === 'N' || ch === 'i' || ch === 'I' || ch === '-') {
      const m = NON_FINITE.exec(text.slice(i, i + 10));
      if (m) {
        out += text.slice(from, i) + '"NaN"';
        i += m[0].length - 1;
        from = i + 1;
        changed = true;
      }
    }
  }
  return changed ? out + text.slice(from) : null;
}