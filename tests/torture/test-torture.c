/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-torture.c: 200 seller grants, each a real authorization in a keyhold-sandbox process
 * whose clock runs fast and whose access tokens live minutes, hammered by 8 concurrent
 * `keyhold-cli token` callers while about one refresh call in ten meets a fault (5xx, delay,
 * dropped connection, garbage JSON, rate limit). At the end the sandbox's ledger and the
 * keyring must agree on every grant: none lost, none stale, no superseded refresh token used.
 * Bounded for CI: KEYHOLD_TORTURE_ROUNDS (token calls, default 400) and
 * KEYHOLD_TORTURE_GRANTS (default 200) may lower or raise it. */

#include "config.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-store.h"
#include "kh-token-client.h"
#include "kh-test-util.h"

#define N_APPS          4
#define N_WORKERS       8
#define CLOCK_SPEED     20
#define ACCESS_TTL      600          /* sandbox seconds: 30 real seconds */
#define REFRESH_GRACE   600
#define SERVICE_BASE    G_GINT64_CONSTANT (7100000000000300000)
#define REFRESH_PATH    "/api/v2/token/refresh"

typedef enum {
  FAULT_HTTP_5XX,
  FAULT_DELAY,
  FAULT_DROP,
  FAULT_GARBAGE,
  FAULT_RATE_LIMIT,
  N_FAULT_KINDS
} FaultKind;

static const char * const fault_names[N_FAULT_KINDS] = {
  "5xx", "delay", "dropped connection", "garbage JSON", "rate limit",
};

typedef struct {
  char *id;
  char *first_refresh;   /* the refresh token the grant was seeded with: finds its ledger entry */
} Grant;

typedef struct {
  GSubprocess *sandbox;
  guint        port;
  char        *origin;
  char        *origin_map;
  SoupSession *control;          /* blocking calls to the sandbox's control endpoint only */
  KhStore     *store;
  GPtrArray   *grants;           /* Grant */
  GRand       *rand;

  /* The sandbox clock, as CLI processes must see it: now0 at real0, CLOCK_SPEED times faster. */
  gint64       sandbox_now0;
  gint64       real0;

  guint        rounds;
  guint        started;
  guint        running;
  guint        exit_counts[8];
  guint        bad_output;
  guint        reauth;
  guint        superseded_used;  /* answers "no related auth record for this refresh_token" */
  char        *last_reauth_error;

  guint        injected[N_FAULT_KINDS];
  guint        injected_total;
  gint64       next_fault_at;    /* refresh-call count at which the next fault is queued */
  FaultKind    last_fault;
  GPtrArray   *printed;          /* "grant-index token" pairs printed by workers */
} Torture;

static void
grant_free (Grant *grant)
{
  g_free (grant->id);
  g_free (grant->first_refresh);
  g_free (grant);
}

#define build_path kh_test_build_path

static guint
control (Torture     *t,
         const char  *method,
         const char  *path,
         const char  *json_body,
         char       **body_out)
{
  g_autofree char *url = g_strconcat (t->origin, path, NULL);

  return kh_test_http_request (t->control, method, url, json_body, body_out, NULL);
}

static JsonNode *
get_json (Torture    *t,
          const char *path)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  g_assert_cmpuint (control (t, "GET", path, NULL, &text), ==, 200);
  node = kh_json_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  return node;
}

static gint64
counter (JsonNode   *ledger,
         const char *path)
{
  JsonObject *counters = kh_json_get_object (kh_json_node_object (ledger), "counters");
  gint64 value = 0;

  if (counters != NULL)
    kh_json_get_int (counters, path, &value);
  return value;
}

/* ---- set-up ------------------------------------------------------------------------------ */

static void
start_sandbox (Torture *t)
{
  g_autofree char *speed = g_strdup_printf ("%d", CLOCK_SPEED);
  const char *args[] = { "--clock-speed", speed, NULL };
  g_autoptr(GError) error = NULL;

  t->sandbox = kh_test_sandbox_spawn (args, &t->port, &t->origin_map);
  t->origin = g_strdup_printf ("http://127.0.0.1:%u", t->port);
  g_assert_true (kh_origin_map_set (t->origin_map, &error));
  g_assert_no_error (error);
}

