// The collector as users run it: a real process, started by the README's
// command or `meshmon <command>`, stopped by a signal.
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createScratchDatabase } from '../support/admin.ts';
import { MESHMON_BIN, REPO_ROOT, spawnCollector } from '../support/collector-process.ts';
import { hasApacheTimescale } from '../support/databases.ts';
import { findFreePort } from '../support/free-port.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

async function run(argv: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(argv, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe('meshmon serve (a real process)', () => {
  test('on the embedded database: /healthz 200 in mode none; SIGTERM exits 0 and stops PostgreSQL', async () => {
    const data = await tempDataDir('meshmon-serve');
    cleanups.push(data.remove);
    const c = await spawnCollector({ DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(await findFreePort()), ENGINE_ENABLED: 'false' });
    cleanups.push(() => c.stop('SIGKILL'));

    const body = await c.waitForHealth(200, 90_000);
    expect(body.status).toBe('ok');
    expect(body.database.mode).toBe('none');
    expect(body.database.embedded).toBe(true);
    const pidFile = path.join(data.dir, 'postgres', 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(true);

    // meshmon migrate while the collector runs: it uses the running embedded server (nothing left to apply).
    const migrate = await run([MESHMON_BIN, 'migrate'], { DATA_DIR: data.dir, EMBEDDED_PG_PORT: '1' });
    expect({ code: migrate.code, stderr: migrate.code ? migrate.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(migrate.stdout.trim())).toMatchObject({ mode: 'none', applied: [] });

    const code = await c.stop('SIGTERM');
    expect({ code, output: code === 0 ? '' : c.output() }).toEqual({ code: 0, output: '' });
    expect(existsSync(pidFile)).toBe(false);
    // One JSON object per log line, ending with the shutdown.
    const lines = c.output().trim().split('\n').filter((l) => l.startsWith('{'));
    expect(lines.map((l) => JSON.parse(l).msg)).toContain('stopped');
  }, 120_000);

  test("the README's first command (npm start) serves /healthz; SIGTERM through npm stops it", async () => {
    const data = await tempDataDir('meshmon-npm-start');
    cleanups.push(data.remove);
    const c = await spawnCollector(
      { DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(await findFreePort()), ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn' },
      ['npm', 'start', '--silent'],
    );
    cleanups.push(() => c.stop('SIGKILL'));
    expect((await c.waitForHealth(200, 90_000)).database.mode).toBe('none');
    expect(await c.stop('SIGTERM')).toBe(0);
    // npm's script must exec bun: otherwise the collector outlives npm with its database.
    expect(existsSync(path.join(data.dir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  test('with DATABASE_URL on a server with TimescaleDB (Apache build) it says apache', async () => {
    if (!(await hasApacheTimescale())) return;
    const scratch = await createScratchDatabase('meshmon_serve_apache');
    cleanups.push(scratch.drop);
    const c = await spawnCollector({ DATABASE_URL: scratch.url, ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn' });
    cleanups.push(() => c.stop('SIGKILL'));
    const body = await c.waitForHealth(200);
    expect(body.database.mode).toBe('apache');
    expect(body.database.embedded).toBe(false);
    expect(await c.stop('SIGTERM')).toBe(0);
  }, 90_000);

  test('a bad variable stops start-up with exit 2, naming it', async () => {
    const r = await run([MESHMON_BIN, 'serve'], { PORT: 'eighty', LOG_LEVEL: 'chatty' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PORT');
    expect(r.stderr).toContain('LOG_LEVEL');
  }, 30_000);

  test('an unreachable database fails start-up after DATABASE_STARTUP_TIMEOUT with exit 1', async () => {
    const port = await findFreePort();
    const r = await run([MESHMON_BIN, 'serve'], { DATABASE_URL: `postgres://nobody@127.0.0.1:${port}/none`, DATABASE_STARTUP_TIMEOUT: '1', PORT: '0' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('collector failed to start');
  }, 30_000);
});

describe('meshmon migrate (a real process)', () => {
  test('migrates an empty database, prints one JSON line; a second run applies nothing', async () => {
    const scratch = await createScratchDatabase('meshmon_migrate_cli');
    cleanups.push(scratch.drop);
    const env = { DATABASE_URL: scratch.url, TIMESCALEDB: 'off' };
    const first = await run([MESHMON_BIN, 'migrate'], env);
    expect({ code: first.code, stderr: first.code ? first.stderr : '' }).toEqual({ code: 0, stderr: '' });
    const out = JSON.parse(first.stdout.trim());
    expect(out.mode).toBe('none');
    expect(out.applied).toContain('0001_initial');

    const second = await run([MESHMON_BIN, 'migrate'], env);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout.trim()).applied).toEqual([]);
  }, 60_000);

  test('a .env in the working directory is not read (npm start and bin/meshmon run Bun with --no-env-file)', async () => {
    const scratch = await createScratchDatabase('meshmon_no_env_file');
    cleanups.push(scratch.drop);
    const cwd = await tempDataDir('meshmon-dotenv');
    cleanups.push(cwd.remove);
    // Read, this would stop the command with exit 2 (a bad variable).
    await Bun.write(path.join(cwd.dir, '.env'), 'LOG_LEVEL=chatty\nTIMESCALEDB=sometimes\n');
    const proc = Bun.spawn([MESHMON_BIN, 'migrate'], {
      cwd: cwd.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: scratch.url, TIMESCALEDB: 'off' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect({ code, stderr: code ? stderr : '' }).toEqual({ code: 0, stderr: '' });
    const pkg = JSON.parse(await Bun.file(path.join(REPO_ROOT, 'package.json')).text());
    expect(pkg.scripts.start).toBe('exec bun --no-env-file src/index.ts');
  }, 60_000);

  test('unknown commands and no command print the usage', async () => {
    const none = await run([MESHMON_BIN], {});
    expect(none.code).toBe(2);
    expect(none.stdout).toContain('usage: meshmon <command>');
    const unknown = await run([MESHMON_BIN, 'frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  }, 30_000);
});
