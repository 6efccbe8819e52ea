// Bytes on disk per stored message, per database mode, with and without
// TimescaleDB compression:
//   ./node_modules/.bin/bun bench/storage.ts [--scenario mesh16-core,mesh20-field] [--modes timescale,apache,none] [--json]
// Each scenario is ingested through the collector's own parse + store code
// (batches of about ten seconds of traffic, received when sent) into a fresh
// migrated database: apache and none as scratch databases on the local
// PostgreSQL, timescale on PGlite (community TimescaleDB), where the chunks
// are then compressed with the migration's segmentby/orderby settings.
// Figures go to docs/bench/storage.md.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { configFrom } from '../src/config.ts';
import { createDatabase, createPool, type Database } from '../src/db/database.ts';
import { readLines } from '../src/engine/replay.ts';
import { parseMessages, storeMessages } from '../src/ingest/ingest.service.ts';
import { serverInfo } from '../src/ops/backup.repository.ts';
import { findPgTool, runPgTool } from '../src/ops/pg-tools.ts';
import { refreshRollups } from '../src/ops/rollup.ts';
import { createTestDatabase, hasApacheTimescale, type TestMode } from '../test/support/databases.ts';
import { scenarioPath } from '../test/support/fixtures.ts';
import { cpuDescription } from './machine.ts';

const RAW = ['path_probe', 'hop_quality', 'agent_health', 'crash_report'] as const;
const ROLLUPS = ['path_probe_hourly', 'hop_quality_hourly'] as const;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const scenarios = arg('scenario', 'mesh16-core,mesh20-field').split(',');
const modes = arg('modes', 'timescale,apache,none').split(',') as TestMode[];
const asJson = process.argv.includes('--json');
const config = configFrom();

async function loadMessages(name: string) {
  const out: Array<{ at: number; msg: unknown }> = [];
  for await (const { text } of readLines(scenarioPath(name))) {
    if (!text.trim()) continue;
    const msg = JSON.parse(text) as { sent_at: string };
    out.push({ at: Date.parse(msg.sent_at), msg });
  }
  return out;
}

/** As the agents send them: every ten seconds, what was sent since. */
async function ingest(db: Database, messages: Array<{ at: number; msg: unknown }>) {
  let stored = 0;
  let i = 0;
  while (i < messages.length) {
    const tick = Math.floor(messages[i]!.at / 10_000) * 10_000 + 10_000;
    const batch: unknown[] = [];
    while (i < messages.length && messages[i]!.at < tick) batch.push(messages[i++]!.msg);
    const receivedAt = new Date(tick);
    await db.transaction().execute(async (trx) => {
      const r = await storeMessages(trx, parseMessages(batch), { receivedAt, config });
      if (r.drops.length) throw new Error(`scenario message dropped: ${JSON.stringify(r.drops[0])}`);
      stored += Object.values(r.result.accepted).reduce((a, b) => a + b, 0);
    });
  }
  return stored;
}

interface Sizes { table: string; rows: number; bytes: number }

