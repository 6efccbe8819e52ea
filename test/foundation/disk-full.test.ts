// A full disk under a real collector and its embedded PostgreSQL (DATA_DIR
// on a small tmpfs; needs root to mount it): every write is a 503 with
// Retry-After, /healthz turns non-200 and says why, nothing acknowledged is
// lost, and the collector is back as soon as there is space again — also
// after the server crashed on a WAL write (the case that used to take 16.7 s).
import { afterAll, describe, expect, test } from 'bun:test';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { readEmbeddedPassword, embeddedUrl } from '../../src/db/embedded.ts';
import { spawnCollector, type CollectorProcess } from '../support/collector-process.ts';
import { healthz, loadAgent, lostOf, until } from '../support/load-agent.ts';
import { findFreePort } from '../support/free-port.ts';

/** Root, and allowed to mount (a container without CAP_SYS_ADMIN is not): tried once, undone at once. */
function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0 || process.platform !== 'linux') return false;
  const probe = mkdtempSync(path.join(os.tmpdir(), 'meshmon-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const isRoot = canMountTmpfs();
if (!isRoot) console.error('[disk full] skipped: needs root and permission to mount a tmpfs');
const MB = 1024 * 1024;

/** Writes zeros into `file` until the filesystem refuses (ENOSPC). */
function fill(file: string) {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(MB);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // The last partial block.
  const fd2 = openSync(file, 'a');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(4096));
  } catch {
    /* full */
  } finally {
    closeSync(fd2);
  }
}

describe.skipIf(!isRoot)('a full disk under a running collector (tmpfs DATA_DIR, root only)', () => {
  let mount = '';
  let mounted = false;
  let collector: CollectorProcess | null = null;
  afterAll(async () => {
    await collector?.stop('SIGTERM').catch(() => {});
    if (mounted) execFileSync('umount', ['-l', mount]);
    if (mount) rmSync(mount, { recursive: true, force: true });
  }, 60_000);

  test('503 + Retry-After and an unhealthy /healthz while full; prompt recovery; no acknowledged message lost', async () => {
    mount = mkdtempSync(path.join(os.tmpdir(), 'meshmon-diskfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=192m,mode=0755', 'tmpfs', mount]);
    mounted = true;
    chmodSync(mount, 0o755);
    const pgPort = await findFreePort();
    collector = await spawnCollector({ DATA_DIR: mount, EMBEDDED_PG_PORT: String(pgPort), ENGINE_INTERVAL: '2', LOG_LEVEL: 'info' });
    const c = collector;
    await c.waitForHealth(200, 120_000);
    const a = loadAgent(() => c.url, { prefix: 'disk', padBytes: 4000 });
    await until('first acks', async () => a.acked.length, (n) => n >= 5);

    // 1. The data files cannot grow: writes fail with disk_full (53100); reads still work.
    const filler = path.join(mount, 'filler');
    fill(filler);
    const full = await until('a 503 from /ingest', async () => a.statuses.get(503) ?? 0, (n) => n >= 3);
    const unhealthy = await until('/healthz not 200', () => healthz(c), (h) => h.status === 503);
    expect(unhealthy.last.retryAfter).toBeTruthy();
    expect(unhealthy.last.body.reasons.join(' ')).toContain('disk is full');
    expect(JSON.stringify(unhealthy.last.body)).not.toMatch(/127\.0\.0\.1|No space left|base\//);
    expect([...a.retryAfter]).not.toContain('none');
    expect(a.statuses.get(500) ?? 0).toBe(0);
    expect((await fetch(`${c.url}/summary`)).status).toBe(200);

    // 2. The server crashes on a WAL write (a new segment cannot be created) and cannot restart while full.
    const client = new pg.Client({ connectionString: embeddedUrl(pgPort, readEmbeddedPassword(mount)) });
    client.on('error', () => {});
    await client.connect();
    await client.query('SELECT pg_switch_wal()').catch(() => {});
    await client.query("UPDATE job_state SET details = details WHERE name = 'engine'").catch(() => {});
    await client.end().catch(() => {});
    // Once the crash settles: the server is down and /healthz says why (its own last words).
    const down = await until('/healthz: embedded server down, disk full', () => healthz(c),
      (h) => h.status === 503 && h.body.status === 'unavailable' && h.body.reasons.join(' ').includes('disk is full'), 30_000).catch(() => null);
    if (down) expect(down.last.retryAfter).toBeTruthy();
    await Bun.sleep(3_000);
    const before = new Map(a.statuses);

    // 3. Space comes back.
    rmSync(filler);
    const healthy = await until('/healthz 200 again', () => healthz(c), (h) => h.status === 200, 60_000);
    const ackedAt = a.acked.length;
    const ingesting = await until('an acknowledged message again', async () => a.acked.length, (n) => n > ackedAt, 60_000);
    expect(healthy.last.body.status).toBe('ok');
    await a.stop();

    // Nothing acknowledged is lost, nothing is stored twice.
    const db = new pg.Client({ connectionString: embeddedUrl(pgPort, readEmbeddedPassword(mount)) });
    await db.connect();
    const { rows } = await db.query<{ node: string; time: Date }>("SELECT node, time FROM agent_health WHERE node LIKE 'disk-%'");
    await db.end();
    const lost = lostOf(a.acked, rows);
    expect(lost).toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(a.acked.length);

    console.error(`[disk full] first 503 after ${Math.round(full.ms)} ms of filling; /healthz non-200 after ${Math.round(unhealthy.ms)} ms; ` +
      `server crashed on WAL write: ${down ? 'yes' : 'no'}; statuses while full ${JSON.stringify(Object.fromEntries(before))}; ` +
      `after freeing space: /healthz 200 in ${Math.round(healthy.ms)} ms, next ingest acknowledged ${Math.round(healthy.ms + ingesting.ms)} ms; ` +
      `acknowledged ${a.acked.length}, lost ${lost.length}`);
  }, 300_000);
});
