/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-lifecycle.c: opening a team this computer is in, creating one, joining one (with a
 * join code or a key file, from the desktop or headless) and leaving it. */

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

static const char *
resolve_key_file (const char *key_file)
{
  const char *env;

  if (key_file != NULL && *key_file != '\0')
    return key_file;
  env = g_getenv (KH_TEAM_KEY_FILE_ENV);
  return env != NULL && *env != '\0' ? env : NULL;
}

static char *
store_dir_of (KhStore *store)
{
  return g_path_get_dirname (kh_store_get_index_path (store));
}

static void
set_key_file_needed (GError **error)
{
  g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
               _("This computer keeps the team key in a file: give it with --key-file or %s"),
               KH_TEAM_KEY_FILE_ENV);
}

static KhTeam *
open_at (const char  *store_dir,
         KhStore     *store,
         const char  *key_file,
         GError     **error)
{
  g_autoptr(KhTeam) self = NULL;
  g_autoptr(JsonObject) config = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *source;
  gint64 version = 0;
  gint64 key_id = 0;

  if (!kh_team_crypto_ready (error))
    return NULL;
  self = kh_team_object_new (store_dir, store);
  config = kh_team_read_json_file (self->config_path, &local_error);
  if (config == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return NULL;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The team configuration %s cannot be read: join the team again"),
                   self->config_path);
      return NULL;
    }
  source = kh_json_get_string (config, "key_source");
  self->conninfo = g_strdup (kh_json_get_string (config, "conninfo"));
  self->team_id = g_strdup (kh_json_get_string (config, "team_id"));
  self->role = g_strdup (kh_json_get_string (config, "role"));
  if (!kh_json_get_int (config, "v", &version) || version != CONFIG_VERSION ||
      self->conninfo == NULL || self->team_id == NULL || !g_uuid_string_is_valid (self->team_id) ||
      !kh_json_get_int (config, "key_id", &key_id) || key_id <= 0 || key_id > G_MAXUINT32 ||
      (g_strcmp0 (source, "file") != 0 && g_strcmp0 (source, "keyring") != 0))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The team configuration %s cannot be read: join the team again"),
                   self->config_path);
      return NULL;
    }
  self->key_id = (guint32) key_id;

  key_file = resolve_key_file (key_file);
  if (key_file != NULL)
    {
      g_autofree char *team_id = NULL;
      guint32 file_key_id = 0;

      if (!kh_team_read_key_file (key_file, &team_id, &file_key_id, self->key, error))
        return NULL;
      if (!g_str_equal (team_id, self->team_id))
        {
          g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                       _("The key file %s belongs to another team: use this team’s key file"),
                       key_file);
          return NULL;
        }
      self->key_file = g_strdup (key_file);
      self->key_id = file_key_id;
    }
  else if (g_str_equal (source, "file") || store == NULL)
    {
      set_key_file_needed (error);
      return NULL;
    }
  else
    {
      kh_autowipe char *item = kh_store_load_secret (store, KH_TEAM_KEY_KIND, self->team_id,
                                                     error);

      if (item == NULL)
        {
          if (error == NULL || *error == NULL)
            g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                                 _("The team key is missing from the keyring or damaged: join "
                                   "the team again with a join code from an admin"));
          return NULL;
        }
      if (!kh_team_parse_key_item (self, item, error))
        return NULL;
    }
  return g_steal_pointer (&self);
}

KhTeam *
kh_team_open (KhStore     *store,
              const char  *key_file,
              GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = store_dir_of (store);
  return open_at (dir, store, key_file, error);
}

KhTeam *
kh_team_open_headless (const char  *data_dir,
                       const char  *store_name,
                       const char  *key_file,
                       GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = kh_store_dup_dir (data_dir, store_name, error);
  return dir ? open_at (dir, NULL, key_file, error) : NULL;
}

static gboolean
already_in_team (const char  *store_dir,
                 GError     **error)
{
  g_autofree char *path = g_build_filename (store_dir, "team.json", NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return FALSE;
  g_set_error_literal (error, KH_ERROR, KH_ERROR_EXISTS,
                       _("This computer is already in a team: leave it first "
                         "(“keyhold-cli team leave”)"));
  return TRUE;
}

/* Keeps the key (and password) in the keyring for a keyring member. */
static gboolean
save_local_secrets (KhTeam  *self,
                    GError **error)
{
  if (self->key_file != NULL)
    return TRUE;
  if (!kh_team_save_key_item (self, error))
    return FALSE;
  if (self->password != NULL)
    {
      g_autofree char *label = g_strdup_printf (_("Keyhold team database password (%s)"),
                                                self->team_id);

      if (!kh_store_save_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id, label,
                                 self->password, error))
        return FALSE;
    }
  return TRUE;
}

