/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-provider.c: the six account-type descriptors, transcribed from tiktok-api.md, and the
 * check every authorization URL passes before it is launched (security rule 3). */
#define G_LOG_DOMAIN "kh-provider"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-provider.h"
#include "kh-error.h"
#include "kh-origin-map.h"

#include <string.h>

/* Shop codes live 30 minutes [AO, AG]; Business auth_codes one hour [AEV]. */
#define SHOP_CODE_LIFETIME (30 * 60)
#define BUSINESS_CODE_LIFETIME (60 * 60)

#define ADVERTISER_AUTH_URL "https://business-api.tiktok.com/portal/auth"
#define ADVERTISER_LEGACY_AUTH_URL "https://ads.tiktok.com/marketing_api/auth"
#define TT_USER_AUTH_URL "https://www.tiktok.com/v2/auth/authorize/"

static const KhProviderRole seller_roles[] = {
  {
    .id = NULL,
    .title = N_("Shop seller"),
    .token_kind = KH_TOKEN_KIND_SHOP,
    .url_row = "https://services.tiktokshop.com/open/authorize",
    .url_us = "https://services.us.tiktokshop.com/open/authorize",
    .url_legacy = "https://auth.tiktok-shops.com/oauth/authorize",
    .id_param = KH_LINK_ID_SERVICE_ID,
    .legacy_id_param = KH_LINK_ID_APP_KEY,
    .state_required = FALSE,
    .sends_redirect_uri = FALSE,
    .sends_scope = FALSE,
    .code_param = "code",
    .code_param_alt = "auth_code",
    .code_lifetime = SHOP_CODE_LIFETIME,
  },
};

static const KhProviderRole creator_roles[] = {
  {
    .id = NULL,
    .title = N_("Shop creator"),
    .token_kind = KH_TOKEN_KIND_SHOP,
    .url_row = "https://shop.tiktok.com/alliance/creator/auth",
    .url_us = NULL,
    .url_legacy = NULL,
    .id_param = KH_LINK_ID_APP_KEY,
    .legacy_id_param = KH_LINK_ID_APP_KEY,
    .state_required = TRUE,
    .sends_redirect_uri = FALSE,
    .sends_scope = FALSE,
    .code_param = "code",
    .code_param_alt = "auth_code",
    .code_lifetime = SHOP_CODE_LIFETIME,
  },
};

static const KhProviderRole partner_roles[] = {
  {
    .id = NULL,
    .title = N_("Shop partner"),
    .token_kind = KH_TOKEN_KIND_SHOP,
    .url_row = "https://partner.tiktokshop.com/open/authorize",
    .url_us = "https://partner.us.tiktokshop.com/open/authorize",
    .url_legacy = NULL,
    .id_param = KH_LINK_ID_SERVICE_ID,
    .legacy_id_param = KH_LINK_ID_SERVICE_ID,
    .state_required = FALSE,
    .sends_redirect_uri = FALSE,
    .sends_scope = FALSE,
    .code_param = "code",
    .code_param_alt = "auth_code",
    .code_lifetime = SHOP_CODE_LIFETIME,
  },
};

/* The advertiser-style link (Marketing API): auth_code, and code accepted too. */
#define ADVERTISER_ROLE(role_id, role_title) \
  { \
    .id = role_id, \
    .title = role_title, \
    .token_kind = KH_TOKEN_KIND_ADVERTISER, \
    .url_row = ADVERTISER_AUTH_URL, \
    .url_us = NULL, \
    .url_legacy = ADVERTISER_LEGACY_AUTH_URL, \
    .id_param = KH_LINK_ID_APP_ID, \
    .legacy_id_param = KH_LINK_ID_APP_ID, \
    .state_required = FALSE, \
    .sends_redirect_uri = TRUE, \
    .sends_scope = FALSE, \
    .code_param = "auth_code", \
    .code_param_alt = "code", \
    .code_lifetime = BUSINESS_CODE_LIFETIME, \
  }

