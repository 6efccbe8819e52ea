// Two collectors started at once against one empty database both come up and
// the migrations run once (known defect 9 of the guide: DDL raced in every worker).
import { afterEach, describe, expect, test } from 'bun:test';
import { promises as fs } from 'node:fs';
import pg from 'pg';
import { createDatabase, createPool } from '../../src/db/database.ts';
import { MIGRATIONS_DIR, migrateToLatest } from '../../src/db/migrate.ts';
import { createScratchDatabase } from '../support/admin.ts';
import { spawnCollector } from '../support/collector-process.ts';
import { hasApacheTimescale } from '../support/databases.ts';

async function migrationFiles(): Promise<string[]> {
  return (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).map((f) => f.replace(/\.(ts|js)$/, '')).sort();
}

async function appliedMigrations(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
    return rows.map((r) => r.name);
  } finally {
    await c.end();
  }
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
}, 60_000);

describe('concurrent start-up against one empty database', () => {
  for (const timescale of [false, true]) {
    test(`two migrateToLatest on separate pools run each migration once (${timescale ? 'apache' : 'none'})`, async () => {
      if (timescale && !(await hasApacheTimescale())) return;
      const scratch = await createScratchDatabase('meshmon_race');
      cleanups.push(scratch.drop);
      const pools = [createPool({ url: scratch.url, max: 2 }), createPool({ url: scratch.url, max: 2 })];
      const dbs = pools.map(createDatabase);
      cleanups.push(() => Promise.all(dbs.map((d) => d.destroy())));

      const mode = timescale ? 'auto' : 'off';
      const [a, b] = await Promise.all(dbs.map((db) => migrateToLatest(db, { timescaledb: mode })));
      const files = await migrationFiles();
      // One of them did all the work, the other found nothing to do.
      expect([...a!.applied, ...b!.applied].sort()).toEqual(files);
      expect(Math.min(a!.applied.length, b!.applied.length)).toBe(0);
      expect(a!.mode).toBe(timescale ? 'apache' : 'none');
      expect(b!.mode).toBe(a!.mode);
      expect(await appliedMigrations(scratch.url)).toEqual(files);
    }, 60_000);
  }

  // Two processes, as on a host: croner's job names are process-wide, so one
  // process cannot hold two collectors anyway.
  test('two collector processes come up together and both serve /healthz', async () => {
    const scratch = await createScratchDatabase('meshmon_race_server');
    cleanups.push(scratch.drop);
    const env = { DATABASE_URL: scratch.url, ENGINE_ENABLED: 'false', TIMESCALEDB: 'off', LOG_LEVEL: 'warn' };
    const collectors = await Promise.all([spawnCollector(env), spawnCollector(env)]);
    cleanups.push(() => Promise.all(collectors.map((c) => c.stop('SIGKILL'))));

    for (const c of collectors) {
      const body = await c.waitForHealth(200);
      expect(body.database.mode).toBe('none');
    }
    expect(await appliedMigrations(scratch.url)).toEqual(await migrationFiles());
    for (const c of collectors) expect(await c.stop()).toBe(0);
  }, 90_000);
});
