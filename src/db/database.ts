import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB } from './schema.generated.ts';
import type { Logger } from '../log.ts';

export type Database = Kysely<DB>;
/** A transaction or the database itself: repositories accept either as their first argument. */
export type Executor = Kysely<DB> | Transaction<DB>;

// Timestamps come back as Date; bigint counts (COUNT(*), sizes) as JS numbers —
// no MeshMon count comes near 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

export interface PoolOptions {
  url: string;
  max?: number;
  log?: Logger;
  applicationName?: string;
}

export function createPool({ url, max = 10, log, applicationName = 'meshmon' }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // A new backend's first statements fill its catalog caches (10–15 ms
    // each): keep a couple of connections warm for a panel polling every few seconds.
    min: Math.min(max, 2),
    idleTimeoutMillis: 30_000,
    // A dead server must fail requests quickly (503), not hang them.
    connectionTimeoutMillis: 3_000,
    application_name: applicationName,
    // Notices a server that vanished without closing the socket (a Pi's
    // network or a killed container) instead of waiting on it forever.
    keepAlive: true,
    // JIT costs more than it saves on the small, frequent queries here.
    options: '-c jit=off',
  });
  // An idle client whose server went away emits 'error'; unhandled, it would
  // kill the process. The pool drops the client and makes a new one later.
  pool.on('error', (err) => log?.warn('database connection lost', { err: err.message }));
  // pg-pool listens for errors only while a client is idle. A checked-out
  // client that loses its server between two statements (inside a transaction,
  // or holding the migration lock) emits 'error' with nobody listening, which
  // crashes the process. This listener stays for the client's life; the next
  // query on it fails instead, and the pool discards it on release.
  pool.on('connect', (client) => {
    client.on('error', (err) => log?.debug('database connection error', { err: err.message }));
  });
  return pool;
}

export function createDatabase(pool: pg.Pool): Database {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

/** Distinct statements prepared on one connection; past this, statements run unprepared. */
const PREPARED_PER_CONNECTION = 200;

/**
 * Another Kysely over the same pool (destroying it leaves the pool alone)
 * whose statements run as prepared statements: parsed and
 * planned once per connection, then only bound and executed. For the API's
 * reads — the same dozen statements thousands of times, where planning was
 * half of PostgreSQL's time per request. PostgreSQL still re-plans per call
 * until a generic plan proves no worse (plan_cache_mode = auto). Not for the
 * ingest and engine writes, whose statement text varies with their row
 * counts.
 */
export function createPreparedDatabase(pool: pg.Pool): Database {
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let n = names.get(text);
    if (!n) {
      n = `meshmon_${new Bun.CryptoHasher('sha1').update(text).digest('hex').slice(0, 24)}`;
      if (names.size < 10_000) names.set(text, n);
    }
    return n;
  };
  const wrapped = new WeakMap<pg.PoolClient, pg.PoolClient>();
  const wrap = (client: pg.PoolClient): pg.PoolClient => {
    let w = wrapped.get(client);
    if (w) return w;
    const prepared = new Set<string>();
    const query = (text: unknown, values?: unknown[]) => {
      if (typeof text !== 'string') return client.query(text as string, values);
      const name = nameOf(text);
      if (!prepared.has(name)) {
        if (prepared.size >= PREPARED_PER_CONNECTION) return client.query(text, values);
        prepared.add(name);
      }
      return client.query({ name, text, values: values ?? [] });
    };
    w = new Proxy(client, { get: (target, prop) => (prop === 'query' ? query : Reflect.get(target, prop, target)) });
    wrapped.set(client, w);
    return w;
  };
  const shared = {
    connect: async () => wrap(await pool.connect()),
    end: async () => {},
    get options() {
      return pool.options;
    },
  };
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool: shared as unknown as pg.Pool }) });
}

/**
 * Errors that mean "the database cannot do this now" (→ 503 with Retry-After,
 * and /healthz not green), with the short reason shown to clients and
 * probes. Reasons name the condition, never an address, user or host: the
 * driver's own messages ("connect ECONNREFUSED 127.0.0.1:55440") stay in the log.
 */
