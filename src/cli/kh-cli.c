/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli.c: keyhold-cli, the command line other programs rely on. Its command names, output
 * lines ("URL: ", "GRANT: ") and exit codes are a stable contract (DESIGN.md): scripts parse
 * them. Everything real happens in libkeyhold-core; this file parses arguments, reads secrets
 * from stdin (never argv), runs a main loop until the operation ends and reports. */

#define G_LOG_DOMAIN "kh-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "kh-cli.h"

#include "kh-broker.h"
#include "kh-browser-profile.h"
#include "kh-error.h"
#include "kh-export.h"
#include "kh-flow.h"
#include "kh-grant-list.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-log.h"
#include "kh-origin-map.h"
#include "kh-provider.h"
#include "kh-shared.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-token-client.h"
#include "kh-util.h"

#define EXIT_OK        0
#define EXIT_ERROR     1
#define EXIT_USAGE     2

typedef struct
{
  const char *name;
  const char *synopsis;
  const char *summary;
  int       (*run) (int argc, char **argv);
} Command;

/* --key-file FILE, which every command accepts (a headless server's team key); NULL: the
 * keyring, or $KEYHOLD_TEAM_KEY_FILE. */
static char *key_file_option;

/* ---- reporting ------------------------------------------------------------------------- */

/* One line on stderr: "keyhold-cli: message". Messages never contain secrets: the core's
 * errors are written that way, and nothing here prints a token but `token`. */
static int
report_error (const GError *error)
{
  g_autofree char *line = g_strdup (error->message);

  /* Scripts read one line: fold any newline a message may carry. */
  g_strdelimit (line, "\r\n", ' ');
  g_printerr ("keyhold-cli: %s\n", line);

  return kh_error_exit_code (error);
}

static int
usage_error (GOptionContext *context,
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

static void
print_warnings (const char * const *warnings)
{
  for (guint i = 0; warnings != NULL && warnings[i] != NULL; i++)
    g_printerr ("keyhold-cli: warning: %s\n", warnings[i]);
}

static gboolean
parse_options (GOptionContext  *context,
               int             *argc,
               char          ***argv,
               int             *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      *exit_code = usage_error (context, error->message);
      return FALSE;
    }

  return TRUE;
}

/* ---- waiting for async work ------------------------------------------------------------- */

typedef struct
{
  GAsyncResult *result;
  GCancellable *cancellable;
} Wait;

static void
wait_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
}

static gboolean
on_interrupt (gpointer user_data)
{
  Wait *wait = user_data;

  /* Ctrl+C cancels the flow cleanly: the listener closes and nothing half-done is stored. */
  g_cancellable_cancel (wait->cancellable);

  return G_SOURCE_CONTINUE;
}

static GAsyncResult *
wait_for_result (Wait *wait)
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
static char *
read_stdin_line (const char *prompt,
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

/* Reads the callback URL: the argument, or stdin when it is "-" or absent. */
static char *
read_url_argument (int       argc,
                   char    **argv,
                   GError  **error)
{
  if (argc >= 2 && g_strcmp0 (argv[1], "-") != 0)
    return g_strdup (argv[1]);

  return read_stdin_line (_("Redirected URL: "), FALSE, error);
}

static KhStore *
open_store (GError **error)
{
  return kh_store_new (NULL, NULL, error);
}

/* The store and its team (*team_out NULL when this computer is in none). */
static gboolean
open_session (KhStore **store_out,
              KhTeam  **team_out,
              GError  **error)
{
  g_autoptr(GError) local_error = NULL;

  /* A server with a key file needs no keyring: its grants are all the team's. */
  *store_out = key_file_option != NULL ? kh_store_new_headless (NULL, NULL, error)
                                       : open_store (error);
  if (*store_out == NULL)
    return FALSE;

  *team_out = kh_team_open (*store_out, key_file_option, &local_error);
  if (*team_out == NULL && local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  return TRUE;
}

/* The store and its team; KH_ERROR_INVALID_INPUT when this computer is in none. */
static gboolean
open_team (KhStore **store_out,
           KhTeam  **team_out,
           int      *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (!open_session (store_out, team_out, &error))
    {
      *exit_code = report_error (error);
      return FALSE;
    }
  if (*team_out == NULL)
    {
      g_set_error_literal (&error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("This computer is not in a team: run “keyhold-cli team create” or "
                             "“keyhold-cli team join” first"));
      *exit_code = report_error (error);
      return FALSE;
    }

  return TRUE;
}

/* The store, its team, and the grant its one argument names (id, id prefix or display name),
 * local or shared. FALSE with *exit_code set, the problem reported, when one is missing. */
static gboolean
open_grant (GOptionContext  *context,
            int              argc,
            char           **argv,
            KhStore        **store_out,
            KhTeam         **team_out,
            KhGrant        **grant_out,
            int             *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (argc != 2)
    {
      *exit_code = usage_error (context, _("Name one grant (its id or display name)"));
      return FALSE;
    }

  if (!open_session (store_out, team_out, &error))
    {
      *exit_code = report_error (error);
      return FALSE;
    }

  *grant_out = kh_shared_find_grant (*store_out, *team_out, argv[1], &error);
  if (*grant_out == NULL)
    {
      *exit_code = report_error (error);
      return FALSE;
    }

  return TRUE;
}

static gboolean
parse_type (const char     *id,
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

static gboolean
parse_region (const char  *text,
              KhRegion    *out,
              GError     **error)
{
  if (text == NULL)
    {
      *out = KH_REGION_ROW;
      return TRUE;
    }

  if (!kh_region_from_string (text, out))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Unknown region “%s” (us or row)"), text);
      return FALSE;
    }

  return TRUE;
}

static KhAppProfile *
find_app (KhStore     *store,
          const char  *name,
          GError     **error)
{
  KhAppProfile *app;

  if (name == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("--app is required: the name given to “keyhold-cli app add”"));
      return NULL;
    }

  app = kh_store_get_app (store, name);
  if (app == NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                 _("No app profile is named “%s”: see “keyhold-cli app list”"), name);

  return app;
}

static void
warn_if_test_endpoints (void)
{
  if (kh_origin_map_is_active ())
    g_printerr ("keyhold-cli: warning: using test endpoints (KEYHOLD_ORIGIN_MAP is set)\n");
}

/* ---- app ---------------------------------------------------------------------------------- */

static int
cmd_app_add (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— add an app profile (secret on stdin)"));
  g_autofree char *family_str = NULL;
  g_autofree char *name = NULL;
  g_autofree char *app_key = NULL;
  g_autofree char *service_id = NULL;
  g_autofree char *redirect_uri = NULL;
  g_autofree char *auth_link = NULL;
  g_autofree char *scopes = NULL;
  g_autofree char *secret = NULL;
  gboolean replace = FALSE;
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  KhFamily family;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "family", 0, 0, G_OPTION_ARG_STRING, &family_str, N_("shop or business"), "FAMILY" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, N_("A name for this app"), "NAME" },
    { "app-key", 0, 0, G_OPTION_ARG_STRING, &app_key, N_("App Key (Shop) or App ID (Business)"), "KEY" },
    { "service-id", 0, 0, G_OPTION_ARG_STRING, &service_id, N_("Service ID (Shop seller and partner links)"), "ID" },
    { "redirect-uri", 0, 0, G_OPTION_ARG_STRING, &redirect_uri, N_("The Redirect URL registered for the app"), "URI" },
    { "auth-link", 0, 0, G_OPTION_ARG_STRING, &auth_link, N_("An authorization link copied from Partner Center or the Business portal"), "URL" },
    { "scopes", 0, 0, G_OPTION_ARG_STRING, &scopes, N_("Comma-separated scopes the app needs"), "SCOPES" },
    { "replace", 0, 0, G_OPTION_ARG_NONE, &replace, N_("Replace an existing profile of that name"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));
  if (family_str == NULL || !kh_family_from_string (family_str, &family))
    return usage_error (context, _("--family must be shop or business"));
  if (name == NULL || app_key == NULL)
    return usage_error (context, _("--name and --app-key are required"));

  app = kh_app_profile_new (name, family, app_key);
  if (service_id != NULL)
    kh_app_profile_set_service_id (app, service_id);
  if (redirect_uri != NULL)
    kh_app_profile_set_redirect_uri (app, redirect_uri);
  if (auth_link != NULL)
    kh_app_profile_set_auth_link (app, auth_link);
  if (scopes != NULL)
    {
      g_auto(GStrv) list = g_strsplit (scopes, ",", -1);
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) clean = NULL;

      for (guint i = 0; list[i] != NULL; i++)
        {
          g_strstrip (list[i]);
          if (*list[i] != '\0')
            g_strv_builder_add (builder, list[i]);
        }
      clean = g_strv_builder_end (builder);
      kh_app_profile_set_scopes (app, (const char * const *) clean);
    }

  /* Validate before asking for the secret: a typo should not cost the user a paste. */
  if (!kh_app_profile_validate (app, &error))
    return report_error (error);

  secret = read_stdin_line (_("App secret: "), TRUE, &error);
  if (secret == NULL)
    return report_error (error);
  g_strstrip (secret);
  if (*secret == '\0')
    {
      g_set_error_literal (&error, KH_ERROR, KH_ERROR_INVALID_INPUT, _("The app secret is empty"));
      return report_error (error);
    }

  store = open_store (&error);
  if (store == NULL || !kh_store_save_app (store, app, secret, replace, &error))
    {
      memset (secret, 0, strlen (secret));
      return report_error (error);
    }
  memset (secret, 0, strlen (secret));

  g_print ("APP: %s\n", kh_app_profile_get_name (app));
  return EXIT_OK;
}

