/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-connect.c: the team's one connection and its lock: connecting with our defaults,
 * checking the team (schema version, team id, the key; a rotated key picked up) once per
 * connection, and taking the lock around a statement. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONNECT_TIMEOUT "10"

/* The server's notices and warnings ("role is not a member"...) go to the debug log, not to
 * stderr where libpq would print them. */
static void
notice_processor (void       *arg,
                  const char *message)
{
  g_autofree char *line = kh_team_first_line (message);

  g_debug ("team database: %s", line);
}

/* A connection for conninfo: our defaults first, then the conninfo (expanded), then the
 * password (NULL: libpq's passfile). */
PGconn *
kh_team_connect_raw (const char  *conninfo,
                     const char  *password,
                     GError     **error)
{
  /* A refresher that vanished without closing its connection (a laptop lid, a cut cable)
   * would hold its grant's row lock until TCP gave up: the server ends such a transaction after
   * two minutes (longer than any TikTok call with its retries), and keepalives notice a dead
   * server within about half a minute. */
  static const char * const defaults[][2] = {
    { "connect_timeout", DEFAULT_CONNECT_TIMEOUT },
    { "keepalives_idle", "15" },
    { "keepalives_interval", "5" },
    { "keepalives_count", "3" },
    { "options", "-c idle_in_transaction_session_timeout=120000" },
  };
  const char *keys[G_N_ELEMENTS (defaults) + 4];
  const char *values[G_N_ELEMENTS (defaults) + 4];
  int n = 0;
  PGconn *conn;

  /* libpq keeps the last value of a repeated keyword: the conninfo, expanded from dbname,
   * overrides these defaults, and nothing overrides the password given last. */
  for (gsize i = 0; i < G_N_ELEMENTS (defaults); i++)
    {
      keys[n] = defaults[i][0];
      values[n++] = defaults[i][1];
    }
  keys[n] = "application_name";
  values[n++] = "keyhold";
  keys[n] = "dbname";
  values[n++] = conninfo;
  if (password != NULL)
    {
      keys[n] = "password";
      values[n++] = password;
    }
  keys[n] = NULL;
  values[n] = NULL;

  conn = PQconnectdbParams (keys, values, 1);
  if (conn == NULL || PQstatus (conn) != CONNECTION_OK)
    {
      kh_team_set_connect_error (error, conn, conn ? PQuser (conn) : NULL);
      PQfinish (conn);
      return NULL;
    }
  PQsetNoticeProcessor (conn, notice_processor, NULL);
  return conn;
}

/* The password of a keyring member, read once. */
static void
load_password (KhTeam *self)
{
  g_autoptr(GError) error = NULL;

  if (self->password != NULL || self->key_file != NULL)
    return;
  self->password = kh_store_load_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id,
                                         &error);
  if (error != NULL)
    g_debug ("No team password from the keyring: %s", error->message);
}

/* A rotated key: the one an admin sealed to this member's public key. */
static gboolean
adopt_rotated_key_locked (KhTeam   *self,
                          guint32   key_id,
                          GError  **error)
{
  g_autofree char *key_id_text = g_strdup_printf ("%u", key_id);
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GBytes) sealed = NULL;
  Params p = { 0 };

  if (self->box_secret == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                   _("The team key was changed (rotated): put the new join code from an admin "
                     "into the key file %s"), self->key_file ? self->key_file : "");
      return FALSE;
    }
  kh_team_param_text (&p, key_id_text);
  result = kh_team_exec_locked (self, "SELECT sealed_key FROM keyhold.key_grants WHERE role = "
                                      "current_user AND key_id = $1::integer", &p, error);
  if (result == NULL)
    return FALSE;
  if (PQntuples (result) != 1 || (sealed = kh_team_result_bytea (result, 0, 0)) == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                           _("The team key was changed (rotated) and none was left for you: "
                             "join again with a new join code from an admin"));
      return FALSE;
    }
  if (!kh_team_box_open_key (sealed, self->box_public, self->box_secret, self->key, error))
    return FALSE;
  self->key_id = key_id;
  return TRUE;
}

