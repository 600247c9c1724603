/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client.h: every call Keyhold makes to TikTok, async over libsoup, with envelope
 * decoding (code == 0 is success whatever the HTTP status), units normalised to absolute Unix
 * times, scopes normalised to strings, and retries with backoff for transient errors only.
 * Never logs a URL of a token call, a body, or an Access-Token header (kh_redact). */
#pragma once

#include <gio/gio.h>

#include "kh-app-profile.h"
#include "kh-grant.h"

G_BEGIN_DECLS

/* The normalised answer of an exchange or a refresh, whatever the family. */
typedef struct {
  KhTokenSet  *tokens;
  char        *open_id;
  char        *seller_name;        /* Shop */
  char        *seller_base_region; /* Shop: "GB", "US"... */
  int          user_type;          /* Shop: 0 seller, 1 creator, 3 partner; -1 unknown */
  char       **scopes;             /* never NULL */
  char       **advertiser_ids;     /* advertiser-style; never NULL */
  char        *request_id;
} KhTokenResponse;

void             kh_token_response_free  (KhTokenResponse *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhTokenResponse, kh_token_response_free)

/* ---- parsers (pure, fuzzed; now = Unix time the response arrived) ------------------------- */

/* Checks the {"code","message","request_id","data"} envelope: returns data (a borrowed object
 * inside root) when code == 0, else a KH_API_ERROR with TikTok's code. KH_ERROR_BAD_RESPONSE
 * for anything that is not such an envelope. */
JsonObject      *kh_parse_envelope       (JsonNode     *root,
                                          GError      **error);
KhTokenResponse *kh_parse_token_response (KhTokenKind   kind,
                                          const char   *body,
                                          gsize         length,
                                          gint64        now,
                                          GError      **error);
GPtrArray       *kh_parse_shops          (const char   *body,     /* KhShop */
                                          gsize         length,
                                          GError      **error);
GPtrArray       *kh_parse_advertisers    (const char   *body,     /* KhAdvertiser */
                                          gsize         length,
                                          GError      **error);
/* business/get: the display name (NULL-safe: KH_ERROR_BAD_RESPONSE when absent). */
char            *kh_parse_account_name   (const char   *body,
                                          gsize         length,
                                          GError      **error);

/* ---- the client ---------------------------------------------------------------------------- */

#define KH_TYPE_TOKEN_CLIENT (kh_token_client_get_type ())
G_DECLARE_FINAL_TYPE (KhTokenClient, kh_token_client, KH, TOKEN_CLIENT, GObject)

KhTokenClient   *kh_token_client_new               (void);
/* Attempts for transient failures (default 3) and the first backoff delay (default 500 ms,
 * doubling, with jitter); the per-request timeout (default 30 s). For tests and the CLI. */
void             kh_token_client_set_retry         (KhTokenClient *self,
                                                    guint          max_attempts,
                                                    guint          base_delay_ms);
void             kh_token_client_set_timeout       (KhTokenClient *self,
                                                    guint          seconds);

void             kh_token_client_exchange_async    (KhTokenClient       *self,
                                                    KhAppProfile        *app,
                                                    const char          *app_secret,
                                                    KhTokenKind          kind,
                                                    const char          *code,
                                                    const char          *redirect_uri,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
KhTokenResponse *kh_token_client_exchange_finish   (KhTokenClient  *self,
                                                    GAsyncResult   *result,
                                                    GError        **error);

/* KH_ERROR_INVALID_INPUT for a kind without refresh (advertiser). */
void             kh_token_client_refresh_async     (KhTokenClient       *self,
                                                    KhAppProfile        *app,
                                                    const char          *app_secret,
                                                    KhTokenKind          kind,
                                                    const char          *refresh_token,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
KhTokenResponse *kh_token_client_refresh_finish    (KhTokenClient  *self,
                                                    GAsyncResult   *result,
                                                    GError        **error);

/* Advertiser (revoke_token) and tt_user (tt_user/oauth2/revoke). KH_ERROR_INVALID_INPUT for Shop. */
void             kh_token_client_revoke_async      (KhTokenClient       *self,
                                                    KhAppProfile        *app,
                                                    const char          *app_secret,
                                                    KhTokenKind          kind,
                                                    const char          *access_token,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean         kh_token_client_revoke_finish     (KhTokenClient  *self,
                                                    GAsyncResult   *result,
                                                    GError        **error);

/* Get Authorized Shops, signed with kh_sign. Returns KhShop array (may be empty). */
void             kh_token_client_get_shops_async   (KhTokenClient       *self,
                                                    KhAppProfile        *app,
                                                    const char          *app_secret,
                                                    const char          *access_token,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
GPtrArray       *kh_token_client_get_shops_finish  (KhTokenClient  *self,
                                                    GAsyncResult   *result,
                                                    GError        **error);

/* oauth2/advertiser/get. Returns KhAdvertiser array. */
void             kh_token_client_get_advertisers_async  (KhTokenClient       *self,
                                                         KhAppProfile        *app,
                                                         const char          *app_secret,
                                                         const char          *access_token,
                                                         GCancellable        *cancellable,
                                                         GAsyncReadyCallback  callback,
                                                         gpointer             user_data);
GPtrArray       *kh_token_client_get_advertisers_finish (KhTokenClient  *self,
                                                         GAsyncResult   *result,
                                                         GError        **error);

/* business/get?business_id=OPEN_ID: the account's display name. */
void             kh_token_client_get_account_name_async  (KhTokenClient       *self,
                                                          const char          *access_token,
                                                          const char          *open_id,
                                                          GCancellable        *cancellable,
                                                          GAsyncReadyCallback  callback,
                                                          gpointer             user_data);
char            *kh_token_client_get_account_name_finish (KhTokenClient  *self,
                                                          GAsyncResult   *result,
                                                          GError        **error);

G_END_DECLS
