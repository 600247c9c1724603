/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-schema.c: the team database's schema, one migration per version, each run by
 * kh-team-lifecycle.c inside one transaction under an advisory lock (so two Keyholds never
 * migrate at once and a failed migration leaves the older schema whole).
 *
 * Schema 1, in the `keyhold` schema:
 *   meta         one row: schema_version, team_id, key_id (the current team key), key_check (a
 *                constant sealed under the current key, so a wrong key is caught at open),
 *                admin_role, member_role
 *   access       (role, client): which client labels a member role sees
 *   grants       one row per shared grant: non-secret columns (id type app client display_name
 *                region status expiries scopes shops advertisers, info = kh_grant_to_json),
 *                sealed_tokens + nonce + key_id, version, updated_at/by
 *   apps         shared app profiles: info (no secret), sealed_secret + nonce + key_id
 *   member_keys  (role, public_key): where a rotated team key is sent
 *   key_grants   (role, key_id, sealed_key): the team key sealed to one member's public key
 *   audit        append-only: at, actor (current_user), machine, action, grant_id, type,
 *                client, detail
 * Every table has ROW LEVEL SECURITY, FORCEd so the owning role is bound as well:
 *   is_admin()        pg_has_role (current_user, admin_role, 'MEMBER')
 *   may_see(client)   is_admin() OR an access row (current_user, client) exists; a NULL client
 *                     is therefore admin-only
 *   grants            every command: may_see (client), for the old row and the new one; a
 *                     written row must be sealed under the current key (key_id =
 *                     meta.key_id), so a member who missed a rotation cannot write a row that
 *                     a removed member's old key still opens
 *   meta, apps        read: every member; write: admins (apps: under the current key too)
 *   access            read: own rows or admins; write: admins
 *   member_keys       read/write own row; admins read and delete all
 *   key_grants        read own rows; admins write
 *   audit             read: admins, own rows, rows of clients one may see; insert only with
 *                     actor = current_user; no UPDATE or DELETE policy and no such privilege,
 *                     so no role but a superuser (or the owner after disabling RLS) can change
 *                     or remove a row
 * A trigger NOTIFYs channel keyhold_grants with the grant id on every change of a grants row. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include "kh-team-private.h"

#include <string.h>

