/* SPDX-License-Identifier: GPL-3.0-or-later */
/* main.c: keyhold, the GTK application. */

#define G_LOG_DOMAIN "keyhold"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "kh-application.h"
#include "kh-log.h"

/* TRUE when this very program is the one in the build tree (a developer's or a test's run), not
 * an installed copy: only then do the build tree's schema and translations apply. */
static gboolean
running_uninstalled (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *root = g_strconcat (KH_BUILD_ROOT, G_DIR_SEPARATOR_S, NULL);

  return self != NULL && g_str_has_prefix (self, root);
}

/* Uninstalled, use the schema and translations built beside the program. The default schema
 * source is created once and cached, so this must happen before anything touches GSettings. */
static void
use_build_tree (void)
{
  if (!running_uninstalled ())
    return;

  if (g_getenv ("GSETTINGS_SCHEMA_DIR") == NULL &&
      g_file_test (KH_BUILD_SCHEMA_DIR "/gschemas.compiled", G_FILE_TEST_EXISTS))
    g_setenv ("GSETTINGS_SCHEMA_DIR", KH_BUILD_SCHEMA_DIR, FALSE);

  if (g_file_test (KH_BUILD_LOCALE_DIR, G_FILE_TEST_IS_DIR))
    bindtextdomain (GETTEXT_PACKAGE, KH_BUILD_LOCALE_DIR);
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

  use_build_tree ();

  app = kh_application_new ();

  return g_application_run (G_APPLICATION (app), argc, argv);
}
