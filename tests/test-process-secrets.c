/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-process-secrets.c: DESIGN security rule 4 seen from outside. While keyhold-cli authorize
 * waits on its listener and exchanges the code, while token refreshes, while quick-connect
 * (app secret on stdin) exchanges, and while keyhold-sandbox serves them all, this test reads
 * /proc/PID/cmdline and /proc/PID/environ of each running process, every few milliseconds, as
 * any other process of the user could. None may hold an app secret, token, code or state the
 * sandbox recorded in its ledger. Each call is slowed down by an injected delay so that the
 * processes are caught in the middle of their work. */

#include "config.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "kh-json.h"
#include "kh-test-cli.h"
#include "kh-test-util.h"

#define SHOP_KEY        "procsecretsshop"
#define SHOP_SECRET     "proc-shop-secret-5d1f0a9b7c"
#define SHOP_SERVICE_ID "7300000000000000001"
#define DAY             (24 * 3600)
#define WAIT_MS         60000

typedef struct {
  GSubprocess *sandbox;
  guint        port;
  char        *origin_map;
  char        *redirect_uri;
  char        *data_dir;
  char        *store;
  gint64       offset;
  GString     *seen;      /* everything read from /proc, NULs turned into newlines */
  guint        samples;
} Fixture;

#define build_path kh_test_build_path

static guint
sandbox_request (Fixture     *f,
                 const char  *method,
                 const char  *path,
                 const char  *json_body,
                 char       **body_out)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", f->port, path);

  return kh_test_http_request (NULL, method, url, json_body, body_out, NULL);
}

static void
delay_next_call (Fixture    *f,
                 const char *path)
{
  g_autofree char *body = g_strdup_printf ("{\"path\":\"%s\",\"delay_ms\":1500}", path);

  g_assert_cmpuint (sandbox_request (f, "POST", "/_sandbox/faults", body, NULL), ==, 200);
}

/* ---- reading /proc ------------------------------------------------------------------------- */

/* Returns whether the process was still there (its command line readable and non-empty). */
static gboolean
sample_pid (Fixture    *f,
            const char *pid)
{
  static const char * const files[] = { "cmdline", "environ" };
  gboolean alive = FALSE;

  if (pid == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%s/%s", pid, files[i]);
      g_autofree char *contents = NULL;
      gsize length = 0;

      if (!g_file_get_contents (path, &contents, &length, NULL) || length == 0)
        continue;
      for (gsize j = 0; j < length; j++)
        if (contents[j] == '\0')
          contents[j] = '\n';
      g_string_append_len (f->seen, contents, length);
      g_string_append_c (f->seen, '\n');
      if (i == 0)
        alive = TRUE;
    }
  if (alive)
    f->samples++;
  return alive;
}

typedef struct {
  Fixture     *f;
  GSubprocess *process;
  guint        alive_samples;
  gboolean     done;
  char        *out;
} Watch;

static gboolean
sample_cb (gpointer user_data)
{
  Watch *w = user_data;

  if (sample_pid (w->f, g_subprocess_get_identifier (w->process)))
    w->alive_samples++;
  sample_pid (w->f, g_subprocess_get_identifier (w->f->sandbox));
  return G_SOURCE_CONTINUE;
}

static void
communicate_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Watch *w = user_data;
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &w->out, NULL, &error);
  g_assert_no_error (error);
  w->done = TRUE;
}

