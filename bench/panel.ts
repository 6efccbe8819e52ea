// Panel bench: `./node_modules/.bin/bun bench/panel.ts [--incidents 500] [--nodes 200]
// [--mode apache|none] [--runs 5] [--keep]`.
//
// Fills a scratch database on the local PostgreSQL with `--incidents`
// incidents (a quarter open, mixed kinds and severities, some with children)
// and `--nodes` registry nodes, starts the collector as its own process
// (`bin/meshmon serve`, engine off) and drives Debian's headless Chromium
// (playwright-core) against it. Prints, for the budgets of the panel:
//   - first load of / (empty cache): bytes on the wire, compressed (target ≤ 150 KB);
//   - a refresh that finds nothing new: its status (target: 304) and bytes;
//   - the incident list with every incident (/?status=all&limit=500): time from
//     navigation to the load event and to the last card painted, median of
//     --runs (target ≤ 1 s);
//   - the collector's RSS at idle after start, after the pages and /docs were
//     served, and after 20 s more idle (the panel's cost; compare with
//     bench/idle-memory.ts on the branch before the panel for the idle figure).
// Figures only; nothing is asserted.
import os from 'node:os';
import path from 'node:path';
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDatabase, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { IncidentKind, Scope, Severity } from '../src/incidents/incident.schema.ts';
import { createScratchDatabase } from '../test/support/admin.ts';
import { launchBrowser } from '../test/support/browser.ts';
import { spawnCollector } from '../test/support/collector-process.ts';
import { incidentRow } from '../test/support/incident-fixtures.ts';
import { insertIncidentRows, insertNodeRows } from './api-fill.repository.ts';
import { cpuDescription } from './machine.ts';

