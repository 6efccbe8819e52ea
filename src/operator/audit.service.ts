import type { Executor } from '../db/database.ts';
import { insertAudit, listAudit } from './audit.repository.ts';
import type { AuditAction, AuditList, AuditQuery, WriteContext } from './audit.schema.ts';

/** Records one write, in the write's own transaction: no write without its audit line. */
export async function recordWrite(
  db: Executor,
  ctx: WriteContext,
  entry: { action: AuditAction; by: string; target: string; detail: Record<string, unknown> },
): Promise<void> {
  await insertAudit(db, {
    at: ctx.at,
    actor: ctx.actor,
    by: entry.by,
    action: entry.action,
    target: entry.target,
    detail: JSON.stringify(entry.detail),
    request_id: ctx.requestId,
  });
}

export async function auditLog(db: Executor, q: AuditQuery): Promise<AuditList> {
  const rows = await listAudit(db, { before: q.before, limit: q.limit + 1 });
  const more = rows.length > q.limit;
  const items = (more ? rows.slice(0, q.limit) : rows).map((r) => ({
    id: Number(r.id),
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    by: r.by,
    action: r.action as AuditAction,
    target: r.target,
    detail: (r.detail ?? {}) as Record<string, unknown>,
    request_id: r.request_id,
  }));
  return { items, next: more ? items.at(-1)!.id : null };
}
