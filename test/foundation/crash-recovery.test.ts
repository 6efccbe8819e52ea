// Faults under load, with real processes: what an agent sees, how long the
// collector takes to be back (printed: the figures in docs/operations.md,
// "Failure modes"), and that nothing acknowledged is ever lost.
import { afterEach, describe, expect, test } from 'bun:test';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { embeddedUrl, readEmbeddedPassword, runningServerPid, startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts';
import { silentLogger } from '../../src/log.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { spawnCollector } from '../support/collector-process.ts';
import { findFreePort } from '../support/free-port.ts';
import { healthz, loadAgent, lostOf, until, type LoadAgent } from '../support/load-agent.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

/** A DATA_DIR removed only once no server runs in it any more (a killed collector's is stopped by its watchdog, not at once). */
async function dataDir(prefix: string) {
  const data = await tempDataDir(prefix);
  cleanups.push(async () => {
    for (let i = 0; i < 300 && runningServerPid(path.join(data.dir, 'postgres')); i++) await Bun.sleep(100);
    await data.remove();
  });
  return data;
}

async function storedRows(url: string, prefix: string) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ node: string; time: Date }>('SELECT node, time FROM agent_health WHERE node LIKE $1', [`${prefix}-%`])).rows;
  } finally {
    await c.end();
  }
}

/** After the fault: no 500, every 503 with Retry-After, every acknowledged message stored, once. */
async function nothingLost(a: LoadAgent, url: string, prefix: string) {
  await a.stop();
  expect(a.statuses.get(500) ?? 0).toBe(0);
  expect([...a.retryAfter]).not.toContain('none');
  const rows = await storedRows(url, prefix);
  expect(lostOf(a.acked, rows)).toEqual([]);
  expect(rows.length).toBe(a.acked.length);
}

const report = (what: string, figures: Record<string, number | string>) =>
  console.error(`[${what}] ${Object.entries(figures).map(([k, v]) => `${k} ${typeof v === 'number' ? `${Math.round(v)} ms` : v}`).join('; ')}`);

/** Waits for the first 503 (or refusal), then for 200 and the next acknowledged message; times from `t0`. */
async function outageAndRecovery(c: { url: string }, a: LoadAgent, t0: number) {
  await until('/healthz not 200', () => healthz(c), (h) => h.status !== 200, 15_000);
  const back = await until('/healthz 200', () => healthz(c), (h) => h.status === 200, 90_000);
  const healthyAt = performance.now() - t0;
  const n = a.acked.length;
  await until('an acknowledged message', async () => a.acked.length, (x) => x > n, 30_000);
  return { healthy: healthyAt, acked: performance.now() - t0, body: back.last.body };
}

