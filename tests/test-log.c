/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-log.c: every log line is redacted and goes to stderr, never stdout. */

#include "config.h"

#include "kh-log.h"
#include "kh-test-util.h"

static void
test_log_redacts_to_stderr (void)
{
  if (g_test_subprocess ())
    {
      g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
      kh_log_init ();
      kh_log_init ();
      g_debug ("GET https://auth.tiktok-shops.com/api/v2/token/get?app_key=k1&app_secret=S3CRETVALUE"
               "&auth_code=C0DEVALUE");
      g_message ("{\"access_token\":\"T0KENVALUE\",\"code\":0}");
      g_info ("Access-Token: ACCESSHEADERVALUE");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  /* GLib's own test set-up may log to stdout before the writer is installed; nothing of ours
   * may go there. */
  g_test_trap_assert_stdout_unmatched ("*app_key=k1*");
  g_test_trap_assert_stdout_unmatched ("*[redacted]*");
  g_test_trap_assert_stderr ("*app_key=k1*");
  g_test_trap_assert_stderr ("*[redacted]*");
  g_test_trap_assert_stderr_unmatched ("*S3CRETVALUE*");
  g_test_trap_assert_stderr_unmatched ("*C0DEVALUE*");
  g_test_trap_assert_stderr_unmatched ("*T0KENVALUE*");
  g_test_trap_assert_stderr_unmatched ("*ACCESSHEADERVALUE*");
}

static void
test_log_debug_dropped_by_default (void)
{
  if (g_test_subprocess ())
    {
      g_unsetenv ("G_MESSAGES_DEBUG");
      kh_log_init ();
      g_debug ("quiet unless asked");
      g_message ("always shown");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout_unmatched ("*always shown*");
  g_test_trap_assert_stderr ("*always shown*");
  g_test_trap_assert_stderr_unmatched ("*quiet unless asked*");
}

/* g_test_init (like G_DEBUG=fatal-warnings) makes warnings fatal: a structured warning through
 * Keyhold's writer must still abort, as it would through GLib's. */
static void
test_log_fatal_warnings (void)
{
  if (g_test_subprocess ())
    {
      kh_log_init ();
      g_log_structured ("kh-test", G_LOG_LEVEL_WARNING, "MESSAGE", "structured warning");
      g_print ("still running\n");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*structured warning*");
  g_test_trap_assert_stdout_unmatched ("*still running*");
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/log/redacts-to-stderr", test_log_redacts_to_stderr);
  g_test_add_func ("/keyhold/log/debug-dropped-by-default", test_log_debug_dropped_by_default);
  g_test_add_func ("/keyhold/log/fatal-warnings", test_log_fatal_warnings);

  return g_test_run ();
}
