import type { Config } from '../config.ts';
import type { Executor } from '../db/database.ts';
import { REKEY_HORIZON_MS, rekeySpan } from './addresses.service.ts';
import { AddressBook, isAddress, isMeshAddress, type LearnedPair } from './ingest.addresses.ts';
import { judgeClocks, type ClockPlan } from './ingest.clock.ts';
import { readMessages, reasonText, type HopReading, type Kind, type NodeAttrs, type PathReading, type Read, type Reading } from './ingest.read.ts';
import {
  countNodes,
  lockNodeAdmission,
  lookupAddresses,
  registeredNodes,
  saveAddressPairs,
  storeRows,
  type AgentHealthRow,
  type CrashReportRow,
  type HopQualityRow,
  type NodeRow,
  type PathProbeRow,
  type RowSet,
} from './ingest.repository.ts';
import { MESSAGE_TYPES, type Drop, type DropReason, type IngestResult, type MessageType, type TypeCounts } from './ingest.schema.ts';

export { readMessages as parseMessages } from './ingest.read.ts';
export type { Read as ParsedMessages } from './ingest.read.ts';

/** The answer lists this many drops; `dropped.total` counts them all. */
export const MAX_LISTED_DROPS = 100;
/** Addresses learnt per known node at most (a node has a handful of interfaces). */
const ADDRESSES_PER_NODE = 4;

/**
 * Nodes this process knows are in the registry: a request whose senders are
 * all known costs no read for the MAX_NODES check. Only grows (a node, once
 * registered, stays); bounded by MAX_NODES.
 */
export class KnownNodes {
  private readonly names = new Set<string>();
  has(node: string): boolean {
    return this.names.has(node);
  }
  add(nodes: Iterable<string>): void {
    for (const n of nodes) this.names.add(n);
  }
}

export interface StoreContext {
  /** The collector's receive time (replay: the simulated tick). */
  receivedAt: Date;
  config: Config;
  /** This process's caches; without them every lookup reads the tables (replay, tools). */
  book?: AddressBook;
  known?: KnownNodes;
}

/** What storing a request did, beyond its answer. */
export interface StoreOutcome {
  /** False when nothing in the request was usable: nothing was written, the caller answers 4xx with `drops`. */
  usable: boolean;
  result: IngestResult;
  /** Every drop (the answer lists the first MAX_LISTED_DROPS). */
  drops: Drop[];
  /** Pairs saved now: once committed, rows recorded under these addresses are to be re-keyed. */
  learned: Array<{ address: string; node: string }>;
  /** Mesh addresses still without a name: for the resolver. */
  unknownAddresses: string[];
  /** Nodes registered now (for KnownNodes, once committed). */
  registered: string[];
  /** New senders refused because the registry is full. */
  refusedNodes: string[];
  /** Body indexes of the messages skipped whole (unreadable, or from a refused node). */
  skippedIndexes: number[];
  /** Drops counted per reason where the operator looks (registry, metrics): new measurements only. */
  counted: Partial<Record<DropReason, number>>;
}

export const zeroCounts = (): TypeCounts => ({ path_result: 0, hop_result: 0, agent_health: 0, network_status: 0, crash_report: 0 });

/**
 * Stores what a request's messages hold, inside the caller's transaction
 * (one per request): admits their senders (MAX_NODES), names addresses,
 * judges clocks, and writes every usable measurement in one statement,
 * repeats skipped. Nothing is written when nothing is usable.
 */
