/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-history-log.c: the history file (kh-history-log.h): appending a record, reading records
 * back past torn lines, and rolling the oldest ones up when the file grows.
 *
 * Why no fsync on append: the history reports what happened; it is not data anything depends
 * on, and `keyhold-cli token` appends on every call, where an fsync would cost milliseconds
 * (more than the whole keyring lookup). A power cut can lose the last records or leave a torn
 * line, which readers skip. The roll-up, which replaces the whole file, does fsync the new file
 * before the rename: otherwise a crash could swap the history for an empty file. */

#define G_LOG_DOMAIN "kh-history-log"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kh-history-log.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HISTORY_FILE_NAME "history.jsonl"
/* Far above any record Keyhold writes; a longer line is refused rather than torn. */
#define MAX_LINE_BYTES (16 * 1024)
/* How often an appender follows a file that a roll-up replaced before giving up. */
#define MAX_REOPENS 16

/* ---- paths ---------------------------------------------------------------------------------- */

char *
kh_history_log_path_for_store (KhStore *store)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  dir = g_path_get_dirname (kh_store_get_index_path (store));
  return g_build_filename (dir, HISTORY_FILE_NAME, NULL);
}

char *
kh_history_log_path_for_store_name (const char  *store_name,
                                    GError     **error)
{
  g_autofree char *dir = kh_store_dup_dir (NULL, store_name, error);

  return dir != NULL ? g_build_filename (dir, HISTORY_FILE_NAME, NULL) : NULL;
}

/* ---- small helpers -------------------------------------------------------------------------- */

static gboolean
io_error (GError    **error,
          const char *path,
          int         saved_errno)
{
  g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not write the history file %s: %s"),
               path, g_strerror (saved_errno));
  return FALSE;
}

static gboolean
write_all (int         fd,
           const char *data,
           gsize       len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Locks the file at path and makes sure the lock is on the file that is there now, not on one
 * a roll-up has just renamed away (then the caller would write into a deleted file). */
static int
open_locked (const char *path,
             int         open_flags,
             int         lock_op,
             GError    **error)
{
  for (guint attempt = 0; attempt < MAX_REOPENS; attempt++)
    {
      struct stat held, current;
      int fd = open (path, open_flags | O_CLOEXEC | O_NOFOLLOW, 0600);
      int saved_errno;

      if (fd < 0)
        {
          saved_errno = errno;
          io_error (error, path, saved_errno);
          errno = saved_errno;
          return -1;
        }
      while (flock (fd, lock_op) != 0)
        if (errno != EINTR)
          {
            saved_errno = errno;
            close (fd);
            io_error (error, path, saved_errno);
            errno = saved_errno;
            return -1;
          }
      if (fstat (fd, &held) == 0 && stat (path, &current) == 0
          && held.st_dev == current.st_dev && held.st_ino == current.st_ino)
        return fd;
      close (fd);
    }

  io_error (error, path, EAGAIN);
  errno = EAGAIN;
  return -1;
}

static gsize
effective_max (gsize max_bytes)
{
  return max_bytes > 0 ? max_bytes : KH_HISTORY_LOG_DEFAULT_MAX_BYTES;
}

/* ---- reading -------------------------------------------------------------------------------- */

/* One line of the file. A line that does not parse may be a torn record that the next append
 * continued (a crash or a full disk left no newline): the last record start in it is tried. */
static KhHistoryEntry *
parse_line (const char *line)
{
  g_autoptr(KhHistoryEntry) entry = kh_history_entry_from_json (line, NULL);
  const char *start;

  if (entry != NULL)
    return g_steal_pointer (&entry);

  start = g_strrstr (line, "{\"v\":");
  if (start != NULL && start != line)
    return kh_history_entry_from_json (start, NULL);
  return NULL;
}

/* Parses the whole text into entries (of grant_id, or all). *n_skipped counts bad lines. */
static GPtrArray *
parse_text (char       *text,
            gsize       len,
            const char *grant_id,
            guint      *n_skipped)
{
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
  char *line = text;
  char *end = text + len;

  *n_skipped = 0;
  while (line < end)
    {
      char *newline = memchr (line, '\n', (gsize) (end - line));
      char *stop = newline != NULL ? newline : end;
      KhHistoryEntry *entry;

      /* A NUL (a crash can leave a zero-filled tail) ends the line for the parser. */
      *stop = '\0';
      if (strlen (line) > 0)
        {
          entry = parse_line (line);
          if (entry == NULL)
            (*n_skipped)++;
          else if (grant_id == NULL
                   || g_strcmp0 (kh_history_entry_get_grant_id (entry), grant_id) == 0)
            g_ptr_array_add (entries, entry);
          else
            kh_history_entry_unref (entry);
        }
      line = stop + 1;
    }

  return entries;
}

GPtrArray *
kh_history_log_read (const char  *path,
                     const char  *grant_id,
                     GError     **error)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize len = 0;
  guint n_skipped;
  GPtrArray *entries;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* No lock: a roll-up replaces the file by rename, so this reads either file whole; an append
   * in progress is at worst a torn last line. */
  if (!g_file_get_contents (path, &text, &len, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not read the history file %s: %s"),
                   path, local_error->message);
      return NULL;
    }

  entries = parse_text (text, len, grant_id, &n_skipped);
  if (n_skipped > 0)
    g_debug ("Skipped %u damaged history lines in %s", n_skipped, path);
  return entries;
}

