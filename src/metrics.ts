import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One registry per app instance (never prom-client's global one), so tests can
 * build several apps in one process. Gauges that need the database are filled
 * at scrape time by the /metrics route.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'meshmon_process_' });
  const m = {
    registry,
    httpRequestDuration: new Histogram({
      name: 'meshmon_http_request_duration_seconds',
      help: 'HTTP request duration by route pattern',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    ingestMessages: new Counter({
      name: 'meshmon_ingest_messages_total',
      help: 'Agent messages by type and outcome (accepted, duplicate, rejected) and rejection reason',
      labelNames: ['type', 'outcome', 'reason'] as const,
      registers: [registry],
    }),
    ingestRequests: new Counter({
      name: 'meshmon_ingest_requests_total',
      help: 'POST /ingest requests by response status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    engineTickDuration: new Histogram({
      name: 'meshmon_engine_tick_duration_seconds',
      help: 'Issue Engine tick duration',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    engineRuleDuration: new Gauge({
      name: 'meshmon_engine_rule_duration_seconds',
      help: 'Duration of each rule in the last tick',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    engineLastSuccess: new Gauge({
      name: 'meshmon_engine_last_success_timestamp_seconds',
      help: 'Unix time of the last successful engine tick',
      registers: [registry],
    }),
    engineTickFailures: new Counter({
      name: 'meshmon_engine_tick_failures_total',
      help: 'Engine ticks that failed',
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: 'meshmon_job_runs_total',
      help: 'Scheduled maintenance job runs by job and result',
      labelNames: ['job', 'result'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
