/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-tokens.c: the commands that hand out and renew access tokens: `token`, `refresh` (one
 * grant, --all or --due, as a bounded parallel batch) and `recover`. */

#define G_LOG_DOMAIN "kh-cli-tokens"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "kh-cli-private.h"

#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-shared.h"
#include "kh-util.h"

/* ---- token / refresh ---------------------------------------------------------------------- */

int
kh_cli_cmd_token (int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — print a valid access token, refreshing it if needed"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KhHistoryEntry) entry = NULL;
  g_autofree char *offline_note = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) shared = NULL;
  KhCliWait wait = { NULL, cancellable };
  gint64 min_valid = KH_BROKER_DEFAULT_MIN_VALID;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "min-valid", 0, 0, G_OPTION_ARG_INT64, &min_valid,
      N_("Refresh first unless the token stays valid this many seconds (default 600)"), "SECONDS" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return kh_cli_usage_error (context, _("Name one grant (its id or display name)"));
  if (min_valid < 0)
    return kh_cli_usage_error (context, _("--min-valid must be zero or more seconds"));

  /* n8n, cron and MCP servers call this all the time: a fresh token by its id costs one keyring
   * lookup and no index (and the history record one append, no lookup). */
  tokens = kh_broker_peek_token_full (NULL, argv[1], min_valid, &grant);
  if (tokens == NULL)
    {
      if (!kh_cli_open_session (&store, &team, &error))
        return kh_cli_report_error (error);

      /* The broker finds the grant, local or shared; a shared one named by its id is found
       * even while the team's database is unreachable. */
      broker = kh_cli_new_broker (store, team, FALSE);
      kh_broker_get_token_async (broker, argv[1], min_valid, cancellable, kh_cli_wait_cb, &wait);
      result = kh_cli_wait_for_result (&wait);
      tokens = kh_broker_get_token_finish_full (broker, result, &shared, &offline_note, &error);
      if (tokens == NULL)
        return kh_cli_report_error (error);
    }

  /* Who read a shared grant's token is the team's business (the audit); not while the
   * database is down, which is when this machine answers alone. */
  if (shared != NULL && offline_note == NULL)
    {
      JsonObject *detail = json_object_new ();

      json_object_set_string_member (detail, "command", "token");
      kh_shared_note (team, "token-read", shared, detail);
    }

  if (offline_note != NULL)
    {
      g_autofree char *until = kh_cli_format_expiry (tokens->access_expires_at);

      /* One line, so that a script's log shows why the token did not change. */
      g_strdelimit (offline_note, "\r\n", ' ');
      g_printerr ("keyhold-cli: ");
      g_printerr (_("note: the team database is unreachable (%s): this is the last token this "
                    "computer saw, valid until %s; nothing was refreshed"), offline_note, until);
      g_printerr ("\n");
    }

  /* The contract: the token alone on stdout, one line. */
  g_print ("%s\n", tokens->access_token);
  /* A local grant's reads go to this computer's history (a shared one's to the audit above). */
  if (grant == NULL && shared == NULL && store != NULL)
    grant = kh_store_find_grant (store, argv[1], NULL);
  if (grant != NULL)
    {
      entry = kh_history_entry_new_token_read (grant, "token");
      kh_history_record_in_store_name (NULL, entry);
    }
  return EXIT_OK;
}

/* Which failure a batch reports: needs-reauth outranks other errors, which outrank transient
 * ones (those may go away by themselves). */
static int
exit_rank (int code)
{
  switch (code)
    {
    case 3:
      return 3;
    case 1:
      return 2;
    case 4:
      return 1;
    default:
      return 0;
    }
}

/* The grants of one refresh --all or --due: at most `jobs` calls to TikTok at once, and at most
 * `per_app` of them for one app profile, taking the apps in turn. TikTok limits calls per app
 * (the sandbox: 50 a second), and an agency's grants may all belong to one app: two at a time
 * per app stays under that limit at any latency above 40 ms. A refresh leaves its slot when
 * TikTok has answered (the broker's "answered"): its tokens are then stored while the next call
 * waits for TikTok, and at most `jobs` refreshes are storing at once, whose keyring writes the
 * store shares when they fall into one bucket. */