typedef struct
{
  char *path;
  char *grant_id;
} ReadData;

static void
read_data_free (ReadData *data)
{
  g_free (data->path);
  g_free (data->grant_id);
  g_free (data);
}

static void
read_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  ReadData *data = task_data;
  GError *error = NULL;
  GPtrArray *entries;

  if (g_task_return_error_if_cancelled (task))
    return;
  entries = kh_history_log_read (data->path, data->grant_id, &error);
  if (entries != NULL)
    g_task_return_pointer (task, entries, (GDestroyNotify) g_ptr_array_unref);
  else
    g_task_return_error (task, error);
}

void
kh_history_log_read_async (const char          *path,
                           const char          *grant_id,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  ReadData *data;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_history_log_read_async);
  data = g_new0 (ReadData, 1);
  data->path = g_strdup (path);
  data->grant_id = g_strdup (grant_id);
  g_task_set_task_data (task, data, (GDestroyNotify) read_data_free);
  g_task_run_in_thread (task, read_thread);
}

GPtrArray *
kh_history_log_read_finish (GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_history_log_read_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- rolling up ----------------------------------------------------------------------------- */

typedef struct
{
  gint64      since;
  gint64      until;
  JsonObject *counts;
  KhHistoryEntry *latest;   /* the newest record summarised: its type, client, actor, machine */
} Summary;

static void
summary_free (Summary *summary)
{
  json_object_unref (summary->counts);
  kh_history_entry_unref (summary->latest);
  g_free (summary);
}

static void
count_add (JsonObject *counts,
           const char *action,
           gint64      n)
{
  gint64 before = 0;

  kh_json_get_int (counts, action, &before);
  json_object_set_int_member (counts, action, before + n);
}

/* Folds entry (a plain record or an earlier summary) into the summary of its grant. */
static void
summarise (GHashTable     *summaries,
           KhHistoryEntry *entry)
{
  const char *grant_id = kh_history_entry_get_grant_id (entry);
  Summary *summary = g_hash_table_lookup (summaries, grant_id);
  gint64 since = kh_history_entry_get_at (entry);
  gint64 until = since;
  JsonObject *detail = kh_history_entry_get_detail (entry);
  gboolean rolled = g_str_equal (kh_history_entry_get_action (entry), KH_HISTORY_ROLLED_UP);

  if (rolled)
    {
      kh_unix_from_iso8601 (kh_json_get_string (detail, "since"), &since);
      kh_unix_from_iso8601 (kh_json_get_string (detail, "until"), &until);
    }

  if (summary == NULL)
    {
      summary = g_new0 (Summary, 1);
      summary->since = since;
      summary->until = until;
      summary->counts = json_object_new ();
      summary->latest = kh_history_entry_ref (entry);
      g_hash_table_insert (summaries, g_strdup (grant_id), summary);
    }
  else
    {
      summary->since = MIN (summary->since, since);
      if (until >= summary->until)
        {
          summary->until = until;
          kh_history_entry_unref (summary->latest);
          summary->latest = kh_history_entry_ref (entry);
        }
    }

  if (rolled)
    {
      JsonObject *counts = kh_json_get_object (detail, "counts");
      g_autoptr(GList) actions = counts != NULL ? json_object_get_members (counts) : NULL;

      for (GList *l = actions; l != NULL; l = l->next)
        {
          gint64 n = 0;

          kh_json_get_int (counts, l->data, &n);
          count_add (summary->counts, l->data, n);
        }
    }
  else
    count_add (summary->counts, kh_history_entry_get_action (entry), 1);
}

static KhHistoryEntry *
summary_to_entry (const char *grant_id,
                  Summary    *summary)
{
  KhHistoryEntry *latest = summary->latest;
  KhHistoryEntry *entry;
  g_autofree char *since = kh_iso8601_from_unix (summary->since);
  g_autofree char *until = kh_iso8601_from_unix (summary->until);

  entry = kh_history_entry_new_full (summary->until, KH_HISTORY_ROLLED_UP, grant_id,
                                     kh_history_entry_get_type_id (latest),
                                     kh_history_entry_get_client (latest),
                                     kh_history_entry_get_actor (latest),
                                     kh_history_entry_get_machine (latest));
  kh_history_entry_set_detail_string (entry, "since", since);
  kh_history_entry_set_detail_string (entry, "until", until);
  kh_history_entry_set_detail (entry, "counts",
                               json_node_init_object (json_node_alloc (), summary->counts));
  return entry;
}

static int
compare_at (gconstpointer a,
            gconstpointer b)
{
  gint64 at_a = kh_history_entry_get_at (*(KhHistoryEntry **) a);
  gint64 at_b = kh_history_entry_get_at (*(KhHistoryEntry **) b);

  return at_a < at_b ? -1 : at_a > at_b;
}

/* The new file's text, at most budget bytes (half the limit, so that roll-ups stay rare): the
 * newest records as they were, in at most half of it, and before them every grant's older
 * records as one summary each (oldest first, and dropped first when even the summaries would
 * not fit, which takes thousands of grants). */
static GString *
roll_up_text (GPtrArray *entries,
              gsize      budget)
{
  g_autoptr(GHashTable) summaries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                           (GDestroyNotify) summary_free);
  g_autoptr(GPtrArray) summary_entries = NULL;
  g_autoptr(GPtrArray) kept_lines = g_ptr_array_new_with_free_func (g_free);
  GString *text = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  gsize kept_bytes = 0, summary_bytes = 0;
  guint first_summary = 0;
  guint i = entries->len;

  /* The newest records that fit in half the budget stay as they are. */
  while (i > 0)
    {
      KhHistoryEntry *entry = g_ptr_array_index (entries, i - 1);
      char *line;

      if (g_str_equal (kh_history_entry_get_action (entry), KH_HISTORY_ROLLED_UP))
        {
          i--;
          continue;
        }
      line = kh_history_entry_to_json (entry);
      if (kept_bytes + strlen (line) + 1 > budget / 2)
        {
          g_free (line);
          break;
        }
      kept_bytes += strlen (line) + 1;
      g_ptr_array_add (kept_lines, line);
      i--;
    }

  /* Everything older, and every earlier summary, is summarised per grant. */
  for (guint j = 0; j < entries->len; j++)
    {
      KhHistoryEntry *entry = g_ptr_array_index (entries, j);
      gboolean rolled = g_str_equal (kh_history_entry_get_action (entry), KH_HISTORY_ROLLED_UP);

      if (j < i || rolled)
        summarise (summaries, entry);
    }

  summary_entries = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
  g_hash_table_iter_init (&iter, summaries);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (summary_entries, summary_to_entry (key, value));
  g_ptr_array_sort (summary_entries, compare_at);

  for (guint j = summary_entries->len; j > 0; j--)
    {
      g_autofree char *line = kh_history_entry_to_json (g_ptr_array_index (summary_entries,
                                                                           j - 1));

      if (summary_bytes + strlen (line) + 1 > budget - kept_bytes)
        {
          first_summary = j;
          break;
        }
      summary_bytes += strlen (line) + 1;
    }
  for (guint j = first_summary; j < summary_entries->len; j++)
    {
      g_autofree char *line = kh_history_entry_to_json (g_ptr_array_index (summary_entries, j));

      g_string_append (text, line);
      g_string_append_c (text, '\n');
    }
  for (guint j = kept_lines->len; j > 0; j--)
    {
      g_string_append (text, g_ptr_array_index (kept_lines, j - 1));
      g_string_append_c (text, '\n');
    }

  return text;
}

