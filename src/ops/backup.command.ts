import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config.ts';
import { saveJobRun } from '../jobs/job-state.repository.ts';
import { createLogger, stderrSink } from '../log.ts';
import { serverInfo } from './backup.repository.ts';
import { parseArgs, UsageError } from './cli-args.ts';
import { findPgTool, meaningfulStderr, PgToolError, runPgTool } from './pg-tools.ts';
import { openToolDatabase, splitPassword } from './tool-db.ts';
import { StartupProblem } from '../startup-problem.ts';

export const BACKUP_JOB = 'backup';

const USAGE = `usage: meshmon backup [--out FILE|DIR] [--pg-bin DIR]

Writes a compressed pg_dump (custom format) of the collector's database to
DATA_DIR/backups/meshmon-<database>-<UTC time>.dump, or to --out. Prints the
file's path. pg_dump must be at least the server's major version; it is looked
for in /usr/lib/postgresql/<major>/bin, on PATH, or in --pg-bin.`;

/** meshmon-<db>-20260302T120000Z.dump: sorts by time, says what it holds. */
export function backupFileName(database: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `meshmon-${database.replace(/[^A-Za-z0-9_.-]/g, '_')}-${stamp}.dump`;
}

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { values: ['out', 'pg-bin'], booleans: ['help'] });
    if (parsed.positional.length) throw new UsageError(`unexpected argument ${parsed.positional[0]}`);
  } catch (err) {
    console.error(`meshmon backup: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.flags.has('help')) {
    console.log(USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`meshmon: ${err.message}`); return 2; }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL === 'debug' ? 'debug' : 'warn', stderrSink).child({ command: 'backup' });

  const started = new Date();
  const t0 = performance.now();
  let database;
  try {
    database = await openToolDatabase(config, log, 'meshmon-backup');
  } catch (err) {
    if (err instanceof StartupProblem) { console.error(err.describe('meshmon backup')); return err.exitCode; }
    console.error(`meshmon backup: cannot reach the database: ${(err as Error).message}`);
    return 1;
  }
  let tmp: string | null = null;
  try {
    const server = await serverInfo(database.db);
    const pgDump = await findPgTool('pg_dump', server.major, { binDir: parsed.flags.get('pg-bin') as string | undefined });

    const out = parsed.flags.get('out') as string | undefined;
    let file: string;
    if (!out) file = path.resolve(config.DATA_DIR, 'backups', backupFileName(server.database, started));
    else if ((await stat(out).catch(() => null))?.isDirectory()) file = path.resolve(out, backupFileName(server.database, started));
    else file = path.resolve(out);
    await mkdir(path.dirname(file), { recursive: true });

    // Written beside the target and renamed at the end: a file with the
    // final name is always a complete backup.
    tmp = `${file}.partial`;
    const { url, password } = splitPassword(database.url);
    const r = await runPgTool(pgDump, ['--format=custom', '--compress=6', '--no-password', `--file=${tmp}`, `--dbname=${url}`], password);
    const notes = meaningfulStderr(r.stderr);
    if (r.code !== 0) {
      console.error(`meshmon backup: pg_dump failed (exit ${r.code}):\n${notes.join('\n')}`);
      await saveJobRun(database.db, BACKUP_JOB, { at: started, ok: false, result: 'error', error: notes.at(-1) ?? `pg_dump exit ${r.code}`, durationMs: performance.now() - t0 }).catch(() => {});
      return 1;
    }
    for (const n of notes) log.warn('pg_dump', { out: n });
    await rename(tmp, file);
    tmp = null;
    const bytes = (await stat(file)).size;
    const durationMs = performance.now() - t0;
    await saveJobRun(database.db, BACKUP_JOB, {
      at: started, ok: true, result: 'ok', durationMs,
      details: { file, bytes, pg_dump: pgDump.version, server: server.version, timescaledb: server.timescaledb },
    }).catch((err) => log.warn('could not record the backup in job_state', { err: (err as Error).message }));
    process.stderr.write(`meshmon backup: wrote ${file} (${(bytes / 1024 / 1024).toFixed(1)} MiB, pg_dump ${pgDump.version}, ${Math.round(durationMs)} ms)\n`);
    console.log(file);
    return 0;
  } catch (err) {
    const msg = err instanceof PgToolError ? err.message : `backup failed: ${(err as Error).message}`;
    console.error(`meshmon backup: ${msg}`);
    return 1;
  } finally {
    if (tmp) await rm(tmp, { force: true }).catch(() => {});
    await database.close();
  }
}
