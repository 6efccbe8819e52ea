import { MESSAGE_TYPES, SCHEMA_VERSION, type Drop, type DropReason, type MessageType } from './ingest.schema.ts';

// Reads agent messages the way the contract's "Ingest rules" ask: per
// message, per probe, per hop, per value. A message whose schema, type,
// sender and sent_at can be read is kept; every part of it that cannot be used
// is dropped alone with its field path and a reason. Pure: no database, no
// clock; names are resolved and times judged afterwards (ingest.addresses.ts,
// ingest.clock.ts).
//
// Hand-written rather than zod: the same checks, but one pass that keeps the
// good parts of a bad message, at a fraction of the cost per message.

/** The kinds of measurement, one per table. */
export const KINDS = ['path', 'hop', 'health', 'crash'] as const;
export type Kind = (typeof KINDS)[number];

/** A readable message. */
export interface Reading {
  /** Its index in the request body. */
  index: number;
  type: MessageType;
  /** The sender: src of path/hop results, node of the rest. */
  node: string;
  sentMs: number;
  /** Node attributes it carries, for the registry. */
  attrs: NodeAttrs;
  /** agent_health's scalar self-reports (uptime, restarts, …): the node's latest state. */
  state: Record<string, unknown> | null;
}

export interface NodeAttrs {
  agent_version?: string | null;
  routing_daemon?: string | null;
  hardware_model?: string | null;
  firmware_version?: string | null;
  grid_square?: string | null;
  lat?: number | null;
  lon?: number | null;
}

/** Fields every measurement carries. */
interface Measured {
  /** Position of its message in `Read.readings`. */
  msg: number;
  /** The agent's own time of the measurement. */
  atMs: number;
  /** Reasons of the values dropped from it (the measurement itself is stored). */
  bad: DropReason[];
}

export interface PathReading extends Measured {
  src: string;
  /** A name or an address; a probe's is chosen once names are resolved (see dstName, dstIp). */
  dst: string | null;
  /** A probe's destination as the agent named it (null: empty or unreadable). */
  dstName: string | null;
  /** A probe's last hop, when readable: its destination when dst_node is unusable. */
  dstHop: string | null;
  /** A probe's dst_ip, the identity of last resort. */
  dstIp: string | null;
  /** Hops src first, dst last; [] when unknown. Probes: [src, ...path]. */
  route: string[];
  rtt_ms: number | null;
  jitter_ms: number | null;
  loss_pct: number | null;
  window_s: number;
  source: 'path_result' | 'network_status';
  agent_version: string | null;
  agent_cpu_pct: number | null;
  agent_mem_mb: number | null;
  extra: Record<string, unknown> | null;
  /** Drop path prefix of this measurement ("" for a path_result, "probes.3" for a probe). */
  at: string;
  /** Hops of a probe (hop_index = position + 1), for the hop rows. */
  hops: HopReading[];
}

export interface HopReading extends Measured {
  src: string;
  /** The probe's destination; set once it is chosen. */
  dst: string | null;
  hop_index: number;
  from_node: string;
  to_node: string;
  lq: number | null;
  nlq: number | null;
  etx: number | null;
  link_type: string | null;
  rtt_ms: number | null;
  extra: Record<string, unknown> | null;
}

export interface HealthReading extends Measured {
  node: string;
  cpu_pct: number | null;
  mem_mb: number | null;
  queue_len: number | null;
  neighbors_seen: number | null;
  extra: Record<string, unknown> | null;
}

export interface CrashReading extends Measured {
  node: string;
  crash_time: string | null;
  signal: number | null;
  signal_name: string | null;
  reason: string | null;
  restart_count: number | null;
  uptime_before_crash: number | null;
  extra: Record<string, unknown> | null;
}

/** A measurement dropped whole, counted against its sender when it has one. */
export interface DroppedMeasurement {
  /** Body index of its message. */
  index: number;
  node: string | null;
  kind: Kind;
  reason: DropReason;
}