typedef struct
{
  KhBroker   *broker;
  GPtrArray  *apps;       /* char *: app names in the order they were first seen */
  GHashTable *queues;     /* app name -> GQueue of KhGrant (as listed), not started yet */
  GHashTable *running_by_app; /* app name -> refreshes in flight */
  guint       next_app;
  guint       waiting;
  guint       running;    /* waiting for TikTok */
  guint       storing;    /* answered, storing the new tokens */
  GHashTable *in_flight;  /* grant id -> BatchItem waiting for TikTok */
  guint       jobs;
  guint       per_app;
  gboolean    force;
  int         worst;
} Batch;

typedef struct
{
  Batch   *batch;
  KhGrant *grant;
  char    *app;
  gboolean answered;
} BatchItem;

static void
queue_free (gpointer data)
{
  g_queue_free_full (data, g_object_unref);
}

static void
batch_init (Batch    *batch,
            KhBroker *broker,
            guint     jobs,
            guint     per_app,
            gboolean  force)
{
  batch->broker = broker;
  batch->apps = g_ptr_array_new_with_free_func (g_free);
  batch->queues = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, queue_free);
  batch->running_by_app = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  batch->in_flight = g_hash_table_new (g_str_hash, g_str_equal);
  batch->jobs = jobs;
  batch->per_app = per_app;
  batch->force = force;
  batch->worst = EXIT_OK;
}

static void
batch_clear (Batch *batch)
{
  g_clear_pointer (&batch->apps, g_ptr_array_unref);
  g_clear_pointer (&batch->queues, g_hash_table_unref);
  g_clear_pointer (&batch->running_by_app, g_hash_table_unref);
  g_clear_pointer (&batch->in_flight, g_hash_table_unref);
}

static void
batch_add (Batch   *batch,
           KhGrant *grant)
{
  const char *app = kh_grant_get_app_name (grant);
  GQueue *queue;

  if (app == NULL)
    app = "";
  queue = g_hash_table_lookup (batch->queues, app);
  if (queue == NULL)
    {
      queue = g_queue_new ();
      g_hash_table_insert (batch->queues, g_strdup (app), queue);
      g_ptr_array_add (batch->apps, g_strdup (app));
    }
  g_queue_push_tail (queue, g_object_ref (grant));
  batch->waiting++;
}

static guint
batch_running_for (Batch      *batch,
                   const char *app)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (batch->running_by_app, app));
}

static void
batch_note_failure (Batch        *batch,
                    const char   *id,
                    const GError *error)
{
  g_autofree char *line = g_strdup_printf ("%s: %s", id, error->message);
  int code = kh_error_exit_code (error);

  g_strdelimit (line, "\r\n", ' ');
  g_printerr ("keyhold-cli: %s\n", line);
  if (exit_rank (code) > exit_rank (batch->worst))
    batch->worst = code;
}

static void batch_start_next (Batch *batch);

/* The item's call to TikTok is over: its slot (and its app's) goes to the next grant. */
static void
batch_item_answered (BatchItem *item)
{
  Batch *batch = item->batch;

  g_hash_table_remove (batch->in_flight, kh_grant_get_id (item->grant));
  g_hash_table_insert (batch->running_by_app, g_strdup (item->app),
                       GUINT_TO_POINTER (batch_running_for (batch, item->app) - 1));
  batch->running--;
  batch->storing++;
  item->answered = TRUE;
}

static void
batch_answered_cb (KhBroker   *broker,
                   const char *grant_id,
                   gpointer    user_data)
{
  Batch *batch = user_data;
  BatchItem *item = g_hash_table_lookup (batch->in_flight, grant_id);

  if (item == NULL)
    return;
  batch_item_answered (item);
  batch_start_next (batch);
}

static void
batch_item_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  BatchItem *item = user_data;
  Batch *batch = item->batch;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  tokens = kh_broker_refresh_finish (batch->broker, result, &error);
  if (tokens != NULL)
    {
      g_print ("REFRESHED: %s\n", kh_grant_get_id (item->grant));
      fflush (stdout);
    }
  else
    batch_note_failure (batch, kh_grant_get_id (item->grant), error);

  /* Refreshes that never called TikTok (fresh, failed before) end here. */
  if (!item->answered)
    batch_item_answered (item);
  batch->storing--;
  g_object_unref (item->grant);
  g_free (item->app);
  g_free (item);
  batch_start_next (batch);
}

