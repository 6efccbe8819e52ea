import type { Hono } from 'hono';
import type { IncidentListCache } from '../../src/api/list-cache.ts';
import type { MeshAddresses } from '../../src/ingest/addresses.service.ts';
import { createApp } from '../../src/app.ts';
import type { AppDeps, AppEnv } from '../../src/app-deps.ts';
import { configFrom, type Config } from '../../src/config.ts';
import { createPreparedDatabase } from '../../src/db/database.ts';
import { silentLogger, type Logger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { StatusRegistry } from '../../src/status.ts';
import type { TestDatabase } from './databases.ts';

export interface TestApp {
  app: Hono<AppEnv>;
  deps: AppDeps;
  /** Sets the app's clock (ingest's received_at, API defaults). */
  setNow(d: Date | string): void;
  json(path: string, init?: RequestInit): Promise<{ status: number; body: any; res: Response }>;
  post(path: string, body: unknown, init?: RequestInit): Promise<{ status: number; body: any; res: Response }>;
}

export function testApp(
  tdb: TestDatabase,
  opts: { env?: Parameters<typeof configFrom>[0]; now?: Date | string; log?: Logger; config?: Config; listCache?: IncidentListCache; addresses?: MeshAddresses } = {},
): TestApp {
  let now = new Date(opts.now ?? '2026-03-02T12:00:00Z');
  const deps: AppDeps = {
    config: opts.config ?? configFrom({ ENGINE_ENABLED: 'false', ...opts.env }),
    db: tdb.db,
    dbInfo: tdb.info,
    log: opts.log ?? silentLogger,
    metrics: createMetrics(),
    status: new StatusRegistry(),
    version: 'test',
    now: () => new Date(now),
    embedded: false,
    ...(tdb.pool ? { pool: tdb.pool, reads: createPreparedDatabase(tdb.pool) } : {}),
    ...(opts.listCache ? { listCache: opts.listCache } : {}),
    ...(opts.addresses ? { addresses: opts.addresses } : {}),
  };
  const app = createApp(deps);
  const json = async (path: string, init?: RequestInit) => {
    const res = await app.request(path, init);
    const text = await res.text();
    let body: unknown = text;
    try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    return { status: res.status, body, res };
  };
  return {
    app,
    deps,
    setNow: (d) => { now = new Date(d); },
    json,
    post: (path, body, init) =>
      json(path, {
        method: 'POST',
        ...init,
        headers: { 'Content-Type': 'application/json', ...(init?.headers as Record<string, string> | undefined) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
  };
}
