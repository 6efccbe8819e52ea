// Ingest bench: `./node_modules/.bin/bun bench/ingest.ts [--mode apache|none]
// [--batch 100] [--clients 4] [--core-passes 3] [--field-passes 6]
// [--upstream-passes 2] [--only core,field,mixed,upstream] [--write]`.
//
// For each workload (the core-type recording mesh16-core, and the field
// agent's network_status recording mesh20-field), on a fresh scratch database
// on the local PostgreSQL (apache TimescaleDB by default):
// - starts the collector as its own process (`bin/meshmon serve`, engine off,
//   crons parked, LOG_LEVEL=info as in production);
// - drives it from another process (bench/ingest-driver.ts) with `--clients`
//   keep-alive connections posting batches of `--batch` messages (the
//   upstream row: as the AREDN-Phonebook agent posts, one pretty-printed
//   report of its last 20 probes per request, HTTP/1.0, a new connection each);
// - samples the collector's RSS and CPU time;
// - loads the same rows with COPY into another fresh database, for comparison.
// Prints the figures; --write also writes docs/bench/ingest.md with the
// machine and date. Figures only; nothing is asserted.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { configFrom } from '../src/config.ts';
import { createDatabase, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createScratchDatabase } from '../test/support/admin.ts';
import { spawnCollector } from '../test/support/collector-process.ts';
import { copyInto, copyPayloads } from './ingest-copy.ts';
import { buildMessages } from './ingest-messages.ts';
import { cpuDescription, processCpuSeconds } from './machine.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'apache' },
    batch: { type: 'string', default: '100' },
    clients: { type: 'string', default: '4' },
    'core-passes': { type: 'string', default: '3' },
    'field-passes': { type: 'string', default: '6' },
    'upstream-passes': { type: 'string', default: '2' },
    only: { type: 'string', default: 'core,field,mixed,upstream' },
    write: { type: 'boolean', default: false },
  },
});
const MODE = values.mode as 'apache' | 'none';
const ROOT = path.resolve(import.meta.dir, '..');

function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const m = /^(VmRSS|VmHWM):\s+(\d+)/.exec(line);
      if (m) out[m[1]!] = Number(m[2]) * 1024;
    }
  } catch { /* exited */ }
  return out;
}

/** utime + stime of a process, in seconds. */
async function scratch(prefix: string) {
  const db = await createScratchDatabase(prefix);
  const pool = createPool({ url: db.url, max: 2 });
  const k = createDatabase(pool);
  if (MODE === 'apache') await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(k);
  return { ...db, k };
}

interface Result {
  workload: string;
  driver: Record<string, any>;
  rows: Record<string, number>;
  collector: { rss_start_mb: number; rss_peak_mb: number; cpu_s: number; cpu_per_1k_msgs_ms: number };
  copy: { rows: number; seconds: number; rows_per_s: number };
  ingest_rows_per_s: number;
}

const mb = (b: number) => Math.round(b / 1048576);

