/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-cli.c: keyhold-cli end to end, as scripts use it: the real keyhold-sandbox and keyhold-cli
 * binaries as separate processes, a real gnome-keyring, HTTP on loopback only. Each test gets its
 * own sandbox, data dir, keyring store name and redirect port. */

#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "kh-history.h"
#include "kh-json.h"
#include "kh-store.h"
#include "kh-test-cli.h"
#include "kh-test-util.h"

#define SHOP_KEY        "clitestshop"
#define SHOP_SECRET     "shop-secret-5f1c9e0a7b"
#define SHOP_SERVICE_ID "7100000000000000001"
#define BIZ_ID          "7100000000000000002"
#define BIZ_SECRET      "biz-secret-0c9d8e7f6a"

typedef struct
{
  KhTestCli    cli;
  GString     *all_output;     /* everything every CLI run printed, for the leak check */
} Fixture;

#define build_path kh_test_build_path

/* ---- the sandbox -------------------------------------------------------------------------- */

static void
register_sandbox_apps (Fixture *fixture)
{
  const char *scopes[] = { "seller.authorization.info", "creator.affiliate.info",
                           "partner.tap.info", NULL };

  kh_test_cli_register_app (&fixture->cli, "shop", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID, scopes);
  kh_test_cli_register_app (&fixture->cli, "business", BIZ_ID, BIZ_SECRET, NULL, NULL);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  kh_test_cli_set_up (&fixture->cli, "cli", NULL);
  fixture->all_output = g_string_new (NULL);

  register_sandbox_apps (fixture);
}

static gboolean
output_contains_secret (Fixture *fixture)
{
  g_autoptr(JsonNode) node = kh_test_cli_ledger (&fixture->cli);
  JsonArray *secrets;

  secrets = kh_json_get_array (kh_json_node_object (node), "secrets");
  g_assert_nonnull (secrets);

  for (guint i = 0; i < json_array_get_length (secrets); i++)
    {
      JsonNode *element = json_array_get_element (secrets, i);
      const char *secret;

      if (!JSON_NODE_HOLDS_VALUE (element) ||
          json_node_get_value_type (element) != G_TYPE_STRING)
        continue;
      secret = json_node_get_string (element);
      /* `token` prints tokens on purpose; this test never calls it. */
      if (strlen (secret) >= 8 && strstr (fixture->all_output->str, secret) != NULL)
        {
          g_test_message ("secret found in CLI output: %.4s...", secret);
          return TRUE;
        }
    }

  return FALSE;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  /* Whatever the test did, no CLI output may carry a token, code, state or app secret. */
  g_assert_false (output_contains_secret (fixture));
  g_assert_null (strstr (fixture->all_output->str, SHOP_SECRET));
  g_assert_null (strstr (fixture->all_output->str, BIZ_SECRET));

  kh_test_cli_tear_down (&fixture->cli);
  g_string_free (fixture->all_output, TRUE);
}

/* ---- running keyhold-cli -------------------------------------------------------------- */

/* Keeps what a CLI run printed for the leak audit. The "URL: " lines are the one place a state
 * is printed on purpose (the link the user opens or sends); everything else must be clean. */
static void
record_output (Fixture    *fixture,
               const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (!g_str_has_prefix (lines[i], "URL: "))
      g_string_append_printf (fixture->all_output, "%s\n", lines[i]);
}

/* Runs keyhold-cli ARGS with stdin_text on stdin; returns the exit status. */
static int
run_cli_argv (Fixture     *fixture,
              const char  *stdin_text,
              char       **stdout_out,
              char       **stderr_out,
              const char * const *args)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = kh_test_cli_run (&fixture->cli, stdin_text, &out, &err, args);

  record_output (fixture, out);
  record_output (fixture, err);

  if (stdout_out != NULL)
    *stdout_out = g_steal_pointer (&out);
  if (stderr_out != NULL)
    *stderr_out = g_steal_pointer (&err);

  return status;
}

#define run_cli(fixture, stdin_text, out, err, ...) \
  run_cli_argv ((fixture), (stdin_text), (out), (err), (const char * const []) { __VA_ARGS__, NULL })

static void
add_apps (Fixture *fixture)
{
  g_assert_cmpint (run_cli (fixture, SHOP_SECRET "\n", NULL, NULL,
                            "app", "add", "--family", "shop", "--name", "Shop App",
                            "--app-key", SHOP_KEY, "--service-id", SHOP_SERVICE_ID,
                            "--redirect-uri", fixture->cli.redirect_uri,
                            "--scopes", "creator.affiliate.info"), ==, 0);
  g_assert_cmpint (run_cli (fixture, BIZ_SECRET "\n", NULL, NULL,
                            "app", "add", "--family", "business", "--name", "Biz App",
                            "--app-key", BIZ_ID, "--redirect-uri", fixture->cli.redirect_uri),
                   ==, 0);
}

/* Starts `authorize --no-browser`, plays the browser (GET the URL with auto=approve|deny,
 * following the redirect to the CLI's listener), and returns the exit status. */
static int
authorize_with_browser (Fixture     *fixture,
                        const char  *decision,
                        char       **stdout_out,
                        char       **stderr_out,
                        const char * const *extra_args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *url = NULL;
  g_autofree char *approve_url = NULL;
  g_autofree char *page = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  char *line;

  g_ptr_array_add (argv, build_path ("src/cli/keyhold-cli"));
  g_ptr_array_add (argv, g_strdup ("authorize"));
  for (guint i = 0; extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra_args[i]));
  g_ptr_array_add (argv, g_strdup ("--no-browser"));
  g_ptr_array_add (argv, g_strdup ("--timeout"));
  g_ptr_array_add (argv, g_strdup ("60"));
  g_ptr_array_add (argv, NULL);

  launcher = kh_test_cli_launcher (&fixture->cli, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  while ((line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error)) != NULL)
    {
      g_string_append_printf (out, "%s\n", line);
      if (g_str_has_prefix (line, "URL: "))
        {
          url = g_strdup (line + strlen ("URL: "));
          g_free (line);
          break;
        }
      g_free (line);
    }
  g_assert_no_error (error);

  if (url != NULL)
    {
      g_assert_true (g_str_has_prefix (url, "http://127.0.0.1:"));
      approve_url = g_strdup_printf ("%s&auto=%s", url, decision);
      kh_test_http_get (approve_url, TRUE, &page, NULL);
      /* The listener's page tells the user to go back to Keyhold. */
      g_assert_nonnull (strstr (page, "Keyhold"));
    }

  while ((line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error)) != NULL)
    {
      g_string_append_printf (out, "%s\n", line);
      g_free (line);
    }
  g_assert_no_error (error);

  {
    g_autoptr(GDataInputStream) err_stream =
      g_data_input_stream_new (g_subprocess_get_stderr_pipe (process));
    gsize length;

    err = g_data_input_stream_read_upto (err_stream, "", 1, &length, NULL, &error);
    g_assert_no_error (error);
  }

  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);

  record_output (fixture, out->str);
  if (err != NULL)
    record_output (fixture, err);
  g_test_message ("authorize -> %d\nstdout: %s\nstderr: %s",
                  g_subprocess_get_exit_status (process), out->str, err);

  if (stdout_out != NULL)
    *stdout_out = g_strdup (out->str);
  if (stderr_out != NULL)
    *stderr_out = g_steal_pointer (&err);

  return g_subprocess_get_exit_status (process);
}

