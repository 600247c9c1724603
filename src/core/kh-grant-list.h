/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-list.h: the grants of a store as a GListModel of KhGrant, filtered (type, client,
 * status, text) and sorted soonest relevant expiry first ("never" last). It follows the index
 * file: when another process (the CLI, a refresh) changes it, the model reloads and emits
 * items-changed for the range that changed. Shared by the GUI and the CLI. */
#pragma once

#include <gio/gio.h>

#include "kh-grant.h"
#include "kh-store.h"

G_BEGIN_DECLS

#define KH_TYPE_GRANT_LIST (kh_grant_list_get_type ())
G_DECLARE_FINAL_TYPE (KhGrantList, kh_grant_list, KH, GRANT_LIST, GObject)

/* Any type / any status: pass -1 to the setters. */
#define KH_GRANT_LIST_ANY (-1)

KhGrantList   *kh_grant_list_new              (KhStore      *store);
KhStore       *kh_grant_list_get_store        (KhGrantList  *self);

/* KH_GRANT_LIST_ANY or a KhAccountType. */
int            kh_grant_list_get_type_filter  (KhGrantList  *self);
void           kh_grant_list_set_type_filter  (KhGrantList  *self,
                                               int           type);
/* NULL for any client; else the exact client label. */
const char    *kh_grant_list_get_client_filter (KhGrantList *self);
void           kh_grant_list_set_client_filter (KhGrantList *self,
                                                const char  *client);
/* KH_GRANT_LIST_ANY or a KhGrantStatus (computed at kh_now ()). */
int            kh_grant_list_get_status_filter (KhGrantList *self);
void           kh_grant_list_set_status_filter (KhGrantList *self,
                                                int          status);
/* Case-insensitive substring of the display name, client, shop or advertiser names, region
 * or id; NULL or "" for all. */
const char    *kh_grant_list_get_text_filter  (KhGrantList  *self);
void           kh_grant_list_set_text_filter  (KhGrantList  *self,
                                               const char   *text);

/* Number of grants before filtering. */
guint          kh_grant_list_get_n_total      (KhGrantList  *self);

/* Re-reads the index now (the file monitor does this by itself). */
gboolean       kh_grant_list_reload           (KhGrantList  *self,
                                               GError      **error);

/* The sort key: the authorization's end, else the access token's; G_MAXINT64 for never. */
gint64         kh_grant_get_relevant_expiry   (KhGrant      *grant);

G_END_DECLS
