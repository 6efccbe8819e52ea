import { sql } from 'kysely';
import type { TestDatabase } from './databases.ts';

/**
 * A PGlite started from a data-dir snapshot loads TimescaleDB's Apache part on
 * first use but not its TSL module, so anything community-only (the
 * continuous-aggregate invalidation trigger on path_probe, compression) fails
 * with "not supported under the current "timescale" license" until the
 * module is loaded explicitly. Harmless when it is loaded already, and a
 * no-op in the other modes.
 */
export async function loadTimescaleTsl(tdb: TestDatabase): Promise<void> {
  if (tdb.mode !== 'timescale') return;
  const { rows } = await sql<{ v: string | null }>`SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`.execute(tdb.db);
  const version = rows[0]?.v;
  if (version) await sql.raw(`LOAD 'timescaledb-tsl-${version}'`).execute(tdb.db);
}
