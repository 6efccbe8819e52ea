import { Hono } from 'hono';
import { sql } from 'kysely';
import type { AppDeps, AppEnv } from '../app-deps.ts';

/**
 * GET /healthz: 200 when the database answers, 503 with the same shape when
 * it does not (so a probe and a person read one format).
 */
export function healthRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();

  app.get('/healthz', async (c) => {
    let up = false;
    let sizeBytes: number | null = null;
    let error: string | undefined;
    try {
      const { rows } = await withTimeout(
        sql<{ size: number }>`SELECT pg_database_size(current_database())::bigint AS size`.execute(deps.db),
        2_000,
      );
      up = true;
      sizeBytes = Number(rows[0]?.size ?? 0);
    } catch (err) {
      error = (err as Error).message;
    }
    const jobs = deps.status.list();
    const engine = jobs.find((j) => j.name === 'engine') ?? null;
    const body = {
      status: up ? 'ok' : 'unavailable',
      version: deps.version,
      database: {
        up,
        mode: deps.dbInfo.mode,
        version: deps.dbInfo.version,
        timescaledb: deps.dbInfo.timescaledb,
        embedded: deps.embedded,
        size_bytes: sizeBytes,
        ...(error ? { error } : {}),
      },
      engine,
      jobs: jobs.filter((j) => j.name !== 'engine' && !j.name.startsWith('rule:')),
      rules: jobs.filter((j) => j.name.startsWith('rule:')),
    };
    return c.json(body, up ? 200 : 503, up ? {} : { 'Retry-After': '5' });
  });

  return app;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`database did not answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}
