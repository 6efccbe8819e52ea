import { describe, expect, test } from 'bun:test';
import { z } from 'zod';
import { configFrom } from '../../src/config.ts';
import { toJsonParam } from '../../src/ingest/ingest.repository.ts';
import path from 'node:path';
import { isMeshAddress, nameFromPtr } from '../../src/ingest/ingest.addresses.ts';
import { judgeClocks } from '../../src/ingest/ingest.clock.ts';
import { nodeName, readMessages, readTime } from '../../src/ingest/ingest.read.ts';
import { parseJson } from '../../src/ingest/ingest.routes.ts';
import { AgentMessage, IngestBody, IngestResponse, NodeName } from '../../src/ingest/ingest.schema.ts';
import { rowsOf } from '../../src/ingest/ingest.service.ts';
import { EXAMPLES_DIR, example } from '../support/fixtures.ts';
import { agentHealth, pathResult } from './helpers.ts';

const config = configFrom();

describe('ingest schemas', () => {
  test('the request and response schemas convert to JSON Schema (for /openapi.json)', () => {
    const body = z.toJSONSchema(IngestBody, { io: 'input' });
    expect(JSON.stringify(body)).toContain('network_status');
    const res = z.toJSONSchema(IngestResponse) as { $defs: Record<string, { required: string[] }> };
    expect(res.$defs.IngestResponse!.required).toEqual(expect.arrayContaining(['accepted', 'duplicates', 'received_at']));
  });

  test('every spec example and every upstream capture fits the documented contract', async () => {
    for (const name of ['path_result', 'hop_result', 'agent_health', 'agent_health-field', 'network_status', 'crash_report']) {
      expect(AgentMessage.safeParse(await example(name)).success, name).toBe(true);
    }
    for (const name of ['agent_health', 'network_status-olsr-real', 'network_status-babel-real', 'network_status-olsr-parsable', 'network_status-babel-parsable']) {
      const r = AgentMessage.safeParse(await example(`upstream/${name}`));
      expect({ name, issues: r.success ? [] : r.error.issues }).toEqual({ name, issues: [] });
    }
  });

  test('node names: hostname-like, labels up to 63, 253 in all', () => {
    const ok = ['a', 'node-A', 'KX6ABC-HAP-2', 'node_1', 'n1.local.mesh', 'a'.repeat(63), Array(4).fill('a'.repeat(63)).join('.').slice(0, 253)];
    const bad = ['', ' ', 'a b', 'a/b', 'a..b', '.a', 'a.', 'a'.repeat(64), 'ü', 'a:b', Array(64).fill('abc').join('.')];
    for (const n of ok) expect(NodeName.safeParse(n).success, n).toBe(true);
    for (const n of bad) expect(NodeName.safeParse(n).success, n).toBe(false);
  });
});

