/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox-business.c: the TikTok for Business family of tiktok-api.md: the advertiser
 * access token, advertiser list and revoke calls, and the tt_user (TikTok account) token,
 * refresh, revoke, token info and business/get calls. */

#define G_LOG_DOMAIN "kh-sandbox-business"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox-private.h"

#include <string.h>

/* ---- TikTok for Business ---------------------------------------------------------------- */

/* The Business family's envelope of a successful call: code 0, message "OK". */
static void
respond_success (Req        *req,
                 JsonObject *data)
{
  sb_respond_envelope (req, 0, "OK", data);
}

/* Checks an access token of a Business call; answers the error itself and returns NULL when it
 * does not work. app_id, when given, must be the token's app. Revocation takes expired tokens
 * too (allow_expired), so a client can always end an authorization it holds. */
static SbToken *
business_access_token (Req        *req,
                       const char *value,
                       const char *app_id,
                       gboolean    allow_expired)
{
  KhSandbox *self = req->self;
  SbToken *token;

  if (sb_is_empty (value))
    {
      sb_respond_envelope (req, 40104, "Access token is missing", NULL);
      return NULL;
    }

  sb_note_secret (self, value, FALSE);
  token = g_hash_table_lookup (self->tokens, value);
  if (token == NULL || token->kind != TOKEN_ACCESS || sb_is_shop_flow (token->auth->flow))
    {
      sb_respond_envelope (req, 40105, "Access token is invalid", NULL);
      return NULL;
    }

  if (token->auth->revoked)
    {
      sb_respond_envelope (req, 40105, "Access token has been revoked", NULL);
      return NULL;
    }

  if (!allow_expired && token->expires_at != 0 && sb_now (self) >= token->expires_at)
    {
      sb_respond_envelope (req, 40102, "Access token has expired", NULL);
      return NULL;
    }

  if (app_id != NULL && g_strcmp0 (token->auth->app_key, app_id) != 0)
    {
      sb_respond_envelope (req, 40000, "The access token does not belong to this app", NULL);
      return NULL;
    }

  return token;
}

/* Finds and authenticates the app of a Business call; answers the error itself. */
static SbApp *
business_app (Req        *req,
              const char *app_id,
              const char *secret,
              gboolean    need_secret)
{
  SbApp *app = sb_find_app (req->self, "business", app_id);

  sb_note_secret (req->self, secret, FALSE);

  if (app == NULL || (need_secret && !sb_secret_matches (app, secret)))
    {
      sb_respond_envelope (req, 40113, "The app_id or secret is wrong, or the app is blocked",
                           NULL);
      return NULL;
    }

  if (!sb_rate_allowed (req->self, app))
    {
      sb_respond_envelope (req, 40100, "Too many requests: the rate limit was exceeded", NULL);
      return NULL;
    }

  return app;
}

static JsonObject *
business_body (Req *req)
{
  JsonObject *body = sb_req_json_object (req);

  if (body == NULL)
    sb_respond_envelope (req, 40002, "The request body must be a JSON object", NULL);

  return body;
}

static void
respond_missing (Req        *req,
                 const char *member)
{
  g_autofree char *message = g_strdup_printf ("%s: Missing data for required field.", member);

  sb_respond_envelope (req, 40002, message, NULL);
}

/* Answers 40002 naming the first of n required fields whose value is missing or empty;
 * values[i] was read from the member names[i]. */
static gboolean
require_fields (Req                *req,
                guint               n,
                const char * const *values,
                const char * const *names)
{
  for (guint i = 0; i < n; i++)
    if (sb_is_empty (values[i]))
      {
        respond_missing (req, names[i]);
        return FALSE;
      }

  return TRUE;
}

/* Consumes a Business code for flow, or answers 40110. */
static SbAuthorization *
take_business_code (Req        *req,
                    SbApp      *app,
                    const char *value,
                    Flow        flow,
                    const char *redirect_uri)
{
  KhSandbox *self = req->self;
  SbCode *code;

  sb_note_secret (self, value, FALSE);
  code = g_hash_table_lookup (self->codes, value);
  if (code == NULL || code->used || code->auth->flow != flow ||
      g_strcmp0 (code->auth->app_key, app->app_key) != 0 ||
      sb_now (self) >= code->expires_at || code->auth->revoked)
    {
      sb_respond_envelope (req, 40110, "Auth code is invalid, used or expired", NULL);
      return NULL;
    }

  /* The exchange must name the redirect URI of the authorization exactly. */
  if (redirect_uri != NULL && g_strcmp0 (redirect_uri, code->auth->redirect_uri) != 0)
    {
      sb_respond_envelope (req, 40002, "redirect_uri does not match the authorization's", NULL);
      return NULL;
    }

  code->used = TRUE;
  return code->auth;
}

