// Notifications through a real Alertmanager (Debian's binary, on loopback)
// and a webhook receiver this test runs. Simulated agent traffic opens and
// closes incidents through the real engine; the engine runs in simulated time
// ending half an hour ago, the notifier on the real clock (Alertmanager judges
// startsAt/endsAt by its own).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from 'bun:test';
import { sql } from 'kysely';
import { AlertmanagerNotifier } from '../../src/alertmanager/alertmanager.job.ts';
import { runTick } from '../../src/engine/engine.ts';
import { DEFAULT_RULES } from '../../src/engine/rules.config.ts';
import { testApp, type TestApp } from '../support/app.ts';
import { createAlertmanager, eventually, startWebhookReceiver, type WebhookAlert } from '../support/alertmanager.ts';
import { describeEachMode } from '../support/databases.ts';
import { health, ingest, probe, type Msg } from '../engine/support/mesh.ts';

setDefaultTimeout(240_000);

const OPERATOR_TOKEN = 'operator-token-0123456789';
const PUBLIC_URL = 'https://meshmon.example.org';
const op = { headers: { Authorization: `Bearer ${OPERATOR_TOKEN}` } };

/** Simulated time: minutes after B, which lies 90 min before the test started. */
const B = Math.floor(Date.now() / 60_000) * 60_000 - 90 * 60_000;
const min = (m: number) => new Date(B + m * 60_000);

const ROUTES = [['N1', 'N2', 'N3'], ['N3', 'N2', 'N1'], ['N4', 'N5'], ['N5', 'N4'], ['N6', 'N7'], ['N7', 'N6']];
interface Fault { src: string; from: number; to: number; jitter?: number; loss?: number }
const FAULTS: Fault[] = [
  { src: 'N1', from: 20, to: 30, jitter: 50 }, // J: fires, then closes while Alertmanager is down
  { src: 'N4', from: 20, to: 45, loss: 10 }, // L: under a maintenance window from before it opened
  { src: 'N6', from: 50, to: 60, jitter: 50 }, // M: opens while Alertmanager is down
];

function traffic(toMin: number): Msg[] {
  const out: Msg[] = [];
  for (let t = B; t < B + toMin * 60_000; t += 40_000) {
    const m = (t - B) / 60_000;
    for (const r of ROUTES) {
      const f = FAULTS.find((x) => x.src === r[0] && m >= x.from && m < x.to);
      out.push(...probe(r[0]!, r.at(-1)!, new Date(t), { route: r, ...(f?.jitter ? { jitter: f.jitter } : {}), ...(f?.loss ? { loss: f.loss } : {}) }));
    }
    if ((t - B) % 300_000 === 0) for (const n of ['N1', 'N3', 'N4', 'N5', 'N6', 'N7']) out.push(health(n, new Date(t + 7_000)));
  }
  return out.sort((a, b) => a.sent_at.localeCompare(b.sent_at));
}

