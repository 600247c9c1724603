/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-grants.c: the shared grants' rows: sealing a grant's tokens into a row, writing,
 * updating, listing, finding and removing rows, and reading a grant's tokens (falling back to
 * the offline cache only when the database does not answer). */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-team-private.h"

#include <stdlib.h>
#include <string.h>

static KhGrant *
grant_from_text (const char  *text,
                 GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), error);

  return node ? kh_grant_new_from_json (node, error) : NULL;
}

static char *
grant_to_text (KhGrant *grant)
{
  g_autoptr(JsonNode) node = kh_grant_to_json (grant);

  return kh_json_to_string (node, FALSE);
}

static char *
tokens_to_text (const KhTokenSet *tokens)
{
  g_autoptr(JsonNode) node = kh_token_set_to_json (tokens);

  return kh_json_to_string (node, FALSE);
}

KhTokenSet *
kh_team_tokens_from_text (const char  *text,
                          GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), error);

  return node ? kh_token_set_new_from_json (node, error) : NULL;
}

gboolean
kh_team_tokens_equal (const KhTokenSet *a,
                      const KhTokenSet *b)
{
  return g_strcmp0 (a->access_token, b->access_token) == 0 &&
         g_strcmp0 (a->refresh_token, b->refresh_token) == 0 &&
         a->access_expires_at == b->access_expires_at &&
         a->refresh_expires_at == b->refresh_expires_at;
}

/* A NOT_FOUND for a grant this role cannot see (or that does not exist: RLS makes them one). */
void
kh_team_set_grant_not_found (KhTeam      *self,
                             const char  *id_or_name,
                             GError     **error)
{
  g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
               _("No shared grant “%s” that role “%s” may see"), id_or_name, self->role);
}

void
kh_team_sealed_row_clear (SealedRow *row)
{
  g_free (row->id);
  g_free (row->info);
  g_free (row->access_expires);
  g_free (row->refresh_expires);
  g_free (row->key_id);
  g_clear_pointer (&row->sealed, g_bytes_unref);
  g_clear_pointer (&row->nonce, g_bytes_unref);
}

void
kh_team_sealed_row_init (KhTeam           *self,
                         SealedRow        *row,
                         KhGrant          *grant,
                         const KhTokenSet *tokens)
{
  kh_autowipe char *plain = tokens_to_text (tokens);

  kh_grant_set_expiries_from_tokens (grant, tokens);
  row->id = g_strdup (kh_grant_get_id (grant));
  row->info = grant_to_text (grant);
  row->access_expires = g_strdup_printf ("%" G_GINT64_FORMAT, tokens->access_expires_at);
  row->refresh_expires = g_strdup_printf ("%" G_GINT64_FORMAT, tokens->refresh_expires_at);
  row->key_id = g_strdup_printf ("%u", self->key_id);
  kh_team_seal (self->key, self->key_id, "grants", row->id, plain, strlen (plain), &row->nonce,
                &row->sealed);
}

void
kh_team_sealed_row_params (SealedRow *row,
                           Params    *p)
{
  kh_team_param_text (p, row->id);
  kh_team_param_text (p, row->info);
  kh_team_param_text (p, row->access_expires);
  kh_team_param_text (p, row->refresh_expires);
  kh_team_param_bytes (p, row->sealed);
  kh_team_param_bytes (p, row->nonce);
  kh_team_param_text (p, row->key_id);
}

/* TRUE when a write was refused because an admin rotated the key since this connection read
 * it: then this KhTeam holds the new key (picked up from key_grants) and may write again. */
static gboolean
key_was_rotated_locked (KhTeam       *self,
                        const GError *error)
{
  guint32 key_id = self->key_id;

  if (!g_error_matches (error, KH_ERROR, KH_ERROR_TEAM_ACCESS))
    return FALSE;
  return kh_team_recheck_locked (self, NULL) && self->key_id != key_id;
}

static const char put_grant_sql[] =
  "INSERT INTO keyhold.grants AS g (id, " GRANT_INFO_TARGETS ", " GRANT_SECRET_TARGETS ") "
  "SELECT $1, " GRANT_INFO_VALUES ", " GRANT_SECRET_VALUES " FROM (SELECT $2::jsonb AS j) s "
  "ON CONFLICT (id) DO UPDATE SET (" GRANT_INFO_TARGETS ", " GRANT_SECRET_TARGETS ", version, "
  "updated_at, updated_by) = (EXCLUDED.type, EXCLUDED.app, EXCLUDED.client, "
  "EXCLUDED.display_name, EXCLUDED.region, EXCLUDED.status, EXCLUDED.scopes, EXCLUDED.shops, "
  "EXCLUDED.advertisers, EXCLUDED.info, EXCLUDED.access_expires_at, "
  "EXCLUDED.refresh_expires_at, EXCLUDED.sealed_tokens, EXCLUDED.nonce, EXCLUDED.key_id, "
  "g.version + 1, now (), current_user)";

