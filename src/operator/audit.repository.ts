import type { Insertable } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { AuditLog } from '../db/schema.generated.ts';

export async function insertAudit(db: Executor, row: Insertable<AuditLog>): Promise<void> {
  await db.insertInto('audit_log').values(row).execute();
}

/** Newest first; `before` is the id of the last entry of the previous page. */
export async function listAudit(db: Executor, p: { before?: number | undefined; limit: number }) {
  let q = db.selectFrom('audit_log').select(['id', 'at', 'actor', 'by', 'action', 'target', 'detail', 'request_id']);
  if (p.before !== undefined) q = q.where('id', '<', p.before);
  return q.orderBy('id', 'desc').limit(p.limit).execute();
}
export type AuditRow = Awaited<ReturnType<typeof listAudit>>[number];