export interface Read {
  /** Messages in the body. */
  messages: number;
  readings: Reading[];
  /** Messages that could not be read (their drop is in `drops`); `measurements`: how many they held. */
  skipped: Array<{ index: number; node: string | null; type: MessageType | null; reason: DropReason; measurements: number }>;
  paths: PathReading[];
  /** Hops of path_result's hop_result messages; probes' hops hang off their PathReading. */
  hops: HopReading[];
  healths: HealthReading[];
  crashes: CrashReading[];
  /** Every drop, in body order: whole messages, measurements and values. */
  drops: Drop[];
  /** The measurements dropped whole. */
  dropped: DroppedMeasurement[];
}

// PostgreSQL column limits: a bigger value is dropped here, not refused by the INSERT.
const INT2_MAX = 32_767;
const INT4_MAX = 2_147_483_647;
/**
 * Unknown fields are stored as jsonb; PostgreSQL's JSON parser recurses, so a
 * deeply nested value could exhaust its stack. Real agents nest 3 levels.
 */
export const MAX_JSON_DEPTH = 16;
const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

const NAME_RE = /^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*$/;
const MESH_SUFFIX = /\.local\.mesh\.?$/i;
/** The longest node name: an AREDN hostname is at most 63 characters. */
export const MAX_NAME = 63;

/**
 * A node name as agents send it: hostname-like, at most 63 characters once a
 * trailing ".local.mesh" (the mesh's DNS domain) is taken off, so
 * "KX6ABC-HAP-2.local.mesh" and "KX6ABC-HAP-2" are the same node. Null when
 * it is not a usable name.
 */
export function nodeName(v: unknown): string | null {
  if (typeof v !== 'string' || v.length === 0 || v.length > 253) return null;
  const s = MESH_SUFFIX.test(v) ? v.replace(MESH_SUFFIX, '') : v;
  return s.length > 0 && s.length <= MAX_NAME && NAME_RE.test(s) ? s : null;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Epoch ms of an ISO-8601 date-time with a zone, on a real calendar day, between years 1 and 9999; else null. */
export function readTime(v: unknown): number | null {
  if (typeof v !== 'string' || v.length > 40) return null;
  const m = ISO_RE.exec(v);
  if (!m) return null;
  const [y, mo, d, h, mi, s, oh, om] = [m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]].map((x) => (x === undefined ? 0 : Number(x)));
  const leap = (y! % 4 === 0 && y! % 100 !== 0) || y! % 400 === 0;
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > (mo === 2 && !leap ? 28 : DAYS[mo! - 1]!)) return null;
  if (h! > 23 || mi! > 59 || s! > 59 || oh! > 23 || om! > 59) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) && ms >= FIRST_INSTANT && ms <= LAST_INSTANT ? ms : null;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Values the upstream agent sends for "don't know". */
