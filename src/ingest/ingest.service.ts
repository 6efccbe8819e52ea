import type { Config } from '../config.ts';
import type { Executor } from '../db/database.ts';
import type { FieldError } from '../http/problem.ts';
import {
  AgentMessage,
  MESSAGE_TYPES,
  type AgentHealth,
  type CrashReport,
  type HopResult,
  type IngestResult,
  type MessageType,
  type NetworkStatus,
  type PathResult,
  type TypeCounts,
} from './ingest.schema.ts';
import {
  storeRows,
  type AgentHealthRow,
  type CrashReportRow,
  type HopQualityRow,
  type NodeRow,
  type PathProbeRow,
} from './ingest.repository.ts';

export interface ParseContext {
  /** The receive time: decides which sent_at is older than retention. */
  now: Date;
  config: Config;
}

/** A field error of one message of the body: index 0 when the body was a single message. */
export type MessageError = FieldError & { index: number };

export type ParseResult = { ok: true; messages: AgentMessage[] } | { ok: false; errors: MessageError[] };

/** Enough to fix a message; a message with hundreds of bad fields is not worth more. */
const MAX_ISSUES_PER_MESSAGE = 20;
/**
 * Past this many issues, each further invalid message is listed with its first
 * issue only: every invalid message is still named, and a batch of 5,000 bad
 * messages does not answer with megabytes.
 */
const FULL_ISSUES_UP_TO = 1000;
/**
 * Unknown fields are stored as jsonb; PostgreSQL's JSON parser recurses, so a
 * deeply nested value could exhaust its stack. Real agents nest 3 levels.
 */
export const MAX_JSON_DEPTH = 16;

/**
 * Validates a parsed JSON body: one message or an array. Pure. Every invalid
 * message is reported (index, dotted field path, message); one invalid
 * message makes the whole batch invalid.
 */
export function parseMessages(body: unknown, ctx: ParseContext): ParseResult {
  const items = Array.isArray(body) ? body : [body];
  const cutoff = ctx.now.getTime() - ctx.config.RETENTION_RAW_DAYS * 86_400_000;
  const messages: AgentMessage[] = [];
  const errors: MessageError[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const r = AgentMessage.safeParse(item);
    if (!r.success) {
      const limit = errors.length < FULL_ISSUES_UP_TO ? MAX_ISSUES_PER_MESSAGE : 1;
      for (const issue of r.error.issues.slice(0, limit)) {
        errors.push({ index, path: issue.path.map(String).join('.') || '(root)', message: issue.message });
      }
      continue;
    }
    const before = errors.length;
    const deep = tooDeep(item, MAX_JSON_DEPTH);
    if (deep !== null) errors.push({ index, path: deep || '(root)', message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
    const m = r.data;
    const old = (path: string, iso: string) => {
      if (Date.parse(iso) < cutoff) {
        errors.push({ index, path, message: `is older than the ${ctx.config.RETENTION_RAW_DAYS}-day retention period` });
      }
    };
    old('sent_at', m.sent_at);
    if (m.type === 'network_status') m.probes.forEach((p, i) => old(`probes.${i}.timestamp`, p.timestamp));
    if (errors.length === before) messages.push(m);
  }
  return errors.length ? { ok: false, errors } : { ok: true, messages };
}

/** The dotted path of the first value nested deeper than `limit`, or null. */
function tooDeep(v: unknown, limit: number, path = '', depth = 0): string | null {
  if (v === null || typeof v !== 'object') return null;
  if (depth >= limit) return path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = tooDeep(v[i], limit, path ? `${path}.${i}` : String(i), depth + 1);
      if (p !== null) return p;
    }
  } else {
    for (const k in v) {
      const p = tooDeep((v as Record<string, unknown>)[k], limit, path ? `${path}.${k}` : k, depth + 1);
      if (p !== null) return p;
    }
  }
  return null;
}

export interface StoreContext {
  /** The collector's receive time (replay: the simulated tick). */
  receivedAt: Date;
  config: Config;
}

export const zeroCounts = (): TypeCounts => ({ path_result: 0, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 });

/**
 * Stores validated messages in one statement, duplicates skipped. The caller
 * owns the transaction (all-or-nothing per request).
 */
