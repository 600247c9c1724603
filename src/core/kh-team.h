/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team.h: a team store in PostgreSQL (issue #10). Grants a team shares live in the
 * `keyhold` schema of one database; every staff member connects as their own PostgreSQL role
 * and row-level security decides what that role sees. Secrets (access and refresh tokens, app
 * secrets) are sealed on the client with the team key (XChaCha20-Poly1305, a fresh nonce per
 * record, associated data = table + row id + key id) before they reach the database.
 *
 * Local state, per KhStore:
 *   <data dir>/<store>/team.json       non-secret: conninfo without password, team id, role,
 *                                      key id, where the key is (keyring or file). Absent = not
 *                                      in a team, and everything behaves as without teams.
 *   <data dir>/<store>/team-cache/     the last sealed row seen of each grant read (0600 files
 *                                      in a 0700 dir, the database's own ciphertext), for
 *                                      `token` while the database is unreachable.
 *   keyring, kind "team-key", id = team id: the team key and this member's key pair.
 *   keyring, kind "team-password", id = team id: the database password, when one was given.
 * On a headless server the team key is a 0600 file (--key-file / KEYHOLD_TEAM_KEY_FILE) that
 * holds a join code; then nothing is read from or written to the keyring, and the password
 * comes from libpq's passfile (PGPASSFILE or ~/.pgpass).
 *
 * Every function blocks on the network (libpq): call them from a worker thread (GTask) or from
 * the CLI, never from the main loop. A KhTeam holds one connection, used by one call at a time
 * (an internal mutex serialises callers); threads that must run in parallel (several refreshes
 * at once) each open their own KhTeam. The connection is made on first use and made again after
 * it was lost, so a KhTeam outlives database restarts.
 *
 * Errors are KH_ERROR codes, each a one-line translated message that carries the fix:
 *   KH_ERROR_TEAM_URL          bad conninfo, unknown host, no such database, another team's
 *                              database, or a conninfo that carries a password (refused)
 *   KH_ERROR_TEAM_AUTH         password authentication failed / no password
 *   KH_ERROR_TEAM_UNREACHABLE  server down, connection refused or lost (transient: exit 4)
 *   KH_ERROR_TEAM_SCHEMA       no Keyhold schema, or one from a newer Keyhold (upgrade)
 *   KH_ERROR_TEAM_KEY          wrong team key (AEAD open fails, key id check), bad join code,
 *                              key file not 0600
 *   KH_ERROR_TEAM_ACCESS       the role may not see or change this (RLS, privileges)
 * A failed call changes nothing stored: every write is one transaction.
 *
 * Access model (what RLS enforces, see kh-team-schema.c): two group roles per team,
 * keyhold_admin_<team> and keyhold_member_<team> (admins are members too). A member sees the
 * grants whose client label an admin granted to that role (table keyhold.access), and nothing
 * else; grants without a client label are admin-only. The audit table is append-only for
 * everyone but the schema owner (the creating admin's role); its actor column defaults to
 * current_user and its time to now(), and a policy refuses rows naming another actor.
 *
 * Notes for the callers (CLI, broker, app):
 * - Moving a grant keeps it in one place at least: `share` = kh_team_put_grant, then
 *   kh_store_remove_grant; `unshare` = kh_store_save_grant, then kh_team_remove_grant.
 * - A wrong port and a stopped server look the same to libpq (connection refused): both are
 *   KH_ERROR_TEAM_UNREACHABLE, whose message names the host and port to check.
 * - kh_environment_forget_all clears every keyring item of the store, the team key included;
 *   call kh_team_leave there too, or the next kh_team_open says the key is missing.
 * - Every kh_team_audit is one INSERT (a round trip): `token` writing "token-read" pays it.
 * - LISTEN is not subject to RLS: a watcher hears the ids (random hex, nothing else) of every
 *   grant that changes, also of clients it cannot see; it then reads through RLS as usual.
 * - The KhGrant objects carry no "shared" flag: where a grant came from (kh_team_* or
 *   kh_store_*) is what makes it shared. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "kh-app-profile.h"
#include "kh-grant.h"
#include "kh-store.h"

G_BEGIN_DECLS

/* The schema version this build writes; a database with a newer one is refused. */
#define KH_TEAM_SCHEMA_VERSION 1
/* Keyring kinds of the store's item schema (kh_store_get_item_schema) that a team uses. */
#define KH_TEAM_KEY_KIND "team-key"
#define KH_TEAM_PASSWORD_KIND "team-password"
/* Where a headless server finds its key file when no --key-file is given. */
#define KH_TEAM_KEY_FILE_ENV "KEYHOLD_TEAM_KEY_FILE"

#define KH_TYPE_TEAM (kh_team_get_type ())
G_DECLARE_FINAL_TYPE (KhTeam, kh_team, KH, TEAM, GObject)

/* ---- configuration ------------------------------------------------------------------------- */

/* Checks a conninfo (URL "postgres://..." or "key=value ..."): it must parse, and must not carry
 * a password (KH_ERROR_TEAM_URL: "remove the password from the URL; Keyhold reads it from
 * stdin or ~/.pgpass"). */
gboolean       kh_team_check_conninfo     (const char    *conninfo,
                                           GError       **error);

/* The path of team.json for store (whether it exists or not). */
char          *kh_team_dup_config_path    (KhStore       *store);

/* ---- lifecycle ----------------------------------------------------------------------------- */

/* Opens the team store's team.json was written for. NULL without an error: not in a team.
 * key_file NULL: $KEYHOLD_TEAM_KEY_FILE, else the keyring (or, if team.json says the key is in
 * a file, KH_ERROR_TEAM_KEY naming the option). A key file must be a regular file of mode 0600
 * (or 0400) owned by the user, else KH_ERROR_TEAM_KEY with the chmod fix. Does not connect:
 * kh_team_load_tokens answers from the local cache while the database is unreachable. */
KhTeam        *kh_team_open               (KhStore       *store,
                                           const char    *key_file,
                                           GError       **error);

/* A headless server (no Secret Service, no KhStore needed): the team of the store named
 * store_name under data_dir (both NULL: as kh_store_new, $KEYHOLD_DATA_DIR / $KEYHOLD_STORE),
 * with the key from key_file (NULL: $KEYHOLD_TEAM_KEY_FILE; neither: KH_ERROR_TEAM_KEY naming
 * --key-file). Neither the keyring nor the store's index is touched, and the database password
 * comes from libpq's passfile. NULL without an error: not in a team. */
KhTeam        *kh_team_open_headless      (const char    *data_dir,
                                           const char    *store_name,
                                           const char    *key_file,
                                           GError       **error);

/* The first admin: connects as the conninfo's role (password NULL: libpq's passfile), creates
 * the schema in one transaction (the role needs CREATE on the database and CREATEROLE), a new
 * random team key and this member's key pair, stores the key (and the password, when given) in
 * the keyring and writes team.json. *join_code_out: "khjoin1:..." (the team key: a secret, show
 * it once, never log it). KH_ERROR_EXISTS when the database already has a Keyhold schema or
 * the store is already in a team. */
KhTeam        *kh_team_create             (KhStore       *store,
                                           const char    *conninfo,
                                           const char    *password,
                                           char         **join_code_out,
                                           GError       **error);

/* Another member: a LOGIN role an admin made a member first (`team grant ROLE`, with or
 * without clients: kh_team_grant_access), else KH_ERROR_TEAM_ACCESS naming that command.
 * Exactly one of join_code (from stdin) and key_file (a headless server: the key stays in that
 * file, nothing goes to the keyring) is given. The key is checked against the database's key
 * check before anything is written locally (wrong key: KH_ERROR_TEAM_KEY). A keyring member
 * registers a public key so that later key rotations reach it without a new join code. */
KhTeam        *kh_team_join               (KhStore       *store,
                                           const char    *conninfo,
                                           const char    *password,
                                           const char    *join_code,
                                           const char    *key_file,
                                           GError       **error);

/* kh_team_join with a key file for a headless server, without a KhStore (see
 * kh_team_open_headless). The password comes from libpq's passfile (PGPASSFILE, ~/.pgpass, or a
 * passfile= in the conninfo). */
KhTeam        *kh_team_join_headless      (const char    *data_dir,
                                           const char    *store_name,
                                           const char    *conninfo,
                                           const char    *key_file,
                                           GError       **error);

/* Forgets the local configuration, key, password and cache. Shared grants stay in the database
 * and the role keeps its access until an admin revokes it. */
gboolean       kh_team_leave              (KhTeam        *self,
                                           GError       **error);

/* {"team_id", "host", "port", "database", "role", "admin": bool, "schema_version",
 *  "key_id", "key_source": "keyring"|"file", "grants": number visible to this role,
 *  "members": [{"role", "admin", "clients": [..]}] (admins only; others: only themselves)}.
 * Connects; never contains the password or the key. */
JsonObject    *kh_team_describe           (KhTeam        *self,
                                           GError       **error);

const char    *kh_team_get_id             (KhTeam        *self);
const char    *kh_team_get_role           (KhTeam        *self);
/* The conninfo of team.json (never with a password). */
const char    *kh_team_get_conninfo       (KhTeam        *self);
gboolean       kh_team_uses_key_file      (KhTeam        *self);

/* ---- access (admins) ----------------------------------------------------------------------- */

/* Makes the existing LOGIN role a member and grants it these client labels (added to what it
 * had). Writes an access-changed audit row. Non-admins: KH_ERROR_TEAM_ACCESS. */
gboolean       kh_team_grant_access       (KhTeam        *self,
                                           const char    *role,
                                           const char * const *clients,
                                           GError       **error);
/* Takes client labels away (NULL: all); the role stays a member. */
gboolean       kh_team_revoke_access      (KhTeam        *self,
                                           const char    *role,
                                           const char * const *clients,
                                           GError       **error);
/* Removes a member: drops its access and membership, its public key, and rotates the team key
 * (kh_team_rotate_key) in the same command. */
gboolean       kh_team_revoke_member      (KhTeam        *self,
                                           const char    *role,
                                           char         **join_code_out,
                                           GError       **error);
/* A new random team key: every sealed row (grants, apps) is re-sealed under it in one
 * transaction, and the key is sealed (crypto_box_seal) to every registered member's public key,
 * so keyring members pick it up at their next kh_team_open. Key-file servers need the new join
 * code (*join_code_out, optional) in their key file. Admins only. */
gboolean       kh_team_rotate_key         (KhTeam        *self,
                                           char         **join_code_out,
                                           GError       **error);

/* ---- grants -------------------------------------------------------------------------------- */

/* The grants this role may see (RLS), as KhGrant (no secret), sorted by display name. */
GPtrArray     *kh_team_list_grants        (KhTeam        *self,
                                           GError       **error);
/* By id, id prefix (>= 6 chars) or display name (case-insensitive): KH_ERROR_NOT_FOUND (also
 * for a grant RLS hides) / KH_ERROR_AMBIGUOUS, as kh_store_find_grant. */
KhGrant       *kh_team_find_grant         (KhTeam        *self,
                                           const char    *id_or_name,
                                           GError       **error);
/* Inserts or replaces the grant with its tokens, sealed; copies the tokens' expiries into
 * grant (kh_grant_set_expiries_from_tokens). NOTIFY fires on commit. A client label the role
 * has no access to: KH_ERROR_TEAM_ACCESS. */
gboolean       kh_team_put_grant          (KhTeam        *self,
                                           KhGrant       *grant,
                                           const KhTokenSet *tokens,
                                           GError       **error);
/* Non-secret columns only (labels, status, shops); the sealed tokens stay. */
gboolean       kh_team_update_grant       (KhTeam        *self,
                                           KhGrant       *grant,
                                           GError       **error);
/* The grant's tokens (and, if grant_out, the grant). While the database is unreachable the
 * last row this machine saw is answered from the local cache and *cached_out (optional) is set
 * TRUE: the caller must then never refresh, should say so on stderr, and should refuse tokens
 * that are no longer valid (kh_token_set_needs_refresh) with the original error, which
 * kh_team_get_last_error_message describes. Without a cached row: KH_ERROR_TEAM_UNREACHABLE. */
KhTokenSet    *kh_team_load_tokens        (KhTeam        *self,
                                           const char    *grant_id,
                                           KhGrant      **grant_out,
                                           gboolean      *cached_out,
                                           GError       **error);
/* Why the last kh_team_load_tokens answered from the cache (the unreachable error's message), or
 * NULL. */
const char    *kh_team_get_last_error_message (KhTeam    *self);
/* Deletes the grant's row (and its cache file). KH_ERROR_NOT_FOUND when RLS hides it or it is
 * gone. */
gboolean       kh_team_remove_grant       (KhTeam        *self,
                                           const char    *grant_id,
                                           GError       **error);

/* One refresh writer across machines. In one transaction: SELECT ... FOR UPDATE of the grant's
 * row (other callers, on any machine, wait here), unseal, func (grant as stored, its current
 * tokens): func decides and calls TikTok, returning either the current tokens unchanged (a copy
 * with equal strings: someone else refreshed, nothing is written) or new ones; then UPDATE the
 * sealed tokens, expiries and version, INSERT a "refreshed" audit row, COMMIT. func runs with
 * the row locked and must not use this KhTeam. Any error (func's included, returned as func
 * gave it) rolls back, leaving the stored tokens as they were; a connection lost midway is
 * KH_ERROR_TEAM_UNREACHABLE and also leaves the old tokens, which the next caller refreshes
 * again (TikTok's rotation grace answers a retried refresh with the current pair). A process
 * killed inside func: its connection drops, PostgreSQL rolls back and releases the lock.
 * A terminal TikTok error: func returns it; the caller then marks the grant
 * (kh_grant_set_stored_status + kh_team_update_grant) and audits "refresh-failed", outside the
 * rolled-back transaction. */
typedef KhTokenSet *(*KhTeamRefreshFunc) (KhGrant          *grant,
                                          const KhTokenSet *current,
                                          gpointer          user_data,
                                          GError          **error);
KhTokenSet    *kh_team_refresh_locked     (KhTeam        *self,
                                           const char    *grant_id,
                                           KhTeamRefreshFunc func,
                                           gpointer       user_data,
                                           GError       **error);

/* ---- audit --------------------------------------------------------------------------------- */

/* Appends one record in the HISTORY-FORMAT form (kh_history_entry_to_json_node's object):
 * "action" (required), "grant", "type", "client", "machine" and "detail" are taken from it;
 * "actor" and "at" are set by the database (current_user, now()). */
gboolean       kh_team_audit              (KhTeam        *self,
                                           JsonObject    *record,
                                           GError       **error);
/* The audit rows this role may see, oldest first, as JsonNode objects in the HISTORY-FORMAT
 * ({"v":1,"at","action","grant","type","client","actor","machine","detail"}), ready for
 * kh_history_entry_from_json_node. grant_id / client NULL: all; since 0: from the start. */
GPtrArray     *kh_team_read_audit         (KhTeam        *self,
                                           const char    *grant_id,
                                           const char    *client,
                                           gint64         since,
                                           GError       **error);

/* ---- apps ---------------------------------------------------------------------------------- */

/* Inserts or replaces a shared app profile with its secret sealed. Every member may read apps
 * (a grant's refresh needs its app's secret); only admins write them. */
gboolean       kh_team_put_app            (KhTeam        *self,
                                           KhAppProfile  *app,
                                           const char    *secret,
                                           GError       **error);
/* NULL with KH_ERROR_NOT_FOUND when the team has no such app. secret_out optional. */
KhAppProfile  *kh_team_get_app            (KhTeam        *self,
                                           const char    *name,
                                           char         **secret_out,
                                           GError       **error);
GPtrArray     *kh_team_list_apps          (KhTeam        *self,
                                           GError       **error);

/* ---- live updates -------------------------------------------------------------------------- */

/* grant_id NULL: the watch lost its connection and ended; re-read everything, and watch again
 * later. */
typedef void (*KhTeamChangedFunc) (const char *grant_id,
                                   gpointer    user_data);
/* Opens a second connection that LISTENs for grant changes (a trigger NOTIFYs the grant id on
 * every insert, update and delete of a row) and watches its socket with a GSource in context
 * (NULL: the default context): changed runs there for every change committed by anyone, within
 * milliseconds, without polling. Connecting blocks (up to the connect timeout). Returns the
 * source id (> 0), or 0 with an error. */
guint          kh_team_watch              (KhTeam        *self,
                                           GMainContext  *context,
                                           KhTeamChangedFunc changed,
                                           gpointer       user_data,
                                           GDestroyNotify notify,
                                           GError       **error);
/* Ends a watch (closing its connection); unknown ids are ignored. Call kh_team_watch and
 * kh_team_unwatch from the thread that runs context; disposing the KhTeam ends its watches. */
void           kh_team_unwatch            (KhTeam        *self,
                                           guint          watch_id);

G_END_DECLS
