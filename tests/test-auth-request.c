/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-auth-request.c: KhAuthRequest for all six account types and both Creator Marketplace
 * roles: the authorization URL of tiktok-api.md, the state, the expiry, pasted portal links,
 * the origin map, the launch check and the two JSON forms. */

#include "config.h"

#include "kh-auth-request.h"
#include "kh-error.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-test-util.h"
#include "kh-util.h"

#include <string.h>

#define SHOP_KEY    "6a1b2c3d4e5f"
#define SERVICE_ID  "7312345678901234567"
#define BIZ_APP_ID  "7000000000000000001"

static KhAppProfile *
new_shop_app (gboolean with_service_id)
{
  KhAppProfile *app = kh_app_profile_new ("Shop app", KH_FAMILY_SHOP, SHOP_KEY);

  if (with_service_id)
    kh_app_profile_set_service_id (app, SERVICE_ID);

  return app;
}

static KhAppProfile *
new_business_app (void)
{
  KhAppProfile *app = kh_app_profile_new ("Ads app", KH_FAMILY_BUSINESS, BIZ_APP_ID);

  kh_app_profile_set_redirect_uri (app, "http://127.0.0.1:8765/callback");
  return app;
}

static KhAuthRequest *
new_request (KhAccountType  type,
             const char    *role,
             KhAppProfile  *app,
             KhRegion       region,
             gboolean       force_consent)
{
  g_autoptr(GError) error = NULL;
  KhAuthRequest *request;

  request = kh_auth_request_new (type, role, app, region, "Client A", force_consent, &error);
  g_assert_no_error (error);
  g_assert_nonnull (request);

  return request;
}

/* A parsed authorization URL: origin and path, the decoded query and the first parameter. */
typedef struct {
  char       *origin;    /* scheme://host[:port] */
  char       *path;
  GHashTable *params;
  char       *first;
  guint       n_params;
} ParsedUrl;

static void
parsed_url_free (ParsedUrl *parsed)
{
  g_free (parsed->origin);
  g_free (parsed->path);
  g_hash_table_unref (parsed->params);
  g_free (parsed->first);
  g_free (parsed);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ParsedUrl, parsed_url_free)

static ParsedUrl *
parse_url (const char *url)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, &error);
  g_auto(GStrv) segments = NULL;
  ParsedUrl *parsed = g_new0 (ParsedUrl, 1);

  g_assert_no_error (error);
  g_assert_null (g_uri_get_fragment (uri));
  parsed->origin = g_uri_get_port (uri) > 0
                     ? g_strdup_printf ("%s://%s:%d", g_uri_get_scheme (uri),
                                        g_uri_get_host (uri), g_uri_get_port (uri))
                     : g_strdup_printf ("%s://%s", g_uri_get_scheme (uri), g_uri_get_host (uri));
  parsed->path = g_strdup (g_uri_get_path (uri));
  parsed->params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, &error);
  g_assert_no_error (error);

  /* Each parameter appears once. */
  segments = g_strsplit (g_uri_get_query (uri), "&", -1);
  parsed->n_params = g_strv_length (segments);
  g_assert_cmpuint (parsed->n_params, ==, g_hash_table_size (parsed->params));
  parsed->first = g_strndup (segments[0], strcspn (segments[0], "="));

  return parsed;
}

static void
assert_param (ParsedUrl  *parsed,
              const char *name,
              const char *value)
{
  g_assert_cmpstr (g_hash_table_lookup (parsed->params, name), ==, value);
}

static void
assert_url (KhAuthRequest *request,
            const char    *origin,
            const char    *path,
            const char    *first_param)
{
  g_autoptr(ParsedUrl) parsed = parse_url (kh_auth_request_get_url (request));

  g_assert_cmpstr (parsed->origin, ==, origin);
  g_assert_cmpstr (parsed->path, ==, path);
  g_assert_cmpstr (parsed->first, ==, first_param);
  /* The state in the URL is the request's own. */
  assert_param (parsed, "state", kh_auth_request_get_state (request));
}

