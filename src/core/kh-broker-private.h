/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-broker-private.h: what the files of the broker share (not installed, not public API): the
 * broker's fields, a request and a grant's flight, and the helpers kh-broker.c gives the
 * operations (team connections, the grant lock, loading). */
#pragma once

#include "kh-broker.h"

#include "kh-refresh-journal.h"

G_BEGIN_DECLS

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

/* A team connection that goes back to the broker's pool when it goes out of scope. */
typedef struct
{
  KhBroker *broker;
  KhTeam   *team;
} TeamLease;

void            kh_broker_team_lease_clear    (TeamLease           *lease);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TeamLease, kh_broker_team_lease_clear)

/* A caller of get_token or refresh (kh-broker-flight.c). */
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

/* The one refresh of a grant in flight, shared by its callers (kh-broker-flight.c). */
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

typedef enum
{
  DECISION_CURRENT,   /* the tokens read under the lock do */
  DECISION_REFRESH,   /* call TikTok */
  DECISION_ENDED,     /* the authorization has ended: mark the grant needs-reauth */
  DECISION_FAILED,    /* nothing to refresh with */
} Decision;

/* ---- kh-broker.c ------------------------------------------------------------------------------ */

/* Emits "answered" for grant_id (main context). */
void            kh_broker_emit_answered       (KhBroker            *self,
                                               const char          *grant_id);
/* Worker threads: a team connection from the pool (opened when none is idle), given back when
 * the lease goes out of scope. */
gboolean        kh_broker_team_lease_take     (TeamLease           *lease,
                                               KhBroker            *self,
                                               GError             **error);
/* Main thread only: the token client, created on first use. */
KhTokenClient  *kh_broker_get_client          (KhBroker            *self);
/* The grant's flock (wait FALSE: -1 without error when another holds it), and its release. */
int             kh_broker_lock_grant          (KhBroker            *self,
                                               const char          *grant_id,
                                               gboolean             wait,
                                               GError             **error);
void            kh_broker_unlock_grant        (int                 *fd);
/* FALSE (with the error to show) for a grant marked needs-reauth or revoked. */
gboolean        kh_broker_check_usable        (KhGrant             *grant,
                                               GError             **error);
/* The usable grant grant_id of store, after reloading its index. */
KhGrant        *kh_broker_load_grant          (KhStore             *store,
                                               const char          *grant_id,
                                               GError             **error);
/* Worker threads: the grant from the store or else the team (then marked shared). */
KhGrant        *kh_broker_find_any_grant      (KhBroker            *self,
                                               const char          *grant_id,
                                               gboolean             usable,
                                               GError             **error);
/* Worker threads: the app profile name and its secret, this desktop's or else team's. */
gboolean        kh_broker_load_app            (KhBroker            *self,
                                               const char          *name,
                                               const char          *grant_id,
                                               KhTeam              *team,
                                               KhAppProfile       **app_out,
                                               char               **secret_out,
                                               GError             **error);
/* Drops the cached secret (and team profile) of the app profile name. */
void            kh_broker_forget_app_secret   (KhBroker            *self,
                                               const char          *name);
/* The first step of task's operation in a worker thread, then prepared_cb with task. */
void            kh_broker_prepare_in_thread   (KhBroker            *self,
                                               GTask               *task,
                                               gpointer             data,
                                               GTaskThreadFunc      thread_func,
                                               GAsyncReadyCallback  prepared_cb);

/* ---- kh-broker-flight.c ----------------------------------------------------------------------- */

/* TRUE for a full grant id (32 lowercase hex digits). */
gboolean        kh_broker_looks_like_grant_id (const char          *text);
/* Records what a forced refresh compares the locked row with. */
void            kh_broker_note_seen           (Request             *request,
                                               KhGrant             *grant);
/* Under the grant's lock, with flight->grant and flight->current just read again. */
Decision        kh_broker_flight_decide       (Flight              *flight,
                                               GError             **error);
/* The tokens to store after TikTok's answer (the old refresh token when it gave none). */
KhTokenSet     *kh_broker_tokens_from_response (Flight             *flight,
                                                KhTokenResponse    *response);

/* ---- kh-broker-team.c ------------------------------------------------------------------------- */

/* Worker thread: the fast path of a grant the store does not have; returns task. */
void            kh_broker_shared_fast_path    (GTask               *task,
                                               KhBroker            *self,
                                               Request             *request);
/* Worker thread: the whole refresh of a shared grant under the team's row lock. */
void            kh_broker_flight_team_thread  (GTask               *task,
                                               gpointer             source_object,
                                               gpointer             task_data,
                                               GCancellable        *cancellable);

G_END_DECLS