export async function storeMessages(db: Executor, read: Read, ctx: StoreContext): Promise<StoreOutcome> {
  const { config } = ctx;
  const recvMs = ctx.receivedAt.getTime();
  const drops = [...read.drops];
  const dropped = [...read.dropped];

  // Pairs this request teaches name everything in it, its senders included,
  // so that its repeats are recognised under the name.
  const pairs = await learnPairs(db, read.paths, read.hops, ctx);
  // A sender named by an address whose name is known is that node.
  await nameSenders(db, read, dropped, ctx, pairs.map);

  // MAX_NODES: new senders beyond it are refused with everything they sent.
  const senders = new Set<string>(read.readings.map((r) => r.node));
  for (const s of read.skipped) if (s.node) senders.add(s.node);
  const { refused, registered } = await admit(db, [...senders], ctx);
  const live = read.readings.map((r) => !refused.has(r.node));
  if (refused.size) {
    read.readings.forEach((r, i) => {
      if (live[i]) return;
      drops.push({ index: r.index, path: r.type === 'path_result' || r.type === 'hop_result' ? 'src' : 'node', reason: 'node_limit', message: `${reasonText('node_limit')} (MAX_NODES=${config.MAX_NODES}); the message was skipped` });
    });
    const lost = (msg: number, kind: Kind) => dropped.push({ index: read.readings[msg]!.index, node: null, kind, reason: 'node_limit' });
    for (const p of read.paths) if (!live[p.msg]) { lost(p.msg, 'path'); for (const _ of p.hops) lost(p.msg, 'hop'); }
    for (const h of read.hops) if (!live[h.msg]) lost(h.msg, 'hop');
    for (const h of read.healths) if (!live[h.msg]) lost(h.msg, 'health');
    for (const c of read.crashes) if (!live[c.msg]) lost(c.msg, 'crash');
    // Their unreadable messages are not counted against them: they are not registered.
    for (const d of dropped) if (d.node && refused.has(d.node)) d.node = null;
  }
  const paths = read.paths.filter((p) => live[p.msg]);
  const hops = read.hops.filter((h) => live[h.msg]);
  const healths = read.healths.filter((h) => live[h.msg]);
  const crashes = read.crashes.filter((c) => live[c.msg]);
  const readable = read.readings.filter((_, i) => live[i]).length;

  // Counted where the operator looks: every measurement dropped whole (those
  // of a skipped message too), a skipped message that held none, and below,
  // the values dropped from measurements stored now (a repeat's are not counted again).
  // A readable message without measurements (a report whose probes cannot be
  // read) counts its own drops, once each.
  const counted: Partial<Record<DropReason, number>> = {};
  const tally = (r: DropReason, n = 1) => { counted[r] = (counted[r] ?? 0) + n; };
  for (const d of dropped) tally(d.reason);
  for (const s of read.skipped) if (s.measurements === 0) tally(s.reason);
  const measured = measuredMessages(read);
  const empty = new Set<number>();
  read.readings.forEach((r, i) => {
    if (measured.has(r.index)) return;
    if (live[i]) empty.add(r.index);
    else tally('node_limit');
  });
  for (const d of read.drops) if (empty.has(d.index)) tally(d.reason);

  const outcome = (usable: boolean, result: IngestResult, extra: Partial<StoreOutcome> = {}): StoreOutcome => ({
    usable, result, drops: sortDrops(drops), learned: [], unknownAddresses: [], registered: [], refusedNodes: [...refused].sort(), counted,
    skippedIndexes: [...read.skipped.map((k) => k.index), ...read.readings.filter((_, i) => !live[i]).map((r) => r.index)],
    ...extra,
  });
  if (readable === 0) return outcome(false, emptyResult(read, drops, dropped));

  const names = { ...pairs, ...nameAddresses(read.readings, paths, hops, pairs) };
  for (const d of names.drops) drops.push(d);

  const plan = judgeClocks(
    read.readings.map((r, i) => ({ node: r.node, sentMs: r.sentMs, times: r.type === 'network_status' ? probeTimes(paths, i) : [] })),
    { recvMs, maxSkewMs: config.MAX_CLOCK_SKEW * 1000, retentionDays: config.RETENTION_RAW_DAYS },
  );

  const rows = toRows(read, live, refused, { paths, hops, healths, crashes }, plan, ctx);
  const droppedStats = new Map<string, { node: string; kind: Kind; reason: DropReason; n: number }>();
  for (const d of dropped) {
    if (!d.node) continue;
    const k = `${d.node}\u0000${d.kind}\u0000${d.reason}`;
    const cur = droppedStats.get(k);
    if (cur) cur.n++;
    else droppedStats.set(k, { node: d.node, kind: d.kind, reason: d.reason, n: 1 });
  }
  const set: RowSet = { ...rows.set, dropped: [...droppedStats.values()] };
  // Earlier rows under a newly named address, as far back as this request reaches.
  const earliest = Math.min(...[set.path, set.hop, set.health, set.crash].flatMap((l) => l.map((r) => Date.parse(r.time))));
  if (names.learned.length && Number.isFinite(earliest)) {
    await rekeySpan(db, names.learned, new Date(Math.max(earliest, recvMs - REKEY_HORIZON_MS)));
  }
  const inserted = await storeRows(db, set, ctx.receivedAt);

  // The reasons of values dropped from measurements stored now count too (a repeat's do not).
  const countBad = (list: Array<{ bad: DropReason[] | null }>, ids: number[]) => {
    for (const n of ids) for (const r of list[n]!.bad ?? []) tally(r);
  };
  countBad(set.path, inserted.path);
  countBad(set.hop, inserted.hop);
  countBad(set.health, inserted.health);
  countBad(set.crash, inserted.crash);

  // A message is new when any of its rows is; one whose rows were all stored before is a duplicate.
  const fresh = new Uint8Array(read.readings.length);
  const mark = (ids: number[], owner: number[]) => { for (const n of ids) fresh[owner[n]!] = 1; };
  mark(inserted.path, rows.pathOwner);
  mark(inserted.hop, rows.hopOwner);
  mark(inserted.health, rows.healthOwner);
  mark(inserted.crash, rows.crashOwner);
  const accepted = zeroCounts();
  const duplicates = zeroCounts();
  read.readings.forEach((r, i) => {
    if (!live[i]) return;
    if (fresh[i] || rows.rowCount[i] === 0) accepted[r.type]++;
    else duplicates[r.type]++;
  });
  const droppedBy = countKinds(dropped);
  const count = (ins: number, total: number, kind: Kind) => ({ inserted: ins, duplicates: total - ins, dropped: droppedBy[kind] });
  const result: IngestResult = {
    messages: read.messages,
    accepted,
    duplicates,
    skipped: read.skipped.length + (read.readings.length - readable),
    rows: {
      path_probe: count(inserted.path.length, rows.attempted.path, 'path'),
      hop_quality: count(inserted.hop.length, rows.attempted.hop, 'hop'),
      agent_health: count(inserted.health.length, rows.attempted.health, 'health'),
      crash_report: count(inserted.crash.length, rows.attempted.crash, 'crash'),
    },
    ...dropSummary(drops),
    clock_skewed: read.readings.filter((_, i) => live[i] && plan.corrected[i]).length,
    nodes: set.nodes.length,
  };
  return outcome(true, result, {
    learned: names.learned,
    unknownAddresses: names.unknown,
    registered: [...registered, ...set.nodes.map((n) => n.node)],
    counted,
  });
}

