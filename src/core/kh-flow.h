/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow.h: one authorization from start to stored grant, for every account type:
 * request -> browser -> loopback callback (or pasted URL) -> exchange -> enrichment -> store.
 * The CLI and the GUI drive the same object; its stage property is the progress they show. */
#pragma once

#include <gio/gio.h>

#include "kh-auth-request.h"
#include "kh-browser-profile.h"
#include "kh-grant.h"
#include "kh-store.h"
#include "kh-token-client.h"

G_BEGIN_DECLS

typedef enum {
  KH_FLOW_STAGE_IDLE,
  KH_FLOW_STAGE_WAITING,        /* the listener is up and the browser shows the consent page */
  KH_FLOW_STAGE_EXCHANGING,     /* trading the code for tokens */
  KH_FLOW_STAGE_ENRICHING,      /* fetching shops, advertisers or the account name */
  KH_FLOW_STAGE_STORING,        /* writing the keyring and the index */
  KH_FLOW_STAGE_DONE,
  KH_FLOW_STAGE_FAILED,
} KhFlowStage;

typedef enum {
  KH_FLOW_FLAGS_NONE          = 0,
  KH_FLOW_FLAGS_NO_BROWSER    = 1 << 0,  /* do not launch a browser: the caller shows the URL */
  KH_FLOW_FLAGS_FORCE_CONSENT = 1 << 1,  /* TikTok account: disable_auto_auth=1 */
  KH_FLOW_FLAGS_ALLOW_NO_STATE = 1 << 2, /* complete: accept a URL without state (App Store) */
} KhFlowFlags;

#define KH_TYPE_FLOW (kh_flow_get_type ())
G_DECLARE_FINAL_TYPE (KhFlow, kh_flow, KH, FLOW, GObject)

KhFlow         *kh_flow_new                  (KhStore        *store,
                                              KhTokenClient  *client);
KhFlowStage     kh_flow_get_stage            (KhFlow         *self);
const char     *kh_flow_stage_describe       (KhFlowStage     stage);  /* translated */
/* The request being authorized (set once the flow created it), or NULL. */
KhAuthRequest  *kh_flow_get_request          (KhFlow         *self);
/* The browser profile the authorizations started from now on open the consent page in; NULL
 * (the default): the system browser. Ignored with KH_FLOW_FLAGS_NO_BROWSER. */
void            kh_flow_set_browser_profile  (KhFlow           *self,
                                              KhBrowserProfile *profile);
/* Non-fatal findings (region mismatch, missing scopes, no shops...) of the last run. */
const char * const *kh_flow_get_warnings     (KhFlow         *self);

/* Creates a pending request for a client on another machine, persisted in the store, and returns
 * it (its URL is what the client opens). Blocking (keyring write). */
KhAuthRequest  *kh_flow_create_link          (KhStore        *store,
                                              KhAccountType   type,
                                              const char     *role,
                                              KhAppProfile   *app,
                                              KhRegion        region,
                                              const char     *client_label,
                                              KhFlowFlags     flags,
                                              GError        **error);

/* The whole loopback flow. Emits notify::stage; the request (and its URL) is available from
 * kh_flow_get_request once the stage is WAITING. timeout_seconds 0 = wait until cancelled. */
void            kh_flow_authorize_async      (KhFlow              *self,
                                              KhAccountType        type,
                                              const char          *role,
                                              KhAppProfile        *app,
                                              KhRegion             region,
                                              const char          *client_label,
                                              KhFlowFlags          flags,
                                              guint                timeout_seconds,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
KhGrant        *kh_flow_authorize_finish     (KhFlow         *self,
                                              GAsyncResult   *result,
                                              GError        **error);

/* Completes a pending request from text the user pasted (the redirected URL). The state picks
 * the pending request; it is removed once the grant is stored or the code is known dead. */
void            kh_flow_complete_async       (KhFlow              *self,
                                              const char          *pasted,
                                              KhFlowFlags          flags,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
KhGrant        *kh_flow_complete_finish      (KhFlow         *self,
                                              GAsyncResult   *result,
                                              GError        **error);

/* Quick Connect: an app secret and a Shop callback URL holding app_key and code. Creates or
 * reuses the app profile of that app key, exchanges, fetches the shops and stores the grant.
 * The account type comes from the token's user_type (seller, creator or partner). */
void            kh_flow_quick_connect_async  (KhFlow              *self,
                                              const char          *app_secret,
                                              const char          *pasted,
                                              GCancellable        *cancellable,
                                              GAsyncReadyCallback  callback,
                                              gpointer             user_data);
KhGrant        *kh_flow_quick_connect_finish (KhFlow         *self,
                                              GAsyncResult   *result,
                                              GError        **error);

G_END_DECLS