/* Reads the sandbox clock once; from then on it is computed, since it runs at a known speed. */
static void
sync_clock (Torture *t)
{
  g_autoptr(JsonNode) ledger = get_json (t, "/_sandbox/ledger");

  t->real0 = g_get_real_time () / G_USEC_PER_SEC;
  g_assert_true (kh_json_get_int (kh_json_node_object (ledger), "now", &t->sandbox_now0));
}

static gint64
clock_offset (Torture *t)
{
  gint64 real = g_get_real_time () / G_USEC_PER_SEC;

  return t->sandbox_now0 + (real - t->real0) * CLOCK_SPEED - real;
}

/* keyhold-cli with the sandbox's origin map and the current clock offset. The environment is
 * given to the launcher, never set in this process: setenv() races the worker threads. */
static GSubprocess *
spawn_cli (Torture          *t,
           GSubprocessFlags  flags,
           const char       *command,
           const char       *grant_id,
           const char       *min_valid)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autofree char *cli = build_path ("src/cli/keyhold-cli");
  g_autofree char *offset = g_strdup_printf ("%" G_GINT64_FORMAT, clock_offset (t));
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_setenv (launcher, "KEYHOLD_ORIGIN_MAP", t->origin_map, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_CLOCK_OFFSET", offset, TRUE);
  if (min_valid != NULL)
    process = g_subprocess_launcher_spawn (launcher, &error, cli, command, grant_id,
                                           "--min-valid", min_valid, NULL);
  else
    process = g_subprocess_launcher_spawn (launcher, &error, cli, command, grant_id, NULL);
  g_assert_no_error (error);

  return process;
}

static char *
approve (Torture *t,
         guint    app,
         guint    index)
{
  g_autofree char *url = NULL;
  g_autofree char *location = NULL;

  url = g_strdup_printf ("%s/_host/services.tiktokshop.com/open/authorize?service_id=%"
                         G_GINT64_FORMAT "&state=torture%u&auto=approve", t->origin,
                         SERVICE_BASE + app, index);
  kh_test_http_request (t->control, "GET", url, NULL, NULL, &location);
  g_assert_nonnull (location);
  return kh_test_query_value (location, "code");
}

/* Every grant is a real authorization: consent approved, code exchanged, tokens stored, as
 * `complete` does, minus the shop enrichment the torture does not need. */
static void
seed (Torture *t,
      guint    n_grants)
{
  g_autoptr(KhTokenClient) client = kh_token_client_new ();
  g_autoptr(GPtrArray) apps = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) secrets = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *redirect = "http://localhost:8765/callback";

  t->store = kh_store_new (NULL, NULL, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < N_APPS; i++)
    {
      g_autofree char *name = g_strdup_printf ("torture-%u", i);
      g_autofree char *key = g_strdup_printf ("torturekey%u", i);
      g_autofree char *service = g_strdup_printf ("%" G_GINT64_FORMAT, SERVICE_BASE + i);
      g_autofree char *secret = g_strdup_printf ("torture-secret-%u-%08x", i,
                                                 g_rand_int (t->rand));
      g_autofree char *body = NULL;
      KhAppProfile *app = kh_app_profile_new (name, KH_FAMILY_SHOP, key);

      kh_app_profile_set_service_id (app, service);
      kh_app_profile_set_redirect_uri (app, redirect);
      g_assert_true (kh_store_save_app (t->store, app, secret, TRUE, &error));
      g_assert_no_error (error);
      body = g_strdup_printf ("{\"family\":\"shop\",\"app_key\":\"%s\",\"app_secret\":\"%s\","
                              "\"service_id\":\"%s\",\"redirect_uri\":\"%s\"}", key, secret,
                              service, redirect);
      g_assert_cmpuint (control (t, "POST", "/_sandbox/apps", body, NULL), ==, 200);
      g_ptr_array_add (apps, app);
      g_ptr_array_add (secrets, g_steal_pointer (&secret));
    }

  for (guint i = 0; i < n_grants; i++)
    {
      KhAppProfile *app = g_ptr_array_index (apps, i % N_APPS);
      g_autofree char *code = approve (t, i % N_APPS, i);
      g_autoptr(KhGrant) grant = NULL;
      g_autofree char *name = g_strdup_printf ("Torture shop %03u", i);
      Grant *entry;

      entry = g_new0 (Grant, 1);
      grant = kh_test_seed_seller (t->store, client, app, g_ptr_array_index (secrets, i % N_APPS),
                                   code, name, "Torture", "GB", &entry->first_refresh);
      entry->id = g_strdup (kh_grant_get_id (grant));
      g_ptr_array_add (t->grants, entry);
    }
}

