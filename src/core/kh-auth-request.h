/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-auth-request.h: one authorization in progress: its unguessable state, the authorization URL
 * and the pending record that lets a client's link be completed later, even after a restart. */
#pragma once

#include <json-glib/json-glib.h>

#include "kh-app-profile.h"
#include "kh-provider.h"

G_BEGIN_DECLS

#define KH_TYPE_AUTH_REQUEST (kh_auth_request_get_type ())
G_DECLARE_FINAL_TYPE (KhAuthRequest, kh_auth_request, KH, AUTH_REQUEST, GObject)

/* Creates a request with a fresh id and state (32 random bytes, base64url), created = kh_now(),
 * expires = created + the role's code lifetime, and builds the URL: from the app's pasted
 * auth_link when set (only state and, for Business, redirect_uri are added), else from the
 * provider table (US/ROW/legacy by region and service id). The URL is rewritten through the
 * origin map and checked with kh_provider_check_launch_url. force_consent adds
 * disable_auto_auth=1 (TikTok account links). KH_ERROR_INVALID_INPUT when the app's family does
 * not fit the type, KH_ERROR_UNSAFE_URL when the URL fails the check. */
KhAuthRequest  *kh_auth_request_new               (KhAccountType   type,
                                                   const char     *role,
                                                   KhAppProfile   *app,
                                                   KhRegion        region,
                                                   const char     *client_label,
                                                   gboolean        force_consent,
                                                   GError        **error);
const char     *kh_auth_request_get_id            (KhAuthRequest  *self);
KhAccountType   kh_auth_request_get_account_type  (KhAuthRequest  *self);
const char     *kh_auth_request_get_role          (KhAuthRequest  *self);   /* NULL = first role */
const KhProviderRole *kh_auth_request_get_provider_role (KhAuthRequest *self);
const char     *kh_auth_request_get_app_name      (KhAuthRequest  *self);
const char     *kh_auth_request_get_app_key       (KhAuthRequest  *self);
KhRegion        kh_auth_request_get_region        (KhAuthRequest  *self);
const char     *kh_auth_request_get_client_label  (KhAuthRequest  *self);  /* may be NULL */
const char     *kh_auth_request_get_url           (KhAuthRequest  *self);
const char     *kh_auth_request_get_redirect_uri  (KhAuthRequest  *self);
gint64          kh_auth_request_get_created_at    (KhAuthRequest  *self);
gint64          kh_auth_request_get_expires_at    (KhAuthRequest  *self);
gboolean        kh_auth_request_is_expired        (KhAuthRequest  *self,
                                                   gint64          now);
/* The state is a secret: never log it. Only KhStore (keyring) and the URL hold it. */
const char     *kh_auth_request_get_state         (KhAuthRequest  *self);
/* Constant-time comparison of a received state with ours. */
gboolean        kh_auth_request_check_state       (KhAuthRequest  *self,
                                                   const char     *state);

/* Full form, state included: only for the keyring. */
JsonNode       *kh_auth_request_to_json           (KhAuthRequest  *self);
/* Non-secret form for the index and `link`/status listings (no state, no URL). */
JsonNode       *kh_auth_request_to_public_json    (KhAuthRequest  *self);
KhAuthRequest  *kh_auth_request_new_from_json     (JsonNode       *node,
                                                   GError        **error);
KhAuthRequest  *kh_auth_request_new_from_json_object (JsonObject   *object,
                                                      GError      **error);

G_END_DECLS