static char *
read_fd (int    fd,
         gsize *len_out)
{
  g_autoptr(GString) text = g_string_new (NULL);
  char buffer[16384];

  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      g_string_append_len (text, buffer, n);
    }
  *len_out = text->len;
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* Writes text to a new file beside path, flushes it to disk and renames it over path. */
static gboolean
replace_file (const char *path,
              GString    *text,
              GError    **error)
{
  g_autofree char *tmp_path = g_strconcat (path, ".XXXXXX", NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0600);
  int saved_errno;
  int dir_fd;

  if (fd < 0)
    return io_error (error, path, errno);
  if (!write_all (fd, text->str, text->len) || fsync (fd) != 0)
    {
      saved_errno = errno != 0 ? errno : EIO;
      close (fd);
      g_unlink (tmp_path);
      return io_error (error, path, saved_errno);
    }
  close (fd);
  if (g_rename (tmp_path, path) != 0)
    {
      saved_errno = errno;
      g_unlink (tmp_path);
      return io_error (error, path, saved_errno);
    }

  /* The rename itself survives a crash once the folder is flushed too. */
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0)
    {
      fsync (dir_fd);
      close (dir_fd);
    }
  return TRUE;
}

gboolean
kh_history_log_roll_up (const char  *path,
                        gsize        max_bytes,
                        GError     **error)
{
  g_autofree char *text = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GString) rolled = NULL;
  struct stat st;
  gsize len = 0;
  guint n_skipped;
  gboolean ok;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  max_bytes = effective_max (max_bytes);

  /* The exclusive lock waits for appends in progress and holds new ones back until the new
   * file is in place; they then follow it (open_locked). */
  fd = open_locked (path, O_RDONLY, LOCK_EX, error);
  if (fd < 0)
    {
      if (errno == ENOENT)
        {
          g_clear_error (error);
          return TRUE;
        }
      return FALSE;
    }

  /* Another process may have rolled it up while this one waited for the lock. */
  if (fstat (fd, &st) != 0 || (gsize) st.st_size <= max_bytes)
    {
      close (fd);
      return TRUE;
    }

  text = read_fd (fd, &len);
  if (text == NULL)
    {
      int saved_errno = errno;

      close (fd);
      return io_error (error, path, saved_errno);
    }
  entries = parse_text (text, len, NULL, &n_skipped);
  rolled = roll_up_text (entries, max_bytes / 2);
  ok = replace_file (path, rolled, error);
  g_debug ("Rolled the history up from %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT " bytes "
           "(%u damaged lines dropped)", len, rolled->len, n_skipped);
  close (fd);
  return ok;
}

