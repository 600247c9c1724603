/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox-shop.c: the TikTok Shop family of tiktok-api.md: token get and refresh on
 * auth.tiktok-shops.com and Get Authorized Shops with its signature check. */

#define G_LOG_DOMAIN "kh-sandbox-shop"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox-private.h"

#include <string.h>

/* ---- TikTok Shop ------------------------------------------------------------------------ */

/* The Shop family's envelope of a successful call: code 0, message "success". */
static void
respond_success (Req        *req,
                 JsonObject *data)
{
  sb_respond_envelope (req, 0, "success", data);
}

static int
shop_user_type (Flow flow)
{
  switch (flow)
    {
    case FLOW_SELLER:
      return 0;
    case FLOW_CREATOR:
      return 1;
    case FLOW_PARTNER:
      return 3;
    case FLOW_ADVERTISER:
    case FLOW_TT_USER:
    default:
      g_assert_not_reached ();
    }
}

static JsonObject *
shop_token_data (SbAuthorization *auth)
{
  JsonObject *data = json_object_new ();

  json_object_set_string_member (data, "access_token", auth->access->value);
  /* Absolute Unix times, not durations (tiktok-api.md "Units differ"). */
  json_object_set_int_member (data, "access_token_expire_in", auth->access->expires_at);
  json_object_set_string_member (data, "refresh_token", auth->refresh->value);
  json_object_set_int_member (data, "refresh_token_expire_in", auth->refresh->expires_at);
  json_object_set_string_member (data, "open_id", auth->open_id);
  json_object_set_string_member (data, "seller_name", auth->seller_name);
  json_object_set_string_member (data, "seller_base_region", auth->seller_base_region);
  json_object_set_int_member (data, "user_type", shop_user_type (auth->flow));
  kh_json_set_strv (data, "granted_scopes", (const char * const *) auth->scopes);

  return data;
}

static void
handle_shop_token (Req      *req,
                   gboolean  refresh)
{
  KhSandbox *self = req->self;
  const char *app_key = sb_qget (req, "app_key");
  const char *app_secret = sb_qget (req, "app_secret");
  const char *grant_type = sb_qget (req, "grant_type");
  const char *credential = sb_qget (req, refresh ? "refresh_token" : "auth_code");
  gint64 now = sb_now (self);
  SbAuthorization *auth;
  SbApp *app;

  sb_note_secret (self, app_secret, FALSE);
  sb_note_secret (self, credential, FALSE);

  if (sb_is_empty (app_key))
    {
      sb_respond_envelope (req, 36009004, "invalid app_key: app_key is missing", NULL);
      return;
    }

  app = sb_find_app (self, "shop", app_key);
  if (app == NULL)
    {
      sb_respond_envelope (req, 36009004, "invalid app_key", NULL);
      return;
    }

  if (!sb_rate_allowed (self, app))
    {
      sb_respond_envelope (req, 36009002, "Too many requests, please try again later", NULL);
      return;
    }

  if (!sb_secret_matches (app, app_secret))
    {
      sb_respond_envelope (req, 36009004, "invalid app_secret", NULL);
      return;
    }

  if (g_strcmp0 (grant_type, refresh ? "refresh_token" : "authorized_code") != 0)
    {
      sb_respond_envelope (req, 36009004,
                           refresh ? "invalid grant_type: expected refresh_token"
                                   : "invalid grant_type: expected authorized_code", NULL);
      return;
    }

  if (!refresh)
    {
      SbCode *code = sb_is_empty (credential) ? NULL
                                              : g_hash_table_lookup (self->codes, credential);

      if (code == NULL || code->used || !sb_is_shop_flow (code->auth->flow) ||
          g_strcmp0 (code->auth->app_key, app->app_key) != 0 || now >= code->expires_at ||
          code->auth->revoked)
        {
          sb_respond_envelope (req, 36004004, "invalid auth_code: it is wrong, used or expired",
                               NULL);
          return;
        }

      code->used = TRUE;
      auth = code->auth;
      sb_issue_tokens (self, auth);
    }
  else
    {
      SbToken *token = sb_is_empty (credential) ? NULL
                                             : g_hash_table_lookup (self->tokens, credential);

      if (token == NULL || token->kind != TOKEN_REFRESH || !sb_is_shop_flow (token->auth->flow) ||
          g_strcmp0 (token->auth->app_key, app->app_key) != 0)
        {
          sb_respond_envelope (req, 36004005, "no related auth record for this refresh_token",
                               NULL);
          return;
        }

      auth = token->auth;
      if (auth->revoked)
        {
          sb_respond_envelope (req, 105001, "your token has been deauthorized", NULL);
          return;
        }

      if (now >= auth->refresh_expires_at)
        {
          sb_respond_envelope (req, 36004001, "refresh_token expired", NULL);
          return;
        }

      if (token->superseded)
        {
          /* Within the grace period a retried refresh gets the current pair again. */
          if (token != auth->previous_refresh || now - token->superseded_at >= self->refresh_grace)
            {
              sb_respond_envelope (req, 36004005, "no related auth record for this refresh_token",
                                   NULL);
              return;
            }
        }
      else
        {
          sb_issue_tokens (self, auth);
          auth->refresh_count++;
        }
    }

  respond_success (req, shop_token_data (auth));
}

