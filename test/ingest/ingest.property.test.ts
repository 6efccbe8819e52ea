import { expect, test } from 'bun:test';
import fc from 'fast-check';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { DROP_REASONS } from '../../src/ingest/ingest.schema.ts';
import type { TestDatabase } from '../support/databases.ts';
import { agentHealth, counts, freshTables, hopResult, pathResult } from './helpers.ts';

const NOW = Date.parse('2026-03-02T12:00:00Z');
const RUNS = Number(process.env.MESHMON_PROPERTY_RUNS ?? 60);

const nodeName = fc.constantFrom('node-A', 'node-B', 'node-C', 'KX6ABC-HAP-2', 'kx6def-rkt-1.local.mesh', '10.54.13.1', '10.54.13.2');
/** Mostly the last two hours; now and then a clock that is off: hours ahead, a year ahead, year 9999, 1970, 1999. */
const recent = fc.oneof(
  { arbitrary: fc.integer({ min: -7200, max: 0 }).map((s) => NOW + s * 1000), weight: 12 },
  { arbitrary: fc.constantFrom(NOW + 2 * 3600_000, NOW + 365 * 86_400_000, Date.parse('9999-12-31T23:59:59Z'), Date.parse('1970-01-01T00:10:00Z'), Date.parse('1999-12-31T23:00:00Z')), weight: 1 },
).map((ms) => new Date(ms).toISOString());
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });

const path = fc.record({
  src: nodeName, dst: nodeName, sent_at: recent,
  rtt: maybe(fc.double({ min: 0, max: 5000, noNaN: true })), jitter: maybe(fc.double({ min: 0, max: 500, noNaN: true })),
  loss: maybe(fc.double({ min: 0, max: 100, noNaN: true })),
}).map((r) => pathResult({ src: r.src, dst: r.dst, sent_at: r.sent_at, route: [r.src, r.dst], metrics: { rtt_ms_avg: r.rtt, jitter_ms_rfc3550: r.jitter, loss_pct: r.loss } }));

const hop = fc.record({
  src: nodeName, dst: nodeName, sent_at: recent, i: fc.integer({ min: 1, max: 6 }),
  lq: fc.double({ min: 0, max: 1, noNaN: true }), etx: fc.double({ min: 1, max: 20, noNaN: true }),
}).map((r) => hopResult({ src: r.src, dst: r.dst, sent_at: r.sent_at, hop_index: r.i, hop: { from: r.src, to: r.dst }, l2: { lq: r.lq, nlq: r.lq, etx: r.etx } }));

const health = fc.record({ node: nodeName, sent_at: recent, cpu: fc.double({ min: 0, max: 100, noNaN: true }) })
  .map((r) => agentHealth({ node: r.node, sent_at: r.sent_at, cpu_pct: r.cpu, lat: 'unknown', hardware_model: 'hAP ac lite' }));

/** A report of 1–4 probes, in the upstream agent's real forms too: dst_node "", hops by address, 0 for unknown values. */
const probe = (daemon: string) => fc.record({ dst: fc.oneof(nodeName, fc.constant('')), via: nodeName, at: recent, lq: fc.constantFrom(0, 0.9), etx: fc.constantFrom(0, 1.2, 2, ...(daemon === 'babel' ? [0.38] : [])) }).map((r) => ({
  dst_node: r.dst, dst_ip: '10.0.0.1', timestamp: r.at, rtt_ms_avg: 12, jitter_ms: 3, loss_pct: 0, hop_count: 2,
  path: r.dst === '' ? [] : [{ node: r.via, interface: 'wlan0', link_type: 'RF', lq: r.lq, nlq: r.lq, etx: r.etx, rtt_ms: 5 }, { node: r.dst, interface: 'wlan0', link_type: 'RF', lq: r.lq, nlq: r.lq, etx: r.etx, rtt_ms: 0 }],
}));
const status = fc.constantFrom('olsr', 'babel').chain((daemon) => fc.record({ node: nodeName, sent_at: recent, daemon: fc.constant(daemon), probes: fc.array(probe(daemon), { minLength: 1, maxLength: 4 }) })).map((r) => ({
  schema: 'meshmon.v1', type: 'network_status', node: r.node, sent_at: r.sent_at, routing_daemon: r.daemon, probe_count: r.probes.length, probes: r.probes,
}));

