/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-browser.c: opening the consent page of a loopback run, in the system browser or a
 * chosen browser profile, and ending the run when the browser cannot open or exits early. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-error.h"

/* The browser could not open the consent page: the run ends with that error. */
static void
fail_launch (Run          *run,
             const GError *error)
{
  g_clear_error (&run->launch_error);
  run->launch_error = g_error_new (KH_ERROR, KH_ERROR_FAILED,
                                   _("The browser could not be opened (%s): open the "
                                     "authorization link yourself, or use a link for a "
                                     "client"),
                                   error->message);
  /* The loopback wait is still running: cancelling it ends the run with our error. */
  g_cancellable_cancel (run->wait_cancellable);
}

void
kh_flow_launch_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          run->callback != NULL || g_task_get_completed (task))
        return;

      fail_launch (run, error);
    }
}

/* A chosen browser that exits with an error before the redirect came would leave the run
 * waiting for nothing. The watch holds the task weakly: a browser may outlive its run. */
static void
browser_exited_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GWeakRef *task_ref = user_data;
  g_autoptr(GTask) task = g_weak_ref_get (task_ref);
  g_autoptr(GError) error = NULL;
  Run *run;

  g_weak_ref_clear (task_ref);
  g_free (task_ref);

  if (g_subprocess_wait_check_finish (G_SUBPROCESS (object), result, &error) || task == NULL ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_task_get_completed (task))
    return;

  run = g_task_get_task_data (task);
  if (run->callback == NULL)
    fail_launch (run, error);
}

void
kh_flow_launch_browser_profile (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  GWeakRef *task_ref;

  process = kh_browser_profile_launch (run->browser, kh_auth_request_get_url (run->request),
                                       &error);
  if (process == NULL)
    {
      fail_launch (run, error);
      return;
    }

  run->browser_cancellable = g_cancellable_new ();
  task_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (task_ref, task);
  g_subprocess_wait_check_async (process, run->browser_cancellable, browser_exited_cb, task_ref);
}
