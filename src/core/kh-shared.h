/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-shared.h: the grants a user reaches, local (this desktop's store) and shared (the team
 * store, kh-team.h), seen as one set by the CLI, the broker and the app. team NULL everywhere
 * means "not in a team": then every function behaves exactly as the KhStore one it wraps.
 *
 * A grant lives in one place. Moving it (share, unshare) first writes it to the new place,
 * reads it back and compares, and only then removes it from the old one, so a crash leaves it
 * in both places, never in neither. While it is in both, listing shows it once (the local copy:
 * it is the one the token fast path reads), and the next share or unshare of it completes the
 * move.
 *
 * Like KhStore and KhTeam, every function blocks (keyring, disk, database): call them from a
 * worker thread or the CLI. */
#pragma once

#include <json-glib/json-glib.h>

#include "kh-app-profile.h"
#include "kh-grant.h"
#include "kh-store.h"
#include "kh-team.h"

G_BEGIN_DECLS

/* Local grants, then the team's (marked kh_grant_get_shared), each id once, sorted by display
 * name. A team that cannot be read fails the whole listing (KH_ERROR_TEAM_*): a partial list
 * would look like grants had gone. */
GPtrArray     *kh_shared_list_grants      (KhStore       *store,
                                           KhTeam        *team,
                                           GError       **error);
/* As kh_store_find_grant, then the team's grants (marked shared) when the store has no match:
 * naming a local grant never waits for the database, and works while it is down. */
KhGrant       *kh_shared_find_grant       (KhStore       *store,
                                           KhTeam        *team,
                                           const char    *id_or_name,
                                           GError       **error);
/* Removes a local or shared grant (and writes a "removed" audit record for a shared one). */
gboolean       kh_shared_remove_grant     (KhStore       *store,
                                           KhTeam        *team,
                                           KhGrant       *grant,
                                           GError       **error);
/* An app profile and its secret: this desktop's, else the team's. KH_ERROR_NOT_FOUND when
 * neither has it. secret_out optional. */
KhAppProfile  *kh_shared_get_app          (KhStore       *store,
                                           KhTeam        *team,
                                           const char    *name,
                                           char         **secret_out,
                                           GError       **error);

/* Moves a local grant into the team (its app profile too, when the team lacks it): put,
 * verify, remove locally, audit "shared". A grant already only in the team: KH_ERROR_EXISTS. */
gboolean       kh_shared_share            (KhStore       *store,
                                           KhTeam        *team,
                                           const char    *id_or_name,
                                           KhGrant      **grant_out,
                                           GError       **error);
/* Moves a shared grant to this desktop (its app profile too, when the store lacks it): save,
 * verify, remove from the team, audit "unshared". A local-only grant: KH_ERROR_EXISTS. */
gboolean       kh_shared_unshare          (KhStore       *store,
                                           KhTeam        *team,
                                           const char    *id_or_name,
                                           KhGrant      **grant_out,
                                           GError       **error);

/* A record in the form of HISTORY-FORMAT.md (v, at, action, grant, type, client, actor,
 * machine, detail) for grant (may be NULL); detail (transfer full) may be NULL. The team sets
 * actor and at itself. */
JsonObject    *kh_shared_audit_record     (const char    *action,
                                           KhGrant       *grant,
                                           JsonObject    *detail);
/* Writes kh_shared_audit_record (action, grant, detail) to the team's audit table. */
gboolean       kh_shared_audit            (KhTeam        *team,
                                           const char    *action,
                                           KhGrant       *grant,
                                           JsonObject    *detail,
                                           GError       **error);

/* The audit record of an operation that already happened: a failure to write it is logged, not
 * returned (the operation is not undone for it). */
void           kh_shared_note             (KhTeam        *team,
                                           const char    *action,
                                           KhGrant       *grant,
                                           JsonObject    *detail);

G_END_DECLS