/* The TikTok account holder link (Accounts API): code, and auth_code accepted too. */
#define TT_USER_ROLE(role_id, role_title) \
  { \
    .id = role_id, \
    .title = role_title, \
    .token_kind = KH_TOKEN_KIND_TT_USER, \
    .url_row = TT_USER_AUTH_URL, \
    .url_us = NULL, \
    .url_legacy = NULL, \
    .id_param = KH_LINK_ID_CLIENT_KEY, \
    .legacy_id_param = KH_LINK_ID_CLIENT_KEY, \
    .state_required = FALSE, \
    .sends_redirect_uri = TRUE, \
    .sends_scope = TRUE, \
    .code_param = "code", \
    .code_param_alt = "auth_code", \
    .code_lifetime = BUSINESS_CODE_LIFETIME, \
  }

static const KhProviderRole advertiser_roles[] = {
  ADVERTISER_ROLE (NULL, N_("Advertiser")),
};

static const KhProviderRole tiktok_account_roles[] = {
  TT_USER_ROLE (NULL, N_("TikTok account")),
};

static const KhProviderRole creator_marketplace_roles[] = {
  ADVERTISER_ROLE ("account", N_("Creator Marketplace account")),
  TT_USER_ROLE ("creator", N_("Creator")),
};

static const KhProvider providers[KH_N_ACCOUNT_TYPES] = {
  {
    .type = KH_ACCOUNT_SELLER,
    .id = "seller",
    .title = N_("Shop Seller"),
    .icon_name = "keyhold-seller-symbolic",
    .family = KH_FAMILY_SHOP,
    .has_regions = TRUE,
    .user_type = 0,
    .scope_prefix = NULL,
    .authorization_expires = TRUE,
    .revoke_api = FALSE,
    .manual_revoke = N_("Seller Center > App Store > My apps and incidents"),
    .renew_path = N_("re-open the authorization link, or Seller Center > App Store > My apps and "
                     "incidents"),
    .description = N_("A TikTok Shop seller: the orders, products and fulfilment of one or more "
                      "shops."),
    .roles = seller_roles,
    .n_roles = G_N_ELEMENTS (seller_roles),
  },
  {
    .type = KH_ACCOUNT_CREATOR,
    .id = "creator",
    .title = N_("Shop Creator"),
    .icon_name = "keyhold-creator-symbolic",
    .family = KH_FAMILY_SHOP,
    .has_regions = FALSE,
    .user_type = 1,
    .scope_prefix = "creator",
    .authorization_expires = FALSE,
    .revoke_api = FALSE,
    .manual_revoke = N_("re-open the authorization link and choose Remove all access"),
    .renew_path = NULL,
    .description = N_("A TikTok Shop creator who promotes products as an affiliate."),
    .roles = creator_roles,
    .n_roles = G_N_ELEMENTS (creator_roles),
  },
  {
    .type = KH_ACCOUNT_PARTNER,
    .id = "partner",
    .title = N_("Shop Partner"),
    .icon_name = "keyhold-partner-symbolic",
    .family = KH_FAMILY_SHOP,
    .has_regions = TRUE,
    .user_type = 3,
    .scope_prefix = "partner",
    .authorization_expires = TRUE,
    .revoke_api = FALSE,
    .manual_revoke = N_("Partner Center > My account > My authorizations"),
    .renew_path = N_("re-open the authorization link"),
    .description = N_("A TikTok Shop Partner (TAP) that works for shops on their behalf."),
    .roles = partner_roles,
    .n_roles = G_N_ELEMENTS (partner_roles),
  },
  {
    .type = KH_ACCOUNT_ADVERTISER,
    .id = "advertiser",
    .title = N_("Advertiser"),
    .icon_name = "keyhold-advertiser-symbolic",
    .family = KH_FAMILY_BUSINESS,
    .has_regions = FALSE,
    .user_type = -1,
    .scope_prefix = NULL,
    .authorization_expires = FALSE,
    .revoke_api = TRUE,
    .manual_revoke = NULL,
    .renew_path = NULL,
    .description = N_("Advertiser accounts of TikTok Ads Manager, through the Marketing API."),
    .roles = advertiser_roles,
    .n_roles = G_N_ELEMENTS (advertiser_roles),
  },
  {
    .type = KH_ACCOUNT_TIKTOK_ACCOUNT,
    .id = "tiktok-account",
    .title = N_("TikTok Account"),
    .icon_name = "keyhold-tiktok-account-symbolic",
    .family = KH_FAMILY_BUSINESS,
    .has_regions = FALSE,
    .user_type = -1,
    .scope_prefix = NULL,
    .authorization_expires = FALSE,
    .revoke_api = TRUE,
    .manual_revoke = NULL,
    .renew_path = NULL,
    .description = N_("A TikTok account holder's profile, videos and insights, through the "
                      "Accounts API."),
    .roles = tiktok_account_roles,
    .n_roles = G_N_ELEMENTS (tiktok_account_roles),
  },
  {
    .type = KH_ACCOUNT_CREATOR_MARKETPLACE,
    .id = "creator-marketplace",
    .title = N_("Creator Marketplace"),
    .icon_name = "keyhold-creator-marketplace-symbolic",
    .family = KH_FAMILY_BUSINESS,
    .has_regions = FALSE,
    .user_type = -1,
    .scope_prefix = NULL,
    .authorization_expires = FALSE,
    .revoke_api = TRUE,
    .manual_revoke = NULL,
    .renew_path = NULL,
    .description = N_("TikTok Creator Marketplace: a marketplace account and the creators who "
                      "connect to it for brand campaigns."),
    .roles = creator_marketplace_roles,
    .n_roles = G_N_ELEMENTS (creator_marketplace_roles),
  },
};