/* Keeps the stored expiries: they belong to the tokens, which a labels-only change does not
 * see (another machine may have refreshed meanwhile). */
static const char update_grant_sql[] =
  "UPDATE keyhold.grants g SET (" GRANT_INFO_TARGETS ", version, updated_at, updated_by) = "
  "(SELECT " GRANT_INFO_VALUES ", g.version + 1, now (), current_user FROM "
  "(SELECT $2::jsonb || jsonb_build_object ('access_expires_at', "
  "g.info->'access_expires_at', 'refresh_expires_at', g.info->'refresh_expires_at') AS j) s) "
  "WHERE g.id = $1";

gboolean
kh_team_put_grant (KhTeam           *self,
                   KhGrant          *grant,
                   const KhTokenSet *tokens,
                   GError          **error)
{
  g_auto(SealedRow) row = { 0 };
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GError) local_error = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);
  g_return_val_if_fail (tokens != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_team_begin_locked (self, error))
    return FALSE;
  kh_team_sealed_row_init (self, &row, grant, tokens);
  kh_team_sealed_row_params (&row, &p);
  result = kh_team_exec_locked (self, put_grant_sql, &p, &local_error);
  if (result == NULL && key_was_rotated_locked (self, local_error))
    {
      /* Sealed under a key an admin replaced meanwhile: seal again under the new one. */
      g_auto(SealedRow) again = { 0 };
      Params q = { 0 };

      g_clear_error (&local_error);
      kh_team_sealed_row_init (self, &again, grant, tokens);
      kh_team_sealed_row_params (&again, &q);
      result = kh_team_exec_locked (self, put_grant_sql, &q, &local_error);
      if (result != NULL)
        kh_team_cache_write (self, again.id, again.info, again.sealed, again.nonce, self->key_id);
    }
  else if (result != NULL)
    kh_team_cache_write (self, row.id, row.info, row.sealed, row.nonce, self->key_id);
  kh_team_end_locked (self);
  if (local_error != NULL)
    g_propagate_error (error, g_steal_pointer (&local_error));
  return result != NULL;
}

gboolean
kh_team_update_grant (KhTeam   *self,
                      KhGrant  *grant,
                      GError  **error)
{
  g_autofree char *info = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  info = grant_to_text (grant);
  kh_team_param_text (&p, kh_grant_get_id (grant));
  kh_team_param_text (&p, info);
  result = kh_team_run_query (self, update_grant_sql, &p, error);
  if (result != NULL && g_str_equal (PQcmdTuples (result), "0"))
    {
      kh_team_set_grant_not_found (self, kh_grant_get_id (grant), error);
      return FALSE;
    }
  return result != NULL;
}

static GPtrArray *
grants_from_result (PGresult  *result,
                    GError   **error)
{
  g_autoptr(GPtrArray) grants = g_ptr_array_new_with_free_func (g_object_unref);

  for (int i = 0; i < PQntuples (result); i++)
    {
      KhGrant *grant = grant_from_text (PQgetvalue (result, i, 0), error);

      if (grant == NULL)
        return NULL;
      g_ptr_array_add (grants, grant);
    }
  return g_steal_pointer (&grants);
}

GPtrArray *
kh_team_list_grants (KhTeam  *self,
                     GError **error)
{
  kh_autoresult PGresult *result = NULL;

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  result = kh_team_run_query (self, "SELECT info::text FROM keyhold.grants "
                                    "ORDER BY lower (display_name), id", NULL, error);
  return result ? grants_from_result (result, error) : NULL;
}