static void
test_seller (void)
{
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) legacy_app = new_shop_app (FALSE);
  g_autoptr(KhAuthRequest) us = new_request (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US, FALSE);
  g_autoptr(KhAuthRequest) row = new_request (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_ROW, FALSE);
  g_autoptr(KhAuthRequest) legacy = new_request (KH_ACCOUNT_SELLER, NULL, legacy_app,
                                                 KH_REGION_US, FALSE);
  g_autoptr(ParsedUrl) p_us = parse_url (kh_auth_request_get_url (us));
  g_autoptr(ParsedUrl) p_row = parse_url (kh_auth_request_get_url (row));
  g_autoptr(ParsedUrl) p_legacy = parse_url (kh_auth_request_get_url (legacy));

  assert_url (us, "https://services.us.tiktokshop.com", "/open/authorize", "service_id");
  assert_param (p_us, "service_id", SERVICE_ID);
  g_assert_cmpuint (p_us->n_params, ==, 2);
  g_assert_cmpint (kh_auth_request_get_region (us), ==, KH_REGION_US);

  assert_url (row, "https://services.tiktokshop.com", "/open/authorize", "service_id");
  assert_param (p_row, "service_id", SERVICE_ID);
  g_assert_cmpuint (p_row->n_params, ==, 2);
  g_assert_cmpint (kh_auth_request_get_region (row), ==, KH_REGION_ROW);

  /* No service id: the legacy app_key link, one host for every region. */
  assert_url (legacy, "https://auth.tiktok-shops.com", "/oauth/authorize", "app_key");
  assert_param (p_legacy, "app_key", SHOP_KEY);
  g_assert_cmpuint (p_legacy->n_params, ==, 2);

  /* Shop links carry no redirect_uri and no scope: both are registered in Partner Center. */
  g_assert_false (g_hash_table_contains (p_row->params, "redirect_uri"));
  g_assert_false (g_hash_table_contains (p_row->params, "scope"));

  g_assert_cmpint (kh_auth_request_get_account_type (us), ==, KH_ACCOUNT_SELLER);
  g_assert_null (kh_auth_request_get_role (us));
  g_assert_true (kh_auth_request_get_provider_role (us) ==
                 &kh_provider_get (KH_ACCOUNT_SELLER)->roles[0]);
  g_assert_cmpstr (kh_auth_request_get_app_name (us), ==, "Shop app");
  g_assert_cmpstr (kh_auth_request_get_app_key (us), ==, SHOP_KEY);
  g_assert_cmpstr (kh_auth_request_get_client_label (us), ==, "Client A");
  g_assert_cmpstr (kh_auth_request_get_redirect_uri (us), ==, KH_DEFAULT_REDIRECT_URI);
  g_assert_cmpuint (strlen (kh_auth_request_get_id (us)), ==, 16);
  g_assert_cmpstr (kh_auth_request_get_id (us), !=, kh_auth_request_get_id (row));

  g_assert_finalize_object (g_steal_pointer (&us));
}

static void
test_creator (void)
{
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_CREATOR, NULL, app, KH_REGION_US,
                                                  FALSE);
  g_autoptr(ParsedUrl) parsed = parse_url (kh_auth_request_get_url (request));

  /* The creator link takes app_key even when the app has a service id; state is required. */
  assert_url (request, "https://shop.tiktok.com", "/alliance/creator/auth", "app_key");
  assert_param (parsed, "app_key", SHOP_KEY);
  g_assert_cmpuint (parsed->n_params, ==, 2);
}

static void
test_partner (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) no_service = new_shop_app (FALSE);
  g_autoptr(KhAuthRequest) us = new_request (KH_ACCOUNT_PARTNER, NULL, app, KH_REGION_US, FALSE);
  g_autoptr(KhAuthRequest) row = new_request (KH_ACCOUNT_PARTNER, NULL, app, KH_REGION_ROW, FALSE);
  g_autoptr(KhAuthRequest) none = NULL;
  g_autoptr(ParsedUrl) p_us = parse_url (kh_auth_request_get_url (us));

  assert_url (us, "https://partner.us.tiktokshop.com", "/open/authorize", "service_id");
  assert_url (row, "https://partner.tiktokshop.com", "/open/authorize", "service_id");
  assert_param (p_us, "service_id", SERVICE_ID);
  g_assert_cmpuint (p_us->n_params, ==, 2);

  /* Partner links have no legacy form: a service id is required. */
  none = kh_auth_request_new (KH_ACCOUNT_PARTNER, NULL, no_service, KH_REGION_ROW, NULL, FALSE,
                              &error);
  g_assert_null (none);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "service ID"));
}

static void
test_advertiser (void)
{
  g_autoptr(KhAppProfile) app = new_business_app ();
  g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_ADVERTISER, NULL, app,
                                                  KH_REGION_US, FALSE);
  g_autoptr(ParsedUrl) parsed = parse_url (kh_auth_request_get_url (request));

  assert_url (request, "https://business-api.tiktok.com", "/portal/auth", "app_id");
  assert_param (parsed, "app_id", BIZ_APP_ID);
  assert_param (parsed, "redirect_uri", "http://127.0.0.1:8765/callback");
  g_assert_cmpuint (parsed->n_params, ==, 3);
  g_assert_cmpstr (kh_auth_request_get_redirect_uri (request), ==,
                   "http://127.0.0.1:8765/callback");
}

