/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-config.c: what this computer keeps of its team: team.json, the team key (a keyring
 * item, or a key file holding a join code), the private files they are written to, and the
 * check of the database URL. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_ITEM_VERSION 1

/* Writes a 0600 file in a 0700 folder, replacing it atomically (a temporary file renamed over
 * it). durable FALSE skips the fsync: for the offline cache, which `token` rewrites on every
 * read and which may lose a copy in a crash without harm. */
gboolean
kh_team_write_private_file (const char  *path,
                            const char  *contents,
                            gboolean     durable,
                            GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = NULL;
  g_autoptr(GError) local_error = NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not create the folder %s: %s"), dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (durable)
    {
      if (g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                    &local_error))
        return TRUE;
    }
  else
    {
      tmp = g_strdup_printf ("%s.%d-%08x.tmp", path, (int) getpid (), g_random_int ());
      if (g_file_set_contents_full (tmp, contents, -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                    &local_error))
        {
          if (g_rename (tmp, path) == 0)
            return TRUE;
          g_set_error_literal (&local_error, G_FILE_ERROR, g_file_error_from_errno (errno),
                               g_strerror (errno));
        }
      g_unlink (tmp);
    }
  g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not write %s: %s"), path,
               local_error->message);
  return FALSE;
}

JsonObject *
kh_team_read_json_file (const char  *path,
                        GError     **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(JsonNode) node = NULL;
  gsize length = 0;
  JsonObject *object;

  if (!g_file_get_contents (path, &contents, &length, error))
    return NULL;
  node = kh_json_parse (contents, length, error);
  if (node == NULL)
    return NULL;
  /* Not an object: NULL without an error; the callers say what the file was for. */
  object = kh_json_node_object (node);
  return object ? json_object_ref (object) : NULL;
}

char *
kh_team_dup_config_path (KhStore *store)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  dir = g_path_get_dirname (kh_store_get_index_path (store));
  return g_build_filename (dir, "team.json", NULL);
}

gboolean
kh_team_write_config (KhTeam  *self,
                      GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  json_object_set_int_member (object, "v", CONFIG_VERSION);
  json_object_set_string_member (object, "conninfo", self->conninfo);
  json_object_set_string_member (object, "team_id", self->team_id);
  json_object_set_string_member (object, "role", self->role);
  json_object_set_int_member (object, "key_id", self->key_id);
  json_object_set_string_member (object, "key_source", self->key_file ? "file" : "keyring");
  node = json_node_init_object (json_node_alloc (), object);
  text = kh_json_to_string (node, TRUE);
  return kh_team_write_private_file (self->config_path, text, TRUE, error);
}

/* ---- the key ------------------------------------------------------------------------------ */

/* The keyring item of the team key: {"v":1,"key_id":N,"key":B64,"box_public":B64,
 * "box_secret":B64}. */
static char *
key_item_text (KhTeam *self)
{
  g_autofree char *key = kh_team_b64_encode (self->key, KH_TEAM_KEY_BYTES);
  g_autofree char *pub = kh_team_b64_encode (self->box_public, KH_TEAM_BOX_PUBLIC_BYTES);
  g_autofree char *sec = kh_team_b64_encode (self->box_secret, KH_TEAM_BOX_SECRET_BYTES);
  char *text = g_strdup_printf ("{\"v\":%d,\"key_id\":%u,\"key\":\"%s\",\"box_public\":\"%s\","
                                "\"box_secret\":\"%s\"}",
                                KEY_ITEM_VERSION, self->key_id, key, pub, sec);

  kh_team_secret_free (g_steal_pointer (&key));
  kh_team_secret_free (g_steal_pointer (&sec));
  return text;
}

gboolean
kh_team_parse_key_item (KhTeam      *self,
                        const char  *text,
                        GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), NULL);
  JsonObject *object = node ? kh_json_node_object (node) : NULL;
  gint64 version = 0;
  gint64 key_id = 0;

  if (self->box_secret == NULL)
    self->box_secret = kh_team_key_new ();
  if (object == NULL || !kh_json_get_int (object, "v", &version) || version != KEY_ITEM_VERSION ||
      !kh_json_get_int (object, "key_id", &key_id) || key_id <= 0 || key_id > G_MAXUINT32 ||
      !kh_team_b64_decode (kh_json_get_string (object, "key"), self->key, KH_TEAM_KEY_BYTES) ||
      !kh_team_b64_decode (kh_json_get_string (object, "box_public"), self->box_public,
                           KH_TEAM_BOX_PUBLIC_BYTES) ||
      !kh_team_b64_decode (kh_json_get_string (object, "box_secret"), self->box_secret,
                           KH_TEAM_BOX_SECRET_BYTES))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                           _("The team key is missing from the keyring or damaged: join the "
                             "team again with a join code from an admin"));
      return FALSE;
    }
  self->key_id = (guint32) key_id;
  return TRUE;
}

gboolean
kh_team_save_key_item (KhTeam  *self,
                       GError **error)
{
  kh_autowipe char *text = key_item_text (self);
  g_autofree char *label = g_strdup_printf (_("Keyhold team key (%s)"), self->team_id);

  return kh_store_save_secret (self->store, KH_TEAM_KEY_KIND, self->team_id, label, text, error);
}

/* Reads a key file: a regular file owned by this user that nobody else may read, holding a
 * join code. */
gboolean
kh_team_read_key_file (const char  *path,
                       char       **team_id_out,
                       guint32     *key_id_out,
                       guint8      *key_out,
                       GError     **error)
{
  kh_autowipe char *contents = NULL;
  g_autoptr(GError) read_error = NULL;
  struct stat st;

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY, _("Cannot read the key file %s: %s"),
                   path, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid ())
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                   _("The key file %s may be read by others: make it yours alone with "
                     "“chmod 600 %s”"), path, path);
      return FALSE;
    }
  if (!g_file_get_contents (path, &contents, NULL, &read_error))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY, _("Cannot read the key file %s: %s"),
                   path, read_error->message);
      return FALSE;
    }
  return kh_team_join_code_decode (contents, team_id_out, key_id_out, key_out, error);
}

/* ---- configuration ---------------------------------------------------------------------- */

gboolean
kh_team_check_conninfo (const char  *conninfo,
                        GError     **error)
{
  char *parse_error = NULL;
  PQconninfoOption *options;
  gboolean has_password = FALSE;

  if (conninfo == NULL || *conninfo == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                           _("Give the team database as a URL, e.g. "
                             "postgresql://ROLE@HOST/DATABASE"));
      return FALSE;
    }
  options = PQconninfoParse (conninfo, &parse_error);
  if (options == NULL)
    {
      g_autofree char *line = kh_team_first_line (parse_error);

      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_URL,
                   _("The team database URL does not work (%s): check it"),
                   line[0] ? line : "?");
      PQfreemem (parse_error);
      return FALSE;
    }
  /* The passphrase of an SSL client key is as secret as the role's password: team.json keeps
   * the URL in clear, and the URL reaches the command line. */
  for (PQconninfoOption *o = options; o->keyword != NULL; o++)
    if ((g_str_equal (o->keyword, "password") || g_str_equal (o->keyword, "sslpassword")) &&
        o->val != NULL && o->val[0] != '\0')
      has_password = TRUE;
  PQconninfoFree (options);
  if (has_password)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                           _("The team database URL contains a password: remove it; Keyhold "
                             "reads the password from stdin or ~/.pgpass"));
      return FALSE;
    }
  return TRUE;
}
