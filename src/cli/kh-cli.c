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
#include "kh-error.h"
#include "kh-flow.h"
#include "kh-grant-list.h"
#include "kh-json.h"
#include "kh-log.h"
#include "kh-origin-map.h"
#include "kh-provider.h"
#include "kh-store.h"
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

/* The store, and the grant its one argument names (id, id prefix or display name). FALSE with
 * *exit_code set, the problem reported, when either is missing. */
static gboolean
open_grant (GOptionContext  *context,
            int              argc,
            char           **argv,
            KhStore        **store_out,
            KhGrant        **grant_out,
            int             *exit_code)
{
  g_autoptr(GError) error = NULL;

  if (argc != 2)
    {
      *exit_code = usage_error (context, _("Name one grant (its id or display name)"));
      return FALSE;
    }

  *store_out = open_store (&error);
  if (*store_out == NULL)
    {
      *exit_code = report_error (error);
      return FALSE;
    }

  *grant_out = kh_store_find_grant (*store_out, argv[1], &error);
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

static int
finish_grant (KhFlow   *flow,
              KhGrant  *grant,
              GError   *error)
{
  if (grant == NULL)
    return report_error (error);

  print_warnings (kh_flow_get_warnings (flow));
  g_print ("GRANT: %s\n", kh_grant_get_id (grant));

  return EXIT_OK;
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
  gboolean no_browser = FALSE;
  gboolean force_consent = FALSE;
  int timeout = 600;
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
    { "force-consent", 0, 0, G_OPTION_ARG_NONE, &force_consent, N_("Show the consent screen again (TikTok account)"), NULL },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, N_("Seconds to wait for the browser (default 600)"), "SECONDS" },
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

  warn_if_test_endpoints ();

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
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed),
                    GINT_TO_POINTER (no_browser));
  kh_flow_authorize_async (flow, type, role, app, region, client_label, flags, (guint) timeout,
                           cancellable, wait_cb, &wait);
  result = wait_for_result (&wait);
  grant = kh_flow_authorize_finish (flow, result, &error);

  return finish_grant (flow, grant, error);
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
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return usage_error (context, _("Give one URL, or - to read it from stdin"));

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

  return finish_grant (flow, grant, error);
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

  return finish_grant (flow, grant, error);
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

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);

  grants = kh_store_list_grants (store);
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
                            const char *grant_id);

static int
cmd_shops (int    argc,
           char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — the shops or advertisers a grant covers"));
  gboolean json = FALSE;
  gboolean update = FALSE;
  g_autoptr(KhStore) store = NULL;
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
  if (!open_grant (context, argc, argv, &store, &grant, &exit_code))
    return exit_code;

  if (update)
    return update_accounts (store, kh_grant_get_id (grant));

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
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &grant, &exit_code))
    return exit_code;
  if (!kh_store_remove_grant (store, kh_grant_get_id (grant), &error))
    return report_error (error);

  return EXIT_OK;
}

/* ---- token / refresh ---------------------------------------------------------------------- */

static KhBroker *
new_broker (KhStore *store)
{
  g_autoptr(KhTokenClient) client = kh_token_client_new ();

  return kh_broker_new (store, client);
}

static int
cmd_token (int    argc,
           char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — print a valid access token, refreshing it if needed"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
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
   * lookup and no index. */
  tokens = kh_broker_peek_token (NULL, argv[1], min_valid);
  if (tokens == NULL)
    {
      if (!open_grant (context, argc, argv, &store, &grant, &exit_code))
        return exit_code;

      /* No HTTP session unless the token turns out to need a refresh. */
      broker = kh_broker_new (store, NULL);
      kh_broker_get_token_async (broker, kh_grant_get_id (grant), min_valid, cancellable,
                                 wait_cb, &wait);
      result = wait_for_result (&wait);
      tokens = kh_broker_get_token_finish (broker, result, &error);
      if (tokens == NULL)
        return report_error (error);
    }

  /* The contract: the token alone on stdout, one line. */
  g_print ("%s\n", tokens->access_token);
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
  GHashTable *queues;     /* app name -> GQueue of char * grant ids, not started yet */
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
  char    *id;
  char    *app;
  gboolean answered;
} BatchItem;

