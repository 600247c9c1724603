/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client.c: every call Keyhold makes to TikTok. The parsers at the top are pure
 * functions over untrusted bytes (fuzzed); the client below drives libsoup asynchronously,
 * retries transient failures with backoff, and never lets a secret reach a log line. */

#define G_LOG_DOMAIN "kh-token-client"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-token-client.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-sign.h"
#include "kh-util.h"

#include <libsoup/soup.h>
#include <string.h>

#define SHOP_AUTH_ORIGIN    "https://auth.tiktok-shops.com"
#define SHOP_API_ORIGIN     "https://open-api.tiktokglobalshop.com"
#define BUSINESS_ORIGIN     "https://business-api.tiktok.com"
#define BUSINESS_BASE_PATH  "/open_api/v1.3"
#define SHOPS_PATH          "/authorization/202309/shops"

/* TikTok's answers are a few kilobytes; anything bigger is not TikTok (or is an attack). */
#define MAX_BODY_SIZE       (1024 * 1024)
#define READ_CHUNK_SIZE     (16 * 1024)
/* 3000-01-01T00:00:00Z: a token expiry beyond this is a unit mix-up, not a long grant. */
#define MAX_SANE_TIME       G_GINT64_CONSTANT (32503680000)
/* Server-provided text ends up in error messages: keep it short. */
#define MAX_SERVER_TEXT     200
#define MAX_BACKOFF_MS      30000
#define MAX_TOKEN_LENGTH    4096

#define DEFAULT_MAX_ATTEMPTS   3
#define DEFAULT_BASE_DELAY_MS  500
#define DEFAULT_TIMEOUT_S      30

/* ---- helpers --------------------------------------------------------------------------------- */

static void
wipe_free (gpointer data)
{
  char *str = data;

  if (str != NULL)
    {
      explicit_bzero (str, strlen (str));
      g_free (str);
    }
}

typedef struct {
  guint8 *data;
  gsize   length;
} WipeBlock;

static void
wipe_block_free (gpointer data)
{
  WipeBlock *block = data;

  explicit_bzero (block->data, block->length);
  g_free (block->data);
  g_free (block);
}

/* A GBytes owning a secret-bearing body (JSON with app secrets or tokens), wiped when freed. */
static GBytes *
secret_bytes_new_take (char *text)
{
  WipeBlock *block = g_new0 (WipeBlock, 1);

  block->data = (guint8 *) text;
  block->length = strlen (text);
  return g_bytes_new_with_free_func (block->data, block->length, wipe_block_free, block);
}

static void
wipe_byte_array (GByteArray *array)
{
  if (array == NULL)
    return;
  explicit_bzero (array->data, array->len);
  g_byte_array_unref (array);
}

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
static gboolean
is_token_text (const char *text)
{
  gsize length = 0;

  if (text == NULL || *text == '\0')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++, length++)
    if (*p < 0x21 || *p > 0x7e || length >= MAX_TOKEN_LENGTH)
      return FALSE;
  return TRUE;
}

