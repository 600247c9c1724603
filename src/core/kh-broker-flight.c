/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker-flight.c: getting and refreshing a token. A request first tries the fast path (the
 * index for the grant's status, one keyring lookup for the tokens). When the token is too old it
 * joins the grant's flight: one refresh per grant per process, whatever the number of callers.
 * A flight takes the grant's flock in a worker thread, re-reads the tokens (another process may
 * have refreshed while we waited), and only if they still need it calls TikTok on the main
 * context; the new tokens are written (keyring first) in a worker thread before the lock is
 * released, with the refresh journal's intent around the call. The main context never blocks on
 * the lock, the keyring or the network. A shared grant's flight runs in kh-broker-team.c. */

#define G_LOG_DOMAIN "kh-broker-flight"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-broker-private.h"

#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-refresh-journal.h"
#include "kh-util.h"

#include <string.h>

/* After a transient failure the process leaves the grant alone this long (doubling per failure,
 * up to the maximum) as long as the stored access token is still valid. */
#define BACKOFF_FIRST_US (30 * G_USEC_PER_SEC)
#define BACKOFF_MAX_US   (15 * 60 * G_USEC_PER_SEC)

typedef struct
{
  gint64 not_before;   /* monotonic microseconds */
  gint64 delay;
} Backoff;

static gboolean
token_still_valid (const KhTokenSet *tokens,
                   gint64            now)
{
  return tokens != NULL && tokens->access_token != NULL && *tokens->access_token != '\0' &&
         (tokens->access_expires_at == 0 || tokens->access_expires_at > now);
}

/* ---- the one-lookup path ---------------------------------------------------------------------- */

gboolean
kh_broker_looks_like_grant_id (const char *text)
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

  if (!kh_broker_looks_like_grant_id (grant_id) ||
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
void
kh_broker_note_seen (Request *request,
                     KhGrant *grant)
{
  if (request->seen_listed)
    return;
  request->seen_updated = kh_grant_get_updated_at (grant);
  request->seen_expiry = kh_grant_get_access_expires_at (grant);
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

  grant = kh_broker_load_grant (self->store, request->grant_id, &error);
  if (grant == NULL && self->team != NULL && g_error_matches (error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      g_clear_error (&error);
      kh_broker_shared_fast_path (task, self, request);
      return;
    }
  if (grant == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  request->resolved_id = g_strdup (kh_grant_get_id (grant));
  kh_broker_note_seen (request, grant);

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

static void
flight_free (Flight *flight)
{
  kh_broker_unlock_grant (&flight->lock_fd);
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

  kh_broker_unlock_grant (&flight->lock_fd);
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

/* Under the grant's lock, with flight->grant and flight->current just read again. */
Decision
kh_broker_flight_decide (Flight  *flight,
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

  flight->lock_fd = kh_broker_lock_grant (self, flight->grant_id, TRUE, &error);
  if (flight->lock_fd < 0)
    {
      g_task_return_error (task, error);
      return;
    }

  grant = kh_broker_load_grant (self->store, flight->grant_id, &error);
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

  switch (kh_broker_flight_decide (flight, &error))
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

  if (!kh_broker_load_app (self, kh_grant_get_app_name (flight->grant), flight->grant_id, NULL,
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
KhTokenSet *
kh_broker_tokens_from_response (Flight          *flight,
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

  tokens = kh_broker_tokens_from_response (flight, response);

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
        kh_broker_forget_app_secret (flight->broker, kh_app_profile_get_name (flight->app));
      /* The store step records the failure; only a terminal one changes the grant (the old
       * tokens stay otherwise). */
      flight->refresh_error = error;
    }

  task = g_task_new (flight->broker, NULL, flight_stored_cb, flight);
  kh_broker_emit_answered (flight->broker, flight->grant_id);
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
  kh_token_client_refresh_async (kh_broker_get_client (flight->broker), flight->app,
                                 flight->app_secret, kh_grant_get_token_kind (flight->grant),
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
  g_task_run_in_thread (lock_task,
                        flight->shared ? kh_broker_flight_team_thread : flight_lock_thread);
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
      kh_broker_note_seen (request, listed);
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
