/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox.c: keyhold-sandbox, a SoupServer that answers like every TikTok authorization
 * endpoint of tiktok-api.md: consent pages for the six account types, Shop token get/refresh,
 * Get Authorized Shops with signature checking, the Business token and account calls. It keeps
 * the rules that matter for a client (single-use expiring codes, rotating refresh tokens,
 * revocation), runs on a clock tests can move, injects faults on request and keeps a ledger of
 * everything it issued so tests can check nothing was lost or leaked.
 *
 * Requests may arrive as "/_host/<tiktok-host>/<path>" (the origin map of
 * kh_sandbox_dup_origin_map) or as plain "/<path>"; control endpoints live under /_sandbox/. */

#define G_LOG_DOMAIN "kh-sandbox"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox.h"

#include "kh-json.h"
#include "kh-sign.h"
#include "kh-util.h"

#include <fcntl.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#define MAX_BODY            (64 * 1024)
#define SHOP_CODE_TTL       (30 * 60)
#define BUSINESS_CODE_TTL   (60 * 60)
#define CONSENT_TTL         (60 * 60)
#define MAX_CONSENTS        1024
#define MAX_FAULTS          1024
#define MAX_TTL             G_GINT64_CONSTANT (3153600000)   /* 100 years */
#define MAX_LATENCY_MS      600000
#define CREATOR_REFRESH_EXPIRY G_GINT64_CONSTANT (4903858076)
/* Get Authorized Shops accepts a timestamp 5 minutes before to 30 s after server time. */
#define TIMESTAMP_BEFORE    300
#define TIMESTAMP_AFTER     30
/* Received values shorter than this are not listed as secrets: a leak audit that looked for
 * "x" in every log would only find noise. Issued values are always listed. */
#define MIN_SECRET_LENGTH   8

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define HEX   "0123456789abcdef"
#define DIGITS "0123456789"
#define UPPER_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* ---- the data model --------------------------------------------------------------------- */

typedef enum {
  FLOW_SELLER,
  FLOW_CREATOR,
  FLOW_PARTNER,
  FLOW_ADVERTISER,
  FLOW_TT_USER,
} Flow;

static const char * const flow_names[] = {
  "seller", "creator", "partner", "advertiser", "tiktok-account",
};

typedef enum {
  EP_AUTHORIZE,
  EP_SHOP_TOKEN_GET,
  EP_SHOP_TOKEN_REFRESH,
  EP_SHOP_SHOPS,
  EP_BIZ_ACCESS_TOKEN,
  EP_BIZ_ADVERTISER_GET,
  EP_BIZ_REVOKE_TOKEN,
  EP_TT_TOKEN,
  EP_TT_REFRESH,
  EP_TT_REVOKE,
  EP_TT_TOKEN_INFO,
  EP_BIZ_BUSINESS_GET,
} Endpoint;

typedef struct {
  const char *host;
  const char *path;
  const char *method;
  Endpoint    endpoint;
  Flow        flow;      /* EP_AUTHORIZE only */
  gboolean    us;        /* EP_AUTHORIZE only: a US link */
} Route;

/* Without a /_host prefix the first route of a path wins, so seller ROW comes first for
 * /open/authorize. */
static const Route routes[] = {
  { "services.tiktokshop.com", "/open/authorize", "GET", EP_AUTHORIZE, FLOW_SELLER, FALSE },
  { "services.us.tiktokshop.com", "/open/authorize", "GET", EP_AUTHORIZE, FLOW_SELLER, TRUE },
  { "services.tiktokshops.us", "/open/authorize", "GET", EP_AUTHORIZE, FLOW_SELLER, TRUE },
  { "auth.tiktok-shops.com", "/oauth/authorize", "GET", EP_AUTHORIZE, FLOW_SELLER, FALSE },
  { "auth.tiktok-shops.com", "/api/v2/token/get", "GET", EP_SHOP_TOKEN_GET, 0, FALSE },
  { "auth.tiktok-shops.com", "/api/v2/token/refresh", "GET", EP_SHOP_TOKEN_REFRESH, 0, FALSE },
  { "shop.tiktok.com", "/alliance/creator/auth", "GET", EP_AUTHORIZE, FLOW_CREATOR, FALSE },
  { "partner.tiktokshop.com", "/open/authorize", "GET", EP_AUTHORIZE, FLOW_PARTNER, FALSE },
  { "partner.us.tiktokshop.com", "/open/authorize", "GET", EP_AUTHORIZE, FLOW_PARTNER, TRUE },
  { "open-api.tiktokglobalshop.com", "/authorization/202309/shops", "GET", EP_SHOP_SHOPS, 0,
    FALSE },
  { "business-api.tiktok.com", "/portal/auth", "GET", EP_AUTHORIZE, FLOW_ADVERTISER, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/oauth2/access_token/", "POST",
    EP_BIZ_ACCESS_TOKEN, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/oauth2/advertiser/get/", "GET",
    EP_BIZ_ADVERTISER_GET, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/oauth2/revoke_token/", "POST",
    EP_BIZ_REVOKE_TOKEN, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/oauth2/token/", "POST", EP_TT_TOKEN, 0,
    FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/oauth2/refresh_token/", "POST",
    EP_TT_REFRESH, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/oauth2/revoke/", "POST", EP_TT_REVOKE, 0,
    FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/tt_user/token_info/get/", "POST",
    EP_TT_TOKEN_INFO, 0, FALSE },
  { "business-api.tiktok.com", "/open_api/v1.3/business/get/", "GET", EP_BIZ_BUSINESS_GET, 0,
    FALSE },
  { "ads.tiktok.com", "/marketing_api/auth", "GET", EP_AUTHORIZE, FLOW_ADVERTISER, FALSE },
  { "www.tiktok.com", "/v2/auth/authorize/", "GET", EP_AUTHORIZE, FLOW_TT_USER, FALSE },
  { "www.tiktok.com", "/v2/auth/authorize", "GET", EP_AUTHORIZE, FLOW_TT_USER, FALSE },
};

static const char * const tiktok_hosts[] = {
  "services.us.tiktokshop.com",
  "services.tiktokshops.us",
  "services.tiktokshop.com",
  "auth.tiktok-shops.com",
  "shop.tiktok.com",
  "partner.us.tiktokshop.com",
  "partner.tiktokshop.com",
  "open-api.tiktokglobalshop.com",
  "business-api.tiktok.com",
  "ads.tiktok.com",
  "www.tiktok.com",
};

typedef struct {
  char    *family;        /* "shop" | "business" */
  char    *app_key;       /* Shop app key, Business app id / client key */
  char    *app_secret;
  char    *service_id;
  char    *redirect_uri;
  char    *category;      /* "seller" | "partner" | NULL */
  GStrv    scopes;        /* what a consent grants; may be NULL */
  gint64   rate_second;
  guint    rate_count;
} SbApp;

typedef enum {
  TOKEN_ACCESS,
  TOKEN_REFRESH,
} TokenKind;

typedef struct _SbAuthorization SbAuthorization;

typedef struct {
  char            *value;
  TokenKind        kind;
  SbAuthorization *auth;          /* the owner */
  gint64           issued_at;
  gint64           expires_at;    /* 0: never */
  gboolean         superseded;    /* a refresh token replaced by rotation */
  gint64           superseded_at;
} SbToken;

typedef struct {
  char *id;
  char *name;
  char *region;
  char *seller_type;
  char *cipher;
  char *code;
} SbShop;

typedef struct {
  char *id;
  char *name;
} SbAdvertiser;

struct _SbAuthorization {
  char       *id;
  Flow        flow;
  char       *app_key;
  gboolean    us;
  char       *open_id;
  char       *seller_name;
  char       *seller_base_region;
  char       *display_name;
  char       *redirect_uri;
  GStrv       scopes;
  GPtrArray  *shops;             /* SbShop */
  GPtrArray  *advertisers;       /* SbAdvertiser */
  GPtrArray  *tokens;            /* SbToken, owned, in issue order */
  SbToken    *access;            /* current pair, borrowed from tokens */
  SbToken    *refresh;
  SbToken    *previous_refresh;  /* the one the last rotation replaced */
  gint64      refresh_expires_at;  /* end of the refresh window, fixed at the first issue */
  guint       refresh_count;
  gboolean    revoked;
  char       *revoked_reason;    /* "revoke" | "deauthorize" */
};

