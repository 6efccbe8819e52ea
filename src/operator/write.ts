import type { Context } from 'hono';
import type { AppDeps, AppEnv } from '../app-deps.ts';
import type { Transaction } from 'kysely';
import type { DB } from '../db/schema.generated.ts';
import { OPERATOR_IDENTITY } from '../http/auth.ts';
import type { WriteContext } from './audit.schema.ts';

/**
 * One operator write: its own transaction, opened here at the edge (the
 * change and its audit line commit together), then the list cache dropped at
 * once — other collectors hear of it by the tables' change notification.
 */
export async function operatorWrite<T>(deps: AppDeps, c: Context<AppEnv>, work: (trx: Transaction<DB>, ctx: WriteContext) => Promise<T>): Promise<T> {
  const ctx: WriteContext = { actor: OPERATOR_IDENTITY, requestId: c.get('requestId') ?? null, at: deps.now() };
  const result = await deps.db.transaction().execute((trx) => work(trx, ctx));
  deps.listCache?.invalidate();
  return result;
}