describe('faults under load (real processes)', () => {
  test('the embedded PostgreSQL killed (-9): 503 + Retry-After while the collector restarts it; nothing acknowledged lost', async () => {
    const data = await dataDir('meshmon-pgkill');
    const pgPort = await findFreePort();
    const c = await spawnCollector({ DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(pgPort), LOG_LEVEL: 'warn' });
    cleanups.push(() => c.stop('SIGTERM'));
    await c.waitForHealth(200, 90_000);
    const a = loadAgent(() => c.url, { prefix: 'pgkill' });
    await until('acks', async () => a.acked.length, (n) => n >= 10);

    process.kill(runningServerPid(path.join(data.dir, 'postgres'))!, 'SIGKILL');
    const r = await outageAndRecovery(c, a, performance.now());
    await nothingLost(a, embeddedUrl(pgPort, readEmbeddedPassword(data.dir)), 'pgkill');
    report('embedded PostgreSQL kill -9', { 'kill to /healthz 200': r.healthy, 'kill to the next acknowledged message': r.acked, statuses: JSON.stringify(Object.fromEntries(a.statuses)) });
  }, 180_000);

  test('the collector killed (-9) and started again by its supervisor: agents retry, nothing acknowledged lost', async () => {
    const data = await dataDir('meshmon-collkill');
    const pgPort = await findFreePort();
    const env = { DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(pgPort), LOG_LEVEL: 'warn', PORT: String(await findFreePort()) };
    const first = await spawnCollector(env);
    cleanups.push(() => first.stop('SIGKILL'));
    await first.waitForHealth(200, 90_000);
    const a = loadAgent(() => first.url, { prefix: 'collkill' });
    await until('acks', async () => a.acked.length, (n) => n >= 10);

    first.proc.kill('SIGKILL');
    await first.proc.exited;
    const t0 = performance.now();
    // What a supervisor does (systemd Restart=, compose restart:): start it again at once.
    const second = await spawnCollector(env);
    cleanups.push(() => second.stop('SIGTERM'));
    const back = await until('/healthz 200', () => healthz(second), (h) => h.status === 200, 90_000);
    const n = a.acked.length;
    await until('an acknowledged message', async () => a.acked.length, (x) => x > n, 30_000);
    const acked = performance.now() - t0;
    // Started at once, it may find the old server still shutting down (its watchdog asked it to): it waits for it, then starts its own.
    await nothingLost(a, embeddedUrl(pgPort, readEmbeddedPassword(data.dir)), 'collkill');
    report('collector kill -9 + restart (embedded database)', { 'restart to /healthz 200': back.ms, 'restart to the next acknowledged message': acked });
  }, 180_000);

  describe('a database of its own (DATABASE_URL), restarted or killed under the collector', () => {
    let server: EmbeddedServer | null = null;
    test('restart (fast shutdown, 3 s down, start) and kill -9: 503 + Retry-After meanwhile, back without touching the collector', async () => {
      // A throwaway server stands for the compose database (never the shared one on 5432).
      const data = await dataDir('meshmon-extdb');
      const port = await findFreePort();
      server = await startEmbedded({ dataDir: data.dir, port, log: silentLogger });
      cleanups.push(async () => { await server?.stop(); });
      const url = server.url;
      const c = await spawnCollector({ DATABASE_URL: url, LOG_LEVEL: 'warn' });
      cleanups.push(() => c.stop('SIGTERM'));
      await c.waitForHealth(200, 90_000);
      const a = loadAgent(() => c.url, { prefix: 'extdb' });
      await until('acks', async () => a.acked.length, (n) => n >= 10);

      // 1. A restart: the database goes down cleanly, stays down 3 s, comes back.
      await server.stop();
      server = null;
      await until('/healthz not 200', () => healthz(c), (h) => h.status !== 200, 15_000);
      await Bun.sleep(3_000);
      server = await startEmbedded({ dataDir: data.dir, port, log: silentLogger });
      const t1 = performance.now();
      const back1 = await until('/healthz 200', () => healthz(c), (h) => h.status === 200, 60_000);
      let n = a.acked.length;
      await until('an acknowledged message', async () => a.acked.length, (x) => x > n, 30_000);
      const acked1 = performance.now() - t1;

      // 2. kill -9 of the postmaster; its supervisor (here: the test's) starts it again.
      process.kill(runningServerPid(path.join(data.dir, 'postgres'))!, 'SIGKILL');
      const t2 = performance.now();
      await until('/healthz not 200', () => healthz(c), (h) => h.status !== 200, 15_000);
      const back2 = await until('/healthz 200', () => healthz(c), (h) => h.status === 200, 90_000);
      const healthy2 = performance.now() - t2;
      n = a.acked.length;
      await until('an acknowledged message', async () => a.acked.length, (x) => x > n, 30_000);
      const acked2 = performance.now() - t2;

      expect(back1.last.body.status).toBe('ok');
      expect(back2.last.body.status).toBe('ok');
      await nothingLost(a, url, 'extdb');
      report('database restart (DATABASE_URL)', { 'database up to /healthz 200': back1.ms, 'database up to the next acknowledged message': acked1 });
      report('database kill -9 (DATABASE_URL, restarted by its supervisor)', { 'kill to /healthz 200': healthy2, 'kill to the next acknowledged message': acked2 });
    }, 240_000);
  });

  test('400 slow or idle connections do not starve /healthz or ingest', async () => {
    const scratch = await createScratchDatabase('meshmon_slow');
    cleanups.push(scratch.drop);
    const c = await spawnCollector({ DATABASE_URL: scratch.url, TIMESCALEDB: 'off', LOG_LEVEL: 'warn' });
    cleanups.push(() => c.stop('SIGTERM'));
    await c.waitForHealth(200, 90_000);
    const sockets: net.Socket[] = [];
    cleanups.push(async () => { for (const s of sockets) s.destroy(); });
    for (let i = 0; i < 400; i++) {
      const s = net.connect(c.port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
      // Half of them idle, half trickle a request line a byte at a time.
      if (i % 2) s.write('P');
    }
    const trickle = setInterval(() => { for (const [i, s] of sockets.entries()) if (i % 2 && !s.destroyed) s.write('O'); }, 500);
    cleanups.push(async () => clearInterval(trickle));
    const timings: number[] = [];
    const a = loadAgent(() => c.url, { prefix: 'slow' });
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      const h = await healthz(c);
      timings.push(performance.now() - t0);
      expect(h.status).toBe(200);
      await Bun.sleep(100);
    }
    await until('acks', async () => a.acked.length, (n) => n >= 10);
    await nothingLost(a, scratch.url, 'slow');
    timings.sort((x, y) => x - y);
    report('400 slow/idle connections', { '/healthz median': timings[10]!, '/healthz worst of 20': timings[19]!, 'ingest statuses': JSON.stringify(Object.fromEntries(a.statuses)) });
  }, 120_000);
});
