/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page.h: one tab of the main window, for one account type: the app profile in use,
 * the region (and role), the three ways to authorize, Quick Connect (seller) and the list of
 * that type's grants. It drives KhFlow; it never talks to TikTok itself. */
#pragma once

#include <adwaita.h>

#include "kh-app-context.h"
#include "kh-flow.h"
#include "kh-types.h"

G_BEGIN_DECLS

#define KH_TYPE_ACCOUNT_PAGE (kh_account_page_get_type ())
G_DECLARE_FINAL_TYPE (KhAccountPage, kh_account_page, KH, ACCOUNT_PAGE, AdwBin)

KhAccountPage  *kh_account_page_new               (KhAppContext  *context,
                                                   KhAccountType  type);
KhAccountType   kh_account_page_get_account_type  (KhAccountPage *self);
/* What the page was made with: the store, the broker, the team... its dialogs use it too. */
KhAppContext   *kh_account_page_get_context       (KhAccountPage *self);
/* The grants the list shows: this type, filtered by the search text, sorted by urgency. */
GListModel     *kh_account_page_get_model         (KhAccountPage *self);
void            kh_account_page_set_search        (KhAccountPage *self,
                                                   const char    *text);
/* Selects the app profile of that name in the profile row; FALSE if the page has none. */
gboolean        kh_account_page_select_app        (KhAccountPage *self,
                                                   const char    *name);
/* The selected app profile, or NULL. */
KhAppProfile   *kh_account_page_get_selected_app  (KhAccountPage *self);
void            kh_account_page_set_region        (KhAccountPage *self,
                                                   KhRegion       region);
/* A control by its id in kh-account-page.ui or kh-account-page-content.ui, which it builds if
 * needed (tests check which controls a type shows). */
GtkWidget      *kh_account_page_get_control       (KhAccountPage *self,
                                                   const char    *id);
/* The menu of the list's rows (one for the page), once a row's menu has been opened; NULL
 * before. Enter, a click, a right click, the Menu key or Shift+F10 on a row opens it. */
GtkPopover     *kh_account_page_get_row_menu      (KhAccountPage *self);
/* The flow of the current or last operation (tests watch its stage). */
KhFlow         *kh_account_page_get_flow          (KhAccountPage *self);
gboolean        kh_account_page_get_busy          (KhAccountPage *self);

/* role: NULL for the role selected on the page. */
void            kh_account_page_authorize         (KhAccountPage *self,
                                                   const char    *role);
void            kh_account_page_create_link       (KhAccountPage *self,
                                                   const char    *role);
/* url NULL: asks for the redirected URL in a dialog. */
void            kh_account_page_complete          (KhAccountPage *self,
                                                   const char    *url);
void            kh_account_page_cancel            (KhAccountPage *self);
/* Starts a new authorization with the grant's app, region, role and client label. */
void            kh_account_page_reauthorize       (KhAccountPage *self,
                                                   KhGrant       *grant);
/* Creates a fresh link for the grant's client and copies a ready-to-send renewal message. */
void            kh_account_page_copy_renewal_pack (KhAccountPage *self,
                                                   KhGrant       *grant);

G_END_DECLS
