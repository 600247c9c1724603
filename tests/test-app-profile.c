/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-app-profile.c: KhAppProfile validation (every rule, both ways, with a message that names
 * the field), its JSON round trip and its property notifications. */

#include "config.h"

#include "kh-app-profile.h"
#include "kh-error.h"
#include "kh-json.h"
#include "kh-test-util.h"

#include <string.h>

static KhAppProfile *
new_valid_shop (void)
{
  return kh_app_profile_new ("My shop app", KH_FAMILY_SHOP, "6a1b2c3d4e5f");
}

static void
assert_valid (KhAppProfile *app)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (kh_app_profile_validate (app, &error));
  g_assert_no_error (error);
}

/* The message must name the field, so the user knows what to fix. */
static void
assert_invalid (KhAppProfile *app,
                const char   *field)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (kh_app_profile_validate (app, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  if (strstr (error->message, field) == NULL)
    g_error ("message “%s” does not name “%s”", error->message, field);
}

static void
test_defaults (void)
{
  g_autoptr(KhAppProfile) app = new_valid_shop ();

  g_assert_cmpstr (kh_app_profile_get_name (app), ==, "My shop app");
  g_assert_cmpint (kh_app_profile_get_family (app), ==, KH_FAMILY_SHOP);
  g_assert_cmpstr (kh_app_profile_get_app_key (app), ==, "6a1b2c3d4e5f");
  g_assert_null (kh_app_profile_get_service_id (app));
  g_assert_cmpstr (kh_app_profile_get_redirect_uri (app), ==, KH_DEFAULT_REDIRECT_URI);
  g_assert_null (kh_app_profile_get_auth_link (app));
  g_assert_nonnull (kh_app_profile_get_scopes (app));
  g_assert_null (kh_app_profile_get_scopes (app)[0]);
  assert_valid (app);

  /* Empty strings clear optional fields; NULL restores the default redirect URI. */
  kh_app_profile_set_service_id (app, "123");
  kh_app_profile_set_service_id (app, "");
  g_assert_null (kh_app_profile_get_service_id (app));
  kh_app_profile_set_redirect_uri (app, "https://example.com/cb");
  kh_app_profile_set_redirect_uri (app, NULL);
  g_assert_cmpstr (kh_app_profile_get_redirect_uri (app), ==, KH_DEFAULT_REDIRECT_URI);
  kh_app_profile_set_scopes (app, NULL);
  g_assert_null (kh_app_profile_get_scopes (app)[0]);

  g_assert_finalize_object (g_steal_pointer (&app));
}

static void
test_name (void)
{
  static const char * const good[] = {
    "a", "My app", "Ümlaut ☕ shop", "x-1_2.3 (agency)",
    "1234567890123456789012345678901234567890123456789012345678901234",   /* 64 */
    "ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",   /* 64 chars */
  };
  static const char * const bad[] = {
    "", " leading", "trailing ", "tab\tinside", "new\nline", "bell\a", "del\x7f",
    "line\xe2\x80\xa8sep", "nbsp\xc2\xa0", "bad utf8 \xff",
    "12345678901234567890123456789012345678901234567890123456789012345",  /* 65 */
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(KhAppProfile) app = kh_app_profile_new (good[i], KH_FAMILY_SHOP, "key");

      assert_valid (app);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(KhAppProfile) app = kh_app_profile_new (bad[i], KH_FAMILY_SHOP, "key");

      assert_invalid (app, "Name");
    }
}

static void
test_app_key (void)
{
  static const char * const good[] = {
    "a", "6a1b2c3d4e5f", "ABC_def-123",
    "1234567890123456789012345678901234567890123456789012345678901234",   /* 64 */
  };
  static const char * const bad[] = {
    "", "with space", "dot.key", "slash/key", "quote\"", "ключ", "amp&key=1",
    "12345678901234567890123456789012345678901234567890123456789012345",  /* 65 */
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(KhAppProfile) shop = kh_app_profile_new ("n", KH_FAMILY_SHOP, good[i]);
      g_autoptr(KhAppProfile) business = kh_app_profile_new ("n", KH_FAMILY_BUSINESS, good[i]);

      assert_valid (shop);
      assert_valid (business);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(KhAppProfile) shop = kh_app_profile_new ("n", KH_FAMILY_SHOP, bad[i]);
      g_autoptr(KhAppProfile) business = kh_app_profile_new ("n", KH_FAMILY_BUSINESS, bad[i]);

      /* Each family's portal has its own word for the field. */
      assert_invalid (shop, "App key");
      assert_invalid (business, "App ID");
    }
}

static void
test_service_id (void)
{
  static const char * const good[] = {
    "7", "7312345678901234567", "12345678901234567890123456789012",  /* 32 */
  };
  static const char * const bad[] = {
    "12a", "-1", " 12", "12 ", "1.5", "１２",
    "123456789012345678901234567890123",   /* 33 */
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(KhAppProfile) app = new_valid_shop ();

      kh_app_profile_set_service_id (app, good[i]);
      assert_valid (app);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(KhAppProfile) app = new_valid_shop ();

      kh_app_profile_set_service_id (app, bad[i]);
      assert_invalid (app, "Service ID");
    }
}

static void
test_redirect_uri (void)
{
  static const char * const good[] = {
    "http://localhost:8765/callback",
    "http://LOCALHOST:9000/",
    "http://127.0.0.1:8082/callback",
    "http://[::1]:8765/cb",
    "http://localhost/callback",
    "https://localhost:8443/cb",
    "https://example.com/oauth/callback",          /* completed by paste-back */
    "https://example.com:8443/cb?tenant=1",
  };
  static const char * const bad[] = {
    "",                                  /* empty is the default only through the setter */
    "localhost:8765/callback",
    "/callback",
    "ftp://localhost/cb",
    "javascript:alert(1)",
    "http://example.com/callback",       /* plain http off loopback: nothing would catch it */
    "http://192.168.1.10:8765/cb",
    "http://127.0.0.2:8765/cb",
    "http://localhost.example.com/cb",
    "https:///cb",
    "https://user:pw@example.com/cb",
    "http://user@localhost:8765/cb",
    "http://localhost:8765/cb#frag",
    "http://localhost:0/cb",
    "http://local host:8765/cb",
    "http://localhost:8765/cb\n",
    "http://localhost:99999/cb",
    "http://localhost:8765/%zz",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(KhAppProfile) app = new_valid_shop ();

      kh_app_profile_set_redirect_uri (app, good[i]);
      g_assert_cmpstr (kh_app_profile_get_redirect_uri (app), ==, good[i]);
      assert_valid (app);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhAppProfile) app = new_valid_shop ();

      if (*bad[i] == '\0')
        {
          g_assert_false (kh_app_profile_check_redirect_uri (bad[i], &error));
          g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
          g_assert_nonnull (strstr (error->message, "Redirect URI"));
          continue;
        }

      kh_app_profile_set_redirect_uri (app, bad[i]);
      assert_invalid (app, "Redirect URI");
    }
}

