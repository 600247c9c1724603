/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-shared.c: local and shared grants as one set, and moving a grant between the two places
 * without it ever being in neither. */

#define G_LOG_DOMAIN "kh-shared"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-shared.h"

#include "kh-error.h"
#include "kh-provider.h"
#include "kh-util.h"

/* ---- audit ------------------------------------------------------------------------------- */

JsonObject *
kh_shared_audit_record (const char *action,
                        KhGrant    *grant,
                        JsonObject *detail)
{
  JsonObject *record = json_object_new ();
  g_autofree char *at = kh_iso8601_from_unix (kh_now ());

  g_return_val_if_fail (action != NULL, NULL);
  g_return_val_if_fail (grant == NULL || KH_IS_GRANT (grant), NULL);

  json_object_set_int_member (record, "v", 1);
  json_object_set_string_member (record, "at", at);
  json_object_set_string_member (record, "action", action);
  if (grant != NULL)
    {
      const char *client = kh_grant_get_client_label (grant);

      json_object_set_string_member (record, "grant", kh_grant_get_id (grant));
      json_object_set_string_member (record, "type",
                                     kh_provider_get (kh_grant_get_account_type (grant))->id);
      if (client != NULL)
        json_object_set_string_member (record, "client", client);
      else
        json_object_set_null_member (record, "client");
    }
  /* The team's database sets the actor itself (current_user); this is the local name. */
  json_object_set_string_member (record, "actor", g_get_user_name ());
  json_object_set_string_member (record, "machine", g_get_host_name ());
  if (detail != NULL)
    json_object_set_object_member (record, "detail", detail);

  return record;
}

gboolean
kh_shared_audit (KhTeam      *team,
                 const char  *action,
                 KhGrant     *grant,
                 JsonObject  *detail,
                 GError     **error)
{
  g_autoptr(JsonObject) record = NULL;

  g_return_val_if_fail (KH_IS_TEAM (team), FALSE);

  record = kh_shared_audit_record (action, grant, detail);
  return kh_team_audit (team, record, error);
}

void
kh_shared_note (KhTeam     *team,
                const char *action,
                KhGrant    *grant,
                JsonObject *detail)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (KH_IS_TEAM (team));

  if (!kh_shared_audit (team, action, grant, detail, &error))
    g_message ("Could not write the “%s” audit record of grant %s: %s", action,
               grant != NULL ? kh_grant_get_id (grant) : "-", error->message);
}

/* ---- listing and finding ------------------------------------------------------------------- */

static int
compare_display_name (gconstpointer a,
                      gconstpointer b)
{
  KhGrant *ga = *(KhGrant **) a;
  KhGrant *gb = *(KhGrant **) b;
  g_autofree char *fa = g_utf8_casefold (kh_grant_get_display_name (ga), -1);
  g_autofree char *fb = g_utf8_casefold (kh_grant_get_display_name (gb), -1);
  int by_name = g_utf8_collate (fa, fb);

  return by_name != 0 ? by_name : strcmp (kh_grant_get_id (ga), kh_grant_get_id (gb));
}

GPtrArray *
kh_shared_list_grants (KhStore  *store,
                       KhTeam   *team,
                       GError  **error)
{
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GPtrArray) shared = NULL;
  g_autoptr(GHashTable) seen = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (team == NULL || KH_IS_TEAM (team), NULL);

  grants = kh_store_list_grants (store);
  if (team == NULL)
    return g_steal_pointer (&grants);

  shared = kh_team_list_grants (team, error);
  if (shared == NULL)
    return NULL;

  seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < grants->len; i++)
    g_hash_table_add (seen, (gpointer) kh_grant_get_id (g_ptr_array_index (grants, i)));
  for (guint i = 0; i < shared->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (shared, i);

      /* Halfway through a move: shown once, as the local copy. */
      if (g_hash_table_contains (seen, kh_grant_get_id (grant)))
        continue;
      kh_grant_set_shared (grant, TRUE);
      g_ptr_array_add (grants, g_object_ref (grant));
    }
  g_ptr_array_sort (grants, compare_display_name);

  return g_steal_pointer (&grants);
}

KhGrant *
kh_shared_find_grant (KhStore     *store,
                      KhTeam      *team,
                      const char  *id_or_name,
                      GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  KhGrant *grant;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (team == NULL || KH_IS_TEAM (team), NULL);
  g_return_val_if_fail (id_or_name != NULL, NULL);

  /* Local first: naming a local grant never waits for (or on) the database. */
  grant = kh_store_find_grant (store, id_or_name, &local_error);
  if (grant != NULL || team == NULL ||
      !g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      if (grant == NULL)
        g_propagate_error (error, g_steal_pointer (&local_error));
      return grant;
    }

  grant = kh_team_find_grant (team, id_or_name, error);
  if (grant != NULL)
    kh_grant_set_shared (grant, TRUE);

  return grant;
}

