import { beforeAll, expect, test } from 'bun:test';
import { testApp, type TestApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';

const hop = (src: string, dst: string, at: string, from: string, to: string, lq: number, nlq: number) => ({
  schema: 'meshmon.v1', type: 'hop_result', src, dst, sent_at: at, hop_index: 1, hop: { from, to }, l2: { lq, nlq, etx: Math.round(1000 / (lq * nlq)) / 1000 },
});

describeEachMode('GET /links/{a}/{b}/series', (get) => {
  let t: TestApp;
  beforeAll(async () => {
    await get().truncate();
    t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
    // A–B measured from both ends, every 40 s for 20 minutes; the quality drops at 11:10.
    const msgs = [];
    for (let s = 0; s < 1200; s += 40) {
      const at = new Date(Date.parse('2026-03-02T11:00:00Z') + s * 1000).toISOString();
      const bad = s >= 600;
      msgs.push(hop('KA1AAA-HAP-1', 'KB1BBB-HAP-1', at, 'KA1AAA-HAP-1', 'KB1BBB-HAP-1', bad ? 0.5 : 0.9, bad ? 0.4 : 0.8));
      msgs.push(hop('KB1BBB-HAP-1', 'KA1AAA-HAP-1', at, 'KB1BBB-HAP-1', 'KA1AAA-HAP-1', bad ? 0.4 : 0.8, bad ? 0.5 : 0.9));
    }
    const r = await t.post('/ingest', msgs);
    expect(r.status).toBe(200);
  });

  test('both directions, LQ/NLQ as seen from the first node, in either order of the path', async () => {
    for (const path of ['/links/KA1AAA-HAP-1/KB1BBB-HAP-1/series', '/links/KB1BBB-HAP-1/KA1AAA-HAP-1/series']) {
      const r = await t.json(`${path}?since=2026-03-02T11:00:00Z&until=2026-03-02T11:20:00Z&step=10m`);
      expect(r.status).toBe(200);
      expect(r.res.headers.get('etag')).toBeTruthy();
      expect(r.body).toMatchObject({ a: 'KA1AAA-HAP-1', b: 'KB1BBB-HAP-1', link: 'KA1AAA-HAP-1,KB1BBB-HAP-1', step_s: 600, source: 'raw' });
      expect(r.body.points).toEqual([
        { t: '2026-03-02T11:00:00.000Z', samples: 30, lq: 0.9, nlq: 0.8, lq_min: 0.8, etx: 1.389, etx_max: 1.389 },
        { t: '2026-03-02T11:10:00.000Z', samples: 30, lq: 0.5, nlq: 0.4, lq_min: 0.4, etx: 5, etx_max: 5 },
      ]);
    }
  });

  test('a link with no data is an empty series; one node twice is a 400', async () => {
    const r = await t.json('/links/KA1AAA-HAP-1/KZ9ZZZ-HAP-1/series');
    expect(r.status).toBe(200);
    expect(r.body.points).toEqual([]);
    const bad = await t.json('/links/KA1AAA-HAP-1/KA1AAA-HAP-1/series');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('b');
  });
});
