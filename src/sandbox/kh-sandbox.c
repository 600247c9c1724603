/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox.c: keyhold-sandbox, a SoupServer that answers like every TikTok authorization
 * endpoint of tiktok-api.md. This file holds the KhSandbox object and its data model: the apps,
 * the authorizations with their codes and tokens, the secrets list of the leak audit, and the
 * public calls on them (listen, origin, add app, deauthorize, reset). The rest lives beside it,
 * one job a file:
 *   kh-sandbox-router.c    the HTTP side: body limits, /_host prefixes, routes, responses
 *   kh-sandbox-consent.c   the consent pages of the six account types and their decisions
 *   kh-sandbox-shop.c      TikTok Shop: token get/refresh, Get Authorized Shops
 *   kh-sandbox-business.c  TikTok for Business: advertiser and tt_user token and account calls
 *   kh-sandbox-control.c   the control plane: clock, faults and delays, ledger, /_sandbox/
 * Adding an endpoint touches the file of its family: its handler and a line of its route table.
 *
 * The sandbox keeps the rules that matter for a client (single-use expiring codes, rotating
 * refresh tokens, revocation), runs on a clock tests can move, injects faults on request and
 * keeps a ledger of everything it issued so tests can check nothing was lost or leaked. */

#define G_LOG_DOMAIN "kh-sandbox"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox-private.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_FINAL_TYPE (KhSandbox, kh_sandbox, G_TYPE_OBJECT)

/* ---- small helpers ---------------------------------------------------------------------- */

static void
sb_app_free (gpointer data)
{
  SbApp *app = data;

  g_free (app->family);
  g_free (app->app_key);
  g_free (app->app_secret);
  g_free (app->service_id);
  g_free (app->redirect_uri);
  g_free (app->category);
  g_strfreev (app->scopes);
  g_free (app);
}

static void
sb_token_free (gpointer data)
{
  SbToken *token = data;

  g_free (token->value);
  g_free (token);
}

static void
sb_shop_free (gpointer data)
{
  SbShop *shop = data;

  g_free (shop->id);
  g_free (shop->name);
  g_free (shop->region);
  g_free (shop->seller_type);
  g_free (shop->cipher);
  g_free (shop->code);
  g_free (shop);
}

static void
sb_advertiser_free (gpointer data)
{
  SbAdvertiser *advertiser = data;

  g_free (advertiser->id);
  g_free (advertiser->name);
  g_free (advertiser);
}

static void
sb_authorization_free (gpointer data)
{
  SbAuthorization *auth = data;

  g_free (auth->id);
  g_free (auth->app_key);
  g_free (auth->open_id);
  g_free (auth->seller_name);
  g_free (auth->seller_base_region);
  g_free (auth->display_name);
  g_free (auth->redirect_uri);
  g_strfreev (auth->scopes);
  g_ptr_array_unref (auth->shops);
  g_ptr_array_unref (auth->advertisers);
  g_ptr_array_unref (auth->tokens);
  g_free (auth->revoked_reason);
  g_free (auth);
}

static void
sb_code_free (gpointer data)
{
  SbCode *code = data;

  g_free (code->value);
  g_free (code);
}

void
sb_consent_free (gpointer data)
{
  SbConsent *consent = data;

  g_free (consent->id);
  g_free (consent->app_key);
  g_free (consent->redirect_uri);
  g_free (consent->state);
  g_strfreev (consent->scopes);
  g_free (consent);
}

void
sb_fault_free (gpointer data)
{
  SbFault *fault = data;

  g_free (fault->path);
  g_free (fault);
}

static void
sb_delay_free (gpointer data)
{
  SbDelay *delay = data;

  if (delay->path != NULL && delay->self->in_flight != NULL)
    {
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (delay->self->in_flight, delay->path));

      g_hash_table_replace (delay->self->in_flight, (gpointer) delay->path,
                            GUINT_TO_POINTER (n > 0 ? n - 1 : 0));
    }

  g_clear_handle_id (&delay->source_id, g_source_remove);
  g_clear_object (&delay->msg);
  g_clear_object (&delay->server);
  g_free (delay);
}

gboolean
sb_is_empty (const char *str)
{
  return str == NULL || *str == '\0';
}

gboolean
sb_is_shop_flow (Flow flow)
{
  return flow == FLOW_SELLER || flow == FLOW_CREATOR || flow == FLOW_PARTNER;
}

