/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-types.h: the small enumerations every part of Keyhold shares. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The six account types, in tab order. */
typedef enum {
  KH_ACCOUNT_SELLER,
  KH_ACCOUNT_CREATOR,
  KH_ACCOUNT_PARTNER,
  KH_ACCOUNT_ADVERTISER,
  KH_ACCOUNT_TIKTOK_ACCOUNT,
  KH_ACCOUNT_CREATOR_MARKETPLACE,
  KH_N_ACCOUNT_TYPES,
} KhAccountType;

typedef enum {
  KH_FAMILY_SHOP,
  KH_FAMILY_BUSINESS,
} KhFamily;

/* Where a Shop authorization link points. Business links have one domain for all regions. */
typedef enum {
  KH_REGION_ROW,     /* rest of world: services.tiktokshop.com, partner.tiktokshop.com */
  KH_REGION_US,      /* services.us.tiktokshop.com, partner.us.tiktokshop.com */
} KhRegion;

/* How a token is obtained and what its response looks like. Creator Marketplace uses two:
 * the TTCM account token (advertiser-style) and the creator token (tt_user). */
typedef enum {
  KH_TOKEN_KIND_SHOP,        /* auth.tiktok-shops.com /api/v2/token/get|refresh */
  KH_TOKEN_KIND_ADVERTISER,  /* /open_api/v1.3/oauth2/access_token/: never expires, no refresh */
  KH_TOKEN_KIND_TT_USER,     /* /open_api/v1.3/tt_user/oauth2/token/: 1 day, refresh 1 year */
} KhTokenKind;

typedef enum {
  KH_GRANT_STATUS_ACTIVE,
  KH_GRANT_STATUS_EXPIRING,
  KH_GRANT_STATUS_NEEDS_REAUTH,
  KH_GRANT_STATUS_REVOKED,
} KhGrantStatus;

const char    *kh_family_to_string        (KhFamily       family);
gboolean       kh_family_from_string      (const char    *str,
                                           KhFamily      *out);
const char    *kh_region_to_string        (KhRegion       region);   /* "us" | "row" */
gboolean       kh_region_from_string      (const char    *str,
                                           KhRegion      *out);
const char    *kh_token_kind_to_string    (KhTokenKind    kind);     /* "shop" "advertiser" "tt-user" */
gboolean       kh_token_kind_from_string  (const char    *str,
                                           KhTokenKind   *out);
const char    *kh_grant_status_to_string  (KhGrantStatus  status);   /* "active" "expiring" "needs-reauth" "revoked" */
gboolean       kh_grant_status_from_string (const char   *str,
                                            KhGrantStatus *out);

G_END_DECLS