static JsonArray *
list_json (Fixture   *fixture,
           JsonNode **node_out)
{
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "list", "--json"), ==, 0);
  node = kh_json_parse (out, strlen (out), &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  *node_out = node;

  return json_node_get_array (node);
}

static JsonObject *
find_grant (JsonArray  *grants,
            const char *id)
{
  for (guint i = 0; i < json_array_get_length (grants); i++)
    {
      JsonObject *grant = kh_json_node_object (json_array_get_element (grants, i));

      if (g_strcmp0 (kh_json_get_string (grant, "id"), id) == 0)
        return grant;
    }

  return NULL;
}

/* ---- the six types through the browser and the loopback listener ------------------------ */

typedef struct
{
  const char *type;
  const char *app;
  const char *role;
} TypeCase;

static const TypeCase type_cases[] = {
  { "seller", "Shop App", NULL },
  { "creator", "Shop App", NULL },
  { "partner", "Shop App", NULL },
  { "advertiser", "Biz App", NULL },
  { "tiktok-account", "Biz App", NULL },
  { "creator-marketplace", "Biz App", "account" },
  { "creator-marketplace", "Biz App", "creator" },
};

static void
test_cli_authorize_type (Fixture       *fixture,
                         gconstpointer  user_data)
{
  const TypeCase *tc = user_data;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *grant_id = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonArray *grants;
  JsonObject *grant;
  const char *args_with_role[] = { "--type", tc->type, "--app", tc->app, "--client", "Acme",
                                   "--role", tc->role, NULL };
  const char *args[] = { "--type", tc->type, "--app", tc->app, "--client", "Acme", NULL };

  add_apps (fixture);
  g_assert_cmpint (authorize_with_browser (fixture, "approve", &out, &err,
                                           tc->role != NULL ? args_with_role : args), ==, 0);
  grant_id = kh_test_line_value (out, "GRANT: ");
  g_assert_nonnull (grant_id);

  grants = list_json (fixture, &node);
  g_assert_cmpuint (json_array_get_length (grants), ==, 1);
  grant = find_grant (grants, grant_id);
  g_assert_nonnull (grant);
  g_assert_cmpstr (kh_json_get_string (grant, "type"), ==, tc->type);
  g_assert_cmpstr (kh_json_get_string (grant, "client"), ==, "Acme");
  g_assert_cmpstr (kh_json_get_string (grant, "status"), ==, "active");
  g_assert_nonnull (kh_json_get_string (grant, "display_name"));

  if (g_str_equal (tc->type, "seller"))
    {
      JsonArray *shops = kh_json_get_array (grant, "shops");
      g_autofree char *shops_out = NULL;

      g_assert_nonnull (shops);
      g_assert_cmpuint (json_array_get_length (shops), >, 0);
      g_assert_nonnull (kh_json_get_string (kh_json_node_object (json_array_get_element (shops, 0)),
                                            "cipher"));
      g_assert_cmpint (run_cli (fixture, NULL, &shops_out, NULL, "shops", grant_id), ==, 0);
      g_assert_cmpstr (shops_out, !=, "");
    }
  else if (g_str_equal (tc->type, "advertiser"))
    {
      JsonArray *advertisers = kh_json_get_array (grant, "advertisers");

      g_assert_nonnull (advertisers);
      g_assert_cmpuint (json_array_get_length (advertisers), >, 0);
    }

  /* Times are ISO 8601 UTC, or null for "never". */
  if (g_str_equal (tc->type, "advertiser") ||
      (tc->role != NULL && g_str_equal (tc->role, "account")))
    g_assert_true (json_node_is_null (json_object_get_member (grant, "access_expires_at")));
  else
    g_assert_true (g_str_has_suffix (kh_json_get_string (grant, "access_expires_at"), "Z"));
}

static void
test_cli_deny (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) node = NULL;
  const char *args[] = { "--type", "seller", "--app", "Shop App", NULL };

  add_apps (fixture);
  g_assert_cmpint (authorize_with_browser (fixture, "deny", &out, &err, args), ==, 1);
  g_assert_null (kh_test_line_value (out, "GRANT: "));
  g_assert_nonnull (strstr (err, "declined"));
  g_assert_cmpuint (json_array_get_length (list_json (fixture, &node)), ==, 0);
}

/* ---- paste-back ----------------------------------------------------------------------------- */

/* Plays the client's browser for a link: approve on the consent page and return the URL the
 * browser would land on (the Location of the sandbox's redirect), without following it. */
static char *
client_approves (Fixture    *fixture,
                 const char *url)
{
  char *location = kh_test_cli_approve (url);

  g_assert_true (g_str_has_prefix (location, fixture->cli.redirect_uri));

  return location;
}

static char *
create_link (Fixture    *fixture,
             const char *type,
             const char *app)
{
  g_autofree char *out = NULL;
  char *url;

  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL,
                            "link", "--type", type, "--app", app, "--client", "Remote"), ==, 0);
  url = kh_test_line_value (out, "URL: ");
  g_assert_nonnull (url);

  return url;
}

static void
test_cli_link_complete (Fixture       *fixture,
                        gconstpointer  user_data)
{
  const TypeCase *tc = user_data;
  g_autofree char *url = NULL;
  g_autofree char *redirected = NULL;
  g_autofree char *out = NULL;
  g_autofree char *grant_id = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *grant;

  add_apps (fixture);
  url = create_link (fixture, tc->type, tc->app);
  redirected = client_approves (fixture, url);

  /* A new process completes it, as after a restart; the URL arrives by chat, with noise. */
  {
    g_autofree char *pasted = g_strdup_printf ("  <%s>.\n", redirected);

    g_assert_cmpint (run_cli (fixture, pasted, &out, NULL, "complete", "-"), ==, 0);
  }
  grant_id = kh_test_line_value (out, "GRANT: ");
  g_assert_nonnull (grant_id);

  grant = find_grant (list_json (fixture, &node), grant_id);
  g_assert_nonnull (grant);
  g_assert_cmpstr (kh_json_get_string (grant, "type"), ==, tc->type);
  g_assert_cmpstr (kh_json_get_string (grant, "client"), ==, "Remote");
}

static void
test_cli_state_replay (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autofree char *url = NULL;
  g_autofree char *redirected = NULL;
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) node = NULL;

  add_apps (fixture);
  url = create_link (fixture, "seller", "Shop App");
  redirected = client_approves (fixture, url);

  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "complete", redirected), ==, 0);
  /* The state is single-use: the same URL again matches no pending authorization. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "complete", redirected), ==, 1);
  g_assert_nonnull (strstr (err, "does not belong to any pending authorization"));
  g_assert_cmpuint (json_array_get_length (list_json (fixture, &node)), ==, 1);
}

static void
test_cli_expired_request (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autofree char *url = NULL;
  g_autofree char *redirected = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *cli = build_path ("src/cli/keyhold-cli");

  add_apps (fixture);
  url = create_link (fixture, "seller", "Shop App");
  redirected = client_approves (fixture, url);

  /* 31 minutes later by Keyhold's clock, the Shop request (and its code) is dead. */
  launcher = kh_test_cli_launcher (&fixture->cli, G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_CLOCK_OFFSET", "1860", TRUE);
  process = g_subprocess_launcher_spawn (launcher, &error, cli, "complete", redirected, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, NULL, &err, &error);
  g_assert_no_error (error);
  record_output (fixture, err);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 1);
  g_assert_nonnull (strstr (err, "expired"));
  g_assert_cmpuint (json_array_get_length (list_json (fixture, &node)), ==, 0);
}

