import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// The operator's side of incidents: acknowledgements, maintenance windows,
// the audit trail of every write, and what the collector has told
// Alertmanager. All plain tables in every mode (they are small: people and
// incidents make their rows, agents do not).
//
// A maintenance window's coverage is not stored: who is covered follows from
// the window's scope and the incidents' scopes when they are read, so the
// engine's writes stay as they are and a window that starts while an incident
// is open covers it from that instant on.

export async function up(db: Kysely<any>): Promise<void> {
  // One current acknowledgement per incident; each ack and note is also an
  // incident_events row (the timeline keeps every one of them).
  await sql`
    CREATE TABLE incident_acks (
      incident_id  text PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
      by           text NOT NULL,
      at           timestamptz NOT NULL,
      note         text
    )`.execute(db);

  // scope: {"type":"mesh"} | {"type":"node","node"} | {"type":"link","a","b"} | {"type":"route","src","dst"}.
  // ends_at is the effective end (an early end moves it); planned_ends_at keeps what was planned.
  await sql`
    CREATE TABLE maintenance_windows (
      id               text PRIMARY KEY,
      scope            jsonb NOT NULL,
      starts_at        timestamptz NOT NULL,
      ends_at          timestamptz NOT NULL,
      planned_ends_at  timestamptz NOT NULL,
      reason           text NOT NULL,
      created_by       text NOT NULL,
      created_at       timestamptz NOT NULL,
      ended_by         text,
      ended_early_at   timestamptz,
      CHECK (ends_at >= starts_at),
      CHECK (planned_ends_at > starts_at)
    )`.execute(db);
  await sql`CREATE INDEX maintenance_windows_ends ON maintenance_windows (ends_at, starts_at)`.execute(db);
  await sql`CREATE INDEX maintenance_windows_starts ON maintenance_windows (starts_at DESC, id DESC)`.execute(db);

  // Who did what, when: every write of the operator API.
  await sql`
    CREATE TABLE audit_log (
      id          bigserial PRIMARY KEY,
      at          timestamptz NOT NULL,
      actor       text NOT NULL,
      by          text,
      action      text NOT NULL,
      target      text,
      detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
      request_id  text
    )`.execute(db);

  // One row per incident the collector has had to tell Alertmanager about:
  // what it should say now (state, labels, ends_at) and what Alertmanager
  // last accepted (delivered_*). The difference is what is still to send, so
  // nothing is lost across an Alertmanager outage or a collector restart.
  await sql`
    CREATE TABLE alertmanager_alerts (
      incident_id       text PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
      state             text NOT NULL CHECK (state IN ('firing', 'resolved')),
      labels            jsonb NOT NULL,
      annotations       jsonb NOT NULL,
      starts_at         timestamptz NOT NULL,
      ends_at           timestamptz,
      reason            text,
      changed_at        timestamptz NOT NULL,
      delivered_state   text CHECK (delivered_state IN ('firing', 'resolved')),
      delivered_labels  jsonb,
      delivered_at      timestamptz
    )`.execute(db);
  await sql`
    CREATE INDEX alertmanager_alerts_active ON alertmanager_alerts (incident_id)
    WHERE state = 'firing' OR delivered_state IS DISTINCT FROM state`.execute(db);

  // Acks and windows change what /issues answers: announce them like the
  // incidents table does (migration 0006), so every collector's list cache drops.
  for (const table of ['incident_acks', 'maintenance_windows']) {
    await sql.raw(`
      CREATE TRIGGER ${table}_changed_insert AFTER INSERT ON ${table}
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`).execute(db);
    await sql.raw(`
      CREATE TRIGGER ${table}_changed_update AFTER UPDATE ON ${table}
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`).execute(db);
    await sql.raw(`
      CREATE TRIGGER ${table}_changed_delete AFTER DELETE ON ${table}
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['alertmanager_alerts', 'audit_log', 'maintenance_windows', 'incident_acks']) {
    await sql`DROP TABLE IF EXISTS ${sql.table(t)} CASCADE`.execute(db);
  }
}
