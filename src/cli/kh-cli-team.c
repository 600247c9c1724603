/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-team.c: the team commands: `team create|join|status|leave|grant|revoke-member|
 * rotate-key`, `share`, `unshare` and `audit`. Passwords and join codes come from stdin. */

#define G_LOG_DOMAIN "kh-cli-team"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "kh-cli-private.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-shared.h"
#include "kh-util.h"

/* ---- team ------------------------------------------------------------------------------------ */

static void
wipe (char *secret)
{
  if (secret != NULL)
    memset (secret, 0, strlen (secret));
}

/* A secret line from stdin that may be absent: NULL when stdin is empty or the line is blank
 * (then libpq's passfile is used). */
static char *
read_optional_secret (const char *prompt)
{
  g_autoptr(GError) error = NULL;
  char *line = kh_cli_read_stdin_line (prompt, TRUE, &error);

  if (line != NULL && *g_strstrip (line) == '\0')
    g_clear_pointer (&line, g_free);

  return line;
}

/* The join code, once, on stdout (the only secret the CLI prints besides `token`), and how to
 * pass it on. */
static void
print_join_code (const char *join_code,
                 gboolean    rotated)
{
  g_print ("JOIN-CODE: %s\n", join_code);
  fflush (stdout);
  if (rotated)
    g_printerr ("keyhold-cli: %s\n",
                _("The team key changed: members with a keyring pick it up by themselves; put "
                  "this new join code in each server's key file (mode 0600)"));
  g_printerr ("keyhold-cli: %s\n",
              _("The join code is the team key: give it to a new member in person or through a "
                "password manager, never by chat or mail; it is not shown again"));
}

/* team create and join: the options, the one URL argument, checked before anything else (a bad
 * URL costs no password prompt), and the store. */
static gboolean
open_for_url (GOptionContext   *context,
              int              *argc,
              char           ***argv,
              KhStore         **store_out,
              int              *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (!kh_cli_parse_options (context, argc, argv, exit_code))
    return FALSE;
  if (*argc != 2)
    {
      *exit_code = kh_cli_usage_error (context, _("Give the database URL, e.g. "
                                                  "postgres://alice@db.example/keyhold"));
      return FALSE;
    }
  if (!kh_team_check_conninfo ((*argv)[1], &error) ||
      (*store_out = kh_cli_key_file_option != NULL ? kh_store_new_headless (NULL, NULL, &error)
                                                   : kh_cli_open_store (&error)) == NULL)
    {
      *exit_code = kh_cli_report_error (error);
      return FALSE;
    }

  return TRUE;
}

static int
cmd_team_create (int    argc,
                 char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("URL — create a team in a PostgreSQL database (password on stdin, or ~/.pgpass)"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *password = NULL;
  g_autofree char *join_code = NULL;
  int exit_code = EXIT_OK;

  if (!open_for_url (context, &argc, &argv, &store, &exit_code))
    return exit_code;

  password = read_optional_secret (_("Database password (empty: use ~/.pgpass): "));
  team = kh_team_create (store, argv[1], password, &join_code, &error);
  wipe (password);
  if (team == NULL)
    return kh_cli_report_error (error);

  g_print ("TEAM: %s\n", kh_team_get_id (team));
  print_join_code (join_code, FALSE);
  wipe (join_code);

  return EXIT_OK;
}

static int
cmd_team_join (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("URL — join a team (join code, then password, on stdin)"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *join_code = NULL;
  g_autofree char *password = NULL;
  int exit_code = EXIT_OK;

  if (!open_for_url (context, &argc, &argv, &store, &exit_code))
    return exit_code;

  /* A headless server's key file already holds the join code. */
  if (kh_cli_key_file_option == NULL)
    {
      join_code = read_optional_secret (_("Join code: "));
      if (join_code == NULL)
        {
          g_set_error_literal (&error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("No join code on standard input: pipe in the code the team's "
                                 "admin gave you, or give --key-file"));
          return kh_cli_report_error (error);
        }
    }
  password = read_optional_secret (_("Database password (empty: use ~/.pgpass): "));

  team = kh_team_join (store, argv[1], password, join_code, kh_cli_key_file_option, &error);
  wipe (password);
  wipe (join_code);
  if (team == NULL)
    return kh_cli_report_error (error);

  g_print ("TEAM: %s\n", kh_team_get_id (team));
  return EXIT_OK;
}

/* A string or number member as text ("" when absent). */
static char *
member_text (JsonObject *object,
             const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return g_strdup ("");
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));

  return g_strdup ("");
}

