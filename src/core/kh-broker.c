/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker.c: the one way to a usable access token. A request first tries the fast path (the
 * index for the grant's status, one keyring lookup for the tokens). When the token is too old it
 * joins the grant's flight: one refresh per grant per process, whatever the number of callers.
 * A flight takes the grant's flock in a worker thread, re-reads the tokens (another process may
 * have refreshed while we waited), and only if they still need it calls TikTok on the main
 * context; the new tokens are written (keyring first) in a worker thread before the lock is
 * released. The main context never blocks on the lock, the keyring or the network. */

#define G_LOG_DOMAIN "kh-broker"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kh-broker.h"

#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-refresh-journal.h"
#include "kh-shared.h"
#include "kh-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* After a transient failure the process leaves the grant alone this long (doubling per failure,
 * up to the maximum) as long as the stored access token is still valid. */
#define BACKOFF_FIRST_US (30 * G_USEC_PER_SEC)
#define BACKOFF_MAX_US   (15 * 60 * G_USEC_PER_SEC)

struct _KhBroker
{
  GObject        parent_instance;

  KhStore       *store;
  KhTokenClient *client;
  KhRefreshJournal *journal; /* the intents of refreshes in flight; worker threads only */
  GHashTable    *flights;    /* grant id -> Flight */
  GHashTable    *backoff;    /* grant id -> Backoff */
  /* App secrets already read from the keyring (app name -> secret), so that refreshing many
   * grants of one app costs one lookup; worker threads share it. Wiped at finalize, dropped
   * for an app when a refresh fails for another reason than the network. */
  GMutex         secrets_lock;
  GHashTable    *secrets;
  GHashTable    *team_apps;  /* app name -> KhAppProfile of the team, beside their secrets */
  /* The context the token client runs in: refreshes of shared grants, which happen in a
   * worker thread under the team's row lock, ask it to call TikTok. */
  GMainContext  *context;
  KhTeam        *team;       /* NULL: not in a team */
  char          *key_file;
  /* Team connections not in use: one call at a time each, so refreshes that run at once take
   * one apiece, opening more as needed. */
  GMutex         teams_lock;
  GPtrArray     *idle_teams;
};

G_DEFINE_FINAL_TYPE (KhBroker, kh_broker, G_TYPE_OBJECT)

enum {
  SIGNAL_ANSWERED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef struct
{
  gint64 not_before;   /* monotonic microseconds */
  gint64 delay;
} Backoff;

/* ---- pure lifecycle ------------------------------------------------------------------------- */

gboolean
kh_token_set_needs_refresh (const KhTokenSet *tokens,
                            gint64            min_valid_seconds,
                            gint64            now)
{
  g_return_val_if_fail (tokens != NULL, TRUE);

  if (tokens->access_token == NULL || *tokens->access_token == '\0')
    return TRUE;
  if (tokens->access_expires_at == 0)
    return FALSE;

  /* A token is dead at its expiry second, whatever the margin asked for. */
  return tokens->access_expires_at - now <= 0 ||
         tokens->access_expires_at - now < min_valid_seconds;
}

static gboolean
token_still_valid (const KhTokenSet *tokens,
                   gint64            now)
{
  return tokens != NULL && tokens->access_token != NULL && *tokens->access_token != '\0' &&
         (tokens->access_expires_at == 0 || tokens->access_expires_at > now);
}

static char *
format_days (gint64 seconds)
{
  gint64 days = seconds / (24 * 3600);

  if (seconds <= 0)
    return g_strdup (_("now"));
  if (days < 1)
    return g_strdup (_("in less than a day"));

  /* Translators: a deadline, "in 3 days". */
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "in %d day", "in %d days",
                                       (gulong) MIN (days, G_MAXINT)),
                          (int) MIN (days, G_MAXINT));
}

KhGrantStatus
kh_grant_explain_status (KhGrant  *grant,
                         gint64    now,
                         char    **reason_out,
                         gint64   *deadline_out)
{
  const KhProvider *provider;
  const char * const *missing;
  KhGrantStatus status;
  gint64 refresh_expires;
  gint64 access_expires;
  char *reason = NULL;
  gint64 deadline = 0;

  g_return_val_if_fail (KH_IS_GRANT (grant), KH_GRANT_STATUS_ACTIVE);

  provider = kh_provider_get (kh_grant_get_account_type (grant));
  status = kh_grant_compute_status (grant, now);
  refresh_expires = kh_grant_get_refresh_expires_at (grant);
  access_expires = kh_grant_get_access_expires_at (grant);
  missing = kh_grant_get_missing_scopes (grant);

  switch (status)
    {
    case KH_GRANT_STATUS_REVOKED:
      reason = g_strdup (_("The authorization was revoked: authorize the account again"));
      break;

    case KH_GRANT_STATUS_NEEDS_REAUTH:
      /* The mark's own reason says exactly what happened (an interrupted refresh, say). */
      if (kh_grant_get_stored_status (grant) == KH_GRANT_STATUS_NEEDS_REAUTH &&
          kh_grant_get_status_reason (grant) != NULL)
        reason = g_strdup (kh_grant_get_status_reason (grant));
      else if (kh_grant_get_stored_status (grant) == KH_GRANT_STATUS_NEEDS_REAUTH)
        reason = g_strdup (_("TikTok no longer accepts this authorization (ended, cancelled or "
                             "deauthorized): the account holder must authorize again"));
      else
        reason = g_strdup (_("The authorization has ended: the account holder must authorize "
                             "again"));
      deadline = refresh_expires != 0 ? refresh_expires : access_expires;
      break;

    case KH_GRANT_STATUS_EXPIRING:
      if (refresh_expires != 0 && refresh_expires - now <= KH_EXPIRING_WINDOW)
        {
          g_autofree char *when = format_days (refresh_expires - now);
          const char *renew = provider->renew_path != NULL ? _(provider->renew_path)
                                                           : _("re-open the authorization link");

          /* Only the shop owner can renew: say who must act and where. */
          reason = g_strdup_printf (_("The authorization ends %s: the owner must renew it (%s)"),
                                    when, renew);
          deadline = refresh_expires;
        }
      else
        {
          g_autofree char *list = g_strjoinv (", ", (char **) missing);

          reason = g_strdup_printf (_("Scopes the app needs were not granted (%s): the account "
                                      "holder must remove all access and authorize again"),
                                    list);
        }
      break;

    case KH_GRANT_STATUS_ACTIVE:
    default:
      reason = g_strdup (_("Active"));
      break;
    }

  if (reason_out != NULL)
    *reason_out = reason;
  else
    g_free (reason);
  if (deadline_out != NULL)
    *deadline_out = deadline;

  return status;
}

