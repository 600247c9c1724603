/* SPDX-License-Identifier: GPL-3.0-or-later */
/* main.c: keyhold, the GTK application. */

#define G_LOG_DOMAIN "keyhold"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "kh-application.h"
#include "kh-log.h"

/* Running from the build tree: use the schema compiled there. The default schema source is
 * created once and cached, so this must happen before anything touches GSettings; an installed
 * copy whose build tree is gone falls back to the installed schema. */
static void
find_schema (void)
{
  if (g_getenv ("GSETTINGS_SCHEMA_DIR") == NULL
      && g_file_test (KH_BUILD_SCHEMA_DIR "/gschemas.compiled", G_FILE_TEST_EXISTS))
    g_setenv ("GSETTINGS_SCHEMA_DIR", KH_BUILD_SCHEMA_DIR, FALSE);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(KhApplication) app = NULL;

  kh_log_init ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  find_schema ();

  app = kh_application_new ();

  return g_application_run (G_APPLICATION (app), argc, argv);
}
