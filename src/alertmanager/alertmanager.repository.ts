import { sql, type Selectable } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { AlertmanagerAlerts } from '../db/schema.generated.ts';

export type AlertRow = Selectable<AlertmanagerAlerts>;

/** Arbitrary but fixed: the sync of the alert table runs in one collector at a time. */
const SYNC_LOCK_KEY = 0x616c_6d67; // "almg"

export async function trySyncLock(db: Executor): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${SYNC_LOCK_KEY}) AS ok`.execute(db);
  return rows[0]!.ok;
}

/** What the notifier needs of open incidents that could alert. */
export async function alertSources(db: Executor, ids: readonly string[]) {
  if (!ids.length) return [];
  return db
    .selectFrom('incidents')
    .select(['id', 'kind', 'severity', 'scope', 'cause', 'next_steps', 'started_at', 'ended_at', 'parent_id'])
    .where('id', 'in', [...ids])
    .execute();
}

/** Alerts still firing, or whose last change Alertmanager has not accepted yet. */
export async function activeAlerts(db: Executor, limit: number): Promise<AlertRow[]> {
  return db
    .selectFrom('alertmanager_alerts')
    .selectAll()
    .where((eb) => eb.or([eb('state', '=', 'firing'), eb('delivered_state', 'is', null), eb('delivered_state', '!=', eb.ref('state'))]))
    .orderBy('changed_at')
    .orderBy('incident_id')
    .limit(limit)
    .execute();
}

export async function incidentEnds(db: Executor, ids: readonly string[]): Promise<Array<{ id: string; ended_at: Date | null; parent_id: string | null }>> {
  if (!ids.length) return [];
  return db.selectFrom('incidents').select(['id', 'ended_at', 'parent_id']).where('id', 'in', [...ids]).execute();
}

export async function fireAlert(
  db: Executor,
  a: { incident_id: string; labels: unknown; annotations: unknown; starts_at: Date; changed_at: Date },
): Promise<void> {
  const labels = JSON.stringify(a.labels);
  const annotations = JSON.stringify(a.annotations);
  await db
    .insertInto('alertmanager_alerts')
    .values({ incident_id: a.incident_id, state: 'firing', labels, annotations, starts_at: a.starts_at, ends_at: null, reason: null, changed_at: a.changed_at })
    .onConflict((oc) =>
      oc.column('incident_id').doUpdateSet({ state: 'firing', labels, annotations, starts_at: a.starts_at, ends_at: null, reason: null, changed_at: a.changed_at }),
    )
    .execute();
}

export async function resolveAlert(db: Executor, id: string, a: { ends_at: Date; reason: string; changed_at: Date }): Promise<void> {
  await db
    .updateTable('alertmanager_alerts')
    .set({ state: 'resolved', ends_at: a.ends_at, reason: a.reason, changed_at: a.changed_at })
    .where('incident_id', '=', id)
    .execute();
}

/**
 * Records what Alertmanager accepted — unless the row changed since it was
 * read (a sync in between): then the newer change is still to send.
 */
export async function markDelivered(
  db: Executor,
  d: { incident_id: string; state: 'firing' | 'resolved'; labels: unknown; changed_at: Date; at: Date },
): Promise<void> {
  await db
    .updateTable('alertmanager_alerts')
    .set({ delivered_state: d.state, delivered_labels: d.state === 'firing' ? JSON.stringify(d.labels) : null, delivered_at: d.at })
    .where('incident_id', '=', d.incident_id)
    .where('changed_at', '=', d.changed_at)
    .execute();
}

/** Alert changes Alertmanager has not accepted yet. */
export async function countPending(db: Executor): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM alertmanager_alerts
    WHERE delivered_state IS DISTINCT FROM state OR (state = 'firing' AND (delivered_at IS NULL OR delivered_at < changed_at))`.execute(db);
  return rows[0]!.n;
}
