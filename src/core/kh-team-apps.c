/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-apps.c: shared app profiles, their secret sealed under the team key. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <stdlib.h>
#include <string.h>

gboolean
kh_team_put_app (KhTeam        *self,
                 KhAppProfile  *app,
                 const char    *secret,
                 GError       **error)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *info = NULL;
  g_autofree char *key_id = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) nonce = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), FALSE);
  g_return_val_if_fail (secret != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_app_profile_validate (app, error) || !kh_team_begin_locked (self, error))
    return FALSE;
  if (!kh_team_require_admin_locked (self, error))
    {
      kh_team_end_locked (self);
      return FALSE;
    }
  node = kh_app_profile_to_json (app);
  info = kh_json_to_string (node, FALSE);
  key_id = g_strdup_printf ("%u", self->key_id);
  kh_team_seal (self->key, self->key_id, "apps", kh_app_profile_get_name (app), secret,
                strlen (secret), &nonce, &sealed);
  kh_team_param_text (&p, kh_app_profile_get_name (app));
  kh_team_param_text (&p, kh_family_to_string (kh_app_profile_get_family (app)));
  kh_team_param_text (&p, info);
  kh_team_param_bytes (&p, sealed);
  kh_team_param_bytes (&p, nonce);
  kh_team_param_text (&p, key_id);
  result = kh_team_exec_locked (self, "INSERT INTO keyhold.apps AS a (name, family, info, "
                                      "sealed_secret, nonce, key_id) VALUES ($1, $2, $3::jsonb, "
                                      "$4, $5, $6::integer) ON CONFLICT (name) DO UPDATE SET "
                                      "(family, info, sealed_secret, nonce, key_id, updated_at, "
                                      "updated_by) = (EXCLUDED.family, EXCLUDED.info, "
                                      "EXCLUDED.sealed_secret, EXCLUDED.nonce, EXCLUDED.key_id, "
                                      "now (), current_user)",
                                &p, error);
  kh_team_end_locked (self);
  return result != NULL;
}

static KhAppProfile *
app_from_text (const char  *text,
               GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), error);

  return node ? kh_app_profile_new_from_json (node, error) : NULL;
}

KhAppProfile *
kh_team_get_app (KhTeam      *self,
                 const char  *name,
                 char       **secret_out,
                 GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_team_begin_locked (self, error))
    return NULL;
  kh_team_param_text (&p, name);
  result = kh_team_exec_locked (self, "SELECT info::text, sealed_secret, nonce, key_id "
                                      "FROM keyhold.apps WHERE name = $1", &p, error);
  if (result != NULL && PQntuples (result) == 0)
    g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("The team has no app “%s”"), name);
  else if (result != NULL)
    {
      app = app_from_text (PQgetvalue (result, 0, 0), error);
      if (app != NULL && secret_out != NULL)
        {
          g_autoptr(GBytes) sealed = kh_team_result_bytea (result, 0, 1);
          g_autoptr(GBytes) nonce = kh_team_result_bytea (result, 0, 2);
          guint32 key_id = (guint32) strtoul (PQgetvalue (result, 0, 3), NULL, 10);
          gboolean usable;

          *secret_out = NULL;
          /* Sealed under a newer key than ours: an admin rotated it since this connection
           * checked, and the check picks the new key up (as a grant's row does). */
          usable = key_id <= self->key_id || kh_team_recheck_locked (self, error);
          if (usable && sealed != NULL && nonce != NULL && key_id == self->key_id)
            *secret_out = kh_team_unseal (self->key, key_id, "apps", name, nonce, sealed, error);
          else if (usable)
            kh_team_set_wrong_key_error (error);
          if (*secret_out == NULL)
            g_clear_object (&app);
        }
    }
  kh_team_end_locked (self);
  return g_steal_pointer (&app);
}

GPtrArray *
kh_team_list_apps (KhTeam  *self,
                   GError **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GPtrArray) apps = NULL;

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  result = kh_team_run_query (self, "SELECT info::text FROM keyhold.apps ORDER BY name",
                              NULL, error);
  if (result == NULL)
    return NULL;
  apps = g_ptr_array_new_with_free_func (g_object_unref);
  for (int i = 0; i < PQntuples (result); i++)
    {
      KhAppProfile *app = app_from_text (PQgetvalue (result, i, 0), error);

      if (app == NULL)
        return NULL;
      g_ptr_array_add (apps, app);
    }
  return g_steal_pointer (&apps);
}
