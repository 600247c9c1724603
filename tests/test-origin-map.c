/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-origin-map.c: parsing, rewriting and target matching of KEYHOLD_ORIGIN_MAP. */

#include "config.h"

#include "kh-error.h"
#include "kh-origin-map.h"
#include "kh-test-util.h"

static void
set_map (const char *spec)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (kh_origin_map_set (spec, &error));
  g_assert_no_error (error);
}

static void
test_inactive (void)
{
  g_autofree char *same = NULL;

  set_map (NULL);
  g_assert_false (kh_origin_map_is_active ());
  g_assert_null (kh_origin_map_dup_spec ());
  same = kh_origin_map_rewrite ("https://auth.tiktok-shops.com/api/v2/token/get?a=1");
  g_assert_cmpstr (same, ==, "https://auth.tiktok-shops.com/api/v2/token/get?a=1");
  g_assert_false (kh_origin_map_is_target_url ("http://127.0.0.1:8001/"));

  set_map ("");
  g_assert_false (kh_origin_map_is_active ());
}

static void
test_parse_errors (void)
{
  static const char * const bad[] = {
    "https://auth.tiktok-shops.com",                                /* no '=' */
    "https://auth.tiktok-shops.com=",                               /* no target */
    "=http://127.0.0.1:8001",                                       /* no origin */
    "auth.tiktok-shops.com=http://127.0.0.1:8001",                  /* no scheme */
    "https://auth.tiktok-shops.com/api=http://127.0.0.1:8001",      /* origin with a path */
    "https://auth.tiktok-shops.com?x=1=http://127.0.0.1:8001",      /* origin with a query */
    "https://u@auth.tiktok-shops.com=http://127.0.0.1:8001",        /* origin with userinfo */
    "ftp://auth.tiktok-shops.com=http://127.0.0.1:8001",            /* not http(s) */
    "https://auth.tiktok-shops.com=ftp://127.0.0.1:8001",           /* target not http(s) */
    "https://auth.tiktok-shops.com=http://127.0.0.1:8001/p?q",      /* target with a query */
    "https://auth.tiktok-shops.com=http://127.0.0.1:8001#f",        /* target with a fragment */
    "https://auth.tiktok-shops.com=http://:8001",                   /* target without host */
    "https://auth.tiktok-shops.com=http://127.0.0.1:99999",         /* bad port */
    ("https://auth.tiktok-shops.com=http://127.0.0.1:8001;"
     "https://AUTH.tiktok-shops.com:443=http://127.0.0.1:8002"),    /* mapped twice */
    "https://a.tiktok.com=http://127.0.0.1:1;garbage",              /* one bad pair */
  };

  set_map ("https://auth.tiktok-shops.com=http://127.0.0.1:8001");

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *spec = NULL;

      g_test_message ("bad spec %s", bad[i]);
      g_assert_false (kh_origin_map_set (bad[i], &error));
      g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);

      /* A bad spec changes nothing. */
      spec = kh_origin_map_dup_spec ();
      g_assert_cmpstr (spec, ==, "https://auth.tiktok-shops.com=http://127.0.0.1:8001");
    }

  set_map (NULL);
}

