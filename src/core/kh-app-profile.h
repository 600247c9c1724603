/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-app-profile.h: a developer app registered with TikTok (Partner Center or the Business
 * portal). Holds only non-secret data; the app secret lives in the keyring (KhStore). */
#pragma once

#include <json-glib/json-glib.h>

#include "kh-types.h"

G_BEGIN_DECLS

#define KH_DEFAULT_REDIRECT_URI "http://localhost:8765/callback"

#define KH_TYPE_APP_PROFILE (kh_app_profile_get_type ())
G_DECLARE_FINAL_TYPE (KhAppProfile, kh_app_profile, KH, APP_PROFILE, GObject)

KhAppProfile  *kh_app_profile_new                (const char    *name,
                                                  KhFamily       family,
                                                  const char    *app_key);
const char    *kh_app_profile_get_name           (KhAppProfile  *self);
KhFamily       kh_app_profile_get_family         (KhAppProfile  *self);
/* Shop: App Key. Business: App ID (also the client_key / client_id of tt_user calls). */
const char    *kh_app_profile_get_app_key        (KhAppProfile  *self);
const char    *kh_app_profile_get_service_id     (KhAppProfile  *self);   /* may be NULL */
void           kh_app_profile_set_service_id     (KhAppProfile  *self,
                                                  const char    *service_id);
/* Never NULL: the registered redirect URI, or KH_DEFAULT_REDIRECT_URI. */
const char    *kh_app_profile_get_redirect_uri   (KhAppProfile  *self);
void           kh_app_profile_set_redirect_uri   (KhAppProfile  *self,
                                                  const char    *redirect_uri);
/* A link copied from Partner Center / the Business portal ("Copy authorization link"), or NULL.
 * When set, KhAuthRequest only adds state (and redirect_uri for Business) to it. */
const char    *kh_app_profile_get_auth_link      (KhAppProfile  *self);
void           kh_app_profile_set_auth_link      (KhAppProfile  *self,
                                                  const char    *auth_link);
/* Scopes the app needs (creator: keys starting with "creator"; TikTok account: the scope list of
 * the link). NULL-terminated, may be empty, never NULL. */
const char * const *kh_app_profile_get_scopes    (KhAppProfile  *self);
void           kh_app_profile_set_scopes         (KhAppProfile  *self,
                                                  const char * const *scopes);

/* Checks every field: non-empty name of printable characters, app key of [A-Za-z0-9_-],
 * redirect URI http(s) with a host (loopback http for the listener), service id digits,
 * auth link https on a known host. KH_ERROR_INVALID_INPUT with a message naming the field. */
gboolean       kh_app_profile_validate           (KhAppProfile  *self,
                                                  GError       **error);

/* The single-field checks kh_app_profile_validate uses, for forms and CLI arguments that want
 * to check one value before a profile exists. Same errors and messages. */
gboolean       kh_app_profile_check_name         (const char    *name,
                                                  GError       **error);
gboolean       kh_app_profile_check_app_key      (KhFamily       family,
                                                  const char    *app_key,
                                                  GError       **error);
gboolean       kh_app_profile_check_service_id   (const char    *service_id,
                                                  GError       **error);
gboolean       kh_app_profile_check_redirect_uri (const char    *redirect_uri,
                                                  GError       **error);

/* The decoded value of a query parameter the pasted auth link already carries ("" when it has no
 * value), or NULL when there is no link or no such parameter. */
char          *kh_app_profile_dup_auth_link_param (KhAppProfile *self,
                                                   const char   *param);

JsonNode      *kh_app_profile_to_json            (KhAppProfile  *self);
KhAppProfile  *kh_app_profile_new_from_json      (JsonNode      *node,
                                                  GError       **error);
KhAppProfile  *kh_app_profile_new_from_json_object (JsonObject  *object,
                                                    GError     **error);

G_END_DECLS
