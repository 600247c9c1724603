/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker.c: the broker object and what its operations share: the app secrets read once,
 * the pool of team connections, the grant's flock, and loading a grant and its app profile.
 * The operations live beside it, one file each: getting and refreshing a token
 * (kh-broker-flight.c), the refresh of a shared grant under the team's row lock
 * (kh-broker-team.c), recovery of interrupted refreshes (kh-broker-recover.c), revoke
 * (kh-broker-revoke.c) and account drift (kh-broker-drift.c). */

#define G_LOG_DOMAIN "kh-broker"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kh-broker-private.h"

#include "kh-error.h"
#include "kh-refresh-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

G_DEFINE_FINAL_TYPE (KhBroker, kh_broker, G_TYPE_OBJECT)

enum {
  SIGNAL_ANSWERED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* Emits "answered" for grant_id: TikTok answered a refresh of it. */
void
kh_broker_emit_answered (KhBroker   *self,
                         const char *grant_id)
{
  g_signal_emit (self, signals[SIGNAL_ANSWERED], 0, grant_id);
}

/* ---- app secrets -------------------------------------------------------------------------- */

static void
free_secret (gpointer data)
{
  char *secret = data;

  if (secret != NULL)
    memset (secret, 0, strlen (secret));
  g_free (secret);
}

/* Worker threads: the app's secret, from the cache or the keyring. */
static char *
dup_app_secret (KhBroker     *self,
                KhAppProfile *app,
                GError      **error)
{
  const char *name = kh_app_profile_get_name (app);
  char *secret;

  g_mutex_lock (&self->secrets_lock);
  secret = g_strdup (g_hash_table_lookup (self->secrets, name));
  g_mutex_unlock (&self->secrets_lock);
  if (secret != NULL)
    return secret;

  secret = kh_store_load_app_secret (self->store, name, error);
  if (secret == NULL)
    return NULL;

  g_mutex_lock (&self->secrets_lock);
  g_hash_table_replace (self->secrets, g_strdup (name), g_strdup (secret));
  g_mutex_unlock (&self->secrets_lock);

  return secret;
}

void
kh_broker_forget_app_secret (KhBroker   *self,
                             const char *name)
{
  g_autofree char *key = g_strconcat ("team:", name, NULL);

  g_mutex_lock (&self->secrets_lock);
  g_hash_table_remove (self->secrets, name);
  g_hash_table_remove (self->secrets, key);
  g_hash_table_remove (self->team_apps, name);
  g_mutex_unlock (&self->secrets_lock);
}

/* ---- object --------------------------------------------------------------------------------- */

static void
kh_broker_dispose (GObject *object)
{
  KhBroker *self = KH_BROKER (object);

  g_clear_object (&self->store);
  g_clear_object (&self->client);
  g_clear_object (&self->journal);
  g_clear_object (&self->team);
  g_clear_pointer (&self->idle_teams, g_ptr_array_unref);

  G_OBJECT_CLASS (kh_broker_parent_class)->dispose (object);
}

static void
kh_broker_finalize (GObject *object)
{
  KhBroker *self = KH_BROKER (object);

  g_hash_table_unref (self->flights);
  g_hash_table_unref (self->backoff);
  g_hash_table_unref (self->secrets);
  g_hash_table_unref (self->team_apps);
  g_mutex_clear (&self->secrets_lock);
  g_main_context_unref (self->context);
  g_free (self->key_file);
  g_mutex_clear (&self->teams_lock);

  G_OBJECT_CLASS (kh_broker_parent_class)->finalize (object);
}

static void
kh_broker_class_init (KhBrokerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_broker_dispose;
  object_class->finalize = kh_broker_finalize;

  signals[SIGNAL_ANSWERED] = g_signal_new ("answered", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                           1, G_TYPE_STRING);
}

static void
kh_broker_init (KhBroker *self)
{
  /* A flight holds a reference to the broker through its tasks, so entries never outlive it. */
  self->flights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->backoff = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->secrets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, free_secret);
  self->team_apps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_mutex_init (&self->secrets_lock);
  g_mutex_init (&self->teams_lock);
  self->context = g_main_context_ref_thread_default ();
}

KhBroker *
kh_broker_new (KhStore       *store,
               KhTokenClient *client)
{
  KhBroker *self;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (client == NULL || KH_IS_TOKEN_CLIENT (client), NULL);

  self = g_object_new (KH_TYPE_BROKER, NULL);
  self->store = g_object_ref (store);
  self->client = client != NULL ? g_object_ref (client) : NULL;
  self->journal = kh_refresh_journal_new_for_store (store);

  return self;
}