gboolean
kh_shared_remove_grant (KhStore  *store,
                        KhTeam   *team,
                        KhGrant  *grant,
                        GError  **error)
{
  g_return_val_if_fail (KH_IS_STORE (store), FALSE);
  g_return_val_if_fail (team == NULL || KH_IS_TEAM (team), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);

  if (!kh_grant_get_shared (grant))
    return kh_store_remove_grant (store, kh_grant_get_id (grant), error);

  g_return_val_if_fail (team != NULL, FALSE);
  if (!kh_team_remove_grant (team, kh_grant_get_id (grant), error))
    return FALSE;
  kh_shared_note (team, "removed", grant, NULL);

  return TRUE;
}

KhAppProfile *
kh_shared_get_app (KhStore     *store,
                   KhTeam      *team,
                   const char  *name,
                   char       **secret_out,
                   GError     **error)
{
  g_autoptr(KhAppProfile) app = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (team == NULL || KH_IS_TEAM (team), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  app = kh_store_get_app (store, name);
  if (app != NULL)
    {
      if (secret_out != NULL)
        {
          *secret_out = kh_store_load_app_secret (store, name, error);
          if (*secret_out == NULL)
            return NULL;
        }
      return g_steal_pointer (&app);
    }

  if (team != NULL)
    return kh_team_get_app (team, name, secret_out, error);

  g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
               _("No app profile is named “%s”: see “keyhold-cli app list”"), name);
  return NULL;
}

/* ---- moving ---------------------------------------------------------------------------------- */

