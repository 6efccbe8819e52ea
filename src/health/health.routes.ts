import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { publicReason, redact } from '../db/database.ts';
import { engineState } from '../engine/engine-state.ts';
import type { JobStatus } from '../status.ts';
import { databaseSize, writeProbe } from './health.repository.ts';

const RETRY_AFTER_S = '5';
const TIMEOUT_MS = 2_000;

/**
 * GET /healthz: `ok` (200) when the database answers and can write and the
 * Issue Engine's ticks pass; `degraded` (503) when the database answers but
 * cannot write (disk full, read-only, out of memory) or the engine fails;
 * `unavailable` (503) when the database does not answer. Same shape in every
 * case, with the reasons in a few words — never an address, user or host:
 * the endpoint needs no token.
 */
export function healthRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  let probing: Promise<string | null> | null = null;

  /** null when the database can write again; else why not. Concurrent requests share one probe. */
  const canWrite = (): Promise<string | null> =>
    (probing ??= withTimeout(writeProbe(deps.db), TIMEOUT_MS)
      .then(() => null, (err) => publicReason(err))
      .finally(() => { probing = null; }));

  app.get('/healthz', async (c) => {
    const reasons: string[] = [];
    let up = false;
    let sizeBytes: number | null = null;
    let dbReason: string | null = null;
    try {
      sizeBytes = await withTimeout(databaseSize(deps.db), TIMEOUT_MS);
      up = true;
    } catch (err) {
      dbReason = publicReason(err);
      const server = deps.embeddedServer?.();
      if (server && !server.running && server.reason) {
        dbReason = `the embedded database stopped (${server.reason})${server.restarting ? '; the collector is starting it again' : ''}`;
      }
    }
    let writable: boolean | null = null;
    if (up && deps.status.databaseTrouble()) {
      const why = await canWrite();
      if (why) {
        writable = false;
        dbReason = why;
        deps.status.databaseFailed(why, deps.now());
      } else {
        writable = true;
        deps.status.databaseRecovered();
      }
    }
    if (dbReason) reasons.push(dbReason);

    const jobs = deps.status.list().map(publicJob);
    const engine = jobs.find((j) => j.name === 'engine') ?? null;
    const local = deps.status.get('engine');
    // A tick that failed for want of the database is the database's problem, reported above; it passes again by itself.
    if (up && (local?.details as { unavailable?: boolean } | undefined)?.unavailable !== true) {
      const e = engineState({ local, intervalS: deps.config.ENGINE_INTERVAL, now: deps.now() });
      if (e.state === 'failing' || e.state === 'stale') reasons.push(`the Issue Engine is ${e.state}: ${e.error}`);
    }
    const status = !up ? 'unavailable' : reasons.length ? 'degraded' : 'ok';
    const trouble = deps.status.databaseTrouble();
    const body = {
      status,
      reasons,
      version: deps.version,
      database: {
        up,
        writable,
        mode: deps.dbInfo.mode,
        version: deps.dbInfo.version,
        timescaledb: deps.dbInfo.timescaledb,
        embedded: deps.embedded,
        size_bytes: sizeBytes,
        ...(dbReason ? { error: dbReason } : {}),
        ...(trouble && dbReason ? { failing_since: trouble.since } : {}),
      },
      engine,
      jobs: jobs.filter((j) => j.name !== 'engine' && !j.name.startsWith('rule:')),
      rules: jobs.filter((j) => j.name.startsWith('rule:')),
    };
    return c.json(body, status === 'ok' ? 200 : 503, status === 'ok' ? {} : { 'Retry-After': RETRY_AFTER_S });
  });

  return app;
}

/** Job errors as recorded may quote a driver message: shown without addresses. */
function publicJob(j: JobStatus): JobStatus {
  return j.last_error ? { ...j, last_error: redact(j.last_error) } : j;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`database did not answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}