const UNKNOWN = new Set(['', 'unknown', 'n/a', 'na', 'none', 'null', '-']);
export function known(v: unknown): string | null {
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
export function put(obj: Record<string, unknown>, k: string, v: unknown) {
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

/** What the drop of one value says, for the answer. */
const REASON_TEXT: Record<DropReason, string> = {
  not_an_object: 'is not a JSON object',
  unknown_schema: `is not "${SCHEMA_VERSION}"`,
  unknown_type: `is not one of ${MESSAGE_TYPES.join(', ')}`,
  bad_sender: 'is not a usable node name (hostname-like, at most 63 characters)',
  bad_sent_at: 'is not an ISO-8601 date-time with a zone (Z or ±hh:mm) between years 1 and 9999',
  node_limit: 'comes from a new node, and the collector already knows MAX_NODES nodes; raise MAX_NODES to admit it',
  no_destination: 'names no usable destination (no dst, dst_node, last hop or dst_ip)',
  bad_timestamp: 'is not an ISO-8601 date-time with a zone (Z or ±hh:mm) between years 1 and 9999',
  bad_probe: 'is not a probe object',
  bad_hop: 'is not a usable hop (a hostname-like node, or hop_index and hop.from/hop.to)',
  dst_node_empty: 'is empty: the agent could not name the destination (it cannot parse its routing daemon\'s output); identified by dst_ip, stored without hops',
  bad_node_name: 'is not a usable node name (hostname-like, at most 63 characters)',
  bad_route: 'is not a hop list from src to dst of usable node names',
  out_of_range: 'is outside its physical range',
  not_a_number: 'is not a finite number',
  wrong_type: 'has the wrong JSON type',
  too_long: 'is too long',
  too_deep: `is nested deeper than ${MAX_JSON_DEPTH} levels (dropped from the stored extra fields)`,
};

export const reasonText = (r: DropReason) => REASON_TEXT[r];

/** Reads one message or a batch. Pure. */
export function readMessages(body: unknown): Read {
  const items = Array.isArray(body) ? body : [body];
  const out: Read = { messages: items.length, readings: [], skipped: [], paths: [], hops: [], healths: [], crashes: [], drops: [], dropped: [] };
  for (let index = 0; index < items.length; index++) readOne(items[index], index, out);
  return out;
}

const MESSAGE_TYPE_SET: ReadonlySet<string> = new Set(MESSAGE_TYPES);

function readOne(item: unknown, index: number, out: Read) {
  const drop = (path: string, reason: DropReason, detail?: string) =>
    out.drops.push({ index, path, reason, message: detail ?? REASON_TEXT[reason] });

  if (!isObject(item)) {
    drop('', 'not_an_object');
    out.skipped.push({ index, node: null, type: null, reason: 'not_an_object', measurements: 0 });
    return;
  }
  const type = typeof item.type === 'string' && MESSAGE_TYPE_SET.has(item.type) ? (item.type as MessageType) : null;
  const senderKey = type === 'path_result' || type === 'hop_result' ? 'src' : 'node';
  const node = nodeName(item[senderKey]);
  const sentMs = readTime(item.sent_at);
  const header: Array<[string, DropReason] | null> = [
    item.schema !== SCHEMA_VERSION ? ['schema', 'unknown_schema'] : null,
    type === null ? ['type', 'unknown_type'] : null,
    type !== null && node === null ? [senderKey, 'bad_sender'] : null,
    sentMs === null ? ['sent_at', 'bad_sent_at'] : null,
  ];
  const failed = header.filter((h): h is [string, DropReason] => h !== null);
  if (failed.length) {
    const [path, reason] = failed[0]!;
    const also = failed.slice(1).map(([p]) => p);
    drop(path, reason, REASON_TEXT[reason] + (also.length ? `; also unreadable: ${also.join(', ')}` : '') + '; the message was skipped');
    // Its measurements are lost with it: counted against the sender.
    const kinds = type ? claimedKinds(type, item) : [];
    for (const kind of kinds) out.dropped.push({ index, node, kind, reason });
    out.skipped.push({ index, node, type, reason, measurements: kinds.length });
    return;
  }

  const deep = prune(item, MAX_JSON_DEPTH);
  if (deep !== null) drop(deep, 'too_deep');

  const msg = out.readings.length;
  const reading: Reading = { index, type: type!, node: node!, sentMs: sentMs!, attrs: {}, state: null };
  out.readings.push(reading);
  const ctx: Ctx = { index, msg, out, drop };
  switch (type!) {
    case 'path_result': return readPathResult(item, reading, ctx);
    case 'hop_result': return readHopResult(item, reading, ctx);
    case 'agent_health': return readHealth(item, reading, ctx);
    case 'network_status': return readStatus(item, reading, ctx);
    case 'crash_report': return readCrash(item, reading, ctx);
  }
}

/** The measurements an unreadable message of this type would have held. */
function claimedKinds(type: MessageType, item: Record<string, unknown>): Kind[] {
  switch (type) {
    case 'path_result': return ['path'];
    case 'hop_result': return ['hop'];
    case 'agent_health': return ['health'];
    case 'crash_report': return ['crash'];
    case 'network_status': {
      const out: Kind[] = [];
      if (!Array.isArray(item.probes)) return out;
      for (const p of item.probes) {
        out.push('path');
        if (isObject(p) && Array.isArray(p.path)) for (let i = 0; i < p.path.length; i++) out.push('hop');
      }
      return out;
    }
  }
}

interface Ctx {
  index: number;
  msg: number;
  out: Read;
  drop(path: string, reason: DropReason, detail?: string): void;
}

const join = (prefix: string, key: string | number) => (prefix ? `${prefix}.${key}` : String(key));

/**
 * A number field: null when absent or null; dropped (with its path) when it
 * is not a finite number or outside [min, max]. `zeroUnknown`: a 0 is what an
 * agent sends for a value it never fills, so it is unknown (null), not bad.
 */
function num(
  obj: Record<string, unknown> | null | undefined, key: string, at: string, ctx: Ctx, bad: DropReason[] | null,
  range: { min?: number; max?: number; int?: boolean; zeroUnknown?: boolean } = {},
): number | null {
  const v = obj?.[key];
  if (v === undefined || v === null) return null;
  const path = join(at, key);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    ctx.drop(path, 'not_a_number', `${REASON_TEXT.not_a_number}: ${short(v)}`);
    bad?.push('not_a_number');
    return null;
  }
  if (range.zeroUnknown && v === 0) return null;
  if ((range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max) || (range.int && !Number.isInteger(v))) {
    const what = range.int ? 'an integer' : 'a number';
    const lim = range.max !== undefined ? ` in ${range.min ?? '−∞'}…${range.max}` : range.min !== undefined ? ` ≥ ${range.min}` : '';
    ctx.drop(path, 'out_of_range', `${v} is not ${what}${lim}`);
    bad?.push('out_of_range');
    return null;
  }
  return v;
}

/** A text field: null when absent or null; dropped when not a string or longer than `max`. */
function text(obj: Record<string, unknown> | null | undefined, key: string, at: string, ctx: Ctx, bad: DropReason[] | null, max: number): string | null {
  const v = obj?.[key];
  if (v === undefined || v === null) return null;
  const path = join(at, key);
  if (typeof v !== 'string') {
    ctx.drop(path, 'wrong_type', `${REASON_TEXT.wrong_type}: a string is expected, not ${short(v)}`);
    bad?.push('wrong_type');
    return null;
  }
  if (v.length > max) {
    ctx.drop(path, 'too_long', `is ${v.length} characters; at most ${max} are kept`);
    bad?.push('too_long');
    return null;
  }
  return v;
}

function object(obj: Record<string, unknown>, key: string, at: string, ctx: Ctx, bad: DropReason[]): Record<string, unknown> | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (isObject(v)) return v;
  ctx.drop(join(at, key), 'wrong_type', `${REASON_TEXT.wrong_type}: an object is expected, not ${short(v)}`);
  bad.push('wrong_type');
  return null;
}

