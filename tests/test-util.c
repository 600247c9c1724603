/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-util.c: randomness, constant-time comparison, clock, ISO 8601 and redaction. */

#include "config.h"

#include <string.h>

#include "kh-test-util.h"
#include "kh-types.h"
#include "kh-util.h"

static void
test_random_token (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 1000; i++)
    {
      char *token = kh_random_token (32);

      /* 32 bytes = 256 bits: ceil(32 * 4 / 3) = 43 base64url characters, no padding. */
      g_assert_cmpuint (strlen (token), ==, 43);
      for (const char *p = token; *p != '\0'; p++)
        g_assert_true (g_ascii_isalnum (*p) || *p == '-' || *p == '_');
      g_assert_false (g_hash_table_contains (seen, token));
      g_hash_table_add (seen, token);
    }

  for (gsize n = 1; n <= 20; n++)
    {
      g_autofree char *token = kh_random_token (n);

      g_assert_cmpuint (strlen (token), ==, (n * 4 + 2) / 3);
    }
}

static void
test_random_hex (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < 1000; i++)
    {
      char *hex = kh_random_hex (16);

      g_assert_cmpuint (strlen (hex), ==, 32);
      for (const char *p = hex; *p != '\0'; p++)
        g_assert_true (g_ascii_isdigit (*p) || (*p >= 'a' && *p <= 'f'));
      g_assert_false (g_hash_table_contains (seen, hex));
      g_hash_table_add (seen, hex);
    }
}

static void
test_const_time_equal (void)
{
  g_assert_true (kh_const_time_equal ("", ""));
  g_assert_true (kh_const_time_equal ("abc", "abc"));
  g_assert_false (kh_const_time_equal ("abc", "abd"));
  g_assert_false (kh_const_time_equal ("abc", "xbc"));
  g_assert_false (kh_const_time_equal ("abc", "ab"));
  g_assert_false (kh_const_time_equal ("ab", "abc"));
  g_assert_false (kh_const_time_equal ("", "a"));
  g_assert_false (kh_const_time_equal ("a", ""));
  g_assert_false (kh_const_time_equal ("ABC", "abc"));
  g_assert_true (kh_const_time_equal ("\xff\x80", "\xff\x80"));
  g_assert_false (kh_const_time_equal ("\xff\x80", "\xff\x81"));
}

static void
test_now (void)
{
  gint64 real = g_get_real_time () / G_USEC_PER_SEC;
  gint64 now;

  g_unsetenv ("KEYHOLD_CLOCK_OFFSET");
  kh_reload_clock_offset ();
  now = kh_now ();
  g_assert_cmpint (now, >=, real);
  g_assert_cmpint (now, <=, real + 5);

  g_setenv ("KEYHOLD_CLOCK_OFFSET", "86400", TRUE);
  kh_reload_clock_offset ();
  now = kh_now ();
  g_assert_cmpint (now, >=, real + 86400);
  g_assert_cmpint (now, <=, real + 86400 + 5);

  g_setenv ("KEYHOLD_CLOCK_OFFSET", "-3600", TRUE);
  kh_reload_clock_offset ();
  now = kh_now ();
  g_assert_cmpint (now, >=, real - 3600);
  g_assert_cmpint (now, <=, real - 3600 + 5);

  /* Garbage is ignored, not half-parsed. */
  g_setenv ("KEYHOLD_CLOCK_OFFSET", "12abc", TRUE);
  kh_reload_clock_offset ();
  now = kh_now ();
  g_assert_cmpint (now, >=, real);
  g_assert_cmpint (now, <=, real + 5);

  /* Once read, the environment is not read again: the hook sets the offset directly. */
  g_setenv ("KEYHOLD_CLOCK_OFFSET", "86400", TRUE);
  g_assert_cmpint (kh_now (), <=, real + 5);
  kh_set_clock_offset (-60);
  now = kh_now ();
  g_assert_cmpint (now, >=, real - 60);
  g_assert_cmpint (now, <=, real - 60 + 5);

  g_unsetenv ("KEYHOLD_CLOCK_OFFSET");
  kh_set_clock_offset (0);
}