const UNAVAILABLE: ReadonlyMap<string, string> = new Map([
  ['ECONNREFUSED', 'the database refuses connections (not running?)'],
  ['ECONNRESET', 'the connection to the database was reset'],
  ['EPIPE', 'the connection to the database was lost'],
  ['ETIMEDOUT', 'the database did not answer in time'],
  ['ENOTFOUND', 'the database host name does not resolve'],
  ['EAI_AGAIN', 'the database host name does not resolve (DNS not answering)'],
  ['EHOSTUNREACH', 'the database host is unreachable'],
  ['ENETUNREACH', 'the database host is unreachable'],
  ['57P01', 'the database was shut down'],
  ['57P02', 'the database crashed and is restarting'],
  ['57P03', 'the database is starting up, shutting down or recovering'],
  ['08000', 'the connection to the database failed'],
  ['08001', 'the connection to the database failed'],
  ['08003', 'the connection to the database was lost'],
  ['08004', 'the database refused the connection'],
  ['08006', 'the connection to the database was lost'],
  // Class 53, insufficient resources: the database is there but cannot write or accept work now.
  ['53000', 'the database is out of resources'],
  ['53100', 'the database disk is full'],
  ['53200', 'the database is out of memory'],
  ['53300', 'the database has too many connections'],
  ['53400', 'the database reached a configured limit'],
  ['25006', 'the database is read-only'],
  ['58030', 'the database could not read or write its disk (I/O error)'],
  // Another transaction's timing, not the request's fault (ingest retries these itself first).
  ['40001', 'the database is busy (serialization conflict)'],
  ['40P01', 'the database is busy (deadlock with another transaction)'],
  ['55P03', 'the database is busy (lock not available)'],
]);

/** Other errors worth a short, address-free reason (they are not "retry later"). */
const OTHER_REASONS: ReadonlyMap<string, string> = new Map([
  ['28P01', 'the database rejected the collector’s credentials'],
  ['28000', 'the database does not accept the collector’s connection (authorization)'],
  ['3D000', 'the database does not exist'],
  ['57014', 'a database query was cancelled (statement timeout)'],
]);

const UNAVAILABLE_MESSAGES: Array<[RegExp, string]> = [
  [/timeout exceeded when trying to connect|did not answer within/i, 'the database did not answer in time'],
  [/Connection terminated|connection is closed|Client has encountered a connection error/i, 'the connection to the database was lost'],
  [/Cannot use a pool after calling end/i, 'the collector is shutting down its database connections'],
];

function* causes(err: unknown): Generator<unknown> {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/** The short reason when `err` means "the database cannot do this now"; null when it is something else. */
export function unavailableReason(err: unknown): string | null {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.has(code)) return UNAVAILABLE.get(code)!;
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string') for (const [re, reason] of UNAVAILABLE_MESSAGES) if (re.test(msg)) return reason;
  }
  return null;
}

/** True when an error means "the database is not there or cannot write right now" (→ 503), not a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  return unavailableReason(err) !== null;
}

/**
 * What went wrong, for anyone who may read /healthz, /summary or a problem
 * body: a known condition's short reason, else the message with addresses,
 * URLs and quoted names taken out.
 */
export function publicReason(err: unknown): string {
  const known = unavailableReason(err);
  if (known) return known;
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && OTHER_REASONS.has(code)) return OTHER_REASONS.get(code)!;
  }
  const msg = err instanceof Error ? err.message : typeof err === 'string' ? err : String(err);
  return redact(msg);
}

/** Takes addresses, URLs (with their credentials), host/user/database names out of a message. */
export function redact(message: string): string {
  return message
    .replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>')
    .replace(/\[[0-9a-f:.]+\](?::\d+)?/gi, '<address>')
    .replace(/(?<![\w:.])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:)*:(?::[0-9a-f]{1,4})*(?::\d+\.\d+\.\d+\.\d+)?|(?:[0-9a-f]{1,4}:)+:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)(?![\w:])/gi, '<address>')
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, '<address>')
    .replace(/\b(host|user|role|database|server)(\s+)"[^"]*"/gi, '$1$2"…"')
    .replace(/\b(connect|getaddrinfo)\s+(E[A-Z]+)\s+\S+/g, '$1 $2')
    .slice(0, 300);
}