describe('readMessages', () => {
  test('reads one message or an array', () => {
    expect(readMessages(pathResult())).toMatchObject({ messages: 1, readings: [{ type: 'path_result', node: 'node-A' }], drops: [] });
    expect(readMessages([pathResult(), agentHealth()]).readings).toHaveLength(2);
    expect(readMessages([])).toMatchObject({ messages: 0, readings: [], drops: [] });
  });

  test('keeps unknown fields and fills defaults', () => {
    const { window_s: _w, ...msg } = pathResult({ future_field: { a: 1 } });
    const r = readMessages(msg);
    expect(r.paths[0]).toMatchObject({ window_s: 5, extra: { future_field: { a: 1 } } });
  });

  test('names every unusable part once, with its path and reason, and keeps the rest', () => {
    const junk = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 1]));
    const bad = { schema: 'meshmon.v1', type: 'path_result', src: 'a', dst: 'b', sent_at: '2026-03-02T11:00:00Z', route: Array(40).fill(''), metrics: { loss_pct: 300, rtt_ms_avg: 'x' }, ...junk };
    const r = readMessages([bad, pathResult()]);
    expect(r.drops).toEqual([
      { index: 0, path: 'route', reason: 'bad_route', message: expect.any(String) },
      { index: 0, path: 'metrics.loss_pct', reason: 'out_of_range', message: '300 is not a number in 0…100' },
      { index: 0, path: 'metrics.rtt_ms_avg', reason: 'not_a_number', message: expect.stringContaining('"x"') },
    ]);
    expect(r.paths.map((p) => [p.dst, p.route, p.loss_pct, p.bad])).toEqual([['b', [], null, ['bad_route', 'out_of_range', 'not_a_number']], ['node-K', ['node-A', 'node-D', 'node-K'], 0, []]]);
    expect(r.paths[0]!.extra).toMatchObject({ f39: 1 });
  });

  test('a batch of thousands of unreadable messages names each one, once', () => {
    const bad = { schema: 'meshmon.v2', type: 'path_result', route: Array(40).fill('') };
    const r = readMessages(Array(5000).fill(bad));
    expect(r.drops).toHaveLength(5000);
    expect(new Set(r.drops.map((e) => e.index)).size).toBe(5000);
    expect(r.skipped).toHaveLength(5000);
    expect(r.dropped).toHaveLength(5000);
  });

  test('the upstream agent’s -real probe: identified by dst_ip, no hops, the empty name dropped', async () => {
    const body = JSON.parse(await Bun.file(path.join(EXAMPLES_DIR, 'upstream/network_status-olsr-real.json')).text());
    const r = readMessages(body);
    expect(r.paths.map((p) => [p.dstName, p.dstIp, p.route, p.bad])).toEqual([[null, '127.0.0.1', [], ['dst_node_empty']], [null, '127.0.0.1', [], ['dst_node_empty']]]);
    expect(r.readings[0]!.attrs.routing_daemon).toBe('olsr');
  });

  test('Babel’s metric/256 is kept beside the hop, never as its ETX; OLSR’s 0 is unknown', async () => {
    const babel = JSON.parse(await Bun.file(path.join(EXAMPLES_DIR, 'upstream/network_status-babel-parsable.json')).text());
    const hops = readMessages(babel).paths.flatMap((p) => p.hops);
    expect(hops.map((h) => [h.etx, h.extra?.babel_metric, h.lq, h.nlq, h.rtt_ms])).toEqual([[null, 0, null, null, null], [null, 609, null, null, null], [null, 97, null, null, null]]);
    const olsr = JSON.parse(await Bun.file(path.join(EXAMPLES_DIR, 'upstream/network_status-olsr-parsable.json')).text());
    expect(readMessages(olsr).paths[0]!.hops.map((h) => h.etx)).toEqual([null, 2]);
  });

  test('node names: hostname-like, at most 63 characters once ".local.mesh" is off', () => {
    expect(nodeName('KX6ABC-HAP-2.local.mesh')).toBe('KX6ABC-HAP-2');
    expect(nodeName('KX6ABC-HAP-2.LOCAL.MESH.')).toBe('KX6ABC-HAP-2');
    expect(nodeName('10.54.13.1')).toBe('10.54.13.1');
    for (const bad of ['', ' ', 'a b', 'a'.repeat(64), `${'a'.repeat(60)}.bcd`, '.local.mesh', 7, null]) expect(nodeName(bad)).toBeNull();
  });

  test('times: ISO-8601 with a zone, on a real calendar day, years 1 to 9999', () => {
    expect(readTime('2026-03-02T11:59:00Z')).toBe(Date.parse('2026-03-02T11:59:00Z'));
    expect(readTime('2024-02-29T00:00:00.123+01:00')).toBe(Date.parse('2024-02-28T23:00:00.123Z'));
    for (const bad of ['2026-02-29T00:00:00Z', '2026-02-30T00:00:00Z', '2026-03-02T11:59:00', '2026-03-02 11:59:00Z', '0000-06-01T00:00:00Z', '9999-12-31T23:59:59-23:59', '2026-13-01T00:00:00Z', 1772452740, 'x']) {
      expect({ bad, t: readTime(bad) }).toEqual({ bad, t: null });
    }
  });
});