typedef struct {
  char            *value;
  SbAuthorization *auth;
  gint64           expires_at;
  gboolean         used;
} SbCode;

typedef struct {
  char     *id;
  Flow      flow;
  gboolean  us;
  char     *app_key;
  char     *redirect_uri;
  char     *state;
  GStrv     scopes;
  gint64    expires_at;
} SbConsent;

typedef struct {
  char               *path;
  guint               remaining;
  KhSandboxFaultKind  kind;
  int                 value;
} SbFault;

typedef struct {
  KhSandbox          *self;     /* borrowed: dispose drops every delay first */
  SoupServer         *server;
  SoupServerMessage  *msg;
  const char         *path;     /* the route's static path */
  guint               source_id;
} SbDelay;

struct _KhSandbox
{
  GObject      parent_instance;

  SoupServer  *server;
  guint        port;
  gint64       latency_ms;
  GRand       *rand;

  /* The sandbox clock: anchor_sandbox + (real now - anchor_real) * speed, in microseconds. */
  gint64       clock_anchor_real;
  gint64       clock_anchor_sandbox;
  double       clock_speed;

  gint64       shop_access_ttl;
  gint64       shop_refresh_ttl;
  gint64       tt_access_ttl;
  gint64       tt_refresh_ttl;
  gint64       refresh_grace;
  gint64       rate_limit;      /* calls per second per app; 0: no limit */
  char        *auto_consent;    /* "approve" | "deny": consent pages decide by themselves */

  GHashTable  *apps;            /* app_key -> SbApp */
  GPtrArray   *authorizations;  /* SbAuthorization, in creation order */
  GHashTable  *tokens;          /* value -> SbToken, borrowed from its authorization */
  GHashTable  *codes;           /* value -> SbCode */
  GHashTable  *consents;        /* id -> SbConsent */
  GQueue       faults;          /* SbFault, FIFO */
  GHashTable  *counters;        /* path -> call count */
  GHashTable  *in_flight;       /* path -> answers held back now (latency, delay faults) */
  GHashTable  *in_flight_peak;  /* path -> the most held back at once */
  GPtrArray   *secrets;         /* every secret issued or received, first-seen order */
  GHashTable  *secret_set;
  GPtrArray   *pending;         /* SbDelay */
  guint        serial;
};

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

static void
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

static void
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

static gboolean
is_empty (const char *str)
{
  return str == NULL || *str == '\0';
}

static gboolean
is_shop_flow (Flow flow)
{
  return flow == FLOW_SELLER || flow == FLOW_CREATOR || flow == FLOW_PARTNER;
}

