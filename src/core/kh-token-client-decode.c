/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client-decode.c: turning TikTok's answers into Keyhold's types: the envelope and its
 * error, token responses of both families, shops, advertisers, account names. Pure functions
 * over untrusted bytes (fuzzed): nothing here talks to the network. */

#define G_LOG_DOMAIN "kh-token-client"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-token-client.h"
#include "kh-token-client-private.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-util.h"

#include <string.h>

/* 3000-01-01T00:00:00Z: a token expiry beyond this is a unit mix-up, not a long grant. */
#define MAX_SANE_TIME       G_GINT64_CONSTANT (32503680000)
/* Server-provided text ends up in error messages: keep it short. */
#define MAX_SERVER_TEXT     200
#define MAX_TOKEN_LENGTH    4096

/* ---- helpers --------------------------------------------------------------------------------- */

/* Server text (message, request_id) is untrusted: valid UTF-8, no control characters, short. */
static char *
sanitize_server_text (const char *text)
{
  g_autofree char *valid = NULL;
  GString *out;
  guint n = 0;

  if (text == NULL || *text == '\0')
    return NULL;

  valid = g_utf8_make_valid (text, -1);
  out = g_string_new (NULL);
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (n++ == MAX_SERVER_TEXT)
        {
          g_string_append (out, "…");
          break;
        }
      if (g_unichar_iscntrl (c) || c == 0x2028 || c == 0x2029)
        g_string_append_c (out, ' ');
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

static gboolean
bad_response (GError     **error,
              const char  *member)
{
  g_set_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
               _("TikTok’s answer has no valid “%s”"), member);
  return FALSE;
}

/* Tokens, ids, ciphers and scopes end up in HTTP headers, query strings, keyring attributes and
 * terminals: only visible ASCII is accepted (a newline in a token would split a header). */
gboolean
kh_tc_is_token_text (const char *text)
{
  gsize length = 0;

  if (text == NULL || *text == '\0')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++, length++)
    if (*p < 0x21 || *p > 0x7e || length >= MAX_TOKEN_LENGTH)
      return FALSE;
  return TRUE;
}

/* Optional token-like member (see kh_tc_is_token_text): absent or null gives NULL. */
static gboolean
get_optional_token (JsonObject  *object,
                    const char  *member,
                    char       **out,
                    GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (json_node_get_value_type (node) != G_TYPE_STRING
      || !kh_tc_is_token_text (json_node_get_string (node)))
    return bad_response (error, member);
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
get_required_token (JsonObject  *object,
                    const char  *member,
                    char       **out,
                    GError     **error)
{
  if (!get_optional_token (object, member, out, error))
    return FALSE;
  if (*out == NULL)
    return bad_response (error, member);
  return TRUE;
}

/* Optional human text (names, regions): made safe to show, NULL when absent or empty. */
static gboolean
get_optional_text (JsonObject  *object,
                   const char  *member,
                   char       **out,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (json_node_get_value_type (node) != G_TYPE_STRING)
    return bad_response (error, member);
  *out = sanitize_server_text (json_node_get_string (node));
  return TRUE;
}

/* Optional integer member; *present tells whether it was there. */
static gboolean
get_optional_int (JsonObject  *object,
                  const char  *member,
                  gint64      *out,
                  gboolean    *present,
                  GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = 0;
  *present = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!kh_json_get_int (object, member, out))
    return bad_response (error, member);
  *present = TRUE;
  return TRUE;
}

static gboolean
get_required_int (JsonObject  *object,
                  const char  *member,
                  gint64      *out,
                  GError     **error)
{
  gboolean present;

  if (!get_optional_int (object, member, out, &present, error))
    return FALSE;
  if (!present)
    return bad_response (error, member);
  return TRUE;
}

/* TikTok sends ids as strings or as numbers depending on the API: both become decimal strings.
 * Doubles are refused: a 19-digit id does not survive a trip through a double. */
static char *
id_from_node (JsonNode *node)
{
  if (node == NULL)
    return NULL;
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    {
      const char *str = json_node_get_string (node);

      return kh_tc_is_token_text (str) ? g_strdup (str) : NULL;
    }
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
  return NULL;
}

/* Adds item without surrounding blanks; empty items are dropped, others must be token text. */
static gboolean
strv_builder_add_trimmed (GPtrArray  *out,
                          const char *item)
{
  g_autofree char *copy = g_strstrip (g_strdup (item));

  if (*copy == '\0')
    return TRUE;
  if (!kh_tc_is_token_text (copy))
    return FALSE;
  g_ptr_array_add (out, g_steal_pointer (&copy));
  return TRUE;
}

