// Issue Engine bench: `./node_modules/.bin/bun bench/engine.ts [--nodes 500]
// [--minutes 60] [--ticks 10] [--no-replay] [--mode apache|none]`.
//
// Fills a scratch database on the local PostgreSQL (apache mode by default)
// with an hour of traffic from a simulated mesh, then runs runTick: once cold
// (the first tick opens the incidents), then every 10 simulated seconds with
// 10 s of new traffic inserted before each tick (steady state). Prints the
// durations of whole ticks and of each rule, then times `meshmon replay` of
// mesh16-core and of silence/mesh22-partition (many nodes silent at once).
// Figures only; nothing is asserted. Results: docs/bench/engine.md.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDatabase, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { runTick, type TickResult } from '../src/engine/engine.ts';
import { DEFAULT_RULES } from '../src/engine/rules.config.ts';
import { linksTouching } from '../src/engine/signals.repository.ts';
import { createScratchDatabase } from '../test/support/admin.ts';
import { analyze, insertHealth, insertHops, insertProbes, tableSizes, upsertNodesFrom } from './engine-fill.repository.ts';
import { Mesh, type Traffic } from './engine-traffic.ts';
import { cpuDescription } from './machine.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '500' },
    minutes: { type: 'string', default: '60' },
    ticks: { type: 'string', default: '10' },
    mode: { type: 'string', default: 'apache' },
    'no-replay': { type: 'boolean', default: false },
  },
});
const NODES = Number(values.nodes);
const MINUTES = Number(values.minutes);
const TICKS = Number(values.ticks);
const MODE = values.mode as 'apache' | 'none';
const TICK_S = 10;

const root = path.resolve(import.meta.dir, '..');
const t0 = new Date('2026-03-02T06:00:00Z');
const fillEnd = new Date(t0.getTime() + MINUTES * 60_000);
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function load(db: Parameters<typeof insertProbes>[0], t: Traffic) {
  await insertProbes(db, t.probes);
  await insertHops(db, t.hops);
  await insertHealth(db, t.health);
}

