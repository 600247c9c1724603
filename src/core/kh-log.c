/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-log.c: a structured-log writer that redacts and writes to stderr. The core never logs a
 * secret on purpose; this catches what a library (libsoup's debug output, GIO) or a mistake
 * might, and keeps stdout for the output scripts rely on. */

#define G_LOG_DOMAIN "kh-log"

#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "kh-log.h"
#include "kh-util.h"

/* The levels GLib would make fatal (G_DEBUG=fatal-warnings, g_test_init), read once by
 * kh_log_init. GLib's default writer applies them; a custom writer has to, or a structured
 * g_warning would never abort under fatal-warnings. */
static GLogLevelFlags always_fatal = G_LOG_LEVEL_ERROR;
static GLogWriterFunc observer;

static const char *
field_string (const GLogField *fields,
              gsize            n_fields,
              const char      *key)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, key) == 0)
      return fields[i].length < 0 ? fields[i].value : NULL;

  return NULL;
}

GLogWriterOutput
kh_log_writer (GLogLevelFlags   log_level,
               const GLogField *fields,
               gsize            n_fields,
               gpointer         user_data)
{
  g_autofree char *line = NULL;
  g_autofree char *safe = NULL;

  if (observer != NULL)
    observer (log_level, fields, n_fields, NULL);

  if (g_log_writer_default_would_drop (log_level, field_string (fields, n_fields, "GLIB_DOMAIN")))
    return G_LOG_WRITER_HANDLED;

  line = g_log_writer_format_fields (log_level, fields, n_fields,
                                     g_log_writer_supports_color (fileno (stderr)));
  safe = kh_redact (line);
  fprintf (stderr, "%s\n", safe);
  fflush (stderr);

  /* GLib aborts after the writer returns for G_LOG_FLAG_FATAL and errors; a level made fatal
   * only through the always-fatal mask is this writer's to honour, as g_log_writer_default
   * does. */
  if ((log_level & always_fatal) != 0 && (log_level & G_LOG_FATAL_MASK) == 0)
    g_abort ();

  return G_LOG_WRITER_HANDLED;
}

void
kh_log_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      /* GLib has no getter: swap and put back, before any other thread logs. */
      always_fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
      g_log_set_always_fatal (always_fatal);
      always_fatal |= G_LOG_LEVEL_ERROR;
      g_log_set_writer_func (kh_log_writer, NULL, NULL);
      g_once_init_leave (&initialized, 1);
    }
}

void
kh_log_set_observer (GLogWriterFunc func)
{
  observer = func;
}