/* ---- faults -------------------------------------------------------------------------------- */

/* About one refresh call in ten meets a fault: after every 6 to 14 refresh calls one more is
 * queued, one at a time, so they spread over the whole run. */
static void
top_up_faults (Torture *t)
{
  g_autoptr(JsonNode) pending = get_json (t, "/_sandbox/faults");
  g_autoptr(JsonNode) ledger = NULL;
  JsonArray *queued = kh_json_get_array (kh_json_node_object (pending), "faults");
  gint64 calls;
  FaultKind kind;
  g_autofree char *body = NULL;

  if (queued != NULL && json_array_get_length (queued) > 0)
    return;
  ledger = get_json (t, "/_sandbox/ledger");
  calls = counter (ledger, REFRESH_PATH);
  if (calls < t->next_fault_at)
    return;

  /* Round robin, so that every kind is met in every run. */
  kind = (FaultKind) (t->injected_total % N_FAULT_KINDS);
  switch (kind)
    {
    case FAULT_HTTP_5XX:
      body = g_strdup_printf ("{\"path\":\"" REFRESH_PATH "\",\"http_status\":%d}",
                              g_rand_boolean (t->rand) ? 500 : 503);
      break;
    case FAULT_DELAY:
      body = g_strdup_printf ("{\"path\":\"" REFRESH_PATH "\",\"delay_ms\":%d}",
                              g_rand_int_range (t->rand, 500, 2500));
      break;
    case FAULT_DROP:
      body = g_strdup ("{\"path\":\"" REFRESH_PATH "\",\"drop\":true}");
      break;
    case FAULT_GARBAGE:
      body = g_strdup ("{\"path\":\"" REFRESH_PATH "\",\"garbage\":true}");
      break;
    case FAULT_RATE_LIMIT:
      body = g_strdup ("{\"path\":\"" REFRESH_PATH "\",\"error_code\":36009002}");
      break;
    case N_FAULT_KINDS:
    default:
      g_assert_not_reached ();
    }
  g_assert_cmpuint (control (t, "POST", "/_sandbox/faults", body, NULL), ==, 200);
  t->injected[kind]++;
  t->injected_total++;
  t->last_fault = kind;
  t->next_fault_at = calls + g_rand_int_range (t->rand, 6, 15);
}

static gboolean
fault_timer_cb (gpointer user_data)
{
  top_up_faults (user_data);
  return G_SOURCE_CONTINUE;
}

/* ---- the callers --------------------------------------------------------------------------- */

typedef struct {
  Torture *t;
  guint    grant;
} Call;

static void spawn_worker (Torture *t);

