import path from 'node:path';
import { ConfigError, configFrom, loadConfig, type Config } from '../config.ts';
import { inspectDataDir, type DataDirReport } from '../db/data-dir.ts';
import type { Database } from '../db/database.ts';
import { runningServerPid } from '../db/embedded.ts';
import { detectDatabase } from '../db/mode.ts';
import { isPreloaded, plannedMode } from '../db/timescale.ts';
import { readTimescaleFacts } from '../db/timescale.repository.ts';
import { listJobRuns } from '../jobs/job-state.repository.ts';
import type { Logger } from '../log.ts';
import { databaseSize, tableInfo } from '../ops/ops.repository.ts';
import { openToolDatabase, runningPort, type ToolDatabase } from '../ops/tool-db.ts';
import { StartupProblem } from '../startup-problem.ts';
import { VERSION } from '../version.ts';
import {
  agentPathsCheck, clockCheck, collectorCheck, configurationCheck, databaseCheck, dataDirCheck, diskCheck, engineCheck,
  ingestCheck, jobsCheck, portsCheck, redactUrl, runtimeCheck, timescaleCheck,
  type DatabaseFacts, type DiskCheckFacts, type IngestFacts, type JobRow, type PortFacts, type SkewFacts,
} from './doctor.checks.ts';
import { GROWING_TABLES, lastIngest, rowsSince, serverDataDirectory, skewSummary, worstSkews } from './doctor.repository.ts';
import type { CheckId, DoctorCheck, DoctorReport } from './doctor.schema.ts';
import { clockFacts, diskFacts, parseMetrics, probeCollector, probePort, runtimeFacts, type CollectorProbe } from './doctor.system.ts';

/**
 * `meshmon doctor`: gathers what the collector depends on — the machine, the
 * configuration, a running collector (over HTTP), the database — and turns
 * it into checks. Changes nothing, with one exception that `meshmon status`
 * makes too: with the embedded database and no collector running, the
 * existing cluster is started for the checks and stopped again (a cluster
 * that does not exist yet is not created).
 */

const DAY_MS = 86_400_000;
/** When no table statistics exist yet: the measured size of a stored row with its indexes (docs/operations.md). */
const FALLBACK_ROW_BYTES = 480;
/** Enough rows for size ÷ rows to mean something. */
const MIN_ROWS_FOR_RATIO = 1_000;
const QUERY_TIMEOUT_MS = 15_000;

export interface DoctorOptions {
  env?: Record<string, string | undefined>;
  now?: Date;
  log: Logger;
  /** The Bun version the collector is tested with (package.json). */
  minBun: string;
}