static const char schema_v1[] =
  "CREATE ROLE @ADMIN@ NOLOGIN;\n"
  "CREATE ROLE @MEMBER@ NOLOGIN;\n"
  "GRANT @MEMBER@ TO @ADMIN@;\n"
  "GRANT @ADMIN@ TO CURRENT_USER WITH ADMIN OPTION;\n"
  "GRANT @MEMBER@ TO CURRENT_USER WITH ADMIN OPTION;\n"
  "CREATE SCHEMA keyhold;\n"
  "REVOKE ALL ON SCHEMA keyhold FROM PUBLIC;\n"
  "GRANT USAGE ON SCHEMA keyhold TO @MEMBER@;\n"
  "CREATE TABLE keyhold.meta (\n"
  "  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),\n"
  "  schema_version integer NOT NULL,\n"
  "  team_id uuid NOT NULL,\n"
  "  key_id integer NOT NULL,\n"
  "  key_check bytea NOT NULL,\n"
  "  key_check_nonce bytea NOT NULL,\n"
  "  admin_role name NOT NULL,\n"
  "  member_role name NOT NULL,\n"
  "  created_at timestamptz NOT NULL DEFAULT now(),\n"
  "  created_by name NOT NULL DEFAULT current_user);\n"
  "CREATE TABLE keyhold.access (\n"
  "  role name NOT NULL,\n"
  "  client text NOT NULL,\n"
  "  granted_at timestamptz NOT NULL DEFAULT now(),\n"
  "  granted_by name NOT NULL DEFAULT current_user,\n"
  "  PRIMARY KEY (role, client));\n"
  "CREATE TABLE keyhold.grants (\n"
  "  id text PRIMARY KEY,\n"
  "  type text NOT NULL,\n"
  "  app text,\n"
  "  client text,\n"
  "  display_name text NOT NULL,\n"
  "  region text,\n"
  "  status text NOT NULL,\n"
  "  access_expires_at timestamptz,\n"
  "  refresh_expires_at timestamptz,\n"
  "  scopes text[] NOT NULL DEFAULT '{}',\n"
  "  shops jsonb NOT NULL DEFAULT '[]',\n"
  "  advertisers jsonb NOT NULL DEFAULT '[]',\n"
  "  info jsonb NOT NULL,\n"
  "  sealed_tokens bytea NOT NULL,\n"
  "  nonce bytea NOT NULL,\n"
  "  key_id integer NOT NULL,\n"
  "  version bigint NOT NULL DEFAULT 1,\n"
  "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
  "  updated_by name NOT NULL DEFAULT current_user);\n"
  "CREATE INDEX grants_client ON keyhold.grants (client);\n"
  "CREATE TABLE keyhold.apps (\n"
  "  name text PRIMARY KEY,\n"
  "  family text NOT NULL,\n"
  "  info jsonb NOT NULL,\n"
  "  sealed_secret bytea NOT NULL,\n"
  "  nonce bytea NOT NULL,\n"
  "  key_id integer NOT NULL,\n"
  "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
  "  updated_by name NOT NULL DEFAULT current_user);\n"
  "CREATE TABLE keyhold.member_keys (\n"
  "  role name PRIMARY KEY DEFAULT current_user,\n"
  "  public_key bytea NOT NULL,\n"
  "  registered_at timestamptz NOT NULL DEFAULT now());\n"
  "CREATE TABLE keyhold.key_grants (\n"
  "  role name NOT NULL,\n"
  "  key_id integer NOT NULL,\n"
  "  sealed_key bytea NOT NULL,\n"
  "  PRIMARY KEY (role, key_id));\n"
  "CREATE TABLE keyhold.audit (\n"
  "  id bigserial PRIMARY KEY,\n"
  "  at timestamptz NOT NULL DEFAULT now(),\n"
  "  actor name NOT NULL DEFAULT current_user,\n"
  "  machine text,\n"
  "  action text NOT NULL,\n"
  "  grant_id text,\n"
  "  type text,\n"
  "  client text,\n"
  "  detail jsonb);\n"
  "CREATE INDEX audit_grant ON keyhold.audit (grant_id);\n"
  "CREATE FUNCTION keyhold.is_admin () RETURNS boolean LANGUAGE sql STABLE\n"
  "  AS $$ SELECT pg_has_role (current_user, @ADMIN_LITERAL@, 'MEMBER') $$;\n"
  "CREATE FUNCTION keyhold.may_see (client text) RETURNS boolean LANGUAGE sql STABLE\n"
  "  AS $$ SELECT keyhold.is_admin () OR EXISTS (SELECT 1 FROM keyhold.access a\n"
  "         WHERE a.role = current_user AND a.client = $1) $$;\n"
  "CREATE FUNCTION keyhold.current_key_id () RETURNS integer LANGUAGE sql STABLE\n"
  "  AS $$ SELECT key_id FROM keyhold.meta $$;\n"
  "CREATE FUNCTION keyhold.notify_grant () RETURNS trigger LANGUAGE plpgsql\n"
  "  AS $$ BEGIN\n"
  "    PERFORM pg_notify ('keyhold_grants', CASE WHEN TG_OP = 'DELETE' THEN OLD.id\n"
  "                                         ELSE NEW.id END);\n"
  "    RETURN NULL;\n"
  "  END $$;\n"
  "CREATE TRIGGER grants_notify AFTER INSERT OR UPDATE OR DELETE ON keyhold.grants\n"
  "  FOR EACH ROW EXECUTE FUNCTION keyhold.notify_grant ();\n"
  "REVOKE ALL ON FUNCTION keyhold.is_admin (), keyhold.may_see (text),\n"
  "  keyhold.current_key_id (), keyhold.notify_grant () FROM PUBLIC;\n"
  "GRANT EXECUTE ON FUNCTION keyhold.is_admin (), keyhold.may_see (text),\n"
  "  keyhold.current_key_id () TO @MEMBER@;\n"
  "ALTER TABLE keyhold.meta ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.meta FORCE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.access ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.access FORCE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.grants ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.grants FORCE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.apps ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.apps FORCE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.member_keys ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.member_keys FORCE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.key_grants ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.key_grants FORCE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.audit ENABLE ROW LEVEL SECURITY;\n"
  "ALTER TABLE keyhold.audit FORCE ROW LEVEL SECURITY;\n"
  "CREATE POLICY meta_read ON keyhold.meta FOR SELECT USING (true);\n"
  "CREATE POLICY meta_insert ON keyhold.meta FOR INSERT WITH CHECK (keyhold.is_admin ());\n"
  "CREATE POLICY meta_update ON keyhold.meta FOR UPDATE USING (keyhold.is_admin ())\n"
  "  WITH CHECK (keyhold.is_admin ());\n"
  "CREATE POLICY access_read ON keyhold.access FOR SELECT\n"
  "  USING (role = current_user OR keyhold.is_admin ());\n"
  "CREATE POLICY access_insert ON keyhold.access FOR INSERT WITH CHECK (keyhold.is_admin ());\n"
  "CREATE POLICY access_delete ON keyhold.access FOR DELETE USING (keyhold.is_admin ());\n"
  "CREATE POLICY grants_all ON keyhold.grants FOR ALL USING (keyhold.may_see (client))\n"
  "  WITH CHECK (keyhold.may_see (client) AND key_id = keyhold.current_key_id ());\n"
  "CREATE POLICY apps_read ON keyhold.apps FOR SELECT USING (true);\n"
  "CREATE POLICY apps_insert ON keyhold.apps FOR INSERT\n"
  "  WITH CHECK (keyhold.is_admin () AND key_id = keyhold.current_key_id ());\n"
  "CREATE POLICY apps_update ON keyhold.apps FOR UPDATE USING (keyhold.is_admin ())\n"
  "  WITH CHECK (keyhold.is_admin () AND key_id = keyhold.current_key_id ());\n"
  "CREATE POLICY apps_delete ON keyhold.apps FOR DELETE USING (keyhold.is_admin ());\n"
  "CREATE POLICY member_keys_read ON keyhold.member_keys FOR SELECT\n"
  "  USING (role = current_user OR keyhold.is_admin ());\n"
  "CREATE POLICY member_keys_insert ON keyhold.member_keys FOR INSERT\n"
  "  WITH CHECK (role = current_user);\n"
  "CREATE POLICY member_keys_update ON keyhold.member_keys FOR UPDATE\n"
  "  USING (role = current_user) WITH CHECK (role = current_user);\n"
  "CREATE POLICY member_keys_delete ON keyhold.member_keys FOR DELETE\n"
  "  USING (role = current_user OR keyhold.is_admin ());\n"
  "CREATE POLICY key_grants_read ON keyhold.key_grants FOR SELECT\n"
  "  USING (role = current_user OR keyhold.is_admin ());\n"
  "CREATE POLICY key_grants_insert ON keyhold.key_grants FOR INSERT\n"
  "  WITH CHECK (keyhold.is_admin ());\n"
  "CREATE POLICY key_grants_delete ON keyhold.key_grants FOR DELETE\n"
  "  USING (keyhold.is_admin ());\n"
  "CREATE POLICY audit_read ON keyhold.audit FOR SELECT\n"
  "  USING (keyhold.is_admin () OR actor = current_user OR keyhold.may_see (client));\n"
  "CREATE POLICY audit_insert ON keyhold.audit FOR INSERT WITH CHECK (actor = current_user);\n"
  "REVOKE ALL ON ALL TABLES IN SCHEMA keyhold FROM PUBLIC;\n"
  "GRANT SELECT ON keyhold.meta, keyhold.access, keyhold.apps, keyhold.key_grants\n"
  "  TO @MEMBER@;\n"
  "GRANT SELECT, INSERT, UPDATE, DELETE ON keyhold.grants, keyhold.member_keys TO @MEMBER@;\n"
  "GRANT SELECT, INSERT ON keyhold.audit TO @MEMBER@;\n"
  "GRANT USAGE ON SEQUENCE keyhold.audit_id_seq TO @MEMBER@;\n"
  "GRANT INSERT, UPDATE ON keyhold.meta TO @ADMIN@;\n"
  "GRANT INSERT, DELETE ON keyhold.access, keyhold.key_grants TO @ADMIN@;\n"
  "GRANT INSERT, UPDATE, DELETE ON keyhold.apps TO @ADMIN@;\n";