/** Body indexes of the messages that hold at least one measurement, stored or dropped. */
function measuredMessages(read: Read): Set<number> {
  const out = new Set<number>();
  for (const list of [read.paths, read.hops, read.healths, read.crashes]) for (const m of list) out.add(read.readings[m.msg]!.index);
  for (const d of read.dropped) out.add(d.index);
  return out;
}

function probeTimes(paths: PathReading[], msg: number): number[] {
  const out: number[] = [];
  for (const p of paths) if (p.msg === msg) out.push(p.atMs);
  return out;
}

function countKinds(dropped: Read['dropped']): Record<Kind, number> {
  const out: Record<Kind, number> = { path: 0, hop: 0, health: 0, crash: 0 };
  for (const d of dropped) out[d.kind]++;
  return out;
}

function sortDrops(drops: Drop[]): Drop[] {
  return drops.sort((a, b) => a.index - b.index);
}

function dropSummary(drops: Drop[]): Pick<IngestResult, 'dropped' | 'drops'> {
  const by: Record<string, number> = {};
  for (const d of drops) by[d.reason] = (by[d.reason] ?? 0) + 1;
  return { dropped: { total: drops.length, by_reason: by }, drops: sortDrops(drops).slice(0, MAX_LISTED_DROPS) };
}

function emptyResult(read: Read, drops: Drop[], dropped: Read['dropped']): IngestResult {
  const droppedBy = countKinds(dropped);
  const none = (kind: Kind) => ({ inserted: 0, duplicates: 0, dropped: droppedBy[kind] });
  return {
    messages: read.messages,
    accepted: zeroCounts(),
    duplicates: zeroCounts(),
    skipped: read.messages,
    rows: { path_probe: none('path'), hop_quality: none('hop'), agent_health: none('health'), crash_report: none('crash') },
    ...dropSummary(drops),
    clock_skewed: 0,
    nodes: 0,
  };
}

