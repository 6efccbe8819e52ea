import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readLines, ReplayInputError, replayFileWithStats, type ReplayOptions } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { silentLogger } from '../../src/log.ts';
import { describeEachMode } from '../support/databases.ts';

const T0 = Date.parse('2026-03-02T06:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const health = (node: string, s: number) => JSON.stringify({ schema: 'meshmon.v1', type: 'agent_health', node, sent_at: at(s), cpu_pct: 10, mem_mb: 5, queue_len: 0 });

// sent_at 0, 5, 10, 25, 31 s; with 10 s ticks at 0, 10, 20, 30, 40 they are
// ingested 1, 2, 0, 1, 1 per tick.
const LINES = [health('KA1AAA-HAP-1', 0), health('KB2BBB-HAP-1', 5), health('KA1AAA-HAP-1', 10), health('KB2BBB-HAP-1', 25), health('KA1AAA-HAP-1', 31)];

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-replay-unit-'));
  file = path.join(dir, 'rec.ndjson');
  await writeFile(file, LINES.join('\n') + '\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('readLines streams plain and gzipped files alike, numbering lines from 1', async () => {
  const gz = path.join(dir, 'rec.ndjson.gz');
  await writeFile(gz, gzipSync(LINES.join('\r\n')));
  const plain = [];
  for await (const l of readLines(file)) plain.push(l);
  const zipped = [];
  for await (const l of readLines(gz)) zipped.push({ ...l, text: l.text.trimEnd() });
  expect(plain.map((l) => l.line)).toEqual([1, 2, 3, 4, 5]);
  expect(zipped).toEqual(plain);
});

describeEachMode('replayFile', (get) => {
  const run = async (extra: Partial<ReplayOptions> = {}) => {
    const ingested: Array<[string, number]> = [];
    const r = await replayFileWithStats(file, {
      rules: DEFAULT_RULES,
      tickSeconds: 10,
      db: get().db,
      log: silentLogger,
      onTick: (res, n) => ingested.push([res.now.toISOString().slice(11, 19), n]),
      ...extra,
    });
    return { ...r, ingested };
  };

  test('ingests every message with sent_at ≤ T before the tick at T, from the first sent_at to the last', async () => {
    await get().truncate();
    const { ingested, stats } = await run();
    expect(ingested).toEqual([['06:00:00', 1], ['06:00:10', 2], ['06:00:20', 0], ['06:00:30', 1], ['06:00:40', 1]]);
    expect(stats).toMatchObject({ messages: 5, skipped: 0, ticks: 5, first_tick: at(0), last_tick: at(40) });
  });

  test('a replay cut anywhere and continued ingests each message once, at the same tick', async () => {
    for (const cut of [15, 27, 30]) {
      await get().truncate();
      const first = await run({ until: new Date(T0 + cut * 1000) });
      const second = await run({ after: new Date(T0 + cut * 1000) });
      expect([...first.ingested, ...second.ingested]).toEqual([['06:00:00', 1], ['06:00:10', 2], ['06:00:20', 0], ['06:00:30', 1], ['06:00:40', 1]]);
    }
  });

  test('refuses a database that already holds mesh data', async () => {
    await get().truncate();
    await run();
    await expect(run()).rejects.toBeInstanceOf(ReplayInputError);
  });

  test('a bad line is skipped and counted; the others are ingested', async () => {
    await get().truncate();
    const bad = path.join(dir, 'bad.ndjson');
    const lines = [...LINES];
    lines.splice(1, 0, '{oops', JSON.stringify({ schema: 'meshmon.v1', type: 'agent_health', node: 'bad node!', sent_at: at(6), cpu_pct: 500 }), '');
    await writeFile(bad, lines.join('\n'));
    const { stats } = await replayFileWithStats(bad, { rules: DEFAULT_RULES, tickSeconds: 10, db: get().db, log: silentLogger });
    expect(stats).toMatchObject({ lines: 8, messages: 5, skipped: 2 });
  });
});
