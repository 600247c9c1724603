/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-window.h: the main window: six account pages in an AdwViewStack, search across them,
 * the test-endpoints banner, toasts, and the grant operations of the row menus. */
#pragma once

#include <adwaita.h>

#include "kh-app-context.h"
#include "kh-grant.h"

G_BEGIN_DECLS

typedef struct _KhAccountPage KhAccountPage;

#define KH_TYPE_WINDOW (kh_window_get_type ())
G_DECLARE_FINAL_TYPE (KhWindow, kh_window, KH, WINDOW, AdwApplicationWindow)

/* application: the GtkApplication the window belongs to; context: what it asks of it
 * (KhApplication is both). */
KhWindow       *kh_window_new                (GtkApplication *application,
                                              KhAppContext   *context);
KhAppContext   *kh_window_get_application    (KhWindow      *self);
KhAccountPage  *kh_window_get_page           (KhWindow      *self,
                                              KhAccountType  type);
KhAccountPage  *kh_window_get_visible_page   (KhWindow      *self);
void            kh_window_show_page          (KhWindow      *self,
                                              KhAccountType  type);
/* Sets the search text of every page (what the search entry does). */
void            kh_window_set_search         (KhWindow      *self,
                                              const char    *text);
gboolean        kh_window_get_banner_visible (KhWindow      *self);

void            kh_window_add_toast          (KhWindow      *self,
                                              const char    *text);
/* The flow of the page from stored grant: a toast, and the grant's tab when the user watches
 * from; when they are on another tab, the toast names the grant's tab and its Show button opens
 * the grant there. */
void            kh_window_grant_added        (KhWindow      *self,
                                              KhAccountPage *from,
                                              KhGrant       *grant);
/* A dialog with a heading and the error's message (core messages say what to do). */
void            kh_window_show_error         (KhWindow      *self,
                                              const char    *heading,
                                              const GError  *error);
/* The grant of that id in the application's model, or NULL. */
KhGrant        *kh_window_lookup_grant       (KhWindow      *self,
                                              const char    *grant_id);

/* spec: an account type id ("seller") with an optional ":role" ("creator-marketplace:creator").
 * Uses the page's selected app profile and region. */
void            kh_window_authorize          (KhWindow      *self,
                                              const char    *spec);
void            kh_window_create_link        (KhWindow      *self,
                                              const char    *spec);
/* url NULL or "": asks for it in a dialog on the visible page. */
void            kh_window_complete_url       (KhWindow      *self,
                                              const char    *url);
void            kh_window_refresh_grant      (KhWindow      *self,
                                              const char    *grant_id);
void            kh_window_revoke_grant       (KhWindow      *self,
                                              const char    *grant_id,
                                              gboolean       confirm);
void            kh_window_remove_grant       (KhWindow      *self,
                                              const char    *grant_id,
                                              gboolean       confirm);
void            kh_window_show_grant         (KhWindow      *self,
                                              const char    *grant_id);

G_END_DECLS
