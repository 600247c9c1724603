/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-error.c: every TikTok error code of tiktok-api.md, the classification and exit codes. */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "kh-error.h"
#include "kh-test-util.h"

typedef struct {
  int          code;
  KhErrorClass klass;
} ExpectedCode;

/* Transcribed from tiktok-api.md, "Error codes". */
static const ExpectedCode documented_codes[] = {
  /* Shop */
  { 105001, KH_ERROR_CLASS_TERMINAL },
  { 105002, KH_ERROR_CLASS_REFRESH },
  { 105005, KH_ERROR_CLASS_OTHER },
  { 106001, KH_ERROR_CLASS_OTHER },
  { 36004004, KH_ERROR_CLASS_OTHER },
  { 36004001, KH_ERROR_CLASS_TERMINAL },
  { 36004005, KH_ERROR_CLASS_TERMINAL },
  { 36009004, KH_ERROR_CLASS_OTHER },
  { 101000, KH_ERROR_CLASS_OTHER },
  { 106013, KH_ERROR_CLASS_OTHER },
  { 36009033, KH_ERROR_CLASS_OTHER },
  { 36009002, KH_ERROR_CLASS_TRANSIENT },
  { 36009003, KH_ERROR_CLASS_TRANSIENT },
  { 36009007, KH_ERROR_CLASS_TRANSIENT },
  /* Business */
  { 20001, KH_ERROR_CLASS_OTHER },
  { 40000, KH_ERROR_CLASS_OTHER },
  { 40002, KH_ERROR_CLASS_OTHER },
  { 40001, KH_ERROR_CLASS_OTHER },
  { 40100, KH_ERROR_CLASS_TRANSIENT },
  { 40016, KH_ERROR_CLASS_TRANSIENT },
  { 40133, KH_ERROR_CLASS_TRANSIENT },
  { 40101, KH_ERROR_CLASS_OTHER },
  { 40102, KH_ERROR_CLASS_REFRESH },
  { 40103, KH_ERROR_CLASS_TERMINAL },
  { 40104, KH_ERROR_CLASS_OTHER },
  { 40105, KH_ERROR_CLASS_TERMINAL },
  { 40107, KH_ERROR_CLASS_TERMINAL },
  { 40108, KH_ERROR_CLASS_OTHER },
  { 40110, KH_ERROR_CLASS_TERMINAL },
  { 40113, KH_ERROR_CLASS_OTHER },
  { 40115, KH_ERROR_CLASS_OTHER },
  { 40116, KH_ERROR_CLASS_OTHER },
  { 40118, KH_ERROR_CLASS_OTHER },
  { 40119, KH_ERROR_CLASS_OTHER },
  { 40121, KH_ERROR_CLASS_OTHER },
  { 40122, KH_ERROR_CLASS_OTHER },
  /* 5xxxx server errors */
  { 50000, KH_ERROR_CLASS_TRANSIENT },
  { 50002, KH_ERROR_CLASS_TRANSIENT },
  { 51000, KH_ERROR_CLASS_TRANSIENT },
  { 59999, KH_ERROR_CLASS_TRANSIENT },
};

static void
test_documented_codes (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (documented_codes); i++)
    {
      int code = documented_codes[i].code;
      const KhApiErrorInfo *info = kh_api_error_lookup (code);
      g_autoptr(GError) error = kh_api_error_new (code, NULL, NULL);
      g_autofree char *prefix = g_strdup_printf ("%d: ", code);
      g_auto(GStrv) parts = NULL;

      g_test_message ("code %d", code);
      g_assert_nonnull (info);
      g_assert_cmpint (info->klass, ==, documented_codes[i].klass);
      /* Codes below 50000 are all in the table, not served by the generic entry. */
      if (code < 50000 || code > 59999)
        g_assert_cmpint (info->code, ==, code);

      g_assert_error (error, KH_API_ERROR, code);
      g_assert_true (g_str_has_prefix (error->message, prefix));
      parts = g_strsplit (error->message, ": ", 3);
      g_assert_cmpuint (g_strv_length (parts), ==, 3);
      g_assert_cmpstr (parts[1], !=, "");
      g_assert_cmpstr (parts[2], !=, "");
      g_assert_cmpint (kh_error_classify (error), ==, documented_codes[i].klass);
    }
}