static int
cmd_app_list (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— list app profiles"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GPtrArray) apps = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);

  apps = kh_store_list_apps (store);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);
      g_autofree char *text = NULL;

      for (guint i = 0; i < apps->len; i++)
        json_array_add_element (array, kh_app_profile_to_json (g_ptr_array_index (apps, i)));
      json_node_set_array (root, array);
      text = kh_json_to_string (root, TRUE);
      g_print ("%s\n", text);
      return EXIT_OK;
    }

  for (guint i = 0; i < apps->len; i++)
    {
      KhAppProfile *app = g_ptr_array_index (apps, i);
      const char *service_id = kh_app_profile_get_service_id (app);

      g_print ("%s\t%s\t%s\t%s\t%s\n", kh_app_profile_get_name (app),
               kh_family_to_string (kh_app_profile_get_family (app)),
               kh_app_profile_get_app_key (app),
               service_id != NULL ? service_id : "-",
               kh_app_profile_get_redirect_uri (app));
    }

  return EXIT_OK;
}

static int
cmd_app_remove (int    argc,
                char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("NAME — remove an app profile and its secret"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return usage_error (context, _("Name the app profile to remove"));

  store = open_store (&error);
  if (store == NULL || !kh_store_remove_app (store, argv[1], &error))
    return report_error (error);

  return EXIT_OK;
}

static const Command app_commands[] = {
  { "add", "app add --family shop|business --name NAME --app-key KEY [--service-id ID] [--redirect-uri URI]",
    N_("Add an app profile; the app secret is read from stdin"), cmd_app_add },
  { "list", "app list [--json]", N_("List app profiles"), cmd_app_list },
  { "remove", "app remove NAME", N_("Remove an app profile"), cmd_app_remove },
};

static int
cmd_app (int    argc,
         char **argv)
{
  if (argc >= 2)
    for (guint i = 0; i < G_N_ELEMENTS (app_commands); i++)
      if (g_str_equal (argv[1], app_commands[i].name))
        return app_commands[i].run (argc - 1, argv + 1);

  g_printerr ("keyhold-cli: %s\n", _("app needs a subcommand: add, list or remove"));
  for (guint i = 0; i < G_N_ELEMENTS (app_commands); i++)
    g_printerr ("  keyhold-cli %s\n", app_commands[i].synopsis);

  return EXIT_USAGE;
}

/* ---- authorize / link / complete / quick-connect ------------------------------------------ */

static void
on_stage_changed (KhFlow     *flow,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  gboolean no_browser = GPOINTER_TO_INT (user_data);
  KhFlowStage stage = kh_flow_get_stage (flow);

  if (stage == KH_FLOW_STAGE_WAITING)
    {
      KhAuthRequest *request = kh_flow_get_request (flow);

      if (no_browser)
        {
          /* The contract: one "URL: " line on stdout, flushed, while we wait. */
          g_print ("URL: %s\n", kh_auth_request_get_url (request));
          fflush (stdout);
        }
      else
        g_printerr ("keyhold-cli: %s\n", _("Opening the browser; approve the authorization there"));
    }
  else if (stage != KH_FLOW_STAGE_DONE && stage != KH_FLOW_STAGE_FAILED &&
           stage != KH_FLOW_STAGE_IDLE)
    g_printerr ("keyhold-cli: %s…\n", kh_flow_stage_describe (stage));
}

static KhFlow *
new_flow (KhStore *store)
{
  g_autoptr(KhTokenClient) client = kh_token_client_new ();

  return kh_flow_new (store, client);
}

/* share: then move the new grant into the team (--share). */
static int
finish_grant (KhFlow     *flow,
              KhGrant    *grant,
              gboolean    share,
              const char *flow_name,
              GError     *error)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) share_error = NULL;

  if (grant == NULL)
    return report_error (error);

  print_warnings (kh_flow_get_warnings (flow));
  g_print ("GRANT: %s\n", kh_grant_get_id (grant));
  if (!share)
    return EXIT_OK;

  /* The grant is stored here already: a failure to share leaves it local, and says so. */
  fflush (stdout);
  if (!open_session (&store, &team, &share_error) ||
      !kh_shared_share (store, team, kh_grant_get_id (grant), NULL, &share_error))
    return report_error (share_error);
  {
    JsonObject *detail = json_object_new ();

    /* The team learns of the authorization with the grant; its flow as HISTORY-FORMAT names
     * it (authorize: the browser here; complete: a link sent to the account holder). */
    json_object_set_string_member (detail, "flow", flow_name);
    kh_json_set_strv (detail, "scopes", kh_grant_get_scopes (grant));
    kh_shared_note (team, "authorized", grant, detail);
  }
  g_print ("SHARED: %s\n", kh_grant_get_id (grant));

  return EXIT_OK;
}

/* ---- browser profiles ----------------------------------------------------------------- */

static KhBrowserProfile *
find_browser_profile (const char  *id,
                      GError     **error)
{
  g_autoptr(GPtrArray) profiles = NULL;
  KhBrowserProfile *profile;
  KhBrowserPlaces places;
  const char *reason;

  kh_browser_places_init (&places);
  reason = kh_browser_places_unavailable_reason (&places);
  if (reason != NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT, reason);
      return NULL;
    }

  profiles = kh_browser_profile_discover (&places);
  profile = kh_browser_profile_find (profiles, id);
  if (profile == NULL)
    {
      g_autofree char *escaped = g_strescape (id, NULL);

      g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                   _("No browser profile “%s”: “keyhold-cli browsers” lists them"), escaped);
      return NULL;
    }

  return g_object_ref (profile);
}

static int
cmd_browsers (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— list the browser profiles authorize can open"));
  g_autoptr(GPtrArray) profiles = NULL;
  gboolean json = FALSE;
  int exit_code = EXIT_OK;
  KhBrowserPlaces places;
  const char *reason;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));

  kh_browser_places_init (&places);
  reason = kh_browser_places_unavailable_reason (&places);
  if (reason != NULL)
    {
      g_printerr ("keyhold-cli: %s\n", reason);
      return EXIT_ERROR;
    }

  profiles = kh_browser_profile_discover (&places);
  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);
      g_autofree char *text = NULL;

      for (guint i = 0; i < profiles->len; i++)
        {
          KhBrowserProfile *profile = g_ptr_array_index (profiles, i);
          JsonObject *object = json_object_new ();

          json_object_set_string_member (object, "id", kh_browser_profile_get_id (profile));
          json_object_set_string_member (object, "browser",
                                         kh_browser_profile_get_browser (profile));
          json_object_set_string_member (object, "name", kh_browser_profile_get_name (profile));
          json_object_set_string_member (object, "title",
                                         kh_browser_profile_get_title (profile));
          json_object_set_string_member (object, "executable",
                                         kh_browser_profile_get_executable (profile));
          json_array_add_object_element (array, object);
        }
      json_node_set_array (root, array);
      text = kh_json_to_string (root, TRUE);
      g_print ("%s\n", text);
      return EXIT_OK;
    }

  for (guint i = 0; i < profiles->len; i++)
    {
      KhBrowserProfile *profile = g_ptr_array_index (profiles, i);

      g_print ("%s\t%s\n", kh_browser_profile_get_id (profile),
               kh_browser_profile_get_title (profile));
    }

  return EXIT_OK;
}

/* --share, checked before a flow starts so that a user not in a team learns it first. */
static gboolean
check_can_share (int *exit_code)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;

  return open_team (&store, &team, exit_code);
}

