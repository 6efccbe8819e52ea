import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { Incident } from '../../src/incidents/incident.schema.ts';

const BIN = path.resolve(import.meta.dir, '../../bin/meshmon');
const T0 = Date.parse('2026-03-02T06:00:00Z');

/**
 * Three nodes probing each other every 40 s for 30 min; A→B has 6 windows of
 * 80 ms jitter from minute 10 on (a jitter burst); line 3 is not JSON and
 * line 5 breaks the contract.
 */
function recording(): string {
  const nodes = ['KA1AAA-HAP-1', 'KB2BBB-HAP-1', 'KC3CCC-HAP-1'];
  const lines: Array<{ at: number; text: string }> = [];
  for (let t = T0; t < T0 + 30 * 60_000; t += 40_000) {
    for (const [i, src] of nodes.entries()) {
      const dst = nodes[(i + 1) % nodes.length]!;
      const burst = i === 0 && t >= T0 + 10 * 60_000 && t < T0 + 14 * 60_000;
      const sent = new Date(t + i * 1000).toISOString();
      lines.push({
        at: t + i * 1000,
        text: JSON.stringify({
          schema: 'meshmon.v1', type: 'path_result', src, dst, sent_at: sent, window_s: 5,
          route: [src, dst], metrics: { rtt_ms_avg: 4.2, jitter_ms_rfc3550: burst ? 80 : 2.5, loss_pct: 0 },
        }),
      });
      lines.push({
        at: t + i * 1000,
        text: JSON.stringify({
          schema: 'meshmon.v1', type: 'hop_result', src, dst, sent_at: sent, hop_index: 0,
          hop: { from: src, to: dst }, l2: { lq: 0.95, nlq: 0.94, etx: 1.12 },
        }),
      });
    }
    if ((t - T0) % 300_000 === 0) {
      for (const node of nodes) {
        lines.push({ at: t, text: JSON.stringify({ schema: 'meshmon.v1', type: 'agent_health', node, sent_at: new Date(t).toISOString(), cpu_pct: 12, mem_mb: 6, queue_len: 0, neighbors_seen: 2 }) });
      }
    }
  }
  lines.sort((a, b) => a.at - b.at);
  const text = lines.map((l) => l.text);
  text.splice(2, 0, '{"schema": "meshmon.v1", "type": "path_res');
  text.splice(4, 0, JSON.stringify({ schema: 'meshmon.v1', type: 'path_result', src: 'KA1AAA-HAP-1', dst: 'KB2BBB-HAP-1', sent_at: '2026-03-02 06:00:02', route: [], metrics: { loss_pct: 1 } }));
  // Stored without its impossible loss: reported, not skipped.
  text.splice(6, 0, JSON.stringify({ schema: 'meshmon.v1', type: 'path_result', src: 'KA1AAA-HAP-1', dst: 'KC3CCC-HAP-1', sent_at: new Date(T0 + 2000).toISOString(), route: [], metrics: { loss_pct: 140 } }));
  return text.join('\n') + '\n';
}

async function replay(args: string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'RULES_FILE', 'LOG_LEVEL'].includes(k)));
  const proc = Bun.spawn([BIN, 'replay', ...args], { stdout: 'pipe', stderr: 'pipe', env: { ...base, ...env } as Record<string, string> });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

