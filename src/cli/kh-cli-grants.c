/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-grants.c: the commands that look at or act on stored grants: `list`, `status` (and
 * `renewal`), `shops`, `revoke`, `remove`, `history` and `export`. */

#define G_LOG_DOMAIN "kh-cli-grants"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "kh-cli-private.h"

#include "kh-error.h"
#include "kh-export.h"
#include "kh-flow.h"
#include "kh-grant-list.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-shared.h"
#include "kh-util.h"

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
      *exit_code = kh_cli_usage_error (context, _("Name one grant (its id or display name)"));
      return FALSE;
    }

  if (!kh_cli_open_session (store_out, team_out, &error))
    {
      *exit_code = kh_cli_report_error (error);
      return FALSE;
    }

  *grant_out = kh_shared_find_grant (*store_out, *team_out, argv[1], &error);
  if (*grant_out == NULL)
    {
      *exit_code = kh_cli_report_error (error);
      return FALSE;
    }

  return TRUE;
}

/* ---- list / shops / remove ---------------------------------------------------------------- */

int
kh_cli_cmd_list (int    argc,
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 1)
    return kh_cli_usage_error (context, _("Unexpected argument"));
  if (type_str != NULL && !kh_cli_parse_type (type_str, &type, &error))
    return kh_cli_usage_error (context, error->message);

  if (!kh_cli_open_session (&store, &team, &error))
    return kh_cli_report_error (error);

  grants = kh_shared_list_grants (store, team, &error);
  if (grants == NULL)
    return kh_cli_report_error (error);
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
          g_autofree char *access = kh_cli_format_expiry (kh_grant_get_access_expires_at (grant));
          g_autofree char *refresh = kh_cli_format_expiry (kh_grant_get_refresh_expires_at (grant));
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
    kh_cli_print_json_array (array);

  return EXIT_OK;
}

static int update_accounts (KhStore    *store,
                            KhTeam     *team,
                            const char *grant_id);

int
kh_cli_cmd_shops (int    argc,
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
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

int
kh_cli_cmd_remove (int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — remove a grant and its tokens from this computer"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;
  int exit_code = EXIT_OK;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;
  if (!kh_shared_remove_grant (store, team, grant, &error))
    return kh_cli_report_error (error);

  return EXIT_OK;
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

int
kh_cli_cmd_status (int    argc,
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return kh_cli_usage_error (context, _("Name at most one grant"));
  if (renewal && argc != 2)
    return kh_cli_usage_error (context, _("--renewal needs a grant"));

  if (!kh_cli_open_session (&store, &team, &error))
    return kh_cli_report_error (error);

  if (argc == 2)
    {
      g_autoptr(KhGrant) grant = kh_shared_find_grant (store, team, argv[1], &error);

      if (grant == NULL)
        return kh_cli_report_error (error);
      if (renewal)
        return print_renewal (store, team, grant);
      grants = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (grants, g_steal_pointer (&grant));
    }
  else
    {
      grants = kh_shared_list_grants (store, team, &error);
      if (grants == NULL)
        return kh_cli_report_error (error);
    }

  g_ptr_array_sort_with_data (grants, compare_status, &now);

  if (json)
    {
      g_autoptr(JsonArray) array = json_array_new ();

      for (guint i = 0; i < grants->len; i++)
        json_array_add_element (array, status_to_json (g_ptr_array_index (grants, i), now));
      kh_cli_print_json_array (array);
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

int
kh_cli_cmd_renewal (int    argc,
                    char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (_("GRANT — the message to send the owner so that they renew"));
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhGrant) grant = NULL;
  int exit_code = EXIT_OK;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;

  return print_renewal (store, team, grant);
}

/* ---- revoke / shops --update ------------------------------------------------------------------ */

int
kh_cli_cmd_revoke (int    argc,
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
  KhCliWait wait = { NULL, cancellable };
  const KhProvider *provider;
  gboolean manual = FALSE;
  int exit_code = EXIT_OK;

  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;
  provider = kh_provider_get (kh_grant_get_account_type (grant));

  /* Scripts call this: it asks nothing. */
  broker = kh_cli_new_broker (store, team, TRUE);
  kh_broker_revoke_async (broker, kh_grant_get_id (grant), cancellable, kh_cli_wait_cb, &wait);
  result = kh_cli_wait_for_result (&wait);
  if (!kh_broker_revoke_finish (broker, result, &manual, &error))
    return kh_cli_report_error (error);

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
  g_autoptr(KhBroker) broker = kh_cli_new_broker (store, team, TRUE);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) changes = NULL;
  KhCliWait wait = { NULL, cancellable };

  kh_broker_update_accounts_async (broker, grant_id, cancellable, kh_cli_wait_cb, &wait);
  result = kh_cli_wait_for_result (&wait);
  changes = kh_broker_update_accounts_finish (broker, result, &error);
  if (changes == NULL)
    return kh_cli_report_error (error);

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

int
kh_cli_cmd_history (int    argc,
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (argc > 2)
    return kh_cli_usage_error (context, _("Name at most one grant (its id or display name)"));

  store = kh_cli_open_store (&error);
  if (store == NULL)
    return kh_cli_report_error (error);
  path = kh_history_log_path_for_store (store);
  entries = kh_history_log_read (path, NULL, &error);
  if (entries == NULL)
    return kh_cli_report_error (error);
  if (argc == 2)
    {
      grant_id = resolve_history_grant (store, entries, argv[1], &error);
      if (grant_id == NULL)
        return kh_cli_report_error (error);
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
    kh_cli_print_json_array (array);
  return EXIT_OK;
}

int
kh_cli_cmd_export (int    argc,
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
  KhCliWait wait = { NULL, cancellable };
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
  if (!kh_cli_parse_options (context, &argc, &argv, &exit_code))
    return exit_code;
  if (format_str == NULL)
    return kh_cli_usage_error (context, _("--format is required: n8n, mcp-shops or env"));
  if (!kh_export_format_from_string (format_str, &format))
    return kh_cli_usage_error (context, _("Unknown --format: use n8n, mcp-shops or env"));
  if (!open_grant (context, argc, argv, &store, &team, &grant, &exit_code))
    return exit_code;

  /* This desktop's app profile, else the team's (a shared grant of an app only the team has). */
  app = kh_shared_get_app (store, team, kh_grant_get_app_name (grant), NULL, &error);
  if (app == NULL)
    return kh_cli_report_error (error);

  /* A copy that starts fresh: refreshed first if it would go stale within the usual margin. */
  broker = kh_cli_new_broker (store, team, TRUE);
  kh_broker_get_token_async (broker, kh_grant_get_id (grant), KH_BROKER_DEFAULT_MIN_VALID,
                             cancellable, kh_cli_wait_cb, &wait);
  result = kh_cli_wait_for_result (&wait);
  tokens = kh_broker_get_token_finish (broker, result, &error);
  if (tokens == NULL)
    return kh_cli_report_error (error);

  text = kh_export_render (format, grant, app, tokens, &error);
  if (text == NULL)
    return kh_cli_report_error (error);

  if (output != NULL)
    {
      if (!kh_export_write_file (output, text, &error))
        return kh_cli_report_error (error);
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
