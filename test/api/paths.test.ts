import { beforeEach, expect, test } from 'bun:test';
import { sql } from 'kysely';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode, type TestDatabase } from '../support/databases.ts';
import { insertProbes, probeSeries } from '../support/incident-fixtures.ts';

const NOW = '2026-03-02T12:00:00Z';
const SHORT = ['S', 'D'];
const LONG = ['S', 'M', 'D'];

/** What the Ops rollup job (or, in timescale mode, the continuous aggregate's refresh) leaves in path_probe_hourly. */
async function materializeHourly(tdb: TestDatabase) {
  if (tdb.mode === 'timescale') {
    await sql`CALL refresh_continuous_aggregate('path_probe_hourly', NULL, NULL)`.execute(tdb.db);
    return;
  }
  await sql`
    INSERT INTO path_probe_hourly (bucket, src, dst, rtt_ms_avg, jitter_ms_p95, loss_pct_avg, loss_pct_max, windows)
    SELECT date_bin(interval '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00:00+00'), src, dst,
           avg(rtt_ms), meshmon_p95(jitter_ms), avg(loss_pct), max(loss_pct), count(*)
    FROM path_probe GROUP BY 1, 2, 3`.execute(tdb.db);
}

describeEachMode('GET /paths/{src}/{dst}/series', (get) => {
  let t: TestApp;
  beforeEach(async () => {
    await get().truncate();
    t = testApp(get(), { now: NOW });
  });

  test('the last 24 h by default, in 5-minute buckets aligned to the epoch, with route changes', async () => {
    // 25 h of windows every 40 s; hour h has rtt 10+h; one jitter spike a bucket; the route
    // takes the long way from 11:00 to 11:30 and a window with an unknown route (empty) in between.
    await insertProbes(
      get().db,
      probeSeries('S', 'D', '2026-03-01T11:00:00Z', NOW, 40, (time, i) => ({
        rtt_ms: 10 + time.getUTCHours(),
        jitter_ms: i % 8 === 0 ? 50 : 4,
        loss_pct: time.getUTCMinutes() < 5 ? 1 : 0,
        route: time >= new Date('2026-03-02T11:00:00Z') && time < new Date('2026-03-02T11:30:00Z') ? (i % 2 ? LONG : []) : SHORT,
      })),
    );
    // The reverse direction is another route.
    await insertProbes(get().db, probeSeries('D', 'S', '2026-03-02T00:00:00Z', NOW, 40, () => ({ rtt_ms: 999 })));

    const { status, body } = await t.json('/paths/S/D/series');
    expect(status).toBe(200);
    expect(body.src).toBe('S');
    expect(body.dst).toBe('D');
    expect(body.route).toBe('S>D');
    expect(body.since).toBe('2026-03-01T12:00:00.000Z');
    expect(body.until).toBe('2026-03-02T12:00:00.000Z');
    expect(body.step_s).toBe(300);
    expect(body.source).toBe('raw');
    expect(body.points).toHaveLength(288);
    expect(body.points.reduce((n: number, p: any) => n + p.windows, 0)).toBe(2160);

    const p = body.points.find((x: any) => x.t === '2026-03-02T05:00:00.000Z');
    expect(p.windows).toBe(8); // 05:00:00 … 05:04:40
    expect(p.rtt_ms).toBe(15);
    expect(p.rtt_ms_max).toBe(15);
    expect(p.loss_pct).toBe(1);
    expect(p.loss_pct_max).toBe(1);
    expect(p.jitter_ms_max).toBe(50);
    expect(p.jitter_ms).toBeCloseTo((50 + 7 * 4) / 8, 3);
    expect(p.jitter_ms_p95).toBeGreaterThan(4);

    // S,D → S,M,D at 11:00:40, then back at 11:30:00; the empty routes are not changes.
    expect(body.route_changes).toEqual([
      { at: '2026-03-02T11:00:40.000Z', from: SHORT, to: LONG },
      { at: '2026-03-02T11:30:00.000Z', from: LONG, to: SHORT },
    ]);
    expect(body.route_changes_total).toBe(2);
    expect(body.points.find((x: any) => x.t === '2026-03-02T11:00:00.000Z').route_changes).toBe(1);
    expect(body.points.find((x: any) => x.t === '2026-03-02T11:30:00.000Z').route_changes).toBe(1);
    expect(body.points.filter((x: any) => x.route_changes > 0)).toHaveLength(2);
  });

  test('explicit range and step; the range end is exclusive', async () => {
    await insertProbes(get().db, probeSeries('S', 'D', '2026-03-02T00:00:00Z', NOW, 60, (time) => ({ rtt_ms: time.getUTCHours(), jitter_ms: 1, loss_pct: 0 })));
    const { body } = await t.json('/paths/S/D/series?since=2026-03-02T02:00:00Z&until=2026-03-02T05:00:00Z&step=1h');
    expect(body.step_s).toBe(3600);
    expect(body.source).toBe('raw');
    expect(body.points.map((p: any) => [p.t, p.windows, p.rtt_ms])).toEqual([
      ['2026-03-02T02:00:00.000Z', 60, 2],
      ['2026-03-02T03:00:00.000Z', 60, 3],
      ['2026-03-02T04:00:00.000Z', 60, 4],
    ]);
    // Buckets are aligned to the step, not to `since`: the first one may be partial.
    const odd = await t.json('/paths/S/D/series?since=2026-03-02T02:30:00Z&until=2026-03-02T03:30:00Z&step=3600');
    expect(odd.body.points.map((p: any) => [p.t, p.windows])).toEqual([
      ['2026-03-02T02:00:00.000Z', 30],
      ['2026-03-02T03:00:00.000Z', 30],
    ]);
    const quarter = await t.json('/paths/S/D/series?since=2026-03-02T02:00:00Z&until=2026-03-02T03:00:00Z&step=15m');
    expect(quarter.body.points.map((p: any) => p.windows)).toEqual([15, 15, 15, 15]);
    // Only `since`: until is now. Default step for a 10 h range: 5 min (≤ 300 buckets).
    const since = await t.json('/paths/S/D/series?since=2026-03-02T02:00:00Z');
    expect(since.body.until).toBe('2026-03-02T12:00:00.000Z');
    expect(since.body.step_s).toBe(300);
  });

  test('a route without data is an empty series, not an error', async () => {
    const { status, body } = await t.json('/paths/NOPE1/NOPE2/series');
    expect(status).toBe(200);
    expect(body.points).toEqual([]);
    expect(body.route_changes).toEqual([]);
    expect(body.route_changes_total).toBe(0);
  });

  test('long ranges in whole hours read the hourly rollup', async () => {
    const db = get().db;
    await insertProbes(db, probeSeries('S', 'D', '2026-02-23T00:00:00Z', '2026-03-02T00:00:00Z', 120, (time, i) => ({
      rtt_ms: time.getUTCDate(),
      jitter_ms: i % 30,
      loss_pct: time.getUTCHours() === 3 ? 10 : 0,
      route: time.getUTCDate() === 25 && time.getUTCHours() === 6 && time.getUTCMinutes() === 0 ? LONG : SHORT,
    })));
    await materializeHourly(get());
    // Raw retention dropped the oldest days: only the rollup still has them.
    await sql`DELETE FROM path_probe WHERE time < '2026-02-25T00:00:00Z'`.execute(db);

    const { body } = await t.json('/paths/S/D/series?since=2026-02-23T00:00:00Z&until=2026-03-02T00:00:00Z&step=1d');
    expect(body.source).toBe('hourly');
    expect(body.step_s).toBe(86400);
    expect(body.points.map((p: any) => [p.t.slice(0, 10), p.windows, p.rtt_ms])).toEqual([
      ['2026-02-23', 720, 23],
      ['2026-02-24', 720, 24],
      ['2026-02-25', 720, 25],
      ['2026-02-26', 720, 26],
      ['2026-02-27', 720, 27],
      ['2026-02-28', 720, 28],
      ['2026-03-01', 720, 1],
    ]);
    const day = body.points[0];
    expect(day.loss_pct).toBeCloseTo(10 / 24, 3);
    expect(day.loss_pct_max).toBe(10);
    expect(day.jitter_ms_p95).toBeGreaterThan(20);
    expect(day.jitter_ms).toBeNull();
    expect(day.rtt_ms_max).toBeNull();
    // Route changes come from the raw windows that are left.
    expect(body.route_changes.map((c: any) => c.at)).toEqual(['2026-02-25T06:00:00.000Z', '2026-02-25T06:02:00.000Z']);
    expect(body.points[2].route_changes).toBe(2);

    // The same range in 15-minute steps stays on raw windows.
    const fine = await t.json('/paths/S/D/series?since=2026-02-23T00:00:00Z&until=2026-03-02T00:00:00Z&step=15m');
    expect(fine.body.source).toBe('raw');
    expect(fine.body.points[0].t).toBe('2026-02-25T00:00:00.000Z');
    // Two days in hours is "long"; a day is not.
    expect((await t.json('/paths/S/D/series?since=2026-02-27T00:00:00Z&until=2026-03-01T00:00:00Z&step=1h')).body.source).toBe('hourly');
    expect((await t.json('/paths/S/D/series?since=2026-02-28T00:00:00Z&until=2026-03-01T00:00:00Z&step=1h')).body.source).toBe('raw');
  });

  test('bad parameters are 400 problems naming them', async () => {
    const cases: Array<[string, string]> = [
      ['/paths/bad%20node/D/series', 'src'],
      ['/paths/S/' + 'x'.repeat(64) + '/series', 'dst'],
      ['/paths/S/D/series?step=0', 'step'],
      ['/paths/S/D/series?step=fast', 'step'],
      ['/paths/S/D/series?step=1s', 'step'],
      ['/paths/S/D/series?since=2026-03-02', 'since'],
      ['/paths/S/D/series?until=noon', 'until'],
      ['/paths/S/D/series?since=2026-03-02T10:00:00Z&until=2026-03-02T10:00:00Z', 'until'],
      ['/paths/S/D/series?since=2026-03-02T13:00:00Z&until=2026-03-02T12:30:00Z', 'until'],
      ['/paths/S/D/series?until=2025-01-01T00:00:00Z&since=2023-01-01T00:00:00Z', 'since'],
      ['/paths/S/D/series?from=2026-03-02T10:00:00Z', 'from'],
    ];
    for (const [path, param] of cases) {
      const r = await t.json(path);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.res.headers.get('content-type')).toBe('application/problem+json');
      expect({ path, named: r.body.errors.map((e: any) => e.path) }).toEqual({ path, named: [param] });
    }
    // A future `since` alone gets a day after it rather than an empty range.
    const future = await t.json('/paths/S/D/series?since=2026-03-03T00:00:00Z');
    expect(future.status).toBe(200);
    expect(future.body.until).toBe('2026-03-04T00:00:00.000Z');
  });
});
