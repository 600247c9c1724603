/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-team-cli.c: the team store end to end, as staff and servers use it: the real
 * keyhold-cli and keyhold-sandbox, one private PostgreSQL 15 cluster (tests/kh-test-pg.c), and
 * three machines:
 *   desktop A  the session's gnome-keyring (.ci/session), PostgreSQL role alice (the admin);
 *   desktop B  a D-Bus session and gnome-keyring of its own (dbus-run-session child), so that
 *              nothing of A's keyring is reachable from it: role bob, a member;
 *   server     no Secret Service at all (its session bus address points nowhere): a 0600 key
 *              file and libpq's passfile, role srv.
 * Each machine has its own data dir and store name. Every test gets its own database, roles
 * and sandbox. */

#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "kh-grant-list.h"
#include "kh-json.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-test-cli.h"
#include "kh-test-pg.h"
#include "kh-test-util.h"

#define SHOP_KEY        "teamclishop"
#define SHOP_SECRET     "shop-secret-7e6d5c4b3a"
#define SHOP_SERVICE_ID "7100000000000000031"
#define DAY             (24 * 3600)
#define N_CALLERS       8
#define TIMEOUT_MS      60000

static KhTestPg *pg;

typedef struct
{
  KhTestCli    a;          /* owns the sandbox */
  KhTestCli    b;
  KhTestCli    server;
  GSubprocess *b_session;  /* desktop B's dbus-run-session */
  char        *db;
  char        *alice;
  char        *bob;
  char        *srv;
  char        *join_code;
  char        *key_file;
  char        *grant_id;
  gint64       offset;
  GString     *all_output; /* every run's output but `token`'s, for the leak check */
} Fixture;

/* ---- machines --------------------------------------------------------------------------------- */

/* Another machine against the same sandbox: its own data dir and store. */
static void
machine_init (KhTestCli  *machine,
              KhTestCli  *a,
              const char *name)
{
  static guint counter;

  *machine = *a;
  machine->sandbox = NULL;
  machine->origin_map = g_strdup (a->origin_map);
  machine->redirect_uri = g_strdup (a->redirect_uri);
  machine->data_dir = g_strdup_printf ("%s/%s-%u", kh_test_get_tmpdir (), name, counter);
  machine->store = g_strdup_printf ("%s-%d-%u", name, (int) getpid (), counter++);
  machine->env = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
machine_clear (KhTestCli *machine)
{
  g_clear_pointer (&machine->origin_map, g_free);
  g_clear_pointer (&machine->redirect_uri, g_free);
  g_clear_pointer (&machine->data_dir, g_free);
  g_clear_pointer (&machine->store, g_free);
  g_clear_pointer (&machine->env, g_hash_table_unref);
}

/* Desktop B's session: dbus-run-session with an unlocked gnome-keyring whose files and control
 * socket are B's own (a second daemon in A's runtime dir would hand its work to A's). It lives
 * as long as its stdin: closing the pipe (or this process dying) ends it. */
static void
start_desktop_session (Fixture *fixture)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
    G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autofree char *home = g_strdup_printf ("%s-keyring", fixture->b.data_dir);
  g_autofree char *runtime = g_strdup_printf ("%s-run", fixture->b.data_dir);
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  const char *script =
    "echo -n keyhold-test | gnome-keyring-daemon --unlock --components=secrets --daemonize "
    ">/dev/null; unset XDG_DATA_HOME; "
    "for _ in $(seq 100); do gdbus call --session -d org.freedesktop.DBus "
    "-o /org/freedesktop/DBus -m org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets "
    "2>/dev/null | grep -q true && break; sleep 0.05; done; "
    "echo \"$DBUS_SESSION_BUS_ADDRESS\"; exec cat >/dev/null";

  g_assert_cmpint (g_mkdir_with_parents (home, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (runtime, 0700), ==, 0);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", home, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime, TRUE);
  fixture->b_session = g_subprocess_launcher_spawn (launcher, &error, "dbus-run-session", "--",
                                                    "bash", "-c", script, NULL);
  g_assert_no_error (error);

  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fixture->b_session));
  address = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  g_assert_true (g_str_has_prefix (address, "unix:"));

  kh_test_cli_setenv (&fixture->b, "DBUS_SESSION_BUS_ADDRESS", address);
  kh_test_cli_setenv (&fixture->b, "XDG_RUNTIME_DIR", runtime);
}

static void
stop_desktop_session (Fixture *fixture)
{
  g_output_stream_close (g_subprocess_get_stdin_pipe (fixture->b_session), NULL, NULL);
  g_subprocess_wait (fixture->b_session, NULL, NULL);
  g_clear_object (&fixture->b_session);
}

/* ---- running keyhold-cli ----------------------------------------------------------------------- */

static void
record_output (Fixture    *fixture,
               const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (!g_str_has_prefix (lines[i], "URL: "))
      g_string_append_printf (fixture->all_output, "%s\n", lines[i]);
}