static void
batch_start_next (Batch *batch)
{
  while (batch->running < batch->jobs && batch->storing < batch->jobs && batch->waiting > 0)
    {
      BatchItem *item;
      const char *app = NULL;
      guint n_apps = batch->apps->len;

      /* The next app in turn that has a grant waiting and room under its limit. */
      for (guint k = 0; k < n_apps && app == NULL; k++)
        {
          const char *candidate = g_ptr_array_index (batch->apps, (batch->next_app + k) % n_apps);
          GQueue *queue = g_hash_table_lookup (batch->queues, candidate);

          if (!g_queue_is_empty (queue) && batch_running_for (batch, candidate) < batch->per_app)
            {
              app = candidate;
              batch->next_app = (batch->next_app + k + 1) % n_apps;
            }
        }
      if (app == NULL)
        return;

      item = g_new0 (BatchItem, 1);
      item->batch = batch;
      item->grant = g_queue_pop_head (g_hash_table_lookup (batch->queues, app));
      item->app = g_strdup (app);
      g_hash_table_insert (batch->running_by_app, g_strdup (app),
                           GUINT_TO_POINTER (batch_running_for (batch, app) + 1));
      batch->waiting--;
      batch->running++;
      g_hash_table_insert (batch->in_flight, (char *) kh_grant_get_id (item->grant), item);
      /* The grant as listed: a refresh another process completed since then is adopted. */
      kh_broker_refresh_listed_async (batch->broker, item->grant, batch->force, NULL,
                                      batch_item_cb, item);
    }
}

/* Settles the refreshes a killed keyhold-cli or app left unfinished (kh_broker_recover_async):
 * "RECOVERED: ID" on stdout for each completed one when print_recovered, a failure line on
 * stderr for the others. Returns the exit code they add up to. */
static int
recover_interrupted (KhBroker *broker,
                     gboolean  print_recovered)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GPtrArray) outcomes = NULL;
  g_autoptr(GError) error = NULL;
  KhCliWait wait = { NULL, cancellable };
  Batch report = { NULL, };

  kh_broker_recover_async (broker, cancellable, kh_cli_wait_cb, &wait);
  result = kh_cli_wait_for_result (&wait);
  outcomes = kh_broker_recover_finish (broker, result, &error);
  if (outcomes == NULL)
    return kh_cli_report_error (error);

  report.worst = EXIT_OK;
  for (guint i = 0; i < outcomes->len; i++)
    {
      KhRecovery *recovery = g_ptr_array_index (outcomes, i);

      if (recovery->error != NULL)
        batch_note_failure (&report, recovery->grant_id, recovery->error);
      else if (print_recovered)
        g_print ("RECOVERED: %s\n", recovery->grant_id);
    }

  return report.worst;
}

int
kh_cli_cmd_recover (int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— finish refreshes that were interrupted"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  g_option_context_set_summary (context, _("A refresh killed after TikTok rotated the refresh "
                                           "token is retried with the stored token inside "
                                           "TikTok's grace; when TikTok refuses it, the grant is "
                                           "marked needs-reauth with the reason. keyhold-cli "
                                           "refresh does this first by itself."));
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));

  store = kh_cli_open_store (&error);
  if (store == NULL)
    return kh_cli_report_error (error);
  broker = kh_cli_new_broker (store, NULL, TRUE);

  return recover_interrupted (broker, TRUE);
}

/* Shared grants in a random order of their own (local ones keep theirs): two servers running
 * `refresh --due` at once then mostly work on different grants instead of queueing on the same
 * row locks, and share the work. */
static void
shuffle_shared (GPtrArray *grants)
{
  g_autoptr(GPtrArray) shared = g_ptr_array_new ();
  guint next = 0;

  for (guint i = 0; i < grants->len; i++)
    if (kh_grant_get_shared (g_ptr_array_index (grants, i)))
      g_ptr_array_add (shared, g_ptr_array_index (grants, i));
  for (guint i = shared->len; i > 1; i--)
    {
      guint j = (guint) g_random_int_range (0, (gint32) i);
      gpointer swap = shared->pdata[i - 1];

      shared->pdata[i - 1] = shared->pdata[j];
      shared->pdata[j] = swap;
    }
  for (guint i = 0; i < grants->len; i++)
    if (kh_grant_get_shared (g_ptr_array_index (grants, i)))
      grants->pdata[i] = shared->pdata[next++];
}