const crash = fc.record({ node: nodeName, sent_at: recent }).map((r) => ({
  schema: 'meshmon.v1', type: 'crash_report', node: r.node, sent_at: r.sent_at, crash_time: r.sent_at, signal: 11, signal_name: 'SIGSEGV', reason: 'probe thread', restart_count: 1, uptime_before_crash: 60,
}));

const validBatch = fc.array(fc.oneof(path, hop, health, status, crash), { minLength: 1, maxLength: 25 });

const TABLE_OF = { path: 'path_probe', hop: 'hop_quality', health: 'agent_health', crash: 'crash_report' } as const;
type Sent = Record<(typeof TABLE_OF)[keyof typeof TABLE_OF], number>;
const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * What a body holds, counted without the collector's code: a path result per
 * path_result and per probe, a hop per hop_result and per entry of a probe's
 * path, a health or crash report per message of that type.
 */
function sentOf(body: unknown): Sent {
  const out: Sent = { path_probe: 0, hop_quality: 0, agent_health: 0, crash_report: 0 };
  for (const m of Array.isArray(body) ? body : [body]) {
    if (!isObj(m)) continue;
    if (m.type === 'path_result') out.path_probe++;
    else if (m.type === 'hop_result') out.hop_quality++;
    else if (m.type === 'agent_health') out.agent_health++;
    else if (m.type === 'crash_report') out.crash_report++;
    else if (m.type === 'network_status' && Array.isArray(m.probes)) {
      for (const p of m.probes) {
        out.path_probe++;
        if (isObj(p) && Array.isArray(p.path)) out.hop_quality += p.path.length;
      }
    }
  }
  return out;
}

const MEASUREMENT_TABLES = ['path_probe', 'hop_quality', 'agent_health', 'crash_report', 'nodes', 'node_addresses'] as const;
const measurementCounts = async (get: () => TestDatabase) => {
  const c = await counts(get());
  return Object.fromEntries(MEASUREMENT_TABLES.map((t) => [t, c[t]]));
};

/** Values agents should never send, and some they might. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    -1, 0, 1, 1.5, 100.0001, 101, 1e308, -1e308, 2 ** 31, 2 ** 53, 2 ** 63, -0,
    '', ' ', 'unknown', 'node A', 'a'.repeat(300), '\u0000', 'x\ud800y', '\udfff', '💥', '../etc', "'; DROP TABLE nodes; --",
    '2026-03-02T12:00:00Z', '2026-03-02T12:00:00', '9999-12-31T23:59:59Z', '0001-01-01T00:00:00Z', '2026-02-29T00:00:00Z',
    '+275760-09-13T00:00:00Z', '0000-06-01T00:00:00Z', '9999-12-31T23:59:59-23:59', '0001-01-01T00:00:00+01:00', null, true, [], {}, [[[]]], { __proto__: 1 }, ['node-A'], { from: 'a', to: 'b' },
    '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T23:59:60Z', '0000-00-00T00:00:00Z',
    'node-A\u0000', '\u0000node-A', 'node\u0000.mesh', ['node-A', '\u0000'], { '\u0000': 1 }, 'x'.repeat(70_000),
  ),
);

type Json = Record<string, unknown> | unknown[];

/** A drop names where (message index, field path) and why (one of the reasons). */
function expectDrop(d: { index: unknown; path: unknown; reason: unknown; message: unknown }) {
  expect(Number.isInteger(d.index)).toBe(true);
  expect(typeof d.path).toBe('string');
  expect(DROP_REASONS).toContain(d.reason as (typeof DROP_REASONS)[number]);
  expect(typeof d.message).toBe('string');
}