function short(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return 'an array';
  return v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
}

/** Path metrics: loss 100 % with an RTT or jitter of 0 means no echo came back, not an instant one. */
function metrics(obj: Record<string, unknown> | null, keysOf: { rtt: string; jitter: string; loss: string }, at: string, ctx: Ctx, bad: DropReason[]) {
  const loss = num(obj, keysOf.loss, at, ctx, bad, { min: 0, max: 100 });
  let rtt = num(obj, keysOf.rtt, at, ctx, bad, { min: 0 });
  let jitter = num(obj, keysOf.jitter, at, ctx, bad, { min: 0 });
  if (loss === 100) {
    if (rtt === 0) rtt = null;
    if (jitter === 0) jitter = null;
  }
  return { rtt, jitter, loss };
}

function readPathResult(m: Record<string, unknown>, r: Reading, ctx: Ctx) {
  const bad: DropReason[] = [];
  const dst = nodeName(m.dst);
  if (dst === null) {
    ctx.drop('dst', 'no_destination', `${REASON_TEXT.bad_node_name}; the path result was dropped`);
    ctx.out.dropped.push({ index: ctx.index, node: r.node, kind: 'path', reason: 'no_destination' });
    return;
  }
  let window = 5;
  if (m.window_s !== undefined && m.window_s !== null) window = num(m, 'window_s', '', ctx, bad, { min: 1, max: INT2_MAX, int: true }) ?? 5;
  let route: string[] = [];
  if (m.route !== undefined && m.route !== null) {
    const names = Array.isArray(m.route) && m.route.length <= 255 ? m.route.map(nodeName) : null;
    if (names && names.every((n) => n !== null)) route = names as string[];
    else {
      ctx.drop('route', 'bad_route');
      bad.push('bad_route');
    }
  }
  const met = object(m, 'metrics', '', ctx, bad);
  const { rtt, jitter, loss } = metrics(met, { rtt: 'rtt_ms_avg', jitter: 'jitter_ms_rfc3550', loss: 'loss_pct' }, 'metrics', ctx, bad);
  const agent = object(m, 'agent', '', ctx, bad);
  const ver = text(agent, 'ver', 'agent', ctx, bad, 64);
  const reading: PathReading = {
    msg: ctx.msg, atMs: r.sentMs, bad, src: r.node, dst, dstName: dst, dstHop: null, dstIp: null, route,
    rtt_ms: rtt, jitter_ms: jitter, loss_pct: loss, window_s: window, source: 'path_result',
    agent_version: ver, agent_cpu_pct: num(agent, 'cpu_pct', 'agent', ctx, bad, { min: 0, max: 100 }),
    agent_mem_mb: num(agent, 'mem_mb', 'agent', ctx, bad, { min: 0 }),
    extra: merge([null, rest(m, PATH_KEYS)], ['metrics', rest(met, METRIC_KEYS)], ['agent', rest(agent, AGENT_KEYS)]),
    at: '', hops: [],
  };
  ctx.out.paths.push(reading);
  r.attrs.agent_version = known(ver);
}

