/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox-control.c: the sandbox's control plane, what tests steer it with rather than what
 * a client sees: the movable clock, injected faults and delays, the ledger of everything issued,
 * the settings (kh_sandbox_configure, apps from JSON) and the /_sandbox/ control endpoint that
 * exposes all of them over HTTP. */

#define G_LOG_DOMAIN "kh-sandbox-control"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox-private.h"

#include <string.h>

/* A flow as the ledger and the control endpoint name it. */
static const char * const flow_names[] = {
  "seller", "creator", "partner", "advertiser", "tiktok-account",
};

/* ---- the clock -------------------------------------------------------------------------- */

static gint64
sandbox_now_usec (KhSandbox *self)
{
  gint64 real_elapsed = g_get_real_time () - self->clock_anchor_real;

  return self->clock_anchor_sandbox + (gint64) ((double) real_elapsed * self->clock_speed);
}

gint64
sb_now (KhSandbox *self)
{
  return sandbox_now_usec (self) / G_USEC_PER_SEC;
}

static void
reanchor_clock (KhSandbox *self)
{
  gint64 now = sandbox_now_usec (self);

  self->clock_anchor_real = g_get_real_time ();
  self->clock_anchor_sandbox = now;
}

/* ---- delays and faults ------------------------------------------------------------------ */

static gboolean
delay_done_cb (gpointer user_data)
{
  SbDelay *delay = user_data;

  delay->source_id = 0;
  soup_server_unpause_message (delay->server, delay->msg);
  g_ptr_array_remove_fast (delay->self->pending, delay);

  return G_SOURCE_REMOVE;
}

/* Holds the already prepared answer back for ms without blocking the main loop. */
void
sb_delay_response (KhSandbox         *self,
                   SoupServer        *server,
                   SoupServerMessage *msg,
                   const char        *path,
                   guint              ms)
{
  SbDelay *delay = g_new0 (SbDelay, 1);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight, path)) + 1;

  /* How many answers of one path are held back at once: what a client's concurrency limit
   * (keyhold-cli refresh --jobs / --per-app) looks like from TikTok's side. */
  g_hash_table_replace (self->in_flight, (gpointer) path, GUINT_TO_POINTER (n));
  if (n > GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight_peak, path)))
    g_hash_table_replace (self->in_flight_peak, (gpointer) path, GUINT_TO_POINTER (n));

  delay->self = self;
  delay->path = path;
  delay->server = g_object_ref (server);
  delay->msg = g_object_ref (msg);
  soup_server_pause_message (server, msg);
  delay->source_id = g_timeout_add (ms, delay_done_cb, delay);
  g_ptr_array_add (self->pending, delay);
}

gboolean
sb_take_fault (KhSandbox *self,
               const char *path,
               gboolean    is_api,
               SbFault    *out)
{
  for (GList *l = self->faults.head; l != NULL; l = l->next)
    {
      SbFault *fault = l->data;

      if (g_strcmp0 (fault->path, path) != 0 && !(is_api && g_strcmp0 (fault->path, "*") == 0))
        continue;

      out->kind = fault->kind;
      out->value = fault->value;
      if (--fault->remaining == 0)
        {
          g_queue_delete_link (&self->faults, l);
          sb_fault_free (fault);
        }
      return TRUE;
    }

  return FALSE;
}

void
sb_drop_connection (SoupServerMessage *msg)
{
  g_autoptr(GIOStream) stream = soup_server_message_steal_connection (msg);

  if (stream != NULL)
    g_io_stream_close (stream, NULL, NULL);
}

/* ---- the ledger ------------------------------------------------------------------------- */

/* Whether a refresh with this refresh token would succeed now: the current one, or the one the
 * last rotation replaced while the grace lasts (it gets the current pair again). */
static gboolean
refresh_token_accepted (KhSandbox *self,
                        SbToken   *token)
{
  SbAuthorization *auth = token->auth;
  gint64 now = sb_now (self);

  if (token->kind != TOKEN_REFRESH || auth->revoked || now >= auth->refresh_expires_at)
    return FALSE;
  if (!token->superseded)
    return TRUE;

  return token == auth->previous_refresh && now - token->superseded_at < self->refresh_grace;
}

