// What is wrong must be visible — to a container health check, the panel and
// an operator — and say why in a few words that give nothing away: no
// address, user or host on the unauthenticated /healthz.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'kysely';
import { createDatabase, createPool, publicReason, redact } from '../../src/db/database.ts';
import { createEngineRunner } from '../../src/engine/engine.job.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { saveJobRun } from '../../src/jobs/job-state.repository.ts';
import { withAdmin } from '../support/admin.ts';
import { testApp } from '../support/app.ts';
import { createTestDatabase, describeEachMode, type TestDatabase } from '../support/databases.ts';
import { findFreePort } from '../support/free-port.ts';

const NOW = Date.parse('2026-03-02T12:00:00Z');
const MIN = 60_000;

describe('reasons never carry addresses, users or hosts', () => {
  test('known conditions get a short reason; anything else is redacted', () => {
    const err = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});
    expect(publicReason(err('connect ECONNREFUSED 127.0.0.1:55440', 'ECONNREFUSED'))).toBe('the database refuses connections (not running?)');
    expect(publicReason(err('getaddrinfo ENOTFOUND db.internal.example', 'ENOTFOUND'))).toBe('the database host name does not resolve');
    expect(publicReason(err('password authentication failed for user "meshmon"', '28P01'))).toBe('the database rejected the collector’s credentials');
    expect(publicReason(err('could not extend file "base/16384/16417": No space left on device', '53100'))).toBe('the database disk is full');
    expect(publicReason(err('cannot execute INSERT in a read-only transaction', '25006'))).toBe('the database is read-only');
    expect(publicReason(err('sorry, too many clients already', '53300'))).toBe('the database has too many connections');
    expect(publicReason(err('the database system is starting up', '57P03'))).toBe('the database is starting up, shutting down or recovering');
    expect(publicReason(err('timeout exceeded when trying to connect'))).toBe('the database did not answer in time');
    expect(publicReason(new Error('x', { cause: err('connect ETIMEDOUT 10.0.0.7:5432', 'ETIMEDOUT') }))).toBe('the database did not answer in time');
    for (const m of [
      'no pg_hba.conf entry for host "10.1.2.3", user "meshmon", database "meshmon"',
      'connect EHOSTUNREACH 192.168.1.20:5432 - Local (0.0.0.0:0)',
      'failed: postgres://meshmon:s3cret@db.example:5432/meshmon',
      'connect ECONNREFUSED ::1:5432',
      'listen on [fe80::1]:54329 failed',
    ]) {
      const r = redact(m);
      expect(r).not.toMatch(/10\.1\.2\.3|192\.168|s3cret|db\.example|::1|fe80|"meshmon"/);
    }
    expect(redact('bind message has 14464 parameter formats but 0 parameters')).toBe('bind message has 14464 parameter formats but 0 parameters');
    expect(redact('rule failed at 2026-03-02T12:00:00Z')).toBe('rule failed at 2026-03-02T12:00:00Z');
  });

  for (const [what, url, reason] of [
    ['a refused connection', async () => `postgres://meshmon:hunter2hunter2@127.0.0.1:${await findFreePort()}/meshmon`, 'the database refuses connections (not running?)'],
    ['a host name that does not resolve', async () => 'postgres://meshmon:hunter2hunter2@meshmon-db.invalid:5432/meshmon', 'the database host name does not resolve'],
  ] as const) {
    test(`/healthz and a 503 problem on ${what}`, async () => {
      const u = await url();
      const pool = createPool({ url: u, max: 1 });
      const db = createDatabase(pool);
      try {
        const t = testApp({ mode: 'none', db, info: { mode: 'none', version: '15', timescaledb: null }, url: u, pool, truncate: async () => {}, close: async () => {} } as TestDatabase);
        const h = await t.json('/healthz');
        expect(h.status).toBe(503);
        expect(h.res.headers.get('retry-after')).toBeTruthy();
        expect(h.body).toMatchObject({ status: 'unavailable', reasons: [reason], database: { up: false, error: reason } });
        const read = await t.json('/issues');
        expect(read.status).toBe(503);
        expect(read.body.detail).toBe(`${reason}; retry later`);
        const text = JSON.stringify(h.body) + JSON.stringify(read.body);
        for (const secret of [new URL(u).hostname, new URL(u).port, 'hunter2', 'meshmon:', 'ECONNREFUSED', 'ENOTFOUND']) {
          if (secret) expect(text).not.toContain(secret);
        }
      } finally {
        await db.destroy().catch(() => {});
      }
    }, 30_000);
  }
});