static int
cmd_authorize (int    argc,
               char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— authorize an account in the browser"));
  g_autofree char *type_str = NULL;
  g_autofree char *app_name = NULL;
  g_autofree char *region_str = NULL;
  g_autofree char *client_label = NULL;
  g_autofree char *role = NULL;
  g_autofree char *browser_id = NULL;
  gboolean no_browser = FALSE;
  gboolean force_consent = FALSE;
  gboolean share = FALSE;
  int timeout = 600;
  g_autoptr(KhBrowserProfile) browser = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhFlow) flow = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  KhAccountType type;
  KhRegion region;
  KhFlowFlags flags = KH_FLOW_FLAGS_NONE;
  Wait wait = { NULL, cancellable };
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "type", 0, 0, G_OPTION_ARG_STRING, &type_str, N_("Account type"), "TYPE" },
    { "app", 0, 0, G_OPTION_ARG_STRING, &app_name, N_("App profile name"), "NAME" },
    { "region", 0, 0, G_OPTION_ARG_STRING, &region_str, N_("us or row (Shop seller and partner)"), "REGION" },
    { "client", 0, 0, G_OPTION_ARG_STRING, &client_label, N_("A label for the client"), "LABEL" },
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, N_("Creator Marketplace: account or creator"), "ROLE" },
    { "no-browser", 0, 0, G_OPTION_ARG_NONE, &no_browser, N_("Print the URL instead of opening a browser"), NULL },
    { "browser-profile", 0, 0, G_OPTION_ARG_STRING, &browser_id, N_("Open this browser profile instead of the system browser (see “keyhold-cli browsers”)"), "ID" },
    { "force-consent", 0, 0, G_OPTION_ARG_NONE, &force_consent, N_("Show the consent screen again (TikTok account)"), NULL },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, N_("Seconds to wait for the browser (default 600)"), "SECONDS" },
    { "share", 0, 0, G_OPTION_ARG_NONE, &share, N_("Then move the grant into the team"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));
  if (!parse_type (type_str, &type, &error) || !parse_region (region_str, &region, &error))
    return usage_error (context, error->message);
  if (timeout < 0)
    return usage_error (context, _("--timeout must be zero or more seconds"));
  if (browser_id != NULL && no_browser)
    return usage_error (context, _("--browser-profile and --no-browser exclude each other"));
  if (share && !check_can_share (&exit_code))
    return exit_code;

  warn_if_test_endpoints ();

  if (browser_id != NULL)
    {
      browser = find_browser_profile (browser_id, &error);
      if (browser == NULL)
        return report_error (error);
    }

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);
  app = find_app (store, app_name, &error);
  if (app == NULL)
    return report_error (error);

  if (no_browser)
    flags |= KH_FLOW_FLAGS_NO_BROWSER;
  if (force_consent)
    flags |= KH_FLOW_FLAGS_FORCE_CONSENT;

  flow = new_flow (store);
  kh_flow_set_browser_profile (flow, browser);
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed),
                    GINT_TO_POINTER (no_browser));
  kh_flow_authorize_async (flow, type, role, app, region, client_label, flags, (guint) timeout,
                           cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  grant = kh_flow_authorize_finish (flow, result, &error);

  return finish_grant (flow, grant, share, "browser", error);
}

static int
cmd_link (int    argc,
          char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— create an authorization link for a client"));
  g_autofree char *type_str = NULL;
  g_autofree char *app_name = NULL;
  g_autofree char *region_str = NULL;
  g_autofree char *client_label = NULL;
  g_autofree char *role = NULL;
  g_autofree char *expires = NULL;
  gboolean force_consent = FALSE;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  KhAccountType type;
  KhRegion region;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "type", 0, 0, G_OPTION_ARG_STRING, &type_str, N_("Account type"), "TYPE" },
    { "app", 0, 0, G_OPTION_ARG_STRING, &app_name, N_("App profile name"), "NAME" },
    { "region", 0, 0, G_OPTION_ARG_STRING, &region_str, N_("us or row (Shop seller and partner)"), "REGION" },
    { "client", 0, 0, G_OPTION_ARG_STRING, &client_label, N_("A label for the client"), "LABEL" },
    { "role", 0, 0, G_OPTION_ARG_STRING, &role, N_("Creator Marketplace: account or creator"), "ROLE" },
    { "force-consent", 0, 0, G_OPTION_ARG_NONE, &force_consent, N_("Show the consent screen again (TikTok account)"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));
  if (!parse_type (type_str, &type, &error) || !parse_region (region_str, &region, &error))
    return usage_error (context, error->message);

  warn_if_test_endpoints ();

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);
  app = find_app (store, app_name, &error);
  if (app == NULL)
    return report_error (error);

  request = kh_flow_create_link (store, type, role, app, region, client_label,
                                 force_consent ? KH_FLOW_FLAGS_FORCE_CONSENT : KH_FLOW_FLAGS_NONE,
                                 &error);
  if (request == NULL)
    return report_error (error);

  expires = kh_iso8601_from_unix (kh_auth_request_get_expires_at (request));
  g_print ("URL: %s\n", kh_auth_request_get_url (request));
  g_printerr ("keyhold-cli: %s\n", _("Send this link to the account holder. When they have "
                                     "approved, ask for the address their browser shows and "
                                     "run “keyhold-cli complete URL”."));
  g_printerr ("keyhold-cli: %s %s\n", _("The link expires at"), expires);

  return EXIT_OK;
}

static int
cmd_complete (int    argc,
              char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("[URL | -] — complete a pending authorization from the redirected URL"));
  gboolean no_state = FALSE;
  gboolean share = FALSE;
  g_autofree char *url = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhFlow) flow = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Wait wait = { NULL, cancellable };
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "no-state", 0, 0, G_OPTION_ARG_NONE, &no_state,
      N_("Accept a URL without state (a Seller Center App Store installation)"), NULL },
    { "share", 0, 0, G_OPTION_ARG_NONE, &share, N_("Then move the grant into the team"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return usage_error (context, _("Give one URL, or - to read it from stdin"));
  if (share && !check_can_share (&exit_code))
    return exit_code;

  warn_if_test_endpoints ();

  url = read_url_argument (argc, argv, &error);
  if (url == NULL)
    return report_error (error);

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);

  flow = new_flow (store);
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed), GINT_TO_POINTER (TRUE));
  kh_flow_complete_async (flow, url,
                          no_state ? KH_FLOW_FLAGS_ALLOW_NO_STATE : KH_FLOW_FLAGS_NONE,
                          cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  grant = kh_flow_complete_finish (flow, result, &error);

  return finish_grant (flow, grant, share, "link", error);
}

static int
cmd_quick_connect (int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("[URL | -] — App Secret on stdin, then the redirected URL"));
  g_autofree char *secret = NULL;
  g_autofree char *url = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhFlow) flow = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Wait wait = { NULL, cancellable };
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return usage_error (context, _("Give one URL, or - to read it from stdin"));

  warn_if_test_endpoints ();

  secret = read_stdin_line (_("App secret: "), TRUE, &error);
  if (secret == NULL)
    return report_error (error);
  url = read_url_argument (argc, argv, &error);
  if (url == NULL)
    {
      memset (secret, 0, strlen (secret));
      return report_error (error);
    }

  store = open_store (&error);
  if (store == NULL)
    {
      memset (secret, 0, strlen (secret));
      return report_error (error);
    }

  flow = new_flow (store);
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed), GINT_TO_POINTER (TRUE));
  kh_flow_quick_connect_async (flow, secret, url, cancellable, wait_cb, &wait);
  memset (secret, 0, strlen (secret));
  result = wait_for_result (&wait);
  grant = kh_flow_quick_connect_finish (flow, result, &error);

  if (grant != NULL)
    {
      GPtrArray *shops = kh_grant_get_shops (grant);

      for (guint i = 0; shops != NULL && i < shops->len; i++)
        {
          KhShop *shop = g_ptr_array_index (shops, i);

          g_print ("SHOP: %s\t%s\t%s\t%s\n", shop->id, shop->name ? shop->name : "",
                   shop->region ? shop->region : "", shop->cipher ? shop->cipher : "");
        }
    }

  return finish_grant (flow, grant, FALSE, "quick-connect", error);
}

/* ---- list / shops / remove ---------------------------------------------------------------- */

static char *
format_expiry (gint64 when)
{
  if (when == 0)
    return g_strdup (_("never"));

  return kh_iso8601_from_unix (when);
}