static JsonObject *
token_to_json (KhSandbox *self,
               SbToken   *token)
{
  JsonObject *object = json_object_new ();

  json_object_set_string_member (object, "token", token->value);
  json_object_set_string_member (object, "kind", token->kind == TOKEN_ACCESS ? "access"
                                                                              : "refresh");
  json_object_set_int_member (object, "issued_at", token->issued_at);
  json_object_set_int_member (object, "expires_at", token->expires_at);
  json_object_set_boolean_member (object, "superseded", token->superseded);
  json_object_set_boolean_member (object, "valid", sb_token_is_valid (self, token));
  if (token->kind == TOKEN_REFRESH)
    json_object_set_boolean_member (object, "accepted", refresh_token_accepted (self, token));

  return object;
}

static JsonObject *
authorization_to_json (KhSandbox       *self,
                       SbAuthorization *auth)
{
  JsonObject *object = json_object_new ();
  JsonArray *tokens = json_array_new ();
  JsonArray *codes = json_array_new ();
  JsonArray *shops = json_array_new ();
  JsonArray *advertisers = json_array_new ();
  GHashTableIter iter;
  gpointer value;

  json_object_set_string_member (object, "id", auth->id);
  json_object_set_string_member (object, "app_key", auth->app_key);
  json_object_set_string_member (object, "flow", flow_names[auth->flow]);
  json_object_set_string_member (object, "region", auth->us ? "us" : "row");
  json_object_set_string_member (object, "open_id", auth->open_id);
  if (auth->seller_name != NULL)
    json_object_set_string_member (object, "seller_name", auth->seller_name);
  if (auth->display_name != NULL)
    json_object_set_string_member (object, "display_name", auth->display_name);
  if (auth->access != NULL)
    json_object_set_string_member (object, "access_token", auth->access->value);
  else
    json_object_set_null_member (object, "access_token");
  if (auth->refresh != NULL)
    json_object_set_string_member (object, "refresh_token", auth->refresh->value);
  else
    json_object_set_null_member (object, "refresh_token");
  json_object_set_int_member (object, "refresh_expires_at", auth->refresh_expires_at);
  json_object_set_int_member (object, "refresh_count", auth->refresh_count);
  json_object_set_boolean_member (object, "revoked", auth->revoked);
  if (auth->revoked_reason != NULL)
    json_object_set_string_member (object, "revoked_reason", auth->revoked_reason);
  kh_json_set_strv (object, "scopes", (const char * const *) auth->scopes);

  for (guint i = 0; i < auth->tokens->len; i++)
    json_array_add_object_element (tokens, token_to_json (self, g_ptr_array_index (auth->tokens,
                                                                                  i)));
  json_object_set_array_member (object, "tokens", tokens);

  g_hash_table_iter_init (&iter, self->codes);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      SbCode *code = value;
      JsonObject *item;

      if (code->auth != auth)
        continue;
      item = json_object_new ();
      json_object_set_string_member (item, "code", code->value);
      json_object_set_boolean_member (item, "used", code->used);
      json_object_set_int_member (item, "expires_at", code->expires_at);
      json_array_add_object_element (codes, item);
    }
  json_object_set_array_member (object, "codes", codes);

  for (guint i = 0; i < auth->shops->len; i++)
    {
      SbShop *shop = g_ptr_array_index (auth->shops, i);
      JsonObject *item = json_object_new ();

      json_object_set_string_member (item, "id", shop->id);
      json_object_set_string_member (item, "name", shop->name);
      json_object_set_string_member (item, "region", shop->region);
      json_object_set_string_member (item, "seller_type", shop->seller_type);
      json_object_set_string_member (item, "cipher", shop->cipher);
      json_object_set_string_member (item, "code", shop->code);
      json_array_add_object_element (shops, item);
    }
  json_object_set_array_member (object, "shops", shops);

  for (guint i = 0; i < auth->advertisers->len; i++)
    {
      SbAdvertiser *advertiser = g_ptr_array_index (auth->advertisers, i);
      JsonObject *item = json_object_new ();

      json_object_set_string_member (item, "advertiser_id", advertiser->id);
      json_object_set_string_member (item, "advertiser_name", advertiser->name);
      json_array_add_object_element (advertisers, item);
    }
  json_object_set_array_member (object, "advertisers", advertisers);

  return object;
}