const { values } = parseArgs({
  options: {
    incidents: { type: 'string', default: '500' },
    nodes: { type: 'string', default: '200' },
    mode: { type: 'string', default: 'apache' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const INCIDENTS = Number(values.incidents);
const NODES = Number(values.nodes);
const RUNS = Number(values.runs);
const MODE = values.mode as 'apache' | 'none';
const NOW = Date.now();
const LOG_FILE = path.join(os.tmpdir(), `meshmon-bench-panel-${process.pid}.log`);

const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;

console.log(`machine: ${os.cpus().length} CPUs, ${cpuDescription()}, Bun ${Bun.version}; ${new Date().toISOString()}`);
console.log(`data: ${INCIDENTS} incidents, ${NODES} nodes, mode ${MODE}`);

const scratch = await createScratchDatabase('meshmon_bench_panel');
const pool = createPool({ url: scratch.url, max: 2 });
const db = createDatabase(pool);
let collector: Awaited<ReturnType<typeof spawnCollector>> | null = null;
let browser: Awaited<ReturnType<typeof launchBrowser>> | null = null;
try {
  if (MODE === 'apache') await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
  await migrateToLatest(db, { timescaledb: MODE === 'apache' ? 'auto' : 'off' });
  const names = Array.from({ length: NODES }, (_, i) => `KX${String(i).padStart(3, '0')}P-${['HAP', 'RKT', 'LHG', 'NSM5'][i % 4]}-${1 + (i % 3)}`);
  await insertNodeRows(db, names, new Date(NOW));
  const kinds: IncidentKind[] = ['rf_drop', 'jitter_burst', 'loss_spike', 'route_flap', 'bottleneck', 'node_overload', 'agent_silent'];
  const sevs: Severity[] = ['minor', 'major', 'critical'];
  const rows = [];
  for (let i = 0; i < INCIDENTS; i++) {
    const kind = kinds[i % kinds.length]!;
    const a = names[i % NODES]!;
    const b = names[(i * 7 + 1) % NODES]!;
    const scope: Scope = kind === 'rf_drop' || kind === 'bottleneck' ? { type: 'link', a: a < b ? a : b, b: a < b ? b : a }
      : kind === 'node_overload' || kind === 'agent_silent' ? { type: 'node', node: a } : { type: 'route', src: a, dst: b };
    const start = NOW - (INCIDENTS - i) * 10 * 60_000;
    const open = i % 4 === 0;
    rows.push(incidentRow({
      id: `inc_bench${String(i).padStart(5, '0')}`, kind, scope, severity: sevs[i % 3]!, started_at: new Date(start),
      ended_at: open ? null : new Date(start + 20 * 60_000), hops: scope.type === 'route' ? [a, names[(i + 3) % NODES]!, b] : undefined,
      routes: scope.type === 'link' ? [`${a}>${b}`, `${b}>${a}`] : undefined,
      parent_id: i % 10 === 9 && !open ? `inc_bench${String(i - 1).padStart(5, '0')}` : null,
    } as Parameters<typeof incidentRow>[0]));
  }
  await insertIncidentRows(db, rows);
  await sql`VACUUM ANALYZE`.execute(db);

  collector = await spawnCollector(
    { DATABASE_URL: scratch.url, ENGINE_ENABLED: 'false', LOG_LEVEL: 'warn', PANEL_REFRESH: '2', MAINTENANCE_CRON: '0 0 1 1 *', ROLLUP_CRON: '0 0 1 1 *', TIMESCALEDB: MODE === 'apache' ? 'auto' : 'off' },
    undefined,
    { logFile: LOG_FILE },
  );
  await collector.waitForHealth(200, 120_000);
  await Bun.sleep(3000);
  const pid = collector.proc.pid;
  const rssStart = rss(pid);

  browser = await launchBrowser();
  // 1. First load of / with an empty cache: every response's bytes on the wire (headers + encoded body).
  const page = await browser.newPage();
  const sizes: Array<{ url: string; bytes: number; status: number }> = [];
  page.on('requestfinished', async (req) => {
    const s = await req.sizes();
    const res = await req.response();
    sizes.push({ url: req.url().replace(collector!.url, ''), bytes: s.responseHeadersSize + s.responseBodySize, status: res?.status() ?? 0 });
  });
  await page.goto(`${collector.url}/`, { waitUntil: 'load' });
  await Bun.sleep(300);
  const firstLoad = sizes.splice(0);
  const firstBytes = firstLoad.reduce((s, x) => s + x.bytes, 0);
  console.log(`\nfirst load of /: ${kb(firstBytes)} on the wire (target ≤ 150 KB), ${firstLoad.length} requests:`);
  for (const r of firstLoad) console.log(`  ${r.status} ${kb(r.bytes).padStart(9)}  ${r.url}`);

  // 2. The page's own refresh when nothing changed.
  const poll = await page.waitForResponse((r) => !!r.request().headers()['x-panel-partial'], { timeout: 30_000 });
  const pollSizes = await poll.request().sizes();
  console.log(`refresh with nothing new: ${poll.status()} (target 304), ${kb(pollSizes.responseHeadersSize + pollSizes.responseBodySize)} on the wire`);
  // For comparison: what an API client polling /summary and /issues for an hour costs the collector.
  const rssBeforePolls = rss(pid);
  const apiTag = (await fetch(`${collector.url}/issues`)).headers.get('etag') ?? '';
  for (let i = 0; i < 240; i++) {
    await (await fetch(`${collector.url}/summary`)).arrayBuffer();
    await (await fetch(`${collector.url}/issues`, { headers: { 'If-None-Match': apiTag } })).arrayBuffer();
  }
  console.log(`collector RSS: ${rssBeforePolls.toFixed(1)} MB before, ${rss(pid).toFixed(1)} MB after an hour's worth of API polls (/summary + /issues → 304)`);
  // An hour of one open page's refreshes (PANEL_REFRESH=15 s: 240), as fast as they come.
  for (let i = 0; i < 240; i++) {
    const r = await fetch(`${collector.url}/`, { headers: { 'X-Panel-Partial': '1', 'If-None-Match': poll.headers().etag ?? '', 'Accept-Encoding': 'gzip' } });
    await r.arrayBuffer();
    if (r.status !== 304) console.log(`  refresh ${i}: ${r.status}`);
  }
  console.log(`collector RSS after an hour's worth of refreshes of /: ${rss(pid).toFixed(1)} MB`);

  // 3. Every incident in one list.
  const times: number[] = [];
  const loads: number[] = [];
  let cards = 0;
  for (let run = 0; run < RUNS; run++) {
    const p = await browser.newPage();
    const t0 = performance.now();
    await p.goto(`${collector.url}/?status=all&limit=500`, { waitUntil: 'load' });
    loads.push(performance.now() - t0);
    cards = await p.evaluate(() => new Promise<number>((resolve) => {
      const g = globalThis as unknown as { requestAnimationFrame(f: () => void): void; document: { querySelectorAll(s: string): { length: number } } };
      g.requestAnimationFrame(() => g.requestAnimationFrame(() => resolve(g.document.querySelectorAll('.card').length)));
    }));
    times.push(performance.now() - t0);
    await p.close();
  }
  console.log(`incident list /?status=all&limit=500 (${cards} cards): load event ${median(loads).toFixed(0)} ms, painted ${median(times).toFixed(0)} ms (median of ${RUNS}; target ≤ 1000 ms)`);

  const rssPanel = rss(pid);
  // 4. The other pages and /docs once, then idle.
  for (const u of ['/nodes', '/mesh', `/incidents/${rows[0]!.id}`, '/docs']) {
    const p = await browser.newPage();
    const t0 = performance.now();
    await p.goto(`${collector.url}${u}`, { waitUntil: 'load' });
    if (u === '/docs') await p.locator('.opblock').first().waitFor({ timeout: 60_000 });
    console.log(`  ${u}: ${(performance.now() - t0).toFixed(0)} ms`);
    await p.close();
  }
  const rssAfter = rss(pid);
  await browser.close();
  browser = null;
  await Bun.sleep(20_000);
  const rssIdle = rss(pid);
  console.log(`\ncollector RSS: ${rssStart.toFixed(1)} MB idle after start, ${rssPanel.toFixed(1)} MB after the incident lists, ${rssAfter.toFixed(1)} MB after the other pages and /docs, ${rssIdle.toFixed(1)} MB after 20 s more idle (growth ${(rssIdle - rssStart).toFixed(1)} MB; target ≤ 10 MB)`);
} finally {
  await browser?.close();
  if (collector) await collector.stop();
  await db.destroy();
  if (!values.keep) await scratch.drop();
  else console.log(`kept ${scratch.url}`);
  rmSync(LOG_FILE, { force: true });
}