gboolean
sb_is_printable_ascii (const char *str)
{
  for (const char *p = str; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      return FALSE;

  return TRUE;
}

/* Only http(s) URIs with a host, no whitespace or control characters: whatever ends up in a
 * Location header. */
gboolean
sb_is_valid_redirect_uri (const char *uri)
{
  g_autoptr(GUri) parsed = NULL;
  const char *scheme;

  if (sb_is_empty (uri) || strlen (uri) > 2048 || !sb_is_printable_ascii (uri))
    return FALSE;

  parsed = g_uri_parse (uri, G_URI_FLAGS_NONE, NULL);
  if (parsed == NULL)
    return FALSE;

  scheme = g_uri_get_scheme (parsed);
  return (g_strcmp0 (scheme, "http") == 0 || g_strcmp0 (scheme, "https") == 0) &&
         !sb_is_empty (g_uri_get_host (parsed));
}

char *
sb_random_string (KhSandbox  *self,
                  const char *alphabet,
                  guint       length)
{
  gsize n = strlen (alphabet);
  char *out = g_malloc (length + 1);

  for (guint i = 0; i < length; i++)
    out[i] = alphabet[g_rand_int_range (self->rand, 0, (gint32) n)];
  out[length] = '\0';

  return out;
}

/* A decimal id like TikTok's 19-digit shop and advertiser ids (no leading zero). */
static char *
random_id (KhSandbox *self)
{
  g_autofree char *tail = sb_random_string (self, DIGITS, 18);

  return g_strdup_printf ("7%s", tail);
}

/* CI's secret-leak audit: with KEYHOLD_SANDBOX_SECRETS_FILE set, every secret any sandbox of the
 * test run sees is appended to that file (one per line, O_APPEND so that sandboxes in several
 * processes can share it); afterwards every log of the run is scanned for them. A test-only hook:
 * it writes nothing unless the variable is set. */
static void
record_secret_for_audit (const char *value)
{
  const char *path = g_getenv ("KEYHOLD_SANDBOX_SECRETS_FILE");
  g_autofree char *line = NULL;
  gsize length;
  int fd;

  if (path == NULL || *path == '\0' || strchr (value, '\n') != NULL)
    return;

  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return;

  line = g_strconcat (value, "\n", NULL);
  length = strlen (line);
  if (write (fd, line, length) != (gssize) length)
    g_debug ("could not record a secret for the audit");
  close (fd);
}

void
sb_note_secret (KhSandbox  *self,
                const char *value,
                gboolean    issued)
{
  if (sb_is_empty (value) || g_hash_table_contains (self->secret_set, value))
    return;

  if (!issued && strlen (value) < MIN_SECRET_LENGTH)
    return;

  /* A hostile client could send endless distinct values; the audit list stays bounded. */
  if (!issued && self->secrets->len >= 100000)
    return;

  g_ptr_array_add (self->secrets, g_strdup (value));
  g_hash_table_add (self->secret_set, g_ptr_array_index (self->secrets, self->secrets->len - 1));
  record_secret_for_audit (value);
}

static gboolean
strv_has (GPtrArray  *array,
          const char *str)
{
  for (guint i = 0; i < array->len; i++)
    if (g_strcmp0 (g_ptr_array_index (array, i), str) == 0)
      return TRUE;

  return FALSE;
}

/* "a,b c" -> {"a", "b", "c"}, without empty items or repeats. */
char **
sb_split_scopes (const char *text)
{
  g_auto(GStrv) parts = NULL;
  GPtrArray *out = g_ptr_array_new ();

  if (text != NULL)
    {
      parts = g_strsplit_set (text, ", ", -1);
      for (guint i = 0; parts[i] != NULL; i++)
        if (*parts[i] != '\0' && !strv_has (out, parts[i]))
          g_ptr_array_add (out, g_strdup (parts[i]));
    }

  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

gboolean
sb_is_decimal (const char *str)
{
  if (sb_is_empty (str))
    return FALSE;

  for (const char *p = str; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;

  return TRUE;
}

/* ---- apps ------------------------------------------------------------------------------- */

void
sb_register_app (KhSandbox          *self,
                 const char         *family,
                 const char         *app_key,
                 const char         *app_secret,
                 const char         *service_id,
                 const char         *redirect_uri,
                 const char         *category,
                 const char * const *scopes)
{
  SbApp *app = g_new0 (SbApp, 1);

  app->family = g_strdup (family);
  app->app_key = g_strdup (app_key);
  app->app_secret = g_strdup (app_secret);
  app->service_id = sb_is_empty (service_id) ? NULL : g_strdup (service_id);
  app->redirect_uri = sb_is_empty (redirect_uri) ? NULL : g_strdup (redirect_uri);
  app->category = sb_is_empty (category) ? NULL : g_strdup (category);
  app->scopes = scopes != NULL ? g_strdupv ((char **) scopes) : NULL;

  sb_note_secret (self, app_secret, TRUE);
  g_hash_table_replace (self->apps, app->app_key, app);
}

SbApp *
sb_find_app (KhSandbox  *self,
             const char *family,
             const char *app_key)
{
  SbApp *app;

  if (sb_is_empty (app_key))
    return NULL;

  app = g_hash_table_lookup (self->apps, app_key);
  if (app == NULL || g_strcmp0 (app->family, family) != 0)
    return NULL;

  return app;
}

SbApp *
sb_find_shop_app_by_service_id (KhSandbox  *self,
                                const char *service_id)
{
  GHashTableIter iter;
  gpointer value;

  if (sb_is_empty (service_id))
    return NULL;

  g_hash_table_iter_init (&iter, self->apps);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      SbApp *app = value;

      if (g_strcmp0 (app->family, "shop") == 0 && g_strcmp0 (app->service_id, service_id) == 0)
        return app;
    }

  return NULL;
}

gboolean
sb_secret_matches (SbApp      *app,
                   const char *secret)
{
  return secret != NULL && kh_const_time_equal (app->app_secret, secret);
}

gboolean
sb_rate_allowed (KhSandbox *self,
                 SbApp     *app)
{
  gint64 second = g_get_monotonic_time () / G_USEC_PER_SEC;

  if (self->rate_limit == 0)
    return TRUE;

  if (app->rate_second != second)
    {
      app->rate_second = second;
      app->rate_count = 0;
    }

  app->rate_count++;
  return (gint64) app->rate_count <= self->rate_limit;
}

static void
register_demo_apps (KhSandbox *self)
{
  static const char * const shop_scopes[] = {
    "seller.authorization.info", "seller.order.info", "creator.affiliate.info",
    "partner.tap.info", NULL,
  };

  sb_register_app (self, "shop", "demoshop", "demo-shop-secret", "7000000000000000001",
                   "http://localhost:8765/callback", NULL, shop_scopes);
  sb_register_app (self, "business", "7000000000000000002", "demo-business-secret", NULL,
                   "http://localhost:8765/callback", NULL, NULL);
  /* The app of signature vector V1 (tiktok-api.md). */
  sb_register_app (self, "shop", "29a39d", "e59af819cc", NULL, NULL, NULL, NULL);
}

/* ---- authorizations, codes and tokens --------------------------------------------------- */

static const char * const seller_words[] = {
  "Maple", "Harbour", "Cobalt", "Juniper", "Lantern", "Meadow", "Saffron", "Willow",
};
static const char * const shop_words[] = {
  "Beauty", "Outfitters", "Home Goods", "Gadgets", "Tea House", "Bookshop", "Studio", "Market",
};

SbAuthorization *
sb_create_authorization (KhSandbox          *self,
                         Flow                flow,
                         SbApp              *app,
                         gboolean            us,
                         const char         *redirect_uri,
                         const char * const *scopes)
{
  SbAuthorization *auth = g_new0 (SbAuthorization, 1);
  const char *word = seller_words[g_rand_int_range (self->rand, 0, G_N_ELEMENTS (seller_words))];
  const char *region = us ? "US" : "GB";
  guint n;

  self->serial++;
  auth->id = g_strdup_printf ("auth-%u", self->serial);
  auth->flow = flow;
  auth->app_key = g_strdup (app->app_key);
  auth->us = us;
  auth->redirect_uri = g_strdup (redirect_uri);
  auth->scopes = g_strdupv ((char **) scopes);
  auth->shops = g_ptr_array_new_with_free_func (sb_shop_free);
  auth->advertisers = g_ptr_array_new_with_free_func (sb_advertiser_free);
  auth->tokens = g_ptr_array_new_with_free_func (sb_token_free);
  auth->seller_base_region = g_strdup (region);

  switch (flow)
    {
    case FLOW_SELLER:
    case FLOW_PARTNER:
      auth->open_id = sb_random_string (self, ALNUM, 22);
      auth->seller_name = g_strdup_printf (flow == FLOW_SELLER ? "%s Trading %u"
                                                               : "%s Partners %u",
                                           word, self->serial);
      n = flow == FLOW_SELLER ? (guint) g_rand_int_range (self->rand, 1, 4) : 0;
      for (guint i = 0; i < n; i++)
        {
          SbShop *shop = g_new0 (SbShop, 1);
          g_autofree char *cipher = sb_random_string (self, ALNUM, 28);
          g_autofree char *code = sb_random_string (self, UPPER_ALNUM, 8);

          shop->id = random_id (self);
          shop->name = g_strdup_printf ("%s %s", word,
                                        shop_words[g_rand_int_range (self->rand, 0,
                                                                     G_N_ELEMENTS (shop_words))]);
          shop->region = g_strdup (i == 0 ? region : (us ? "US" : (i == 1 ? "DE" : "FR")));
          shop->seller_type = g_strdup (i % 2 == 0 ? "LOCAL" : "CROSS_BORDER");
          shop->cipher = g_strdup_printf ("%s_%s", us ? "US" : "GCP", cipher);
          shop->code = g_strdup_printf ("%s%s", shop->region, code);
          g_ptr_array_add (auth->shops, shop);
        }
      break;

    case FLOW_CREATOR:
      auth->open_id = sb_random_string (self, ALNUM, 22);
      auth->seller_name = g_strdup_printf ("%s Creator %u", word, self->serial);
      break;

    case FLOW_ADVERTISER:
      auth->open_id = random_id (self);
      n = (guint) g_rand_int_range (self->rand, 1, 4);
      for (guint i = 0; i < n; i++)
        {
          SbAdvertiser *advertiser = g_new0 (SbAdvertiser, 1);

          advertiser->id = random_id (self);
          advertiser->name = g_strdup_printf ("%s Ads %u.%u", word, self->serial, i + 1);
          g_ptr_array_add (auth->advertisers, advertiser);
        }
      break;

    case FLOW_TT_USER:
      {
        g_autofree char *tail = sb_random_string (self, ALNUM, 32);

        auth->open_id = g_strdup_printf ("-000%s", tail);
        auth->display_name = g_strdup_printf ("%s Creator %u", word, self->serial);
      }
      break;

    default:
      g_assert_not_reached ();
    }

  g_ptr_array_add (self->authorizations, auth);
  return auth;
}

SbCode *
sb_issue_code (KhSandbox       *self,
               SbAuthorization *auth)
{
  SbCode *code = g_new0 (SbCode, 1);
  g_autofree char *body = NULL;

  if (sb_is_shop_flow (auth->flow))
    {
      body = sb_random_string (self, ALNUM, 40);
      code->value = g_strdup_printf ("%s_%s", auth->us ? "US" : "ROW", body);
      code->expires_at = sb_now (self) + SHOP_CODE_TTL;
    }
  else
    {
      code->value = sb_random_string (self, HEX, 40);
      code->expires_at = sb_now (self) + BUSINESS_CODE_TTL;
    }

  code->auth = auth;
  sb_note_secret (self, code->value, TRUE);
  g_hash_table_replace (self->codes, code->value, code);

  return code;
}

static SbToken *
add_token (KhSandbox       *self,
           SbAuthorization *auth,
           TokenKind        kind,
           gint64           expires_at)
{
  SbToken *token = g_new0 (SbToken, 1);
  g_autofree char *body = NULL;

  switch (auth->flow)
    {
    case FLOW_SELLER:
    case FLOW_CREATOR:
    case FLOW_PARTNER:
      body = sb_random_string (self, ALNUM, 56);
      token->value = g_strdup_printf ("%s_%s", auth->us ? "US" : "ROW", body);
      break;
    case FLOW_ADVERTISER:
      token->value = sb_random_string (self, HEX, 40);
      break;
    case FLOW_TT_USER:
      body = sb_random_string (self, ALNUM, 60);
      token->value = g_strdup_printf ("%s.%s", kind == TOKEN_ACCESS ? "act" : "rft", body);
      break;
    default:
      g_assert_not_reached ();
    }

  token->kind = kind;
  token->auth = auth;
  token->issued_at = sb_now (self);
  token->expires_at = expires_at;

  g_ptr_array_add (auth->tokens, token);
  g_hash_table_replace (self->tokens, token->value, token);
  sb_note_secret (self, token->value, TRUE);

  return token;
}

/* Issues a new access token, and a new refresh token where the kind has one; the refresh token
 * it replaces stops working (rotation), the old access token lives on until it expires. */
void
sb_issue_tokens (KhSandbox       *self,
                 SbAuthorization *auth)
{
  gint64 now = sb_now (self);

  switch (auth->flow)
    {
    case FLOW_SELLER:
    case FLOW_CREATOR:
    case FLOW_PARTNER:
      if (auth->refresh_expires_at == 0)
        auth->refresh_expires_at = auth->flow == FLOW_CREATOR ? CREATOR_REFRESH_EXPIRY
                                                              : now + self->shop_refresh_ttl;
      auth->access = add_token (self, auth, TOKEN_ACCESS, now + self->shop_access_ttl);
      break;
    case FLOW_ADVERTISER:
      auth->access = add_token (self, auth, TOKEN_ACCESS, 0);
      return;
    case FLOW_TT_USER:
      if (auth->refresh_expires_at == 0)
        auth->refresh_expires_at = now + self->tt_refresh_ttl;
      auth->access = add_token (self, auth, TOKEN_ACCESS, now + self->tt_access_ttl);
      break;
    default:
      g_assert_not_reached ();
    }

  if (auth->refresh != NULL)
    {
      auth->refresh->superseded = TRUE;
      auth->refresh->superseded_at = now;
      auth->previous_refresh = auth->refresh;
    }
  auth->refresh = add_token (self, auth, TOKEN_REFRESH, auth->refresh_expires_at);
}

gboolean
sb_token_is_valid (KhSandbox *self,
                   SbToken   *token)
{
  return !token->auth->revoked && !token->superseded &&
         (token->expires_at == 0 || sb_now (self) < token->expires_at);
}

void
sb_revoke_authorization (SbAuthorization *auth,
                         const char      *reason)
{
  if (auth->revoked)
    return;

  auth->revoked = TRUE;
  auth->revoked_reason = g_strdup (reason);
}

/* ---- GObject ---------------------------------------------------------------------------- */

static void
kh_sandbox_dispose (GObject *object)
{
  KhSandbox *self = KH_SANDBOX (object);

  g_ptr_array_set_size (self->pending, 0);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);

  G_OBJECT_CLASS (kh_sandbox_parent_class)->dispose (object);
}

static void
kh_sandbox_finalize (GObject *object)
{
  KhSandbox *self = KH_SANDBOX (object);

  g_hash_table_unref (self->consents);
  g_hash_table_unref (self->codes);
  g_hash_table_unref (self->tokens);
  g_ptr_array_unref (self->authorizations);
  g_hash_table_unref (self->apps);
  g_queue_clear_full (&self->faults, sb_fault_free);
  g_hash_table_unref (self->counters);
  g_hash_table_unref (self->secret_set);
  g_ptr_array_unref (self->secrets);
  g_ptr_array_unref (self->pending);
  g_clear_pointer (&self->in_flight, g_hash_table_unref);
  g_clear_pointer (&self->in_flight_peak, g_hash_table_unref);
  g_rand_free (self->rand);
  g_free (self->auto_consent);

  G_OBJECT_CLASS (kh_sandbox_parent_class)->finalize (object);
}

static void
kh_sandbox_class_init (KhSandboxClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_sandbox_dispose;
  object_class->finalize = kh_sandbox_finalize;
}

static void
kh_sandbox_init (KhSandbox *self)
{
  self->clock_anchor_real = g_get_real_time ();
  self->clock_anchor_sandbox = self->clock_anchor_real;
  self->clock_speed = 1.0;

  self->shop_access_ttl = 7 * 24 * 3600;
  self->shop_refresh_ttl = 365 * 24 * 3600;
  self->tt_access_ttl = 86400;
  self->tt_refresh_ttl = 31536000;
  self->refresh_grace = 0;
  self->rate_limit = 50;

  self->apps = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, sb_app_free);
  self->authorizations = g_ptr_array_new_with_free_func (sb_authorization_free);
  self->tokens = g_hash_table_new (g_str_hash, g_str_equal);
  self->codes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, sb_code_free);
  self->consents = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, sb_consent_free);
  g_queue_init (&self->faults);
  self->counters = g_hash_table_new (g_str_hash, g_str_equal);
  self->secrets = g_ptr_array_new_with_free_func (g_free);
  self->secret_set = g_hash_table_new (g_str_hash, g_str_equal);
  self->pending = g_ptr_array_new_with_free_func (sb_delay_free);
  self->in_flight = g_hash_table_new (g_str_hash, g_str_equal);
  self->in_flight_peak = g_hash_table_new (g_str_hash, g_str_equal);

  self->server = soup_server_new ("server-header", "keyhold-sandbox", NULL);
  soup_server_add_early_handler (self->server, NULL, sb_early_handler_cb, self, NULL);
  soup_server_add_handler (self->server, NULL, sb_server_handler_cb, self, NULL);
}