function readHopResult(m: Record<string, unknown>, r: Reading, ctx: Ctx) {
  const bad: DropReason[] = [];
  const lost = (path: string, reason: DropReason, detail?: string) => {
    ctx.drop(path, reason, (detail ?? REASON_TEXT[reason]) + '; the hop result was dropped');
    ctx.out.dropped.push({ index: ctx.index, node: r.node, kind: 'hop', reason });
  };
  const dst = nodeName(m.dst);
  if (dst === null) return lost('dst', 'no_destination', REASON_TEXT.bad_node_name);
  const idx = m.hop_index;
  if (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0 || idx > INT2_MAX) return lost('hop_index', 'bad_hop', `hop_index ${short(idx)} is not an integer in 0…${INT2_MAX}`);
  const hop = isObject(m.hop) ? m.hop : null;
  const from = nodeName(hop?.from);
  const to = nodeName(hop?.to);
  if (from === null || to === null) return lost(hop ? (from === null ? 'hop.from' : 'hop.to') : 'hop', 'bad_hop');
  const l2 = object(m, 'l2', '', ctx, bad);
  ctx.out.hops.push({
    msg: ctx.msg, atMs: r.sentMs, bad, src: r.node, dst, hop_index: idx, from_node: from, to_node: to,
    lq: num(l2, 'lq', 'l2', ctx, bad, { min: 0, max: 1, zeroUnknown: true }),
    nlq: num(l2, 'nlq', 'l2', ctx, bad, { min: 0, max: 1, zeroUnknown: true }),
    etx: num(l2, 'etx', 'l2', ctx, bad, { min: 1, zeroUnknown: true }),
    link_type: null,
    rtt_ms: null,
    extra: merge([null, rest(m, HOP_KEYS)], ['hop', rest(hop, HOP_ENDS_KEYS)], ['l2', rest(l2, L2_KEYS)]),
  });
}

