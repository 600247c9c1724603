/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-application.h: the Keyhold application: owns the store, the token client, the models the
 * pages show, the optional in-process sandbox, background refresh and notifications, and the
 * GActions scripts and tests drive (`gapplication action io.github.keyhold.Keyhold authorize
 * "'seller'"`). */
#pragma once

#include <adwaita.h>

#include "kh-app-context.h"
#include "kh-broker.h"
#include "kh-grant-list.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-token-client.h"

G_BEGIN_DECLS

#define KH_TYPE_APPLICATION (kh_application_get_type ())
G_DECLARE_FINAL_TYPE (KhApplication, kh_application, KH, APPLICATION, AdwApplication)

KhApplication *kh_application_new                 (void);
/* NULL when the store could not be opened (no keyring); see kh_application_get_store_error. */
KhStore       *kh_application_get_store           (KhApplication *self);
const GError  *kh_application_get_store_error     (KhApplication *self);
KhTokenClient *kh_application_get_token_client    (KhApplication *self);
/* NULL when the store could not be opened. Every token refresh goes through it. */
KhBroker      *kh_application_get_broker          (KhApplication *self);
GSettings     *kh_application_get_settings        (KhApplication *self);
/* KhGrant items of every type, as the store's index lists them: the grant list, or an empty
 * model without a store. */
GListModel    *kh_application_get_grants          (KhApplication *self);
/* The one list of the store's grants (sorted by what needs attention, read in a worker thread,
 * following other processes); the pages show views of it. NULL without a store. */
KhGrantList   *kh_application_get_grant_list      (KhApplication *self);
/* The team this computer is in (kh-team.h), or NULL: opened in a worker thread at startup
 * (notify::team), or set when the user creates, joins or leaves one. Setting it points the
 * broker and the grant list at it. */
KhTeam        *kh_application_get_team            (KhApplication *self);
void           kh_application_set_team            (KhApplication *self,
                                                   KhTeam        *team);
/* KhAppProfile items, sorted by name. */
GListModel    *kh_application_get_apps            (KhApplication *self);
/* Re-reads the app profiles now and the grants in a worker thread (the grant list changes when
 * they arrive). */
void           kh_application_reload              (KhApplication *self);
/* Reads the grants for the first time, unless that has started already: the main window calls
 * it after its first frame (else the application does a second after startup). */
void           kh_application_load_grants         (KhApplication *self);
/* TRUE when started with --sandbox (or kh_application_set_sandbox_mode before startup). */
gboolean       kh_application_get_sandbox_mode    (KhApplication *self);
void           kh_application_set_sandbox_mode    (KhApplication *self,
                                                   gboolean       sandbox_mode);
/* The loopback Redirect URL new app profiles suggest, from the redirect-port setting. */
char          *kh_application_dup_default_redirect_uri (KhApplication *self);
/* TRUE once the demo app profiles of --sandbox are in the store (tests wait on it). */
gboolean       kh_application_get_demo_ready      (KhApplication *self);

/* Refreshes one grant now through KhBroker (single-flight, locked, stored before use). */
void           kh_application_refresh_grant_async (KhApplication       *self,
                                                   const char          *grant_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
KhGrant       *kh_application_refresh_grant_finish (KhApplication *self,
                                                    GAsyncResult  *result,
                                                    GError       **error);
/* KhBroker's revoke: at TikTok where the type has a revoke API, then removes the grant. */
void           kh_application_revoke_grant_async  (KhApplication       *self,
                                                   const char          *grant_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean       kh_application_revoke_grant_finish (KhApplication *self,
                                                   GAsyncResult  *result,
                                                   GError       **error);
/* Removes the grant from the keyring and the index. */
void           kh_application_remove_grant_async  (KhApplication       *self,
                                                   const char          *grant_id,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean       kh_application_remove_grant_finish (KhApplication *self,
                                                   GAsyncResult  *result,
                                                   GError       **error);
/* Loads the grant's tokens, refreshing first when the access token has (almost) expired. */
void           kh_application_load_valid_tokens_async (KhApplication       *self,
                                                       const char          *grant_id,
                                                       GCancellable        *cancellable,
                                                       GAsyncReadyCallback  callback,
                                                       gpointer             user_data);
KhTokenSet    *kh_application_load_valid_tokens_finish (KhApplication *self,
                                                        GAsyncResult  *result,
                                                        GError       **error);
/* Runs one pass of background work now: refreshes what is due, sends notifications. */
void           kh_application_run_maintenance     (KhApplication *self);

G_END_DECLS