static int
run_argv (Fixture            *fixture,
          KhTestCli          *machine,
          const char         *stdin_text,
          char              **stdout_out,
          char              **stderr_out,
          const char * const *args)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = kh_test_cli_run (machine, stdin_text, &out, &err, args);

  /* `token` prints tokens on purpose, and "URL: " lines the link's state. */
  if (g_strcmp0 (args[0], "token") != 0)
    record_output (fixture, out);
  record_output (fixture, err);

  if (stdout_out != NULL)
    *stdout_out = g_steal_pointer (&out);
  if (stderr_out != NULL)
    *stderr_out = g_steal_pointer (&err);

  return status;
}

#define run(fixture, machine, stdin_text, out, err, ...) \
  run_argv ((fixture), (machine), (stdin_text), (out), (err), \
            (const char * const []) { __VA_ARGS__, NULL })

/* The exit status; err must be one line starting "keyhold-cli: " when status is not 0. */
static void
assert_one_line_error (const char *err)
{
  g_autofree char *copy = g_strdup (err);

  g_assert_true (g_str_has_prefix (copy, "keyhold-cli: "));
  g_strchomp (copy);
  g_assert_null (strchr (copy, '\n'));
}

static void
advance_clocks (Fixture *fixture,
                gint64   seconds)
{
  g_autofree char *body = g_strdup_printf ("{\"advance\":%" G_GINT64_FORMAT "}", seconds);
  g_autofree char *offset = NULL;

  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->a, "POST", "/_sandbox/clock", body,
                                                 NULL), ==, 200);
  fixture->offset += seconds;
  offset = g_strdup_printf ("%" G_GINT64_FORMAT, fixture->offset);
  kh_test_cli_setenv (&fixture->a, "KEYHOLD_CLOCK_OFFSET", offset);
  kh_test_cli_setenv (&fixture->b, "KEYHOLD_CLOCK_OFFSET", offset);
  kh_test_cli_setenv (&fixture->server, "KEYHOLD_CLOCK_OFFSET", offset);
}

static JsonNode *
run_json (Fixture    *fixture,
          KhTestCli  *machine,
          const char *command)
{
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  g_assert_cmpint (run (fixture, machine, NULL, &out, NULL, command, "--json"), ==, 0);
  node = kh_json_parse (out, strlen (out), &error);
  g_assert_no_error (error);

  return node;
}

/* The grant's entry in `list --json` on machine, or NULL. */
static JsonObject *
listed (JsonNode   *list,
        const char *grant_id)
{
  JsonArray *array = json_node_get_array (list);

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *entry = kh_json_node_object (json_array_get_element (array, i));

      if (g_strcmp0 (kh_json_get_string (entry, "id"), grant_id) == 0)
        return entry;
    }

  return NULL;
}

static guint
count_listed (JsonNode   *list,
              const char *grant_id)
{
  JsonArray *array = json_node_get_array (list);
  guint n = 0;

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *entry = kh_json_node_object (json_array_get_element (array, i));

      if (g_strcmp0 (kh_json_get_string (entry, "id"), grant_id) == 0)
        n++;
    }

  return n;
}

/* The one authorization of the sandbox's ledger. */
static JsonObject *
ledger_authorization (JsonNode *node)
{
  JsonArray *list = kh_json_get_array (kh_json_node_object (node), "authorizations");

  g_assert_nonnull (list);
  g_assert_cmpuint (json_array_get_length (list), ==, 1);

  return kh_json_node_object (json_array_get_element (list, 0));
}

static char *
token_of (Fixture    *fixture,
          KhTestCli  *machine,
          const char *grant_id)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (run (fixture, machine, NULL, &out, NULL, "token", grant_id), ==, 0);
  return g_strdup (g_strchomp (out));
}

/* ---- the fixture ------------------------------------------------------------------------------- */