static void
test_tiktok_account (void)
{
  static const char * const scopes[] = { "user.info.basic", "video.list", NULL };
  g_autoptr(KhAppProfile) app = new_business_app ();
  g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_TIKTOK_ACCOUNT, NULL, app,
                                                  KH_REGION_ROW, FALSE);
  g_autoptr(KhAuthRequest) scoped = NULL;
  g_autoptr(ParsedUrl) parsed = parse_url (kh_auth_request_get_url (request));
  g_autoptr(ParsedUrl) p_scoped = NULL;

  assert_url (request, "https://www.tiktok.com", "/v2/auth/authorize/", "client_key");
  assert_param (parsed, "client_key", BIZ_APP_ID);
  assert_param (parsed, "scope", "user.info.basic");
  assert_param (parsed, "response_type", "code");
  assert_param (parsed, "redirect_uri", "http://127.0.0.1:8765/callback");
  g_assert_false (g_hash_table_contains (parsed->params, "disable_auto_auth"));
  g_assert_cmpuint (parsed->n_params, ==, 5);

  /* The app's scopes, comma-joined (and percent-encoded, so the comma survives any parser). */
  kh_app_profile_set_scopes (app, scopes);
  scoped = new_request (KH_ACCOUNT_TIKTOK_ACCOUNT, NULL, app, KH_REGION_ROW, TRUE);
  p_scoped = parse_url (kh_auth_request_get_url (scoped));
  assert_param (p_scoped, "scope", "user.info.basic,video.list");
  assert_param (p_scoped, "disable_auto_auth", "1");
  g_assert_cmpuint (p_scoped->n_params, ==, 6);
}

static void
test_creator_marketplace (void)
{
  g_autoptr(KhAppProfile) app = new_business_app ();
  g_autoptr(KhAuthRequest) first = new_request (KH_ACCOUNT_CREATOR_MARKETPLACE, NULL, app,
                                                KH_REGION_ROW, FALSE);
  g_autoptr(KhAuthRequest) account = new_request (KH_ACCOUNT_CREATOR_MARKETPLACE, "account", app,
                                                  KH_REGION_ROW, FALSE);
  g_autoptr(KhAuthRequest) creator = new_request (KH_ACCOUNT_CREATOR_MARKETPLACE, "creator", app,
                                                  KH_REGION_ROW, TRUE);
  g_autoptr(ParsedUrl) p_account = parse_url (kh_auth_request_get_url (account));
  g_autoptr(ParsedUrl) p_creator = parse_url (kh_auth_request_get_url (creator));

  /* No role picks the first one: the TTCM account, advertiser-style. */
  g_assert_cmpstr (kh_auth_request_get_role (first), ==, "account");
  assert_url (first, "https://business-api.tiktok.com", "/portal/auth", "app_id");

  g_assert_cmpstr (kh_auth_request_get_role (account), ==, "account");
  g_assert_cmpint (kh_auth_request_get_provider_role (account)->token_kind, ==,
                   KH_TOKEN_KIND_ADVERTISER);
  assert_url (account, "https://business-api.tiktok.com", "/portal/auth", "app_id");
  assert_param (p_account, "app_id", BIZ_APP_ID);
  assert_param (p_account, "redirect_uri", "http://127.0.0.1:8765/callback");

  g_assert_cmpstr (kh_auth_request_get_role (creator), ==, "creator");
  g_assert_cmpint (kh_auth_request_get_provider_role (creator)->token_kind, ==,
                   KH_TOKEN_KIND_TT_USER);
  assert_url (creator, "https://www.tiktok.com", "/v2/auth/authorize/", "client_key");
  assert_param (p_creator, "client_key", BIZ_APP_ID);
  assert_param (p_creator, "scope", "user.info.basic");
  assert_param (p_creator, "response_type", "code");
  assert_param (p_creator, "disable_auto_auth", "1");
}

static void
test_bad_role_and_consent (void)
{
  g_autoptr(KhAppProfile) shop = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) business = new_business_app ();
  struct {
    KhAccountType  type;
    const char    *role;
    KhAppProfile  *app;
    gboolean       force_consent;
  } cases[] = {
    { KH_ACCOUNT_CREATOR_MARKETPLACE, "nobody", business, FALSE },
    { KH_ACCOUNT_SELLER, "account", shop, FALSE },
    { KH_ACCOUNT_TIKTOK_ACCOUNT, "creator", business, FALSE },
    /* disable_auto_auth exists only on the TikTok account holder link. */
    { KH_ACCOUNT_SELLER, NULL, shop, TRUE },
    { KH_ACCOUNT_CREATOR, NULL, shop, TRUE },
    { KH_ACCOUNT_ADVERTISER, NULL, business, TRUE },
    { KH_ACCOUNT_CREATOR_MARKETPLACE, "account", business, TRUE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhAuthRequest) request = NULL;

      request = kh_auth_request_new (cases[i].type, cases[i].role, cases[i].app, KH_REGION_ROW,
                                     NULL, cases[i].force_consent, &error);
      g_assert_null (request);
      g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
    }
}