async function main() {
  console.log(`# engine bench — ${new Date().toISOString()}`);
  console.log(machine());
  console.log(`mesh: ${NODES} nodes, ${MINUTES} min of traffic, mode ${MODE}, tick every ${TICK_S} s\n`);

  const scratch = await createScratchDatabase('meshmon_bench_engine');
  const pool = createPool({ url: scratch.url, max: 4, applicationName: 'meshmon-bench' });
  const db = createDatabase(pool);
  try {
    if (MODE === 'apache') await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
    const info = await migrateToLatest(db, { timescaledb: MODE === 'apache' ? 'auto' : 'off' });
    console.log(`database: ${info.mode} (PostgreSQL ${info.version.split(' ')[0]}${info.timescaledb ? `, TimescaleDB ${info.timescaledb}` : ''})`);

    const mesh = new Mesh(NODES, t0);
    const g0 = performance.now();
    const traffic = mesh.traffic(t0, fillEnd);
    const g1 = performance.now();
    await load(db, traffic);
    await upsertNodesFrom(db, mesh.names, t0, fillEnd);
    await analyze(db);
    const g2 = performance.now();
    const sizes = await tableSizes(db);
    console.log(`fill: ${sizes.path_probe} path_probe, ${sizes.hop_quality} hop_quality, ${sizes.agent_health} agent_health rows; generated in ${ms(g1 - g0)}, loaded in ${ms(g2 - g1)}\n`);

    const tick = async (now: Date) => {
      const start = performance.now();
      const result = await db.transaction().execute((trx) => runTick(trx, now, DEFAULT_RULES));
      return { result, ms: performance.now() - start };
    };

    const first = await tick(fillEnd);
    const steady: Array<{ result: TickResult; ms: number }> = [];
    let now = fillEnd;
    for (let i = 0; i < TICKS; i++) {
      const next = new Date(now.getTime() + TICK_S * 1000);
      const t = mesh.traffic(now, next);
      await load(db, t);
      now = next;
      steady.push(await tick(now));
    }
    const incidents = (await tableSizes(db)).incidents;

    console.log('| tick | duration | opened | updated | closed |');
    console.log('|---|---:|---:|---:|---:|');
    console.log(`| first (cold) | ${ms(first.ms)} | ${first.result.opened.length} | ${first.result.updated.length} | ${first.result.closed.length} |`);
    const sMs = steady.map((s) => s.ms);
    console.log(`| steady, median of ${TICKS} | ${ms(median(sMs))} | ${median(steady.map((s) => s.result.opened.length))} | ${median(steady.map((s) => s.result.updated.length))} | ${median(steady.map((s) => s.result.closed.length))} |`);
    console.log(`| steady, max of ${TICKS} | ${ms(Math.max(...sMs))} | | | |`);
    console.log(`\nincidents after the bench: ${incidents}\n`);

    console.log('| rule | first tick | steady median | steady max | findings (first) | health (first) |');
    console.log('|---|---:|---:|---:|---:|---|');
    for (const r of first.result.rules) {
      const runs = steady.map((s) => s.result.rules.find((x) => x.rule === r.rule)?.durationMs ?? 0);
      console.log(`| ${r.rule} | ${ms(r.durationMs)} | ${ms(median(runs))} | ${ms(Math.max(...runs))} | ${r.findings} | ${r.health}${r.error ? ` error: ${r.error}` : ''} |`);
    }

    // What a tick adds while a partition is possible (several nodes silent
    // together, others reporting): the partition rule reads the links of the
    // last hour around the nodes that are not reporting — here ten of them.
    const reads: number[] = [];
    let linkCount = 0;
    for (let i = 0; i < 3; i++) {
      const r0 = performance.now();
      const from = new Date(now.getTime() - DEFAULT_RULES.partition.topology_min * 60_000);
      linkCount = (await linksTouching(db, { from, now, nodes: mesh.names.slice(0, 10) })).length;
      reads.push(performance.now() - r0);
    }
    console.log(`\ntopology read of a tick while a partition is possible (10 nodes not reporting): median of 3 ${ms(median(reads))}, ${linkCount} links`);
  } finally {
    await db.destroy();
    await scratch.drop();
  }

  if (!values['no-replay']) {
    await timeReplay('mesh16-core', 'mesh16-core');
    // Many nodes silent at once: a partition (the topology read while it is possible) and its children.
    await timeReplay('mesh22-partition', 'silence/mesh22-partition');
  }
}

/** `meshmon replay` of a bundled scenario on its own embedded PostgreSQL, start to exit. */
async function timeReplay(label: string, name: string) {
  const file = path.join(root, `test/fixtures/scenarios/${name}.ndjson.gz`);
  const start = performance.now();
  const proc = Bun.spawn([path.join(root, 'bin/meshmon'), 'replay', file], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, LOG_LEVEL: 'info' } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const wall = performance.now() - start;
  const finished = err.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((l) => l?.msg === 'replay finished');
  console.log(`\nreplay ${label} (embedded PostgreSQL, start to exit): ${(wall / 1000).toFixed(1)} s, exit ${code}, ${code === 0 ? JSON.parse(out).length : '?'} incidents`);
  if (finished) {
    console.log(`  ${finished.ticks} ticks, ${finished.messages} messages; ingest ${(finished.ingest_ms / 1000).toFixed(1)} s, engine ${(finished.engine_ms / 1000).toFixed(1)} s, replay loop ${(finished.total_ms / 1000).toFixed(1)} s`);
    console.log(`  rules (ms): ${Object.entries(finished.rule_ms as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  if (code !== 0) console.log(err.slice(-2000));
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function machine(): string {
  return `machine: ${os.cpus().length} CPUs (nproc), ${cpuDescription()}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}, Bun ${Bun.version}`;
}

await main();