static void
write_key_file (Fixture    *fixture,
                const char *join_code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = g_strconcat (join_code, "\n", NULL);

  g_file_set_contents_full (fixture->key_file, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                            &error);
  g_assert_no_error (error);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  static guint counter;
  const char *latency_args[] = { "--latency", user_data != NULL ? user_data : "0", NULL };
  g_autofree char *url = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *link = NULL;
  g_autofree char *location = NULL;
  g_autofree char *passfile = NULL;
  guint n = counter++;

  fixture->all_output = g_string_new (NULL);
  kh_test_cli_set_up (&fixture->a, "team-a", latency_args);
  machine_init (&fixture->b, &fixture->a, "team-b");
  machine_init (&fixture->server, &fixture->a, "team-srv");
  start_desktop_session (fixture);
  /* Exactly one line on stderr per error: debug logging would add lines. */
  kh_test_cli_setenv (&fixture->a, "G_MESSAGES_DEBUG", NULL);
  kh_test_cli_setenv (&fixture->b, "G_MESSAGES_DEBUG", NULL);
  kh_test_cli_setenv (&fixture->server, "G_MESSAGES_DEBUG", NULL);

  kh_test_cli_register_app (&fixture->a, "shop", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID, NULL);
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->a, "POST", "/_sandbox/config",
                                                 "{\"refresh_grace\":600}", NULL), ==, 200);

  /* The database, and one PostgreSQL role per person or machine. */
  fixture->db = kh_test_pg_create_database (pg, "teamcli");
  fixture->alice = g_strdup_printf ("alice_%u", n);
  fixture->bob = g_strdup_printf ("bob_%u", n);
  fixture->srv = g_strdup_printf ("srv_%u", n);
  kh_test_pg_create_role (pg, fixture->alice, "alice-pw", TRUE, fixture->db);
  kh_test_pg_create_role (pg, fixture->bob, "bob-pw", FALSE, fixture->db);
  kh_test_pg_create_role (pg, fixture->srv, "srv-pw", FALSE, fixture->db);
  passfile = kh_test_pg_write_passfile (pg, fixture->srv, "srv-pw", fixture->db);
  kh_test_cli_setenv (&fixture->server, "PGPASSFILE", passfile);
  /* The server has no Secret Service at all: its key file and passfile are all it has. */
  kh_test_cli_setenv (&fixture->server, "DBUS_SESSION_BUS_ADDRESS",
                      "unix:path=/nonexistent/keyhold-test-no-bus");
  fixture->key_file = g_strdup_printf ("%s.key", fixture->server.data_dir);

  /* Alice creates the team; the password comes on stdin, the join code once on stdout. */
  url = kh_test_pg_url (pg, fixture->alice, fixture->db);
  g_assert_cmpint (run (fixture, &fixture->a, "alice-pw\n", &out, &err, "team", "create", url),
                   ==, 0);
  fixture->join_code = kh_test_line_value (out, "JOIN-CODE: ");
  g_assert_nonnull (fixture->join_code);
  g_assert_nonnull (kh_test_line_value (out, "TEAM: "));
  /* ...with a word on how to pass it on, and never in the password's place. */
  g_assert_nonnull (strstr (err, "password manager"));
  g_assert_null (strstr (err, fixture->join_code));

  /* Her shop, shared from the start. */
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run (fixture, &fixture->a, SHOP_SECRET "\n", NULL, NULL,
                        "app", "add", "--family", "shop", "--name", "Shop App",
                        "--app-key", SHOP_KEY, "--service-id", SHOP_SERVICE_ID,
                        "--redirect-uri", fixture->a.redirect_uri), ==, 0);
  g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, NULL, "link", "--type", "seller",
                        "--app", "Shop App", "--client", "Acme"), ==, 0);
  link = kh_test_line_value (out, "URL: ");
  location = kh_test_cli_approve (link);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, NULL, "complete", "--share", location),
                   ==, 0);
  fixture->grant_id = kh_test_line_value (out, "GRANT: ");
  g_assert_nonnull (fixture->grant_id);
  g_assert_nonnull (strstr (out, "SHARED: "));
}

/* Alice lets Bob (desktop B) and the server see client Acme; then both join. */
static void
join_others (Fixture *fixture)
{
  g_autofree char *bob_url = kh_test_pg_url (pg, fixture->bob, fixture->db);
  g_autofree char *srv_url = kh_test_pg_url (pg, fixture->srv, fixture->db);
  g_autofree char *bob_stdin = g_strdup_printf ("%s\nbob-pw\n", fixture->join_code);

  g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, "team", "grant", fixture->bob,
                        "--client", "Acme"), ==, 0);
  g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, "team", "grant", fixture->srv,
                        "--client", "Acme"), ==, 0);
  g_assert_cmpint (run (fixture, &fixture->b, bob_stdin, NULL, NULL, "team", "join", bob_url),
                   ==, 0);
  write_key_file (fixture, fixture->join_code);
  g_assert_cmpint (run (fixture, &fixture->server, NULL, NULL, NULL, "team", "join", srv_url,
                        "--key-file", fixture->key_file), ==, 0);
  kh_test_cli_setenv (&fixture->server, "KEYHOLD_TEAM_KEY_FILE", fixture->key_file);
}

/* Whatever a test did, no output but `token`'s carries a token, code or the app secret. */
static void
assert_no_leak (Fixture *fixture)
{
  g_autoptr(JsonNode) node = kh_test_cli_ledger (&fixture->a);
  JsonArray *secrets = kh_json_get_array (kh_json_node_object (node), "secrets");

  for (guint i = 0; secrets != NULL && i < json_array_get_length (secrets); i++)
    {
      JsonNode *element = json_array_get_element (secrets, i);

      const char *secret;

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        continue;
      secret = json_node_get_string (element);
      if (strlen (secret) >= 8 && strstr (fixture->all_output->str, secret) != NULL)
        g_error ("secret found in CLI output: %.4s...", secret);
    }
  g_assert_null (strstr (fixture->all_output->str, SHOP_SECRET));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  assert_no_leak (fixture);
  stop_desktop_session (fixture);
  machine_clear (&fixture->b);
  machine_clear (&fixture->server);
  kh_test_cli_tear_down (&fixture->a);
  g_free (fixture->db);
  g_free (fixture->alice);
  g_free (fixture->bob);
  g_free (fixture->srv);
  g_free (fixture->join_code);
  g_free (fixture->key_file);
  g_free (fixture->grant_id);
  g_string_free (fixture->all_output, TRUE);
}

