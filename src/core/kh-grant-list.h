/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-list.h: the grants of a store as a GListModel of KhGrant, filtered (type, client,
 * status, text) and sorted soonest relevant expiry first ("never" last). It follows the index
 * file: when another process (the CLI, a refresh) changes it, the model reloads and emits
 * items-changed for the range that changed. Shared by the GUI and the CLI. */
#pragma once

#include <gio/gio.h>

#include "kh-grant.h"
#include "kh-store.h"
#include "kh-team.h"

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

/* ---- shared sources, views and loading in the background ----
 * A GUI shows one store in several filtered lists: one source list reads the index, and each
 * view shows the source's grants through filters of its own, sharing its sorted copy (one
 * read, one sort, one set of grant objects for every page). */

typedef enum
{
  KH_GRANT_LIST_SORT_EXPIRY,     /* soonest relevant expiry first, "never" last (the default) */
  KH_GRANT_LIST_SORT_ATTENTION,  /* needs re-authorization, expiring, active, revoked; then by
                                  * soonest expiry */
} KhGrantListSort;

/* A list of store that reads nothing until kh_grant_list_load_async () or
 * kh_grant_list_set_grants (): a window can show itself before the index is read. It follows
 * the index file like kh_grant_list_new (), re-reading it in a worker thread. */
KhGrantList   *kh_grant_list_new_deferred     (KhStore      *store);
/* A view of source's grants with filters of its own. It reads nothing itself: it changes when
 * source does, and reloading it reloads source. */
KhGrantList   *kh_grant_list_new_view         (KhGrantList  *source);
/* The list a view shows; NULL for a list that reads the store itself. */
KhGrantList   *kh_grant_list_get_source       (KhGrantList  *self);
/* FALSE until the grants have been read once (always TRUE for kh_grant_list_new ()). The
 * "reloaded" signal follows every read, after items-changed. */
gboolean       kh_grant_list_get_loaded       (KhGrantList  *self);
KhGrantListSort kh_grant_list_get_sort        (KhGrantList  *self);
/* Sources only: views follow the order of their source. */
void           kh_grant_list_set_sort         (KhGrantList  *self,
                                               KhGrantListSort sort);
/* Re-reads the index (kh_store_reload) and lists its grants in a worker thread; the list
 * changes on the calling thread's main context. Sources only. */
void           kh_grant_list_load_async       (KhGrantList        *self,
                                               GCancellable       *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer            user_data);
gboolean       kh_grant_list_load_finish      (KhGrantList  *self,
                                               GAsyncResult *result,
                                               GError      **error);
/* Shows grants (KhGrant) instead of what the store holds, until the next read: for a caller
 * that has the grants already (a preview, a test). Sources only. */
void           kh_grant_list_set_grants       (KhGrantList  *self,
                                               GPtrArray    *grants);

/* Sources only: list the team's shared grants too (kh_shared_list_grants), and follow the
 * team's changes as they are committed (kh_team_watch, started in a worker thread; if its
 * connection is lost it is started again after ten seconds). team NULL: local grants only. */
void           kh_grant_list_set_team         (KhGrantList  *self,
                                               KhTeam       *team);
KhTeam        *kh_grant_list_get_team         (KhGrantList  *self);
/* TRUE while the team's changes arrive (the watch is connected). */
gboolean       kh_grant_list_get_following_team (KhGrantList *self);

/* The sort key: the authorization's end, else the access token's; G_MAXINT64 for never. */
gint64         kh_grant_get_relevant_expiry   (KhGrant      *grant);

G_END_DECLS
