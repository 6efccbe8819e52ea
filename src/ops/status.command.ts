import type { Config } from '../config.ts';
import { ConfigError, loadConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import { passwordFile } from '../db/embedded.ts';
import { detectDatabase } from '../db/mode.ts';
import { listJobRuns } from '../jobs/job-state.repository.ts';
import { createLogger, stderrSink } from '../log.ts';
import { VERSION } from '../version.ts';
import { parseArgs } from './cli-args.ts';
import { compressionStats, listNativePolicies, readStorageLayout } from './maintenance.repository.ts';
import { countRows, databaseSize, listOpenIncidents, openIncidentCounts, REPORTED_TABLES, tableInfo } from './ops.repository.ts';
import { RAW_TABLES } from './retention.ts';
import { listWatermarks } from './rollup.repository.ts';
import { openToolDatabase } from './tool-db.ts';
import { StartupProblem } from '../startup-problem.ts';

const USAGE = `usage: meshmon status [--json] [--exact]

Prints the database mode, sizes, row counts, maintenance and engine job
states and the open incidents. Row counts of big tables are estimates
(marked ~) unless --exact is given (a full scan of each table).`;

/** Tables up to this many (estimated) rows are counted exactly; beyond, a count is a long scan on a Pi. */
const EXACT_BELOW = 200_000;

export interface StatusReport {
  version: string;
  database: {
    name: string; mode: string; server: string; timescaledb: string | null; source: string; size_bytes: number;
    /** The embedded database's login (its password file is readable by the collector's user only): shown to whoever could read it. */
    credentials?: { file: string; url: string };
  };
  retention: { raw_days: number; rollup_days: number; incident_days: number; compress_after_days: number | null };
  tables: Array<{ table: string; kind: string; size_bytes: number; rows: number; exact: boolean }>;
  compression: Array<{ table: string; compressed_chunks: number; total_chunks: number; before_bytes: number | null; after_bytes: number | null }>;
  policies: Array<{ job_id: number; kind: string; relation: string; after_s: number | null; last_run_status: string | null; last_successful_finish: string | null; next_start: string | null }>;
  rollup_watermarks: Array<{ rollup: string; received_through: string; updated_at: string }>;
  jobs: Array<{ name: string; last_run_at: string | null; last_result: string | null; last_success_at: string | null; last_error: string | null; duration_ms: number | null }>;
  incidents: { open: number; by_kind: Array<{ kind: string; severity: string; count: number }>; latest: Array<{ id: string; kind: string; severity: string; status: string; scope: string; started_at: string }> };
}

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

/** Everything `meshmon status` shows, read in one pass (a function of the database, for tests). */
export async function collectStatus(db: Database, config: Config, opts: { exact?: boolean; source?: string } = {}): Promise<StatusReport> {
  const info = await detectDatabase(db);
  const layout = await readStorageLayout(db);
  const size = await databaseSize(db);
  const tables: StatusReport['tables'] = [];
  for (const t of await tableInfo(db, info.mode !== 'none')) {
    const exact = !!opts.exact || t.estimated_rows < EXACT_BELOW;
    tables.push({
      table: t.table,
      kind: t.kind,
      size_bytes: t.size_bytes,
      rows: exact ? await countRows(db, t.table as (typeof REPORTED_TABLES)[number]) : t.estimated_rows,
      exact,
    });
  }
  const compression: StatusReport['compression'] = [];
  const policies: StatusReport['policies'] = [];
  if (layout.license === 'timescale') {
    for (const t of RAW_TABLES) if (layout.hypertables.get(t)?.compression) compression.push(await compressionStats(db, t));
    for (const p of await listNativePolicies(db)) {
      policies.push({
        job_id: p.job_id, kind: p.kind, relation: p.relation, after_s: p.after_s,
        last_run_status: p.last_run_status, last_successful_finish: iso(p.last_successful_finish), next_start: iso(p.next_start),
      });
    }
  }
  const byKind = (await openIncidentCounts(db)).map((r) => ({ kind: r.kind, severity: r.severity, count: Number(r.count) }));
  return {
    version: VERSION,
    database: { name: size.name, mode: info.mode, server: info.version, timescaledb: info.timescaledb, source: opts.source ?? 'url', size_bytes: size.bytes },
    retention: {
      raw_days: config.RETENTION_RAW_DAYS,
      rollup_days: config.RETENTION_ROLLUP_DAYS,
      incident_days: config.RETENTION_INCIDENT_DAYS,
      compress_after_days: layout.license === 'timescale' ? config.COMPRESS_AFTER_DAYS : null,
    },
    tables,
    compression,
    policies,
    rollup_watermarks: (await listWatermarks(db)).map((w) => ({ rollup: w.name, received_through: iso(w.received_through)!, updated_at: iso(w.updated_at)! })),
    jobs: (await listJobRuns(db)).map((j) => ({
      name: j.name, last_run_at: iso(j.last_run_at), last_result: j.last_result, last_success_at: iso(j.last_success_at),
      last_error: j.last_error, duration_ms: j.duration_ms,
    })),
    incidents: {
      open: byKind.reduce((n, r) => n + r.count, 0),
      by_kind: byKind,
      latest: (await listOpenIncidents(db, 20)).map((i) => ({ id: i.id, kind: i.kind, severity: i.severity, status: i.status, scope: i.scope_key, started_at: iso(i.started_at)! })),
    },
  };
}

export function formatBytes(n: number | null): string {
  if (n === null) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${u ? v.toFixed(1) : v} ${units[u]}`;
}

function table(rows: string[][], right: number[] = []): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (right.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

const ago = (at: string | null, now: Date) => {
  if (!at) return 'never';
  const s = Math.round((now.getTime() - Date.parse(at)) / 1000);
  if (Math.abs(s) < 120) return `${s} s ago`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)} min ago`;
  if (Math.abs(s) < 172_800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
};

/** The report for a person at a terminal. */
export function formatStatus(r: StatusReport, now = new Date()): string {
  const out: string[] = [];
  const d = r.database;
  out.push(`MeshMon collector ${r.version}`);
  out.push(`database   ${d.name}: ${d.mode} mode, PostgreSQL ${d.server}${d.timescaledb ? `, TimescaleDB ${d.timescaledb}` : ''} (${d.source})`);
  if (d.credentials) out.push(`login      ${d.credentials.url}  (password from ${d.credentials.file})`);
  out.push(`size       ${formatBytes(d.size_bytes)}`);
  out.push(`retention  raw ${r.retention.raw_days} d, rollups ${r.retention.rollup_days} d, closed incidents ${r.retention.incident_days} d` +
    (r.retention.compress_after_days !== null ? `, compress after ${r.retention.compress_after_days} d` : ', no compression in this mode'));
  out.push('');
  out.push(table([
    ['TABLE', 'KIND', 'ROWS', 'SIZE'],
    ...r.tables.map((t) => [t.table, t.kind.replace('_', ' '), `${t.exact ? '' : '~'}${t.rows.toLocaleString('en-US')}`, formatBytes(t.size_bytes)]),
  ], [2, 3]));
  if (r.compression.length) {
    out.push('');
    out.push(table([
      ['COMPRESSION', 'CHUNKS', 'BEFORE', 'AFTER'],
      ...r.compression.map((c) => [c.table, `${c.compressed_chunks}/${c.total_chunks}`, formatBytes(c.before_bytes), formatBytes(c.after_bytes)]),
    ], [1, 2, 3]));
  }
  if (r.policies.length) {
    out.push('');
    out.push(table([
      ['POLICY', 'ON', 'AFTER', 'LAST RUN', 'LAST SUCCESS', 'NEXT'],
      ...r.policies.map((p) => [
        `${p.kind} #${p.job_id}`, p.relation, p.after_s === null ? '-' : `${Math.round((p.after_s / 86400) * 100) / 100} d`,
        p.last_run_status ?? 'not yet', ago(p.last_successful_finish, now), p.next_start ? ago(p.next_start, now).replace(' ago', ' from now').replace(/^-/, '') : '-',
      ]),
    ]));
  }
  if (r.rollup_watermarks.length) {
    out.push('');
    for (const w of r.rollup_watermarks) out.push(`rollup     ${w.rollup} refreshed through ${w.received_through} (${ago(w.updated_at, now)})`);
  }
  out.push('');
  out.push(r.jobs.length
    ? table([
      ['JOB', 'LAST RUN', 'RESULT', 'LAST SUCCESS', 'DURATION', 'ERROR'],
      ...r.jobs.filter((j) => !j.name.startsWith('rule:')).map((j) => [
        j.name, ago(j.last_run_at, now), j.last_result ?? '-', ago(j.last_success_at, now),
        j.duration_ms === null ? '-' : `${Math.round(j.duration_ms)} ms`, j.last_error ?? '',
      ]),
    ])
    : 'jobs       none has run yet');
  out.push('');
  out.push(`incidents  ${r.incidents.open} open${r.incidents.by_kind.length ? ': ' + r.incidents.by_kind.map((k) => `${k.count} ${k.kind} (${k.severity})`).join(', ') : ''}`);
  for (const i of r.incidents.latest) out.push(`  ${i.started_at}  ${i.severity.padEnd(8)} ${i.kind.padEnd(14)} ${i.scope}  [${i.status}] ${i.id}`);
  return out.join('\n');
}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { values: [], booleans: ['json', 'exact', 'help'] });
    if (parsed.positional.length) throw new Error(`unexpected argument ${parsed.positional[0]}`);
  } catch (err) {
    console.error(`meshmon status: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.flags.has('help')) { console.log(USAGE); return 0; }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`meshmon: ${err.message}`); return 2; }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL === 'debug' ? 'debug' : 'warn', stderrSink).child({ command: 'status' });
  let database;
  try {
    database = await openToolDatabase(config, log, 'meshmon-status');
  } catch (err) {
    if (err instanceof StartupProblem) { console.error(err.describe('meshmon status')); return err.exitCode; }
    console.error(`meshmon status: cannot reach the database: ${(err as Error).message}`);
    return 1;
  }
  try {
    const report = await collectStatus(database.db, config, { exact: parsed.flags.has('exact'), source: database.source });
    // Reaching the embedded database took reading its password file: this user may see the login.
    if (database.source !== 'url') report.database.credentials = { file: passwordFile(config.DATA_DIR), url: database.url };
    console.log(parsed.flags.has('json') ? JSON.stringify(report, null, 2) : formatStatus(report));
    return 0;
  } catch (err) {
    console.error(`meshmon status: ${(err as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}
