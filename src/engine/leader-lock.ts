import type pg from 'pg';
import type { Logger } from '../log.ts';
import { settlesWithin, withTimeout } from '../timeout.ts';
import { ENGINE_LEADER_KEY, pingSession, tryLeaderLock, unlockLeader } from './leader-lock.repository.ts';

const PING_TIMEOUT_MS = 5_000;

/**
 * Leadership = a session-level advisory lock on one pooled connection kept
 * out of the pool for as long as this collector leads. When that session
 * dies (collector killed, network cut, backend terminated) the server drops
 * the lock and another collector's next tick takes it.
 */
export class LeaderLock {
  private client: pg.PoolClient | null = null;
  private pid: number | null = null;
  private dead = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool | undefined,
    private readonly log: Logger,
    private readonly key = ENGINE_LEADER_KEY,
  ) {}

  /** Backend pid of the session holding the lock, while this process leads. */
  get backendPid(): number | null {
    return this.client ? this.pid : null;
  }

  /** True when this process leads after the call. Throws when the database is unreachable. */
  async ensure(): Promise<boolean> {
    if (this.stopped) return false;
    // PGlite lives inside this process: nobody else can evaluate on it.
    if (!this.pool) return true;
    if (this.client) {
      if (!this.dead) {
        try {
          // A half-open connection (network cut) would hang the ping, and with it every later tick.
          await withTimeout(pingSession(this.client), PING_TIMEOUT_MS, 'leader lock connection did not answer');
          return true;
        } catch (err) {
          this.log.warn('engine leader lock connection lost', { err: (err as Error).message });
        }
      }
      this.drop();
    }
    const client = await this.pool.connect();
    // A checked-out client has no error listener of the pool's: without ours
    // a dying connection would crash the process.
    const onError = (err: Error) => {
      this.dead = true;
      this.log.warn('engine leader lock connection error', { err: err.message });
    };
    client.on('error', onError);
    let locked = false;
    try {
      const r = await tryLeaderLock(client, this.key);
      locked = r.locked;
      this.pid = r.pid;
    } catch (err) {
      client.removeListener('error', onError);
      client.release(err as Error);
      throw err;
    }
    if (!locked || this.stopped) {
      client.removeListener('error', onError);
      // Destroying rather than returning it: a session that might hold the lock must not be reused.
      client.release(locked ? true : undefined);
      return false;
    }
    this.client = client;
    this.dead = false;
    this.log.info('engine leadership acquired', { backend_pid: this.pid });
    return true;
  }

  /**
   * Gives leadership up for good: unlocks explicitly (so a standby can take
   * over as soon as this resolves), then closes the session. Bounded, so a
   * hung server cannot hold up shutdown.
   */
  async release(): Promise<void> {
    this.stopped = true;
    const c = this.client;
    if (c && !this.dead) {
      await settlesWithin(unlockLeader(c, this.key), 1_000);
    }
    this.drop();
  }

  /** Closes the lock session rather than pooling it: a session that may hold the lock must not be reused. */
  private drop() {
    const c = this.client;
    this.client = null;
    this.dead = false;
    if (!c) return;
    try {
      c.release(true);
    } catch {
      // already released
    }
  }
}