static void
test_auth_link (void)
{
  static const char * const good_shop[] = {
    "https://services.tiktokshop.com/open/authorize?service_id=7312345678901234567",
    "https://services.us.tiktokshop.com/open/authorize?service_id=1",
    "https://partner.tiktokshop.com/open/authorize?service_id=1&locale=en",
    "https://SERVICES.TIKTOKSHOP.COM/open/authorize?service_id=1",
    "https://shop.tiktok.com/alliance/creator/auth?app_key=abc",
    "https://services.tiktokshop.com/open/authorize?service_id=1&&x",
    "https://services.tiktokshop.com/open/authorize?service_id=1&states=no",
  };
  static const char * const bad_shop[] = {
    "http://services.tiktokshop.com/open/authorize?service_id=1",           /* not https */
    "https://evil.example.com/open/authorize?service_id=1",                 /* unknown host */
    "https://services.tiktokshop.com.evil.example/open/authorize",
    "https://eviltiktokshop.com/open/authorize",
    "https://www.tiktok.com@evil.example/",                                 /* userinfo */
    "https://services.tiktokshop.com/open/authorize?service_id=1&state=x",  /* state present */
    "https://services.tiktokshop.com/open/authorize?state=",
    "https://services.tiktokshop.com/open/authorize?st%61te=x",             /* encoded name */
    "https://services.tiktokshop.com/open/authorize?service_id=1&state",
    "https://services.tiktokshop.com/open authorize",
    "services.tiktokshop.com/open/authorize?service_id=1",
    "ftp://services.tiktokshop.com/",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good_shop); i++)
    {
      g_autoptr(KhAppProfile) app = new_valid_shop ();

      kh_app_profile_set_auth_link (app, good_shop[i]);
      assert_valid (app);
    }

  for (guint i = 0; i < G_N_ELEMENTS (bad_shop); i++)
    {
      g_autoptr(KhAppProfile) app = new_valid_shop ();

      kh_app_profile_set_auth_link (app, bad_shop[i]);
      assert_invalid (app, "Authorization link");
    }
}