/* ---- appending ------------------------------------------------------------------------------ */

/* Appends entry's line; *size_out is the file's size after it. */
static gboolean
append_line (const char      *path,
             KhHistoryEntry  *entry,
             gsize           *size_out,
             GError         **error)
{
  g_autofree char *json = NULL;
  g_autofree char *line = NULL;
  g_autoptr(KhHistoryEntry) check = NULL;
  struct stat st;
  gsize len;
  gboolean written;
  int saved_errno;
  int fd;

  /* What is written must read back: that refuses detail members the action does not define
   * (where a secret could hide) before they reach the disk. */
  json = kh_history_entry_to_json (entry);
  check = kh_history_entry_from_json (json, error);
  if (check == NULL)
    return FALSE;
  line = g_strconcat (json, "\n", NULL);
  len = strlen (line);
  if (len > MAX_LINE_BYTES)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("History record: longer than %d bytes"), MAX_LINE_BYTES);
      return FALSE;
    }

  /* One write(2) under O_APPEND: the kernel places it at the end as a whole, so lines of
   * concurrent writers never interleave. The shared lock only keeps out a roll-up. */
  fd = open_locked (path, O_WRONLY | O_APPEND | O_CREAT, LOCK_SH, error);
  if (fd < 0)
    return FALSE;
  written = write_all (fd, line, len);
  saved_errno = errno;
  *size_out = fstat (fd, &st) == 0 ? (gsize) st.st_size : 0;
  close (fd);
  if (!written)
    return io_error (error, path, saved_errno != 0 ? saved_errno : EIO);
  return TRUE;
}