/* Optional token-like member (see is_token_text): absent or null gives NULL. */
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
      || !is_token_text (json_node_get_string (node)))
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

      return is_token_text (str) ? g_strdup (str) : NULL;
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
  if (!is_token_text (copy))
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
static gboolean
parse_body (const char  *body,
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
static JsonObject *
parse_envelope_full (JsonNode  *root,
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
static gboolean
is_envelope (JsonNode *root)
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

  return parse_envelope_full (root, TRUE, error);
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

static KhTokenResponse *
parse_token_node (KhTokenKind   kind,
                  JsonNode     *root,
                  gint64        now,
                  GError      **error)
{
  g_autoptr(KhTokenResponse) response = NULL;
  JsonObject *data;
  gboolean ok = FALSE;

  data = parse_envelope_full (root, TRUE, error);
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

  if (!parse_body (body, length, &root, error))
    return NULL;
  return parse_token_node (kind, root, now, error);
}

static GPtrArray *
parse_shops_node (JsonNode  *root,
                  GError   **error)
{
  g_autoptr(GPtrArray) shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  JsonObject *data;
  JsonArray *array;

  data = parse_envelope_full (root, TRUE, error);
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

  if (!parse_body (body, length, &root, error))
    return NULL;
  return parse_shops_node (root, error);
}

static GPtrArray *
parse_advertisers_node (JsonNode  *root,
                        GError   **error)
{
  g_autoptr(GPtrArray) advertisers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  JsonObject *data;
  JsonArray *array;

  data = parse_envelope_full (root, TRUE, error);
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

  if (!parse_body (body, length, &root, error))
    return NULL;
  return parse_advertisers_node (root, error);
}

static char *
parse_account_name_node (JsonNode  *root,
                         GError   **error)
{
  JsonObject *data;
  const char *name;

  data = parse_envelope_full (root, TRUE, error);
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

  if (!parse_body (body, length, &root, error))
    return NULL;
  return parse_account_name_node (root, error);
}

/* ---- the client ------------------------------------------------------------------------------ */

struct _KhTokenClient
{
  GObject      parent_instance;

  SoupSession *session;
  guint        max_attempts;
  guint        base_delay_ms;
  guint        timeout;
};

G_DEFINE_FINAL_TYPE (KhTokenClient, kh_token_client, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_TIMEOUT,
  PROP_MAX_ATTEMPTS,
  PROP_BASE_DELAY_MS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

typedef enum {
  OP_EXCHANGE,
  OP_REFRESH,
  OP_REVOKE,
  OP_SHOPS,
  OP_ADVERTISERS,
  OP_ACCOUNT_NAME,
} Operation;

/* One logical call, possibly several HTTP attempts. Everything secret in here (the URL's query,
 * the body, the token header) is wiped when the request is freed. */
typedef struct {
  Operation     op;
  KhTokenKind   kind;
  const char   *method;
  char         *url;            /* original TikTok URL (secrets in the query) */
  const char   *log_host;       /* original host, for logs and error messages */
  char         *log_path;       /* path without query */
  const char   *token_header;   /* "Access-Token", "x-tts-access-token" or NULL */
  char         *token;
  gboolean      json_content_type;  /* GET with content-type: application/json (Open API) */
  GBytes       *body;
  guint         attempt;
  guint         max_attempts;
  guint         base_delay_ms;
  SoupMessage  *message;
  GInputStream *stream;
  GByteArray   *buffer;
  GSource      *retry_source;
  GSource      *cancel_source;
} Request;

static void
request_clear_sources (Request *request)
{
  if (request->retry_source != NULL)
    {
      g_source_destroy (request->retry_source);
      g_clear_pointer (&request->retry_source, g_source_unref);
    }
  if (request->cancel_source != NULL)
    {
      g_source_destroy (request->cancel_source);
      g_clear_pointer (&request->cancel_source, g_source_unref);
    }
}

static void
request_free (Request *request)
{
  request_clear_sources (request);
  wipe_free (request->url);
  g_free (request->log_path);
  wipe_free (request->token);
  g_clear_pointer (&request->body, g_bytes_unref);
  g_clear_object (&request->message);
  g_clear_object (&request->stream);
  g_clear_pointer (&request->buffer, wipe_byte_array);
  g_free (request);
}

static void start_attempt (GTask *task);

static void
kh_token_client_dispose (GObject *object)
{
  KhTokenClient *self = KH_TOKEN_CLIENT (object);

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (kh_token_client_parent_class)->dispose (object);
}

static void
kh_token_client_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  KhTokenClient *self = KH_TOKEN_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout);
      break;
    case PROP_MAX_ATTEMPTS:
      g_value_set_uint (value, self->max_attempts);
      break;
    case PROP_BASE_DELAY_MS:
      g_value_set_uint (value, self->base_delay_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_token_client_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  KhTokenClient *self = KH_TOKEN_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      kh_token_client_set_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_ATTEMPTS:
      kh_token_client_set_retry (self, g_value_get_uint (value), self->base_delay_ms);
      break;
    case PROP_BASE_DELAY_MS:
      kh_token_client_set_retry (self, self->max_attempts, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_token_client_class_init (KhTokenClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = kh_token_client_dispose;
  object_class->get_property = kh_token_client_get_property;
  object_class->set_property = kh_token_client_set_property;

  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL, 0, G_MAXUINT, DEFAULT_TIMEOUT_S, rw);
  properties[PROP_MAX_ATTEMPTS] =
    g_param_spec_uint ("max-attempts", NULL, NULL, 1, G_MAXUINT, DEFAULT_MAX_ATTEMPTS, rw);
  properties[PROP_BASE_DELAY_MS] =
    g_param_spec_uint ("base-delay-ms", NULL, NULL, 0, G_MAXUINT, DEFAULT_BASE_DELAY_MS, rw);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_token_client_init (KhTokenClient *self)
{
  self->max_attempts = DEFAULT_MAX_ATTEMPTS;
  self->base_delay_ms = DEFAULT_BASE_DELAY_MS;
  self->timeout = DEFAULT_TIMEOUT_S;
  /* libsoup allows two connections per host by default, and every token call goes to one host:
   * `refresh --all --jobs 8` would wait for TikTok two calls at a time. The callers bound the
   * concurrency themselves (--jobs, at most 256, and --per-app). */
  self->session = soup_session_new_with_options ("user-agent", "Keyhold/" PACKAGE_VERSION,
                                                 "timeout", self->timeout,
                                                 "max-conns", 256,
                                                 "max-conns-per-host", 256,
                                                 NULL);
}

KhTokenClient *
kh_token_client_new (void)
{
  return g_object_new (KH_TYPE_TOKEN_CLIENT, NULL);
}

void
kh_token_client_set_retry (KhTokenClient *self,
                           guint          max_attempts,
                           guint          base_delay_ms)
{
  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (max_attempts >= 1);

  g_object_freeze_notify (G_OBJECT (self));
  if (self->max_attempts != max_attempts)
    {
      self->max_attempts = max_attempts;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_ATTEMPTS]);
    }
  if (self->base_delay_ms != base_delay_ms)
    {
      self->base_delay_ms = base_delay_ms;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BASE_DELAY_MS]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
kh_token_client_set_timeout (KhTokenClient *self,
                             guint          seconds)
{
  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));

  if (self->timeout == seconds)
    return;
  self->timeout = seconds;
  g_object_set (self->session, "timeout", seconds, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
}

/* ---- request plumbing ------------------------------------------------------------------------ */

/* "key=value&key=value" with every value percent-encoded; NULL-terminated key/value pairs. */
static char *
build_query (const char *first_key,
             ...)
{
  GString *query = g_string_new (NULL);
  const char *key = first_key;
  va_list args;

  va_start (args, first_key);
  while (key != NULL)
    {
      const char *value = va_arg (args, const char *);
      g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);

      if (query->len > 0)
        g_string_append_c (query, '&');
      g_string_append (query, key);
      g_string_append_c (query, '=');
      g_string_append (query, escaped);
      explicit_bzero (escaped, strlen (escaped));
      key = va_arg (args, const char *);
    }
  va_end (args);

  return g_string_free (query, FALSE);
}

/* A JSON body from NULL-terminated string member/value pairs, as a wiped-on-free GBytes. */
static GBytes *
build_json_body (const char *first_member,
                 ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  const char *member = first_member;
  va_list args;

  json_builder_begin_object (builder);
  va_start (args, first_member);
  while (member != NULL)
    {
      json_builder_set_member_name (builder, member);
      json_builder_add_string_value (builder, va_arg (args, const char *));
      member = va_arg (args, const char *);
    }
  va_end (args);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return secret_bytes_new_take (kh_json_to_string (root, FALSE));
}

static Request *
request_new (KhTokenClient *self,
             Operation      op,
             KhTokenKind    kind,
             const char    *method,
             const char    *origin,
             const char    *path,
             char          *query)   /* taken, may be NULL */
{
  Request *request = g_new0 (Request, 1);

  request->op = op;
  request->kind = kind;
  request->method = method;
  request->log_host = origin + strlen ("https://");
  request->log_path = g_strdup (path);
  request->url = query != NULL ? g_strconcat (origin, path, "?", query, NULL)
                               : g_strconcat (origin, path, NULL);
  request->max_attempts = self->max_attempts;
  request->base_delay_ms = self->base_delay_ms;
  wipe_free (query);
  return request;
}

static GTask *
request_task_new (KhTokenClient       *self,
                  Request             *request,
                  gpointer             source_tag,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, request, (GDestroyNotify) request_free);
  return task;
}