/* Reads meta and checks the schema version, the team id and the key. */
gboolean
kh_team_check_locked (KhTeam   *self,
                      gboolean  for_join,
                      GError  **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GBytes) check_nonce = NULL;
  kh_autowipe char *plain = NULL;
  g_autoptr(GError) key_error = NULL;
  guint32 key_id;
  int version;

  result = kh_team_exec_locked (self, "SELECT schema_version, team_id::text, key_id, key_check, "
                                      "key_check_nonce, pg_has_role (current_user, admin_role, "
                                      "'MEMBER'), current_user FROM keyhold.meta", NULL, error);
  if (result == NULL)
    {
      if (error != NULL && g_error_matches (*error, KH_ERROR, KH_ERROR_TEAM_ACCESS))
        {
          g_clear_error (error);
          g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
                       _("Role “%s” is not a member of this team: ask an admin to run "
                         "“keyhold-cli team grant %s”"),
                       PQuser (self->conn), PQuser (self->conn));
        }
      return FALSE;
    }
  if (PQntuples (result) != 1)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                           _("The database has no Keyhold team: check the URL, or create the "
                             "team with “keyhold-cli team create”"));
      return FALSE;
    }
  version = atoi (PQgetvalue (result, 0, 0));
  if (version > KH_TEAM_SCHEMA_VERSION)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                   _("The team database was set up by a newer Keyhold (schema %d, this one "
                     "knows %d): upgrade Keyhold"), version, KH_TEAM_SCHEMA_VERSION);
      return FALSE;
    }
  if (g_strcmp0 (PQgetvalue (result, 0, 1), self->team_id) != 0)
    {
      if (for_join)
        g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                             _("This join code belongs to another team than the one in this "
                               "database: check the URL and the code"));
      else
        g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                             _("This database holds another team than the one this computer "
                               "joined: check the URL"));
      return FALSE;
    }

  key_id = (guint32) strtoul (PQgetvalue (result, 0, 2), NULL, 10);
  if (key_id != self->key_id)
    {
      if (for_join)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                               _("This join code is from before the team key was changed: ask "
                                 "an admin for a new one"));
          return FALSE;
        }
      if (!adopt_rotated_key_locked (self, key_id, error))
        return FALSE;
    }
  check = kh_team_result_bytea (result, 0, 3);
  check_nonce = kh_team_result_bytea (result, 0, 4);
  if (check == NULL || check_nonce == NULL)
    plain = NULL;
  else
    plain = kh_team_unseal (self->key, self->key_id, "meta", self->team_id, check_nonce, check,
                            &key_error);
  if (plain == NULL || !g_str_equal (plain, KEY_CHECK_TEXT))
    {
      kh_team_set_wrong_key_error (error);
      return FALSE;
    }

  self->schema_version = version;
  self->is_admin = g_str_equal (PQgetvalue (result, 0, 5), "t");
  if (self->role == NULL || !g_str_equal (self->role, PQgetvalue (result, 0, 6)))
    {
      g_free (self->role);
      self->role = g_strdup (PQgetvalue (result, 0, 6));
    }
  if (version < KH_TEAM_SCHEMA_VERSION)
    {
      /* Schema 1 is the first: there is nothing older to migrate yet. */
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                   _("The team database uses an older schema (%d): ask an admin to open the "
                     "team with this Keyhold"), version);
      return FALSE;
    }
  return TRUE;
}

/* Connects if needed and checks the team once per connection. Called with the lock held. */

static gboolean
ensure_connected_locked (KhTeam  *self,
                         GError **error)
{

  if (self->conn != NULL && PQstatus (self->conn) != CONNECTION_OK)
    {
      PQreset (self->conn);
      if (PQstatus (self->conn) != CONNECTION_OK)
        {
          kh_team_set_connect_error (error, self->conn, self->role);
          g_clear_pointer (&self->conn, PQfinish);
          return FALSE;
        }
      self->checked = FALSE;
    }
  if (self->conn == NULL)
    {
      load_password (self);
      self->conn = kh_team_connect_raw (self->conninfo, self->password, error);
      if (self->conn == NULL)
        return FALSE;
      self->checked = FALSE;
    }
  if (self->checked)
    return TRUE;
  return kh_team_recheck_locked (self, error);
}

/* Reads meta again (after a rotation another member made, say) and keeps a new key. */
gboolean
kh_team_recheck_locked (KhTeam  *self,
                        GError **error)
{
  guint32 old_key_id = self->key_id;

  if (!kh_team_check_locked (self, FALSE, error))
    return FALSE;
  self->checked = TRUE;
  if (self->key_id != old_key_id)
    {
      g_autoptr(GError) local_error = NULL;

      /* A rotated key picked up from key_grants: keep it for the next run. The database keeps
       * it too, so a failure here only costs a lookup next time. */
      if (!kh_team_save_key_item (self, &local_error) || !kh_team_write_config (self, &local_error))
        g_warning ("Could not keep the new team key: %s", local_error->message);
    }
  return TRUE;
}

/* The lock and a checked connection, or FALSE with an error (and the lock released). */
gboolean
kh_team_begin_locked (KhTeam  *self,
                      GError **error)
{
  g_mutex_lock (&self->lock);
  if (!ensure_connected_locked (self, error))
    {
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  return TRUE;
}

void
kh_team_end_locked (KhTeam *self)
{
  kh_team_rollback_locked (self);
  g_mutex_unlock (&self->lock);
}

gboolean
kh_team_require_admin_locked (KhTeam  *self,
                              GError **error)
{
  if (self->is_admin)
    return TRUE;
  g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
               _("Only a team admin can do this, and role “%s” is not one"), self->role);
  return FALSE;
}

gboolean
kh_team_crypto_ready (GError **error)
{
  if (kh_team_crypto_init ())
    return TRUE;
  g_set_error_literal (error, KH_ERROR, KH_ERROR_FAILED,
                       _("libsodium could not start: this system has no source of randomness"));
  return FALSE;
}

/* One statement on a checked connection, with the lock taken around it. */
PGresult *
kh_team_run_query (KhTeam      *self,
                   const char  *sql,
                   Params      *params,
                   GError     **error)
{
  PGresult *result;

  if (!kh_team_begin_locked (self, error))
    return NULL;
  result = kh_team_exec_locked (self, sql, params, error);
  kh_team_end_locked (self);
  return result;
}
