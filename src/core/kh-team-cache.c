/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-cache.c: the offline cache (<store dir>/team-cache/<grant>.json, 0600 in a 0700
 * directory), which holds the last row this machine read of a grant: the database's own
 * ciphertext, nonce and key id, and the non-secret grant. It is no weaker than the database:
 * whoever can read it learns what any reader of the database (its operator, a backup) already
 * has, ciphertext that opens only with the team key, which is in the keyring or the key file
 * and never beside the cache. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <glib/gstdio.h>
#include <string.h>

#define CACHE_VERSION 1

static char *
bytes_to_b64 (GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return g_base64_encode (data, len);
}

static GBytes *
b64_to_bytes (const char *text)
{
  guchar *data;
  gsize len = 0;

  if (text == NULL || *text == '\0')
    return NULL;
  data = g_base64_decode (text, &len);
  return g_bytes_new_take (data, len);
}

static char *
cache_path (KhTeam     *self,
            const char *grant_id)
{
  g_autofree char *name = g_strconcat (grant_id, ".json", NULL);

  return g_build_filename (self->cache_dir, name, NULL);
}

/* Grant ids are ours (hex), but a name for a file is checked anyway. */
gboolean
kh_team_grant_id_is_safe (const char *grant_id)
{
  if (grant_id == NULL || *grant_id == '\0' || strlen (grant_id) > 128)
    return FALSE;
  for (const char *p = grant_id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

void
kh_team_cache_write (KhTeam     *self,
                     const char *grant_id,
                     const char *info,
                     GBytes     *sealed,
                     GBytes     *nonce,
                     guint32     key_id)
{
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) info_node = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *sealed_b64 = NULL;
  g_autofree char *nonce_b64 = NULL;

  info_node = kh_json_parse (info, strlen (info), NULL);
  if (!kh_team_grant_id_is_safe (grant_id) || kh_json_node_object (info_node) == NULL)
    return;
  sealed_b64 = bytes_to_b64 (sealed);
  nonce_b64 = bytes_to_b64 (nonce);
  object = json_object_new ();
  json_object_set_int_member (object, "v", CACHE_VERSION);
  json_object_set_string_member (object, "team_id", self->team_id);
  json_object_set_string_member (object, "grant_id", grant_id);
  json_object_set_int_member (object, "key_id", key_id);
  json_object_set_string_member (object, "nonce", nonce_b64);
  json_object_set_string_member (object, "sealed", sealed_b64);
  json_object_set_member (object, "grant", g_steal_pointer (&info_node));
  node = json_node_init_object (json_node_alloc (), object);
  text = kh_json_to_string (node, FALSE);
  path = cache_path (self, grant_id);
  if (!kh_team_write_private_file (path, text, FALSE, &error))
    g_debug ("Could not keep the offline copy of grant %s: %s", grant_id, error->message);
}

/* The cached row of grant_id, unsealed: FALSE when there is none usable. */
gboolean
kh_team_cache_read (KhTeam      *self,
                    const char  *grant_id,
                    KhGrant    **grant_out,
                    KhTokenSet **tokens_out)
{
  g_autofree char *path = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) nonce = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(JsonNode) grant_node = NULL;
  kh_autowipe char *plain = NULL;
  JsonObject *grant_object;
  gint64 version = 0;
  gint64 key_id = 0;

  if (!kh_team_grant_id_is_safe (grant_id))
    return FALSE;
  path = cache_path (self, grant_id);
  object = kh_team_read_json_file (path, NULL);
  if (object == NULL || !kh_json_get_int (object, "v", &version) || version != CACHE_VERSION ||
      g_strcmp0 (kh_json_get_string (object, "team_id"), self->team_id) != 0 ||
      g_strcmp0 (kh_json_get_string (object, "grant_id"), grant_id) != 0 ||
      !kh_json_get_int (object, "key_id", &key_id) || key_id != self->key_id ||
      (grant_object = kh_json_get_object (object, "grant")) == NULL)
    return FALSE;
  sealed = b64_to_bytes (kh_json_get_string (object, "sealed"));
  nonce = b64_to_bytes (kh_json_get_string (object, "nonce"));
  if (sealed == NULL || nonce == NULL)
    return FALSE;
  plain = kh_team_unseal (self->key, self->key_id, "grants", grant_id, nonce, sealed, &error);
  if (plain == NULL)
    return FALSE;
  grant_node = json_node_init_object (json_node_alloc (), grant_object);
  grant = kh_grant_new_from_json (grant_node, NULL);
  if (grant == NULL || g_strcmp0 (kh_grant_get_id (grant), grant_id) != 0)
    return FALSE;
  *tokens_out = kh_team_tokens_from_text (plain, NULL);
  if (*tokens_out == NULL)
    return FALSE;
  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&grant);
  return TRUE;
}

void
kh_team_cache_remove (KhTeam     *self,
                      const char *grant_id)
{
  g_autofree char *path = NULL;

  if (!kh_team_grant_id_is_safe (grant_id))
    return;
  path = cache_path (self, grant_id);
  g_unlink (path);
}

void
kh_team_remove_cache_dir (KhTeam *self)
{
  g_autoptr(GDir) dir = g_dir_open (self->cache_dir, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (self->cache_dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (self->cache_dir);
}
