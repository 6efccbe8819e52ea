// GET /topology for a replayed scenario: a valid NetJSON NetworkGraph (the
// draft-04 schema OpenWISP's parser follows), whose links are exactly the
// hops stored in the last hour, with the open incidents on them.
import { beforeAll, expect, setDefaultTimeout, test } from 'bun:test';
import path from 'node:path';
import Ajv from 'ajv-draft-04';
import { sql } from 'kysely';
import { replayFile } from '../../src/engine/replay.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { silentLogger } from '../../src/log.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { SCENARIOS_DIR } from '../support/fixtures.ts';

setDefaultTimeout(300_000);

const SCHEMA = path.resolve(import.meta.dir, '../fixtures/netjson/network-graph.schema.json');
// mesh16-core's RF drop on NZ0LWL-HAP-2 ↔ WC6OJG-HAP-3 lasts 07:27–07:48.
const NOW = '2026-03-02T07:40:00Z';
const RF_LINK = ['NZ0LWL-HAP-2', 'WC6OJG-HAP-3'];

describeEachMode(
  'GET /topology',
  (get) => {
    let t: TestApp;
    let graph: any;
    beforeAll(async () => {
      await get().truncate();
      await replayFile(path.join(SCENARIOS_DIR, 'mesh16-core.ndjson.gz'), { rules: DEFAULT_RULES, tickSeconds: 60, db: get().db, log: silentLogger, until: new Date(NOW) });
      t = testApp(get(), { now: NOW });
      const r = await t.json('/topology');
      expect(r.status).toBe(200);
      graph = r.body;
    });

    test('validates against the NetJSON NetworkGraph schema', async () => {
      // strict off: the upstream draft-04 schema uses idioms Ajv's strict mode flags (additionalItems beside a 1-tuple).
      const ajv = new Ajv({ allErrors: true, strict: false });
      const schema = JSON.parse(await Bun.file(SCHEMA).text());
      const validate = ajv.compile(schema);
      const ok = validate(graph);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
      // `nodes.items` is a 1-tuple: the schema checks the first node only. Every node gets the same check here.
      const node = ajv.compile(schema.properties.nodes.items[0]);
      for (const n of graph.nodes) expect({ id: n.id, ok: node(n), errors: node.errors ?? [] }).toEqual({ id: n.id, ok: true, errors: [] });
      expect(graph.nodes.length).toBeGreaterThan(1);
      expect(graph).toMatchObject({ type: 'NetworkGraph', protocol: 'meshmon', version: 'test', metric: 'etx' });
      expect(graph.label).toContain('2026-03-02T07:40:00.000Z');
    });

    test('nodes: the registry’s, each once, with label and properties; every link end is a node', async () => {
      const registry = await get().db.selectFrom('nodes').select(['node', 'firmware_version', 'lat']).orderBy('node').execute();
      expect(registry.length).toBe(16);
      const ids = graph.nodes.map((n: any) => n.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const r of registry) {
        const n = graph.nodes.find((x: any) => x.id === r.node);
        expect(n).toMatchObject({ label: r.node, properties: { status: 'reporting', firmware_version: r.firmware_version, lat: r.lat } });
        expect(n.properties.last_seen).toMatch(/Z$/);
      }
      for (const l of graph.links) {
        expect(ids).toContain(l.source);
        expect(ids).toContain(l.target);
      }
    });

    test('links are the hop pairs stored in the last hour, with their samples, mean ETX and LQ/NLQ', async () => {
      const { rows } = await sql<{ a: string; b: string; n: number; etx: number | null }>`
        SELECT least(from_node, to_node) AS a, greatest(from_node, to_node) AS b, count(*)::int AS n, avg(etx)::float8 AS etx
        FROM hop_quality WHERE time > ${new Date(Date.parse(NOW) - 3600_000)} AND time <= ${new Date(NOW)}
        GROUP BY 1, 2 ORDER BY 1, 2`.execute(get().db);
      expect(rows.length).toBeGreaterThan(10);
      expect(graph.links.map((l: any) => [l.source, l.target, l.properties.samples])).toEqual(rows.map((r) => [r.a, r.b, r.n]));
      for (const [i, l] of graph.links.entries()) {
        expect(l.source < l.target).toBe(true);
        expect(l.cost).toBeCloseTo(rows[i]!.etx ?? 1, 2);
        expect(l.properties.lq).toBeGreaterThan(0);
        expect(l.properties.nlq).toBeGreaterThan(0);
      }
    });

    test('open incidents sit on their node or link, with the worst severity', async () => {
      const rf = graph.links.find((l: any) => l.source === RF_LINK[0] && l.target === RF_LINK[1]);
      expect(rf.properties.incidents).toEqual([expect.objectContaining({ kind: 'rf_drop' })]);
      expect(rf.properties.severity).toBe(rf.properties.incidents[0].severity);
      // The RF drop is the link's: the mesh's other links carry nothing.
      expect(graph.links.filter((l: any) => l.properties.incidents.length).length).toBe(1);
      const open = await get().db.selectFrom('incidents').select(['id', 'scope']).where('ended_at', 'is', null).execute();
      const onNodes = open.filter((o) => (o.scope as any).type === 'node');
      expect(graph.nodes.flatMap((n: any) => n.properties.incidents.map((i: any) => i.id)).sort()).toEqual(onNodes.map((o) => o.id).sort());
    });
  },
  ['none', 'apache'],
);
