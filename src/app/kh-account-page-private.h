/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page-private.h: what the parts of an account page share: the page's struct (its
 * widgets from kh-account-page.ui and kh-account-page-content.ui, and its state) and the
 * helpers one part calls in another. Not installed; only kh-account-page*.c include it. The parts:
 * kh-account-page.c (the page: state, errors, per-type setup, building the content),
 * kh-account-page-form.c (the form: app profile, region, role, browser, and its entrances:
 * authorize, client link, renewal pack, pasted URL), kh-account-page-quick.c (Quick Connect),
 * kh-account-page-list.c (the grant list, its rows and row menu). */
#pragma once

#include "kh-account-page.h"
#include "kh-grant-list.h"

G_BEGIN_DECLS

struct _KhAccountPage
{
  AdwBin               parent_instance;

  /* template widgets */
  GtkStack            *page_stack;
  AdwStatusPage       *empty_status;
  GtkLabel            *empty_help_label;

  /* kh-account-page-content.ui, built by ensure_content() (CONTENT_CHILDREN names them) */
  GtkWidget           *content;
  GtkLabel            *description_label;
  AdwComboRow         *app_row;
  GtkButton           *edit_app_button;
  AdwComboRow         *region_row;
  AdwComboRow         *role_row;
  GtkStringList       *role_list;
  AdwActionRow        *consent_row;
  GtkSwitch           *consent_switch;
  AdwEntryRow         *client_row;
  AdwComboRow         *browser_row;
  GtkStringList       *browser_list;
  GtkWidget           *actions_box;
  GtkButton           *authorize_button;
  GtkButton           *link_button;
  GtkButton           *paste_button;
  GtkRevealer         *progress_revealer;
  GtkWidget           *progress_box;
  GtkSpinner          *progress_spinner;
  GtkLabel            *progress_label;
  GtkWidget           *copy_flow_link_button;
  AdwPreferencesGroup *quick_group;
  AdwPasswordEntryRow *quick_secret_row;
  AdwEntryRow         *quick_url_row;
  GtkButton           *quick_button;
  GtkLabel            *quick_error_label;
  AdwActionRow        *redirect_note_row;
  AdwActionRow        *cancel_note_row;
  AdwActionRow        *renew_note_row;
  AdwActionRow        *scopes_note_row;
  GtkLabel            *count_label;
  GtkStack            *list_stack;
  GtkListView         *list_view;
  AdwStatusPage       *list_empty_status;

  /* borrowed */
  KhAppContext        *context;
  const KhProvider    *provider;

  /* owned */
  KhFlow              *flow;
  GCancellable        *cancellable;
  GCancellable        *browser_cancellable;  /* the running profile discovery */
  GPtrArray           *browser_profiles;     /* KhBrowserProfile: browser_list items 1... */
  GtkFilterListModel  *apps;
  KhGrantList         *grants;       /* this type's grants, searched: a view of the app's list */
  GListModel          *model;        /* what the list shows: grants, or empty without a store */
  GtkPopoverMenu      *row_menu;     /* one menu for every row, built when it opens */
  GtkWidget           *menu_row;     /* weak: the row it was opened on */
  GdkFrameClock       *frame_clock;  /* until the page's first frame */
  char                *wanted_search;   /* set while hidden, applied when shown */
  gboolean             search_pending;

  KhAccountType        type;
  guint                attach_id;
  char                *chosen_app;      /* the profile the user picked, kept across reloads */
  gboolean             restoring;
  gboolean             busy;
  gboolean             browsers_available;   /* FALSE inside Flatpak */
};

/* kh-account-page.c */
char        *kh_account_page_client_label             (KhAccountPage *self);
void         kh_account_page_ensure_content           (KhAccountPage *self);
const char  *kh_account_page_error_heading            (const GError *error);
char        *kh_account_page_explain_error            (const GError *error);
void         kh_account_page_flow_succeeded           (KhAccountPage *self,
                                                       KhGrant       *grant);
GtkWindow   *kh_account_page_get_window               (KhAccountPage *self);
KhFlow      *kh_account_page_new_flow                 (KhAccountPage *self);
KhRegion     kh_account_page_selected_region          (KhAccountPage *self);
const char  *kh_account_page_selected_role            (KhAccountPage *self);
void         kh_account_page_set_busy                 (KhAccountPage *self,
                                                       gboolean       busy);
void         kh_account_page_show_flow_error          (KhAccountPage *self,
                                                       const GError  *error);
void         kh_account_page_toast                    (KhAccountPage *self,
                                                       const char    *text);
void         kh_account_page_update_app_state         (KhAccountPage *self);

/* kh-account-page-form.c */
void         kh_account_page_on_add_app_clicked       (KhAccountPage *self);
void         kh_account_page_on_authorize_clicked     (KhAccountPage *self);
void         kh_account_page_on_client_label_changed  (KhAccountPage *self);
void         kh_account_page_on_copy_flow_link_clicked (KhAccountPage *self);
void         kh_account_page_on_copy_redirect_clicked (KhAccountPage *self);
void         kh_account_page_on_edit_app_clicked      (KhAccountPage *self);
void         kh_account_page_on_link_clicked          (KhAccountPage *self);
void         kh_account_page_on_paste_clicked         (KhAccountPage *self);
void         kh_account_page_reload_browsers          (KhAccountPage *self);
void         kh_account_page_setup_browser_row        (KhAccountPage *self);

/* kh-account-page-quick.c */
void         kh_account_page_on_quick_connect_clicked (KhAccountPage *self);

/* kh-account-page-list.c */
void         kh_account_page_bind_row                 (GtkSignalListItemFactory *factory,
                                                       GtkListItem              *item,
                                                       gpointer                  user_data);
void         kh_account_page_on_list_activate         (KhAccountPage *self,
                                                       guint          position);
void         kh_account_page_on_list_secondary_click  (GtkGestureClick *gesture,
                                                       int              n_press,
                                                       double           x,
                                                       double           y,
                                                       KhAccountPage   *self);
void         kh_account_page_row_menu_action          (GtkWidget  *widget,
                                                       const char *action_name,
                                                       GVariant   *parameter);
void         kh_account_page_setup_row                (GtkSignalListItemFactory *factory,
                                                       GtkListItem              *item,
                                                       gpointer                  user_data);
void         kh_account_page_unbind_row               (GtkSignalListItemFactory *factory,
                                                       GtkListItem              *item,
                                                       gpointer                  user_data);

G_END_DECLS