static void
wipe_secret (char **secret)
{
  if (*secret != NULL)
    memset (*secret, 0, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

static gboolean
tokens_equal (const KhTokenSet *a,
              const KhTokenSet *b)
{
  return g_strcmp0 (a->access_token, b->access_token) == 0 &&
         g_strcmp0 (a->refresh_token, b->refresh_token) == 0 &&
         a->access_expires_at == b->access_expires_at &&
         a->refresh_expires_at == b->refresh_expires_at;
}

static gboolean
not_verified (const char  *grant_id,
              GError     **error)
{
  g_set_error (error, KH_ERROR, KH_ERROR_STORE,
               _("Grant %s did not read back as it was written: nothing was removed; run the "
                 "command again"), grant_id);
  return FALSE;
}

/* The team's copy of grant_id, when it has one: FALSE with an error only when the team cannot
 * say. A copy answered from the local cache (database unreachable) is an error: a move needs
 * the database. */
static gboolean
load_team_copy (KhTeam      *team,
                const char  *grant_id,
                KhGrant    **grant_out,
                KhTokenSet **tokens_out,
                GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(KhGrant) grant = NULL;
  gboolean cached = FALSE;

  *grant_out = NULL;
  *tokens_out = kh_team_load_tokens (team, grant_id, &grant, &cached, &local_error);
  if (*tokens_out == NULL)
    {
      if (g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (cached)
    {
      g_clear_pointer (tokens_out, kh_token_set_free);
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE,
                   _("The team database is unreachable (%s): try again when it is back"),
                   kh_team_get_last_error_message (team));
      return FALSE;
    }

  kh_grant_set_shared (grant, TRUE);
  *grant_out = g_steal_pointer (&grant);
  return TRUE;
}

/* Puts the grant's app profile into the team unless the team has one of that name. */
static gboolean
share_app (KhStore     *store,
           KhTeam      *team,
           const char  *name,
           GError     **error)
{
  g_autoptr(KhAppProfile) team_app = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(GError) local_error = NULL;
  char *secret = NULL;
  gboolean ok;

  team_app = kh_team_get_app (team, name, NULL, &local_error);
  if (team_app != NULL)
    return TRUE;
  if (!g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  app = kh_store_get_app (store, name);
  if (app == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                   _("The grant's app profile “%s” is neither on this computer nor in the team: "
                     "add it with keyhold-cli app add"), name);
      return FALSE;
    }
  secret = kh_store_load_app_secret (store, name, error);
  if (secret == NULL)
    return FALSE;
  ok = kh_team_put_app (team, app, secret, error);
  wipe_secret (&secret);

  return ok;
}

/* Saves the team's app profile on this desktop unless the store has one of that name. */
static gboolean
unshare_app (KhStore     *store,
             KhTeam      *team,
             const char  *name,
             GError     **error)
{
  g_autoptr(KhAppProfile) local_app = kh_store_get_app (store, name);
  g_autoptr(KhAppProfile) app = NULL;
  char *secret = NULL;
  gboolean ok;

  if (local_app != NULL)
    return TRUE;

  app = kh_team_get_app (team, name, &secret, error);
  if (app == NULL)
    return FALSE;
  ok = kh_store_save_app (store, app, secret, FALSE, error);
  wipe_secret (&secret);

  return ok;
}

static gboolean
require_team (KhTeam  *team,
              GError **error)
{
  if (team != NULL)
    return TRUE;

  g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("This computer is not in a team: run “keyhold-cli team create” or "
                         "“keyhold-cli team join” first"));
  return FALSE;
}

gboolean
kh_shared_share (KhStore     *store,
                 KhTeam      *team,
                 const char  *id_or_name,
                 KhGrant    **grant_out,
                 GError     **error)
{
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) team_grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) team_tokens = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *id;

  g_return_val_if_fail (KH_IS_STORE (store), FALSE);
  g_return_val_if_fail (id_or_name != NULL, FALSE);

  if (!require_team (team, error))
    return FALSE;

  grant = kh_store_find_grant (store, id_or_name, &local_error);
  if (grant == NULL)
    {
      g_autoptr(KhGrant) shared = NULL;

      if (!g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      shared = kh_team_find_grant (team, id_or_name, NULL);
      if (shared != NULL)
        g_set_error (error, KH_ERROR, KH_ERROR_EXISTS, _("Grant %s is already shared"),
                     kh_grant_get_id (shared));
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  id = kh_grant_get_id (grant);

  tokens = kh_store_load_tokens (store, id, error);
  if (tokens == NULL)
    return FALSE;
  if (!load_team_copy (team, id, &team_grant, &team_tokens, error))
    return FALSE;

  /* A copy left by an interrupted move that the team refreshed since is the newer one: keep
   * it. Otherwise this desktop's copy goes in. */
  if (team_grant == NULL ||
      kh_grant_get_updated_at (team_grant) < kh_grant_get_updated_at (grant))
    {
      if (!share_app (store, team, kh_grant_get_app_name (grant), error))
        return FALSE;
      kh_grant_set_shared (grant, TRUE);
      if (!kh_team_put_grant (team, grant, tokens, error))
        return FALSE;

      g_clear_object (&team_grant);
      g_clear_pointer (&team_tokens, kh_token_set_free);
      if (!load_team_copy (team, id, &team_grant, &team_tokens, error))
        return FALSE;
      if (team_tokens == NULL || !tokens_equal (tokens, team_tokens))
        return not_verified (id, error);
    }

  if (!kh_store_remove_grant (store, id, error))
    return FALSE;
  kh_shared_note (team, "shared", team_grant, NULL);

  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&team_grant);
  return TRUE;
}

gboolean
kh_shared_unshare (KhStore     *store,
                   KhTeam      *team,
                   const char  *id_or_name,
                   KhGrant    **grant_out,
                   GError     **error)
{
  g_autoptr(KhGrant) local = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) check = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *id = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), FALSE);
  g_return_val_if_fail (id_or_name != NULL, FALSE);

  if (!require_team (team, error))
    return FALSE;

  local = kh_store_find_grant (store, id_or_name, &local_error);
  if (local == NULL && !g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (local != NULL)
    id = g_strdup (kh_grant_get_id (local));
  else
    {
      g_autoptr(KhGrant) found = kh_team_find_grant (team, id_or_name, error);

      if (found == NULL)
        return FALSE;
      id = g_strdup (kh_grant_get_id (found));
    }

  if (!load_team_copy (team, id, &grant, &tokens, error))
    return FALSE;
  if (grant == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_EXISTS, _("Grant %s is not shared"), id);
      return FALSE;
    }

  /* A local copy left by an interrupted move is replaced unless it is the newer one. */
  if (local == NULL || kh_grant_get_updated_at (local) < kh_grant_get_updated_at (grant))
    {
      if (!unshare_app (store, team, kh_grant_get_app_name (grant), error))
        return FALSE;
      kh_grant_set_shared (grant, FALSE);
      if (!kh_store_save_grant (store, grant, tokens, error))
        return FALSE;
      check = kh_store_load_tokens (store, id, error);
      if (check == NULL)
        return FALSE;
      if (!tokens_equal (tokens, check))
        return not_verified (id, error);
    }

  if (!kh_team_remove_grant (team, id, error))
    return FALSE;
  kh_shared_note (team, "unshared", grant, NULL);

  if (grant_out != NULL)
    {
      g_clear_object (&local);
      local = kh_store_find_grant (store, id, error);
      if (local == NULL)
        return FALSE;
      *grant_out = g_steal_pointer (&local);
    }
  return TRUE;
}
