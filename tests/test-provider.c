/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-provider.c: the provider table, known hosts and the launch-URL check. */

#include "config.h"

#include <string.h>

#include "kh-error.h"
#include "kh-origin-map.h"
#include "kh-provider.h"
#include "kh-test-util.h"

static const char * const expected_ids[] = {
  "seller", "creator", "partner", "advertiser", "tiktok-account", "creator-marketplace",
};

static const char * const expected_titles[] = {
  "Shop Seller", "Shop Creator", "Shop Partner", "Advertiser", "TikTok Account",
  "Creator Marketplace",
};

static void
check_role (const KhProvider     *provider,
            const KhProviderRole *role)
{
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (role->title);
  g_assert_nonnull (role->url_row);
  g_assert_true (kh_provider_check_launch_url (role->url_row, &error));
  g_assert_no_error (error);
  if (role->url_us != NULL)
    {
      g_assert_true (kh_provider_check_launch_url (role->url_us, &error));
      g_assert_no_error (error);
    }
  if (role->url_legacy != NULL)
    {
      g_assert_true (kh_provider_check_launch_url (role->url_legacy, &error));
      g_assert_no_error (error);
    }
  /* Endpoints carry no query: the flow adds the parameters. */
  g_assert_null (strchr (role->url_row, '?'));

  g_assert_true (g_str_equal (role->code_param, "code") ||
                 g_str_equal (role->code_param, "auth_code"));
  g_assert_nonnull (role->code_param_alt);
  g_assert_cmpstr (role->code_param, !=, role->code_param_alt);

  if (provider->family == KH_FAMILY_SHOP)
    {
      g_assert_cmpint (role->token_kind, ==, KH_TOKEN_KIND_SHOP);
      g_assert_cmpint (role->code_lifetime, ==, 30 * 60);
      g_assert_false (role->sends_redirect_uri);
      g_assert_false (role->sends_scope);
      g_assert_cmpstr (role->code_param, ==, "code");
    }
  else
    {
      g_assert_cmpint (role->token_kind, !=, KH_TOKEN_KIND_SHOP);
      g_assert_cmpint (role->code_lifetime, ==, 60 * 60);
      g_assert_true (role->sends_redirect_uri);
    }

  if (role->token_kind == KH_TOKEN_KIND_ADVERTISER)
    {
      g_assert_cmpstr (role->url_row, ==, "https://business-api.tiktok.com/portal/auth");
      g_assert_cmpstr (role->url_legacy, ==, "https://ads.tiktok.com/marketing_api/auth");
      g_assert_cmpint (role->id_param, ==, KH_LINK_ID_APP_ID);
      g_assert_cmpstr (role->code_param, ==, "auth_code");
      g_assert_cmpstr (role->code_param_alt, ==, "code");
      g_assert_false (role->sends_scope);
    }
  else if (role->token_kind == KH_TOKEN_KIND_TT_USER)
    {
      g_assert_cmpstr (role->url_row, ==, "https://www.tiktok.com/v2/auth/authorize/");
      g_assert_cmpint (role->id_param, ==, KH_LINK_ID_CLIENT_KEY);
      g_assert_cmpstr (role->code_param, ==, "code");
      g_assert_cmpstr (role->code_param_alt, ==, "auth_code");
      g_assert_true (role->sends_scope);
    }
}

