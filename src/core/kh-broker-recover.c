/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker-recover.c: recovery at start-up of the refreshes a killed process left in the
 * refresh journal, each under its grant's flock. */

#define G_LOG_DOMAIN "kh-broker-recover"

#include "config.h"

#include "kh-broker-private.h"

#include "kh-error.h"
#include "kh-refresh-journal.h"

void
kh_recovery_free (KhRecovery *recovery)
{
  if (recovery == NULL)
    return;
  g_free (recovery->grant_id);
  g_clear_error (&recovery->error);
  g_free (recovery);
}

typedef struct
{
  GStrv      orphans;     /* grants whose intent has no live owner */
  GPtrArray *outcomes;    /* KhRecovery, one per orphan retried so far */
} Recover;

static void
recover_free (Recover *recover)
{
  g_strfreev (recover->orphans);
  g_clear_pointer (&recover->outcomes, g_ptr_array_unref);
  g_free (recover);
}

/* Worker thread: the intents whose grant's lock is free were left by a process that died
 * mid-refresh (a live owner holds the lock until it ends its intent). Intents of grants that
 * are gone or already marked are settled here; the others are retried. */
static void
recover_scan_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Recover *recover = task_data;
  g_autoptr(GStrvBuilder) orphans = g_strv_builder_new ();
  g_auto(GStrv) ids = NULL;
  GError *error = NULL;

  ids = kh_refresh_journal_list (self->journal, &error);
  if (ids == NULL || (ids[0] != NULL && !kh_store_reload (self->store, &error)))
    {
      g_task_return_error (task, error);
      return;
    }

  for (guint i = 0; ids[i] != NULL; i++)
    {
      g_autoptr(KhGrant) grant = NULL;
      g_autoptr(KhRefreshIntent) intent = NULL;
      g_autoptr(GError) damaged = NULL;
      int fd = kh_broker_lock_grant (self, ids[i], FALSE, &error);
      KhGrantStatus stored;

      if (fd < 0)
        {
          if (error != NULL)
            {
              g_task_return_error (task, error);
              return;
            }
          continue;   /* its owner is alive and refreshing it */
        }

      /* A damaged intent counts as one: a refresh may have been cut short. */
      intent = kh_refresh_journal_lookup (self->journal, ids[i], &damaged);
      grant = kh_store_find_grant (self->store, ids[i], NULL);
      stored = grant != NULL ? kh_grant_get_stored_status (grant) : KH_GRANT_STATUS_REVOKED;
      if ((intent == NULL && damaged == NULL) || grant == NULL ||
          g_strcmp0 (kh_grant_get_id (grant), ids[i]) != 0 ||
          stored == KH_GRANT_STATUS_NEEDS_REAUTH || stored == KH_GRANT_STATUS_REVOKED)
        {
          /* Nothing left to recover: only a temp file a kill left, or the grant was removed or
           * is already marked. */
          if (!kh_refresh_journal_end (self->journal, ids[i], &error))
            {
              kh_broker_unlock_grant (&fd);
              g_task_return_error (task, error);
              return;
            }
        }
      else
        g_strv_builder_add (orphans, ids[i]);
      kh_broker_unlock_grant (&fd);
    }

  recover->orphans = g_strv_builder_end (orphans);
  g_task_return_boolean (task, TRUE);
}

typedef struct
{
  GTask *task;
  char  *grant_id;
} RecoverItem;

/* Ends the recovery (task, transfer full) with what it did. */
static void
recover_return (GTask *task)
{
  Recover *recover = g_task_get_task_data (task);

  g_task_return_pointer (task, g_steal_pointer (&recover->outcomes),
                         (GDestroyNotify) g_ptr_array_unref);
  g_object_unref (task);
}

static void
recover_item_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  RecoverItem *item = user_data;
  GTask *task = item->task;
  Recover *recover = g_task_get_task_data (task);
  KhRecovery *recovery = g_new0 (KhRecovery, 1);
  g_autoptr(KhTokenSet) tokens = NULL;

  recovery->grant_id = g_steal_pointer (&item->grant_id);
  tokens = kh_broker_refresh_finish (self, result, &recovery->error);
  if (recovery->error != NULL)
    g_debug ("recovery of %s: %s", recovery->grant_id, recovery->error->message);
  g_ptr_array_add (recover->outcomes, recovery);
  g_free (item);

  if (recover->outcomes->len == g_strv_length (recover->orphans))
    recover_return (task);
}

static void
recover_scanned_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Recover *recover = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  recover->outcomes = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_recovery_free);
  if (recover->orphans[0] == NULL)
    {
      recover_return (task);
      return;
    }

  /* All at once: TikTok's grace is short, and a killed batch leaves at most its --jobs behind.
   * Forced: the stored access token may look fresh while the refresh token beside it is
   * already spent. */
  for (guint i = 0; recover->orphans[i] != NULL; i++)
    {
      RecoverItem *item = g_new0 (RecoverItem, 1);

      item->task = task;
      item->grant_id = g_strdup (recover->orphans[i]);
      kh_broker_refresh_async (self, item->grant_id, TRUE, g_task_get_cancellable (task),
                               recover_item_cb, item);
    }
}

void
kh_broker_recover_async (KhBroker            *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Recover *recover;

  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_broker_recover_async);
  recover = g_new0 (Recover, 1);
  g_task_set_task_data (task, recover, (GDestroyNotify) recover_free);

  kh_broker_prepare_in_thread (self, g_steal_pointer (&task), recover, recover_scan_thread,
                               recover_scanned_cb);
}

GPtrArray *
kh_broker_recover_finish (KhBroker      *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (KH_IS_BROKER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_broker_recover_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