static void
handle_biz_access_token (Req *req)
{
  JsonObject *body = business_body (req);
  g_autofree char *app_id = NULL;
  const char *secret;
  const char *auth_code;
  SbAuthorization *auth;
  JsonObject *data;
  JsonArray *ids;
  JsonArray *scope;
  SbApp *app;

  if (body == NULL)
    return;

  app_id = sb_json_dup_id (body, "app_id");
  secret = kh_json_get_string (body, "secret");
  auth_code = kh_json_get_string (body, "auth_code");
  if (!require_fields (req, 3,
                       (const char *[]) { app_id, secret, auth_code },
                       (const char *[]) { "app_id", "secret", "auth_code" }))
    return;

  app = business_app (req, app_id, secret, TRUE);
  if (app == NULL)
    return;

  auth = take_business_code (req, app, auth_code, FLOW_ADVERTISER, NULL);
  if (auth == NULL)
    return;

  sb_issue_tokens (req->self, auth);

  data = json_object_new ();
  ids = json_array_new ();
  scope = json_array_new ();
  json_object_set_string_member (data, "access_token", auth->access->value);
  for (guint i = 0; i < auth->advertisers->len; i++)
    json_array_add_string_element (ids, ((SbAdvertiser *) g_ptr_array_index (auth->advertisers,
                                                                             i))->id);
  json_object_set_array_member (data, "advertiser_ids", ids);
  for (guint i = 0; auth->scopes[i] != NULL; i++)
    json_array_add_int_element (scope, g_ascii_strtoll (auth->scopes[i], NULL, 10));
  json_object_set_array_member (data, "scope", scope);
  respond_success (req, data);
}

static void
handle_biz_advertiser_get (Req *req)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  const char *app_id = sb_qget (req, "app_id");
  const char *secret = sb_qget (req, "secret");
  SbToken *token;
  JsonObject *data;
  JsonArray *list;

  if (!require_fields (req, 2,
                       (const char *[]) { app_id, secret },
                       (const char *[]) { "app_id", "secret" }))
    return;

  if (business_app (req, app_id, secret, TRUE) == NULL)
    return;

  token = business_access_token (req, soup_message_headers_get_one (headers, "Access-Token"),
                                 app_id, FALSE);
  if (token == NULL)
    return;

  if (token->auth->flow != FLOW_ADVERTISER)
    {
      sb_respond_envelope (req, 40001, "No permission: not an advertiser authorization", NULL);
      return;
    }

  list = json_array_new ();
  for (guint i = 0; i < token->auth->advertisers->len; i++)
    {
      SbAdvertiser *advertiser = g_ptr_array_index (token->auth->advertisers, i);
      JsonObject *item = json_object_new ();

      json_object_set_string_member (item, "advertiser_id", advertiser->id);
      json_object_set_string_member (item, "advertiser_name", advertiser->name);
      json_array_add_object_element (list, item);
    }

  data = json_object_new ();
  json_object_set_array_member (data, "list", list);
  respond_success (req, data);
}

static void
handle_biz_revoke (Req      *req,
                   gboolean  tt_user)
{
  JsonObject *body = business_body (req);
  const char *id_member = tt_user ? "client_id" : "app_id";
  const char *secret_member = tt_user ? "client_secret" : "secret";
  g_autofree char *app_id = NULL;
  const char *secret;
  const char *access;
  SbToken *token;

  if (body == NULL)
    return;

  app_id = sb_json_dup_id (body, id_member);
  secret = kh_json_get_string (body, secret_member);
  access = kh_json_get_string (body, "access_token");
  if (!require_fields (req, 3,
                       (const char *[]) { app_id, secret, access },
                       (const char *[]) { id_member, secret_member, "access_token" }))
    return;

  if (business_app (req, app_id, secret, TRUE) == NULL)
    return;

  token = business_access_token (req, access, app_id, TRUE);
  if (token == NULL)
    return;

  if ((token->auth->flow == FLOW_TT_USER) != tt_user)
    {
      sb_respond_envelope (req, 40105,
                           tt_user ? "Access token is not a TikTok account token"
                                   : "Access token is not an advertiser token", NULL);
      return;
    }

  sb_revoke_authorization (token->auth, "revoke");
  respond_success (req, NULL);
}

