// /issues answers are kept between two incident changes: the incidents table
// announces every change with NOTIFY at commit (migration 0006), whoever makes
// it, and a collector that cannot hear the announcements reads every time.
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { IncidentListCache } from '../../src/api/list-cache.ts';
import { listenForIncidentChanges, type IncidentChangeListener } from '../../src/db/incident-changes.ts';
import { runTick } from '../../src/engine/engine.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { silentLogger } from '../../src/log.ts';
import { testApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncident } from '../support/incident-fixtures.ts';
import { background, every, ingest, min, overlay, probe } from '../engine/support/mesh.ts';

async function until(cond: () => boolean | Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await Bun.sleep(20);
  }
}

describeEachMode(
  'cached /issues',
  (get) => {
    let cache: IncidentListCache;
    let listener: IncidentChangeListener;
    let listening = false;
    beforeEach(async () => {
      await get().truncate();
      cache = new IncidentListCache();
      listening = false;
      listener = listenForIncidentChanges({
        url: get().url!,
        log: silentLogger,
        retryMs: 50,
        onChange: () => cache.invalidate(),
        onState: (on) => {
          listening = on;
          cache.setListening(on);
        },
      });
      await until(() => listening);
    });
    afterEach(async () => {
      await listener.close();
    });

    const app = () => testApp(get(), { now: '2026-03-02T12:00:00Z', listCache: cache });

    test('a repeated request is answered from the cache until a change is announced', async () => {
      const t = app();
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z' });
      const first = await t.json('/issues');
      expect(first.res.headers.get('x-cache')).toBe('miss');
      const second = await t.json('/issues');
      expect(second.res.headers.get('x-cache')).toBe('hit');
      expect(second.body).toEqual(first.body);
      // Another query is another entry…
      expect((await t.json('/issues?status=all')).res.headers.get('x-cache')).toBe('miss');
      // …but the same query spelt otherwise is the same one: defaults, order, jQuery's cache buster.
      expect((await t.json('/issues?status=open&roots=true&_=1764000000001')).res.headers.get('x-cache')).toBe('hit');
      expect((await t.json('/issues?roots=false&status=all&limit=7')).res.headers.get('x-cache')).toBe('miss');
      expect((await t.json('/issues?limit=7&status=all&roots=false&_=2')).res.headers.get('x-cache')).toBe('hit');
      expect((await t.json('/issues/by-object?node=N1')).res.headers.get('x-cache')).toBe('miss');
      expect((await t.json('/issues/by-object?_=3&node=N1')).res.headers.get('x-cache')).toBe('hit');
      expect((await t.json('/issues/by-object?node=N2')).res.headers.get('x-cache')).toBe('miss');
      // A link is keyed as the structured link it names: either order, either form.
      expect((await t.json('/issues/by-object?link=N1,KX6--N2')).res.headers.get('x-cache')).toBe('miss');
      expect((await t.json('/issues/by-object?link=KX6--N2,N1')).res.headers.get('x-cache')).toBe('hit');
      // the old form of it has two readings and no incident holds either: a 400, never kept
      expect((await t.json('/issues/by-object?link=N1--KX6--N2')).status).toBe(400);
      expect((await t.json('/issues/by-object?link=N1--KX6--N2')).status).toBe(400);

      // Any write is announced by the table itself, here one the engine never made.
      await insertIncident(get().db, { id: 'inc_b', started_at: '2026-03-02T11:00:00Z' });
      await until(async () => (await t.json('/issues')).body.items.length === 2);
      const after = await t.json('/issues');
      expect(after.body.items.map((i: any) => i.id)).toEqual(['inc_b', 'inc_a']);
      expect(after.res.headers.get('x-cache')).toBe('hit');
    });

    test('the incidents table announces every change, whoever makes it, and only real ones', async () => {
      const t = app();
      const pool = get().pool!;
      const ids = async () => (await t.json('/issues?status=all')).body.items.map((i: any) => `${i.id}:${i.severity}`);
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z', severity: 'minor' });
      await insertIncident(get().db, { id: 'inc_b', started_at: '2026-03-02T11:00:00Z', severity: 'minor' });
      await until(async () => (await ids()).length === 2);
      const cached = async () => {
        await t.json('/issues?status=all');
        return (await t.json('/issues?status=all')).res.headers.get('x-cache');
      };
      expect(await cached()).toBe('hit');

      // Statements that touch no row, and a rolled-back change, announce nothing.
      await pool.query(`UPDATE incidents SET severity = 'critical' WHERE id = 'inc_none'`);
      await pool.query(`DELETE FROM incidents WHERE id = 'inc_none'`);
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await c.query(`UPDATE incidents SET severity = 'critical' WHERE id = 'inc_a'`);
        await c.query('ROLLBACK');
      } finally {
        c.release();
      }
      await Bun.sleep(200);
      expect((await t.json('/issues?status=all')).res.headers.get('x-cache')).toBe('hit');

      // An operator's UPDATE and DELETE in psql are seen.
      await pool.query(`UPDATE incidents SET severity = 'critical' WHERE id = 'inc_a'`);
      await until(async () => (await ids()).includes('inc_a:critical'));
      await pool.query(`DELETE FROM incidents WHERE id = 'inc_b'`);
      await until(async () => (await ids()).length === 1);
      await pool.query(`TRUNCATE incidents CASCADE`);
      await until(async () => (await ids()).length === 0);
    });

    test('an engine tick that changes incidents announces it at commit, and only then', async () => {
      const t = app();
      const { db } = get();
      expect((await t.json('/issues')).body.items).toEqual([]);
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('hit');
      const msgs = overlay(background([['N1', 'N2'], ['N2', 'N1']], 0, 8), [...every(4, 8)].flatMap((tm) => probe('N2', 'N1', tm, { jitter: 45 })));
      await ingest(db, msgs, min(8));
      // Rolled back: nothing changed, nothing announced.
      await db
        .transaction()
        .execute(async (trx) => {
          await runTick(trx, min(8), DEFAULT_RULES);
          throw new Error('roll back');
        })
        .catch(() => {});
      await Bun.sleep(200);
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('hit');
      const r = await db.transaction().execute((trx) => runTick(trx, min(8), DEFAULT_RULES));
      expect(r.opened).toHaveLength(1);
      await until(async () => (await t.json('/issues')).body.items.length === 1);
    });

    test('/metrics counts hits and misses and tells whether the cache hears the announcements', async () => {
      const t = app();
      const scrape = async () => {
        const text = await (await t.app.request('/metrics')).text();
        const value = (name: string) => {
          const m = new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
          return m ? Number(m[1]) : undefined;
        };
        return value;
      };
      await t.json('/issues');
      await t.json('/issues');
      await t.json('/issues');
      let v = await scrape();
      expect(v('meshmon_api_list_cache_requests_total{result="miss"}')).toBe(1);
      expect(v('meshmon_api_list_cache_requests_total{result="hit"}')).toBe(2);
      expect(v('meshmon_api_list_cache_listening')).toBe(1);
      expect(v('meshmon_api_list_cache_chars')).toBeGreaterThan(0);
      await listener.close();
      v = await scrape();
      expect(v('meshmon_api_list_cache_listening')).toBe(0);
      expect(v('meshmon_api_list_cache_chars')).toBe(0);
      // Without a cache (API_CACHE=false) the gauges are absent, not a misleading 0.
      const off = await (await testApp(get(), { now: '2026-03-02T12:00:00Z' }).app.request('/metrics')).text();
      expect(off).not.toContain('meshmon_api_list_cache_listening');
    });

    test('while the announcements cannot be heard, every request reads', async () => {
      const t = app();
      await listener.close();
      expect(listening).toBe(false);
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z' });
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('miss');
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('miss');
      await insertIncident(get().db, { id: 'inc_b', started_at: '2026-03-02T11:00:00Z' });
      expect((await t.json('/issues')).body.items).toHaveLength(2);
    });

    test('a lost listening connection turns the cache off until it is back', async () => {
      const t = app();
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z' });
      await t.json('/issues');
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('hit');
      await get().pool!.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'meshmon-listen' AND datname = current_database()`);
      await until(() => !listening);
      await insertIncident(get().db, { id: 'inc_b', started_at: '2026-03-02T11:00:00Z' });
      expect((await t.json('/issues')).body.items).toHaveLength(2);
      await until(() => listening);
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('miss');
      expect((await t.json('/issues')).res.headers.get('x-cache')).toBe('hit');
    });
  },
  ['apache', 'none'],
);

const answer = (body: string) => ({ body, etag: `"${body.length}"` });

test('a read that started before a change does not fill the cache', () => {
  const c = new IncidentListCache();
  c.setListening(true);
  const g = c.begin();
  c.invalidate();
  c.put('/issues', answer('{}'), g);
  expect(c.get('/issues')).toBeUndefined();
  c.put('/issues', answer('{}'), c.begin());
  expect(c.get('/issues')?.body).toBe('{}');
});

test('the cache is bounded by size: the least recently used answers go first, and no answer takes over a quarter', () => {
  const c = new IncidentListCache(400);
  c.setListening(true);
  const body = (ch: string) => ch.repeat(100);
  const put = (key: string, text: string) => c.put(key, answer(text), c.begin());
  put('/a', body('a'));
  put('/b', body('b'));
  put('/c', body('c'));
  put('/d', body('d'));
  expect(c.chars).toBe(400);
  expect(c.get('/a')?.body).toBe(body('a')); // now the most recently used
  put('/e', body('e'));
  expect(c.get('/b')).toBeUndefined();
  expect(c.get('/a')?.body).toBe(body('a'));
  expect(c.chars).toBe(400);
  // Replacing an answer counts it once.
  put('/e', body('E'));
  expect(c.chars).toBe(400);
  expect(c.get('/e')?.body).toBe(body('E'));
  put('/big', 'x'.repeat(101));
  expect(c.get('/big')).toBeUndefined();
  expect(c.chars).toBe(400);
  c.invalidate();
  expect(c.chars).toBe(0);
});
