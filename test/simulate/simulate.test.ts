// `meshmon simulate`: its recordings have the format of shared/scenarios
// (NDJSON.gz ordered by sent_at + a truth file), every message passes ingest,
// the agents keep the probe plan (2 neighbours + 1 rotating peer every 40 s,
// health every 5 min), a seed names one scenario, the faults have the shapes
// of the recorded ones, and the Issue Engine finds them as the judge of
// shared/scenarios/README.md wants (core and field style).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { configFrom } from '../../src/config.ts';
import { replayFileWithStats } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { parseMessages } from '../../src/ingest/ingest.service.ts';
import { silentLogger } from '../../src/log.ts';
import { rulesForSpeed } from '../../src/simulate/scaled-rules.ts';
import { MESHMON_BIN, REPO_ROOT } from '../support/collector-process.ts';
import { createTestDatabase, describeEachMode } from '../support/databases.ts';
import { formatVerdict, judge, type ExpectedFault } from '../support/scenario-judge.ts';
import { tempDataDir } from '../support/temp-dir.ts';

type Msg = Record<string, any>;

let tmp: { dir: string; remove: () => Promise<void> };
beforeAll(async () => { tmp = await tempDataDir('meshmon-simulate'); });
afterAll(async () => { await tmp.remove(); });

async function record(name: string, args: string[]): Promise<{ messages: Msg[]; raw: string; truth: any; stdout: string }> {
  const file = path.join(tmp.dir, `${name}.ndjson.gz`);
  const truthFile = path.join(tmp.dir, `${name}.truth.json`);
  const p = Bun.spawn([MESHMON_BIN, 'simulate', '--record', file, '--truth', truthFile, ...args], { cwd: REPO_ROOT, stdout: 'pipe', stderr: 'pipe' });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  const raw = gunzipSync(readFileSync(file)).toString('utf8');
  return { raw, messages: raw.trimEnd().split('\n').map((l) => JSON.parse(l) as Msg), truth: JSON.parse(readFileSync(truthFile, 'utf8')), stdout };
}

const config = configFrom();

