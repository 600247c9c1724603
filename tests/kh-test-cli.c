/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-cli.c: the shared fixture of the end-to-end suites that run keyhold-sandbox and
 * keyhold-cli as separate processes, as scripts do. */

#define G_LOG_DOMAIN "kh-test-util"

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "kh-test-cli.h"

#include "kh-json.h"
#include "kh-test-util.h"

void
kh_test_cli_set_up (KhTestCli          *cli,
                    const char         *name,
                    const char * const *sandbox_args)
{
  static guint counter;
  guint n = counter++;

  cli->sandbox = kh_test_sandbox_spawn (sandbox_args, &cli->sandbox_port, &cli->origin_map);
  cli->redirect_port = kh_test_free_port ();
  cli->redirect_uri = g_strdup_printf ("http://localhost:%u/callback", cli->redirect_port);
  cli->data_dir = g_strdup_printf ("%s/%s-%u", kh_test_get_tmpdir (), name, n);
  /* Store names allow letters, digits, '-', '_' and '.'; the pid keeps concurrent runs apart. */
  cli->store = g_strdup_printf ("%s-%d-%u", name, (int) getpid (), n);
  cli->env = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

void
kh_test_cli_tear_down (KhTestCli *cli)
{
  g_subprocess_force_exit (cli->sandbox);
  g_subprocess_wait (cli->sandbox, NULL, NULL);
  g_clear_object (&cli->sandbox);
  g_clear_pointer (&cli->origin_map, g_free);
  g_clear_pointer (&cli->redirect_uri, g_free);
  g_clear_pointer (&cli->data_dir, g_free);
  g_clear_pointer (&cli->store, g_free);
  g_clear_pointer (&cli->env, g_hash_table_unref);
}

void
kh_test_cli_setenv (KhTestCli  *cli,
                    const char *variable,
                    const char *value)
{
  g_hash_table_replace (cli->env, g_strdup (variable), g_strdup (value));
}

guint
kh_test_cli_sandbox_request (KhTestCli   *cli,
                             const char  *method,
                             const char  *path,
                             const char  *json_body,
                             char       **body_out)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", cli->sandbox_port, path);

  return kh_test_http_request (NULL, method, url, json_body, body_out, NULL);
}

JsonNode *
kh_test_cli_ledger (KhTestCli *cli)
{
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node;

  g_assert_cmpuint (kh_test_cli_sandbox_request (cli, "GET", "/_sandbox/ledger", NULL, &text),
                    ==, 200);
  node = kh_json_parse (text, strlen (text), &error);
  g_assert_no_error (error);

  return node;
}

void
kh_test_cli_register_app (KhTestCli          *cli,
                          const char         *family,
                          const char         *app_key,
                          const char         *app_secret,
                          const char         *service_id,
                          const char * const *scopes)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "family");
  json_builder_add_string_value (builder, family);
  json_builder_set_member_name (builder, "app_key");
  json_builder_add_string_value (builder, app_key);
  json_builder_set_member_name (builder, "app_secret");
  json_builder_add_string_value (builder, app_secret);
  if (service_id != NULL)
    {
      json_builder_set_member_name (builder, "service_id");
      json_builder_add_string_value (builder, service_id);
    }
  json_builder_set_member_name (builder, "redirect_uri");
  json_builder_add_string_value (builder, cli->redirect_uri);
  if (scopes != NULL)
    {
      json_builder_set_member_name (builder, "scopes");
      json_builder_begin_array (builder);
      for (guint i = 0; scopes[i] != NULL; i++)
        json_builder_add_string_value (builder, scopes[i]);
      json_builder_end_array (builder);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json = json_to_string (root, FALSE);
  g_assert_cmpuint (kh_test_cli_sandbox_request (cli, "POST", "/_sandbox/apps", json, NULL), ==,
                    200);
}

GSubprocessLauncher *
kh_test_cli_launcher (KhTestCli        *cli,
                      GSubprocessFlags  flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  GHashTableIter iter;
  gpointer variable;
  gpointer value;

  g_subprocess_launcher_set_child_setup (launcher, kh_test_die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_ORIGIN_MAP", cli->origin_map, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_DATA_DIR", cli->data_dir, TRUE);
  g_subprocess_launcher_setenv (launcher, "KEYHOLD_STORE", cli->store, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  /* Warnings in the CLI would abort it under the test environment, as they should. */
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "fatal-warnings", TRUE);

  g_hash_table_iter_init (&iter, cli->env);
  while (g_hash_table_iter_next (&iter, &variable, &value))
    {
      if (value != NULL)
        g_subprocess_launcher_setenv (launcher, variable, value, TRUE);
      else
        g_subprocess_launcher_unsetenv (launcher, variable);
    }

  return launcher;
}

GSubprocess *
kh_test_cli_spawn (KhTestCli          *cli,
                   const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_ptr_array_add (argv, kh_test_build_path ("src/cli/keyhold-cli"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  launcher = kh_test_cli_launcher (cli, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);

  return process;
}

int
kh_test_cli_finish (KhTestCli    *cli,
                    GSubprocess  *process,
                    const char   *stdin_text,
                    char        **stdout_out,
                    char        **stderr_out)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  GOutputStream *stdin_pipe;
  int status;

  /* stdin first, on its own: a command that fails before reading it (a usage error) closes
   * the pipe, and g_subprocess_communicate would then drop what it printed. The programs read
   * their stdin before printing anything large, so this cannot fill their stdout first. */
  stdin_pipe = g_subprocess_get_stdin_pipe (process);
  if (stdin_pipe != NULL)
    {
      g_autoptr(GError) write_error = NULL;

      if (stdin_text != NULL &&
          !g_output_stream_write_all (stdin_pipe, stdin_text, strlen (stdin_text), NULL, NULL,
                                      &write_error))
        g_assert_error (write_error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
    }
  /* With no stdin buffer, this closes stdin and reads both outputs to the end. */
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
  if (!cli->quiet)
    g_test_message ("keyhold-cli -> %d\nstdout: %s\nstderr: %s", status, out, err);

  if (stdout_out != NULL)
    *stdout_out = g_steal_pointer (&out);
  if (stderr_out != NULL)
    *stderr_out = g_steal_pointer (&err);

  return status;
}

int
kh_test_cli_run (KhTestCli          *cli,
                 const char         *stdin_text,
                 char              **stdout_out,
                 char              **stderr_out,
                 const char * const *args)
{
  g_autoptr(GSubprocess) process = kh_test_cli_spawn (cli, args);

  return kh_test_cli_finish (cli, process, stdin_text, stdout_out, stderr_out);
}

char *
kh_test_cli_approve (const char *url)
{
  g_autofree char *approve_url = g_strconcat (url, "&auto=approve", NULL);
  g_autofree char *location = NULL;
  guint status = kh_test_http_request (NULL, "GET", approve_url, NULL, NULL, &location);

  g_assert_true (SOUP_STATUS_IS_REDIRECTION (status));
  g_assert_nonnull (location);

  return g_steal_pointer (&location);
}

char *
kh_test_line_value (const char *output,
                    const char *prefix)
{
  g_auto(GStrv) lines = g_strsplit (output != NULL ? output : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      return g_strdup (lines[i] + strlen (prefix));

  return NULL;
}
