import { StartupProblem } from '../startup-problem.ts';
import type { DatabaseMode } from './mode.ts';
import type { TimescaleFacts } from './timescale.repository.ts';

/**
 * TimescaleDB must be in shared_preload_libraries. Installed but not
 * preloaded (the usual result of installing the package and skipping
 * timescaledb-tune), the server answers the first statement that loads it
 * with FATAL "extension "timescaledb" must be preloaded" and closes the
 * connection — which looks exactly like a database that went away. These
 * functions tell the two apart before that statement is sent.
 */

function libraries(list: string | null): string[] {
  if (!list) return [];
  return list.split(',').map((s) => s.trim().replace(/^"(.*)"$/, '$1')).filter(Boolean);
}

const isTimescaleLib = (lib: string) => /(^|\/)timescaledb(\.so)?$/i.test(lib);

export function isPreloaded(f: TimescaleFacts): boolean {
  return f.pglite || f.loader_loaded || libraries(f.preload_libraries).some(isTimescaleLib);
}

/** The line to put in postgresql.conf, keeping what is already preloaded. */
export function preloadLine(f: TimescaleFacts): string {
  const keep = libraries(f.preload_libraries).filter((l) => !isTimescaleLib(l));
  return `shared_preload_libraries = '${[...keep, 'timescaledb'].join(',')}'`;
}

const RESTART = 'sudo systemctl restart postgresql';

export function notPreloadedProblem(f: TimescaleFacts): StartupProblem {
  const where = f.config_file
    ? `the server's configuration file ${f.config_file}`
    : `the server's postgresql.conf (a superuser's SHOW config_file tells where; on Debian and Raspberry Pi OS /etc/postgresql/${Math.floor(f.server_version_num / 10_000)}/main/postgresql.conf)`;
  const preload = `add the line  ${preloadLine(f)}  to ${where}, restart PostgreSQL (${RESTART}), then start the collector again`;
  const detail = {
    database: {
      version: f.server_version,
      timescaledb_available: f.available,
      timescaledb_installed: f.installed,
      preloaded: false,
      shared_preload_libraries: f.preload_libraries,
      config_file: f.config_file,
    },
  };
  if (f.installed) {
    return new StartupProblem(
      'timescaledb_not_preloaded',
      `this database uses TimescaleDB ${f.installed}, but the server does not have it in shared_preload_libraries: its first use would end the session (FATAL: extension "timescaledb" must be preloaded), so the collector refuses to start rather than retry it.`,
      [`${preload}. (TIMESCALEDB=off does not help here: this database's tables are already hypertables.)`],
      detail,
    );
  }
  return new StartupProblem(
    'timescaledb_not_preloaded',
    `TimescaleDB ${f.available} is installed on the database server but not in shared_preload_libraries: creating its extension would end the session (FATAL: extension "timescaledb" must be preloaded), so the collector refuses to start rather than retry it.`,
    [preload, 'set TIMESCALEDB=off to go on without TimescaleDB (plain tables; a database created that way stays plain)'],
    detail,
  );
}

export interface PlannedMode {
  /** null when it depends on the licence, known only once the extension exists. */
  mode: DatabaseMode | null;
  reason: string;
  /** Set when the collector would refuse to start on this database. */
  problem?: StartupProblem;
}

/**
 * The mode the collector would choose at its next start on this database
 * (what migrateToLatest does), from facts alone. `license` may come from
 * detectDatabase when the extension exists.
 */
export function plannedMode(f: TimescaleFacts, setting: 'auto' | 'off', license: string | null = f.license): PlannedMode {
  const byLicense = (why: string): PlannedMode =>
    license ? { mode: license === 'timescale' ? 'timescale' : 'apache', reason: `${why} (timescaledb.license = ${license})` } : { mode: null, reason: `${why}; timescale or apache, by its licence (Debian's and Raspberry Pi OS's packages are Apache-only)` };
  if (f.installed) {
    if (!isPreloaded(f)) return { mode: null, reason: 'the extension exists but is not preloaded', problem: notPreloadedProblem(f) };
    return byLicense(`the database has TimescaleDB ${f.installed}`);
  }
  if (f.migrated) return { mode: 'none', reason: 'the schema was created without TimescaleDB and stays plain' };
  if (setting === 'off') return { mode: 'none', reason: 'TIMESCALEDB=off' };
  if (!f.available) return { mode: 'none', reason: 'TimescaleDB is not installed on the server' };
  if (!isPreloaded(f)) return { mode: null, reason: 'TimescaleDB is installed but not preloaded', problem: notPreloadedProblem(f) };
  return byLicense(`the server offers TimescaleDB ${f.available}, created at the first start`);
}