static void
test_table (void)
{
  guint n = 0;
  const KhProvider *all = kh_provider_all (&n);

  g_assert_cmpuint (n, ==, KH_N_ACCOUNT_TYPES);
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (expected_ids));

  for (guint i = 0; i < n; i++)
    {
      const KhProvider *provider = kh_provider_get ((KhAccountType) i);

      g_test_message ("provider %s", expected_ids[i]);
      g_assert_true (provider == &all[i]);
      g_assert_cmpint (provider->type, ==, (KhAccountType) i);
      g_assert_cmpstr (provider->id, ==, expected_ids[i]);
      g_assert_cmpstr (provider->title, ==, expected_titles[i]);
      g_assert_true (g_str_has_suffix (provider->icon_name, "-symbolic"));
      /* Keyhold's own icon for the page, shipped in data/icons and in the app's resources. */
      {
        g_autofree char *icon = g_strdup_printf ("keyhold-%s-symbolic", expected_ids[i]);
        g_autofree char *svg = g_strconcat (icon, ".svg", NULL);
        g_autofree char *path = g_build_filename (g_getenv ("KEYHOLD_TEST_SRCDIR"), "data",
                                                  "icons", "hicolor", "scalable", "actions",
                                                  svg, NULL);

        g_assert_cmpstr (provider->icon_name, ==, icon);
        g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
      }
      g_assert_nonnull (provider->description);
      g_assert_true (g_str_has_suffix (provider->description, "."));
      g_assert_cmpuint (provider->n_roles, >=, 1);

      /* The CLI ids round-trip. */
      g_assert_true (kh_provider_from_id (provider->id) == provider);

      if (provider->family == KH_FAMILY_SHOP)
        {
          g_assert_false (provider->revoke_api);
          g_assert_nonnull (provider->manual_revoke);
          g_assert_cmpint (provider->user_type, >=, 0);
        }
      else
        {
          g_assert_true (provider->revoke_api);
          g_assert_cmpint (provider->user_type, ==, -1);
          g_assert_false (provider->has_regions);
          g_assert_false (provider->authorization_expires);
        }

      for (guint r = 0; r < provider->n_roles; r++)
        check_role (provider, &provider->roles[r]);

      g_assert_true (kh_provider_get_role (provider, NULL) == &provider->roles[0]);
      g_assert_null (kh_provider_get_role (provider, "nonsense"));
    }

  g_assert_null (kh_provider_from_id ("Seller"));
  g_assert_null (kh_provider_from_id ("tiktok_account"));
  g_assert_null (kh_provider_from_id (""));
}

static void
test_shop_details (void)
{
  const KhProvider *seller = kh_provider_get (KH_ACCOUNT_SELLER);
  const KhProvider *creator = kh_provider_get (KH_ACCOUNT_CREATOR);
  const KhProvider *partner = kh_provider_get (KH_ACCOUNT_PARTNER);

  g_assert_cmpint (seller->family, ==, KH_FAMILY_SHOP);
  g_assert_cmpint (seller->user_type, ==, 0);
  g_assert_true (seller->has_regions);
  g_assert_true (seller->authorization_expires);
  g_assert_null (seller->scope_prefix);
  g_assert_cmpstr (seller->roles[0].url_us, ==, "https://services.us.tiktokshop.com/open/authorize");
  g_assert_cmpstr (seller->roles[0].url_row, ==, "https://services.tiktokshop.com/open/authorize");
  g_assert_cmpstr (seller->roles[0].url_legacy, ==, "https://auth.tiktok-shops.com/oauth/authorize");
  g_assert_cmpint (seller->roles[0].id_param, ==, KH_LINK_ID_SERVICE_ID);
  g_assert_cmpint (seller->roles[0].legacy_id_param, ==, KH_LINK_ID_APP_KEY);
  g_assert_nonnull (strstr (seller->manual_revoke, "Seller Center"));
  g_assert_nonnull (strstr (seller->renew_path, "re-open the authorization link"));

  g_assert_cmpint (creator->user_type, ==, 1);
  g_assert_cmpstr (creator->scope_prefix, ==, "creator");
  g_assert_false (creator->authorization_expires);
  g_assert_false (creator->has_regions);
  g_assert_true (creator->roles[0].state_required);
  g_assert_cmpstr (creator->roles[0].url_row, ==, "https://shop.tiktok.com/alliance/creator/auth");
  g_assert_cmpint (creator->roles[0].id_param, ==, KH_LINK_ID_APP_KEY);
  g_assert_nonnull (strstr (creator->manual_revoke, "Remove all access"));

  g_assert_cmpint (partner->user_type, ==, 3);
  g_assert_cmpstr (partner->scope_prefix, ==, "partner");
  g_assert_true (partner->authorization_expires);
  g_assert_true (partner->has_regions);
  g_assert_cmpstr (partner->roles[0].url_us, ==, "https://partner.us.tiktokshop.com/open/authorize");
  g_assert_cmpstr (partner->roles[0].url_row, ==, "https://partner.tiktokshop.com/open/authorize");
  g_assert_cmpint (partner->roles[0].id_param, ==, KH_LINK_ID_SERVICE_ID);
  g_assert_nonnull (strstr (partner->manual_revoke, "Partner Center"));
}

