// deploy/meshmon.service: checked by systemd-analyze, and its command run
// the way the unit runs it (an unprivileged user, the unit's environment and
// working directory, the unit's stop signal). There is no systemd as PID 1
// on the CI machines: `nobody` stands in for the unit's `meshmon` user.
import { afterEach, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, spawnCollector } from '../support/collector-process.ts';
import { findFreePort } from '../support/free-port.ts';

const UNIT = path.join(REPO_ROOT, 'deploy/meshmon.service');
const INSTALLED_AT = '/opt/meshmon';
const isRoot = process.getuid?.() === 0;
const analyze = Bun.which('systemd-analyze');
if (!analyze) process.stderr.write('[test] systemd-unit: systemd-analyze not installed; the unit is not verified\n');

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

/** The unit with the checkout standing in for /opt/meshmon. */
const unitHere = () => readFileSync(UNIT, 'utf8').replaceAll(INSTALLED_AT, REPO_ROOT);

/** [Service] settings: last value per key, except Environment (all). */
function serviceSettings(text: string) {
  const settings = new Map<string, string>();
  const environment: Record<string, string> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) { section = s[1]!; continue; }
    const [key, ...rest] = line.split('=');
    const value = rest.join('=');
    if (section !== 'Service') continue;
    if (key === 'Environment') {
      const [k, ...v] = value.split('=');
      environment[k!] = v.join('=');
    } else settings.set(key!, value);
  }
  return { settings, environment };
}

describe('deploy/meshmon.service', () => {
  test.skipIf(!analyze)('passes systemd-analyze verify without a warning', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-unit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'meshmon.service');
    await writeFile(file, unitHere());
    const p = Bun.spawnSync([analyze!, 'verify', file], { stdout: 'pipe', stderr: 'pipe' });
    expect({ code: p.exitCode, out: `${p.stdout}${p.stderr}`.trim() }).toEqual({ code: 0, out: '' });
  }, 30_000);

  test('runs unprivileged, keeps its data in /var/lib/meshmon, does not restart on exit 2', () => {
    const { settings, environment } = serviceSettings(readFileSync(UNIT, 'utf8'));
    expect(settings.get('User')).toBe('meshmon');
    expect(settings.get('StateDirectory')).toBe('meshmon');
    expect(environment.DATA_DIR).toBe('/var/lib/meshmon');
    expect(settings.get('RestartPreventExitStatus')).toBe('2');
    expect(settings.get('KillMode')).toBe('mixed');
    expect(settings.get('ExecStart')).toStartWith(`${INSTALLED_AT}/node_modules/.bin/bun --no-env-file `);
    for (const f of ['README.md', 'docs/operations.md']) expect({ f, mentions: readFileSync(path.join(REPO_ROOT, f), 'utf8').includes('deploy/meshmon.service') }).toEqual({ f, mentions: true });
  });

  test("the README's section without Docker uses the unit and ends with meshmon doctor", () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    const section = /^## On the Raspberry Pi without Docker\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
    for (const step of ['shared_preload_libraries', 'timescaledb-tune', 'sudo systemctl restart postgresql', 'deploy/meshmon.service', 'systemctl enable --now meshmon']) {
      expect({ step, found: section.includes(step) }).toEqual({ step, found: true });
    }
    const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.at(-1)).toContain('bin/meshmon doctor');
  });

  test.skipIf(!isRoot)("its command, run as an unprivileged user with the unit's environment, serves and stops cleanly on the unit's signal", async () => {
    const { settings, environment } = serviceSettings(unitHere());
    // StateDirectory: created for the service user, 0750.
    const state = await mkdtemp(path.join(os.tmpdir(), 'meshmon-state-'));
    cleanups.push(() => rm(state, { recursive: true, force: true }));
    await chown(state, 65534, 65534);
    const env = { ...environment, DATA_DIR: state, HOME: state, EMBEDDED_PG_PORT: String(await findFreePort()), ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn' };
    const argv = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', ...settings.get('ExecStart')!.split(' ')];
    expect(settings.get('WorkingDirectory')).toBe(REPO_ROOT); // spawnCollector's cwd
    const c = await spawnCollector(env, argv);
    cleanups.push(() => c.stop('SIGKILL'));
    const body = await c.waitForHealth(200, 90_000);
    expect(body.database).toMatchObject({ mode: 'none', embedded: true });
    // Its PostgreSQL runs as the service's user too, with its files in the state directory.
    const pid = Number(readFileSync(path.join(state, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]).toBe('65534');
    expect(await c.stop(settings.get('KillSignal') as NodeJS.Signals)).toBe(0);
    expect(existsSync(path.join(state, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 120_000);
});
