/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-concurrency.c: keyhold-cli token and refresh as many processes at once, against the real
 * keyhold-sandbox (rotating refresh tokens, a grace for a retried refresh) and a real
 * gnome-keyring: exactly one refresh for twenty callers, and no refresh token ever lost when a
 * process is killed in the middle of a refresh. The fixture is tests/kh-test-cli.c's. */

#include "config.h"

#include <signal.h>
#include <string.h>

#include "kh-json.h"
#include "kh-store.h"
#include "kh-test-cli.h"
#include "kh-test-util.h"

#define SHOP_KEY        "concurrencyshop"
#define SHOP_SECRET     "shop-secret-9a8b7c6d5e"
#define SHOP_SERVICE_ID "7100000000000000021"
#define N_CALLERS       20
#define DAY             (24 * 3600)
#define TIMEOUT_MS      60000

typedef struct
{
  KhTestCli    cli;
  char        *grant_id;
  gint64       offset;
} Fixture;

/* ---- the sandbox's ledger -------------------------------------------------------------------- */

/* The grant's authorization in the ledger (the fixture makes exactly one). */
static JsonObject *
ledger_authorization (JsonNode *node)
{
  JsonArray *list = kh_json_get_array (kh_json_node_object (node), "authorizations");

  g_assert_nonnull (list);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);

  return kh_json_node_object (json_array_get_element (list, 0));
}

/* ---- keyhold-cli ---------------------------------------------------------------------------- */

#define run_cli(fixture, stdin_text, out, err, ...) \
  kh_test_cli_run_args (&(fixture)->cli, (stdin_text), (out), (err), __VA_ARGS__)

/* Moves the sandbox clock; the CLI processes started afterwards get the same offset. */
static void
advance_clocks (Fixture *fixture,
                gint64   seconds)
{
  g_autofree char *body = g_strdup_printf ("{\"advance\":%" G_GINT64_FORMAT "}", seconds);
  g_autofree char *offset = NULL;

  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/clock", body,
                                                 NULL), ==, 200);
  fixture->offset += seconds;
  offset = g_strdup_printf ("%" G_GINT64_FORMAT, fixture->offset);
  kh_test_cli_setenv (&fixture->cli, "KEYHOLD_CLOCK_OFFSET", offset);
}

/* ---- the fixture ---------------------------------------------------------------------------- */

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  const char *latency_args[] = { "--latency", user_data != NULL ? user_data : "0", NULL };
  g_autofree char *out = NULL;
  g_autofree char *url = NULL;
  g_autofree char *location = NULL;

  kh_test_cli_set_up (&fixture->cli, "concurrency", latency_args);
  fixture->offset = 0;
  /* These tests check the one-line error contract on stderr; debug logging would add lines. */
  kh_test_cli_setenv (&fixture->cli, "G_MESSAGES_DEBUG", NULL);

  kh_test_cli_register_app (&fixture->cli, "shop", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID, NULL);
  /* A refresh retried with the previous refresh token within 10 minutes gets the current pair:
   * what saves a grant whose refresh answer was lost. */
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                                 "{\"refresh_grace\":600}", NULL), ==, 200);

  g_assert_cmpint (run_cli (fixture, SHOP_SECRET "\n", NULL, NULL,
                            "app", "add", "--family", "shop", "--name", "Shop App",
                            "--app-key", SHOP_KEY, "--service-id", SHOP_SERVICE_ID,
                            "--redirect-uri", fixture->cli.redirect_uri), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "link", "--type", "seller",
                            "--app", "Shop App", "--client", "Acme"), ==, 0);
  url = kh_test_line_value (out, "URL: ");
  g_assert_nonnull (url);

  /* The seller approves; the redirected URL comes back by chat. */
  location = kh_test_cli_approve (url);

  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "complete", location), ==, 0);
  fixture->grant_id = kh_test_line_value (out, "GRANT: ");
  g_assert_nonnull (fixture->grant_id);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  kh_test_cli_tear_down (&fixture->cli);
  g_free (fixture->grant_id);
}