/* Scopes come as str[] (Shop), int[] (Marketing API) or a comma-separated string (Accounts API):
 * every form is normalised to a NULL-terminated array of strings. Absent or null is empty.
 * allow_string: the comma-separated form is expected here (elsewhere it is a wrong type). */
static gboolean
get_scope_list (JsonObject   *object,
                const char   *member,
                gboolean      allow_string,
                char       ***out,
                gboolean     *present,
                GError      **error)
{
  JsonNode *node = json_object_get_member (object, member);
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_free);

  *out = NULL;
  if (present != NULL)
    *present = FALSE;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = g_new0 (char *, 1);
      return TRUE;
    }

  if (allow_string && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      g_auto(GStrv) parts = g_strsplit (json_node_get_string (node), ",", -1);

      for (guint i = 0; parts[i] != NULL; i++)
        if (!strv_builder_add_trimmed (items, parts[i]))
          return bad_response (error, member);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          g_autofree char *item = id_from_node (json_array_get_element (array, i));

          if (item == NULL || !strv_builder_add_trimmed (items, item))
            return bad_response (error, member);
        }
    }
  else
    return bad_response (error, member);

  g_ptr_array_add (items, NULL);
  *out = (char **) g_ptr_array_free (g_steal_pointer (&items), FALSE);
  if (present != NULL)
    *present = TRUE;
  return TRUE;
}

static gboolean
check_access_expiry (gint64   expires_at,
                     gint64   now,
                     GError **error)
{
  if (expires_at <= now || expires_at > MAX_SANE_TIME)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                           _("TikTok answered with an access token that is already expired "
                             "or has an impossible expiry time"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_refresh_expiry (gint64   expires_at,
                      GError **error)
{
  if (expires_at < 0 || expires_at > MAX_SANE_TIME)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                           _("TikTok answered with a refresh token that has an impossible "
                             "expiry time"));
      return FALSE;
    }
  return TRUE;
}

/* Parses a body into root. An empty or whitespace-only body is no JSON at all. */
gboolean
kh_tc_parse_body (const char  *body,
                  gsize        length,
                  JsonNode   **root,
                  GError     **error)
{
  GError *local_error = NULL;

  *root = kh_json_parse (body != NULL ? body : "", length, &local_error);
  if (local_error != NULL)
    {
      g_clear_pointer (root, json_node_unref);
      g_propagate_error (error, local_error);
      return FALSE;
    }
  if (*root == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                           _("TikTok’s answer is empty"));
      return FALSE;
    }
  return TRUE;
}

/* ---- parsers --------------------------------------------------------------------------------- */

void
kh_token_response_free (KhTokenResponse *self)
{
  if (self == NULL)
    return;

  g_clear_pointer (&self->tokens, kh_token_set_free);
  g_free (self->open_id);
  g_free (self->seller_name);
  g_free (self->seller_base_region);
  g_strfreev (self->scopes);
  g_strfreev (self->advertiser_ids);
  g_free (self->request_id);
  g_free (self);
}

/* The envelope check behind kh_parse_envelope; revoke answers may carry no data at all, so
 * require_data can be FALSE (then the root object stands in for data). */
JsonObject *
kh_tc_parse_envelope_full (JsonNode  *root,
                           gboolean   require_data,
                           GError   **error)
{
  JsonObject *object = root != NULL ? kh_json_node_object (root) : NULL;
  JsonObject *data;
  gint64 code;

  if (object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                           _("TikTok’s answer is not a JSON object"));
      return NULL;
    }
  if (!kh_json_get_int (object, "code", &code) || code < G_MININT || code > G_MAXINT)
    {
      bad_response (error, "code");
      return NULL;
    }

  if (code != 0)
    {
      /* kh_api_error_new makes TikTok's text safe to show (UTF-8, no controls, redacted). */
      g_propagate_error (error, kh_api_error_new ((int) code,
                                                  kh_json_get_string (object, "message"),
                                                  kh_json_get_string (object, "request_id")));
      return NULL;
    }

  data = kh_json_get_object (object, "data");
  if (data == NULL && require_data)
    {
      bad_response (error, "data");
      return NULL;
    }
  return data != NULL ? data : object;
}

/* Whether root looks like TikTok's envelope at all (an object with an integer code): such an
 * answer is authoritative whatever the HTTP status. */
gboolean
kh_tc_is_envelope (JsonNode *root)
{
  JsonObject *object = root != NULL ? kh_json_node_object (root) : NULL;
  gint64 code;

  return object != NULL && kh_json_get_int (object, "code", &code);
}

JsonObject *
kh_parse_envelope (JsonNode  *root,
                   GError   **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return kh_tc_parse_envelope_full (root, TRUE, error);
}

