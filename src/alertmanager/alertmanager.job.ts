import { Cron } from 'croner';
import type { AppDeps } from '../app-deps.ts';
import { engineSchedule } from '../engine/engine.job.ts';
import { openIncidentCoverage } from '../maintenance/maintenance.service.ts';
import { alertAnnotations, alertLabels, incidentUrl, instanceLabel, sameLabels, type Labels, type PostableAlert } from './alerts.ts';
import {
  activeAlerts,
  alertSources,
  countPending,
  fireAlert,
  incidentEnds,
  markDelivered,
  resolveAlert,
  trySyncLock,
  type AlertRow,
} from './alertmanager.repository.ts';

export const ALERTMANAGER_JOB = 'alertmanager';
/** Alerts in one POST; more go in the next ones. */
export const ALERTS_PER_POST = 500;
/** Alert rows one run looks at; a backlog larger than this drains over several runs. */
export const ALERTS_PER_RUN = 5000;
/** The retry backoff doubles from ALERTMANAGER_INTERVAL up to this. */
export const MAX_BACKOFF_MS = 300_000;
/** A firing alert's endsAt lies this many resend intervals ahead (Prometheus uses 4 too). */
export const ENDS_AT_RESENDS = 4;

type Deps = Pick<AppDeps, 'db' | 'config' | 'log' | 'metrics' | 'status'>;

export interface NotifierRun {
  ok: boolean;
  /** Why nothing was sent: in backoff, or nothing due. */
  skipped?: 'backoff' | 'nothing_due';
  synced: boolean;
  sent: { firing: number; resolved: number };
  pending: number;
  error?: string;
}

export interface NotifierState {
  consecutiveFailures: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  lastSuccessAt: Date | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

/**
 * Tells Alertmanager about incidents. Each run, first (in the database) the
 * alert table is brought in line with the incidents: every open root incident
 * that no maintenance window covers should be firing; one that closed, was
 * covered, became a child or vanished should be resolved. Then (over HTTP,
 * holding no connection) whatever Alertmanager has not accepted yet is
 * posted, and firing alerts are re-sent every ALERTMANAGER_RESEND seconds
 * with endsAt 4 resends ahead — so Alertmanager resolves them by itself if
 * the collector goes away, and never before its resend. What was accepted
 * is recorded only after Alertmanager answered 2xx: an outage or a restart
 * loses nothing, the next successful run sends the current state.
 */
export class AlertmanagerNotifier {
  readonly state: NotifierState = { consecutiveFailures: 0, nextAttemptAt: null, lastError: null, lastSuccessAt: null };
  private readonly url: string;
  private readonly instance: string | undefined;

  constructor(private readonly deps: Deps) {
    if (!deps.config.ALERTMANAGER_URL) throw new Error('ALERTMANAGER_URL is not set');
    this.url = `${deps.config.ALERTMANAGER_URL}/api/v2/alerts`;
    this.instance = instanceLabel(deps.config.PUBLIC_URL);
  }

  /** Brings the alert table in line with the incidents as of `now`; false when another collector is doing it. */
  async sync(now: Date): Promise<boolean> {
    const { config } = this.deps;
    return this.deps.db.transaction().execute(async (trx) => {
      if (!(await trySyncLock(trx))) return false;
      const coverage = await openIncidentCoverage(trx, now);
      const wanted = coverage.open.filter((r) => r.parent_id === null && !coverage.covered.has(r.id));
      const sources = new Map((await alertSources(trx, wanted.map((r) => r.id))).map((s) => [s.id, s]));
      const active = new Map((await activeAlerts(trx, ALERTS_PER_RUN)).map((a) => [a.incident_id, a]));

      for (const w of wanted) {
        const src = sources.get(w.id);
        if (!src) continue;
        const labels = alertLabels(src, this.instance);
        const annotations = alertAnnotations(src, config.PUBLIC_URL);
        const cur = active.get(w.id);
        // Flat string maps both; jsonb does not keep key order, so compare as maps.
        const same = cur && cur.state === 'firing' && sameLabels(cur.labels as Labels, labels) && sameLabels(cur.annotations as Labels, annotations);
        if (!same) await fireAlert(trx, { incident_id: w.id, labels, annotations, starts_at: new Date(src.started_at), changed_at: now });
      }

      const wantedIds = new Set(wanted.map((w) => w.id));
      const stale = [...active.values()].filter((a) => a.state === 'firing' && !wantedIds.has(a.incident_id));
      const ends = new Map((await incidentEnds(trx, stale.map((a) => a.incident_id))).map((e) => [e.id, e]));
      for (const a of stale) {
        const e = ends.get(a.incident_id);
        const reason = !e ? 'gone' : e.ended_at ? 'closed' : coverage.covered.has(a.incident_id) ? 'maintenance' : e.parent_id ? 'child' : 'gone';
        // A closed incident ends when it ended; planned work or a new parent ends it now.
        const endsAt = e?.ended_at ? new Date(e.ended_at) : now;
        await resolveAlert(trx, a.incident_id, { ends_at: endsAt, reason, changed_at: now });
      }
      return true;
    });
  }