static void
test_table (void)
{
  guint n = 0;
  const KhApiErrorInfo *all = kh_api_error_all (&n);

  g_assert_cmpuint (n, >=, 36);

  for (guint i = 0; i < n; i++)
    {
      gboolean documented = FALSE;

      g_assert_cmpint (all[i].code, !=, 0);
      g_assert_nonnull (all[i].meaning);
      g_assert_nonnull (all[i].fix);
      g_assert_cmpuint (strlen (all[i].meaning), >, 5);
      g_assert_cmpuint (strlen (all[i].fix), >, 5);
      /* The parts are joined with ": " into one sentence: no trailing full stop. */
      g_assert_false (g_str_has_suffix (all[i].meaning, "."));
      g_assert_false (g_str_has_suffix (all[i].fix, "."));
      g_assert_true (kh_api_error_lookup (all[i].code) == &all[i]);

      for (guint j = i + 1; j < n; j++)
        g_assert_cmpint (all[i].code, !=, all[j].code);

      for (gsize k = 0; k < G_N_ELEMENTS (documented_codes); k++)
        documented |= documented_codes[k].code == all[i].code;
      g_assert_true (documented);
    }
}

static void
test_messages (void)
{
  g_autoptr(GError) e1 = kh_api_error_new (36004004, NULL, NULL);
  g_autoptr(GError) e2 = NULL;
  g_autoptr(GError) e3 = NULL;
  g_autoptr(GError) e4 = NULL;
  g_autoptr(GError) e5 = NULL;
  g_autoptr(GError) e6 = NULL;
  g_autofree char *long_message = NULL;

  g_assert_cmpstr (e1->message, ==,
                   "36004004: the authorization code is invalid, used or older than 30 minutes: "
                   "create a new link: a code lives 30 minutes and works once");

  e2 = kh_api_error_new (105005, NULL, NULL);
  g_assert_nonnull (strstr (e2->message,
                            "enable the scopes in Partner Center, publish the app and authorize "
                            "again"));
  g_clear_error (&e2);
  e2 = kh_api_error_new (36009004, NULL, NULL);
  g_assert_nonnull (strstr (e2->message, "app key"));
  g_assert_nonnull (strstr (e2->message, "clock"));
  g_clear_error (&e2);
  e2 = kh_api_error_new (40001, NULL, NULL);
  g_assert_nonnull (strstr (e2->message, "enable the scopes"));
  g_assert_nonnull (strstr (e2->message, "authorize again"));

  e3 = kh_api_error_new (105001, "Your token has been deauthorized", "20230101ABC");
  g_assert_true (g_str_has_suffix (e3->message,
                                   " (TikTok: Your token has been deauthorized, "
                                   "request 20230101ABC)"));

  e4 = kh_api_error_new (40105, "bad\ttoken\n\x1b[31mred\x1b[0m\r\nend", NULL);
  g_assert_true (g_str_has_prefix (e4->message, "40105: "));
  g_assert_null (strchr (e4->message, '\n'));
  g_assert_null (strchr (e4->message, '\r'));
  g_assert_null (strchr (e4->message, '\t'));
  g_assert_null (strchr (e4->message, '\x1b'));
  g_assert_nonnull (strstr (e4->message, "(TikTok: bad token [31mred [0m end)"));

  /* A server that echoes a secret does not get it into the message; invalid UTF-8 is fixed;
   * an absurdly long message is capped. */
  long_message = g_strnfill (5000, 'x');
  e5 = kh_api_error_new (40000, long_message, "\xff\xfe");
  g_assert_true (g_utf8_validate (e5->message, -1, NULL));
  g_assert_cmpuint (strlen (e5->message), <, 600);
  g_clear_error (&e5);
  e5 = kh_api_error_new (40000, "invalid auth_code=SECRETCODE", NULL);
  g_assert_null (strstr (e5->message, "SECRETCODE"));

  e6 = kh_api_error_new (36004004, "", "");
  g_assert_cmpstr (e6->message, ==, e1->message);
  g_clear_error (&e6);
  e6 = kh_api_error_new (36004004, NULL, "rid1");
  g_assert_true (g_str_has_suffix (e6->message, " (TikTok request rid1)"));
}