static void
worker_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Call *call = user_data;
  Torture *t = call->t;
  GSubprocess *process = G_SUBPROCESS (source);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  g_subprocess_communicate_utf8_finish (process, result, &out, &err, &error);
  g_assert_no_error (error);
  status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : 7;
  if (status < 0 || status > 7)
    status = 7;
  t->exit_counts[status]++;
  /* The sandbox's answer to a refresh token used after its rotation (outside the grace). */
  if (err != NULL && strstr (err, "36004005") != NULL)
    t->superseded_used++;

  if (status == 0)
    {
      /* Exactly one line: the token, and it must not leak to stderr. */
      if (out == NULL || *out == '\0' || strchr (out, '\n') != out + strlen (out) - 1)
        t->bad_output++;
      else
        {
          g_strchomp (out);
          if (strstr (err, out) != NULL)
            t->bad_output++;
          g_ptr_array_add (t->printed, g_strdup_printf ("%u %s", call->grant, out));
        }
    }
  else if (status == 3)
    {
      t->reauth++;
      g_free (t->last_reauth_error);
      t->last_reauth_error = g_strdup (err);
    }
  else if (status != 4)
    g_test_message ("token call: exit %d: %s", status, err);

  t->running--;
  if ((t->started - t->running) % 50 == 0)
    g_test_message ("%u token calls done", t->started - t->running);
  g_object_unref (process);
  g_free (call);
  spawn_worker (t);
}

static void
spawn_worker (Torture *t)
{
  static const gint64 min_valid[] = { 0, 60, 300, 540, 590 };
  g_autofree char *min = NULL;
  GSubprocess *process;
  Call *call;

  if (t->started >= t->rounds)
    return;

  call = g_new0 (Call, 1);
  call->t = t;
  call->grant = (guint) g_rand_int_range (t->rand, 0, (gint32) t->grants->len);
  min = g_strdup_printf ("%" G_GINT64_FORMAT,
                         min_valid[g_rand_int_range (t->rand, 0, G_N_ELEMENTS (min_valid))]);
  process = spawn_cli (t, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                       "token", ((Grant *) g_ptr_array_index (t->grants, call->grant))->id, min);
  t->started++;
  t->running++;
  g_subprocess_communicate_utf8_async (process, NULL, NULL, worker_done_cb, call);
}

static gboolean
workers_done (gpointer user_data)
{
  Torture *t = user_data;

  return t->started >= t->rounds && t->running == 0;
}

/* ---- the verdict --------------------------------------------------------------------------- */

static gboolean
authorization_issued (JsonObject *auth,
                      const char *token,
                      const char *kind)
{
  JsonObject *item = kh_test_ledger_find_token (auth, token);

  return item != NULL && g_strcmp0 (kh_json_get_string (item, "kind"), kind) == 0;
}

typedef struct {
  guint current;
  guint stale;
  guint lost;
  guint revoked;
} Verdict;