static gboolean
parse_shop_token (JsonObject       *data,
                  gint64            now,
                  KhTokenResponse  *response,
                  GError          **error)
{
  KhTokenSet *tokens = response->tokens;
  gint64 user_type;
  gboolean present;

  /* Shop *_expire_in are ABSOLUTE Unix times (1660556783 = 2022-08-15T09:46:23Z), not
   * durations: the classic unit bug. */
  if (!get_required_int (data, "access_token_expire_in", &tokens->access_expires_at, error)
      || !check_access_expiry (tokens->access_expires_at, now, error))
    return FALSE;

  /* "Unlimited" authorizations come as far-future times (4903858076): kept as they are. */
  if (!get_required_token (data, "refresh_token", &tokens->refresh_token, error)
      || !get_required_int (data, "refresh_token_expire_in", &tokens->refresh_expires_at, error)
      || !check_refresh_expiry (tokens->refresh_expires_at, error))
    return FALSE;

  if (!get_optional_token (data, "open_id", &response->open_id, error)
      || !get_optional_text (data, "seller_name", &response->seller_name, error)
      || !get_optional_text (data, "seller_base_region", &response->seller_base_region, error)
      || !get_optional_int (data, "user_type", &user_type, &present, error))
    return FALSE;
  if (present)
    {
      if (user_type < 0 || user_type > G_MAXINT)
        return bad_response (error, "user_type");
      response->user_type = (int) user_type;
    }

  /* Older documents name the list granted_permissions, or leave it out: accept all three. */
  if (!get_scope_list (data, "granted_scopes", FALSE, &response->scopes, &present, error))
    return FALSE;
  if (!present)
    {
      g_clear_pointer (&response->scopes, g_strfreev);
      if (!get_scope_list (data, "granted_permissions", FALSE, &response->scopes, NULL, error))
        return FALSE;
    }

  return TRUE;
}

static gboolean
parse_advertiser_token (JsonObject       *data,
                        KhTokenResponse  *response,
                        GError          **error)
{
  /* Marketing API tokens never expire and have no refresh token: the zeros of KhTokenSet. */
  if (!get_scope_list (data, "advertiser_ids", FALSE, &response->advertiser_ids, NULL, error)
      || !get_scope_list (data, "scope", FALSE, &response->scopes, NULL, error))
    return FALSE;
  return TRUE;
}

static gboolean
parse_tt_user_token (JsonObject       *data,
                     gint64            now,
                     KhTokenResponse  *response,
                     GError          **error)
{
  KhTokenSet *tokens = response->tokens;
  g_autofree char *token_type = NULL;
  gint64 expires_in, refresh_expires_in;

  /* Accounts API lifetimes are SECONDS from the answer: made absolute here. */
  if (!get_required_int (data, "expires_in", &expires_in, error))
    return FALSE;
  if (expires_in <= 0 || expires_in > MAX_SANE_TIME - now)
    return check_access_expiry (-1, now, error);
  tokens->access_expires_at = now + expires_in;
  if (!check_access_expiry (tokens->access_expires_at, now, error))
    return FALSE;

  if (!get_required_token (data, "refresh_token", &tokens->refresh_token, error)
      || !get_required_int (data, "refresh_token_expires_in", &refresh_expires_in, error))
    return FALSE;
  if (refresh_expires_in <= 0 || refresh_expires_in > MAX_SANE_TIME - now)
    return check_refresh_expiry (-1, error);
  tokens->refresh_expires_at = now + refresh_expires_in;

  if (!get_optional_text (data, "token_type", &token_type, error)
      || !get_optional_token (data, "open_id", &response->open_id, error)
      || !get_scope_list (data, "scope", TRUE, &response->scopes, NULL, error))
    return FALSE;

  return TRUE;
}

KhTokenResponse *
kh_tc_parse_token_node (KhTokenKind   kind,
                        JsonNode     *root,
                        gint64        now,
                        GError      **error)
{
  g_autoptr(KhTokenResponse) response = NULL;
  JsonObject *data;
  gboolean ok = FALSE;

  data = kh_tc_parse_envelope_full (root, TRUE, error);
  if (data == NULL)
    return NULL;

  response = g_new0 (KhTokenResponse, 1);
  response->tokens = kh_token_set_new ();
  response->user_type = -1;
  response->request_id = sanitize_server_text (kh_json_get_string (kh_json_node_object (root),
                                                                   "request_id"));

  if (!get_required_token (data, "access_token", &response->tokens->access_token, error))
    return NULL;

  switch (kind)
    {
    case KH_TOKEN_KIND_SHOP:
      ok = parse_shop_token (data, now, response, error);
      break;
    case KH_TOKEN_KIND_ADVERTISER:
      ok = parse_advertiser_token (data, response, error);
      break;
    case KH_TOKEN_KIND_TT_USER:
      ok = parse_tt_user_token (data, now, response, error);
      break;
    default:
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT, _("Unknown token kind"));
      break;
    }
  if (!ok)
    return NULL;

  if (response->scopes == NULL)
    response->scopes = g_new0 (char *, 1);
  if (response->advertiser_ids == NULL)
    response->advertiser_ids = g_new0 (char *, 1);

  return g_steal_pointer (&response);
}

