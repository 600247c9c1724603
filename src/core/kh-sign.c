/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sign.c: the TikTok Shop Open API request signature. The rules, from "Sign your API
 * request": every query parameter but sign and access_token, sorted by key and concatenated as
 * key+value; the request path in front; the raw body after (unless multipart); the app secret on
 * both ends; HMAC-SHA256 keyed with the app secret, lowercase hex. */

#define G_LOG_DOMAIN "kh-sign"

#include "config.h"

#include <string.h>

#include "kh-sign.h"
#include "kh-util.h"

static int
compare_keys (gconstpointer a,
              gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static char *
build_string_to_sign (const char *app_secret,
                      const char *path,
                      GHashTable *query,
                      const char *body,
                      gsize       body_length,
                      const char *content_type)
{
  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  GString *str = g_string_new (app_secret);

  g_string_append (str, path);

  if (query != NULL)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, query);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        {
          if (strcmp (key, "sign") == 0 || strcmp (key, "access_token") == 0)
            continue;
          g_ptr_array_add (keys, key);
        }
      g_ptr_array_sort (keys, compare_keys);

      for (guint i = 0; i < keys->len; i++)
        {
          const char *key_str = g_ptr_array_index (keys, i);
          const char *value = g_hash_table_lookup (query, key_str);

          g_string_append (str, key_str);
          if (value != NULL)
            g_string_append (str, value);
        }
    }

  /* A multipart body is not part of the signature; any other body is, byte for byte. */
  if (body != NULL && body_length > 0 &&
      (content_type == NULL ||
       g_ascii_strncasecmp (content_type, "multipart/form-data", strlen ("multipart/form-data")) != 0))
    g_string_append_len (str, body, body_length);

  g_string_append (str, app_secret);

  return g_string_free (str, FALSE);
}

char *
kh_sign (const char *app_secret,
         const char *path,
         GHashTable *query,
         const char *body,
         gsize       body_length,
         const char *content_type)
{
  g_autofree char *to_sign = NULL;
  g_autoptr(GHmac) hmac = NULL;
  char *sign;

  g_return_val_if_fail (app_secret != NULL, NULL);
  g_return_val_if_fail (path != NULL, NULL);

  to_sign = build_string_to_sign (app_secret, path, query, body, body_length, content_type);
  hmac = g_hmac_new (G_CHECKSUM_SHA256, (const guchar *) app_secret, strlen (app_secret));
  g_hmac_update (hmac, (const guchar *) to_sign, strlen (to_sign));
  sign = g_strdup (g_hmac_get_string (hmac));

  /* The string to sign contains the secret twice: do not leave it lying in freed memory. */
  memset (to_sign, 0, strlen (to_sign));

  return sign;
}

gboolean
kh_sign_verify (const char *app_secret,
                const char *path,
                GHashTable *query,
                const char *body,
                gsize       body_length,
                const char *content_type,
                const char *sign)
{
  g_autofree char *expected = NULL;
  g_autofree char *received = NULL;

  g_return_val_if_fail (app_secret != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (sign == NULL || *sign == '\0')
    return FALSE;

  expected = kh_sign (app_secret, path, query, body, body_length, content_type);
  /* Hex digests compare case-insensitively; the comparison itself is constant-time. */
  received = g_ascii_strdown (sign, -1);

  return kh_const_time_equal (expected, received);
}
