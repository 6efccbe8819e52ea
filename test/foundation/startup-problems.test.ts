// What a new user trips over at the first start, each ending with exit 2 and
// a message that names the variable and says what to do (never a bare errno,
// never exit 1): DATA_DIR that cannot hold the embedded database, ports taken.
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MESHMON_BIN, REPO_ROOT } from '../support/collector-process.ts';
import { findFreePort } from '../support/free-port.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

/** `meshmon serve` with its own free ports; `as` runs it as another user (root only). */
async function serve(env: Record<string, string>, as?: string) {
  const full = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', TZ: 'UTC', HOST: '127.0.0.1', PORT: String(await findFreePort()), EMBEDDED_PG_PORT: String(await findFreePort()), ENGINE_ENABLED: 'false', ...env };
  const argv = as ? ['runuser', '-u', as, '--', 'env', ...Object.entries(full).map(([k, v]) => `${k}=${v}`), MESHMON_BIN, 'serve'] : [MESHMON_BIN, 'serve'];
  const proc = Bun.spawn(argv, { cwd: REPO_ROOT, env: full, stdout: 'pipe', stderr: 'pipe' });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.msg === 'collector cannot start');
  return { code, stdout, stderr, line };
}

describe('start-up problems end with exit 2 and the fix', () => {
  test.skipIf(!isRoot)('as root, DATA_DIR under a 0700 directory: names DATA_DIR and the chmod; creates nothing', async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'meshmon-0700-'));
    cleanups.push(() => rm(parent, { recursive: true, force: true }));
    await chmod(parent, 0o700);
    const dataDir = path.join(parent, 'home', 'data');
    const r = await serve({ DATA_DIR: dataDir });
    expect({ code: r.code, out: r.code === 2 ? '' : r.stdout + r.stderr }).toEqual({ code: 2, out: '' });
    expect(r.stderr).toContain(`meshmon: DATA_DIR=${dataDir}: the embedded PostgreSQL runs as the user postgres`);
    expect(r.stderr).toContain(`sudo chmod o+x ${parent}`);
    expect(r.stderr).not.toContain('Permission denied');
    expect(r.line).toMatchObject({ level: 'error', problem: 'data_dir_not_enterable', path: parent, data_dir: dataDir, mode: '0700' });
    expect(existsSync(path.join(parent, 'home'))).toBe(false);
  }, 60_000);

  test('DATA_DIR the user may not write: names DATA_DIR, the user and how to create it', async () => {
    // /usr is root's: no other user may create anything there.
    const dataDir = `/usr/meshmon-test-${process.pid}/data`;
    const r = await serve({ DATA_DIR: dataDir }, isRoot ? 'nobody' : undefined);
    expect({ code: r.code, out: r.code === 2 ? '' : r.stdout + r.stderr }).toEqual({ code: 2, out: '' });
    expect(r.stderr).toContain(`DATA_DIR=${dataDir}: the collector cannot create or write its data there: /usr is not writable for the user`);
    expect(r.stderr).toContain('sudo install -d -o');
    expect(r.line).toMatchObject({ problem: 'data_dir_not_writable', path: '/usr' });
    expect(existsSync(path.dirname(dataDir))).toBe(false);
  }, 60_000);

  test('DATA_DIR that is a file', async () => {
    const data = await tempDataDir('meshmon-file');
    cleanups.push(data.remove);
    const file = path.join(data.dir, 'data');
    await writeFile(file, 'not a directory\n');
    const r = await serve({ DATA_DIR: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`DATA_DIR=${file}: ${file} exists and is not a directory`);
  }, 60_000);

  test.skipIf(!isRoot)('DATA_DIR on a read-only file system', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-ro-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mount = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'ro,size=1m,mode=0755', 'tmpfs', dir], { stderr: 'pipe' });
    if (mount.exitCode !== 0) throw new Error(`mount failed: ${mount.stderr.toString()}`);
    cleanups.push(async () => { Bun.spawnSync(['umount', dir]); });
    const r = await serve({ DATA_DIR: path.join(dir, 'data') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${dir} is on a read-only file system`);
  }, 60_000);

  test('PORT taken by another program: names PORT', async () => {
    const data = await tempDataDir('meshmon-port');
    cleanups.push(data.remove);
    const holder = await new Promise<net.Server>((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => resolve(s)); });
    cleanups.push(async () => holder.close());
    const port = (holder.address() as net.AddressInfo).port;
    const r = await serve({ DATA_DIR: data.dir, PORT: String(port) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`meshmon: PORT ${port} is already in use on 127.0.0.1`);
    expect(r.line).toMatchObject({ problem: 'port_in_use', port });
    // The embedded database it had started is stopped again.
    expect(existsSync(path.join(data.dir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 90_000);

  test('EMBEDDED_PG_PORT taken by another program: names EMBEDDED_PG_PORT', async () => {
    const data = await tempDataDir('meshmon-pgport');
    cleanups.push(data.remove);
    const holder = await new Promise<net.Server>((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => resolve(s)); });
    cleanups.push(async () => holder.close());
    const port = (holder.address() as net.AddressInfo).port;
    const r = await serve({ DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(port) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`EMBEDDED_PG_PORT ${port} is already in use on 127.0.0.1`);
    expect(r.stderr).toContain('DATABASE_URL');
  }, 60_000);
});
