/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench-app.c: the GUI's startup benchmark (tests/bench/RESULTS.md). Run under Xvfb with a
 * keyring (.ci/session). Without arguments it is the driver: it fills a store with 2,000 grants
 * once, then starts itself repeatedly as "keyhold" (the real KhApplication on that store) and as
 * "minimal" (a bare AdwApplicationWindow built in the same tree), and reports the time from
 * process start to the first frame of the main window and the peak RSS of each. */

#define G_LOG_DOMAIN "bench-app"

#include "config.h"

#include <adwaita.h>
#include <stdio.h>
#include <string.h>

#include "kh-application.h"
#include "kh-store.h"
#include "kh-util.h"

#define N_GRANTS 2000
#define N_RUNS   5

/* ---- child: report the first frame ---------------------------------------------------------- */

static long
peak_rss_kb (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmHWM:");

  return line != NULL ? strtol (line + 6, NULL, 10) : -1;
}

static gboolean
quit_later (gpointer data)
{
  /* Peak RSS once the first frame is drawn and the initial work has settled. */
  printf ("RSS_KB %ld\n", peak_rss_kb ());
  fflush (stdout);
  g_application_quit (G_APPLICATION (data));

  return G_SOURCE_REMOVE;
}

static void
after_paint_cb (GdkFrameClock *clock,
                GApplication  *app)
{
  printf ("FIRST_FRAME_US %" G_GINT64_FORMAT "\n", g_get_monotonic_time ());
  fflush (stdout);
  g_signal_handlers_disconnect_by_func (clock, after_paint_cb, app);
  g_timeout_add (1000, quit_later, app);
}

static void
window_mapped_cb (GtkWidget    *window,
                  GApplication *app)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (window);

  g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), app);
}

static void
watch_window (GtkApplication *app,
              GtkWindow      *window,
              gpointer        user_data)
{
  g_signal_connect (window, "map", G_CALLBACK (window_mapped_cb), app);
}

static void
minimal_activate (GtkApplication *app)
{
  GtkWidget *window = adw_application_window_new (app);

  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 760);
  gtk_window_present (GTK_WINDOW (window));
}

static int
run_child (const char *mode)
{
  g_autoptr(GtkApplication) app = NULL;

  if (g_str_equal (mode, "keyhold"))
    app = GTK_APPLICATION (g_object_new (KH_TYPE_APPLICATION,
                                         "flags", G_APPLICATION_NON_UNIQUE, NULL));
  else
    {
      app = GTK_APPLICATION (adw_application_new (NULL, G_APPLICATION_NON_UNIQUE));
      g_signal_connect (app, "activate", G_CALLBACK (minimal_activate), NULL);
    }
  g_signal_connect (app, "window-added", G_CALLBACK (watch_window), NULL);

  return g_application_run (G_APPLICATION (app), 0, NULL);
}

/* ---- driver --------------------------------------------------------------------------------- */

static void
seed_store (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhStore) store = kh_store_new (NULL, NULL, &error);
  g_autoptr(GPtrArray) existing = NULL;
  gint64 now = kh_now ();
  gint64 start = g_get_monotonic_time ();

  g_assert_no_error (error);
  existing = kh_store_list_grants (store);
  for (guint i = existing->len; i < N_GRANTS; i++)
    {
      g_autoptr(KhGrant) grant = kh_grant_new (i % KH_N_ACCOUNT_TYPES, NULL, "Bench App");
      g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
      g_autofree char *name = g_strdup_printf ("Bench Account %04u", i);
      g_autofree char *client = g_strdup_printf ("Client %u", i % 41);

      tokens->access_token = kh_random_token (24);
      tokens->refresh_token = kh_random_token (24);
      tokens->access_expires_at = now + 4 * 3600;
      tokens->refresh_expires_at = now + 300 * 86400;
      kh_grant_set_display_name (grant, name);
      kh_grant_set_client_label (grant, client);
      kh_grant_set_region (grant, i % 2 ? "us" : "row");
      kh_grant_set_expiries_from_tokens (grant, tokens);
      if (!kh_store_save_grant (store, grant, tokens, &error))
        g_error ("seeding: %s", error->message);
    }
  printf ("# store: %u grants (seeded in %.1f s)\n", N_GRANTS,
          (g_get_monotonic_time () - start) / 1e6);
}

static int
compare_double (gconstpointer a,
                gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return x < y ? -1 : x > y ? 1 : 0;
}

/* Starts the child once; returns ms to its first frame and its peak RSS. */
static void
measure (const char *self,
         const char *mode,
         double     *ms,
         long       *rss_kb)
{
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  gint64 start = g_get_monotonic_time ();
  const char *frame;
  const char *rss;

  child = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, self, mode, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (child, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);

  frame = strstr (out, "FIRST_FRAME_US ");
  rss = strstr (out, "RSS_KB ");
  if (frame == NULL || rss == NULL)
    g_error ("%s gave no first frame: %s", mode, out);
  *ms = (g_ascii_strtoll (frame + 15, NULL, 10) - start) / 1000.0;
  *rss_kb = strtol (rss + 7, NULL, 10);
}

int
main (int   argc,
      char *argv[])
{
  double app_ms[N_RUNS];
  double min_ms[N_RUNS];
  long app_rss = 0;
  long min_rss = 0;
  double ratio;
  double rss_limit;

  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  if (argc > 1)
    return run_child (argv[1]);

  /* Never the user's data: a store of its own in the build tree. */
  if (g_getenv ("KEYHOLD_DATA_DIR") == NULL)
    {
      g_autofree char *dir = g_build_filename (g_getenv ("KEYHOLD_TEST_BUILDDIR") != NULL
                                               ? g_getenv ("KEYHOLD_TEST_BUILDDIR") : ".",
                                               "bench-data", NULL);

      g_setenv ("KEYHOLD_DATA_DIR", dir, TRUE);
    }
  g_setenv ("KEYHOLD_STORE", "bench", TRUE);
  seed_store ();

  for (guint i = 0; i < N_RUNS; i++)
    {
      long rss;

      measure (argv[0], "keyhold", &app_ms[i], &rss);
      app_rss = MAX (app_rss, rss);
      measure (argv[0], "minimal", &min_ms[i], &rss);
      min_rss = MAX (min_rss, rss);
    }
  qsort (app_ms, N_RUNS, sizeof (double), compare_double);
  qsort (min_ms, N_RUNS, sizeof (double), compare_double);

  ratio = app_ms[N_RUNS / 2] / min_ms[N_RUNS / 2];
  rss_limit = 1.3 * min_rss + 10 * 1024;
  printf ("first frame, median of %d: keyhold %.0f ms, minimal AdwApplicationWindow %.0f ms, "
          "ratio %.2f (target <= 1.5)\n", N_RUNS, app_ms[N_RUNS / 2], min_ms[N_RUNS / 2], ratio);
  printf ("peak RSS: keyhold %.1f MB, minimal %.1f MB, limit 1.3 x + 10 MB = %.1f MB (%s)\n",
          app_rss / 1024.0, min_rss / 1024.0, rss_limit / 1024.0,
          app_rss <= rss_limit ? "met" : "missed");

  return 0;
}