static void
test_unknown_codes (void)
{
  g_autoptr(GError) other = kh_api_error_new (12345, "odd", NULL);
  g_autoptr(GError) server = kh_api_error_new (50123, NULL, NULL);
  g_autoptr(GError) gateway = kh_api_error_new (36009999, NULL, NULL);

  g_assert_cmpint (kh_api_error_lookup (12345)->klass, ==, KH_ERROR_CLASS_OTHER);
  g_assert_cmpint (kh_api_error_lookup (-1)->klass, ==, KH_ERROR_CLASS_OTHER);
  g_assert_cmpint (kh_api_error_lookup (G_MAXINT)->klass, ==, KH_ERROR_CLASS_OTHER);
  g_assert_cmpint (kh_api_error_lookup (49999)->klass, ==, KH_ERROR_CLASS_OTHER);
  g_assert_cmpint (kh_api_error_lookup (60000)->klass, ==, KH_ERROR_CLASS_OTHER);
  g_assert_cmpint (kh_api_error_lookup (50001)->klass, ==, KH_ERROR_CLASS_TRANSIENT);

  g_assert_true (g_str_has_prefix (other->message, "12345: "));
  g_assert_true (g_str_has_suffix (other->message, " (TikTok: odd)"));
  g_assert_cmpint (kh_error_classify (other), ==, KH_ERROR_CLASS_OTHER);
  g_assert_true (g_str_has_prefix (server->message, "50123: "));
  g_assert_cmpint (kh_error_classify (server), ==, KH_ERROR_CLASS_TRANSIENT);
  g_assert_cmpint (kh_error_classify (gateway), ==, KH_ERROR_CLASS_TRANSIENT);
}

static void
test_classify (void)
{
  static const struct {
    int          code;
    KhErrorClass klass;
  } kh_codes[] = {
    { KH_ERROR_FAILED, KH_ERROR_CLASS_OTHER },
    { KH_ERROR_INVALID_INPUT, KH_ERROR_CLASS_OTHER },
    { KH_ERROR_DENIED, KH_ERROR_CLASS_OTHER },
    { KH_ERROR_STATE_MISMATCH, KH_ERROR_CLASS_OTHER },
    { KH_ERROR_REQUEST_EXPIRED, KH_ERROR_CLASS_OTHER },
    { KH_ERROR_NO_KEYRING, KH_ERROR_CLASS_OTHER },
    { KH_ERROR_NETWORK, KH_ERROR_CLASS_TRANSIENT },
    { KH_ERROR_BAD_RESPONSE, KH_ERROR_CLASS_TRANSIENT },
    { KH_ERROR_TIMEOUT, KH_ERROR_CLASS_TRANSIENT },
    { KH_ERROR_NEEDS_REAUTH, KH_ERROR_CLASS_TERMINAL },
  };
  static const struct {
    int          code;
    KhErrorClass klass;
  } io_codes[] = {
    { G_IO_ERROR_CONNECTION_REFUSED, KH_ERROR_CLASS_TRANSIENT },
    { G_IO_ERROR_TIMED_OUT, KH_ERROR_CLASS_TRANSIENT },
    { G_IO_ERROR_HOST_NOT_FOUND, KH_ERROR_CLASS_TRANSIENT },
    { G_IO_ERROR_NETWORK_UNREACHABLE, KH_ERROR_CLASS_TRANSIENT },
    { G_IO_ERROR_HOST_UNREACHABLE, KH_ERROR_CLASS_TRANSIENT },
    { G_IO_ERROR_CONNECTION_CLOSED, KH_ERROR_CLASS_TRANSIENT },
    { G_IO_ERROR_CANCELLED, KH_ERROR_CLASS_OTHER },
    { G_IO_ERROR_NOT_FOUND, KH_ERROR_CLASS_OTHER },
    { G_IO_ERROR_PERMISSION_DENIED, KH_ERROR_CLASS_OTHER },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (kh_codes); i++)
    {
      g_autoptr(GError) error = g_error_new_literal (KH_ERROR, kh_codes[i].code, "x");

      g_assert_cmpint (kh_error_classify (error), ==, kh_codes[i].klass);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (io_codes); i++)
    {
      g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, io_codes[i].code, "x");

      g_assert_cmpint (kh_error_classify (error), ==, io_codes[i].klass);
    }

  {
    g_autoptr(GError) soup = g_error_new_literal (SOUP_SESSION_ERROR,
                                                  SOUP_SESSION_ERROR_PARSING, "x");
    g_autoptr(GError) resolver = g_error_new_literal (G_RESOLVER_ERROR,
                                                      G_RESOLVER_ERROR_TEMPORARY_FAILURE, "x");
    g_autoptr(GError) other = g_error_new_literal (G_FILE_ERROR, G_FILE_ERROR_NOENT, "x");

    g_assert_cmpint (kh_error_classify (soup), ==, KH_ERROR_CLASS_TRANSIENT);
    g_assert_cmpint (kh_error_classify (resolver), ==, KH_ERROR_CLASS_TRANSIENT);
    g_assert_cmpint (kh_error_classify (other), ==, KH_ERROR_CLASS_OTHER);
  }
}

