/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-apps.c: `keyhold-cli app add|list|remove`, the app profiles (App Key / App ID and its
 * secret, read from stdin) that every authorization names. */

#define G_LOG_DOMAIN "kh-cli-apps"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-cli-private.h"

#include "kh-error.h"
#include "kh-json.h"

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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));
  if (family_str == NULL || !kh_family_from_string (family_str, &family))
    return kh_cli_usage_error (context, _("--family must be shop or business"));
  if (name == NULL || app_key == NULL)
    return kh_cli_usage_error (context, _("--name and --app-key are required"));

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
    return kh_cli_report_error (error);

  secret = kh_cli_read_stdin_line (_("App secret: "), TRUE, &error);
  if (secret == NULL)
    return kh_cli_report_error (error);
  g_strstrip (secret);
  if (*secret == '\0')
    {
      g_set_error_literal (&error, KH_ERROR, KH_ERROR_INVALID_INPUT, _("The app secret is empty"));
      return kh_cli_report_error (error);
    }

  store = kh_cli_open_store (&error);
  if (store == NULL || !kh_store_save_app (store, app, secret, replace, &error))
    {
      memset (secret, 0, strlen (secret));
      return kh_cli_report_error (error);
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;

  store = kh_cli_open_store (&error);
  if (store == NULL)
    return kh_cli_report_error (error);

  apps = kh_store_list_apps (store);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();

      for (guint i = 0; i < apps->len; i++)
        json_array_add_element (array, kh_app_profile_to_json (g_ptr_array_index (apps, i)));
      kh_cli_print_json_array (array);
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

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc != 2)
    return kh_cli_usage_error (context, _("Name the app profile to remove"));

  store = kh_cli_open_store (&error);
  if (store == NULL || !kh_store_remove_app (store, argv[1], &error))
    return kh_cli_report_error (error);

  return EXIT_OK;
}

static const KhCliCommand app_commands[] = {
  { "add", "app add --family shop|business --name NAME --app-key KEY [--service-id ID] [--redirect-uri URI]",
    N_("Add an app profile; the app secret is read from stdin"), cmd_app_add },
  { "list", "app list [--json]", N_("List app profiles"), cmd_app_list },
  { "remove", "app remove NAME", N_("Remove an app profile"), cmd_app_remove },
};

int
kh_cli_cmd_app (int    argc,
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