static void
handle_shop_shops (Req *req)
{
  KhSandbox *self = req->self;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  const char *app_key = sb_qget (req, "app_key");
  const char *sign = sb_qget (req, "sign");
  const char *timestamp_text = sb_qget (req, "timestamp");
  const char *access = soup_message_headers_get_one (headers, "x-tts-access-token");
  const char *content_type = soup_message_headers_get_one (headers, "Content-Type");
  gsize body_size = 0;
  const char *body = req->body != NULL ? g_bytes_get_data (req->body, &body_size) : NULL;
  gint64 now = sb_now (self);
  guint64 timestamp;
  SbToken *token;
  SbApp *app;
  JsonArray *shops;
  JsonObject *data;

  sb_note_secret (self, access, FALSE);

  if (sb_is_empty (app_key))
    {
      sb_respond_envelope (req, 36009004, "invalid app_key: app_key is missing", NULL);
      return;
    }

  app = sb_find_app (self, "shop", app_key);
  if (app == NULL)
    {
      sb_respond_envelope (req, 36009004, "invalid app_key", NULL);
      return;
    }

  /* The signature comes before everything else, as at TikTok. */
  if (sb_is_empty (sign) ||
      !kh_sign_verify (app->app_secret, req->path, req->query, body_size > 0 ? body : NULL,
                       body_size, content_type, sign))
    {
      sb_respond_envelope (req, 106001, "Invalid credentials: the sign is wrong", NULL);
      return;
    }

  if (!sb_rate_allowed (self, app))
    {
      sb_respond_envelope (req, 36009002, "Too many requests, please try again later", NULL);
      return;
    }

  if (!sb_is_decimal (timestamp_text) || strlen (timestamp_text) > 12 ||
      !g_ascii_string_to_unsigned (timestamp_text, 10, 0, G_MAXINT64, &timestamp, NULL) ||
      (gint64) timestamp < now - TIMESTAMP_BEFORE || (gint64) timestamp > now + TIMESTAMP_AFTER)
    {
      sb_respond_envelope (req, 36009004,
                           "invalid timestamp: it must be within 5 minutes of server time", NULL);
      return;
    }

  if (sb_is_empty (access))
    {
      sb_respond_envelope (req, 36009004, "invalid access_token: x-tts-access-token is missing",
                           NULL);
      return;
    }

  token = g_hash_table_lookup (self->tokens, access);
  if (token == NULL || token->kind != TOKEN_ACCESS || !sb_is_shop_flow (token->auth->flow) ||
      g_strcmp0 (token->auth->app_key, app->app_key) != 0 || token->auth->revoked)
    {
      sb_respond_envelope (req, 105001, "your token has been deauthorized or is invalid", NULL);
      return;
    }

  if (now >= token->expires_at)
    {
      sb_respond_envelope (req, 105002, "access token expired", NULL);
      return;
    }

  if (token->auth->flow == FLOW_CREATOR)
    {
      sb_respond_envelope (req, 101000, "this API is not available to creator tokens", NULL);
      return;
    }

  shops = json_array_new ();
  for (guint i = 0; i < token->auth->shops->len; i++)
    {
      SbShop *shop = g_ptr_array_index (token->auth->shops, i);
      JsonObject *item = json_object_new ();

      json_object_set_string_member (item, "id", shop->id);
      json_object_set_string_member (item, "name", shop->name);
      json_object_set_string_member (item, "region", shop->region);
      json_object_set_string_member (item, "seller_type", shop->seller_type);
      json_object_set_string_member (item, "cipher", shop->cipher);
      json_object_set_string_member (item, "code", shop->code);
      json_array_add_object_element (shops, item);
    }

  data = json_object_new ();
  json_object_set_array_member (data, "shops", shops);
  respond_success (req, data);
}

/* ---- the Shop routes -------------------------------------------------------------------- */

static void
handle_shop_token_get (Req *req)
{
  handle_shop_token (req, FALSE);
}

static void
handle_shop_token_refresh (Req *req)
{
  handle_shop_token (req, TRUE);
}

const Route sb_shop_routes[] = {
  { "auth.tiktok-shops.com", "/api/v2/token/get", "GET", handle_shop_token_get, 0, FALSE },
  { "auth.tiktok-shops.com", "/api/v2/token/refresh", "GET", handle_shop_token_refresh, 0,
    FALSE },
  { "open-api.tiktokglobalshop.com", "/authorization/202309/shops", "GET", handle_shop_shops, 0,
    FALSE },
  { NULL, },
};
