import { describe, expect, test } from 'bun:test';
import { z } from 'zod';
import { configFrom } from '../../src/config.ts';
import { toJsonParam } from '../../src/ingest/ingest.repository.ts';
import { AgentMessage, IngestBody, IngestResponse, NodeName } from '../../src/ingest/ingest.schema.ts';
import { parseMessages, toRows } from '../../src/ingest/ingest.service.ts';
import { example } from '../support/fixtures.ts';
import { agentHealth, pathResult } from './helpers.ts';

const config = configFrom();
const now = new Date('2026-03-02T12:00:00Z');

describe('ingest schemas', () => {
  test('the request and response schemas convert to JSON Schema (for /openapi.json)', () => {
    const body = z.toJSONSchema(IngestBody, { io: 'input' });
    expect(JSON.stringify(body)).toContain('network_status');
    const res = z.toJSONSchema(IngestResponse) as { $defs: Record<string, { required: string[] }> };
    expect(res.$defs.IngestResponse!.required).toEqual(expect.arrayContaining(['accepted', 'duplicates', 'received_at']));
  });

  test('every spec example parses', async () => {
    for (const name of ['path_result', 'hop_result', 'agent_health', 'agent_health-field', 'network_status', 'crash_report']) {
      expect(AgentMessage.safeParse(await example(name)).success, name).toBe(true);
    }
  });

  test('node names: hostname-like, labels up to 63, 253 in all', () => {
    const ok = ['a', 'node-A', 'KX6ABC-HAP-2', 'node_1', 'n1.local.mesh', 'a'.repeat(63), Array(4).fill('a'.repeat(63)).join('.').slice(0, 253)];
    const bad = ['', ' ', 'a b', 'a/b', 'a..b', '.a', 'a.', 'a'.repeat(64), 'ü', 'a:b', Array(64).fill('abc').join('.')];
    for (const n of ok) expect(NodeName.safeParse(n).success, n).toBe(true);
    for (const n of bad) expect(NodeName.safeParse(n).success, n).toBe(false);
  });
});

describe('parseMessages', () => {
  test('accepts one message or an array', () => {
    expect(parseMessages(pathResult(), { now, config })).toMatchObject({ ok: true, messages: [{ type: 'path_result' }] });
    expect(parseMessages([pathResult(), agentHealth()], { now, config })).toMatchObject({ ok: true });
    expect(parseMessages([], { now, config })).toEqual({ ok: true, messages: [] });
  });

  test('keeps unknown fields and fills defaults', () => {
    const { window_s: _w, ...msg } = pathResult({ future_field: { a: 1 } });
    const r = parseMessages(msg, { now, config });
    expect(r.ok && r.messages[0]).toMatchObject({ window_s: 5, future_field: { a: 1 } });
  });

  test('caps the issues of one message but reports every message', () => {
    const junk = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 1]));
    const bad = { schema: 'meshmon.v1', type: 'path_result', route: Array(40).fill(''), ...junk };
    const r = parseMessages([bad, bad, pathResult()], { now, config });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.filter((e) => e.index === 0)).toHaveLength(20);
      expect(r.errors.filter((e) => e.index === 1)).toHaveLength(20);
      expect(r.errors.some((e) => e.index === 2)).toBe(false);
    }
  });

  test('a batch of thousands of bad messages still names each one, briefly', () => {
    const bad = { schema: 'meshmon.v2', type: 'path_result', route: Array(40).fill('') };
    const r = parseMessages(Array(5000).fill(bad), { now, config });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(new Set(r.errors.map((e) => e.index)).size).toBe(5000);
      expect(r.errors.length).toBeLessThan(7000);
    }
  });

  test('retention is measured from ctx.now', () => {
    const msg = pathResult({ sent_at: '2025-09-29T18:41:05Z' });
    expect(parseMessages(msg, { now, config }).ok).toBe(false);
    expect(parseMessages(msg, { now: new Date('2025-09-29T19:00:00Z'), config }).ok).toBe(true);
    expect(parseMessages(msg, { now, config: configFrom({ RETENTION_RAW_DAYS: '365' }) }).ok).toBe(true);
  });
});

describe('toRows', () => {
  test('fans a network_status out: hop i runs from the previous node, the source first', async () => {
    const msg = AgentMessage.parse(await example('network_status'));
    const rows = toRows([msg], { receivedAt: new Date('2026-03-02T07:16:00Z'), config });
    expect(rows.path.map((p) => [p.src, p.dst, p.route])).toEqual([
      ['KX6ABC-HAP-2', 'KX6DEF-RKT-1', ['KX6ABC-HAP-2', 'KX6GHI-NSM5-1', 'KX6DEF-RKT-1']],
      ['KX6ABC-HAP-2', 'KX6JKL-TUN-HUB', ['KX6ABC-HAP-2', 'KX6JKL-TUN-HUB']],
    ]);
    expect(rows.hop.map((h) => [h.hop_index, h.from_node, h.to_node, h.link_type])).toEqual([
      [1, 'KX6ABC-HAP-2', 'KX6GHI-NSM5-1', 'RF'],
      [2, 'KX6GHI-NSM5-1', 'KX6DEF-RKT-1', 'RF'],
      [1, 'KX6ABC-HAP-2', 'KX6JKL-TUN-HUB', 'TUN'],
    ]);
  });

  test('an agent_health and a crash_report of one node at one instant are both kept (keys are per table)', () => {
    const sent_at = '2026-03-02T11:00:00Z';
    const msgs = [agentHealth({ sent_at }), { schema: 'meshmon.v1', type: 'crash_report', node: 'node-A', sent_at }].map((m) => AgentMessage.parse(m));
    const rows = toRows(msgs, { receivedAt: now, config });
    expect([rows.health.length, rows.crash.length]).toEqual([1, 1]);
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
