/* SPDX-License-Identifier: GPL-3.0-or-later */
/* main.c: keyhold-sandbox, the local TikTok auth emulator, as a command. */

#define G_LOG_DOMAIN "kh-sandbox"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "kh-sandbox.h"
#include "kh-log.h"

static gboolean
quit_cb (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_main_loop_quit (loop);
  /* main removes both signal sources once the loop has stopped. */
  return G_SOURCE_CONTINUE;
}

int
main (int    argc,
      char **argv)
{
  int port = 8001;
  int latency = 0;
  gint64 seed = 0;
  double clock_speed = 1.0;
  g_autofree char *auto_consent = NULL;
  const GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port,
      N_("Port to listen on, on 127.0.0.1 (0: any free port)"), N_("PORT") },
    { "latency", 'l', 0, G_OPTION_ARG_INT, &latency,
      N_("Delay every answer by MS milliseconds"), N_("MS") },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed,
      N_("Seed for reproducible ids and tokens (0: random)"), N_("N") },
    { "clock-speed", 0, 0, G_OPTION_ARG_DOUBLE, &clock_speed,
      N_("Run the sandbox clock F times faster than real time"), N_("F") },
    { "auto-consent", 0, 0, G_OPTION_ARG_STRING, &auto_consent,
      N_("Answer every consent page at once: approve or deny (for scripts and headless "
         "browsers)"), N_("DECISION") },
    { NULL }
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhSandbox) sandbox = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *origin = NULL;
  g_autofree char *map = NULL;
  guint sigint_id, sigterm_id;

  /* Callers read the announced lines through a pipe and may close it: later output (debug logs
   * go to stdout) must then fail quietly instead of killing the server. */
  signal (SIGPIPE, SIG_IGN);

  kh_log_init ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
                                _("A local emulator of the TikTok Shop and TikTok for Business "
                                  "authorization endpoints, for testing Keyhold."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("keyhold-sandbox: %s\n", error->message);
      return 2;
    }

  if (port < 0 || port > 65535)
    {
      g_printerr ("keyhold-sandbox: %s\n", _("--port must be from 0 to 65535"));
      return 2;
    }
  if (latency < 0 || latency > 600000)
    {
      g_printerr ("keyhold-sandbox: %s\n", _("--latency must be from 0 to 600000 ms"));
      return 2;
    }
  if (!(clock_speed > 0 && clock_speed <= 1e6))
    {
      g_printerr ("keyhold-sandbox: %s\n", _("--clock-speed must be above 0"));
      return 2;
    }

  sandbox = kh_sandbox_new ((guint64) seed);
  kh_sandbox_set_latency (sandbox, (guint) latency);
  if (clock_speed != 1.0)
    kh_sandbox_set_clock_speed (sandbox, clock_speed);

  if (auto_consent != NULL)
    {
      g_autoptr(JsonObject) config = json_object_new ();

      json_object_set_string_member (config, "auto_consent", auto_consent);
      if (g_str_equal (auto_consent, "none") || !kh_sandbox_configure (sandbox, config, NULL))
        {
          g_printerr ("keyhold-sandbox: %s\n", _("--auto-consent must be approve or deny"));
          return 2;
        }
    }

  if (!kh_sandbox_listen (sandbox, (guint) port, &error))
    {
      g_printerr ("keyhold-sandbox: %s\n", error->message);
      return 1;
    }

  origin = kh_sandbox_dup_origin (sandbox);
  map = kh_sandbox_dup_origin_map (sandbox);
  g_print ("keyhold-sandbox listening on %s\n", origin);
  g_print ("KEYHOLD_ORIGIN_MAP=%s\n", map);
  /* Scripts and tests read these lines through a pipe while the sandbox runs. */
  fflush (stdout);

  loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, quit_cb, loop);
  sigterm_id = g_unix_signal_add (SIGTERM, quit_cb, loop);
  g_main_loop_run (loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);

  return EXIT_SUCCESS;
}