/** Every path into a value: where a mutation can land. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

type Mutation =
  | { op: 'set'; pick: number; value: unknown }
  | { op: 'delete'; pick: number }
  | { op: 'add'; pick: number; key: string; value: unknown }
  | { op: 'duplicate'; pick: number }
  | { op: 'retype'; pick: number; type: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), pick: fc.nat(), value: nasty }),
  fc.record({ op: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('add' as const), pick: fc.nat(), key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'extra', 'n', 'time')), value: nasty }),
  fc.record({ op: fc.constant('duplicate' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('retype' as const), pick: fc.nat(), type: fc.constantFrom('path_result', 'hop_result', 'agent_health', 'network_status', 'crash_report', 'bogus') }),
);

function mutate(batch: Json[], m: Mutation): Json[] {
  const copy = structuredClone(batch) as Json[];
  if (copy.length === 0) return copy;
  if (m.op === 'duplicate') {
    copy.push(structuredClone(copy[m.pick % copy.length]!));
    return copy;
  }
  if (m.op === 'retype') {
    const msg = copy[m.pick % copy.length];
    if (msg && typeof msg === 'object' && !Array.isArray(msg)) msg.type = m.type;
    return copy;
  }
  const all = paths(copy).filter((p) => p.length > 0);
  if (all.length === 0) return copy;
  const target = all[m.pick % all.length]!;
  const parent = target.slice(0, -1).reduce<any>((o, k) => o[k], copy);
  const key = target[target.length - 1]!;
  if (m.op === 'set') parent[key] = m.value;
  else if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
  } else {
    const obj = parent[key];
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) Object.defineProperty(obj, m.key, { value: m.value, enumerable: true });
    else parent[key] = m.value;
  }
  return copy;
}

/** Damage at the text level: cut it short or splice in a character. */
const textDamage = fc.oneof(
  { arbitrary: fc.constant(null), weight: 5 },
  { arbitrary: fc.record({ at: fc.nat(), ch: fc.constantFrom('', '"', '{', ']', ',', '\\', 'x', '\u0000') }), weight: 1 },
);

