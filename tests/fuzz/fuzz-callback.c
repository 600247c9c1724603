/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-callback.c: the redirect URL parser on whatever a user may paste, and the listener's
 * paths on a query string: decoded by GLib, raw, and peeked for its state. */
#define G_LOG_DOMAIN "kh-fuzz-callback"

#include "config.h"

#include "kh-callback.h"
#include "kh-fuzz.h"

#include <string.h>

/* Invariants every accepted callback keeps, whatever produced it. */
static void
check_callback (KhCallback *cb,
                GError     *error)
{
  g_autoptr(KhCallback) copy = NULL;
  g_autoptr(GError) denied = NULL;
  const char *values[] = { NULL, NULL, NULL, NULL, NULL, NULL, NULL };

  if (cb == NULL)
    {
      g_assert_nonnull (error);
      g_assert_nonnull (error->message);
      return;
    }
  g_assert_null (error);
  g_assert_true (cb->code != NULL || cb->error != NULL);

  values[0] = cb->code;
  values[1] = cb->state;
  values[2] = cb->error;
  values[3] = cb->error_description;
  values[4] = cb->app_key;
  values[5] = cb->locale;
  values[6] = cb->shop_region;
  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    {
      if (values[i] == NULL)
        continue;
      g_assert_true (g_utf8_validate (values[i], -1, NULL));
      g_assert_cmpuint (strlen (values[i]), <=, KH_CALLBACK_MAX_VALUE);
    }

  copy = kh_callback_copy (cb);
  g_assert_cmpstr (copy->code, ==, cb->code);
  g_assert_cmpstr (copy->state, ==, cb->state);
  g_assert_cmpstr (copy->redirect_base, ==, cb->redirect_base);
  if (kh_callback_is_denied (copy, &denied))
    g_assert_nonnull (denied);
  else
    g_assert_null (denied);
}

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
  g_autoptr(KhCallback) pasted = NULL;
  g_autoptr(KhCallback) decoded = NULL;
  g_autoptr(KhCallback) raw = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state = NULL;

  pasted = kh_callback_parse (text, &error);
  check_callback (pasted, error);
  g_clear_error (&error);

  /* The listener's request line: the query GLib decodes (lenient, like the listener), and the raw
   * form that catches a parameter given twice. */
  params = g_uri_parse_params (text, -1, "&", G_URI_PARAMS_NONE, NULL);
  if (params != NULL)
    {
      decoded = kh_callback_new_from_query ("http://localhost:8765/callback", params, &error);
      check_callback (decoded, error);
      g_clear_error (&error);
    }

  raw = kh_callback_new_from_raw_query ("http://127.0.0.1:8765/callback", text, &error);
  check_callback (raw, error);
  g_clear_error (&error);

  state = kh_callback_dup_raw_query_state (text);
  if (state != NULL)
    {
      g_assert_true (*state != '\0');
      g_assert_true (g_utf8_validate (state, -1, NULL));
    }

  return 0;
}
