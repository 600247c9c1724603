/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-rotate.c: key rotation, and removing a member (which rotates): every sealed row moved
 * to a new team key in one transaction, the new key sealed to each remaining member. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <stdlib.h>
#include <string.h>

/* Re-seals every row of table (grants or apps; the admin sees them all) from the current key to
 * new_key. */
static gboolean
reseal_table_locked (KhTeam        *self,
                     const char    *table,
                     const guint8  *new_key,
                     guint32        new_key_id,
                     GError       **error)
{
  gboolean grants = g_str_equal (table, "grants");
  kh_autoresult PGresult *rows = NULL;
  g_autofree char *key_id_text = g_strdup_printf ("%u", new_key_id);

  rows = kh_team_exec_locked (self, grants ? "SELECT id, sealed_tokens, nonce, key_id FROM "
                                             "keyhold.grants FOR UPDATE"
                                           : "SELECT name, sealed_secret, nonce, key_id FROM "
                                             "keyhold.apps FOR UPDATE",
                              NULL, error);
  if (rows == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (rows); i++)
    {
      const char *id = PQgetvalue (rows, i, 0);
      g_autoptr(GBytes) sealed = kh_team_result_bytea (rows, i, 1);
      g_autoptr(GBytes) nonce = kh_team_result_bytea (rows, i, 2);
      guint32 key_id = (guint32) strtoul (PQgetvalue (rows, i, 3), NULL, 10);
      g_autoptr(GBytes) new_sealed = NULL;
      g_autoptr(GBytes) new_nonce = NULL;
      kh_autowipe char *plain = NULL;
      kh_autoresult PGresult *result = NULL;
      Params p = { 0 };

      if (sealed != NULL && nonce != NULL && key_id == self->key_id)
        plain = kh_team_unseal (self->key, key_id, table, id, nonce, sealed, NULL);
      if (plain == NULL)
        {
          /* A row this admin cannot open cannot be moved to the new key either: stop, change
           * nothing. */
          g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                       _("Row “%s” of the team does not open with the current team key, so the "
                         "key was not changed: remove or share that grant again"), id);
          return FALSE;
        }
      kh_team_seal (new_key, new_key_id, table, id, plain, strlen (plain), &new_nonce,
                    &new_sealed);
      kh_team_param_text (&p, id);
      kh_team_param_bytes (&p, new_sealed);
      kh_team_param_bytes (&p, new_nonce);
      kh_team_param_text (&p, key_id_text);
      result = kh_team_exec_locked (self, grants ? "UPDATE keyhold.grants SET sealed_tokens = $2, "
                                                   "nonce = $3, key_id = $4::integer, "
                                                   "version = version + 1, "
                                                   "updated_at = now (), updated_by = current_user "
                                                   "WHERE id = $1"
                                                 : "UPDATE keyhold.apps SET sealed_secret = $2, "
                                                   "nonce = $3, key_id = $4::integer, updated_at = "
                                                   "now (), updated_by = current_user WHERE name = "
                                                   "$1",
                                    &p, error);
      if (result == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Seals new_key to every registered member's public key. */
static gboolean
distribute_key_locked (KhTeam        *self,
                       const guint8  *new_key,
                       guint32        new_key_id,
                       GError       **error)
{
  g_autofree char *key_id_text = g_strdup_printf ("%u", new_key_id);
  kh_autoresult PGresult *members = NULL;

  members = kh_team_exec_locked (self, "SELECT role, public_key FROM keyhold.member_keys",
                                 NULL, error);
  if (members == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (members); i++)
    {
      g_autoptr(GBytes) public_key = kh_team_result_bytea (members, i, 1);
      g_autoptr(GBytes) sealed = NULL;
      kh_autoresult PGresult *result = NULL;
      Params p = { 0 };

      if (public_key == NULL || g_bytes_get_size (public_key) != KH_TEAM_BOX_PUBLIC_BYTES)
        continue;
      sealed = kh_team_box_seal_key (new_key, g_bytes_get_data (public_key, NULL));
      kh_team_param_text (&p, PQgetvalue (members, i, 0));
      kh_team_param_text (&p, key_id_text);
      kh_team_param_bytes (&p, sealed);
      result = kh_team_exec_locked (self, "INSERT INTO keyhold.key_grants (role, key_id, "
                                          "sealed_key) VALUES ($1, $2::integer, $3)", &p, error);
      if (result == NULL)
        return FALSE;
    }
  return kh_team_exec_simple_locked (self, "DELETE FROM keyhold.key_grants WHERE key_id < "
                                           "(SELECT max (key_id) FROM keyhold.key_grants)", error);
}

/* Inside a transaction: the new key replaces the old one everywhere in the database. On
 * success the KhTeam holds the new key (the caller commits, then keeps it locally). */
static gboolean
rotate_locked (KhTeam  *self,
               guint8  *new_key,
               GError **error)
{
  guint32 new_key_id = self->key_id + 1;
  g_autofree char *key_id_text = g_strdup_printf ("%u", new_key_id);
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GBytes) check_nonce = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  /* meta first: the policies accept rows sealed under meta's key only. */
  kh_team_seal (new_key, new_key_id, "meta", self->team_id, KEY_CHECK_TEXT,
                strlen (KEY_CHECK_TEXT), &check_nonce, &check);
  kh_team_param_text (&p, key_id_text);
  kh_team_param_bytes (&p, check);
  kh_team_param_bytes (&p, check_nonce);
  result = kh_team_exec_locked (self, "UPDATE keyhold.meta SET key_id = $1::integer, key_check = "
                                      "$2, key_check_nonce = $3", &p, error);
  return result != NULL &&
         reseal_table_locked (self, "grants", new_key, new_key_id, error) &&
         reseal_table_locked (self, "apps", new_key, new_key_id, error) &&
         distribute_key_locked (self, new_key, new_key_id, error);
}

/* Runs the rotation (after the optional member removal) in one transaction, then keeps the
 * new key locally. */
static gboolean
rotate_with (KhTeam      *self,
             const char  *removed_role,
             char       **join_code_out,
             GError     **error)
{
  guint8 *new_key = kh_team_key_new_random ();
  guint32 old_key_id;
  gboolean ok;

  if (!kh_team_begin_locked (self, error))
    {
      kh_team_key_free (new_key);
      return FALSE;
    }
  ok = kh_team_require_admin_locked (self, error) &&
       kh_team_exec_simple_locked (self, "BEGIN", error) &&
       kh_team_exec_simple_locked (self, "LOCK TABLE keyhold.meta IN EXCLUSIVE MODE", error) &&
       kh_team_recheck_locked (self, error);
  old_key_id = self->key_id;
  if (ok && removed_role != NULL)
    {
      g_autofree char *ident = kh_team_member_ident_locked (self, removed_role, error);
      kh_autoresult PGresult *keys = NULL;
      Params p = { 0 };

      ok = ident != NULL && kh_team_delete_access_locked (self, removed_role, NULL, error);
      if (ok)
        {
          g_autofree char *member = kh_team_role_ident (self, FALSE);
          g_autofree char *admin = kh_team_role_ident (self, TRUE);
          g_autofree char *revoke = g_strdup_printf ("REVOKE %s, %s FROM %s", member, admin,
                                                     ident);

          ok = kh_team_exec_simple_locked (self, revoke, error);
        }
      kh_team_param_text (&p, removed_role);
      ok = ok && (keys = kh_team_exec_locked (self, "DELETE FROM keyhold.member_keys WHERE role = "
                                                    "$1",
                                              &p, error)) != NULL;
      ok = ok && kh_team_audit_access_locked (self, removed_role, error);
    }
  ok = ok && rotate_locked (self, new_key, error) &&
       kh_team_exec_simple_locked (self, "COMMIT", error);
  if (ok)
    {
      g_autoptr(GError) local_error = NULL;

      memcpy (self->key, new_key, KH_TEAM_KEY_BYTES);
      self->key_id = old_key_id + 1;
      /* The database has committed: if the keyring write fails, this admin still finds the key
       * sealed to its own public key at the next open. */
      if (self->key_file == NULL && (!kh_team_save_key_item (self, &local_error) ||
                                     !kh_team_write_config (self, &local_error)))
        g_warning ("Could not keep the new team key: %s", local_error->message);
      kh_team_remove_cache_dir (self);
      if (join_code_out != NULL)
        *join_code_out = kh_team_join_code_encode (self->team_id, self->key_id, self->key);
    }
  kh_team_key_free (new_key);
  kh_team_end_locked (self);
  return ok;
}

gboolean
kh_team_rotate_key (KhTeam  *self,
                    char   **join_code_out,
                    GError **error)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return rotate_with (self, NULL, join_code_out, error);
}

gboolean
kh_team_revoke_member (KhTeam      *self,
                       const char  *role,
                       char       **join_code_out,
                       GError     **error)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (role != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_strcmp0 (role, self->role) == 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("An admin cannot remove themselves: use "
                             "“keyhold-cli team leave”"));
      return FALSE;
    }
  return rotate_with (self, role, join_code_out, error);
}