static void
test_family_mismatch (void)
{
  g_autoptr(KhAppProfile) shop = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) business = new_business_app ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAuthRequest) request = NULL;

  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, business, KH_REGION_US, NULL, FALSE,
                                 &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_cmpstr (error->message, ==,
                   "App “Ads app” is a TikTok for Business app; the Shop Seller tab needs a "
                   "TikTok Shop app");
  g_clear_error (&error);

  request = kh_auth_request_new (KH_ACCOUNT_TIKTOK_ACCOUNT, NULL, shop, KH_REGION_US, NULL, FALSE,
                                 &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "is a TikTok Shop app"));
  g_assert_nonnull (strstr (error->message, "TikTok for Business app"));
}

static void
test_invalid_inputs (void)
{
  g_autoptr(KhAppProfile) bad_key = kh_app_profile_new ("Shop app", KH_FAMILY_SHOP, "a&b=c");
  g_autoptr(KhAppProfile) shop = new_shop_app (TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(KhAuthRequest) unlabelled = NULL;

  /* An app that fails validation never produces a link (no parameter injection via the key). */
  request = kh_auth_request_new (KH_ACCOUNT_CREATOR, NULL, bad_key, KH_REGION_US, NULL, FALSE,
                                 &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "App key"));
  g_clear_error (&error);

  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, shop, KH_REGION_US, "line\nbreak",
                                 FALSE, &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "Client label"));
  g_clear_error (&error);

  /* An empty label is no label. */
  unlabelled = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, shop, KH_REGION_US, "", FALSE,
                                    &error);
  g_assert_no_error (error);
  g_assert_null (kh_auth_request_get_client_label (unlabelled));
}

static gboolean
is_base64url (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
        return FALSE;
    }

  return TRUE;
}

static void
test_state (void)
{
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(GHashTable) states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 1000; i++)
    {
      g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_SELLER, NULL, app,
                                                      KH_REGION_ROW, FALSE);
      const char *state = kh_auth_request_get_state (request);

      /* 32 bytes of randomness: 43 base64url characters, far above the 128-bit floor (22). */
      g_assert_cmpuint (strlen (state), >=, 22);
      g_assert_cmpuint (strlen (state), ==, 43);
      g_assert_true (is_base64url (state));
      g_assert_true (g_hash_table_add (states, g_strdup (state)));
      g_assert_true (g_hash_table_add (ids, g_strdup (kh_auth_request_get_id (request))));
    }
}

static void
test_check_state (void)
{
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_ROW,
                                                  FALSE);
  g_autofree char *state = g_strdup (kh_auth_request_get_state (request));
  g_autofree char *prefix = g_strndup (state, strlen (state) - 1);
  g_autofree char *longer = g_strconcat (state, "A", NULL);
  g_autofree char *flipped = g_strdup (state);

  flipped[0] = flipped[0] == 'A' ? 'B' : 'A';

  g_assert_true (kh_auth_request_check_state (request, state));
  g_assert_false (kh_auth_request_check_state (request, NULL));
  g_assert_false (kh_auth_request_check_state (request, ""));
  g_assert_false (kh_auth_request_check_state (request, prefix));
  g_assert_false (kh_auth_request_check_state (request, longer));
  g_assert_false (kh_auth_request_check_state (request, flipped));
}

static void
test_expiry (void)
{
  g_autoptr(KhAppProfile) shop = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) business = new_business_app ();
  struct {
    KhAccountType  type;
    const char    *role;
    gint64         lifetime;
  } cases[] = {
    { KH_ACCOUNT_SELLER, NULL, 30 * 60 },
    { KH_ACCOUNT_CREATOR, NULL, 30 * 60 },
    { KH_ACCOUNT_PARTNER, NULL, 30 * 60 },
    { KH_ACCOUNT_ADVERTISER, NULL, 60 * 60 },
    { KH_ACCOUNT_TIKTOK_ACCOUNT, NULL, 60 * 60 },
    { KH_ACCOUNT_CREATOR_MARKETPLACE, "account", 60 * 60 },
    { KH_ACCOUNT_CREATOR_MARKETPLACE, "creator", 60 * 60 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      KhAppProfile *app = kh_provider_get (cases[i].type)->family == KH_FAMILY_SHOP ? shop
                                                                                    : business;
      gint64 before = kh_now ();
      g_autoptr(KhAuthRequest) request = new_request (cases[i].type, cases[i].role, app,
                                                      KH_REGION_ROW, FALSE);
      gint64 created = kh_auth_request_get_created_at (request);
      gint64 expires = kh_auth_request_get_expires_at (request);

      g_assert_cmpint (created, >=, before);
      g_assert_cmpint (created, <=, kh_now ());
      g_assert_cmpint (expires - created, ==, cases[i].lifetime);
      g_assert_false (kh_auth_request_is_expired (request, created));
      g_assert_false (kh_auth_request_is_expired (request, expires - 1));
      g_assert_true (kh_auth_request_is_expired (request, expires));
      g_assert_true (kh_auth_request_is_expired (request, expires + 1));
    }
}