char *
kh_grant_renewal_pack (KhGrant       *grant,
                       KhAppProfile  *app,
                       const char    *auth_url,
                       gint64         now)
{
  const KhProvider *provider;
  g_autoptr(GString) text = g_string_new (NULL);
  gint64 deadline;
  const char *link;

  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);
  g_return_val_if_fail (app == NULL || KH_IS_APP_PROFILE (app), NULL);

  provider = kh_provider_get (kh_grant_get_account_type (grant));
  deadline = kh_grant_get_refresh_expires_at (grant);
  link = auth_url != NULL ? auth_url : (app != NULL ? kh_app_profile_get_auth_link (app) : NULL);

  g_string_append_printf (text, _("Hello,\n\nThe authorization you gave for “%s” (%s) "),
                          kh_grant_get_display_name (grant), _(provider->title));
  if (deadline != 0 && deadline > now)
    {
      g_autofree char *date = kh_iso8601_from_unix (deadline);
      g_autofree char *when = format_days (deadline - now);

      g_string_append_printf (text, _("ends on %s (%s).\n"), date, when);
    }
  else if (deadline != 0)
    g_string_append (text, _("has ended.\n"));
  else
    g_string_append (text, _("needs to be renewed.\n"));

  g_string_append (text, _("Only the shop owner can renew it. Please do one of these:\n\n"));
  if (link != NULL)
    g_string_append_printf (text, _("1. Open this authorization link and approve: %s\n"), link);
  else
    g_string_append (text, _("1. Open the authorization link we send you and approve.\n"));
  if (provider->family == KH_FAMILY_SHOP && provider->type != KH_ACCOUNT_CREATOR)
    {
      const char *path = provider->type == KH_ACCOUNT_PARTNER
                         ? _("Partner Center > My account > My authorizations")
                         : _("Seller Center > App Store > My apps and incidents");

      g_string_append_printf (text, _("2. Or in %s, find the app and renew the "
                                      "authorization.\n"), path);
    }
  else if (provider->renew_path != NULL)
    g_string_append_printf (text, _("2. Or: %s.\n"), _(provider->renew_path));

  if (deadline != 0 && deadline > now)
    {
      g_autofree char *date = kh_iso8601_from_unix (deadline);

      g_string_append_printf (text, _("\nDeadline: %s. After it, the connection stops until the "
                                      "owner authorizes again.\n"), date);
    }

  return g_string_free (g_steal_pointer (&text), FALSE);
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

