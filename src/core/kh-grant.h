/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant.h: one authorization (one grant may cover several shops or advertisers), its
 * non-secret description (KhGrant, kept in the index) and its secret tokens (KhTokenSet, kept
 * only in the keyring). */
#pragma once

#include <json-glib/json-glib.h>

#include "kh-types.h"

G_BEGIN_DECLS

/* ---- secrets ---------------------------------------------------------------------------- */

typedef struct {
  char   *access_token;
  char   *refresh_token;        /* NULL when the kind has none (advertiser) */
  gint64  access_expires_at;    /* Unix seconds; 0 = never expires */
  gint64  refresh_expires_at;   /* Unix seconds; 0 = never expires or no refresh token */
} KhTokenSet;

KhTokenSet  *kh_token_set_new        (void);
KhTokenSet  *kh_token_set_copy       (const KhTokenSet *self);
void         kh_token_set_free       (KhTokenSet       *self);   /* wipes the strings */
JsonNode    *kh_token_set_to_json    (const KhTokenSet *self);
KhTokenSet  *kh_token_set_new_from_json (JsonNode      *node,
                                         GError       **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhTokenSet, kh_token_set_free)

/* ---- what a grant covers ------------------------------------------------------------------ */

typedef struct {
  char *id;
  char *name;
  char *region;
  char *seller_type;   /* "CROSS_BORDER" | "LOCAL" */
  char *cipher;
  char *code;
} KhShop;

KhShop      *kh_shop_copy            (const KhShop *self);
void         kh_shop_free            (KhShop       *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhShop, kh_shop_free)

typedef struct {
  char *id;
  char *name;           /* may be NULL when advertiser/get did not name it */
} KhAdvertiser;

KhAdvertiser *kh_advertiser_copy     (const KhAdvertiser *self);
void          kh_advertiser_free     (KhAdvertiser       *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhAdvertiser, kh_advertiser_free)

/* ---- KhGrant ------------------------------------------------------------------------------- */

#define KH_TYPE_GRANT (kh_grant_get_type ())
G_DECLARE_FINAL_TYPE (KhGrant, kh_grant, KH, GRANT, GObject)

/* A new grant with a fresh random id. */
KhGrant       *kh_grant_new                      (KhAccountType  type,
                                                  const char    *role,      /* NULL or TTCM role */
                                                  const char    *app_name);
const char    *kh_grant_get_id                   (KhGrant       *self);
KhAccountType  kh_grant_get_account_type         (KhGrant       *self);
const char    *kh_grant_get_role                 (KhGrant       *self);
KhTokenKind    kh_grant_get_token_kind           (KhGrant       *self);
const char    *kh_grant_get_app_name             (KhGrant       *self);
const char    *kh_grant_get_client_label         (KhGrant       *self);
void           kh_grant_set_client_label         (KhGrant       *self,
                                                  const char    *label);
/* Seller name, advertiser name, account display name...; falls back to the id. */
const char    *kh_grant_get_display_name         (KhGrant       *self);
void           kh_grant_set_display_name         (KhGrant       *self,
                                                  const char    *name);
const char    *kh_grant_get_region               (KhGrant       *self);  /* "us"/"row" or a country code, may be NULL */
void           kh_grant_set_region               (KhGrant       *self,
                                                  const char    *region);
const char    *kh_grant_get_open_id              (KhGrant       *self);
void           kh_grant_set_open_id              (KhGrant       *self,
                                                  const char    *open_id);
gint64         kh_grant_get_access_expires_at    (KhGrant       *self);  /* 0 never */
gint64         kh_grant_get_refresh_expires_at   (KhGrant       *self);  /* 0 never / none */
/* Copies the expiry times of tokens into the grant (the index mirrors them). */
void           kh_grant_set_expiries_from_tokens (KhGrant       *self,
                                                  const KhTokenSet *tokens);
const char * const *kh_grant_get_scopes          (KhGrant       *self);  /* never NULL */
void           kh_grant_set_scopes               (KhGrant       *self,
                                                  const char * const *scopes);
/* Scopes the app needs that the account holder did not grant (creator). Never NULL. */
const char * const *kh_grant_get_missing_scopes  (KhGrant       *self);
void           kh_grant_set_missing_scopes       (KhGrant       *self,
                                                  const char * const *scopes);
GPtrArray     *kh_grant_get_shops                (KhGrant       *self);  /* KhShop, owned by grant */
void           kh_grant_set_shops                (KhGrant       *self,
                                                  GPtrArray     *shops);  /* takes a ref */
GPtrArray     *kh_grant_get_advertisers          (KhGrant       *self);  /* KhAdvertiser */
void           kh_grant_set_advertisers          (KhGrant       *self,
                                                  GPtrArray     *advertisers);
/* Stored status flag (needs-reauth, revoked); kh_grant_compute_status derives expiring/active. */
KhGrantStatus  kh_grant_get_stored_status        (KhGrant       *self);
void           kh_grant_set_stored_status        (KhGrant       *self,
                                                  KhGrantStatus  status);
/* Why the grant is marked (one translated sentence saying what happened and what to do), or
 * NULL: the mark's generic explanation applies. Setting the stored status back to active or
 * expiring clears it. */
const char    *kh_grant_get_status_reason        (KhGrant       *self);
void           kh_grant_set_status_reason        (KhGrant       *self,
                                                  const char    *reason);
KhGrantStatus  kh_grant_compute_status           (KhGrant       *self,
                                                  gint64         now);
/* The callback carried no state (Seller Center App Store install) and the user confirmed it. */
gboolean       kh_grant_get_without_state        (KhGrant       *self);
void           kh_grant_set_without_state        (KhGrant       *self,
                                                  gboolean       without_state);
/* Kept in the team store (PostgreSQL) rather than this desktop's keyring; never a secret.
 * `list --json` shows it as "storage": "local" | "team". */
gboolean       kh_grant_get_shared               (KhGrant       *self);
void           kh_grant_set_shared               (KhGrant       *self,
                                                  gboolean       shared);
/* Human-readable warnings gathered during authorization (region mismatch, missing scopes...). */
const char * const *kh_grant_get_warnings        (KhGrant       *self);
void           kh_grant_add_warning              (KhGrant       *self,
                                                  const char    *warning);
gint64         kh_grant_get_created_at           (KhGrant       *self);
gint64         kh_grant_get_updated_at           (KhGrant       *self);
void           kh_grant_touch                    (KhGrant       *self,
                                                  gint64         now);

/* Index form (no secret): also the `list --json` object. Members: id type role kind app client
 * display_name region open_id status (computed at kh_now()) stored_status status_reason
 * (string or null) access_expires_at
 * refresh_expires_at (ISO 8601 UTC or null for never) scopes missing_scopes shops advertisers
 * without_state storage ("local" or "team") warnings created_at updated_at. from_json reads
 * stored_status, not status. */
JsonNode      *kh_grant_to_json                  (KhGrant       *self);
KhGrant       *kh_grant_new_from_json            (JsonNode      *node,
                                                  GError       **error);
KhGrant       *kh_grant_new_from_json_object     (JsonObject    *object,
                                                  GError       **error);

G_END_DECLS