static JsonObject *
tt_token_data (KhSandbox       *self,
               SbAuthorization *auth)
{
  JsonObject *data = json_object_new ();
  g_autofree char *scope = g_strjoinv (",", auth->scopes);
  gint64 now = sb_now (self);

  json_object_set_string_member (data, "access_token", auth->access->value);
  json_object_set_string_member (data, "token_type", "Bearer");
  /* Seconds from now, unlike Shop; the refresh window is not extended by a refresh. */
  json_object_set_int_member (data, "expires_in", MAX (auth->access->expires_at - now, 0));
  json_object_set_string_member (data, "refresh_token", auth->refresh->value);
  json_object_set_int_member (data, "refresh_token_expires_in",
                              MAX (auth->refresh_expires_at - now, 0));
  json_object_set_string_member (data, "open_id", auth->open_id);
  json_object_set_string_member (data, "scope", scope);

  return data;
}

static void
handle_tt_token (Req *req)
{
  JsonObject *body = business_body (req);
  g_autofree char *client_id = NULL;
  const char *secret;
  const char *grant_type;
  const char *auth_code;
  const char *redirect_uri;
  SbAuthorization *auth;
  SbApp *app;

  if (body == NULL)
    return;

  client_id = sb_json_dup_id (body, "client_id");
  secret = kh_json_get_string (body, "client_secret");
  grant_type = kh_json_get_string (body, "grant_type");
  auth_code = kh_json_get_string (body, "auth_code");
  redirect_uri = kh_json_get_string (body, "redirect_uri");
  if (!require_fields (req, 5,
                       (const char *[]) { client_id, secret, grant_type, auth_code,
                                          redirect_uri },
                       (const char *[]) { "client_id", "client_secret", "grant_type",
                                          "auth_code", "redirect_uri" }))
    return;

  app = business_app (req, client_id, secret, TRUE);
  if (app == NULL)
    return;

  if (g_strcmp0 (grant_type, "authorization_code") != 0)
    {
      sb_respond_envelope (req, 40108, "grant_type must be authorization_code", NULL);
      return;
    }

  auth = take_business_code (req, app, auth_code, FLOW_TT_USER, redirect_uri);
  if (auth == NULL)
    return;

  sb_issue_tokens (req->self, auth);
  respond_success (req, tt_token_data (req->self, auth));
}

static void
handle_tt_refresh (Req *req)
{
  KhSandbox *self = req->self;
  JsonObject *body = business_body (req);
  g_autofree char *client_id = NULL;
  const char *secret;
  const char *grant_type;
  const char *value;
  gint64 now = sb_now (self);
  SbAuthorization *auth;
  SbToken *token;
  SbApp *app;

  if (body == NULL)
    return;

  client_id = sb_json_dup_id (body, "client_id");
  secret = kh_json_get_string (body, "client_secret");
  grant_type = kh_json_get_string (body, "grant_type");
  value = kh_json_get_string (body, "refresh_token");
  if (!require_fields (req, 4,
                       (const char *[]) { client_id, secret, grant_type, value },
                       (const char *[]) { "client_id", "client_secret", "grant_type",
                                          "refresh_token" }))
    return;

  app = business_app (req, client_id, secret, TRUE);
  if (app == NULL)
    return;

  if (g_strcmp0 (grant_type, "refresh_token") != 0)
    {
      sb_respond_envelope (req, 40108, "grant_type must be refresh_token", NULL);
      return;
    }

  sb_note_secret (self, value, FALSE);
  token = g_hash_table_lookup (self->tokens, value);
  if (token == NULL || token->kind != TOKEN_REFRESH || token->auth->flow != FLOW_TT_USER ||
      g_strcmp0 (token->auth->app_key, app->app_key) != 0)
    {
      sb_respond_envelope (req, 40107, "Refresh token is invalid", NULL);
      return;
    }

  auth = token->auth;
  if (auth->revoked)
    {
      sb_respond_envelope (req, 40105, "The authorization has been revoked", NULL);
      return;
    }

  if (now >= auth->refresh_expires_at)
    {
      sb_respond_envelope (req, 40103, "Refresh token has expired", NULL);
      return;
    }

  if (token->superseded)
    {
      if (token != auth->previous_refresh || now - token->superseded_at >= self->refresh_grace)
        {
          sb_respond_envelope (req, 40107, "Refresh token is invalid", NULL);
          return;
        }
    }
  else
    {
      sb_issue_tokens (self, auth);
      auth->refresh_count++;
    }

  respond_success (req, tt_token_data (self, auth));
}

