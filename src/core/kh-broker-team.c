/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker-team.c: the grants of the team store. Their fast path reads the team's row (or,
 * while the database is unreachable, the last row this machine saw), and their flight refreshes
 * under the team's row lock: TikTok is called by the broker's token client in the broker's
 * context while the worker thread holding the lock waits, and the new tokens are written and
 * audited in the same transaction. */

#define G_LOG_DOMAIN "kh-broker-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-broker-private.h"

#include "kh-error.h"
#include "kh-shared.h"
#include "kh-util.h"

/* The fast path of a grant the store does not have: the team's row (one query), or, while the
 * database is unreachable, the last row this machine saw, which may answer but never refresh. */
void
kh_broker_shared_fast_path (GTask    *task,
                            KhBroker *self,
                            Request  *request)
{
  g_auto(TeamLease) lease = { NULL, };
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autofree char *id = NULL;
  gboolean cached = FALSE;
  GError *error = NULL;

  if (!kh_broker_team_lease_take (&lease, self, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* A full id needs no lookup by name, which would need the database. */
  if (kh_broker_looks_like_grant_id (request->grant_id))
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
  if (!kh_broker_check_usable (grant, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  request->shared = TRUE;
  request->resolved_id = g_steal_pointer (&id);
  request->app_name = g_strdup (kh_grant_get_app_name (grant));
  kh_grant_set_shared (grant, TRUE);
  request->shared_grant = g_object_ref (grant);
  kh_broker_note_seen (request, grant);

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

  kh_token_client_refresh_async (kh_broker_get_client (flight->broker), flight->app,
                                 flight->app_secret, kh_grant_get_token_kind (flight->grant),
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
  if (!kh_broker_check_usable (grant, error))
    return NULL;

  switch (kh_broker_flight_decide (flight, error))
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
        kh_broker_forget_app_secret (flight->broker, kh_app_profile_get_name (flight->app));
      flight->mark = klass == KH_ERROR_CLASS_TERMINAL;
      g_propagate_error (error, local_error);
      return NULL;
    }

  return kh_broker_tokens_from_response (flight, response);
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
void
kh_broker_flight_team_thread (GTask        *task,
                              gpointer      source_object,
                              gpointer      task_data,
                              GCancellable *cancellable)
{
  KhBroker *self = source_object;
  Flight *flight = task_data;
  g_auto(TeamLease) lease = { NULL, };
  GError *error = NULL;

  if (!kh_broker_team_lease_take (&lease, self, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* Before the row lock, whose callback must not use the connection; an error here matters
   * only if a refresh turns out to be needed. */
  kh_broker_load_app (self, flight->app_name, flight->grant_id, lease.team, &flight->app,
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
