import type pg from 'pg';
import type { IncidentListCache } from './api/list-cache.ts';
import type { MeshAddresses } from './ingest/addresses.service.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { EmbeddedStatus } from './db/embedded.ts';
import type { DatabaseInfo } from './db/mode.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { StatusRegistry } from './status.ts';

/** Everything a request handler may use. createApp never reads the environment: it gets this. */
export interface AppDeps {
  config: Config;
  db: Database;
  /**
   * The API's reads: the same pool with prepared statements
   * (createPreparedDatabase). `db` when absent (PGlite).
   */
  reads?: Database;
  /** Cached /issues answers, dropped on every incidents change; none: every request reads. */
  listCache?: IncidentListCache;
  dbInfo: DatabaseInfo;
  log: Logger;
  metrics: Metrics;
  status: StatusRegistry;
  version: string;
  /** The clock. Tests and replay pass a fixed one. */
  now: () => Date;
  /** True when the collector started its own embedded PostgreSQL. */
  embedded: boolean;
  /** The pg pool behind `db`, when there is one (not with PGlite), for pool metrics. */
  pool?: pg.Pool;
  /** The embedded server's state, when the collector runs one: /healthz says why it is down. */
  embeddedServer?: () => EmbeddedStatus;
  /**
   * Mesh address → name work of this process (cache, reverse DNS, moving rows
   * to learnt names). Absent: ingest still learns pairs from probes and names
   * addresses, but nothing runs in the background.
   */
  addresses?: MeshAddresses;
}

export type AppEnv = { Variables: { requestId: string } };

/** The database the read API queries: the prepared-statement one when the server made it. */
export function apiReads(deps: AppDeps): Database {
  return deps.reads ?? deps.db;
}
