/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team.c: KhTeam, the team store in PostgreSQL (see kh-team.h for the contract and
 * kh-team-schema.c for the tables and their row-level security): the object itself, its
 * accessors and the status (`keyhold-cli team status`). The work is done beside it, one job a
 * file (see kh-team-private.h for the map).
 *
 * Only sealed bytes, non-secret columns and the audit reach the database: every token set and
 * app secret is sealed under the team key (kh-team-crypto.c) before a parameterised query
 * (PQexecParams, bytea as binary parameters) sends it. No SQL is built from input; the only
 * identifiers put into SQL text are role names, quoted with PQescapeIdentifier. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <string.h>

G_DEFINE_FINAL_TYPE (KhTeam, kh_team, G_TYPE_OBJECT)

static void
kh_team_dispose (GObject *object)
{
  KhTeam *self = KH_TEAM (object);

  while (self->watches != NULL)
    {
      Watch *watch = self->watches->data;

      g_source_destroy (watch->source);
    }

  G_OBJECT_CLASS (kh_team_parent_class)->dispose (object);
}

static void
kh_team_finalize (GObject *object)
{
  KhTeam *self = KH_TEAM (object);

  g_clear_pointer (&self->conn, PQfinish);
  g_clear_object (&self->store);
  g_free (self->store_dir);
  g_free (self->config_path);
  g_free (self->cache_dir);
  g_free (self->conninfo);
  g_free (self->team_id);
  g_free (self->role);
  g_free (self->key_file);
  g_free (self->last_error_message);
  kh_team_key_free (self->key);
  kh_team_key_free (self->box_secret);
  kh_team_secret_free (self->password);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (kh_team_parent_class)->finalize (object);
}

static void
kh_team_class_init (KhTeamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_team_dispose;
  object_class->finalize = kh_team_finalize;
}

static void
kh_team_init (KhTeam *self)
{
  g_mutex_init (&self->lock);
}

/* store NULL: a headless server (key file), which never touches the keyring. */
KhTeam *
kh_team_object_new (const char *store_dir,
                    KhStore    *store)
{
  KhTeam *self = g_object_new (KH_TYPE_TEAM, NULL);

  self->store = store ? g_object_ref (store) : NULL;
  self->store_dir = g_strdup (store_dir);
  self->config_path = g_build_filename (self->store_dir, "team.json", NULL);
  self->cache_dir = g_build_filename (self->store_dir, "team-cache", NULL);
  self->key = kh_team_key_new ();
  return self;
}

const char *
kh_team_get_id (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->team_id;
}

const char *
kh_team_get_role (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->role;
}

const char *
kh_team_get_conninfo (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->conninfo;
}

gboolean
kh_team_uses_key_file (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  return self->key_file != NULL;
}

const char *
kh_team_get_last_error_message (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->last_error_message;
}

/* ---- status ------------------------------------------------------------------------------- */

JsonObject *
kh_team_describe (KhTeam  *self,
                  GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  kh_autoresult PGresult *count = NULL;
  kh_autoresult PGresult *members = NULL;
  g_autofree char *member_role = NULL;
  g_autofree char *admin_role = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_team_begin_locked (self, error))
    return NULL;
  count = kh_team_exec_locked (self, "SELECT count (*) FROM keyhold.grants", NULL, error);
  if (count == NULL)
    {
      kh_team_end_locked (self);
      return NULL;
    }
  member_role = kh_team_schema_member_role (self->team_id);
  admin_role = kh_team_schema_admin_role (self->team_id);
  kh_team_param_text (&p, member_role);
  kh_team_param_text (&p, admin_role);
  /* RLS on access shows a member only its own clients; the roles themselves are public in
   * pg_roles, so a non-admin is shown only itself. */
  members = kh_team_exec_locked (self, "SELECT r.rolname, pg_has_role (r.oid, $2, 'MEMBER'), "
                                       "COALESCE ((SELECT json_agg (a.client ORDER BY a.client) "
                                       "FROM keyhold.access a WHERE a.role = r.rolname), "
                                       "'[]')::text FROM pg_roles r WHERE r.rolcanlogin AND NOT "
                                       "r.rolsuper AND pg_has_role (r.oid, $1, 'MEMBER') AND "
                                       "(keyhold.is_admin () OR r.rolname = current_user) ORDER BY "
                                       "r.rolname", &p, error);
  if (members == NULL)
    {
      kh_team_end_locked (self);
      return NULL;
    }

  json_object_set_string_member (object, "team_id", self->team_id);
  json_object_set_string_member (object, "host", PQhost (self->conn));
  json_object_set_string_member (object, "port", PQport (self->conn));
  json_object_set_string_member (object, "database", PQdb (self->conn));
  json_object_set_string_member (object, "role", self->role);
  json_object_set_boolean_member (object, "admin", self->is_admin);
  json_object_set_int_member (object, "schema_version", self->schema_version);
  json_object_set_int_member (object, "key_id", self->key_id);
  json_object_set_string_member (object, "key_source", self->key_file ? "file" : "keyring");
  json_object_set_int_member (object, "grants", g_ascii_strtoll (PQgetvalue (count, 0, 0),
                                                                 NULL, 10));
  {
    JsonArray *array = json_array_new ();

    for (int i = 0; i < PQntuples (members); i++)
      {
        JsonObject *member = json_object_new ();
        const char *clients = PQgetvalue (members, i, 2);

        json_object_set_string_member (member, "role", PQgetvalue (members, i, 0));
        json_object_set_boolean_member (member, "admin",
                                        g_str_equal (PQgetvalue (members, i, 1), "t"));
        json_object_set_member (member, "clients",
                                kh_json_parse (clients, strlen (clients), NULL));
        json_array_add_object_element (array, member);
      }
    json_object_set_array_member (object, "members", array);
  }
  kh_team_end_locked (self);
  return g_steal_pointer (&object);
}