/* A failure to talk to TikTok at all. Names the host, never the URL: the Shop token URL carries
 * the app secret in its query. */
static GError *
network_error_new (Request      *request,
                   const GError *cause)
{
  g_autofree char *detail = kh_redact (cause->message);

  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_error_new (KH_ERROR, KH_ERROR_NETWORK,
                        _("%s did not answer in time"), request->log_host);
  return g_error_new (KH_ERROR, KH_ERROR_NETWORK,
                      _("Could not reach %s: %s"), request->log_host, detail);
}

static guint
backoff_delay_ms (Request *request)
{
  guint64 delay = request->base_delay_ms;

  for (guint i = 1; i < request->attempt && delay < MAX_BACKOFF_MS; i++)
    delay *= 2;
  delay = MIN (delay, MAX_BACKOFF_MS);
  if (delay == 0)
    return 0;
  /* Full-range jitter on the upper half: many clients that failed together spread out. */
  return (guint) (delay / 2 + g_random_int_range (0, (gint32) (delay / 2) + 1));
}

static gboolean
retry_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);

  /* The source's reference goes away with the source; the next attempt takes its own. */
  g_object_ref (task);
  request_clear_sources (request);
  start_attempt (task);
  return G_SOURCE_REMOVE;
}

static gboolean
retry_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);

  request_clear_sources (request);
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