/* ---- public API ------------------------------------------------------------------------- */

KhSandbox *
kh_sandbox_new (guint64 seed)
{
  KhSandbox *self = g_object_new (KH_TYPE_SANDBOX, NULL);

  if (seed != 0)
    {
      guint32 words[2] = { (guint32) (seed & 0xffffffff), (guint32) (seed >> 32) };

      self->rand = g_rand_new_with_seed_array (words, 2);
    }
  else
    self->rand = g_rand_new ();

  register_demo_apps (self);
  return self;
}

gboolean
kh_sandbox_listen (KhSandbox  *self,
                   guint       port,
                   GError    **error)
{
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  GSList *listeners;

  g_return_val_if_fail (KH_IS_SANDBOX (self), FALSE);
  g_return_val_if_fail (port <= G_MAXUINT16, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (self->port == 0, FALSE);

  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, (guint16) port);
  if (!soup_server_listen (self->server, address, 0, error))
    return FALSE;

  /* Ask the listening socket, not soup_server_get_uris (): libsoup 3.2 leaks the address that
   * one builds on every call. */
  listeners = soup_server_get_listeners (self->server);
  self->port = port;
  if (listeners != NULL)
    {
      g_autoptr(GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);

      if (G_IS_INET_SOCKET_ADDRESS (local))
        self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  g_slist_free (listeners);

  return TRUE;
}

guint
kh_sandbox_get_port (KhSandbox *self)
{
  g_return_val_if_fail (KH_IS_SANDBOX (self), 0);

  return self->port;
}

char *
kh_sandbox_dup_origin (KhSandbox *self)
{
  g_return_val_if_fail (KH_IS_SANDBOX (self), NULL);

  return g_strdup_printf ("http://127.0.0.1:%u", self->port);
}

void
kh_sandbox_add_app (KhSandbox  *self,
                    const char *family,
                    const char *app_key,
                    const char *app_secret,
                    const char *service_id,
                    const char *redirect_uri)
{
  g_return_if_fail (KH_IS_SANDBOX (self));
  g_return_if_fail (g_strcmp0 (family, "shop") == 0 || g_strcmp0 (family, "business") == 0);
  g_return_if_fail (!sb_is_empty (app_key));
  g_return_if_fail (!sb_is_empty (app_secret));
  g_return_if_fail (redirect_uri == NULL || sb_is_valid_redirect_uri (redirect_uri));

  sb_register_app (self, family, app_key, app_secret, service_id, redirect_uri, NULL, NULL);
}

guint
kh_sandbox_deauthorize (KhSandbox  *self,
                        const char *open_id)
{
  guint n = 0;

  g_return_val_if_fail (KH_IS_SANDBOX (self), 0);
  g_return_val_if_fail (open_id != NULL, 0);

  for (guint i = 0; i < self->authorizations->len; i++)
    {
      SbAuthorization *auth = g_ptr_array_index (self->authorizations, i);

      if (g_strcmp0 (auth->open_id, open_id) == 0 && !auth->revoked)
        {
          sb_revoke_authorization (auth, "deauthorize");
          n++;
        }
    }

  return n;
}

void
kh_sandbox_reset (KhSandbox *self)
{
  g_return_if_fail (KH_IS_SANDBOX (self));

  /* Codes and tokens point into authorizations: drop them first. The secrets list stays, so a
   * leak audit still knows everything ever issued. */
  g_hash_table_remove_all (self->consents);
  g_hash_table_remove_all (self->codes);
  g_hash_table_remove_all (self->tokens);
  g_ptr_array_set_size (self->authorizations, 0);
  g_queue_clear_full (&self->faults, sb_fault_free);
  g_hash_table_remove_all (self->counters);
  g_hash_table_remove_all (self->in_flight_peak);
}