/* ---- tests -------------------------------------------------------------------------------------- */

/* Shared authorize, the three machines' views, share/unshare both ways, and the audit. */
static void
test_share_and_views (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(JsonNode) list_a = NULL;
  g_autoptr(JsonNode) list_b = NULL;
  g_autoptr(JsonNode) list_after = NULL;
  g_autoptr(JsonNode) audit = NULL;
  g_autoptr(JsonNode) status = NULL;
  g_autofree char *token_a = NULL;
  g_autofree char *token_b = NULL;
  g_autofree char *token_srv = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonObject *entry;
  JsonArray *records;
  gboolean saw_shared = FALSE;
  gboolean saw_unshared = FALSE;
  gboolean saw_authorized = FALSE;
  gboolean saw_token_read = FALSE;

  join_others (fixture);

  list_a = run_json (fixture, &fixture->a, "list");
  entry = listed (list_a, fixture->grant_id);
  g_assert_nonnull (entry);
  g_assert_cmpstr (kh_json_get_string (entry, "storage"), ==, "team");
  g_assert_cmpstr (kh_json_get_string (entry, "client"), ==, "Acme");

  list_b = run_json (fixture, &fixture->b, "list");
  entry = listed (list_b, fixture->grant_id);
  g_assert_nonnull (entry);
  g_assert_cmpstr (kh_json_get_string (entry, "storage"), ==, "team");

  /* One token, whoever asks, by id or by name. */
  token_a = token_of (fixture, &fixture->a, fixture->grant_id);
  token_b = token_of (fixture, &fixture->b, kh_json_get_string (entry, "display_name"));
  token_srv = token_of (fixture, &fixture->server, fixture->grant_id);
  g_assert_cmpstr (token_a, ==, token_b);
  g_assert_cmpstr (token_a, ==, token_srv);

  /* status and shops work the same on a shared grant. */
  status = run_json (fixture, &fixture->b, "status");
  g_assert_cmpuint (json_array_get_length (json_node_get_array (status)), ==, 1);
  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, NULL, "shops",
                        fixture->grant_id), ==, 0);
  g_assert_cmpstr (out, !=, "");
  g_clear_pointer (&out, g_free);

  /* Unshare to Bob's desktop: gone from the team, local on B only. */
  g_assert_cmpint (run (fixture, &fixture->b, NULL, &out, NULL, "unshare", fixture->grant_id),
                   ==, 0);
  g_assert_nonnull (strstr (out, "UNSHARED: "));
  g_clear_pointer (&out, g_free);
  list_after = run_json (fixture, &fixture->a, "list");
  g_assert_null (listed (list_after, fixture->grant_id));
  g_clear_pointer (&list_after, json_node_unref);
  list_after = run_json (fixture, &fixture->b, "list");
  entry = listed (list_after, fixture->grant_id);
  g_assert_cmpstr (kh_json_get_string (entry, "storage"), ==, "local");
  /* Its token still works there, by the one-lookup path now. */
  g_clear_pointer (&token_b, g_free);
  token_b = token_of (fixture, &fixture->b, fixture->grant_id);
  g_assert_cmpstr (token_b, ==, token_a);

  /* Unsharing what is local, or sharing twice: a clear error, nothing changes. */
  g_assert_cmpint (run (fixture, &fixture->b, NULL, NULL, &err, "unshare", fixture->grant_id),
                   ==, 1);
  assert_one_line_error (err);
  g_clear_pointer (&err, g_free);

  /* Back into the team. */
  g_assert_cmpint (run (fixture, &fixture->b, NULL, &out, NULL, "share", fixture->grant_id),
                   ==, 0);
  g_assert_nonnull (strstr (out, "SHARED: "));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run (fixture, &fixture->b, NULL, NULL, &err, "share", fixture->grant_id),
                   ==, 1);
  assert_one_line_error (err);
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&list_after, json_node_unref);
  list_after = run_json (fixture, &fixture->a, "list");
  g_assert_cmpstr (kh_json_get_string (listed (list_after, fixture->grant_id), "storage"), ==,
                   "team");

  /* The audit, as the admin sees it. */
  audit = run_json (fixture, &fixture->a, "audit");
  records = json_node_get_array (audit);
  for (guint i = 0; i < json_array_get_length (records); i++)
    {
      JsonObject *record = kh_json_node_object (json_array_get_element (records, i));
      const char *action = kh_json_get_string (record, "action");

      if (g_strcmp0 (action, "shared") == 0 &&
          g_strcmp0 (kh_json_get_string (record, "actor"), fixture->bob) == 0)
        saw_shared = TRUE;
      if (g_strcmp0 (action, "unshared") == 0)
        saw_unshared = TRUE;
      if (g_strcmp0 (action, "authorized") == 0 &&
          g_strcmp0 (kh_json_get_string (kh_json_get_object (record, "detail"), "flow"), "link")
          == 0)
        saw_authorized = TRUE;
      if (g_strcmp0 (action, "token-read") == 0 &&
          g_strcmp0 (kh_json_get_string (record, "actor"), fixture->srv) == 0)
        saw_token_read = TRUE;
    }
  g_assert_true (saw_shared);
  g_assert_true (saw_unshared);
  g_assert_true (saw_authorized);
  g_assert_true (saw_token_read);
  g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, NULL, "audit", "--client", "Nobody"),
                   ==, 0);
  g_assert_cmpstr (out, ==, "");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, &err, "audit", "--since", "yesterday"),
                   ==, 2);
}