static int
cmd_list (int    argc,
          char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— list grants"));
  g_autofree char *type_str = NULL;
  g_autofree char *client = NULL;
  gboolean json = FALSE;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(JsonArray) array = NULL;
  g_autoptr(GError) error = NULL;
  KhAccountType type = KH_N_ACCOUNT_TYPES;
  gint64 now = kh_now ();
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type_str, N_("Only this account type"), "TYPE" },
    { "client", 0, 0, G_OPTION_ARG_STRING, &client, N_("Only this client label"), "LABEL" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));
  if (type_str != NULL && !parse_type (type_str, &type, &error))
    return usage_error (context, error->message);

  if (!open_session (&store, &team, &error))
    return report_error (error);

  grants = kh_shared_list_grants (store, team, &error);
  if (grants == NULL)
    return report_error (error);
  array = json_array_new ();

  for (guint i = 0; i < grants->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (grants, i);
      const char *label = kh_grant_get_client_label (grant);

      if (type != KH_N_ACCOUNT_TYPES && kh_grant_get_account_type (grant) != type)
        continue;
      if (client != NULL && g_strcmp0 (label, client) != 0)
        continue;

      if (json)
        {
          json_array_add_element (array, kh_grant_to_json (grant));
        }
      else
        {
          g_autofree char *access = format_expiry (kh_grant_get_access_expires_at (grant));
          g_autofree char *refresh = format_expiry (kh_grant_get_refresh_expires_at (grant));
          const char *region = kh_grant_get_region (grant);

          g_print ("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", kh_grant_get_id (grant),
                   kh_provider_get (kh_grant_get_account_type (grant))->id,
                   kh_grant_get_display_name (grant), label != NULL ? label : "-",
                   region != NULL ? region : "-",
                   kh_grant_status_to_string (kh_grant_compute_status (grant, now)),
                   access, refresh);
        }
    }

  if (json)
    {
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);
      g_autofree char *text = NULL;

      json_node_set_array (root, array);
      text = kh_json_to_string (root, TRUE);
      g_print ("%s\n", text);
    }

  return EXIT_OK;
}

static int update_accounts (KhStore    *store,
                            KhTeam     *team,
                            const char *grant_id);

static int
cmd_shops (int    argc,
           char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — the shops or advertisers a grant covers"));
  gboolean json = FALSE;
  gboolean update = FALSE;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  GPtrArray *shops;
  GPtrArray *advertisers;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "update", 0, 0, G_OPTION_ARG_NONE, &update,
      N_("Ask TikTok again and print what changed (+ID NAME added, -ID NAME removed)"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;

  if (update)
    return update_accounts (store, team, kh_grant_get_id (grant));

  shops = kh_grant_get_shops (grant);
  advertisers = kh_grant_get_advertisers (grant);

  if (json)
    {
      g_autoptr(JsonNode) node = kh_grant_to_json (grant);
      JsonObject *object = kh_json_node_object (node);
      g_autoptr(JsonNode) out = json_node_new (JSON_NODE_OBJECT);
      g_autoptr(JsonObject) result = json_object_new ();
      g_autofree char *text = NULL;

      json_object_set_string_member (result, "id", kh_grant_get_id (grant));
      if (json_object_has_member (object, "shops"))
        json_object_set_member (result, "shops",
                                json_node_copy (json_object_get_member (object, "shops")));
      if (json_object_has_member (object, "advertisers"))
        json_object_set_member (result, "advertisers",
                                json_node_copy (json_object_get_member (object, "advertisers")));
      json_node_set_object (out, result);
      text = kh_json_to_string (out, TRUE);
      g_print ("%s\n", text);
      return EXIT_OK;
    }

  for (guint i = 0; shops != NULL && i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);

      g_print ("%s\t%s\t%s\t%s\t%s\n", shop->id, shop->name ? shop->name : "",
               shop->region ? shop->region : "", shop->cipher ? shop->cipher : "",
               shop->code ? shop->code : "");
    }

  for (guint i = 0; advertisers != NULL && i < advertisers->len; i++)
    {
      KhAdvertiser *advertiser = g_ptr_array_index (advertisers, i);

      g_print ("%s\t%s\n", advertiser->id, advertiser->name ? advertiser->name : "");
    }

  return EXIT_OK;
}

static int
cmd_remove (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — remove a grant and its tokens from this computer"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;
  if (!kh_shared_remove_grant (store, team, grant, &error))
    return report_error (error);

  return EXIT_OK;
}

/* ---- token / refresh ---------------------------------------------------------------------- */

/* client_now FALSE: no HTTP session unless a refresh turns out to be needed. */
static KhBroker *
new_broker (KhStore  *store,
            KhTeam   *team,
            gboolean  client_now)
{
  g_autoptr(KhTokenClient) client = client_now ? kh_token_client_new () : NULL;
  KhBroker *broker = kh_broker_new (store, client);

  kh_broker_set_team (broker, team, key_file_option);
  return broker;
}

static int
cmd_token (int    argc,
           char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — print a valid access token, refreshing it if needed"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KhHistoryEntry) entry = NULL;
  g_autofree char *offline_note = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) shared = NULL;
  Wait wait = { NULL, cancellable };
  gint64 min_valid = KH_BROKER_DEFAULT_MIN_VALID;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "min-valid", 0, 0, G_OPTION_ARG_INT64, &min_valid,
      N_("Refresh first unless the token stays valid this many seconds (default 600)"), "SECONDS" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return usage_error (context, _("Name one grant (its id or display name)"));
  if (min_valid < 0)
    return usage_error (context, _("--min-valid must be zero or more seconds"));

  /* n8n, cron and MCP servers call this all the time: a fresh token by its id costs one keyring
   * lookup and no index (and the history record one append, no lookup). */
  tokens = kh_broker_peek_token_full (NULL, argv[1], min_valid, &grant);
  if (tokens == NULL)
    {
      if (!open_session (&store, &team, &error))
        return report_error (error);

      /* The broker finds the grant, local or shared; a shared one named by its id is found
       * even while the team's database is unreachable. */
      broker = new_broker (store, team, FALSE);
      kh_broker_get_token_async (broker, argv[1], min_valid, cancellable, wait_cb, &wait);
      result = wait_for_result (&wait);
      tokens = kh_broker_get_token_finish_full (broker, result, &shared, &offline_note, &error);
      if (tokens == NULL)
        return report_error (error);
    }

  /* Who read a shared grant's token is the team's business (the audit); not while the
   * database is down, which is when this machine answers alone. */
  if (shared != NULL && offline_note == NULL)
    {
      JsonObject *detail = json_object_new ();

      json_object_set_string_member (detail, "command", "token");
      kh_shared_note (team, "token-read", shared, detail);
    }

  if (offline_note != NULL)
    {
      g_autofree char *until = format_expiry (tokens->access_expires_at);

      /* One line, so that a script's log shows why the token did not change. */
      g_strdelimit (offline_note, "\r\n", ' ');
      g_printerr ("keyhold-cli: ");
      g_printerr (_("note: the team database is unreachable (%s): this is the last token this "
                    "computer saw, valid until %s; nothing was refreshed"), offline_note, until);
      g_printerr ("\n");
    }

  /* The contract: the token alone on stdout, one line. */
  g_print ("%s\n", tokens->access_token);
  /* A local grant's reads go to this computer's history (a shared one's to the audit above). */
  if (grant == NULL && shared == NULL && store != NULL)
    grant = kh_store_find_grant (store, argv[1], NULL);
  if (grant != NULL)
    {
      entry = kh_history_entry_new_token_read (grant, "token");
      kh_history_record_in_store_name (NULL, entry);
    }
  return EXIT_OK;
}

/* Which failure a batch reports: needs-reauth outranks other errors, which outrank transient
 * ones (those may go away by themselves). */
static int
exit_rank (int code)
{
  switch (code)
    {
    case 3:
      return 3;
    case 1:
      return 2;
    case 4:
      return 1;
    default:
      return 0;
    }
}

/* The grants of one refresh --all or --due: at most `jobs` calls to TikTok at once, and at most
 * `per_app` of them for one app profile, taking the apps in turn. TikTok limits calls per app
 * (the sandbox: 50 a second), and an agency's grants may all belong to one app: two at a time
 * per app stays under that limit at any latency above 40 ms. A refresh leaves its slot when
 * TikTok has answered (the broker's "answered"): its tokens are then stored while the next call
 * waits for TikTok, and at most `jobs` refreshes are storing at once, whose keyring writes the
 * store shares when they fall into one bucket. */
typedef struct
{
  KhBroker   *broker;
  GPtrArray  *apps;       /* char *: app names in the order they were first seen */
  GHashTable *queues;     /* app name -> GQueue of KhGrant (as listed), not started yet */
  GHashTable *running_by_app; /* app name -> refreshes in flight */
  guint       next_app;
  guint       waiting;
  guint       running;    /* waiting for TikTok */
  guint       storing;    /* answered, storing the new tokens */
  GHashTable *in_flight;  /* grant id -> BatchItem waiting for TikTok */
  guint       jobs;
  guint       per_app;
  gboolean    force;
  int         worst;
} Batch;

typedef struct
{
  Batch   *batch;
  KhGrant *grant;
  char    *app;
  gboolean answered;
} BatchItem;

static void
queue_free (gpointer data)
{
  g_queue_free_full (data, g_object_unref);
}