static gboolean
is_printable_ascii (const char *str)
{
  for (const char *p = str; *p != '\0'; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      return FALSE;

  return TRUE;
}

/* Only http(s) URIs with a host, no whitespace or control characters: whatever ends up in a
 * Location header. */
static gboolean
is_valid_redirect_uri (const char *uri)
{
  g_autoptr(GUri) parsed = NULL;
  const char *scheme;

  if (is_empty (uri) || strlen (uri) > 2048 || !is_printable_ascii (uri))
    return FALSE;

  parsed = g_uri_parse (uri, G_URI_FLAGS_NONE, NULL);
  if (parsed == NULL)
    return FALSE;

  scheme = g_uri_get_scheme (parsed);
  return (g_strcmp0 (scheme, "http") == 0 || g_strcmp0 (scheme, "https") == 0) &&
         !is_empty (g_uri_get_host (parsed));
}

static char *
random_string (KhSandbox  *self,
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
  g_autofree char *tail = random_string (self, DIGITS, 18);

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

static void
note_secret (KhSandbox  *self,
             const char *value,
             gboolean    issued)
{
  if (is_empty (value) || g_hash_table_contains (self->secret_set, value))
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
static char **
split_scopes (const char *text)
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

static gboolean
is_decimal (const char *str)
{
  if (is_empty (str))
    return FALSE;

  for (const char *p = str; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;

  return TRUE;
}

/* ---- the clock -------------------------------------------------------------------------- */

static gint64
sandbox_now_usec (KhSandbox *self)
{
  gint64 real_elapsed = g_get_real_time () - self->clock_anchor_real;

  return self->clock_anchor_sandbox + (gint64) ((double) real_elapsed * self->clock_speed);
}

static gint64
sandbox_now (KhSandbox *self)
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

/* ---- apps ------------------------------------------------------------------------------- */

static void
register_app (KhSandbox          *self,
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
  app->service_id = is_empty (service_id) ? NULL : g_strdup (service_id);
  app->redirect_uri = is_empty (redirect_uri) ? NULL : g_strdup (redirect_uri);
  app->category = is_empty (category) ? NULL : g_strdup (category);
  app->scopes = scopes != NULL ? g_strdupv ((char **) scopes) : NULL;

  note_secret (self, app_secret, TRUE);
  g_hash_table_replace (self->apps, app->app_key, app);
}

static SbApp *
find_app (KhSandbox  *self,
          const char *family,
          const char *app_key)
{
  SbApp *app;

  if (is_empty (app_key))
    return NULL;

  app = g_hash_table_lookup (self->apps, app_key);
  if (app == NULL || g_strcmp0 (app->family, family) != 0)
    return NULL;

  return app;
}

static SbApp *
find_shop_app_by_service_id (KhSandbox  *self,
                             const char *service_id)
{
  GHashTableIter iter;
  gpointer value;

  if (is_empty (service_id))
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

static gboolean
secret_matches (SbApp      *app,
                const char *secret)
{
  return secret != NULL && kh_const_time_equal (app->app_secret, secret);
}

static gboolean
rate_allowed (KhSandbox *self,
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

  register_app (self, "shop", "demoshop", "demo-shop-secret", "7000000000000000001",
                "http://localhost:8765/callback", NULL, shop_scopes);
  register_app (self, "business", "7000000000000000002", "demo-business-secret", NULL,
                "http://localhost:8765/callback", NULL, NULL);
  /* The app of signature vector V1 (tiktok-api.md). */
  register_app (self, "shop", "29a39d", "e59af819cc", NULL, NULL, NULL, NULL);
}

/* ---- authorizations, codes and tokens --------------------------------------------------- */

static const char * const seller_words[] = {
  "Maple", "Harbour", "Cobalt", "Juniper", "Lantern", "Meadow", "Saffron", "Willow",
};
static const char * const shop_words[] = {
  "Beauty", "Outfitters", "Home Goods", "Gadgets", "Tea House", "Bookshop", "Studio", "Market",
};

static SbAuthorization *
create_authorization (KhSandbox          *self,
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
      auth->open_id = random_string (self, ALNUM, 22);
      auth->seller_name = g_strdup_printf (flow == FLOW_SELLER ? "%s Trading %u"
                                                               : "%s Partners %u",
                                           word, self->serial);
      n = flow == FLOW_SELLER ? (guint) g_rand_int_range (self->rand, 1, 4) : 0;
      for (guint i = 0; i < n; i++)
        {
          SbShop *shop = g_new0 (SbShop, 1);
          g_autofree char *cipher = random_string (self, ALNUM, 28);
          g_autofree char *code = random_string (self, UPPER_ALNUM, 8);

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
      auth->open_id = random_string (self, ALNUM, 22);
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
        g_autofree char *tail = random_string (self, ALNUM, 32);

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

static SbCode *
issue_code (KhSandbox       *self,
            SbAuthorization *auth)
{
  SbCode *code = g_new0 (SbCode, 1);
  g_autofree char *body = NULL;

  if (is_shop_flow (auth->flow))
    {
      body = random_string (self, ALNUM, 40);
      code->value = g_strdup_printf ("%s_%s", auth->us ? "US" : "ROW", body);
      code->expires_at = sandbox_now (self) + SHOP_CODE_TTL;
    }
  else
    {
      code->value = random_string (self, HEX, 40);
      code->expires_at = sandbox_now (self) + BUSINESS_CODE_TTL;
    }

  code->auth = auth;
  note_secret (self, code->value, TRUE);
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
      body = random_string (self, ALNUM, 56);
      token->value = g_strdup_printf ("%s_%s", auth->us ? "US" : "ROW", body);
      break;
    case FLOW_ADVERTISER:
      token->value = random_string (self, HEX, 40);
      break;
    case FLOW_TT_USER:
      body = random_string (self, ALNUM, 60);
      token->value = g_strdup_printf ("%s.%s", kind == TOKEN_ACCESS ? "act" : "rft", body);
      break;
    default:
      g_assert_not_reached ();
    }

  token->kind = kind;
  token->auth = auth;
  token->issued_at = sandbox_now (self);
  token->expires_at = expires_at;

  g_ptr_array_add (auth->tokens, token);
  g_hash_table_replace (self->tokens, token->value, token);
  note_secret (self, token->value, TRUE);

  return token;
}

/* Issues a new access token, and a new refresh token where the kind has one; the refresh token
 * it replaces stops working (rotation), the old access token lives on until it expires. */
static void
issue_tokens (KhSandbox       *self,
              SbAuthorization *auth)
{
  gint64 now = sandbox_now (self);

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

static gboolean
token_is_valid (KhSandbox *self,
                SbToken   *token)
{
  return !token->auth->revoked && !token->superseded &&
         (token->expires_at == 0 || sandbox_now (self) < token->expires_at);
}

static void
revoke_authorization (SbAuthorization *auth,
                      const char      *reason)
{
  if (auth->revoked)
    return;

  auth->revoked = TRUE;
  auth->revoked_reason = g_strdup (reason);
}

/* ---- responses -------------------------------------------------------------------------- */

typedef struct {
  KhSandbox          *self;
  SoupServer         *server;
  SoupServerMessage  *msg;
  const Route        *route;
  const char         *host;      /* from the /_host prefix, or NULL */
  const char         *path;      /* after the prefix */
  GHashTable         *query;     /* may be NULL */
  GBytes             *body;
  JsonNode           *json;      /* the parsed body, read on demand */
} Req;

static const char *
qget (Req        *req,
      const char *name)
{
  return req->query != NULL ? g_hash_table_lookup (req->query, name) : NULL;
}

static void
set_common_headers (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
}

static void
respond_json (SoupServerMessage *msg,
              guint              status,
              JsonNode          *node)
{
  g_autofree char *text = kh_json_to_string (node, FALSE);

  set_common_headers (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text,
                                    strlen (text));
}

static void
respond_json_object (SoupServerMessage *msg,
                     guint              status,
                     JsonObject        *object)   /* transfer full */
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  respond_json (msg, status, node);
}

static char *
new_request_id (KhSandbox *self)
{
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc (sandbox_now (self));
  g_autofree char *stamp = NULL;
  g_autofree char *tail = random_string (self, "0123456789ABCDEF", 20);

  stamp = when != NULL ? g_date_time_format (when, "%Y%m%d%H%M%S") : g_strdup ("19700101000000");
  return g_strconcat (stamp, tail, NULL);
}

/* TikTok's envelope, HTTP 200 whatever the code (both families). */
static void
respond_envelope (Req        *req,
                  int         code,
                  const char *message,
                  JsonObject *data)   /* transfer full, NULL: {} */
{
  JsonObject *root = json_object_new ();
  g_autofree char *request_id = new_request_id (req->self);

  json_object_set_int_member (root, "code", code);
  json_object_set_string_member (root, "message", message);
  json_object_set_string_member (root, "request_id", request_id);
  json_object_set_object_member (root, "data", data != NULL ? data : json_object_new ());
  respond_json_object (req->msg, SOUP_STATUS_OK, root);
}

static void
respond_success (Req        *req,
                 JsonObject *data)
{
  gboolean shop = req->route->endpoint == EP_SHOP_TOKEN_GET ||
                  req->route->endpoint == EP_SHOP_TOKEN_REFRESH ||
                  req->route->endpoint == EP_SHOP_SHOPS;

  respond_envelope (req, 0, shop ? "success" : "OK", data);
}

static void
respond_html (SoupServerMessage *msg,
              guint              status,
              const char        *title,
              const char        *body_html)
{
  g_autofree char *escaped_title = g_markup_escape_text (title, -1);
  g_autofree char *page = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  page = g_strdup_printf ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<title>%s</title></head>\n<body>\n<h1>%s</h1>\n%s\n</body></html>\n",
                          escaped_title, escaped_title, body_html);
  set_common_headers (msg);
  /* A static page: no scripts, no external resources. form-action is left open on purpose:
   * browsers apply it to the redirect that follows the consent form. */
  soup_message_headers_replace (headers, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY, page,
                                    strlen (page));
}

static void
respond_error_page (SoupServerMessage *msg,
                    guint              status,
                    const char        *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  g_autofree char *body = g_strdup_printf ("<p id=\"error\">%s</p>", escaped);

  respond_html (msg, status, _("Authorization failed"), body);
}

static void
respond_plain (SoupServerMessage *msg,
               guint              status,
               const char        *text)
{
  set_common_headers (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text,
                                    strlen (text));
}

static void
respond_control_error (SoupServerMessage *msg,
                       guint              status,
                       const char        *message)
{
  JsonObject *root = json_object_new ();

  json_object_set_boolean_member (root, "ok", FALSE);
  json_object_set_int_member (root, "code", 40002);
  json_object_set_string_member (root, "message", message);
  respond_json_object (msg, status, root);
}

static void
respond_control_ok (SoupServerMessage *msg,
                    JsonObject        *root)   /* transfer full, NULL: {} */
{
  if (root == NULL)
    root = json_object_new ();
  json_object_set_boolean_member (root, "ok", TRUE);
  respond_json_object (msg, SOUP_STATUS_OK, root);
}

static JsonObject *
req_json_object (Req *req)
{
  gsize size = 0;
  const char *data = req->body != NULL ? g_bytes_get_data (req->body, &size) : NULL;

  if (req->json == NULL && size > 0)
    req->json = kh_json_parse (data, size, NULL);

  return kh_json_node_object (req->json);
}

/* TikTok sends ids as strings or numbers; both are accepted. */
static char *
json_dup_id (JsonObject *object,
             const char *member)
{
  const char *str = kh_json_get_string (object, member);
  gint64 value;

  if (str != NULL)
    return g_strdup (str);
  if (kh_json_get_int (object, member, &value))
    return g_strdup_printf ("%" G_GINT64_FORMAT, value);

  return NULL;
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
static void
delay_response (KhSandbox         *self,
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

static gboolean
take_fault (KhSandbox *self,
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

static void
drop_connection (SoupServerMessage *msg)
{
  g_autoptr(GIOStream) stream = soup_server_message_steal_connection (msg);

  if (stream != NULL)
    g_io_stream_close (stream, NULL, NULL);
}

/* ---- consent ---------------------------------------------------------------------------- */

static const char *
flow_label (Flow flow)
{
  switch (flow)
    {
    case FLOW_SELLER:
      return _("TikTok Shop seller account");
    case FLOW_CREATOR:
      return _("TikTok Shop creator account");
    case FLOW_PARTNER:
      return _("TikTok Shop partner account");
    case FLOW_ADVERTISER:
      return _("TikTok for Business advertiser account");
    case FLOW_TT_USER:
      return _("TikTok account");
    default:
      g_assert_not_reached ();
    }
}

static gboolean
scope_fits_flow (Flow        flow,
                 const char *scope)
{
  switch (flow)
    {
    case FLOW_SELLER:
      return !g_str_has_prefix (scope, "creator") && !g_str_has_prefix (scope, "partner");
    case FLOW_CREATOR:
      return g_str_has_prefix (scope, "creator");
    case FLOW_PARTNER:
      return g_str_has_prefix (scope, "partner");
    case FLOW_ADVERTISER:
      return is_decimal (scope);
    case FLOW_TT_USER:
      return !is_decimal (scope);
    default:
      g_assert_not_reached ();
    }
}

/* What a consent grants: the scopes the link asks for (TikTok account links), else the app's
 * scopes that fit the flow, else a default; grant_scopes (tests of partial authorization)
 * narrows that down. */
static char **
consent_scopes (SbApp      *app,
                Flow        flow,
                const char *link_scope,
                const char *grant_scopes)
{
  static const char * const seller_default[] = { "seller.authorization.info", NULL };
  static const char * const creator_default[] = { "creator.affiliate.info", NULL };
  static const char * const partner_default[] = { "partner.tap.info", NULL };
  static const char * const advertiser_default[] = { "1", "2", "3", "4", NULL };
  static const char * const tt_default[] = {
    "user.info.basic", "user.info.username", "user.info.stats", "video.list", NULL,
  };
  const char * const *defaults = NULL;
  g_autoptr(GPtrArray) base = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) grant = NULL;
  GPtrArray *out = g_ptr_array_new ();

  if (flow == FLOW_TT_USER && !is_empty (link_scope))
    {
      g_auto(GStrv) requested = split_scopes (link_scope);

      for (guint i = 0; requested[i] != NULL; i++)
        g_ptr_array_add (base, g_strdup (requested[i]));
    }
  else if (app->scopes != NULL)
    {
      for (guint i = 0; app->scopes[i] != NULL; i++)
        if (scope_fits_flow (flow, app->scopes[i]))
          g_ptr_array_add (base, g_strdup (app->scopes[i]));
    }

  if (base->len == 0 && (app->scopes == NULL || flow == FLOW_ADVERTISER || flow == FLOW_TT_USER))
    {
      switch (flow)
        {
        case FLOW_SELLER:
          defaults = seller_default;
          break;
        case FLOW_CREATOR:
          defaults = creator_default;
          break;
        case FLOW_PARTNER:
          defaults = partner_default;
          break;
        case FLOW_ADVERTISER:
          defaults = advertiser_default;
          break;
        case FLOW_TT_USER:
          defaults = tt_default;
          break;
        default:
          g_assert_not_reached ();
        }
      for (guint i = 0; defaults[i] != NULL; i++)
        g_ptr_array_add (base, g_strdup (defaults[i]));
    }

  grant = grant_scopes != NULL ? split_scopes (grant_scopes) : NULL;
  for (guint i = 0; i < base->len; i++)
    {
      const char *scope = g_ptr_array_index (base, i);

      if (grant == NULL || g_strv_contains ((const char * const *) grant, scope))
        g_ptr_array_add (out, g_strdup (scope));
    }

  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static void
append_param (GString    *url,
              gboolean   *first,
              const char *name,
              const char *value)
{
  g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);

  g_string_append_c (url, *first ? '?' : '&');
  *first = FALSE;
  g_string_append_printf (url, "%s=%s", name, escaped);
}

/* Ends a consent: creates the authorization and its code, or not, and redirects the browser to
 * the redirect URI with the parameters TikTok sends for that flow. */
static void
finish_consent (KhSandbox          *self,
                SoupServerMessage  *msg,
                SbApp              *app,
                Flow                flow,
                gboolean            us,
                const char         *redirect_uri,
                const char         *state,
                const char * const *scopes,
                gboolean            approve)
{
  const char *fragment = strchr (redirect_uri, '#');
  gsize base_len = fragment != NULL ? (gsize) (fragment - redirect_uri) : strlen (redirect_uri);
  g_autoptr(GString) url = g_string_new_len (redirect_uri, (gssize) base_len);
  gboolean first = memchr (redirect_uri, '?', base_len) == NULL;

  if (approve)
    {
      SbAuthorization *auth = create_authorization (self, flow, app, us, redirect_uri, scopes);
      SbCode *code = issue_code (self, auth);

      switch (flow)
        {
        case FLOW_SELLER:
        case FLOW_CREATOR:
        case FLOW_PARTNER:
          append_param (url, &first, "code", code->value);
          if (state != NULL)
            append_param (url, &first, "state", state);
          append_param (url, &first, "app_key", app->app_key);
          append_param (url, &first, "locale", "en-GB");
          append_param (url, &first, "shop_region", us ? "US" : "GB");
          break;
        case FLOW_ADVERTISER:
          append_param (url, &first, "auth_code", code->value);
          append_param (url, &first, "code", code->value);
          if (state != NULL)
            append_param (url, &first, "state", state);
          break;
        case FLOW_TT_USER:
          {
            g_autofree char *joined = g_strjoinv (",", (char **) scopes);

            append_param (url, &first, "code", code->value);
            if (state != NULL)
              append_param (url, &first, "state", state);
            append_param (url, &first, "scopes", joined);
          }
          break;
        default:
          g_assert_not_reached ();
        }
    }
  else if (is_shop_flow (flow))
    {
      append_param (url, &first, "error", "access_denied");
      append_param (url, &first, "code", "null");
      if (state != NULL)
        append_param (url, &first, "state", state);
    }
  else
    {
      append_param (url, &first, "error", "access_denied");
      append_param (url, &first, "error_description", "The user denied the authorization");
      if (state != NULL)
        append_param (url, &first, "state", state);
    }

  if (fragment != NULL)
    g_string_append (url, fragment);

  set_common_headers (msg);
  soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, url->str);
}

static void
prune_consents (KhSandbox *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = sandbox_now (self);

  g_hash_table_iter_init (&iter, self->consents);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((SbConsent *) value)->expires_at <= now)
      g_hash_table_iter_remove (&iter);
}

static void
respond_consent_page (SoupServerMessage *msg,
                      SbConsent         *consent)
{
  g_autofree char *app = g_markup_escape_text (consent->app_key, -1);
  g_autofree char *id = g_markup_escape_text (consent->id, -1);
  g_autofree char *label = g_markup_escape_text (flow_label (consent->flow), -1);
  g_autofree char *title = g_strdup_printf (_("Authorize %s"), consent->app_key);
  g_autofree char *intro = NULL;
  g_autofree char *body = NULL;
  g_autoptr(GString) items = g_string_new (NULL);

  for (guint i = 0; consent->scopes[i] != NULL; i++)
    {
      g_autofree char *scope = g_markup_escape_text (consent->scopes[i], -1);

      g_string_append_printf (items, "<li>%s</li>", scope);
    }

  intro = g_strdup_printf (_("The app <strong id=\"app\">%s</strong> asks to connect to your "
                             "<span id=\"flow\">%s</span>. This is keyhold-sandbox: nothing "
                             "leaves this computer."), app, label);
  body = g_strdup_printf ("<p>%s</p>\n<ul id=\"scopes\">%s</ul>\n"
                          "<form method=\"post\" action=\"/_sandbox/consent\">\n"
                          "<input type=\"hidden\" name=\"consent\" value=\"%s\">\n"
                          "<button type=\"submit\" name=\"decision\" value=\"approve\" "
                          "id=\"approve\">%s</button>\n"
                          "<button type=\"submit\" name=\"decision\" value=\"deny\" "
                          "id=\"deny\">%s</button>\n</form>",
                          intro, items->str, id, _("Approve"), _("Deny"));
  respond_html (msg, SOUP_STATUS_OK, title, body);
}

static void
handle_authorize (Req *req)
{
  KhSandbox *self = req->self;
  Flow flow = req->route->flow;
  gboolean us = req->route->us;
  const char *state = qget (req, "state");
  const char *auto_mode = qget (req, "auto") != NULL ? qget (req, "auto") : self->auto_consent;
  const char *link_redirect = qget (req, "redirect_uri");
  const char *redirect_uri;
  SbApp *app = NULL;
  g_auto(GStrv) scopes = NULL;
  SbConsent *consent;

  note_secret (self, state, FALSE);

  switch (flow)
    {
    case FLOW_SELLER:
    case FLOW_PARTNER:
      app = find_shop_app_by_service_id (self, qget (req, "service_id"));
      if (app == NULL)
        app = find_app (self, "shop", qget (req, "app_key"));
      break;
    case FLOW_CREATOR:
      app = find_app (self, "shop", qget (req, "app_key"));
      break;
    case FLOW_ADVERTISER:
      app = find_app (self, "business", qget (req, "app_id"));
      break;
    case FLOW_TT_USER:
      app = find_app (self, "business", qget (req, "client_key"));
      break;
    default:
      g_assert_not_reached ();
    }

  if (app == NULL)
    {
      respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                          _("This link names no app the sandbox knows. Register the app with "
                            "POST /_sandbox/apps first."));
      return;
    }

  /* A plain origin map cannot tell seller from partner links: the app's category does. */
  if (req->host == NULL && flow == FLOW_SELLER && g_strcmp0 (app->category, "partner") == 0)
    flow = FLOW_PARTNER;

  if (flow == FLOW_CREATOR && is_empty (state))
    {
      respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                          _("The state parameter is required for creator authorization."));
      return;
    }

  if (flow == FLOW_TT_USER && g_strcmp0 (qget (req, "response_type"), "code") != 0)
    {
      respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                          _("response_type must be \"code\"."));
      return;
    }

  if (is_shop_flow (flow))
    {
      if (app->redirect_uri == NULL)
        {
          respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                              _("The app has no registered redirect URL."));
          return;
        }
      redirect_uri = app->redirect_uri;
    }
  else if (app->redirect_uri != NULL)
    {
      if (link_redirect != NULL && strcmp (link_redirect, app->redirect_uri) != 0)
        {
          respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                              _("redirect_uri does not match the app's registered redirect "
                                "URL."));
          return;
        }
      redirect_uri = app->redirect_uri;
    }
  else
    {
      if (!is_valid_redirect_uri (link_redirect))
        {
          respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                              _("The link has no valid redirect_uri."));
          return;
        }
      redirect_uri = link_redirect;
    }

  scopes = consent_scopes (app, flow, qget (req, "scope"), qget (req, "grant_scopes"));

  if (auto_mode != NULL)
    {
      if (g_strcmp0 (auto_mode, "approve") != 0 && g_strcmp0 (auto_mode, "deny") != 0)
        {
          respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                              _("auto must be \"approve\" or \"deny\"."));
          return;
        }
      finish_consent (self, req->msg, app, flow, us, redirect_uri, state,
                      (const char * const *) scopes, g_str_equal (auto_mode, "approve"));
      return;
    }

  prune_consents (self);
  if (g_hash_table_size (self->consents) >= MAX_CONSENTS)
    {
      respond_error_page (req->msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                          _("Too many consent pages are open; try again later."));
      return;
    }

  consent = g_new0 (SbConsent, 1);
  consent->id = random_string (self, ALNUM, 32);
  consent->flow = flow;
  consent->us = us;
  consent->app_key = g_strdup (app->app_key);
  consent->redirect_uri = g_strdup (redirect_uri);
  consent->state = g_strdup (state);
  consent->scopes = g_steal_pointer (&scopes);
  consent->expires_at = sandbox_now (self) + CONSENT_TTL;
  g_hash_table_replace (self->consents, consent->id, consent);

  respond_consent_page (req->msg, consent);
}