const logLines = (stderr: string) =>
  stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('meshmon replay (CLI)', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-replay-test-'));
    file = path.join(dir, 'small.ndjson');
    await writeFile(file, recording());
    await writeFile(path.join(dir, 'small.ndjson.gz'), gzipSync(recording()));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('replays a recording in an embedded database: incidents on stdout, JSON logs on stderr', async () => {
    const { stdout, stderr, code } = await replay([path.join(dir, 'small.ndjson.gz')]);
    expect(code, stderr).toBe(0);
    const incidents = z.array(Incident).parse(JSON.parse(stdout));
    expect(incidents.some((i) => i.kind === 'jitter_burst' && i.scope.type === 'route' && i.scope.src === 'KA1AAA-HAP-1')).toBe(true);

    const logs = logLines(stderr);
    expect(logs.length).toBeGreaterThan(0);
    const skipped = logs.filter((l) => l.msg === 'line skipped');
    expect(skipped.map((l) => l.line)).toEqual([3, 5]);
    expect(String(skipped[1]!.reason)).toContain('sent_at');
    const partly = logs.filter((l) => l.msg === 'line stored without some of its parts');
    expect(partly.map((l) => [l.line, String(l.reason).includes('loss_pct')])).toEqual([[7, true]]);
    const done = logs.find((l) => l.msg === 'replay finished')!;
    expect(done).toMatchObject({ skipped: 2, partly_dropped: 1, first_tick: '2026-03-02T06:00:00.000Z' });
    expect(done.messages).toBeGreaterThan(250);
    // The embedded server is gone with its temporary directory.
    expect(logs.some((l) => l.msg === 'embedded PostgreSQL stopped')).toBe(true);
  }, 120_000);

  test('--tick and --rules change the simulation (plain NDJSON, --database-url)', async () => {
    const { createScratchDatabase } = await import('../support/admin.ts');
    const scratch = await createScratchDatabase('meshmon_replay_cli');
    try {
      const rules = path.join(dir, 'strict.json');
      await writeFile(rules, JSON.stringify({ jitter_burst: { jitter_ms: 100 } }));
      const { stdout, stderr, code } = await replay([file, '--tick', '30', '--rules', rules, '--database-url', scratch.url]);
      expect(code, stderr).toBe(0);
      // 80 ms no longer counts as jitter with a 100 ms threshold.
      expect(z.array(Incident).parse(JSON.parse(stdout)).filter((i) => i.kind === 'jitter_burst')).toEqual([]);
      const done = logLines(stderr).find((l) => l.msg === 'replay finished')!;
      // sent_at runs from T0 to T0 + 1,762 s: ticks at T0, T0 + 30 s, …, the first at or after the last message.
      expect(done.ticks).toBe(Math.ceil(1762 / 30) + 1);

      // A second replay into the same database is refused: it is no longer fresh.
      const again = await replay([file, '--database-url', scratch.url]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('fresh database');
    } finally {
      await scratch.drop();
    }
  }, 120_000);

  test('--help prints the usage and exits 0', async () => {
    const { stdout, code } = await replay(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('usage: meshmon replay FILE');
  });

  test.each([
    [[], 'missing FILE'],
    [['x.ndjson', '--speed', '2'], "Unknown option '--speed'"],
    [['x.ndjson', '--tick', 'fast'], '--tick must be a number of seconds'],
    [['x.ndjson', '--tick', '0'], '--tick must be a number of seconds'],
    [['a.ndjson', 'b.ndjson'], 'expected one FILE'],
    [['x.ndjson', '--database-url', 'mysql://x'], '--database-url must be a postgres://'],
  ])('usage error %j → exit 2 with a clear message', async (args, message) => {
    const { stdout, stderr, code } = await replay(args as string[]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message as string);
    expect(stderr).toContain('usage: meshmon replay');
  });

  test('a missing file is exit 2, named', async () => {
    const { stdout, stderr, code } = await replay(['/nonexistent/rec.ndjson']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('meshmon replay: no such file: /nonexistent/rec.ndjson');
  });

  test('a bad rules file is a usage error naming the file and the key', async () => {
    const rules = path.join(dir, 'bad-rules.json');
    await writeFile(rules, JSON.stringify({ loss_spike: { loss_pct: 400 } }));
    const { stderr, code } = await replay([file, '--rules', rules]);
    expect(code).toBe(2);
    expect(stderr).toContain(`invalid rules file ${rules}`);
    expect(stderr).toContain('loss_spike.loss_pct');
  });

  test('a file whose every line is bad is an error, after each line is reported', async () => {
    const bad = path.join(dir, 'bad.ndjson');
    await writeFile(bad, 'not json\n{"schema":"meshmon.v2","type":"path_result","sent_at":"2026-03-02T06:00:00Z"}\n');
    const { stdout, stderr, code } = await replay([bad]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(logLines(stderr).filter((l) => l.msg === 'line skipped').map((l) => l.line)).toEqual([1, 2]);
    expect(stderr).toContain('no valid message');
  }, 60_000);
});
