/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-exchange.c: checking the callback a run obtained (denied, no code, another app's
 * code) and exchanging its code for tokens; a pending request whose code TikTok refused for
 * good is forgotten. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

#include "kh-callback.h"
#include "kh-error.h"

/* ---- exchange ---------------------------------------------------------------------------- */

/* Quick Connect and state-less completion learn the account type only from the token. */
static void
adopt_type_from_user_type (Run *run)
{
  switch (run->response->user_type)
    {
    case 1:
      run->type = KH_ACCOUNT_CREATOR;
      break;
    case 3:
      run->type = KH_ACCOUNT_PARTNER;
      break;
    default:
      run->type = KH_ACCOUNT_SELLER;
      break;
    }
  run->role = kh_provider_get_role (kh_provider_get (run->type), NULL);
}

static void
forget_dead_request_cb (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = g_object_steal_data (G_OBJECT (task), "kh-flow-dead-error");
  g_autoptr(GError) removal_error = NULL;

  /* The original error is what the user needs to see; the removal outcome is secondary. */
  if (!g_task_propagate_boolean (G_TASK (result), &removal_error))
    g_debug ("Could not remove the dead pending request: %s", removal_error->message);

  kh_flow_fail (task, error);
}

static void
exchange_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  GTask *task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->response = kh_token_client_exchange_finish (KH_TOKEN_CLIENT (object), result, &error);
  if (run->response == NULL)
    {
      /* A code TikTok refused for good (used, expired, wrong app) will never work: the pending
       * request is dead too. A transient failure keeps it so the same URL can be retried. */
      if (run->request_is_pending && error->domain == KH_API_ERROR &&
          kh_error_classify (error) != KH_ERROR_CLASS_TRANSIENT)
        {
          g_object_set_data_full (G_OBJECT (task), "kh-flow-dead-error", error,
                                  (GDestroyNotify) g_error_free);
          kh_flow_remove_pending_then (self, run->request, forget_dead_request_cb, task);
          return;
        }

      kh_flow_fail (task, error);
      return;
    }

  if (run->request == NULL && run->role->token_kind == KH_TOKEN_KIND_SHOP)
    adopt_type_from_user_type (run);

  kh_flow_enrich (task);
}

static void
exchange_code (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  const char *redirect_uri;

  kh_flow_set_stage (self, KH_FLOW_STAGE_EXCHANGING);

  redirect_uri = run->request != NULL ? kh_auth_request_get_redirect_uri (run->request)
                                      : kh_app_profile_get_redirect_uri (run->app);

  kh_token_client_exchange_async (self->client, run->app, run->app_secret, run->role->token_kind,
                                  run->callback->code, redirect_uri,
                                  g_task_get_cancellable (task), exchange_cb, task);
}

/* Checks the callback against what the request expects, then exchanges. */
void
kh_flow_accept_callback (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  if (kh_callback_is_denied (run->callback, &error))
    {
      kh_flow_fail (task, error);
      return;
    }

  if (run->callback->code == NULL)
    {
      kh_flow_fail (task, g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                               _("The redirect carries no authorization code")));
      return;
    }

  /* The Shop redirect names the app it was issued for; a different app's code cannot work. */
  if (run->callback->app_key != NULL &&
      kh_app_profile_get_family (run->app) == KH_FAMILY_SHOP &&
      g_strcmp0 (run->callback->app_key, kh_app_profile_get_app_key (run->app)) != 0)
    {
      kh_flow_fail (task, g_error_new (KH_ERROR, KH_ERROR_WRONG_ACCOUNT,
                                       _("This URL was issued for the app key “%s”, but the "
                                         "request belongs to the app “%s”"),
                                       run->callback->app_key, kh_app_profile_get_name (run->app)));
      return;
    }

  exchange_code (task);
}