static void
test_auth_link_redirect (void)
{
  g_autoptr(KhAppProfile) app = kh_app_profile_new ("ads", KH_FAMILY_BUSINESS, "7000000001");
  g_autofree char *value = NULL;

  /* A Business link may carry redirect_uri, but only the one Keyhold listens on. */
  kh_app_profile_set_auth_link (app, "https://business-api.tiktok.com/portal/auth?app_id=7000000001"
                                     "&redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcallback");
  assert_valid (app);
  value = kh_app_profile_dup_auth_link_param (app, "redirect_uri");
  g_assert_cmpstr (value, ==, KH_DEFAULT_REDIRECT_URI);
  g_clear_pointer (&value, g_free);
  value = kh_app_profile_dup_auth_link_param (app, "state");
  g_assert_null (value);

  kh_app_profile_set_redirect_uri (app, "http://127.0.0.1:9999/other");
  assert_invalid (app, "Authorization link");

  kh_app_profile_set_auth_link (app, NULL);
  assert_valid (app);
  g_assert_null (kh_app_profile_dup_auth_link_param (app, "redirect_uri"));
}

static void
test_scopes (void)
{
  static const char * const good[] = { "user.info.basic", "video.list", "creator_info-1", NULL };
  static const char * const bad_lists[][3] = {
    { "", NULL, NULL },
    { "user.info.basic", "with space", NULL },
    { "comma,inside", NULL, NULL },
    { "semi;colon", NULL, NULL },
    { "ünicode", NULL, NULL },
    { "ctrl\x01", NULL, NULL },
  };
  g_autoptr(KhAppProfile) app = new_valid_shop ();

  kh_app_profile_set_scopes (app, good);
  assert_valid (app);
  g_assert_true (g_strv_equal (kh_app_profile_get_scopes (app), good));

  for (guint i = 0; i < G_N_ELEMENTS (bad_lists); i++)
    {
      g_autoptr(KhAppProfile) bad = new_valid_shop ();

      kh_app_profile_set_scopes (bad, bad_lists[i]);
      assert_invalid (bad, "Scope");
    }
}