/* The Approve / Deny form of the consent page (POST form, or GET with the same fields). */
static void
handle_consent_decision (KhSandbox         *self,
                         SoupServerMessage *msg,
                         GHashTable        *query,
                         GBytes            *body)
{
  g_autoptr(GHashTable) form = NULL;
  GHashTable *params = query;
  const char *id = NULL;
  const char *decision = NULL;
  SbConsent *consent = NULL;
  SbApp *app;

  if (g_strcmp0 (soup_server_message_get_method (msg), SOUP_METHOD_POST) == 0)
    {
      gsize size = 0;
      const char *data = body != NULL ? g_bytes_get_data (body, &size) : NULL;
      g_autofree char *text = g_strndup (data != NULL ? data : "", size);

      form = soup_form_decode (text);
      params = form;
    }
  else if (g_strcmp0 (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0)
    {
      respond_plain (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Method not allowed\n");
      return;
    }

  if (params != NULL)
    {
      id = g_hash_table_lookup (params, "consent");
      decision = g_hash_table_lookup (params, "decision");
    }

  prune_consents (self);
  if (id != NULL)
    consent = g_hash_table_lookup (self->consents, id);

  if (consent == NULL)
    {
      respond_error_page (msg, SOUP_STATUS_BAD_REQUEST,
                          _("This consent page has expired or was already used. Open the "
                            "authorization link again."));
      return;
    }

  if (g_strcmp0 (decision, "approve") != 0 && g_strcmp0 (decision, "deny") != 0)
    {
      respond_error_page (msg, SOUP_STATUS_BAD_REQUEST, _("Choose Approve or Deny."));
      return;
    }

  app = find_app (self, is_shop_flow (consent->flow) ? "shop" : "business", consent->app_key);
  if (app == NULL)
    {
      g_hash_table_remove (self->consents, id);
      respond_error_page (msg, SOUP_STATUS_BAD_REQUEST, _("The app is no longer registered."));
      return;
    }

  /* Single use: the consent is gone before the redirect is built. */
  g_hash_table_steal (self->consents, id);
  finish_consent (self, msg, app, consent->flow, consent->us, consent->redirect_uri,
                  consent->state, (const char * const *) consent->scopes,
                  g_str_equal (decision, "approve"));
  sb_consent_free (consent);
}

/* ---- TikTok Shop ------------------------------------------------------------------------ */

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
  const char *app_key = qget (req, "app_key");
  const char *app_secret = qget (req, "app_secret");
  const char *grant_type = qget (req, "grant_type");
  const char *credential = qget (req, refresh ? "refresh_token" : "auth_code");
  gint64 now = sandbox_now (self);
  SbAuthorization *auth;
  SbApp *app;

  note_secret (self, app_secret, FALSE);
  note_secret (self, credential, FALSE);

  if (is_empty (app_key))
    {
      respond_envelope (req, 36009004, "invalid app_key: app_key is missing", NULL);
      return;
    }

  app = find_app (self, "shop", app_key);
  if (app == NULL)
    {
      respond_envelope (req, 36009004, "invalid app_key", NULL);
      return;
    }

  if (!rate_allowed (self, app))
    {
      respond_envelope (req, 36009002, "Too many requests, please try again later", NULL);
      return;
    }

  if (!secret_matches (app, app_secret))
    {
      respond_envelope (req, 36009004, "invalid app_secret", NULL);
      return;
    }

  if (g_strcmp0 (grant_type, refresh ? "refresh_token" : "authorized_code") != 0)
    {
      respond_envelope (req, 36009004,
                        refresh ? "invalid grant_type: expected refresh_token"
                                : "invalid grant_type: expected authorized_code", NULL);
      return;
    }

  if (!refresh)
    {
      SbCode *code = is_empty (credential) ? NULL : g_hash_table_lookup (self->codes, credential);

      if (code == NULL || code->used || !is_shop_flow (code->auth->flow) ||
          g_strcmp0 (code->auth->app_key, app->app_key) != 0 || now >= code->expires_at ||
          code->auth->revoked)
        {
          respond_envelope (req, 36004004, "invalid auth_code: it is wrong, used or expired",
                            NULL);
          return;
        }

      code->used = TRUE;
      auth = code->auth;
      issue_tokens (self, auth);
    }
  else
    {
      SbToken *token = is_empty (credential) ? NULL
                                             : g_hash_table_lookup (self->tokens, credential);

      if (token == NULL || token->kind != TOKEN_REFRESH || !is_shop_flow (token->auth->flow) ||
          g_strcmp0 (token->auth->app_key, app->app_key) != 0)
        {
          respond_envelope (req, 36004005, "no related auth record for this refresh_token",
                            NULL);
          return;
        }

      auth = token->auth;
      if (auth->revoked)
        {
          respond_envelope (req, 105001, "your token has been deauthorized", NULL);
          return;
        }

      if (now >= auth->refresh_expires_at)
        {
          respond_envelope (req, 36004001, "refresh_token expired", NULL);
          return;
        }

      if (token->superseded)
        {
          /* Within the grace period a retried refresh gets the current pair again. */
          if (token != auth->previous_refresh || now - token->superseded_at >= self->refresh_grace)
            {
              respond_envelope (req, 36004005, "no related auth record for this refresh_token",
                                NULL);
              return;
            }
        }
      else
        {
          issue_tokens (self, auth);
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
  const char *app_key = qget (req, "app_key");
  const char *sign = qget (req, "sign");
  const char *timestamp_text = qget (req, "timestamp");
  const char *access = soup_message_headers_get_one (headers, "x-tts-access-token");
  const char *content_type = soup_message_headers_get_one (headers, "Content-Type");
  gsize body_size = 0;
  const char *body = req->body != NULL ? g_bytes_get_data (req->body, &body_size) : NULL;
  gint64 now = sandbox_now (self);
  guint64 timestamp;
  SbToken *token;
  SbApp *app;
  JsonArray *shops;
  JsonObject *data;

  note_secret (self, access, FALSE);

  if (is_empty (app_key))
    {
      respond_envelope (req, 36009004, "invalid app_key: app_key is missing", NULL);
      return;
    }

  app = find_app (self, "shop", app_key);
  if (app == NULL)
    {
      respond_envelope (req, 36009004, "invalid app_key", NULL);
      return;
    }

  /* The signature comes before everything else, as at TikTok. */
  if (is_empty (sign) ||
      !kh_sign_verify (app->app_secret, req->path, req->query, body_size > 0 ? body : NULL,
                       body_size, content_type, sign))
    {
      respond_envelope (req, 106001, "Invalid credentials: the sign is wrong", NULL);
      return;
    }

  if (!rate_allowed (self, app))
    {
      respond_envelope (req, 36009002, "Too many requests, please try again later", NULL);
      return;
    }

  if (!is_decimal (timestamp_text) || strlen (timestamp_text) > 12 ||
      !g_ascii_string_to_unsigned (timestamp_text, 10, 0, G_MAXINT64, &timestamp, NULL) ||
      (gint64) timestamp < now - TIMESTAMP_BEFORE || (gint64) timestamp > now + TIMESTAMP_AFTER)
    {
      respond_envelope (req, 36009004,
                        "invalid timestamp: it must be within 5 minutes of server time", NULL);
      return;
    }

  if (is_empty (access))
    {
      respond_envelope (req, 36009004, "invalid access_token: x-tts-access-token is missing",
                        NULL);
      return;
    }

  token = g_hash_table_lookup (self->tokens, access);
  if (token == NULL || token->kind != TOKEN_ACCESS || !is_shop_flow (token->auth->flow) ||
      g_strcmp0 (token->auth->app_key, app->app_key) != 0 || token->auth->revoked)
    {
      respond_envelope (req, 105001, "your token has been deauthorized or is invalid", NULL);
      return;
    }

  if (now >= token->expires_at)
    {
      respond_envelope (req, 105002, "access token expired", NULL);
      return;
    }

  if (token->auth->flow == FLOW_CREATOR)
    {
      respond_envelope (req, 101000, "this API is not available to creator tokens", NULL);
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

/* ---- TikTok for Business ---------------------------------------------------------------- */

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

  if (is_empty (value))
    {
      respond_envelope (req, 40104, "Access token is missing", NULL);
      return NULL;
    }

  note_secret (self, value, FALSE);
  token = g_hash_table_lookup (self->tokens, value);
  if (token == NULL || token->kind != TOKEN_ACCESS || is_shop_flow (token->auth->flow))
    {
      respond_envelope (req, 40105, "Access token is invalid", NULL);
      return NULL;
    }

  if (token->auth->revoked)
    {
      respond_envelope (req, 40105, "Access token has been revoked", NULL);
      return NULL;
    }

  if (!allow_expired && token->expires_at != 0 && sandbox_now (self) >= token->expires_at)
    {
      respond_envelope (req, 40102, "Access token has expired", NULL);
      return NULL;
    }

  if (app_id != NULL && g_strcmp0 (token->auth->app_key, app_id) != 0)
    {
      respond_envelope (req, 40000, "The access token does not belong to this app", NULL);
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
  SbApp *app = find_app (req->self, "business", app_id);

  note_secret (req->self, secret, FALSE);

  if (app == NULL || (need_secret && !secret_matches (app, secret)))
    {
      respond_envelope (req, 40113, "The app_id or secret is wrong, or the app is blocked",
                        NULL);
      return NULL;
    }

  if (!rate_allowed (req->self, app))
    {
      respond_envelope (req, 40100, "Too many requests: the rate limit was exceeded", NULL);
      return NULL;
    }

  return app;
}

static JsonObject *
business_body (Req *req)
{
  JsonObject *body = req_json_object (req);

  if (body == NULL)
    respond_envelope (req, 40002, "The request body must be a JSON object", NULL);

  return body;
}

static void
respond_missing (Req        *req,
                 const char *member)
{
  g_autofree char *message = g_strdup_printf ("%s: Missing data for required field.", member);

  respond_envelope (req, 40002, message, NULL);
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
    if (is_empty (values[i]))
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

  note_secret (self, value, FALSE);
  code = g_hash_table_lookup (self->codes, value);
  if (code == NULL || code->used || code->auth->flow != flow ||
      g_strcmp0 (code->auth->app_key, app->app_key) != 0 ||
      sandbox_now (self) >= code->expires_at || code->auth->revoked)
    {
      respond_envelope (req, 40110, "Auth code is invalid, used or expired", NULL);
      return NULL;
    }

  /* The exchange must name the redirect URI of the authorization exactly. */
  if (redirect_uri != NULL && g_strcmp0 (redirect_uri, code->auth->redirect_uri) != 0)
    {
      respond_envelope (req, 40002, "redirect_uri does not match the authorization's", NULL);
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

  app_id = json_dup_id (body, "app_id");
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

  issue_tokens (req->self, auth);

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
  const char *app_id = qget (req, "app_id");
  const char *secret = qget (req, "secret");
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
      respond_envelope (req, 40001, "No permission: not an advertiser authorization", NULL);
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

  app_id = json_dup_id (body, id_member);
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
      respond_envelope (req, 40105,
                        tt_user ? "Access token is not a TikTok account token"
                                : "Access token is not an advertiser token", NULL);
      return;
    }

  revoke_authorization (token->auth, "revoke");
  respond_success (req, NULL);
}

static JsonObject *
tt_token_data (KhSandbox       *self,
               SbAuthorization *auth)
{
  JsonObject *data = json_object_new ();
  g_autofree char *scope = g_strjoinv (",", auth->scopes);
  gint64 now = sandbox_now (self);

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

  client_id = json_dup_id (body, "client_id");
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
      respond_envelope (req, 40108, "grant_type must be authorization_code", NULL);
      return;
    }

  auth = take_business_code (req, app, auth_code, FLOW_TT_USER, redirect_uri);
  if (auth == NULL)
    return;

  issue_tokens (req->self, auth);
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
  gint64 now = sandbox_now (self);
  SbAuthorization *auth;
  SbToken *token;
  SbApp *app;

  if (body == NULL)
    return;

  client_id = json_dup_id (body, "client_id");
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
      respond_envelope (req, 40108, "grant_type must be refresh_token", NULL);
      return;
    }

  note_secret (self, value, FALSE);
  token = g_hash_table_lookup (self->tokens, value);
  if (token == NULL || token->kind != TOKEN_REFRESH || token->auth->flow != FLOW_TT_USER ||
      g_strcmp0 (token->auth->app_key, app->app_key) != 0)
    {
      respond_envelope (req, 40107, "Refresh token is invalid", NULL);
      return;
    }

  auth = token->auth;
  if (auth->revoked)
    {
      respond_envelope (req, 40105, "The authorization has been revoked", NULL);
      return;
    }

  if (now >= auth->refresh_expires_at)
    {
      respond_envelope (req, 40103, "Refresh token has expired", NULL);
      return;
    }

  if (token->superseded)
    {
      if (token != auth->previous_refresh || now - token->superseded_at >= self->refresh_grace)
        {
          respond_envelope (req, 40107, "Refresh token is invalid", NULL);
          return;
        }
    }
  else
    {
      issue_tokens (self, auth);
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

  app_id = json_dup_id (body, "app_id");
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
      respond_envelope (req, 40001, "No permission: not a TikTok account token", NULL);
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
  const char *business_id = qget (req, "business_id");
  const char *fields_text = qget (req, "fields");
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

  app = find_app (req->self, "business", token->auth->app_key);
  if (app != NULL && !rate_allowed (req->self, app))
    {
      respond_envelope (req, 40100, "Too many requests: the rate limit was exceeded", NULL);
      return;
    }

  if (is_empty (business_id))
    {
      respond_missing (req, "business_id");
      return;
    }

  if (token->auth->flow != FLOW_TT_USER || g_strcmp0 (business_id, token->auth->open_id) != 0)
    {
      respond_envelope (req, 40001, "No permission to access this business_id", NULL);
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
          respond_envelope (req, 40002, "fields must be a JSON array of strings", NULL);
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

/* ---- the ledger ------------------------------------------------------------------------- */

/* Whether a refresh with this refresh token would succeed now: the current one, or the one the
 * last rotation replaced while the grace lasts (it gets the current pair again). */
static gboolean
refresh_token_accepted (KhSandbox *self,
                        SbToken   *token)
{
  SbAuthorization *auth = token->auth;
  gint64 now = sandbox_now (self);

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
  json_object_set_boolean_member (object, "valid", token_is_valid (self, token));
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

  json_object_set_int_member (root, "now", sandbox_now (self));
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

  app_key = json_dup_id (app, "app_key");
  if (is_empty (app_key) || strlen (app_key) > 128 || !is_printable_ascii (app_key))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "app_key must be a non-empty printable string");
      return FALSE;
    }

  secret = kh_json_get_string (app, "app_secret");
  if (is_empty (secret) || strlen (secret) > 256 || !is_printable_ascii (secret))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "app_secret must be a non-empty printable string");
      return FALSE;
    }

  if (json_object_has_member (app, "service_id"))
    {
      service_id = json_dup_id (app, "service_id");
      if (!is_decimal (service_id) || strlen (service_id) > 32)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "service_id must be a string of digits");
          return FALSE;
        }
    }

  redirect_uri = kh_json_get_string (app, "redirect_uri");
  if (json_object_has_member (app, "redirect_uri") &&
      !JSON_NODE_HOLDS_NULL (json_object_get_member (app, "redirect_uri")) &&
      !is_valid_redirect_uri (redirect_uri))
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
        if (is_empty (scopes[i]) || strlen (scopes[i]) > 128 || !is_printable_ascii (scopes[i]))
          {
            g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                                 "each scope must be a non-empty printable string");
            return FALSE;
          }
    }

  register_app (self, family, app_key, secret, service_id, redirect_uri, category,
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

  if (is_empty (path_value) || strlen (path_value) > 256 ||
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

static void
handle_control (KhSandbox         *self,
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
      handle_consent_decision (self, msg, query, body);
      return;
    }

  if (is_post)
    {
      node = size > 0 ? kh_json_parse (data, size, NULL) : NULL;
      object = kh_json_node_object (node);
      /* reset needs no body; every other POST takes a JSON object. */
      if (object == NULL && !g_str_equal (path, "/_sandbox/reset"))
        {
          respond_control_error (msg, SOUP_STATUS_BAD_REQUEST,
                                 "the body must be a JSON object");
          return;
        }
    }

  if (g_str_equal (path, "/_sandbox/apps") && is_get)
    respond_control_ok (msg, apps_to_json (self));
  else if (g_str_equal (path, "/_sandbox/apps") && is_post)
    {
      if (!kh_sandbox_add_app_json (self, object, &error))
        respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      else
        respond_control_ok (msg, NULL);
    }
  else if (g_str_equal (path, "/_sandbox/faults") && is_get)
    respond_control_ok (msg, faults_to_json (self));
  else if (g_str_equal (path, "/_sandbox/faults") && is_post)
    {
      g_autofree char *fault_path = NULL;
      KhSandboxFaultKind kind = KH_SANDBOX_FAULT_ERROR_CODE;
      guint count = 0;
      int value = 0;

      if (g_queue_get_length (&self->faults) >= MAX_FAULTS)
        respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, "too many faults queued");
      else if (!parse_fault (object, &fault_path, &count, &kind, &value, &error))
        respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      else
        {
          kh_sandbox_add_fault (self, fault_path, count, kind, value);
          respond_control_ok (msg, NULL);
        }
    }
  else if (g_str_equal (path, "/_sandbox/faults") &&
           g_strcmp0 (method, SOUP_METHOD_DELETE) == 0)
    {
      kh_sandbox_clear_faults (self);
      respond_control_ok (msg, NULL);
    }
  else if (g_str_equal (path, "/_sandbox/ledger") && is_get)
    {
      g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (self);

      respond_json (msg, SOUP_STATUS_OK, ledger);
    }
  else if (g_str_equal (path, "/_sandbox/deauthorize") && is_post)
    {
      const char *open_id = kh_json_get_string (object, "open_id");
      JsonObject *result;

      if (is_empty (open_id))
        {
          respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, "open_id is missing");
          return;
        }
      result = json_object_new ();
      json_object_set_int_member (result, "deauthorized", kh_sandbox_deauthorize (self, open_id));
      respond_control_ok (msg, result);
    }
  else if (g_str_equal (path, "/_sandbox/reset") && is_post)
    {
      kh_sandbox_reset (self);
      respond_control_ok (msg, NULL);
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
          respond_control_error (msg, SOUP_STATUS_BAD_REQUEST,
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
              respond_control_error (msg, SOUP_STATUS_BAD_REQUEST,
                                     "speed must be a number above 0");
              return;
            }
          kh_sandbox_set_clock_speed (self, speed);
        }
      if (advance != 0)
        kh_sandbox_advance_clock (self, advance);

      result = json_object_new ();
      json_object_set_int_member (result, "now", sandbox_now (self));
      json_object_set_double_member (result, "speed", self->clock_speed);
      respond_control_ok (msg, result);
    }
  else if (g_str_equal (path, "/_sandbox/config") && is_get)
    respond_control_ok (msg, config_to_json (self));
  else if (g_str_equal (path, "/_sandbox/config") && is_post)
    {
      if (!kh_sandbox_configure (self, object, &error))
        respond_control_error (msg, SOUP_STATUS_BAD_REQUEST, error->message);
      else
        respond_control_ok (msg, config_to_json (self));
    }
  else
    respond_control_error (msg, SOUP_STATUS_NOT_FOUND, "no such control endpoint or method");
}

