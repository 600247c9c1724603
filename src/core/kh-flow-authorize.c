/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-authorize.c: the loopback entrance: a new request, a listener on its Redirect URL,
 * the consent page opened in a browser (kh-flow-browser.c), and the redirect caught. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-callback.h"
#include "kh-error.h"
#include "kh-loopback.h"

/* ---- authorize (loopback) ---------------------------------------------------------------- */

static void
loopback_wait_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->callback = kh_loopback_wait_finish (KH_LOOPBACK (object), result, &error);
  kh_loopback_stop (run->loopback);

  if (run->callback == NULL)
    {
      /* A browser that could not open cancelled the wait: that is the real error. */
      if (run->launch_error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          error = g_steal_pointer (&run->launch_error);
        }
      kh_flow_fail (task, error);
      return;
    }

  kh_flow_accept_callback (task);
}

static void
start_listening (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->loopback = kh_loopback_new (kh_auth_request_get_redirect_uri (run->request), &error);
  if (run->loopback == NULL)
    {
      g_prefix_error (&error, _("The app’s Redirect URL cannot be caught on this computer: "));
      kh_flow_fail (task, error);
      return;
    }

  if (!kh_loopback_start (run->loopback, &error))
    {
      kh_flow_fail (task, error);
      return;
    }

  kh_flow_set_request (self, run->request);
  kh_flow_set_stage (self, KH_FLOW_STAGE_WAITING);

  kh_loopback_wait_async (run->loopback, kh_auth_request_get_state (run->request),
                          run->timeout_seconds, run->wait_cancellable,
                          loopback_wait_cb, task);

  if ((run->flags & KH_FLOW_FLAGS_NO_BROWSER) != 0)
    return;
  if (run->browser != NULL)
    kh_flow_launch_browser_profile (task);
  else
    g_app_info_launch_default_for_uri_async (kh_auth_request_get_url (run->request), NULL,
                                             g_task_get_cancellable (task), kh_flow_launch_cb,
                                             g_object_ref (task));
}

static void
cancel_wait (GCancellable *outer,
             GCancellable *wait_cancellable)
{
  g_cancellable_cancel (wait_cancellable);
}

static void
create_request (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->request = kh_auth_request_new (run->type, run->role->id, run->app, run->region,
                                      run->client_label,
                                      (run->flags & KH_FLOW_FLAGS_FORCE_CONSENT) != 0, &error);
  if (run->request == NULL)
    {
      kh_flow_fail (task, error);
      return;
    }

  start_listening (task);
}

void
kh_flow_authorize_async (KhFlow              *self,
                         KhAccountType        type,
                         const char          *role,
                         KhAppProfile        *app,
                         KhRegion             region,
                         const char          *client_label,
                         KhFlowFlags          flags,
                         guint                timeout_seconds,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(Run) run = NULL;
  const KhProviderRole *provider_role;

  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (type < KH_N_ACCOUNT_TYPES);
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_flow_authorize_async);

  kh_flow_reset (self);

  provider_role = kh_provider_get_role (kh_provider_get (type), role);
  if (provider_role == NULL)
    {
      kh_flow_fail (g_steal_pointer (&task),
                    g_error_new (KH_ERROR, KH_ERROR_INVALID_INPUT, _("“%s” has no role “%s”"),
                                 kh_provider_get (type)->id, role));
      return;
    }

  run = g_new0 (Run, 1);
  run->type = type;
  run->role = provider_role;
  run->app = g_object_ref (app);
  run->region = region;
  run->region_known = TRUE;
  run->client_label = g_strdup (client_label);
  run->flags = flags;
  run->timeout_seconds = timeout_seconds;
  if (self->browser != NULL)
    run->browser = g_object_ref (self->browser);
  run->wait_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      run->outer_cancellable = g_object_ref (cancellable);
      run->outer_handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_wait),
                                                  g_object_ref (run->wait_cancellable),
                                                  g_object_unref);
    }
  g_task_set_task_data (task, g_steal_pointer (&run), (GDestroyNotify) kh_flow_run_free);

  kh_flow_load_secret_then (g_steal_pointer (&task), create_request);
}

KhGrant *
kh_flow_authorize_finish (KhFlow        *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
