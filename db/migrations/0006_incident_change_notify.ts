import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// Collectors keep the answers of the incident lists until the incidents
// change, and learn of a change by LISTEN on 'meshmon_incidents'. The engine
// and the retention job used to NOTIFY themselves, which left out every other
// writer: an operator's UPDATE in psql, a future job. The table now announces its own changes, whoever makes them.
//
// Statement-level triggers with transition tables: one notification per
// statement that touched rows (a statement that matched none announces
// nothing), sent at commit and dropped on rollback; PostgreSQL folds the
// identical notifications of one transaction into one. A trigger may carry
// transition tables for one event only, hence one per event; TRUNCATE has none.
// incidents is a plain table in every mode: no TimescaleDB check.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION meshmon_incidents_changed() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
      IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('meshmon_incidents', '');
      ELSIF TG_OP = 'DELETE' THEN
        IF EXISTS (SELECT 1 FROM old_rows) THEN PERFORM pg_notify('meshmon_incidents', ''); END IF;
      ELSIF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify('meshmon_incidents', '');
      END IF;
      RETURN NULL;
    END
    $fn$`.execute(db);
  await sql`
    CREATE TRIGGER incidents_changed_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`.execute(db);
  await sql`
    CREATE TRIGGER incidents_changed_update AFTER UPDATE ON incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`.execute(db);
  await sql`
    CREATE TRIGGER incidents_changed_delete AFTER DELETE ON incidents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`.execute(db);
  await sql`
    CREATE TRIGGER incidents_changed_truncate AFTER TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION meshmon_incidents_changed()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['insert', 'update', 'delete', 'truncate']) {
    await sql.raw(`DROP TRIGGER IF EXISTS incidents_changed_${t} ON incidents`).execute(db);
  }
  await sql`DROP FUNCTION IF EXISTS meshmon_incidents_changed()`.execute(db);
}
