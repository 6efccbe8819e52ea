import { access, constants } from 'node:fs/promises';
import { CommandFailure, runCommand } from '../command.ts';
import { detectDatabase } from '../db/mode.ts';
import {
  appliedMigrations,
  createTimescaleExtension,
  otherSessions,
  serverInfo,
  timescalePostRestore,
  timescalePreRestore,
  userRelationCount,
  wipeDatabase,
} from './backup.repository.ts';
import { findPgTool, PgToolError, runPgTool, type FoundTool } from './pg-tools.ts';
import { splitPassword } from './tool-db.ts';

const USAGE = `usage: meshmon restore FILE [--force] [--pg-bin DIR]

Restores a backup written by \`meshmon backup\` (pg_dump custom format) into
the collector's database, which must be empty: stop the collector first.
With TimescaleDB the extension is created and timescaledb_pre_restore() /
timescaledb_post_restore() bracket the restore.
--force   replace a database that already holds tables (everything in it is dropped)`;

/** The archive's table of contents: whether it holds the timescaledb extension. */
async function archiveUsesTimescale(pgRestore: FoundTool, file: string): Promise<boolean> {
  const r = await runPgTool(pgRestore, ['--list', file], undefined);
  if (r.code !== 0) throw new Error(`not a readable pg_dump archive: ${r.stderr.trim().split('\n').at(-1)}`);
  return /\bEXTENSION\s+-\s+timescaledb\b/.test(r.stdout);
}

export function run(args: string[]): Promise<number> {
  const positionals = (p: string[]) => (p.length === 1 ? null : p.length ? 'one backup file at a time' : 'which backup file?');
  return runCommand({ name: 'restore', usage: USAGE, options: { force: { type: 'boolean' }, 'pg-bin': { type: 'string' } }, positionals }, args, async ({ values, positionals: [file], log, database: open }) => {
    const force = !!values.force;
    try {
      await access(file!, constants.R_OK);
    } catch {
      throw new CommandFailure(`cannot read ${file}`, 2);
    }
    const database = await open();
    const t0 = performance.now();
    let preRestored = false;
    try {
      const db = database.db;
      const server = await serverInfo(db);
      const pgRestore = await findPgTool('pg_restore', server.major, { binDir: values['pg-bin'] });
      const timescale = await archiveUsesTimescale(pgRestore, file!);
      if (timescale && !server.timescaledb && !server.available) {
        throw new CommandFailure('the backup holds TimescaleDB hypertables but this server has no TimescaleDB; restore onto a server with the same TimescaleDB version (the compose image)');
      }

      const sessions = await otherSessions(db);
      const tables = await userRelationCount(db);
      if (!force && sessions.length) {
        throw new CommandFailure(`other sessions are connected to ${server.database} (${sessions.map((s) => `${s.application} ×${s.count}`).join(', ')}); stop the collector first, or pass --force`);
      }
      if (!force && tables) {
        throw new CommandFailure(`${server.database} is not empty (${tables} tables or views in public); restore into an empty database, or pass --force to drop everything in it first`);
      }
      if (tables) {
        log.warn('dropping everything in the database before the restore (--force)', { database: server.database, tables });
        await wipeDatabase(db, server.major);
      }
      // Sessions that had TimescaleDB loaded cannot create it again.
      await database.reconnect();

      if (timescale) {
        await createTimescaleExtension(database.db);
        await timescalePreRestore(database.db);
        preRestored = true;
      }
      const { url, password } = splitPassword(database.url);
      // No owners or grants from the source: everything belongs to the restoring
      // user, so a backup of the embedded database restores into compose's too.
      const r = await runPgTool(pgRestore, ['--no-owner', '--no-acl', '--exit-on-error', '--no-password', `--dbname=${url}`, file!], password);
      if (preRestored) {
        await timescalePostRestore(database.db);
        preRestored = false;
      }
      if (r.code !== 0) {
        throw new CommandFailure(`pg_restore failed (exit ${r.code}):\n${r.stderr.trim()}`);
      }
      const info = await detectDatabase(database.db);
      const migrations = await appliedMigrations(database.db);
      process.stderr.write(`meshmon restore: restored ${file} into ${server.database} (${info.mode} mode, ${migrations.length} migrations, ${Math.round(performance.now() - t0)} ms)\n`);
      console.log(JSON.stringify({ file, database: server.database, mode: info.mode, timescaledb: info.timescaledb, migrations: migrations.length }));
      return 0;
    } catch (err) {
      if (err instanceof CommandFailure) throw err;
      throw new CommandFailure(err instanceof PgToolError ? err.message : `restore failed: ${(err as Error).message}`);
    } finally {
      // Never leave the database in restoring mode (its background jobs stopped).
      if (preRestored) await timescalePostRestore(database.db).catch(() => {});
    }
  });
}