static gboolean
should_retry (Request      *request,
              const GError *error,
              gboolean      answered)
{
  if (request->attempt >= request->max_attempts)
    return FALSE;
  if (kh_error_classify (error) != KH_ERROR_CLASS_TRANSIENT)
    return FALSE;
  /* A code is single-use: once TikTok answered an exchange with its envelope, asking again
   * can only fail, unless TikTok itself said "try again" (rate limit, internal error). */
  if (request->op == OP_EXCHANGE && answered && error->domain != KH_API_ERROR)
    return FALSE;
  return TRUE;
}

/* Ends one attempt with error: retries after a backoff when that can help, else fails the task. */
static void
attempt_failed (GTask    *task,
                GError   *error,
                gboolean  answered)
{
  Request *request = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  guint delay;

  g_clear_object (&request->message);
  g_clear_object (&request->stream);
  g_clear_pointer (&request->buffer, wipe_byte_array);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || g_cancellable_is_cancelled (cancellable))
    {
      g_error_free (error);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The operation was cancelled"));
      g_object_unref (task);
      return;
    }

  if (!should_retry (request, error, answered))
    {
      g_debug ("%s %s%s failed after %u attempt(s)",
               request->method, request->log_host, request->log_path, request->attempt);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  delay = backoff_delay_ms (request);
  g_debug ("%s %s%s: transient failure, retrying in %u ms",
           request->method, request->log_host, request->log_path, delay);
  g_error_free (error);

  /* The task reference of this attempt moves to the sources: whichever fires first wins and
   * destroys the other. Nothing sleeps; the main loop keeps running. */
  request->retry_source = g_timeout_source_new (delay);
  g_source_set_callback (request->retry_source, retry_timeout_cb,
                         g_object_ref (task), g_object_unref);
  g_source_attach (request->retry_source, g_task_get_context (task));
  if (cancellable != NULL)
    {
      request->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (request->cancel_source, G_SOURCE_FUNC (retry_cancelled_cb),
                             g_object_ref (task), g_object_unref);
      g_source_attach (request->cancel_source, g_task_get_context (task));
    }
  g_object_unref (task);
}