/* What this test process reads from the keyring, as the CLI would. */
static KhTokenSet *
stored_tokens (Fixture *fixture)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  KhTokenSet *tokens;

  store = kh_store_new (fixture->cli.data_dir, fixture->cli.store, &error);
  g_assert_no_error (error);
  tokens = kh_store_load_tokens (store, fixture->grant_id, &error);
  g_assert_no_error (error);

  return tokens;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void
test_twenty_callers (Fixture       *fixture,
                     gconstpointer  user_data)
{
  GSubprocess *callers[N_CALLERS];
  g_autoptr(KhTokenSet) before = stored_tokens (fixture);
  g_autoptr(KhTokenSet) after = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *first = NULL;
  const char *args[] = { "token", fixture->grant_id, NULL };
  JsonObject *auth;
  JsonObject *counters;
  gint64 count = -1;
  gint64 calls = -1;

  /* Eight days on, the 7-day access token is dead: every caller needs a refresh. */
  advance_clocks (fixture, 8 * DAY);

  for (guint i = 0; i < N_CALLERS; i++)
    callers[i] = kh_test_cli_spawn (&fixture->cli, args);

  for (guint i = 0; i < N_CALLERS; i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      g_assert_cmpint (kh_test_cli_finish (&fixture->cli, callers[i], NULL, &out, &err), ==, 0);
      g_clear_object (&callers[i]);

      /* Only the token, on one line. */
      g_assert_true (strchr (out, '\n') == out + strlen (out) - 1);
      g_strchomp (out);
      g_assert_cmpstr (out, !=, before->access_token);
      if (first == NULL)
        first = g_strdup (out);
      g_assert_cmpstr (out, ==, first);
      /* Nothing on stderr but the test-endpoints warning. */
      g_assert_null (strstr (err, out));
    }

  /* Exactly one refresh reached TikTok. */
  node = kh_test_cli_ledger (&fixture->cli);
  auth = ledger_authorization (node);
  g_assert_true (kh_json_get_int (auth, "refresh_count", &count));
  g_assert_cmpint (count, ==, 1);
  counters = kh_json_get_object (kh_json_node_object (node), "counters");
  g_assert_true (kh_json_get_int (counters, "/api/v2/token/refresh", &calls));
  g_assert_cmpint (calls, ==, 1);

  /* What is stored is the sandbox's current pair. */
  after = stored_tokens (fixture);
  g_assert_cmpstr (after->access_token, ==, first);
  g_assert_cmpstr (after->refresh_token, ==, kh_json_get_string (auth, "refresh_token"));
  g_assert_cmpstr (kh_json_get_string (auth, "access_token"), ==, first);
}

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;

  return G_SOURCE_REMOVE;
}

static void
test_killed_mid_refresh (Fixture       *fixture,
                         gconstpointer  user_data)
{
  const char *args[] = { "refresh", fixture->grant_id, NULL };
  g_autoptr(GRand) rand = g_rand_new ();
  guint rounds = 12;
  guint killed = 0;

  /* Each round: a refresh killed at a random moment (the sandbox answers after 300 ms, so the
   * kill lands before the lock, during the call after TikTok rotated, or while storing), then
   * a refresh that must still work with whatever was left in the keyring. */
  for (guint round = 0; round < rounds; round++)
    {
      g_autoptr(GSubprocess) victim = kh_test_cli_spawn (&fixture->cli, args);
      g_autoptr(KhTokenSet) stored = NULL;
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      gboolean fired = FALSE;
      guint delay = (guint) g_rand_int_range (rand, 0, 450);
      JsonObject *auth;

      g_timeout_add (delay, flag_cb, &fired);
      kh_test_wait_flag (&fired, TIMEOUT_MS);
      g_subprocess_send_signal (victim, SIGKILL);
      kh_test_cli_finish (&fixture->cli, victim, NULL, NULL, NULL);
      if (g_subprocess_get_if_signaled (victim))
        killed++;
      g_test_message ("round %u: killed after %u ms (%s)", round, delay,
                      g_subprocess_get_if_signaled (victim) ? "mid-run" : "had finished");

      /* Never without a working refresh token. */
      g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "refresh", fixture->grant_id), ==, 0);
      g_assert_nonnull (strstr (out, "REFRESHED: "));

      stored = stored_tokens (fixture);
      node = kh_test_cli_ledger (&fixture->cli);
      auth = ledger_authorization (node);
      g_assert_cmpstr (stored->refresh_token, ==, kh_json_get_string (auth, "refresh_token"));
      g_assert_cmpstr (stored->access_token, ==, kh_json_get_string (auth, "access_token"));
    }

  /* The test means something only if most kills hit a running refresh. */
  g_assert_cmpuint (killed, >=, rounds / 2);
}