async function run(workload: string, scenarios: string[], passes: number, split: 'agents' | 'mixed', shape: 'batch' | 'upstream' = 'batch'): Promise<Result> {
  const endAt = Date.now() - 60_000;
  const db = await scratch('meshmon_bench_ingest');
  let collector: Awaited<ReturnType<typeof spawnCollector>> | null = null;
  try {
    collector = await spawnCollector({
      DATABASE_URL: db.url,
      TIMESCALEDB: MODE === 'apache' ? 'auto' : 'off',
      ENGINE_ENABLED: 'false',
      LOG_LEVEL: 'info',
      ROLLUP_CRON: '0 0 1 1 *',
      MAINTENANCE_CRON: '0 0 1 1 *',
    });
    await collector.waitForHealth();
    const pid = collector.proc.pid;
    const rssStart = procStatus(pid).VmRSS ?? 0;
    const cpu0 = processCpuSeconds(pid);
    const driver = Bun.spawn([process.execPath, path.join(ROOT, 'bench/ingest-driver.ts'),
      '--url', collector.url, '--scenarios', scenarios.join(','), '--passes', String(passes),
      '--batch', values.batch!, '--clients', values.clients!, '--end-at', String(endAt), '--split', split, '--shape', shape], { stdout: 'pipe', stderr: 'inherit' });
    const out = await new Response(driver.stdout).text();
    if ((await driver.exited) !== 0) throw new Error(`driver failed: ${out}`);
    const result = JSON.parse(out.trim().split('\n').pop()!);
    const cpu = processCpuSeconds(pid) - cpu0;
    const hwm = procStatus(pid).VmHWM ?? 0;
    const { rows } = await sql<Record<string, number>>`
      SELECT (SELECT count(*)::int FROM path_probe) AS path_probe, (SELECT count(*)::int FROM hop_quality) AS hop_quality,
             (SELECT count(*)::int FROM agent_health) AS agent_health, (SELECT count(*)::int FROM nodes) AS nodes`.execute(db.k);
    const stored = rows[0]!;
    const storedRows = stored.path_probe! + stored.hop_quality! + stored.agent_health!;

    // COPY of the same rows into a fresh database in the same mode.
    const target = await scratch('meshmon_bench_copy');
    try {
      await migrateToLatest(target.k, { timescaledb: MODE === 'apache' ? 'auto' : 'off' });
      const payloads = copyPayloads(buildMessages(scenarios, passes, endAt), configFrom());
      const copy = await copyInto(target.url, payloads);
      return {
        workload,
        driver: result,
        rows: stored,
        collector: {
          rss_start_mb: mb(rssStart),
          rss_peak_mb: mb(hwm),
          cpu_s: Math.round(cpu * 10) / 10,
          cpu_per_1k_msgs_ms: Math.round((cpu / (result.messages + result.warmup_messages)) * 1e7) / 10,
        },
        copy: { rows: copy.rows, seconds: Math.round(copy.seconds * 100) / 100, rows_per_s: Math.round(copy.rows / copy.seconds) },
        // All rows over the measured time: the warm-up batches are a small share.
        ingest_rows_per_s: Math.round((storedRows * result.messages) / (result.messages + result.warmup_messages) / result.seconds),
      };
    } finally {
      await target.k.destroy();
      await target.drop();
    }
  } finally {
    await collector?.stop();
    await db.k.destroy();
    await db.drop();
  }
}

const loadAtStart = os.loadavg();
const results: Result[] = [];
const only = new Set(values.only!.split(','));
if (only.has('core')) results.push(await run('core, per agent (mesh16-core: path_result, hop_result, agent_health)', ['mesh16-core'], Number(values['core-passes']), 'agents'));
if (only.has('field')) results.push(await run('field, per agent (mesh20-field: network_status, agent_health)', ['mesh20-field'], Number(values['field-passes']), 'agents'));
if (only.has('mixed')) results.push(await run('core, mixed batches (worst case: every request updates every node)', ['mesh16-core'], Number(values['core-passes']), 'mixed'));
if (only.has('upstream')) {
  results.push(await run(
    'upstream agent (mesh20-field as AREDN-Phonebook posts it: one pretty-printed report of its last 20 probes per request, HTTP/1.0, a new connection each)',
    ['mesh20-field'], Number(values['upstream-passes']), 'agents', 'upstream',
  ));
}

for (const r of results) {
  console.log(`\n${r.workload}`);
  console.log(`  ingest: ${r.driver.messages} messages in ${r.driver.seconds} s = ${r.driver.messages_per_s} msg/s (${r.ingest_rows_per_s} rows/s); p50 ${r.driver.p50_ms} ms, p99 ${r.driver.p99_ms} ms, max ${r.driver.max_ms} ms; statuses ${JSON.stringify(r.driver.statuses)}`);
  console.log(`  collector: RSS ${r.collector.rss_start_mb} MB at start, peak ${r.collector.rss_peak_mb} MB; CPU ${r.collector.cpu_s} s (${r.collector.cpu_per_1k_msgs_ms} ms per 1,000 messages)`);
  console.log(`  stored: ${JSON.stringify(r.rows)}`);
  console.log(`  COPY of the same rows: ${r.copy.rows} rows in ${r.copy.seconds} s = ${r.copy.rows_per_s} rows/s`);
}