describeEachMode('POST /ingest under random input', (get) => {
  freshTables(get);

  test('random mixes of good and bad messages, probes and values: stored + dropped = sent, every drop has a reason, never a 5xx, a retry stores nothing new', async () => {
    const t = testApp(get(), { now: new Date(NOW) });
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(validBatch, fc.array(mutation, { maxLength: 4 }), textDamage, fc.boolean(), async (batch, muts, damage, single) => {
        t.setNow(new Date(NOW));
        let body: unknown = muts.reduce(mutate, batch as Json[]);
        if (single) body = (body as unknown[])[0] ?? {};
        let text = JSON.stringify(body);
        if (damage) {
          const at = damage.at % (text.length + 1);
          text = damage.ch === '' ? text.slice(0, at) : text.slice(0, at) + damage.ch + text.slice(at);
        }
        const before = await counts(get());
        const r = await t.post('/ingest', text);
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        const after = await counts(get());
        expect(r.status).toBeLessThan(500);
        expect([200, 400, 413, 422]).toContain(r.status);
        if (r.status === 200) {
          // Exactly what the answer reports was added…
          for (const table of ['path_probe', 'hop_quality', 'agent_health', 'crash_report'] as const) {
            expect(after[table] - before[table]).toBe(r.body.rows[table].inserted);
          }
          // …and every measurement sent is accounted for: stored now, stored before, or dropped.
          const sent = sentOf(JSON.parse(text));
          for (const [table, n] of Object.entries(sent)) {
            const row = r.body.rows[table];
            expect({ table, accounted: row.inserted + row.duplicates + row.dropped }).toEqual({ table, accounted: n });
          }
          expect(r.body.dropped.total).toBe(Object.values(r.body.dropped.by_reason as Record<string, number>).reduce((a, b) => a + b, 0));
          expect(r.body.drops).toHaveLength(Math.min(r.body.dropped.total, 100));
          for (const d of r.body.drops) expectDrop(d);
        } else {
          expect(r.res.headers.get('content-type')).toBe('application/problem+json');
          expect(after).toEqual(before);
          if (r.status === 422) {
            expect(r.body.errors.length).toBeGreaterThan(0);
            for (const e of r.body.errors) expectDrop(e);
          }
        }
        // The agent's retry, half a minute later: nothing new.
        const stored = await measurementCounts(get);
        t.setNow(new Date(NOW + 30_000));
        const retry = await t.post('/ingest', text);
        expect(retry.status).toBe(r.status);
        if (retry.status === 200) for (const table of ['path_probe', 'hop_quality', 'agent_health', 'crash_report'] as const) expect(retry.body.rows[table].inserted).toBe(0);
        expect(await measurementCounts(get)).toEqual(stored);
      }),
      { numRuns: RUNS },
    );
    // The mutations must reach the store, not only the parser.
    if (RUNS >= 50) expect(seen.get(200) ?? 0).toBeGreaterThan(0);
    if (process.env.MESHMON_PROPERTY_RUNS) console.error('statuses', Object.fromEntries(seen));
  }, 600_000);

  test('any well-formed timestamp, at the edges of the calendar too, is stored or refused, never a 5xx', async () => {
    // Retention off the table: 10,000 years.
    const t = testApp(get(), { now: new Date(NOW), env: { RETENTION_RAW_DAYS: '3660000' } });
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    // Well-formed but impossible fields too: month 0 and 13, 29–31 February, day 32, hour 24, minute and second 60.
    const stamp = fc.record({
      y: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1, 9999)), mo: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constantFrom(0, 13)),
      d: fc.oneof(fc.integer({ min: 1, max: 28 }), fc.integer({ min: 0, max: 32 })), h: fc.oneof(fc.integer({ min: 0, max: 23 }), fc.constant(24)),
      mi: fc.oneof(fc.constant(0), fc.constantFrom(59, 60)), sec: fc.oneof(fc.constant(0), fc.constantFrom(59, 60)),
      z: fc.oneof(fc.constant('Z'), fc.integer({ min: -1439, max: 1439 })),
    }).map(({ y, mo, d, h, mi, sec, z }) => `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(sec)}${typeof z === 'string' ? z : `${z < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(z) / 60))}:${pad(Math.abs(z) % 60)}`}`);
    await fc.assert(
      fc.asyncProperty(stamp, fc.constantFrom('sent_at', 'crash_time', 'timestamp'), async (ts, field) => {
        const msg = field === 'sent_at' ? pathResult({ sent_at: ts })
          : field === 'crash_time' ? { schema: 'meshmon.v1', type: 'crash_report', node: 'n1', sent_at: new Date(NOW).toISOString(), crash_time: ts }
          : { schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: new Date(NOW).toISOString(), probes: [{ dst_node: 'n2', timestamp: ts, path: [{ node: 'n2' }] }] };
        const r = await t.post('/ingest', msg);
        expect([200, 422]).toContain(r.status);
        // Only an unreadable sent_at refuses the message; a bad crash_time or probe timestamp is dropped alone.
        if (field !== 'sent_at') expect(r.status).toBe(200);
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

  test('a valid batch is stored whole, and its retry adds nothing', async () => {
    const t = testApp(get(), { now: new Date(NOW) });
    await fc.assert(
      fc.asyncProperty(validBatch, async (batch) => {
        const r = await t.post('/ingest', batch);
        expect(r.status).toBe(200);
        expect(r.body.drops.filter((d: { reason: string }) => d.reason !== 'dst_node_empty')).toEqual([]);
        const before = await counts(get());
        const retry = await t.post('/ingest', batch);
        expect(retry.status).toBe(200);
        expect(Object.values(retry.body.accepted).every((n) => n === 0)).toBe(true);
        expect(await counts(get())).toEqual(before);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  }, 600_000);
});
