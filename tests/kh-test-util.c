/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-util.c: what every Keyhold test needs: a private environment, main-loop waits that
 * never sleep, free ports, a tiny loopback HTTP client, and an in-process sandbox. */

#define G_LOG_DOMAIN "kh-test-util"

#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "kh-test-util.h"

#include "kh-json.h"
#include "kh-log.h"
#include "kh-origin-map.h"

#ifdef KH_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

static char *test_tmpdir;

/* CI's leak audit (.ci/leak-scan) reads every history file a test run wrote: before the test's
 * files go, each history.jsonl under dir is appended to <KEYHOLD_SANDBOX_SECRETS_FILE>.history. */
static void
keep_history_files (const char *dir,
                    int         out)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *data = NULL;
      gsize length;

      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        keep_history_files (path, out);
      else if (g_str_equal (name, "history.jsonl")
               && g_file_get_contents (path, &data, &length, NULL))
        {
          /* One write under O_APPEND: test processes ending at once do not mix their lines. */
          if (write (out, data, length) != (ssize_t) length)
            g_printerr ("could not keep %s for the leak audit\n", path);
        }
    }
}

static void
remove_tmpdir (void)
{
  const char *audit = g_getenv ("KEYHOLD_SANDBOX_SECRETS_FILE");

  if (test_tmpdir == NULL)
    return;

  if (audit != NULL && *audit != '\0')
    {
      g_autofree char *history = g_strconcat (audit, ".history", NULL);
      int out = open (history, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

      if (out >= 0)
        {
          keep_history_files (test_tmpdir, out);
          close (out);
        }
    }

  /* A failing test keeps its files for inspection when KEYHOLD_TEST_KEEP is set. */
  if (g_getenv ("KEYHOLD_TEST_KEEP") == NULL)
    {
      g_autofree char *cmd = NULL;
      g_autofree char *quoted = g_shell_quote (test_tmpdir);
      int status;

      cmd = g_strdup_printf ("rm -rf %s", quoted);
      if (!g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL))
        g_printerr ("could not remove %s\n", test_tmpdir);
    }

  g_clear_pointer (&test_tmpdir, g_free);
}

void
kh_test_init (int    *argc,
              char ***argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *runtime_dir = NULL;
  g_autofree char *store = NULL;

  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* The programs' own writer: redacted, and on stderr, where GLib's would put debug lines on
   * stdout among the TAP output. */
  kh_log_init ();

  test_tmpdir = g_dir_make_tmp ("keyhold-test-XXXXXX", &error);
  g_assert_no_error (error);
  atexit (remove_tmpdir);

  data_dir = g_build_filename (test_tmpdir, "data", NULL);
  runtime_dir = g_build_filename (test_tmpdir, "run", NULL);
  g_assert_cmpint (g_mkdir_with_parents (data_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (runtime_dir, 0700), ==, 0);

  /* A store name unique to this process keeps its keyring items apart from every other test
   * running at the same time against the same gnome-keyring. */
  {
    g_autofree char *program = g_path_get_basename (g_get_prgname () ? g_get_prgname () : "kh");

    store = g_strdup_printf ("%s-%d-%08x", program, (int) getpid (), g_random_int ());
  }
  g_setenv ("KEYHOLD_DATA_DIR", data_dir, TRUE);
  g_setenv ("KEYHOLD_RUNTIME_DIR", runtime_dir, TRUE);
  g_setenv ("KEYHOLD_STORE", store, TRUE);
  g_unsetenv ("KEYHOLD_ORIGIN_MAP");
  g_unsetenv ("KEYHOLD_CLOCK_OFFSET");
  kh_origin_map_set (NULL, NULL);
}

const char *
kh_test_get_tmpdir (void)
{
  g_assert_nonnull (test_tmpdir);
  return test_tmpdir;
}

static gboolean
timeout_cb (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

void
kh_test_wait_until (KhTestCondition condition,
                    gpointer        user_data,
                    guint           timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id;

  id = g_timeout_add (timeout_ms, timeout_cb, &timed_out);
  while (!condition (user_data) && !timed_out)
    g_main_context_iteration (NULL, TRUE);

  /* The condition may have come true in the very iteration the timeout fired in. */
  if (!condition (user_data))
    g_error ("condition not met within %u ms", timeout_ms);

  if (!timed_out)
    g_source_remove (id);
}

static gboolean
flag_is_set (gpointer user_data)
{
  return *(gboolean *) user_data;
}

gboolean
kh_test_under_valgrind (void)
{
#ifdef KH_HAVE_VALGRIND_H
  return RUNNING_ON_VALGRIND != 0;
#else
  return FALSE;
#endif
}

void
kh_test_wait_flag (gboolean *flag,
                   guint     timeout_ms)
{
  kh_test_wait_until (flag_is_set, flag, timeout_ms);
}

static gboolean
result_is_set (gpointer user_data)
{
  return *(GAsyncResult **) user_data != NULL;
}

GAsyncResult *
kh_test_wait_result (GAsyncResult **result,
                     guint          timeout_ms)
{
  kh_test_wait_until (result_is_set, result, timeout_ms);
  return g_steal_pointer (result);
}

void
kh_test_store_result_cb (GObject      *source,
                         GAsyncResult *res,
                         gpointer      user_data)
{
  GAsyncResult **result = user_data;

  g_assert_null (*result);
  *result = g_object_ref (res);
}

guint
kh_test_server_get_port (SoupServer *server)
{
  GSList *listeners = soup_server_get_listeners (server);
  g_autoptr(GSocketAddress) local = NULL;

  g_assert_nonnull (listeners);
  local = g_socket_get_local_address (listeners->data, NULL);
  g_slist_free (listeners);
  g_assert_true (G_IS_INET_SOCKET_ADDRESS (local));

  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
}

guint
kh_test_free_port (void)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (listener);

  return port;
}

static gboolean
is_loopback_uri (GUri *uri)
{
  const char *host = g_uri_get_host (uri);

  return host != NULL &&
         (g_str_equal (host, "127.0.0.1") || g_str_equal (host, "::1") ||
          g_str_equal (host, "[::1]") || g_str_equal (host, "localhost"));
}

guint
kh_test_http_request (SoupSession  *session,
                      const char   *method,
                      const char   *url,
                      const char   *json_body,
                      char        **body_out,
                      char        **location_out)
{
  g_autoptr(SoupSession) own_session = session == NULL ? soup_session_new () : NULL;
  g_autoptr(GUri) parsed = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  parsed = g_uri_parse (url, G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  g_assert_true (is_loopback_uri (parsed));

  msg = soup_message_new_from_uri (method, parsed);
  if (json_body != NULL)
    {
      g_autoptr(GBytes) request = g_bytes_new (json_body, strlen (json_body));

      soup_message_set_request_body_from_bytes (msg, "application/json", request);
    }
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  body = soup_session_send_and_read (session != NULL ? session : own_session, msg, NULL, &error);
  g_assert_no_error (error);

  if (body_out != NULL)
    *body_out = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  if (location_out != NULL)
    *location_out = g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                            "Location"));
  return soup_message_get_status (msg);
}