static KhAppProfile *
roundtrip (KhAppProfile *app)
{
  g_autoptr(JsonNode) node = kh_app_profile_to_json (app);
  g_autofree char *text = kh_json_to_string (node, FALSE);
  g_autoptr(JsonNode) parsed = NULL;
  g_autoptr(GError) error = NULL;
  KhAppProfile *copy;

  g_assert_nonnull (text);
  /* The secret never lives in this object, so it can never reach its JSON. */
  g_assert_null (strstr (text, "secret"));

  parsed = kh_json_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  copy = kh_app_profile_new_from_json (parsed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (copy);

  return copy;
}

static void
assert_same_profile (KhAppProfile *a,
                     KhAppProfile *b)
{
  g_assert_cmpstr (kh_app_profile_get_name (a), ==, kh_app_profile_get_name (b));
  g_assert_cmpint (kh_app_profile_get_family (a), ==, kh_app_profile_get_family (b));
  g_assert_cmpstr (kh_app_profile_get_app_key (a), ==, kh_app_profile_get_app_key (b));
  g_assert_cmpstr (kh_app_profile_get_service_id (a), ==, kh_app_profile_get_service_id (b));
  g_assert_cmpstr (kh_app_profile_get_redirect_uri (a), ==, kh_app_profile_get_redirect_uri (b));
  g_assert_cmpstr (kh_app_profile_get_auth_link (a), ==, kh_app_profile_get_auth_link (b));
  g_assert_true (g_strv_equal (kh_app_profile_get_scopes (a), kh_app_profile_get_scopes (b)));
}

static void
test_json_roundtrip (void)
{
  static const char * const scopes[] = { "user.info.basic", "video.list", NULL };
  g_autoptr(KhAppProfile) minimal = new_valid_shop ();
  g_autoptr(KhAppProfile) minimal_copy = NULL;
  g_autoptr(KhAppProfile) full = kh_app_profile_new ("Agency “Ads” ☕", KH_FAMILY_BUSINESS,
                                                     "7000000001");
  g_autoptr(KhAppProfile) full_copy = NULL;
  g_autoptr(KhAppProfile) shop = new_valid_shop ();
  g_autoptr(KhAppProfile) shop_copy = NULL;

  minimal_copy = roundtrip (minimal);
  assert_same_profile (minimal, minimal_copy);

  kh_app_profile_set_redirect_uri (full, "https://example.com/cb?x=1&y=2");
  kh_app_profile_set_auth_link (full, "https://www.tiktok.com/v2/auth/authorize/?client_key=abc"
                                      "&scope=user.info.basic");
  kh_app_profile_set_scopes (full, scopes);
  full_copy = roundtrip (full);
  assert_same_profile (full, full_copy);

  kh_app_profile_set_service_id (shop, "7312345678901234567");
  kh_app_profile_set_auth_link (shop, "https://services.tiktokshop.com/open/authorize"
                                      "?service_id=7312345678901234567");
  shop_copy = roundtrip (shop);
  assert_same_profile (shop, shop_copy);

  g_assert_finalize_object (g_steal_pointer (&full_copy));
}

static void
assert_json_error (const char *json,
                   const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = kh_json_parse (json, strlen (json), &error);
  g_autoptr(KhAppProfile) app = NULL;

  g_assert_no_error (error);
  app = kh_app_profile_new_from_json (node, &error);
  g_assert_null (app);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  if (strstr (error->message, needle) == NULL)
    g_error ("message “%s” does not mention “%s”", error->message, needle);
}

static void
test_json_errors (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  const char *ok = "{\"name\":\"n\",\"family\":\"shop\",\"app_key\":\"k\",\"service_id\":null,"
                   "\"auth_link\":null,\"scopes\":null,\"app_secret\":\"ignored\"}";

  /* Optional members may be null or absent; unknown members (even a secret) are not kept. */
  node = kh_json_parse (ok, strlen (ok), &error);
  g_assert_no_error (error);
  app = kh_app_profile_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_nonnull (app);
  g_assert_cmpstr (kh_app_profile_get_redirect_uri (app), ==, KH_DEFAULT_REDIRECT_URI);

  assert_json_error ("[]", "not a JSON object");
  assert_json_error ("\"x\"", "not a JSON object");
  assert_json_error ("{\"family\":\"shop\",\"app_key\":\"k\"}", "“name”");
  assert_json_error ("{\"name\":\"n\",\"app_key\":\"k\"}", "“family”");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\"}", "“app_key”");
  assert_json_error ("{\"name\":1,\"family\":\"shop\",\"app_key\":\"k\"}", "“name”");
  assert_json_error ("{\"name\":\"n\",\"family\":\"ads\",\"app_key\":\"k\"}", "“family”");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\",\"app_key\":[\"k\"]}", "“app_key”");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\",\"app_key\":\"k\",\"service_id\":7}",
                     "“service_id”");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\",\"app_key\":\"k\","
                     "\"scopes\":[\"a\",2]}", "“scopes”");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\",\"app_key\":\"k\",\"scopes\":\"a\"}",
                     "“scopes”");
  /* Well-formed but invalid values get the field checks of kh_app_profile_validate. */
  assert_json_error ("{\"name\":\" n\",\"family\":\"shop\",\"app_key\":\"k\"}", "Name");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\",\"app_key\":\"k\","
                     "\"redirect_uri\":\"http://example.com/cb\"}", "Redirect URI");
  assert_json_error ("{\"name\":\"n\",\"family\":\"shop\",\"app_key\":\"k\","
                     "\"auth_link\":\"https://evil.example/\"}", "Authorization link");
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static void
test_notify (void)
{
  static const char * const scopes_a[] = { "a", "b", NULL };
  static const char * const scopes_a2[] = { "a", "b", NULL };
  static const char * const scopes_b[] = { "a", NULL };
  g_autoptr(KhAppProfile) app = new_valid_shop ();
  guint service = 0, redirect = 0, link = 0, scopes = 0;
  g_autofree char *name = NULL;
  int family = -1;

  g_signal_connect (app, "notify::service-id", G_CALLBACK (count_notify), &service);
  g_signal_connect (app, "notify::redirect-uri", G_CALLBACK (count_notify), &redirect);
  g_signal_connect (app, "notify::auth-link", G_CALLBACK (count_notify), &link);
  g_signal_connect (app, "notify::scopes", G_CALLBACK (count_notify), &scopes);

  kh_app_profile_set_service_id (app, "1");
  kh_app_profile_set_service_id (app, "1");
  g_object_set (app, "service-id", "1", NULL);
  g_assert_cmpuint (service, ==, 1);
  kh_app_profile_set_service_id (app, NULL);
  kh_app_profile_set_service_id (app, "");
  g_assert_cmpuint (service, ==, 2);

  /* The default counts as the current value: resetting to it is no change. */
  kh_app_profile_set_redirect_uri (app, NULL);
  kh_app_profile_set_redirect_uri (app, KH_DEFAULT_REDIRECT_URI);
  g_assert_cmpuint (redirect, ==, 0);
  g_object_set (app, "redirect-uri", "https://example.com/cb", NULL);
  kh_app_profile_set_redirect_uri (app, "https://example.com/cb");
  g_assert_cmpuint (redirect, ==, 1);

  kh_app_profile_set_auth_link (app, "https://services.tiktokshop.com/open/authorize");
  kh_app_profile_set_auth_link (app, "https://services.tiktokshop.com/open/authorize");
  kh_app_profile_set_auth_link (app, NULL);
  kh_app_profile_set_auth_link (app, NULL);
  g_assert_cmpuint (link, ==, 2);

  kh_app_profile_set_scopes (app, NULL);
  g_assert_cmpuint (scopes, ==, 0);
  kh_app_profile_set_scopes (app, scopes_a);
  kh_app_profile_set_scopes (app, scopes_a2);
  g_object_set (app, "scopes", scopes_a, NULL);
  g_assert_cmpuint (scopes, ==, 1);
  kh_app_profile_set_scopes (app, scopes_b);
  g_assert_cmpuint (scopes, ==, 2);

  g_object_get (app, "name", &name, "family", &family, NULL);
  g_assert_cmpstr (name, ==, "My shop app");
  g_assert_cmpint (family, ==, KH_FAMILY_SHOP);

  g_assert_finalize_object (g_steal_pointer (&app));
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/app-profile/defaults", test_defaults);
  g_test_add_func ("/keyhold/app-profile/name", test_name);
  g_test_add_func ("/keyhold/app-profile/app-key", test_app_key);
  g_test_add_func ("/keyhold/app-profile/service-id", test_service_id);
  g_test_add_func ("/keyhold/app-profile/redirect-uri", test_redirect_uri);
  g_test_add_func ("/keyhold/app-profile/auth-link", test_auth_link);
  g_test_add_func ("/keyhold/app-profile/auth-link-redirect", test_auth_link_redirect);
  g_test_add_func ("/keyhold/app-profile/scopes", test_scopes);
  g_test_add_func ("/keyhold/app-profile/json-roundtrip", test_json_roundtrip);
  g_test_add_func ("/keyhold/app-profile/json-errors", test_json_errors);
  g_test_add_func ("/keyhold/app-profile/notify", test_notify);

  return g_test_run ();
}