describe('meshmon simulate --record', () => {
  let core: Awaited<ReturnType<typeof record>>;
  let field: Awaited<ReturnType<typeof record>>;
  let silence: Awaited<ReturnType<typeof record>>;
  beforeAll(async () => {
    core = await record('core', ['--nodes', '10', '--seed', '11', '--faults', 'jitter_burst,node_overload', '--minutes', '90']);
    field = await record('field', ['--nodes', '8', '--seed', '12', '--style', 'field', '--positions', '--faults', 'loss_spike', '--minutes', '40']);
    silence = await record('silence', ['--nodes', '12', '--seed', '13', '--faults', 'partition:10,outage:10', '--first', '10', '--gap', '10']);
  }, 120_000);

  test('the format of shared/scenarios: one message per line, in sent_at order; the truth file', () => {
    for (const r of [core, field, silence]) {
      const times = r.messages.map((m) => m.sent_at as string);
      expect([...times].sort()).toEqual(times);
      expect(r.raw.split('\n')[0]).toBe(JSON.stringify(r.messages[0]));
      expect(Object.keys(r.truth)).toEqual(['meta', 'expected']);
      expect(Object.keys(r.truth.meta)).toEqual(['seed', 'nodes', 'links', 'minutes', 't0', 'style']);
      expect(r.truth.meta.t0).toBe('2026-03-02T06:00:00Z');
      for (const e of r.truth.expected) {
        expect(e.start_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(['route', 'link', 'node']).toContain(e.scope.type);
      }
    }
    expect(core.truth.meta).toMatchObject({ seed: 11, nodes: 10, minutes: 90, style: 'core' });
    expect(core.truth.expected.map((e: Msg) => e.kind)).toEqual(['jitter_burst', 'node_overload']);
    expect(field.truth.meta.style).toBe('field');
    // Partition: the link and the group cut off; outage: the collector-wide silence.
    const [partition, outage] = silence.truth.expected;
    expect(partition).toMatchObject({ kind: 'partition', scope: { type: 'link' } });
    expect(partition.group.length).toBeGreaterThanOrEqual(2);
    expect([partition.scope.a, partition.scope.b]).toContain(partition.group.find((g: string) => [partition.scope.a, partition.scope.b].includes(g)));
    expect(outage).toMatchObject({ kind: 'agent_silent', scope: { type: 'node', node: '*' } });
  });

  test('every message passes ingest as it is', () => {
    for (const r of [core, field, silence]) {
      const read = parseMessages(r.messages);
      expect(read.drops.slice(0, 3)).toEqual([]);
      expect(read.skipped).toEqual([]);
    }
    const ns = field.messages.find((m) => m.type === 'network_status')!;
    expect(Object.keys(ns)).toEqual(['schema', 'type', 'node', 'sent_at', 'routing_daemon', 'probe_count', 'probes']);
    expect(Object.keys(ns.probes[0])).toEqual(['dst_node', 'dst_ip', 'timestamp', 'routing_daemon', 'rtt_ms_avg', 'jitter_ms', 'loss_pct', 'hop_count', 'path']);
    // The field agent's report comes 15 s after its probes' window.
    expect(Date.parse(ns.sent_at) - Date.parse(ns.probes[0].timestamp)).toBe(15_000);
    const health = field.messages.find((m) => m.type === 'agent_health')!;
    expect(typeof health.lat).toBe('string'); // --positions: as the field agent sends them
    expect(health.firmware_version).toBe('3.25.5.0');
  });

  test('the probe plan: 2 fixed neighbours + 1 rotating peer every 40 s, health every 5 min', () => {
    const rounds = new Map<string, Map<string, string[]>>();
    for (const m of core.messages) {
      if (m.type !== 'path_result') continue;
      const byTime = rounds.get(m.src) ?? rounds.set(m.src, new Map()).get(m.src)!;
      (byTime.get(m.sent_at) ?? byTime.set(m.sent_at, []).get(m.sent_at)!).push(m.dst);
    }
    expect(rounds.size).toBe(10);
    for (const [, byTime] of rounds) {
      const times = [...byTime.keys()].map((t) => Date.parse(t));
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(40_000);
      const lists = [...byTime.values()];
      expect(lists.every((l) => l.length === 3)).toBe(true);
      // Two targets in every round, the third one changing round after round.
      const counts = new Map<string, number>();
      for (const l of lists) for (const d of l) counts.set(d, (counts.get(d) ?? 0) + 1);
      expect([...counts.values()].filter((c) => c === lists.length).length).toBe(2);
      expect(counts.size).toBeGreaterThan(5);
    }
    const overloaded = core.truth.expected[1].scope.node;
    const healthTimes = (node: string, during: boolean) => core.messages
      .filter((m) => m.type === 'agent_health' && m.node === node)
      .map((m) => Date.parse(m.sent_at))
      .filter((t) => (t >= Date.parse(core.truth.expected[1].start_at) && t < Date.parse(core.truth.expected[1].end_at)) === during);
    const gaps = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]!);
    expect(gaps(healthTimes(overloaded, false)).every((g) => g >= 280_000 && g <= 340_000 || g > 340_000)).toBe(true);
    // An overloaded node reports every round, with its CPU over 80 %.
    expect(gaps(healthTimes(overloaded, true)).every((g) => g === 40_000)).toBe(true);
    expect(core.messages.filter((m) => m.type === 'agent_health' && m.node === overloaded && Date.parse(m.sent_at) >= Date.parse(core.truth.expected[1].start_at) && Date.parse(m.sent_at) < Date.parse(core.truth.expected[1].end_at)).every((m) => m.cpu_pct > 80)).toBe(true);
  });

  test('faults look like the recorded ones: a jitter burst, a partition, an outage', () => {
    const jb = core.truth.expected[0];
    const windows = core.messages.filter((m) => m.type === 'path_result' && m.src === jb.scope.src && m.dst === jb.scope.dst);
    const inside = windows.filter((m) => m.sent_at >= jb.start_at && m.sent_at < jb.end_at);
    expect(inside.length).toBeGreaterThanOrEqual(5);
    expect(inside.every((m) => m.metrics.jitter_ms_rfc3550 > 60)).toBe(true);
    expect(windows.filter((m) => m.sent_at < jb.start_at).every((m) => m.metrics.jitter_ms_rfc3550 < 10)).toBe(true);

    const [partition, outage] = silence.truth.expected;
    const during = (e: Msg) => silence.messages.filter((m) => m.sent_at >= e.start_at && m.sent_at < e.end_at);
    const p = during(partition);
    expect(p.length).toBeGreaterThan(0);
    expect(p.some((m) => partition.group.includes(m.src ?? m.node))).toBe(false);
    const into = p.filter((m) => m.type === 'path_result' && partition.group.includes(m.dst));
    expect(into.length).toBeGreaterThan(0);
    expect(into.every((m) => m.metrics.loss_pct === 100 && m.metrics.rtt_ms_avg === null)).toBe(true);
    expect(p.some((m) => m.type === 'hop_result' && partition.group.includes(m.dst))).toBe(false);
    expect(during(outage)).toEqual([]);
  });

  test('a seed names one scenario', async () => {
    const again = await record('core-again', ['--nodes', '10', '--seed', '11', '--faults', 'jitter_burst,node_overload', '--minutes', '90']);
    expect(Bun.hash(again.raw)).toBe(Bun.hash(core.raw));
    expect(again.truth).toEqual(core.truth);
  }, 60_000);
});

