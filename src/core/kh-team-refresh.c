/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-refresh.c: the refresh writer: a grant's tokens refreshed under its row lock
 * (SELECT ... FOR UPDATE), so one refresher on any machine talks to TikTok and the others adopt
 * what it wrote. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

static const char refresh_grant_sql[] =
  "UPDATE keyhold.grants g SET (" GRANT_INFO_TARGETS ", " GRANT_SECRET_TARGETS ", version, "
  "updated_at, updated_by) = (SELECT " GRANT_INFO_VALUES ", " GRANT_SECRET_VALUES ", "
  "g.version + 1, now (), current_user FROM (SELECT $2::jsonb AS j) s) WHERE g.id = $1";

KhTokenSet *
kh_team_refresh_locked (KhTeam            *self,
                        const char        *grant_id,
                        KhTeamRefreshFunc  func,
                        gpointer           user_data,
                        GError           **error)
{
  kh_autoresult PGresult *result = NULL;
  kh_autoresult PGresult *updated = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) current = NULL;
  g_autoptr(KhTokenSet) fresh = NULL;
  g_auto(SealedRow) row = { 0 };
  Params p = { 0 };
  Params q = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_team_begin_locked (self, error))
    return NULL;
  if (!kh_team_exec_simple_locked (self, "BEGIN", error))
    {
      kh_team_end_locked (self);
      return NULL;
    }
  kh_team_param_text (&p, grant_id);
  /* Every other refresher of this grant, on any machine, waits here until COMMIT. */
  result = kh_team_exec_locked (self, "SELECT " GRANT_COLUMNS " FROM keyhold.grants WHERE id = $1 "
                                      "FOR UPDATE", &p, error);
  if (result == NULL)
    {
      kh_team_end_locked (self);
      return NULL;
    }
  if (PQntuples (result) == 0)
    {
      kh_team_set_grant_not_found (self, grant_id, error);
      kh_team_end_locked (self);
      return NULL;
    }
  if (!kh_team_unseal_row (self, result, grant_id, &grant, &current, error))
    {
      kh_team_end_locked (self);
      return NULL;
    }

  fresh = func (grant, current, user_data, error);
  if (fresh == NULL)
    {
      kh_team_end_locked (self);
      return NULL;
    }
  if (kh_team_tokens_equal (fresh, current))
    {
      /* Someone refreshed before us: adopt, write nothing. */
      kh_team_end_locked (self);
      return g_steal_pointer (&fresh);
    }

  kh_team_sealed_row_init (self, &row, grant, fresh);
  kh_team_sealed_row_params (&row, &q);
  updated = kh_team_exec_locked (self, refresh_grant_sql, &q, error);
  if (updated == NULL ||
      !kh_team_insert_audit_locked (self, "refreshed", grant_id,
                                    kh_team_grant_type_id (grant),
                                    kh_grant_get_client_label (grant), NULL, error) ||
      !kh_team_exec_simple_locked (self, "COMMIT", error))
    {
      kh_team_end_locked (self);
      return NULL;
    }
  kh_team_cache_write (self, row.id, row.info, row.sealed, row.nonce, self->key_id);
  kh_team_end_locked (self);
  return g_steal_pointer (&fresh);
}
