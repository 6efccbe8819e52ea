import { sql, type Kysely } from 'kysely';

// Frozen. Never import app code here.
//
// Node names may contain "--" (AREDN hostnames allow it), which was also the
// separator of the link keys: "B--KX6--A" could be the link B ↔ KX6--A or
// B--KX6 ↔ A. Links and routes are now stored as what they are:
// - incidents.links: jsonb array of {"a", "b"} (sorted), was text[] "A--B";
// - incidents.routes: jsonb array of {"src", "dst"}, was text[] "S>D";
// - incidents.scope_key of a link scope: "link:A,B" (a comma, which no
//   hostname-like name holds), rebuilt from the structured scope column.
// Both arrays keep a GIN index (jsonb_path_ops: containment `@>`, what the
// by-object lookups ask). A partial index finds the nodes the engine retired.
//
// Old link keys cannot all be read back: a link-scope incident takes its one
// link from its scope; any other key is split at its first "--", which is
// right unless the first name itself held "--" (such keys were already
// ambiguous). Old route keys are exact ('>' never occurs in a name).
// incidents is a plain table in every mode: no TimescaleDB check.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE incidents
      ADD COLUMN links_structured jsonb NOT NULL DEFAULT '[]'::jsonb,
      ADD COLUMN routes_structured jsonb NOT NULL DEFAULT '[]'::jsonb`.execute(db);
  await sql`
    UPDATE incidents SET
      scope_key = CASE WHEN scope ->> 'type' = 'link' THEN 'link:' || (scope ->> 'a') || ',' || (scope ->> 'b') ELSE scope_key END,
      links_structured = CASE
        WHEN scope ->> 'type' = 'link' THEN jsonb_build_array(jsonb_build_object('a', scope ->> 'a', 'b', scope ->> 'b'))
        ELSE (
          SELECT coalesce(jsonb_agg(jsonb_build_object('a', split_part(l, '--', 1), 'b', substr(l, strpos(l, '--') + 2)) ORDER BY n), '[]'::jsonb)
          FROM unnest(links) WITH ORDINALITY AS u(l, n)
          WHERE strpos(l, '--') > 1 AND strpos(l, '--') + 2 <= length(l)
        )
      END,
      routes_structured = (
        SELECT coalesce(jsonb_agg(jsonb_build_object('src', split_part(r, '>', 1), 'dst', substr(r, strpos(r, '>') + 1)) ORDER BY n), '[]'::jsonb)
        FROM unnest(routes) WITH ORDINALITY AS u(r, n)
        WHERE strpos(r, '>') > 1 AND strpos(r, '>') < length(r)
      )`.execute(db);
  await sql`DROP INDEX IF EXISTS incidents_links`.execute(db);
  await sql`DROP INDEX IF EXISTS incidents_routes`.execute(db);
  await sql`ALTER TABLE incidents DROP COLUMN links, DROP COLUMN routes`.execute(db);
  await sql`ALTER TABLE incidents RENAME COLUMN links_structured TO links`.execute(db);
  await sql`ALTER TABLE incidents RENAME COLUMN routes_structured TO routes`.execute(db);
  await sql`CREATE INDEX incidents_links ON incidents USING gin (links jsonb_path_ops)`.execute(db);
  await sql`CREATE INDEX incidents_routes ON incidents USING gin (routes jsonb_path_ops)`.execute(db);
  // /registry's retired nodes: the agent_silent incidents the engine closed as
  // "retired" (a node gone for good), by node — a handful of rows.
  await sql`
    CREATE INDEX incidents_retired ON incidents ((scope ->> 'node'), ended_at)
    WHERE kind = 'agent_silent' AND evidence ->> 'closed_by' = 'retired'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX IF EXISTS incidents_retired`.execute(db);
  await sql`
    ALTER TABLE incidents
      ADD COLUMN links_text text[] NOT NULL DEFAULT '{}',
      ADD COLUMN routes_text text[] NOT NULL DEFAULT '{}'`.execute(db);
  await sql`
    UPDATE incidents SET
      scope_key = CASE WHEN scope ->> 'type' = 'link' THEN 'link:' || (scope ->> 'a') || '--' || (scope ->> 'b') ELSE scope_key END,
      links_text = ARRAY(SELECT (e ->> 'a') || '--' || (e ->> 'b') FROM jsonb_array_elements(links) WITH ORDINALITY AS x(e, n) ORDER BY n),
      routes_text = ARRAY(SELECT (e ->> 'src') || '>' || (e ->> 'dst') FROM jsonb_array_elements(routes) WITH ORDINALITY AS x(e, n) ORDER BY n)`.execute(db);
  await sql`DROP INDEX IF EXISTS incidents_links`.execute(db);
  await sql`DROP INDEX IF EXISTS incidents_routes`.execute(db);
  await sql`ALTER TABLE incidents DROP COLUMN links, DROP COLUMN routes`.execute(db);
  await sql`ALTER TABLE incidents RENAME COLUMN links_text TO links`.execute(db);
  await sql`ALTER TABLE incidents RENAME COLUMN routes_text TO routes`.execute(db);
  await sql`CREATE INDEX incidents_links ON incidents USING gin (links)`.execute(db);
  await sql`CREATE INDEX incidents_routes ON incidents USING gin (routes)`.execute(db);
}
