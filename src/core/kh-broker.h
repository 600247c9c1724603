/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker.h: the one way to obtain a usable access token, and the lifecycle of grants.
 * A refresh is single-flight per grant inside a process (concurrent callers share one refresh)
 * and across processes (an exclusive flock on <runtime>/keyhold/<store>/<grant>.lock). Under
 * the lock the tokens are re-read from the keyring, refreshed only if still needed, and the new
 * tokens are stored before the lock is released, so every process adopts what another stored.
 * Just before the refresh call a durable intent is written (kh-refresh-journal.h) and it is
 * removed once the outcome is stored, so a refresh killed in between is recoverable.
 * Terminal TikTok errors mark the grant needs-reauth with a reason; transient ones back off. */
#pragma once

#include <gio/gio.h>

#include "kh-app-profile.h"
#include "kh-grant.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-token-client.h"

G_BEGIN_DECLS

/* The default margin: an access token valid for less than this is refreshed first. */
#define KH_BROKER_DEFAULT_MIN_VALID 600
/* Seller Center warns this long before an authorization ends; so does Keyhold. */
#define KH_EXPIRING_WINDOW (30 * 24 * 3600)

#define KH_TYPE_BROKER (kh_broker_get_type ())
G_DECLARE_FINAL_TYPE (KhBroker, kh_broker, KH, BROKER, GObject)

/* Signal "answered" (const char *grant_id), on the main context: TikTok answered a refresh of
 * that grant and its new tokens are now being stored (the refresh completes once they are). A
 * batch of refreshes may start its next call to TikTok then, so that the keyring writes of one
 * refresh overlap the network wait of the next and concurrent writes share one keyring write. */

/* client NULL: a default KhTokenClient is created when the first call to TikTok needs one. */
KhBroker      *kh_broker_new                 (KhStore        *store,
                                              KhTokenClient  *client);
KhStore       *kh_broker_get_store           (KhBroker       *self);

/* Shared grants (kh-shared.h): grants the store does not have are looked for in team (NULL:
 * not in a team, the behaviour without teams). key_file is what team was opened with (NULL:
 * the keyring or $KEYHOLD_TEAM_KEY_FILE); refreshes that run at once open more connections
 * with it. A shared grant refreshes inside kh_team_refresh_locked: the row lock is the one
 * writer across processes and machines, and the in-process single flight still holds. Its
 * revoke, removal and account updates write audit records. */
void           kh_broker_set_team            (KhBroker       *self,
                                              KhTeam         *team,
                                              const char     *key_file);
KhTeam        *kh_broker_get_team            (KhBroker       *self);

/* The directory of the grant lock files: $KEYHOLD_RUNTIME_DIR or the user runtime dir, then
 * keyhold/<store name>. */
char          *kh_broker_dup_lock_dir        (KhBroker       *self);

/* A token set whose access token stays valid for at least min_valid_seconds (or never
 * expires). Fast path: one keyring lookup. Otherwise the grant is refreshed under its lock.
 * When a refresh fails transiently but the stored access token is still valid, that token is
 * returned. KH_ERROR_NEEDS_REAUTH for a grant marked needs-reauth or revoked. */
