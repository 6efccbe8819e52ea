import pg from 'pg';
import type { Logger } from '../log.ts';

// The incidents table announces its own changes on this channel (triggers of
// migration 0006: delivered at commit, dropped on rollback, whoever writes —
// the engine, retention, an operator in psql). Every collector
// listens, so a response cache in any of them never outlives a change by
// more than the delivery.

export const INCIDENTS_CHANNEL = 'meshmon_incidents';

export interface IncidentChangeListener {
  close(): Promise<void>;
}

/**
 * Listens on its own connection (not the pool's: LISTEN belongs to a
 * session). `onState(true)` once listening, `onState(false)` as soon as the
 * connection is lost — changes may be missed from then on — and it
 * reconnects every `retryMs` until closed.
 */
export function listenForIncidentChanges(opts: {
  url: string;
  log: Logger;
  onChange: () => void;
  onState: (listening: boolean) => void;
  retryMs?: number;
}): IncidentChangeListener {
  const retryMs = opts.retryMs ?? 2_000;
  let closed = false;
  let client: pg.Client | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const lost = (c: pg.Client, why: string) => {
    if (client !== c) return;
    client = null;
    opts.onState(false);
    c.end().catch(() => {});
    if (closed) return;
    opts.log.debug('incident change listener lost its connection', { err: why });
    timer = setTimeout(connect, retryMs);
  };
  const connect = async () => {
    if (closed) return;
    const c = new pg.Client({ connectionString: opts.url, application_name: 'meshmon-listen', keepAlive: true, connectionTimeoutMillis: 3_000 });
    client = c;
    c.on('error', (err) => lost(c, err.message));
    c.on('end', () => lost(c, 'connection ended'));
    c.on('notification', (n) => {
      if (n.channel === INCIDENTS_CHANNEL) opts.onChange();
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${INCIDENTS_CHANNEL}`);
      if (client === c && !closed) opts.onState(true);
    } catch (err) {
      lost(c, (err as Error).message);
    }
  };
  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      const c = client;
      client = null;
      opts.onState(false);
      await c?.end().catch(() => {});
    },
  };
}
