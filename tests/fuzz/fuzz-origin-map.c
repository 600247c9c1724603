/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-origin-map.c: KEYHOLD_ORIGIN_MAP specs and the URLs rewritten through them. The input is
 * the spec, a newline, then one URL per line. */
#define G_LOG_DOMAIN "kh-fuzz-origin-map"

#include "config.h"

#include "kh-fuzz.h"
#include "kh-origin-map.h"

#include <string.h>

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
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GError) error = NULL;
  g_autofree char *spec = NULL;

  if (lines[0] == NULL)
    return 0;

  if (!kh_origin_map_set (lines[0], &error))
    {
      g_assert_nonnull (error);
      g_clear_error (&error);
      /* A refused spec changes nothing: the map stays cleared from the last run. */
      g_assert_false (kh_origin_map_is_active ());
    }
  spec = kh_origin_map_dup_spec ();
  g_assert_true ((spec != NULL) == kh_origin_map_is_active ());

  for (guint i = 1; lines[i] != NULL; i++)
    {
      g_autofree char *rewritten = kh_origin_map_rewrite (lines[i]);

      kh_origin_map_is_target_url (lines[i]);
      if (rewritten != NULL)
        kh_origin_map_is_target_url (rewritten);
    }

  /* Each input starts from an empty map, so that a crash reproduces from its input alone. */
  g_assert_true (kh_origin_map_set (NULL, NULL));
  return 0;
}