/* ---- the lifecycle commands, as scripts see them ------------------------------------------- */

static JsonNode *
cli_json (Fixture     *fixture,
          const char  *command)
{
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, command, "--json"), ==, 0);
  node = kh_json_parse (out, strlen (out), &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));

  return node;
}

static JsonObject *
first_object (JsonNode *node)
{
  JsonArray *array = json_node_get_array (node);

  g_assert_cmpuint (json_array_get_length (array), >=, 1);
  return kh_json_node_object (json_array_get_element (array, 0));
}

static void
test_cli_exit_codes (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *deauthorize = NULL;
  g_autofree char *fault = NULL;
  g_autoptr(JsonNode) list = NULL;
  g_autoptr(JsonNode) status = NULL;
  g_autoptr(KhTokenSet) before = stored_tokens (fixture);
  JsonObject *entry;

  /* Fresh: the token alone, exit 0, nothing sent. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "token", fixture->grant_id), ==, 0);
  g_assert_true (g_str_has_prefix (out, before->access_token));
  g_assert_cmpstr (out + strlen (before->access_token), ==, "\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* 503 on every refresh: the named refresh fails as transient (4), the old tokens stay, and
   * `token` still hands out the old, valid token. */
  fault = g_strdup ("{\"path\":\"/api/v2/token/refresh\",\"count\":50,\"http_status\":503}");
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/faults", fault,
                                                 NULL), ==, 200);
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "refresh", fixture->grant_id), ==, 4);
  g_assert_null (strchr (g_strchomp (err), '\n'));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "token", fixture->grant_id,
                            "--min-valid", "700000"), ==, 0);
  g_assert_cmpstr (g_strchomp (out), ==, before->access_token);
  g_clear_pointer (&out, g_free);
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "DELETE", "/_sandbox/faults", NULL,
                                                 NULL), ==, 200);

  /* The seller cancels in Seller Center: the next refresh gets 105001, exit 3 with TikTok's
   * code on one line, and the grant is marked. */
  list = cli_json (fixture, "list");
  entry = first_object (list);
  deauthorize = g_strdup_printf ("{\"open_id\":\"%s\"}", kh_json_get_string (entry, "open_id"));
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/deauthorize",
                                                 deauthorize, NULL), ==, 200);
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "refresh", fixture->grant_id), ==, 3);
  g_assert_true (g_str_has_prefix (err, "keyhold-cli: "));
  g_assert_nonnull (strstr (err, "105001"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* From now on: exit 3 without asking TikTok, even while the access token has days left by
   * the clock; status says why; --due leaves it to status. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "token", fixture->grant_id,
                            "--min-valid", "700000"), ==, 3);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "token", fixture->grant_id), ==, 3);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  status = cli_json (fixture, "status");
  entry = first_object (status);
  g_assert_cmpstr (kh_json_get_string (entry, "id"), ==, fixture->grant_id);
  g_assert_cmpstr (kh_json_get_string (entry, "status"), ==, "needs-reauth");
  g_assert_nonnull (kh_json_get_string (entry, "reason"));
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "status"), ==, 0);
  g_assert_true (g_str_has_prefix (out, "needs-reauth:\n"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "refresh", "--due", "--margin",
                            "700000"), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "refresh", "--all"), ==, 3);

  /* Usage errors are 2. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "token"), ==, 2);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", "--all", "--due"), ==, 2);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "token", fixture->grant_id,
                            "--min-valid", "-1"), ==, 2);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "token", "no-such-grant"), ==, 1);
}

static void
test_cli_due_and_status (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autofree char *out = NULL;
  g_autofree char *renewal = NULL;
  g_autoptr(JsonNode) status = NULL;
  g_autoptr(KhTokenSet) before = stored_tokens (fixture);
  g_autoptr(KhTokenSet) after = NULL;
  g_autofree char *line = g_strdup_printf ("REFRESHED: %s\n", fixture->grant_id);
  JsonObject *entry;

  /* Not due yet: nothing to do. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "refresh", "--due"), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);

  /* Six days and 23.9 hours on, the access token has less than the margin left. */
  advance_clocks (fixture, 7 * DAY - 300);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "refresh", "--due"), ==, 0);
  g_assert_cmpstr (out, ==, line);
  g_clear_pointer (&out, g_free);
  after = stored_tokens (fixture);
  g_assert_cmpstr (after->access_token, !=, before->access_token);

  /* 340 days on (the sandbox authorizes for 365), the authorization ends within 30 days. */
  advance_clocks (fixture, 340 * DAY);
  status = cli_json (fixture, "status");
  entry = first_object (status);
  g_assert_cmpstr (kh_json_get_string (entry, "status"), ==, "expiring");
  g_assert_true (g_str_has_suffix (kh_json_get_string (entry, "deadline"), "Z"));
  g_assert_nonnull (strstr (kh_json_get_string (entry, "reason"),
                            "Seller Center > App Store > My apps and incidents"));
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "status"), ==, 0);
  g_assert_true (g_str_has_prefix (out, "expiring:\n"));
  g_clear_pointer (&out, g_free);

  /* The renewal pack for the client: a fresh link, the Seller Center path, the deadline. */
  g_assert_cmpint (run_cli (fixture, NULL, &renewal, NULL, "renewal", fixture->grant_id), ==, 0);
  g_assert_nonnull (strstr (renewal, "/open/authorize?service_id=" SHOP_SERVICE_ID));
  g_assert_nonnull (strstr (renewal, "Seller Center > App Store > My apps and incidents"));
  g_assert_nonnull (strstr (renewal, kh_json_get_string (entry, "deadline")));
}