static void
test_cli_two_apps_concurrent (Fixture       *fixture,
                              gconstpointer  user_data)
{
  g_autofree char *shop_url = NULL;
  g_autofree char *biz_url = NULL;
  g_autofree char *shop_redirect = NULL;
  g_autofree char *biz_redirect = NULL;
  g_autofree char *forged = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *grant_id = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *grant;
  char *state;

  add_apps (fixture);
  shop_url = create_link (fixture, "seller", "Shop App");
  biz_url = create_link (fixture, "advertiser", "Biz App");
  shop_redirect = client_approves (fixture, shop_url);
  biz_redirect = client_approves (fixture, biz_url);

  /* The advertiser's code with a state that belongs to nobody: refused, nothing stored. */
  forged = g_strdup (biz_redirect);
  state = strstr (forged, "state=");
  g_assert_nonnull (state);
  state[strlen ("state=")] = state[strlen ("state=")] == 'A' ? 'B' : 'A';
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "complete", forged), ==, 1);
  g_assert_nonnull (strstr (err, "does not belong"));

  /* Each state completes its own request, in any order. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "complete", biz_redirect), ==, 0);
  grant_id = kh_test_line_value (out, "GRANT: ");
  grant = find_grant (list_json (fixture, &node), grant_id);
  g_assert_cmpstr (kh_json_get_string (grant, "app"), ==, "Biz App");
  g_assert_cmpstr (kh_json_get_string (grant, "type"), ==, "advertiser");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "complete", shop_redirect), ==, 0);
}

static void
test_cli_no_state_needs_confirmation (Fixture       *fixture,
                                      gconstpointer  user_data)
{
  g_autofree char *consent = NULL;
  g_autofree char *redirected = NULL;
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *grant;

  add_apps (fixture);
  /* An App Store installation: the seller link without state. */
  consent = g_strdup_printf ("http://127.0.0.1:%u/_host/services.tiktokshop.com/open/authorize"
                             "?service_id=" SHOP_SERVICE_ID, fixture->cli.sandbox_port);
  redirected = client_approves (fixture, consent);
  g_assert_null (strstr (redirected, "state="));

  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "complete", redirected), ==, 1);
  g_assert_nonnull (strstr (err, "no state"));
  g_assert_cmpuint (json_array_get_length (list_json (fixture, &node)), ==, 0);
  g_clear_pointer (&node, json_node_unref);

  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "complete", "--no-state", redirected), ==, 0);
  grant = find_grant (list_json (fixture, &node), kh_test_line_value (out, "GRANT: "));
  g_assert_nonnull (grant);
  g_assert_true (json_object_get_boolean_member (grant, "without_state"));
}

/* ---- Quick Connect -------------------------------------------------------------------------- */

static void
test_cli_quick_connect (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autofree char *consent = NULL;
  g_autofree char *redirected = NULL;
  g_autofree char *input = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *apps = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *grant;

  /* No app profile at all: the secret and the redirected URL are everything. */
  consent = g_strdup_printf ("http://127.0.0.1:%u/_host/services.tiktokshop.com/open/authorize"
                             "?service_id=" SHOP_SERVICE_ID, fixture->cli.sandbox_port);
  redirected = client_approves (fixture, consent);
  g_assert_nonnull (strstr (redirected, "app_key=" SHOP_KEY));

  /* A wrong secret fails and stores nothing, not even the app profile. */
  input = g_strdup_printf ("not-the-secret\n%s\n", redirected);
  g_assert_cmpint (run_cli (fixture, input, NULL, &err, "quick-connect", "-"), !=, 0);
  g_assert_cmpint (run_cli (fixture, NULL, &apps, NULL, "app", "list"), ==, 0);
  g_assert_cmpstr (apps, ==, "");
  g_clear_pointer (&input, g_free);
  g_clear_pointer (&err, g_free);

  /* Take a fresh code, as a user would after a failure. */
  g_clear_pointer (&redirected, g_free);
  redirected = client_approves (fixture, consent);
  input = g_strdup_printf (SHOP_SECRET "\n%s\n", redirected);
  g_assert_cmpint (run_cli (fixture, input, &out, NULL, "quick-connect", "-"), ==, 0);
  g_assert_nonnull (kh_test_line_value (out, "SHOP: "));
  grant = find_grant (list_json (fixture, &node), kh_test_line_value (out, "GRANT: "));
  g_assert_nonnull (grant);
  g_assert_cmpstr (kh_json_get_string (grant, "type"), ==, "seller");
  g_assert_true (json_object_get_boolean_member (grant, "without_state"));

  /* The app profile now exists... */
  g_clear_pointer (&apps, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &apps, NULL, "app", "list"), ==, 0);
  g_assert_nonnull (strstr (apps, SHOP_KEY));

  /* ...and the code was single-use: the same URL again is refused by TikTok. */
  g_assert_cmpint (run_cli (fixture, input, NULL, &err, "quick-connect", "-"), ==, 1);
  g_assert_nonnull (strstr (err, "\nkeyhold-cli: 36004004: "));
}

/* ---- errors and usage ------------------------------------------------------------------------ */

static void
test_cli_usage (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *err = NULL;

  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "frobnicate"), ==, 2);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "authorize", "--type", "nope",
                            "--app", "x"), ==, 2);
  g_assert_nonnull (strstr (err, "nope"));
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "authorize", "--bogus"), ==, 2);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "app"), ==, 2);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "--help"), ==, 0);
  g_clear_pointer (&err, g_free);

  /* A bad app profile is refused before the secret is read, and nothing is stored. */
  g_assert_cmpint (run_cli (fixture, "secret\n", NULL, &err, "app", "add", "--family", "shop",
                            "--name", "Bad", "--app-key", "has space"), ==, 1);
  g_clear_pointer (&err, g_free);
  /* The same when a script pipes in more than a pipe holds: the refusal and its message still
   * arrive, though the secret is never read. */
  {
    g_autofree char *flood = g_strnfill (256 * 1024, 'x');

    g_assert_cmpint (run_cli (fixture, flood, NULL, &err, "app", "add", "--family", "shop",
                              "--name", "Bad", "--app-key", "has space"), ==, 1);
    g_assert_cmpstr (err, !=, "");
    g_clear_pointer (&err, g_free);
  }
  g_assert_cmpint (run_cli (fixture, "", NULL, &err, "app", "add", "--family", "shop",
                            "--name", "NoSecret", "--app-key", "abc"), ==, 1);
  g_assert_nonnull (strstr (err, "secret"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "authorize", "--type", "seller",
                            "--app", "Missing", "--no-browser"), ==, 1);
  g_assert_nonnull (strstr (err, "Missing"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, "not a url\n", NULL, &err, "complete", "-"), ==, 1);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "remove", "nonexistent"), ==, 1);
}

