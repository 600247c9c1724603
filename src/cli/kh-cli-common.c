/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-common.c: the argument and output layer every keyhold-cli command shares: usage and
 * error lines with their exit codes, option parsing, reading stdin, waiting for an async result,
 * and opening the store, the team and the broker. */

#define G_LOG_DOMAIN "kh-cli-common"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

#include "kh-cli-private.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-token-client.h"
#include "kh-util.h"

char *kh_cli_key_file_option;

/* ---- reporting ------------------------------------------------------------------------- */

/* One line on stderr: "keyhold-cli: message". Messages never contain secrets: the core's
 * errors are written that way, and nothing here prints a token but `token`. */
void
kh_cli_print_json_array (JsonArray *array)
{
  g_autoptr(JsonNode) root = json_node_init_array (json_node_alloc (), array);
  g_autofree char *text = kh_json_to_string (root, TRUE);

  g_print ("%s\n", text);
}

int
kh_cli_report_error (const GError *error)
{
  g_autofree char *line = g_strdup (error->message);

  /* Scripts read one line: fold any newline a message may carry. */
  g_strdelimit (line, "\r\n", ' ');
  g_printerr ("keyhold-cli: %s\n", line);

  return kh_error_exit_code (error);
}

int
kh_cli_usage_error (GOptionContext *context,
                    const char     *message)
{
  g_printerr ("keyhold-cli: %s\n", message);
  if (context != NULL)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);

      g_printerr ("\n%s", help);
    }

  return EXIT_USAGE;
}

gboolean
kh_cli_parse_options (GOptionContext  *context,
                      int             *argc,
                      char          ***argv,
                      int             *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      *exit_code = kh_cli_usage_error (context, error->message);
      return FALSE;
    }

  return TRUE;
}

/* ---- waiting for async work ------------------------------------------------------------- */

void
kh_cli_wait_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  KhCliWait *wait = user_data;

  wait->result = g_object_ref (result);
}

static gboolean
on_interrupt (gpointer user_data)
{
  KhCliWait *wait = user_data;

  /* Ctrl+C cancels the flow cleanly: the listener closes and nothing half-done is stored. */
  g_cancellable_cancel (wait->cancellable);

  return G_SOURCE_CONTINUE;
}

GAsyncResult *
kh_cli_wait_for_result (KhCliWait *wait)
{
  guint sigint = g_unix_signal_add (SIGINT, on_interrupt, wait);
  guint sigterm = g_unix_signal_add (SIGTERM, on_interrupt, wait);

  while (wait->result == NULL)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (sigint);
  g_source_remove (sigterm);

  return g_steal_pointer (&wait->result);
}

/* ---- input ------------------------------------------------------------------------------ */

/* Reads one line from stdin without echo when it is a terminal. The secret never touches argv
 * or the environment (security rule 4). */
char *
kh_cli_read_stdin_line (const char *prompt,
                        gboolean    secret,
                        GError    **error)
{
  g_autoptr(GString) line = g_string_new (NULL);
  struct termios saved, quiet;
  gboolean restore = FALSE;
  int c;

  if (isatty (STDIN_FILENO))
    {
      g_printerr ("%s", prompt);
      if (secret && tcgetattr (STDIN_FILENO, &saved) == 0)
        {
          quiet = saved;
          quiet.c_lflag &= ~ECHO;
          restore = tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }

  while ((c = getchar ()) != EOF && c != '\n')
    {
      if (line->len >= 64 * 1024)
        break;
      g_string_append_c (line, (char) c);
    }

  if (restore)
    {
      tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
      g_printerr ("\n");
    }

  if (line->len > 0 && line->str[line->len - 1] == '\r')
    g_string_truncate (line, line->len - 1);

  if (line->len == 0 && c == EOF)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           secret ? _("No app secret on standard input: pipe it in, or type it "
                                      "when asked")
                                  : _("Nothing on standard input"));
      return NULL;
    }

  return g_string_free (g_steal_pointer (&line), FALSE);
}

/* ---- opening the store, the team and the broker ----------------------------------------- */

KhStore *
kh_cli_open_store (GError **error)
{
  return kh_store_new (NULL, NULL, error);
}

/* The store and its team (*team_out NULL when this computer is in none). */
gboolean
kh_cli_open_session (KhStore **store_out,
                     KhTeam  **team_out,
                     GError  **error)
{
  g_autoptr(GError) local_error = NULL;

  /* A server with a key file needs no keyring: its grants are all the team's. */
  *store_out = kh_cli_key_file_option != NULL ? kh_store_new_headless (NULL, NULL, error)
                                              : kh_cli_open_store (error);
  if (*store_out == NULL)
    return FALSE;

  *team_out = kh_team_open (*store_out, kh_cli_key_file_option, &local_error);
  if (*team_out == NULL && local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  return TRUE;
}

/* The store and its team; KH_ERROR_INVALID_INPUT when this computer is in none. */
gboolean
kh_cli_open_team (KhStore **store_out,
                  KhTeam  **team_out,
                  int      *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (!kh_cli_open_session (store_out, team_out, &error))
    {
      *exit_code = kh_cli_report_error (error);
      return FALSE;
    }
  if (*team_out == NULL)
    {
      g_set_error_literal (&error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("This computer is not in a team: run “keyhold-cli team create” or "
                             "“keyhold-cli team join” first"));
      *exit_code = kh_cli_report_error (error);
      return FALSE;
    }

  return TRUE;
}

/* client_now FALSE: no HTTP session unless a refresh turns out to be needed. */
KhBroker *
kh_cli_new_broker (KhStore  *store,
                   KhTeam   *team,
                   gboolean  client_now)
{
  g_autoptr(KhTokenClient) client = client_now ? kh_token_client_new () : NULL;
  KhBroker *broker = kh_broker_new (store, client);

  kh_broker_set_team (broker, team, kh_cli_key_file_option);
  return broker;
}

/* ---- shared arguments and output --------------------------------------------------------- */

gboolean
kh_cli_parse_type (const char     *id,
                   KhAccountType  *out,
                   GError        **error)
{
  const KhProvider *provider;

  if (id == NULL)
    {
      g_autofree char *ids = kh_provider_list_ids ();

      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT, _("--type is required (one of: %s)"),
                   ids);
      return FALSE;
    }

  provider = kh_provider_from_id (id);
  if (provider == NULL)
    {
      g_autofree char *ids = kh_provider_list_ids ();

      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Unknown account type “%s” (one of: %s)"), id, ids);
      return FALSE;
    }

  *out = provider->type;
  return TRUE;
}

char *
kh_cli_format_expiry (gint64 when)
{
  if (when == 0)
    return g_strdup (_("never"));

  return kh_iso8601_from_unix (when);
}