static void
forget_app_secret (KhBroker   *self,
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

/* A team connection that goes back to the broker's pool when it goes out of scope. */
typedef struct
{
  KhBroker *broker;
  KhTeam   *team;
} TeamLease;

static void
team_lease_clear (TeamLease *lease)
{
  if (lease->team != NULL)
    give_team (lease->broker, g_steal_pointer (&lease->team));
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TeamLease, team_lease_clear)

static gboolean
team_lease_take (TeamLease  *lease,
                 KhBroker   *self,
                 GError    **error)
{
  lease->broker = self;
  lease->team = take_team (self, error);

  return lease->team != NULL;
}

/* Main thread only: the token client, created on first use when none was given (a fresh
 * token needs no HTTP session, and `keyhold-cli token` should not pay for one). */
static KhTokenClient *
get_client (KhBroker *self)
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
static int
lock_grant (KhBroker    *self,
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

static void
unlock_grant (int *fd)
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
static gboolean
check_usable (KhGrant  *grant,
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

static KhGrant *
load_grant (KhStore     *store,
            const char  *grant_id,
            GError     **error)
{
  g_autoptr(KhGrant) grant = NULL;

  /* Another process may have changed the index (a status, a removal) since we read it. */
  if (!kh_store_reload (store, error))
    return NULL;

  grant = kh_store_find_grant (store, grant_id, error);
  if (grant == NULL || !check_usable (grant, error))
    return NULL;

  return g_steal_pointer (&grant);
}

/* Worker threads: the grant named grant_id, from the store or else the team (then marked
 * shared). usable: refuse grants marked needs-reauth or revoked. */
static KhGrant *
find_any_grant (KhBroker    *self,
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
      if (!team_lease_take (&lease, self, error))
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
  if (usable && !check_usable (grant, error))
    return NULL;

  return g_steal_pointer (&grant);
}

/* Worker threads: the app profile name of grant grant_id and its secret: this desktop's, else
 * (team not NULL) the team's. */
static gboolean
load_app (KhBroker      *self,
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

/* ---- the one-lookup path ---------------------------------------------------------------------- */

static gboolean
looks_like_grant_id (const char *text)
{
  gsize length = 0;

  for (const char *p = text; *p != '\0'; p++, length++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;

  return length == 32;
}

/* Opening a KhStore reads the whole index, which with thousands of grants costs more than the
 * keyring lookup itself: a fresh token named by its id is read straight from its keyring item.
 * Anything but that plain case (a name, a marked grant, a token to refresh) returns NULL and
 * takes the KhStore path, which also gives the proper errors. */
KhTokenSet *
kh_broker_peek_token (const char *store_name,
                      const char *grant_id,
                      gint64      min_valid_seconds)
{
  return kh_broker_peek_token_full (store_name, grant_id, min_valid_seconds, NULL);
}

KhTokenSet *
kh_broker_peek_token_full (const char  *store_name,
                           const char  *grant_id,
                           gint64       min_valid_seconds,
                           KhGrant    **grant_out)
{
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  KhGrantStatus stored;

  g_return_val_if_fail (grant_id != NULL, NULL);

  if (!looks_like_grant_id (grant_id) ||
      !kh_store_peek_grant (store_name, grant_id, &grant, &tokens, NULL))
    return NULL;

  stored = kh_grant_get_stored_status (grant);
  if (stored == KH_GRANT_STATUS_NEEDS_REAUTH || stored == KH_GRANT_STATUS_REVOKED)
    return NULL;
  if (kh_token_set_needs_refresh (tokens, min_valid_seconds, kh_now ()))
    return NULL;

  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&grant);
  return g_steal_pointer (&tokens);
}

/* ---- the fast path ---------------------------------------------------------------------------- */

typedef struct
{
  char       *grant_id;      /* as the caller named it */
  char       *resolved_id;   /* the grant's id */
  gint64      min_valid;
  gboolean    force;
  gint64      seen_updated;  /* the index's updated_at and access expiry when we looked */
  gint64      seen_expiry;
  gboolean    seen_listed;   /* seen_* come from the caller's listing, not the fast path */
  KhTokenSet *current;       /* what the fast path found (stale) */
  gboolean    shared;        /* a grant of the team store */
  char       *app_name;      /* shared: the grant's app profile */
  char       *offline_note;  /* shared: answered from the cache, and why */
  KhGrant    *shared_grant;  /* shared: the grant as the fast path read it */
} Request;

static void
request_free (Request *request)
{
  g_free (request->grant_id);
  g_free (request->resolved_id);
  g_free (request->app_name);
  g_free (request->offline_note);
  g_clear_object (&request->shared_grant);
  g_clear_pointer (&request->current, kh_token_set_free);
  g_free (request);
}

/* What a forced refresh compares the locked row with: the grant as first seen, or as the
 * caller's listing showed it. */
static void
note_seen (Request *request,
           KhGrant *grant)
{
  if (request->seen_listed)
    return;
  request->seen_updated = kh_grant_get_updated_at (grant);
  request->seen_expiry = kh_grant_get_access_expires_at (grant);
}

/* The fast path of a grant the store does not have: the team's row (one query), or, while the
 * database is unreachable, the last row this machine saw, which may answer but never refresh. */
static void
shared_fast_path (GTask    *task,
                  KhBroker *self,
                  Request  *request)
{
  g_auto(TeamLease) lease = { NULL, };
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autofree char *id = NULL;
  gboolean cached = FALSE;
  GError *error = NULL;

  if (!team_lease_take (&lease, self, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* A full id needs no lookup by name, which would need the database. */
  if (looks_like_grant_id (request->grant_id))
    id = g_strdup (request->grant_id);
  else
    {
      grant = kh_team_find_grant (lease.team, request->grant_id, &error);
      if (grant == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      id = g_strdup (kh_grant_get_id (grant));
      g_clear_object (&grant);
    }

  tokens = kh_team_load_tokens (lease.team, id, &grant, &cached, &error);
  if (tokens == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (!check_usable (grant, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  request->shared = TRUE;
  request->resolved_id = g_steal_pointer (&id);
  request->app_name = g_strdup (kh_grant_get_app_name (grant));
  kh_grant_set_shared (grant, TRUE);
  request->shared_grant = g_object_ref (grant);
  note_seen (request, grant);

  if (cached)
    {
      const char *why = kh_team_get_last_error_message (lease.team);

      if (!request->force && !kh_token_set_needs_refresh (tokens, request->min_valid, kh_now ()))
        {
          request->offline_note = g_strdup (why);
          g_task_return_pointer (task, g_steal_pointer (&tokens),
                                 (GDestroyNotify) kh_token_set_free);
          return;
        }
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE,
                               _("The team database is unreachable (%s), and grant %s can only be "
                                 "refreshed through it: try again when it is back"),
                               why != NULL ? why : "?", request->resolved_id);
      return;
    }

  if (!request->force && !kh_token_set_needs_refresh (tokens, request->min_valid, kh_now ()))
    {
      g_task_return_pointer (task, g_steal_pointer (&tokens), (GDestroyNotify) kh_token_set_free);
      return;
    }

  request->current = g_steal_pointer (&tokens);
  g_task_return_pointer (task, NULL, NULL);
}

static void
fast_path_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Request *request = task_data;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  GError *error = NULL;

  grant = load_grant (self->store, request->grant_id, &error);
  if (grant == NULL && self->team != NULL && g_error_matches (error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      g_clear_error (&error);
      shared_fast_path (task, self, request);
      return;
    }
  if (grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  request->resolved_id = g_strdup (kh_grant_get_id (grant));
  note_seen (request, grant);

  /* A forced refresh reads the tokens under the lock anyway: no lookup here. */
  if (request->force)
    {
      g_task_return_pointer (task, NULL, NULL);
      return;
    }

  tokens = kh_store_load_tokens (self->store, request->resolved_id, &error);
  if (tokens == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  if (!request->force && !kh_token_set_needs_refresh (tokens, request->min_valid, kh_now ()))
    {
      g_task_return_pointer (task, g_steal_pointer (&tokens), (GDestroyNotify) kh_token_set_free);
      return;
    }

  /* Stale: the main thread hands the request to the grant's flight. */
  request->current = g_steal_pointer (&tokens);
  g_task_return_pointer (task, NULL, NULL);
}

/* ---- flights ---------------------------------------------------------------------------------- */

typedef struct
{
  KhBroker        *broker;
  char            *grant_id;
  GPtrArray       *waiters;       /* GTask, each with a Request */
  gboolean         force;
  gint64           seen_updated;  /* the index entry the first caller saw */
  gint64           seen_expiry;
  int              lock_fd;
  KhGrant         *grant;
  KhAppProfile    *app;
  char            *app_secret;
  KhTokenSet      *current;       /* re-read under the lock */
  KhTokenSet      *result;        /* the tokens to hand out */
  KhTokenResponse *response;
  GError          *refresh_error;
  KhRefreshIntent *interrupted;   /* an earlier refresh of the same token that did not finish */
  gboolean         network;       /* the flight called TikTok */
  gboolean         shared;        /* refreshes under the team's row lock */
  char            *app_name;      /* shared: the app profile, known before the lock */
  GError          *app_error;     /* shared: why there is no app profile, if a refresh needs it */
  gboolean         mark;          /* shared: mark needs-reauth once the row is unlocked */
} Flight;

static void
flight_free (Flight *flight)
{
  unlock_grant (&flight->lock_fd);
  g_clear_object (&flight->broker);
  g_free (flight->grant_id);
  g_clear_pointer (&flight->waiters, g_ptr_array_unref);
  g_clear_object (&flight->grant);
  g_clear_object (&flight->app);
  if (flight->app_secret != NULL)
    memset (flight->app_secret, 0, strlen (flight->app_secret));
  g_free (flight->app_secret);
  g_clear_pointer (&flight->current, kh_token_set_free);
  g_clear_pointer (&flight->result, kh_token_set_free);
  g_clear_pointer (&flight->response, kh_token_response_free);
  g_clear_error (&flight->refresh_error);
  g_clear_pointer (&flight->interrupted, kh_refresh_intent_free);
  g_free (flight->app_name);
  g_clear_error (&flight->app_error);
  g_free (flight);
}

static void
note_backoff (KhBroker   *self,
              const char *grant_id,
              gboolean    failed)
{
  Backoff *backoff;

  if (!failed)
    {
      g_hash_table_remove (self->backoff, grant_id);
      return;
    }

  backoff = g_hash_table_lookup (self->backoff, grant_id);
  if (backoff == NULL)
    {
      backoff = g_new0 (Backoff, 1);
      backoff->delay = BACKOFF_FIRST_US;
      g_hash_table_insert (self->backoff, g_strdup (grant_id), backoff);
    }
  else
    backoff->delay = MIN (backoff->delay * 2, BACKOFF_MAX_US);
  backoff->not_before = g_get_monotonic_time () + backoff->delay;
}

static gboolean
in_backoff (KhBroker   *self,
            const char *grant_id)
{
  Backoff *backoff = g_hash_table_lookup (self->backoff, grant_id);

  return backoff != NULL && g_get_monotonic_time () < backoff->not_before;
}

/* Ends the flight: every waiter gets the new tokens, or the still-valid stored ones after a
 * transient failure (get_token only), or the error. */
static void
flight_complete (Flight *flight,
                 GError *error)
{
  KhBroker *self = flight->broker;
  gint64 now = kh_now ();
  gboolean transient = error != NULL && kh_error_classify (error) != KH_ERROR_CLASS_TERMINAL;

  unlock_grant (&flight->lock_fd);
  g_hash_table_remove (self->flights, flight->grant_id);
  if (flight->network)
    note_backoff (self, flight->grant_id, transient);

  for (guint i = 0; i < flight->waiters->len; i++)
    {
      GTask *task = g_ptr_array_index (flight->waiters, i);
      Request *request = g_task_get_task_data (task);
      KhTokenSet *fallback = flight->current != NULL ? flight->current : request->current;

      if (error == NULL)
        g_task_return_pointer (task, kh_token_set_copy (flight->result),
                               (GDestroyNotify) kh_token_set_free);
      else if (transient && !request->force && token_still_valid (fallback, now))
        {
          g_debug ("refresh of %s failed (%s); the stored token is still valid", flight->grant_id,
                   error->message);
          g_task_return_pointer (task, kh_token_set_copy (fallback),
                                 (GDestroyNotify) kh_token_set_free);
        }
      else
        g_task_return_error (task, g_error_copy (error));
    }

  if (error != NULL)
    g_error_free (error);
  flight_free (flight);
}

static gboolean
mark_needs_reauth (Flight     *flight,
                   const char *reason)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhHistoryEntry) entry = NULL;

  kh_grant_set_stored_status (flight->grant, KH_GRANT_STATUS_NEEDS_REAUTH);
  kh_grant_touch (flight->grant, kh_now ());
  /* With the tokens when we have them (we hold the grant's lock, so they are the current ones):
   * the keyring copy of the grant then carries the mark too, which kh_broker_peek_token and a
   * rebuilt index rely on. */
  if (flight->current != NULL
      ? !kh_store_save_grant (flight->broker->store, flight->grant, flight->current, &error)
      : !kh_store_update_grant (flight->broker->store, flight->grant, &error))
    {
      g_warning ("Could not mark grant %s as needing re-authorization: %s", flight->grant_id,
                 error->message);
      return FALSE;
    }

  entry = kh_history_entry_new_needs_reauth (flight->grant, reason);
  kh_history_record (flight->broker->store, entry);
  return TRUE;
}

typedef enum
{
  DECISION_CURRENT,   /* the tokens read under the lock do */
  DECISION_REFRESH,   /* call TikTok */
  DECISION_ENDED,     /* the authorization has ended: mark the grant needs-reauth */
  DECISION_FAILED,    /* nothing to refresh with */
} Decision;

/* Under the grant's lock, with flight->grant and flight->current just read again. */
static Decision
flight_decide (Flight  *flight,
               GError **error)
{
  gint64 now = kh_now ();
  const char *refresh = flight->current->refresh_token;
  gboolean fresh = TRUE;
  gboolean adopted;

  for (guint i = 0; i < flight->waiters->len; i++)
    {
      Request *request = g_task_get_task_data (g_ptr_array_index (flight->waiters, i));

      fresh = fresh && !kh_token_set_needs_refresh (flight->current, request->min_valid, now);
    }
  /* A forced refresh adopts a refresh another process completed while we waited. */
  adopted = flight->force &&
            (kh_grant_get_updated_at (flight->grant) != flight->seen_updated ||
             kh_grant_get_access_expires_at (flight->grant) != flight->seen_expiry);

  if ((!flight->force && fresh) || adopted)
    return DECISION_CURRENT;

  if (refresh == NULL || *refresh == '\0' ||
      kh_grant_get_token_kind (flight->grant) == KH_TOKEN_KIND_ADVERTISER)
    {
      if (flight->current->access_expires_at == 0 && !flight->force)
        return DECISION_CURRENT;
      if (flight->current->access_expires_at == 0)
        g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                     _("Grant %s has a token that never expires and cannot be refreshed"),
                     flight->grant_id);
      else
        g_set_error (error, KH_ERROR, KH_ERROR_NEEDS_REAUTH,
                     _("Grant %s has no refresh token: authorize the account again"),
                     flight->grant_id);
      return DECISION_FAILED;
    }

  if (flight->current->refresh_expires_at != 0 && flight->current->refresh_expires_at <= now)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NEEDS_REAUTH,
                   _("The authorization of grant %s has ended: the account holder must authorize "
                     "again"), flight->grant_id);
      return DECISION_ENDED;
    }

  return DECISION_REFRESH;
}

/* Worker thread: take the lock, re-read, decide. Returns TRUE when TikTok must be called (the
 * lock stays held), FALSE with flight->result set when the stored tokens do. */
static void
flight_lock_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Flight *flight = task_data;
  g_autoptr(KhGrant) grant = NULL;
  GError *error = NULL;

  flight->lock_fd = lock_grant (self, flight->grant_id, TRUE, &error);
  if (flight->lock_fd < 0)
    {
      g_task_return_error (task, error);
      return;
    }

  grant = load_grant (self->store, flight->grant_id, &error);
  if (grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  flight->grant = g_steal_pointer (&grant);

  flight->current = kh_store_load_tokens (self->store, flight->grant_id, &error);
  if (flight->current == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  switch (flight_decide (flight, &error))
    {
    case DECISION_CURRENT:
      flight->result = kh_token_set_copy (flight->current);
      g_task_return_boolean (task, FALSE);
      return;
    case DECISION_ENDED:
      mark_needs_reauth (flight, N_("the authorization has ended"));
      g_task_return_error (task, error);
      return;
    case DECISION_FAILED:
      g_task_return_error (task, error);
      return;
    case DECISION_REFRESH:
    default:
      break;
    }

  if (!load_app (self, kh_grant_get_app_name (flight->grant), flight->grant_id, NULL,
                 &flight->app, &flight->app_secret, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* On disk before TikTok sees the token: from here on a kill leaves a recoverable trace. */
  if (!kh_refresh_journal_begin (self->journal, flight->grant_id, flight->current->refresh_token,
                                 &flight->interrupted, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

/* Still locked, once the outcome of the refresh call is stored: the intent is settled. */
static void
end_intent (Flight *flight)
{
  g_autoptr(GError) error = NULL;

  if (!kh_refresh_journal_end (flight->broker->journal, flight->grant_id, &error))
    g_warning ("%s", error->message);
}

/* The tokens to store after TikTok's answer: a response without a new refresh token keeps the
 * old one valid (never delete first). */
static KhTokenSet *
tokens_from_response (Flight          *flight,
                      KhTokenResponse *response)
{
  KhTokenSet *tokens = kh_token_set_copy (response->tokens);

  if (tokens->refresh_token == NULL || *tokens->refresh_token == '\0')
    {
      g_free (tokens->refresh_token);
      tokens->refresh_token = g_strdup (flight->current->refresh_token);
      tokens->refresh_expires_at = flight->current->refresh_expires_at;
    }

  return tokens;
}

/* ---- shared grants: the refresh under the team's row lock ------------------------------------ */

typedef struct
{
  Flight          *flight;
  GMutex           mutex;
  GCond            cond;
  gboolean         done;
  KhTokenResponse *response;
  GError          *error;
} MainCall;

static void
main_call_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  MainCall *call = user_data;
  GError *error = NULL;
  KhTokenResponse *response;

  response = kh_token_client_refresh_finish (KH_TOKEN_CLIENT (object), result, &error);
  g_mutex_lock (&call->mutex);
  call->response = response;
  call->error = error;
  call->done = TRUE;
  g_cond_signal (&call->cond);
  /* The waiting thread frees call once it has the mutex back: nothing touches it after this. */
  g_mutex_unlock (&call->mutex);
}

static gboolean
main_call_start (gpointer user_data)
{
  MainCall *call = user_data;
  Flight *flight = call->flight;

  kh_token_client_refresh_async (get_client (flight->broker), flight->app, flight->app_secret,
                                 kh_grant_get_token_kind (flight->grant),
                                 flight->current->refresh_token, NULL, main_call_done, call);

  return G_SOURCE_REMOVE;
}

/* Worker thread, holding the row lock: TikTok's refresh, made by the broker's token client in
 * the broker's context (where its session and retry timers live) while this thread waits. */
static KhTokenResponse *
refresh_in_context (Flight  *flight,
                    GError **error)
{
  MainCall call = { flight, };

  g_mutex_init (&call.mutex);
  g_cond_init (&call.cond);
  g_main_context_invoke (flight->broker->context, main_call_start, &call);
  g_mutex_lock (&call.mutex);
  while (!call.done)
    g_cond_wait (&call.cond, &call.mutex);
  g_mutex_unlock (&call.mutex);
  g_mutex_clear (&call.mutex);
  g_cond_clear (&call.cond);

  if (call.response == NULL)
    g_propagate_error (error, call.error);

  return call.response;
}

/* kh_team_refresh_locked's decision, with the row locked: the current tokens (nothing is
 * written) or TikTok's new ones (written and audited in the same transaction). */
static KhTokenSet *
team_refresh_func (KhGrant          *grant,
                   const KhTokenSet *current,
                   gpointer          user_data,
                   GError          **error)
{
  Flight *flight = user_data;
  g_autoptr(KhTokenResponse) response = NULL;
  GError *local_error = NULL;

  g_set_object (&flight->grant, grant);
  g_clear_pointer (&flight->current, kh_token_set_free);
  flight->current = kh_token_set_copy (current);

  /* Marked needs-reauth or revoked on another machine meanwhile (or before a bulk refresh,
   * which skips the fast path). */
  if (!check_usable (grant, error))
    return NULL;

  switch (flight_decide (flight, error))
    {
    case DECISION_CURRENT:
      return kh_token_set_copy (current);
    case DECISION_ENDED:
      flight->mark = TRUE;
      return NULL;
    case DECISION_FAILED:
      return NULL;
    case DECISION_REFRESH:
    default:
      break;
    }

  if (flight->app == NULL)
    {
      g_propagate_error (error, g_error_copy (flight->app_error));
      return NULL;
    }

  flight->network = TRUE;
  response = refresh_in_context (flight, &local_error);
  if (response == NULL)
    {
      KhErrorClass klass = kh_error_classify (local_error);

      /* The app secret may have changed since it was cached (a replaced app profile). */
      if (klass != KH_ERROR_CLASS_TRANSIENT)
        forget_app_secret (flight->broker, kh_app_profile_get_name (flight->app));
      flight->mark = klass == KH_ERROR_CLASS_TERMINAL;
      g_propagate_error (error, local_error);
      return NULL;
    }

  return tokens_from_response (flight, response);
}

/* Terminal: TikTok will not refresh this shared grant again; every member sees so. */
static void
mark_shared_needs_reauth (Flight       *flight,
                          KhTeam       *team,
                          const GError *why)
{
  g_autoptr(GError) error = NULL;
  JsonObject *detail;

  kh_grant_set_stored_status (flight->grant, KH_GRANT_STATUS_NEEDS_REAUTH);
  kh_grant_touch (flight->grant, kh_now ());
  if (!kh_team_update_grant (team, flight->grant, &error))
    {
      g_message ("Could not mark grant %s as needing re-authorization: %s", flight->grant_id,
                 error->message);
      return;
    }

  /* What TikTok said, then what it means for the grant (HISTORY-FORMAT's two records). */
  detail = json_object_new ();
  json_object_set_int_member (detail, "code",
                              why != NULL && why->domain == KH_API_ERROR ? why->code : 0);
  json_object_set_string_member (detail, "message", why != NULL ? why->message : "");
  kh_shared_note (team, "refresh-failed", flight->grant, detail);
  detail = json_object_new ();
  json_object_set_string_member (detail, "reason", why != NULL ? why->message : "");
  kh_shared_note (team, "needs-reauth", flight->grant, detail);
}

/* Worker thread: the whole refresh of a shared grant. The row lock is held only inside
 * kh_team_refresh_locked; flight->result is set, or the error returned. */
static void
flight_team_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Flight *flight = task_data;
  g_auto(TeamLease) lease = { NULL, };
  GError *error = NULL;

  if (!team_lease_take (&lease, self, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* Before the row lock, whose callback must not use the connection; an error here matters
   * only if a refresh turns out to be needed. */
  load_app (self, flight->app_name, flight->grant_id, lease.team, &flight->app,
            &flight->app_secret, &flight->app_error);

  flight->result = kh_team_refresh_locked (lease.team, flight->grant_id, team_refresh_func,
                                           flight, &error);
  if (flight->mark && flight->grant != NULL)
    mark_shared_needs_reauth (flight, lease.team, error);
  if (flight->result == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, FALSE);
}

/* Worker thread: store what TikTok answered (keyring first, then the index), still locked. */
static void
flight_store_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Flight *flight = task_data;
  KhTokenResponse *response = flight->response;
  g_autoptr(KhTokenSet) tokens = NULL;
  GError *error = NULL;

  if (flight->refresh_error != NULL)
    {
      g_autoptr(KhHistoryEntry) failed = kh_history_entry_new_refresh_failed (flight->grant,
                                                                            flight->refresh_error);

      kh_history_record (self->store, failed);
      /* Terminal: TikTok will not refresh this grant again; stop trying and say why. A
       * transient failure keeps the old tokens and the intent (TikTok may have rotated). */
      if (kh_error_classify (flight->refresh_error) == KH_ERROR_CLASS_TERMINAL)
        {
          g_autofree char *reason = kh_refresh_journal_explain (flight->interrupted,
                                                                flight->refresh_error);

          kh_grant_set_status_reason (flight->grant, reason);
          if (mark_needs_reauth (flight, reason))
            end_intent (flight);
        }
      g_task_return_boolean (task, TRUE);
      return;
    }

  tokens = tokens_from_response (flight, response);

  kh_grant_set_expiries_from_tokens (flight->grant, tokens);
  if (response->scopes != NULL && response->scopes[0] != NULL)
    kh_grant_set_scopes (flight->grant, (const char * const *) response->scopes);
  kh_grant_touch (flight->grant, kh_now ());

  /* A failed write keeps the intent: the next start retries inside TikTok's grace. */
  if (!kh_store_save_grant (self->store, flight->grant, tokens, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  end_intent (flight);

  kh_history_record_action (self->store, KH_HISTORY_REFRESHED, flight->grant);
  flight->result = g_steal_pointer (&tokens);
  g_task_return_boolean (task, TRUE);
}

static void
flight_stored_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Flight *flight = user_data;
  GError *error = NULL;

  g_task_propagate_boolean (G_TASK (result), &error);
  if (error == NULL && flight->refresh_error != NULL)
    error = g_steal_pointer (&flight->refresh_error);

  flight_complete (flight, error);
}

static void
flight_refreshed_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  Flight *flight = user_data;
  g_autoptr(GTask) task = NULL;
  GError *error = NULL;

  flight->response = kh_token_client_refresh_finish (KH_TOKEN_CLIENT (object), result, &error);
  if (flight->response == NULL)
    {
      /* The app secret may have changed since it was cached (a replaced app profile). */
      if (kh_error_classify (error) != KH_ERROR_CLASS_TRANSIENT)
        forget_app_secret (flight->broker, kh_app_profile_get_name (flight->app));
      /* The store step records the failure; only a terminal one changes the grant (the old
       * tokens stay otherwise). */
      flight->refresh_error = error;
    }

  task = g_task_new (flight->broker, NULL, flight_stored_cb, flight);
  g_signal_emit (flight->broker, signals[SIGNAL_ANSWERED], 0, flight->grant_id);
  g_task_set_source_tag (task, flight_refreshed_cb);
  g_task_set_task_data (task, flight, NULL);
  g_task_run_in_thread (task, flight_store_thread);
}

static void
flight_locked_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Flight *flight = user_data;
  GError *error = NULL;
  gboolean call;

  call = g_task_propagate_boolean (G_TASK (result), &error);
  if (error != NULL)
    {
      flight_complete (flight, error);
      return;
    }
  if (!call)
    {
      flight_complete (flight, NULL);
      return;
    }

  /* The lock stays held while TikTok answers; the main context keeps running meanwhile. */
  flight->network = TRUE;
  kh_token_client_refresh_async (get_client (flight->broker), flight->app, flight->app_secret,
                                 kh_grant_get_token_kind (flight->grant),
                                 flight->current->refresh_token, NULL, flight_refreshed_cb,
                                 flight);
}

/* Adds task (whose Request has resolved_id) to the grant's flight, starting one if none. */
static void
join_flight (KhBroker *self,
             GTask    *task)
{
  Request *request = g_task_get_task_data (task);
  Flight *flight = g_hash_table_lookup (self->flights, request->resolved_id);
  g_autoptr(GTask) lock_task = NULL;

  if (flight != NULL)
    {
      g_ptr_array_add (flight->waiters, g_object_ref (task));
      flight->force = flight->force || request->force;
      return;
    }

  flight = g_new0 (Flight, 1);
  flight->broker = g_object_ref (self);
  flight->grant_id = g_strdup (request->resolved_id);
  flight->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  flight->lock_fd = -1;
  flight->force = request->force;
  flight->seen_updated = request->seen_updated;
  flight->seen_expiry = request->seen_expiry;
  flight->shared = request->shared;
  flight->app_name = g_strdup (request->app_name);
  g_ptr_array_add (flight->waiters, g_object_ref (task));
  g_hash_table_insert (self->flights, g_strdup (flight->grant_id), flight);

  lock_task = g_task_new (self, NULL, flight_locked_cb, flight);
  g_task_set_source_tag (lock_task, join_flight);
  g_task_set_task_data (lock_task, flight, NULL);
  g_task_run_in_thread (lock_task, flight->shared ? flight_team_thread : flight_lock_thread);
}

static void
fast_path_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  g_autoptr(GTask) task = user_data;
  Request *request = g_task_get_task_data (task);
  KhTokenSet *tokens;
  GError *error = NULL;

  tokens = g_task_propagate_pointer (G_TASK (result), &error);
  if (error != NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (tokens != NULL)
    {
      g_task_return_pointer (task, tokens, (GDestroyNotify) kh_token_set_free);
      return;
    }

  /* A recent transient failure: while the stored token still works, do not hammer TikTok. */
  if (!request->force && in_backoff (self, request->resolved_id) &&
      token_still_valid (request->current, kh_now ()))
    {
      g_task_return_pointer (task, kh_token_set_copy (request->current),
                             (GDestroyNotify) kh_token_set_free);
      return;
    }

  join_flight (self, task);
}

static void
start_request (KhBroker            *self,
               const char          *grant_id,
               KhGrant             *listed,
               gint64               min_valid,
               gboolean             force,
               gpointer             source_tag,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) fast = NULL;
  Request *request;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  request = g_new0 (Request, 1);
  request->grant_id = g_strdup (grant_id);
  request->min_valid = MAX (min_valid, 0);
  request->force = force;
  if (listed != NULL)
    {
      note_seen (request, listed);
      request->seen_listed = TRUE;
    }
  g_task_set_task_data (task, request, (GDestroyNotify) request_free);

  /* A shared grant as listed goes straight to its flight: the row lock decides anyway, and a
   * bulk refresh saves a query per grant. */
  if (listed != NULL && kh_grant_get_shared (listed) && self->team != NULL)
    {
      request->shared = TRUE;
      request->resolved_id = g_strdup (kh_grant_get_id (listed));
      request->app_name = g_strdup (kh_grant_get_app_name (listed));
      join_flight (self, task);
      return;
    }

  /* The fast path's task shares the Request; it finishes before the outer task does. */
  fast = g_task_new (self, cancellable, fast_path_cb, g_steal_pointer (&task));
  g_task_set_source_tag (fast, start_request);
  g_task_set_task_data (fast, request, NULL);
  g_task_run_in_thread (fast, fast_path_thread);
}

void
kh_broker_get_token_async (KhBroker            *self,
                           const char          *grant_id,
                           gint64               min_valid_seconds,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  start_request (self, grant_id, NULL, min_valid_seconds, FALSE, kh_broker_get_token_async,
                 cancellable, callback, user_data);
}

KhTokenSet *
kh_broker_get_token_finish (KhBroker      *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  return kh_broker_get_token_finish_full (self, result, NULL, NULL, error);
}

KhTokenSet *
kh_broker_get_token_finish_full (KhBroker      *self,
                                 GAsyncResult  *result,
                                 KhGrant      **shared_out,
                                 char         **offline_note_out,
                                 GError       **error)
{
  Request *request;
  KhTokenSet *tokens;

  g_return_val_if_fail (KH_IS_BROKER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_broker_get_token_async,
                        NULL);

  request = g_task_get_task_data (G_TASK (result));
  tokens = g_task_propagate_pointer (G_TASK (result), error);
  if (offline_note_out != NULL)
    *offline_note_out = tokens != NULL ? g_strdup (request->offline_note) : NULL;
  if (shared_out != NULL)
    *shared_out = tokens != NULL && request->shared_grant != NULL
                  ? g_object_ref (request->shared_grant) : NULL;

  return tokens;
}

void
kh_broker_refresh_async (KhBroker            *self,
                         const char          *grant_id,
                         gboolean             force,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  start_request (self, grant_id, NULL, KH_BROKER_DEFAULT_MIN_VALID, force,
                 kh_broker_refresh_async, cancellable, callback, user_data);
}

void
kh_broker_refresh_listed_async (KhBroker            *self,
                                KhGrant             *listed,
                                gboolean             force,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (KH_IS_GRANT (listed));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  start_request (self, kh_grant_get_id (listed), listed, KH_BROKER_DEFAULT_MIN_VALID, force,
                 kh_broker_refresh_async, cancellable, callback, user_data);
}

KhTokenSet *
kh_broker_refresh_finish (KhBroker      *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (KH_IS_BROKER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_broker_refresh_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Runs the first step of task's operation (reading the store) in a worker thread, then
 * prepared_cb with task (transfer full) as its user data. The step sees task's data as its
 * own. */
static void
prepare_in_thread (KhBroker            *self,
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

/* ---- recovery ---------------------------------------------------------------------------- */

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
      int fd = lock_grant (self, ids[i], FALSE, &error);
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
              unlock_grant (&fd);
              g_task_return_error (task, error);
              return;
            }
        }
      else
        g_strv_builder_add (orphans, ids[i]);
      unlock_grant (&fd);
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

  prepare_in_thread (self, g_steal_pointer (&task), recover, recover_scan_thread,
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

/* ---- revoke ----------------------------------------------------------------------------------- */

typedef struct
{
  char         *grant_id;
  KhGrant      *grant;
  KhAppProfile *app;
  char         *app_secret;
  KhTokenSet   *tokens;
  gboolean      manual;
} Revoke;

static void
revoke_free (Revoke *revoke)
{
  g_free (revoke->grant_id);
  g_clear_object (&revoke->grant);
  g_clear_object (&revoke->app);
  if (revoke->app_secret != NULL)
    memset (revoke->app_secret, 0, strlen (revoke->app_secret));
  g_free (revoke->app_secret);
  g_clear_pointer (&revoke->tokens, kh_token_set_free);
  g_free (revoke);
}

static void
revoke_prepare_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Revoke *revoke = task_data;
  g_auto(TeamLease) lease = { NULL, };
  gboolean cached = FALSE;
  GError *error = NULL;

  revoke->grant = find_any_grant (self, revoke->grant_id, FALSE, &error);
  if (revoke->grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_free (revoke->grant_id);
  revoke->grant_id = g_strdup (kh_grant_get_id (revoke->grant));

  if (!kh_provider_get (kh_grant_get_account_type (revoke->grant))->revoke_api)
    {
      revoke->manual = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }

  if (kh_grant_get_shared (revoke->grant))
    {
      if (!team_lease_take (&lease, self, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      revoke->tokens = kh_team_load_tokens (lease.team, revoke->grant_id, NULL, &cached, &error);
      /* Revoking needs the database: the cached row is not enough to remove it there. */
      if (revoke->tokens != NULL && cached)
        {
          g_clear_pointer (&revoke->tokens, kh_token_set_free);
          g_set_error (&error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE,
                       _("The team database is unreachable (%s): try again when it is back"),
                       kh_team_get_last_error_message (lease.team));
        }
    }
  else
    revoke->tokens = kh_store_load_tokens (self->store, revoke->grant_id, &error);
  if (revoke->tokens == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (!load_app (self, kh_grant_get_app_name (revoke->grant), revoke->grant_id, lease.team,
                 &revoke->app, &revoke->app_secret, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static void
revoke_remove_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Revoke *revoke = task_data;
  g_autoptr(KhHistoryEntry) entry = kh_history_entry_new_revoked (revoke->grant, revoke->manual);
  g_auto(TeamLease) lease = { NULL, };
  GError *error = NULL;
  JsonObject *detail;

  if (!kh_grant_get_shared (revoke->grant))
    {
      kh_history_record (self->store, entry);
      if (!kh_store_remove_grant (self->store, revoke->grant_id, &error))
        g_task_return_error (task, error);
      else
        g_task_return_boolean (task, TRUE);
      return;
    }

  if (!team_lease_take (&lease, self, &error) ||
      !kh_team_remove_grant (lease.team, revoke->grant_id, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  detail = json_object_new ();
  json_object_set_boolean_member (detail, "manual", revoke->manual);
  kh_shared_note (lease.team, "revoked", revoke->grant, detail);
  g_task_return_boolean (task, TRUE);
}

static void
revoke_removed_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
revoke_remove (GTask *task)
{
  KhBroker *self = g_task_get_source_object (task);
  g_autoptr(GTask) remove = g_task_new (self, NULL, revoke_removed_cb, task);

  g_task_set_source_tag (remove, revoke_remove);
  g_task_set_task_data (remove, g_task_get_task_data (task), NULL);
  g_task_run_in_thread (remove, revoke_remove_thread);
}

static void
revoke_sent_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;

  if (!kh_token_client_revoke_finish (KH_TOKEN_CLIENT (object), result, &error))
    {
      /* A token TikTok already calls invalid or revoked is as good as revoked. */
      if (!g_error_matches (error, KH_API_ERROR, 40105))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          g_object_unref (task);
          return;
        }
    }

  revoke_remove (task);
}

static void
revoke_prepared_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Revoke *revoke = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  if (revoke->manual)
    {
      revoke_remove (task);
      return;
    }

  kh_token_client_revoke_async (get_client (self), revoke->app, revoke->app_secret,
                                kh_grant_get_token_kind (revoke->grant),
                                revoke->tokens->access_token, g_task_get_cancellable (task),
                                revoke_sent_cb, task);
}

void
kh_broker_revoke_async (KhBroker            *self,
                        const char          *grant_id,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Revoke *revoke;

  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_broker_revoke_async);
  revoke = g_new0 (Revoke, 1);
  revoke->grant_id = g_strdup (grant_id);
  g_task_set_task_data (task, revoke, (GDestroyNotify) revoke_free);

  prepare_in_thread (self, g_steal_pointer (&task), revoke, revoke_prepare_thread,
                     revoke_prepared_cb);
}

gboolean
kh_broker_revoke_finish (KhBroker      *self,
                         GAsyncResult  *result,
                         gboolean      *manual_out,
                         GError       **error)
{
  Revoke *revoke;

  g_return_val_if_fail (KH_IS_BROKER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_broker_revoke_async, FALSE);

  revoke = g_task_get_task_data (G_TASK (result));
  if (manual_out != NULL)
    *manual_out = revoke->manual;

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- advertiser drift ------------------------------------------------------------------------- */

typedef struct
{
  char         *grant_id;
  KhGrant      *grant;
  KhAppProfile *app;
  char         *app_secret;
  KhTokenSet   *tokens;
  GPtrArray    *fetched;   /* KhShop or KhAdvertiser */
  char        **changes;
} Drift;

static void
drift_free (Drift *drift)
{
  g_free (drift->grant_id);
  g_clear_object (&drift->grant);
  g_clear_object (&drift->app);
  if (drift->app_secret != NULL)
    memset (drift->app_secret, 0, strlen (drift->app_secret));
  g_free (drift->app_secret);
  g_clear_pointer (&drift->tokens, kh_token_set_free);
  g_clear_pointer (&drift->fetched, g_ptr_array_unref);
  g_strfreev (drift->changes);
  g_free (drift);
}

static gboolean
drift_is_shops (KhGrant *grant)
{
  return kh_grant_get_token_kind (grant) == KH_TOKEN_KIND_SHOP;
}

static void
drift_prepare_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Drift *drift = task_data;
  g_auto(TeamLease) lease = { NULL, };
  KhAccountType type;
  GError *error = NULL;

  drift->grant = find_any_grant (self, drift->grant_id, TRUE, &error);
  if (drift->grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_free (drift->grant_id);
  drift->grant_id = g_strdup (kh_grant_get_id (drift->grant));

  type = kh_grant_get_account_type (drift->grant);
  if (type != KH_ACCOUNT_SELLER && type != KH_ACCOUNT_ADVERTISER &&
      !(type == KH_ACCOUNT_CREATOR_MARKETPLACE &&
        kh_grant_get_token_kind (drift->grant) == KH_TOKEN_KIND_ADVERTISER))
    {
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Grant %s is a %s: only seller and advertiser grants have a list "
                                 "of shops or advertisers to update"), drift->grant_id,
                               kh_provider_get (type)->id);
      return;
    }

  if (kh_grant_get_shared (drift->grant) && !team_lease_take (&lease, self, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (!load_app (self, kh_grant_get_app_name (drift->grant), drift->grant_id, lease.team,
                 &drift->app, &drift->app_secret, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  g_task_return_boolean (task, TRUE);
}

static const char *
item_id (gpointer item,
         gboolean shops)
{
  return shops ? ((KhShop *) item)->id : ((KhAdvertiser *) item)->id;
}

static const char *
item_name (gpointer item,
           gboolean shops)
{
  const char *name = shops ? ((KhShop *) item)->name : ((KhAdvertiser *) item)->name;

  return name != NULL ? name : "";
}

static gpointer
find_item (GPtrArray  *items,
           const char *id,
           gboolean    shops)
{
  for (guint i = 0; items != NULL && i < items->len; i++)
    if (g_strcmp0 (item_id (g_ptr_array_index (items, i), shops), id) == 0)
      return g_ptr_array_index (items, i);

  return NULL;
}

static void
drift_store_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Drift *drift = task_data;
  gboolean shops = drift_is_shops (drift->grant);
  GPtrArray *old = shops ? kh_grant_get_shops (drift->grant)
                         : kh_grant_get_advertisers (drift->grant);
  g_autoptr(GStrvBuilder) changes = g_strv_builder_new ();
  g_autoptr(JsonArray) added = json_array_new ();
  g_autoptr(JsonArray) removed = json_array_new ();
  g_auto(TeamLease) lease = { NULL, };
  GError *error = NULL;

  for (guint pass = 0; pass < 2; pass++)
    {
      /* First what TikTok lists and the grant did not, then the other way round. */
      GPtrArray *from = pass == 0 ? drift->fetched : old;
      GPtrArray *against = pass == 0 ? old : drift->fetched;

      for (guint i = 0; from != NULL && i < from->len; i++)
        {
          gpointer item = g_ptr_array_index (from, i);
          g_autofree char *line = NULL;
          JsonObject *entry;

          if (find_item (against, item_id (item, shops), shops) != NULL)
            continue;
          line = g_strdup_printf ("%c%s\t%s", pass == 0 ? '+' : '-', item_id (item, shops),
                                  item_name (item, shops));
          g_strv_builder_add (changes, line);
          entry = json_object_new ();
          json_object_set_string_member (entry, "id", item_id (item, shops));
          json_object_set_string_member (entry, "name", item_name (item, shops));
          json_array_add_object_element (pass == 0 ? added : removed, entry);
        }
    }
  drift->changes = g_strv_builder_end (changes);

  if (shops)
    kh_grant_set_shops (drift->grant, drift->fetched);
  else
    kh_grant_set_advertisers (drift->grant, drift->fetched);
  kh_grant_touch (drift->grant, kh_now ());

  if (!kh_grant_get_shared (drift->grant)
      ? !kh_store_update_grant (self->store, drift->grant, &error)
      : !team_lease_take (&lease, self, &error) ||
        !kh_team_update_grant (lease.team, drift->grant, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (drift->changes[0] != NULL)
    {
      if (lease.team == NULL)
        {
          g_autoptr(KhHistoryEntry) entry = NULL;

          entry = kh_history_entry_new_accounts_changed (drift->grant,
                                                         (const char * const *) drift->changes);
          kh_history_record (self->store, entry);
        }
      else
        {
          JsonObject *detail = json_object_new ();

          json_object_set_array_member (detail, "added", g_steal_pointer (&added));
          json_object_set_array_member (detail, "removed", g_steal_pointer (&removed));
          kh_shared_note (lease.team, "accounts-changed", drift->grant, detail);
        }
    }
  g_task_return_boolean (task, TRUE);
}

static void
drift_stored_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    {
      Drift *drift = g_task_get_task_data (task);

      g_task_return_pointer (task, g_steal_pointer (&drift->changes), (GDestroyNotify) g_strfreev);
    }
}

static void
drift_fetched_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  Drift *drift = g_task_get_task_data (task);
  g_autoptr(GTask) store = NULL;
  GError *error = NULL;

  if (drift_is_shops (drift->grant))
    drift->fetched = kh_token_client_get_shops_finish (KH_TOKEN_CLIENT (object), result, &error);
  else
    drift->fetched = kh_token_client_get_advertisers_finish (KH_TOKEN_CLIENT (object), result,
                                                             &error);
  if (drift->fetched == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  store = g_task_new (g_task_get_source_object (task), NULL, drift_stored_cb, task);
  g_task_set_source_tag (store, drift_fetched_cb);
  g_task_set_task_data (store, drift, NULL);
  g_task_run_in_thread (store, drift_store_thread);
}

static void
drift_token_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Drift *drift = g_task_get_task_data (task);
  GError *error = NULL;

  drift->tokens = kh_broker_get_token_finish (self, result, &error);
  if (drift->tokens == NULL)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  if (drift_is_shops (drift->grant))
    kh_token_client_get_shops_async (get_client (self), drift->app, drift->app_secret,
                                     drift->tokens->access_token, g_task_get_cancellable (task),
                                     drift_fetched_cb, task);
  else
    kh_token_client_get_advertisers_async (get_client (self), drift->app, drift->app_secret,
                                           drift->tokens->access_token,
                                           g_task_get_cancellable (task), drift_fetched_cb, task);
}

static void
drift_prepared_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  KhBroker *self = KH_BROKER (object);
  GTask *task = user_data;
  Drift *drift = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  /* Through the broker: a seller's access token may need a refresh first. */
  kh_broker_get_token_async (self, drift->grant_id, 60, g_task_get_cancellable (task),
                             drift_token_cb, task);
}

void
kh_broker_update_accounts_async (KhBroker            *self,
                                 const char          *grant_id,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Drift *drift;

  g_return_if_fail (KH_IS_BROKER (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_broker_update_accounts_async);
  drift = g_new0 (Drift, 1);
  drift->grant_id = g_strdup (grant_id);
  g_task_set_task_data (task, drift, (GDestroyNotify) drift_free);

  prepare_in_thread (self, g_steal_pointer (&task), drift, drift_prepare_thread,
                     drift_prepared_cb);
}

char **
kh_broker_update_accounts_finish (KhBroker      *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (KH_IS_BROKER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        kh_broker_update_accounts_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