/* Desktop A's copy of the grant put into the team too, as a share killed between its put and
 * its local removal leaves it. */
static void
leave_in_both (Fixture *fixture)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  store = kh_store_new (fixture->a.data_dir, fixture->a.store, &error);
  g_assert_no_error (error);
  team = kh_team_open (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (team);
  grant = kh_store_find_grant (store, fixture->grant_id, &error);
  g_assert_no_error (error);
  tokens = kh_store_load_tokens (store, fixture->grant_id, &error);
  g_assert_no_error (error);
  g_assert_true (kh_team_put_grant (team, grant, tokens, &error));
  g_assert_no_error (error);
}

/* A crash between "put in the new place" and "remove from the old": listed once, the token
 * still works, and the next share or unshare completes the move. */
static void
test_interrupted_move (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(JsonNode) list = NULL;
  g_autofree char *token = NULL;
  g_autofree char *again = NULL;

  g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, "unshare", fixture->grant_id),
                   ==, 0);
  token = token_of (fixture, &fixture->a, fixture->grant_id);

  for (guint round = 0; round < 2; round++)
    {
      /* round 0: an interrupted share, completed by share; round 1: by unshare. */
      const char *command = round == 0 ? "share" : "unshare";
      const char *storage = round == 0 ? "team" : "local";

      leave_in_both (fixture);
      list = run_json (fixture, &fixture->a, "list");
      g_assert_cmpuint (count_listed (list, fixture->grant_id), ==, 1);
      g_clear_pointer (&list, json_node_unref);
      again = token_of (fixture, &fixture->a, fixture->grant_id);
      g_assert_cmpstr (again, ==, token);
      g_clear_pointer (&again, g_free);

      g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, command, fixture->grant_id),
                       ==, 0);
      list = run_json (fixture, &fixture->a, "list");
      g_assert_cmpuint (count_listed (list, fixture->grant_id), ==, 1);
      g_assert_cmpstr (kh_json_get_string (listed (list, fixture->grant_id), "storage"), ==,
                       storage);
      g_clear_pointer (&list, json_node_unref);
      if (round == 0)
        g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, "unshare",
                              fixture->grant_id), ==, 0);
    }
}

/* Eight callers on two desktops at once on an expiring token: TikTok sees one refresh and
 * everyone gets the new token. */
static void
test_eight_callers (Fixture       *fixture,
                    gconstpointer  user_data)
{
  GSubprocess *callers[N_CALLERS];
  const char *args[] = { "token", NULL, NULL };
  g_autofree char *before = NULL;
  g_autofree char *first = NULL;
  g_autoptr(JsonNode) node = NULL;
  JsonObject *auth;
  gint64 count = -1;

  join_others (fixture);
  before = token_of (fixture, &fixture->a, fixture->grant_id);
  args[1] = fixture->grant_id;

  /* Eight days on, the 7-day access token is dead. */
  advance_clocks (fixture, 8 * DAY);
  for (guint i = 0; i < N_CALLERS; i++)
    callers[i] = kh_test_cli_spawn (i % 2 == 0 ? &fixture->a : &fixture->b, args);

  for (guint i = 0; i < N_CALLERS; i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      g_assert_cmpint (kh_test_cli_finish (&fixture->a, callers[i], NULL, &out, &err), ==, 0);
      g_clear_object (&callers[i]);
      g_strchomp (out);
      g_assert_cmpstr (out, !=, before);
      if (first == NULL)
        first = g_strdup (out);
      g_assert_cmpstr (out, ==, first);
    }

  node = kh_test_cli_ledger (&fixture->a);
  auth = ledger_authorization (node);
  g_assert_true (kh_json_get_int (auth, "refresh_count", &count));
  g_assert_cmpint (count, ==, 1);
  g_assert_cmpstr (kh_json_get_string (auth, "access_token"), ==, first);
}

