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

  if (g_log_writer_default_would_drop (log_level, field_string (fields, n_fields, "GLIB_DOMAIN")))
    return G_LOG_WRITER_HANDLED;

  line = g_log_writer_format_fields (log_level, fields, n_fields,
                                     g_log_writer_supports_color (fileno (stderr)));
  safe = kh_redact (line);
  fprintf (stderr, "%s\n", safe);
  fflush (stderr);

  /* GLib aborts after the writer returns for fatal levels; nothing more to do here. */
  return G_LOG_WRITER_HANDLED;
}

void
kh_log_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      g_log_set_writer_func (kh_log_writer, NULL, NULL);
      g_once_init_leave (&initialized, 1);
    }
}