static void
test_business_details (void)
{
  const KhProvider *advertiser = kh_provider_get (KH_ACCOUNT_ADVERTISER);
  const KhProvider *account = kh_provider_get (KH_ACCOUNT_TIKTOK_ACCOUNT);
  const KhProvider *ttcm = kh_provider_get (KH_ACCOUNT_CREATOR_MARKETPLACE);
  const KhProviderRole *role;

  g_assert_cmpuint (advertiser->n_roles, ==, 1);
  g_assert_cmpint (advertiser->roles[0].token_kind, ==, KH_TOKEN_KIND_ADVERTISER);
  g_assert_null (advertiser->roles[0].id);

  g_assert_cmpuint (account->n_roles, ==, 1);
  g_assert_cmpint (account->roles[0].token_kind, ==, KH_TOKEN_KIND_TT_USER);

  g_assert_cmpuint (ttcm->n_roles, ==, 2);
  role = kh_provider_get_role (ttcm, "account");
  g_assert_nonnull (role);
  g_assert_cmpint (role->token_kind, ==, KH_TOKEN_KIND_ADVERTISER);
  g_assert_true (kh_provider_get_role (ttcm, NULL) == role);
  role = kh_provider_get_role (ttcm, "creator");
  g_assert_nonnull (role);
  g_assert_cmpint (role->token_kind, ==, KH_TOKEN_KIND_TT_USER);
}

static void
test_list_ids (void)
{
  g_autofree char *ids = kh_provider_list_ids ();

  g_assert_cmpstr (ids, ==, "seller creator partner advertiser tiktok-account creator-marketplace");
}

static void
test_known_hosts (void)
{
  static const char * const good[] = {
    "services.tiktokshop.com", "services.us.tiktokshop.com", "services.tiktokshops.us",
    "partner.tiktokshop.com", "partner.us.tiktokshop.com", "auth.tiktok-shops.com",
    "shop.tiktok.com", "open-api.tiktokglobalshop.com", "business-api.tiktok.com",
    "ads.tiktok.com", "www.tiktok.com", "tiktok.com", "WWW.TikTok.COM", "www.tiktok.com.",
    "seller-us.tiktokshop.com", "a.b.tiktok-shops.com", "x.tiktokglobalshop.com",
  };
  static const char * const bad[] = {
    "", ".", "eviltiktok.com", "tiktok.com.evil.example", "evil.example", "tiktok.co",
    "tiktokshop.com.evil", "xtiktokshop.com", "www.tiktok.com..", "..tiktok.com",
    "a..tiktok.com", ".tiktok.com", "www.tiktok.com:443", "127.0.0.1", "::1", "tiktok.com/",
    "user@tiktok.com", "www.tiktok.com%00.evil", "www tiktok.com", "tiktok\xc3\xa9.com",
    "evil.com\\.tiktok.com",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_test_message ("good %s", good[i]);
      g_assert_true (kh_provider_is_known_host (good[i]));
    }

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("bad %s", bad[i]);
      g_assert_false (kh_provider_is_known_host (bad[i]));
    }
}