static void
test_rewrite (void)
{
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "https://auth.tiktok-shops.com/api/v2/token/get?app_key=k&auth_code=a%26b",
      "http://127.0.0.1:8001/api/v2/token/get?app_key=k&auth_code=a%26b" },
    /* Origins compare normalised: case and the default port do not matter. */
    { "HTTPS://Auth.TikTok-Shops.com:443/x", "http://127.0.0.1:8001/x" },
    { "https://auth.tiktok-shops.com", "http://127.0.0.1:8001" },
    { "https://auth.tiktok-shops.com?x=1#frag", "http://127.0.0.1:8001?x=1#frag" },
    /* A target with a path prefix. */
    { "https://services.us.tiktokshop.com/open/authorize?service_id=1",
      "http://127.0.0.1:8001/_host/services.us.tiktokshop.com/open/authorize?service_id=1" },
    { "https://business-api.tiktok.com/open_api/v1.3/oauth2/access_token/",
      "https://localhost:9443/open_api/v1.3/oauth2/access_token/" },
    /* Not mapped: another port, another scheme, another host. */
    { "https://auth.tiktok-shops.com:8443/x", "https://auth.tiktok-shops.com:8443/x" },
    { "http://auth.tiktok-shops.com/x", "http://auth.tiktok-shops.com/x" },
    { "https://www.tiktok.com/v2/auth/authorize/", "https://www.tiktok.com/v2/auth/authorize/" },
    /* Not a URL: returned as is. */
    { "not a url", "not a url" },
  };

  set_map ("https://auth.tiktok-shops.com=http://127.0.0.1:8001 ; "
           "https://services.us.tiktokshop.com=http://127.0.0.1:8001/_host/services.us.tiktokshop.com/;"
           "https://business-api.tiktok.com:443=HTTPS://LocalHost:9443/;");
  g_assert_true (kh_origin_map_is_active ());

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = kh_origin_map_rewrite (cases[i].in);

      g_test_message ("rewrite %s", cases[i].in);
      g_assert_cmpstr (out, ==, cases[i].out);
    }

  set_map (NULL);
}

static void
test_default_ports (void)
{
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *c = NULL;

  set_map ("http://example.tiktok.com:80=http://127.0.0.1:80/p;"
           "https://other.tiktok.com=http://[::1]:8080");

  a = kh_origin_map_rewrite ("http://example.tiktok.com/x");
  g_assert_cmpstr (a, ==, "http://127.0.0.1/p/x");
  b = kh_origin_map_rewrite ("https://other.tiktok.com:443/y?z");
  g_assert_cmpstr (b, ==, "http://[::1]:8080/y?z");
  c = kh_origin_map_rewrite ("http://example.tiktok.com:8080/x");
  g_assert_cmpstr (c, ==, "http://example.tiktok.com:8080/x");

  g_assert_true (kh_origin_map_is_target_url ("http://127.0.0.1:80/p/x"));
  g_assert_true (kh_origin_map_is_target_url ("http://127.0.0.1/p"));
  g_assert_true (kh_origin_map_is_target_url ("http://[::1]:8080/anything"));

  set_map (NULL);
}

static void
test_is_target (void)
{
  set_map ("https://services.tiktokshop.com=http://127.0.0.1:8001/_host/services.tiktokshop.com;"
           "https://auth.tiktok-shops.com=http://127.0.0.1:8002");

  g_assert_true (kh_origin_map_is_target_url (
                   "http://127.0.0.1:8001/_host/services.tiktokshop.com/open/authorize?x=1"));
  g_assert_true (kh_origin_map_is_target_url (
                   "http://127.0.0.1:8001/_host/services.tiktokshop.com"));
  g_assert_true (kh_origin_map_is_target_url ("http://127.0.0.1:8002/"));
  g_assert_true (kh_origin_map_is_target_url ("http://127.0.0.1:8002/anything?q"));
  g_assert_true (kh_origin_map_is_target_url ("HTTP://127.0.0.1:8002/"));

  /* Not under the prefix, not the same origin. */
  g_assert_false (kh_origin_map_is_target_url ("http://127.0.0.1:8001/"));
  g_assert_false (kh_origin_map_is_target_url (
                    "http://127.0.0.1:8001/_host/services.tiktokshop.com.evil/x"));
  g_assert_false (kh_origin_map_is_target_url (
                    "http://127.0.0.1:8001/_host/services.tiktokshop.com/../../x"));
  g_assert_false (kh_origin_map_is_target_url ("https://127.0.0.1:8002/"));
  g_assert_false (kh_origin_map_is_target_url ("http://127.0.0.1:8003/"));
  g_assert_false (kh_origin_map_is_target_url ("http://localhost:8002/"));
  g_assert_false (kh_origin_map_is_target_url ("http://u:p@127.0.0.1:8002/"));
  g_assert_false (kh_origin_map_is_target_url ("https://services.tiktokshop.com/"));
  g_assert_false (kh_origin_map_is_target_url ("garbage"));

  set_map (NULL);
  g_assert_false (kh_origin_map_is_target_url ("http://127.0.0.1:8002/"));
}