/**
 * MAX_NODES: the registry takes new senders while it has room; the rest are
 * refused. Known senders cost nothing when the cache knows them.
 */
async function admit(db: Executor, senders: string[], ctx: StoreContext): Promise<{ refused: Set<string>; registered: string[] }> {
  const refused = new Set<string>();
  const unknown = senders.filter((s) => !ctx.known?.has(s));
  if (!unknown.length) return { refused, registered: [] };
  const present = await registeredNodes(db, unknown);
  const fresh = unknown.filter((s) => !present.includes(s)).sort();
  if (!fresh.length) return { refused, registered: present };
  await lockNodeAdmission(db);
  const room = Math.max(0, ctx.config.MAX_NODES - (await countNodes(db)));
  for (const s of fresh.slice(room)) refused.add(s);
  return { refused, registered: present };
}

/**
 * Names addresses: learns pairs from probes that carry both (a named
 * destination whose hop list ends at an address), looks the rest up, and
 * rewrites every address it can; then picks each probe's destination and
 * checks hop lists against their ends.
 */
async function learnPairs(db: Executor, paths: PathReading[], hops: HopReading[], ctx: StoreContext) {
  const { addresses, learnt } = addressesOf(paths, hops);
  const map = await knownNames(db, addresses, ctx);
  const changed = [...learnt.values()].filter((l) => map.get(l.address) !== l.node);
  let learned: Array<{ address: string; node: string }> = [];
  if (changed.length) {
    learned = await saveAddressPairs(db, changed, { now: ctx.receivedAt, source: 'probe', cap: ctx.config.MAX_NODES * ADDRESSES_PER_NODE });
    for (const l of learned) map.set(l.address, l.node);
  }
  return { addresses, map, learned };
}

function nameAddresses(readings: Reading[], paths: PathReading[], hops: HopReading[], known: { addresses: Set<string>; map: Map<string, string> }) {
  const drops = applyNames(readings, paths, hops, known.map);
  const unknown = [...known.addresses].filter((a) => !known.map.has(a) && isMeshAddress(a));
  return { drops, unknown };
}

/** The names known for these addresses: this process's cache first, then node_addresses. */
async function knownNames(db: Executor, addresses: Iterable<string>, ctx: StoreContext): Promise<Map<string, string>> {
  const nowMs = ctx.receivedAt.getTime();
  const map = new Map<string, string>();
  const ask: string[] = [];
  for (const a of addresses) {
    const v = ctx.book?.get(a, nowMs);
    if (v === undefined) ask.push(a);
    else if (v !== null) map.set(a, v);
  }
  if (ask.length) {
    const found = new Map((await lookupAddresses(db, ask)).map((r) => [r.address, r.node]));
    for (const a of ask) {
      const v = found.get(a) ?? null;
      if (v !== null) map.set(a, v);
      ctx.book?.set(a, v, nowMs);
    }
  }
  return map;
}

/** Renames senders known by an address to their node name, everywhere the request carries them. */
async function nameSenders(db: Executor, read: Read, dropped: Read['dropped'], ctx: StoreContext, taught: ReadonlyMap<string, string>): Promise<void> {
  const addrs = new Set<string>();
  for (const r of read.readings) if (isAddress(r.node)) addrs.add(r.node);
  for (const k of read.skipped) if (k.node && isAddress(k.node)) addrs.add(k.node);
  if (!addrs.size) return;
  const map = await knownNames(db, [...addrs].filter((a) => !taught.has(a)), ctx);
  for (const a of addrs) if (taught.has(a)) map.set(a, taught.get(a)!);
  if (!map.size) return;
  const name = (n: string) => map.get(n) ?? n;
  for (const r of read.readings) r.node = name(r.node);
  for (const k of read.skipped) if (k.node) k.node = name(k.node);
  for (const d of dropped) if (d.node) d.node = name(d.node);
  for (const p of read.paths) {
    p.src = name(p.src);
    for (const h of p.hops) {
      h.src = p.src;
      if (h.hop_index === 1) h.from_node = p.src;
    }
    if (p.route.length) p.route[0] = p.src;
  }
  for (const h of read.hops) h.src = name(h.src);
  for (const h of read.healths) h.node = name(h.node);
  for (const c of read.crashes) c.node = name(c.node);
}

