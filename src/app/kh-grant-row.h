/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-row.h: one grant in a page's list: name, client, region, status pill, expiries in
 * local time with relative text. Its menu is the page's one shared popover (kh_grant_menu_new
 * builds it for a grant). Also the time and status wording the app shares. */
#pragma once

#include <adwaita.h>

#include "kh-grant.h"

G_BEGIN_DECLS

#define KH_TYPE_GRANT_ROW (kh_grant_row_get_type ())
G_DECLARE_FINAL_TYPE (KhGrantRow, kh_grant_row, KH, GRANT_ROW, AdwBin)

KhGrantRow  *kh_grant_row_new           (void);
KhGrant     *kh_grant_row_get_grant     (KhGrantRow *self);
void         kh_grant_row_set_grant     (KhGrantRow *self,
                                         KhGrant    *grant);
/* The row's menu (for tests: every entry targets the grant's id). */
GMenuModel  *kh_grant_row_get_menu      (KhGrantRow *self);
/* Every operation on grant, each targeting its id: copy token, refresh, details, label,
 * renewal pack, re-authorize, revoke, remove. */
GMenuModel  *kh_grant_menu_new          (KhGrant    *grant);

/* "21 Nov 2026, 22:10" in local time; "never" for 0. */
char        *kh_format_time             (gint64      unix_time);
/* "in 3 hours", "2 days ago", "in 5 minutes". */
char        *kh_format_relative         (gint64      unix_time,
                                         gint64      now);
/* "Active", "Expires in 5 days", "Needs Re-authorization", "Revoked". */
char        *kh_grant_describe_status   (KhGrant    *grant,
                                         gint64      now);
/* The end of the authorization (refresh token) if it has one, else of the access token. */
gint64       kh_grant_get_end           (KhGrant    *grant);

G_END_DECLS