function readHealth(m: Record<string, unknown>, r: Reading, ctx: Ctx) {
  const bad: DropReason[] = [];
  ctx.out.healths.push({
    msg: ctx.msg, atMs: r.sentMs, bad, node: r.node,
    cpu_pct: num(m, 'cpu_pct', '', ctx, bad, { min: 0, max: 100 }),
    mem_mb: num(m, 'mem_mb', '', ctx, bad, { min: 0 }),
    queue_len: num(m, 'queue_len', '', ctx, bad, { min: 0, max: INT4_MAX, int: true }),
    neighbors_seen: num(m, 'neighbors_seen', '', ctx, bad, { min: 0, max: INT4_MAX, int: true }),
    extra: rest(m, HEALTH_KEYS),
  });
  const lat = coordinate(m.lat, 90);
  const lon = coordinate(m.lon, 180);
  r.attrs = {
    agent_version: known(text(m, 'agent_version', '', ctx, bad, 64)),
    routing_daemon: known(text(m, 'routing_daemon', '', ctx, bad, 32)),
    hardware_model: known(text(m, 'hardware_model', '', ctx, bad, 128)),
    firmware_version: known(text(m, 'firmware_version', '', ctx, bad, 64)),
    grid_square: known(text(m, 'grid_square', '', ctx, bad, 16)),
    // A position is both coordinates or nothing.
    lat: lat !== null && lon !== null ? lat : null,
    lon: lat !== null && lon !== null ? lon : null,
  };
  const state = rest(m, HEALTH_STATE_SKIP);
  if (state) {
    const scalars: Record<string, unknown> = {};
    let any = false;
    for (const k in state) {
      const v = state[k];
      if (v === null || typeof v !== 'object') {
        put(scalars, k, v);
        any = true;
      }
    }
    if (any) r.state = scalars;
  }
}

function readCrash(m: Record<string, unknown>, r: Reading, ctx: Ctx) {
  const bad: DropReason[] = [];
  let crashTime: string | null = null;
  if (m.crash_time !== undefined && m.crash_time !== null) {
    const ms = readTime(m.crash_time);
    if (ms === null) {
      ctx.drop('crash_time', 'bad_timestamp');
      bad.push('bad_timestamp');
    } else crashTime = new Date(ms).toISOString();
  }
  ctx.out.crashes.push({
    msg: ctx.msg, atMs: r.sentMs, bad, node: r.node, crash_time: crashTime,
    signal: num(m, 'signal', '', ctx, bad, { min: 0, max: INT4_MAX, int: true }),
    signal_name: text(m, 'signal_name', '', ctx, bad, 32),
    reason: text(m, 'reason', '', ctx, bad, 1024),
    restart_count: num(m, 'restart_count', '', ctx, bad, { min: 0, max: INT4_MAX, int: true }),
    uptime_before_crash: num(m, 'uptime_before_crash', '', ctx, bad, { min: 0, max: Number.MAX_SAFE_INTEGER, int: true }),
    extra: rest(m, CRASH_KEYS),
  });
}

/** AREDN's link types as the agent names them; "unknown" is no information. */
function linkType(v: string | null): string | null {
  return v === null ? null : known(v);
}

function readStatus(m: Record<string, unknown>, r: Reading, ctx: Ctx) {
  const headerBad: DropReason[] = [];
  const daemon = known(text(m, 'routing_daemon', '', ctx, headerBad, 32));
  r.attrs.routing_daemon = daemon;
  if (!Array.isArray(m.probes)) {
    ctx.drop('probes', 'wrong_type', m.probes === undefined ? 'is missing: the report holds no probes' : `${REASON_TEXT.wrong_type}: an array is expected, not ${short(m.probes)}`);
    return;
  }
  // The report's own fields (its sent_at, routing_daemon, probe_count, …) travel with each probe.
  const report = { sent_at: new Date(r.sentMs).toISOString(), ...rest(m, STATUS_KEYS) };
  let probeDaemon: string | null = null;
  m.probes.forEach((p, i) => {
    const d = readProbe(p, `probes.${i}`, daemon, report, r, ctx);
    probeDaemon ??= d;
  });
  r.attrs.routing_daemon ??= probeDaemon;
}

