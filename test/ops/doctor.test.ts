// `meshmon doctor` through the real command, each check provoked the way it
// happens on a Pi: a running collector with agents posting to wrong paths,
// a 0700 parent of DATA_DIR, a taken port, a tiny disk, a stopped database,
// TimescaleDB installed but not preloaded.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DoctorReport } from '../../src/doctor/doctor.schema.ts';
import { UNKNOWN_PATHS_KEPT } from '../../src/http/unknown-paths.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { testApp } from '../support/app.ts';
import { MESHMON_BIN, REPO_ROOT, spawnCollector } from '../support/collector-process.ts';
import { describeEachMode } from '../support/databases.ts';
import { findFreePort } from '../support/free-port.ts';
import { hasTimescaleLibrary, startThrowawayCluster, type ThrowawayCluster } from '../support/pg-cluster.ts';
import { tempDataDir } from '../support/temp-dir.ts';

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

async function doctor(env: Record<string, string>, args: string[] = ['--json']) {
  const proc = Bun.spawn([MESHMON_BIN, 'doctor', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', TZ: 'UTC', HOST: '127.0.0.1', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  let report: DoctorReport | null = null;
  if (args.includes('--json')) {
    try {
      report = DoctorReport.parse(JSON.parse(stdout));
    } catch (err) {
      throw new Error(`doctor --json printed no valid report (${(err as Error).message}); exit ${code}\n${stdout}\n${stderr}`);
    }
  }
  const check = (id: string) => {
    const c = report?.checks.find((x) => x.id === id);
    if (!c) throw new Error(`no check ${id} in ${stdout}`);
    return c;
  };
  return { code, stdout, stderr, report, check };
}

/** A DATA_DIR-less, port-free environment: doctor against the embedded default in a fresh directory. */
async function embeddedEnv(dataDir: string): Promise<Record<string, string>> {
  return { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await findFreePort()), PORT: String(await findFreePort()) };
}

describe('meshmon doctor (a real process)', () => {
  test('with a running collector: every check answers, wrong paths, dropped messages and skewed agents are named', async () => {
    const scratch = await createScratchDatabase('meshmon_doctor');
    cleanups.push(scratch.drop);
    const env = { DATABASE_URL: scratch.url, TIMESCALEDB: 'off', ENGINE_INTERVAL: '1', LOG_LEVEL: 'warn' };
    const c = await spawnCollector(env);
    cleanups.push(() => c.stop('SIGKILL'));
    await c.waitForHealth(200);
    const post = (p: string, body: unknown) => fetch(`${c.url}${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const ahead = new Date(Date.now() + 3_600_000).toISOString();
    const good = { schema: 'meshmon.v1', type: 'path_result', src: 'N0DE-SKEW', dst: 'N0DE-B', sent_at: ahead, route: ['N0DE-SKEW', 'N0DE-B'], metrics: { rtt_ms_avg: 5, jitter_ms_rfc3550: 1, loss_pct: 0 } };
    expect((await post('/ingest', good)).status).toBe(200);
    expect((await post('/ingest', { schema: 'meshmon.v1', type: 'path_result' })).status).toBe(422);
    expect((await post('/ingest/', good)).status).toBe(404);
    expect((await post('/api/v1/ingest', good)).status).toBe(404);
    // The engine's first tick (ENGINE_INTERVAL=1).
    for (let body = await c.waitForHealth(200); !body.engine?.last_run_at; body = await c.waitForHealth(200)) await Bun.sleep(200);

    const d = await doctor({ ...env, PORT: String(c.port) });
    expect({ code: d.code, failed: d.report!.checks.filter((x) => x.status === 'fail') }).toEqual({ code: 0, failed: [] });
    expect(d.report!.ok).toBe(true);
    expect(d.check('collector').status).toBe('ok');
    expect(d.check('ports').details).toMatchObject({ http: { state: 'collector' } });
    expect(d.check('database')).toMatchObject({ status: 'ok', details: { source: 'url', reachable: true, migrated: true } });
    expect(d.check('timescaledb')).toMatchObject({ status: 'ok', details: { planned_mode: 'none', running_mode: 'none' } });
    expect(d.check('engine')).toMatchObject({ status: 'ok' });
    expect(d.check('engine').summary).toStartWith('last tick');

    const paths = d.check('agent_paths');
    expect(paths.status).toBe('warn');
    expect((paths.details.paths as Array<{ method: string; path: string }>).map((p) => `${p.method} ${p.path}`).sort()).toEqual(['POST /api/v1/ingest', 'POST /ingest/']);
    expect(paths.fix.join(' ')).toContain(`:${c.port}/ingest`);

    const ingest = d.check('ingest');
    expect(ingest.status).toBe('warn');
    expect(ingest.details).toMatchObject({ nodes: 1, recent: 1, since_start: { accepted: 1, rejected: { invalid: 1 } } });
    expect(ingest.summary).toContain('last message');

    const clock = d.check('clock');
    expect(clock.status).not.toBe('fail');
    expect(clock.notes.join(' ')).toContain('N0DE-SKEW +3600 s');
    expect((clock.details.agents as { beyond: number }).beyond).toBe(1);

    expect(d.check('disk').status).toBe('ok');
    expect(d.check('disk').details).toMatchObject({ database: { where: expect.stringContaining("the server's data directory") } });

    // The same, for a person: one line per check, flutter-doctor style.
    const text = await doctor({ ...env, PORT: String(c.port) }, []);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('[✓] Collector: running on');
    expect(text.stdout).toContain('[!] Agent URLs:');
    expect(text.stdout).toContain('→ point the agents at');

    // Without the collector: what only it knows is "not checked"; the rest still answers.
    expect(await c.stop('SIGTERM')).toBe(0);
    const after = await doctor({ ...env, PORT: String(c.port) });
    expect(after.code).toBe(0);
    expect(after.check('collector').status).toBe('warn');
    expect(after.check('agent_paths').status).toBe('skip');
    expect(after.check('engine').summary).toContain('no collector is running now');
    expect(after.check('ports').details).toMatchObject({ http: { state: 'free' } });
  }, 120_000);

  test('a bad variable: the configuration check fails, the rest is not checked, exit 1', async () => {
    const d = await doctor({ PORT: 'eighty' });
    expect(d.code).toBe(1);
    expect(d.check('configuration')).toMatchObject({ status: 'fail' });
    expect(d.check('configuration').notes.join(' ')).toContain('PORT');
    expect(d.check('database').status).toBe('skip');
    expect(d.check('runtime').status).toBe('ok');
  }, 30_000);

  test('a usage error exits 2', async () => {
    const d = await doctor({}, ['--bogus']);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('unknown option --bogus');
  }, 30_000);

  test('a taken PORT and a taken EMBEDDED_PG_PORT fail the ports check, naming each', async () => {
    const data = await tempDataDir('meshmon-doctor-ports');
    cleanups.push(data.remove);
    const holders = await Promise.all([0, 0].map(() => new Promise<net.Server>((resolve) => {
      const s = net.createServer((sock) => sock.end('not http\r\n'));
      s.listen(0, '127.0.0.1', () => resolve(s));
    })));
    cleanups.push(async () => { for (const s of holders) s.close(); });
    const [http, pgPort] = holders.map((s) => (s.address() as net.AddressInfo).port);
    const d = await doctor({ DATA_DIR: data.dir, PORT: String(http), EMBEDDED_PG_PORT: String(pgPort) });
    expect(d.code).toBe(1);
    const ports = d.check('ports');
    expect(ports.status).toBe('fail');
    expect(ports.summary).toContain(`PORT ${http} on 127.0.0.1 is taken by another program`);
    expect(ports.summary).toContain(`EMBEDDED_PG_PORT ${pgPort} on 127.0.0.1 is taken by another program`);
    expect(ports.fix.join(' ')).toContain('set PORT to a free port');
    expect(d.check('collector').status).toBe('warn');
  }, 30_000);

  test.skipIf(!isRoot)('DATA_DIR under a 0700 directory (run as root): the DATA_DIR check fails with the chmod, nothing is created', async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'meshmon-doctor-0700-'));
    cleanups.push(() => rm(parent, { recursive: true, force: true }));
    await chmod(parent, 0o700);
    const dataDir = path.join(parent, 'data');
    const d = await doctor(await embeddedEnv(dataDir));
    expect(d.code).toBe(1);
    const c = d.check('data_dir');
    expect(c.status).toBe('fail');
    expect(c.summary).toContain(`DATA_DIR=${dataDir}`);
    expect(c.summary).toContain(`postgres cannot enter ${parent} (mode 0700`);
    expect(c.fix[0]).toContain(`chmod o+x ${parent}`);
    expect(d.check('database').status).toBe('skip');
    expect(await Bun.file(dataDir).exists()).toBe(false);
  }, 30_000);

  test.skipIf(!isRoot)('a tiny tmpfs DATA_DIR: the disk check fails', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-doctor-tmpfs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const mount = Bun.spawnSync(['mount', '-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'tmpfs', dir], { stderr: 'pipe' });
    if (mount.exitCode !== 0) throw new Error(`mount tmpfs failed: ${mount.stderr.toString()}`);
    cleanups.push(async () => { Bun.spawnSync(['umount', dir]); });
    const d = await doctor(await embeddedEnv(dir));
    expect(d.code).toBe(1);
    const disk = d.check('disk');
    expect(disk.status).toBe('fail');
    expect(disk.summary).toMatch(/^1[56]\.\d MiB free of 16\.0 MiB at DATA_DIR /);
    expect(disk.summary).toContain('too little for PostgreSQL');
    expect(disk.fix.join(' ')).toContain('RETENTION_RAW_DAYS');
    expect(d.check('data_dir').status).toBe('ok');
  }, 30_000);
});

describe.skipIf(!hasTimescaleLibrary())('meshmon doctor against a throwaway PostgreSQL 15', () => {
  let cluster: ThrowawayCluster;
  beforeAll(async () => {
    cluster = await startThrowawayCluster('meshmon-doctor-pg');
  }, 120_000);
  afterAll(async () => {
    await cluster?.remove();
  }, 60_000);

  test('TimescaleDB installed but not preloaded: the TimescaleDB check fails with the line, the config file and TIMESCALEDB=off', async () => {
    const env = { DATABASE_URL: cluster.url('postgres'), PORT: String(await findFreePort()) };
    const d = await doctor(env);
    expect(d.code).toBe(1);
    const t = d.check('timescaledb');
    expect(t.status).toBe('fail');
    expect(t.details).toMatchObject({ preloaded: false, installed: null, planned_mode: null, config_file: cluster.configFile });
    expect(t.fix[0]).toContain("shared_preload_libraries = 'timescaledb'");
    expect(t.fix[0]).toContain(cluster.configFile);
    expect(t.fix[1]).toContain('TIMESCALEDB=off');
    expect(d.check('database').status).toBe('ok');
    // With TIMESCALEDB=off the collector would start: no failure.
    const off = await doctor({ ...env, TIMESCALEDB: 'off' });
    expect(off.check('timescaledb')).toMatchObject({ status: 'ok', details: { planned_mode: 'none' } });
    const text = await doctor(env, []);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('[✗] TimescaleDB:');
  }, 60_000);

  test('a stopped database: the database check fails with how to start it', async () => {
    await cluster.stop();
    try {
      const d = await doctor({ DATABASE_URL: cluster.url('postgres'), PORT: String(await findFreePort()) });
      expect(d.code).toBe(1);
      const db = d.check('database');
      expect(db.status).toBe('fail');
      expect(db.summary).toContain(`nothing listens on 127.0.0.1:${cluster.port}`);
      expect(db.fix[0]).toContain('systemctl start postgresql');
      for (const id of ['timescaledb', 'ingest', 'engine', 'jobs']) expect({ id, status: d.check(id).status }).toEqual({ id, status: 'skip' });
    } finally {
      await cluster.start();
    }
  }, 60_000);
});

describeEachMode('unknown paths in /metrics', (get) => {
  test(`writes to unknown paths keep the ${UNKNOWN_PATHS_KEPT} most recent paths; reads are only counted`, async () => {
    const t = testApp(get());
    for (let i = 0; i < UNKNOWN_PATHS_KEPT + 2; i++) expect((await t.post(`/wrong/${i}`, {})).status).toBe(404);
    expect((await t.post('/wrong/2', {})).status).toBe(404); // seen again: now the most recent
    expect((await t.json('/favicon.ico')).status).toBe(404);
    const text = await (await t.app.request('/metrics')).text();
    const kept = [...text.matchAll(/^meshmon_http_unknown_path_last_seen_timestamp_seconds\{method="POST",path="([^"]+)"\}/gm)].map((m) => m[1]);
    expect(kept).toHaveLength(UNKNOWN_PATHS_KEPT);
    expect(kept).toContain('/wrong/2');
    expect(kept).not.toContain('/wrong/0');
    expect(kept).not.toContain('/wrong/1');
    expect(kept).not.toContain('/favicon.ico');
    expect(text).toMatch(/^meshmon_http_unknown_path_requests_total\{method="POST"\} 13$/m);
    expect(text).toMatch(/^meshmon_http_unknown_path_requests_total\{method="GET"\} 1$/m);
  });
}, ['none']);