static gboolean
grant_can_refresh (KhGrant *grant)
{
  /* Advertiser-style tokens never expire and have nothing to refresh. */
  return kh_grant_get_token_kind (grant) != KH_TOKEN_KIND_ADVERTISER &&
         kh_grant_get_access_expires_at (grant) != 0;
}

int
kh_cli_cmd_refresh (int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT | --all | --due — refresh access tokens"));
  gboolean all = FALSE;
  gboolean due = FALSE;
  gint64 margin = KH_BROKER_DEFAULT_MIN_VALID;
  int jobs = 8;
  int per_app = 2;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(GPtrArray) grants_to_refresh = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  gint64 now = kh_now ();
  Batch batch = { NULL, };
  int exit_code = EXIT_OK;
  int recovered;
  gulong answered_id;
  GOptionEntry entries[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, N_("Refresh every grant that has a refresh token"), NULL },
    { "due", 0, 0, G_OPTION_ARG_NONE, &due, N_("Refresh the grants whose access token expires within the margin"), NULL },
    { "margin", 0, 0, G_OPTION_ARG_INT64, &margin, N_("The margin of --due in seconds (default 600)"), "SECONDS" },
    { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, N_("Refreshes at once for --all and --due (default 8)"), "N" },
    { "per-app", 0, 0, G_OPTION_ARG_INT, &per_app, N_("Of those, refreshes at once for one app profile (default 2), under TikTok's per-app rate limit"), "N" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if ((all ? 1 : 0) + (due ? 1 : 0) + (argc == 2 ? 1 : 0) != 1 || argc > 2)
    return kh_cli_usage_error (context, _("Name one grant, or give --all or --due"));
  if (margin < 0)
    return kh_cli_usage_error (context, _("--margin must be zero or more seconds"));
  if (jobs < 1 || jobs > 256)
    return kh_cli_usage_error (context, _("--jobs must be from 1 to 256"));
  if (per_app < 1 || per_app > 256)
    return kh_cli_usage_error (context, _("--per-app must be from 1 to 256"));

  if (!kh_cli_open_session (&store, &team, &error))
    return kh_cli_report_error (error);
  broker = kh_cli_new_broker (store, team, TRUE);
  /* First what a killed run left unfinished, inside TikTok's grace; the grants are listed
   * after it, so that one it marked is seen marked. */
  recovered = recover_interrupted (broker, FALSE);

  if (argc == 2)
    {
      g_autoptr(KhGrant) grant = kh_shared_find_grant (store, team, argv[1], &error);

      if (grant == NULL)
        return kh_cli_report_error (error);
      g_ptr_array_add (grants_to_refresh, g_steal_pointer (&grant));
    }
  else
    {
      g_autoptr(GPtrArray) grants = kh_shared_list_grants (store, team, &error);

      if (grants == NULL)
        return kh_cli_report_error (error);
      for (guint i = 0; i < grants->len; i++)
        {
          KhGrant *grant = g_ptr_array_index (grants, i);
          KhGrantStatus stored = kh_grant_get_stored_status (grant);
          gboolean dead = stored == KH_GRANT_STATUS_NEEDS_REAUTH ||
                          stored == KH_GRANT_STATUS_REVOKED;

          if (!grant_can_refresh (grant))
            continue;
          /* --due is for cron: a dead grant is not due, `status` shows it. --all tries it and
           * reports it (exit 3). */
          if (due && (dead || kh_grant_get_access_expires_at (grant) - now >= margin))
            continue;
          g_ptr_array_add (grants_to_refresh, g_object_ref (grant));
        }
    }

  /* A named grant or --all: refresh now. --due: only what is still due under the lock. */
  batch_init (&batch, broker, (guint) jobs, (guint) per_app, !due);
  batch.worst = recovered;
  shuffle_shared (grants_to_refresh);
  for (guint i = 0; i < grants_to_refresh->len; i++)
    batch_add (&batch, g_ptr_array_index (grants_to_refresh, i));
  answered_id = g_signal_connect (broker, "answered", G_CALLBACK (batch_answered_cb), &batch);
  batch_start_next (&batch);
  /* Every refresh ends with its tokens stored. */
  while (batch.running > 0 || batch.storing > 0)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handler_disconnect (broker, answered_id);

  exit_code = batch.worst;
  batch_clear (&batch);
  return exit_code;
}