JsonNode *
kh_sandbox_dup_ledger (KhSandbox *self)
{
  JsonObject *root;
  JsonArray *authorizations;
  JsonObject *counters;
  JsonArray *secrets;
  JsonNode *node;
  GHashTableIter iter;
  gpointer key, value;

  g_return_val_if_fail (KH_IS_SANDBOX (self), NULL);

  root = json_object_new ();
  authorizations = json_array_new ();
  counters = json_object_new ();
  secrets = json_array_new ();

  json_object_set_int_member (root, "now", sb_now (self));
  for (guint i = 0; i < self->authorizations->len; i++)
    json_array_add_object_element (authorizations,
                                   authorization_to_json (self,
                                                          g_ptr_array_index (self->authorizations,
                                                                             i)));
  json_object_set_array_member (root, "authorizations", authorizations);

  g_hash_table_iter_init (&iter, self->counters);
  while (g_hash_table_iter_next (&iter, &key, &value))
    json_object_set_int_member (counters, key, GPOINTER_TO_UINT (value));
  json_object_set_object_member (root, "counters", counters);

  counters = json_object_new ();
  g_hash_table_iter_init (&iter, self->in_flight_peak);
  while (g_hash_table_iter_next (&iter, &key, &value))
    json_object_set_int_member (counters, key, GPOINTER_TO_UINT (value));
  json_object_set_object_member (root, "in_flight_peak", counters);

  for (guint i = 0; i < self->secrets->len; i++)
    json_array_add_string_element (secrets, g_ptr_array_index (self->secrets, i));
  json_object_set_array_member (root, "secrets", secrets);

  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, root);
  return node;
}

/* ---- the control endpoint --------------------------------------------------------------- */

static gboolean
parse_app (JsonObject  *object,
           char       **family,
           GError     **error)
{
  const char *value = kh_json_get_string (object, "family");

  if (g_strcmp0 (value, "shop") != 0 && g_strcmp0 (value, "business") != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "family must be \"shop\" or \"business\"");
      return FALSE;
    }

  *family = g_strdup (value);
  return TRUE;
}

gboolean
kh_sandbox_add_app_json (KhSandbox   *self,
                         JsonObject  *app,
                         GError     **error)
{
  g_autofree char *family = NULL;
  g_autofree char *app_key = NULL;
  g_autofree char *service_id = NULL;
  g_auto(GStrv) scopes = NULL;
  const char *secret;
  const char *redirect_uri;
  const char *category;

  g_return_val_if_fail (KH_IS_SANDBOX (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (app == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "the app must be a JSON object");
      return FALSE;
    }

  if (!parse_app (app, &family, error))
    return FALSE;

  app_key = sb_json_dup_id (app, "app_key");
  if (sb_is_empty (app_key) || strlen (app_key) > 128 || !sb_is_printable_ascii (app_key))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "app_key must be a non-empty printable string");
      return FALSE;
    }

  secret = kh_json_get_string (app, "app_secret");
  if (sb_is_empty (secret) || strlen (secret) > 256 || !sb_is_printable_ascii (secret))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "app_secret must be a non-empty printable string");
      return FALSE;
    }

  if (json_object_has_member (app, "service_id"))
    {
      service_id = sb_json_dup_id (app, "service_id");
      if (!sb_is_decimal (service_id) || strlen (service_id) > 32)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "service_id must be a string of digits");
          return FALSE;
        }
    }

  redirect_uri = kh_json_get_string (app, "redirect_uri");
  if (json_object_has_member (app, "redirect_uri") &&
      !JSON_NODE_HOLDS_NULL (json_object_get_member (app, "redirect_uri")) &&
      !sb_is_valid_redirect_uri (redirect_uri))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "redirect_uri must be an http(s) URI with a host");
      return FALSE;
    }

  category = kh_json_get_string (app, "category");
  if (json_object_has_member (app, "category") &&
      g_strcmp0 (category, "seller") != 0 && g_strcmp0 (category, "partner") != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "category must be \"seller\" or \"partner\"");
      return FALSE;
    }

  if (json_object_has_member (app, "scopes"))
    {
      scopes = kh_json_get_strv (app, "scopes");
      if (scopes == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "scopes must be an array of strings");
          return FALSE;
        }
      for (guint i = 0; scopes[i] != NULL; i++)
        if (sb_is_empty (scopes[i]) || strlen (scopes[i]) > 128 ||
            !sb_is_printable_ascii (scopes[i]))
          {
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                 "each scope must be a non-empty printable string");
            return FALSE;
          }
    }

  sb_register_app (self, family, app_key, secret, service_id, redirect_uri, category,
                   (const char * const *) scopes);
  return TRUE;
}