/* ---- the request dispatcher ------------------------------------------------------------- */

static gboolean
is_known_host (const char *host)
{
  for (guint i = 0; i < G_N_ELEMENTS (tiktok_hosts); i++)
    if (g_str_equal (tiktok_hosts[i], host))
      return TRUE;

  return FALSE;
}

static const Route *
find_route (const char *host,
            const char *path)
{
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    if (g_str_equal (routes[i].path, path) &&
        (host == NULL || g_str_equal (routes[i].host, host)))
      return &routes[i];

  return NULL;
}

static void
count_call (KhSandbox  *self,
            const char *path)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->counters, path));

  /* path is one of the static route paths, so the table never grows with hostile input. */
  g_hash_table_replace (self->counters, (gpointer) path, GUINT_TO_POINTER (count + 1));
}

static void
dispatch (Req *req)
{
  switch (req->route->endpoint)
    {
    case EP_AUTHORIZE:
      handle_authorize (req);
      break;
    case EP_SHOP_TOKEN_GET:
      handle_shop_token (req, FALSE);
      break;
    case EP_SHOP_TOKEN_REFRESH:
      handle_shop_token (req, TRUE);
      break;
    case EP_SHOP_SHOPS:
      handle_shop_shops (req);
      break;
    case EP_BIZ_ACCESS_TOKEN:
      handle_biz_access_token (req);
      break;
    case EP_BIZ_ADVERTISER_GET:
      handle_biz_advertiser_get (req);
      break;
    case EP_BIZ_REVOKE_TOKEN:
      handle_biz_revoke (req, FALSE);
      break;
    case EP_TT_TOKEN:
      handle_tt_token (req);
      break;
    case EP_TT_REFRESH:
      handle_tt_refresh (req);
      break;
    case EP_TT_REVOKE:
      handle_biz_revoke (req, TRUE);
      break;
    case EP_TT_TOKEN_INFO:
      handle_tt_token_info (req);
      break;
    case EP_BIZ_BUSINESS_GET:
      handle_biz_business_get (req);
      break;
    default:
      g_assert_not_reached ();
    }
}