static void
batch_init (Batch    *batch,
            KhBroker *broker,
            guint     jobs,
            guint     per_app,
            gboolean  force)
{
  batch->broker = broker;
  batch->apps = g_ptr_array_new_with_free_func (g_free);
  batch->queues = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, queue_free);
  batch->running_by_app = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  batch->in_flight = g_hash_table_new (g_str_hash, g_str_equal);
  batch->jobs = jobs;
  batch->per_app = per_app;
  batch->force = force;
  batch->worst = EXIT_OK;
}

static void
batch_clear (Batch *batch)
{
  g_clear_pointer (&batch->apps, g_ptr_array_unref);
  g_clear_pointer (&batch->queues, g_hash_table_unref);
  g_clear_pointer (&batch->running_by_app, g_hash_table_unref);
  g_clear_pointer (&batch->in_flight, g_hash_table_unref);
}

static void
batch_add (Batch   *batch,
           KhGrant *grant)
{
  const char *app = kh_grant_get_app_name (grant);
  GQueue *queue;

  if (app == NULL)
    app = "";
  queue = g_hash_table_lookup (batch->queues, app);
  if (queue == NULL)
    {
      queue = g_queue_new ();
      g_hash_table_insert (batch->queues, g_strdup (app), queue);
      g_ptr_array_add (batch->apps, g_strdup (app));
    }
  g_queue_push_tail (queue, g_object_ref (grant));
  batch->waiting++;
}

static guint
batch_running_for (Batch      *batch,
                   const char *app)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (batch->running_by_app, app));
}

static void
batch_note_failure (Batch        *batch,
                    const char   *id,
                    const GError *error)
{
  g_autofree char *line = g_strdup_printf ("%s: %s", id, error->message);
  int code = kh_error_exit_code (error);

  g_strdelimit (line, "\r\n", ' ');
  g_printerr ("keyhold-cli: %s\n", line);
  if (exit_rank (code) > exit_rank (batch->worst))
    batch->worst = code;
}

static void batch_start_next (Batch *batch);

/* The item's call to TikTok is over: its slot (and its app's) goes to the next grant. */
static void
batch_item_answered (BatchItem *item)
{
  Batch *batch = item->batch;

  g_hash_table_remove (batch->in_flight, kh_grant_get_id (item->grant));
  g_hash_table_insert (batch->running_by_app, g_strdup (item->app),
                       GUINT_TO_POINTER (batch_running_for (batch, item->app) - 1));
  batch->running--;
  batch->storing++;
  item->answered = TRUE;
}

static void
batch_answered_cb (KhBroker   *broker,
                   const char *grant_id,
                   gpointer    user_data)
{
  Batch *batch = user_data;
  BatchItem *item = g_hash_table_lookup (batch->in_flight, grant_id);

  if (item == NULL)
    return;
  batch_item_answered (item);
  batch_start_next (batch);
}

static void
batch_item_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  BatchItem *item = user_data;
  Batch *batch = item->batch;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  tokens = kh_broker_refresh_finish (batch->broker, result, &error);
  if (tokens != NULL)
    {
      g_print ("REFRESHED: %s\n", kh_grant_get_id (item->grant));
      fflush (stdout);
    }
  else
    batch_note_failure (batch, kh_grant_get_id (item->grant), error);

  /* Refreshes that never called TikTok (fresh, failed before) end here. */
  if (!item->answered)
    batch_item_answered (item);
  batch->storing--;
  g_object_unref (item->grant);
  g_free (item->app);
  g_free (item);
  batch_start_next (batch);
}

static void
batch_start_next (Batch *batch)
{
  while (batch->running < batch->jobs && batch->storing < batch->jobs && batch->waiting > 0)
    {
      BatchItem *item;
      const char *app = NULL;
      guint n_apps = batch->apps->len;

      /* The next app in turn that has a grant waiting and room under its limit. */
      for (guint k = 0; k < n_apps && app == NULL; k++)
        {
          const char *candidate = g_ptr_array_index (batch->apps, (batch->next_app + k) % n_apps);
          GQueue *queue = g_hash_table_lookup (batch->queues, candidate);

          if (!g_queue_is_empty (queue) && batch_running_for (batch, candidate) < batch->per_app)
            {
              app = candidate;
              batch->next_app = (batch->next_app + k + 1) % n_apps;
            }
        }
      if (app == NULL)
        return;

      item = g_new0 (BatchItem, 1);
      item->batch = batch;
      item->grant = g_queue_pop_head (g_hash_table_lookup (batch->queues, app));
      item->app = g_strdup (app);
      g_hash_table_insert (batch->running_by_app, g_strdup (app),
                           GUINT_TO_POINTER (batch_running_for (batch, app) + 1));
      batch->waiting--;
      batch->running++;
      g_hash_table_insert (batch->in_flight, (char *) kh_grant_get_id (item->grant), item);
      /* The grant as listed: a refresh another process completed since then is adopted. */
      kh_broker_refresh_listed_async (batch->broker, item->grant, batch->force, NULL,
                                      batch_item_cb, item);
    }
}

/* Settles the refreshes a killed keyhold-cli or app left unfinished (kh_broker_recover_async):
 * "RECOVERED: ID" on stdout for each completed one when print_recovered, a failure line on
 * stderr for the others. Returns the exit code they add up to. */
static int
recover_interrupted (KhBroker *broker,
                     gboolean  print_recovered)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GPtrArray) outcomes = NULL;
  g_autoptr(GError) error = NULL;
  Wait wait = { NULL, cancellable };
  Batch report = { NULL, };

  kh_broker_recover_async (broker, cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  outcomes = kh_broker_recover_finish (broker, result, &error);
  if (outcomes == NULL)
    return report_error (error);

  report.worst = EXIT_OK;
  for (guint i = 0; i < outcomes->len; i++)
    {
      KhRecovery *recovery = g_ptr_array_index (outcomes, i);

      if (recovery->error != NULL)
        batch_note_failure (&report, recovery->grant_id, recovery->error);
      else if (print_recovered)
        g_print ("RECOVERED: %s\n", recovery->grant_id);
    }

  return report.worst;
}

static int
cmd_recover (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("— finish refreshes that were interrupted"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  g_option_context_set_summary (context, _("A refresh killed after TikTok rotated the refresh "
                                           "token is retried with the stored token inside "
                                           "TikTok's grace; when TikTok refuses it, the grant is "
                                           "marked needs-reauth with the reason. keyhold-cli "
                                           "refresh does this first by itself."));
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);
  broker = new_broker (store, NULL, TRUE);

  return recover_interrupted (broker, TRUE);
}

/* Shared grants in a random order of their own (local ones keep theirs): two servers running
 * `refresh --due` at once then mostly work on different grants instead of queueing on the same
 * row locks, and share the work. */
static void
shuffle_shared (GPtrArray *grants)
{
  g_autoptr(GPtrArray) shared = g_ptr_array_new ();
  guint next = 0;

  for (guint i = 0; i < grants->len; i++)
    if (kh_grant_get_shared (g_ptr_array_index (grants, i)))
      g_ptr_array_add (shared, g_ptr_array_index (grants, i));
  for (guint i = shared->len; i > 1; i--)
    {
      guint j = (guint) g_random_int_range (0, (gint32) i);
      gpointer swap = shared->pdata[i - 1];

      shared->pdata[i - 1] = shared->pdata[j];
      shared->pdata[j] = swap;
    }
  for (guint i = 0; i < grants->len; i++)
    if (kh_grant_get_shared (g_ptr_array_index (grants, i)))
      grants->pdata[i] = shared->pdata[next++];
}

static gboolean
grant_can_refresh (KhGrant *grant)
{
  /* Advertiser-style tokens never expire and have nothing to refresh. */
  return kh_grant_get_token_kind (grant) != KH_TOKEN_KIND_ADVERTISER &&
         kh_grant_get_access_expires_at (grant) != 0;
}