static void
test_iso8601 (void)
{
  g_autofree char *text = kh_iso8601_from_unix (1660556783);
  g_autofree char *far = kh_iso8601_from_unix (4903858076);
  gint64 t = 0;

  g_assert_cmpstr (text, ==, "2022-08-15T09:46:23Z");
  g_assert_true (kh_unix_from_iso8601 (text, &t));
  g_assert_cmpint (t, ==, 1660556783);

  g_assert_true (kh_unix_from_iso8601 (far, &t));
  g_assert_cmpint (t, ==, 4903858076);

  g_assert_null (kh_iso8601_from_unix (0));

  g_assert_true (kh_unix_from_iso8601 ("2022-08-15T11:46:23+02:00", &t));
  g_assert_cmpint (t, ==, 1660556783);

  t = 42;
  g_assert_false (kh_unix_from_iso8601 ("2022-08-15T09:46:23", &t));   /* no zone */
  g_assert_false (kh_unix_from_iso8601 ("yesterday", &t));
  g_assert_false (kh_unix_from_iso8601 ("", &t));
  g_assert_false (kh_unix_from_iso8601 (NULL, &t));
  g_assert_cmpint (t, ==, 42);
}

typedef struct {
  const char *in;
  const char *out;
} RedactCase;

static const RedactCase redact_cases[] = {
  /* Shop token call: the secret and the code are in the query string. */
  { "GET https://auth.tiktok-shops.com/api/v2/token/get?app_key=29a39d&app_secret=e59af819cc"
    "&auth_code=ROW_abc&grant_type=authorized_code",
    "GET https://auth.tiktok-shops.com/api/v2/token/get?app_key=29a39d&app_secret=[redacted]"
    "&auth_code=[redacted]&grant_type=authorized_code" },
  { "https://auth.tiktok-shops.com/api/v2/token/refresh?app_key=k&app_secret=s"
    "&refresh_token=RT&grant_type=refresh_token",
    "https://auth.tiktok-shops.com/api/v2/token/refresh?app_key=k&app_secret=[redacted]"
    "&refresh_token=[redacted]&grant_type=refresh_token" },
  /* Callback URLs. */
  { "http://localhost:8082/callback?code=TTP_x&state=s3cr3t&locale=en",
    "http://localhost:8082/callback?code=[redacted]&state=[redacted]&locale=en" },
  { "http://127.0.0.1/cb?auth_code=abc&state=def#access_token=x",
    "http://127.0.0.1/cb?auth_code=[redacted]&state=[redacted]#access_token=[redacted]" },
  /* Signed request: sign and access_token, timestamp stays. */
  { "/authorization/202309/shops?app_key=a&timestamp=1623812664&sign=b596&access_token=tok",
    "/authorization/202309/shops?app_key=a&timestamp=1623812664&sign=[redacted]"
    "&access_token=[redacted]" },
  /* Names are matched whole: these are not secret parameters. */
  { "?zipcode=123&signature_version=2&statement=x&client_key=ck&country_code=GB",
    "?zipcode=123&signature_version=2&statement=x&client_key=ck&country_code=GB" },
  /* Case-insensitive names, a form body, an empty value. */
  { "CODE=abc&State=&client_secret=cs",
    "CODE=[redacted]&State=[redacted]&client_secret=[redacted]" },
  /* A callback URL nested, percent-encoded, in a redirect_uri. */
  { "redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb%3Fcode%3DSECRET%26x%3D1",
    "redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb%3Fcode%3D[redacted]%26x%3D1" },
  /* JSON bodies. */
  { "{\"app_id\":\"1\",\"secret\":\"s\",\"auth_code\":\"c\"}",
    "{\"app_id\":\"1\",\"secret\":\"[redacted]\",\"auth_code\":\"[redacted]\"}" },
  { "{\"code\":0,\"message\":\"success\",\"data\":{\"access_token\" : \"ROW_a\\\"b\","
    "\"access_token_expire_in\":1660556783,\"refresh_token\":\"RT\",\"open_id\":\"o\"}}",
    "{\"code\":0,\"message\":\"success\",\"data\":{\"access_token\" : \"[redacted]\","
    "\"access_token_expire_in\":1660556783,\"refresh_token\":\"[redacted]\",\"open_id\":\"o\"}}" },
  { "{\n  \"client_secret\":\n    \"cs\",\n  \"grant_type\": \"refresh_token\"\n}",
    "{\n  \"client_secret\":\n    \"[redacted]\",\n  \"grant_type\": \"refresh_token\"\n}" },
  /* JSON held in a JSON string. */
  { "{\"body\":\"{\\\"access_token\\\":\\\"abc\\\"}\"}",
    "{\"body\":\"{\\\"access_token\\\":\\\"[redacted]\\\"}\"}" },
  /* Headers, including header names as JSON members. */
  { "Access-Token: abc123\r\nContent-Type: application/json\r\n",
    "Access-Token: [redacted]\r\nContent-Type: application/json\r\n" },
  { "content-type: application/json\nx-tts-access-token:ROW_tok\n",
    "content-type: application/json\nx-tts-access-token: [redacted]\n" },
  { "{\"Access-Token\":\"abc\",\"Accept\":\"*/*\"}",
    "{\"Access-Token\":\"[redacted]\",\"Accept\":\"*/*\"}" },
  /* Truncated input: whatever follows a secret name is gone. */
  { "\"refresh_token\":\"abc", "\"refresh_token\":\"[redacted]" },
  { "access-token: abc", "access-token: [redacted]" },
  /* Nothing secret, nothing changed. */
  { "", "" },
  { "plain text with code and state words", "plain text with code and state words" },
  { "\"code", "\"code" },
  { "\"state\":", "\"state\":" },
  { "code", "code" },
  { "x-tts-access-token", "x-tts-access-token" },
};