gboolean
kh_sandbox_configure (KhSandbox   *self,
                      JsonObject  *config,
                      GError     **error)
{
  /* Lifetimes must be positive; grace, rate limit and latency may be 0. */
  static const struct {
    const char *name;
    gsize       offset;
    gint64      min;
    gint64      max;
  } numbers[] = {
    { "shop_access_ttl", G_STRUCT_OFFSET (KhSandbox, shop_access_ttl), 1, MAX_TTL },
    { "shop_refresh_ttl", G_STRUCT_OFFSET (KhSandbox, shop_refresh_ttl), 1, MAX_TTL },
    { "tt_access_ttl", G_STRUCT_OFFSET (KhSandbox, tt_access_ttl), 1, MAX_TTL },
    { "tt_refresh_ttl", G_STRUCT_OFFSET (KhSandbox, tt_refresh_ttl), 1, MAX_TTL },
    { "refresh_grace", G_STRUCT_OFFSET (KhSandbox, refresh_grace), 0, MAX_TTL },
    { "rate_limit", G_STRUCT_OFFSET (KhSandbox, rate_limit), 0, 1000000 },
    { "latency_ms", G_STRUCT_OFFSET (KhSandbox, latency_ms), 0, MAX_LATENCY_MS },
  };
  gint64 values[G_N_ELEMENTS (numbers)];
  gboolean present[G_N_ELEMENTS (numbers)] = { FALSE, };
  const char *auto_consent = NULL;
  gboolean has_auto_consent = FALSE;
  g_autoptr(GList) members = NULL;

  g_return_val_if_fail (KH_IS_SANDBOX (self), FALSE);
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Check everything before changing anything; an unknown key is a typo, not a no-op. */
  members = json_object_get_members (config);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      gboolean known = FALSE;

      for (guint i = 0; i < G_N_ELEMENTS (numbers); i++)
        {
          if (!g_str_equal (name, numbers[i].name))
            continue;
          known = TRUE;
          if (!kh_json_get_int (config, name, &values[i]) || values[i] < numbers[i].min ||
              values[i] > numbers[i].max)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "%s must be an integer from %" G_GINT64_FORMAT " to %"
                           G_GINT64_FORMAT, name, numbers[i].min, numbers[i].max);
              return FALSE;
            }
          present[i] = TRUE;
        }

      if (g_str_equal (name, "auto_consent"))
        {
          known = TRUE;
          auto_consent = kh_json_get_string (config, name);
          if (!JSON_NODE_HOLDS_NULL (json_object_get_member (config, name)) &&
              g_strcmp0 (auto_consent, "approve") != 0 && g_strcmp0 (auto_consent, "deny") != 0 &&
              g_strcmp0 (auto_consent, "none") != 0)
            {
              g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                   "auto_consent must be \"approve\", \"deny\" or \"none\"");
              return FALSE;
            }
          has_auto_consent = TRUE;
        }

      if (!known)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "unknown configuration key %s", name);
          return FALSE;
        }
    }

  for (guint i = 0; i < G_N_ELEMENTS (numbers); i++)
    if (present[i])
      G_STRUCT_MEMBER (gint64, self, numbers[i].offset) = values[i];

  if (has_auto_consent)
    {
      g_clear_pointer (&self->auto_consent, g_free);
      if (g_strcmp0 (auto_consent, "approve") == 0 || g_strcmp0 (auto_consent, "deny") == 0)
        self->auto_consent = g_strdup (auto_consent);
    }

  return TRUE;
}

static JsonObject *
config_to_json (KhSandbox *self)
{
  JsonObject *object = json_object_new ();

  json_object_set_int_member (object, "shop_access_ttl", self->shop_access_ttl);
  json_object_set_int_member (object, "shop_refresh_ttl", self->shop_refresh_ttl);
  json_object_set_int_member (object, "tt_access_ttl", self->tt_access_ttl);
  json_object_set_int_member (object, "tt_refresh_ttl", self->tt_refresh_ttl);
  json_object_set_int_member (object, "refresh_grace", self->refresh_grace);
  json_object_set_int_member (object, "rate_limit", self->rate_limit);
  json_object_set_int_member (object, "latency_ms", self->latency_ms);
  json_object_set_string_member (object, "auto_consent",
                                 self->auto_consent != NULL ? self->auto_consent : "none");

  return object;
}