static gboolean
flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;

  return G_SOURCE_REMOVE;
}

/* kill -9 during a refresh (the sandbox answers after 300 ms, the row is locked meanwhile):
 * the next caller recovers, and what the team stores is TikTok's current pair. */
static void
test_killed_mid_refresh (Fixture       *fixture,
                         gconstpointer  user_data)
{
  const char *args[] = { "refresh", fixture->grant_id, NULL };
  g_autoptr(GRand) rand = g_rand_new ();
  guint rounds = 6;
  guint killed = 0;

  for (guint round = 0; round < rounds; round++)
    {
      g_autoptr(GSubprocess) victim = kh_test_cli_spawn (&fixture->a, args);
      g_autoptr(JsonNode) node = NULL;
      g_autofree char *out = NULL;
      g_autofree char *token = NULL;
      gboolean fired = FALSE;
      /* Before TikTok's answer can arrive (the sandbox holds it 300 ms after the call, which
       * starts after the process does): every round kills a refresh in flight or about to be. */
      guint delay = (guint) g_rand_int_range (rand, 30, 280);
      JsonObject *auth;

      g_timeout_add (delay, flag_cb, &fired);
      kh_test_wait_flag (&fired, TIMEOUT_MS);
      g_subprocess_send_signal (victim, SIGKILL);
      kh_test_cli_finish (&fixture->a, victim, NULL, NULL, NULL);
      if (g_subprocess_get_if_signaled (victim))
        killed++;

      g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, NULL, "refresh",
                            fixture->grant_id), ==, 0);
      g_assert_nonnull (strstr (out, "REFRESHED: "));
      token = token_of (fixture, &fixture->a, fixture->grant_id);
      node = kh_test_cli_ledger (&fixture->a);
      auth = ledger_authorization (node);
      g_assert_cmpstr (token, ==, kh_json_get_string (auth, "access_token"));
    }

  g_assert_cmpuint (killed, >=, rounds / 2);
}

/* Removing a member takes their access away and rotates the key in one command. */
static void
test_member_removed (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(JsonNode) list_b = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *new_code = NULL;
  g_autofree char *token = NULL;

  join_others (fixture);
  token = token_of (fixture, &fixture->b, fixture->grant_id);

  g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, &err, "team", "revoke-member",
                        fixture->bob), ==, 0);
  new_code = kh_test_line_value (out, "JOIN-CODE: ");
  g_assert_nonnull (new_code);
  g_assert_cmpstr (new_code, !=, fixture->join_code);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Bob sees nothing any more; asking for the grant is "no such grant" or "not a member". */
  if (run (fixture, &fixture->b, NULL, &out, &err, "list", "--json") == 0)
    {
      list_b = kh_json_parse (out, strlen (out), NULL);
      g_assert_nonnull (list_b);
      g_assert_null (listed (list_b, fixture->grant_id));
    }
  else
    {
      /* No longer a member: told so, and shown nothing. */
      assert_one_line_error (err);
      g_assert_cmpstr (out, ==, "");
    }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run (fixture, &fixture->b, NULL, &out, &err, "token", fixture->grant_id), !=, 0);
  g_assert_cmpstr (out, ==, "");
  assert_one_line_error (err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Alice's keyring picked up the new key by itself; the server's old key file is refused
   * with the fix, and works again with the new join code. */
  g_clear_pointer (&token, g_free);
  token = token_of (fixture, &fixture->a, fixture->grant_id);
  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, &err, "list"), !=, 0);
  assert_one_line_error (err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  write_key_file (fixture, new_code);
  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, NULL, "token", fixture->grant_id),
                   ==, 0);
  g_assert_cmpstr (g_strchomp (out), ==, token);
}

/* The database stops mid-run: `token` answers from the last token this machine saw and says so
 * on stderr; refresh and everything else fail as transient (4) in one line. */
static void
test_database_down (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *token = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  join_others (fixture);
  token = token_of (fixture, &fixture->server, fixture->grant_id);

  kh_test_pg_stop (pg);

  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, &err, "token", fixture->grant_id),
                   ==, 0);
  g_assert_cmpstr (g_strchomp (out), ==, token);
  g_assert_nonnull (strstr (err, "unreachable"));
  g_assert_null (strstr (err, token));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A token that would need refreshing: refused, nothing sent to TikTok. */
  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, &err, "token", fixture->grant_id,
                        "--min-valid", "700000"), ==, 4);
  g_assert_cmpstr (out, ==, "");
  assert_one_line_error (err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, &err, "refresh",
                        fixture->grant_id), ==, 4);
  assert_one_line_error (err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, &err, "list"), ==, 4);
  assert_one_line_error (err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  kh_test_pg_start (pg);
  {
    g_autoptr(JsonNode) node = kh_test_cli_ledger (&fixture->a);
    gint64 count = -1;

    g_assert_true (kh_json_get_int (ledger_authorization (node), "refresh_count", &count));
    g_assert_cmpint (count, ==, 0);
  }
  g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, "refresh", fixture->grant_id),
                   ==, 0);
}

