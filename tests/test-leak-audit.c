/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-leak-audit.c: the secret-leak audit. Every flow keyhold-cli offers runs against the real
 * keyhold-sandbox with G_MESSAGES_DEBUG=all; then every secret the sandbox recorded in its ledger
 * (tokens, codes, states, app secrets) must be absent from everything Keyhold printed or logged,
 * and from the non-secret files it wrote. */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "kh-json.h"
#include "kh-test-util.h"

#define SHOP_KEY        "leakauditshop"
#define SHOP_SECRET     "audit-shop-secret-3b7e91d0c4"
#define SHOP_SERVICE_ID "7200000000000000001"
#define BIZ_ID          "7200000000000000002"
#define BIZ_SECRET      "audit-biz-secret-8a2f6c5e19"

/* Shorter strings (ids, "Bearer") could match by chance; every real secret is longer. */
#define MIN_SECRET_LENGTH 8

typedef struct
{
  GSubprocess *sandbox;
  guint        sandbox_port;
  char        *origin_map;
  char        *redirect_uri;
  char        *data_dir;
  char        *store;
  GString     *captured;     /* everything every keyhold-cli run printed or logged */
} Fixture;

static char *
build_path (const char *relative)
{
  return g_build_filename (g_getenv ("KEYHOLD_TEST_BUILDDIR"), relative, NULL);
}

/* ---- the sandbox -------------------------------------------------------------------------- */

static guint
sandbox_request (Fixture     *fixture,
                 const char  *method,
                 const char  *path,
                 const char  *json_body,
                 char       **body_out)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", fixture->sandbox_port, path);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  if (json_body != NULL)
    {
      g_autoptr(GBytes) request = g_bytes_new (json_body, strlen (json_body));

      soup_message_set_request_body_from_bytes (msg, "application/json", request);
    }

  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  if (body_out != NULL)
    *body_out = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  return soup_message_get_status (msg);
}

/* The consent page approves at once with auto=approve; its redirect is what a user would paste. */
static char *
approve (const char *url)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *approve_url = g_strconcat (url, "&auto=approve", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", approve_url);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  const char *location;

  g_assert_nonnull (msg);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), >=, 300);
  g_assert_cmpuint (soup_message_get_status (msg), <, 400);
  location = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location");
  g_assert_nonnull (location);
  return g_strdup (location);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *sandbox_bin = build_path ("src/sandbox/keyhold-sandbox");
  g_autofree char *port_str = NULL;
  g_autofree char *shop = NULL;
  g_autofree char *biz = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;

  fixture->sandbox_port = kh_test_free_port ();
  port_str = g_strdup_printf ("%u", fixture->sandbox_port);
  /* stderr silenced: a sandbox outliving a failed test must not hold the test log open. */
  fixture->sandbox = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                       G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                                       sandbox_bin, "--port", port_str, NULL);
  g_assert_no_error (error);

  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fixture->sandbox));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "KEYHOLD_ORIGIN_MAP="))
        {
          fixture->origin_map = g_strdup (line + strlen ("KEYHOLD_ORIGIN_MAP="));
          break;
        }
    }

  fixture->redirect_uri = g_strdup_printf ("http://localhost:%u/callback", kh_test_free_port ());
  fixture->data_dir = g_build_filename (kh_test_get_tmpdir (), "leak-audit", NULL);
  /* Store names allow letters, digits, '-', '_' and '.': not the program's path. */
  fixture->store = g_strdup_printf ("leak-audit-%d-%08x", (int) getpid (), g_random_int ());
  fixture->captured = g_string_new (NULL);

  shop = g_strdup_printf ("{\"family\":\"shop\",\"app_key\":\"" SHOP_KEY "\","
                          "\"app_secret\":\"" SHOP_SECRET "\",\"service_id\":\"" SHOP_SERVICE_ID "\","
                          "\"redirect_uri\":\"%s\",\"scopes\":[\"seller.authorization.info\","
                          "\"creator.affiliate.info\",\"partner.tap.info\"]}",
                          fixture->redirect_uri);
  biz = g_strdup_printf ("{\"family\":\"business\",\"app_key\":\"" BIZ_ID "\","
                         "\"app_secret\":\"" BIZ_SECRET "\",\"redirect_uri\":\"%s\"}",
                         fixture->redirect_uri);
  g_assert_cmpuint (sandbox_request (fixture, "POST", "/_sandbox/apps", shop, NULL), ==, 200);
  g_assert_cmpuint (sandbox_request (fixture, "POST", "/_sandbox/apps", biz, NULL), ==, 200);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_subprocess_force_exit (fixture->sandbox);
  g_subprocess_wait (fixture->sandbox, NULL, NULL);
  g_clear_object (&fixture->sandbox);
  g_free (fixture->origin_map);
  g_free (fixture->redirect_uri);
  g_free (fixture->data_dir);
  g_free (fixture->store);
  g_string_free (fixture->captured, TRUE);
}