static void
test_pasted_link (void)
{
  g_autoptr(KhAppProfile) shop = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) business = new_business_app ();
  g_autoptr(KhAuthRequest) shop_request = NULL;
  g_autoptr(KhAuthRequest) business_request = NULL;
  g_autoptr(KhAuthRequest) consent_request = NULL;
  g_autoptr(ParsedUrl) p_shop = NULL;
  g_autoptr(ParsedUrl) p_business = NULL;
  g_autoptr(ParsedUrl) p_consent = NULL;
  const char *shop_link = "https://services.tiktokshop.com/open/authorize?service_id=" SERVICE_ID;
  g_autofree char *expected_shop = NULL;

  /* A Partner Center link: everything stays, state is appended, nothing else. */
  kh_app_profile_set_auth_link (shop, shop_link);
  shop_request = new_request (KH_ACCOUNT_SELLER, NULL, shop, KH_REGION_US, FALSE);
  expected_shop = g_strconcat (shop_link, "&state=", kh_auth_request_get_state (shop_request),
                               NULL);
  g_assert_cmpstr (kh_auth_request_get_url (shop_request), ==, expected_shop);
  p_shop = parse_url (kh_auth_request_get_url (shop_request));
  g_assert_cmpuint (p_shop->n_params, ==, 2);

  /* A Business portal link gets redirect_uri too. */
  kh_app_profile_set_auth_link (business, "https://business-api.tiktok.com/portal/auth"
                                          "?app_id=" BIZ_APP_ID "&lang=en");
  business_request = new_request (KH_ACCOUNT_ADVERTISER, NULL, business, KH_REGION_ROW, FALSE);
  p_business = parse_url (kh_auth_request_get_url (business_request));
  g_assert_cmpstr (p_business->first, ==, "app_id");
  assert_param (p_business, "app_id", BIZ_APP_ID);
  assert_param (p_business, "lang", "en");
  assert_param (p_business, "state", kh_auth_request_get_state (business_request));
  assert_param (p_business, "redirect_uri", "http://127.0.0.1:8765/callback");
  g_assert_cmpuint (p_business->n_params, ==, 4);

  /* A link that already names the redirect URI keeps it (once) and may force consent. */
  kh_app_profile_set_auth_link (business, "https://www.tiktok.com/v2/auth/authorize/"
                                          "?client_key=" BIZ_APP_ID "&scope=user.info.basic"
                                          "&response_type=code"
                                          "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback");
  consent_request = new_request (KH_ACCOUNT_TIKTOK_ACCOUNT, NULL, business, KH_REGION_ROW, TRUE);
  p_consent = parse_url (kh_auth_request_get_url (consent_request));
  assert_param (p_consent, "redirect_uri", "http://127.0.0.1:8765/callback");
  assert_param (p_consent, "state", kh_auth_request_get_state (consent_request));
  assert_param (p_consent, "disable_auto_auth", "1");
  g_assert_cmpuint (p_consent->n_params, ==, 6);
}

static void
test_pasted_link_refused (void)
{
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAuthRequest) request = NULL;

  /* A host that is not TikTok's is an unsafe URL, not merely a bad field. */
  kh_app_profile_set_auth_link (app, "https://evil.example.com/open/authorize?service_id=1");
  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US, NULL, FALSE, &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
  g_clear_error (&error);

  kh_app_profile_set_auth_link (app, "https://www.tiktok.com@evil.example.com/open/authorize");
  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US, NULL, FALSE, &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
  g_clear_error (&error);

  /* A link that already carries a state would carry one that someone else knows. */
  kh_app_profile_set_auth_link (app, "https://services.tiktokshop.com/open/authorize"
                                     "?service_id=1&state=known");
  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US, NULL, FALSE, &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (error->message, "state"));
}