async function sizes(db: Database, mode: TestMode, tables: readonly string[]): Promise<Sizes[]> {
  const out: Sizes[] = [];
  for (const t of tables) {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::bigint AS n FROM ${sql.table(t)}`.execute(db);
    let bytes: number;
    if (mode === 'none') {
      bytes = Number((await sql<{ b: number }>`SELECT pg_total_relation_size(${t}::regclass)::bigint AS b`.execute(db)).rows[0]!.b);
    } else {
      // Hypertables and continuous aggregates: every chunk (compressed ones included), their indexes and TOAST.
      const { rows: r } = await sql<{ b: number }>`
        SELECT COALESCE(
          (SELECT hypertable_size(format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)::regclass)
             FROM timescaledb_information.continuous_aggregates WHERE view_name = ${t}),
          (SELECT hypertable_size(${t}::regclass) FROM timescaledb_information.hypertables WHERE hypertable_name = ${t}),
          pg_total_relation_size(${t}::regclass))::bigint AS b`.execute(db);
      bytes = Number(r[0]!.b);
    }
    out.push({ table: t, rows: Number(rows[0]!.n), bytes });
  }
  return out;
}

const total = (s: Sizes[]) => s.reduce((a, x) => a + x.bytes, 0);

async function measure(mode: TestMode, name: string, messages: Array<{ at: number; msg: unknown }>) {
  const tdb = await createTestDatabase(mode);
  try {
    const t0 = performance.now();
    const stored = await ingest(tdb.db, messages);
    const ingestS = (performance.now() - t0) / 1000;
    // Settled sizes: dead tuples gone, visibility maps and BRIN summaries written.
    await sql`VACUUM ANALYZE`.execute(tdb.db);
    const last = messages.at(-1)!.at;
    await refreshRollups(tdb.db, new Date(last + 3_600_000), config);
    const raw = await sizes(tdb.db, mode, RAW);
    const rollups = await sizes(tdb.db, mode, ROLLUPS);
    const result = {
      mode, scenario: name, messages: messages.length, stored, ingest_s: Math.round(ingestS * 10) / 10,
      raw, raw_bytes: total(raw), bytes_per_message: total(raw) / stored,
      rollups, rollup_bytes_per_row: total(rollups) / Math.max(1, rollups.reduce((a, x) => a + x.rows, 0)),
      compressed: null as null | { raw: Sizes[]; raw_bytes: number; bytes_per_message: number; ratio: number },
      dump_bytes: null as number | null,
    };
    if (tdb.url) result.dump_bytes = await dumpSize(tdb.url);
    if (mode === 'timescale') {
      for (const t of ['path_probe', 'hop_quality', 'agent_health']) {
        await sql`SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks(${t}::regclass) c`.execute(tdb.db);
      }
      await sql`VACUUM ANALYZE`.execute(tdb.db);
      const c = await sizes(tdb.db, mode, RAW);
      result.compressed = { raw: c, raw_bytes: total(c), bytes_per_message: total(c) / stored, ratio: total(raw) / total(c) };
    }
    return result;
  } finally {
    await tdb.close();
  }
}

/** What `meshmon backup` writes for this database (pg_dump -Fc -Z 6). */
async function dumpSize(url: string): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-bench-dump-'));
  const db = createDatabase(createPool({ url, max: 1 }));
  try {
    const tool = await findPgTool('pg_dump', (await serverInfo(db)).major);
    const file = path.join(dir, 'x.dump');
    const r = await runPgTool(tool, ['--format=custom', '--compress=6', `--file=${file}`, `--dbname=${url}`], undefined);
    if (r.code !== 0) throw new Error(r.stderr);
    return (await stat(file)).size;
  } finally {
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

const results: Array<Awaited<ReturnType<typeof measure>>> = [];
for (const name of scenarios) {
  const messages = await loadMessages(name);
  for (const mode of modes) {
    if (mode === 'apache' && !(await hasApacheTimescale())) {
      process.stderr.write('apache mode skipped: TimescaleDB is not preloaded on the local PostgreSQL\n');
      continue;
    }
    process.stderr.write(`${name} → ${mode} ...\n`);
    results.push(await measure(mode, name, messages));
  }
}

if (asJson) {
  console.log(JSON.stringify(results, null, 2));
} else {
  const kib = (n: number) => (n / 1024).toFixed(0);
  console.log(`# storage bench — ${new Date().toISOString().slice(0, 10)}, ${cpuDescription()} ×${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}, Bun ${Bun.version}\n`);
  console.log('| scenario | mode | messages | rows | raw KiB | bytes/message | bytes/row | compressed bytes/message | compressed bytes/row | ratio | pg_dump bytes/row | ingest s |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const rows = r.raw.reduce((a, x) => a + x.rows, 0);
    const c = r.compressed;
    console.log(`| ${r.scenario} | ${r.mode} | ${r.stored} | ${rows} | ${kib(r.raw_bytes)} | ${r.bytes_per_message.toFixed(0)} | ${(r.raw_bytes / rows).toFixed(0)} | ${c ? c.bytes_per_message.toFixed(0) : '—'} | ${c ? (c.raw_bytes / rows).toFixed(0) : '—'} | ${c ? c.ratio.toFixed(1) + '×' : '—'} | ${r.dump_bytes ? (r.dump_bytes / rows).toFixed(0) : '—'} | ${r.ingest_s} |`);
  }
  console.log('\nPer table (rows, KiB uncompressed → compressed):\n');
  console.log('| scenario | mode | table | rows | KiB | bytes/row | compressed KiB |');
  console.log('|---|---|---|---:|---:|---:|---:|');
  for (const r of results) {
    for (const t of [...r.raw, ...r.rollups]) {
      const c = r.compressed?.raw.find((x) => x.table === t.table);
      console.log(`| ${r.scenario} | ${r.mode} | ${t.table} | ${t.rows} | ${kib(t.bytes)} | ${t.rows ? (t.bytes / t.rows).toFixed(0) : '—'} | ${c ? kib(c.bytes) : '—'} |`);
    }
  }
}
process.exit(0);
