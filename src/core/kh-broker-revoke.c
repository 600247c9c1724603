/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker-revoke.c: revoking a grant: at TikTok where an API exists (none for shop types:
 * the owner revokes by hand), then the grant leaves the store, or the team with an audit record. */

#define G_LOG_DOMAIN "kh-broker-revoke"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-broker-private.h"

#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-shared.h"
#include "kh-util.h"

#include <string.h>

typedef struct
{
  char         *grant_id;
  KhGrant      *grant;
  KhAppProfile *app;
  char         *app_secret;
  KhTokenSet   *tokens;
  gboolean      manual;
} Revoke;

static void
revoke_free (Revoke *revoke)
{
  g_free (revoke->grant_id);
  g_clear_object (&revoke->grant);
  g_clear_object (&revoke->app);
  if (revoke->app_secret != NULL)
    memset (revoke->app_secret, 0, strlen (revoke->app_secret));
  g_free (revoke->app_secret);
  g_clear_pointer (&revoke->tokens, kh_token_set_free);
  g_free (revoke);
}

static void
revoke_prepare_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Revoke *revoke = task_data;
  g_auto(TeamLease) lease = { NULL, };
  gboolean cached = FALSE;
  GError *error = NULL;

  revoke->grant = kh_broker_find_any_grant (self, revoke->grant_id, FALSE, &error);
  if (revoke->grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_free (revoke->grant_id);
  revoke->grant_id = g_strdup (kh_grant_get_id (revoke->grant));

  if (!kh_provider_get (kh_grant_get_account_type (revoke->grant))->revoke_api)
    {
      revoke->manual = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }

  if (kh_grant_get_shared (revoke->grant))
    {
      if (!kh_broker_team_lease_take (&lease, self, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      revoke->tokens = kh_team_load_tokens (lease.team, revoke->grant_id, NULL, &cached, &error);
      /* Revoking needs the database: the cached row is not enough to remove it there. */
      if (revoke->tokens != NULL && cached)
        {
          g_clear_pointer (&revoke->tokens, kh_token_set_free);
          g_set_error (&error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE,
                       _("The team database is unreachable (%s): try again when it is back"),
                       kh_team_get_last_error_message (lease.team));
        }
    }
  else
    revoke->tokens = kh_store_load_tokens (self->store, revoke->grant_id, &error);
  if (revoke->tokens == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (!kh_broker_load_app (self, kh_grant_get_app_name (revoke->grant), revoke->grant_id,
                           lease.team, &revoke->app, &revoke->app_secret, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static void
revoke_remove_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Revoke *revoke = task_data;
  g_autoptr(KhHistoryEntry) entry = kh_history_entry_new_revoked (revoke->grant, revoke->manual);
  g_auto(TeamLease) lease = { NULL, };
  GError *error = NULL;
  JsonObject *detail;

  if (!kh_grant_get_shared (revoke->grant))
    {
      kh_history_record (self->store, entry);
      if (!kh_store_remove_grant (self->store, revoke->grant_id, &error))
        g_task_return_error (task, error);
      else
        g_task_return_boolean (task, TRUE);
      return;
    }

  if (!kh_broker_team_lease_take (&lease, self, &error) ||
      !kh_team_remove_grant (lease.team, revoke->grant_id, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  detail = json_object_new ();
  json_object_set_boolean_member (detail, "manual", revoke->manual);
  kh_shared_note (lease.team, "revoked", revoke->grant, detail);
  g_task_return_boolean (task, TRUE);
}

static void
revoke_removed_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
revoke_remove (GTask *task)
{
  KhBroker *self = g_task_get_source_object (task);
  g_autoptr(GTask) remove = g_task_new (self, NULL, revoke_removed_cb, task);

  g_task_set_source_tag (remove, revoke_remove);
  g_task_set_task_data (remove, g_task_get_task_data (task), NULL);
  g_task_run_in_thread (remove, revoke_remove_thread);
}

static void
revoke_sent_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  if (!kh_token_client_revoke_finish (KH_TOKEN_CLIENT (object), result, &error))
    {
      /* A token TikTok already calls invalid or revoked is as good as revoked. */
      if (!g_error_matches (error, KH_API_ERROR, 40105))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
    }

  revoke_remove (task);
}

static void
revoke_prepared_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Revoke *revoke = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  if (revoke->manual)
    {
      revoke_remove (task);
      return;
    }

  kh_token_client_revoke_async (kh_broker_get_client (self), revoke->app, revoke->app_secret,
                                kh_grant_get_token_kind (revoke->grant),
                                revoke->tokens->access_token, g_task_get_cancellable (task),
                                revoke_sent_cb, task);
}

void
kh_broker_revoke_async (KhBroker            *self,
                        const char          *grant_id,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Revoke *revoke;

  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_broker_revoke_async);
  revoke = g_new0 (Revoke, 1);
  revoke->grant_id = g_strdup (grant_id);
  g_task_set_task_data (task, revoke, (GDestroyNotify) revoke_free);

  kh_broker_prepare_in_thread (self, g_steal_pointer (&task), revoke, revoke_prepare_thread,
                               revoke_prepared_cb);
}

gboolean
kh_broker_revoke_finish (KhBroker      *self,
                         GAsyncResult  *result,
                         gboolean      *manual_out,
                         GError       **error)
{
  Revoke *revoke;

  g_return_val_if_fail (KH_IS_BROKER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_broker_revoke_async, FALSE);

  revoke = g_task_get_task_data (G_TASK (result));
  if (manual_out != NULL)
    *manual_out = revoke->manual;

  return g_task_propagate_boolean (G_TASK (result), error);
}