/* Compares every grant's keyring item with its authorization in the ledger. */
static void
compare (Torture *t,
         Verdict *verdict,
         GPtrArray *not_current)
{
  g_autoptr(JsonNode) ledger = get_json (t, "/_sandbox/ledger");
  g_autoptr(GError) error = NULL;

  memset (verdict, 0, sizeof *verdict);
  g_assert_true (kh_store_reload (t->store, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < t->grants->len; i++)
    {
      Grant *grant = g_ptr_array_index (t->grants, i);
      JsonObject *auth = kh_test_ledger_find_authorization (ledger, grant->first_refresh);
      g_autoptr(KhTokenSet) tokens = kh_store_load_tokens (t->store, grant->id, &error);
      gboolean revoked = FALSE;

      if (tokens == NULL || auth == NULL)
        {
          g_test_message ("grant %u: %s", i, tokens == NULL ? error->message : "no authorization");
          g_clear_error (&error);
          verdict->lost++;
          continue;
        }
      kh_json_get_bool (auth, "revoked", &revoked);
      if (revoked)
        verdict->revoked++;
      if (g_strcmp0 (tokens->refresh_token, kh_json_get_string (auth, "refresh_token")) == 0 &&
          g_strcmp0 (tokens->access_token, kh_json_get_string (auth, "access_token")) == 0)
        verdict->current++;
      else
        {
          g_test_message ("grant %u: the keyring holds %s, not the sandbox's current pair", i,
                          authorization_issued (auth, tokens->refresh_token, "refresh")
                          ? "an older refresh token" : "a refresh token the sandbox never issued");
          verdict->stale++;
          if (not_current != NULL)
            g_ptr_array_add (not_current, grant);
        }
    }
}

static guint
count_foreign_tokens (Torture *t)
{
  g_autoptr(JsonNode) ledger = get_json (t, "/_sandbox/ledger");
  guint foreign = 0;

  for (guint i = 0; i < t->printed->len; i++)
    {
      const char *line = g_ptr_array_index (t->printed, i);
      char *end = NULL;
      guint index = (guint) g_ascii_strtoull (line, &end, 10);
      Grant *grant = g_ptr_array_index (t->grants, index);
      JsonObject *auth = kh_test_ledger_find_authorization (ledger, grant->first_refresh);

      if (auth == NULL || !authorization_issued (auth, end + 1, "access"))
        foreign++;
    }
  return foreign;
}

static void
test_torture (void)
{
  Torture t = { 0 };
  g_autofree char *config = NULL;
  g_autoptr(JsonNode) start_ledger = NULL;
  g_autoptr(JsonNode) pending = NULL;
  g_autoptr(JsonNode) end_ledger = NULL;
  g_autoptr(GPtrArray) not_current = g_ptr_array_new ();
  g_autoptr(GString) figures = g_string_new (NULL);
  JsonArray *left;
  Verdict before;
  Verdict after;
  guint n_grants = kh_test_env_uint ("KEYHOLD_TORTURE_GRANTS", 200);
  guint foreign;
  guint healed_failures = 0;
  gint64 refresh_calls;
  gint64 rotations = 0;
  guint consumed = 0;
  guint source_id;
  gint64 t_start = g_get_monotonic_time ();

  t.rand = g_rand_new ();
  t.grants = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  t.printed = g_ptr_array_new_with_free_func (g_free);
  t.rounds = kh_test_env_uint ("KEYHOLD_TORTURE_ROUNDS", 400);
  t.control = soup_session_new ();

  start_sandbox (&t);
  /* Minutes-long access tokens on a clock 20 times too fast: every few seconds a grant needs a
   * refresh. Refresh tokens outlive the run; a retried refresh within the grace gets the
   * current pair. No natural rate limit: rate limits come as injected faults, counted. */
  config = g_strdup_printf ("{\"shop_access_ttl\":%d,\"shop_refresh_ttl\":31536000,"
                            "\"refresh_grace\":%d,\"rate_limit\":0}", ACCESS_TTL, REFRESH_GRACE);
  g_assert_cmpuint (control (&t, "POST", "/_sandbox/config", config, NULL), ==, 200);
  sync_clock (&t);
  seed (&t, n_grants);
  g_test_message ("seeded %u grants in %.1f s", t.grants->len,
                  (g_get_monotonic_time () - t_start) / 1e6);

  start_ledger = get_json (&t, "/_sandbox/ledger");
  t.next_fault_at = counter (start_ledger, REFRESH_PATH) + g_rand_int_range (t.rand, 1, 10);

  source_id = g_timeout_add (100, fault_timer_cb, &t);
  for (guint i = 0; i < N_WORKERS; i++)
    spawn_worker (&t);
  kh_test_wait_until (workers_done, &t, 280000);
  g_source_remove (source_id);

  /* Faults still queued never fired: they do not count. */
  pending = get_json (&t, "/_sandbox/faults");
  left = kh_json_get_array (kh_json_node_object (pending), "faults");
  if (left != NULL && json_array_get_length (left) > 0)
    {
      t.injected[t.last_fault]--;
      t.injected_total--;
    }
  g_assert_cmpuint (control (&t, "DELETE", "/_sandbox/faults", NULL, NULL), ==, 200);
  consumed = t.injected_total;

  end_ledger = get_json (&t, "/_sandbox/ledger");
  refresh_calls = counter (end_ledger, REFRESH_PATH) - counter (start_ledger, REFRESH_PATH);
  {
    JsonArray *list = kh_json_get_array (kh_json_node_object (end_ledger), "authorizations");

    for (guint i = 0; i < json_array_get_length (list); i++)
      {
        gint64 count = 0;

        kh_json_get_int (json_array_get_object_element (list, i), "refresh_count", &count);
        rotations += count;
      }
  }

  compare (&t, &before, not_current);
  foreign = count_foreign_tokens (&t);

  /* Every grant that is not on the current pair must still refresh, with no fault around. */
  for (guint i = 0; i < not_current->len; i++)
    {
      Grant *grant = g_ptr_array_index (not_current, i);
      g_autoptr(GSubprocess) process = NULL;
      g_autoptr(GError) error = NULL;

      process = spawn_cli (&t, G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                           G_SUBPROCESS_FLAGS_STDERR_SILENCE, "refresh", grant->id, NULL);
      g_subprocess_wait (process, NULL, &error);
      g_assert_no_error (error);
      if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
        healed_failures++;
    }
  compare (&t, &after, NULL);

  g_string_append_printf (figures,
                          "torture: %u grants, %u workers, %u token calls in %.1f s; exits: "
                          "0=%u 1=%u 3=%u 4=%u other=%u; %" G_GINT64_FORMAT " refresh calls, %"
                          G_GINT64_FORMAT " rotations; faults injected %u (",
                          t.grants->len, N_WORKERS, t.started,
                          (g_get_monotonic_time () - t_start) / 1e6, t.exit_counts[0],
                          t.exit_counts[1], t.exit_counts[3], t.exit_counts[4],
                          t.exit_counts[2] + t.exit_counts[5] + t.exit_counts[6] +
                          t.exit_counts[7], refresh_calls, rotations, consumed);
  for (guint k = 0; k < N_FAULT_KINDS; k++)
    g_string_append_printf (figures, "%s%s %u", k > 0 ? ", " : "", fault_names[k], t.injected[k]);
  g_string_append_printf (figures,
                          "); keyring vs ledger: %u current, %u behind (healed by one refresh: "
                          "%u failed), grants lost %u, stale %u, revoked %u; tokens printed "
                          "that the sandbox never issued: %u; refresh tokens used after "
                          "rotation: %u",
                          before.current, before.stale, healed_failures, after.lost, after.stale,
                          after.revoked, foreign, t.superseded_used);
  g_test_message ("%s", figures->str);
  g_printerr ("%s\n", figures->str);
  if (t.last_reauth_error != NULL)
    g_test_message ("a needs-reauth exit: %s", t.last_reauth_error);

  /* The verdict. */
  g_assert_cmpuint (t.started, ==, t.rounds);
  g_assert_cmpuint (t.exit_counts[0], >, 0);
  g_assert_cmpint (refresh_calls, >, 0);
  g_assert_cmpuint (consumed, >, 0);
  g_assert_cmpuint (t.bad_output, ==, 0);
  g_assert_cmpuint (foreign, ==, 0);
  /* No sandbox-side invalidation happened, so needs-reauth is always wrong here. */
  g_assert_cmpuint (t.reauth, ==, 0);
  g_assert_cmpuint (t.exit_counts[1] + t.exit_counts[2] + t.exit_counts[5] + t.exit_counts[6] +
                    t.exit_counts[7], ==, 0);
  g_assert_cmpuint (t.superseded_used, ==, 0);
  g_assert_cmpuint (before.stale, ==, 0);
  g_assert_cmpuint (after.revoked, ==, 0);
  g_assert_cmpuint (after.lost, ==, 0);
  g_assert_cmpuint (after.stale, ==, 0);
  g_assert_cmpuint (healed_failures, ==, 0);
  g_assert_cmpuint (after.current, ==, t.grants->len);

  g_subprocess_force_exit (t.sandbox);
  g_subprocess_wait (t.sandbox, NULL, NULL);
  g_clear_object (&t.sandbox);
  g_clear_object (&t.store);
  g_clear_object (&t.control);
  g_ptr_array_unref (t.grants);
  g_ptr_array_unref (t.printed);
  g_rand_free (t.rand);
  g_free (t.origin);
  g_free (t.origin_map);
  g_free (t.last_reauth_error);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/torture/token-callers-under-faults", test_torture);

  return g_test_run ();
}