gboolean
kh_history_log_append (const char      *path,
                       KhHistoryEntry  *entry,
                       gsize            max_bytes,
                       GError         **error)
{
  gsize size = 0;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (entry != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!append_line (path, entry, &size, error))
    return FALSE;
  if (size > effective_max (max_bytes))
    return kh_history_log_roll_up (path, max_bytes, error);
  return TRUE;
}

gboolean
kh_history_log_forget (const char  *path,
                       GError     **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* An appender that still holds the old file notices it is gone and starts a new one. */
  if (g_unlink (path) != 0 && errno != ENOENT)
    return io_error (error, path, errno);
  return TRUE;
}

/* ---- the event sites' entry point ----------------------------------------------------------- */

static void
roll_up_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;

  if (!kh_history_log_roll_up (task_data, 0, &error))
    g_message ("Could not roll the history up: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

static void
record_at (const char     *path,
           KhHistoryEntry *entry)
{
  g_autoptr(GError) error = NULL;
  gsize size = 0;

  if (!append_line (path, entry, &size, &error))
    {
      g_message ("Could not record “%s” in the history: %s", kh_history_entry_get_action (entry),
                 error->message);
      return;
    }
  if (size <= KH_HISTORY_LOG_DEFAULT_MAX_BYTES)
    return;

  /* The append is a few microseconds, fine anywhere; a roll-up rewrites and flushes the file,
   * which the main loop of the app must not wait for. The CLI does it in line. */
  if (g_main_context_is_owner (g_main_context_default ()))
    {
      g_autoptr(GTask) task = g_task_new (NULL, NULL, NULL, NULL);

      g_task_set_source_tag (task, record_at);
      g_task_set_task_data (task, g_strdup (path), g_free);
      g_task_run_in_thread (task, roll_up_thread);
    }
  else if (!kh_history_log_roll_up (path, 0, &error))
    g_message ("Could not roll the history up: %s", error->message);
}

void
kh_history_record (KhStore        *store,
                   KhHistoryEntry *entry)
{
  g_autofree char *path = NULL;

  g_return_if_fail (KH_IS_STORE (store));
  g_return_if_fail (entry != NULL);

  path = kh_history_log_path_for_store (store);
  record_at (path, entry);
}

void
kh_history_record_action (KhStore    *store,
                          const char *action,
                          KhGrant    *grant)
{
  g_autoptr(KhHistoryEntry) entry = NULL;

  g_return_if_fail (KH_IS_STORE (store));
  g_return_if_fail (KH_IS_GRANT (grant));

  entry = kh_history_entry_new (action, grant);
  kh_history_record (store, entry);
}

void
kh_history_record_in_store_name (const char     *store_name,
                                 KhHistoryEntry *entry)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (entry != NULL);

  path = kh_history_log_path_for_store_name (store_name, &error);
  if (path == NULL)
    {
      g_message ("Could not record “%s” in the history: %s", kh_history_entry_get_action (entry),
                 error->message);
      return;
    }
  record_at (path, entry);
}