void
kh_broker_set_team (KhBroker   *self,
                    KhTeam     *team,
                    const char *key_file)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (team == NULL || KH_IS_TEAM (team));

  locker = g_mutex_locker_new (&self->teams_lock);
  g_set_object (&self->team, team);
  g_free (self->key_file);
  self->key_file = g_strdup (key_file);
  g_clear_pointer (&self->idle_teams, g_ptr_array_unref);
  if (team != NULL)
    {
      self->idle_teams = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (self->idle_teams, g_object_ref (team));
    }
}

KhTeam *
kh_broker_get_team (KhBroker *self)
{
  g_return_val_if_fail (KH_IS_BROKER (self), NULL);

  return self->team;
}

/* Worker threads: a team connection for this thread's call alone; give it back after. */
static KhTeam *
take_team (KhBroker  *self,
           GError   **error)
{
  KhTeam *team = NULL;

  g_mutex_lock (&self->teams_lock);
  if (self->idle_teams != NULL && self->idle_teams->len > 0)
    team = g_ptr_array_steal_index_fast (self->idle_teams, self->idle_teams->len - 1);
  g_mutex_unlock (&self->teams_lock);
  if (team != NULL)
    return team;

  team = kh_team_open (self->store, self->key_file, error);
  if (team == NULL && (error == NULL || *error == NULL))
    g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                         _("This computer left the team meanwhile: join it again with "
                           "keyhold-cli team join"));

  return team;
}

static void
give_team (KhBroker *self,
           KhTeam   *team)
{
  g_mutex_lock (&self->teams_lock);
  /* A connection of a team this computer has left meanwhile is not reused. */
  if (self->idle_teams != NULL &&
      g_strcmp0 (kh_team_get_id (team), kh_team_get_id (self->team)) == 0)
    g_ptr_array_add (self->idle_teams, team);
  else
    g_object_unref (team);
  g_mutex_unlock (&self->teams_lock);
}

void
kh_broker_team_lease_clear (TeamLease *lease)
{
  if (lease->team != NULL)
    give_team (lease->broker, g_steal_pointer (&lease->team));
}

gboolean
kh_broker_team_lease_take (TeamLease  *lease,
                           KhBroker   *self,
                           GError    **error)
{
  lease->broker = self;
  lease->team = take_team (self, error);

  return lease->team != NULL;
}

/* Main thread only: the token client, created on first use when none was given (a fresh
 * token needs no HTTP session, and `keyhold-cli token` should not pay for one). */
KhTokenClient *
kh_broker_get_client (KhBroker *self)
{
  if (self->client == NULL)
    self->client = kh_token_client_new ();

  return self->client;
}

KhStore *
kh_broker_get_store (KhBroker *self)
{
  g_return_val_if_fail (KH_IS_BROKER (self), NULL);

  return self->store;
}

char *
kh_broker_dup_lock_dir (KhBroker *self)
{
  g_autofree char *index_dir = NULL;
  g_autofree char *store_name = NULL;
  const char *runtime = g_getenv ("KEYHOLD_RUNTIME_DIR");

  g_return_val_if_fail (KH_IS_BROKER (self), NULL);

  /* The index lives in <data>/<store name>/index.json: its folder names the store. */
  index_dir = g_path_get_dirname (kh_store_get_index_path (self->store));
  store_name = g_path_get_basename (index_dir);

  if (runtime == NULL || *runtime == '\0')
    runtime = g_get_user_runtime_dir ();

  return g_build_filename (runtime, "keyhold", store_name, NULL);
}

/* ---- the grant lock --------------------------------------------------------------------------- */

/* wait FALSE: returns -1 without error when another process (or another flight of this one)
 * holds the lock. */
int
kh_broker_lock_grant (KhBroker    *self,
                      const char  *grant_id,
                      gboolean     wait,
                      GError     **error)
{
  g_autofree char *dir = kh_broker_dup_lock_dir (self);
  g_autofree char *file = g_strconcat (grant_id, ".lock", NULL);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  int fd;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not create %s: %s"), dir,
                   g_strerror (saved));
      return -1;
    }

  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not open the lock %s: %s"), path,
                   g_strerror (saved));
      return -1;
    }

  /* Blocks this worker thread only: the process holding the lock is refreshing this grant. */
  while (flock (fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;

      if (saved == EINTR)
        continue;
      close (fd);
      if (saved == EWOULDBLOCK)
        return -1;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not lock %s: %s"), path,
                   g_strerror (saved));
      return -1;
    }

  return fd;
}

void
kh_broker_unlock_grant (int *fd)
{
  if (*fd >= 0)
    {
      /* Closing the descriptor releases the flock. */
      close (*fd);
      *fd = -1;
    }
}

/* ---- loading ---------------------------------------------------------------------------------- */