const KhProvider *
kh_provider_get (KhAccountType type)
{
  g_return_val_if_fail ((guint) type < KH_N_ACCOUNT_TYPES, NULL);

  return &providers[type];
}

const KhProvider *
kh_provider_from_id (const char *id)
{
  g_return_val_if_fail (id != NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (providers); i++)
    {
      if (g_str_equal (providers[i].id, id))
        return &providers[i];
    }

  return NULL;
}

const KhProvider *
kh_provider_all (guint *n_providers)
{
  g_return_val_if_fail (n_providers != NULL, NULL);

  *n_providers = G_N_ELEMENTS (providers);
  return providers;
}

const KhProviderRole *
kh_provider_get_role (const KhProvider *provider,
                      const char       *role_id)
{
  g_return_val_if_fail (provider != NULL, NULL);

  if (role_id == NULL)
    return &provider->roles[0];

  for (guint i = 0; i < provider->n_roles; i++)
    {
      if (g_strcmp0 (provider->roles[i].id, role_id) == 0)
        return &provider->roles[i];
    }

  return NULL;
}

char *
kh_provider_list_ids (void)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (providers); i++)
    {
      if (i > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, providers[i].id);
    }

  return g_string_free (out, FALSE);
}

/* Every host tiktok-api.md names. */
static const char * const known_hosts[] = {
  "services.tiktokshop.com",
  "services.us.tiktokshop.com",
  "services.tiktokshops.us",
  "partner.tiktokshop.com",
  "partner.us.tiktokshop.com",
  "auth.tiktok-shops.com",
  "shop.tiktok.com",
  "open-api.tiktokglobalshop.com",
  "business-api.tiktok.com",
  "ads.tiktok.com",
  "www.tiktok.com",
};

/* TikTok's registered domains: they and their subdomains are TikTok's, since links copied from
 * Partner Center or the Business portal move between hosts over time. */
