import { ConfigError, loadConfig } from '../config.ts';
import { createLogger, stderrSink } from '../log.ts';
import { openDatabase } from './connect.ts';
import { migrateToLatest } from './migrate.ts';

export async function run(_args: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) { console.error(`meshmon: ${err.message}`); return 2; }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL, stderrSink);
  const database = await openDatabase(config, log, { poolSize: 2, applicationName: 'meshmon-migrate' });
  try {
    const info = await migrateToLatest(database.db, { timescaledb: config.TIMESCALEDB, log });
    console.log(JSON.stringify({ mode: info.mode, version: info.version, timescaledb: info.timescaledb, applied: info.applied }));
    return 0;
  } catch (err) {
    log.error('migration failed', { err: (err as Error).message });
    return 1;
  } finally {
    await database.close();
  }
}
