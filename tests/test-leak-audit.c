/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-leak-audit.c: the secret-leak audit. Every flow keyhold-cli offers runs against the real
 * keyhold-sandbox with G_MESSAGES_DEBUG=all; then every secret the sandbox recorded in its ledger
 * (tokens, codes, states, app secrets) must be absent from everything Keyhold printed or logged,
 * and from the non-secret files it wrote. */

#include "config.h"

#include <string.h>

#include "kh-json.h"
#include "kh-store.h"
#include "kh-test-cli.h"
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
  KhTestCli    cli;
  GString     *captured;     /* everything every keyhold-cli run printed or logged */
} Fixture;

/* ---- the fixture -------------------------------------------------------------------------- */

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  const char *scopes[] = { "seller.authorization.info", "creator.affiliate.info",
                           "partner.tap.info", NULL };

  kh_test_cli_set_up (&fixture->cli, "leak-audit", NULL);
  /* Only exit statuses go to the test log: the output itself is what is being audited. */
  fixture->cli.quiet = TRUE;
  /* The point of the audit: every debug message of every domain is printed and scanned. */
  kh_test_cli_setenv (&fixture->cli, "G_MESSAGES_DEBUG", "all");
  fixture->captured = g_string_new (NULL);

  kh_test_cli_register_app (&fixture->cli, "shop", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID, scopes);
  kh_test_cli_register_app (&fixture->cli, "business", BIZ_ID, BIZ_SECRET, NULL, NULL);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  kh_test_cli_tear_down (&fixture->cli);
  g_string_free (fixture->captured, TRUE);
}

/* ---- keyhold-cli with every debug message on ---------------------------------------------- */

static int
run_cli_argv (Fixture            *fixture,
              const char         *stdin_text,
              char              **stdout_out,
              const char * const *args)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status = kh_test_cli_run (&fixture->cli, stdin_text, &out, &err, args);

  g_string_append (fixture->captured, out);
  g_string_append (fixture->captured, err);
  g_test_message ("keyhold-cli %s -> %d (%zu bytes of output)", args[0], status,
                  strlen (out) + strlen (err));
  if (status != 0)
    {
      const char *last = strrchr (g_strchomp (err), '\n');

      /* A failure message names what went wrong; Keyhold keeps secrets out of it too. */
      g_test_message ("stderr, last line: %s", last != NULL ? last + 1 : err);
    }

  if (stdout_out != NULL)
    *stdout_out = g_steal_pointer (&out);
  return status;
}

#define run_cli(fixture, stdin_text, out, ...) \
  run_cli_argv ((fixture), (stdin_text), (out), (const char * const []) { __VA_ARGS__, NULL })

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
  url = kh_test_line_value (out, "URL: ");
  g_assert_nonnull (url);
  /* The link is link's deliverable: it goes to the client and must carry the state. That one line
   * is all that may hold it (stdout came first in captured), never a log message. */
  {
    g_autofree char *line = g_strconcat ("URL: ", url, NULL);

    g_assert_cmpuint (g_string_replace (fixture->captured, line, "URL: [the link]", 1), ==, 1);
  }

  redirected = kh_test_cli_approve (url);
  g_assert_cmpint (run_cli (fixture, NULL, &complete_out, "complete", redirected), ==, 0);
  return kh_test_line_value (complete_out, "GRANT: ");
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
  g_autofree char *seller = NULL;
  g_autofree char *advertiser = NULL;
  g_autofree char *qc_redirect = NULL;
  g_autofree char *qc_input = NULL;
  g_autofree char *qc_url = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GString) files = g_string_new (NULL);
  JsonArray *secrets;
  guint checked;
  guint leaks;

  g_assert_cmpint (run_cli (fixture, SHOP_SECRET "\n", NULL, "app", "add", "--family", "shop",
                            "--name", "Audit Shop", "--app-key", SHOP_KEY,
                            "--service-id", SHOP_SERVICE_ID, "--redirect-uri",
                            fixture->cli.redirect_uri, "--scopes", "creator.affiliate.info"), ==, 0);
  g_assert_cmpint (run_cli (fixture, BIZ_SECRET "\n", NULL, "app", "add", "--family", "business",
                            "--name", "Audit Business", "--app-key", BIZ_ID,
                            "--redirect-uri", fixture->cli.redirect_uri), ==, 0);

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
                            "?service_id=" SHOP_SERVICE_ID, fixture->cli.sandbox_port);
  qc_redirect = kh_test_cli_approve (qc_url);
  qc_input = g_strdup_printf ("%s\n%s\n", SHOP_SECRET, qc_redirect);
  g_assert_cmpint (run_cli (fixture, qc_input, NULL, "quick-connect", "-"), ==, 0);

  g_assert_cmpint (run_cli (fixture, NULL, NULL, "list"), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "list", "--json"), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "shops", seller), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "shops", "--json", advertiser), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "remove", advertiser), ==, 0);

  /* What the history records: refreshes, tokens handed out, exports (their stderr only: stdout
   * is the token on purpose), and the history read back in both forms. */
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "refresh", seller), ==, 0);
  {
    g_autofree char *token_err = NULL;
    g_autofree char *export_err = NULL;

    g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, NULL, &token_err, "token", seller),
                     ==, 0);
    g_assert_cmpint (kh_test_cli_run_args (&fixture->cli, NULL, NULL, &export_err, "export",
                                           seller, "--format", "mcp-shops"), ==, 0);
    g_string_append (fixture->captured, token_err);
    g_string_append (fixture->captured, export_err);
  }
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "history"), ==, 0);
  g_assert_cmpint (run_cli (fixture, NULL, NULL, "history", "--json"), ==, 0);

  /* The debug output really was on: an audit of silent runs would prove nothing. */
  g_assert_nonnull (strstr (fixture->captured->str, "-DEBUG"));
  g_assert_nonnull (strstr (fixture->captured->str, "): kh-"));

  node = kh_test_cli_ledger (&fixture->cli);
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
  collect_files (fixture->cli.data_dir, files);
  g_assert_cmpuint (files->len, >, 0);
  leaks += count_leaks (secrets, files->str, "the data directory", &checked);
  g_assert_null (strstr (files->str, SHOP_SECRET));
  g_assert_null (strstr (files->str, BIZ_SECRET));

  /* The history file, on its own: it exists, recorded those events, and holds no secret. */
  {
    g_autofree char *dir = kh_store_dup_dir (fixture->cli.data_dir, fixture->cli.store, NULL);
    g_autofree char *path = g_build_filename (dir, "history.jsonl", NULL);
    g_autofree char *history = NULL;

    g_assert_true (g_file_get_contents (path, &history, NULL, NULL));
    g_assert_nonnull (strstr (history, "\"action\":\"authorized\""));
    g_assert_nonnull (strstr (history, "\"action\":\"refreshed\""));
    g_assert_nonnull (strstr (history, "\"action\":\"token-read\""));
    g_assert_nonnull (strstr (history, "\"action\":\"exported\""));
    g_assert_nonnull (strstr (history, "\"action\":\"removed\""));
    leaks += count_leaks (secrets, history, "the history file", &checked);
    g_assert_null (strstr (history, SHOP_SECRET));
    g_assert_null (strstr (history, BIZ_SECRET));
  }

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
