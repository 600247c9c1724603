/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-json-import.c: app profiles, grants, token sets and pending requests as Keyhold reads them
 * from its index and keyring (a tampered or truncated file must give an error, nothing worse). */
#define G_LOG_DOMAIN "kh-fuzz-json-import"

#include "config.h"

#include "kh-fuzz.h"
#include "kh-fuzz-import.h"
#include "kh-json.h"

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
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;

  node = kh_json_parse (size > 0 ? (const char *) data : NULL, size, &error);
  if (node == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  kh_fuzz_import_node (node);
  return 0;
}
