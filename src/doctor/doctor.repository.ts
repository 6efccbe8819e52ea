import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

/** The raw measurement tables: what grows with every agent message. */
export const GROWING_TABLES = ['path_probe', 'hop_quality', 'agent_health', 'crash_report'] as const;
export type GrowingTable = (typeof GROWING_TABLES)[number];

/** The server's data directory, null when this role may not read it. */
export async function serverDataDirectory(db: Executor): Promise<string | null> {
  const { rows } = await sql<{ dir: string | null }>`SELECT (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS dir`.execute(db);
  return rows[0]?.dir ?? null;
}

export async function lastIngest(db: Executor, since: Date) {
  return db
    .selectFrom('nodes')
    .select((eb) => [
      eb.fn.max('last_received_at').as('last_received_at'),
      eb.fn.countAll<number>().as('nodes'),
      eb.fn.countAll<number>().filterWhere('last_received_at', '>=', since).as('recent'),
    ])
    .executeTakeFirstOrThrow();
}

/** Measurement rows stored with a time since `since` (time-partitioned and indexed in every table). */
export async function rowsSince(db: Executor, table: GrowingTable, since: Date): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::bigint AS n FROM ${sql.table(table)} WHERE time >= ${since}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** What the agents' clocks say against the collector's, over the nodes heard from since `since`. */
export async function skewSummary(db: Executor, since: Date, limitSeconds: number) {
  const { rows } = await sql<{ nodes: number; median_s: number | null; beyond: number; ahead: number; behind: number; flagged: number }>`
    SELECT count(*)::int AS nodes,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY clock_skew_s) AS median_s,
           count(*) FILTER (WHERE abs(clock_skew_s) > ${limitSeconds}::float8)::int AS beyond,
           count(*) FILTER (WHERE clock_skew_s > ${limitSeconds}::float8)::int AS ahead,
           count(*) FILTER (WHERE clock_skew_s < ${-limitSeconds}::float8)::int AS behind,
           count(*) FILTER (WHERE skew_flagged_at IS NOT NULL)::int AS flagged
    FROM nodes
    WHERE last_received_at >= ${since} AND clock_skew_s IS NOT NULL`.execute(db);
  return rows[0]!;
}

/** The nodes whose clocks are furthest off (a few, for the report). */
export async function worstSkews(db: Executor, since: Date, limitSeconds: number, limit: number) {
  return db
    .selectFrom('nodes')
    .select(['node', 'clock_skew_s', 'skew_flagged_at'])
    .where('last_received_at', '>=', since)
    .where((eb) => eb.or([eb('skew_flagged_at', 'is not', null), eb(sql<number>`abs(clock_skew_s)`, '>', limitSeconds)]))
    .orderBy(sql`abs(clock_skew_s) DESC NULLS LAST`)
    .orderBy('node')
    .limit(limit)
    .execute();
}
