/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-complete.c: the pasted-URL entrance: finding the pending request by the URL's state
 * (or, with no state, the Shop app by its app key), then the shared pipeline. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-callback.h"
#include "kh-error.h"
#include "kh-util.h"

/* ---- complete (pasted URL) --------------------------------------------------------------- */


void
kh_flow_lookup_free (Lookup *lookup)
{
  g_free (lookup->state);
  g_free (lookup->app_key);
  g_clear_object (&lookup->request);
  g_clear_object (&lookup->app);
  g_free (lookup);
}

static void
lookup_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  KhStore *store = source_object;
  Lookup *lookup = task_data;
  GError *error = NULL;

  if (lookup->state != NULL)
    {
      lookup->request = kh_store_find_pending_by_state (store, lookup->state, &error);
      if (lookup->request == NULL)
        {
          g_task_return_error (task, error);
          return;
        }

      lookup->app = kh_store_get_app (store, kh_auth_request_get_app_name (lookup->request));
      if (lookup->app == NULL)
        {
          g_task_return_new_error (task, KH_ERROR, KH_ERROR_NOT_FOUND,
                                   _("The app profile “%s” of this authorization no longer "
                                     "exists: add it again, then create a new link"),
                                   kh_auth_request_get_app_name (lookup->request));
          return;
        }
    }
  else
    {
      lookup->app = kh_store_find_app_by_key (store, lookup->app_key);
      if (lookup->app == NULL)
        {
          g_task_return_new_error (task, KH_ERROR, KH_ERROR_NOT_FOUND,
                                   _("No app profile has the app key “%s”: add the app first, "
                                     "or use Quick Connect with its App Secret"),
                                   lookup->app_key);
          return;
        }
    }

  g_task_return_boolean (task, TRUE);
}

static void
lookup_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GTask *task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  Lookup *lookup = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      kh_flow_fail (task, error);
      return;
    }

  run->app = g_object_ref (lookup->app);

  if (lookup->request != NULL)
    {
      KhAuthRequest *request = lookup->request;

      run->request = g_object_ref (request);
      run->request_is_pending = TRUE;
      run->type = kh_auth_request_get_account_type (request);
      run->role = kh_auth_request_get_provider_role (request);
      run->region = kh_auth_request_get_region (request);
      run->region_known = TRUE;
      run->client_label = g_strdup (kh_auth_request_get_client_label (request));
      kh_flow_set_request (self, request);

      if (kh_auth_request_is_expired (request, kh_now ()))
        {
          g_autofree char *when = kh_iso8601_from_unix (kh_auth_request_get_expires_at (request));

          kh_flow_fail (task, g_error_new (KH_ERROR, KH_ERROR_REQUEST_EXPIRED,
                                           _("This authorization link expired at %s (its code "
                                             "lives %d minutes): create a new link"),
                                           when, (int) (run->role->code_lifetime / 60)));
          return;
        }
    }
  else
    {
      /* The Seller Center App Store sends no state; only a Shop app can be completed so. */
      if (kh_app_profile_get_family (run->app) != KH_FAMILY_SHOP)
        {
          kh_flow_fail (task, g_error_new_literal (KH_ERROR, KH_ERROR_STATE_MISSING,
                                                   _("This URL carries no state, which only a "
                                                     "Seller Center App Store installation may "
                                                     "do")));
          return;
        }
      run->type = KH_ACCOUNT_SELLER;
      run->role = kh_provider_get_role (kh_provider_get (KH_ACCOUNT_SELLER), NULL);
      run->without_state = TRUE;
    }

  kh_flow_load_secret_then (task, kh_flow_accept_callback);
}

void
kh_flow_complete_async (KhFlow              *self,
                        const char          *pasted,
                        KhFlowFlags          flags,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) lookup_task = NULL;
  g_autoptr(KhCallback) parsed = NULL;
  Lookup *lookup;
  Run *run;
  GError *error = NULL;

  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (pasted != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_flow_complete_async);
  kh_flow_reset (self);

  parsed = kh_callback_parse (pasted, &error);
  if (parsed == NULL)
    {
      kh_flow_fail (g_steal_pointer (&task), error);
      return;
    }

  if (parsed->state == NULL)
    {
      if ((flags & KH_FLOW_FLAGS_ALLOW_NO_STATE) == 0)
        {
          kh_flow_fail (g_steal_pointer (&task),
                        g_error_new_literal (KH_ERROR, KH_ERROR_STATE_MISSING,
                                             _("This URL carries no state, so Keyhold cannot tell "
                                               "which authorization it completes. If it comes from "
                                               "a Seller Center App Store installation, confirm "
                                               "that to complete it without state")));
          return;
        }
      if (parsed->app_key == NULL)
        {
          kh_flow_fail (g_steal_pointer (&task),
                        g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                             _("This URL has neither state nor app_key: copy the "
                                               "whole address the browser showed after "
                                               "authorizing")));
          return;
        }
    }

  run = g_new0 (Run, 1);
  run->flags = flags;
  run->callback = g_steal_pointer (&parsed);
  g_task_set_task_data (task, run, (GDestroyNotify) kh_flow_run_free);

  lookup = g_new0 (Lookup, 1);
  lookup->state = g_strdup (run->callback->state);
  lookup->app_key = g_strdup (run->callback->app_key);

  lookup_task = g_task_new (self->store, cancellable, lookup_cb, g_steal_pointer (&task));
  g_task_set_source_tag (lookup_task, kh_flow_complete_async);
  g_task_set_task_data (lookup_task, lookup, (GDestroyNotify) kh_flow_lookup_free);
  g_task_run_in_thread (lookup_task, lookup_thread);
}

KhGrant *
kh_flow_complete_finish (KhFlow        *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