if (values.write) {
  const cpu = cpuDescription();
  const pgVersion = Bun.spawnSync(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-tAc', 'SHOW server_version']).stdout.toString().trim();
  const tsVersion = Bun.spawnSync(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-tAc', "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"]).stdout.toString().trim();
  const lines = [
    '# Ingest bench',
    '',
    `Generated by \`./node_modules/.bin/bun bench/ingest.ts --write\` on ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '## Machine',
    '',
    `- CPU: ${cpu}, ${os.cpus().length} cores (\`nproc\`: ${Bun.spawnSync(['nproc']).stdout.toString().trim()})`,
    `- Memory: ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `- Load average (1, 5, 15 min) when the run started: ${loadAtStart.map((l) => l.toFixed(1)).join(', ')}; when it ended: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')}. On a shared machine a load of 10+ on 2 cores means each process gets a fraction of a core, and every figure below moves with it: compare ingest with the COPY of the same run, not across runs.`,
    `- Bun ${Bun.version}; PostgreSQL ${pgVersion}${MODE === 'apache' ? `, TimescaleDB ${tsVersion} (Apache build)` : ' (no TimescaleDB)'}; mode \`${MODE}\`; collector and PostgreSQL on the same machine`,
    '',
    '## Set-up',
    '',
    `- Collector: its own process (\`bin/meshmon serve\`), engine off, crons parked, \`LOG_LEVEL=info\` (one log line per request, as in production), pool of ${configFrom().DATABASE_POOL_SIZE} (the default).`,
    `- Driver: another process, ${values.clients} keep-alive connections, batches of ${values.batch} messages, each client posting its next batch when the last is answered. The first 20 batches warm up and are not counted.`,
    '- "per agent": each connection carries the messages of its own set of sending nodes, as agents post their own measurements. "mixed": every batch holds the next messages of all nodes, so concurrent requests update the same `nodes` rows and queue on their row locks until the request before commits (the worst case, e.g. a proxy forwarding everything).',
    '- Messages: the recorded scenario meshes, moved to end a minute before the run and repeated one recording-length apart, so every message is a new row.',
    '- COPY: the same rows (built by the collector\'s own `toRows`) loaded with `COPY … FROM STDIN (FORMAT csv)` through psql into a fresh migrated database in the same mode: the floor of what PostgreSQL can take, with no validation, duplicate check or registry.',
    '',
    '## Results',
    '',
    '| workload | messages | msg/s | rows/s | p50 | p99 | collector RSS start → peak | collector CPU per 1,000 msgs | COPY rows/s | ingest / COPY |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|',
    ...results.map((r) => `| ${r.workload} | ${r.driver.messages} | ${r.driver.messages_per_s} | ${r.ingest_rows_per_s} | ${r.driver.p50_ms} ms | ${r.driver.p99_ms} ms | ${r.collector.rss_start_mb} → ${r.collector.rss_peak_mb} MB | ${r.collector.cpu_per_1k_msgs_ms} ms | ${r.copy.rows_per_s} | ${Math.round((100 * r.ingest_rows_per_s) / r.copy.rows_per_s)} % |`),
    '',
    '## Reading the figures',
    '',
    '- A message is one row for the core types; a `network_status` report fans out into about 8 rows (3 probes and their hops), so compare the field workload by rows/s.',
    '- The upstream row posts every report as the AREDN-Phonebook agent does: one message per request, its last 20 probes (so each report repeats most of the one before: about one probe in seven is new, the rest are duplicates the collector recognises), pretty-printed, HTTP/1.0 over a new connection each. Its msg/s are reports per second; its rows/s count only the rows stored, so its cost per stored row includes the repeats it reads and discards.',
    '- Every request is one transaction: BEGIN, one statement that writes all tables and the registry (CTEs over `json_to_recordset`), COMMIT with `synchronous_commit = on`. The 200 comes after the WAL flush, so the commit (an fsync) is part of every latency figure; COPY pays it once per table.',
    '- "collector CPU per 1,000 msgs" is the collector process\'s own CPU time (HTTP, JSON, zod, row building, the pg driver, logging) divided by the messages; the rest of the time is PostgreSQL and waiting for it.',
    '- The reference Python design (one INSERT and one commit per record, rules inside the request) is quoted at about 2,500 msg/s.',
    '',
    'Raw figures:',
    '',
    '```json',
    JSON.stringify(results, null, 2),
    '```',
    '',
  ];
  mkdirSync(path.join(ROOT, 'docs/bench'), { recursive: true });
  writeFileSync(path.join(ROOT, 'docs/bench/ingest.md'), lines.join('\n'));
  console.log('\nwrote docs/bench/ingest.md');
}
process.exit(0);