KhGrant *
kh_team_find_grant (KhTeam      *self,
                    const char  *id_or_name,
                    GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (id_or_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  kh_team_param_text (&p, id_or_name);
  /* An exact id wins; else an id prefix of six or more characters, or a name. */
  result = kh_team_run_query (self, "SELECT info::text FROM keyhold.grants WHERE id = $1 UNION ALL "
                                    "SELECT info::text FROM keyhold.grants WHERE NOT EXISTS "
                                    "(SELECT 1 FROM keyhold.grants WHERE id = $1) AND ((length "
                                    "($1) >= 6 AND left (id, length ($1)) = $1) OR lower "
                                    "(display_name) = lower ($1)) LIMIT 2",
                              &p, error);
  grants = result ? grants_from_result (result, error) : NULL;
  if (grants == NULL)
    return NULL;
  if (grants->len == 0)
    {
      kh_team_set_grant_not_found (self, id_or_name, error);
      return NULL;
    }
  if (grants->len > 1)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_AMBIGUOUS,
                   _("“%s” names several shared grants: use the grant id"), id_or_name);
      return NULL;
    }
  return g_object_ref (g_ptr_array_index (grants, 0));
}

/* Unseals a row of GRANT_COLUMNS. */
gboolean
kh_team_unseal_row (KhTeam      *self,
                    PGresult    *result,
                    const char  *grant_id,
                    KhGrant    **grant_out,
                    KhTokenSet **tokens_out,
                    GError     **error)
{
  g_autoptr(GBytes) sealed = kh_team_result_bytea (result, 0, 1);
  g_autoptr(GBytes) nonce = kh_team_result_bytea (result, 0, 2);
  guint32 key_id = (guint32) strtoul (PQgetvalue (result, 0, 3), NULL, 10);
  kh_autowipe char *plain = NULL;
  g_autoptr(KhGrant) grant = NULL;

  /* Sealed under a newer key than ours: an admin rotated it since this connection checked. */
  if (key_id > self->key_id && !kh_team_recheck_locked (self, error))
    return FALSE;
  if (sealed == NULL || nonce == NULL || key_id != self->key_id)
    plain = NULL;
  else
    plain = kh_team_unseal (self->key, key_id, "grants", grant_id, nonce, sealed, NULL);
  if (plain == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                   _("The tokens of shared grant %s do not open with the team key: share the "
                     "grant again from a computer that has them"), grant_id);
      return FALSE;
    }
  grant = grant_from_text (PQgetvalue (result, 0, 0), error);
  if (grant == NULL)
    return FALSE;
  *tokens_out = kh_team_tokens_from_text (plain, error);
  if (*tokens_out == NULL)
    return FALSE;
  kh_team_cache_write (self, grant_id, PQgetvalue (result, 0, 0), sealed, nonce, key_id);
  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&grant);
  return TRUE;
}

KhTokenSet *
kh_team_load_tokens (KhTeam      *self,
                     const char  *grant_id,
                     KhGrant    **grant_out,
                     gboolean    *cached_out,
                     GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GError) local_error = NULL;
  KhTokenSet *tokens = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (cached_out != NULL)
    *cached_out = FALSE;
  if (kh_team_begin_locked (self, &local_error))
    {
      kh_team_param_text (&p, grant_id);
      result = kh_team_exec_locked (self, "SELECT " GRANT_COLUMNS " FROM keyhold.grants "
                                          "WHERE id = $1", &p, &local_error);
      if (result != NULL && PQntuples (result) == 0)
        kh_team_set_grant_not_found (self, grant_id, &local_error);
      else if (result != NULL)
        kh_team_unseal_row (self, result, grant_id, grant_out, &tokens, &local_error);
      kh_team_end_locked (self);
    }
  if (tokens != NULL)
    return tokens;

  /* Only an unreachable database falls back to the last row seen: a refusal (access removed,
   * grant gone, wrong key) is an answer, and stands. */
  if (g_error_matches (local_error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE) &&
      kh_team_cache_read (self, grant_id, grant_out, &tokens))
    {
      g_free (self->last_error_message);
      self->last_error_message = g_strdup (local_error->message);
      if (cached_out != NULL)
        *cached_out = TRUE;
      return tokens;
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

gboolean
kh_team_remove_grant (KhTeam      *self,
                      const char  *grant_id,
                      GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (grant_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  kh_team_param_text (&p, grant_id);
  result = kh_team_run_query (self, "DELETE FROM keyhold.grants WHERE id = $1", &p, error);
  if (result == NULL)
    return FALSE;
  if (g_str_equal (PQcmdTuples (result), "0"))
    {
      kh_team_set_grant_not_found (self, grant_id, error);
      return FALSE;
    }
  kh_team_cache_remove (self, grant_id);
  return TRUE;
}

const char *
kh_team_grant_type_id (KhGrant *grant)
{
  return kh_provider_get (kh_grant_get_account_type (grant))->id;
}