describe('meshmon simulate usage', () => {
  test('bad flags are exit 2 with the reason; --rules-out writes the scaled rules', async () => {
    const run = async (...args: string[]) => {
      const p = Bun.spawn([MESHMON_BIN, 'simulate', ...args], { cwd: REPO_ROOT, stdout: 'pipe', stderr: 'pipe' });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { out, err, code };
    };
    expect(await run('--nodes', '10')).toMatchObject({ code: 2, err: expect.stringContaining('--url') });
    expect(await run('--url', 'http://x', '--faults', 'meteor')).toMatchObject({ code: 2, err: expect.stringContaining('unknown fault "meteor"') });
    expect(await run('--url', 'ftp://x')).toMatchObject({ code: 2 });
    expect(await run('--url', 'http://x', '--style', 'fancy')).toMatchObject({ code: 2 });
    expect(await run('--record', path.join(tmp.dir, 'p.ndjson'), '--nodes', '4', '--faults', 'partition')).toMatchObject({ code: 2, err: expect.stringContaining('partition') });
    expect((await run('--help')).code).toBe(0);
    const rules = path.join(tmp.dir, 'rules.json');
    const r = await run('--rules-out', rules, '--speed', '20');
    expect(r.code).toBe(0);
    expect(r.err).toContain('ENGINE_INTERVAL=1');
    const scaled = JSON.parse(readFileSync(rules, 'utf8'));
    expect(scaled).toEqual(rulesForSpeed(20));
    expect(scaled.lifecycle.close_after_min).toBe(0.75);
    expect(scaled.jitter_burst.consecutive).toBe(3);
    expect(scaled.node_overload.probe_interval_s).toBe(2);
  });
});

// The Issue Engine on meshes it has never seen: recorded, replayed, judged.
describeEachMode(
  'simulated scenarios judged',
  (_get, mode) => {
    for (const [name, args] of [
      ['sim-core', ['--nodes', '14', '--seed', '21', '--faults', 'jitter_burst,loss_spike,rf_drop,route_flap,bottleneck,node_overload,agent_silent,noise', '--gap', '12']],
      ['sim-field', ['--nodes', '12', '--seed', '22', '--style', 'field', '--faults', 'loss_spike,bottleneck,jitter_burst,agent_silent', '--gap', '12']],
    ] as const) {
      test(`${name} replays to its expected incidents`, async () => {
        const r = await record(`${name}-${mode}`, [...args]);
        const tdb = await createTestDatabase(mode);
        let replayed;
        try {
          replayed = await replayFileWithStats(path.join(tmp.dir, `${name}-${mode}.ndjson.gz`), { rules: DEFAULT_RULES, tickSeconds: 10, db: tdb.db, log: silentLogger });
        } finally {
          await tdb.close();
        }
        const verdict = judge(replayed.incidents, r.truth.expected as ExpectedFault[]);
        console.log(formatVerdict(`${name} [${mode}]`, verdict));
        expect(replayed.stats.skipped).toBe(0);
        expect(verdict.problems).toEqual([]);
      }, 600_000);
    }
  },
  ['none', 'apache'],
);