/* refresh --all keeps to --per-app refreshes at once for one app (TikTok limits calls per app),
 * whatever --jobs allows; the sandbox, answering slowly, counts how many it held at once. */
static gint64
refresh_peak (Fixture *fixture)
{
  g_autoptr(JsonNode) ledger = kh_test_cli_ledger (&fixture->cli);
  JsonObject *peaks = kh_json_get_object (kh_json_node_object (ledger), "in_flight_peak");
  gint64 peak = 0;

  g_assert_nonnull (peaks);
  kh_json_get_int (peaks, "/api/v2/token/refresh", &peak);
  return peak;
}

static void
test_cli_refresh_per_app (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autofree char *err = NULL;
  g_autoptr(JsonNode) ledger = NULL;
  gint64 calls = 0;

  add_apps (fixture);
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *url = create_link (fixture, "seller", "Shop App");
      g_autofree char *redirected = client_approves (fixture, url);

      g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "complete", redirected), ==, 0);
    }
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                                 "{\"latency_ms\":500}", NULL), ==, 200);

  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", "--all", "--jobs", "8",
                            "--per-app", "1"), ==, 0);
  g_assert_cmpint (refresh_peak (fixture), ==, 1);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", "--all", "--jobs", "8",
                            "--per-app", "2"), ==, 0);
  g_assert_cmpint (refresh_peak (fixture), ==, 2);

  ledger = kh_test_cli_ledger (&fixture->cli);
  g_assert_true (kh_json_get_int (kh_json_get_object (kh_json_node_object (ledger), "counters"),
                                  "/api/v2/token/refresh", &calls));
  g_assert_cmpint (calls, ==, 8);

  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "refresh", "--all", "--per-app", "0"),
                   ==, 2);
  g_assert_nonnull (strstr (err, "--per-app"));
}

/* `refresh` killed while TikTok's answer is on its way (the sandbox rotated, then holds the
 * answer back): `recover` completes it inside the grace; without a grace it marks the grant
 * needs-reauth, and list --json and status --json say why. */
static gint64
refresh_calls (Fixture *fixture)
{
  g_autoptr(JsonNode) ledger = kh_test_cli_ledger (&fixture->cli);
  gint64 calls = 0;

  kh_json_get_int (kh_json_get_object (kh_json_node_object (ledger), "counters"),
                   "/api/v2/token/refresh", &calls);
  return calls;
}

static void
kill_refresh_in_flight (Fixture    *fixture,
                        const char *grant_id)
{
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  gint64 calls = refresh_calls (fixture);
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                                 "{\"latency_ms\":5000}", NULL), ==, 200);
  process = kh_test_cli_spawn (&fixture->cli,
                               (const char * const []) { "refresh", grant_id, NULL });
  /* The sandbox counts (and rotates) as the call arrives, then holds the answer 5 s. */
  while (refresh_calls (fixture) == calls)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
  g_subprocess_send_signal (process, SIGKILL);
  g_subprocess_wait (process, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_signaled (process));
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                                 "{\"latency_ms\":0}", NULL), ==, 200);
}

static void
test_cli_recover (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(JsonNode) before = NULL;
  g_autoptr(JsonNode) after = NULL;
  g_autoptr(JsonNode) status_node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *status_out = NULL;
  JsonArray *grants;
  JsonObject *grant;
  JsonArray *status;
  const char *reason;

  add_apps (fixture);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *url = create_link (fixture, "seller", "Shop App");
      g_autofree char *redirected = client_approves (fixture, url);

      g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "complete", redirected), ==, 0);
    }
  grants = list_json (fixture, &before);
  g_assert_cmpuint (json_array_get_length (grants), ==, 2);
  first = g_strdup (kh_json_get_string (json_array_get_object_element (grants, 0), "id"));
  second = g_strdup (kh_json_get_string (json_array_get_object_element (grants, 1), "id"));
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                                 "{\"refresh_grace\":600}", NULL), ==, 200);

  /* Nothing interrupted: nothing to do. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "recover"), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);

  /* Inside the grace, and after a reboot: the runtime dir (the locks) is new and empty, the
   * intent is in the data dir. */
  kill_refresh_in_flight (fixture, first);
  {
    g_autofree char *rebooted = g_build_filename (fixture->cli.data_dir, "rebooted-runtime",
                                                  NULL);

    kh_test_cli_setenv (&fixture->cli, "KEYHOLD_RUNTIME_DIR", rebooted);
  }
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "recover"), ==, 0);
  {
    g_autofree char *line = g_strdup_printf ("RECOVERED: %s\n", first);

    g_assert_cmpstr (out, ==, line);
  }
  g_clear_pointer (&out, g_free);
  /* Its tokens are current: a refresh with them works. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", first), ==, 0);

  /* No grace: TikTok refuses the old token; `refresh` recovers first by itself. */
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                                 "{\"refresh_grace\":0}", NULL), ==, 200);
  kill_refresh_in_flight (fixture, second);
  g_assert_cmpint (run_cli (fixture, NULL, &out, &err, "refresh", "--due"), ==, 3);
  g_assert_nonnull (strstr (err, second));
  g_assert_nonnull (strstr (err, "36004005"));

  grants = list_json (fixture, &after);
  grant = find_grant (grants, second);
  g_assert_cmpstr (kh_json_get_string (grant, "status"), ==, "needs-reauth");
  reason = kh_json_get_string (grant, "status_reason");
  g_assert_nonnull (reason);
  g_assert_nonnull (strstr (reason, "interrupted after TikTok had rotated the refresh token"));
  g_assert_cmpstr (kh_json_get_string (find_grant (grants, first), "status"), ==, "active");
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (find_grant (grants, first),
                                                               "status_reason")));

  g_assert_cmpint (run_cli (fixture, NULL, &status_out, NULL, "status", "--json"), ==, 0);
  status_node = kh_json_parse (status_out, strlen (status_out), &error);
  g_assert_no_error (error);
  status = json_node_get_array (status_node);
  g_assert_cmpstr (kh_json_get_string (json_array_get_object_element (status, 0), "id"), ==,
                   second);
  g_assert_cmpstr (kh_json_get_string (json_array_get_object_element (status, 0), "reason"), ==,
                   reason);

  /* Settled: nothing left for the next start. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "recover"), ==, 0);
  g_assert_cmpstr (out, ==, "");
}

/* A user debugging with G_MESSAGES_DEBUG=all must not break scripts that parse stdout. */
static void
test_cli_debug_keeps_stdout_clean (Fixture       *fixture,
                                   gconstpointer  user_data)
{
  g_autofree char *cli = build_path ("src/cli/keyhold-cli");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  add_apps (fixture);
  launcher = kh_test_cli_launcher (&fixture->cli, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "all", TRUE);
  process = g_subprocess_launcher_spawn (launcher, &error, cli, "app", "list", "--json", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  record_output (fixture, out);
  record_output (fixture, err);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);

  node = kh_json_parse (out, strlen (out), &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  g_assert_cmpuint (json_array_get_length (json_node_get_array (node)), ==, 2);
}

static void
test_cli_port_in_use (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GSocketListener) squatter = g_socket_listener_new ();
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expected = NULL;

  add_apps (fixture);
  address = g_inet_socket_address_new (loopback, fixture->cli.redirect_port);
  g_socket_listener_add_address (squatter, address, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "authorize", "--type", "seller",
                            "--app", "Shop App", "--no-browser"), ==, 1);
  expected = g_strdup_printf ("port %u is in use by another program", fixture->cli.redirect_port);
  g_assert_nonnull (strstr (err, expected));
}