static void
forget_local_secrets (KhTeam *self)
{
  if (self->key_file != NULL)
    return;
  kh_store_remove_secret (self->store, KH_TEAM_KEY_KIND, self->team_id, NULL);
  kh_store_remove_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id, NULL);
}

static gboolean
register_member_key_locked (KhTeam  *self,
                            GError **error)
{
  g_autoptr(GBytes) pub = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  if (self->box_secret == NULL)
    self->box_secret = kh_team_key_new ();
  kh_team_box_keypair (self->box_public, self->box_secret);
  pub = g_bytes_new (self->box_public, KH_TEAM_BOX_PUBLIC_BYTES);
  kh_team_param_bytes (&p, pub);
  result = kh_team_exec_locked (self, "INSERT INTO keyhold.member_keys (public_key) VALUES ($1) ON "
                                      "CONFLICT (role) DO UPDATE SET public_key = "
                                      "EXCLUDED.public_key, registered_at = now()", &p, error);
  return result != NULL;
}

KhTeam *
kh_team_create (KhStore     *store,
                const char  *conninfo,
                const char  *password,
                char       **join_code_out,
                GError     **error)
{
  g_autoptr(KhTeam) self = NULL;
  g_autofree char *migration = NULL;
  g_autofree char *admin = NULL;
  g_autofree char *member = NULL;
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GBytes) check_nonce = NULL;
  kh_autoresult PGresult *exists = NULL;
  kh_autoresult PGresult *inserted = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *dir = NULL;
  Params p = { 0 };
  gboolean ok;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (join_code_out != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = store_dir_of (store);
  if (!kh_team_check_conninfo (conninfo, error) || already_in_team (dir, error))
    return NULL;
  if (!kh_team_crypto_ready (error))
    return NULL;

  self = kh_team_object_new (dir, store);
  self->conninfo = g_strdup (conninfo);
  self->password = g_strdup (password);
  self->team_id = g_uuid_string_random ();
  self->key_id = 1;
  kh_team_key_free (self->key);
  self->key = kh_team_key_new_random ();

  g_mutex_lock (&self->lock);
  self->conn = kh_team_connect_raw (conninfo, password, error);
  if (self->conn == NULL)
    {
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->role = g_strdup (PQuser (self->conn));
  admin = kh_team_schema_admin_role (self->team_id);
  member = kh_team_schema_member_role (self->team_id);
  migration = kh_team_schema_migration (self->conn, 0, self->team_id);
  kh_team_seal (self->key, self->key_id, "meta", self->team_id, KEY_CHECK_TEXT,
                strlen (KEY_CHECK_TEXT), &check_nonce, &check);

  ok = kh_team_exec_simple_locked (self, "BEGIN", error) &&
       kh_team_exec_simple_locked (self, "SELECT pg_advisory_xact_lock (hashtext "
                                         "('keyhold-schema'))",
                                   error);
  if (ok)
    {
      exists = kh_team_exec_locked (self, "SELECT to_regnamespace ('keyhold') IS NOT NULL",
                                    NULL, error);
      ok = exists != NULL;
      if (ok && g_str_equal (PQgetvalue (exists, 0, 0), "t"))
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_EXISTS,
                               _("This database already has a Keyhold team: join it with "
                                 "“keyhold-cli team join”"));
          ok = FALSE;
        }
    }
  if (ok && !kh_team_exec_simple_locked (self, migration, &local_error))
    {
      if (g_error_matches (local_error, KH_ERROR, KH_ERROR_TEAM_ACCESS))
        g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
                     _("Role “%s” cannot create a team in this database: it needs CREATEROLE "
                       "and CREATE on the database"), self->role);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      ok = FALSE;
    }
  if (ok)
    {
      g_autofree char *version = g_strdup_printf ("%d", KH_TEAM_SCHEMA_VERSION);

      kh_team_param_text (&p, version);
      kh_team_param_text (&p, self->team_id);
      kh_team_param_bytes (&p, check);
      kh_team_param_bytes (&p, check_nonce);
      kh_team_param_text (&p, admin);
      kh_team_param_text (&p, member);
      inserted = kh_team_exec_locked (self, "INSERT INTO keyhold.meta (schema_version, team_id, "
                                            "key_id, key_check, key_check_nonce, admin_role, "
                                            "member_role) VALUES ($1::integer, $2::uuid, 1, $3, "
                                            "$4, $5, $6)",
                                      &p, error);
      ok = inserted != NULL;
    }
  ok = ok && register_member_key_locked (self, error);
  /* The key goes to the keyring before the team exists, so a failure leaves no team whose key
   * nobody has. */
  ok = ok && save_local_secrets (self, error);
  if (ok && !kh_team_exec_simple_locked (self, "COMMIT", error))
    {
      forget_local_secrets (self);
      ok = FALSE;
    }
  if (!ok)
    {
      kh_team_rollback_locked (self);
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->checked = TRUE;
  self->is_admin = TRUE;
  self->schema_version = KH_TEAM_SCHEMA_VERSION;
  g_mutex_unlock (&self->lock);

  if (!kh_team_write_config (self, error))
    return NULL;
  *join_code_out = kh_team_join_code_encode (self->team_id, self->key_id, self->key);
  return g_steal_pointer (&self);
}