/* ---- keyhold-cli with every debug message on ---------------------------------------------- */

static int
run_cli_argv (Fixture            *fixture,
              const char         *stdin_text,
              char              **stdout_out,
              const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, build_path ("src/cli/keyhold-cli"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_ORIGIN_MAP", fixture->origin_map, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_DATA_DIR", fixture->data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_STORE", fixture->store, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "fatal-warnings", TRUE);
  /* The point of the audit: every debug message of every domain is printed and scanned. */
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "all", TRUE);

  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, stdin_text != NULL ? stdin_text : "", NULL,
                                 &out, &err, &error);
  g_assert_no_error (error);

  g_string_append (fixture->captured, out);
  g_string_append (fixture->captured, err);
  /* Only the exit status goes to the test log: the output itself is what is being audited. */
  g_test_message ("keyhold-cli %s -> %d (%zu bytes of output)", args[0],
                  g_subprocess_get_exit_status (process), strlen (out) + strlen (err));
  if (g_subprocess_get_exit_status (process) != 0)
    {
      const char *last = strrchr (g_strchomp (err), '\n');

      /* A failure message names what went wrong; Keyhold keeps secrets out of it too. */
      g_test_message ("stderr, last line: %s", last != NULL ? last + 1 : err);
    }

  if (stdout_out != NULL)
    *stdout_out = g_steal_pointer (&out);
  return g_subprocess_get_exit_status (process);
}

#define run_cli(fixture, stdin_text, out, ...) \
  run_cli_argv ((fixture), (stdin_text), (out), (const char * const []) { __VA_ARGS__, NULL })