static void
handle_tt_token_info (Req *req)
{
  JsonObject *body = business_body (req);
  g_autofree char *app_id = NULL;
  g_autofree char *scope = NULL;
  const char *access;
  SbToken *token;
  JsonObject *data;

  if (body == NULL)
    return;

  app_id = sb_json_dup_id (body, "app_id");
  access = kh_json_get_string (body, "access_token");
  if (!require_fields (req, 2,
                       (const char *[]) { app_id, access },
                       (const char *[]) { "app_id", "access_token" }))
    return;

  if (business_app (req, app_id, NULL, FALSE) == NULL)
    return;

  token = business_access_token (req, access, app_id, FALSE);
  if (token == NULL)
    return;

  if (token->auth->flow != FLOW_TT_USER)
    {
      sb_respond_envelope (req, 40001, "No permission: not a TikTok account token", NULL);
      return;
    }

  scope = g_strjoinv (",", token->auth->scopes);
  data = json_object_new ();
  json_object_set_string_member (data, "app_id", app_id);
  json_object_set_string_member (data, "creator_id", token->auth->open_id);
  json_object_set_string_member (data, "scope", scope);
  respond_success (req, data);
}

static void
handle_biz_business_get (Req *req)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (req->msg);
  const char *business_id = sb_qget (req, "business_id");
  const char *fields_text = sb_qget (req, "fields");
  g_autoptr(JsonNode) fields_node = NULL;
  g_auto(GStrv) fields = NULL;
  g_autofree char *username = NULL;
  g_autofree char *image = NULL;
  SbToken *token;
  SbApp *app;
  JsonObject *data;

  token = business_access_token (req, soup_message_headers_get_one (headers, "Access-Token"),
                                 NULL, FALSE);
  if (token == NULL)
    return;

  app = sb_find_app (req->self, "business", token->auth->app_key);
  if (app != NULL && !sb_rate_allowed (req->self, app))
    {
      sb_respond_envelope (req, 40100, "Too many requests: the rate limit was exceeded", NULL);
      return;
    }

  if (sb_is_empty (business_id))
    {
      respond_missing (req, "business_id");
      return;
    }

  if (token->auth->flow != FLOW_TT_USER || g_strcmp0 (business_id, token->auth->open_id) != 0)
    {
      sb_respond_envelope (req, 40001, "No permission to access this business_id", NULL);
      return;
    }

  if (fields_text != NULL)
    {
      JsonObject *wrapper;

      /* fields is a JSON array of strings; wrapping it lets kh_json_get_strv check each item. */
      fields_node = kh_json_parse (fields_text, strlen (fields_text), NULL);
      wrapper = json_object_new ();
      if (fields_node != NULL)
        json_object_set_member (wrapper, "fields", json_node_copy (fields_node));
      fields = kh_json_get_strv (wrapper, "fields");
      json_object_unref (wrapper);
      if (fields == NULL)
        {
          sb_respond_envelope (req, 40002, "fields must be a JSON array of strings", NULL);
          return;
        }
    }

  username = g_ascii_strdown (token->auth->display_name, -1);
  g_strdelimit (username, " ", '_');
  image = g_strdup_printf ("https://p16-sign.tiktokcdn.com/sandbox/%s.jpeg", token->auth->open_id);

  data = json_object_new ();
  if (fields == NULL || g_strv_contains ((const char * const *) fields, "display_name"))
    json_object_set_string_member (data, "display_name", token->auth->display_name);
  if (fields == NULL || g_strv_contains ((const char * const *) fields, "profile_image"))
    json_object_set_string_member (data, "profile_image", image);
  if (fields != NULL && g_strv_contains ((const char * const *) fields, "username"))
    json_object_set_string_member (data, "username", username);
  if (fields != NULL && g_strv_contains ((const char * const *) fields, "followers_count"))
    json_object_set_int_member (data, "followers_count", 1200 + (gint64) token->auth->tokens->len);
  respond_success (req, data);
}

/* ---- the Business routes ---------------------------------------------------------------- */

static void
handle_biz_revoke_token (Req *req)
{
  handle_biz_revoke (req, FALSE);
}

static void
handle_tt_revoke (Req *req)
{
  handle_biz_revoke (req, TRUE);
}

const Route sb_business_routes[] = {
  { "business-api.tiktok.com", "/open_api/v1.3/oauth2/access_token/", "POST",
    handle_biz_access_token, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/oauth2/advertiser/get/", "GET",
    handle_biz_advertiser_get, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/oauth2/revoke_token/", "POST",
    handle_biz_revoke_token, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/oauth2/token/", "POST", handle_tt_token,
    0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/oauth2/refresh_token/", "POST",
    handle_tt_refresh, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/oauth2/revoke/", "POST", handle_tt_revoke,
    0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/token_info/get/", "POST",
    handle_tt_token_info, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/business/get/", "GET", handle_biz_business_get,
    0, FALSE },
  { NULL, },
};
