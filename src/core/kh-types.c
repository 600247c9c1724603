/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-types.c: the stable string names of the shared enumerations. These names are written to
 * the index, printed by keyhold-cli and read back, so they never change. */
#define G_LOG_DOMAIN "kh-types"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-types.h"

typedef struct {
  int         value;
  const char *name;
} KhEnumName;

static const KhEnumName family_names[] = {
  { KH_FAMILY_SHOP, "shop" },
  { KH_FAMILY_BUSINESS, "business" },
};

static const KhEnumName region_names[] = {
  { KH_REGION_ROW, "row" },
  { KH_REGION_US, "us" },
};

static const KhEnumName token_kind_names[] = {
  { KH_TOKEN_KIND_SHOP, "shop" },
  { KH_TOKEN_KIND_ADVERTISER, "advertiser" },
  { KH_TOKEN_KIND_TT_USER, "tt-user" },
};

static const KhEnumName grant_status_names[] = {
  { KH_GRANT_STATUS_ACTIVE, "active" },
  { KH_GRANT_STATUS_EXPIRING, "expiring" },
  { KH_GRANT_STATUS_NEEDS_REAUTH, "needs-reauth" },
  { KH_GRANT_STATUS_REVOKED, "revoked" },
};

static const char *
enum_to_string (const KhEnumName *names,
                gsize             n_names,
                int               value)
{
  for (gsize i = 0; i < n_names; i++)
    {
      if (names[i].value == value)
        return names[i].name;
    }

  return NULL;
}

/* Matching is exact (case-sensitive): these are machine names, and accepting variants would
 * make two spellings of one value appear in files that scripts compare. */
static gboolean
enum_from_string (const KhEnumName *names,
                  gsize             n_names,
                  const char       *str,
                  int              *out)
{
  if (str == NULL)
    return FALSE;

  for (gsize i = 0; i < n_names; i++)
    {
      if (g_str_equal (names[i].name, str))
        {
          *out = names[i].value;
          return TRUE;
        }
    }

  return FALSE;
}

const char *
kh_family_to_string (KhFamily family)
{
  const char *name = enum_to_string (family_names, G_N_ELEMENTS (family_names), family);

  g_return_val_if_fail (name != NULL, NULL);

  return name;
}

gboolean
kh_family_from_string (const char *str,
                       KhFamily   *out)
{
  int value;

  g_return_val_if_fail (out != NULL, FALSE);

  if (!enum_from_string (family_names, G_N_ELEMENTS (family_names), str, &value))
    return FALSE;

  *out = (KhFamily) value;
  return TRUE;
}

const char *
kh_region_to_string (KhRegion region)
{
  const char *name = enum_to_string (region_names, G_N_ELEMENTS (region_names), region);

  g_return_val_if_fail (name != NULL, NULL);

  return name;
}

gboolean
kh_region_from_string (const char *str,
                       KhRegion   *out)
{
  int value;

  g_return_val_if_fail (out != NULL, FALSE);

  if (!enum_from_string (region_names, G_N_ELEMENTS (region_names), str, &value))
    return FALSE;

  *out = (KhRegion) value;
  return TRUE;
}

const char *
kh_token_kind_to_string (KhTokenKind kind)
{
  const char *name = enum_to_string (token_kind_names, G_N_ELEMENTS (token_kind_names), kind);

  g_return_val_if_fail (name != NULL, NULL);

  return name;
}

gboolean
kh_token_kind_from_string (const char  *str,
                           KhTokenKind *out)
{
  int value;

  g_return_val_if_fail (out != NULL, FALSE);

  if (!enum_from_string (token_kind_names, G_N_ELEMENTS (token_kind_names), str, &value))
    return FALSE;

  *out = (KhTokenKind) value;
  return TRUE;
}

const char *
kh_grant_status_to_string (KhGrantStatus status)
{
  const char *name = enum_to_string (grant_status_names, G_N_ELEMENTS (grant_status_names),
                                     status);

  g_return_val_if_fail (name != NULL, NULL);

  return name;
}

gboolean
kh_grant_status_from_string (const char    *str,
                             KhGrantStatus *out)
{
  int value;

  g_return_val_if_fail (out != NULL, FALSE);

  if (!enum_from_string (grant_status_names, G_N_ELEMENTS (grant_status_names), str, &value))
    return FALSE;

  *out = (KhGrantStatus) value;
  return TRUE;
}
