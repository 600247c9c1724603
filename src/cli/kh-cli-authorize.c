/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-authorize.c: the commands that create grants: `authorize` (browser or --no-browser),
 * `browsers`, `link` and `complete` (a client on another computer), and `quick-connect`. Each
 * drives a KhFlow and prints the contract lines ("URL: ", "GRANT: "). */

#define G_LOG_DOMAIN "kh-cli-authorize"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "kh-cli-private.h"

#include "kh-browser-profile.h"
#include "kh-error.h"
#include "kh-flow.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-shared.h"
#include "kh-token-client.h"
#include "kh-util.h"

static void
print_warnings (const char * const *warnings)
{
  for (guint i = 0; warnings != NULL && warnings[i] != NULL; i++)
    g_printerr ("keyhold-cli: warning: %s\n", warnings[i]);
}

/* Reads the callback URL: the argument, or stdin when it is "-" or absent. */
static char *
read_url_argument (int       argc,
                   char    **argv,
                   GError  **error)
{
  if (argc >= 2 && g_strcmp0 (argv[1], "-") != 0)
    return g_strdup (argv[1]);

  return kh_cli_read_stdin_line (_("Redirected URL: "), FALSE, error);
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
    return kh_cli_report_error (error);

  print_warnings (kh_flow_get_warnings (flow));
  g_print ("GRANT: %s\n", kh_grant_get_id (grant));
  if (!share)
    return EXIT_OK;

  /* The grant is stored here already: a failure to share leaves it local, and says so. */
  fflush (stdout);
  if (!kh_cli_open_session (&store, &team, &share_error) ||
      !kh_shared_share (store, team, kh_grant_get_id (grant), NULL, &share_error))
    return kh_cli_report_error (share_error);
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

int
kh_cli_cmd_browsers (int    argc,
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));

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
      kh_cli_print_json_array (array);
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

  return kh_cli_open_team (&store, &team, exit_code);
}

int
kh_cli_cmd_authorize (int    argc,
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
  KhCliWait wait = { NULL, cancellable };
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));
  if (!kh_cli_parse_type (type_str, &type, &error) || !parse_region (region_str, &region, &error))
    return kh_cli_usage_error (context, error->message);
  if (timeout < 0)
    return kh_cli_usage_error (context, _("--timeout must be zero or more seconds"));
  if (browser_id != NULL && no_browser)
    return kh_cli_usage_error (context, _("--browser-profile and --no-browser exclude each other"));
  if (share && !check_can_share (&exit_code))
    return exit_code;

  warn_if_test_endpoints ();

  if (browser_id != NULL)
    {
      browser = find_browser_profile (browser_id, &error);
      if (browser == NULL)
        return kh_cli_report_error (error);
    }

  store = kh_cli_open_store (&error);
  if (store == NULL)
    return kh_cli_report_error (error);
  app = find_app (store, app_name, &error);
  if (app == NULL)
    return kh_cli_report_error (error);

  if (no_browser)
    flags |= KH_FLOW_FLAGS_NO_BROWSER;
  if (force_consent)
    flags |= KH_FLOW_FLAGS_FORCE_CONSENT;

  flow = new_flow (store);
  kh_flow_set_browser_profile (flow, browser);
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed),
                    GINT_TO_POINTER (no_browser));
  kh_flow_authorize_async (flow, type, role, app, region, client_label, flags, (guint) timeout,
                           cancellable, kh_cli_wait_cb, &wait);
  result = kh_cli_wait_for_result (&wait);
  grant = kh_flow_authorize_finish (flow, result, &error);

  return finish_grant (flow, grant, share, "browser", error);
}

int
kh_cli_cmd_link (int    argc,
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));
  if (!kh_cli_parse_type (type_str, &type, &error) || !parse_region (region_str, &region, &error))
    return kh_cli_usage_error (context, error->message);

  warn_if_test_endpoints ();

  store = kh_cli_open_store (&error);
  if (store == NULL)
    return kh_cli_report_error (error);
  app = find_app (store, app_name, &error);
  if (app == NULL)
    return kh_cli_report_error (error);

  request = kh_flow_create_link (store, type, role, app, region, client_label,
                                 force_consent ? KH_FLOW_FLAGS_FORCE_CONSENT : KH_FLOW_FLAGS_NONE,
                                 &error);
  if (request == NULL)
    return kh_cli_report_error (error);

  expires = kh_iso8601_from_unix (kh_auth_request_get_expires_at (request));
  g_print ("URL: %s\n", kh_auth_request_get_url (request));
  g_printerr ("keyhold-cli: %s\n", _("Send this link to the account holder. When they have "
                                     "approved, ask for the address their browser shows and "
                                     "run “keyhold-cli complete URL”."));
  g_printerr ("keyhold-cli: %s %s\n", _("The link expires at"), expires);

  return EXIT_OK;
}

int
kh_cli_cmd_complete (int    argc,
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
  KhCliWait wait = { NULL, cancellable };
  int exit_code = EXIT_OK;
  GOptionEntry entries[] = {
    { "no-state", 0, 0, G_OPTION_ARG_NONE, &no_state,
      N_("Accept a URL without state (a Seller Center App Store installation)"), NULL },
    { "share", 0, 0, G_OPTION_ARG_NONE, &share, N_("Then move the grant into the team"), NULL },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return kh_cli_usage_error (context, _("Give one URL, or - to read it from stdin"));
  if (share && !check_can_share (&exit_code))
    return exit_code;

  warn_if_test_endpoints ();

  url = read_url_argument (argc, argv, &error);
  if (url == NULL)
    return kh_cli_report_error (error);

  store = kh_cli_open_store (&error);
  if (store == NULL)
    return kh_cli_report_error (error);

  flow = new_flow (store);
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed), GINT_TO_POINTER (TRUE));
  kh_flow_complete_async (flow, url,
                          no_state ? KH_FLOW_FLAGS_ALLOW_NO_STATE : KH_FLOW_FLAGS_NONE,
                          cancellable, kh_cli_wait_cb, &wait);
  result = kh_cli_wait_for_result (&wait);
  grant = kh_flow_complete_finish (flow, result, &error);

  return finish_grant (flow, grant, share, "link", error);
}

int
kh_cli_cmd_quick_connect (int    argc,
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
  KhCliWait wait = { NULL, cancellable };
  int exit_code = EXIT_OK;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return kh_cli_usage_error (context, _("Give one URL, or - to read it from stdin"));

  warn_if_test_endpoints ();

  secret = kh_cli_read_stdin_line (_("App secret: "), TRUE, &error);
  if (secret == NULL)
    return kh_cli_report_error (error);
  url = read_url_argument (argc, argv, &error);
  if (url == NULL)
    {
      memset (secret, 0, strlen (secret));
      return kh_cli_report_error (error);
    }

  store = kh_cli_open_store (&error);
  if (store == NULL)
    {
      memset (secret, 0, strlen (secret));
      return kh_cli_report_error (error);
    }

  flow = new_flow (store);
  g_signal_connect (flow, "notify::stage", G_CALLBACK (on_stage_changed), GINT_TO_POINTER (TRUE));
  kh_flow_quick_connect_async (flow, secret, url, cancellable, kh_cli_wait_cb, &wait);
  memset (secret, 0, strlen (secret));
  result = kh_cli_wait_for_result (&wait);
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