static GSubprocess *
spawn_cli (Fixture             *f,
           GSubprocessFlags     flags,
           const char * const  *args)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *offset = g_strdup_printf ("%" G_GINT64_FORMAT, f->offset);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_setenv (launcher, "KEYHOLD_ORIGIN_MAP", f->origin_map, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_DATA_DIR", f->data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_STORE", f->store, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_CLOCK_OFFSET", offset, TRUE);
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "all", TRUE);
  g_subprocess_launcher_set_child_setup (launcher, kh_test_die_with_parent, NULL, NULL);

  g_ptr_array_add (argv, build_path ("src/cli/keyhold-cli"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

/* Runs keyhold-cli, sampling it (and the sandbox) every 2 ms until it exits. */
static int
run_watched (Fixture             *f,
             const char          *stdin_text,
             char               **out,
             const char * const  *args)
{
  Watch w = { f, NULL, 0, FALSE, NULL };
  guint source;
  int status;

  w.process = spawn_cli (f, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                            G_SUBPROCESS_FLAGS_STDERR_MERGE, args);
  sample_cb (&w);
  source = g_timeout_add (2, sample_cb, &w);
  g_subprocess_communicate_utf8_async (w.process, stdin_text != NULL ? stdin_text : "", NULL,
                                       communicate_cb, &w);
  kh_test_wait_flag (&w.done, WAIT_MS);
  g_source_remove (source);

  g_test_message ("%s: %u samples while running; output:\n%s", args[0], w.alive_samples, w.out);
  /* Seen at work (a delayed call keeps it alive for 1.5 s, so it is seen many times). */
  g_assert_cmpuint (w.alive_samples, >=, 1);
  status = g_subprocess_get_if_exited (w.process) ? g_subprocess_get_exit_status (w.process) : -1;
  g_object_unref (w.process);
  if (out != NULL)
    *out = g_steal_pointer (&w.out);
  g_free (w.out);
  return status;
}

#define run_cli(f, stdin_text, out, ...) \
  run_watched ((f), (stdin_text), (out), (const char * const []) { __VA_ARGS__, NULL })

/* ---- the fixture --------------------------------------------------------------------------- */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *app = NULL;
  static guint counter;

  f->sandbox = kh_test_sandbox_spawn (NULL, &f->port, &f->origin_map);

  f->redirect_uri = g_strdup_printf ("http://localhost:%u/callback", kh_test_free_port ());
  f->data_dir = g_strdup_printf ("%s/process-secrets-%u", kh_test_get_tmpdir (), counter);
  f->store = g_strdup_printf ("%s-procsecrets-%u", g_getenv ("KEYHOLD_STORE"), counter++);
  f->seen = g_string_new (NULL);

  app = g_strdup_printf ("{\"family\":\"shop\",\"app_key\":\"" SHOP_KEY "\","
                         "\"app_secret\":\"" SHOP_SECRET "\",\"service_id\":\"" SHOP_SERVICE_ID
                         "\",\"redirect_uri\":\"%s\"}", f->redirect_uri);
  g_assert_cmpuint (sandbox_request (f, "POST", "/_sandbox/apps", app, NULL), ==, 200);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_subprocess_force_exit (f->sandbox);
  g_subprocess_wait (f->sandbox, NULL, NULL);
  g_clear_object (&f->sandbox);
  g_free (f->origin_map);
  g_free (f->redirect_uri);
  g_free (f->data_dir);
  g_free (f->store);
  g_string_free (f->seen, TRUE);
}

/* ---- the browser, in a thread so that sampling goes on while the CLI exchanges ------------- */

static void
exited_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Watch *w = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  w->done = TRUE;
}

static void
browser_thread (GTask        *task,
                gpointer      source,
                gpointer      task_data,
                GCancellable *cancellable)
{
  g_autofree char *page = NULL;

  kh_test_http_get (task_data, TRUE, &page, NULL);
  g_task_return_pointer (task, g_steal_pointer (&page), g_free);
}

/* authorize --no-browser: sampled while it waits on its listener, and while it exchanges. */
static char *
authorize (Fixture *f)
{
  const char *args[] = { "authorize", "--type", "seller", "--app", "Shop App", "--no-browser",
                         "--timeout", "60", NULL };
  Watch w = { f, NULL, 0, FALSE, NULL };
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GTask) task = NULL;
  GAsyncResult *pending = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *url = NULL;
  g_autoptr(GError) error = NULL;
  guint source;
  char *line;

  delay_next_call (f, "/api/v2/token/get");
  w.process = spawn_cli (f, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                         args);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (w.process));
  while (url == NULL &&
         (line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error)) != NULL)
    {
      g_string_append_printf (out, "%s\n", line);
      if (g_str_has_prefix (line, "URL: "))
        url = g_strdup_printf ("%s&auto=approve", line + strlen ("URL: "));
      g_free (line);
    }
  g_assert_no_error (error);
  g_assert_nonnull (url);

  /* Waiting on its listener, with the state in memory. */
  g_assert_true (sample_pid (f, g_subprocess_get_identifier (w.process)));

  source = g_timeout_add (2, sample_cb, &w);
  task = g_task_new (NULL, NULL, kh_test_store_result_cb, &pending);
  g_task_set_task_data (task, g_strdup (url), g_free);
  g_task_run_in_thread (task, browser_thread);
  result = kh_test_wait_result (&pending, WAIT_MS);
  /* The listener answered the browser; the exchange (delayed 1.5 s) follows. */
  g_subprocess_wait_async (w.process, NULL, exited_cb, &w);
  kh_test_wait_flag (&w.done, WAIT_MS);
  g_source_remove (source);
  g_test_message ("authorize: %u samples during the exchange", w.alive_samples);
  g_assert_cmpuint (w.alive_samples, >, 10);

  while ((line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error)) != NULL)
    {
      g_string_append_printf (out, "%s\n", line);
      g_free (line);
    }
  g_assert_no_error (error);
  g_subprocess_wait (w.process, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("authorize output:\n%s", out->str);
  g_assert_cmpint (g_subprocess_get_exit_status (w.process), ==, 0);
  g_object_unref (w.process);

  return kh_test_line_value (out->str, "GRANT: ");
}