static const char * const known_domains[] = {
  "tiktokshop.com",
  "tiktok-shops.com",
  "tiktokshops.us",
  "tiktok.com",
  "tiktokglobalshop.com",
};

/* A DNS name of letters, digits and hyphens, non-empty labels, nothing else: anything odd
 * (percent signs, '@', a backslash, an IP literal with ':') is not a TikTok host. */
static gboolean
is_plain_dns_name (const char *host)
{
  gsize label_len = 0;

  if (*host == '\0')
    return FALSE;

  for (const char *p = host; *p != '\0'; p++)
    {
      if (*p == '.')
        {
          if (label_len == 0)
            return FALSE;
          label_len = 0;
        }
      else if (g_ascii_isalnum (*p) || *p == '-')
        {
          if (++label_len > 63)
            return FALSE;
        }
      else
        return FALSE;
    }

  return label_len > 0;
}

gboolean
kh_provider_is_known_host (const char *host)
{
  g_autofree char *lower = NULL;
  gsize len;

  g_return_val_if_fail (host != NULL, FALSE);

  lower = g_ascii_strdown (host, -1);
  len = strlen (lower);
  /* "www.tiktok.com." is the same name, fully qualified. */
  if (len > 0 && lower[len - 1] == '.')
    lower[--len] = '\0';

  if (!is_plain_dns_name (lower))
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (known_hosts); i++)
    {
      if (g_str_equal (lower, known_hosts[i]))
        return TRUE;
    }

  for (guint i = 0; i < G_N_ELEMENTS (known_domains); i++)
    {
      gsize domain_len = strlen (known_domains[i]);

      if (g_str_equal (lower, known_domains[i]))
        return TRUE;

      /* A subdomain ends in ".domain": "eviltiktok.com" has no dot before "tiktok.com". */
      if (len > domain_len + 1 &&
          lower[len - domain_len - 1] == '.' &&
          g_str_equal (lower + len - domain_len, known_domains[i]))
        return TRUE;
    }

  return FALSE;
}

/* GUri percent-decodes the host, so it may hold anything: escape it before it reaches an error
 * message (and so a terminal or a dialog). */
static char *
dup_display_host (GUri *uri)
{
  const char *host = g_uri_get_host (uri);

  return g_uri_escape_string (host != NULL ? host : "", ":[]", TRUE);
}

gboolean
kh_provider_check_launch_url (const char  *url,
                              GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autofree char *display_host = NULL;
  const char *host;

  g_return_val_if_fail (url != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Browsers and GUri disagree on how to read whitespace, control characters and backslashes
   * in a URL (WHATWG treats '\' as '/'), so a URL holding any of them is refused outright:
   * the host Keyhold checks must be the host the browser opens. */
  for (const char *p = url; *p != '\0'; p++)
    {
      if ((guchar) *p <= 0x20 || *p == 0x7f || *p == '\\')
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                               _("The authorization link contains spaces, control characters "
                                 "or backslashes"));
          return FALSE;
        }
    }

  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                           _("The authorization link is not a valid URL"));
      return FALSE;
    }

  host = g_uri_get_host (uri);
  display_host = dup_display_host (uri);

  /* "https://www.tiktok.com@evil.example/" shows a TikTok name but opens another host. */
  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                   _("The authorization link for “%s” contains a user name; Keyhold does not "
                     "open such links"), display_host);
      return FALSE;
    }

  if (host == NULL || *host == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                           _("The authorization link has no host"));
      return FALSE;
    }

  /* Test endpoints (the sandbox) are http on loopback: allowed only while the origin map
   * that points at them is active. */
  if (kh_origin_map_is_target_url (url))
    return TRUE;

  if (g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") != 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                   _("The authorization link for “%s” does not use https"), display_host);
      return FALSE;
    }

  if (!kh_provider_is_known_host (host))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                   _("“%s” is not a known TikTok host"), display_host);
      return FALSE;
    }

  return TRUE;
}