/* ---- a real browser ------------------------------------------------------------------------- */

/* The part of the CLI's environment every browser test shares: a private XDG config dir (so
 * the CLI sees no real browser settings or profiles), no $BROWSER, and the sandbox's consent
 * pages approving by themselves, since a headless browser cannot click. */
static GSubprocessLauncher *
browser_test_launcher (Fixture    *fixture,
                       const char *config)
{
  GSubprocessLauncher *launcher;

  g_assert_cmpint (g_mkdir_with_parents (config, 0700), ==, 0);
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/config",
                                     "{\"auto_consent\":\"approve\"}", NULL), ==, 200);

  launcher = kh_test_cli_launcher (&fixture->cli, G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config, TRUE);
  g_subprocess_launcher_unsetenv (launcher, "BROWSER");

  return launcher;
}

static char *
browser_test_root (Fixture *fixture)
{
  return g_strdup_printf ("%s/browser-%u", kh_test_get_tmpdir (), fixture->cli.redirect_port);
}

/* Makes headless Chromium the default URL handler for the CLI, through a test mimeapps.list.
 * The CLI then opens the browser like on any desktop. */
static GSubprocessLauncher *
browser_launcher (Fixture    *fixture,
                  const char *chromium)
{
  g_autofree char *root = browser_test_root (fixture);
  g_autofree char *config = g_build_filename (root, "config", NULL);
  g_autofree char *apps = g_build_filename (root, "data", "applications", NULL);
  g_autofree char *data = g_build_filename (root, "data", NULL);
  g_autofree char *profile = g_build_filename (root, "profile", NULL);
  g_autofree char *mimeapps = g_build_filename (config, "mimeapps.list", NULL);
  g_autofree char *desktop = g_build_filename (apps, "kh-test-browser.desktop", NULL);
  g_autofree char *desktop_text = NULL;
  g_autofree char *data_dirs = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocessLauncher *launcher;

  launcher = browser_test_launcher (fixture, config);
  g_assert_cmpint (g_mkdir_with_parents (apps, 0700), ==, 0);
  g_file_set_contents (mimeapps,
                       "[Default Applications]\n"
                       "x-scheme-handler/http=kh-test-browser.desktop\n"
                       "x-scheme-handler/https=kh-test-browser.desktop\n", -1, &error);
  g_assert_no_error (error);
  desktop_text = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Test Browser\n"
                                  "NoDisplay=true\n"
                                  "MimeType=x-scheme-handler/http;x-scheme-handler/https;\n"
                                  "Exec=%s " KH_TEST_CHROMIUM_FLAGS " "
                                  "--user-data-dir=%s --dump-dom %%u\n",
                                  chromium, profile);
  g_file_set_contents (desktop, desktop_text, -1, &error);
  g_assert_no_error (error);

  data_dirs = g_strdup_printf ("%s:/usr/local/share:/usr/share", data);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_DIRS", data_dirs, TRUE);

  return launcher;
}

static void
test_cli_browser (Fixture       *fixture,
                  gconstpointer  user_data)
{
  const TypeCase *tc = user_data;
  g_autofree char *chromium = g_find_program_in_path ("chromium");
  g_autofree char *cli = build_path ("src/cli/keyhold-cli");
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *grant_id = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *grant;

  if (chromium == NULL)
    {
      g_test_skip ("chromium is not installed");
      return;
    }

  add_apps (fixture);
  launcher = browser_launcher (fixture, chromium);
  process = g_subprocess_launcher_spawn (launcher, &error, cli, "authorize", "--type", tc->type,
                                         "--app", tc->app, "--timeout", "120", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  record_output (fixture, out);
  record_output (fixture, err);
  g_test_message ("authorize (browser) -> %d\nstdout: %s\nstderr: %s",
                  g_subprocess_get_exit_status (process), out, err);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);

  grant_id = kh_test_line_value (out, "GRANT: ");
  g_assert_nonnull (grant_id);
  grant = find_grant (list_json (fixture, &node), grant_id);
  g_assert_nonnull (grant);
  g_assert_cmpstr (kh_json_get_string (grant, "type"), ==, tc->type);
}

/* A launcher for the browser profile cases: Chromium's Local State (local_state, JSON) in the
 * CLI's own config dir, and a "chromium" earlier on the CLI's PATH: the program at wrapper_of
 * (written by the caller into *wrapper_out). Nothing else opens a browser: no default browser is
 * set up, so only the chosen profile can catch the redirect. */
static GSubprocessLauncher *
profile_launcher (Fixture     *fixture,
                  const char  *local_state,
                  char       **user_data_dir_out,
                  char       **wrapper_out)
{
  g_autofree char *root = browser_test_root (fixture);
  g_autofree char *config = g_build_filename (root, "config", NULL);
  g_autofree char *user_data_dir = g_build_filename (config, "chromium", NULL);
  g_autofree char *state_file = g_build_filename (user_data_dir, "Local State", NULL);
  g_autofree char *bin = g_build_filename (root, "bin", NULL);
  g_autofree char *search_path = g_strdup_printf ("%s:%s", bin, g_getenv ("PATH"));
  g_autoptr(GError) error = NULL;
  GSubprocessLauncher *launcher;

  add_apps (fixture);
  launcher = browser_test_launcher (fixture, config);
  g_assert_cmpint (g_mkdir_with_parents (user_data_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (bin, 0700), ==, 0);
  g_file_set_contents (state_file, local_state, -1, &error);
  g_assert_no_error (error);
  g_subprocess_launcher_setenv (launcher, "PATH", search_path, TRUE);

  *user_data_dir_out = g_steal_pointer (&user_data_dir);
  *wrapper_out = g_build_filename (bin, "chromium", NULL);

  return launcher;
}

/* Runs keyhold-cli through launcher; returns its exit status and its output. */
static int
run_launched (Fixture             *fixture,
              GSubprocessLauncher *launcher,
              char               **out,
              char               **err,
              const char * const  *args)
{
  g_autofree char *cli = build_path ("src/cli/keyhold-cli");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, cli);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, out, err, &error);
  g_assert_no_error (error);
  record_output (fixture, *out);
  record_output (fixture, *err);
  g_test_message ("%s -> %d\nstdout: %s\nstderr: %s", args[0],
                  g_subprocess_get_exit_status (process), *out, *err);

  return g_subprocess_get_exit_status (process);
}

#define run_launched_args(fixture, launcher, out, err, ...) \
  run_launched ((fixture), (launcher), (out), (err), (const char * const []) { __VA_ARGS__, NULL })

/* authorize --browser-profile: Keyhold reads the profiles from Chromium's own Local State and
 * starts "chromium" (a wrapper that adds the headless flags) with that profile's
 * --user-data-dir and --profile-directory; Chromium catches the redirect in that profile. */