static void
test_cli_revoke_shop (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autofree char *out = NULL;
  g_autofree char *expected = g_strdup_printf ("MANUAL: Seller Center > App Store > My apps and "
                                               "incidents\nREMOVED: %s\n", fixture->grant_id);
  g_autoptr(JsonNode) list = NULL;

  /* No revoke API for Shop: the manual path, then removal; nothing asked. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "revoke", fixture->grant_id), ==, 0);
  g_assert_cmpstr (out, ==, expected);
  list = cli_json (fixture, "list");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (list)), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add ("/keyhold/concurrency/twenty-callers", Fixture, "0", fixture_set_up,
              test_twenty_callers, fixture_tear_down);
  g_test_add ("/keyhold/concurrency/twenty-callers-slow", Fixture, "200", fixture_set_up,
              test_twenty_callers, fixture_tear_down);
  g_test_add ("/keyhold/concurrency/killed-mid-refresh", Fixture, "300", fixture_set_up,
              test_killed_mid_refresh, fixture_tear_down);

  g_test_add ("/keyhold/concurrency/cli-exit-codes", Fixture, "0", fixture_set_up,
              test_cli_exit_codes, fixture_tear_down);
  g_test_add ("/keyhold/concurrency/cli-due-and-status", Fixture, "0", fixture_set_up,
              test_cli_due_and_status, fixture_tear_down);
  g_test_add ("/keyhold/concurrency/cli-revoke-shop", Fixture, "0", fixture_set_up,
              test_cli_revoke_shop, fixture_tear_down);

  return g_test_run ();
}
