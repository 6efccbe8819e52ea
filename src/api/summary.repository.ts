import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';

export interface OpenCountRow {
  kind: string;
  severity: string;
  total: number;
  roots: number;
}

export interface SummaryRow {
  /** Not ended (open or clearing), by kind and severity. */
  open: OpenCountRow[];
  /** Open incidents somebody acknowledged. */
  acknowledged: number;
  last_ingest_at: Date | null;
  /** The engine's last tick as recorded by whichever collector leads (null: never). */
  engine: { last_run_at: string | null; last_result: string | null; last_error: string | null; last_success_at: string | null } | null;
}

/**
 * Everything /summary needs in one round trip. Open incidents are few and
 * incidents_ended answers `ended_at IS NULL`. The last ingest is the latest
 * receive time in the node registry, which ingest updates with every stored
 * message (one row per node: cheap). The engine's last tick is in job_state,
 * written by whichever collector leads.
 */
export async function summaryFacts(db: Executor): Promise<SummaryRow> {
  const { rows } = await sql<SummaryRow>`
    SELECT
      (SELECT coalesce(json_agg(c), '[]')
         FROM (SELECT kind, severity, count(*)::int AS total, (count(*) FILTER (WHERE parent_id IS NULL))::int AS roots
                 FROM incidents WHERE ended_at IS NULL GROUP BY kind, severity) c) AS open,
      (SELECT count(*)::int FROM incident_acks k JOIN incidents i ON i.id = k.incident_id WHERE i.ended_at IS NULL) AS acknowledged,
      (SELECT max(last_received_at) FROM nodes) AS last_ingest_at,
      (SELECT json_build_object('last_run_at', last_run_at, 'last_result', last_result, 'last_error', last_error, 'last_success_at', last_success_at)
         FROM job_state WHERE name = 'engine') AS engine`.execute(db);
  return rows[0]!;
}