static void
test_cli_browser_profile (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autofree char *chromium = g_find_program_in_path ("chromium");
  g_autofree char *root = browser_test_root (fixture);
  g_autofree char *args_file = g_build_filename (root, "chromium.args", NULL);
  g_autofree char *user_data_dir = NULL;
  g_autofree char *wrapper = NULL;
  g_autofree char *default_dir = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *grant_id = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) browsers = NULL;
  JsonObject *work;

  if (chromium == NULL)
    {
      g_test_skip ("chromium is not installed");
      return;
    }

  launcher = profile_launcher (fixture, "{\"profile\":{\"info_cache\":{"
                                        "\"Default\":{\"name\":\"Person 1\"},"
                                        "\"Profile 3\":{\"name\":\"Work\"}}}}",
                               &user_data_dir, &wrapper);
  kh_test_write_chromium_wrapper (wrapper, chromium, args_file);
  default_dir = g_build_filename (user_data_dir, "Default", NULL);

  /* browsers lists what authorize can open. */
  g_assert_cmpint (run_launched_args (fixture, launcher, &out, &err, "browsers", "--json"), ==, 0);
  browsers = kh_json_parse (out, strlen (out), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (json_array_get_length (json_node_get_array (browsers)), ==, 2);
  work = json_array_get_object_element (json_node_get_array (browsers), 1);
  g_assert_cmpstr (kh_json_get_string (work, "id"), ==, "chromium:Profile 3");
  g_assert_cmpstr (kh_json_get_string (work, "title"), ==, "Chromium — Work");
  g_assert_cmpstr (kh_json_get_string (work, "executable"), ==, wrapper);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_launched_args (fixture, launcher, &out, &err, "authorize", "--type",
                                      "seller", "--app", "Shop App", "--client", "Shop A",
                                      "--browser-profile", "chromium:Profile 3",
                                      "--timeout", "120"), ==, 0);
  grant_id = kh_test_line_value (out, "GRANT: ");
  g_assert_nonnull (grant_id);
  g_assert_nonnull (find_grant (list_json (fixture, &node), grant_id));

  /* The browser got the profile as arguments, and Chromium opened that profile. */
  kh_test_assert_chromium_profile (args_file, user_data_dir, "Profile 3");
  g_assert_false (g_file_test (default_dir, G_FILE_TEST_EXISTS));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A profile that is not there, and a profile with --no-browser, are refused up front. */
  g_assert_cmpint (run_launched_args (fixture, launcher, &out, &err, "authorize", "--type",
                                      "seller", "--app", "Shop App", "--browser-profile",
                                      "chromium:Profile 9"), ==, 1);
  g_assert_nonnull (strstr (err, "No browser profile “chromium:Profile 9”"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_launched_args (fixture, launcher, &out, &err, "authorize", "--type",
                                      "seller", "--app", "Shop App", "--browser-profile",
                                      "chromium:Profile 3", "--no-browser"), ==, 2);
}

/* A chosen browser that exits with an error ends the run at once, with that error. */
static void
test_cli_browser_profile_fails (Fixture       *fixture,
                                gconstpointer  user_data)
{
  g_autofree char *user_data_dir = NULL;
  g_autofree char *wrapper = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;

  launcher = profile_launcher (fixture,
                               "{\"profile\":{\"info_cache\":{\"Default\":{\"name\":\"Me\"}}}}",
                               &user_data_dir, &wrapper);
  g_file_set_contents (wrapper, "#!/bin/sh\nexit 21\n", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (wrapper, 0700), ==, 0);

  g_assert_cmpint (run_launched_args (fixture, launcher, &out, &err, "authorize", "--type",
                                      "seller", "--app", "Shop App", "--browser-profile",
                                      "chromium:Default", "--timeout", "120"), ==, 1);
  g_assert_nonnull (strstr (err, "The browser could not be opened"));
  g_assert_nonnull (strstr (err, "21"));
}

/* ---- history and export ------------------------------------------------------------------ */

static char *
authorize_seller (Fixture *fixture)
{
  const char *args[] = { "--type", "seller", "--app", "Shop App", "--client", "Acme", NULL };
  g_autofree char *out = NULL;

  add_apps (fixture);
  g_assert_cmpint (authorize_with_browser (fixture, "approve", &out, NULL, args), ==, 0);
  return kh_test_line_value (out, "GRANT: ");
}

/* `token` prints a token on purpose: run it without adding its output to the leak check. */
static char *
token_of (Fixture    *fixture,
          const char *grant_id)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, &out, NULL, "token", grant_id),
                   ==, 0);
  return g_strdup (g_strchomp (out));
}

static void
add_fault (Fixture    *fixture,
           const char *json)
{
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "POST", "/_sandbox/faults", json,
                                                 NULL), ==, 200);
}

/* `history --json` as records, each checked field by field as the file's reader does. */
static GPtrArray *
history_json (Fixture    *fixture,
              const char *grant)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  JsonArray *array;

  if (grant != NULL)
    g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "history", grant, "--json"), ==, 0);
  else
    g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "history", "--json"), ==, 0);
  node = kh_json_parse (out, strlen (out), &error);
  g_assert_no_error (error);
  array = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      KhHistoryEntry *entry = kh_history_entry_from_json_node (json_array_get_element (array, i),
                                                               &error);

      g_assert_no_error (error);
      g_ptr_array_add (entries, entry);
    }
  return g_steal_pointer (&entries);
}

static char *
history_actions (GPtrArray *entries)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 0; i < entries->len; i++)
    g_string_append_printf (text, "%s%s", i > 0 ? " " : "",
                            kh_history_entry_get_action (g_ptr_array_index (entries, i)));
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static char *
history_file_path (Fixture *fixture)
{
  g_autofree char *dir = kh_store_dup_dir (fixture->cli.data_dir, fixture->cli.store, NULL);

  return g_build_filename (dir, "history.jsonl", NULL);
}

/* Every secret the sandbox handed out stays out of text. */
static void
assert_no_sandbox_secret (Fixture    *fixture,
                          const char *text,
                          const char *allowed)
{
  g_autoptr(JsonNode) node = kh_test_cli_ledger (&fixture->cli);
  JsonArray *secrets = kh_json_get_array (kh_json_node_object (node), "secrets");

  for (guint i = 0; i < json_array_get_length (secrets); i++)
    {
      const char *secret = json_array_get_string_element (secrets, i);

      if (secret == NULL || strlen (secret) < 8 || g_strcmp0 (secret, allowed) == 0)
        continue;
      if (strstr (text, secret) != NULL)
        g_error ("a sandbox secret (%.4s...) is in the text", secret);
    }
  g_assert_null (strstr (text, SHOP_SECRET));
}

