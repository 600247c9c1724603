/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-lock.c: the store's locking (see kh-store.c for the design): the store lock
 * (index.lock), the per-grant and per-bucket byte locks (items.lock), and the group commit
 * that shares one index write, or one bucket write, between concurrent changes. */

#define G_LOG_DOMAIN "kh-store-lock"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-store.h"
#include "kh-store-private.h"

#include "kh-environment.h"
#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the store lock ------------------------------------------------------------------------ */

/* Opens (creating) one of the store's lock files; -1 with error set when it cannot. */
int
open_lock_file (KhStore     *self,
                const char  *path,
                GError     **error)
{
  int fd;

  if (!ensure_dir (self, error))
    return -1;

  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not open the lock file %s: %s"),
                   path, g_strerror (saved_errno));
      return -1;
    }

  return fd;
}

/* Takes the exclusive lock that serializes every change to this store, across threads (each
 * call opens its own descriptor) and processes. Returns the descriptor; close it to unlock. */
int
lock_store (KhStore *self,
            GError **error)
{
  int fd;

  fd = open_lock_file (self, self->lock_path, error);
  if (fd < 0)
    return -1;

  while (flock (fd, LOCK_EX) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == EINTR)
        continue;
      close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not lock %s: %s"),
                   self->lock_path, g_strerror (saved_errno));
      return -1;
    }

  return fd;
}

static void
unlock_store (int fd)
{
  if (fd >= 0)
    close (fd);
}


void
store_lock_clear (StoreLock *fd)
{
  unlock_store (*fd);
  *fd = -1;
}

/* ---- group commit -------------------------------------------------------------------------- */

typedef struct {
  gpointer  func;       /* MutateFunc for the index, BucketFunc for a bucket */
  gpointer  user_data;
  gboolean  done;
  GError   *error;
} Commit;

/* Writes batch (Commit *, in their order) to target (a bucket number, or 0 for the index). */
typedef void (*BatchFunc) (KhStore   *self,
                           guint      target,
                           GPtrArray *batch);

void
committer_init (Committer *committer)
{
  g_mutex_init (&committer->mutex);
  g_cond_init (&committer->cond);
  committer->queue = g_ptr_array_new ();
}

void
committer_clear (Committer *committer)
{
  g_mutex_clear (&committer->mutex);
  g_cond_clear (&committer->cond);
  g_clear_pointer (&committer->queue, g_ptr_array_unref);
}

/* Gives every change of batch without an error of its own a copy of error. */
static void
batch_fail (GPtrArray    *batch,
            const GError *error)
{
  for (guint i = 0; i < batch->len; i++)
    {
      Commit *commit = g_ptr_array_index (batch, i);

      if (commit->error == NULL)
        commit->error = g_error_copy (error);
    }
}

/* Applies one change and returns once it is written. Changes from threads that arrive while a
 * write of the same target is under way are merged into the next one: with many refreshes at
 * once, the 2,000-entry index and each keyring bucket are written once per batch instead of once
 * per grant, and no lock is held while the network is waited on. Every caller still returns only
 * after its change is stored. */
static gboolean
group_commit (KhStore    *self,
              Committer  *committer,
              BatchFunc   run,
              guint       target,
              gpointer    func,
              gpointer    user_data,
              GError    **error)
{
  Commit commit = { func, user_data, FALSE, NULL };

  g_mutex_lock (&committer->mutex);
  g_ptr_array_add (committer->queue, &commit);
  while (!commit.done)
    {
      g_autoptr(GPtrArray) batch = NULL;

      if (committer->busy)
        {
          g_cond_wait (&committer->cond, &committer->mutex);
          continue;
        }

      committer->busy = TRUE;
      batch = g_steal_pointer (&committer->queue);
      committer->queue = g_ptr_array_new ();
      g_mutex_unlock (&committer->mutex);

      run (self, target, batch);

      g_mutex_lock (&committer->mutex);
      for (guint i = 0; i < batch->len; i++)
        ((Commit *) g_ptr_array_index (batch, i))->done = TRUE;
      committer->busy = FALSE;
      g_cond_broadcast (&committer->cond);
    }
  g_mutex_unlock (&committer->mutex);

  if (commit.error != NULL)
    {
      g_propagate_error (error, commit.error);
      return FALSE;
    }
  return TRUE;
}

/* One index write for every change in batch, in their order: lock, bring the index up to date,
 * apply each change (a failing one is reported to its caller and changes nothing), write once,
 * publish, unlock. */
