// The read API answers with an ETag, and a client that sends it back in
// If-None-Match gets a 304 without a body while the answer is unchanged: the
// panel polls the same URLs every few seconds, often across RF links.
import { beforeEach, expect, test } from 'bun:test';
import { IncidentListCache } from '../../src/api/list-cache.ts';
import { entityTag, noneMatch } from '../../src/http/conditional.ts';
import { testApp } from '../support/app.ts';
import { describeEachMode } from '../support/databases.ts';
import { insertIncident } from '../support/incident-fixtures.ts';

// Not /summary and /registry: they say when they were made (generated_at) and
// change with every message an agent sends, so a tag would never match.
const READS = ['/issues', '/issues?status=all&limit=5', '/issues/by-object?node=N1', '/issues/inc_a', '/paths/N1/N2/series?since=2026-03-02T10:00:00Z&until=2026-03-02T11:00:00Z'];

describeEachMode(
  'conditional reads',
  (get) => {
    beforeEach(async () => {
      await get().truncate();
      await insertIncident(get().db, { id: 'inc_a', started_at: '2026-03-02T10:00:00Z', scope: { type: 'node', node: 'N1' }, nodes: ['N1'] });
    });

    test('every read carries an ETag, and gives a 304 without a body for it', async () => {
      const t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
      for (const url of READS) {
        const first = await t.json(url);
        expect({ url, status: first.status }).toEqual({ url, status: 200 });
        const etag = first.res.headers.get('etag');
        expect({ url, etag }).toEqual({ url, etag: expect.stringMatching(/^"[0-9a-z]+-[0-9a-z]+"$/) });
        expect(first.res.headers.get('cache-control')).toBe('no-cache');

        for (const header of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
          const again = await t.app.request(url, { headers: { 'If-None-Match': header } });
          expect({ url, header, status: again.status }).toEqual({ url, header, status: 304 });
          expect(await again.text()).toBe('');
          expect(again.headers.get('etag')).toBe(etag);
        }
        const stale = await t.app.request(url, { headers: { 'If-None-Match': '"0-0"' } });
        expect({ url, status: stale.status }).toEqual({ url, status: 200 });
        expect(await stale.json()).toEqual(first.body);
      }
    });

    test('a change gives a new tag; the same answer gives the same tag from any collector', async () => {
      const a = testApp(get(), { now: '2026-03-02T12:00:00Z' });
      const b = testApp(get(), { now: '2026-03-02T12:00:00Z' });
      const tag = async (t: typeof a, url: string) => (await t.app.request(url)).headers.get('etag');
      const before = await tag(a, '/issues');
      expect(await tag(b, '/issues')).toBe(before);
      await insertIncident(get().db, { id: 'inc_b', started_at: '2026-03-02T11:00:00Z' });
      const res = await a.app.request('/issues', { headers: { 'If-None-Match': before! } });
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).not.toBe(before);
      expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(2);
    });

    test('answers from the list cache are conditional too', async () => {
      const cache = new IncidentListCache();
      cache.setListening(true);
      const t = testApp(get(), { now: '2026-03-02T12:00:00Z', listCache: cache });
      const miss = await t.app.request('/issues');
      expect(miss.headers.get('x-cache')).toBe('miss');
      const etag = miss.headers.get('etag')!;
      const hit = await t.app.request('/issues', { headers: { 'If-None-Match': etag } });
      expect(hit.status).toBe(304);
      expect(hit.headers.get('x-cache')).toBe('hit');
      expect(hit.headers.get('etag')).toBe(etag);
    });

    test('errors are never 304', async () => {
      const t = testApp(get(), { now: '2026-03-02T12:00:00Z' });
      for (const url of ['/issues/inc_none', '/issues?limit=0']) {
        const res = await t.app.request(url, { headers: { 'If-None-Match': '*' } });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.headers.get('etag')).toBeNull();
      }
    });
  },
  ['apache', 'none'],
);

test('If-None-Match: weak comparison, lists, *', () => {
  const tag = entityTag('{"a":1}');
  expect(entityTag('{"a":1}')).toBe(tag);
  expect(entityTag('{"a":2}')).not.toBe(tag);
  expect(noneMatch(undefined, tag)).toBe(false);
  expect(noneMatch('', tag)).toBe(false);
  expect(noneMatch(tag, tag)).toBe(true);
  expect(noneMatch(`W/${tag}`, tag)).toBe(true);
  expect(noneMatch(` "x" ,${tag} `, tag)).toBe(true);
  expect(noneMatch('*', tag)).toBe(true);
  expect(noneMatch('"x", "y"', tag)).toBe(false);
  expect(noneMatch(tag.slice(1, -1), tag)).toBe(false);
});