static gboolean
parse_fault (JsonObject          *object,
             char               **path,
             guint               *count,
             KhSandboxFaultKind  *kind,
             int                 *value,
             GError             **error)
{
  const char *path_value = kh_json_get_string (object, "path");
  gint64 number = 1;
  guint n_kinds = 0;
  gboolean flag;

  if (sb_is_empty (path_value) || strlen (path_value) > 256 ||
      (path_value[0] != '/' && g_strcmp0 (path_value, "*") != 0))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "path must be an endpoint path (\"/api/v2/token/get\") or \"*\"");
      return FALSE;
    }

  if (json_object_has_member (object, "count") &&
      (!kh_json_get_int (object, "count", &number) || number < 1 || number > 1000000))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "count must be an integer from 1 to 1000000");
      return FALSE;
    }

  if (json_object_has_member (object, "error_code"))
    {
      gint64 code;

      if (!kh_json_get_int (object, "error_code", &code) || code == 0 || code < G_MININT ||
          code > G_MAXINT)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "error_code must be a non-zero integer");
          return FALSE;
        }
      *kind = KH_SANDBOX_FAULT_ERROR_CODE;
      *value = (int) code;
      n_kinds++;
    }
  if (json_object_has_member (object, "http_status"))
    {
      gint64 status;

      if (!kh_json_get_int (object, "http_status", &status) || status < 500 || status > 599)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "http_status must be from 500 to 599");
          return FALSE;
        }
      *kind = KH_SANDBOX_FAULT_HTTP_STATUS;
      *value = (int) status;
      n_kinds++;
    }
  if (json_object_has_member (object, "delay_ms"))
    {
      gint64 ms;

      if (!kh_json_get_int (object, "delay_ms", &ms) || ms < 0 || ms > 600000)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "delay_ms must be from 0 to 600000");
          return FALSE;
        }
      *kind = KH_SANDBOX_FAULT_DELAY;
      *value = (int) ms;
      n_kinds++;
    }
  if (json_object_has_member (object, "garbage"))
    {
      if (!kh_json_get_bool (object, "garbage", &flag) || !flag)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "garbage must be true");
          return FALSE;
        }
      *kind = KH_SANDBOX_FAULT_GARBAGE;
      *value = 0;
      n_kinds++;
    }
  if (json_object_has_member (object, "drop"))
    {
      if (!kh_json_get_bool (object, "drop", &flag) || !flag)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "drop must be true");
          return FALSE;
        }
      *kind = KH_SANDBOX_FAULT_DROP;
      *value = 0;
      n_kinds++;
    }

  if (n_kinds != 1)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "give exactly one of error_code, http_status, delay_ms, garbage, drop");
      return FALSE;
    }

  *path = g_strdup (path_value);
  *count = (guint) number;
  return TRUE;
}

static const char *
fault_kind_name (KhSandboxFaultKind kind)
{
  switch (kind)
    {
    case KH_SANDBOX_FAULT_ERROR_CODE:
      return "error_code";
    case KH_SANDBOX_FAULT_HTTP_STATUS:
      return "http_status";
    case KH_SANDBOX_FAULT_DELAY:
      return "delay_ms";
    case KH_SANDBOX_FAULT_GARBAGE:
      return "garbage";
    case KH_SANDBOX_FAULT_DROP:
      return "drop";
    default:
      g_assert_not_reached ();
    }
}

static JsonObject *
faults_to_json (KhSandbox *self)
{
  JsonObject *root = json_object_new ();
  JsonArray *list = json_array_new ();

  for (GList *l = self->faults.head; l != NULL; l = l->next)
    {
      SbFault *fault = l->data;
      JsonObject *item = json_object_new ();

      json_object_set_string_member (item, "path", fault->path);
      json_object_set_int_member (item, "count", fault->remaining);
      if (fault->kind == KH_SANDBOX_FAULT_GARBAGE || fault->kind == KH_SANDBOX_FAULT_DROP)
        json_object_set_boolean_member (item, fault_kind_name (fault->kind), TRUE);
      else
        json_object_set_int_member (item, fault_kind_name (fault->kind), fault->value);
      json_array_add_object_element (list, item);
    }

  json_object_set_array_member (root, "faults", list);
  return root;
}