static void
return_result (GTask    *task,
               JsonNode *root,
               GError  **error)
{
  Request *request = g_task_get_task_data (task);

  switch (request->op)
    {
    case OP_EXCHANGE:
    case OP_REFRESH:
      {
        KhTokenResponse *response = parse_token_node (request->kind, root, kh_now (), error);

        if (response != NULL)
          g_task_return_pointer (task, response, (GDestroyNotify) kh_token_response_free);
      }
      break;
    case OP_REVOKE:
      if (parse_envelope_full (root, FALSE, error) != NULL)
        g_task_return_boolean (task, TRUE);
      break;
    case OP_SHOPS:
      {
        GPtrArray *shops = parse_shops_node (root, error);

        if (shops != NULL)
          g_task_return_pointer (task, shops, (GDestroyNotify) g_ptr_array_unref);
      }
      break;
    case OP_ADVERTISERS:
      {
        GPtrArray *advertisers = parse_advertisers_node (root, error);

        if (advertisers != NULL)
          g_task_return_pointer (task, advertisers, (GDestroyNotify) g_ptr_array_unref);
      }
      break;
    case OP_ACCOUNT_NAME:
      {
        char *name = parse_account_name_node (root, error);

        if (name != NULL)
          g_task_return_pointer (task, name, g_free);
      }
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
attempt_complete (GTask *task)
{
  Request *request = g_task_get_task_data (task);
  guint status = soup_message_get_status (request->message);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) parse_error = NULL;
  GError *error = NULL;
  gboolean answered;

  parse_body ((const char *) request->buffer->data, request->buffer->len, &root, &parse_error);
  g_clear_pointer (&request->buffer, wipe_byte_array);
  answered = is_envelope (root);

  g_debug ("%s %s%s: HTTP %u", request->method, request->log_host, request->log_path, status);

  /* TikTok's envelope is authoritative whatever the HTTP status; without one, the status
   * says what went wrong. */
  if (!answered && !SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      if (status >= 500 || status == 429)
        error = g_error_new (KH_ERROR, KH_ERROR_NETWORK,
                             _("TikTok answered HTTP %u"), status);
      else
        error = g_error_new (KH_ERROR, KH_ERROR_BAD_RESPONSE,
                             _("TikTok answered HTTP %u without a valid reply"), status);
      attempt_failed (task, error, FALSE);
      return;
    }
  if (root == NULL)
    {
      attempt_failed (task, g_steal_pointer (&parse_error), FALSE);
      return;
    }

  return_result (task, root, &error);
  if (error != NULL)
    {
      attempt_failed (task, error, answered);
      return;
    }
  g_object_unref (task);
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gsize size;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (bytes == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        attempt_failed (task, g_steal_pointer (&error), FALSE);
      else
        attempt_failed (task, network_error_new (request, error), FALSE);
      return;
    }

  size = g_bytes_get_size (bytes);
  if (size == 0)
    {
      attempt_complete (task);
      return;
    }

  if (request->buffer->len + size > MAX_BODY_SIZE)
    {
      attempt_failed (task,
                      g_error_new (KH_ERROR, KH_ERROR_BAD_RESPONSE,
                                   _("The answer of %s is larger than 1 MiB"), request->log_host),
                      FALSE);
      return;
    }
  g_byte_array_append (request->buffer, g_bytes_get_data (bytes, NULL), size);
  /* The chunk may hold a token: wipe libsoup's copy now that it is in our buffer. */
  explicit_bzero ((gpointer) g_bytes_get_data (bytes, NULL), size);

  g_input_stream_read_bytes_async (request->stream, READ_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), read_cb, task);
}