static void
test_redact (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (redact_cases); i++)
    {
      g_autofree char *out = kh_redact (redact_cases[i].in);

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_cmpstr (out, ==, redact_cases[i].out);
    }

  g_assert_null (kh_redact (NULL));
}

/* Every prefix and every single-byte mutation of the cases must be handled without reading out
 * of bounds (the test runs under MALLOC_CHECK_ and, in CI, a sanitizer) and must never leave a
 * secret value of the original cases in the output. */
static void
test_redact_robust (void)
{
  static const char bytes[] = { '"', '\\', '=', '&', ':', '%', '\n', '\r', ' ', 'a', '\x80' };

  for (gsize i = 0; i < G_N_ELEMENTS (redact_cases); i++)
    {
      const char *in = redact_cases[i].in;
      gsize len = strlen (in);

      for (gsize cut = 0; cut <= len; cut++)
        {
          g_autofree char *prefix = g_strndup (in, cut);
          g_autofree char *out = kh_redact (prefix);

          g_assert_nonnull (out);
        }

      for (gsize pos = 0; pos < len; pos++)
        {
          for (gsize b = 0; b < G_N_ELEMENTS (bytes); b++)
            {
              g_autofree char *mutated = g_strdup (in);
              g_autofree char *out = NULL;

              mutated[pos] = bytes[b];
              out = kh_redact (mutated);
              g_assert_nonnull (out);
            }
        }
    }

  for (guint round = 0; round < 2000; round++)
    {
      guint8 buf[64];
      g_autofree char *out = NULL;

      for (gsize j = 0; j < sizeof buf - 1; j++)
        buf[j] = (guint8) g_test_rand_int_range (1, 256);
      buf[sizeof buf - 1] = 0;
      out = kh_redact ((const char *) buf);
      g_assert_nonnull (out);
    }
}

