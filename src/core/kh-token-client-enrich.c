/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client-enrich.c: the calls that describe a fresh grant: a seller's shops (a signed
 * Open API call), an advertiser token's advertisers, a TikTok account's name. */

#define G_LOG_DOMAIN "kh-token-client"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-token-client.h"
#include "kh-token-client-private.h"

#include "kh-error.h"
#include "kh-sign.h"
#include "kh-util.h"

/* ---- enrichment ------------------------------------------------------------------------------ */

void
kh_token_client_get_shops_async (KhTokenClient       *self,
                                 KhAppProfile        *app,
                                 const char          *app_secret,
                                 const char          *access_token,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GHashTable) query = NULL;
  g_autofree char *timestamp = NULL;
  g_autofree char *sign = NULL;
  const char *app_key;
  Request *request;
  GTask *task;

  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (access_token != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (!kh_tc_check_header_token (self, access_token, callback, user_data,
                                 kh_token_client_get_shops_async))
    return;

  app_key = kh_app_profile_get_app_key (app);
  timestamp = g_strdup_printf ("%" G_GINT64_FORMAT, kh_now ());

  /* Signed over the path TikTok sees, never over a rewritten test-endpoint path. The timestamp
   * is fixed once: retries within the 5-minute window reuse it. */
  query = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (query, (gpointer) "app_key", (gpointer) app_key);
  g_hash_table_insert (query, (gpointer) "timestamp", timestamp);
  sign = kh_sign (app_secret, SHOPS_PATH, query, NULL, 0, "application/json");

  request = kh_tc_request_new (self, OP_SHOPS, KH_TOKEN_KIND_SHOP, "GET", SHOP_API_ORIGIN,
                               SHOPS_PATH,
                               kh_tc_build_query ("app_key", app_key,
                                                  "timestamp", timestamp,
                                                  "sign", sign,
                                                  NULL));
  request->token_header = "x-tts-access-token";
  request->token = g_strdup (access_token);
  request->json_content_type = TRUE;

  task = kh_tc_request_task_new (self, request, kh_token_client_get_shops_async,
                                 cancellable, callback, user_data);
  if (kh_tc_check_family (task, app, KH_TOKEN_KIND_SHOP))
    kh_tc_start_attempt (task);
}

GPtrArray *
kh_token_client_get_shops_finish (KhTokenClient  *self,
                                  GAsyncResult   *result,
                                  GError        **error)
{
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, kh_token_client_get_shops_async), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
kh_token_client_get_advertisers_async (KhTokenClient       *self,
                                       KhAppProfile        *app,
                                       const char          *app_secret,
                                       const char          *access_token,
                                       GCancellable        *cancellable,
                                       GAsyncReadyCallback  callback,
                                       gpointer             user_data)
{
  g_autofree char *path = NULL;
  Request *request;
  GTask *task;

  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (access_token != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (!kh_tc_check_header_token (self, access_token, callback, user_data,
                                 kh_token_client_get_advertisers_async))
    return;

  path = kh_tc_business_path ("/oauth2/advertiser/get/");
  request = kh_tc_request_new (self, OP_ADVERTISERS, KH_TOKEN_KIND_ADVERTISER, "GET",
                               BUSINESS_ORIGIN, path,
                               kh_tc_build_query ("app_id", kh_app_profile_get_app_key (app),
                                                  "secret", app_secret,
                                                  NULL));
  request->token_header = "Access-Token";
  request->token = g_strdup (access_token);

  task = kh_tc_request_task_new (self, request, kh_token_client_get_advertisers_async,
                                 cancellable, callback, user_data);
  if (kh_tc_check_family (task, app, KH_TOKEN_KIND_ADVERTISER))
    kh_tc_start_attempt (task);
}

GPtrArray *
kh_token_client_get_advertisers_finish (KhTokenClient  *self,
                                        GAsyncResult   *result,
                                        GError        **error)
{
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, kh_token_client_get_advertisers_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
kh_token_client_get_account_name_async (KhTokenClient       *self,
                                        const char          *access_token,
                                        const char          *open_id,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_autofree char *path = NULL;
  Request *request;
  GTask *task;

  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (access_token != NULL);
  g_return_if_fail (open_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  if (!kh_tc_check_header_token (self, access_token, callback, user_data,
                                 kh_token_client_get_account_name_async))
    return;

  path = kh_tc_business_path ("/business/get/");
  request = kh_tc_request_new (self, OP_ACCOUNT_NAME, KH_TOKEN_KIND_TT_USER, "GET",
                               BUSINESS_ORIGIN, path,
                               kh_tc_build_query ("business_id", open_id,
                                                  "fields", "[\"display_name\",\"profile_image\"]",
                                                  NULL));
  request->token_header = "Access-Token";
  request->token = g_strdup (access_token);

  task = kh_tc_request_task_new (self, request, kh_token_client_get_account_name_async,
                                 cancellable, callback, user_data);
  kh_tc_start_attempt (task);
}

char *
kh_token_client_get_account_name_finish (KhTokenClient  *self,
                                         GAsyncResult   *result,
                                         GError        **error)
{
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result,
                                                  kh_token_client_get_account_name_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