static void
test_cli_history (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autofree char *grant_id = authorize_seller (fixture);
  g_autofree char *token = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *actions = NULL;
  g_autofree char *path = history_file_path (fixture);
  g_autofree char *file = NULL;
  g_autofree char *prefix = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_auto(GStrv) lines = NULL;
  KhHistoryEntry *entry;
  gint64 code = -1;
  struct stat st;

  g_assert_nonnull (grant_id);
  token = token_of (fixture, grant_id);
  g_free (token_of (fixture, grant_id));
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", grant_id), ==, 0);
  /* A transient failure (no TikTok code), then a terminal one that ends the grant. */
  add_fault (fixture, "{\"path\":\"/api/v2/token/refresh\",\"count\":20,\"http_status\":503}");
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", grant_id), ==, 4);
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->cli, "DELETE", "/_sandbox/faults", NULL,
                                                 NULL), ==, 200);
  add_fault (fixture, "{\"path\":\"/api/v2/token/refresh\",\"count\":1,\"error_code\":36004001}");
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "refresh", grant_id), ==, 3);

  entries = history_json (fixture, grant_id);
  actions = history_actions (entries);
  g_assert_cmpstr (actions, ==, "authorized token-read token-read refreshed refresh-failed "
                                "refresh-failed needs-reauth");
  entry = g_ptr_array_index (entries, 0);
  g_assert_cmpstr (kh_json_get_string (kh_history_entry_get_detail (entry), "flow"), ==, "browser");
  g_assert_cmpstr (kh_history_entry_get_type_id (entry), ==, "seller");
  g_assert_cmpstr (kh_history_entry_get_client (entry), ==, "Acme");
  g_assert_nonnull (kh_json_get_strv (kh_history_entry_get_detail (entry), "scopes"));
  entry = g_ptr_array_index (entries, 1);
  g_assert_cmpstr (kh_json_get_string (kh_history_entry_get_detail (entry), "command"), ==, "token");
  entry = g_ptr_array_index (entries, 4);
  g_assert_true (kh_json_get_int (kh_history_entry_get_detail (entry), "code", &code));
  g_assert_cmpint (code, ==, 0);
  entry = g_ptr_array_index (entries, 5);
  g_assert_true (kh_json_get_int (kh_history_entry_get_detail (entry), "code", &code));
  g_assert_cmpint (code, ==, 36004001);
  g_clear_pointer (&entries, g_ptr_array_unref);

  /* The plain form: one line per record, "AT GRANT ACTION SENTENCE", oldest first. */
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "history", grant_id), ==, 0);
  lines = g_strsplit (g_strchomp (out), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 7);
  g_assert_true (g_str_has_suffix (lines[0], "\tauthorized\tAuthorized in the browser. Scopes "
                                             "granted: seller.authorization.info."));
  g_assert_nonnull (strstr (lines[5], "\trefresh-failed\tRefresh failed with TikTok code "
                                      "36004001: "));
  g_assert_nonnull (strstr (lines[0], grant_id));
  g_clear_pointer (&out, g_free);

  /* --client matches the label case-insensitively; another label matches nothing. */
  entries = history_json (fixture, NULL);
  g_assert_cmpuint (entries->len, ==, 7);
  g_clear_pointer (&entries, g_ptr_array_unref);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "history", "--client", "acme"), ==, 0);
  g_assert_cmpuint (strlen (out), >, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, &out, NULL, "history", "--client", "Other"), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);

  /* Removing the grant keeps its history, which says so; the id (or a prefix) still finds it. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "remove", grant_id), ==, 0);
  prefix = g_strndup (grant_id, 8);
  entries = history_json (fixture, prefix);
  g_assert_cmpuint (entries->len, ==, 8);
  g_assert_cmpstr (kh_history_entry_get_action (g_ptr_array_index (entries, 7)), ==, "removed");

  /* Errors: an unknown grant (1), two grants (2). */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "history", "no-such-grant"), ==, 1);
  g_assert_true (g_str_has_prefix (err, "keyhold-cli: "));
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "history", "a", "b"), ==, 2);

  /* The file: 0600, one whole record per line, and no secret in it. */
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (path, &file, NULL, NULL));
  assert_no_sandbox_secret (fixture, file, NULL);
  g_assert_null (strstr (file, token));
}

static JsonObject *
parse_object (const char *text,
              JsonNode  **node_out)
{
  g_autoptr(GError) error = NULL;

  *node_out = kh_json_parse (text, strlen (text), &error);
  g_assert_no_error (error);
  return kh_json_node_object (*node_out);
}

