import { access, constants } from 'node:fs/promises';
import { ConfigError, loadConfig } from '../config.ts';
import { detectDatabase } from '../db/mode.ts';
import { createLogger, stderrSink } from '../log.ts';
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
import { parseArgs, UsageError } from './cli-args.ts';
import { findPgTool, PgToolError, runPgTool, type FoundTool } from './pg-tools.ts';
import { openToolDatabase, splitPassword } from './tool-db.ts';
import { StartupProblem } from '../startup-problem.ts';

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

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, { values: ['pg-bin'], booleans: ['force', 'help'] });
    if (parsed.flags.has('help')) { console.log(USAGE); return 0; }
    if (parsed.positional.length !== 1) throw new UsageError(parsed.positional.length ? 'one backup file at a time' : 'which backup file?');
  } catch (err) {
    console.error(`meshmon restore: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const file = parsed.positional[0]!;
  const force = parsed.flags.has('force');
  try {
    await access(file, constants.R_OK);
  } catch {
    console.error(`meshmon restore: cannot read ${file}`);
    return 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`meshmon: ${err.message}`); return 2; }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL === 'debug' ? 'debug' : 'warn', stderrSink).child({ command: 'restore' });

  let database;
  try {
    database = await openToolDatabase(config, log, 'meshmon-restore');
  } catch (err) {
    if (err instanceof StartupProblem) { console.error(err.describe('meshmon restore')); return err.exitCode; }
    console.error(`meshmon restore: cannot reach the database: ${(err as Error).message}`);
    return 1;
  }
  const t0 = performance.now();
  let preRestored = false;
  try {
    const db = database.db;
    const server = await serverInfo(db);
    const pgRestore = await findPgTool('pg_restore', server.major, { binDir: parsed.flags.get('pg-bin') as string | undefined });
    const timescale = await archiveUsesTimescale(pgRestore, file);
    if (timescale && !server.timescaledb && !server.available) {
      console.error('meshmon restore: the backup holds TimescaleDB hypertables but this server has no TimescaleDB; restore onto a server with the same TimescaleDB version (the compose image)');
      return 1;
    }

    const sessions = await otherSessions(db);
    const tables = await userRelationCount(db);
    if (!force && sessions.length) {
      console.error(`meshmon restore: other sessions are connected to ${server.database} (${sessions.map((s) => `${s.application} ×${s.count}`).join(', ')}); stop the collector first, or pass --force`);
      return 1;
    }
    if (!force && tables) {
      console.error(`meshmon restore: ${server.database} is not empty (${tables} tables or views in public); restore into an empty database, or pass --force to drop everything in it first`);
      return 1;
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
    const r = await runPgTool(pgRestore, ['--no-owner', '--no-acl', '--exit-on-error', '--no-password', `--dbname=${url}`, file], password);
    if (preRestored) {
      await timescalePostRestore(database.db);
      preRestored = false;
    }
    if (r.code !== 0) {
      console.error(`meshmon restore: pg_restore failed (exit ${r.code}):\n${r.stderr.trim()}`);
      return 1;
    }
    const info = await detectDatabase(database.db);
    const migrations = await appliedMigrations(database.db);
    process.stderr.write(`meshmon restore: restored ${file} into ${server.database} (${info.mode} mode, ${migrations.length} migrations, ${Math.round(performance.now() - t0)} ms)\n`);
    console.log(JSON.stringify({ file, database: server.database, mode: info.mode, timescaledb: info.timescaledb, migrations: migrations.length }));
    return 0;
  } catch (err) {
    const msg = err instanceof PgToolError ? err.message : `restore failed: ${(err as Error).message}`;
    console.error(`meshmon restore: ${msg}`);
    return 1;
  } finally {
    // Never leave the database in restoring mode (its background jobs stopped).
    if (preRestored) await timescalePostRestore(database.db).catch(() => {});
    await database.close();
  }
}