describeEachMode('a failing Issue Engine is visible', (get) => {
  test('/summary says failing (never green) and why; /healthz is degraded (503); both recover with the next good tick', async () => {
    await get().truncate();
    const t = testApp(get(), { now: new Date(NOW) });
    // Two nodes, one of them falls silent: the tick must write an incident.
    for (let at = NOW - 20 * MIN; at <= NOW; at += MIN) {
      t.setNow(new Date(at));
      const nodes = at <= NOW - 10 * MIN ? ['n-1', 'n-2'] : ['n-1'];
      for (const node of nodes) {
        expect((await t.post('/ingest', { schema: 'meshmon.v1', type: 'agent_health', node, sent_at: new Date(at).toISOString(), cpu_pct: 1, mem_mb: 5, queue_len: 0, neighbors_seen: 1 })).status).toBe(200);
      }
    }
    const before = await t.json('/summary');
    expect(before.body).toMatchObject({ health: 'green', engine: { state: 'unknown', error: null } });

    // Every write of an incident fails, as every tick failed in the field (the bind-parameter overflow).
    await sql`CREATE FUNCTION meshmon_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test at %', now(); END $$`.execute(get().db);
    await sql`CREATE TRIGGER meshmon_test_refuse BEFORE INSERT ON incidents FOR EACH ROW EXECUTE FUNCTION meshmon_test_refuse()`.execute(get().db);
    const runner = createEngineRunner(t.deps, DEFAULT_RULES);
    try {
      const o = await runner.tick(new Date(NOW));
      expect(o.role).toBe('error');
      const failing = await t.json('/summary');
      expect(failing.status).toBe(200);
      expect(failing.body.health).toBe('yellow');
      expect(failing.body.open.total).toBe(0);
      expect(failing.body.engine).toMatchObject({ state: 'failing', last_tick_at: new Date(NOW).toISOString(), last_success_at: null });
      expect(failing.body.engine.error).toContain('refused by the test');
      const h = await t.json('/healthz');
      expect(h.status).toBe(503);
      expect(h.res.headers.get('retry-after')).toBeTruthy();
      expect(h.body.status).toBe('degraded');
      expect(h.body.database.up).toBe(true);
      expect(h.body.reasons).toEqual([expect.stringMatching(/^the Issue Engine is failing: .*refused by the test/)]);

      await sql`DROP TRIGGER meshmon_test_refuse ON incidents`.execute(get().db);
      const again = await runner.tick(new Date(NOW + 10_000));
      expect(again.role).toBe('leader');
      const ok = await t.json('/summary');
      expect(ok.body.engine).toMatchObject({ state: 'ok', error: null, last_success_at: new Date(NOW + 10_000).toISOString() });
      expect(ok.body.open.total).toBe(1);
      expect(ok.body.health).toBe('yellow');
      expect((await t.json('/healthz')).status).toBe(200);
    } finally {
      await runner.stop();
      await sql`DROP TRIGGER IF EXISTS meshmon_test_refuse ON incidents`.execute(get().db);
      await sql`DROP FUNCTION IF EXISTS meshmon_test_refuse()`.execute(get().db);
    }
  }, 120_000);

  test('a failure recorded by the collector that leads (job_state) shows in another collector’s /summary', async () => {
    await get().truncate();
    const t = testApp(get(), { now: new Date(NOW) });
    await saveJobRun(get().db, 'engine', { at: new Date(NOW - 20_000), ok: true, result: 'ok', durationMs: 5 });
    await saveJobRun(get().db, 'engine', { at: new Date(NOW - 10_000), ok: false, result: 'error', error: 'connect ECONNREFUSED 10.9.8.7:5432', durationMs: 5 });
    const { body } = await t.json('/summary');
    expect(body.health).toBe('yellow');
    expect(body.engine).toMatchObject({ state: 'failing', last_tick_at: new Date(NOW - 10_000).toISOString(), last_success_at: new Date(NOW - 20_000).toISOString() });
    expect(body.engine.error).not.toContain('10.9.8.7');
  });
});

describe('a database that answers but cannot write (read-only)', () => {
  let tdb: TestDatabase;
  let name: string;
  beforeAll(async () => {
    tdb = await createTestDatabase('none');
    name = new URL(tdb.url!).pathname.slice(1);
  }, 120_000);
  afterAll(async () => {
    await withAdmin((c) => c.query(`ALTER DATABASE "${name}" RESET default_transaction_read_only`)).catch(() => {});
    await tdb?.close();
  }, 60_000);

  /** New sessions of the database take the setting; the pool's current ones are ended so it reconnects. */
  const readOnly = async (on: boolean) => {
    await withAdmin(async (c) => {
      await c.query(on ? `ALTER DATABASE "${name}" SET default_transaction_read_only = on` : `ALTER DATABASE "${name}" RESET default_transaction_read_only`);
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    });
  };

  test('ingest is a 503 with Retry-After that says so, /healthz is degraded (503) until a write passes again; nothing half-stored', async () => {
    const t = testApp(tdb, { now: new Date(NOW) });
    const msg = (node: string) => ({ schema: 'meshmon.v1', type: 'agent_health', node, sent_at: new Date(NOW).toISOString(), cpu_pct: 1, mem_mb: 5, queue_len: 0, neighbors_seen: 1 });
    expect((await t.post('/ingest', msg('before'))).status).toBe(200);
    expect((await t.json('/healthz')).status).toBe(200);

    await readOnly(true);
    // The first use of a terminated pooled connection may fail as "connection lost": also a 503.
    let r = await t.post('/ingest', msg('during'));
    if (r.status === 503 && r.body.detail.includes('connection')) r = await t.post('/ingest', msg('during'));
    expect(r.status).toBe(503);
    expect(r.res.headers.get('retry-after')).toBeTruthy();
    expect(r.res.headers.get('content-type')).toBe('application/problem+json');
    expect(r.body.detail).toBe('the database is read-only; retry later');

    const h = await t.json('/healthz');
    expect(h.status).toBe(503);
    expect(h.res.headers.get('retry-after')).toBeTruthy();
    expect(h.body).toMatchObject({ status: 'degraded', reasons: ['the database is read-only'], database: { up: true, writable: false, error: 'the database is read-only' } });
    // Reads still work.
    expect((await t.json('/issues')).status).toBe(200);

    await readOnly(false);
    // /healthz notices by itself (its write probe), without waiting for an agent's retry.
    let back = await t.json('/healthz');
    if (back.status !== 200) back = await t.json('/healthz');
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ status: 'ok', reasons: [], database: { writable: true } });
    expect((await t.post('/ingest', msg('after'))).status).toBe(200);
    const { rows } = await sql<{ node: string }>`SELECT node FROM agent_health ORDER BY node`.execute(tdb.db);
    expect(rows.map((x) => x.node)).toEqual(['after', 'before']);
  }, 60_000);
});
