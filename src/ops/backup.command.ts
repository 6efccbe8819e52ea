import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { CommandFailure, runCommand } from '../command.ts';
import { saveJobRun } from '../db/job-state.repository.ts';
import { formatBytes } from '../format.ts';
import { serverInfo } from './backup.repository.ts';
import { findPgTool, meaningfulStderr, PgToolError, runPgTool } from './pg-tools.ts';
import { splitPassword } from './tool-db.ts';

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

export function run(args: string[]): Promise<number> {
  return runCommand({ name: 'backup', usage: USAGE, options: { out: { type: 'string' }, 'pg-bin': { type: 'string' } } }, args, async ({ values, config, log, database: open }) => {
    const started = new Date();
    const t0 = performance.now();
    const database = await open();
    let tmp: string | null = null;
    try {
      const server = await serverInfo(database.db);
      const pgDump = await findPgTool('pg_dump', server.major, { binDir: values['pg-bin'] });

      const out = values.out;
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
        await saveJobRun(database.db, BACKUP_JOB, { at: started, ok: false, result: 'error', error: notes.at(-1) ?? `pg_dump exit ${r.code}`, durationMs: performance.now() - t0 }).catch(() => {});
        throw new CommandFailure(`pg_dump failed (exit ${r.code}):\n${notes.join('\n')}`);
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
      process.stderr.write(`meshmon backup: wrote ${file} (${formatBytes(bytes)}, pg_dump ${pgDump.version}, ${Math.round(durationMs)} ms)\n`);
      console.log(file);
      return 0;
    } catch (err) {
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure(err instanceof PgToolError ? err.message : `backup failed: ${(err as Error).message}`);
    } finally {
      if (tmp) await rm(tmp, { force: true }).catch(() => {});
    }
  });
}