static int
cmd_team_status (int    argc,
                 char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— the team this computer is in"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(JsonObject) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *port = NULL;
  gboolean json = FALSE;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));

  if (!kh_cli_open_session (&store, &team, &error))
    return kh_cli_report_error (error);
  if (team == NULL)
    {
      if (json)
        g_print ("{\n  \"team\" : null\n}\n");
      else
        g_print ("%s\n", _("Not in a team"));
      return EXIT_OK;
    }

  status = kh_team_describe (team, &error);
  if (status == NULL)
    return kh_cli_report_error (error);

  if (json)
    {
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_OBJECT);
      g_autofree char *text = NULL;

      json_node_set_object (root, status);
      text = kh_json_to_string (root, TRUE);
      g_print ("%s\n", text);
      return EXIT_OK;
    }

  port = member_text (status, "port");
  g_print (_("Team %s: connected as %s%s to %s:%s/%s\n"),
           kh_json_get_string (status, "team_id"), kh_json_get_string (status, "role"),
           json_object_get_boolean_member_with_default (status, "admin", FALSE) ? _(" (admin)")
                                                                              : "",
           kh_json_get_string (status, "host"), port, kh_json_get_string (status, "database"));
  {
    int schema = (int) json_object_get_int_member_with_default (status, "schema_version", 0);
    int grants = (int) json_object_get_int_member_with_default (status, "grants", 0);
    g_autofree char *key_id = member_text (status, "key_id");

    g_print (_("Schema version %d, key %s (%s)\n"), schema, key_id,
             kh_json_get_string (status, "key_source"));
    g_print (g_dngettext (GETTEXT_PACKAGE, "%d shared grant visible\n",
                          "%d shared grants visible\n", grants), grants);
  }

  return EXIT_OK;
}

static int
cmd_team_leave (int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— forget the team on this computer (shared grants stay in the team)"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));
  if (!kh_cli_open_team (&store, &team, &exit_code))
    return exit_code;
  if (!kh_team_leave (team, &error))
    return kh_cli_report_error (error);

  g_print ("LEFT: %s\n", kh_team_get_id (team));
  return EXIT_OK;
}

static int
cmd_team_grant (int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("ROLE --client LABEL... — let a member's PostgreSQL role see these clients' grants"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) clients = NULL;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "client", 0, 0, G_OPTION_ARG_STRING_ARRAY, &clients, N_("A client label (repeat for more)"), "LABEL" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return kh_cli_usage_error (context, _("Name one PostgreSQL role"));
  if (clients == NULL || clients[0] == NULL)
    return kh_cli_usage_error (context, _("Give at least one --client LABEL"));
  if (!kh_cli_open_team (&store, &team, &exit_code))
    return exit_code;
  if (!kh_team_grant_access (team, argv[1], (const char * const *) clients, &error))
    return kh_cli_report_error (error);

  for (guint i = 0; clients[i] != NULL; i++)
    g_print ("GRANTED: %s\t%s\n", argv[1], clients[i]);
  return EXIT_OK;
}