/** One probe: a path result from the reporting node to its destination at its timestamp. Returns its routing daemon. */
function readProbe(p: unknown, at: string, reportDaemon: string | null, report: Record<string, unknown>, r: Reading, ctx: Ctx): string | null {
  const hopCount = isObject(p) && Array.isArray(p.path) ? p.path.length : 0;
  const lost = (path: string, reason: DropReason, detail?: string) => {
    ctx.drop(path, reason, (detail ?? REASON_TEXT[reason]) + '; the probe was dropped');
    ctx.out.dropped.push({ index: ctx.index, node: r.node, kind: 'path', reason });
    for (let h = 0; h < hopCount; h++) ctx.out.dropped.push({ index: ctx.index, node: r.node, kind: 'hop', reason });
    return null;
  };
  if (!isObject(p)) return lost(at, 'bad_probe');
  const atMs = readTime(p.timestamp);
  if (atMs === null) return lost(join(at, 'timestamp'), 'bad_timestamp');
  const bad: DropReason[] = [];
  const daemon = known(text(p, 'routing_daemon', at, ctx, bad, 32)) ?? reportDaemon;
  const babel = daemon?.toLowerCase() === 'babel';
  const olsr = daemon?.toLowerCase() === 'olsr';

  const unnamed = p.dst_node === undefined || p.dst_node === null || p.dst_node === '';
  const dstName = unnamed ? null : nodeName(p.dst_node);
  const dstIp = nodeName(p.dst_ip);
  const last = Array.isArray(p.path) && p.path.length ? p.path[p.path.length - 1] : null;
  const dstHop = isObject(last) ? nodeName(last.node) : null;
  if (dstName === null && dstHop === null && dstIp === null) {
    return lost(join(at, 'dst_node'), 'no_destination', unnamed ? `is ${p.dst_node === '' ? 'empty' : 'missing'}, and neither a last hop nor dst_ip names the destination` : undefined);
  }
  if (dstName === null) {
    const by = dstHop !== null ? 'its last hop' : 'dst_ip, stored without hops';
    if (unnamed) ctx.drop(join(at, 'dst_node'), 'dst_node_empty', `is ${p.dst_node === '' ? 'empty' : 'missing'}: the agent could not name the destination (it cannot parse its routing daemon's output); identified by ${by}`);
    else ctx.drop(join(at, 'dst_node'), 'bad_node_name', `${REASON_TEXT.bad_node_name}: ${short(p.dst_node)}; identified by ${by}`);
    bad.push(unnamed ? 'dst_node_empty' : 'bad_node_name');
  }

  // Hop i goes from the previous entry (the source for the first) to path[i].node.
  const hops: HopReading[] = [];
  let route: string[] = [];
  if (p.path !== undefined && p.path !== null && !Array.isArray(p.path)) {
    ctx.drop(join(at, 'path'), 'wrong_type', `${REASON_TEXT.wrong_type}: an array is expected; stored without hops`);
    bad.push('wrong_type');
  } else if (Array.isArray(p.path) && p.path.length > 0) {
    const path = p.path;
    const names = path.map((h) => (isObject(h) ? nodeName(h.node) : null));
    const whole = names.every((n) => n !== null) && path.length <= 255;
    if (whole) route = [r.node, ...(names as string[])];
    path.forEach((h, j) => {
      const hat = join(join(at, 'path'), j);
      const to = names[j];
      // A hop after an unreadable one has no known start.
      const from = j === 0 ? r.node : names[j - 1];
      if (j >= 255 || !isObject(h) || to === null || to === undefined || from === null || from === undefined) {
        const why = j >= 255 ? 'is past the 255th hop' : !isObject(h) ? REASON_TEXT.wrong_type : to === null ? `node ${REASON_TEXT.bad_node_name}` : 'follows an unreadable hop';
        ctx.drop(isObject(h) && to === null ? join(hat, 'node') : hat, 'bad_hop', `${why}; the hop was dropped`);
        ctx.out.dropped.push({ index: ctx.index, node: r.node, kind: 'hop', reason: 'bad_hop' });
        return;
      }
      const hbad: DropReason[] = [];
      const hop = h as Record<string, unknown>;
      let etx = num(hop, 'etx', hat, ctx, hbad, { min: 0 });
      let extra = rest(hop, PROBE_HOP_KEYS);
      if (etx !== null && (babel || (!olsr && etx > 0 && etx < 1))) {
        // Babel's metric / 256 (below 1 on a good link): kept, never taken for an ETX.
        extra ??= {};
        put(extra, 'babel_metric', Math.round(etx * 256));
        etx = null;
      } else if (etx === 0) etx = null;
      else if (etx !== null && etx < 1) {
        ctx.drop(join(hat, 'etx'), 'out_of_range', `${etx} is not an ETX (≥ 1)`);
        hbad.push('out_of_range');
        etx = null;
      }
      hops.push({
        msg: ctx.msg, atMs, bad: hbad, src: r.node, dst: null, hop_index: j + 1, from_node: from, to_node: to,
        lq: num(hop, 'lq', hat, ctx, hbad, { min: 0, max: 1, zeroUnknown: true }),
        nlq: num(hop, 'nlq', hat, ctx, hbad, { min: 0, max: 1, zeroUnknown: true }),
        etx,
        link_type: linkType(text(hop, 'link_type', hat, ctx, hbad, 32)),
        // The agent never fills a hop's RTT: 0 is unknown.
        rtt_ms: num(hop, 'rtt_ms', hat, ctx, hbad, { min: 0, zeroUnknown: true }),
        extra,
      });
    });
  }

  const { rtt, jitter, loss } = metrics(p, { rtt: 'rtt_ms_avg', jitter: 'jitter_ms', loss: 'loss_pct' }, at, ctx, bad);
  ctx.out.paths.push({
    msg: ctx.msg, atMs, bad, src: r.node, dst: null, dstName, dstHop, dstIp, route,
    rtt_ms: rtt, jitter_ms: jitter, loss_pct: loss, window_s: 5, source: 'network_status',
    agent_version: null, agent_cpu_pct: null, agent_mem_mb: null,
    // An unusable dst_node is kept as sent, beside dst_ip (always kept).
    extra: merge([null, rest(p, PROBE_KEYS)], [null, dstName === null && p.dst_node !== undefined ? { dst_node: p.dst_node } : null], ['report', report]),
    at, hops,
  });
  return daemon;
}

/**
 * Replaces every value nested `limit` levels deep by null; returns the dotted
 * path of the first, or null when there was none. The message is the
 * request's own parsed JSON, so it is changed in place.
 */
function prune(v: unknown, limit: number, path = '', depth = 0): string | null {
  if (v === null || typeof v !== 'object') return null;
  let first: string | null = null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = path ? `${path}.${i}` : String(i);
      const x = v[i];
      if (x !== null && typeof x === 'object' && depth + 1 >= limit) {
        v[i] = null;
        first ??= p;
      } else first ??= prune(x, limit, p, depth + 1) ?? first;
    }
  } else {
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const p = path ? `${path}.${k}` : k;
      const x = o[k];
      if (x !== null && typeof x === 'object' && depth + 1 >= limit) {
        put(o, k, null);
        first ??= p;
      } else {
        const f = prune(x, limit, p, depth + 1);
        first ??= f;
      }
    }
  }
  return first;
}