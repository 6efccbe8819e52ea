import { expect, test, setDefaultTimeout } from 'bun:test';
import { sql } from 'kysely';
import { configFrom } from '../../src/config.ts';
import { runMaintenance } from '../../src/ops/maintenance.job.ts';
import { blockCutoff, rawCutoff, rollupCutoff, DELETE_BATCH } from '../../src/ops/retention.ts';
import { refreshRollups } from '../../src/ops/rollup.ts';
import { describeEachMode } from '../support/databases.ts';
import {
  DAY, HOUR, chunkCompression, expectedHopHourly, expectedPathHourly, hourFloor, hourOfData,
  insertHops, insertProbes, readHopHourly, readPathHourly, runNativePolicies,
  type HopRow, type ProbeRow,
} from './helpers.ts';

// Real databases on a shared machine: PGlite start-up and pg_dump take seconds.
setDefaultTimeout(60_000);

// The defaults: raw 90 days, rollups 365, closed incidents 365, compression after 7.
const config = configFrom();

// Real time: TimescaleDB's native policies measure age against the database's
// own clock, so the data is placed relative to it in every mode.
const now = new Date(hourFloor(Date.now()) + 30 * 60_000);
const AGES = [400, 200, 92, 88, 10, 2] as const;
const hourAt = (ageDays: number) => hourFloor(now.getTime() - ageDays * DAY);

function expectAggregates(actual: Map<string, Record<string, unknown>>, expected: Map<string, Record<string, number | null>>, keys: string[]) {
  for (const k of keys) {
    const a = actual.get(k);
    expect(a, `rollup row ${k}`).toBeDefined();
    for (const [col, v] of Object.entries(expected.get(k)!)) {
      const got = a![col] as number | null;
      if (v === null) expect(got, `${k} ${col}`).toBeNull();
      else expect(Number(got), `${k} ${col}`).toBeCloseTo(v, 9);
    }
  }
}