static int
cmd_refresh (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT | --all | --due — refresh access tokens"));
  gboolean all = FALSE;
  gboolean due = FALSE;
  gint64 margin = KH_BROKER_DEFAULT_MIN_VALID;
  int jobs = 8;
  int per_app = 2;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(GPtrArray) grants_to_refresh = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  gint64 now = kh_now ();
  Batch batch = { NULL, };
  int exit_code = EXIT_OK;
  int recovered;
  gulong answered_id;
  GOptionEntry entries[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, N_("Refresh every grant that has a refresh token"), NULL },
    { "due", 0, 0, G_OPTION_ARG_NONE, &due, N_("Refresh the grants whose access token expires within the margin"), NULL },
    { "margin", 0, 0, G_OPTION_ARG_INT64, &margin, N_("The margin of --due in seconds (default 600)"), "SECONDS" },
    { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, N_("Refreshes at once for --all and --due (default 8)"), "N" },
    { "per-app", 0, 0, G_OPTION_ARG_INT, &per_app, N_("Of those, refreshes at once for one app profile (default 2), under TikTok's per-app rate limit"), "N" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if ((all ? 1 : 0) + (due ? 1 : 0) + (argc == 2 ? 1 : 0) != 1 || argc > 2)
    return usage_error (context, _("Name one grant, or give --all or --due"));
  if (margin < 0)
    return usage_error (context, _("--margin must be zero or more seconds"));
  if (jobs < 1 || jobs > 256)
    return usage_error (context, _("--jobs must be from 1 to 256"));
  if (per_app < 1 || per_app > 256)
    return usage_error (context, _("--per-app must be from 1 to 256"));

  if (!open_session (&store, &team, &error))
    return report_error (error);
  broker = new_broker (store, team, TRUE);
  /* First what a killed run left unfinished, inside TikTok's grace; the grants are listed
   * after it, so that one it marked is seen marked. */
  recovered = recover_interrupted (broker, FALSE);

  if (argc == 2)
    {
      g_autoptr(KhGrant) grant = kh_shared_find_grant (store, team, argv[1], &error);

      if (grant == NULL)
        return report_error (error);
      g_ptr_array_add (grants_to_refresh, g_steal_pointer (&grant));
    }
  else
    {
      g_autoptr(GPtrArray) grants = kh_shared_list_grants (store, team, &error);

      if (grants == NULL)
        return report_error (error);
      for (guint i = 0; i < grants->len; i++)
        {
          KhGrant *grant = g_ptr_array_index (grants, i);
          KhGrantStatus stored = kh_grant_get_stored_status (grant);
          gboolean dead = stored == KH_GRANT_STATUS_NEEDS_REAUTH ||
                          stored == KH_GRANT_STATUS_REVOKED;

          if (!grant_can_refresh (grant))
            continue;
          /* --due is for cron: a dead grant is not due, `status` shows it. --all tries it and
           * reports it (exit 3). */
          if (due && (dead || kh_grant_get_access_expires_at (grant) - now >= margin))
            continue;
          g_ptr_array_add (grants_to_refresh, g_object_ref (grant));
        }
    }

  /* A named grant or --all: refresh now. --due: only what is still due under the lock. */
  batch_init (&batch, broker, (guint) jobs, (guint) per_app, !due);
  batch.worst = recovered;
  shuffle_shared (grants_to_refresh);
  for (guint i = 0; i < grants_to_refresh->len; i++)
    batch_add (&batch, g_ptr_array_index (grants_to_refresh, i));
  answered_id = g_signal_connect (broker, "answered", G_CALLBACK (batch_answered_cb), &batch);
  batch_start_next (&batch);
  /* Every refresh ends with its tokens stored. */
  while (batch.running > 0 || batch.storing > 0)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handler_disconnect (broker, answered_id);

  exit_code = batch.worst;
  batch_clear (&batch);
  return exit_code;
}

/* ---- status / renewal ------------------------------------------------------------------------ */

static int
status_rank (KhGrantStatus status)
{
  switch (status)
    {
    case KH_GRANT_STATUS_NEEDS_REAUTH:
      return 0;
    case KH_GRANT_STATUS_REVOKED:
      return 1;
    case KH_GRANT_STATUS_EXPIRING:
      return 2;
    case KH_GRANT_STATUS_ACTIVE:
    default:
      return 3;
    }
}

static JsonNode *
status_to_json (KhGrant *grant,
                gint64   now)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *reason = NULL;
  g_autofree char *deadline_text = NULL;
  gint64 deadline = 0;
  KhGrantStatus status = kh_grant_explain_status (grant, now, &reason, &deadline);

  deadline_text = kh_iso8601_from_unix (deadline);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, kh_grant_get_id (grant));
  json_builder_set_member_name (builder, "display_name");
  json_builder_add_string_value (builder, kh_grant_get_display_name (grant));
  json_builder_set_member_name (builder, "type");
  json_builder_add_string_value (builder, kh_provider_get (kh_grant_get_account_type (grant))->id);
  json_builder_set_member_name (builder, "client");
  if (kh_grant_get_client_label (grant) != NULL)
    json_builder_add_string_value (builder, kh_grant_get_client_label (grant));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, kh_grant_status_to_string (status));
  json_builder_set_member_name (builder, "reason");
  json_builder_add_string_value (builder, reason);
  json_builder_set_member_name (builder, "deadline");
  if (deadline_text != NULL)
    json_builder_add_string_value (builder, deadline_text);
  else
    json_builder_add_null_value (builder);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

/* Creates a pending link for the grant's owner, so that completing it renews this client's
 * grant; NULL (with a warning) when no link can be made (no app profile). */
static char *
create_renewal_link (KhStore *store,
                     KhGrant *grant,
                     KhAppProfile *app)
{
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  KhRegion region = KH_REGION_ROW;

  if (app == NULL)
    return NULL;
  if (kh_grant_get_region (grant) != NULL &&
      !kh_region_from_string (kh_grant_get_region (grant), &region))
    region = g_ascii_strcasecmp (kh_grant_get_region (grant), "US") == 0 ? KH_REGION_US
                                                                         : KH_REGION_ROW;

  request = kh_flow_create_link (store, kh_grant_get_account_type (grant),
                                 kh_grant_get_role (grant), app, region,
                                 kh_grant_get_client_label (grant), KH_FLOW_FLAGS_NONE, &error);
  if (request == NULL)
    {
      g_printerr ("keyhold-cli: warning: %s\n", error->message);
      return NULL;
    }

  return g_strdup (kh_auth_request_get_url (request));
}

static int
print_renewal (KhStore *store,
               KhTeam  *team,
               KhGrant *grant)
{
  /* A shared grant's app profile may be the team's only. */
  g_autoptr(KhAppProfile) app = kh_shared_get_app (store, team, kh_grant_get_app_name (grant),
                                                   NULL, NULL);
  g_autofree char *url = create_renewal_link (store, grant, app);
  g_autofree char *pack = kh_grant_renewal_pack (grant, app, url, kh_now ());

  g_print ("%s", pack);
  kh_history_record_action (store, KH_HISTORY_RENEWAL_COPIED, grant);
  return EXIT_OK;
}

static int
compare_status (gconstpointer a,
                gconstpointer b,
                gpointer      user_data)
{
  KhGrant *ga = *(KhGrant **) a;
  KhGrant *gb = *(KhGrant **) b;
  gint64 now = *(gint64 *) user_data;
  int ra = status_rank (kh_grant_compute_status (ga, now));
  int rb = status_rank (kh_grant_compute_status (gb, now));
  gint64 ea, eb;

  if (ra != rb)
    return ra - rb;
  ea = kh_grant_get_relevant_expiry (ga);
  eb = kh_grant_get_relevant_expiry (gb);
  if (ea != eb)
    return ea < eb ? -1 : 1;

  return strcmp (kh_grant_get_id (ga), kh_grant_get_id (gb));
}

static int
cmd_status (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("[GRANT] — what needs attention and why"));
  gboolean json = FALSE;
  gboolean renewal = FALSE;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = kh_now ();
  int exit_code = EXIT_OK;
  guint active = 0;
  int group = -1;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "renewal", 0, 0, G_OPTION_ARG_NONE, &renewal, N_("Print the renewal message for the owner of GRANT"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return usage_error (context, _("Name at most one grant"));
  if (renewal && argc != 2)
    return usage_error (context, _("--renewal needs a grant"));

  if (!open_session (&store, &team, &error))
    return report_error (error);

  if (argc == 2)
    {
      g_autoptr(KhGrant) grant = kh_shared_find_grant (store, team, argv[1], &error);

      if (grant == NULL)
        return report_error (error);
      if (renewal)
        return print_renewal (store, team, grant);
      grants = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (grants, g_steal_pointer (&grant));
    }
  else
    {
      grants = kh_shared_list_grants (store, team, &error);
      if (grants == NULL)
        return report_error (error);
    }

  g_ptr_array_sort_with_data (grants, compare_status, &now);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);
      g_autofree char *text = NULL;

      for (guint i = 0; i < grants->len; i++)
        json_array_add_element (array, status_to_json (g_ptr_array_index (grants, i), now));
      json_node_set_array (root, array);
      text = kh_json_to_string (root, TRUE);
      g_print ("%s\n", text);
      return EXIT_OK;
    }

  for (guint i = 0; i < grants->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (grants, i);
      g_autofree char *reason = NULL;
      g_autofree char *deadline_text = NULL;
      gint64 deadline = 0;
      KhGrantStatus status = kh_grant_explain_status (grant, now, &reason, &deadline);
      const char *label = kh_grant_get_client_label (grant);

      if (status == KH_GRANT_STATUS_ACTIVE && argc != 2)
        {
          active++;
          continue;
        }
      if ((int) status != group)
        {
          group = (int) status;
          g_print ("%s%s:\n", i > 0 ? "\n" : "", kh_grant_status_to_string (status));
        }
      deadline_text = kh_iso8601_from_unix (deadline);
      g_print ("  %s\t%s\t%s\t%s\t%s%s%s\n", kh_grant_get_id (grant),
               kh_grant_get_display_name (grant),
               kh_provider_get (kh_grant_get_account_type (grant))->id,
               label != NULL ? label : "-", reason,
               deadline_text != NULL ? _("; deadline ") : "",
               deadline_text != NULL ? deadline_text : "");
    }

  if (argc != 2)
    {
      if (group != -1)
        g_print ("\n");
      g_print (g_dngettext (GETTEXT_PACKAGE, "%u grant active, nothing to do\n",
                            "%u grants active, nothing to do\n", active), active);
    }

  return EXIT_OK;
}

