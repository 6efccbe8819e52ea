import type { Cron } from 'croner';
import type { Hono } from 'hono';
import { createApp } from './app.ts';
import type { AppDeps, AppEnv } from './app-deps.ts';
import type { Config } from './config.ts';
import { openDatabase, retryWhileUnavailable } from './db/connect.ts';
import { createPreparedDatabase } from './db/database.ts';
import { listenForIncidentChanges, type IncidentChangeListener } from './db/incident-changes.ts';
import { IncidentListCache } from './api/list-cache.ts';
import { migrateToLatest } from './db/migrate.ts';
import { startJobs } from './jobs/start-jobs.ts';
import type { Logger } from './log.ts';
import { MeshAddresses, reverseLookup } from './ingest/addresses.service.ts';
import { createMetrics } from './metrics.ts';
import { StartupProblem } from './startup-problem.ts';
import { StatusRegistry } from './status.ts';
import { VERSION } from './version.ts';

export interface RunningServer {
  url: string;
  /** The port actually bound (PORT=0 picks a free one). */
  port: number;
  deps: AppDeps;
  app: Hono<AppEnv>;
  /** Stops accepting, drains in-flight requests, stops jobs, closes the pool, stops the embedded database. */
  shutdown(reason?: string): Promise<void>;
}

/**
 * Bun hands Hono a relative URL for an HTTP/1.0 request without a Host header
 * (the upstream agent's sender); Hono needs an absolute one.
 */
export function withAbsoluteUrl(fetch: (req: Request) => Response | Promise<Response>, host: string) {
  return (req: Request) => {
    if (!/^https?:\/\//.test(req.url)) {
      const url = new URL(req.url.startsWith('/') ? req.url : `/${req.url}`, `http://${host}`);
      req = new Request(url.toString(), req);
    }
    return fetch(req);
  };
}

/** Resolves true when `p` settles within `ms`, false when it is still running. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(() => true, () => true),
    new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
  ]).finally(() => clearTimeout(timer));
}

async function jobsIdle(jobs: Cron[]): Promise<void> {
  while (jobs.some((j) => j.isBusy())) await Bun.sleep(50);
}

/** Bun.serve, with a taken, forbidden or absent address named as the setting to change (exit 2). */
function listen<T>(config: Config, serve: () => T): T {
  try {
    return serve();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const at = `${config.HOST}:${config.PORT}`;
    const detail = { host: config.HOST, port: config.PORT, code };
    if (code === 'EADDRINUSE') {
      throw new StartupProblem('port_in_use', `PORT ${config.PORT} is already in use on ${config.HOST} (another collector, or another program)`, [
        'set PORT to a free port',
        `find what holds it: sudo ss -ltnp 'sport = :${config.PORT}'`,
      ], detail);
    }
    if (code === 'EACCES') {
      throw new StartupProblem('port_forbidden', `PORT ${config.PORT}: this user may not listen on ${at} (ports below 1024 need root or CAP_NET_BIND_SERVICE)`, [
        'set PORT to 1024 or above (8080 is the default)',
        'grant the capability in the service manager (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE)',
      ], detail);
    }
    if (code === 'EADDRNOTAVAIL') {
      throw new StartupProblem('host_not_available', `HOST ${config.HOST} is not an address of this machine`, ['set HOST to one of its addresses, or 0.0.0.0 for all'], detail);
    }
    throw err;
  }
}

/** The composition root: config → database → migrations → jobs → HTTP. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const database = await openDatabase(config, log);
  let listener: IncidentChangeListener | undefined;
  try {
    const info = await retryWhileUnavailable(
      () => migrateToLatest(database.db, { timescaledb: config.TIMESCALEDB, log }),
      { timeoutMs: config.DATABASE_STARTUP_TIMEOUT * 1000, log, what: 'migrations' },
    );
    log.info('database ready', { mode: info.mode, version: info.version, timescaledb: info.timescaledb, embedded: !!database.embedded });

    const listCache = config.API_CACHE ? new IncidentListCache() : undefined;
    if (listCache) {
      listener = listenForIncidentChanges({
        url: database.url,
        log,
        onChange: () => listCache.invalidate(),
        onState: (on) => listCache.setListening(on),
      });
    }
    const metrics = createMetrics({ defaultMetrics: true });
    const now = () => new Date();
    const addresses = new MeshAddresses({ db: database.db, log: log.child({ component: 'addresses' }), metrics, now, maxNodes: config.MAX_NODES }, reverseLookup(config.MESH_DNS));
    const deps: AppDeps = {
      config,
      db: database.db,
      reads: createPreparedDatabase(database.pool),
      ...(listCache ? { listCache } : {}),
      addresses,
      dbInfo: { mode: info.mode, version: info.version, timescaledb: info.timescaledb },
      log,
      metrics,
      status: new StatusRegistry(),
      version: VERSION,
      now,
      embedded: !!database.embedded,
      pool: database.pool,
      ...(database.embedded ? { embeddedServer: database.embedded.status } : {}),
    };
    const app = createApp(deps);

    const server = listen(config, () => Bun.serve({
      hostname: config.HOST,
      port: config.PORT,
      // Bodies are limited by the app (413 problem+json, src/http/body-limit.ts)
      // and never held whole beyond MAX_BODY_BYTES: Bun's own limit would answer
      // a bare 413 and reset a client still writing, so it is out of the way.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch: withAbsoluteUrl(app.fetch, `${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`),
      // A request Hono never saw (a Bun-level failure) still gets a problem, not Bun's HTML page.
      error: (err) => {
        log.error('request failed outside the app', { err });
        return new Response(JSON.stringify({ type: 'about:blank', title: 'Internal Server Error', status: 500 }), {
          status: 500,
          headers: { 'Content-Type': 'application/problem+json' },
        });
      },
    }));
    // Jobs after the listener: a port already in use must not leave them running.
    let jobs: Cron[];
    try {
      jobs = startJobs(deps);
    } catch (err) {
      await server.stop(true);
      throw err;
    }
    const port = server.port ?? config.PORT;
    const url = `http://${server.hostname}:${port}`;
    log.info('collector listening', { url, version: VERSION });

    const graceMs = config.SHUTDOWN_TIMEOUT * 1000;
    let stopping: Promise<void> | null = null;
    const shutdown = (reason = 'shutdown') =>
      (stopping ??= (async () => {
        log.info('shutting down', { reason });
        for (const j of jobs) j.stop();
        // Stop accepting and close idle keep-alive connections; in-flight
        // requests finish unless they outlast SHUTDOWN_TIMEOUT.
        if (!(await within(server.stop(false), graceMs))) {
          log.warn('requests still running at SHUTDOWN_TIMEOUT; closing their connections', { timeout_s: config.SHUTDOWN_TIMEOUT });
          await server.stop(true);
        }
        if (!(await within(jobsIdle(jobs), graceMs))) {
          log.warn('a job run is still going at SHUTDOWN_TIMEOUT; closing the database under it', { timeout_s: config.SHUTDOWN_TIMEOUT });
        }
        await listener?.close();
        await database.close();
        log.info('stopped');
      })());
    return { url, port, deps, app, shutdown };
  } catch (err) {
    await listener?.close();
    await database.close().catch(() => {});
    throw err;
  }
}