static void
send_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  goffset content_length;

  request->stream = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  if (request->stream == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        attempt_failed (task, g_steal_pointer (&error), FALSE);
      else
        attempt_failed (task, network_error_new (request, error), FALSE);
      return;
    }

  content_length =
    soup_message_headers_get_content_length (soup_message_get_response_headers (request->message));
  if (content_length > MAX_BODY_SIZE)
    {
      attempt_failed (task,
                      g_error_new (KH_ERROR, KH_ERROR_BAD_RESPONSE,
                                   _("The answer of %s is larger than 1 MiB"), request->log_host),
                      FALSE);
      return;
    }

  request->buffer = g_byte_array_sized_new (content_length > 0 ? (guint) content_length
                                                               : READ_CHUNK_SIZE);
  g_input_stream_read_bytes_async (request->stream, READ_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), read_cb, task);
}

/* Each attempt owns one reference to the task, released when the attempt ends in a result, an
 * error, or is handed to the retry timer. */
static void
start_attempt (GTask *task)
{
  KhTokenClient *self = g_task_get_source_object (task);
  Request *request = g_task_get_task_data (task);
  g_autofree char *url = NULL;
  SoupMessageHeaders *headers;

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }

  request->attempt++;
  url = kh_origin_map_rewrite (request->url);
  request->message = url != NULL ? soup_message_new (request->method, url) : NULL;
  if (url != NULL)
    explicit_bzero (url, strlen (url));
  if (request->message == NULL)
    {
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Could not build a request for %s"), request->log_host);
      g_object_unref (task);
      return;
    }

  headers = soup_message_get_request_headers (request->message);
  soup_message_headers_replace (headers, "Accept", "application/json");
  if (request->token_header != NULL)
    soup_message_headers_replace (headers, request->token_header, request->token);
  if (request->json_content_type)
    soup_message_headers_replace (headers, "Content-Type", "application/json");
  if (request->body != NULL)
    soup_message_set_request_body_from_bytes (request->message, "application/json",
                                              request->body);

  /* Method, host and path only: the query and the body carry secrets. */
  g_debug ("%s %s%s (attempt %u of %u)", request->method, request->log_host,
           request->log_path, request->attempt, request->max_attempts);

  soup_session_send_async (self->session, request->message, G_PRIORITY_DEFAULT,
                           g_task_get_cancellable (task), send_cb, task);
}

static gboolean
check_family (GTask         *task,
              KhAppProfile  *app,
              KhTokenKind    kind)
{
  KhFamily wanted = kind == KH_TOKEN_KIND_SHOP ? KH_FAMILY_SHOP : KH_FAMILY_BUSINESS;

  if (kh_app_profile_get_family (app) != wanted)
    {
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("The app “%s” belongs to the other family of TikTok apps"),
                               kh_app_profile_get_name (app));
      g_object_unref (task);
      return FALSE;
    }
  return TRUE;
}

/* The access token goes into an HTTP header: refuse one that could split or corrupt it before
 * libsoup sees it. */
