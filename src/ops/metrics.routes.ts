import { Hono } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import { databaseSize, openIncidentCounts, tableInfo, type TableInfo } from './ops.repository.ts';

/** Sizes change slowly and stat() every file of the database: computed at most this often. */
export const SIZE_CACHE_MS = 60_000;
/** A scrape must answer even when the database hangs. */
export const SCRAPE_DB_TIMEOUT_MS = 2_000;

/**
 * GET /metrics, Prometheus text format. The database gauges are read at
 * scrape time; when the database does not answer, meshmon_db_up is 0 and
 * those gauges are left out — the scrape itself still succeeds.
 */
export function metricsRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const m = deps.metrics;
  if (!deps.listCache) {
    for (const name of ['meshmon_api_list_cache_listening', 'meshmon_api_list_cache_chars']) m.registry.removeSingleMetric(name);
  }
  if (!deps.config.ALERTMANAGER_URL) {
    for (const name of [
      'meshmon_alertmanager_posts_total', 'meshmon_alertmanager_alerts_sent_total', 'meshmon_alertmanager_up',
      'meshmon_alertmanager_pending_alerts', 'meshmon_alertmanager_consecutive_failures', 'meshmon_alertmanager_last_success_timestamp_seconds',
    ]) m.registry.removeSingleMetric(name);
  }
  // PGlite (tests) has no pool: its gauges would read 0, which says something false.
  if (!deps.pool) {
    for (const name of ['meshmon_db_pool_connections', 'meshmon_db_pool_idle_connections', 'meshmon_db_pool_waiting_clients']) {
      m.registry.removeSingleMetric(name);
    }
  }
  let sizes: { at: number; db: { name: string; bytes: number }; tables: TableInfo[] } | null = null;

  const readDatabase = async () => {
    const timescale = deps.dbInfo.mode !== 'none';
    const incidents = await openIncidentCounts(deps.db);
    if (!sizes || Date.now() - sizes.at > SIZE_CACHE_MS) {
      sizes = { at: Date.now(), db: await databaseSize(deps.db), tables: await tableInfo(deps.db, timescale) };
    }
    return { incidents, sizes };
  };

  app.get('/metrics', async (c) => {
    m.dbInfo.reset();
    m.dbInfo.set({ mode: deps.dbInfo.mode, version: deps.dbInfo.version, timescaledb: deps.dbInfo.timescaledb ?? '' }, 1);
    m.dbEmbedded.set(deps.embedded ? 1 : 0);
    if (deps.listCache) {
      m.listCacheListening.set(deps.listCache.isListening ? 1 : 0);
      m.listCacheChars.set(deps.listCache.chars);
    }
    if (deps.pool) {
      m.dbPoolTotal.set(deps.pool.totalCount);
      m.dbPoolIdle.set(deps.pool.idleCount);
      m.dbPoolWaiting.set(deps.pool.waitingCount);
    }

    m.incidentsOpen.reset();
    m.dbTableSize.reset();
    m.dbSize.reset();
    try {
      const r = await withTimeout(readDatabase(), SCRAPE_DB_TIMEOUT_MS);
      m.dbUp.set(1);
      for (const i of r.incidents) m.incidentsOpen.set({ kind: i.kind, severity: i.severity }, Number(i.count));
      m.dbSize.set({ database: r.sizes.db.name }, r.sizes.db.bytes);
      for (const t of r.sizes.tables) m.dbTableSize.set({ table: t.table }, t.size_bytes);
    } catch (err) {
      m.dbUp.set(0);
      deps.log.debug('metrics: database not readable', { err: (err as Error).message });
    }

    const body = await m.registry.metrics();
    return c.body(body, 200, { 'Content-Type': m.registry.contentType });
  });

  return app;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`database did not answer within ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e) => { clearTimeout(t); reject(e); });
  });
}