describeEachMode(
  'Alertmanager notifications',
  (get) => {
    const hook = startWebhookReceiver();
    let am: Awaited<ReturnType<typeof createAlertmanager>>;
    let t: TestApp;
    const msgs = traffic(70);
    let sent = 0;
    let tick = B;

    /** Ingests and evaluates in simulated time up to minute `m`, one tick a minute. */
    const driveTo = async (m: number) => {
      for (; tick <= B + m * 60_000; tick += 60_000) {
        const now = new Date(tick);
        const batch: Msg[] = [];
        while (sent < msgs.length && Date.parse(msgs[sent]!.sent_at) <= tick) batch.push(msgs[sent++]!);
        await get().db.transaction().execute(async (trx) => {
          await ingest(trx, batch, now);
          await runTick(trx, now, DEFAULT_RULES);
        });
      }
    };
    const incidentOn = async (src: string) =>
      (await get().db.selectFrom('incidents').select(['id', 'kind', 'severity', 'ended_at']).where(sql<boolean>`scope ->> 'src' = ${src}`).execute())[0];
    const alertsFor = (id: string, status?: 'firing' | 'resolved') => hook.alerts().filter((a) => a.labels.incident_id === id && (!status || a.status === status));
    const app = () =>
      testApp(get(), {
        now: new Date(),
        env: { ALERTMANAGER_URL: am.url, ALERTMANAGER_INTERVAL: '10', ALERTMANAGER_RESEND: '60', ALERTMANAGER_TIMEOUT: '2', PUBLIC_URL, OPERATOR_TOKEN },
      });

    beforeAll(async () => {
      await get().truncate();
      am = await createAlertmanager(hook.url);
      await am.start();
      t = app();
    });
    afterAll(async () => {
      await am?.destroy();
      hook.stop();
    });

    test('an open incident arrives firing with its labels and annotations; one under a maintenance window never does', async () => {
      // Planned work on N5 from before the loss on N4→N5 began.
      const w = await t.post('/maintenance', { by: 'KX6ABC', scope: { type: 'node', node: 'N5' }, starts_at: min(0).toISOString(), ends_at: new Date(Date.now() + 3600_000).toISOString(), reason: 'swapping the N5 radio' }, op);
      expect(w.status).toBe(201);
      await driveTo(32);
      const j = (await incidentOn('N1'))!;
      const l = (await incidentOn('N4'))!;
      expect(j).toMatchObject({ kind: 'jitter_burst', ended_at: null });
      expect(l).toMatchObject({ kind: 'loss_spike', ended_at: null });

      const notifier = new AlertmanagerNotifier(t.deps);
      const run = await notifier.run(new Date());
      expect(run).toMatchObject({ ok: true, synced: true, sent: { firing: 1, resolved: 0 }, pending: 0 });

      const firing: WebhookAlert = await eventually('J firing at the webhook', () => alertsFor(j.id, 'firing')[0]);
      expect(firing.labels).toEqual({
        alertname: 'jitter_burst', severity: j.severity, incident_id: j.id, scope: 'route', route: 'N1>N3', src: 'N1', dst: 'N3',
        source: 'meshmon', instance: 'meshmon.example.org',
      });
      expect(firing.annotations).toMatchObject({ title: 'Jitter burst on N1 → N3', summary: 'Jitter burst on N1 → N3', incident_url: `${PUBLIC_URL}/incidents/${j.id}` });
      expect(firing.annotations.cause!.length).toBeGreaterThan(10);
      expect(firing.annotations.next_steps).toStartWith('- ');
      expect(firing.generatorURL).toBe(`${PUBLIC_URL}/incidents/${j.id}`);
      expect(Date.parse(firing.startsAt)).toBeLessThan(min(25).getTime());

      // Alertmanager holds J, not L; the webhook never heard of L.
      const held = await am.alerts();
      expect(held.map((a) => a.labels.incident_id)).toEqual([j.id]);
      expect(alertsFor(l.id)).toEqual([]);
      // A second run within the resend interval sends nothing new.
      expect(await notifier.run(new Date())).toMatchObject({ ok: true, skipped: 'nothing_due', sent: { firing: 0, resolved: 0 } });
    });

    test('stopping Alertmanager loses nothing: the failure shows in /healthz and /metrics, the retry backs off, and after a collector restart the backlog arrives', async () => {
      const j = (await incidentOn('N1'))!;
      const l = (await incidentOn('N4'))!;
      await am.stop();
      // Meanwhile J closes and M opens.
      await driveTo(62);
      const jClosed = (await incidentOn('N1'))!;
      expect(jClosed.ended_at).not.toBeNull();
      const m = (await incidentOn('N6'))!;
      expect(m).toMatchObject({ kind: 'jitter_burst', ended_at: null });

      const notifier = new AlertmanagerNotifier(t.deps);
      const failed = await notifier.run(new Date());
      expect(failed).toMatchObject({ ok: false, synced: true, pending: 2 });
      expect(failed.error).toBeTruthy();
      const healthz = (await t.json('/healthz')).body;
      expect(healthz.status).toBe('ok');
      const job = healthz.jobs.find((x: any) => x.name === 'alertmanager');
      expect(job).toMatchObject({ last_result: 'error', details: { pending: 2, consecutive_failures: 1, url: am.url } });
      expect(job.details.next_attempt_at).toBeTruthy();
      const metrics = await (await t.app.request('/metrics')).text();
      expect(metrics).toMatch(/^meshmon_alertmanager_up 0$/m);
      expect(metrics).toMatch(/^meshmon_alertmanager_pending_alerts 2$/m);
      expect(metrics).toMatch(/^meshmon_alertmanager_posts_total\{result="error"\} 1$/m);
      // Right after a failure it backs off instead of hammering.
      expect(await notifier.run(new Date())).toMatchObject({ ok: false, skipped: 'backoff' });
      expect(notifier.state.consecutiveFailures).toBe(1);

      // The collector restarts (a new process: nothing in memory), Alertmanager comes back.
      await am.start();
      t = app();
      const after = await new AlertmanagerNotifier(t.deps).run(new Date());
      expect(after).toMatchObject({ ok: true, sent: { firing: 1, resolved: 1 }, pending: 0 });

      const resolved = await eventually('J resolved at the webhook', () => alertsFor(j.id, 'resolved')[0]);
      expect(Date.parse(resolved.endsAt)).toBe(new Date(jClosed.ended_at!).getTime());
      const mFiring = await eventually('M firing at the webhook', () => alertsFor(m.id, 'firing')[0]);
      expect(mFiring.labels).toMatchObject({ alertname: 'jitter_burst', route: 'N6>N7' });
      expect(alertsFor(l.id)).toEqual([]);
      expect((await t.json('/healthz')).body.jobs.find((x: any) => x.name === 'alertmanager')).toMatchObject({ last_result: 'ok', details: { pending: 0, consecutive_failures: 0 } });
    });

    test('a window that starts while an incident is firing resolves its alert (reason maintenance); it fires again when the window ends', async () => {
      const m = (await incidentOn('N6'))!;
      const notifier = new AlertmanagerNotifier(t.deps);
      const w = (await t.post('/maintenance', { by: 'KX6ABC', scope: { type: 'link', a: 'N7', b: 'N6' }, ends_at: new Date(Date.now() + 3600_000).toISOString(), reason: 'realigning' }, op)).body;
      expect(await notifier.run(new Date())).toMatchObject({ ok: true, sent: { firing: 0, resolved: 1 } });
      await eventually('M resolved at the webhook', () => alertsFor(m.id, 'resolved')[0]);
      expect(await get().db.selectFrom('alertmanager_alerts').select(['state', 'reason']).where('incident_id', '=', m.id).executeTakeFirst()).toEqual({ state: 'resolved', reason: 'maintenance' });

      const firedBefore = alertsFor(m.id, 'firing').length;
      expect((await t.post(`/maintenance/${w.id}/end`, { by: 'KX6ABC' }, op)).status).toBe(200);
      expect(await notifier.run(new Date())).toMatchObject({ ok: true, sent: { firing: 1, resolved: 0 } });
      await eventually('M firing again', () => alertsFor(m.id, 'firing').length > firedBefore);
    });
  },
  ['none'],
);

