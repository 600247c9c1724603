/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-fuzz.c: the setup shared by the libFuzzer targets of tests/fuzz. */
#define G_LOG_DOMAIN "kh-fuzz"

#include "config.h"

#include "kh-fuzz.h"

#include <stdlib.h>
#include <string.h>

static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags   log_level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         user_data)
{
  if ((log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) == 0)
    return G_LOG_WRITER_HANDLED;

  g_log_writer_standard_streams (log_level, fields, n_fields, user_data);
  /* A warning or critical on hostile input is a bug: make libFuzzer keep the input. */
  abort ();
}

void
kh_fuzz_init (void)
{
  /* The origin map is process-wide and read from the environment: a developer's shell must not
   * change what the targets do. */
  g_unsetenv ("KEYHOLD_ORIGIN_MAP");
  g_unsetenv ("KEYHOLD_CLOCK_OFFSET");
  g_unsetenv ("G_MESSAGES_DEBUG");
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
}

char *
kh_fuzz_dup_text (const guint8 *data,
                  size_t        size)
{
  char *text = g_malloc (size + 1);

  if (size > 0)
    memcpy (text, data, size);
  text[size] = '\0';
  return text;
}