/* TikTok deauthorizes the shop: the server's refresh fails for good (exit 3), the grant is marked
 * in the team, so Bob's desktop stops too without asking TikTok, and the audit says why. */
static void
test_deauthorized (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(JsonNode) list = NULL;
  g_autoptr(JsonNode) status = NULL;
  g_autoptr(JsonNode) audit = NULL;
  g_autofree char *body = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonArray *records;
  gboolean failed = FALSE;
  gboolean marked = FALSE;

  join_others (fixture);
  list = run_json (fixture, &fixture->a, "list");
  body = g_strdup_printf ("{\"open_id\":\"%s\"}",
                          kh_json_get_string (listed (list, fixture->grant_id), "open_id"));
  g_assert_cmpuint (kh_test_cli_sandbox_request (&fixture->a, "POST", "/_sandbox/deauthorize", body,
                                                 NULL), ==, 200);

  g_assert_cmpint (run (fixture, &fixture->server, NULL, &out, &err, "refresh",
                        fixture->grant_id), ==, 3);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, "105001"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run (fixture, &fixture->b, NULL, &out, &err, "token", fixture->grant_id,
                        "--min-valid", "700000"), ==, 3);
  g_assert_cmpstr (out, ==, "");
  status = run_json (fixture, &fixture->b, "status");
  g_assert_cmpstr (kh_json_get_string (kh_json_node_object (json_array_get_element (
                     json_node_get_array (status), 0)), "status"), ==, "needs-reauth");

  audit = run_json (fixture, &fixture->a, "audit");
  records = json_node_get_array (audit);
  for (guint i = 0; i < json_array_get_length (records); i++)
    {
      JsonObject *record = kh_json_node_object (json_array_get_element (records, i));
      JsonObject *detail = kh_json_get_object (record, "detail");
      gint64 code = 0;

      if (g_strcmp0 (kh_json_get_string (record, "action"), "refresh-failed") == 0 &&
          detail != NULL && kh_json_get_int (detail, "code", &code) && code == 105001)
        failed = TRUE;
      if (g_strcmp0 (kh_json_get_string (record, "action"), "needs-reauth") == 0 &&
          g_strcmp0 (kh_json_get_string (record, "actor"), fixture->srv) == 0)
        marked = TRUE;
    }
  g_assert_true (failed);
  g_assert_true (marked);
}

/* Each bad input: one line with the fix, a non-zero exit, and nothing stored changes. */
static void
test_bad_input (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *bob_url = kh_test_pg_url (pg, fixture->bob, fixture->db);
  g_autofree char *bad_db = kh_test_pg_url (pg, fixture->bob, "no_such_db");
  g_autofree char *with_password = g_strdup_printf ("postgresql://%s:bob-pw@127.0.0.1:%u/%s",
                                                    fixture->bob, kh_test_pg_get_port (pg),
                                                    fixture->db);
  g_autofree char *good_stdin = g_strdup_printf ("%s\nbob-pw\n", fixture->join_code);
  g_autofree char *wrong_password = g_strdup_printf ("%s\nnot-bobs\n", fixture->join_code);
  g_autofree char *wrong_code = g_strdup_printf ("%.*sXX\nbob-pw\n",
                                                 (int) strlen (fixture->join_code) - 2,
                                                 fixture->join_code);
  g_autofree char *team_json = g_build_filename (fixture->b.data_dir, fixture->b.store,
                                                 "team.json", NULL);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  struct {
    const char *what;
    const char *url;
    const char *stdin_text;
    int         status;
  } cases[] = {
    { "not a URL", "http://example.com/", good_stdin, 1 },
    { "a password in the URL", with_password, good_stdin, 1 },
    { "no such database", bad_db, good_stdin, 1 },
    { "wrong password", bob_url, wrong_password, 1 },
    { "wrong join code", bob_url, wrong_code, 1 },
    { "no join code", bob_url, "", 1 },
    { "a role no admin let in", bob_url, good_stdin, 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("case: %s", cases[i].what);
      g_assert_cmpint (run (fixture, &fixture->b, cases[i].stdin_text, &out, &err, "team", "join",
                            cases[i].url), ==, cases[i].status);
      assert_one_line_error (err);
      g_assert_null (strstr (err, "bob-pw"));
      g_assert_false (g_file_test (team_json, G_FILE_TEST_EXISTS));
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
    }

  /* The database down at join: transient. */
  kh_test_pg_stop (pg);
  g_assert_cmpint (run (fixture, &fixture->b, good_stdin, &out, &err, "team", "join", bob_url),
                   ==, 4);
  assert_one_line_error (err);
  g_assert_false (g_file_test (team_json, G_FILE_TEST_EXISTS));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  kh_test_pg_start (pg);

  /* A member of another client: in the team, sees nothing of Acme's, the grant is not found. */
  g_assert_cmpint (run (fixture, &fixture->a, NULL, NULL, NULL, "team", "grant", fixture->bob,
                        "--client", "Other"), ==, 0);
  g_assert_cmpint (run (fixture, &fixture->b, good_stdin, NULL, NULL, "team", "join", bob_url),
                   ==, 0);
  g_assert_cmpint (run (fixture, &fixture->b, NULL, &out, &err, "token", fixture->grant_id), ==, 1);
  assert_one_line_error (err);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run (fixture, &fixture->b, NULL, NULL, &err, "team", "grant", fixture->srv,
                        "--client", "Acme"), ==, 1);
  assert_one_line_error (err);
  g_clear_pointer (&err, g_free);

  /* A schema from a newer Keyhold: refused with the fix. */
  kh_test_pg_exec (pg, fixture->db, "UPDATE keyhold.meta SET schema_version = 99");
  g_assert_cmpint (run (fixture, &fixture->a, NULL, &out, &err, "list"), ==, 1);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, "newer"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Team commands outside a team, and an unsafe key file. */
  g_assert_cmpint (run (fixture, &fixture->server, NULL, NULL, &err, "share", "Acme"), ==, 1);
  assert_one_line_error (err);
  g_clear_pointer (&err, g_free);
  write_key_file (fixture, fixture->join_code);
  g_assert_cmpint (g_chmod (fixture->key_file, 0644), ==, 0);
  g_assert_cmpint (run (fixture, &fixture->server, NULL, NULL, &err, "team", "join",
                        bob_url, "--key-file", fixture->key_file), ==, 1);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, "chmod"));
}