static void
test_debug_redacted (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
      kh_debug_redacted ("token call %s", "https://x/api?app_secret=TOPSECRET&app_key=k");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout_unmatched ("*TOPSECRET*");
  g_test_trap_assert_stderr_unmatched ("*TOPSECRET*");
  /* The test writer, like the programs', writes debug lines to stderr. */
  g_test_trap_assert_stderr ("*app_secret=[redacted]&app_key=k*");
}

static void
test_types (void)
{
  KhFamily family;
  KhRegion region;
  KhTokenKind kind;
  KhGrantStatus status;

  g_assert_cmpstr (kh_family_to_string (KH_FAMILY_SHOP), ==, "shop");
  g_assert_cmpstr (kh_family_to_string (KH_FAMILY_BUSINESS), ==, "business");
  g_assert_true (kh_family_from_string ("business", &family));
  g_assert_cmpint (family, ==, KH_FAMILY_BUSINESS);
  g_assert_true (kh_family_from_string ("shop", &family));
  g_assert_cmpint (family, ==, KH_FAMILY_SHOP);
  g_assert_false (kh_family_from_string ("Shop", &family));
  g_assert_false (kh_family_from_string (NULL, &family));

  g_assert_cmpstr (kh_region_to_string (KH_REGION_US), ==, "us");
  g_assert_cmpstr (kh_region_to_string (KH_REGION_ROW), ==, "row");
  g_assert_true (kh_region_from_string ("us", &region));
  g_assert_cmpint (region, ==, KH_REGION_US);
  g_assert_true (kh_region_from_string ("row", &region));
  g_assert_cmpint (region, ==, KH_REGION_ROW);
  g_assert_false (kh_region_from_string ("eu", &region));

  g_assert_cmpstr (kh_token_kind_to_string (KH_TOKEN_KIND_SHOP), ==, "shop");
  g_assert_cmpstr (kh_token_kind_to_string (KH_TOKEN_KIND_ADVERTISER), ==, "advertiser");
  g_assert_cmpstr (kh_token_kind_to_string (KH_TOKEN_KIND_TT_USER), ==, "tt-user");
  for (int k = KH_TOKEN_KIND_SHOP; k <= KH_TOKEN_KIND_TT_USER; k++)
    {
      g_assert_true (kh_token_kind_from_string (kh_token_kind_to_string (k), &kind));
      g_assert_cmpint (kind, ==, k);
    }
  g_assert_false (kh_token_kind_from_string ("tt_user", &kind));

  g_assert_cmpstr (kh_grant_status_to_string (KH_GRANT_STATUS_ACTIVE), ==, "active");
  g_assert_cmpstr (kh_grant_status_to_string (KH_GRANT_STATUS_EXPIRING), ==, "expiring");
  g_assert_cmpstr (kh_grant_status_to_string (KH_GRANT_STATUS_NEEDS_REAUTH), ==, "needs-reauth");
  g_assert_cmpstr (kh_grant_status_to_string (KH_GRANT_STATUS_REVOKED), ==, "revoked");
  for (int s = KH_GRANT_STATUS_ACTIVE; s <= KH_GRANT_STATUS_REVOKED; s++)
    {
      g_assert_true (kh_grant_status_from_string (kh_grant_status_to_string (s), &status));
      g_assert_cmpint (status, ==, s);
    }
  g_assert_false (kh_grant_status_from_string ("", &status));
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/util/random-token", test_random_token);
  g_test_add_func ("/keyhold/util/random-hex", test_random_hex);
  g_test_add_func ("/keyhold/util/const-time-equal", test_const_time_equal);
  g_test_add_func ("/keyhold/util/now", test_now);
  g_test_add_func ("/keyhold/util/iso8601", test_iso8601);
  g_test_add_func ("/keyhold/util/redact", test_redact);
  g_test_add_func ("/keyhold/util/redact-robust", test_redact_robust);
  g_test_add_func ("/keyhold/util/debug-redacted", test_debug_redacted);
  g_test_add_func ("/keyhold/util/types", test_types);

  return g_test_run ();
}
