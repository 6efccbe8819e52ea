import type pg from 'pg';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { createDatabase, createPool, type Database } from './database.ts';
import type { EmbeddedServer } from './embedded.ts';

export interface OpenDatabase {
  db: Database;
  pool: pg.Pool;
  url: string;
  embedded: EmbeddedServer | null;
  close(): Promise<void>;
}

/** DATABASE_URL when set; otherwise the embedded PostgreSQL in DATA_DIR. */
export async function openDatabase(config: Config, log: Logger, opts: { poolSize?: number; applicationName?: string } = {}): Promise<OpenDatabase> {
  let embedded: EmbeddedServer | null = null;
  let url = config.DATABASE_URL;
  if (!url) {
    const { startEmbedded } = await import('./embedded.ts');
    embedded = await startEmbedded({ dataDir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT, log });
    url = embedded.url;
  }
  const pool = createPool({ url, max: opts.poolSize ?? config.DATABASE_POOL_SIZE, log, applicationName: opts.applicationName ?? 'meshmon' });
  const db = createDatabase(pool);
  return {
    db,
    pool,
    url,
    embedded,
    close: async () => {
      // The pool first: the embedded server waits for its clients to leave.
      await db.destroy().catch(() => {});
      await embedded?.stop();
    },
  };
}
