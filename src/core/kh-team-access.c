/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-access.c: who sees which clients: granting and revoking a member role's access,
 * each change audited. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

static JsonNode *
strv_node (const char * const *strv)
{
  static const char * const none[] = { NULL };
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  json_node_take_array (node, kh_json_array_from_strv (strv ? strv : none));
  return node;
}

static char *
strv_json (const char * const *strv)
{
  g_autoptr(JsonNode) node = strv_node (strv);

  return kh_json_to_string (node, FALSE);
}

/* An access-changed row whose detail lists the clients the role has after the change. */
gboolean
kh_team_audit_access_locked (KhTeam      *self,
                             const char  *role,
                             GError     **error)
{
  g_autoptr(JsonObject) detail = json_object_new ();
  g_autoptr(GPtrArray) clients = g_ptr_array_new ();
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  kh_team_param_text (&p, role);
  result = kh_team_exec_locked (self, "SELECT client FROM keyhold.access WHERE role = $1 ORDER BY "
                                      "client",
                                &p, error);
  if (result == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (result); i++)
    g_ptr_array_add (clients, PQgetvalue (result, i, 0));
  g_ptr_array_add (clients, NULL);
  json_object_set_string_member (detail, "role", role);
  json_object_set_member (detail, "clients", strv_node ((const char * const *) clients->pdata));
  return kh_team_insert_audit_locked (self, "access-changed", NULL, NULL, NULL, detail, error);
}

/* The role name as an identifier, after checking it is a LOGIN role. */
char *
kh_team_member_ident_locked (KhTeam      *self,
                             const char  *role,
                             GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  kh_team_param_text (&p, role);
  result = kh_team_exec_locked (self, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                                &p, error);
  if (result == NULL)
    return NULL;
  if (PQntuples (result) == 0 || !g_str_equal (PQgetvalue (result, 0, 0), "t"))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                   _("The database has no login role “%s”: create it first (CREATE ROLE … "
                     "LOGIN PASSWORD …)"), role);
      return NULL;
    }
  return kh_team_sql_quote (self->conn, role, FALSE);
}

char *
kh_team_role_ident (KhTeam   *self,
                    gboolean  admin)
{
  g_autofree char *name = admin ? kh_team_schema_admin_role (self->team_id)
                                : kh_team_schema_member_role (self->team_id);

  return kh_team_sql_quote (self->conn, name, FALSE);
}

gboolean
kh_team_grant_access (KhTeam              *self,
                      const char          *role,
                      const char * const  *clients,
                      GError             **error)
{
  g_autofree char *ident = NULL;
  g_autofree char *member = NULL;
  g_autofree char *grant_sql = NULL;
  gboolean ok;

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (role != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_team_begin_locked (self, error))
    return FALSE;
  ok = kh_team_require_admin_locked (self, error) &&
       kh_team_exec_simple_locked (self, "BEGIN", error) &&
       (ident = kh_team_member_ident_locked (self, role, error)) != NULL;
  if (ok)
    {
      member = kh_team_role_ident (self, FALSE);
      grant_sql = g_strdup_printf ("GRANT %s TO %s", member, ident);
      ok = kh_team_exec_simple_locked (self, grant_sql, error);
    }
  for (guint i = 0; ok && clients != NULL && clients[i] != NULL; i++)
    {
      kh_autoresult PGresult *result = NULL;
      Params p = { 0 };

      kh_team_param_text (&p, role);
      kh_team_param_text (&p, clients[i]);
      result = kh_team_exec_locked (self, "INSERT INTO keyhold.access (role, client) VALUES ($1, "
                                          "$2) ON CONFLICT DO NOTHING", &p, error);
      ok = result != NULL;
    }
  ok = ok && kh_team_audit_access_locked (self, role, error) &&
       kh_team_exec_simple_locked (self, "COMMIT", error);
  kh_team_end_locked (self);
  return ok;
}

gboolean
kh_team_delete_access_locked (KhTeam              *self,
                              const char          *role,
                              const char * const  *clients,
                              GError             **error)
{
  g_autofree char *list = clients ? strv_json (clients) : NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  kh_team_param_text (&p, role);
  kh_team_param_text (&p, list);
  result = kh_team_exec_locked (self, "DELETE FROM keyhold.access WHERE role = $1 AND ($2::jsonb "
                                      "IS NULL OR client IN (SELECT jsonb_array_elements_text "
                                      "($2::jsonb)))",
                                &p, error);
  return result != NULL;
}

gboolean
kh_team_revoke_access (KhTeam              *self,
                       const char          *role,
                       const char * const  *clients,
                       GError             **error)
{
  gboolean ok;

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (role != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_team_begin_locked (self, error))
    return FALSE;
  ok = kh_team_require_admin_locked (self, error) &&
       kh_team_exec_simple_locked (self, "BEGIN", error) &&
       kh_team_delete_access_locked (self, role, clients, error) &&
       kh_team_audit_access_locked (self, role, error) &&
       kh_team_exec_simple_locked (self, "COMMIT", error);
  kh_team_end_locked (self);
  return ok;
}
