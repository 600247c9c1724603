/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-quick-connect.c: the Quick Connect entrance: a pasted Shop redirect and the App
 * Secret typed with it; the app profile is found by app key or made, and saved once the
 * exchange proves the secret right. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-callback.h"
#include "kh-error.h"

/* ---- Quick Connect ----------------------------------------------------------------------- */

static void
quick_lookup_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  KhStore *store = source_object;
  Lookup *lookup = task_data;

  lookup->app = kh_store_find_app_by_key (store, lookup->app_key);
  g_task_return_boolean (task, TRUE);
}

static void
quick_lookup_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  Lookup *lookup = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      kh_flow_fail (task, error);
      return;
    }

  if (lookup->app != NULL)
    {
      if (kh_app_profile_get_family (lookup->app) != KH_FAMILY_SHOP)
        {
          kh_flow_fail (task, g_error_new (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                           _("The app key “%s” belongs to the TikTok for Business "
                                             "app “%s”; Quick Connect is for TikTok Shop apps"),
                                           run->callback->app_key,
                                           kh_app_profile_get_name (lookup->app)));
          return;
        }
      run->app = g_object_ref (lookup->app);
    }
  else
    {
      g_autofree char *name = g_strdup_printf (_("Shop app %s"), run->callback->app_key);

      run->app = kh_app_profile_new (name, KH_FAMILY_SHOP, run->callback->app_key);
      if (!kh_app_profile_validate (run->app, &error))
        {
          kh_flow_fail (task, error);
          return;
        }
    }

  /* The secret the user typed is the one to use, and it replaces the stored one once the
   * exchange proves it right. */
  run->save_app = TRUE;
  kh_flow_accept_callback (task);
}

void
kh_flow_quick_connect_async (KhFlow              *self,
                             const char          *app_secret,
                             const char          *pasted,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) lookup_task = NULL;
  g_autoptr(KhCallback) parsed = NULL;
  g_autofree char *secret = NULL;
  Lookup *lookup;
  Run *run;
  GError *error = NULL;

  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (pasted != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_flow_quick_connect_async);
  kh_flow_reset (self);

  secret = g_strstrip (g_strdup (app_secret));
  if (*secret == '\0')
    {
      kh_flow_fail (g_steal_pointer (&task),
                    g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                         _("The App Secret is empty: copy it from Partner Center > "
                                           "App Management > your app > Basic Information")));
      return;
    }

  parsed = kh_callback_parse (pasted, &error);
  if (parsed == NULL)
    {
      kh_flow_fail (g_steal_pointer (&task), error);
      return;
    }

  if (parsed->app_key == NULL)
    {
      kh_flow_fail (g_steal_pointer (&task),
                    g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                         _("This URL has no app_key: Quick Connect needs the "
                                           "address TikTok Shop redirected to after authorizing, "
                                           "which carries app_key and code")));
      return;
    }

  run = g_new0 (Run, 1);
  run->callback = g_steal_pointer (&parsed);
  run->app_secret = g_steal_pointer (&secret);
  run->type = KH_ACCOUNT_SELLER;
  run->role = kh_provider_get_role (kh_provider_get (KH_ACCOUNT_SELLER), NULL);
  run->without_state = run->callback->state == NULL;
  g_task_set_task_data (task, run, (GDestroyNotify) kh_flow_run_free);

  lookup = g_new0 (Lookup, 1);
  lookup->app_key = g_strdup (run->callback->app_key);

  lookup_task = g_task_new (self->store, cancellable, quick_lookup_cb, g_steal_pointer (&task));
  g_task_set_source_tag (lookup_task, kh_flow_quick_connect_async);
  g_task_set_task_data (lookup_task, lookup, (GDestroyNotify) kh_flow_lookup_free);
  g_task_run_in_thread (lookup_task, quick_lookup_thread);
}

KhGrant *
kh_flow_quick_connect_finish (KhFlow        *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