static gboolean
check_header_token (KhTokenClient       *self,
                    const char          *access_token,
                    GAsyncReadyCallback  callback,
                    gpointer             user_data,
                    gpointer             source_tag)
{
  if (is_token_text (access_token))
    return TRUE;
  g_task_report_new_error (self, callback, user_data, source_tag,
                           KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The stored access token is malformed"));
  return FALSE;
}

static char *
business_path (const char *path)
{
  return g_strconcat (BUSINESS_BASE_PATH, path, NULL);
}

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
      request = request_new (self, OP_EXCHANGE, kind, "GET", SHOP_AUTH_ORIGIN,
                             "/api/v2/token/get",
                             build_query ("app_key", app_key,
                                          "app_secret", app_secret,
                                          "auth_code", code,
                                          "grant_type", "authorized_code",
                                          NULL));
      break;
    case KH_TOKEN_KIND_ADVERTISER:
      {
        g_autofree char *path = business_path ("/oauth2/access_token/");

        request = request_new (self, OP_EXCHANGE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = build_json_body ("app_id", app_key,
                                         "secret", app_secret,
                                         "auth_code", code,
                                         NULL);
      }
      break;
    case KH_TOKEN_KIND_TT_USER:
      {
        g_autofree char *path = business_path ("/tt_user/oauth2/token/");

        if (redirect_uri == NULL)
          redirect_uri = kh_app_profile_get_redirect_uri (app);
        request = request_new (self, OP_EXCHANGE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = build_json_body ("client_id", app_key,
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

  task = request_task_new (self, request, kh_token_client_exchange_async,
                           cancellable, callback, user_data);
  if (check_family (task, app, kind))
    start_attempt (task);
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
      request = request_new (self, OP_REFRESH, kind, "GET", SHOP_AUTH_ORIGIN,
                             "/api/v2/token/refresh",
                             build_query ("app_key", app_key,
                                          "app_secret", app_secret,
                                          "refresh_token", refresh_token,
                                          "grant_type", "refresh_token",
                                          NULL));
      break;
    case KH_TOKEN_KIND_TT_USER:
      {
        g_autofree char *path = business_path ("/tt_user/oauth2/refresh_token/");

        request = request_new (self, OP_REFRESH, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = build_json_body ("client_id", app_key,
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

  task = request_task_new (self, request, kh_token_client_refresh_async,
                           cancellable, callback, user_data);
  if (check_family (task, app, kind))
    start_attempt (task);
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
        g_autofree char *path = business_path ("/oauth2/revoke_token/");

        request = request_new (self, OP_REVOKE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = build_json_body ("app_id", app_key,
                                         "secret", app_secret,
                                         "access_token", access_token,
                                         NULL);
      }
      break;
    case KH_TOKEN_KIND_TT_USER:
      {
        g_autofree char *path = business_path ("/tt_user/oauth2/revoke/");

        request = request_new (self, OP_REVOKE, kind, "POST", BUSINESS_ORIGIN, path, NULL);
        request->body = build_json_body ("client_id", app_key,
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

  task = request_task_new (self, request, kh_token_client_revoke_async,
                           cancellable, callback, user_data);
  if (check_family (task, app, kind))
    start_attempt (task);
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

  if (!check_header_token (self, access_token, callback, user_data,
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

  request = request_new (self, OP_SHOPS, KH_TOKEN_KIND_SHOP, "GET", SHOP_API_ORIGIN, SHOPS_PATH,
                         build_query ("app_key", app_key,
                                      "timestamp", timestamp,
                                      "sign", sign,
                                      NULL));
  request->token_header = "x-tts-access-token";
  request->token = g_strdup (access_token);
  request->json_content_type = TRUE;

  task = request_task_new (self, request, kh_token_client_get_shops_async,
                           cancellable, callback, user_data);
  if (check_family (task, app, KH_TOKEN_KIND_SHOP))
    start_attempt (task);
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

  if (!check_header_token (self, access_token, callback, user_data,
                           kh_token_client_get_advertisers_async))
    return;

  path = business_path ("/oauth2/advertiser/get/");
  request = request_new (self, OP_ADVERTISERS, KH_TOKEN_KIND_ADVERTISER, "GET",
                         BUSINESS_ORIGIN, path,
                         build_query ("app_id", kh_app_profile_get_app_key (app),
                                      "secret", app_secret,
                                      NULL));
  request->token_header = "Access-Token";
  request->token = g_strdup (access_token);

  task = request_task_new (self, request, kh_token_client_get_advertisers_async,
                           cancellable, callback, user_data);
  if (check_family (task, app, KH_TOKEN_KIND_ADVERTISER))
    start_attempt (task);
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

  if (!check_header_token (self, access_token, callback, user_data,
                           kh_token_client_get_account_name_async))
    return;

  path = business_path ("/business/get/");
  request = request_new (self, OP_ACCOUNT_NAME, KH_TOKEN_KIND_TT_USER, "GET",
                         BUSINESS_ORIGIN, path,
                         build_query ("business_id", open_id,
                                      "fields", "[\"display_name\",\"profile_image\"]",
                                      NULL));
  request->token_header = "Access-Token";
  request->token = g_strdup (access_token);

  task = request_task_new (self, request, kh_token_client_get_account_name_async,
                           cancellable, callback, user_data);
  start_attempt (task);
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