static GBytes *
dup_request_body (SoupServerMessage *msg)
{
  GByteArray *own = g_object_get_data (G_OBJECT (msg), "kh-sandbox-body");

  if (own != NULL)
    return g_bytes_new (own->data, own->len);

  return soup_message_body_flatten (soup_server_message_get_request_body (msg));
}

static void
server_handler_cb (SoupServer        *server,
                   SoupServerMessage *msg,
                   const char        *path,
                   GHashTable        *query,
                   gpointer           user_data)
{
  KhSandbox *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *host = NULL;
  g_autoptr(GBytes) body = NULL;
  const char *subpath = path;
  const Route *route;
  SbFault fault = { 0, };
  gint64 delay_ms;
  Req req = { 0, };

  /* Only the path: queries carry secrets (the Shop token call has app_secret in it). */
  g_debug ("%s %s", method, path);

  if (g_object_get_data (G_OBJECT (msg), "kh-sandbox-oversize") != NULL)
    {
      respond_plain (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "Request body too large\n");
      return;
    }

  body = dup_request_body (msg);
  if (g_bytes_get_size (body) > MAX_BODY)
    {
      respond_plain (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "Request body too large\n");
      return;
    }

  if (g_str_has_prefix (path, "/_sandbox/"))
    {
      handle_control (self, msg, path, query, body);
      return;
    }

  if (g_str_has_prefix (path, "/_host/"))
    {
      const char *start = path + strlen ("/_host/");
      const char *slash = strchr (start, '/');

      host = slash != NULL ? g_strndup (start, (gsize) (slash - start)) : g_strdup (start);
      subpath = slash != NULL ? slash : "/";
      if (!is_known_host (host))
        {
          respond_plain (msg, SOUP_STATUS_NOT_FOUND, "Unknown TikTok host\n");
          return;
        }
    }

  route = find_route (host, subpath);
  if (route == NULL)
    {
      respond_plain (msg, SOUP_STATUS_NOT_FOUND, "Not found\n");
      return;
    }

  count_call (self, route->path);

  if (g_strcmp0 (method, route->method) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                    route->method);
      respond_plain (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Method not allowed\n");
      return;
    }

  req.self = self;
  req.server = server;
  req.msg = msg;
  req.route = route;
  req.host = host;
  req.path = subpath;
  req.query = query;
  req.body = body;
  delay_ms = self->latency_ms;

  if (!take_fault (self, route->path, route->endpoint != EP_AUTHORIZE, &fault))
    dispatch (&req);
  else
    {
      switch (fault.kind)
        {
        case KH_SANDBOX_FAULT_DROP:
          drop_connection (msg);
          return;
        case KH_SANDBOX_FAULT_HTTP_STATUS:
          respond_plain (msg, (guint) fault.value, "Service unavailable (injected fault)\n");
          break;
        case KH_SANDBOX_FAULT_ERROR_CODE:
          respond_envelope (&req, fault.value, "injected fault", NULL);
          break;
        case KH_SANDBOX_FAULT_GARBAGE:
          {
            static const char garbage[] = "<html><body>upstream error</body></html>{\"code\":0,"
                                          "\"data\":{\"access_tok";

            set_common_headers (msg);
            soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
            soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                              garbage, sizeof garbage - 1);
          }
          break;
        case KH_SANDBOX_FAULT_DELAY:
          delay_ms += fault.value;
          dispatch (&req);
          break;
        default:
          g_assert_not_reached ();
        }
    }

  g_clear_pointer (&req.json, json_node_unref);

  if (delay_ms > 0)
    delay_response (self, server, msg, route->path, (guint) delay_ms);
}