static void
test_escaping (void)
{
  g_autoptr(KhAppProfile) app = new_business_app ();
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(ParsedUrl) parsed = NULL;
  const char *url;

  /* A redirect URI with its own query must stay one parameter. */
  kh_app_profile_set_redirect_uri (app, "https://example.com/cb?tenant=a&state=evil");
  request = new_request (KH_ACCOUNT_ADVERTISER, NULL, app, KH_REGION_ROW, FALSE);
  url = kh_auth_request_get_url (request);
  g_assert_null (strstr (url, "&tenant="));
  g_assert_nonnull (strstr (url, "redirect_uri=https%3A%2F%2Fexample.com%2Fcb%3Ftenant%3Da%26state"
                                 "%3Devil"));
  parsed = parse_url (url);
  assert_param (parsed, "redirect_uri", "https://example.com/cb?tenant=a&state=evil");
  assert_param (parsed, "state", kh_auth_request_get_state (request));
  g_assert_cmpuint (parsed->n_params, ==, 3);
}

static void
test_origin_map (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAppProfile) shop = new_shop_app (TRUE);
  g_autoptr(KhAppProfile) business = new_business_app ();
  g_autoptr(KhAuthRequest) seller = NULL;
  g_autoptr(KhAuthRequest) advertiser = NULL;
  g_autoptr(ParsedUrl) p_seller = NULL;

  g_assert_true (kh_origin_map_set ("https://services.tiktokshop.com=http://127.0.0.1:8001;"
                                    "https://business-api.tiktok.com="
                                    "http://127.0.0.1:8001/_host/biz",
                                    &error));
  g_assert_no_error (error);

  /* The sandbox target is plain http on loopback: accepted only because the map points at it. */
  seller = new_request (KH_ACCOUNT_SELLER, NULL, shop, KH_REGION_ROW, FALSE);
  g_assert_true (g_str_has_prefix (kh_auth_request_get_url (seller),
                                   "http://127.0.0.1:8001/open/authorize?service_id="));
  p_seller = parse_url (kh_auth_request_get_url (seller));
  assert_param (p_seller, "service_id", SERVICE_ID);
  assert_param (p_seller, "state", kh_auth_request_get_state (seller));

  advertiser = new_request (KH_ACCOUNT_ADVERTISER, NULL, business, KH_REGION_ROW, FALSE);
  g_assert_true (g_str_has_prefix (kh_auth_request_get_url (advertiser),
                                   "http://127.0.0.1:8001/_host/biz/portal/auth?app_id="));

  g_assert_true (kh_origin_map_set (NULL, &error));
  g_assert_no_error (error);

  g_clear_object (&seller);
  seller = new_request (KH_ACCOUNT_SELLER, NULL, shop, KH_REGION_ROW, FALSE);
  g_assert_true (g_str_has_prefix (kh_auth_request_get_url (seller),
                                   "https://services.tiktokshop.com/open/authorize?"));
}

static KhAuthRequest *
json_roundtrip (JsonNode *node)
{
  g_autofree char *text = kh_json_to_string (node, FALSE);
  g_autoptr(JsonNode) parsed = NULL;
  g_autoptr(GError) error = NULL;
  KhAuthRequest *copy;

  parsed = kh_json_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  copy = kh_auth_request_new_from_json (parsed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (copy);

  return copy;
}

static void
assert_same_public (KhAuthRequest *a,
                    KhAuthRequest *b)
{
  g_assert_cmpstr (kh_auth_request_get_id (a), ==, kh_auth_request_get_id (b));
  g_assert_cmpint (kh_auth_request_get_account_type (a), ==, kh_auth_request_get_account_type (b));
  g_assert_cmpstr (kh_auth_request_get_role (a), ==, kh_auth_request_get_role (b));
  g_assert_true (kh_auth_request_get_provider_role (a) == kh_auth_request_get_provider_role (b));
  g_assert_cmpstr (kh_auth_request_get_app_name (a), ==, kh_auth_request_get_app_name (b));
  g_assert_cmpstr (kh_auth_request_get_app_key (a), ==, kh_auth_request_get_app_key (b));
  g_assert_cmpint (kh_auth_request_get_region (a), ==, kh_auth_request_get_region (b));
  g_assert_cmpstr (kh_auth_request_get_client_label (a), ==,
                   kh_auth_request_get_client_label (b));
  g_assert_cmpstr (kh_auth_request_get_redirect_uri (a), ==, kh_auth_request_get_redirect_uri (b));
  g_assert_cmpint (kh_auth_request_get_created_at (a), ==, kh_auth_request_get_created_at (b));
  g_assert_cmpint (kh_auth_request_get_expires_at (a), ==, kh_auth_request_get_expires_at (b));
}

static void
test_json_full (void)
{
  g_autoptr(KhAppProfile) app = new_business_app ();
  g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_CREATOR_MARKETPLACE, "creator", app,
                                                  KH_REGION_US, TRUE);
  g_autoptr(KhAuthRequest) copy = NULL;
  g_autoptr(JsonNode) node = kh_auth_request_to_json (request);
  JsonObject *object = kh_json_node_object (node);

  g_assert_cmpstr (kh_json_get_string (object, "state"), ==, kh_auth_request_get_state (request));
  g_assert_cmpstr (kh_json_get_string (object, "url"), ==, kh_auth_request_get_url (request));

  copy = json_roundtrip (node);
  assert_same_public (request, copy);
  g_assert_cmpstr (kh_auth_request_get_state (copy), ==, kh_auth_request_get_state (request));
  g_assert_cmpstr (kh_auth_request_get_url (copy), ==, kh_auth_request_get_url (request));
  g_assert_true (kh_auth_request_check_state (copy, kh_auth_request_get_state (request)));

  g_assert_finalize_object (g_steal_pointer (&copy));
}

