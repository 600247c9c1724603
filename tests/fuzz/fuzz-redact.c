/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-redact.c: the log redactor sees every URL and body Keyhold logs, hostile ones included. */
#define G_LOG_DOMAIN "kh-fuzz-redact"

#include "config.h"

#include "kh-fuzz.h"
#include "kh-util.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  kh_fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autofree char *text = kh_fuzz_dup_text (data, size);
  g_autofree char *safe = NULL;
  g_autofree char *twice = NULL;

  safe = kh_redact (text);
  g_assert_nonnull (safe);
  /* Redacting valid text keeps it valid: the result goes to the journal and to the UI. */
  if (g_utf8_validate (text, -1, NULL))
    g_assert_true (g_utf8_validate (safe, -1, NULL));

  twice = kh_redact (safe);
  g_assert_nonnull (twice);
  return 0;
}
