import { expect, test } from 'bun:test';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { example } from '../support/fixtures.ts';
import { agentHealth, counts, freshTables, hopResult, pathResult } from './helpers.ts';

const RECV = '2026-03-02T12:00:00Z';
const d = (s: string) => new Date(s);
const plus = (iso: string, s: number) => new Date(Date.parse(iso) + s * 1000).toISOString();

describeEachMode('POST /ingest and clocks', (get) => {
  freshTables(get);

  test('a sent_at over MAX_CLOCK_SKEW ahead is stored at the receive time, with the agent time and the skew', async () => {
    const t = testApp(get(), { now: RECV });
    const r = await t.post('/ingest', pathResult({ sent_at: plus(RECV, 3600) }));
    expect(r.status).toBe(200);
    expect(r.body.clock_skewed).toBe(1);
    const row = await get().db.selectFrom('path_probe').select(['time', 'sent_at', 'received_at', 'clock_skew_s']).executeTakeFirstOrThrow();
    expect(row).toEqual({ time: d(RECV), sent_at: d(plus(RECV, 3600)), received_at: d(RECV), clock_skew_s: 3600 });
    const node = await get().db.selectFrom('nodes').select(['clock_skew_s', 'skew_flagged_at', 'last_seen']).executeTakeFirstOrThrow();
    expect(node).toEqual({ clock_skew_s: 3600, skew_flagged_at: d(RECV), last_seen: d(RECV) });
  });

  test('a skew within MAX_CLOCK_SKEW is trusted', async () => {
    const t = testApp(get(), { now: RECV });
    await t.post('/ingest', pathResult({ sent_at: plus(RECV, 299) }));
    const row = await get().db.selectFrom('path_probe').select(['time', 'clock_skew_s']).executeTakeFirstOrThrow();
    expect(row).toEqual({ time: d(plus(RECV, 299)), clock_skew_s: null });
    const node = await get().db.selectFrom('nodes').select(['clock_skew_s', 'skew_flagged_at']).executeTakeFirstOrThrow();
    expect(node).toEqual({ clock_skew_s: 299, skew_flagged_at: null });
  });

  test('MAX_CLOCK_SKEW is configurable', async () => {
    const t = testApp(get(), { now: RECV, env: { MAX_CLOCK_SKEW: '60' } });
    const r = await t.post('/ingest', pathResult({ sent_at: plus(RECV, 90) }));
    expect(r.body.clock_skewed).toBe(1);
    expect((await get().db.selectFrom('path_probe').select('time').executeTakeFirstOrThrow()).time).toEqual(d(RECV));
  });

  test('the retry of a skewed message is a duplicate although it is received later', async () => {
    const t = testApp(get(), { now: RECV });
    const msgs = [
      pathResult({ sent_at: plus(RECV, 3600) }),
      hopResult({ sent_at: plus(RECV, 3600) }),
      agentHealth({ sent_at: plus(RECV, 3600) }),
      { schema: 'meshmon.v1', type: 'crash_report', node: 'node-A', sent_at: plus(RECV, 3600), signal: 11 },
    ];
    expect((await t.post('/ingest', msgs)).body.accepted).toMatchObject({ path_result: 1, hop_result: 1, agent_health: 1, crash_report: 1 });
    const before = await counts(get());
    expect(before.ingest_skew_ledger).toBe(4);
    t.setNow(plus(RECV, 45));
    const retry = await t.post('/ingest', msgs);
    expect(retry.status).toBe(200);
    expect(retry.body.duplicates).toMatchObject({ path_result: 1, hop_result: 1, agent_health: 1, crash_report: 1 });
    expect(retry.body.accepted).toMatchObject({ path_result: 0, hop_result: 0, agent_health: 0, crash_report: 0 });
    expect(await counts(get())).toEqual(before);
  });

  test('a retry that arrives once the skew is within the limit is still a duplicate', async () => {
    const t = testApp(get(), { now: RECV });
    const msg = pathResult({ sent_at: plus(RECV, 400) });
    expect((await t.post('/ingest', msg)).body.clock_skewed).toBe(1);
    t.setNow(plus(RECV, 200)); // now sent_at is only 200 s ahead: trusted
    const retry = await t.post('/ingest', msg);
    expect(retry.body.clock_skewed).toBe(0);
    expect(retry.body.duplicates.path_result).toBe(1);
    expect((await counts(get())).path_probe).toBe(1);
  });

  test('a skewed network_status keeps its probes apart and dedupes on retry', async () => {
    const msg = await example<{ sent_at: string; probes: Array<{ timestamp: string }> }>('network_status');
    // The agent's clock runs 2 h ahead.
    const recv = plus(msg.sent_at, -7200);
    const t = testApp(get(), { now: recv });
    const r = await t.post('/ingest', msg);
    expect(r.body.clock_skewed).toBe(1);
    const rows = await get().db.selectFrom('path_probe').select(['time', 'sent_at', 'clock_skew_s']).orderBy('time').execute();
    // Probes were 10 s and 5 s before the report: they keep that distance to the receive time.
    expect(rows).toEqual([
      { time: d(plus(recv, -10)), sent_at: d(msg.probes[0]!.timestamp), clock_skew_s: 7200 },
      { time: d(plus(recv, -5)), sent_at: d(msg.probes[1]!.timestamp), clock_skew_s: 7200 },
    ]);
    const hops = await get().db.selectFrom('hop_quality').select(['time', 'clock_skew_s']).orderBy('time').execute();
    expect(hops.map((h) => h.time)).toEqual([d(plus(recv, -10)), d(plus(recv, -10)), d(plus(recv, -5))]);
    const before = await counts(get());
    t.setNow(plus(recv, 30));
    const retry = await t.post('/ingest', msg);
    expect(retry.body.duplicates.network_status).toBe(1);
    expect(await counts(get())).toEqual(before);
  });

  test('a probe stamped far after its own report is placed at the receive time', async () => {
    const t = testApp(get(), { now: RECV });
    await t.post('/ingest', {
      schema: 'meshmon.v1', type: 'network_status', node: 'n1', sent_at: RECV,
      probes: [{ dst_node: 'n2', timestamp: plus(RECV, 86400), path: [{ node: 'n2' }] }],
    });
    const row = await get().db.selectFrom('path_probe').select(['time', 'clock_skew_s']).executeTakeFirstOrThrow();
    expect(row).toEqual({ time: d(RECV), clock_skew_s: 86400 });
  });

  test('a fresh message with a good clock clears the flag; a buffered one leaves it', async () => {
    const t = testApp(get(), { now: RECV });
    await t.post('/ingest', agentHealth({ sent_at: plus(RECV, 1000) }));
    t.setNow(plus(RECV, 60));
    // Buffered for an hour: says how long it waited, not how wrong the clock is.
    await t.post('/ingest', agentHealth({ sent_at: plus(RECV, -3600) }));
    let n = await get().db.selectFrom('nodes').select(['clock_skew_s', 'skew_flagged_at']).executeTakeFirstOrThrow();
    expect(n).toEqual({ clock_skew_s: 1000, skew_flagged_at: d(RECV) });
    // Still skewed later: flagged since the first time.
    t.setNow(plus(RECV, 120));
    await t.post('/ingest', agentHealth({ sent_at: plus(RECV, 1120) }));
    n = await get().db.selectFrom('nodes').select(['clock_skew_s', 'skew_flagged_at']).executeTakeFirstOrThrow();
    expect(n).toEqual({ clock_skew_s: 1000, skew_flagged_at: d(RECV) });
    // Clock fixed.
    t.setNow(plus(RECV, 180));
    await t.post('/ingest', agentHealth({ sent_at: plus(RECV, 179) }));
    n = await get().db.selectFrom('nodes').select(['clock_skew_s', 'skew_flagged_at']).executeTakeFirstOrThrow();
    expect(n).toEqual({ clock_skew_s: -1, skew_flagged_at: null });
  });
});
