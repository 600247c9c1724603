/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-audit.c: the team's audit log: writing a record and reading them back as the
 * local history's JSON records. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"
#include "kh-util.h"

#include <string.h>

gboolean
kh_team_insert_audit_locked (KhTeam      *self,
                             const char  *action,
                             const char  *grant_id,
                             const char  *type,
                             const char  *client,
                             JsonObject  *detail,
                             GError     **error)
{
  g_autofree char *detail_text = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  if (detail != NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), detail);

      detail_text = kh_json_to_string (node, FALSE);
    }
  kh_team_param_text (&p, g_get_host_name ());
  kh_team_param_text (&p, action);
  kh_team_param_text (&p, grant_id);
  kh_team_param_text (&p, type);
  kh_team_param_text (&p, client);
  kh_team_param_text (&p, detail_text);
  result = kh_team_exec_locked (self, "INSERT INTO keyhold.audit (machine, action, grant_id, type, "
                                      "client, detail) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                                &p, error);
  return result != NULL;
}

gboolean
kh_team_audit (KhTeam      *self,
               JsonObject  *record,
               GError     **error)
{
  const char *action;
  gboolean ok;

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (record != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  action = kh_json_get_string (record, "action");
  g_return_val_if_fail (action != NULL && *action != '\0', FALSE);
  if (!kh_team_begin_locked (self, error))
    return FALSE;
  ok = kh_team_insert_audit_locked (self, action, kh_json_get_string (record, "grant"),
                                    kh_json_get_string (record, "type"),
                                    kh_json_get_string (record, "client"),
                                    kh_json_get_object (record, "detail"), error);
  kh_team_end_locked (self);
  return ok;
}

static void
set_member_or_null (JsonObject *object,
                    const char *name,
                    const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, name, value);
  else
    json_object_set_null_member (object, name);
}

GPtrArray *
kh_team_read_audit (KhTeam      *self,
                    const char  *grant_id,
                    const char  *client,
                    gint64       since,
                    GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autofree char *since_text = g_strdup_printf ("%" G_GINT64_FORMAT, since);
  GPtrArray *records = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  kh_team_param_text (&p, grant_id);
  kh_team_param_text (&p, client);
  kh_team_param_text (&p, since_text);
  result = kh_team_run_query (self, "SELECT extract (epoch FROM at)::bigint, action, grant_id, "
                                    "type, client, actor, machine, detail::text FROM keyhold.audit "
                                    "WHERE ($1::text IS NULL OR grant_id = $1) AND ($2::text IS "
                                    "NULL OR lower (client) = lower ($2)) AND at >= to_timestamp "
                                    "($3::bigint) ORDER BY id",
                              &p, error);
  if (result != NULL)
    {
      records = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
      for (int i = 0; i < PQntuples (result); i++)
        {
          g_autoptr(JsonObject) object = json_object_new ();
          g_autofree char *at = kh_iso8601_from_unix (g_ascii_strtoll (PQgetvalue (result, i, 0),
                                                                       NULL, 10));
          const char *detail = kh_team_result_text (result, i, 7);

          json_object_set_int_member (object, "v", 1);
          json_object_set_string_member (object, "at", at);
          json_object_set_string_member (object, "action", PQgetvalue (result, i, 1));
          set_member_or_null (object, "grant", kh_team_result_text (result, i, 2));
          set_member_or_null (object, "type", kh_team_result_text (result, i, 3));
          set_member_or_null (object, "client", kh_team_result_text (result, i, 4));
          set_member_or_null (object, "actor", kh_team_result_text (result, i, 5));
          set_member_or_null (object, "machine", kh_team_result_text (result, i, 6));
          if (detail != NULL)
            {
              JsonNode *node = kh_json_parse (detail, strlen (detail), NULL);

              if (node != NULL)
                json_object_set_member (object, "detail", node);
            }
          g_ptr_array_add (records, json_node_init_object (json_node_alloc (), object));
        }
    }
  return records;
}
