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

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down)
  '08000', '08001', '08003', '08004', '08006', // connection exceptions
  '53300', // too_many_connections
]);

/** True when an error means "the database is not there right now" (→ 503), not a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Cannot use a pool after calling end/i.test(msg)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