interface DatabaseInspection {
  facts: DatabaseFacts;
  /** Why the data checks were skipped, when they were. */
  why: string | null;
  ingest: IngestFacts | null;
  skew: SkewFacts | null;
  jobs: JobRow[] | null;
  dailyBytes: number | null;
  rawBytes: number | null;
  dataDirectory: string | null;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms / 1000} s`), { code: 'ETIMEDOUT' })), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function errorCode(err: unknown): string | undefined {
  for (let e = err as any, depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.errors?.[0] ?? e.cause;
  }
  return undefined;
}

function errorMessage(err: unknown): string {
  const e = err as any;
  return e?.message || e?.errors?.[0]?.message || String(err);
}

async function portFacts(config: Config, dataDir: DataDirReport, probe: CollectorProbe | null): Promise<PortFacts> {
  const http: PortFacts['http'] = { host: config.HOST, port: config.PORT, state: 'free' };
  if (config.PORT !== 0) {
    if (probe?.healthz) http.state = 'collector';
    else {
      const r = await probePort(config.HOST, config.PORT);
      Object.assign(http, r);
      if (r.state === 'in_use' && probe?.error?.includes('not a MeshMon collector')) http.other = probe.error;
    }
  }
  if (config.DATABASE_URL) return { http };
  let pid: number | null = null;
  try {
    pid = runningServerPid(dataDir.clusterDir);
  } catch {
    // the cluster directory is not ours to read
  }
  if (pid && runningPort(dataDir.clusterDir) === config.EMBEDDED_PG_PORT) {
    return { http, embedded: { port: config.EMBEDDED_PG_PORT, state: 'own_server', pid } };
  }
  const r = await probePort('127.0.0.1', config.EMBEDDED_PG_PORT);
  return { http, embedded: { port: config.EMBEDDED_PG_PORT, ...r } };
}

async function dataFacts(db: Database, now: Date, mode: string): Promise<Pick<DatabaseInspection, 'ingest' | 'skew' | 'jobs' | 'dailyBytes' | 'rawBytes'>> {
  const since = new Date(now.getTime() - DAY_MS);
  const ingest = await lastIngest(db, since);
  const jobs = await listJobRuns(db);
  const sizes = new Map((await tableInfo(db, mode !== 'none')).map((t) => [t.table, t]));
  let daily = 0;
  let raw = 0;
  for (const table of GROWING_TABLES) {
    const t = sizes.get(table);
    const perRow = t && t.estimated_rows >= MIN_ROWS_FOR_RATIO ? t.size_bytes / t.estimated_rows : FALLBACK_ROW_BYTES;
    daily += (await rowsSince(db, table, since)) * perRow;
    raw += t?.size_bytes ?? 0;
  }
  return {
    ingest: { last_received_at: ingest.last_received_at ? new Date(ingest.last_received_at) : null, nodes: Number(ingest.nodes), recent: Number(ingest.recent) },
    skew: null,
    jobs,
    dailyBytes: Math.round(daily),
    rawBytes: raw,
  };
}

async function inspectDatabase(config: Config, dataDir: DataDirReport, ports: PortFacts, now: Date, log: Logger): Promise<DatabaseInspection> {
  const empty = { ingest: null, skew: null, jobs: null, dailyBytes: null, rawBytes: null, dataDirectory: null };
  const embedded = !config.DATABASE_URL;
  const target = config.DATABASE_URL ? redactUrl(config.DATABASE_URL) : `embedded PostgreSQL in ${dataDir.clusterDir} (127.0.0.1:${ports.embedded?.pid ? runningPort(dataDir.clusterDir) ?? config.EMBEDDED_PG_PORT : config.EMBEDDED_PG_PORT})`;
  const notChecked = (reason: string): DatabaseInspection => ({ facts: { target, source: 'not-checked', reachable: false, reason }, why: reason, ...empty });
  if (embedded) {
    if (dataDir.issues.length) return notChecked('not checked: DATA_DIR cannot hold the embedded database (see DATA_DIR)');
    if (ports.embedded?.state !== 'own_server' && !dataDir.initialised) {
      return { facts: { target, source: 'embedded-absent', reachable: false }, why: 'the embedded database does not exist yet', ...empty };
    }
    if (ports.embedded && ports.embedded.state !== 'own_server' && ports.embedded.state !== 'free') {
      return notChecked('not checked: EMBEDDED_PG_PORT is taken (see Ports)');
    }
  }
  let tool: ToolDatabase;
  try {
    tool = await openToolDatabase(config, log, 'meshmon-doctor');
  } catch (err) {
    if (err instanceof StartupProblem) return { facts: { target, source: 'not-checked', reachable: false, startProblem: err }, why: 'the embedded database did not start', ...empty };
    return { facts: { target, source: 'embedded-started', reachable: false, error: { message: errorMessage(err), code: errorCode(err) } }, why: 'the database did not answer', ...empty };
  }
  const source = tool.source;
  try {
    const db = tool.db;
    let facts;
    try {
      facts = await withTimeout(readTimescaleFacts(db), QUERY_TIMEOUT_MS, 'the database');
    } catch (err) {
      return { facts: { target, source, reachable: false, error: { message: errorMessage(err), code: errorCode(err) } }, why: 'the database did not answer', ...empty };
    }
    // detectDatabase may call a TimescaleDB function: never on a server that would answer it with FATAL.
    const detected = facts.migrated && (!facts.installed || isPreloaded(facts)) ? await detectDatabase(db) : undefined;
    const planned = plannedMode(facts, config.TIMESCALEDB, detected && detected.mode !== 'none' ? detected.mode : facts.license);
    const size = (await databaseSize(db)).bytes;
    const dataDirectory = await serverDataDirectory(db);
    const dbFacts: DatabaseFacts = { target, source, reachable: true, facts, planned, size_bytes: size, ...(detected ? { detected } : {}) };
    if (!facts.migrated) return { facts: dbFacts, why: 'the database has no MeshMon schema yet (the collector creates it at its first start)', ...empty, dataDirectory };
    try {
      const data = await withTimeout(dataFacts(db, now, detected?.mode ?? 'none'), QUERY_TIMEOUT_MS, 'the database');
      const since = new Date(now.getTime() - DAY_MS);
      const s = await skewSummary(db, since, config.MAX_CLOCK_SKEW);
      const worst = s.beyond || s.flagged ? await worstSkews(db, since, config.MAX_CLOCK_SKEW, 5) : [];
      return {
        facts: dbFacts,
        why: null,
        ...data,
        skew: { nodes: s.nodes, median_s: s.median_s === null ? null : Number(s.median_s), beyond: s.beyond, ahead: s.ahead, behind: s.behind, flagged: s.flagged, worst },
        dataDirectory,
      };
    } catch (err) {
      // A schema older or newer than this checkout's, a query cut off: report, do not crash.
      return { facts: dbFacts, why: `reading the collector's tables failed: ${errorMessage(err)}`, ...empty, dataDirectory };
    }
  } finally {
    await tool.close();
  }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '']);

