/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli.c: keyhold-cli, the command line other programs rely on. Its command names, output
 * lines ("URL: ", "GRANT: ") and exit codes are a stable contract (DESIGN.md): scripts parse
 * them. Everything real happens in libkeyhold-core; this file holds the command table and
 * dispatches to one file per command group (kh-cli-apps.c, kh-cli-authorize.c, kh-cli-grants.c,
 * kh-cli-tokens.c, kh-cli-team.c), which share kh-cli-common.c: parsing arguments, reading
 * secrets from stdin (never argv), running a main loop until the operation ends, reporting. */

#define G_LOG_DOMAIN "kh-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "kh-cli.h"
#include "kh-cli-private.h"

#include "kh-log.h"
#include "kh-provider.h"
#include "kh-team.h"

/* ---- dispatch ------------------------------------------------------------------------------ */

static const KhCliCommand commands[] = {
  { "app", "app add|list|remove ...", N_("Manage app profiles (App Key / App ID and secret)"), kh_cli_cmd_app },
  { "authorize", "authorize --type TYPE --app NAME [--region us|row] [--client LABEL] [--no-browser | --browser-profile ID] [--timeout SECONDS]",
    N_("Authorize an account in the browser and store the grant"), kh_cli_cmd_authorize },
  { "browsers", "browsers [--json]", N_("List the browser profiles authorize can open"), kh_cli_cmd_browsers },
  { "link", "link --type TYPE --app NAME [--region us|row] [--client LABEL]",
    N_("Create an authorization link for a client on another computer"), kh_cli_cmd_link },
  { "complete", "complete [URL | -] [--no-state]",
    N_("Complete a pending authorization from the redirected URL"), kh_cli_cmd_complete },
  { "quick-connect", "quick-connect [URL | -]",
    N_("App Secret on stdin plus a Shop redirect URL: exchange, shops, store"), kh_cli_cmd_quick_connect },
  { "list", "list [--json] [--type TYPE] [--client LABEL]", N_("List grants"), kh_cli_cmd_list },
  { "status", "status [GRANT] [--json] [--renewal]", N_("What needs attention and why"), kh_cli_cmd_status },
  { "token", "token GRANT [--min-valid SECONDS]", N_("Print a valid access token, refreshing it if needed"), kh_cli_cmd_token },
  { "refresh", "refresh GRANT | --all | --due [--margin SECONDS] [--jobs N] [--per-app N]", N_("Refresh access tokens"), kh_cli_cmd_refresh },
  { "recover", "recover", N_("Finish refreshes that a killed process left unfinished"), kh_cli_cmd_recover },
  { "shops", "shops GRANT [--json] [--update]", N_("Show the shops or advertisers a grant covers"), kh_cli_cmd_shops },
  { "renewal", "renewal GRANT", N_("The message that asks the owner to renew an authorization"), kh_cli_cmd_renewal },
  { "revoke", "revoke GRANT", N_("Revoke at TikTok where possible, else show where; then remove"), kh_cli_cmd_revoke },
  { "remove", "remove GRANT", N_("Remove a grant from this computer"), kh_cli_cmd_remove },
  { "history", "history [GRANT] [--client LABEL] [--json]",
    N_("What happened to each grant: authorized, refreshed, failed, exported..."), kh_cli_cmd_history },
  { "export", "export GRANT --format n8n|mcp-shops|env [--output FILE]",
    N_("Write a copy of the grant’s token for n8n, an MCP server or a dotenv file"), kh_cli_cmd_export },
  { "team", "team create|join|status|leave|grant|revoke-member|rotate-key ...",
    N_("A team store in PostgreSQL that staff share grants through"), kh_cli_cmd_team },
  { "share", "share GRANT", N_("Move a grant into the team"), kh_cli_cmd_share },
  { "unshare", "unshare GRANT", N_("Move a shared grant back to this computer"), kh_cli_cmd_unshare },
  { "audit", "audit [GRANT] [--client LABEL] [--since DATE] [--json]", N_("The team's audit log"), kh_cli_cmd_audit },
};

static void
print_usage (FILE *stream)
{
  g_autofree char *ids = kh_provider_list_ids ();

  fprintf (stream, "%s\n\n", _("Usage: keyhold-cli COMMAND [OPTIONS...]"));
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (stream, "  %-16s %s\n", commands[i].name, _(commands[i].summary));
  fprintf (stream, "\n%s %s\n", _("Account types:"), ids);
  fprintf (stream, "%s\n", _("Exit codes: 0 ok, 1 error, 2 usage, 3 needs re-authorization, "
                             "4 transient (network, rate limit) after retries."));
  fprintf (stream, "%s\n", _("Run “keyhold-cli COMMAND --help” for a command’s options."));
  fprintf (stream, "%s\n", _("Every command takes --key-file FILE (or KEYHOLD_TEAM_KEY_FILE): "
                             "a headless server's team key file, mode 0600."));
}

/* Takes --key-file FILE (or --key-file=FILE) out of argv wherever it is, for every command;
 * FALSE when it lacks its value. */
static gboolean
take_key_file_option (int    *argc,
                      char  **argv)
{
  int out = 1;

  for (int i = 1; i < *argc; i++)
    {
      if (g_str_equal (argv[i], "--key-file"))
        {
          if (i + 1 >= *argc)
            return FALSE;
          g_free (kh_cli_key_file_option);
          kh_cli_key_file_option = g_strdup (argv[++i]);
        }
      else if (g_str_has_prefix (argv[i], "--key-file="))
        {
          g_free (kh_cli_key_file_option);
          kh_cli_key_file_option = g_strdup (argv[i] + strlen ("--key-file="));
        }
      else
        argv[out++] = argv[i];
    }
  *argc = out;
  argv[out] = NULL;

  if (kh_cli_key_file_option == NULL && g_getenv (KH_TEAM_KEY_FILE_ENV) != NULL &&
      *g_getenv (KH_TEAM_KEY_FILE_ENV) != '\0')
    kh_cli_key_file_option = g_strdup (g_getenv (KH_TEAM_KEY_FILE_ENV));

  return kh_cli_key_file_option == NULL || *kh_cli_key_file_option != '\0';
}

int
kh_cli_main (int    argc,
             char **argv)
{
  kh_log_init ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("keyhold-cli");

  if (!take_key_file_option (&argc, argv))
    {
      g_printerr ("keyhold-cli: %s\n", _("--key-file needs a file name"));
      return EXIT_USAGE;
    }

  if (argc < 2)
    {
      print_usage (stderr);
      return EXIT_USAGE;
    }

  if (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h") ||
      g_str_equal (argv[1], "help"))
    {
      print_usage (stdout);
      return EXIT_OK;
    }

  if (g_str_equal (argv[1], "--version"))
    {
      g_print ("keyhold-cli %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (argv[1], commands[i].name))
      return commands[i].run (argc - 1, argv + 1);

  g_printerr ("keyhold-cli: %s “%s”\n\n", _("Unknown command"), argv[1]);
  print_usage (stderr);

  return EXIT_USAGE;
}