static char *
approved_redirect (Fixture *f)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/_host/services.tiktokshop.com"
                                          "/open/authorize?service_id=" SHOP_SERVICE_ID, f->port);

  return kh_test_cli_approve (url);
}

/* ---- the test ------------------------------------------------------------------------------ */

static void
test_running_processes (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *grant = NULL;
  g_autofree char *out = NULL;
  g_autofree char *redirect = NULL;
  g_autofree char *input = NULL;
  g_autofree char *ledger = NULL;
  g_autofree char *advance = g_strdup_printf ("{\"advance\":%d}", 8 * DAY);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *secrets;
  guint checked = 0;

  /* app add: the secret goes in on stdin. */
  g_assert_cmpint (run_cli (f, SHOP_SECRET "\n", NULL, "app", "add", "--family", "shop",
                            "--name", "Shop App", "--app-key", SHOP_KEY, "--service-id",
                            SHOP_SERVICE_ID, "--redirect-uri", f->redirect_uri), ==, 0);

  grant = authorize (f);
  g_assert_nonnull (grant);

  /* token: the 7-day access token is dead eight days on, so it refreshes (slowly). */
  g_assert_cmpuint (sandbox_request (f, "POST", "/_sandbox/clock", advance, NULL), ==, 200);
  f->offset += 8 * DAY;
  delay_next_call (f, "/api/v2/token/refresh");
  g_assert_cmpint (run_cli (f, NULL, &out, "token", grant), ==, 0);
  g_clear_pointer (&out, g_free);

  /* refresh, the same way. */
  delay_next_call (f, "/api/v2/token/refresh");
  g_assert_cmpint (run_cli (f, NULL, NULL, "refresh", grant), ==, 0);

  /* quick-connect: secret and redirected URL on stdin. */
  redirect = approved_redirect (f);
  input = g_strdup_printf (SHOP_SECRET "\n%s\n", redirect);
  delay_next_call (f, "/api/v2/token/get");
  g_assert_cmpint (run_cli (f, input, &out, "quick-connect", "-"), ==, 0);
  g_assert_nonnull (kh_test_line_value (out, "GRANT: "));

  /* And the sandbox, which holds every secret in memory, after all of it. */
  g_assert_true (sample_pid (f, g_subprocess_get_identifier (f->sandbox)));

  g_assert_cmpuint (sandbox_request (f, "GET", "/_sandbox/ledger", NULL, &ledger), ==, 200);
  node = kh_json_parse (ledger, strlen (ledger), &error);
  g_assert_no_error (error);
  secrets = kh_json_get_array (kh_json_node_object (node), "secrets");
  g_assert_nonnull (secrets);
  g_assert_cmpuint (json_array_get_length (secrets), >, 5);

  g_test_message ("%u samples, %" G_GSIZE_FORMAT " bytes of cmdline and environ read",
                  f->samples, f->seen->len);
  g_assert_nonnull (strstr (f->seen->str, "keyhold-cli"));
  g_assert_nonnull (strstr (f->seen->str, "KEYHOLD_ORIGIN_MAP="));
  g_assert_null (strstr (f->seen->str, SHOP_SECRET));
  for (guint i = 0; i < json_array_get_length (secrets); i++)
    {
      const char *secret = json_array_get_string_element (secrets, i);

      if (secret == NULL || strlen (secret) < 8)
        continue;
      checked++;
      if (strstr (f->seen->str, secret) != NULL)
        g_error ("a secret (%.4s...) is in a running process's cmdline or environ", secret);
    }
  g_test_message ("%u ledger secrets checked against /proc: leaks found 0", checked);
  g_assert_cmpuint (checked, >, 5);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add ("/keyhold/process-secrets/running-processes", Fixture, NULL, fixture_setup,
              test_running_processes, fixture_teardown);

  return g_test_run ();
}
