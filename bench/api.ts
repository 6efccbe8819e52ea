// Read API bench: `./node_modules/.bin/bun bench/api.ts [--incidents 10000]
// [--requests 2000] [--clients 8] [--probe-hours 72] [--mode apache|none] [--pool-size N] [--no-cache]
// [--only TEXT] [--keep]`.
//
// Fills a scratch database on the local PostgreSQL (apache mode by default)
// with incidents (mixed kinds, 10 % open, roots with children, events) and
// 40 probed routes with a window every 40 s, starts the collector as its own
// process (`bin/meshmon serve`, engine off, maintenance crons parked), and
// measures client-side latency with `--clients` concurrent clients, each
// sending its requests one after another, and the CPU time each request cost
// the collector, PostgreSQL and the load generator itself (from /proc: a
// figure that carries from one machine to another better than a latency on
// saturated cores). Figures only; nothing is asserted.
// Results: docs/bench/api.md.
import os from 'node:os';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Insertable } from 'kysely';
import { sql } from 'kysely';
import { createDatabase, createPool } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import type { IncidentEvents, Incidents } from '../src/db/schema.generated.ts';
import { scopeKey, type IncidentKind, type Scope, type Severity } from '../src/incidents/incident.schema.ts';
import { link, linksOf, route, routeKey, sameLink, type Route } from '../src/incidents/keys.ts';
import { createScratchDatabase } from '../test/support/admin.ts';
import { spawnCollector } from '../test/support/collector-process.ts';
import { analyze, fillHops, fillProbes, insertEventRows, insertIncidentRows, insertNodeRows, rowCounts, saveEngineRun } from './api-fill.repository.ts';
import { cpuDescription, processCpuSeconds, processesCpuSeconds } from './machine.ts';