describeEachMode('retention, compression and hourly rollups', (get, mode) => {
  const probes: ProbeRow[] = [];
  const hops: HopRow[] = [];
  const byAge = new Map<number, { probes: ProbeRow[]; hops: HopRow[] }>();

  test('the retention boundaries fall on whole blocks', () => {
    expect(rawCutoff(now, config).getTime() % DAY).toBe(0);
    expect(rollupCutoff(now, config).getTime() % (10 * DAY)).toBe(0);
    expect(blockCutoff(new Date('2026-03-02T12:00:00Z'), 1, DAY).toISOString()).toBe('2026-03-01T00:00:00.000Z');
    // Every age used below is clearly on one side of its limit.
    expect(hourAt(92) + HOUR).toBeLessThanOrEqual(rawCutoff(now, config).getTime());
    expect(hourAt(88)).toBeGreaterThanOrEqual(rawCutoff(now, config).getTime());
    expect(hourAt(400) + HOUR).toBeLessThanOrEqual(rollupCutoff(now, config).getTime());
    expect(hourAt(200)).toBeGreaterThanOrEqual(rollupCutoff(now, config).getTime());
  });

  test('rollups hold the hourly aggregates, refreshed as time passes', async () => {
    const { db } = get();
    for (const [i, age] of AGES.entries()) {
      const d = hourOfData(hourAt(age), 1000 + i);
      byAge.set(age, d);
      probes.push(...d.probes);
      hops.push(...d.hops);
      await insertProbes(db, d.probes);
      await insertHops(db, d.hops);
    }
    // The collector (or the refresh policy) ran while each hour was recent.
    for (const age of AGES) await refreshRollups(db, new Date(hourAt(age) + 2 * HOUR), config);
    await refreshRollups(db, now, config);

    const expectedPath = expectedPathHourly(probes);
    const expectedHop = expectedHopHourly(hops);
    const path = await readPathHourly(db);
    const hop = await readHopHourly(db);
    expect(path.size).toBe(expectedPath.size);
    expect(hop.size).toBe(expectedHop.size);
    expectAggregates(path, expectedPath, [...expectedPath.keys()]);
    expectAggregates(hop, expectedHop, [...expectedHop.keys()]);
    // Spot-check one p95 by hand: nine windows with one NULL → 8 values, rank 6.65.
    const k = [...expectedPath.keys()][0]!;
    const values = probes.filter((p) => `${new Date(hourFloor(p.time.getTime())).toISOString()}|${p.src}|${p.dst}` === k)
      .map((p) => p.jitter_ms).filter((x): x is number => x !== null).sort((a, b) => a - b);
    expect(values.length).toBe(8);
    expect(Number(path.get(k)!.jitter_ms_p95)).toBeCloseTo(values[6]! + 0.65 * (values[7]! - values[6]!), 9);
  });

  test('retention removes old raw rows, old rollups and old closed incidents; keeps the rest', async () => {
    const { db } = get();
    const old = (days: number) => new Date(now.getTime() - days * DAY);
    // Incidents: closed long ago (gone, with its events), closed recently, open for ages.
    const base = { scope: JSON.stringify({ type: 'route', src: 'N0DE-A', dst: 'N0DE-B' }), severity: 'minor', detected_at: old(500), updated_at: old(400) };
    await db.insertInto('incidents').values([
      { ...base, id: 'inc-old', kind: 'jitter_burst', scope_key: 'route:a:b:1', status: 'closed', started_at: old(401), ended_at: old(400) },
      { ...base, id: 'inc-recent', kind: 'jitter_burst', scope_key: 'route:a:b:2', status: 'closed', started_at: old(301), ended_at: old(300) },
      { ...base, id: 'inc-open', kind: 'loss_spike', scope_key: 'route:a:b:3', status: 'open', started_at: old(500), ended_at: null },
    ]).execute();
    await db.insertInto('incident_events').values([
      { incident_id: 'inc-old', at: old(401), event: 'opened' },
      { incident_id: 'inc-recent', at: old(301), event: 'opened' },
    ]).execute();
    // More crash reports than one delete batch, all too old, and one young one.
    await sql`
      INSERT INTO crash_report (time, node, sent_at, received_at, reason)
      SELECT ${old(95)}::timestamptz + make_interval(secs => g), 'N0DE-A', ${old(95)}::timestamptz, ${old(95)}::timestamptz, 'test'
      FROM generate_series(1, ${DELETE_BATCH * 2 + 7}) g`.execute(db);
    await db.insertInto('crash_report').values({ time: old(88), node: 'N0DE-A', sent_at: old(88), received_at: old(88) }).execute();
    await db.insertInto('agent_health').values([
      { time: old(92), node: 'N0DE-A', sent_at: old(92), received_at: old(92), cpu_pct: 1 },
      { time: old(88), node: 'N0DE-A', sent_at: old(88), received_at: old(88), cpu_pct: 2 },
    ]).execute();

    const report = await runMaintenance(db, now, config);
    if (mode === 'timescale') {
      expect(report.policies?.native).toBe(true);
      expect(report.tables.find((t) => t.table === 'path_probe')!.method).toBe('native_policy');
      // What the TimescaleDB scheduler does on a real server.
      await runNativePolicies(db);
    } else {
      expect(report.tables.find((t) => t.table === 'path_probe')!.method).toBe(mode === 'apache' ? 'drop_chunks' : 'delete');
    }
    expect(report.tables.find((t) => t.table === 'crash_report')!.removed).toBe(DELETE_BATCH * 2 + 7);

    const raw = await db.selectFrom('path_probe').select(['time', 'src', 'dst', 'rtt_ms', 'jitter_ms', 'loss_pct']).orderBy('time').orderBy('src').orderBy('dst').execute();
    const kept = probes.filter((p) => p.time.getTime() >= hourAt(88)).sort((a, b) => a.time.getTime() - b.time.getTime() || a.dst.localeCompare(b.dst));
    expect(raw.length).toBe(kept.length);
    // Compressed chunks (community mode) read back exactly.
    expect(raw.map((r) => [new Date(r.time).toISOString(), r.src, r.dst, r.rtt_ms, r.jitter_ms, r.loss_pct]))
      .toEqual(kept.map((r) => [r.time.toISOString(), r.src, r.dst, r.rtt_ms, r.jitter_ms, r.loss_pct]));
    const hopCount = await db.selectFrom('hop_quality').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(hopCount.n)).toBe(hops.filter((h) => h.time.getTime() >= hourAt(88)).length);
    const health = await db.selectFrom('agent_health').select('cpu_pct').execute();
    expect(health.map((h) => h.cpu_pct)).toEqual([2]);
    const crashes = await db.selectFrom('crash_report').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(crashes.n)).toBe(1);

    // Rollups outlive raw data (200 and 92 days), until their own limit (400 days).
    const path = await readPathHourly(db);
    const hop = await readHopHourly(db);
    const keptPath = expectedPathHourly(probes.filter((p) => p.time.getTime() >= hourAt(200)));
    const keptHop = expectedHopHourly(hops.filter((h) => h.time.getTime() >= hourAt(200)));
    expect([...path.keys()].sort()).toEqual([...keptPath.keys()].sort());
    expect([...hop.keys()].sort()).toEqual([...keptHop.keys()].sort());
    expectAggregates(path, keptPath, [...keptPath.keys()]);
    expectAggregates(hop, keptHop, [...keptHop.keys()]);

    const incidents = await db.selectFrom('incidents').select('id').orderBy('id').execute();
    expect(incidents.map((i) => i.id)).toEqual(['inc-open', 'inc-recent']);
    const events = await db.selectFrom('incident_events').select('incident_id').execute();
    expect(events.map((e) => e.incident_id)).toEqual(['inc-recent']);

    // A second pass finds nothing more to remove.
    const again = await runMaintenance(db, now, config);
    for (const t of again.tables) if (t.removed !== null) expect(t.removed, t.table).toBe(0);
  });

  test.if(mode === 'timescale')('chunks older than COMPRESS_AFTER_DAYS are compressed, younger ones are not', async () => {
    const { db } = get();
    const chunks = await chunkCompression(db, 'path_probe');
    const compressAfter = now.getTime() - config.COMPRESS_AFTER_DAYS * DAY;
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      expect(c.is_compressed, `chunk from ${new Date(c.range_start).toISOString()}`).toBe(new Date(c.range_end).getTime() <= compressAfter);
    }
    expect(chunks.some((c) => c.is_compressed)).toBe(true);
  });

  test('a late row re-aggregates its hour, percentile included', async () => {
    const { db } = get();
    const hour = hourAt(2);
    const late: ProbeRow = {
      time: new Date(hour + 50 * 60_000), src: 'N0DE-A', dst: 'N0DE-B',
      // Received after the last refresh, two days after it was measured.
      rtt_ms: 999, jitter_ms: 88.8, loss_pct: 75, received_at: new Date(now.getTime() + 5 * 60_000),
    };
    const lateHop: HopRow = {
      time: late.time, src: 'N0DE-A', dst: 'N0DE-B', hop_index: 0, from_node: 'N0DE-A', to_node: 'N0DE-B',
      lq: 0.01, nlq: 0.02, etx: 9, received_at: late.received_at,
    };
    await insertProbes(db, [late]);
    await insertHops(db, [lateHop]);
    probes.push(late);
    hops.push(lateHop);
    if (mode === 'timescale') await runNativePolicies(db, ['refresh']);
    else await refreshRollups(db, new Date(now.getTime() + 10 * 60_000), config);

    const key = `${new Date(hour).toISOString()}|N0DE-A|N0DE-B`;
    const expected = expectedPathHourly(probes.filter((p) => p.time.getTime() >= hour && p.time.getTime() < hour + HOUR));
    expectAggregates(await readPathHourly(db), expected, [key]);
    expect(expected.get(key)!.loss_pct_max).toBe(75);
    const expectedHop = expectedHopHourly(hops.filter((h) => h.time.getTime() >= hour && h.time.getTime() < hour + HOUR));
    expectAggregates(await readHopHourly(db), expectedHop, [...expectedHop.keys()]);
  });
});
