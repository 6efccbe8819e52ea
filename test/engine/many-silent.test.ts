// One crafted message must not stop the Issue Engine: 20,000 distinct node
// names posted to the open ingest endpoint, then silent, are 20,000 incidents
// and events in one tick — beyond what one statement may carry (PostgreSQL's
// 65,535 bind parameters). The engine writes in bounded statements and keeps
// ticking, and what it writes is right. Assertions hold for the spec's
// "many nodes silent at once" (rules.md), whatever groups the silences:
// every silent node is in an open incident, nothing else is; an outage is
// ONE agent_silent root on node "*" (per-node children allowed).
import { beforeEach, expect, test } from 'bun:test';
import { sql } from 'kysely';
import type { Database } from '../../src/db/database.ts';
import { createEngineRunner } from '../../src/engine/engine.job.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';

const SILENT = 20_500;
const BATCH = 2_500;
const T0 = Date.parse('2026-03-02T12:00:00Z');
const MIN = 60_000;
const ANCHORS = ['anchor-1', 'anchor-2', 'anchor-3'];

const health = (node: string, at: number) => ({
  schema: 'meshmon.v1', type: 'agent_health', node, sent_at: new Date(at).toISOString(), cpu_pct: 2, mem_mb: 6, queue_len: 0, neighbors_seen: 2,
});
const silentName = (i: number) => `silent-${String(i).padStart(5, '0')}`;

/** Through POST /ingest, as an agent (or an attacker) sends them. */
async function report(t: TestApp, nodes: string[], at: number) {
  t.setNow(new Date(at));
  for (let i = 0; i < nodes.length; i += BATCH) {
    const r = await t.post('/ingest', nodes.slice(i, i + BATCH).map((n) => health(n, at)));
    expect(r.status).toBe(200);
  }
}

/** Open incidents: how many, the silent nodes they cover, the roots. */
async function openState(db: Database) {
  const { rows: [r] } = await sql<{ total: number; covered: number; anchors: number; major: number }>`
    SELECT
      (SELECT count(*)::int FROM incidents WHERE ended_at IS NULL) AS total,
      (SELECT count(DISTINCT n)::int FROM incidents, unnest(nodes) AS n WHERE ended_at IS NULL AND n LIKE 'silent-%') AS covered,
      (SELECT count(*)::int FROM incidents, unnest(nodes) AS n WHERE ended_at IS NULL AND n LIKE 'anchor-%') AS anchors,
      (SELECT count(*)::int FROM incidents WHERE ended_at IS NULL AND kind = 'agent_silent' AND severity = 'major') AS major`.execute(db);
  const { rows: roots } = await sql<{ id: string; kind: string; scope: { type: string; node?: string } }>`
    SELECT id, kind, scope FROM incidents WHERE ended_at IS NULL AND parent_id IS NULL ORDER BY id`.execute(db);
  return { ...r!, roots };
}

describeEachMode('many silent nodes', (get) => {
  const all = Array.from({ length: SILENT }, (_, i) => silentName(i));
  beforeEach(() => get().truncate());

  test(`${SILENT.toLocaleString('en-US')} names posted once, then silent while the mesh reports: the engine keeps ticking, every one is an incident`, async () => {
    const t = testApp(get(), { env: { MAX_NODES: '1000000' } as Record<string, string> });
    const runner = createEngineRunner(t.deps, DEFAULT_RULES);
    const tick = async (at: number) => {
      const o = await runner.tick(new Date(at));
      expect(o.role === 'error' ? o.error : o.role).toBe('leader');
      if (o.role !== 'leader') throw new Error('not leading');
      for (const r of o.result.rules) expect({ rule: r.rule, error: r.error }).toEqual({ rule: r.rule, error: null });
      return o.result;
    };
    try {
      // The mesh reports every minute throughout; the crafted names once, at T0.
      const anchorsUntil = async (until: number, from: number) => {
        for (let at = from; at <= until; at += MIN) await report(t, ANCHORS, at);
      };
      await anchorsUntil(T0, T0 - 20 * MIN);
      await report(t, all, T0);
      await anchorsUntil(T0 + 7 * MIN, T0 + MIN);

      // 7 min on: all of them silent (5 min without a word) — one tick opens them all.
      let result = await tick(T0 + 7 * MIN);
      const openedIn = result.durationMs;
      expect(result.opened.length).toBeGreaterThanOrEqual(SILENT);
      let s = await openState(get().db);
      expect(s.covered).toBe(SILENT);
      expect(s.anchors).toBe(0);
      const events = await sql<{ n: number }>`SELECT count(*)::int AS n FROM incident_events WHERE event = 'opened'`.execute(get().db);
      expect(events.rows[0]!.n).toBe(result.opened.length);
      // The next tick has nothing to change.
      result = await tick(T0 + 7 * MIN + 10_000);
      expect(result.opened).toEqual([]);

      // 30 min of silence: every one of them turns major in one tick (20,000+ updates and events).
      await anchorsUntil(T0 + 32 * MIN, T0 + 8 * MIN);
      result = await tick(T0 + 32 * MIN);
      const majorIn = result.durationMs;
      expect(result.updated.length).toBeGreaterThanOrEqual(SILENT);
      s = await openState(get().db);
      expect(s.covered).toBe(SILENT);
      expect(s.major).toBeGreaterThanOrEqual(SILENT);

      // They come back, reporting every 5 min: every incident clears, then closes (15 min later).
      for (let at = T0 + 33 * MIN; at <= T0 + 53 * MIN; at += 5 * MIN) {
        await report(t, [...ANCHORS, ...all], at);
        await tick(at + 30_000);
      }
      s = await openState(get().db);
      expect({ open: s.total, covered: s.covered }).toEqual({ open: 0, covered: 0 });

      const { body } = await t.json('/summary');
      expect(body.engine.state).toBe('ok');
      expect(body.health).toBe('green');
      console.error(`[${SILENT} silent nodes, ${get().mode}] the tick opening them all took ${Math.round(openedIn)} ms, the one turning them major ${Math.round(majorIn)} ms`);
    } finally {
      await runner.stop();
    }
  }, 900_000);

  test(`an outage: ${SILENT.toLocaleString('en-US')} nodes and the mesh silent together are ONE agent_silent root on node "*"`, async () => {
    const t = testApp(get(), { env: { MAX_NODES: '1000000' } as Record<string, string> });
    const runner = createEngineRunner(t.deps, DEFAULT_RULES);
    try {
      for (let at = T0 - 10 * MIN; at <= T0; at += 5 * MIN) await report(t, [...ANCHORS, ...all], at);
      for (const at of [T0 + 7 * MIN, T0 + 8 * MIN, T0 + 32 * MIN]) {
        const o = await runner.tick(new Date(at));
        expect(o.role === 'error' ? o.error : o.role).toBe('leader');
      }
      const s = await openState(get().db);
      expect(s.roots.map((r) => ({ kind: r.kind, node: r.scope.node }))).toEqual([{ kind: 'agent_silent', node: '*' }]);
      // Children (per-node silences under the outage) are allowed; nothing else is open.
      const { rows: [orphans] } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM incidents WHERE ended_at IS NULL AND parent_id IS DISTINCT FROM ${s.roots[0]!.id}`.execute(get().db);
      expect(orphans!.n).toBe(1);
      const { body } = await t.json('/summary');
      expect(body.open.roots).toBe(1);
      expect(body.engine.state).toBe('ok');
    } finally {
      await runner.stop();
    }
  }, 900_000);
});