static void
test_json_public (void)
{
  g_autoptr(KhAppProfile) app = new_shop_app (TRUE);
  g_autoptr(KhAuthRequest) request = new_request (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US,
                                                  FALSE);
  g_autoptr(KhAuthRequest) copy = NULL;
  g_autoptr(JsonNode) node = kh_auth_request_to_public_json (request);
  g_autofree char *text = kh_json_to_string (node, FALSE);
  g_autofree char *created = kh_iso8601_from_unix (kh_auth_request_get_created_at (request));
  g_autofree char *expires = kh_iso8601_from_unix (kh_auth_request_get_expires_at (request));
  JsonObject *object = kh_json_node_object (node);

  /* Neither the state nor the URL (which holds it) is in the public form. */
  g_assert_false (json_object_has_member (object, "state"));
  g_assert_false (json_object_has_member (object, "url"));
  g_assert_null (strstr (text, kh_auth_request_get_state (request)));

  g_assert_cmpstr (kh_json_get_string (object, "id"), ==, kh_auth_request_get_id (request));
  g_assert_cmpstr (kh_json_get_string (object, "type"), ==, "seller");
  g_assert_cmpstr (kh_json_get_string (object, "app"), ==, "Shop app");
  g_assert_cmpstr (kh_json_get_string (object, "app_key"), ==, SHOP_KEY);
  g_assert_cmpstr (kh_json_get_string (object, "region"), ==, "us");
  g_assert_cmpstr (kh_json_get_string (object, "client"), ==, "Client A");
  g_assert_cmpstr (kh_json_get_string (object, "created_at"), ==, created);
  g_assert_cmpstr (kh_json_get_string (object, "expires_at"), ==, expires);
  g_assert_cmpstr (kh_json_get_string (object, "redirect_uri"), ==, KH_DEFAULT_REDIRECT_URI);
  g_assert_true (g_str_has_suffix (created, "Z"));

  /* Read back without a state, the request can be listed but never matches a callback. */
  copy = json_roundtrip (node);
  assert_same_public (request, copy);
  g_assert_null (kh_auth_request_get_state (copy));
  g_assert_null (kh_auth_request_get_url (copy));
  g_assert_false (kh_auth_request_check_state (copy, kh_auth_request_get_state (request)));
  g_assert_false (kh_auth_request_check_state (copy, NULL));
  g_assert_false (kh_auth_request_check_state (copy, ""));
}

static void
assert_json_error (const char *json,
                   const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = kh_json_parse (json, strlen (json), &error);
  g_autoptr(KhAuthRequest) request = NULL;

  g_assert_no_error (error);
  request = kh_auth_request_new_from_json (node, &error);
  g_assert_null (request);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message “%s” does not mention “%s”", error->message, needle);
}

