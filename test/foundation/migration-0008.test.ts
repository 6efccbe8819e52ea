// Migration 0008 on a database that already holds incidents: links and routes
// become structured ({a, b} / {src, dst}), link scope keys are re-keyed, and
// the by-object lookups find them; down and up again round-trip.
import { expect, test } from 'bun:test';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { FileMigrationProvider, Migrator } from 'kysely/migration';
import { MIGRATIONS_DIR, migrateToLatest } from '../../src/db/migrate.ts';
import { createTestDatabase, describeEachMode } from '../support/databases.ts';

const BEFORE = '0006_incident_change_notify';
const THIS = '0008_incident_structured_keys';

describeEachMode(
  'migration 0008 (structured links and routes)',
  (_get, mode) => {
    test('old text keys become {a, b} / {src, dst}; down and up again', async () => {
      const tdb = await createTestDatabase(mode, { migrate: false });
      try {
        const { db } = tdb;
        const migrator = new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }), allowUnorderedMigrations: true });
        if (mode === 'apache') await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
        expect((await migrator.migrateTo(BEFORE)).error).toBeUndefined();
        const row = (id: string, kind: string, scope: object, scopeKey: string, links: string[], routes: string[]) => sql`
          INSERT INTO incidents (id, kind, scope, scope_key, status, severity, links, routes, started_at, detected_at, updated_at)
          VALUES (${id}, ${kind}, ${JSON.stringify(scope)}::jsonb, ${scopeKey}, 'open', 'major', ${links}::text[], ${routes}::text[],
                  '2026-03-02T06:00:00Z', '2026-03-02T06:01:00Z', '2026-03-02T06:01:00Z')`.execute(db);
        // The link B ↔ KX6--A was keyed "B--KX6--A": its scope says which.
        await row('inc_link', 'rf_drop', { type: 'link', a: 'B', b: 'KX6--A' }, 'link:B--KX6--A', ['B--KX6--A'], ['C>KX6--A']);
        await row('inc_route', 'loss_spike', { type: 'route', src: 'C', dst: 'D' }, 'route:C>D', ['B--C', 'C--D'], ['C>D']);
        await migrateToLatest(db, { timescaledb: mode === 'apache' ? 'auto' : 'off' });

        const rows = await db.selectFrom('incidents').select(['id', 'scope_key', 'links', 'routes']).orderBy('id').execute();
        expect(rows).toEqual([
          { id: 'inc_link', scope_key: 'link:B,KX6--A', links: [{ a: 'B', b: 'KX6--A' }], routes: [{ src: 'C', dst: 'KX6--A' }] },
          { id: 'inc_route', scope_key: 'route:C>D', links: [{ a: 'B', b: 'C' }, { a: 'C', b: 'D' }], routes: [{ src: 'C', dst: 'D' }] },
        ]);
        const { rows: found } = await sql<{ id: string }>`
          SELECT id FROM incidents WHERE links @> '[{"a":"C","b":"D"}]'::jsonb OR routes @> '[{"src":"C","dst":"KX6--A"}]'::jsonb ORDER BY id`.execute(db);
        expect(found.map((r) => r.id)).toEqual(['inc_link', 'inc_route']);

        expect((await migrator.migrateTo(BEFORE)).error).toBeUndefined();
        const { rows: back } = await sql<{ scope_key: string; links: string[]; routes: string[] }>`SELECT scope_key, links, routes FROM incidents ORDER BY id`.execute(db);
        expect(back).toEqual([
          { scope_key: 'link:B--KX6--A', links: ['B--KX6--A'], routes: ['C>KX6--A'] },
          { scope_key: 'route:C>D', links: ['B--C', 'C--D'], routes: ['C>D'] },
        ]);
        const again = await migrator.migrateToLatest();
        expect(again.error).toBeUndefined();
        expect(again.results?.map((r) => r.migrationName)).toContain(THIS);
      } finally {
        await tdb.close();
      }
    }, 120_000);
  },
  ['none', 'apache'],
);
