import { sql } from 'kysely';
import type { Executor } from './database.ts';

/** What a server says about TimescaleDB, read without loading it (a query that loads it unpreloaded ends the session). */
export interface TimescaleFacts {
  server_version: string;
  server_version_num: number;
  /** PGlite (tests): loads TimescaleDB on demand, no preloading needed or possible. */
  pglite: boolean;
  /** The extension version the server could create, null when not installed on the server. */
  available: string | null;
  /** The extension version in this database, null when not created. */
  installed: string | null;
  /** shared_preload_libraries, null when this role may not read it. */
  preload_libraries: string | null;
  /** TimescaleDB's loader is in this backend: only when preloaded (it defines its settings then). */
  loader_loaded: boolean;
  /** timescaledb.license, once known to the server (library loaded, or set in its configuration). */
  license: string | null;
  /** The server's configuration file, null when this role may not read it. */
  config_file: string | null;
  /** MeshMon's tables exist in this database. */
  migrated: boolean;
  superuser: boolean;
}

export async function readTimescaleFacts(db: Executor): Promise<TimescaleFacts> {
  // pg_settings hides superuser-only settings from other roles instead of failing.
  const { rows } = await sql<TimescaleFacts>`
    SELECT current_setting('server_version') AS server_version,
           current_setting('server_version_num')::int AS server_version_num,
           version() ILIKE '%emscripten%' AS pglite,
           (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb') AS available,
           (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb') AS installed,
           (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload_libraries,
           current_setting('timescaledb.disable_load', true) IS NOT NULL AS loader_loaded,
           NULLIF(current_setting('timescaledb.license', true), '') AS license,
           (SELECT setting FROM pg_settings WHERE name = 'config_file') AS config_file,
           to_regclass('public.path_probe') IS NOT NULL AS migrated,
           COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser`.execute(db);
  return rows[0]!;
}

export async function createTimescaleExtension(db: Executor): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(db);
}
