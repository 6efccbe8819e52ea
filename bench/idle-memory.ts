// Idle memory of the collector process (target: < 80 MB RSS on a Pi 4).
//
//   ./node_modules/.bin/bun bench/idle-memory.ts [--idle-seconds 30] [--database-url URL]
//
// Starts `bin/meshmon serve` as a child process twice — on the embedded
// PostgreSQL (a temp DATA_DIR) and on DATABASE_URL (default: a scratch
// database on 127.0.0.1:5432 when one answers) — waits for /healthz, lets it
// idle with its jobs running, and samples VmRSS / VmHWM of the collector
// process only (the embedded server's processes are printed apart, not counted).
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { spawnCollector } from '../test/support/collector-process.ts';
import { findFreePort } from '../test/support/free-port.ts';
import { tempDataDir } from '../test/support/temp-dir.ts';
import { cpuDescription } from './machine.ts';

const { values: args } = parseArgs({
  options: {
    'idle-seconds': { type: 'string', default: '30' },
    'database-url': { type: 'string' },
  },
});
const idleSeconds = Number(args['idle-seconds']);

function status(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(VmRSS|VmHWM|RssAnon|RssFile|Threads):\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The postgres processes under `pid` (the embedded server and its workers). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch { /* gone */ }
  }
  const all: number[] = [];
  const walk = (p: number) => { for (const c of children.get(p) ?? []) { all.push(c); walk(c); } };
  walk(pid);
  return all;
}

const mb = (kb: number) => (kb / 1024).toFixed(1);

async function measure(label: string, env: Record<string, string>) {
  const c = await spawnCollector({ LOG_LEVEL: 'warn', ...env });
  try {
    const t0 = performance.now();
    await c.waitForHealth(200, 120_000);
    const startMs = performance.now() - t0;
    const pid = c.proc.pid;
    const atStart = status(pid);
    const samples: number[] = [];
    for (let i = 0; i < idleSeconds; i++) {
      await Bun.sleep(1000);
      samples.push(status(pid).VmRSS!);
    }
    // One request on the way out, as a probe would do.
    await fetch(`${c.url}/healthz`);
    const end = status(pid);
    const pgKb = descendants(pid).reduce((s, p) => { try { return s + (status(p).RssAnon ?? 0); } catch { return s; } }, 0);
    const row = {
      label,
      startup_ms: Math.round(startMs),
      rss_after_start_mb: mb(atStart.VmRSS!),
      rss_idle_min_mb: mb(Math.min(...samples)),
      rss_idle_max_mb: mb(Math.max(...samples)),
      rss_end_mb: mb(end.VmRSS!),
      hwm_mb: mb(end.VmHWM!),
      rss_anon_mb: mb(end.RssAnon!),
      threads: end.Threads,
      embedded_pg_anon_mb: pgKb ? mb(pgKb) : '-',
    };
    const code = await c.stop('SIGTERM');
    if (code !== 0) throw new Error(`collector exited ${code}:\n${c.output()}`);
    return row;
  } catch (err) {
    await c.stop('SIGKILL');
    throw err;
  }
}

async function scratchUrl(): Promise<{ url: string; drop: () => Promise<void> } | null> {
  if (args['database-url']) return { url: args['database-url'], drop: async () => {} };
  const admin = new pg.Client({ connectionString: process.env.MESHMON_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  const name = `meshmon_bench_idle_${process.pid}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(process.env.MESHMON_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: process.env.MESHMON_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

const cpu = cpuDescription();
console.log(`machine: ${os.cpus().length} CPUs (nproc ${navigator.hardwareConcurrency}), ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.arch()}, Bun ${Bun.version}`);
console.log(`date: ${new Date().toISOString()}; idle period ${idleSeconds} s; target < 80 MB RSS (collector process only)`);

const rows = [];
const data = await tempDataDir('meshmon-bench-idle');
try {
  rows.push(await measure('embedded PostgreSQL (no DATABASE_URL)', { DATA_DIR: data.dir, EMBEDDED_PG_PORT: String(await findFreePort()) }));
} finally {
  await data.remove();
}
const scratch = await scratchUrl();
if (scratch) {
  try {
    rows.push(await measure('DATABASE_URL (local PostgreSQL)', { DATABASE_URL: scratch.url }));
  } finally {
    await scratch.drop();
  }
} else {
  console.log('no PostgreSQL on 127.0.0.1:5432 and no --database-url: DATABASE_URL case skipped');
}
console.table(rows);
for (const r of rows) console.log(`${r.label}: idle RSS ${r.rss_idle_min_mb}–${r.rss_idle_max_mb} MB, peak (VmHWM) ${r.hwm_mb} MB, start-up ${r.startup_ms} ms`);
