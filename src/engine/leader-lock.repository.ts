import { sql } from 'kysely';
import type pg from 'pg';
import type { Executor } from '../db/database.ts';

// Two keys, both fixed so every collector on one database agrees:
// LEADER is held for a leader's lifetime on its own session; TICK is taken
// inside each tick's transaction, so even during a takeover (old leader's
// connection dying while its last tick commits) two ticks never interleave.
export const ENGINE_LEADER_KEY = 0x6d6d_656c; // "mmel"
export const ENGINE_TICK_KEY = 0x6d6d_6574; // "mmet"

/** Session-level: the server releases it when the session ends, however it ends. */
export async function tryLeaderLock(client: pg.PoolClient, key = ENGINE_LEADER_KEY): Promise<{ locked: boolean; pid: number }> {
  const { rows } = await client.query<{ locked: boolean; pid: number }>(
    'SELECT pg_try_advisory_lock($1::bigint) AS locked, pg_backend_pid() AS pid',
    [key],
  );
  return rows[0]!;
}

export async function unlockLeader(client: pg.PoolClient, key = ENGINE_LEADER_KEY): Promise<void> {
  await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
}

/** Proves the session (and so its lock) is still alive. */
export async function pingSession(client: pg.PoolClient): Promise<void> {
  await client.query('SELECT 1');
}

/** Transaction-level: released at commit or rollback. */
export async function tryTickLock(trx: Executor, key = ENGINE_TICK_KEY): Promise<boolean> {
  const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${key}::bigint) AS locked`.execute(trx);
  return rows[0]!.locked;
}
