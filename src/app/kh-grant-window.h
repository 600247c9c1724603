/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-window.h: everything about one grant: status and expiries, shops with their ciphers
 * or advertisers (with copy buttons), scopes granted vs required, and where the account holder
 * renews or cancels it. */
#pragma once

#include <adwaita.h>

#include "kh-account-page.h"
#include "kh-grant.h"

G_BEGIN_DECLS

#define KH_TYPE_GRANT_WINDOW (kh_grant_window_get_type ())
G_DECLARE_FINAL_TYPE (KhGrantWindow, kh_grant_window, KH, GRANT_WINDOW, AdwWindow)

/* page: the grant's type's page, whose window the grant window is transient for; Renew and the
 * renewal pack run on it. */
KhGrantWindow *kh_grant_window_new (KhAccountPage *page,
                                    KhGrant       *grant);

G_END_DECLS