static void
test_dup_spec (void)
{
  const char *spec = "https://auth.tiktok-shops.com=http://127.0.0.1:8001";
  g_autofree char *dup = NULL;

  set_map (spec);
  dup = kh_origin_map_dup_spec ();
  g_assert_cmpstr (dup, ==, spec);

  /* Only separators: nothing is mapped. */
  set_map (" ; ;");
  g_assert_false (kh_origin_map_is_active ());

  set_map (NULL);
}

static void
test_environment (void)
{
  g_autofree char *out = NULL;

  g_setenv ("KEYHOLD_ORIGIN_MAP", "https://auth.tiktok-shops.com=http://127.0.0.1:8009", TRUE);
  kh_origin_map_reset ();
  g_assert_true (kh_origin_map_is_active ());
  out = kh_origin_map_rewrite ("https://auth.tiktok-shops.com/api/v2/token/get");
  g_assert_cmpstr (out, ==, "http://127.0.0.1:8009/api/v2/token/get");

  /* kh_origin_map_set overrides the environment. */
  set_map (NULL);
  g_assert_false (kh_origin_map_is_active ());

  g_unsetenv ("KEYHOLD_ORIGIN_MAP");
  kh_origin_map_reset ();
  g_assert_false (kh_origin_map_is_active ());
}

static void
test_environment_bad (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("KEYHOLD_ORIGIN_MAP", "nonsense", TRUE);
      kh_origin_map_reset ();
      g_assert_false (kh_origin_map_is_active ());
      g_assert_false (kh_origin_map_is_active ());
      g_assert_null (kh_origin_map_dup_spec ());
      return;
    }

  /* Told once on stderr, then ignored: no warning (tests run with fatal warnings). */
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*KEYHOLD_ORIGIN_MAP*");
  g_test_trap_assert_stderr_unmatched ("*KEYHOLD_ORIGIN_MAP*KEYHOLD_ORIGIN_MAP*");
}

typedef struct {
  guint n_iterations;
  int failed;   /* atomic */
} ThreadData;

static gpointer
rewrite_thread (gpointer user_data)
{
  ThreadData *data = user_data;

  for (guint i = 0; i < data->n_iterations; i++)
    {
      g_autofree char *out = kh_origin_map_rewrite ("https://auth.tiktok-shops.com/x");

      if (!g_str_equal (out, "http://127.0.0.1:8001/x") &&
          !g_str_equal (out, "http://127.0.0.1:8002/x") &&
          !g_str_equal (out, "https://auth.tiktok-shops.com/x"))
        g_atomic_int_set (&data->failed, TRUE);
    }

  return NULL;
}

static void
test_threads (void)
{
  ThreadData data = { 2000, FALSE };
  GThread *threads[4];

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("rewrite", rewrite_thread, &data);

  for (guint i = 0; i < 500; i++)
    {
      set_map (i % 3 == 0 ? NULL :
               i % 3 == 1 ? "https://auth.tiktok-shops.com=http://127.0.0.1:8001" :
                            "https://auth.tiktok-shops.com=http://127.0.0.1:8002");
    }

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  g_assert_false (g_atomic_int_get (&data.failed));
  set_map (NULL);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/origin-map/inactive", test_inactive);
  g_test_add_func ("/keyhold/origin-map/parse-errors", test_parse_errors);
  g_test_add_func ("/keyhold/origin-map/rewrite", test_rewrite);
  g_test_add_func ("/keyhold/origin-map/default-ports", test_default_ports);
  g_test_add_func ("/keyhold/origin-map/is-target", test_is_target);
  g_test_add_func ("/keyhold/origin-map/dup-spec", test_dup_spec);
  g_test_add_func ("/keyhold/origin-map/environment", test_environment);
  g_test_add_func ("/keyhold/origin-map/environment-bad", test_environment_bad);
  g_test_add_func ("/keyhold/origin-map/threads", test_threads);

  return g_test_run ();
}
