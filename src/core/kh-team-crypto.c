/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-crypto.c: the team store's cryptography, all libsodium: records sealed with
 * XChaCha20-Poly1305 (a random 192-bit nonce per record, so random nonces never repeat in
 * practice), keys in guarded memory, the join code, and the sealed boxes that carry a rotated
 * team key to each member. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team-private.h"

#include "kh-error.h"

#include <sodium.h>
#include <string.h>

G_STATIC_ASSERT (KH_TEAM_KEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
G_STATIC_ASSERT (KH_TEAM_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
G_STATIC_ASSERT (KH_TEAM_BOX_PUBLIC_BYTES == crypto_box_PUBLICKEYBYTES);
G_STATIC_ASSERT (KH_TEAM_BOX_SECRET_BYTES == crypto_box_SECRETKEYBYTES);

#define JOIN_PREFIX "khjoin1:"
#define JOIN_BYTES (16 + 4 + KH_TEAM_KEY_BYTES)

gboolean
kh_team_crypto_init (void)
{
  static gsize result = 0;

  if (g_once_init_enter (&result))
    g_once_init_leave (&result, sodium_init () >= 0 ? 1 : 2);
  return result == 1;
}

guint8 *
kh_team_key_new (void)
{
  guint8 *key;

  g_assert (kh_team_crypto_init ());
  key = sodium_malloc (KH_TEAM_KEY_BYTES);
  g_assert (key != NULL);
  return key;
}

guint8 *
kh_team_key_new_random (void)
{
  guint8 *key = kh_team_key_new ();

  randombytes_buf (key, KH_TEAM_KEY_BYTES);
  return key;
}

void
kh_team_key_free (guint8 *key)
{
  if (key != NULL)
    sodium_free (key);
}

static char *
associated_data (guint32     key_id,
                 const char *table,
                 const char *row_id)
{
  return g_strdup_printf ("keyhold:%s:%s:%u", table, row_id, key_id);
}

void
kh_team_seal (const guint8  *key,
              guint32        key_id,
              const char    *table,
              const char    *row_id,
              const char    *plain,
              gsize          plain_len,
              GBytes       **nonce_out,
              GBytes       **sealed_out)
{
  g_autofree char *ad = associated_data (key_id, table, row_id);
  guint8 *nonce = g_malloc (KH_TEAM_NONCE_BYTES);
  gsize sealed_len = plain_len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  guint8 *sealed = g_malloc (sealed_len);
  unsigned long long out_len = 0;

  g_assert (kh_team_crypto_init ());
  randombytes_buf (nonce, KH_TEAM_NONCE_BYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt (sealed, &out_len, (const guint8 *) plain,
                                              plain_len, (const guint8 *) ad, strlen (ad), NULL,
                                              nonce, key);
  g_assert (out_len == sealed_len);
  *nonce_out = g_bytes_new_take (nonce, KH_TEAM_NONCE_BYTES);
  *sealed_out = g_bytes_new_take (sealed, sealed_len);
}

void
kh_team_set_wrong_key_error (GError **error)
{
  g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                       _("The team key does not open the team’s data: use the join code or key "
                         "file of this team (an admin can give you a new one)"));
}

char *
kh_team_unseal (const guint8  *key,
                guint32        key_id,
                const char    *table,
                const char    *row_id,
                GBytes        *nonce,
                GBytes        *sealed,
                GError       **error)
{
  g_autofree char *ad = associated_data (key_id, table, row_id);
  gsize nonce_len = 0;
  gsize sealed_len = 0;
  const guint8 *nonce_data = g_bytes_get_data (nonce, &nonce_len);
  const guint8 *sealed_data = g_bytes_get_data (sealed, &sealed_len);
  unsigned long long plain_len = 0;
  char *plain;

  g_assert (kh_team_crypto_init ());
  if (nonce_len != KH_TEAM_NONCE_BYTES || sealed_len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
    {
      kh_team_set_wrong_key_error (error);
      return NULL;
    }
  plain = g_malloc (sealed_len - crypto_aead_xchacha20poly1305_ietf_ABYTES + 1);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt ((guint8 *) plain, &plain_len, NULL,
                                                  sealed_data, sealed_len, (const guint8 *) ad,
                                                  strlen (ad), nonce_data, key) != 0)
    {
      g_free (plain);
      kh_team_set_wrong_key_error (error);
      return NULL;
    }
  plain[plain_len] = '\0';
  return plain;
}

void
kh_team_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  sodium_memzero (secret, strlen (secret));
  g_free (secret);
}

char *
kh_team_b64_encode (const guint8 *data,
                    gsize         len)
{
  gsize size = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *text = g_malloc (size);

  sodium_bin2base64 (text, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return text;
}

gboolean
kh_team_b64_decode (const char *text,
                    guint8     *out,
                    gsize       len)
{
  size_t out_len = 0;

  if (text == NULL)
    return FALSE;
  if (sodium_base642bin (out, len, text, strlen (text), NULL, &out_len, NULL,
                         sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return FALSE;
  return out_len == len;
}

/* The 16 bytes of a UUID in text form, or FALSE. */
static gboolean
uuid_to_bytes (const char *uuid,
               guint8     *out)
{
  guint n = 0;

  if (uuid == NULL || !g_uuid_string_is_valid (uuid))
    return FALSE;
  for (const char *p = uuid; *p != '\0' && n < 16; p++)
    {
      if (*p == '-')
        continue;
      out[n++] = (guint8) (g_ascii_xdigit_value (p[0]) << 4 | g_ascii_xdigit_value (p[1]));
      p++;
    }
  return n == 16;
}

char *
kh_team_join_code_encode (const char   *team_id,
                          guint32       key_id,
                          const guint8 *key)
{
  guint8 *raw = sodium_malloc (JOIN_BYTES);
  g_autofree char *encoded = NULL;

  g_assert (raw != NULL);
  g_assert (uuid_to_bytes (team_id, raw));
  raw[16] = (guint8) (key_id >> 24);
  raw[17] = (guint8) (key_id >> 16);
  raw[18] = (guint8) (key_id >> 8);
  raw[19] = (guint8) key_id;
  memcpy (raw + 20, key, KH_TEAM_KEY_BYTES);
  encoded = kh_team_b64_encode (raw, JOIN_BYTES);
  sodium_free (raw);
  {
    char *code = g_strconcat (JOIN_PREFIX, encoded, NULL);

    sodium_memzero (encoded, strlen (encoded));
    return code;
  }
}

gboolean
kh_team_join_code_decode (const char  *code,
                          char       **team_id_out,
                          guint32     *key_id_out,
                          guint8      *key_out,
                          GError     **error)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (code ? code : ""));
  guint8 *raw;
  gboolean ok;

  raw = sodium_malloc (JOIN_BYTES);
  g_assert (raw != NULL);
  ok = g_str_has_prefix (trimmed, JOIN_PREFIX) &&
       kh_team_b64_decode (trimmed + strlen (JOIN_PREFIX), raw, JOIN_BYTES);
  if (ok)
    {
      *team_id_out = g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                                      "%02x%02x%02x%02x%02x%02x",
                                      raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6],
                                      raw[7], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13],
                                      raw[14], raw[15]);
      *key_id_out = (guint32) raw[16] << 24 | (guint32) raw[17] << 16 | (guint32) raw[18] << 8 |
                    raw[19];
      memcpy (key_out, raw + 20, KH_TEAM_KEY_BYTES);
    }
  sodium_free (raw);
  sodium_memzero (trimmed, strlen (trimmed));
  if (!ok)
    g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                         _("This is not a Keyhold join code (it starts with “khjoin1:”): paste "
                           "the whole code an admin gave you"));
  return ok;
}

void
kh_team_box_keypair (guint8 *public_out,
                     guint8 *secret_out)
{
  g_assert (kh_team_crypto_init ());
  crypto_box_keypair (public_out, secret_out);
}

GBytes *
kh_team_box_seal_key (const guint8 *team_key,
                      const guint8 *public_key)
{
  gsize len = KH_TEAM_KEY_BYTES + crypto_box_SEALBYTES;
  guint8 *sealed = g_malloc (len);

  g_assert (kh_team_crypto_init ());
  crypto_box_seal (sealed, team_key, KH_TEAM_KEY_BYTES, public_key);
  return g_bytes_new_take (sealed, len);
}

gboolean
kh_team_box_open_key (GBytes       *sealed,
                      const guint8 *public_key,
                      const guint8 *secret_key,
                      guint8       *team_key_out,
                      GError      **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (sealed, &len);

  g_assert (kh_team_crypto_init ());
  if (len != KH_TEAM_KEY_BYTES + crypto_box_SEALBYTES ||
      crypto_box_seal_open (team_key_out, data, len, public_key, secret_key) != 0)
    {
      kh_team_set_wrong_key_error (error);
      return FALSE;
    }
  return TRUE;
}
