/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store.h: where Keyhold keeps things. Secrets (tokens, app secrets, pending states) live only
 * in the keyring through libsecret (versioned schema "io.github.keyhold.Keyhold.Item", attributes
 * gen, store, kind, id, type, app; never a secret in an attribute): grants' tokens in 32 bucket
 * items shared by the grants whose ids hash to them, app secrets and pending states in an item
 * each. A non-secret index
 * ($XDG_DATA_HOME/keyhold/<store>/index.json, or KEYHOLD_DATA_DIR) lists grants, apps and
 * pending requests so that listing never touches the keyring; it is written atomically
 * (temp file + rename) under an flock, re-read before every change, and rebuildable from the
 * keyring. There is no plaintext fallback: without a Secret Service, KH_ERROR_NO_KEYRING.
 *
 * All functions may block on D-Bus or disk: call them from a worker thread (GTask) or from the
 * CLI. The _async variants run the same code in a GTask thread. */
#pragma once

#include <gio/gio.h>
#include <libsecret/secret.h>

#include "kh-app-profile.h"
#include "kh-auth-request.h"
#include "kh-grant.h"

G_BEGIN_DECLS

#define KH_TYPE_STORE (kh_store_get_type ())
G_DECLARE_FINAL_TYPE (KhStore, kh_store, KH, STORE, GObject)

/* data_dir NULL: $KEYHOLD_DATA_DIR or $XDG_DATA_HOME/keyhold. store_name NULL: $KEYHOLD_STORE or
 * "default"; it is also the keyring "store" attribute, which keeps test runs apart. Loads the
 * index (recovering from a corrupt one by rebuilding from the keyring). */
KhStore       *kh_store_new                  (const char    *data_dir,
                                              const char    *store_name,
                                              GError       **error);
/* The folder a store of that name keeps its index in (and its neighbours: team.json, see
 * kh-team.h, the history file), computed as kh_store_new does but without opening the store: no
 * index read, no keyring touched. NULL for a bad store name. */
char          *kh_store_dup_dir              (const char    *data_dir,
                                              const char    *store_name,
                                              GError       **error);
/* For a headless team member (a team key file, no Secret Service, e.g. a systemd service): as
 * kh_store_new, but a missing index with no keyring reachable starts empty, writing nothing.
 * Every operation on a secret still fails with KH_ERROR_NO_KEYRING: only the team is usable. */
KhStore       *kh_store_new_headless         (const char    *data_dir,
                                              const char    *store_name,
                                              GError       **error);
const char    *kh_store_get_index_path       (KhStore       *self);
/* The store name: the index folder's name and the keyring "store" attribute. */
const char    *kh_store_get_name             (KhStore       *self);
/* The libsecret schema of every item a store writes (any store, any kind). Clearing or
 * searching by its "store" attribute alone reaches items of every kind and generation. */
const SecretSchema *kh_store_get_item_schema   (void);
/* Secrets that are not index entries (the team key, a team's database password): one keyring
 * item of the item schema per (kind, id) in this store, whose secret is the given text. kind
 * must not be one of the index's kinds ("grant", "app", "pending"); index rebuilds ignore these
 * items, and kh_environment_forget_all removes them with everything else. label is what
 * Passwords and Keys shows. */
gboolean       kh_store_save_secret          (KhStore       *self,
                                              const char    *kind,
                                              const char    *id,
                                              const char    *label,
                                              const char    *secret,
                                              GError       **error);
/* The secret (wipe it with secret_password_wipe, then g_free it), or NULL: without an error when
 * there is no such item, with one when the keyring fails or stays locked. */
char          *kh_store_load_secret          (KhStore       *self,
                                              const char    *kind,
                                              const char    *id,
                                              GError       **error);
/* Removing an absent item is not an error. */
gboolean       kh_store_remove_secret        (KhStore       *self,
                                              const char    *kind,
                                              const char    *id,
                                              GError       **error);
/* Deletes every keyring item of this store, of any kind and generation (Forget All's last step,
 * after the removals that keep the index in step). */
gboolean       kh_store_clear_keyring        (KhStore       *self,
                                              GError       **error);
/* Re-reads the index from disk if another process changed it. */
gboolean       kh_store_reload               (KhStore       *self,
                                              GError       **error);
/* Rebuilds the index from the keyring (missing entries restored from the secrets). */
gboolean       kh_store_rebuild_index        (KhStore       *self,
                                              GError       **error);

