import { expect, test } from 'bun:test';
import { sql } from 'kysely';
import { describeEachMode } from '../support/databases.ts';

// The measurement tables 0001 creates; later migrations may add more hypertables.
const SERIES = ['agent_health', 'hop_quality', 'path_probe'];
const SEGMENT_BY: Record<string, string[]> = {
  path_probe: ['src', 'dst'],
  hop_quality: ['src', 'dst', 'hop_index'],
  agent_health: ['node'],
};

describeEachMode('0001 DDL', (get, mode) => {
  test('creates every table as a plain table or a hypertable as the mode allows', async () => {
    const { db } = get();
    const { rows: tables } = await sql<{ name: string; kind: string }>`
      SELECT c.relname AS name, c.relkind::text AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')`.execute(db);
    const names = tables.map((t) => t.name);
    for (const t of [...SERIES, 'nodes', 'crash_report', 'incidents', 'incident_events', 'job_state']) {
      expect(names).toContain(t);
    }

    const { rows: ext } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`.execute(db);
    if (mode === 'none') {
      expect(ext[0]!.n).toBe(0);
      expect(get().info.timescaledb).toBeNull();
      return;
    }
    expect(ext[0]!.n).toBe(1);
    const { rows: hts } = await sql<{ name: string; compression: boolean }>`
      SELECT hypertable_name AS name, compression_enabled AS compression
      FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'`.execute(db);
    const byName = new Map(hts.map((h) => [h.name, h]));
    for (const t of SERIES) {
      expect(byName.has(t)).toBe(true);
      expect(byName.get(t)!.compression).toBe(mode === 'timescale');
    }
    // The tables the API updates in place stay plain.
    for (const t of ['nodes', 'incidents', 'incident_events', 'job_state']) expect(byName.has(t)).toBe(false);
  });

  test('hypertables are chunked by day on time', async () => {
    if (mode === 'none') return;
    const { rows } = await sql<{ name: string; column: string; interval: string }>`
      SELECT hypertable_name AS name, column_name AS column, time_interval::text AS interval
      FROM timescaledb_information.dimensions WHERE hypertable_schema = 'public'`.execute(get().db);
    for (const t of SERIES) {
      const d = rows.find((r) => r.name === t);
      expect(d?.column).toBe('time');
      expect(d?.interval).toBe('1 day');
    }
  });

  test('compression segments by the series key and orders by time (timescale only)', async () => {
    if (mode !== 'timescale') return;
    const { rows } = await sql<{ name: string; attname: string; segmentby: number | null; orderby: number | null; asc: boolean | null }>`
      SELECT hypertable_name AS name, attname,
             segmentby_column_index AS segmentby, orderby_column_index AS orderby, orderby_asc AS asc
      FROM timescaledb_information.compression_settings WHERE hypertable_schema = 'public'`.execute(get().db);
    for (const t of SERIES) {
      const mine = rows.filter((r) => r.name === t);
      const segment = mine.filter((r) => r.segmentby !== null).sort((a, b) => a.segmentby! - b.segmentby!).map((r) => r.attname);
      expect(segment).toEqual(SEGMENT_BY[t]!);
      const order = mine.filter((r) => r.orderby !== null);
      expect(order.map((r) => [r.attname, r.asc])).toEqual([['time', false]]);
    }
  });

  test('the idempotency keys exist in every mode', async () => {
    const { rows } = await sql<{ name: string }>`
      SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'`.execute(get().db);
    const names = rows.map((r) => r.name);
    for (const i of ['path_probe_key', 'hop_quality_key', 'agent_health_key', 'incidents_one_open']) expect(names).toContain(i);
  });
});