static char *
role_name (const char *kind,
           const char *team_id)
{
  g_autofree char *hex = g_strndup (team_id, 8);

  return g_strdup_printf ("keyhold_%s_%s", kind, hex);
}

char *
kh_team_schema_admin_role (const char *team_id)
{
  return role_name ("admin", team_id);
}

char *
kh_team_schema_member_role (const char *team_id)
{
  return role_name ("member", team_id);
}

char *
kh_team_sql_quote (PGconn     *conn,
                   const char *text,
                   gboolean    literal)
{
  char *quoted = literal ? PQescapeLiteral (conn, text, strlen (text))
                         : PQescapeIdentifier (conn, text, strlen (text));
  char *copy;

  g_assert (quoted != NULL);
  copy = g_strdup (quoted);
  PQfreemem (quoted);
  return copy;
}

char *
kh_team_schema_migration (PGconn     *conn,
                          int         from,
                          const char *team_id)
{
  g_autofree char *admin = kh_team_schema_admin_role (team_id);
  g_autofree char *member = kh_team_schema_member_role (team_id);
  g_autofree char *admin_ident = kh_team_sql_quote (conn, admin, FALSE);
  g_autofree char *member_ident = kh_team_sql_quote (conn, member, FALSE);
  g_autofree char *admin_literal = kh_team_sql_quote (conn, admin, TRUE);
  GString *sql;

  if (from != 0)
    return NULL;

  sql = g_string_new (schema_v1);
  g_string_replace (sql, "@ADMIN_LITERAL@", admin_literal, 0);
  g_string_replace (sql, "@ADMIN@", admin_ident, 0);
  g_string_replace (sql, "@MEMBER@", member_ident, 0);
  return g_string_free (sql, FALSE);
}