static char *
line_value (const char *output,
            const char *prefix)
{
  g_auto(GStrv) lines = g_strsplit (output != NULL ? output : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      return g_strdup (lines[i] + strlen (prefix));
  return NULL;
}

/* link, the client approves, complete with the URL the client sends back. */
static char *
link_and_complete (Fixture    *fixture,
                   const char *type,
                   const char *app,
                   const char *role)
{
  g_autofree char *out = NULL;
  g_autofree char *url = NULL;
  g_autofree char *redirected = NULL;
  g_autofree char *complete_out = NULL;

  if (role != NULL)
    g_assert_cmpint (run_cli (fixture, NULL, &out, "link", "--type", type, "--app", app,
                              "--client", "Audit Client", "--role", role), ==, 0);
  else
    g_assert_cmpint (run_cli (fixture, NULL, &out, "link", "--type", type, "--app", app,
                              "--client", "Audit Client"), ==, 0);
  url = line_value (out, "URL: ");
  g_assert_nonnull (url);
  /* The link is link's deliverable: it goes to the client and must carry the state. That one line
   * is all that may hold it (stdout came first in captured), never a log message. */
  {
    g_autofree char *line = g_strconcat ("URL: ", url, NULL);

    g_assert_cmpuint (g_string_replace (fixture->captured, line, "URL: [the link]", 1), ==, 1);
  }

  redirected = approve (url);
  g_assert_cmpint (run_cli (fixture, NULL, &complete_out, "complete", redirected), ==, 0);
  return line_value (complete_out, "GRANT: ");
}

/* ---- the audit ---------------------------------------------------------------------------- */

static void
collect_files (const char *dir,
               GString    *contents)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  if (handle == NULL)
    return;
  while ((name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *data = NULL;
      gsize length;

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        collect_files (path, contents);
      else if (g_file_get_contents (path, &data, &length, NULL))
        g_string_append_len (contents, data, length);
    }
}

/* How many of the ledger's secrets occur in haystack; each is named by its first four characters
 * only, so that a failing audit does not print the secret itself. */
static guint
count_leaks (JsonArray   *secrets,
             const char  *haystack,
             const char  *where,
             guint       *checked)
{
  guint leaks = 0;

  *checked = 0;
  for (guint i = 0; i < json_array_get_length (secrets); i++)
    {
      JsonNode *element = json_array_get_element (secrets, i);
      const char *secret;

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        continue;
      secret = json_node_get_string (element);
      if (strlen (secret) < MIN_SECRET_LENGTH)
        continue;
      (*checked)++;
      if (strstr (haystack, secret) != NULL)
        {
          g_test_message ("secret %.4s... (ledger entry %u) found in %s", secret, i, where);
          leaks++;
        }
    }
  return leaks;
}

static void
test_all_flows (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *ledger = NULL;
  g_autofree char *seller = NULL;
  g_autofree char *advertiser = NULL;
  g_autofree char *qc_redirect = NULL;
  g_autofree char *qc_input = NULL;
  g_autofree char *qc_url = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) files = g_string_new (NULL);
  JsonArray *secrets;
  guint checked;
  guint leaks;

  g_assert_cmpint (run_cli (fixture, SHOP_SECRET "\n", NULL, "app", "add", "--family", "shop",
                            "--name", "Audit Shop", "--app-key", SHOP_KEY,
                            "--service-id", SHOP_SERVICE_ID, "--redirect-uri",
                            fixture->redirect_uri, "--scopes", "creator.affiliate.info"), ==, 0);
  g_assert_cmpint (run_cli (fixture, BIZ_SECRET "\n", NULL, "app", "add", "--family", "business",
                            "--name", "Audit Business", "--app-key", BIZ_ID,
                            "--redirect-uri", fixture->redirect_uri), ==, 0);

  /* Every account type, through link and paste-back (the code and state travel in the URL). */
  seller = link_and_complete (fixture, "seller", "Audit Shop", NULL);
  g_assert_nonnull (seller);
  g_free (link_and_complete (fixture, "creator", "Audit Shop", NULL));
  g_free (link_and_complete (fixture, "partner", "Audit Shop", NULL));
  advertiser = link_and_complete (fixture, "advertiser", "Audit Business", NULL);
  g_assert_nonnull (advertiser);
  g_free (link_and_complete (fixture, "tiktok-account", "Audit Business", NULL));
  g_free (link_and_complete (fixture, "creator-marketplace", "Audit Business", "account"));
  g_free (link_and_complete (fixture, "creator-marketplace", "Audit Business", "creator"));

  /* Quick Connect: the App Secret on stdin, no app profile. */
  qc_url = g_strdup_printf ("http://127.0.0.1:%u/_host/services.tiktokshop.com/open/authorize"
                            "?service_id=" SHOP_SERVICE_ID, fixture->sandbox_port);
  qc_redirect = approve (qc_url);
  qc_input = g_strdup_printf ("%s\n%s\n", SHOP_SECRET, qc_redirect);
  g_assert_cmpint (run_cli (fixture, qc_input, NULL, "quick-connect", "-"), ==, 0);

  g_assert_cmpint (run_cli (fixture, NULL, NULL, "list"), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "list", "--json"), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "shops", seller), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "shops", "--json", advertiser), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "remove", advertiser), ==, 0);

  /* The debug output really was on: an audit of silent runs would prove nothing. */
  g_assert_nonnull (strstr (fixture->captured->str, "-DEBUG"));
  g_assert_nonnull (strstr (fixture->captured->str, "): kh-"));

  g_assert_cmpuint (sandbox_request (fixture, "GET", "/_sandbox/ledger", NULL, &ledger), ==, 200);
  node = kh_json_parse (ledger, strlen (ledger), &error);
  g_assert_no_error (error);
  secrets = kh_json_get_array (kh_json_node_object (node), "secrets");
  g_assert_nonnull (secrets);

  leaks = count_leaks (secrets, fixture->captured->str, "keyhold-cli output and logs", &checked);
  g_test_message ("%u ledger secrets checked against %zu bytes of output", checked,
                  fixture->captured->len);
  /* Seven authorizations and a Quick Connect: at least a code, a state and a token each. */
  g_assert_cmpuint (checked, >=, 16);
  g_assert_null (strstr (fixture->captured->str, SHOP_SECRET));
  g_assert_null (strstr (fixture->captured->str, BIZ_SECRET));

  /* The index and anything else in the data directory are not secret: no token may be there. */
  collect_files (fixture->data_dir, files);
  g_assert_cmpuint (files->len, >, 0);
  leaks += count_leaks (secrets, files->str, "the data directory", &checked);
  g_assert_null (strstr (files->str, SHOP_SECRET));
  g_assert_null (strstr (files->str, BIZ_SECRET));

  g_assert_cmpuint (leaks, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add ("/keyhold/leak-audit/all-flows", Fixture, NULL, fixture_set_up, test_all_flows,
              fixture_tear_down);

  return g_test_run ();
}