describeEachMode(
  'an Alertmanager that never answers',
  (get) => {
    const sockets = new Set<import('node:net').Socket>();
    let server: import('node:net').Server;
    let port = 0;
    beforeAll(async () => {
      const net = await import('node:net');
      server = net.createServer((s) => { sockets.add(s); });
      port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as import('node:net').AddressInfo).port)));
    });
    afterAll(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));

    test('holds up neither ingest nor the API: the run gives up at ALERTMANAGER_TIMEOUT and backs off', async () => {
      await get().truncate();
      const t = testApp(get(), { now: new Date(), env: { ALERTMANAGER_URL: `http://127.0.0.1:${port}`, ALERTMANAGER_TIMEOUT: '2' } });
      const notifier = new AlertmanagerNotifier(t.deps);
      let finished = false;
      const run = notifier.run(new Date()).finally(() => { finished = true; });
      await eventually('the POST to hang', () => sockets.size > 0);
      // While the POST hangs, agents' messages are stored and the API answers.
      const now = new Date().toISOString();
      const ing = await t.post('/ingest', { schema: 'meshmon.v1', type: 'path_result', src: 'N1', dst: 'N2', sent_at: now, route: ['N1', 'N2'], metrics: { rtt_ms_avg: 5, jitter_ms_rfc3550: 1, loss_pct: 0 } });
      expect(ing.status).toBe(200);
      expect((await t.json('/summary')).status).toBe(200);
      expect(finished).toBe(false);
      const r = await run;
      expect(r).toMatchObject({ ok: false, error: 'no answer within ALERTMANAGER_TIMEOUT (2 s)' });
      expect(notifier.mayPost(new Date())).toBe(false);
    });
  },
  ['none'],
);