typedef struct
{
  KhGrantList *list;
  const char  *grant_id;
  gboolean     want;
} Presence;

static gboolean
list_shows (gpointer user_data)
{
  Presence *presence = user_data;
  GListModel *model = G_LIST_MODEL (presence->list);
  gboolean found = FALSE;

  for (guint i = 0; !found && i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(KhGrant) grant = g_list_model_get_item (model, i);

      found = g_str_equal (kh_grant_get_id (grant), presence->grant_id) &&
              kh_grant_get_shared (grant);
    }

  return found == presence->want;
}

static gboolean
list_follows (gpointer user_data)
{
  return kh_grant_list_get_following_team (user_data);
}

/* The app's live list (a KhGrantList with the team, as KhApplication sets it up) on desktop A
 * while desktop B's CLI moves the grant out of the team and back: each change shows without
 * anyone re-reading by hand (LISTEN/NOTIFY, no polling). */
static void
test_live_list (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrantList) list = NULL;
  g_autoptr(GError) error = NULL;
  Presence presence = { NULL, fixture->grant_id, TRUE };
  gint64 start;

  join_others (fixture);
  store = kh_store_new (fixture->a.data_dir, fixture->a.store, &error);
  g_assert_no_error (error);
  team = kh_team_open (store, NULL, &error);
  g_assert_no_error (error);
  list = kh_grant_list_new (store);
  presence.list = list;
  kh_grant_list_set_team (list, team);
  kh_test_wait_until (list_shows, &presence, TIMEOUT_MS);
  kh_test_wait_until (list_follows, list, TIMEOUT_MS);

  g_assert_cmpint (run (fixture, &fixture->b, NULL, NULL, NULL, "unshare", fixture->grant_id),
                   ==, 0);
  start = g_get_monotonic_time ();
  presence.want = FALSE;
  kh_test_wait_until (list_shows, &presence, TIMEOUT_MS);
  g_test_message ("unshared on B: gone from A's list after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);

  g_assert_cmpint (run (fixture, &fixture->b, NULL, NULL, NULL, "share", fixture->grant_id),
                   ==, 0);
  start = g_get_monotonic_time ();
  presence.want = TRUE;
  kh_test_wait_until (list_shows, &presence, TIMEOUT_MS);
  g_test_message ("shared on B: in A's list after %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);
}

int
main (int    argc,
      char **argv)
{
  int status;

  kh_test_init (&argc, &argv);
  kh_test_pg_skip_unless_available ();
  pg = kh_test_pg_new ();

#define add(path, func, data) \
  g_test_add ("/keyhold/team-cli/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)
  add ("share-and-views", test_share_and_views, NULL);
  add ("interrupted-move", test_interrupted_move, NULL);
  add ("eight-callers", test_eight_callers, "200");
  add ("killed-mid-refresh", test_killed_mid_refresh, "300");
  add ("member-removed", test_member_removed, NULL);
  add ("database-down", test_database_down, NULL);
  add ("bad-input", test_bad_input, NULL);
  add ("deauthorized", test_deauthorized, NULL);
  add ("live-list", test_live_list, NULL);
#undef add

  status = g_test_run ();
  kh_test_pg_free (pg);

  return status;
}
