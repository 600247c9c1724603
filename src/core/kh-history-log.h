/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-history-log.h: the local, append-only history of every grant (issue #11): a JSONL file of
 * KhHistoryEntry records, history.jsonl beside the store's index.json (0600 in the store's 0700
 * folder). It holds no secret (kh-history.h), so removing a grant leaves its history in place
 * with a `removed` record at its end.
 *
 * Writers append one line with one write(2) under O_APPEND and a shared flock on the file, so
 * lines of concurrent processes never interleave; there is no fsync (see kh-history-log.c).
 * Readers skip any line that does not parse, so a torn last line (a crash, a full disk) costs
 * that record only. Past max_bytes the oldest records are rolled up: each grant's older records
 * become one `rolled-up` summary (counts per action, first and last time), and the file is
 * rewritten through a temporary file and rename under an exclusive flock, which appenders
 * wait for and then follow to the new file. */
#pragma once

#include <gio/gio.h>

#include "kh-history.h"
#include "kh-store.h"

G_BEGIN_DECLS

/* The size past which an append rolls the history up; a roll-up leaves at most half of it. */
#define KH_HISTORY_LOG_DEFAULT_MAX_BYTES (4 * 1024 * 1024)

/* history.jsonl in the folder of store's index. */
char       *kh_history_log_path_for_store       (KhStore        *store);
/* The same for a store that is not open (the one-lookup path of `keyhold-cli token`): store_name
 * NULL is $KEYHOLD_STORE or "default", the data dir $KEYHOLD_DATA_DIR or the user's. */
char       *kh_history_log_path_for_store_name  (const char     *store_name,
                                                 GError        **error);

/* Appends entry as one line. KH_ERROR_INVALID_INPUT when entry does not read back (a detail
 * member its action does not define); KH_ERROR_STORE when the file cannot be written. When the
 * file has grown past max_bytes (0: the default), rolls it up. Blocking, cheap: no fsync. */
gboolean    kh_history_log_append               (const char     *path,
                                                 KhHistoryEntry *entry,
                                                 gsize           max_bytes,
                                                 GError        **error);
/* The records of grant_id (NULL: all), oldest first, as KhHistoryEntry. A missing file is an
 * empty history; lines that do not parse are skipped. */
GPtrArray  *kh_history_log_read                 (const char     *path,
                                                 const char     *grant_id,
                                                 GError        **error);
void        kh_history_log_read_async           (const char          *path,
                                                 const char          *grant_id,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
GPtrArray  *kh_history_log_read_finish          (GAsyncResult   *result,
                                                 GError        **error);
/* Rolls the history up now if it is larger than max_bytes (0: the default). */
gboolean    kh_history_log_roll_up              (const char     *path,
                                                 gsize           max_bytes,
                                                 GError        **error);

/* Deletes the history (Forget All). A missing file is fine. */
gboolean    kh_history_log_forget               (const char     *path,
                                                 GError        **error);

/* Records entry in store's history. A failure is logged, never returned: the history reports
 * what happened, and an unwritable history must not fail a refresh or a `token`. Every event
 * site calls this (or kh_history_record_action), which gives a team store one place to route
 * shared grants' events to its audit table. */
void        kh_history_record                   (KhStore        *store,
                                                 KhHistoryEntry *entry);
/* The same for an entry without detail: kh_history_entry_new (action, grant). */
void        kh_history_record_action            (KhStore        *store,
                                                 const char     *action,
                                                 KhGrant        *grant);
/* The same for a store that is not open (store_name as kh_history_log_path_for_store_name). */
void        kh_history_record_in_store_name     (const char     *store_name,
                                                 KhHistoryEntry *entry);

G_END_DECLS