static void
test_json_errors (void)
{
  g_autoptr(GString) base = NULL;
  const char *ok = "{\"id\":\"0123456789abcdef\",\"type\":\"seller\",\"role\":null,\"app\":\"A\","
                   "\"app_key\":\"k\",\"region\":\"row\",\"client\":null,"
                   "\"created_at\":\"2026-11-21T20:00:00Z\",\"expires_at\":1795294800,"
                   "\"redirect_uri\":\"http://localhost:8765/callback\"";
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(KhAuthRequest) request = NULL;
  g_autofree char *full = NULL;

  full = g_strconcat (ok, ",\"state\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
                      "\"url\":\"https://services.tiktokshop.com/open/authorize?service_id=1\"}",
                      NULL);
  node = kh_json_parse (full, strlen (full), &error);
  g_assert_no_error (error);
  request = kh_auth_request_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_nonnull (request);
  g_assert_cmpint (kh_auth_request_get_created_at (request), ==, 1795291200);
  g_assert_cmpint (kh_auth_request_get_expires_at (request), ==, 1795294800);

  assert_json_error ("[1]", "not a JSON object");

#define WITH(tail) (g_string_assign (base, ok), g_string_append (base, tail), base->str)
  base = g_string_new (NULL);
  /* Half of the secret pair means damaged data. */
  assert_json_error (WITH (",\"state\":\"AAAAAAAAAAAAAAAAAAAAAAAA\"}"), "“url”");
  assert_json_error (WITH (",\"url\":\"https://services.tiktokshop.com/\"}"), "“state”");
  assert_json_error (WITH (",\"state\":\"short\",\"url\":\"https://x.tiktok.com/\"}"),
                     "“state”");
  assert_json_error (WITH (",\"state\":\"AAAAAAAAAAAAAAAAAAAAAA+/\","
                           "\"url\":\"https://x.tiktok.com/\"}"), "“state”");
  assert_json_error (WITH (",\"state\":\"AAAAAAAAAAAAAAAAAAAAAAAA\",\"url\":\"not a url\"}"),
                     "“url”");
  assert_json_error (WITH (",\"state\":7,\"url\":\"https://x.tiktok.com/\"}"), "“state”");
#undef WITH

  assert_json_error ("{\"type\":\"seller\"}", "“id”");
  g_string_assign (base, ok);
  g_string_append_c (base, '}');

  {
    static const struct { const char *from; const char *to; const char *needle; } edits[] = {
      { "\"0123456789abcdef\"", "\"0123-not-hex\"", "“id”" },
      { "\"0123456789abcdef\"", "\"0123456789ABCDEF\"", "“id”" },
      { "\"seller\"", "\"shopkeeper\"", "“type”" },
      { "\"role\":null", "\"role\":\"creator\"", "“role”" },
      { "\"role\":null", "\"role\":1", "“role”" },
      { "\"app\":\"A\"", "\"app\":\" A\"", "Name" },
      { "\"app\":\"A\"", "\"app\":null", "“app”" },
      { "\"app_key\":\"k\"", "\"app_key\":\"k k\"", "App key" },
      { "\"row\"", "\"eu\"", "“region”" },
      { "\"client\":null", "\"client\":\"a\\u0007b\"", "Client label" },
      { "\"2026-11-21T20:00:00Z\"", "\"yesterday\"", "“created_at”" },
      { "\"2026-11-21T20:00:00Z\"", "true", "“created_at”" },
      { "1795294800", "1795291200", "“expires_at”" },
      { "\"http://localhost:8765/callback\"", "\"http://example.com/cb\"", "Redirect URI" },
    };

    for (guint i = 0; i < G_N_ELEMENTS (edits); i++)
      {
        g_autoptr(GString) edited = g_string_new (base->str);

        g_assert_cmpuint (g_string_replace (edited, edits[i].from, edits[i].to, 1), ==, 1);
        assert_json_error (edited->str, edits[i].needle);
      }
  }
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/auth-request/seller", test_seller);
  g_test_add_func ("/keyhold/auth-request/creator", test_creator);
  g_test_add_func ("/keyhold/auth-request/partner", test_partner);
  g_test_add_func ("/keyhold/auth-request/advertiser", test_advertiser);
  g_test_add_func ("/keyhold/auth-request/tiktok-account", test_tiktok_account);
  g_test_add_func ("/keyhold/auth-request/creator-marketplace", test_creator_marketplace);
  g_test_add_func ("/keyhold/auth-request/bad-role-and-consent", test_bad_role_and_consent);
  g_test_add_func ("/keyhold/auth-request/family-mismatch", test_family_mismatch);
  g_test_add_func ("/keyhold/auth-request/invalid-inputs", test_invalid_inputs);
  g_test_add_func ("/keyhold/auth-request/state", test_state);
  g_test_add_func ("/keyhold/auth-request/check-state", test_check_state);
  g_test_add_func ("/keyhold/auth-request/expiry", test_expiry);
  g_test_add_func ("/keyhold/auth-request/pasted-link", test_pasted_link);
  g_test_add_func ("/keyhold/auth-request/pasted-link-refused", test_pasted_link_refused);
  g_test_add_func ("/keyhold/auth-request/escaping", test_escaping);
  g_test_add_func ("/keyhold/auth-request/origin-map", test_origin_map);
  g_test_add_func ("/keyhold/auth-request/json-full", test_json_full);
  g_test_add_func ("/keyhold/auth-request/json-public", test_json_public);
  g_test_add_func ("/keyhold/auth-request/json-errors", test_json_errors);

  return g_test_run ();
}
