/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client-tokens.c: the token calls, for Shop and Business apps alike: exchanging an
 * authorization code, refreshing, revoking. Each picks its family's endpoint and parameters. */

#define G_LOG_DOMAIN "kh-token-client"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-token-client.h"
#include "kh-token-client-private.h"

#include "kh-error.h"
#include "kh-util.h"

/* ---- exchange -------------------------------------------------------------------------------- */

void
kh_token_client_exchange_async (KhTokenClient       *self,
                                KhAppProfile        *app,
                                const char          *app_secret,
                                KhTokenKind          kind,
                                const char          *code,
                                const char          *redirect_uri,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  const char *app_key;
  Request *request = NULL;
  GTask *task;

  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (code != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  app_key = kh_app_profile_get_app_key (app);

  switch (kind)
    {
    case KH_TOKEN_KIND_SHOP:
      request = kh_tc_request_new (self, OP_EXCHANGE, kind, "GET", SHOP_AUTH_ORIGIN,
                                   "/api/v2/token/get",
                                   kh_tc_build_query ("app_key", app_key,
                                                      "app_secret", app_secret,
                                                      "auth_code", code,
                                                      "grant_type", "authorized_code",
                                                      NULL));
      break;
    case KH_TOKEN_KIND_ADVERTISER:
      {
        g_autofree char *path = kh_tc_business_path ("/oauth2/access_token/");

        request = kh_tc_request_new (self, OP_EXCHANGE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = kh_tc_build_json_body ("app_id", app_key,
                                               "secret", app_secret,
                                               "auth_code", code,
                                               NULL);
      }
      break;
    case KH_TOKEN_KIND_TT_USER:
      {
        g_autofree char *path = kh_tc_business_path ("/tt_user/oauth2/token/");

        if (redirect_uri == NULL)
          redirect_uri = kh_app_profile_get_redirect_uri (app);
        request = kh_tc_request_new (self, OP_EXCHANGE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = kh_tc_build_json_body ("client_id", app_key,
                                               "client_secret", app_secret,
                                               "grant_type", "authorization_code",
                                               "auth_code", code,
                                               "redirect_uri", redirect_uri,
                                               NULL);
      }
      break;
    default:
      g_return_if_reached ();
    }

  task = kh_tc_request_task_new (self, request, kh_token_client_exchange_async,
                                 cancellable, callback, user_data);
  if (kh_tc_check_family (task, app, kind))
    kh_tc_start_attempt (task);
}

KhTokenResponse *
kh_token_client_exchange_finish (KhTokenClient  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, kh_token_client_exchange_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- refresh --------------------------------------------------------------------------------- */

void
kh_token_client_refresh_async (KhTokenClient       *self,
                               KhAppProfile        *app,
                               const char          *app_secret,
                               KhTokenKind          kind,
                               const char          *refresh_token,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  const char *app_key;
  Request *request = NULL;
  GTask *task;

  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (refresh_token != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  app_key = kh_app_profile_get_app_key (app);

  switch (kind)
    {
    case KH_TOKEN_KIND_SHOP:
      request = kh_tc_request_new (self, OP_REFRESH, kind, "GET", SHOP_AUTH_ORIGIN,
                                   "/api/v2/token/refresh",
                                   kh_tc_build_query ("app_key", app_key,
                                                      "app_secret", app_secret,
                                                      "refresh_token", refresh_token,
                                                      "grant_type", "refresh_token",
                                                      NULL));
      break;
    case KH_TOKEN_KIND_TT_USER:
      {
        g_autofree char *path = kh_tc_business_path ("/tt_user/oauth2/refresh_token/");

        request = kh_tc_request_new (self, OP_REFRESH, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = kh_tc_build_json_body ("client_id", app_key,
                                               "client_secret", app_secret,
                                               "grant_type", "refresh_token",
                                               "refresh_token", refresh_token,
                                               NULL);
      }
      break;
    case KH_TOKEN_KIND_ADVERTISER:
      g_task_report_new_error (self, callback, user_data, kh_token_client_refresh_async,
                               KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Advertiser tokens never expire and cannot be refreshed"));
      return;
    default:
      g_return_if_reached ();
    }

  task = kh_tc_request_task_new (self, request, kh_token_client_refresh_async,
                                 cancellable, callback, user_data);
  if (kh_tc_check_family (task, app, kind))
    kh_tc_start_attempt (task);
}

KhTokenResponse *
kh_token_client_refresh_finish (KhTokenClient  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, kh_token_client_refresh_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- revoke ---------------------------------------------------------------------------------- */

void
kh_token_client_revoke_async (KhTokenClient       *self,
                              KhAppProfile        *app,
                              const char          *app_secret,
                              KhTokenKind          kind,
                              const char          *access_token,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  const char *app_key;
  Request *request = NULL;
  GTask *task;

  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (access_token != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  app_key = kh_app_profile_get_app_key (app);

  switch (kind)
    {
    case KH_TOKEN_KIND_ADVERTISER:
      {
        g_autofree char *path = kh_tc_business_path ("/oauth2/revoke_token/");

        request = kh_tc_request_new (self, OP_REVOKE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = kh_tc_build_json_body ("app_id", app_key,
                                               "secret", app_secret,
                                               "access_token", access_token,
                                               NULL);
      }
      break;
    case KH_TOKEN_KIND_TT_USER:
      {
        g_autofree char *path = kh_tc_business_path ("/tt_user/oauth2/revoke/");

        request = kh_tc_request_new (self, OP_REVOKE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = kh_tc_build_json_body ("client_id", app_key,
                                               "client_secret", app_secret,
                                               "access_token", access_token,
                                               NULL);
      }
      break;
    case KH_TOKEN_KIND_SHOP:
      g_task_report_new_error (self, callback, user_data, kh_token_client_revoke_async,
                               KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("TikTok Shop has no revoke call: the account holder cancels "
                                 "the authorization in Seller Center or Partner Center"));
      return;
    default:
      g_return_if_reached ();
    }

  task = kh_tc_request_task_new (self, request, kh_token_client_revoke_async,
                                 cancellable, callback, user_data);
  if (kh_tc_check_family (task, app, kind))
    kh_tc_start_attempt (task);
}

gboolean
kh_token_client_revoke_finish (KhTokenClient  *self,
                               GAsyncResult   *result,
                               GError        **error)
{
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (result, kh_token_client_revoke_async), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