static KhTeam *
join_at (const char  *store_dir,
         KhStore     *store,
         const char  *conninfo,
         const char  *password,
         const char  *join_code,
         const char  *key_file,
         GError     **error)
{
  g_autoptr(KhTeam) self = NULL;
  gboolean ok;

  if (!kh_team_check_conninfo (conninfo, error) || already_in_team (store_dir, error))
    return NULL;
  if (!kh_team_crypto_ready (error))
    return NULL;

  self = kh_team_object_new (store_dir, store);
  self->conninfo = g_strdup (conninfo);
  self->password = g_strdup (password);
  if (key_file != NULL)
    {
      if (!kh_team_read_key_file (key_file, &self->team_id, &self->key_id, self->key, error))
        return NULL;
      self->key_file = g_strdup (key_file);
    }
  else if (!kh_team_join_code_decode (join_code, &self->team_id, &self->key_id, self->key,
                                      error))
    return NULL;

  g_mutex_lock (&self->lock);
  self->conn = kh_team_connect_raw (conninfo, password, error);
  ok = self->conn != NULL && kh_team_check_locked (self, TRUE, error);
  if (ok && self->key_file == NULL)
    ok = kh_team_exec_simple_locked (self, "BEGIN", error) &&
         register_member_key_locked (self, error) &&
         save_local_secrets (self, error) &&
         kh_team_exec_simple_locked (self, "COMMIT", error);
  if (!ok)
    {
      kh_team_rollback_locked (self);
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->checked = TRUE;
  g_mutex_unlock (&self->lock);

  if (!kh_team_write_config (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

KhTeam *
kh_team_join (KhStore     *store,
              const char  *conninfo,
              const char  *password,
              const char  *join_code,
              const char  *key_file,
              GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail ((join_code == NULL) != (key_file == NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = store_dir_of (store);
  return join_at (dir, store, conninfo, password, join_code, key_file, error);
}

KhTeam *
kh_team_join_headless (const char  *data_dir,
                       const char  *store_name,
                       const char  *conninfo,
                       const char  *key_file,
                       GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (key_file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = kh_store_dup_dir (data_dir, store_name, error);
  return dir ? join_at (dir, NULL, conninfo, NULL, NULL, key_file, error) : NULL;
}

gboolean
kh_team_leave (KhTeam  *self,
               GError **error)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* team.json first: once it is gone the computer is out of the team even if removing the
   * secrets fails halfway. */
  if (g_unlink (self->config_path) != 0 && errno != ENOENT)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not remove %s: %s"),
                   self->config_path, g_strerror (saved));
      return FALSE;
    }
  kh_team_remove_cache_dir (self);
  if (self->key_file == NULL)
    {
      if (!kh_store_remove_secret (self->store, KH_TEAM_KEY_KIND, self->team_id, error) ||
          !kh_store_remove_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id, error))
        return FALSE;
    }
  return TRUE;
}