static int
cmd_renewal (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — the message to send the owner so that they renew"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;

  return print_renewal (store, team, grant);
}

/* ---- revoke / shops --update ------------------------------------------------------------------ */

static int
cmd_revoke (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — revoke at TikTok (or show where), then remove"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Wait wait = { NULL, cancellable };
  const KhProvider *provider;
  gboolean manual = FALSE;
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;
  provider = kh_provider_get (kh_grant_get_account_type (grant));

  /* Scripts call this: it asks nothing. */
  broker = new_broker (store, team, TRUE);
  kh_broker_revoke_async (broker, kh_grant_get_id (grant), cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  if (!kh_broker_revoke_finish (broker, result, &manual, &error))
    return report_error (error);

  if (manual)
    {
      g_print ("MANUAL: %s\n", provider->manual_revoke != NULL ? _(provider->manual_revoke)
                                                               : _("no revoke path is known"));
      g_printerr ("keyhold-cli: %s\n", _("TikTok has no revoke API for this account type: the "
                                         "account holder cancels it there. Removed locally."));
    }
  else
    g_print ("REVOKED: %s\n", kh_grant_get_id (grant));
  g_print ("REMOVED: %s\n", kh_grant_get_id (grant));

  return EXIT_OK;
}

static int
update_accounts (KhStore    *store,
                 KhTeam     *team,
                 const char *grant_id)
{
  g_autoptr(KhBroker) broker = new_broker (store, team, TRUE);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) changes = NULL;
  Wait wait = { NULL, cancellable };

  kh_broker_update_accounts_async (broker, grant_id, cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  changes = kh_broker_update_accounts_finish (broker, result, &error);
  if (changes == NULL)
    return report_error (error);

  for (guint i = 0; changes[i] != NULL; i++)
    g_print ("%s\n", changes[i]);

  return EXIT_OK;
}

/* ---- history / export ---------------------------------------------------------------------- */

/* The grant a history is asked for: one in the store, or a removed one that only the history
 * still knows (by its id, or an id prefix of at least 6 characters that only it has). */
static char *
resolve_history_grant (KhStore     *store,
                       GPtrArray   *entries,
                       const char  *name,
                       GError     **error)
{
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *found = NULL;

  grant = kh_store_find_grant (store, name, &local_error);
  if (grant != NULL)
    return g_strdup (kh_grant_get_id (grant));
  if (!g_error_matches (local_error, KH_ERROR, KH_ERROR_NOT_FOUND) || strlen (name) < 6)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  for (guint i = 0; i < entries->len; i++)
    {
      const char *id = kh_history_entry_get_grant_id (g_ptr_array_index (entries, i));

      if (!g_str_has_prefix (id, name) || g_strcmp0 (found, id) == 0)
        continue;
      if (found != NULL)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_AMBIGUOUS,
                       _("“%s” starts the ids of several grants in the history: give more of "
                         "the id"), name);
          return NULL;
        }
      found = id;
    }
  if (found == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return g_strdup (found);
}

static int
cmd_history (int    argc,
             char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("[GRANT] — what happened to each grant"));
  g_autofree char *client = NULL;
  g_autofree char *path = NULL;
  g_autofree char *grant_id = NULL;
  g_autofree char *client_key = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  int exit_code = EXIT_OK;
  GOptionEntry entries_options[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "client", 0, 0, G_OPTION_ARG_STRING, &client, N_("Only this client label"), "LABEL" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries_options, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return usage_error (context, _("Name at most one grant (its id or display name)"));

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);
  path = kh_history_log_path_for_store (store);
  entries = kh_history_log_read (path, NULL, &error);
  if (entries == NULL)
    return report_error (error);
  if (argc == 2)
    {
      grant_id = resolve_history_grant (store, entries, argv[1], &error);
      if (grant_id == NULL)
        return report_error (error);
    }
  client_key = client != NULL ? g_utf8_casefold (client, -1) : NULL;

  /* Oldest first, as a log reads; `--json` prints the records as they are kept. */
  for (guint i = 0; i < entries->len; i++)
    {
      KhHistoryEntry *entry = g_ptr_array_index (entries, i);
      const char *label = kh_history_entry_get_client (entry);
      g_autofree char *label_key = label != NULL ? g_utf8_casefold (label, -1) : NULL;

      if (grant_id != NULL && !g_str_equal (kh_history_entry_get_grant_id (entry), grant_id))
        continue;
      if (client_key != NULL && g_strcmp0 (label_key, client_key) != 0)
        continue;

      if (json)
        json_array_add_element (array, kh_history_entry_to_json_node (entry));
      else
        {
          g_autofree char *at = kh_iso8601_from_unix (kh_history_entry_get_at (entry));
          g_autofree char *sentence = kh_history_entry_describe (entry);

          g_print ("%s\t%s\t%s\t%s\n", at, kh_history_entry_get_grant_id (entry),
                   kh_history_entry_get_action (entry), sentence);
        }
    }

  if (json)
    {
      g_autoptr(JsonNode) root = json_node_init_array (json_node_alloc (), array);
      g_autofree char *text = kh_json_to_string (root, TRUE);

      g_print ("%s\n", text);
    }
  return EXIT_OK;
}