/* ---- app profiles ---- */
/* secret NULL keeps the stored one (editing); a new profile needs a secret. KH_ERROR_EXISTS when
 * creating over an existing name with replace FALSE. */
gboolean       kh_store_save_app             (KhStore       *self,
                                              KhAppProfile  *app,
                                              const char    *secret,
                                              gboolean       replace,
                                              GError       **error);
KhAppProfile  *kh_store_get_app              (KhStore       *self,
                                              const char    *name);       /* NULL if none */
KhAppProfile  *kh_store_find_app_by_key      (KhStore       *self,
                                              const char    *app_key);
GPtrArray     *kh_store_list_apps            (KhStore       *self);       /* KhAppProfile, sorted by name */
char          *kh_store_load_app_secret      (KhStore       *self,
                                              const char    *name,
                                              GError       **error);
gboolean       kh_store_remove_app           (KhStore       *self,
                                              const char    *name,
                                              GError       **error);

/* ---- pending requests ---- */
gboolean       kh_store_save_pending         (KhStore       *self,
                                              KhAuthRequest *request,
                                              GError       **error);
GPtrArray     *kh_store_list_pending         (KhStore       *self);       /* KhAuthRequest (no secret needed) */
/* Finds the pending request whose state equals state (constant-time, every candidate compared).
 * KH_ERROR_STATE_MISMATCH when none. Expired ones are still returned: the caller reports it. */
KhAuthRequest *kh_store_find_pending_by_state (KhStore      *self,
                                               const char   *state,
                                               GError      **error);
gboolean       kh_store_remove_pending       (KhStore       *self,
                                              const char    *request_id,
                                              GError       **error);

/* ---- grants ---- */
/* Writes the tokens to the keyring first, then the index entry. Also copies the tokens' expiry
 * times into grant (kh_grant_set_expiries_from_tokens), which the index mirrors. */
gboolean       kh_store_save_grant           (KhStore       *self,
                                              KhGrant       *grant,
                                              const KhTokenSet *tokens,
                                              GError       **error);
/* Updates only the index entry (labels, status, shops). */
gboolean       kh_store_update_grant         (KhStore       *self,
                                              KhGrant       *grant,
                                              GError       **error);
GPtrArray     *kh_store_list_grants          (KhStore       *self);       /* KhGrant, from the index */
/* By id, id prefix (>= 6 chars) or exact display name; KH_ERROR_AMBIGUOUS / KH_ERROR_NOT_FOUND.
 * Names (display name or client label) match case-insensitively. */
KhGrant       *kh_store_find_grant           (KhStore       *self,
                                              const char    *id_or_name,
                                              GError       **error);
KhTokenSet    *kh_store_load_tokens          (KhStore       *self,
                                              const char    *grant_id,
                                              GError       **error);
/* Reads one grant's keyring item (its index copy and tokens) without opening a store, so no
 * index is read: the one-lookup path of `keyhold-cli token`. store_name NULL: as kh_store_new.
 * FALSE without error when the item does not exist; with an error when the keyring fails or the
 * item is damaged. Callers fall back to a KhStore for anything but the plain case. */
gboolean       kh_store_peek_grant           (const char    *store_name,
                                              const char    *grant_id,
                                              KhGrant      **grant_out,
                                              KhTokenSet   **tokens_out,
                                              GError       **error);
gboolean       kh_store_remove_grant         (KhStore       *self,
                                              const char    *grant_id,
                                              GError       **error);

/* Async wrappers (GTask thread). */
void           kh_store_save_grant_async     (KhStore            *self,
                                              KhGrant            *grant,
                                              const KhTokenSet   *tokens,
                                              GCancellable       *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
gboolean       kh_store_save_grant_finish    (KhStore       *self,
                                              GAsyncResult  *result,
                                              GError       **error);
void           kh_store_load_tokens_async    (KhStore            *self,
                                              const char         *grant_id,
                                              GCancellable       *cancellable,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
KhTokenSet    *kh_store_load_tokens_finish   (KhStore       *self,
                                              GAsyncResult  *result,
                                              GError       **error);
void           kh_store_load_app_secret_async  (KhStore            *self,
                                                const char         *name,
                                                GCancellable       *cancellable,
                                                GAsyncReadyCallback callback,
                                                gpointer            user_data);
char          *kh_store_load_app_secret_finish (KhStore       *self,
                                                GAsyncResult  *result,
                                                GError       **error);

G_END_DECLS