guint
kh_test_http_get (const char  *url,
                  gboolean     follow_redirects,
                  char       **body_out,
                  char       **final_url_out)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(SoupSession) session = NULL;
  g_autofree char *current = g_strdup (url);
  guint status = 0;

  g_main_context_push_thread_default (context);
  session = soup_session_new_with_options ("timeout", 30, NULL);

  for (guint hops = 0; hops < 10; hops++)
    {
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GUri) parsed = NULL;
      const char *location;

      parsed = g_uri_parse (current, G_URI_FLAGS_NONE, &error);
      g_assert_no_error (error);
      /* Tests never reach the internet: a redirect elsewhere is a test failure. */
      g_assert_true (is_loopback_uri (parsed));

      msg = soup_message_new_from_uri ("GET", parsed);
      soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
      body = soup_session_send_and_read (session, msg, NULL, &error);
      if (error != NULL)
        {
          status = 0;
          if (body_out != NULL)
            *body_out = g_strdup (error->message);
          break;
        }

      status = soup_message_get_status (msg);
      location = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                               "Location");
      if (follow_redirects && SOUP_STATUS_IS_REDIRECTION (status) && location != NULL)
        {
          g_autoptr(GUri) next = g_uri_parse_relative (parsed, location, G_URI_FLAGS_NONE, &error);

          g_assert_no_error (error);
          g_free (current);
          current = g_uri_to_string (next);
          continue;
        }

      if (body_out != NULL)
        {
          gsize size;
          const char *data = g_bytes_get_data (body, &size);

          *body_out = g_strndup (data, size);
        }
      break;
    }

  if (final_url_out != NULL)
    *final_url_out = g_steal_pointer (&current);

  g_clear_object (&session);
  g_main_context_pop_thread_default (context);

  return status;
}

char *
kh_test_build_path (const char *relative)
{
  const char *builddir = g_getenv ("KEYHOLD_TEST_BUILDDIR");

  g_assert_nonnull (builddir);

  return g_build_filename (builddir, relative, NULL);
}

void
kh_test_die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

