/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-sign.c: the Shop request signature reproduces every vector of tiktok-api.md. */

#include "config.h"

#include <string.h>

#include "kh-sign.h"
#include "kh-test-util.h"

static GHashTable *
make_query (const char *first_key,
            ...)
{
  GHashTable *query = g_hash_table_new (g_str_hash, g_str_equal);
  const char *key = first_key;
  va_list args;

  va_start (args, first_key);
  while (key != NULL)
    {
      const char *value = va_arg (args, const char *);

      g_hash_table_insert (query, (gpointer) key, (gpointer) value);
      key = va_arg (args, const char *);
    }
  va_end (args);

  return query;
}

static void
test_sign_v1_official (void)
{
  g_autoptr(GHashTable) query = make_query ("app_key", "29a39d", "timestamp", "1623812664", NULL);
  g_autofree char *sign = kh_sign ("e59af819cc", "/authorization/202309/shops", query,
                                   NULL, 0, "application/json");

  g_assert_cmpstr (sign, ==, "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");
}

static void
test_sign_v2_sdk (void)
{
  g_autoptr(GHashTable) query = make_query ("foo", "bar", NULL);
  g_autofree char *sign = kh_sign ("app_secret", "/test-api", query, NULL, 0, NULL);

  g_assert_cmpstr (sign, ==, "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f");
}

static const char v3_body[] =
  "{\"address\":\"https://partner.tiktokshop.com\",\"event_type\":\"PACKAGE_UPDATE\"}";

static void
test_sign_v3_body (void)
{
  g_autoptr(GHashTable) query = make_query ("app_key", "68xu9ks5p4i8",
                                            "shop_cipher", "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK",
                                            "timestamp", "1696909648", NULL);
  g_autofree char *sign = kh_sign ("e59af819cc", "/event/202309/webhooks", query,
                                   v3_body, strlen (v3_body), "application/json");

  g_assert_cmpstr (sign, ==, "cd0d6268252f4ba293bf7ea4c0a2873bf9beec600d22530638564ab301435f7a");
}

static void
test_sign_skips_sign_and_access_token (void)
{
  g_autoptr(GHashTable) plain = make_query ("app_key", "29a39d", "timestamp", "1623812664", NULL);
  g_autoptr(GHashTable) extra = make_query ("app_key", "29a39d", "timestamp", "1623812664",
                                            "sign", "whatever", "access_token", "TTP_x", NULL);
  g_autofree char *a = kh_sign ("e59af819cc", "/authorization/202309/shops", plain, NULL, 0, NULL);
  g_autofree char *b = kh_sign ("e59af819cc", "/authorization/202309/shops", extra, NULL, 0, NULL);

  g_assert_cmpstr (a, ==, b);
}

static void
test_sign_multipart_body_ignored (void)
{
  g_autoptr(GHashTable) query = make_query ("foo", "bar", NULL);
  g_autofree char *without = kh_sign ("app_secret", "/test-api", query, NULL, 0, NULL);
  g_autofree char *with = kh_sign ("app_secret", "/test-api", query, "--boundary\r\n", 12,
                                   "multipart/form-data; boundary=boundary");
  g_autofree char *json = kh_sign ("app_secret", "/test-api", query, "{}", 2, "application/json");

  g_assert_cmpstr (without, ==, with);
  g_assert_cmpstr (without, !=, json);
}

static void
test_sign_verify (void)
{
  g_autoptr(GHashTable) query = make_query ("app_key", "29a39d", "timestamp", "1623812664", NULL);
  const char *good = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8";
  const char *upper = "B596B73E0CC6DE07AC26F036364178AB16B0A907AF13D43F0A0CD2345F582DC8";
  const char *bad = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc9";
  const char *path = "/authorization/202309/shops";

  g_assert_true (kh_sign_verify ("e59af819cc", path, query, NULL, 0, NULL, good));
  g_assert_true (kh_sign_verify ("e59af819cc", path, query, NULL, 0, NULL, upper));
  g_assert_false (kh_sign_verify ("e59af819cc", path, query, NULL, 0, NULL, bad));
  g_assert_false (kh_sign_verify ("e59af819cc", path, query, NULL, 0, NULL, ""));
  g_assert_false (kh_sign_verify ("e59af819cc", path, query, NULL, 0, NULL, NULL));
  g_assert_false (kh_sign_verify ("other", path, query, NULL, 0, NULL, good));
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/sign/v1-official", test_sign_v1_official);
  g_test_add_func ("/keyhold/sign/v2-sdk", test_sign_v2_sdk);
  g_test_add_func ("/keyhold/sign/v3-body", test_sign_v3_body);
  g_test_add_func ("/keyhold/sign/skips-sign-and-access-token", test_sign_skips_sign_and_access_token);
  g_test_add_func ("/keyhold/sign/multipart-body-ignored", test_sign_multipart_body_ignored);
  g_test_add_func ("/keyhold/sign/verify", test_sign_verify);

  return g_test_run ();
}
