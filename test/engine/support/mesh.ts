// Hand-made agent traffic for engine tests, ingested the way POST /ingest
// stores it, and a driver that steps the engine through fixed timestamps.
import { configFrom } from '../../../src/config.ts';
import type { Database, Executor } from '../../../src/db/database.ts';
import { runTick, type TickResult } from '../../../src/engine/engine.ts';
import { DEFAULT_RULES, type RulesConfig } from '../../../src/engine/rules.config.ts';
import { toIncident } from '../../../src/incidents/incident.mapper.ts';
import type { Incident } from '../../../src/incidents/incident.schema.ts';
import { parseMessages, storeMessages } from '../../../src/ingest/ingest.service.ts';

export const T0 = Date.parse('2026-03-02T06:00:00Z');
/** Minutes after T0. */
export const min = (m: number) => new Date(T0 + Math.round(m * 60_000));
export const iso = (d: Date) => d.toISOString();

export type Msg = Record<string, unknown> & { sent_at: string };

export interface PathOpts {
  jitter?: number;
  loss?: number;
  route?: string[];
  /** ETX of each hop (route.length - 1 values; 1.1 each by default). */
  etx?: number[];
  lq?: number[];
  cpu?: number;
}

/** A path_result and its hop_results, at `t`. */
export function probe(src: string, dst: string, t: Date, o: PathOpts = {}): Msg[] {
  const route = o.route ?? [src, dst];
  const msgs: Msg[] = [{
    schema: 'meshmon.v1', type: 'path_result', src, dst, sent_at: iso(t), window_s: 5, route,
    metrics: { rtt_ms_avg: 10, jitter_ms_rfc3550: o.jitter ?? 4, loss_pct: o.loss ?? 0.1 },
    ...(o.cpu !== undefined ? { agent: { ver: 'test', cpu_pct: o.cpu, mem_mb: 5 } } : {}),
  }];
  for (let i = 1; i < route.length; i++) {
    const lq = o.lq?.[i - 1] ?? 0.95;
    msgs.push({
      schema: 'meshmon.v1', type: 'hop_result', src, dst, sent_at: iso(t), hop_index: i,
      hop: { from: route[i - 1], to: route[i] }, l2: { lq, nlq: lq, etx: o.etx?.[i - 1] ?? 1.1 },
    });
  }
  return msgs;
}

export function health(node: string, t: Date, cpu = 10): Msg {
  return { schema: 'meshmon.v1', type: 'agent_health', node, sent_at: iso(t), cpu_pct: cpu, mem_mb: 5, queue_len: 0, neighbors_seen: 2 };
}

/** Every `everyS` seconds in [from, to), minutes after T0. */
export function* every(fromMin: number, toMin: number, everyS = 40): Generator<Date> {
  for (let t = T0 + fromMin * 60_000; t < T0 + toMin * 60_000; t += everyS * 1000) yield new Date(t);
}

const config = configFrom();

export async function ingest(db: Executor, msgs: Msg[], receivedAt: Date): Promise<void> {
  if (!msgs.length) return;
  const out = await storeMessages(db, parseMessages(msgs), { receivedAt, config });
  if (out.drops.length) throw new Error(`test traffic dropped: ${JSON.stringify(out.drops.slice(0, 3))}`);
}

export interface DriveOptions {
  fromMin: number;
  toMin: number;
  tickS?: number;
  rules?: RulesConfig;
  onTick?: (r: TickResult) => void;
}

/**
 * Steps through simulated time like a replay: at each tick T every message
 * sent at or before T (and not yet stored) is ingested, received at T, then
 * the engine runs at now = T, one transaction per tick.
 */
export async function drive(db: Database, msgs: Msg[], o: DriveOptions): Promise<TickResult[]> {
  const sorted = [...msgs].sort((a, b) => a.sent_at.localeCompare(b.sent_at));
  const tickMs = (o.tickS ?? 40) * 1000;
  const results: TickResult[] = [];
  let i = 0;
  for (let t = T0 + o.fromMin * 60_000; t <= T0 + o.toMin * 60_000; t += tickMs) {
    const now = new Date(t);
    const batch: Msg[] = [];
    while (i < sorted.length && Date.parse(sorted[i]!.sent_at) <= t) batch.push(sorted[i++]!);
    const r = await db.transaction().execute(async (trx) => {
      await ingest(trx, batch, now);
      return runTick(trx, now, o.rules ?? DEFAULT_RULES);
    });
    results.push(r);
    o.onTick?.(r);
  }
  return results;
}

export async function incidents(db: Database): Promise<Incident[]> {
  const rows = await db.selectFrom('incidents').selectAll().orderBy('started_at').orderBy('id').execute();
  return rows.map(toIncident);
}

export async function events(db: Database, id: string): Promise<Array<{ event: string; at: Date; detail: unknown }>> {
  return db.selectFrom('incident_events').select(['event', 'at', 'detail']).where('incident_id', '=', id).orderBy('id').execute();
}

/** Normal traffic: each (src, dst, route) probed every 40 s with good numbers, each node's health every 5 min. */
export function background(routes: string[][], fromMin: number, toMin: number, skip: (src: string, t: Date) => boolean = () => false): Msg[] {
  const out: Msg[] = [];
  const nodes = new Set(routes.map((r) => r[0]!));
  for (const t of every(fromMin, toMin)) {
    for (const r of routes) if (!skip(r[0]!, t)) out.push(...probe(r[0]!, r.at(-1)!, t, { route: r }));
  }
  for (const n of nodes) for (const t of every(fromMin, toMin, 300)) if (!skip(n, t)) out.push(health(n, new Date(t.getTime() + 7000)));
  return out;
}

const keyOf = (m: Msg) => `${m.type} ${m.src ?? m.node} ${m.dst ?? ''} ${m.sent_at} ${m.hop_index ?? ''}`;

/** `base` with `fault` laid over it: a fault message replaces the base one for the same window. */
export function overlay(base: Msg[], fault: Msg[]): Msg[] {
  const replaced = new Set(fault.map(keyOf));
  const routes = new Set(fault.filter((m) => m.type === 'path_result').map((m) => `${m.src} ${m.dst} ${m.sent_at}`));
  // A replaced path's old hops go too: its hop list may differ.
  return [...base.filter((m) => !replaced.has(keyOf(m)) && !(m.type === 'hop_result' && routes.has(`${m.src} ${m.dst} ${m.sent_at}`))), ...fault];
}
