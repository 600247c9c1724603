/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-index.c: index.json as KhStore loads it ({"version":1,"grants":[...],"apps":[...],
 * "pending":[...]}). A corrupt or hostile index must give an error (the store then rebuilds it
 * from the keyring), never a crash. With kh_store_parse_index the store's own loader is fuzzed;
 * the entries are then also fed to the readers the store uses when it lists them. */
#define G_LOG_DOMAIN "kh-fuzz-index"

#include "config.h"

#include "kh-fuzz.h"
#include "kh-fuzz-import.h"
#include "kh-json.h"
#ifdef KH_FUZZ_HAVE_STORE_PARSE_INDEX
#include "kh-store.h"
#endif

static const char * const sections[] = { "grants", "apps", "pending" };

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
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  const char *text = size > 0 ? (const char *) data : NULL;
  JsonObject *object;

#ifdef KH_FUZZ_HAVE_STORE_PARSE_INDEX
  if (!kh_store_parse_index (text, size, &error))
    g_assert_nonnull (error);
  else
    g_assert_no_error (error);
  g_clear_error (&error);
#endif

  root = kh_json_parse (text, size, &error);
  if (root == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  object = kh_json_node_object (root);
  if (object == NULL)
    return 0;

  for (gsize s = 0; s < G_N_ELEMENTS (sections); s++)
    {
      JsonArray *array = kh_json_get_array (object, sections[s]);

      if (array == NULL)
        continue;
      for (guint i = 0; i < json_array_get_length (array); i++)
        kh_fuzz_import_node (json_array_get_element (array, i));
    }
  return 0;
}
