// The collector outlives its database: a PostgreSQL that stops turns /healthz
// (and every database route) into 503, and a PostgreSQL that comes back is
// used again without restarting anything (known defect 10 of the guide).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'kysely';
import { createDatabase, createPool, type Database } from '../../src/db/database.ts';
import { runningServerPid, startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { listJobRuns } from '../../src/db/job-state.repository.ts';
import { silentLogger } from '../../src/log.ts';
import type pg from 'pg';
import { testApp, type TestApp } from '../support/app.ts';
import { findFreePort } from '../support/free-port.ts';
import { tempDataDir } from '../support/temp-dir.ts';

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T;
  do {
    last = await fn();
    if (ok(last)) return last;
    await Bun.sleep(200);
  } while (Date.now() < deadline);
  throw new Error(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
}

describe('a database restart under a running collector', () => {
  let dir: string;
  let removeDir = async () => {};
  let port: number;
  let server: EmbeddedServer | null = null;
  let pool: pg.Pool;
  let db: Database;
  let t: TestApp;

  beforeAll(async () => {
    ({ dir, remove: removeDir } = await tempDataDir('meshmon-restart'));
    port = await findFreePort();
    server = await startEmbedded({ dataDir: dir, port, log: silentLogger });
    pool = createPool({ url: server.url, max: 4 });
    db = createDatabase(pool);
    const info = await migrateToLatest(db, { timescaledb: 'off' });
    t = testApp({ mode: 'none', db, info, url: server.url, pool, truncate: async () => {}, close: async () => {} });
    // A route that reads through a repository, like every API route does.
    t.app.get('/test/job-state', async (c) => c.json(await listJobRuns(t.deps.db)));
  }, 120_000);

  afterAll(async () => {
    await db?.destroy().catch(() => {});
    await server?.stop();
    await removeDir();
  }, 60_000);

  // The read API runs prepared statements on the pool's connections: after a
  // restart the new backends know none of them, and each is prepared again.
  const API_READS = ['/issues', '/issues/by-object?node=N1', '/issues/inc_none', '/summary', '/registry', '/paths/A/B/series'];
  const apiStatuses = async () => Promise.all(API_READS.map(async (u) => (await t.json(u)).status));
  const API_UP = [200, 200, 404, 200, 200, 200];

  test('503 while PostgreSQL is down, 200 again once it is back', async () => {
    expect((await t.json('/healthz')).status).toBe(200);
    expect((await t.json('/test/job-state')).status).toBe(200);
    expect(await apiStatuses()).toEqual(API_UP);

    await server!.stop();
    server = null;

    const down = await until('healthz after stopping PostgreSQL', () => t.json('/healthz'), (r) => r.status === 503, 15_000);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.database.up).toBe(false);
    expect(down.res.headers.get('retry-after')).toBe('5');

    const route = await t.json('/test/job-state');
    expect(route.status).toBe(503);
    expect(route.res.headers.get('content-type')).toBe('application/problem+json');
    expect(route.res.headers.get('retry-after')).toBeTruthy();
    expect(route.body).toMatchObject({ status: 503, title: 'Service Unavailable' });
    expect(route.body.request_id).toBeTruthy();
    expect(await apiStatuses()).toEqual(API_READS.map(() => 503));

    server = await startEmbedded({ dataDir: dir, port, log: silentLogger });

    await until('healthz after restarting PostgreSQL', () => t.json('/healthz'), (r) => r.status === 200, 15_000);
    expect((await t.json('/test/job-state')).status).toBe(200);
    expect(await apiStatuses()).toEqual(API_UP);
  }, 90_000);

  test('an embedded PostgreSQL that dies (SIGKILL) is started again by the collector', async () => {
    expect((await t.json('/healthz')).status).toBe(200);
    const pid = runningServerPid(server!.dataDir);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');

    await until('healthz after killing PostgreSQL', () => t.json('/healthz'), (r) => r.status === 503, 15_000);
    await until('healthz after the automatic restart', () => t.json('/healthz'), (r) => r.status === 200, 60_000);
    expect(runningServerPid(server!.dataDir)).not.toBe(pid);
    expect((await t.json('/test/job-state')).status).toBe(200);
    expect(await apiStatuses()).toEqual(API_UP);
  }, 90_000);

  test('a connection lost while checked out (mid-transaction) fails that work, not the process', async () => {
    const admin = createPool({ url: server!.url, max: 1 });
    try {
      const outcome = await db.connection().execute(async (conn) => {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(conn);
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        // The server's goodbye arrives while no query runs on this client:
        // pg emits 'error' on it, which had no listener and crashed the process.
        await Bun.sleep(300);
        return sql`SELECT 1`.execute(conn).then(() => 'ok', (err: Error) => err.message);
      });
      expect(outcome).not.toBe('ok');
    } finally {
      await admin.end();
    }
    // The pool dropped the dead client and serves new work.
    expect((await t.json('/test/job-state')).status).toBe(200);
  }, 30_000);
});