/* revoke-member and rotate-key: both change the team key. */
static int
team_rekey (int       argc,
            char    **argv,
            gboolean  member)
{
  g_autoptr(GOptionContext) context =
    g_option_context_new (member ? _("ROLE — remove a member and rotate the team key")
                                 : _("— rotate the team key"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *join_code = NULL;
  int exit_code = EXIT_OK;
  gboolean ok;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != (member ? 2 : 1))
    return kh_cli_usage_error (context, member ? _("Name one PostgreSQL role")
                                               : _("Unexpected argument"));
  if (!kh_cli_open_team (&store, &team, &exit_code))
    return exit_code;

  ok = member ? kh_team_revoke_member (team, argv[1], &join_code, &error)
              : kh_team_rotate_key (team, &join_code, &error);
  if (!ok)
    return kh_cli_report_error (error);

  if (member)
    g_print ("REMOVED-MEMBER: %s\n", argv[1]);
  if (join_code != NULL)
    print_join_code (join_code, TRUE);
  wipe (join_code);

  return EXIT_OK;
}

static int
cmd_team_revoke_member (int    argc,
                        char **argv)
{
  return team_rekey (argc, argv, TRUE);
}

static int
cmd_team_rotate_key (int    argc,
                     char **argv)
{
  return team_rekey (argc, argv, FALSE);
}

static const KhCliCommand team_commands[] = {
  { "create", "team create URL", N_("Create a team (first admin); the password is read from stdin"), cmd_team_create },
  { "join", "team join URL", N_("Join a team; the join code and password are read from stdin"), cmd_team_join },
  { "status", "team status [--json]", N_("The team this computer is in"), cmd_team_status },
  { "leave", "team leave", N_("Forget the team on this computer"), cmd_team_leave },
  { "grant", "team grant ROLE --client LABEL...", N_("Let a member see these clients' grants"), cmd_team_grant },
  { "revoke-member", "team revoke-member ROLE", N_("Remove a member and rotate the team key"), cmd_team_revoke_member },
  { "rotate-key", "team rotate-key", N_("Rotate the team key"), cmd_team_rotate_key },
};

int
kh_cli_cmd_team (int    argc,
                 char **argv)
{
  if (argc >= 2)
    for (guint i = 0; i < G_N_ELEMENTS (team_commands); i++)
      if (g_str_equal (argv[1], team_commands[i].name))
        return team_commands[i].run (argc - 1, argv + 1);

  g_printerr ("keyhold-cli: %s\n", _("team needs a subcommand: create, join, status, leave, "
                                     "grant, revoke-member or rotate-key"));
  for (guint i = 0; i < G_N_ELEMENTS (team_commands); i++)
    g_printerr ("  keyhold-cli %s\n", team_commands[i].synopsis);

  return EXIT_USAGE;
}

/* share and unshare. */
static int
move_grant (int       argc,
            char    **argv,
            gboolean  share)
{
  g_autoptr(GOptionContext) context =
    g_option_context_new (share ? _("GRANT — move a grant from this computer into the team")
                                : _("GRANT — move a shared grant to this computer only"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;
  gboolean ok;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return kh_cli_usage_error (context, _("Name one grant (its id or display name)"));
  if (!kh_cli_open_team (&store, &team, &exit_code))
    return exit_code;

  ok = share ? kh_shared_share (store, team, argv[1], &grant, &error)
             : kh_shared_unshare (store, team, argv[1], &grant, &error);
  if (!ok)
    return kh_cli_report_error (error);

  g_print ("%s: %s\n", share ? "SHARED" : "UNSHARED", kh_grant_get_id (grant));
  return EXIT_OK;
}

int
kh_cli_cmd_share (int    argc,
                  char **argv)
{
  return move_grant (argc, argv, TRUE);
}

int
kh_cli_cmd_unshare (int    argc,
                    char **argv)
{
  return move_grant (argc, argv, FALSE);
}

/* ISO 8601 ("2026-12-04T21:00:00Z") or a date ("2026-12-04", midnight UTC). */
static gboolean
parse_since (const char *text,
             gint64     *out)
{
  g_autofree char *midnight = NULL;

  if (kh_unix_from_iso8601 (text, out))
    return TRUE;
  midnight = g_strconcat (text, "T00:00:00Z", NULL);

  return strlen (text) == 10 && kh_unix_from_iso8601 (midnight, out);
}

int
kh_cli_cmd_audit (int    argc,
                  char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("[GRANT] — the team's audit log"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *client = NULL;
  g_autofree char *since_text = NULL;
  gboolean json = FALSE;
  gint64 since = 0;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "client", 0, 0, G_OPTION_ARG_STRING, &client, N_("Only this client label"), "LABEL" },
    { "since", 0, 0, G_OPTION_ARG_STRING, &since_text, N_("Only from this date or ISO 8601 time on"), "DATE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return kh_cli_usage_error (context, _("Name at most one grant"));
  if (since_text != NULL && !parse_since (since_text, &since))
    return kh_cli_usage_error (context, _("--since must be a date (2026-12-04) or an ISO 8601 time "
                                          "(2026-12-04T21:00:00Z)"));
  if (!kh_cli_open_team (&store, &team, &exit_code))
    return exit_code;
  if (argc == 2)
    {
      grant = kh_shared_find_grant (store, team, argv[1], &error);
      if (grant == NULL)
        return kh_cli_report_error (error);
    }

  records = kh_team_read_audit (team, grant != NULL ? kh_grant_get_id (grant) : NULL, client,
                                since, &error);
  if (records == NULL)
    return kh_cli_report_error (error);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();

      for (guint i = 0; i < records->len; i++)
        json_array_add_element (array, json_node_copy (g_ptr_array_index (records, i)));
      kh_cli_print_json_array (array);
      return EXIT_OK;
    }

  for (guint i = 0; i < records->len; i++)
    {
      JsonObject *record = kh_json_node_object (g_ptr_array_index (records, i));
      JsonObject *detail = kh_json_get_object (record, "detail");
      g_autofree char *detail_text = NULL;
      const char *fields[] = { "at", "actor", "machine", "action", "grant", "client" };

      for (guint f = 0; f < G_N_ELEMENTS (fields); f++)
        {
          const char *value = kh_json_get_string (record, fields[f]);

          g_print ("%s\t", value != NULL ? value : "-");
        }
      if (detail != NULL && json_object_get_size (detail) > 0)
        {
          g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

          json_node_set_object (node, detail);
          detail_text = kh_json_to_string (node, FALSE);
        }
      g_print ("%s\n", detail_text != NULL ? detail_text : "-");
    }

  return EXIT_OK;
}