/** The addresses measurements name, and the pairs their probes teach (newest observation wins). */
export function addressesOf(paths: PathReading[], hops: HopReading[]) {
  const learnt = new Map<string, LearnedPair>();
  const addresses = new Set<string>();
  const note = (n: string | null) => { if (n !== null && isAddress(n)) addresses.add(n); };
  for (const p of paths) {
    note(p.dst);
    note(p.dstName);
    note(p.dstHop);
    note(p.dstIp);
    for (const n of p.route) note(n);
    const last = p.route.at(-1);
    const name = p.dstName;
    if (name !== null && !isAddress(name) && last !== undefined && last !== name && isMeshAddress(last)) {
      const cur = learnt.get(last);
      if (!cur || cur.atMs <= p.atMs) learnt.set(last, { address: last, node: name, atMs: p.atMs });
    }
  }
  for (const h of hops) {
    note(h.dst);
    note(h.from_node);
    note(h.to_node);
  }
  return { addresses, learnt };
}

/** Rewrites addresses to names, picks probes' destinations, and drops hop lists that do not join src to dst. Returns those drops. */
export function applyNames(readings: Reading[], paths: PathReading[], hops: HopReading[], map: ReadonlyMap<string, string>): Drop[] {
  const drops: Drop[] = [];
  const name = (n: string) => map.get(n) ?? n;
  for (const p of paths) {
    p.route = p.route.map(name);
    if (p.source === 'network_status') {
      // The agent's name; else where the hop list ends; else dst_ip.
      p.dst = name(p.dstName ?? p.dstHop ?? p.dstIp!);
      if (p.route.length) p.route[0] = p.src;
    } else p.dst = name(p.dst!);
    if (p.route.length && (p.route[0] !== p.src || p.route.at(-1) !== p.dst)) {
      drops.push({
        index: readings[p.msg]!.index, path: p.source === 'network_status' ? `${p.at}.path` : 'route', reason: 'bad_route',
        message: p.route[0] !== p.src
          ? `starts at ${p.route[0]}, not at the source ${p.src}: stored without its hop list`
          : `ends at ${p.route.at(-1)}, not at the destination ${p.dst}: stored without its hop list (its hops are kept)`,
      });
      p.bad.push('bad_route');
      p.route = [];
    }
    for (const h of p.hops) {
      h.dst = p.dst;
      h.from_node = name(h.from_node);
      h.to_node = name(h.to_node);
    }
  }
  for (const h of hops) {
    h.dst = name(h.dst!);
    h.from_node = name(h.from_node);
    h.to_node = name(h.to_node);
  }
  return drops;
}

/**
 * The rows a body would become, without a database: no MAX_NODES check, only
 * the address pairs the body itself teaches. For benches and tests.
 */
export function rowsOf(body: unknown, ctx: StoreContext) {
  const read = readMessages(body);
  const live = read.readings.map(() => true);
  const { learnt } = addressesOf(read.paths, read.hops);
  applyNames(read.readings, read.paths, read.hops, new Map([...learnt.values()].map((l) => [l.address, l.node])));
  const plan = judgeClocks(
    read.readings.map((r, i) => ({ node: r.node, sentMs: r.sentMs, times: r.type === 'network_status' ? probeTimes(read.paths, i) : [] })),
    { recvMs: ctx.receivedAt.getTime(), maxSkewMs: ctx.config.MAX_CLOCK_SKEW * 1000, retentionDays: ctx.config.RETENTION_RAW_DAYS },
  );
  return toRows(read, live, new Set(), read, plan, ctx).set;
}

interface Measurements {
  paths: PathReading[];
  hops: HopReading[];
  healths: Read['healths'];
  crashes: Read['crashes'];
}

const iso = (ms: number) => new Date(ms).toISOString();
const bad = (b: DropReason[]) => (b.length ? [...new Set(b)] : null);

