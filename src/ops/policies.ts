import { Cron } from 'croner';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import {
  addCompressionPolicy,
  addRefreshPolicy,
  addRetentionPolicy,
  listNativePolicies,
  readStorageLayout,
  removeCompressionPolicy,
  removeRefreshPolicy,
  removeRetentionPolicy,
  setJobSchedule,
  type NativePolicy,
  type PolicyKind,
  type Relation,
  type StorageLayout,
} from './maintenance.repository.ts';
import { RAW_TABLES, ROLLUPS } from './retention.ts';
import { lateWindowMs, REFRESH_END_OFFSET_MS } from './rollup.ts';

const DAY_S = 86_400;

export interface PolicyState {
  kind: PolicyKind;
  relation: string;
  job_id: number | null;
  /** drop_after, compress_after or start_offset, in seconds. */
  after_s: number;
  schedule_s?: number;
  action: 'created' | 'updated' | 'unchanged';
  last_run_status: string | null;
  last_successful_finish: string | null;
  next_start: string | null;
  total_failures: number | null;
}

export interface PoliciesReport {
  native: boolean;
  reason?: string;
  policies: PolicyState[];
}

/** Seconds between two runs of a croner pattern: the refresh policy follows ROLLUP_CRON. */
export function cronIntervalSeconds(pattern: string, from = new Date()): number {
  const [a, b] = new Cron(pattern, { paused: true }).nextRuns(2, from);
  if (!a || !b) return 300;
  return Math.max(60, Math.round((b.getTime() - a.getTime()) / 1000));
}

interface Wanted {
  kind: PolicyKind;
  relation: Relation;
  after_s: number;
  end_offset_s?: number;
  schedule_s?: number;
}

/** The native policies the configuration asks for, given what the schema holds. */
export function wantedPolicies(layout: StorageLayout, config: Config): Wanted[] {
  const wanted: Wanted[] = [];
  for (const t of RAW_TABLES) {
    if (!layout.hypertables.has(t)) continue;
    wanted.push({ kind: 'retention', relation: t, after_s: config.RETENTION_RAW_DAYS * DAY_S });
    if (layout.hypertables.get(t)!.compression) {
      wanted.push({ kind: 'compression', relation: t, after_s: config.COMPRESS_AFTER_DAYS * DAY_S });
    }
  }
  for (const r of ROLLUPS) {
    if (layout.caggs.has(r)) {
      wanted.push({
        kind: 'refresh',
        relation: r,
        after_s: Math.round(lateWindowMs(config) / 1000),
        end_offset_s: REFRESH_END_OFFSET_MS / 1000,
        schedule_s: cronIntervalSeconds(config.ROLLUP_CRON),
      });
    }
    if (layout.caggs.has(r) || layout.hypertables.has(r)) {
      wanted.push({ kind: 'retention', relation: r, after_s: config.RETENTION_ROLLUP_DAYS * DAY_S });
    }
  }
  return wanted;
}

const close = (a: number | null | undefined, b: number | undefined) => b === undefined || (a != null && Math.abs(a - b) < 1);

/**
 * Community licence only: creates the native retention, compression and
 * refresh policies (if_not_exists, so concurrent start-ups are harmless) and
 * replaces any whose interval no longer matches the configuration. Elsewhere
 * it reports why there are none; the collector's own jobs do the work.
 */
export async function ensurePolicies(db: Database, config: Config, layout?: StorageLayout): Promise<PoliciesReport> {
  const l = layout ?? (await readStorageLayout(db));
  if (l.license !== 'timescale') {
    return { native: false, reason: l.license ? 'the Apache-only TimescaleDB has no policies' : 'plain PostgreSQL', policies: [] };
  }
  const before = await listNativePolicies(db);
  const find = (list: NativePolicy[], w: Wanted) => list.find((p) => p.kind === w.kind && p.relation === w.relation);
  const actions = new Map<string, PolicyState['action']>();

  for (const w of wantedPolicies(l, config)) {
    const cur = find(before, w);
    const key = `${w.kind}:${w.relation}`;
    if (cur && close(cur.after_s, w.after_s) && close(cur.end_offset_s, w.end_offset_s)) {
      if (w.schedule_s !== undefined && !close(cur.schedule_interval_s, w.schedule_s)) {
        await setJobSchedule(db, cur.job_id, w.schedule_s);
        actions.set(key, 'updated');
      } else {
        actions.set(key, 'unchanged');
      }
      continue;
    }
    // Changed settings: replace the policy (a transaction keeps a crash from losing it).
    await db.transaction().execute(async (trx) => {
      if (w.kind === 'retention') {
        if (cur) await removeRetentionPolicy(trx, w.relation);
        await addRetentionPolicy(trx, w.relation, w.after_s);
      } else if (w.kind === 'compression') {
        if (cur) await removeCompressionPolicy(trx, w.relation);
        await addCompressionPolicy(trx, w.relation, w.after_s);
      } else {
        if (cur) await removeRefreshPolicy(trx, w.relation);
        await addRefreshPolicy(trx, w.relation, w.after_s, w.end_offset_s!, w.schedule_s!);
      }
    });
    actions.set(key, cur ? 'updated' : 'created');
  }

  const after = await listNativePolicies(db);
  const policies: PolicyState[] = [];
  for (const w of wantedPolicies(l, config)) {
    const p = find(after, w);
    policies.push({
      kind: w.kind,
      relation: w.relation,
      job_id: p?.job_id ?? null,
      after_s: p?.after_s ?? w.after_s,
      ...(w.kind === 'refresh' ? { schedule_s: p?.schedule_interval_s ?? w.schedule_s! } : {}),
      action: actions.get(`${w.kind}:${w.relation}`) ?? 'unchanged',
      last_run_status: p?.last_run_status ?? null,
      last_successful_finish: p?.last_successful_finish?.toISOString() ?? null,
      next_start: p?.next_start?.toISOString() ?? null,
      total_failures: p?.total_failures ?? null,
    });
  }
  return { native: true, policies };
}