void           kh_broker_get_token_async     (KhBroker            *self,
                                              const char          *grant_id,
                                              gint64               min_valid_seconds,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
KhTokenSet    *kh_broker_get_token_finish    (KhBroker       *self,
                                              GAsyncResult   *result,
                                              GError        **error);
/* The same, and for a shared grant *shared_out (optional) set to it (else NULL), and
 * *offline_note_out (optional) set to why when its token came from this machine's cache because
 * the team database is unreachable (never refreshed then; a token too old for
 * min_valid_seconds is KH_ERROR_TEAM_UNREACHABLE instead). */
KhTokenSet    *kh_broker_get_token_finish_full (KhBroker     *self,
                                                GAsyncResult *result,
                                                KhGrant     **shared_out,
                                                char        **offline_note_out,
                                                GError      **error);

/* The one-lookup path for `keyhold-cli token`: reads the grant's keyring item directly (store_name
 * NULL: $KEYHOLD_STORE or "default") and returns its tokens when grant_id is a full grant id,
 * the grant is not marked needs-reauth or revoked, and the access token stays valid for
 * min_valid_seconds. NULL in every other case (no error): then use kh_broker_get_token_async.
 * Blocking (one D-Bus call). */
KhTokenSet    *kh_broker_peek_token          (const char     *store_name,
                                              const char     *grant_id,
                                              gint64          min_valid_seconds);
/* The same, also giving the grant as its keyring item describes it (for the caller's history
 * record: no second lookup). */
KhTokenSet    *kh_broker_peek_token_full     (const char     *store_name,
                                              const char     *grant_id,
                                              gint64          min_valid_seconds,
                                              KhGrant       **grant_out);

/* Refreshes the grant. force FALSE: only when the access token is valid for less than the
 * default margin. force TRUE: always, unless another process refreshed it while this one was
 * waiting for the lock (its tokens are adopted then). Errors as TikTok and the network give
 * them (a terminal one also marks the grant needs-reauth). */
void           kh_broker_refresh_async       (KhBroker            *self,
                                              const char          *grant_id,
                                              gboolean             force,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
/* The same for a grant as a listing showed it (finish with kh_broker_refresh_finish): a forced
 * refresh adopts a refresh another process completed since that listing instead of repeating
 * it, so two `refresh --all` at once call TikTok once per grant. */
void           kh_broker_refresh_listed_async (KhBroker           *self,
                                               KhGrant            *listed,
                                               gboolean            force,
                                               GCancellable       *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer            user_data);
KhTokenSet    *kh_broker_refresh_finish      (KhBroker       *self,
                                              GAsyncResult   *result,
                                              GError        **error);

/* What recovery did for one grant. error NULL: the interrupted refresh was completed and its
 * tokens stored. A terminal error (kh_error_classify): the grant is now marked needs-reauth
 * with a reason saying what happened (kh_grant_get_status_reason). Any other: nothing changed
 * and the intent stays for the next start. */
typedef struct {
  char   *grant_id;
  GError *error;
} KhRecovery;

void           kh_recovery_free              (KhRecovery     *recovery);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhRecovery, kh_recovery_free)

/* Settles the refreshes a killed process left unfinished (kh-refresh-journal.h): every intent
 * whose grant's lock is free is retried with the stored refresh token, which TikTok answers
 * with the current pair inside its rotation grace. Intents of live refreshes are left alone;
 * those of removed or already-marked grants are dropped. Returns a GPtrArray of KhRecovery,
 * one per grant retried (empty when nothing was interrupted). Anything that opens the store
 * for refreshing calls this first (keyhold-cli refresh and recover, the app at start). */
void           kh_broker_recover_async       (KhBroker            *self,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
GPtrArray     *kh_broker_recover_finish      (KhBroker       *self,
                                              GAsyncResult   *result,
                                              GError        **error);

/* Revokes the grant at TikTok where an API exists (advertiser-style tokens: revoke_token;
 * tt_user tokens: tt_user revoke), then removes it locally. Shop types have no API: *manual_out
 * is set TRUE, nothing is sent, and the grant is removed locally (the caller shows
 * kh_provider_get (type)->manual_revoke). A grant whose tokens TikTok already rejects as
 * revoked is removed too. */
void           kh_broker_revoke_async        (KhBroker            *self,
                                              const char          *grant_id,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
gboolean       kh_broker_revoke_finish       (KhBroker       *self,
                                              GAsyncResult   *result,
                                              gboolean       *manual_out,
                                              GError        **error);

/* Advertiser drift (and the seller's shop list): re-runs advertiser/get or Get Authorized
 * Shops, stores the new list in the index and returns what changed as lines "+ID\tNAME" and
 * "-ID\tNAME" (a NULL-terminated array, empty when nothing changed). Other types:
 * KH_ERROR_INVALID_INPUT. */
void           kh_broker_update_accounts_async  (KhBroker            *self,
                                                 const char          *grant_id,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
char         **kh_broker_update_accounts_finish (KhBroker       *self,
                                                 GAsyncResult   *result,
                                                 GError        **error);

/* ---- lifecycle (pure) --------------------------------------------------------------------- */

/* TRUE when tokens must be refreshed to stay valid for min_valid_seconds at now. */
gboolean       kh_token_set_needs_refresh    (const KhTokenSet *tokens,
                                              gint64            min_valid_seconds,
                                              gint64            now);

/* The status of grant at now with why (translated, one sentence) and the deadline that matters
 * (Unix seconds, 0 when none): the end of the authorization for an expiring grant. */
KhGrantStatus  kh_grant_explain_status       (KhGrant       *grant,
                                              gint64         now,
                                              char         **reason_out,
                                              gint64        *deadline_out);

/* The text to send a client so that the shop owner renews: the authorization link (auth_url,
 * or the app's copied link when NULL), where the owner renews in Seller Center / Partner
 * Center, and the deadline. Only the shop owner can renew. */
char          *kh_grant_renewal_pack         (KhGrant       *grant,
                                              KhAppProfile  *app,
                                              const char    *auth_url,
                                              gint64         now);

G_END_DECLS