function diskCheckFacts(config: Config, dataDir: DataDirReport, dbi: DatabaseInspection): DiskCheckFacts {
  const dataDirDisk = diskFacts(dataDir.existing);
  let database: DiskCheckFacts['database'] = null;
  if (!config.DATABASE_URL) {
    if (dataDirDisk) database = { where: `DATA_DIR ${dataDir.existing}`, disk: dataDirDisk };
  } else if (dbi.dataDirectory) {
    let local = false;
    try {
      local = LOOPBACK.has(new URL(config.DATABASE_URL).hostname);
    } catch {
      // unparsable: treated as remote
    }
    const disk = local ? (diskFacts(dbi.dataDirectory) ?? diskFacts(path.dirname(dbi.dataDirectory))) : null;
    if (disk) database = { where: `the server's data directory ${dbi.dataDirectory}`, disk };
  }
  return { database, dataDir: dataDirDisk, dailyBytes: dbi.dailyBytes, rawBytes: dbi.rawBytes };
}

function finish(checks: DoctorCheck[], now: Date): DoctorReport {
  const counts = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) counts[c.status]++;
  return { version: VERSION, checked_at: now.toISOString(), ok: counts.fail === 0, counts, checks };
}

const skipped = (id: CheckId, title: string, why: string): DoctorCheck => ({ id, title, status: 'skip', summary: why, notes: [], fix: [], details: {} });

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const now = opts.now ?? new Date();
  const checks: DoctorCheck[] = [runtimeCheck(runtimeFacts(), opts.minBun)];
  let config: Config | null = null;
  let problems: string[] = [];
  try {
    config = loadConfig(opts.env ?? process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  checks.push(configurationCheck(config, problems));
  const clock = await clockFacts(now);
  if (!config) {
    const why = 'not checked: the configuration is invalid';
    checks.push(
      skipped('data_dir', 'DATA_DIR', why), skipped('ports', 'Ports', why), skipped('collector', 'Collector', why),
      skipped('database', 'Database', why), skipped('timescaledb', 'TimescaleDB', why), skipped('disk', 'Disk space', why),
      clockCheck(clock, null, configFrom()),
      skipped('ingest', 'Ingest', why), skipped('agent_paths', 'Agent URLs', why), skipped('engine', 'Issue Engine', why), skipped('jobs', 'Maintenance jobs', why),
    );
    return finish(checks, now);
  }

  const dataDir = inspectDataDir(config.DATA_DIR);
  checks.push(dataDirCheck(dataDir, !config.DATABASE_URL));
  const probe = config.PORT === 0 ? null : await probeCollector(config);
  const running = probe?.healthz ? probe : null;
  const ports = await portFacts(config, dataDir, probe);
  checks.push(portsCheck(ports));
  checks.push(collectorCheck(probe, VERSION, now));

  const dbi = await inspectDatabase(config, dataDir, ports, now, opts.log);
  checks.push(databaseCheck(dbi.facts));
  checks.push(timescaleCheck(dbi.facts, config, running?.healthz?.body.database?.mode ?? null));
  checks.push(diskCheck(diskCheckFacts(config, dataDir, dbi), config));
  checks.push(clockCheck(clock, dbi.skew, config));

  const samples = running?.metrics ? parseMetrics(running.metrics) : null;
  const metricsWhy = running ? (running.metrics ? null : `the collector's /metrics did not answer: ${running.error ?? 'unknown'}`) : 'needs a running collector (it keeps these in memory)';
  checks.push(ingestCheck(dbi.ingest, samples, config, now, dbi.why));
  checks.push(agentPathsCheck(samples, config, now, metricsWhy));
  const engineNow = running ? ((running.healthz!.body.engine as Record<string, any> | null) ?? { last_run_at: null }) : null;
  checks.push(engineCheck(config, engineNow, dbi.jobs?.find((j) => j.name === 'engine') ?? null, now, dbi.why));
  checks.push(jobsCheck(dbi.jobs, now, dbi.why));
  return finish(checks, now);
}
