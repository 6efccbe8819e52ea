import { expect, test } from 'bun:test';
import { configFrom } from '../../src/config.ts';
import { runTick } from '../../src/engine/engine.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { runRetention } from '../../src/ops/retention.ts';
import { describeEachMode } from '../support/databases.ts';
import { testApp } from '../support/app.ts';
import { example } from '../support/fixtures.ts';
import { agentHealth, counts, freshTables, hopResult, pathResult } from './helpers.ts';

// No message is ever lost to a clock (contract, "Ingest rules"): times too far
// ahead or implausibly old are corrected by the node's offset, estimated per
// request; the agent's own times are kept and recognise retries.

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
    expect(before.ingest_clock_ledger).toBe(4);
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

  /** A report; each probe goes to dst-<index>, or to the dst given beside its timestamp. */
  const status = (node: string, sentAt: string, probes: Array<string | [string, string]>) => ({
    schema: 'meshmon.v1', type: 'network_status', node, sent_at: sentAt, routing_daemon: 'olsr',
    probes: probes.map((p, i) => ({
      dst_node: typeof p === 'string' ? `dst-${i}` : p[1], dst_ip: `10.1.0.${i + 1}`, timestamp: typeof p === 'string' ? p : p[0], rtt_ms_avg: 12, jitter_ms: 3, loss_pct: 0, hop_count: 1,
      path: [{ node: typeof p === 'string' ? `dst-${i}` : p[1], link_type: 'RF', lq: 0.9, nlq: 0.9, etx: 1.2 }],
    })),
  });

  test('three distinct windows from a clock 2 h fast: three rows, in order, ending at the receive time', async () => {
    const t = testApp(get(), { now: RECV });
    const sent = [7200, 7240, 7280].map((s) => plus(RECV, s));
    const r = await t.post('/ingest', sent.map((sent_at, i) => pathResult({ sent_at, metrics: { rtt_ms_avg: 10 + i, jitter_ms_rfc3550: 1, loss_pct: 0 } })));
    expect(r.status).toBe(200);
    expect(r.body.rows.path_probe).toEqual({ inserted: 3, duplicates: 0, dropped: 0 });
    expect(r.body.clock_skewed).toBe(3);
    const rows = await get().db.selectFrom('path_probe').select(['time', 'sent_at', 'clock_skew_s', 'rtt_ms']).orderBy('time').execute();
    expect(rows).toEqual([
      { time: d(plus(RECV, -80)), sent_at: d(sent[0]!), clock_skew_s: 7280, rtt_ms: 10 },
      { time: d(plus(RECV, -40)), sent_at: d(sent[1]!), clock_skew_s: 7280, rtt_ms: 11 },
      { time: d(RECV), sent_at: d(sent[2]!), clock_skew_s: 7280, rtt_ms: 12 },
    ]);
    expect(await get().db.selectFrom('nodes').select(['clock_skew_s', 'skew_flagged_at']).executeTakeFirstOrThrow()).toEqual({ clock_skew_s: 7280, skew_flagged_at: d(RECV) });
  });

  for (const [what, sentAt] of [['in year 9999', '9999-12-31T23:59:59Z'], ['one year ahead', plus(RECV, 365 * 86400)]] as const) {
    test(`a network_status whose sent_at is ${what} and whose probes are stamped now: 200, probes at their own times, kept by retention`, async () => {
      const t = testApp(get(), { now: RECV });
      const msg = status('n1', sentAt, [plus(RECV, -20), plus(RECV, -10)]);
      for (let i = 0; i < 2; i++) {
        // The agent retries (or repeats): never a 5xx, stored once.
        const r = await t.post('/ingest', msg);
        expect(r.status).toBe(200);
        expect(r.body.rows.path_probe.inserted + r.body.rows.path_probe.duplicates).toBe(2);
      }
      const rows = await get().db.selectFrom('path_probe').select(['time', 'sent_at', 'clock_skew_s']).orderBy('time').execute();
      expect(rows).toEqual([
        { time: d(plus(RECV, -20)), sent_at: d(plus(RECV, -20)), clock_skew_s: null },
        { time: d(plus(RECV, -10)), sent_at: d(plus(RECV, -10)), clock_skew_s: null },
      ]);
      // The odd sent_at is the report's, not the probes': the registry files the report at its newest probe.
      expect((await get().db.selectFrom('nodes').select('last_seen').executeTakeFirstOrThrow()).last_seen).toEqual(d(plus(RECV, -10)));
      expect((await get().db.selectFrom('path_probe').select('extra').executeTakeFirstOrThrow()).extra).toMatchObject({ report: { sent_at: new Date(sentAt).toISOString() } });
      await runRetention(get().db, new Date(Date.parse(RECV) + 3_600_000), configFrom());
      expect((await counts(get())).path_probe).toBe(2);
      expect((await counts(get())).hop_quality).toBe(2);
    });
  }

  test('a router whose clock starts in 1970 (no NTP): rows at corrected times, in order, the agent’s own times kept, the node flagged', async () => {
    const t = testApp(get(), { now: RECV });
    const boot = Date.parse('1970-01-01T00:00:00Z');
    const at = (s: number) => new Date(boot + s * 1000).toISOString();
    const r = await t.post('/ingest', [status('n1970', at(620), [at(600), at(610)]), agentHealth({ node: 'n1970', sent_at: at(560) })]);
    expect(r.status).toBe(200);
    expect(r.body.clock_skewed).toBe(2);
    const rows = await get().db.selectFrom('path_probe').select(['time', 'sent_at']).orderBy('time').execute();
    expect(rows).toEqual([
      { time: d(plus(RECV, -20)), sent_at: d(at(600)) },
      { time: d(plus(RECV, -10)), sent_at: d(at(610)) },
    ]);
    expect((await get().db.selectFrom('agent_health').select(['time', 'sent_at']).executeTakeFirstOrThrow()).time).toEqual(d(plus(RECV, -60)));
    const node = await get().db.selectFrom('nodes').select(['skew_flagged_at', 'clock_skew_s', 'last_seen']).executeTakeFirstOrThrow();
    expect(node).toEqual({ skew_flagged_at: d(RECV), clock_skew_s: (Date.parse(at(620)) - Date.parse(RECV)) / 1000, last_seen: d(RECV) });
    // The next report, 40 s later, a little delayed: its repeated probe is a duplicate, the new one lands after.
    t.setNow(plus(RECV, 41));
    const next = await t.post('/ingest', status('n1970', at(660), [[at(610), 'dst-1'], [at(650), 'dst-2']]));
    expect(next.body.rows.path_probe).toEqual({ inserted: 1, duplicates: 1, dropped: 0 });
    const times = (await get().db.selectFrom('path_probe').select('time').orderBy('time').execute()).map((x) => x.time);
    expect(times).toEqual([d(plus(RECV, -20)), d(plus(RECV, -10)), d(plus(RECV, 31))]);
  });

  test('the same report sent twice under a moving skew is stored once', async () => {
    const t = testApp(get(), { now: RECV });
    const msg = status('n1', plus(RECV, 7200), [plus(RECV, 7180), plus(RECV, 7190)]);
    expect((await t.post('/ingest', msg)).body.rows.path_probe.inserted).toBe(2);
    // Received 3 min later: the estimated offset moved by 3 min; the agent's times did not.
    t.setNow(plus(RECV, 180));
    const again = await t.post('/ingest', msg);
    expect(again.body.rows.path_probe).toEqual({ inserted: 0, duplicates: 2, dropped: 0 });
    expect(again.body.duplicates.network_status).toBe(1);
    expect((await counts(get())).path_probe).toBe(2);
    expect((await counts(get())).hop_quality).toBe(2);
  });

  test('messages stamped before the clock was set (1970), beside good ones: placed just before them, in order', async () => {
    const t = testApp(get(), { now: RECV });
    const boot = Date.parse('1970-01-01T00:00:00Z');
    const old = (s: number) => agentHealth({ sent_at: new Date(boot + s * 1000).toISOString(), mem_mb: s });
    const r = await t.post('/ingest', [old(60), old(120), agentHealth({ sent_at: plus(RECV, -300), mem_mb: 1 }), agentHealth({ sent_at: plus(RECV, -5), mem_mb: 2 })]);
    expect(r.body.rows.agent_health.inserted).toBe(4);
    const rows = await get().db.selectFrom('agent_health').select(['time', 'mem_mb', 'clock_skew_s']).orderBy('time').execute();
    expect(rows.map((x) => x.mem_mb)).toEqual([60, 120, 1, 2]);
    expect(rows[1]!.time).toEqual(new Date(Date.parse(plus(RECV, -300)) - 1));
    expect(rows[0]!.time).toEqual(new Date(Date.parse(plus(RECV, -300)) - 1 - 60_000));
    // The node's clock is fine now: not flagged.
    expect((await get().db.selectFrom('nodes').select('skew_flagged_at').executeTakeFirstOrThrow()).skew_flagged_at).toBeNull();
  });

  test('a correction never leaves what retention keeps nor passes the receive time', async () => {
    const t = testApp(get(), { now: RECV });
    const boot = Date.parse('1970-01-01T00:00:00Z');
    // Half a year of a 1970 clock in one batch: more than the 90 days retention keeps.
    const sent = [0, 90, 180].map((days) => new Date(boot + days * 86_400_000).toISOString());
    const r = await t.post('/ingest', sent.map((sent_at) => agentHealth({ sent_at })));
    expect(r.body.rows.agent_health.inserted).toBe(3);
    const rows = await get().db.selectFrom('agent_health').select('time').orderBy('time').execute();
    const floor = Date.parse(RECV) - 90 * 86_400_000 + 3_600_000;
    // The newest at the receive time; the two older ones would fall out of retention: held at its edge, still apart and in order.
    expect(rows.map((x) => x.time.getTime())).toEqual([floor, floor + 1, Date.parse(RECV)]);
    expect((await get().db.selectFrom('agent_health').select('sent_at').orderBy('time').execute()).map((x) => x.sent_at)).toEqual(sent.map(d));
    for (const x of rows) expect(x.time.getTime()).toBeLessThanOrEqual(Date.parse(RECV));
    await runRetention(get().db, d(RECV), configFrom());
    expect((await counts(get())).agent_health).toBe(3);
  });

  test('the reference guide’s §8 smoke test, verbatim, today: rows stored, and jitter_burst opens within two engine ticks', async () => {
    const today = new Date();
    const t = testApp(get(), { now: today });
    const single = `{
  "schema":"meshmon.v1","type":"path_result",
  "src":"node-A","dst":"node-K",
  "sent_at":"2025-09-29T18:41:05Z","window_s":5,
  "route":["node-A","node-D","node-H","node-K"],
  "metrics":{"rtt_ms_avg":72.3,"jitter_ms_rfc3550":31.8,"loss_pct":0.9}
 }`;
    const batch = `[
 {"schema":"meshmon.v1","type":"path_result","src":"node-A","dst":"node-K","sent_at":"2025-09-29T18:41:05Z","window_s":5,"route":["node-A","node-D","node-H","node-K"],"metrics":{"rtt_ms_avg":70,"jitter_ms_rfc3550":35,"loss_pct":0.5}},
 {"schema":"meshmon.v1","type":"path_result","src":"node-A","dst":"node-K","sent_at":"2025-09-29T18:41:45Z","window_s":5,"route":["node-A","node-D","node-H","node-K"],"metrics":{"rtt_ms_avg":75,"jitter_ms_rfc3550":33,"loss_pct":0.8}},
 {"schema":"meshmon.v1","type":"path_result","src":"node-A","dst":"node-K","sent_at":"2025-09-29T18:42:25Z","window_s":5,"route":["node-A","node-D","node-H","node-K"],"metrics":{"rtt_ms_avg":73,"jitter_ms_rfc3550":38,"loss_pct":0.6}}
]
`;
    const one = await t.post('/ingest', single);
    expect(one.status).toBe(200);
    expect(one.body.accepted.path_result).toBe(1);
    t.setNow(new Date(today.getTime() + 5_000));
    const three = await t.post('/ingest', batch);
    expect(three.status).toBe(200);
    // The batch's first window is the single message's (same agent time): stored once.
    expect(three.body.rows.path_probe).toEqual({ inserted: 2, duplicates: 1, dropped: 0 });
    expect((await counts(get())).path_probe).toBe(3);
    const ticks = [today.getTime() + 10_000, today.getTime() + 20_000];
    let opened: string[] = [];
    for (const tick of ticks) {
      const r = await get().db.transaction().execute((trx) => runTick(trx, new Date(tick), DEFAULT_RULES));
      opened = [...opened, ...r.opened];
      if (opened.length) break;
    }
    const open = await get().db.selectFrom('incidents').select(['kind', 'scope_key', 'severity']).where('ended_at', 'is', null).execute();
    expect(open).toEqual([{ kind: 'jitter_burst', scope_key: 'route:node-A>node-K', severity: 'major' }]);
    await get().db.deleteFrom('incident_events').execute();
    await get().db.deleteFrom('incidents').execute();
  });
});

