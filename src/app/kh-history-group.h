/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-history-group.h: a grant's history as a preferences group: one row per event, newest
 * first, its sentence and when (and who, where it was someone else or another machine). It
 * shows KhHistoryEntry records from any source: the local history file (the grant window) or a
 * team store's audit rows for a shared grant. */
#pragma once

#include <adwaita.h>

#include "kh-history.h"

G_BEGIN_DECLS

/* More rows than this make the window slow to open; `keyhold-cli history` shows everything. */
#define KH_HISTORY_GROUP_MAX_ROWS 100

#define KH_TYPE_HISTORY_GROUP (kh_history_group_get_type ())
G_DECLARE_FINAL_TYPE (KhHistoryGroup, kh_history_group, KH, HISTORY_GROUP, AdwPreferencesGroup)

KhHistoryGroup *kh_history_group_new         (void);
/* entries: KhHistoryEntry in any order (NULL or empty: "nothing recorded yet"). Sorted newest
 * first here; the group keeps its own references. */
void            kh_history_group_set_entries (KhHistoryGroup *self,
                                              GPtrArray      *entries);
/* Shows that the history could not be read, in place of the rows. */
void            kh_history_group_set_error   (KhHistoryGroup *self,
                                              const GError   *error);
/* The number of event rows shown (tests, and the window's accessible summary). */
guint           kh_history_group_get_n_events (KhHistoryGroup *self);

G_END_DECLS
