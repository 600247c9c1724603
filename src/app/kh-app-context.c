/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-app-context.c: the KhAppContext interface: each function calls its implementation. */

#define G_LOG_DOMAIN "kh-app-context"

#include "config.h"

#include "kh-app-context.h"

G_DEFINE_INTERFACE (KhAppContext, kh_app_context, G_TYPE_OBJECT)

static void
kh_app_context_default_init (KhAppContextInterface *iface)
{
}

KhStore *
kh_app_context_get_store (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_store (self);
}

const GError *
kh_app_context_get_store_error (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_store_error (self);
}

KhTokenClient *
kh_app_context_get_token_client (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_token_client (self);
}

KhBroker *
kh_app_context_get_broker (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_broker (self);
}

GSettings *
kh_app_context_get_settings (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_settings (self);
}

GListModel *
kh_app_context_get_grants (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_grants (self);
}

KhGrantList *
kh_app_context_get_grant_list (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_grant_list (self);
}

KhTeam *
kh_app_context_get_team (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_team (self);
}

void
kh_app_context_set_team (KhAppContext *self,
                         KhTeam       *team)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->set_team (self, team);
}

GListModel *
kh_app_context_get_apps (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_apps (self);
}

void
kh_app_context_reload (KhAppContext *self)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->reload (self);
}

char *
kh_app_context_dup_default_redirect_uri (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->dup_default_redirect_uri (self);
}

gboolean
kh_app_context_get_sandbox_mode (KhAppContext *self)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), FALSE);

  return KH_APP_CONTEXT_GET_IFACE (self)->get_sandbox_mode (self);
}

void
kh_app_context_load_grants (KhAppContext *self)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->load_grants (self);
}

void
kh_app_context_refresh_grant_async (KhAppContext        *self,
                                    const char          *grant_id,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->refresh_grant_async (self, grant_id, cancellable, callback,
                                                       user_data);
}

KhGrant *
kh_app_context_refresh_grant_finish (KhAppContext  *self,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->refresh_grant_finish (self, result, error);
}

void
kh_app_context_revoke_grant_async (KhAppContext        *self,
                                   const char          *grant_id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->revoke_grant_async (self, grant_id, cancellable, callback,
                                                       user_data);
}

gboolean
kh_app_context_revoke_grant_finish (KhAppContext  *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), FALSE);

  return KH_APP_CONTEXT_GET_IFACE (self)->revoke_grant_finish (self, result, error);
}

void
kh_app_context_remove_grant_async (KhAppContext        *self,
                                   const char          *grant_id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->remove_grant_async (self, grant_id, cancellable, callback,
                                                       user_data);
}

gboolean
kh_app_context_remove_grant_finish (KhAppContext  *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), FALSE);

  return KH_APP_CONTEXT_GET_IFACE (self)->remove_grant_finish (self, result, error);
}

void
kh_app_context_load_valid_tokens_async (KhAppContext        *self,
                                        const char          *grant_id,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_return_if_fail (KH_IS_APP_CONTEXT (self));

  KH_APP_CONTEXT_GET_IFACE (self)->load_valid_tokens_async (self, grant_id, cancellable, callback,
                                                            user_data);
}

KhTokenSet *
kh_app_context_load_valid_tokens_finish (KhAppContext  *self,
                                         GAsyncResult  *result,
                                         GError       **error)
{
  g_return_val_if_fail (KH_IS_APP_CONTEXT (self), NULL);

  return KH_APP_CONTEXT_GET_IFACE (self)->load_valid_tokens_finish (self, result, error);
}