  /** What to post at `now`: changes not accepted yet, and firing alerts due for their resend. */
  private due(rows: AlertRow[], now: Date): Array<{ row: AlertRow; alerts: PostableAlert[] }> {
    const resendMs = this.deps.config.ALERTMANAGER_RESEND * 1000;
    const out: Array<{ row: AlertRow; alerts: PostableAlert[] }> = [];
    for (const row of rows) {
      const labels = row.labels as Labels;
      const annotations = row.annotations as Record<string, string>;
      const generatorURL = incidentUrl(this.deps.config.PUBLIC_URL, row.incident_id);
      const base = { annotations, startsAt: iso(row.starts_at), ...(generatorURL ? { generatorURL } : {}) };
      const delivered = row.delivered_at ? new Date(row.delivered_at) : null;
      const heldLabels = row.delivered_state === 'firing' ? (row.delivered_labels as Labels | null) : null;
      if (row.state === 'firing') {
        const changed = !delivered || row.delivered_state !== 'firing' || new Date(row.changed_at) > delivered;
        if (!changed && now.getTime() - delivered.getTime() < resendMs) continue;
        const alerts: PostableAlert[] = [{ labels, ...base, endsAt: iso(new Date(now.getTime() + ENDS_AT_RESENDS * resendMs)) }];
        // Alertmanager knows the alert by its labels: retire the old set (a severity change).
        if (heldLabels && !sameLabels(heldLabels, labels)) alerts.push({ labels: heldLabels, ...base, endsAt: iso(now) });
        out.push({ row, alerts });
      } else if (row.delivered_state !== 'resolved') {
        const endsAt = iso(row.ends_at ?? now);
        out.push({ row, alerts: [{ labels: heldLabels ?? labels, ...base, endsAt }] });
      }
    }
    return out;
  }

