/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker-drift.c: account drift: the shops or advertisers a grant reaches, read again from
 * TikTok (Get Authorized Shops, advertiser/get), stored when they changed, and what changed. */

#define G_LOG_DOMAIN "kh-broker-drift"

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
  GPtrArray    *fetched;   /* KhShop or KhAdvertiser */
  char        **changes;
} Drift;

static void
drift_free (Drift *drift)
{
  g_free (drift->grant_id);
  g_clear_object (&drift->grant);
  g_clear_object (&drift->app);
  if (drift->app_secret != NULL)
    memset (drift->app_secret, 0, strlen (drift->app_secret));
  g_free (drift->app_secret);
  g_clear_pointer (&drift->tokens, kh_token_set_free);
  g_clear_pointer (&drift->fetched, g_ptr_array_unref);
  g_strfreev (drift->changes);
  g_free (drift);
}

static gboolean
drift_is_shops (KhGrant *grant)
{
  return kh_grant_get_token_kind (grant) == KH_TOKEN_KIND_SHOP;
}

static void
drift_prepare_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Drift *drift = task_data;
  g_auto(TeamLease) lease = { NULL, };
  KhAccountType type;
  GError *error = NULL;

  drift->grant = kh_broker_find_any_grant (self, drift->grant_id, TRUE, &error);
  if (drift->grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_free (drift->grant_id);
  drift->grant_id = g_strdup (kh_grant_get_id (drift->grant));

  type = kh_grant_get_account_type (drift->grant);
  if (type != KH_ACCOUNT_SELLER && type != KH_ACCOUNT_ADVERTISER &&
      !(type == KH_ACCOUNT_CREATOR_MARKETPLACE &&
        kh_grant_get_token_kind (drift->grant) == KH_TOKEN_KIND_ADVERTISER))
    {
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Grant %s is a %s: only seller and advertiser grants have a list "
                                 "of shops or advertisers to update"), drift->grant_id,
                               kh_provider_get (type)->id);
      return;
    }

  if (kh_grant_get_shared (drift->grant) && !kh_broker_team_lease_take (&lease, self, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (!kh_broker_load_app (self, kh_grant_get_app_name (drift->grant), drift->grant_id,
                           lease.team, &drift->app, &drift->app_secret, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static const char *
item_id (gpointer item,
         gboolean shops)
{
  return shops ? ((KhShop *) item)->id : ((KhAdvertiser *) item)->id;
}

static const char *
item_name (gpointer item,
           gboolean shops)
{
  const char *name = shops ? ((KhShop *) item)->name : ((KhAdvertiser *) item)->name;

  return name != NULL ? name : "";
}

static gpointer
find_item (GPtrArray  *items,
           const char *id,
           gboolean    shops)
{
  for (guint i = 0; items != NULL && i < items->len; i++)
    if (g_strcmp0 (item_id (g_ptr_array_index (items, i), shops), id) == 0)
      return g_ptr_array_index (items, i);

  return NULL;
}

static void
drift_store_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Drift *drift = task_data;
  gboolean shops = drift_is_shops (drift->grant);
  GPtrArray *old = shops ? kh_grant_get_shops (drift->grant)
                         : kh_grant_get_advertisers (drift->grant);
  g_autoptr(GStrvBuilder) changes = g_strv_builder_new ();
  g_autoptr(JsonArray) added = json_array_new ();
  g_autoptr(JsonArray) removed = json_array_new ();
  g_auto(TeamLease) lease = { NULL, };
  GError *error = NULL;

  for (guint pass = 0; pass < 2; pass++)
    {
      /* First what TikTok lists and the grant did not, then the other way round. */
      GPtrArray *from = pass == 0 ? drift->fetched : old;
      GPtrArray *against = pass == 0 ? old : drift->fetched;

      for (guint i = 0; from != NULL && i < from->len; i++)
        {
          gpointer item = g_ptr_array_index (from, i);
          g_autofree char *line = NULL;
          JsonObject *entry;

          if (find_item (against, item_id (item, shops), shops) != NULL)
            continue;
          line = g_strdup_printf ("%c%s\t%s", pass == 0 ? '+' : '-', item_id (item, shops),
                                  item_name (item, shops));
          g_strv_builder_add (changes, line);
          entry = json_object_new ();
          json_object_set_string_member (entry, "id", item_id (item, shops));
          json_object_set_string_member (entry, "name", item_name (item, shops));
          json_array_add_object_element (pass == 0 ? added : removed, entry);
        }
    }
  drift->changes = g_strv_builder_end (changes);

  if (shops)
    kh_grant_set_shops (drift->grant, drift->fetched);
  else
    kh_grant_set_advertisers (drift->grant, drift->fetched);
  kh_grant_touch (drift->grant, kh_now ());

  if (!kh_grant_get_shared (drift->grant)
      ? !kh_store_update_grant (self->store, drift->grant, &error)
      : !kh_broker_team_lease_take (&lease, self, &error) ||
        !kh_team_update_grant (lease.team, drift->grant, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (drift->changes[0] != NULL)
    {
      if (lease.team == NULL)
        {
          g_autoptr(KhHistoryEntry) entry = NULL;

          entry = kh_history_entry_new_accounts_changed (drift->grant,
                                                         (const char * const *) drift->changes);
          kh_history_record (self->store, entry);
        }
      else
        {
          JsonObject *detail = json_object_new ();

          json_object_set_array_member (detail, "added", g_steal_pointer (&added));
          json_object_set_array_member (detail, "removed", g_steal_pointer (&removed));
          kh_shared_note (lease.team, "accounts-changed", drift->grant, detail);
        }
    }
  g_task_return_boolean (task, TRUE);
}

static void
drift_stored_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    {
      Drift *drift = g_task_get_task_data (task);

      g_task_return_pointer (task, g_steal_pointer (&drift->changes), (GDestroyNotify) g_strfreev);
    }
}

static void
drift_fetched_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  Drift *drift = g_task_get_task_data (task);
  g_autoptr(GTask) store = NULL;
  GError *error = NULL;

  if (drift_is_shops (drift->grant))
    drift->fetched = kh_token_client_get_shops_finish (KH_TOKEN_CLIENT (object), result, &error);
  else
    drift->fetched = kh_token_client_get_advertisers_finish (KH_TOKEN_CLIENT (object), result,
                                                             &error);
  if (drift->fetched == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  store = g_task_new (g_task_get_source_object (task), NULL, drift_stored_cb, task);
  g_task_set_source_tag (store, drift_fetched_cb);
  g_task_set_task_data (store, drift, NULL);
  g_task_run_in_thread (store, drift_store_thread);
}

static void
drift_token_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Drift *drift = g_task_get_task_data (task);
  GError *error = NULL;

  drift->tokens = kh_broker_get_token_finish (self, result, &error);
  if (drift->tokens == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  if (drift_is_shops (drift->grant))
    kh_token_client_get_shops_async (kh_broker_get_client (self), drift->app, drift->app_secret,
                                     drift->tokens->access_token, g_task_get_cancellable (task),
                                     drift_fetched_cb, task);
  else
    kh_token_client_get_advertisers_async (kh_broker_get_client (self), drift->app,
                                           drift->app_secret, drift->tokens->access_token,
                                           g_task_get_cancellable (task), drift_fetched_cb, task);
}

static void
drift_prepared_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Drift *drift = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  /* Through the broker: a seller's access token may need a refresh first. */
  kh_broker_get_token_async (self, drift->grant_id, 60, g_task_get_cancellable (task),
                             drift_token_cb, task);
}

void
kh_broker_update_accounts_async (KhBroker            *self,
                                 const char          *grant_id,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Drift *drift;

  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_broker_update_accounts_async);
  drift = g_new0 (Drift, 1);
  drift->grant_id = g_strdup (grant_id);
  g_task_set_task_data (task, drift, (GDestroyNotify) drift_free);

  kh_broker_prepare_in_thread (self, g_steal_pointer (&task), drift, drift_prepare_thread,
                               drift_prepared_cb);
}

char **
kh_broker_update_accounts_finish (KhBroker      *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (KH_IS_BROKER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        kh_broker_update_accounts_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