static void
queue_free (gpointer data)
{
  g_queue_free_full (data, g_free);
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
batch_add (Batch      *batch,
           const char *grant_id,
           const char *app)
{
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
  g_queue_push_tail (queue, g_strdup (grant_id));
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

  g_hash_table_remove (batch->in_flight, item->id);
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
      g_print ("REFRESHED: %s\n", item->id);
      fflush (stdout);
    }
  else
    batch_note_failure (batch, item->id, error);

  /* Refreshes that never called TikTok (fresh, failed before) end here. */
  if (!item->answered)
    batch_item_answered (item);
  batch->storing--;
  g_free (item->id);
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
      item->id = g_queue_pop_head (g_hash_table_lookup (batch->queues, app));
      item->app = g_strdup (app);
      g_hash_table_insert (batch->running_by_app, g_strdup (app),
                           GUINT_TO_POINTER (batch_running_for (batch, app) + 1));
      batch->waiting--;
      batch->running++;
      g_hash_table_insert (batch->in_flight, item->id, item);
      kh_broker_refresh_async (batch->broker, item->id, batch->force, NULL, batch_item_cb, item);
    }
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
  g_autoptr(KhBroker) broker = NULL;
  g_autoptr(GPtrArray) grants_to_refresh = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  gint64 now = kh_now ();
  Batch batch = { NULL, };
  int exit_code = EXIT_OK;
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

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);

  if (argc == 2)
    {
      g_autoptr(KhGrant) grant = kh_store_find_grant (store, argv[1], &error);

      if (grant == NULL)
        return report_error (error);
      g_ptr_array_add (grants_to_refresh, g_steal_pointer (&grant));
    }
  else
    {
      g_autoptr(GPtrArray) grants = kh_store_list_grants (store);

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

  broker = new_broker (store);
  /* A named grant or --all: refresh now. --due: only what is still due under the lock. */
  batch_init (&batch, broker, (guint) jobs, (guint) per_app, !due);
  for (guint i = 0; i < grants_to_refresh->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (grants_to_refresh, i);

      batch_add (&batch, kh_grant_get_id (grant), kh_grant_get_app_name (grant));
    }
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
               KhGrant *grant)
{
  g_autoptr(KhAppProfile) app = kh_store_get_app (store, kh_grant_get_app_name (grant));
  g_autofree char *url = create_renewal_link (store, grant, app);
  g_autofree char *pack = kh_grant_renewal_pack (grant, app, url, kh_now ());

  g_print ("%s", pack);
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

  store = open_store (&error);
  if (store == NULL)
    return report_error (error);

  if (argc == 2)
    {
      g_autoptr(KhGrant) grant = kh_store_find_grant (store, argv[1], &error);

      if (grant == NULL)
        return report_error (error);
      if (renewal)
        return print_renewal (store, grant);
      grants = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (grants, g_steal_pointer (&grant));
    }
  else
    grants = kh_store_list_grants (store);

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
  g_autoptr(KhGrant) grant = NULL;
  int exit_code = EXIT_OK;

  if (!parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &grant, &exit_code))
    return exit_code;

  return print_renewal (store, grant);
}

/* ---- revoke / shops --update ------------------------------------------------------------------ */

static int
cmd_revoke (int    argc,
            char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — revoke at TikTok (or show where), then remove"));
  g_autoptr(KhStore) store = NULL;
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
  if (!open_grant (context, argc, argv, &store, &grant, &exit_code))
    return exit_code;
  provider = kh_provider_get (kh_grant_get_account_type (grant));

  /* Scripts call this: it asks nothing. */
  broker = new_broker (store);
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
                 const char *grant_id)
{
  g_autoptr(KhBroker) broker = new_broker (store);
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

/* ---- dispatch ------------------------------------------------------------------------------ */

static const Command commands[] = {
  { "app", "app add|list|remove ...", N_("Manage app profiles (App Key / App ID and secret)"), cmd_app },
  { "authorize", "authorize --type TYPE --app NAME [--region us|row] [--client LABEL] [--no-browser] [--timeout SECONDS]",
    N_("Authorize an account in the browser and store the grant"), cmd_authorize },
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
  { "shops", "shops GRANT [--json] [--update]", N_("Show the shops or advertisers a grant covers"), cmd_shops },
  { "renewal", "renewal GRANT", N_("The message that asks the owner to renew an authorization"), cmd_renewal },
  { "revoke", "revoke GRANT", N_("Revoke at TikTok where possible, else show where; then remove"), cmd_revoke },
  { "remove", "remove GRANT", N_("Remove a grant from this computer"), cmd_remove },
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