const { values } = parseArgs({
  options: {
    incidents: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '8' },
    'probe-hours': { type: 'string', default: '72' },
    mode: { type: 'string', default: 'apache' },
    keep: { type: 'boolean', default: false },
    'pool-size': { type: 'string' },
    'no-cache': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const INCIDENTS = Number(values.incidents);
const REQUESTS = Number(values.requests);
const CLIENTS = Number(values.clients);
const PROBE_HOURS = Number(values['probe-hours']);
const MODE = values.mode as 'apache' | 'none';
const HOUR = 3_600_000;
const WARMUP_PER_CLIENT = 25;
/** The collector's log goes to a file, as under a service manager: draining a pipe here would compete with the load. */
const LOG_FILE = path.join(os.tmpdir(), `meshmon-bench-api-${process.pid}.log`);
const DAY = 24 * HOUR;

// Deterministic: the same figures come from the same data.
function mulberry32(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(20260302);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const between = (a: number, b: number) => a + rnd() * (b - a);

/**
 * A 250-node mesh: a ring with chords, routes = shortest paths. That many
 * nodes so a thousand open incidents find distinct scopes (one open per kind and scope).
 */
class Mesh {
  readonly names = Array.from({ length: 250 }, (_, i) => `KX${String(i).padStart(3, '0')}B-${['HAP', 'RKT', 'LHG', 'NSM'][i % 4]}-${1 + (i % 3)}`);
  private readonly adj = new Map<string, Set<string>>();
  constructor() {
    const n = this.names.length;
    const link = (a: number, b: number) => {
      (this.adj.get(this.names[a]!) ?? this.adj.set(this.names[a]!, new Set()).get(this.names[a]!)!).add(this.names[b]!);
      (this.adj.get(this.names[b]!) ?? this.adj.set(this.names[b]!, new Set()).get(this.names[b]!)!).add(this.names[a]!);
    };
    for (let i = 0; i < n; i++) link(i, (i + 1) % n);
    for (let i = 0; i < n; i += 3) link(i, (i + 7) % n);
    for (let i = 0; i < n; i += 5) link(i, (i + 41) % n);
    for (let i = 0; i < n; i += 11) link(i, (i + 113) % n);
  }
  path(src: string, dst: string, avoid?: [string, string]): string[] | null {
    const prev = new Map<string, string | null>([[src, null]]);
    const queue = [src];
    while (queue.length) {
      const cur = queue.shift()!;
      if (cur === dst) break;
      for (const nb of this.adj.get(cur) ?? []) {
        if (avoid && ((cur === avoid[0] && nb === avoid[1]) || (cur === avoid[1] && nb === avoid[0]))) continue;
        if (!prev.has(nb)) {
          prev.set(nb, cur);
          queue.push(nb);
        }
      }
    }
    if (!prev.has(dst)) return null;
    const out: string[] = [];
    for (let c: string | null = dst; c; c = prev.get(c) ?? null) out.unshift(c);
    return out;
  }
}

interface Probed {
  src: string;
  dst: string;
  hops: string[];
  alt: string[];
}


function makeIncidents(mesh: Mesh, probed: Probed[], now: Date, total: number) {
  const rows: Insertable<Incidents>[] = [];
  const events: Insertable<IncidentEvents>[] = [];
  const openKeys = new Set<string>();
  const thresholds = { jitter_ms: 30, loss_pct: 2 };
  let seq = 0;
  let openCount = 0;
  const routesOf = new Map<string, Route[]>();

  const routeScope = (open: boolean): { scope: Scope; hops: string[] } => {
    // Closed history leans on the probed routes; open ones need more distinct scopes than 40 routes give.
    if (!open && rnd() < 0.6) {
      const p = pick(probed);
      return { scope: { type: 'route', src: p.src, dst: p.dst }, hops: p.hops };
    }
    const src = pick(mesh.names);
    let dst = pick(mesh.names);
    while (dst === src) dst = pick(mesh.names);
    return { scope: { type: 'route', src, dst }, hops: mesh.path(src, dst)! };
  };

  const add = (kind: IncidentKind, open: boolean, start: Date, parent: Insertable<Incidents> | null, forced?: { scope: Scope; hops: string[] }): Insertable<Incidents> | null => {
    let scope: Scope;
    let hops: string[] = [];
    let affected: Probed[] = [];
    for (let attempt = 0; ; attempt++) {
      if (forced && attempt === 0) ({ scope, hops } = forced);
      else if (['jitter_burst', 'loss_spike', 'route_flap'].includes(kind)) ({ scope, hops } = routeScope(open));
      else if (kind === 'rf_drop' || kind === 'bottleneck') {
        const p = open ? routeScope(true).hops : pick(probed).hops;
        const i = Math.floor(rnd() * (p.length - 1));
        const l = link(p[i]!, p[i + 1]!);
        scope = { type: 'link', ...l };
        affected = probed.filter((q) => linksOf(q.hops).some((x) => sameLink(x, l)));
      } else {
        const node = kind === 'agent_silent' && rnd() < 0.01 ? '*' : pick(mesh.names);
        scope = { type: 'node', node };
        affected = node === '*' ? [] : probed.filter((q) => q.hops.includes(node));
      }
      const key = `${kind}|${scopeKey(scope!)}`;
      if (!open || !openKeys.has(key)) {
        if (open) openKeys.add(key);
        break;
      }
      if (attempt > 50) return null;
    }
    const s = scope!;
    const routes: Route[] = s.type === 'route' ? [route(s.src, s.dst)] : affected.map((a) => route(a.src, a.dst));
    const nodes = [...new Set(s.type === 'route' ? hops : s.type === 'link' ? [s.a, s.b, ...affected.flatMap((a) => [a.src, a.dst])] : s.node === '*' ? [] : [s.node])];
    const lnks = s.type === 'route' ? linksOf(hops) : s.type === 'link' ? [link(s.a, s.b)] : [];
    const duration = between(5 * 60_000, 8 * HOUR);
    const ended = open ? null : new Date(Math.min(start.getTime() + duration, now.getTime() - 60_000));
    const severity: Severity = kind === 'route_flap' || kind === 'agent_silent' ? (rnd() < 0.7 ? 'minor' : 'major') : rnd() < 0.25 ? 'critical' : 'major';
    const id = `inc_${(++seq).toString(16).padStart(8, '0')}${Math.floor(rnd() * 0xffffffff).toString(16).padStart(8, '0')}`;
    const windows = Array.from({ length: 10 }, (_, i) => ({
      at: new Date(start.getTime() + i * 40_000).toISOString(),
      jitter_ms: Math.round(between(30, 120) * 10) / 10,
      loss_pct: Math.round(between(0, 15) * 10) / 10,
      rtt_ms: Math.round(between(20, 90) * 10) / 10,
    }));
    const row: Insertable<Incidents> = {
      id,
      kind,
      scope: JSON.stringify(s),
      scope_key: scopeKey(s),
      status: open ? (rnd() < 0.15 ? 'clearing' : 'open') : 'closed',
      severity,
      impact: JSON.stringify({ routes_affected: routes.length, routes: routes.slice(0, 20).map((r) => routeKey(r)), nodes }),
      cause: `Likely cause of this ${kind.replace('_', ' ')} on ${scopeKey(s)}`,
      next_steps: ['Check alignment and line of sight', 'Compare SNR with last week', 'Consider a channel change'],
      evidence: JSON.stringify({
        thresholds,
        peaks: { jitter_ms: 95.2, loss_pct: 12.5 },
        windows,
        ...(s.type === 'route' ? { hop_lists: [hops] } : {}),
        last_trigger_at: windows.at(-1)!.at,
        ...(parent ? { parent: { id: parent.id, kind: parent.kind } } : {}),
      }),
      nodes,
      links: JSON.stringify(lnks),
      routes: JSON.stringify(routes),
      started_at: start,
      ended_at: ended,
      detected_at: new Date(start.getTime() + 90_000),
      updated_at: ended ?? new Date(now.getTime() - 10_000),
      clear_since: null,
      last_data_at: ended ?? now,
      parent_id: parent?.id ?? null,
    };
    rows.push(row);
    routesOf.set(id, routes);
    if (open) openCount++;
    const ev = (at: Date, event: string, detail: Record<string, unknown>) => events.push({ incident_id: id, at, event, detail: JSON.stringify(detail) });
    ev(new Date(start.getTime() + 90_000), 'opened', { severity: 'major' });
    if (severity === 'critical') ev(new Date(start.getTime() + 300_000), 'severity_changed', { from: 'major', to: 'critical' });
    if (parent) ev(new Date(start.getTime() + 120_000), 'reparented', { parent_id: parent.id });
    if (ended) {
      ev(new Date(ended.getTime() - 15 * 60_000), 'clearing', {});
      ev(ended, 'closed', { closed_by: 'clear' });
    }
    return row;
  };

  const kinds: Array<[IncidentKind, number]> = [
    ['jitter_burst', 0.22], ['loss_spike', 0.18], ['route_flap', 0.1], ['agent_silent', 0.2],
    ['rf_drop', 0.12], ['bottleneck', 0.1], ['node_overload', 0.08],
  ];
  const drawKind = () => {
    let x = rnd();
    for (const [k, w] of kinds) if ((x -= w) < 0) return k;
    return 'jitter_burst' as IncidentKind;
  };

  while (rows.length < total) {
    const kind = drawKind();
    // Steered to 10 % open overall (an open draw can fail on a taken scope).
    const open = rnd() < (openCount < rows.length * 0.1 ? 0.2 : 0.05);
    const start = open ? new Date(now.getTime() - between(10 * 60_000, 2 * DAY)) : new Date(now.getTime() - between(HOUR, 365 * DAY));
    const root = add(kind, open, start, null);
    if (!root) continue;
    // Causes explain the route incidents on the routes they affect.
    if (kind === 'bottleneck' || kind === 'node_overload' || kind === 'rf_drop') {
      const affected = routesOf.get(root.id) ?? [];
      const n = Math.min(affected.length, Math.floor(between(0, 4)));
      for (let i = 0; i < n && rows.length < total; i++) {
        const { src, dst } = affected[i]!;
        const p = probed.find((q) => q.src === src && q.dst === dst);
        add(pick(['jitter_burst', 'loss_spike'] as const), open, new Date(start.getTime() + between(0, 10 * 60_000)), root, {
          scope: { type: 'route', src, dst },
          hops: p?.hops ?? [src, dst],
        });
      }
    }
  }
  return { rows, events };
}

function quantile(sorted: number[], q: number) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** CPU time in ms so far; PostgreSQL's is every postgres process (postmaster, backends, workers). */
interface CpuSample {
  collector: number;
  postgres: number;
  generator: number;
}

function cpuSample(collectorPid: number): CpuSample {
  const u = process.cpuUsage();
  return { collector: processCpuSeconds(collectorPid) * 1000, postgres: processesCpuSeconds('postgres') * 1000, generator: (u.user + u.system) / 1000 };
}

interface Endpoint {
  name: string;
  url: (i: number) => string;
  headers?: Record<string, string>;
  /** 200 unless said. */
  status?: number;
}

async function measure(e: Endpoint, base: string, clients: number, requests: number, collectorPid: number) {
  const { name, url: urlOf } = e;
  const one = async (i: number) => {
    const t0 = performance.now();
    const res = await fetch(base + urlOf(i), e.headers ? { headers: e.headers } : undefined);
    const body = await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== (e.status ?? 200)) throw new Error(`${urlOf(i)} answered ${res.status}: ${new TextDecoder().decode(body).slice(0, 300)}`);
    return { ms, bytes: body.byteLength };
  };
  // Warm-up: connections, plans, caches.
  // Warm-up at the measured concurrency: the pool opens a connection per
  // concurrent client, and a new PostgreSQL backend's first statements load
  // its catalog caches (10–15 ms each) — the first seconds, not the steady state.
  let w = 0;
  await Promise.all(Array.from({ length: clients }, async () => { for (let i = w++; i < WARMUP_PER_CLIENT * clients; i = w++) await one(i); }));
  const lat: number[] = [];
  let bytes = 0;
  let next = 0;
  const cpu0 = cpuSample(collectorPid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const r = await one(i);
        lat.push(r.ms);
        bytes += r.bytes;
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu1 = cpuSample(collectorPid);
  const perRequestUs = (k: keyof CpuSample) => ((cpu1[k] - cpu0[k]) / lat.length) * 1000;
  lat.sort((a, b) => a - b);
  return {
    name,
    n: lat.length,
    p50: quantile(lat, 0.5),
    p90: quantile(lat, 0.9),
    p99: quantile(lat, 0.99),
    max: lat.at(-1)!,
    rps: (lat.length / wall) * 1000,
    kb: bytes / lat.length / 1024,
    cpu: { collector: perRequestUs('collector'), postgres: perRequestUs('postgres'), generator: perRequestUs('generator') },
  };
}

function machine() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    nproc: cpus.length,
    cpu: cpuDescription(),
    memory_gb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    bun: Bun.version,
  };
}

async function main() {
  const m = machine();
  console.log(`# API bench — ${m.date}`);
  console.log(`machine: ${m.nproc} × ${m.cpu}, ${m.memory_gb} GB, load ${m.loadavg.join(' / ')}, Bun ${m.bun}`);

  const scratch = await createScratchDatabase('meshmon_bench_api');
  const pool = createPool({ url: scratch.url, max: 4, applicationName: 'meshmon-bench' });
  const db = createDatabase(pool);
  let collector: Awaited<ReturnType<typeof spawnCollector>> | null = null;
  try {
    if (MODE === 'apache') await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
    const info = await migrateToLatest(db, { timescaledb: MODE === 'apache' ? 'auto' : 'off' });
    console.log(`database: ${info.mode} (PostgreSQL ${info.version.split(' ')[0]}${info.timescaledb ? `, TimescaleDB ${info.timescaledb}` : ''})`);

    const now = new Date();
    const mesh = new Mesh();
    const probed: Probed[] = [];
    while (probed.length < 40) {
      const src = pick(mesh.names);
      const dst = pick(mesh.names);
      if (src === dst || probed.some((p) => p.src === src && p.dst === dst)) continue;
      const hops = mesh.path(src, dst)!;
      if (hops.length < 3 || hops.length > 6) continue;
      const alt = mesh.path(src, dst, [hops[0]!, hops[1]!]) ?? hops;
      probed.push({ src, dst, hops, alt });
    }

    const f0 = performance.now();
    await fillProbes(db, probed, new Date(now.getTime() - PROBE_HOURS * HOUR), now);
    await fillHops(db, probed, new Date(now.getTime() - HOUR), now);
    const { rows, events } = makeIncidents(mesh, probed, now, INCIDENTS);
    // Parents before children: parent_id references them.
    await insertIncidentRows(db, [...rows.filter((r) => !r.parent_id), ...rows.filter((r) => r.parent_id)]);
    await insertEventRows(db, events);
    await insertNodeRows(db, mesh.names, now);
    await saveEngineRun(db, new Date(now.getTime() - 5_000));
    await analyze(db);
    const counts = await rowCounts(db);
    console.log(`fill: ${JSON.stringify(counts)} in ${((performance.now() - f0) / 1000).toFixed(1)} s`);

    collector = await spawnCollector({
      DATABASE_URL: scratch.url,
      ENGINE_ENABLED: 'false',
      LOG_LEVEL: 'info',
      // Parked for the run: a rollup refresh over the fill would compete with the requests.
      ROLLUP_CRON: '0 0 1 1 *',
      MAINTENANCE_CRON: '0 0 1 1 *',
      RETENTION_RAW_DAYS: '400',
      ...(values['pool-size'] ? { DATABASE_POOL_SIZE: values['pool-size'] } : {}),
      ...(values['no-cache'] ? { API_CACHE: 'false' } : {}),
    }, undefined, { logFile: LOG_FILE });
    await collector.waitForHealth();
    console.log(`collector: ${collector.url} (pid ${collector.proc.pid}), list cache ${values["no-cache"] ? "off" : "on"}, ${CLIENTS} clients, ${REQUESTS} requests per endpoint after ${WARMUP_PER_CLIENT} warm-up requests per client\n`);

    const ids = rows.map((r) => r.id);
    // What a panel's poll sends once it holds the current list: the answer's ETag.
    const listTag = (await fetch(`${collector.url}/issues`)).headers.get('etag') ?? '';
    const endpoints: Endpoint[] = [
      { name: 'GET /issues', url: () => '/issues' },
      { name: 'GET /issues/{id}', url: (i) => `/issues/${ids[(i * 7919) % ids.length]}` },
      { name: 'GET /summary', url: () => '/summary' },
      { name: 'GET /paths/{src}/{dst}/series (24 h)', url: (i) => `/paths/${probed[i % probed.length]!.src}/${probed[i % probed.length]!.dst}/series` },
      { name: 'GET /issues?status=all&limit=100', url: () => '/issues?status=all&limit=100' },
      { name: 'GET /issues?status=all&limit=500', url: () => '/issues?status=all&limit=500' },
      { name: 'GET /issues/by-object?node=N', url: (i) => `/issues/by-object?node=${mesh.names[i % mesh.names.length]}` },
      { name: 'GET /registry (250 nodes)', url: () => '/registry' },
      { name: 'GET /topology (250 nodes, an hour of hops)', url: () => '/topology' },
      { name: 'GET /issues, If-None-Match: unchanged → 304', url: () => '/issues', headers: { 'If-None-Match': listTag }, status: 304 },
    ];
    const f = (x: number) => x.toFixed(1);
    const table = (title: string, results: Awaited<ReturnType<typeof measure>>[]) => {
      console.log(`\n${title}\n`);
      console.log('| endpoint | requests | p50 ms | p90 ms | p99 ms | max ms | req/s | body KiB | CPU µs/req: collector | PostgreSQL | load generator |');
      console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      const us = (x: number) => x.toFixed(0);
      for (const r of results)
        console.log(
          `| ${r.name} | ${r.n} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} | ${r.rps.toFixed(0)} | ${f(r.kb)} | ${us(r.cpu.collector)} | ${us(r.cpu.postgres)} | ${us(r.cpu.generator)} |`,
        );
    };
    const only = values.only;
    const measured = only ? endpoints.filter((e) => e.name.includes(only)) : endpoints;
    if (measured.length === 0) throw new Error(`--only ${JSON.stringify(only)} matches no endpoint: ${endpoints.map((e) => e.name).join(', ')}`);
    const pid = collector.proc.pid;
    const concurrent = [];
    for (const e of measured) concurrent.push(await measure(e, collector.url, CLIENTS, REQUESTS, pid));
    table(`${CLIENTS} concurrent clients, ${REQUESTS} requests each endpoint (load before: ${m.loadavg.join(' / ')})`, concurrent);
    const sequential = [];
    for (const e of measured) sequential.push(await measure(e, collector.url, 1, Math.min(REQUESTS, 500), pid));
    table('1 client (service time without queueing)', sequential);
    console.log(`\nload average after: ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')}`);
  } finally {
    if (collector) await collector.stop();
    await rm(LOG_FILE, { force: true });
    await db.destroy().catch(() => {});
    if (values.keep) console.log(`kept database ${scratch.name}`);
    else await scratch.drop();
  }
}

await main();
