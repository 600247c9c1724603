/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-store.c: the last step of a run: building the grant from the token response and
 * the enrichment (name, region, shops, advertisers, missing scopes), storing it with its tokens
 * (and, for Quick Connect, the app profile first) and recording it in the history. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-callback.h"
#include "kh-history-log.h"

/* ---- store ------------------------------------------------------------------------------- */

static const char *
shop_region_for (Run *run)
{
  if (run->response != NULL && run->response->seller_base_region != NULL &&
      *run->response->seller_base_region != '\0')
    return run->response->seller_base_region;
  if (run->callback != NULL && run->callback->shop_region != NULL)
    return run->callback->shop_region;
  if (run->region_known)
    return kh_region_to_string (run->region);
  return NULL;
}

static char *
display_name_for (Run *run)
{
  if (run->response->seller_name != NULL && *run->response->seller_name != '\0')
    return g_strdup (run->response->seller_name);

  if (run->account_name != NULL && *run->account_name != '\0')
    return g_strdup (run->account_name);

  if (run->advertisers != NULL && run->advertisers->len > 0)
    {
      KhAdvertiser *first = g_ptr_array_index (run->advertisers, 0);
      const char *name = first->name != NULL ? first->name : first->id;

      if (run->advertisers->len == 1)
        return g_strdup (name);

      /* Translators: "Acme Ads and 2 more" */
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s and %u more",
                                           "%s and %u more", run->advertisers->len - 1),
                              name, run->advertisers->len - 1);
    }

  if (run->shops != NULL && run->shops->len > 0)
    return g_strdup (((KhShop *) g_ptr_array_index (run->shops, 0))->name);

  if (run->response->open_id != NULL && *run->response->open_id != '\0')
    return g_strdup (run->response->open_id);

  return NULL;
}

/* The history's name of the way this run authorized. */
static const char *
run_flow_name (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  gpointer tag = g_task_get_source_tag (task);

  if (tag == kh_flow_authorize_async)
    return "browser";
  if (tag == kh_flow_quick_connect_async)
    return "quick-connect";
  return run->request_is_pending ? "link" : "paste";
}

static void
save_grant_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr(KhHistoryEntry) entry = NULL;
  GError *error = NULL;

  if (!kh_store_save_grant_finish (KH_STORE (object), result, &error))
    {
      /* The code is spent and the tokens exist only in memory now: say so plainly. */
      g_prefix_error (&error,
                      _("The authorization succeeded but its tokens could not be stored: "));
      kh_flow_fail (g_steal_pointer (&task), error);
      return;
    }

  entry = kh_history_entry_new_authorized (run->grant, run_flow_name (task));
  kh_history_record (self->store, entry);

  if (run->request_is_pending)
    kh_flow_remove_pending_then (self, run->request, kh_flow_remove_pending_cb,
                                 g_steal_pointer (&task));
  else
    kh_flow_succeed (g_steal_pointer (&task));
}

static void
save_app_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  KhStore *store = source_object;
  Run *run = task_data;
  GError *error = NULL;

  if (!kh_store_save_app (store, run->app, run->app_secret, TRUE, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
save_app_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      kh_flow_fail (g_steal_pointer (&task), error);
      return;
    }

  run->save_app = FALSE;
  kh_flow_store_grant (g_steal_pointer (&task));
}

void
kh_flow_store_grant (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autofree char *display_name = NULL;

  kh_flow_set_stage (self, KH_FLOW_STAGE_STORING);

  /* Quick Connect creates the app profile only now that the secret has proved right. */
  if (run->save_app)
    {
      g_autoptr(GTask) save = g_task_new (self->store, g_task_get_cancellable (task),
                                          save_app_cb, task);

      g_task_set_source_tag (save, kh_flow_store_grant);
      g_task_set_task_data (save, run, NULL);
      g_task_run_in_thread (save, save_app_thread);
      return;
    }

  run->grant = kh_grant_new (run->type, run->role->id, kh_app_profile_get_name (run->app));
  kh_grant_set_client_label (run->grant, run->client_label);
  display_name = display_name_for (run);
  kh_grant_set_display_name (run->grant, display_name);
  kh_grant_set_region (run->grant, shop_region_for (run));
  kh_grant_set_open_id (run->grant, run->response->open_id);
  kh_grant_set_scopes (run->grant, (const char * const *) run->response->scopes);
  kh_grant_set_expiries_from_tokens (run->grant, run->response->tokens);
  kh_grant_set_without_state (run->grant, run->without_state);
  if (run->shops != NULL)
    kh_grant_set_shops (run->grant, run->shops);
  if (run->advertisers != NULL)
    kh_grant_set_advertisers (run->grant, run->advertisers);

  for (guint i = 0; self->warnings->pdata[i] != NULL; i++)
    kh_grant_add_warning (run->grant, self->warnings->pdata[i]);

  /* Missing creator scopes are part of the grant: its status shows them. */
  if (run->type == KH_ACCOUNT_CREATOR)
    {
      const char * const *needed = kh_app_profile_get_scopes (run->app);
      g_autoptr(GStrvBuilder) missing = g_strv_builder_new ();
      g_auto(GStrv) missing_strv = NULL;

      for (guint i = 0; needed[i] != NULL; i++)
        {
          if (!g_str_has_prefix (needed[i], "creator"))
            continue;
          if (!g_strv_contains ((const char * const *) run->response->scopes, needed[i]))
            g_strv_builder_add (missing, needed[i]);
        }
      missing_strv = g_strv_builder_end (missing);
      kh_grant_set_missing_scopes (run->grant, (const char * const *) missing_strv);
    }

  kh_store_save_grant_async (self->store, run->grant, run->response->tokens,
                             g_task_get_cancellable (task), save_grant_cb, task);
}
