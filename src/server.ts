import type { Cron } from 'croner';
import { createApp } from './app.ts';
import type { AppDeps } from './app-deps.ts';
import type { Config } from './config.ts';
import { openDatabase } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';
import { startJobs } from './jobs/start-jobs.ts';
import type { Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { StatusRegistry } from './status.ts';
import { VERSION } from './version.ts';

export interface RunningServer {
  url: string;
  deps: AppDeps;
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

/** The composition root: config → database → migrations → jobs → HTTP. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const database = await openDatabase(config, log);
  try {
    const info = await migrateToLatest(database.db, { timescaledb: config.TIMESCALEDB, log });
    log.info('database ready', { mode: info.mode, version: info.version, timescaledb: info.timescaledb, embedded: !!database.embedded });

    const deps: AppDeps = {
      config,
      db: database.db,
      dbInfo: { mode: info.mode, version: info.version, timescaledb: info.timescaledb },
      log,
      metrics: createMetrics({ defaultMetrics: true }),
      status: new StatusRegistry(),
      version: VERSION,
      now: () => new Date(),
      embedded: !!database.embedded,
      pool: database.pool,
    };
    const app = createApp(deps);
    const jobs: Cron[] = startJobs(deps);

    const server = Bun.serve({
      hostname: config.HOST,
      port: config.PORT,
      // Ingest bodies are limited by the ingest route itself (413 problem+json);
      // Bun's own limit only guards against absurd sizes.
      maxRequestBodySize: Math.max(config.MAX_BODY_BYTES * 4, 8 * 1024 * 1024),
      fetch: withAbsoluteUrl(app.fetch, `${config.HOST}:${config.PORT}`),
    });
    const url = `http://${server.hostname}:${server.port}`;
    log.info('collector listening', { url, version: VERSION });

    let stopping: Promise<void> | null = null;
    const shutdown = (reason = 'shutdown') =>
      (stopping ??= (async () => {
        log.info('shutting down', { reason });
        for (const j of jobs) j.stop();
        await server.stop(false); // stop accepting; wait for in-flight requests
        await database.close();
        log.info('stopped');
      })());
    return { url, deps, shutdown };
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
}
