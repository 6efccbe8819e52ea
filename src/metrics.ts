import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * prom-client's gauges named `_total`, which Prometheus reserves for counters
 * (`promtool check metrics` rejects them); each is the sum of the labelled
 * gauge of the same name without the suffix, which stays.
 */
const NON_COUNTER_TOTALS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * One registry per app instance (never prom-client's global one), so tests can
 * build several apps in one process. Gauges that need the database are filled
 * at scrape time by the /metrics route.
 *
 * The process and runtime metrics keep their standard names (`process_*`,
 * `nodejs_*`, as every Prometheus client library exports them, so the usual
 * dashboards and alerts find them); the collector's own carry `meshmon_`.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics) {
    collectDefaultMetrics({ register: registry });
    for (const name of NON_COUNTER_TOTALS) registry.removeSingleMetric(name);
  }
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
      help: 'Agent messages by type and outcome (accepted, duplicate, skipped: unreadable or over MAX_NODES; rejected: the whole request refused) and rejection reason',
      labelNames: ['type', 'outcome', 'reason'] as const,
      registers: [registry],
    }),
    ingestRequests: new Counter({
      name: 'meshmon_ingest_requests_total',
      help: 'POST /ingest (and /api/reports) requests by response status; 499: the client closed the connection before its body arrived',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    ingestDropped: new Counter({
      name: 'meshmon_ingest_dropped_total',
      help: 'What agents sent that could not be used, by reason: messages skipped, measurements dropped, values dropped from stored measurements (each once: a repeat is not counted again)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    nodesRefused: new Counter({
      name: 'meshmon_registry_nodes_refused_total',
      help: 'New nodes whose messages were dropped because the registry holds MAX_NODES nodes (counted per request)',
      registers: [registry],
    }),
    addressesLearned: new Counter({
      name: 'meshmon_mesh_addresses_learned_total',
      help: 'Mesh address to node name pairs learnt, by source (probe: a probe that carries both; dns: reverse DNS)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    resolverLookups: new Counter({
      name: 'meshmon_mesh_dns_lookups_total',
      help: 'Reverse DNS lookups of mesh addresses by result (name, none, error)',
      labelNames: ['result'] as const,
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
    jobLastSuccess: new Gauge({
      name: 'meshmon_job_last_success_timestamp_seconds',
      help: 'Unix time of the last successful run of each maintenance job',
      labelNames: ['job'] as const,
      registers: [registry],
    }),
    jobDuration: new Gauge({
      name: 'meshmon_job_last_duration_seconds',
      help: 'Duration of the last run of each maintenance job',
      labelNames: ['job'] as const,
      registers: [registry],
    }),
    retentionRemoved: new Counter({
      name: 'meshmon_retention_removed_total',
      help: 'What retention removed, by table and unit (rows deleted, or chunks dropped)',
      labelNames: ['table', 'unit'] as const,
      registers: [registry],
    }),
    rollupWatermark: new Gauge({
      name: 'meshmon_rollup_watermark_timestamp_seconds',
      help: 'Receive time up to which each rollup table is refreshed (collector-refreshed rollups only)',
      labelNames: ['rollup'] as const,
      registers: [registry],
    }),
    listCacheRequests: new Counter({
      name: 'meshmon_api_list_cache_requests_total',
      help: '/issues and /issues/by-object requests answered from the list cache (hit) or read (miss)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    unknownPathRequests: new Counter({
      name: 'meshmon_http_unknown_path_requests_total',
      help: 'Requests to paths the collector does not serve (404 without a route), by method',
      labelNames: ['method'] as const,
      registers: [registry],
    }),
    unknownPathLastSeen: new Gauge({
      name: 'meshmon_http_unknown_path_last_seen_timestamp_seconds',
      help: 'Unix time of the last write (POST, PUT, PATCH, DELETE) to each of the 10 most recent unknown paths: agents posting to the wrong URL',
      labelNames: ['method', 'path'] as const,
      registers: [registry],
    }),
    // Filled at scrape time by GET /metrics.
    listCacheListening: new Gauge({
      name: 'meshmon_api_list_cache_listening',
      help: '1 while the list cache hears the incident change notifications (else every request reads); absent with API_CACHE=false',
      registers: [registry],
    }),
    listCacheChars: new Gauge({
      name: 'meshmon_api_list_cache_chars',
      help: 'Characters of answers the list cache holds (at most 4 Mi)',
      registers: [registry],
    }),
    dbUp: new Gauge({
      name: 'meshmon_db_up',
      help: '1 when the database answered the scrape-time queries, else 0',
      registers: [registry],
    }),
    dbInfo: new Gauge({
      name: 'meshmon_db_info',
      help: 'Database mode (timescale, apache, none), server version and TimescaleDB version; always 1',
      labelNames: ['mode', 'version', 'timescaledb'] as const,
      registers: [registry],
    }),
    dbEmbedded: new Gauge({
      name: 'meshmon_db_embedded',
      help: '1 when the collector runs its own embedded PostgreSQL',
      registers: [registry],
    }),
    dbSize: new Gauge({
      name: 'meshmon_db_size_bytes',
      help: 'Size of the database on disk (absent while the database does not answer)',
      labelNames: ['database'] as const,
      registers: [registry],
    }),
    dbTableSize: new Gauge({
      name: 'meshmon_db_table_size_bytes',
      help: 'Size of each MeshMon table with its indexes (hypertables and rollups: all their chunks)',
      labelNames: ['table'] as const,
      registers: [registry],
    }),
    dbPoolTotal: new Gauge({
      name: 'meshmon_db_pool_connections',
      help: 'Connections the pool holds',
      registers: [registry],
    }),
    dbPoolIdle: new Gauge({
      name: 'meshmon_db_pool_idle_connections',
      help: 'Connections of the pool not in use',
      registers: [registry],
    }),
    dbPoolWaiting: new Gauge({
      name: 'meshmon_db_pool_waiting_clients',
      help: 'Queries waiting for a free connection',
      registers: [registry],
    }),
    alertmanagerPosts: new Counter({
      name: 'meshmon_alertmanager_posts_total',
      help: 'POSTs of alerts to Alertmanager by result (ok, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    alertmanagerAlertsSent: new Counter({
      name: 'meshmon_alertmanager_alerts_sent_total',
      help: 'Alerts Alertmanager accepted, by state (firing, resolved)',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    alertmanagerUp: new Gauge({
      name: 'meshmon_alertmanager_up',
      help: '1 when the last POST to Alertmanager succeeded, 0 when it failed (absent before the first)',
      registers: [registry],
    }),
    alertmanagerPending: new Gauge({
      name: 'meshmon_alertmanager_pending_alerts',
      help: 'Alert changes (firing, severity, resolved) not yet accepted by Alertmanager',
      registers: [registry],
    }),
    alertmanagerFailures: new Gauge({
      name: 'meshmon_alertmanager_consecutive_failures',
      help: 'Failed POSTs to Alertmanager since the last success (the retry backoff grows with it)',
      registers: [registry],
    }),
    alertmanagerLastSuccess: new Gauge({
      name: 'meshmon_alertmanager_last_success_timestamp_seconds',
      help: 'Unix time of the last POST Alertmanager accepted',
      registers: [registry],
    }),
    incidentsOpen: new Gauge({
      name: 'meshmon_incidents_open',
      help: 'Open (and clearing) incidents by kind and severity',
      labelNames: ['kind', 'severity'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