static void
index_batch (KhStore   *self,
             guint      target,
             GPtrArray *batch)
{
  kh_autolock StoreLock fd = -1;
  g_autoptr(Index) current = NULL;
  g_autoptr(Index) next = NULL;
  g_autoptr(GError) error = NULL;
  gboolean needs_write;
  gboolean changed = FALSE;
  Stamp stamp;

  fd = lock_store (self, &error);
  if (fd >= 0)
    current = load_locked (self, &needs_write, &stamp, &error);
  if (current == NULL)
    {
      batch_fail (batch, error);
      return;
    }

  next = index_copy (current);
  for (guint i = 0; i < batch->len; i++)
    {
      Commit *commit = g_ptr_array_index (batch, i);

      if (((MutateFunc) commit->func) (self, next, commit->user_data, &commit->error))
        changed = TRUE;
    }

  if (!changed && !needs_write)
    {
      publish (self, current, &stamp);
      return;
    }
  if (!write_index (self, next, &stamp, &error))
    {
      batch_fail (batch, error);
      return;
    }
  publish (self, next, &stamp);
  g_debug ("wrote the index once for %u changes", batch->len);
}

/* An index-only change (the keyring was written before, if at all). */
gboolean
commit_index (KhStore    *self,
              MutateFunc  func,
              gpointer    user_data,
              GError    **error)
{
  return group_commit (self, &self->index_committer, index_batch, 0, func, user_data, error);
}

/* ---- item locks ---------------------------------------------------------------------------- */

#ifndef F_OFD_SETLKW
/* Linux's open-file-description locks (glibc defines the name only with _GNU_SOURCE). */
#define F_OFD_SETLKW 38
#endif

/* Bytes of items.lock: [0, GRANT_LOCKS) one per grant id hash, then one per bucket. */
#define GRANT_LOCKS 65521

/* Takes a write lock on one byte of items.lock, across threads (each call has its own open file
 * description) and processes. Returns the descriptor; close it to unlock. */
static int
lock_byte (KhStore *self,
           off_t    offset,
           GError **error)
{
  struct flock lock = { 0, };
  int fd;

  fd = open_lock_file (self, self->items_lock_path, error);
  if (fd < 0)
    return -1;

  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = offset;
  lock.l_len = 1;
  while (fcntl (fd, F_OFD_SETLKW, &lock) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == EINTR)
        continue;
      close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not lock %s: %s"),
                   self->items_lock_path, g_strerror (saved_errno));
      return -1;
    }

  return fd;
}

/* The lock of one grant: saving a grant writes its bucket and then the index without the store
 * lock held across both, so this keeps two saves (or a save and a removal) of the same grant
 * from interleaving. Two grants that share a byte just wait for each other. */
int
lock_item (KhStore    *self,
           const char *id,
           GError    **error)
{
  return lock_byte (self, g_str_hash (id) % GRANT_LOCKS, error);
}

/* ---- writing buckets ----------------------------------------------------------------------- */


/* One keyring write for every change of batch to one bucket: under the bucket's lock (another
 * process may write it too), read the bucket as the keyring has it now, apply each change, and
 * write it once. A bucket that cannot be read (damaged, locked keyring) is never overwritten. */
static void
bucket_batch (KhStore   *self,
              guint      bucket,
              GPtrArray *batch)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (bucket_entry_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretItem) item = NULL;
  kh_autolock StoreLock fd = -1;
  gboolean changed = FALSE;

  fd = lock_byte (self, GRANT_LOCKS + bucket, &error);
  if (fd < 0 || !read_bucket_for_write (self->store_name, bucket, entries, &item, &error))
    {
      batch_fail (batch, error);
      return;
    }

  for (guint i = 0; i < batch->len; i++)
    {
      Commit *commit = g_ptr_array_index (batch, i);
      gboolean this_changed = FALSE;

      if (((BucketFunc) commit->func) (self, entries, commit->user_data, &this_changed,
                                       &commit->error))
        changed = changed || this_changed;
    }

  if (changed && !write_bucket (self->store_name, bucket, entries, item, &error))
    batch_fail (batch, error);
  else if (changed)
    g_debug ("wrote grants part %u once for %u changes", bucket + 1, batch->len);
}

gboolean
commit_bucket (KhStore    *self,
               guint       bucket,
               BucketFunc  func,
               gpointer    user_data,
               GError    **error)
{
  return group_commit (self, &self->bucket_committers[bucket], bucket_batch, bucket, func,
                       user_data, error);
}
