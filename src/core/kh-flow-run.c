/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-run.c: what every step of a run shares: freeing its Run, ending it (failure, success,
 * removing its spent pending request) and loading the app secret before the next step. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-callback.h"
#include "kh-loopback.h"

void
kh_flow_run_free (Run *run)
{
  if (run->outer_cancellable != NULL)
    g_cancellable_disconnect (run->outer_cancellable, run->outer_handler);
  g_clear_object (&run->outer_cancellable);
  g_clear_object (&run->wait_cancellable);
  g_clear_error (&run->launch_error);
  /* A browser this run started may live on for hours: stop watching it. */
  if (run->browser_cancellable != NULL)
    g_cancellable_cancel (run->browser_cancellable);
  g_clear_object (&run->browser_cancellable);
  g_clear_object (&run->browser);
  g_clear_object (&run->app);
  if (run->app_secret != NULL)
    {
      memset (run->app_secret, 0, strlen (run->app_secret));
      g_clear_pointer (&run->app_secret, g_free);
    }
  g_clear_object (&run->request);
  if (run->loopback != NULL)
    kh_loopback_stop (run->loopback);
  g_clear_object (&run->loopback);
  g_clear_pointer (&run->callback, kh_callback_free);
  g_clear_pointer (&run->response, kh_token_response_free);
  g_clear_pointer (&run->shops, g_ptr_array_unref);
  g_clear_pointer (&run->advertisers, g_ptr_array_unref);
  g_clear_pointer (&run->account_name, g_free);
  g_clear_object (&run->grant);
  g_clear_pointer (&run->client_label, g_free);
  g_free (run);
}

/* ---- ending a run ------------------------------------------------------------------------ */

void
kh_flow_fail (GTask  *task,
              GError *error)
{
  KhFlow *self = g_task_get_source_object (task);

  kh_flow_set_stage (self, KH_FLOW_STAGE_FAILED);
  g_task_return_error (task, error);
  g_object_unref (task);
}

void
kh_flow_succeed (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  kh_flow_set_stage (self, KH_FLOW_STAGE_DONE);
  g_task_return_pointer (task, g_object_ref (run->grant), g_object_unref);
  g_object_unref (task);
}

/* Blocking store work runs in a GTask thread; these are its bodies. */

static void
remove_pending_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  KhStore *store = source_object;
  const char *request_id = task_data;
  GError *error = NULL;

  if (!kh_store_remove_pending (store, request_id, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
kh_flow_remove_pending_cb (GObject      *object,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  /* The grant is stored; a pending record that could not be removed is only clutter, and it
   * cannot be completed twice because its code is spent. */
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_message ("Could not remove the completed pending request: %s", error->message);

  kh_flow_succeed (g_steal_pointer (&task));
}

void
kh_flow_remove_pending_then (KhFlow              *self,
                             KhAuthRequest       *request,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self->store, NULL, callback, user_data);

  g_task_set_source_tag (task, kh_flow_remove_pending_then);
  g_task_set_task_data (task, g_strdup (kh_auth_request_get_id (request)), g_free);
  g_task_run_in_thread (task, remove_pending_thread);
}

/* ---- loading the app secret ------------------------------------------------------------- */


static void
load_secret_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  RunStep next = g_object_get_data (G_OBJECT (task), "kh-flow-next");
  GError *error = NULL;

  run->app_secret = kh_store_load_app_secret_finish (KH_STORE (object), result, &error);
  if (run->app_secret == NULL)
    {
      kh_flow_fail (task, error);
      return;
    }

  next (task);
}

void
kh_flow_load_secret_then (GTask   *task,
                          RunStep  next)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  g_object_set_data (G_OBJECT (task), "kh-flow-next", next);
  kh_store_load_app_secret_async (self->store, kh_app_profile_get_name (run->app),
                                  g_task_get_cancellable (task), load_secret_cb, task);
}