export async function storeMessages(db: Executor, messages: AgentMessage[], ctx: StoreContext): Promise<IngestResult> {
  const rows = toRows(messages, ctx);
  const { path, hop, health, crash } = await storeRows(db, rows, ctx.receivedAt);

  // A message is new when any of its rows is: a network_status report whose
  // probes were all stored before is a duplicate; one with no probes is new.
  const fresh = new Uint8Array(messages.length);
  const mark = (inserted: number[], owner: number[]) => { for (const n of inserted) fresh[owner[n]!] = 1; };
  mark(path, rows.pathOwner);
  mark(hop, rows.hopOwner);
  mark(health, rows.healthOwner);
  mark(crash, rows.crashOwner);
  const accepted = zeroCounts();
  const duplicates = zeroCounts();
  messages.forEach((m, i) => {
    if (fresh[i] || rows.rowCount[i] === 0) accepted[m.type]++;
    else duplicates[m.type]++;
  });
  const count = (inserted: number, total: number) => ({ inserted, duplicates: total - inserted });
  return {
    messages: messages.length,
    accepted,
    duplicates,
    rows: {
      path_probe: count(path.length, rows.attempted.path),
      hop_quality: count(hop.length, rows.attempted.hop),
      agent_health: count(health.length, rows.attempted.health),
      crash_report: count(crash.length, rows.attempted.crash),
    },
    clock_skewed: rows.skewedMessages,
    nodes: rows.nodes.length,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const num = <T>(v: T | null | undefined): T | null => (v === undefined ? null : v);

/** Values the upstream agent sends for "don't know"; not worth a registry entry. */
const UNKNOWN = new Set(['', 'unknown', 'n/a', 'na', 'none', 'null', '-']);
function known(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = v.trim();
  return UNKNOWN.has(s.toLowerCase()) ? null : s;
}

function coordinate(v: unknown, limit: number): number | null {
  const x = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(x) && Math.abs(x) <= limit ? x : null;
}

/**
 * Sets a field from JSON. Plain assignment keeps objects fast; a "__proto__"
 * key would set the prototype instead, so only that one is defined.
 */
function put(obj: Record<string, unknown>, k: string, v: unknown) {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

/** The fields of `obj` not in `knownKeys`, or null when there are none. */
function rest(obj: Record<string, unknown> | null | undefined, knownKeys: ReadonlySet<string>): Record<string, unknown> | null {
  if (!obj) return null;
  let out: Record<string, unknown> | null = null;
  for (const k in obj) {
    if (knownKeys.has(k)) continue;
    out ??= {};
    put(out, k, obj[k]);
  }
  return out;
}

function merge(...parts: Array<[string | null, Record<string, unknown> | null]>): Record<string, unknown> | null {
  let out: Record<string, unknown> | null = null;
  for (const [key, part] of parts) {
    if (!part) continue;
    out ??= {};
    if (key !== null) put(out, key, part);
    else for (const k in part) put(out, k, part[k]);
  }
  return out;
}

const keys = (...k: string[]) => new Set(k);
const PATH_KEYS = keys('schema', 'type', 'src', 'dst', 'sent_at', 'window_s', 'route', 'metrics', 'agent');
const METRIC_KEYS = keys('rtt_ms_avg', 'jitter_ms_rfc3550', 'loss_pct');
const AGENT_KEYS = keys('ver', 'cpu_pct', 'mem_mb');
const HOP_KEYS = keys('schema', 'type', 'src', 'dst', 'sent_at', 'hop_index', 'hop', 'l2');
const HOP_ENDS_KEYS = keys('from', 'to');
const L2_KEYS = keys('lq', 'nlq', 'etx');
const HEALTH_KEYS = keys('schema', 'type', 'node', 'sent_at', 'cpu_pct', 'mem_mb', 'queue_len', 'neighbors_seen');
/** agent_health fields that describe the node, not the moment: the registry keeps them. */
const HEALTH_REGISTRY_KEYS = keys('routing_daemon', 'lat', 'lon', 'grid_square', 'hardware_model', 'firmware_version', 'agent_version');
const HEALTH_STATE_SKIP = new Set([...HEALTH_KEYS, ...HEALTH_REGISTRY_KEYS]);
const STATUS_KEYS = keys('schema', 'type', 'node', 'sent_at', 'probes');
const PROBE_KEYS = keys('dst_node', 'timestamp', 'rtt_ms_avg', 'jitter_ms', 'loss_pct', 'path');
const PROBE_HOP_KEYS = keys('node', 'link_type', 'lq', 'nlq', 'etx', 'rtt_ms');
const CRASH_KEYS = keys('schema', 'type', 'node', 'sent_at', 'crash_time', 'signal', 'signal_name', 'reason', 'restart_count', 'uptime_before_crash');

interface NodeAcc extends NodeRow {
  lastSentMs: number;
  firstMs: number;
  lastMs: number;
  /** What the newest recently sent message says about the clock: offset in s, and whether it is over the limit. */
  clock: { offsetS: number; flagged: boolean } | null;
  lastHealthMs: number;
  /** The agent time of the message each attribute came from. */
  attrMs: Partial<Record<keyof NodeAttrs, number>>;
}

/**
 * Turns messages into table rows. Time rules: a row's `time` is the agent's
 * time unless that lies more than MAX_CLOCK_SKEW ahead of the receive time;
 * then the whole message is shifted back by its offset (the report's probes
 * keep their spacing) and the row keeps sent_at and the offset.
 */
export function toRows(messages: AgentMessage[], ctx: StoreContext) {
  const recvMs = ctx.receivedAt.getTime();
  const recvIso = ctx.receivedAt.toISOString();
  const maxSkewMs = ctx.config.MAX_CLOCK_SKEW * 1000;

  const path: PathProbeRow[] = [];
  const hop: HopQualityRow[] = [];
  const health: AgentHealthRow[] = [];
  const crash: CrashReportRow[] = [];
  const pathOwner: number[] = [];
  const hopOwner: number[] = [];
  const healthOwner: number[] = [];
  const crashOwner: number[] = [];
  const seen = new Set<string>();
  const rowCount = new Uint32Array(messages.length);
  const attempted = { path: 0, hop: 0, health: 0, crash: 0 };
  const nodes = new Map<string, NodeAcc>();
  let skewedMessages = 0;

  // Keys are prefixed by table. Within one request the first copy of a key
  // wins, as ON CONFLICT DO NOTHING decides between two requests; later
  // copies count as duplicates.
  const add = <R extends { n: number }>(table: R[], owner: number[], key: string, row: R, m: number) => {
    rowCount[m]!++;
    if (seen.has(key)) return;
    seen.add(key);
    owner.push(m);
    row.n = table.length;
    table.push(row);
  };

  for (let m = 0; m < messages.length; m++) {
    const msg = messages[m]!;
    const sentMs = Date.parse(msg.sent_at);
    const offsetMs = sentMs - recvMs;
    const shiftMs = offsetMs > maxSkewMs ? offsetMs : 0;
    if (shiftMs) skewedMessages++;
    /** [trusted time, skew in s or null] for an agent timestamp of this message. */
    const when = (agentMs: number): [string, number | null] => {
      let t = agentMs - shiftMs;
      // A probe stamped far after its own report: its clock is not to be trusted either.
      if (t > recvMs + maxSkewMs) t = recvMs;
      return t === agentMs ? [iso(agentMs), null] : [iso(t), (agentMs - t) / 1000];
    };
    const [time, skew] = when(sentMs);
    const sentIso = iso(sentMs);

    const sender = msg.type === 'path_result' || msg.type === 'hop_result' ? msg.src : msg.node;
    const acc = nodeAcc(nodes, sender, Date.parse(time));
    if (sentMs >= acc.lastSentMs) {
      acc.lastSentMs = sentMs;
      acc.last_type = msg.type;
      // Only a message sent recently measures the clock; a buffered one says
      // how long it waited, not how wrong the clock is.
      if (offsetMs >= -maxSkewMs) acc.clock = { offsetS: offsetMs / 1000, flagged: shiftMs !== 0 };
    }

    switch (msg.type) {
      case 'path_result': {
        const p = msg as PathResult;
        attempted.path++;
        add(path, pathOwner, `p ${p.src} ${p.dst} ${time}`, {
          n: 0, time, src: p.src, dst: p.dst, route: p.route,
          rtt_ms: num(p.metrics.rtt_ms_avg), jitter_ms: num(p.metrics.jitter_ms_rfc3550), loss_pct: num(p.metrics.loss_pct),
          window_s: p.window_s, sent_at: sentIso, clock_skew_s: skew, source: 'path_result',
          agent_version: p.agent?.ver ?? null, agent_cpu_pct: num(p.agent?.cpu_pct), agent_mem_mb: num(p.agent?.mem_mb),
          extra: merge([null, rest(p, PATH_KEYS)], ['metrics', rest(p.metrics, METRIC_KEYS)], ['agent', rest(p.agent, AGENT_KEYS)]),
        }, m);
        attr(acc, sentMs, { agent_version: known(p.agent?.ver) });
        break;
      }
      case 'hop_result': {
        const h = msg as HopResult;
        attempted.hop++;
        add(hop, hopOwner, `h ${h.src} ${h.dst} ${h.hop_index} ${time}`, {
          n: 0, time, src: h.src, dst: h.dst, hop_index: h.hop_index, from_node: h.hop.from, to_node: h.hop.to,
          lq: num(h.l2?.lq), nlq: num(h.l2?.nlq), etx: num(h.l2?.etx), link_type: null, rtt_ms: null,
          sent_at: sentIso, clock_skew_s: skew,
          extra: merge([null, rest(h, HOP_KEYS)], ['hop', rest(h.hop, HOP_ENDS_KEYS)], ['l2', rest(h.l2, L2_KEYS)]),
        }, m);
        break;
      }
      case 'agent_health': {
        const a = msg as AgentHealth;
        attempted.health++;
        const extra = rest(a, HEALTH_KEYS);
        add(health, healthOwner, `a ${a.node} ${time}`, {
          n: 0, time, node: a.node, cpu_pct: a.cpu_pct, mem_mb: a.mem_mb, queue_len: a.queue_len,
          neighbors_seen: num(a.neighbors_seen), sent_at: sentIso, clock_skew_s: skew, extra,
        }, m);
        const lat = coordinate(a.lat, 90);
        const lon = coordinate(a.lon, 180);
        attr(acc, sentMs, {
          agent_version: known(a.agent_version), routing_daemon: known(a.routing_daemon),
          hardware_model: known(a.hardware_model), firmware_version: known(a.firmware_version),
          grid_square: known(a.grid_square),
          // A position is both coordinates or nothing.
          lat: lat !== null && lon !== null ? lat : null, lon: lat !== null && lon !== null ? lon : null,
        });
        // Scalar self-reports (uptime, restarts, health score) are the node's latest state.
        const state = rest(a, HEALTH_STATE_SKIP);
        if (state && sentMs >= acc.lastHealthMs) {
          acc.lastHealthMs = sentMs;
          for (const [k, v] of Object.entries(state)) {
            if (v === null || typeof v !== 'object') put(acc.extra, k, v);
          }
        }
        break;
      }
      case 'network_status': {
        const s = msg as NetworkStatus;
        // The report's own fields (its sent_at, routing_daemon, probe_count, …) travel with each probe.
        const report = { sent_at: sentIso, ...rest(s, STATUS_KEYS) };
        attr(acc, sentMs, { routing_daemon: known(s.routing_daemon) ?? known(s.probes[0]?.routing_daemon) });
        for (const probe of s.probes) {
          const pms = Date.parse(probe.timestamp);
          const [ptime, pskew] = when(pms);
          const psent = pskew === null ? ptime : iso(pms);
          attempted.path++;
          add(path, pathOwner, `p ${s.node} ${probe.dst_node} ${ptime}`, {
            n: 0, time: ptime, src: s.node, dst: probe.dst_node,
            route: probe.path.length ? [s.node, ...probe.path.map((h) => h.node)] : [],
            rtt_ms: num(probe.rtt_ms_avg), jitter_ms: num(probe.jitter_ms), loss_pct: num(probe.loss_pct),
            window_s: 5, sent_at: psent, clock_skew_s: pskew, source: 'network_status',
            agent_version: null, agent_cpu_pct: null, agent_mem_mb: null,
            extra: merge([null, rest(probe, PROBE_KEYS)], ['report', report]),
          }, m);
          let from = s.node;
          probe.path.forEach((h, i) => {
            attempted.hop++;
            add(hop, hopOwner, `h ${s.node} ${probe.dst_node} ${i + 1} ${ptime}`, {
              n: 0, time: ptime, src: s.node, dst: probe.dst_node, hop_index: i + 1, from_node: from, to_node: h.node,
              lq: num(h.lq), nlq: num(h.nlq), etx: num(h.etx), link_type: h.link_type ?? null, rtt_ms: num(h.rtt_ms),
              sent_at: psent, clock_skew_s: pskew, extra: rest(h, PROBE_HOP_KEYS),
            }, m);
            from = h.node;
          });
        }
        break;
      }
      case 'crash_report': {
        const c = msg as CrashReport;
        attempted.crash++;
        add(crash, crashOwner, `c ${c.node} ${time}`, {
          n: 0, time, node: c.node, crash_time: c.crash_time ? iso(Date.parse(c.crash_time)) : null,
          signal: num(c.signal), signal_name: num(c.signal_name), reason: num(c.reason),
          restart_count: num(c.restart_count), uptime_before_crash: num(c.uptime_before_crash),
          sent_at: sentIso, clock_skew_s: skew, extra: rest(c, CRASH_KEYS),
        }, m);
        break;
      }
    }
  }

  const nodeRows: NodeRow[] = [...nodes.values()]
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    .map((a) => ({
      node: a.node, first_seen: iso(a.firstMs), last_seen: iso(a.lastMs), last_type: a.last_type,
      agent_version: a.agent_version, routing_daemon: a.routing_daemon, hardware_model: a.hardware_model,
      firmware_version: a.firmware_version, grid_square: a.grid_square, lat: a.lat, lon: a.lon,
      clock_skew_s: a.clock ? a.clock.offsetS : null,
      skew_flagged_at: a.clock?.flagged ? recvIso : null,
      extra: a.extra,
    }));

  return {
    path, hop, health, crash, nodes: nodeRows,
    /** The message each row came from, by row ordinal. */
    pathOwner, hopOwner, healthOwner, crashOwner,
    rowCount, attempted, skewedMessages,
  };
}

interface NodeAttrs {
  agent_version?: string | null;
  routing_daemon?: string | null;
  hardware_model?: string | null;
  firmware_version?: string | null;
  grid_square?: string | null;
  lat?: number | null;
  lon?: number | null;
}

function nodeAcc(nodes: Map<string, NodeAcc>, node: string, timeMs: number): NodeAcc {
  let a = nodes.get(node);
  if (!a) {
    a = {
      node, first_seen: '', last_seen: '', last_type: '', agent_version: null, routing_daemon: null,
      hardware_model: null, firmware_version: null, grid_square: null, lat: null, lon: null,
      clock_skew_s: null, skew_flagged_at: null, extra: {},
      lastSentMs: -Infinity, firstMs: timeMs, lastMs: timeMs, clock: null, lastHealthMs: -Infinity, attrMs: {},
    };
    nodes.set(node, a);
  }
  a.firstMs = Math.min(a.firstMs, timeMs);
  a.lastMs = Math.max(a.lastMs, timeMs);
  return a;
}

/** The newest message (by the agent's clock) that carries an attribute decides it. */
function attr(acc: NodeAcc, sentMs: number, attrs: NodeAttrs) {
  for (const [k, v] of Object.entries(attrs) as Array<[keyof NodeAttrs, string | number | null]>) {
    if (v === null || v === undefined) continue;
    if (sentMs >= (acc.attrMs[k] ?? -Infinity)) {
      acc.attrMs[k] = sentMs;
      (acc as unknown as Record<string, unknown>)[k] = v;
    }
  }
}

export const messageTypeOf = (v: unknown): MessageType | 'unknown' => {
  const t = (v as { type?: unknown } | null)?.type;
  return typeof t === 'string' && (MESSAGE_TYPES as readonly string[]).includes(t) ? (t as MessageType) : 'unknown';
};