static void
test_exit_codes (void)
{
  static const struct {
    GQuark (*domain) (void);
    int code;
    int exit_code;
  } cases[] = {
    { kh_api_error_quark, 105001, 3 },
    { kh_api_error_quark, 40105, 3 },
    { kh_api_error_quark, 40110, 3 },
    { kh_api_error_quark, 36004001, 3 },
    { kh_api_error_quark, 36009002, 4 },
    { kh_api_error_quark, 40100, 4 },
    { kh_api_error_quark, 50000, 4 },
    { kh_api_error_quark, 105002, 1 },
    { kh_api_error_quark, 36004004, 1 },
    { kh_api_error_quark, 12345, 1 },
    { kh_error_quark, KH_ERROR_NEEDS_REAUTH, 3 },
    { kh_error_quark, KH_ERROR_NETWORK, 4 },
    { kh_error_quark, KH_ERROR_TIMEOUT, 4 },
    { kh_error_quark, KH_ERROR_INVALID_INPUT, 1 },
    { kh_error_quark, KH_ERROR_DENIED, 1 },
    { kh_error_quark, KH_ERROR_NOT_FOUND, 1 },
    { g_io_error_quark, G_IO_ERROR_CONNECTION_REFUSED, 4 },
    { g_io_error_quark, G_IO_ERROR_CANCELLED, 1 },
  };

  g_assert_cmpint (kh_error_exit_code (NULL), ==, 0);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = g_error_new_literal (cases[i].domain (), cases[i].code, "x");

      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_cmpint (kh_error_exit_code (error), ==, cases[i].exit_code);
    }
}

static void
test_quarks (void)
{
  g_assert_cmpstr (g_quark_to_string (KH_ERROR), ==, "kh-error-quark");
  g_assert_cmpstr (g_quark_to_string (KH_API_ERROR), ==, "kh-api-error-quark");
  g_assert_cmpuint (KH_ERROR, !=, KH_API_ERROR);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/error/documented-codes", test_documented_codes);
  g_test_add_func ("/keyhold/error/table", test_table);
  g_test_add_func ("/keyhold/error/messages", test_messages);
  g_test_add_func ("/keyhold/error/unknown-codes", test_unknown_codes);
  g_test_add_func ("/keyhold/error/classify", test_classify);
  g_test_add_func ("/keyhold/error/exit-codes", test_exit_codes);
  g_test_add_func ("/keyhold/error/quarks", test_quarks);

  return g_test_run ();
}