describe('judgeClocks', () => {
  const recvMs = Date.parse('2026-03-02T12:00:00Z');
  const s = { recvMs, maxSkewMs: 300_000, retentionDays: 90 };
  const H = 3_600_000;

  test('plausible times are kept as they are, up to MAX_CLOCK_SKEW ahead', () => {
    const plan = judgeClocks([{ node: 'a', sentMs: recvMs + 299_000, times: [] }, { node: 'a', sentMs: recvMs - 80 * 86_400_000, times: [] }], s);
    expect(plan.header).toEqual([recvMs + 299_000, recvMs - 80 * 86_400_000]);
    expect(plan.corrected).toEqual([false, false]);
    expect(plan.nodes.get('a')).toEqual({ offsetS: 299, flagged: false });
  });

  test('a clock ahead: the node’s times shift together, the newest to the receive time', () => {
    const plan = judgeClocks([{ node: 'a', sentMs: recvMs + 2 * H, times: [] }, { node: 'a', sentMs: recvMs + 2 * H + 40_000, times: [] }, { node: 'b', sentMs: recvMs, times: [] }], s);
    expect(plan.header).toEqual([recvMs - 40_000, recvMs, recvMs]);
    expect(plan.corrected).toEqual([true, true, false]);
    expect(plan.nodes.get('a')).toEqual({ offsetS: 7240, flagged: true });
  });

  test('a report’s odd sent_at is judged against its probes: the probes keep their times', () => {
    const plan = judgeClocks([{ node: 'a', sentMs: Date.parse('9999-12-31T00:00:00Z'), times: [recvMs - 20_000, recvMs - 10_000] }], s);
    expect(plan.header).toEqual([recvMs - 10_000]);
    expect([plan.at(0, recvMs - 20_000), plan.at(0, recvMs - 10_000)]).toEqual([recvMs - 20_000, recvMs - 10_000]);
    expect(plan.nodes.get('a')!.flagged).toBe(false);
  });

  test('1970: shifted by the offset, kept inside retention and never past the receive time', () => {
    const boot = 0;
    const plan = judgeClocks([{ node: 'a', sentMs: boot + 600_000, times: [boot + 500_000, boot + 100 * 86_400_000 * 0 + 590_000] }, { node: 'a', sentMs: boot - 200 * 86_400_000, times: [] }], s);
    expect(plan.header[0]).toBe(recvMs);
    expect(plan.at(0, boot + 500_000)).toBe(recvMs - 100_000);
    expect(plan.header[1]).toBe(recvMs - 90 * 86_400_000 + H);
    expect(plan.nodes.get('a')!.flagged).toBe(true);
  });

  test('stale messages from before the clock was set go just before the first good one', () => {
    const plan = judgeClocks([{ node: 'a', sentMs: 60_000, times: [] }, { node: 'a', sentMs: 120_000, times: [] }, { node: 'a', sentMs: recvMs - 300_000, times: [] }], s);
    expect(plan.header).toEqual([recvMs - 300_000 - 1 - 60_000, recvMs - 300_000 - 1, recvMs - 300_000]);
    expect(plan.nodes.get('a')).toEqual({ offsetS: -300, flagged: false });
  });

  test('one probe far ahead of its sane report moves to the report’s time', () => {
    const plan = judgeClocks([{ node: 'a', sentMs: recvMs, times: [recvMs - 5_000, recvMs + 86_400_000] }], s);
    expect([plan.at(0, recvMs - 5_000), plan.at(0, recvMs + 86_400_000)]).toEqual([recvMs - 5_000, recvMs]);
    expect(plan.corrected).toEqual([true]);
  });
});

describe('addresses', () => {
  test('a reverse-DNS answer names a node: the mesh domain and interface labels are taken off', () => {
    expect(nameFromPtr('kx6n01-node-1.local.mesh')).toBe('kx6n01-node-1');
    expect(nameFromPtr('KX6N01-NODE-1.local.mesh.')).toBe('KX6N01-NODE-1');
    expect(nameFromPtr('dtdlink.KX6N02-NODE-2.local.mesh')).toBe('KX6N02-NODE-2');
    expect(nameFromPtr('mid2.KX6N02-NODE-2.local.mesh')).toBe('KX6N02-NODE-2');
    for (const bad of ['host.example.com', '1.2.3.4.local.mesh', '.local.mesh', 'a b.local.mesh']) expect(nameFromPtr(bad)).toBeNull();
  });

  test('mesh addresses: IPv4, not loopback, unspecified or multicast', () => {
    expect(['10.54.13.1', '172.31.0.1'].map(isMeshAddress)).toEqual([true, true]);
    expect(['127.0.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '10.1.2', 'KX6'].map(isMeshAddress)).toEqual([false, false, false, false, false, false]);
  });

  test('rowsOf: pairs a report teaches name its own hops', async () => {
    const body = JSON.parse(await Bun.file(path.join(EXAMPLES_DIR, 'upstream/network_status-olsr-parsable.json')).text());
    const rows = rowsOf(body, { receivedAt: new Date('2026-12-06T19:16:00Z'), config });
    expect(rows.hop.every((h) => !/^\d/.test(h.from_node) && !/^\d/.test(h.to_node))).toBe(true);
    expect(rows.path).toHaveLength(10);
  });
});

describe('parseJson', () => {
  test('reads what C prints for NaN and infinity as the string "NaN" outside strings, and only then', () => {
    expect(parseJson('{"a": nan, "b": -inf, "c": "nan inf", "d": [Infinity, -nan]}')).toEqual({ a: 'NaN', b: 'NaN', c: 'nan inf', d: ['NaN', 'NaN'] });
    expect(parseJson('{"nan": null}')).toEqual({ nan: null });
    expect(() => parseJson('{"a": nano}')).toThrow('not valid JSON');
    expect(() => parseJson('{"a": 1')).toThrow('not valid JSON');
  });
});

describe('toJsonParam', () => {
  test('replaces what PostgreSQL json cannot hold, and nothing else', () => {
    const v = [{ a: 'x\u0000y', b: '\ud800', c: '\udc00z', d: '😀', e: '\\u0000', f: '\\\u0000', g: 'plain' }];
    const out = JSON.parse(toJsonParam(v));
    expect(out).toEqual([{ a: 'x\ufffdy', b: '\ufffd', c: '\ufffdz', d: '😀', e: '\\u0000', f: '\\\ufffd', g: 'plain' }]);
  });

  test('leaves clean input as JSON.stringify wrote it', () => {
    const v = [{ route: ['a', 'b'], extra: { x: 1 } }];
    expect(toJsonParam(v)).toBe(JSON.stringify(v));
  });
});
