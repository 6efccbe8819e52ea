import { sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';
import { listNativePolicies, runNativeJob, type PolicyKind } from '../../src/ops/maintenance.repository.ts';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export const hourFloor = (t: number) => Math.floor(t / HOUR) * HOUR;

/** percentile_cont(0.95): linear interpolation between the closest ranks. */
export function p95(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (!v.length) return null;
  const pos = 0.95 * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo]! + (v[hi]! - v[lo]!) * (pos - lo);
}

export function mean(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

export function max(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? Math.max(...v) : null;
}

/** A small deterministic generator, so a failing value can be reproduced. */
export function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export interface ProbeRow {
  time: Date; src: string; dst: string; rtt_ms: number | null; jitter_ms: number | null; loss_pct: number | null; received_at: Date;
}
export interface HopRow {
  time: Date; src: string; dst: string; hop_index: number; from_node: string; to_node: string;
  lq: number | null; nlq: number | null; etx: number | null; received_at: Date;
}

/** One hour of windows on two routes (one crossing two links), nulls included. */
export function hourOfData(hourStart: number, seed: number, receivedDelayMs = 10_000) {
  const r = rng(seed);
  const probes: ProbeRow[] = [];
  const hops: HopRow[] = [];
  const routes = [['N0DE-A', 'N0DE-B'], ['N0DE-A', 'N0DE-C']] as const;
  for (const [src, dst] of routes) {
    for (let i = 0; i < 9; i++) {
      const time = new Date(hourStart + 5 * 60_000 + i * 40_000);
      const received_at = new Date(time.getTime() + receivedDelayMs);
      probes.push({
        time, src, dst, received_at,
        rtt_ms: i === 4 ? null : Math.round(r() * 2000) / 10,
        jitter_ms: i === 2 ? null : Math.round(r() * 600) / 10,
        loss_pct: Math.round(r() * 300) / 10,
      });
      const path = dst === 'N0DE-B' ? [['N0DE-A', 'N0DE-B']] : [['N0DE-A', 'N0DE-B'], ['N0DE-B', 'N0DE-C']];
      path.forEach(([from_node, to_node], hop_index) => {
        hops.push({
          time, src, dst, hop_index, from_node: from_node!, to_node: to_node!, received_at,
          lq: i === 6 ? null : Math.round(r() * 100) / 100,
          nlq: Math.round(r() * 100) / 100,
          etx: 1 + Math.round(r() * 300) / 100,
        });
      });
    }
  }
  return { probes, hops };
}

export async function insertProbes(db: Database, rows: ProbeRow[]) {
  if (!rows.length) return;
  await db.insertInto('path_probe').values(rows.map((r) => ({ ...r, sent_at: r.time }))).execute();
}

export async function insertHops(db: Database, rows: HopRow[]) {
  if (!rows.length) return;
  await db.insertInto('hop_quality').values(rows.map((r) => ({ ...r, sent_at: r.time }))).execute();
}

/** What path_probe_hourly must hold for these rows, keyed by bucket|src|dst. */
export function expectedPathHourly(rows: ProbeRow[]) {
  const groups = new Map<string, ProbeRow[]>();
  for (const r of rows) {
    const k = `${new Date(hourFloor(r.time.getTime())).toISOString()}|${r.src}|${r.dst}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return new Map([...groups].map(([k, g]) => [k, {
    rtt_ms_avg: mean(g.map((x) => x.rtt_ms)),
    jitter_ms_p95: p95(g.map((x) => x.jitter_ms)),
    loss_pct_avg: mean(g.map((x) => x.loss_pct)),
    loss_pct_max: max(g.map((x) => x.loss_pct)),
    windows: g.length,
  }]));
}

export function expectedHopHourly(rows: HopRow[]) {
  const groups = new Map<string, HopRow[]>();
  for (const r of rows) {
    const k = `${new Date(hourFloor(r.time.getTime())).toISOString()}|${r.from_node}|${r.to_node}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return new Map([...groups].map(([k, g]) => [k, {
    lq_avg: mean(g.map((x) => x.lq)),
    nlq_avg: mean(g.map((x) => x.nlq)),
    etx_avg: mean(g.map((x) => x.etx)),
    samples: g.length,
  }]));
}

export async function readPathHourly(db: Database) {
  const rows = await db.selectFrom('path_probe_hourly').selectAll().orderBy('bucket').execute();
  return new Map(rows.map((r) => [`${new Date(r.bucket).toISOString()}|${r.src}|${r.dst}`, r]));
}

export async function readHopHourly(db: Database) {
  const rows = await db.selectFrom('hop_quality_hourly').selectAll().orderBy('bucket').execute();
  return new Map(rows.map((r) => [`${new Date(r.bucket).toISOString()}|${r.from_node}|${r.to_node}`, r]));
}

/**
 * Runs the native policy jobs in the foreground, as the TimescaleDB scheduler
 * would (PGlite has no background workers).
 */
export async function runNativePolicies(db: Database, kinds: PolicyKind[] = ['retention', 'compression', 'refresh']) {
  const policies = await listNativePolicies(db);
  for (const kind of kinds) {
    for (const p of policies.filter((x) => x.kind === kind)) await runNativeJob(db, p.job_id);
  }
  return policies;
}

export async function chunkCompression(db: Database, table: string) {
  const { rows } = await sql<{ range_start: Date; range_end: Date; is_compressed: boolean }>`
    SELECT range_start, range_end, is_compressed FROM timescaledb_information.chunks
    WHERE hypertable_name = ${table} ORDER BY range_start`.execute(db);
  return rows;
}