static void
test_cli_export (Fixture       *fixture,
                 gconstpointer  user_data)
{
  g_autofree char *grant_id = authorize_seller (fixture);
  g_autofree char *token = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *shops_out = NULL;
  g_autofree char *file = NULL;
  g_autofree char *mcp_path = g_build_filename (fixture->cli.data_dir, "shops.json", NULL);
  g_autofree char *env_path = g_build_filename (fixture->cli.data_dir, "tiktok.env", NULL);
  g_autofree char *expected_line = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) shops_node = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  JsonObject *shop, *credential, *data, *mcp, *mcp_shop;
  struct stat st;

  g_assert_nonnull (grant_id);
  token = token_of (fixture, grant_id);
  g_assert_cmpint (run_cli (fixture, NULL, &shops_out, NULL, "shops", grant_id, "--json"), ==, 0);
  shop = kh_json_node_object (json_array_get_element (
           kh_json_get_array (parse_object (shops_out, &shops_node), "shops"), 0));

  /* n8n on stdout, with a warning on stderr: exports print a token on purpose, so their
   * output stays out of the leak check (which still covers everything else). */
  g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, &out, &err, "export", grant_id,
                                         "--format", "n8n"), ==, 0);
  node = kh_json_parse (out, strlen (out), NULL);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
  credential = kh_json_node_object (json_array_get_element (json_node_get_array (node), 0));
  g_assert_cmpstr (kh_json_get_string (credential, "type"), ==, "tiktokShopApi");
  g_assert_true (g_str_has_prefix (kh_json_get_string (credential, "name"), "Keyhold "));
  data = kh_json_get_object (credential, "data");
  g_assert_cmpstr (kh_json_get_string (data, "appKey"), ==, SHOP_KEY);
  g_assert_cmpstr (kh_json_get_string (data, "appSecret"), ==, "");
  g_assert_cmpstr (kh_json_get_string (data, "accessToken"), ==, token);
  g_assert_cmpstr (kh_json_get_string (data, "shopId"), ==, kh_json_get_string (shop, "id"));
  g_assert_cmpstr (kh_json_get_string (data, "shopCipher"), ==, kh_json_get_string (shop, "cipher"));
  g_assert_nonnull (strstr (err, "warning: this export holds an access token"));
  g_assert_nonnull (strstr (err, "\nSTALE_AT: 20"));
  g_assert_nonnull (strstr (err, "keyhold-cli token"));
  /* Only the access token: never the refresh token, never the app secret. */
  assert_no_sandbox_secret (fixture, out, token);
  record_output (fixture, err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&node, json_node_unref);

  /* shops.json into a file: 0600, whole, with the staleness in it; stdout stays empty. */
  g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, &out, &err, "export", grant_id,
                                         "--format", "mcp-shops", "--output", mcp_path), ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_assert_null (strstr (err, "warning: this export holds"));
  g_assert_cmpint (g_stat (mcp_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (mcp_path, &file, NULL, NULL));
  mcp = parse_object (file, &node);
  g_assert_cmpstr (kh_json_get_string (mcp, "app_key"), ==, SHOP_KEY);
  g_assert_cmpstr (kh_json_get_string (mcp, "grant"), ==, grant_id);
  g_assert_true (g_str_has_suffix (kh_json_get_string (mcp, "stale_at"), "Z"));
  g_assert_nonnull (strstr (kh_json_get_string (mcp, "note"), "refreshes the grant"));
  mcp_shop = kh_json_node_object (json_array_get_element (kh_json_get_array (mcp, "shops"), 0));
  g_assert_cmpstr (kh_json_get_string (mcp_shop, "shop_cipher"), ==,
                   kh_json_get_string (shop, "cipher"));
  g_assert_cmpstr (kh_json_get_string (mcp_shop, "access_token"), ==, token);
  assert_no_sandbox_secret (fixture, file, token);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&file, g_free);

  /* dotenv: replaces an existing, world-readable file with a 0600 one. */
  g_assert_true (g_file_set_contents (env_path, "OLD=1\n", -1, NULL));
  g_assert_cmpint (g_chmod (env_path, 0644), ==, 0);
  g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, NULL, NULL, "export", grant_id,
                                         "--format", "env", "--output", env_path), ==, 0);
  g_assert_cmpint (g_stat (env_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (env_path, &file, NULL, NULL));
  g_assert_null (strstr (file, "OLD=1"));
  expected_line = g_strdup_printf ("\nTIKTOK_ACCESS_TOKEN='%s'\n", token);
  g_assert_nonnull (strstr (file, expected_line));
  g_assert_nonnull (strstr (file, "\nTIKTOK_APP_KEY='" SHOP_KEY "'\n"));
  g_assert_nonnull (strstr (file, "\nTIKTOK_SHOP_CIPHERS='"));
  g_assert_true (g_str_has_prefix (file, "# keyhold-cli export of grant "));
  g_assert_nonnull (strstr (file, "stale at "));
  assert_no_sandbox_secret (fixture, file, token);

  /* Usage errors (2) change nothing; a format that does not fit the grant is an error (1). */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "export", grant_id), ==, 2);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "export", grant_id, "--format", "csv"),
                   ==, 2);
  g_assert_nonnull (strstr (err, "n8n, mcp-shops or env"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "export", "--format", "env"), ==, 2);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "export", "nobody", "--format", "env"),
                   ==, 1);

  /* The history records each export, its format and when it goes stale; never the token. */
  entries = history_json (fixture, grant_id);
  g_assert_cmpuint (entries->len, ==, 5);
  for (guint i = 2; i < 5; i++)
    {
      KhHistoryEntry *entry = g_ptr_array_index (entries, i);
      static const char *formats[] = { "n8n", "mcp-shops", "env" };

      g_assert_cmpstr (kh_history_entry_get_action (entry), ==, "exported");
      g_assert_cmpstr (kh_json_get_string (kh_history_entry_get_detail (entry), "format"), ==,
                       formats[i - 2]);
      g_assert_true (g_str_has_suffix (kh_json_get_string (kh_history_entry_get_detail (entry),
                                                           "stale_at"), "Z"));
    }
  g_clear_pointer (&entries, g_ptr_array_unref);

  /* The renewal pack, printed for the user to send on, is recorded too. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, NULL, "renewal", grant_id), ==, 0);
  entries = history_json (fixture, grant_id);
  g_assert_cmpstr (kh_history_entry_get_action (g_ptr_array_index (entries, entries->len - 1)), ==,
                   "renewal-copied");
}

static void
test_cli_export_advertiser (Fixture       *fixture,
                            gconstpointer  user_data)
{
  const char *args[] = { "--type", "advertiser", "--app", "Biz App", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *grant_id = NULL;

  add_apps (fixture);
  g_assert_cmpint (authorize_with_browser (fixture, "approve", &out, NULL, args), ==, 0);
  grant_id = kh_test_line_value (out, "GRANT: ");
  g_clear_pointer (&out, g_free);

  /* n8n's Shop credential does not fit an advertiser grant; the dotenv does, without expiry. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, &err, "export", grant_id, "--format", "n8n"),
                   ==, 1);
  g_assert_nonnull (strstr (err, "use --format env"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, &out, &err, "export", grant_id,
                                         "--format", "env"), ==, 0);
  g_assert_nonnull (strstr (out, "\nTIKTOK_APP_ID='" BIZ_ID "'\n"));
  g_assert_nonnull (strstr (out, "\nTIKTOK_ADVERTISER_IDS='"));
  g_assert_null (strstr (out, "TIKTOK_ACCESS_TOKEN_EXPIRES_AT"));
  g_assert_nonnull (strstr (err, "STALE_AT: never"));
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (type_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/keyhold/cli/authorize/%s%s%s", type_cases[i].type,
                                               type_cases[i].role ? "-" : "",
                                               type_cases[i].role ? type_cases[i].role : "");
      g_test_add (name, Fixture, &type_cases[i], fixture_set_up, test_cli_authorize_type,
                  fixture_tear_down);
    }
  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *name = g_strdup_printf ("/keyhold/cli/link-complete/%s", type_cases[i].type);

      g_test_add (name, Fixture, &type_cases[i], fixture_set_up, test_cli_link_complete,
                  fixture_tear_down);
    }
  g_test_add ("/keyhold/cli/deny", Fixture, NULL, fixture_set_up, test_cli_deny, fixture_tear_down);
  g_test_add ("/keyhold/cli/state-replay", Fixture, NULL, fixture_set_up, test_cli_state_replay,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/expired-request", Fixture, NULL, fixture_set_up,
              test_cli_expired_request, fixture_tear_down);
  g_test_add ("/keyhold/cli/two-apps-concurrent", Fixture, NULL, fixture_set_up,
              test_cli_two_apps_concurrent, fixture_tear_down);
  g_test_add ("/keyhold/cli/no-state-needs-confirmation", Fixture, NULL, fixture_set_up,
              test_cli_no_state_needs_confirmation, fixture_tear_down);
  g_test_add ("/keyhold/cli/quick-connect", Fixture, NULL, fixture_set_up, test_cli_quick_connect,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/recover", Fixture, NULL, fixture_set_up, test_cli_recover,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/refresh-per-app", Fixture, NULL, fixture_set_up,
              test_cli_refresh_per_app, fixture_tear_down);
  g_test_add ("/keyhold/cli/usage", Fixture, NULL, fixture_set_up, test_cli_usage,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/browser/seller", Fixture, &type_cases[0], fixture_set_up,
              test_cli_browser, fixture_tear_down);
  g_test_add ("/keyhold/cli/browser/tiktok-account", Fixture, &type_cases[4], fixture_set_up,
              test_cli_browser, fixture_tear_down);
  g_test_add ("/keyhold/cli/browser-profile", Fixture, NULL, fixture_set_up,
              test_cli_browser_profile, fixture_tear_down);
  g_test_add ("/keyhold/cli/browser-profile-fails", Fixture, NULL, fixture_set_up,
              test_cli_browser_profile_fails, fixture_tear_down);
  g_test_add ("/keyhold/cli/debug-keeps-stdout-clean", Fixture, NULL, fixture_set_up,
              test_cli_debug_keeps_stdout_clean, fixture_tear_down);
  g_test_add ("/keyhold/cli/port-in-use", Fixture, NULL, fixture_set_up, test_cli_port_in_use,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/history", Fixture, NULL, fixture_set_up, test_cli_history,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/export", Fixture, NULL, fixture_set_up, test_cli_export,
              fixture_tear_down);
  g_test_add ("/keyhold/cli/export-advertiser", Fixture, NULL, fixture_set_up,
              test_cli_export_advertiser, fixture_tear_down);

  return g_test_run ();
}