static void
got_chunk_cb (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  GByteArray *own = g_object_get_data (G_OBJECT (msg), "kh-sandbox-body");
  gsize size;
  const guint8 *data = g_bytes_get_data (chunk, &size);

  if (own == NULL || g_object_get_data (G_OBJECT (msg), "kh-sandbox-oversize") != NULL)
    return;

  if (own->len + size > MAX_BODY)
    {
      g_object_set_data (G_OBJECT (msg), "kh-sandbox-oversize", GINT_TO_POINTER (1));
      g_byte_array_set_size (own, 0);
      return;
    }

  g_byte_array_append (own, data, (guint) size);
}

/* Runs when the headers are in, before the body: refuses bodies over 64 KiB without reading
 * them, and keeps a body of unknown length from growing past the cap in memory. */
static void
early_handler_cb (SoupServer        *server,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding = soup_message_headers_get_encoding (headers);

  if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (headers) > MAX_BODY)
    {
      respond_plain (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "Request body too large\n");
      return;
    }

  if (encoding == SOUP_ENCODING_CHUNKED || encoding == SOUP_ENCODING_EOF)
    {
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
      g_object_set_data_full (G_OBJECT (msg), "kh-sandbox-body", g_byte_array_new (),
                              (GDestroyNotify) g_byte_array_unref);
      g_signal_connect (msg, "got-chunk", G_CALLBACK (got_chunk_cb), NULL);
    }
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
  soup_server_add_early_handler (self->server, NULL, early_handler_cb, self, NULL);
  soup_server_add_handler (self->server, NULL, server_handler_cb, self, NULL);
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

char *
kh_sandbox_dup_origin_map (KhSandbox *self)
{
  GString *spec;

  g_return_val_if_fail (KH_IS_SANDBOX (self), NULL);

  spec = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (tiktok_hosts); i++)
    g_string_append_printf (spec, "%shttps://%s=http://127.0.0.1:%u/_host/%s",
                            i > 0 ? ";" : "", tiktok_hosts[i], self->port, tiktok_hosts[i]);

  return g_string_free (spec, FALSE);
}

void
kh_sandbox_set_latency (KhSandbox *self,
                        guint      latency_ms)
{
  g_return_if_fail (KH_IS_SANDBOX (self));

  self->latency_ms = MIN (latency_ms, MAX_LATENCY_MS);
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
  g_return_if_fail (!is_empty (app_key));
  g_return_if_fail (!is_empty (app_secret));
  g_return_if_fail (redirect_uri == NULL || is_valid_redirect_uri (redirect_uri));

  register_app (self, family, app_key, app_secret, service_id, redirect_uri, NULL, NULL);
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

  return sandbox_now (self);
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
          revoke_authorization (auth, "deauthorize");
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