static int
cmd_export (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — write the grant’s token for n8n, an MCP server or a dotenv file"));
  g_autofree char *format_str = NULL;
  g_autofree char *output = NULL;
  g_autofree char *text = NULL;
  g_autofree char *stale = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhHistoryEntry) entry = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  Wait wait = { NULL, cancellable };
  KhExportFormat format;
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "format", 0, 0, G_OPTION_ARG_STRING, &format_str,
      N_("n8n (credential import file), mcp-shops (shops.json) or env (dotenv)"), "FORMAT" },
    { "output", 0, 0, G_OPTION_ARG_FILENAME, &output,
      N_("Write to FILE (created 0600, replaced atomically) instead of standard output"), "FILE" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (format_str == NULL)
    return usage_error (context, _("--format is required: n8n, mcp-shops or env"));
  if (!kh_export_format_from_string (format_str, &format))
    return usage_error (context, _("Unknown --format: use n8n, mcp-shops or env"));
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;

  /* This desktop's app profile, else the team's (a shared grant of an app only the team has). */
  app = kh_shared_get_app (store, team, kh_grant_get_app_name (grant), NULL, &error);
  if (app == NULL)
    return report_error (error);

  /* A copy that starts fresh: refreshed first if it would go stale within the usual margin. */
  broker = new_broker (store, team, TRUE);
  kh_broker_get_token_async (broker, kh_grant_get_id (grant), KH_BROKER_DEFAULT_MIN_VALID,
                             cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  tokens = kh_broker_get_token_finish (broker, result, &error);
  if (tokens == NULL)
    return report_error (error);

  text = kh_export_render (format, grant, app, tokens, &error);
  if (text == NULL)
    return report_error (error);

  if (output != NULL)
    {
      if (!kh_export_write_file (output, text, &error))
        return report_error (error);
    }
  else
    {
      g_printerr ("keyhold-cli: warning: %s\n",
                  _("this export holds an access token: keep it out of logs, chats and shared "
                    "folders"));
      g_print ("%s", text);
    }

  stale = kh_iso8601_from_unix (tokens->access_expires_at);
  if (stale != NULL)
    g_printerr ("keyhold-cli: %s\n", _("the copy goes stale when its access token expires or "
                                         "when Keyhold refreshes the grant, whichever is first; "
                                         "“keyhold-cli token” always gives a fresh one"));
  g_printerr ("STALE_AT: %s\n", stale != NULL ? stale : "never");
  if (format == KH_EXPORT_N8N)
    g_printerr ("keyhold-cli: %s\n", _("the app secret is not exported: enter it in n8n"));

  entry = kh_history_entry_new_exported (grant, kh_export_format_to_string (format),
                                         tokens->access_expires_at);
  kh_history_record (store, entry);
  return EXIT_OK;
}

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
  char *line = read_stdin_line (prompt, TRUE, &error);

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

  if (!parse_options (context, argc, argv, exit_code))
    return FALSE;
  if (*argc != 2)
    {
      *exit_code = usage_error (context, _("Give the database URL, e.g. "
                                           "postgres://alice@db.example/keyhold"));
      return FALSE;
    }
  if (!kh_team_check_conninfo ((*argv)[1], &error) ||
      (*store_out = key_file_option != NULL ? kh_store_new_headless (NULL, NULL, &error)
                                            : open_store (&error)) == NULL)
    {
      *exit_code = report_error (error);
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
    return report_error (error);

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
  if (key_file_option == NULL)
    {
      join_code = read_optional_secret (_("Join code: "));
      if (join_code == NULL)
        {
          g_set_error_literal (&error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("No join code on standard input: pipe in the code the team's "
                                 "admin gave you, or give --key-file"));
          return report_error (error);
        }
    }
  password = read_optional_secret (_("Database password (empty: use ~/.pgpass): "));

  team = kh_team_join (store, argv[1], password, join_code, key_file_option, &error);
  wipe (password);
  wipe (join_code);
  if (team == NULL)
    return report_error (error);

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
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));

  if (!open_session (&store, &team, &error))
    return report_error (error);
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
    return report_error (error);

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

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return usage_error (context, _("Unexpected argument"));
  if (!open_team (&store, &team, &exit_code))
    return exit_code;
  if (!kh_team_leave (team, &error))
    return report_error (error);

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
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return usage_error (context, _("Name one PostgreSQL role"));
  if (clients == NULL || clients[0] == NULL)
    return usage_error (context, _("Give at least one --client LABEL"));
  if (!open_team (&store, &team, &exit_code))
    return exit_code;
  if (!kh_team_grant_access (team, argv[1], (const char * const *) clients, &error))
    return report_error (error);

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

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != (member ? 2 : 1))
    return usage_error (context, member ? _("Name one PostgreSQL role") : _("Unexpected argument"));
  if (!open_team (&store, &team, &exit_code))
    return exit_code;

  ok = member ? kh_team_revoke_member (team, argv[1], &join_code, &error)
              : kh_team_rotate_key (team, &join_code, &error);
  if (!ok)
    return report_error (error);

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

static const Command team_commands[] = {
  { "create", "team create URL", N_("Create a team (first admin); the password is read from stdin"), cmd_team_create },
  { "join", "team join URL", N_("Join a team; the join code and password are read from stdin"), cmd_team_join },
  { "status", "team status [--json]", N_("The team this computer is in"), cmd_team_status },
  { "leave", "team leave", N_("Forget the team on this computer"), cmd_team_leave },
  { "grant", "team grant ROLE --client LABEL...", N_("Let a member see these clients' grants"), cmd_team_grant },
  { "revoke-member", "team revoke-member ROLE", N_("Remove a member and rotate the team key"), cmd_team_revoke_member },
  { "rotate-key", "team rotate-key", N_("Rotate the team key"), cmd_team_rotate_key },
};

static int
cmd_team (int    argc,
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

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return usage_error (context, _("Name one grant (its id or display name)"));
  if (!open_team (&store, &team, &exit_code))
    return exit_code;

  ok = share ? kh_shared_share (store, team, argv[1], &grant, &error)
             : kh_shared_unshare (store, team, argv[1], &grant, &error);
  if (!ok)
    return report_error (error);

  g_print ("%s: %s\n", share ? "SHARED" : "UNSHARED", kh_grant_get_id (grant));
  return EXIT_OK;
}

static int
cmd_share (int    argc,
           char **argv)
{
  return move_grant (argc, argv, TRUE);
}

static int
cmd_unshare (int    argc,
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

static int
cmd_audit (int    argc,
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
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return usage_error (context, _("Name at most one grant"));
  if (since_text != NULL && !parse_since (since_text, &since))
    return usage_error (context, _("--since must be a date (2026-12-04) or an ISO 8601 time "
                                   "(2026-12-04T21:00:00Z)"));
  if (!open_team (&store, &team, &exit_code))
    return exit_code;
  if (argc == 2)
    {
      grant = kh_shared_find_grant (store, team, argv[1], &error);
      if (grant == NULL)
        return report_error (error);
    }

  records = kh_team_read_audit (team, grant != NULL ? kh_grant_get_id (grant) : NULL, client,
                                since, &error);
  if (records == NULL)
    return report_error (error);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();
      g_autoptr(JsonNode) root = json_node_new (JSON_NODE_ARRAY);
      g_autofree char *text = NULL;

      for (guint i = 0; i < records->len; i++)
        json_array_add_element (array, json_node_copy (g_ptr_array_index (records, i)));
      json_node_set_array (root, array);
      text = kh_json_to_string (root, TRUE);
      g_print ("%s\n", text);
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

/* ---- dispatch ------------------------------------------------------------------------------ */

static const Command commands[] = {
  { "app", "app add|list|remove ...", N_("Manage app profiles (App Key / App ID and secret)"), cmd_app },
  { "authorize", "authorize --type TYPE --app NAME [--region us|row] [--client LABEL] [--no-browser | --browser-profile ID] [--timeout SECONDS]",
    N_("Authorize an account in the browser and store the grant"), cmd_authorize },
  { "browsers", "browsers [--json]", N_("List the browser profiles authorize can open"), cmd_browsers },
  { "link", "link --type TYPE --app NAME [--region us|row] [--client LABEL]",
    N_("Create an authorization link for a client on another computer"), cmd_link },
  { "complete", "complete [URL | -] [--no-state]",
    N_("Complete a pending authorization from the redirected URL"), cmd_complete },
  { "quick-connect", "quick-connect [URL | -]",
    N_("App Secret on stdin plus a Shop redirect URL: exchange, shops, store"), cmd_quick_connect },
  { "list", "list [--json] [--type TYPE] [--client LABEL]", N_("List grants"), cmd_list },
  { "status", "status [GRANT] [--json] [--renewal]", N_("What needs attention and why"), cmd_status },
  { "token", "token GRANT [--min-valid SECONDS]", N_("Print a valid access token, refreshing it if needed"), cmd_token },
  { "refresh", "refresh GRANT | --all | --due [--margin SECONDS] [--jobs N] [--per-app N]", N_("Refresh access tokens"), cmd_refresh },
  { "recover", "recover", N_("Finish refreshes that a killed process left unfinished"), cmd_recover },
  { "shops", "shops GRANT [--json] [--update]", N_("Show the shops or advertisers a grant covers"), cmd_shops },
  { "renewal", "renewal GRANT", N_("The message that asks the owner to renew an authorization"), cmd_renewal },
  { "revoke", "revoke GRANT", N_("Revoke at TikTok where possible, else show where; then remove"), cmd_revoke },
  { "remove", "remove GRANT", N_("Remove a grant from this computer"), cmd_remove },
  { "history", "history [GRANT] [--client LABEL] [--json]",
    N_("What happened to each grant: authorized, refreshed, failed, exported..."), cmd_history },
  { "export", "export GRANT --format n8n|mcp-shops|env [--output FILE]",
    N_("Write a copy of the grant’s token for n8n, an MCP server or a dotenv file"), cmd_export },
  { "team", "team create|join|status|leave|grant|revoke-member|rotate-key ...",
    N_("A team store in PostgreSQL that staff share grants through"), cmd_team },
  { "share", "share GRANT", N_("Move a grant into the team"), cmd_share },
  { "unshare", "unshare GRANT", N_("Move a shared grant back to this computer"), cmd_unshare },
  { "audit", "audit [GRANT] [--client LABEL] [--since DATE] [--json]", N_("The team's audit log"), cmd_audit },
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
          g_free (key_file_option);
          key_file_option = g_strdup (argv[++i]);
        }
      else if (g_str_has_prefix (argv[i], "--key-file="))
        {
          g_free (key_file_option);
          key_file_option = g_strdup (argv[i] + strlen ("--key-file="));
        }
      else
        argv[out++] = argv[i];
    }
  *argc = out;
  argv[out] = NULL;

  if (key_file_option == NULL && g_getenv (KH_TEAM_KEY_FILE_ENV) != NULL &&
      *g_getenv (KH_TEAM_KEY_FILE_ENV) != '\0')
    key_file_option = g_strdup (g_getenv (KH_TEAM_KEY_FILE_ENV));

  return key_file_option == NULL || *key_file_option != '\0';
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