KhTokenResponse *
kh_parse_token_response (KhTokenKind   kind,
                         const char   *body,
                         gsize         length,
                         gint64        now,
                         GError      **error)
{
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (body != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_tc_parse_body (body, length, &root, error))
    return NULL;
  return kh_tc_parse_token_node (kind, root, now, error);
}

GPtrArray *
kh_tc_parse_shops_node (JsonNode  *root,
                        GError   **error)
{
  g_autoptr(GPtrArray) shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  JsonObject *data;
  JsonArray *array;

  data = kh_tc_parse_envelope_full (root, TRUE, error);
  if (data == NULL)
    return NULL;
  array = kh_json_get_array (data, "shops");
  if (array == NULL)
    {
      bad_response (error, "shops");
      return NULL;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *item = kh_json_node_object (json_array_get_element (array, i));
      g_autoptr(KhShop) shop = NULL;

      if (item == NULL)
        {
          bad_response (error, "shops");
          return NULL;
        }
      shop = g_new0 (KhShop, 1);
      shop->id = id_from_node (json_object_get_member (item, "id"));
      if (shop->id == NULL)
        {
          bad_response (error, "id");
          return NULL;
        }
      if (!get_optional_text (item, "name", &shop->name, error)
          || !get_optional_text (item, "region", &shop->region, error)
          || !get_optional_text (item, "seller_type", &shop->seller_type, error)
          || !get_optional_token (item, "cipher", &shop->cipher, error)
          || !get_optional_token (item, "code", &shop->code, error))
        return NULL;
      g_ptr_array_add (shops, g_steal_pointer (&shop));
    }

  return g_steal_pointer (&shops);
}

GPtrArray *
kh_parse_shops (const char  *body,
                gsize        length,
                GError     **error)
{
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (body != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_tc_parse_body (body, length, &root, error))
    return NULL;
  return kh_tc_parse_shops_node (root, error);
}

GPtrArray *
kh_tc_parse_advertisers_node (JsonNode  *root,
                              GError   **error)
{
  g_autoptr(GPtrArray) advertisers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  JsonObject *data;
  JsonArray *array;

  data = kh_tc_parse_envelope_full (root, TRUE, error);
  if (data == NULL)
    return NULL;
  array = kh_json_get_array (data, "list");
  if (array == NULL)
    {
      bad_response (error, "list");
      return NULL;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *item = kh_json_node_object (json_array_get_element (array, i));
      g_autoptr(KhAdvertiser) advertiser = NULL;

      if (item == NULL)
        {
          bad_response (error, "list");
          return NULL;
        }
      advertiser = g_new0 (KhAdvertiser, 1);
      advertiser->id = id_from_node (json_object_get_member (item, "advertiser_id"));
      if (advertiser->id == NULL)
        {
          bad_response (error, "advertiser_id");
          return NULL;
        }
      if (!get_optional_text (item, "advertiser_name", &advertiser->name, error))
        return NULL;
      g_ptr_array_add (advertisers, g_steal_pointer (&advertiser));
    }

  return g_steal_pointer (&advertisers);
}

GPtrArray *
kh_parse_advertisers (const char  *body,
                      gsize        length,
                      GError     **error)
{
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (body != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_tc_parse_body (body, length, &root, error))
    return NULL;
  return kh_tc_parse_advertisers_node (root, error);
}

char *
kh_tc_parse_account_name_node (JsonNode  *root,
                               GError   **error)
{
  JsonObject *data;
  const char *name;

  data = kh_tc_parse_envelope_full (root, TRUE, error);
  if (data == NULL)
    return NULL;

  name = kh_json_get_string (data, "display_name");
  if (name == NULL || *name == '\0')
    name = kh_json_get_string (data, "username");
  if (name == NULL || *name == '\0')
    {
      bad_response (error, "display_name");
      return NULL;
    }
  return sanitize_server_text (name);
}

char *
kh_parse_account_name (const char  *body,
                       gsize        length,
                       GError     **error)
{
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (body != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_tc_parse_body (body, length, &root, error))
    return NULL;
  return kh_tc_parse_account_name_node (root, error);
}