static JsonObject *
apps_to_json (KhSandbox *self)
{
  JsonObject *root = json_object_new ();
  JsonArray *list = json_array_new ();
  g_autoptr(GList) keys = g_list_sort (g_hash_table_get_keys (self->apps),
                                       (GCompareFunc) g_strcmp0);

  for (GList *l = keys; l != NULL; l = l->next)
    {
      SbApp *app = g_hash_table_lookup (self->apps, l->data);
      JsonObject *item = json_object_new ();

      /* Never the secret. */
      json_object_set_string_member (item, "family", app->family);
      json_object_set_string_member (item, "app_key", app->app_key);
      if (app->service_id != NULL)
        json_object_set_string_member (item, "service_id", app->service_id);
      if (app->redirect_uri != NULL)
        json_object_set_string_member (item, "redirect_uri", app->redirect_uri);
      if (app->category != NULL)
        json_object_set_string_member (item, "category", app->category);
      if (app->scopes != NULL)
        kh_json_set_strv (item, "scopes", (const char * const *) app->scopes);
      json_array_add_object_element (list, item);
    }

  json_object_set_array_member (root, "apps", list);
  return root;
}

void
sb_handle_control (KhSandbox         *self,
                   SoupServerMessage *msg,
                   const char        *path,
                   GHashTable        *query,
                   GBytes            *body)
{
  const char *method = soup_server_message_get_method (msg);
  gboolean is_get = g_strcmp0 (method, SOUP_METHOD_GET) == 0;
  gboolean is_post = g_strcmp0 (method, SOUP_METHOD_POST) == 0;
  gsize size = 0;
  const char *data = body != NULL ? g_bytes_get_data (body, &size) : NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *object = NULL;

  if (g_str_equal (path, "/_sandbox/consent"))
    {
      sb_handle_consent_decision (self, msg, query, body);
      return;
    }

  if (is_post)
    {
      node = size > 0 ? kh_json_parse (data, size, NULL) : NULL;
      object = kh_json_node_object (node);
      /* reset needs no body; every other POST takes a JSON object. */
      if (object == NULL && !g_str_equal (path, "/_sandbox/reset"))
        {
          sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST,
                                    "the body must be a JSON object");
          return;
        }
    }

  if (g_str_equal (path, "/_sandbox/apps") && is_get)
    sb_respond_control_ok (msg, apps_to_json (self));
  else if (g_str_equal (path, "/_sandbox/apps") && is_post)
    {
      if (!kh_sandbox_add_app_json (self, object, &error))
        sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      else
        sb_respond_control_ok (msg, NULL);
    }
  else if (g_str_equal (path, "/_sandbox/faults") && is_get)
    sb_respond_control_ok (msg, faults_to_json (self));
  else if (g_str_equal (path, "/_sandbox/faults") && is_post)
    {
      g_autofree char *fault_path = NULL;
      KhSandboxFaultKind kind = KH_SANDBOX_FAULT_ERROR_CODE;
      guint count = 0;
      int value = 0;

      if (g_queue_get_length (&self->faults) >= MAX_FAULTS)
        sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, "too many faults queued");
      else if (!parse_fault (object, &fault_path, &count, &kind, &value, &error))
        sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      else
        {
          kh_sandbox_add_fault (self, fault_path, count, kind, value);
          sb_respond_control_ok (msg, NULL);
        }
    }
  else if (g_str_equal (path, "/_sandbox/faults") &&
           g_strcmp0 (method, SOUP_METHOD_DELETE) == 0)
    {
      kh_sandbox_clear_faults (self);
      sb_respond_control_ok (msg, NULL);
    }
  else if (g_str_equal (path, "/_sandbox/ledger") && is_get)
    {
      g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (self);

      sb_respond_json (msg, SOUP_STATUS_OK, ledger);
    }
  else if (g_str_equal (path, "/_sandbox/deauthorize") && is_post)
    {
      const char *open_id = kh_json_get_string (object, "open_id");
      JsonObject *result;

      if (sb_is_empty (open_id))
        {
          sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, "open_id is missing");
          return;
        }
      result = json_object_new ();
      json_object_set_int_member (result, "deauthorized", kh_sandbox_deauthorize (self, open_id));
      sb_respond_control_ok (msg, result);
    }
  else if (g_str_equal (path, "/_sandbox/reset") && is_post)
    {
      kh_sandbox_reset (self);
      sb_respond_control_ok (msg, NULL);
    }
  else if (g_str_equal (path, "/_sandbox/clock") && (is_get || is_post))
    {
      JsonObject *result;
      gint64 advance = 0;
      double speed = 0;
      JsonNode *speed_node = object != NULL ? json_object_get_member (object, "speed") : NULL;

      if (object != NULL && json_object_has_member (object, "advance") &&
          (!kh_json_get_int (object, "advance", &advance) ||
           advance < -G_GINT64_CONSTANT (3153600000) || advance > G_GINT64_CONSTANT (3153600000)))
        {
          sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST,
                                    "advance must be an integer number of seconds");
          return;
        }
      if (speed_node != NULL)
        {
          if (!JSON_NODE_HOLDS_VALUE (speed_node) ||
              (json_node_get_value_type (speed_node) != G_TYPE_DOUBLE &&
               json_node_get_value_type (speed_node) != G_TYPE_INT64) ||
              (speed = json_node_get_double (speed_node)) <= 0 || speed > 1e6)
            {
              sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST,
                                        "speed must be a number above 0");
              return;
            }
          kh_sandbox_set_clock_speed (self, speed);
        }
      if (advance != 0)
        kh_sandbox_advance_clock (self, advance);

      result = json_object_new ();
      json_object_set_int_member (result, "now", sb_now (self));
      json_object_set_double_member (result, "speed", self->clock_speed);
      sb_respond_control_ok (msg, result);
    }
  else if (g_str_equal (path, "/_sandbox/config") && is_get)
    sb_respond_control_ok (msg, config_to_json (self));
  else if (g_str_equal (path, "/_sandbox/config") && is_post)
    {
      if (!kh_sandbox_configure (self, object, &error))
        sb_respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      else
        sb_respond_control_ok (msg, config_to_json (self));
    }
  else
    sb_respond_control_error (msg, SOUP_STATUS_NOT_FOUND, "no such control endpoint or method");
}