  /** Throws AlertmanagerError only: the caller tells Alertmanager's failures from the database's. */
  private async post(alerts: PostableAlert[]): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(alerts),
        signal: AbortSignal.timeout(this.deps.config.ALERTMANAGER_TIMEOUT * 1000),
      });
    } catch (err) {
      throw new AlertmanagerError(describe(err, this.deps.config.ALERTMANAGER_TIMEOUT));
    }
    if (!res.ok) {
      const text = (await res.text().catch(() => '')).slice(0, 300);
      throw new AlertmanagerError(`Alertmanager answered ${res.status}${text ? `: ${text}` : ''}`);
    }
    await res.body?.cancel().catch(() => {});
  }

  /** Whether a POST may be tried at `now` (false while backing off after failures). */
  mayPost(now: Date): boolean {
    return !this.state.nextAttemptAt || now >= this.state.nextAttemptAt;
  }

  /** One run at `now`; never throws. */
  async run(now: Date): Promise<NotifierRun> {
    const { deps } = this;
    const log = deps.log.child({ job: ALERTMANAGER_JOB });
    const t0 = performance.now();
    const sent = { firing: 0, resolved: 0 };
    let synced = false;
    let result: NotifierRun;
    try {
      synced = await this.sync(now);
      if (!this.mayPost(now)) {
        result = { ok: false, skipped: 'backoff', synced, sent, pending: await countPending(deps.db), ...(this.state.lastError ? { error: this.state.lastError } : {}) };
      } else {
        const due = this.due(await activeAlerts(deps.db, ALERTS_PER_RUN), now);
        // With nothing to say, an empty POST every resend interval still tells
        // whether Alertmanager is there: an outage shows before the next incident.
        const heartbeat = !due.length && (!this.state.lastSuccessAt || now.getTime() - this.state.lastSuccessAt.getTime() >= deps.config.ALERTMANAGER_RESEND * 1000);
        if (!due.length && !heartbeat) {
          result = { ok: true, skipped: 'nothing_due', synced, sent, pending: await countPending(deps.db) };
        } else try {
          if (heartbeat) {
            await this.post([]);
            deps.metrics.alertmanagerPosts.inc({ result: 'ok' });
          }
          for (let i = 0; i < due.length; i += ALERTS_PER_POST) {
            const chunk = due.slice(i, i + ALERTS_PER_POST);
            await this.post(chunk.flatMap((d) => d.alerts));
            deps.metrics.alertmanagerPosts.inc({ result: 'ok' });
            for (const { row } of chunk) {
              await markDelivered(deps.db, { incident_id: row.incident_id, state: row.state as 'firing' | 'resolved', labels: row.labels, changed_at: new Date(row.changed_at), at: now });
              const state = row.state === 'firing' ? 'firing' : 'resolved';
              sent[state]++;
              deps.metrics.alertmanagerAlertsSent.inc({ state });
            }
          }
          this.succeeded(now, log);
          result = { ok: true, ...(due.length ? {} : { skipped: 'nothing_due' as const }), synced, sent, pending: await countPending(deps.db) };
        } catch (err) {
          if (!(err instanceof AlertmanagerError)) throw err;
          const message = err.message;
          this.failed(now, message, log);
          result = { ok: false, synced, sent, pending: await countPending(deps.db).catch(() => -1), error: message };
        }
      }
    } catch (err) {
      // The database, not Alertmanager: nothing to back off from; the next run retries.
      const message = (err as Error).message ?? String(err);
      log.warn('alertmanager job could not read the incidents', { err: message });
      result = { ok: false, synced, sent, pending: -1, error: `database: ${message}` };
    }
    const durationMs = performance.now() - t0;
    if (result.pending >= 0) deps.metrics.alertmanagerPending.set(result.pending);
    deps.metrics.alertmanagerFailures.set(this.state.consecutiveFailures);
    deps.status.record(ALERTMANAGER_JOB, {
      at: now,
      ok: result.ok,
      skipped: result.skipped === 'backoff' ? false : !!result.skipped && result.ok,
      ...(result.ok ? {} : { error: result.error ?? 'unknown error' }),
      durationMs,
      details: {
        url: deps.config.ALERTMANAGER_URL,
        sent: result.sent,
        pending: result.pending,
        consecutive_failures: this.state.consecutiveFailures,
        next_attempt_at: this.state.nextAttemptAt ? iso(this.state.nextAttemptAt) : null,
        last_success_at: this.state.lastSuccessAt ? iso(this.state.lastSuccessAt) : null,
        ...(result.skipped === 'backoff' ? { backing_off: true } : {}),
      },
    });
    return result;
  }

  private succeeded(now: Date, log: Deps['log']) {
    if (this.state.consecutiveFailures > 0) log.info('alertmanager reachable again', { after_failures: this.state.consecutiveFailures });
    this.state.consecutiveFailures = 0;
    this.state.nextAttemptAt = null;
    this.state.lastError = null;
    this.state.lastSuccessAt = now;
    this.deps.metrics.alertmanagerUp.set(1);
    this.deps.metrics.alertmanagerLastSuccess.set(now.getTime() / 1000);
  }

  private failed(now: Date, message: string, log: Deps['log']) {
    this.state.consecutiveFailures++;
    const backoff = Math.min(this.deps.config.ALERTMANAGER_INTERVAL * 1000 * 2 ** (this.state.consecutiveFailures - 1), MAX_BACKOFF_MS);
    this.state.nextAttemptAt = new Date(now.getTime() + backoff);
    this.state.lastError = message;
    this.deps.metrics.alertmanagerPosts.inc({ result: 'error' });
    this.deps.metrics.alertmanagerUp.set(0);
    // One warning per outage, not one per retry.
    const fields = { err: message, failures: this.state.consecutiveFailures, retry_at: iso(this.state.nextAttemptAt) };
    if (this.state.consecutiveFailures === 1) log.warn('alertmanager unreachable; retrying with backoff', fields);
    else log.debug('alertmanager still unreachable', fields);
  }
}

export class AlertmanagerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlertmanagerError';
  }
}

function describe(err: unknown, timeoutS: number): string {
  const e = err as Error & { code?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ALERTMANAGER_TIMEOUT (${timeoutS} s)`;
  return e?.message ?? String(err);
}

/**
 * The notifier's own schedule, apart from ingest and the engine: a slow or
 * dead Alertmanager delays only this job (bounded by ALERTMANAGER_TIMEOUT per
 * POST), and croner's overrun protection skips a run while one is going.
 */
export function startAlertmanagerJob(deps: AppDeps): Cron[] {
  if (!deps.config.ALERTMANAGER_URL) return [];
  const notifier = new AlertmanagerNotifier(deps);
  const log = deps.log.child({ job: ALERTMANAGER_JOB });
  const { pattern, interval } = engineSchedule(deps.config.ALERTMANAGER_INTERVAL);
  const job = new Cron(
    pattern,
    {
      name: ALERTMANAGER_JOB,
      protect: () => log.debug('alertmanager run still going; this run is skipped'),
      catch: (err) => log.error('alertmanager job threw', { err: (err as Error).message }),
      ...(interval ? { interval } : {}),
    },
    async () => {
      await notifier.run(deps.now());
    },
  );
  deps.status.scheduled(ALERTMANAGER_JOB, interval ? `every ${interval} s` : pattern, () => job.nextRun());
  log.info('alertmanager notifications on', { url: deps.config.ALERTMANAGER_URL, every_s: deps.config.ALERTMANAGER_INTERVAL, resend_s: deps.config.ALERTMANAGER_RESEND });
  return [job];
}
