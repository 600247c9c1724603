/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-provider.h: one static descriptor per account type, straight from tiktok-api.md.
 * The flows read this table; nothing else in Keyhold hard-codes a TikTok host or parameter. */
#pragma once

#include "kh-types.h"

G_BEGIN_DECLS

/* Which app field identifies the app in an authorization link. */
typedef enum {
  KH_LINK_ID_SERVICE_ID,   /* service_id=... (seller, partner) */
  KH_LINK_ID_APP_KEY,      /* app_key=... (creator, legacy seller) */
  KH_LINK_ID_APP_ID,       /* app_id=... (advertiser-style business link) */
  KH_LINK_ID_CLIENT_KEY,   /* client_key=... (TikTok account holder link) */
} KhLinkIdParam;

/* One way of authorizing: a link and the token call its code goes to.
 * Every type has one role; Creator Marketplace has two ("account" and "creator"). */
typedef struct {
  const char    *id;              /* NULL for single-role types; "account" | "creator" */
  const char    *title;           /* N_() marked, e.g. "TTCM account" */
  KhTokenKind    token_kind;
  const char    *url_row;         /* authorization endpoint, no query */
  const char    *url_us;          /* NULL when one URL serves all regions */
  const char    *url_legacy;      /* used when the app has no service id (seller) or as fallback */
  KhLinkIdParam  id_param;
  KhLinkIdParam  legacy_id_param;
  gboolean       state_required;       /* creator: TikTok requires it; we always send one */
  gboolean       sends_redirect_uri;   /* business links carry redirect_uri */
  gboolean       sends_scope;          /* TikTok account link: scope + response_type=code */
  const char    *code_param;           /* preferred callback parameter: "code" | "auth_code" */
  const char    *code_param_alt;       /* also accepted */
  gint64         code_lifetime;        /* seconds a code (and so a pending request) lives */
} KhProviderRole;

typedef struct {
  KhAccountType         type;
  const char           *id;             /* CLI name: "seller" ... "creator-marketplace" */
  const char           *title;          /* N_(): "Shop Seller" ... */
  const char           *icon_name;
  KhFamily              family;
  gboolean              has_regions;    /* US / rest-of-world links */
  int                   user_type;      /* Shop user_type expected in token/get, -1 if n/a */
  const char           *scope_prefix;   /* required-scope prefix ("creator", "partner"), or NULL */
  gboolean              authorization_expires;  /* seller, partner: yes; creator, business: no */
  gboolean              revoke_api;     /* TikTok offers a revoke call for this type */
  const char           *manual_revoke;  /* N_(): where the account holder cancels, or NULL */
  const char           *renew_path;     /* N_(): where the owner renews, or NULL */
  const char           *description;    /* N_(): one sentence: what this account type is for */
  const KhProviderRole *roles;
  guint                 n_roles;
} KhProvider;

const KhProvider      *kh_provider_get            (KhAccountType  type);
const KhProvider      *kh_provider_from_id        (const char    *id);   /* NULL if unknown */
const KhProvider      *kh_provider_all            (guint         *n_providers);
const KhProviderRole  *kh_provider_get_role       (const KhProvider *provider,
                                                   const char       *role_id); /* NULL id = first */
char                  *kh_provider_list_ids       (void);  /* "seller creator partner ..." for usage text */

/* Security rule 3: an authorization URL may be launched only if it is https on a known TikTok
 * host, or on the target of the active origin map (test endpoints). */
gboolean               kh_provider_is_known_host  (const char    *host);
gboolean               kh_provider_check_launch_url (const char  *url,
                                                     GError     **error);

G_END_DECLS