/* ---- public API ------------------------------------------------------------------------- */

void
kh_sandbox_set_latency (KhSandbox *self,
                        guint      latency_ms)
{
  g_return_if_fail (KH_IS_SANDBOX (self));

  self->latency_ms = MIN (latency_ms, MAX_LATENCY_MS);
}

void
kh_sandbox_advance_clock (KhSandbox *self,
                          gint64     seconds)
{
  g_return_if_fail (KH_IS_SANDBOX (self));

  self->clock_anchor_sandbox += seconds * G_USEC_PER_SEC;
}

gint64
kh_sandbox_now (KhSandbox *self)
{
  g_return_val_if_fail (KH_IS_SANDBOX (self), 0);

  return sb_now (self);
}

void
kh_sandbox_set_clock_speed (KhSandbox *self,
                            double     speed)
{
  g_return_if_fail (KH_IS_SANDBOX (self));
  g_return_if_fail (speed > 0);

  reanchor_clock (self);
  self->clock_speed = speed;
}

void
kh_sandbox_add_fault (KhSandbox          *self,
                      const char         *path,
                      guint               count,
                      KhSandboxFaultKind  kind,
                      int                 value)
{
  SbFault *fault;

  g_return_if_fail (KH_IS_SANDBOX (self));
  g_return_if_fail (path != NULL);
  g_return_if_fail (count > 0);
  g_return_if_fail (kind != KH_SANDBOX_FAULT_HTTP_STATUS || (value >= 500 && value <= 599));
  g_return_if_fail (kind != KH_SANDBOX_FAULT_DELAY || value >= 0);

  fault = g_new0 (SbFault, 1);
  fault->path = g_strdup (path);
  fault->remaining = count;
  fault->kind = kind;
  fault->value = value;
  g_queue_push_tail (&self->faults, fault);
}

void
kh_sandbox_clear_faults (KhSandbox *self)
{
  g_return_if_fail (KH_IS_SANDBOX (self));

  g_queue_clear_full (&self->faults, sb_fault_free);
}