GSubprocess *
kh_test_sandbox_spawn (const char * const *extra_args,
                       guint              *port_out,
                       char              **origin_map_out)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *sandbox;
  guint port = kh_test_free_port ();

  g_ptr_array_add (argv, kh_test_build_path ("src/sandbox/keyhold-sandbox"));
  g_ptr_array_add (argv, g_strdup ("--port"));
  g_ptr_array_add (argv, g_strdup_printf ("%u", port));
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra_args[i]));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, kh_test_die_with_parent, NULL, NULL);
  sandbox = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  /* It announces its address, then its origin map, once it listens. */
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (sandbox));
  for (;;)
    {
      g_autofree char *line = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (line);
      if (g_str_has_prefix (line, "KEYHOLD_ORIGIN_MAP="))
        {
          if (origin_map_out != NULL)
            *origin_map_out = g_strdup (line + strlen ("KEYHOLD_ORIGIN_MAP="));
          break;
        }
    }

  if (port_out != NULL)
    *port_out = port;

  return sandbox;
}

void
kh_test_write_chromium_wrapper (const char *path,
                                const char *chromium,
                                const char *args_file)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *script = NULL;
  g_autoptr(GError) error = NULL;

  script = g_strdup_printf ("#!/bin/sh\n"
                            "printf '%%s\\n' \"$@\" > '%s'\n"
                            "exec '%s' " KH_TEST_CHROMIUM_FLAGS " --dump-dom \"$@\" "
                            ">/dev/null 2>&1\n", args_file, chromium);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (path, script, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, 0700), ==, 0);
}

void
kh_test_assert_chromium_profile (const char *args_file,
                                 const char *user_data_dir,
                                 const char *directory)
{
  g_autofree char *args = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *profile_dir = g_build_filename (user_data_dir, directory, NULL);
  g_autoptr(GError) error = NULL;

  g_file_get_contents (args_file, &args, NULL, &error);
  g_assert_no_error (error);
  expected = g_strdup_printf ("--user-data-dir=%s\n--profile-directory=%s\n", user_data_dir,
                              directory);
  g_assert_true (g_str_has_prefix (args, expected));
  g_assert_true (g_file_test (profile_dir, G_FILE_TEST_IS_DIR));
}

guint
kh_test_env_uint (const char *name,
                  guint       fallback)
{
  const char *value = g_getenv (name);
  guint64 parsed;

  if (value == NULL || !g_ascii_string_to_unsigned (value, 10, 1, G_MAXUINT32, &parsed, NULL))
    return fallback;
  return (guint) parsed;
}

JsonObject *
kh_test_ledger_find_token (JsonObject *authorization,
                           const char *token)
{
  JsonArray *tokens = kh_json_get_array (authorization, "tokens");

  for (guint j = 0; tokens != NULL && j < json_array_get_length (tokens); j++)
    {
      JsonObject *item = json_array_get_object_element (tokens, j);

      if (g_strcmp0 (kh_json_get_string (item, "token"), token) == 0)
        return item;
    }
  return NULL;
}

JsonObject *
kh_test_ledger_find_authorization (JsonNode   *ledger,
                                   const char *token)
{
  JsonArray *list = kh_json_get_array (kh_json_node_object (ledger), "authorizations");

  for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
    {
      JsonObject *auth = json_array_get_object_element (list, i);

      if (kh_test_ledger_find_token (auth, token) != NULL)
        return auth;
    }
  return NULL;
}

KhGrant *
kh_test_seed_seller (KhStore       *store,
                     KhTokenClient *client,
                     KhAppProfile  *app,
                     const char    *app_secret,
                     const char    *code,
                     const char    *display_name,
                     const char    *client_label,
                     const char    *region,
                     char         **refresh_out)
{
  GAsyncResult *pending = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  KhGrant *grant;

  kh_token_client_exchange_async (client, app, app_secret, KH_TOKEN_KIND_SHOP, code, NULL, NULL,
                                  kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, 120000);
  response = kh_token_client_exchange_finish (client, result, &error);
  g_assert_no_error (error);

  grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, kh_app_profile_get_name (app));
  kh_grant_set_display_name (grant, display_name);
  kh_grant_set_client_label (grant, client_label);
  kh_grant_set_region (grant, region);
  kh_grant_set_open_id (grant, response->open_id);
  kh_grant_set_expiries_from_tokens (grant, response->tokens);
  g_assert_true (kh_store_save_grant (store, grant, response->tokens, &error));
  g_assert_no_error (error);

  if (refresh_out != NULL)
    *refresh_out = g_strdup (response->tokens->refresh_token);
  return grant;
}

char *
kh_test_query_value (const char *url,
                     const char *name)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (url);
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, &error);
  g_assert_no_error (error);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (g_hash_table_lookup (params, name));
  return g_strdup (g_hash_table_lookup (params, name));
}