interface NodeAcc extends Omit<NodeRow, 'first_seen' | 'last_seen'> {
  lastSentMs: number;
  firstMs: number;
  lastMs: number;
  lastHealthMs: number;
  /** The agent time of the message each attribute came from. */
  attrMs: Partial<Record<keyof NodeAttrs, number>>;
}

/**
 * Turns measurements into table rows at the times the clock plan gives them.
 * A row keeps the agent's own time (sent_at) and, when its time was
 * corrected, the difference (clock_skew_s). Within one request the first copy
 * of a key wins, as ON CONFLICT DO NOTHING decides between two requests;
 * later copies count as duplicates. Two different measurements that a
 * correction would put at the same instant are kept a millisecond apart.
 */
export function toRows(read: Read, live: boolean[], refused: ReadonlySet<string>, m: Measurements, plan: ClockPlan, ctx: StoreContext) {
  const recvIso = ctx.receivedAt.toISOString();
  const path: PathProbeRow[] = [];
  const hop: HopQualityRow[] = [];
  const health: AgentHealthRow[] = [];
  const crash: CrashReportRow[] = [];
  const pathOwner: number[] = [];
  const hopOwner: number[] = [];
  const healthOwner: number[] = [];
  const crashOwner: number[] = [];
  const seen = new Set<string>();
  /** series + corrected time → the agent time that holds it. */
  const taken = new Map<string, number>();
  const rowCount = new Uint32Array(read.readings.length);
  const attempted = { path: 0, hop: 0, health: 0, crash: 0 };

  /** [time, skew s] for agent time `t` of message `msg` in `series`. */
  const when = (msg: number, t: number, series: string): [string, number | null] => {
    let c = plan.at(msg, t);
    if (c === t) return [iso(t), null];
    // Keep different measurements apart; the same one (a repeat in this request) lands on itself.
    for (let k = `${series} ${c}`; taken.has(k) && taken.get(k) !== t; k = `${series} ${c}`) c += 1;
    taken.set(`${series} ${c}`, t);
    return [iso(c), (t - c) / 1000];
  };
  const add = <R extends { n: number }>(table: R[], owner: number[], key: string, row: R, msg: number) => {
    rowCount[msg]!++;
    if (seen.has(key)) return;
    seen.add(key);
    owner.push(msg);
    row.n = table.length;
    table.push(row);
  };

  for (const p of m.paths) {
    const series = `p ${p.src} ${p.dst}`;
    const [time, skew] = when(p.msg, p.atMs, series);
    attempted.path++;
    add(path, pathOwner, `${series} ${time}`, {
      n: 0, bad: bad(p.bad), time, src: p.src, dst: p.dst!, route: p.route,
      rtt_ms: p.rtt_ms, jitter_ms: p.jitter_ms, loss_pct: p.loss_pct, window_s: p.window_s,
      sent_at: iso(p.atMs), clock_skew_s: skew, source: p.source,
      agent_version: p.agent_version, agent_cpu_pct: p.agent_cpu_pct, agent_mem_mb: p.agent_mem_mb, extra: p.extra,
    }, p.msg);
    for (const h of p.hops) addHop(h, time, skew);
  }
  for (const h of m.hops) {
    const [time, skew] = when(h.msg, h.atMs, `h ${h.src} ${h.dst} ${h.hop_index}`);
    addHop(h, time, skew);
  }
  function addHop(h: HopReading, time: string, skew: number | null) {
    attempted.hop++;
    add(hop, hopOwner, `h ${h.src} ${h.dst} ${h.hop_index} ${time}`, {
      n: 0, bad: bad(h.bad), time, src: h.src, dst: h.dst!, hop_index: h.hop_index, from_node: h.from_node, to_node: h.to_node,
      lq: h.lq, nlq: h.nlq, etx: h.etx, link_type: h.link_type, rtt_ms: h.rtt_ms,
      sent_at: iso(h.atMs), clock_skew_s: skew, extra: h.extra,
    }, h.msg);
  }
  for (const a of m.healths) {
    const series = `a ${a.node}`;
    const [time, skew] = when(a.msg, a.atMs, series);
    attempted.health++;
    add(health, healthOwner, `${series} ${time}`, {
      n: 0, bad: bad(a.bad), time, node: a.node, cpu_pct: a.cpu_pct, mem_mb: a.mem_mb, queue_len: a.queue_len,
      neighbors_seen: a.neighbors_seen, sent_at: iso(a.atMs), clock_skew_s: skew, extra: a.extra,
    }, a.msg);
  }
  for (const c of m.crashes) {
    const series = `c ${c.node}`;
    const [time, skew] = when(c.msg, c.atMs, series);
    attempted.crash++;
    add(crash, crashOwner, `${series} ${time}`, {
      n: 0, bad: bad(c.bad), time, node: c.node, crash_time: c.crash_time, signal: c.signal, signal_name: c.signal_name,
      reason: c.reason, restart_count: c.restart_count, uptime_before_crash: c.uptime_before_crash,
      sent_at: iso(c.atMs), clock_skew_s: skew, extra: c.extra,
    }, c.msg);
  }

  // The registry: one row per sender.
  const nodes = new Map<string, NodeAcc>();
  read.readings.forEach((r, i) => {
    if (!live[i]) return;
    const h = plan.header[i]!;
    const acc = nodeAcc(nodes, r.node, h);
    if (r.sentMs >= acc.lastSentMs) {
      acc.lastSentMs = r.sentMs;
      acc.last_type = r.type;
    }
    attr(acc, r.sentMs, r.attrs);
    if (r.state && r.sentMs >= acc.lastHealthMs) {
      acc.lastHealthMs = r.sentMs;
      Object.assign(acc.extra, r.state);
    }
  });
  for (const [node, c] of plan.nodes) {
    const acc = nodes.get(node);
    if (!acc) continue;
    acc.clock_skew_s = c.offsetS;
    acc.skew_flagged_at = c.flagged ? recvIso : null;
  }
  // Heard, but only in messages that could not be read: registered all the same (their drops are counted against it).
  for (const s of read.skipped) if (s.node && !nodes.has(s.node) && !refused.has(s.node)) heardOnly(nodes, s.node);

  const nodeRows: NodeRow[] = [...nodes.values()]
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    .map((a) => ({
      node: a.node,
      first_seen: a.last_type === null ? null : iso(a.firstMs),
      last_seen: a.last_type === null ? null : iso(a.lastMs),
      last_type: a.last_type,
      agent_version: a.agent_version, routing_daemon: a.routing_daemon, hardware_model: a.hardware_model,
      firmware_version: a.firmware_version, grid_square: a.grid_square, lat: a.lat, lon: a.lon,
      clock_skew_s: a.clock_skew_s, skew_flagged_at: a.skew_flagged_at, extra: a.extra,
    }));

  return {
    set: { path, hop, health, crash, nodes: nodeRows },
    /** The message each row came from, by row ordinal. */
    pathOwner, hopOwner, healthOwner, crashOwner,
    rowCount, attempted,
  };
}

function nodeAcc(nodes: Map<string, NodeAcc>, node: string, timeMs: number): NodeAcc {
  let a = nodes.get(node);
  if (!a) {
    a = {
      node, last_type: null, agent_version: null, routing_daemon: null,
      hardware_model: null, firmware_version: null, grid_square: null, lat: null, lon: null,
      clock_skew_s: null, skew_flagged_at: null, extra: {},
      lastSentMs: -Infinity, firstMs: timeMs, lastMs: timeMs, lastHealthMs: -Infinity, attrMs: {},
    };
    nodes.set(node, a);
  }
  a.firstMs = Math.min(a.firstMs, timeMs);
  a.lastMs = Math.max(a.lastMs, timeMs);
  return a;
}

function heardOnly(nodes: Map<string, NodeAcc>, node: string) {
  nodes.set(node, {
    node, last_type: null, agent_version: null, routing_daemon: null,
    hardware_model: null, firmware_version: null, grid_square: null, lat: null, lon: null,
    clock_skew_s: null, skew_flagged_at: null, extra: {},
    lastSentMs: -Infinity, firstMs: 0, lastMs: 0, lastHealthMs: -Infinity, attrMs: {},
  });
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

export type { Reading };