static void
test_launch_url (void)
{
  static const char * const good[] = {
    "https://services.tiktokshop.com/open/authorize?service_id=1&state=s",
    "https://www.tiktok.com/v2/auth/authorize/?client_key=k&scope=a,b&response_type=code",
    "HTTPS://Business-API.TikTok.com/portal/auth?app_id=1",
    "https://www.tiktok.com:443/v2/auth/authorize/",
  };
  static const struct {
    const char *url;
    const char *fragment;   /* the message names the host */
  } bad[] = {
    { "http://services.tiktokshop.com/open/authorize", "services.tiktokshop.com" },
    { "https://evil.example/open/authorize", "evil.example" },
    { "https://eviltiktok.com/", "eviltiktok.com" },
    { "https://tiktok.com.evil.example/", "tiktok.com.evil.example" },
    { "https://user:pw@www.tiktok.com/", "www.tiktok.com" },
    { "https://www.tiktok.com@evil.example/", "evil.example" },
    { "https://www.tiktok.com%0a.evil/", "www.tiktok.com%0A.evil" },
    { "ftp://www.tiktok.com/", "www.tiktok.com" },
    { "javascript:alert(1)", NULL },
    { "file:///etc/passwd", NULL },
    { "https://www.tiktok.com\\@evil.example/", NULL },
    { "https://www.tiktok.com /", NULL },
    { "https://www.tiktok.com/\n", NULL },
    { "not a url", NULL },
    { "", NULL },
    { "http://127.0.0.1:8001/open/authorize", "127.0.0.1" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("good %s", good[i]);
      g_assert_true (kh_provider_check_launch_url (good[i], &error));
      g_assert_no_error (error);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_test_message ("bad %s", bad[i].url);
      g_assert_false (kh_provider_check_launch_url (bad[i].url, &error));
      g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
      if (bad[i].fragment != NULL)
        g_assert_nonnull (strstr (error->message, bad[i].fragment));
      g_assert_null (strchr (error->message, '\n'));
    }
}

static void
test_launch_url_origin_map (void)
{
  const char *sandbox_url = "http://127.0.0.1:8001/_host/services.tiktokshop.com/open/authorize"
                            "?service_id=1&state=s";
  g_autoptr(GError) error = NULL;

  g_assert_false (kh_provider_check_launch_url (sandbox_url, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
  g_clear_error (&error);

  g_assert_true (kh_origin_map_set ("https://services.tiktokshop.com="
                                    "http://127.0.0.1:8001/_host/services.tiktokshop.com",
                                    &error));
  g_assert_no_error (error);

  g_assert_true (kh_provider_check_launch_url (sandbox_url, &error));
  g_assert_no_error (error);
  /* Another path on the same origin is not under the target. */
  g_assert_false (kh_provider_check_launch_url ("http://127.0.0.1:8001/elsewhere", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
  g_clear_error (&error);
  /* Nor another port, nor userinfo. */
  g_assert_false (kh_provider_check_launch_url (
                    "http://127.0.0.1:8002/_host/services.tiktokshop.com/open/authorize",
                    &error));
  g_clear_error (&error);
  g_assert_false (kh_provider_check_launch_url (
                    "http://u@127.0.0.1:8001/_host/services.tiktokshop.com/open/authorize",
                    &error));
  g_clear_error (&error);
  /* Real TikTok links stay allowed while the map is active. */
  g_assert_true (kh_provider_check_launch_url ("https://www.tiktok.com/v2/auth/authorize/",
                                               &error));
  g_assert_no_error (error);

  g_assert_true (kh_origin_map_set (NULL, &error));
  g_assert_no_error (error);
  g_assert_false (kh_provider_check_launch_url (sandbox_url, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/provider/table", test_table);
  g_test_add_func ("/keyhold/provider/shop-details", test_shop_details);
  g_test_add_func ("/keyhold/provider/business-details", test_business_details);
  g_test_add_func ("/keyhold/provider/list-ids", test_list_ids);
  g_test_add_func ("/keyhold/provider/known-hosts", test_known_hosts);
  g_test_add_func ("/keyhold/provider/launch-url", test_launch_url);
  g_test_add_func ("/keyhold/provider/launch-url-origin-map", test_launch_url_origin_map);

  return g_test_run ();
}