/* FALSE (with the error to show) for a grant marked needs-reauth or revoked. */
gboolean
kh_broker_check_usable (KhGrant  *grant,
                        GError  **error)
{
  KhGrantStatus stored = kh_grant_get_stored_status (grant);

  if (stored == KH_GRANT_STATUS_NEEDS_REAUTH || stored == KH_GRANT_STATUS_REVOKED)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NEEDS_REAUTH,
                   _("Grant %s is marked %s: authorize the account again (keyhold-cli link or "
                     "authorize), or see “keyhold-cli status”"),
                   kh_grant_get_id (grant), kh_grant_status_to_string (stored));
      return FALSE;
    }

  return TRUE;
}

KhGrant *
kh_broker_load_grant (KhStore     *store,
                      const char  *grant_id,
                      GError     **error)
{
  g_autoptr(KhGrant) grant = NULL;

  /* Another process may have changed the index (a status, a removal) since we read it. */
  if (!kh_store_reload (store, error))
    return NULL;

  grant = kh_store_find_grant (store, grant_id, error);
  if (grant == NULL || !kh_broker_check_usable (grant, error))
    return NULL;

  return g_steal_pointer (&grant);
}

/* Worker threads: the grant named grant_id, from the store or else the team (then marked
 * shared). usable: refuse grants marked needs-reauth or revoked. */
KhGrant *
kh_broker_find_any_grant (KhBroker    *self,
                          const char  *grant_id,
                          gboolean     usable,
                          GError     **error)
{
  g_auto(TeamLease) lease = { NULL, };
  g_autoptr(GError) local_error = NULL;
  g_autoptr(KhGrant) grant = NULL;

  if (!kh_store_reload (self->store, error))
    return NULL;
  grant = kh_store_find_grant (self->store, grant_id, &local_error);
  if (grant == NULL && self->team != NULL &&
      g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      g_clear_error (&local_error);
      if (!kh_broker_team_lease_take (&lease, self, error))
        return NULL;
      grant = kh_team_find_grant (lease.team, grant_id, &local_error);
      if (grant != NULL)
        kh_grant_set_shared (grant, TRUE);
    }
  if (grant == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  if (usable && !kh_broker_check_usable (grant, error))
    return NULL;

  return g_steal_pointer (&grant);
}

/* Worker threads: the app profile name of grant grant_id and its secret: this desktop's, else
 * (team not NULL) the team's. */
gboolean
kh_broker_load_app (KhBroker      *self,
                    const char    *name,
                    const char    *grant_id,
                    KhTeam        *team,
                    KhAppProfile **app_out,
                    char         **secret_out,
                    GError       **error)
{
  g_autoptr(GError) local_error = NULL;

  *app_out = kh_store_get_app (self->store, name);
  if (*app_out != NULL)
    {
      *secret_out = dup_app_secret (self, *app_out, error);
      if (*secret_out == NULL)
        g_clear_object (app_out);
      return *secret_out != NULL;
    }

  if (team != NULL)
    {
      g_autofree char *key = g_strconcat ("team:", name, NULL);

      /* A bulk refresh of many shared grants of one app reads the team's app once. */
      g_mutex_lock (&self->secrets_lock);
      *secret_out = g_strdup (g_hash_table_lookup (self->secrets, key));
      *app_out = g_hash_table_lookup (self->team_apps, name);
      if (*app_out != NULL)
        g_object_ref (*app_out);
      g_mutex_unlock (&self->secrets_lock);
      if (*app_out != NULL && *secret_out != NULL)
        return TRUE;
      g_clear_object (app_out);
      free_secret (g_steal_pointer (secret_out));

      *app_out = kh_team_get_app (team, name, secret_out, &local_error);
      if (*app_out != NULL)
        {
          g_mutex_lock (&self->secrets_lock);
          g_hash_table_replace (self->secrets, g_steal_pointer (&key), g_strdup (*secret_out));
          g_hash_table_replace (self->team_apps, g_strdup (name), g_object_ref (*app_out));
          g_mutex_unlock (&self->secrets_lock);
          return TRUE;
        }
      if (!g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }

  g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
               _("Grant %s belongs to the app profile “%s”, which is gone: add it again with "
                 "keyhold-cli app add"), grant_id, name);
  return FALSE;
}

/* Runs the first step of task's operation (reading the store) in a worker thread, then
 * prepared_cb with task (transfer full) as its user data. The step sees task's data as its
 * own. */
void
kh_broker_prepare_in_thread (KhBroker            *self,
                             GTask               *task,
                             gpointer             data,
                             GTaskThreadFunc      thread_func,
                             GAsyncReadyCallback  prepared_cb)
{
  g_autoptr(GTask) prepare = g_task_new (self, g_task_get_cancellable (task), prepared_cb, task);

  g_task_set_source_tag (prepare, g_task_get_source_tag (task));
  g_task_set_task_data (prepare, data, NULL);
  g_task_run_in_thread (prepare, thread_func);
}
