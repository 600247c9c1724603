/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-app-context.h: what the window, pages and dialogs may ask of the application: the store,
 * the token client, the broker, the settings, the models, the team, a reload, the grant
 * operations. KhApplication implements it; the others take a KhAppContext instead of including
 * kh-application.h, so that src/app/'s include graph has no circle
 * (tests/data/check-app-includes.py). */
#pragma once

#include <gio/gio.h>

#include "kh-broker.h"
#include "kh-grant-list.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-token-client.h"

G_BEGIN_DECLS

#define KH_TYPE_APP_CONTEXT (kh_app_context_get_type ())
/* An implementation notifies "team" when kh_app_context_get_team changes. */
G_DECLARE_INTERFACE (KhAppContext, kh_app_context, KH, APP_CONTEXT, GObject)

struct _KhAppContextInterface
{
  GTypeInterface parent_iface;

  KhStore       *(*get_store)                (KhAppContext *self);
  const GError  *(*get_store_error)          (KhAppContext *self);
  KhTokenClient *(*get_token_client)         (KhAppContext *self);
  KhBroker      *(*get_broker)               (KhAppContext *self);
  GSettings     *(*get_settings)             (KhAppContext *self);
  GListModel    *(*get_grants)               (KhAppContext *self);
  KhGrantList   *(*get_grant_list)           (KhAppContext *self);
  KhTeam        *(*get_team)                 (KhAppContext *self);
  void           (*set_team)                 (KhAppContext *self,
                                              KhTeam       *team);
  GListModel    *(*get_apps)                 (KhAppContext *self);
  void           (*reload)                   (KhAppContext *self);
  char          *(*dup_default_redirect_uri) (KhAppContext *self);
  gboolean       (*get_sandbox_mode)         (KhAppContext *self);
  void           (*load_grants)              (KhAppContext *self);
  void           (*refresh_grant_async)  (KhAppContext        *self,
                                  const char          *grant_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
  KhGrant *      (*refresh_grant_finish) (KhAppContext  *self,
                                  GAsyncResult  *result,
                                  GError       **error);
  void           (*revoke_grant_async)  (KhAppContext        *self,
                                  const char          *grant_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
  gboolean       (*revoke_grant_finish) (KhAppContext  *self,
                                  GAsyncResult  *result,
                                  GError       **error);
  void           (*remove_grant_async)  (KhAppContext        *self,
                                  const char          *grant_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
  gboolean       (*remove_grant_finish) (KhAppContext  *self,
                                  GAsyncResult  *result,
                                  GError       **error);
  void           (*load_valid_tokens_async)  (KhAppContext        *self,
                                  const char          *grant_id,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
  KhTokenSet *   (*load_valid_tokens_finish) (KhAppContext  *self,
                                  GAsyncResult  *result,
                                  GError       **error);
};

/* Each is the KhApplication function of the same name (kh-application.h says what it does). */
KhStore       *kh_app_context_get_store                (KhAppContext *self);
const GError  *kh_app_context_get_store_error          (KhAppContext *self);
KhTokenClient *kh_app_context_get_token_client         (KhAppContext *self);
KhBroker      *kh_app_context_get_broker               (KhAppContext *self);
GSettings     *kh_app_context_get_settings             (KhAppContext *self);
GListModel    *kh_app_context_get_grants               (KhAppContext *self);
KhGrantList   *kh_app_context_get_grant_list           (KhAppContext *self);
KhTeam        *kh_app_context_get_team                 (KhAppContext *self);
void           kh_app_context_set_team                 (KhAppContext *self,
                                                        KhTeam       *team);
GListModel    *kh_app_context_get_apps                 (KhAppContext *self);
void           kh_app_context_reload                   (KhAppContext *self);
char          *kh_app_context_dup_default_redirect_uri (KhAppContext *self);
gboolean       kh_app_context_get_sandbox_mode         (KhAppContext *self);
void           kh_app_context_load_grants              (KhAppContext *self);
void           kh_app_context_refresh_grant_async  (KhAppContext        *self,
                                                const char          *grant_id,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
KhGrant *      kh_app_context_refresh_grant_finish (KhAppContext  *self,
                                                GAsyncResult  *result,
                                                GError       **error);
void           kh_app_context_revoke_grant_async  (KhAppContext        *self,
                                                const char          *grant_id,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean       kh_app_context_revoke_grant_finish (KhAppContext  *self,
                                                GAsyncResult  *result,
                                                GError       **error);
void           kh_app_context_remove_grant_async  (KhAppContext        *self,
                                                const char          *grant_id,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean       kh_app_context_remove_grant_finish (KhAppContext  *self,
                                                GAsyncResult  *result,
                                                GError       **error);
void           kh_app_context_load_valid_tokens_async  (KhAppContext        *self,
                                                const char          *grant_id,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
KhTokenSet *   kh_app_context_load_valid_tokens_finish (KhAppContext  *self,
                                                GAsyncResult  *result,
                                                GError       **error);

G_END_DECLS
