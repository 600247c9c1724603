/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-preferences-window.c: every control is bound straight to its GSettings key, so the app
 * and the background refresh see a change at once. The Storage page says where the secrets are
 * (inside Flatpak libsecret keeps them in its own encrypted file, which Passwords and Keys never
 * shows, so this page is the only place a user learns of it) and offers "Forget All". The Team
 * page shows the team this computer is in and creates, joins or leaves one; everything that
 * talks to the database runs in a worker thread. */

#define G_LOG_DOMAIN "kh-preferences-window"

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

#include "kh-preferences-window.h"

#include "kh-environment.h"
#include "kh-json.h"
#include "kh-team.h"

struct _KhPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  /* template widgets */
  GtkSpinButton        *port_spin;
  GtkSwitch            *background_switch;
  GtkSpinButton        *margin_spin;
  GtkSwitch            *notify_switch;
  AdwEntryRow          *thresholds_row;
  AdwPreferencesPage   *storage_page;
  AdwActionRow         *secrets_row;
  GtkWidget            *secrets_folder_button;
  AdwActionRow         *index_row;
  GtkLabel             *storage_label;
  GtkWidget            *forget_button;
  GtkWidget            *forget_spinner;
  GtkLabel             *forget_result_label;
  AdwPreferencesPage   *team_page;
  AdwActionRow         *team_status_row;
  AdwActionRow         *team_schema_row;
  AdwActionRow         *team_key_row;
  AdwActionRow         *team_grants_row;
  GtkWidget            *team_spinner;
  GtkWidget            *team_create_button;
  GtkWidget            *team_join_button;
  GtkWidget            *team_leave_button;
  GtkWidget            *team_fields;
  AdwEntryRow          *team_url_row;
  AdwPasswordEntryRow  *team_password_row;
  AdwPasswordEntryRow  *team_code_row;

  /* owned */
  GSettings            *settings;
  KhAppContext         *context;
  GCancellable         *cancellable;
  gboolean              team_busy;
  char                 *secrets_dir;
  char                 *index_dir;
  gboolean              busy;
};

G_DEFINE_FINAL_TYPE (KhPreferencesWindow, kh_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
show_thresholds (KhPreferencesWindow *self)
{
  g_autoptr(GVariant) value = g_settings_get_value (self->settings, "notify-thresholds");
  g_autoptr(GString) text = g_string_new (NULL);
  gsize n = 0;
  const guint32 *days = g_variant_get_fixed_array (value, &n, sizeof (guint32));

  for (gsize i = 0; i < n; i++)
    g_string_append_printf (text, "%s%u", i > 0 ? ", " : "", days[i]);
  gtk_editable_set_text (GTK_EDITABLE (self->thresholds_row), text->str);
}

static void
on_thresholds_apply (KhPreferencesWindow *self)
{
  g_auto(GStrv) parts = g_strsplit_set (gtk_editable_get_text (GTK_EDITABLE (self->thresholds_row)),
                                        ", ", -1);
  GVariantBuilder builder;
  gboolean valid = TRUE;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("au"));
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 days;

      if (*parts[i] == '\0')
        continue;
      if (!g_ascii_string_to_unsigned (parts[i], 10, 1, 365, &days, NULL))
        {
          valid = FALSE;
          break;
        }
      g_variant_builder_add (&builder, "u", (guint32) days);
    }

  if (!valid)
    {
      g_variant_builder_clear (&builder);
      gtk_widget_add_css_class (GTK_WIDGET (self->thresholds_row), "error");
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (_("Use whole numbers of days from 1 to "
                                                         "365, e.g. 30, 7, 1")));
      return;
    }

  gtk_widget_remove_css_class (GTK_WIDGET (self->thresholds_row), "error");
  g_settings_set_value (self->settings, "notify-thresholds", g_variant_builder_end (&builder));
  show_thresholds (self);
}

/* ---- storage ------------------------------------------------------------------------------- */

static void
show_storage (KhPreferencesWindow *self)
{
  KhStore *store = kh_app_context_get_store (self->context);
  g_autofree char *description = NULL;

  if (store == NULL)
    {
      /* No keyring at startup: say why, and there is nothing to forget. */
      const GError *error = kh_app_context_get_store_error (self->context);

      gtk_label_set_text (self->storage_label, error != NULL ? error->message : "");
      gtk_widget_set_visible (GTK_WIDGET (self->secrets_row), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->index_row), FALSE);
      gtk_widget_set_sensitive (self->forget_button, FALSE);
      return;
    }

  self->index_dir = g_path_get_dirname (kh_store_get_index_path (store));
  adw_action_row_set_subtitle (self->index_row, self->index_dir);

  if (kh_environment_get_secret_backend () == KH_SECRET_BACKEND_FILE)
    {
      g_autofree char *file = kh_environment_get_secret_file_path ();

      self->secrets_dir = g_path_get_dirname (file);
      adw_action_row_set_subtitle (self->secrets_row, file);
    }
  else
    {
      /* Translators: "Passwords and Keys" is the GNOME app (Seahorse). */
      adw_action_row_set_subtitle (self->secrets_row,
                                   _("The desktop keyring, listed in Passwords and Keys"));
    }
  gtk_widget_set_visible (self->secrets_folder_button, self->secrets_dir != NULL);

  description = kh_environment_describe_secret_storage (store);
  gtk_label_set_text (self->storage_label, description);
}

static void
open_folder_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(KhPreferencesWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    {
      g_autofree char *text = g_strdup_printf (_("Could not open the folder: %s"),
                                               error->message);

      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), adw_toast_new (text));
    }
}

/* The default file manager, through the OpenURI portal inside Flatpak (GIO picks it). */
static void
open_folder (KhPreferencesWindow *self,
             const char          *dir)
{
  g_autoptr(GFile) file = g_file_new_for_path (dir);
  g_autofree char *uri = g_file_get_uri (file);
  g_autoptr(GdkAppLaunchContext) context = NULL;

  context = gdk_display_get_app_launch_context (gtk_widget_get_display (GTK_WIDGET (self)));
  g_app_info_launch_default_for_uri_async (uri, G_APP_LAUNCH_CONTEXT (context), NULL,
                                           open_folder_cb, g_object_ref (self));
}

static void
on_secrets_folder_clicked (KhPreferencesWindow *self)
{
  if (self->secrets_dir != NULL)
    open_folder (self, self->secrets_dir);
}

static void
on_index_folder_clicked (KhPreferencesWindow *self)
{
  if (self->index_dir != NULL)
    open_folder (self, self->index_dir);
}

/* ---- forget all ---------------------------------------------------------------------------- */

static void
set_busy (KhPreferencesWindow *self,
          gboolean             busy)
{
  self->busy = busy;
  gtk_widget_set_sensitive (self->forget_button, !busy);
  gtk_widget_set_visible (self->forget_spinner, busy);
  gtk_spinner_set_spinning (GTK_SPINNER (self->forget_spinner), busy);
}

static void
show_result (KhPreferencesWindow *self,
             const char          *text,
             gboolean             failed)
{
  gtk_label_set_text (self->forget_result_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->forget_result_label), TRUE);
  if (failed)
    gtk_widget_add_css_class (GTK_WIDGET (self->forget_result_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->forget_result_label), "error");
}

/* What the store still holds: after a failure the user learns what is left, never a silent
 * half-removal. */
static guint
count_stored (KhStore *store)
{
  g_autoptr(GPtrArray) grants = kh_store_list_grants (store);
  g_autoptr(GPtrArray) pending = kh_store_list_pending (store);
  g_autoptr(GPtrArray) apps = kh_store_list_apps (store);

  return grants->len + pending->len + apps->len;
}

typedef struct
{
  KhPreferencesWindow *self;
  KhAppContext        *context;
} ForgetData;

static void
forget_data_free (ForgetData *data)
{
  g_object_unref (data->self);
  g_object_unref (data->context);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ForgetData, forget_data_free)

static void
forget_all_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(ForgetData) data = user_data;
  KhPreferencesWindow *self = data->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *toast = NULL;
  guint removed = 0;
  gboolean ok;

  ok = kh_environment_forget_all_finish (result, &removed, &error);
  /* Whatever happened, the pages show what the store holds now, even if this window is gone. */
  kh_app_context_reload (data->context);
  if (self->context == NULL)
    {
      if (!ok)
        g_warning ("Forgetting everything failed: %s", error->message);
      return;
    }
  set_busy (self, FALSE);

  if (ok)
    {
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                           "Keyhold forgot %u item. Nothing was revoked at "
                                           "TikTok.",
                                           "Keyhold forgot %u items. Nothing was revoked at "
                                           "TikTok.",
                                           removed),
                              removed);
      show_result (self, text, FALSE);
      toast = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Forgot %u item", "Forgot %u items",
                                            removed),
                               removed);
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self), adw_toast_new (toast));
    }
  else
    {
      guint left = count_stored (kh_app_context_get_store (self->context));
      g_autofree char *left_text = NULL;
      GtkWidget *dialog;

      left_text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                "%u item is still stored. Unlock the keyring, "
                                                "or start it, and forget again.",
                                                "%u items are still stored. Unlock the keyring, "
                                                "or start it, and forget again.",
                                                left),
                                   left);
      text = g_strconcat (error->message, "\n\n", left_text, NULL);
      show_result (self, text, TRUE);

      dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Could Not Forget Everything"),
                                       text);
      adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
      gtk_window_present (GTK_WINDOW (dialog));
    }
}

static void
forget_response_cb (AdwMessageDialog    *dialog,
                    const char          *response,
                    KhPreferencesWindow *self)
{
  KhStore *store = self->context != NULL ? kh_app_context_get_store (self->context)
                                           : NULL;
  ForgetData *data;

  if (!g_str_equal (response, "forget") || store == NULL || self->busy)
    return;

  set_busy (self, TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->forget_result_label), FALSE);
  /* No cancellable: once started, forgetting runs to the end, even if this window closes. */
  data = g_new0 (ForgetData, 1);
  data->self = g_object_ref (self);
  data->context = g_object_ref (self->context);
  kh_environment_forget_all_async (store, NULL, forget_all_cb, data);
}

void
kh_preferences_window_ask_forget_all (KhPreferencesWindow *self)
{
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(GPtrArray) apps = NULL;
  g_autofree char *n_grants = NULL;
  g_autofree char *n_pending = NULL;
  g_autofree char *n_apps = NULL;
  g_autofree char *body = NULL;
  KhStore *store;
  GtkWidget *dialog;

  g_return_if_fail (KH_IS_PREFERENCES_WINDOW (self));

  if (self->context == NULL || self->busy)
    return;
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (self), self->storage_page);
  store = kh_app_context_get_store (self->context);
  if (store == NULL)
    return;

  grants = kh_store_list_grants (store);
  pending = kh_store_list_pending (store);
  apps = kh_store_list_apps (store);
  n_grants = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u authorization",
                                           "%u authorizations", grants->len),
                              grants->len);
  n_pending = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u pending link",
                                            "%u pending links", pending->len),
                               pending->len);
  n_apps = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u app profile", "%u app profiles",
                                         apps->len),
                            apps->len);
  /* Translators: the three %s are "3 authorizations", "1 pending link" and "2 app profiles". */
  body = g_strdup_printf (_("Keyhold deletes %s, %s and %s from this computer, with their "
                            "tokens and app secrets. Nothing is revoked at TikTok: the accounts "
                            "stay authorized there until they end or are cancelled. To end one "
                            "at TikTok as well, revoke it first."),
                          n_grants, n_pending, n_apps);

  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Forget All Accounts and Apps?"), body);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "forget", _("_Forget All"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "forget",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (forget_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_forget_clicked (KhPreferencesWindow *self)
{
  kh_preferences_window_ask_forget_all (self);
}

gboolean
kh_preferences_window_get_busy (KhPreferencesWindow *self)
{
  g_return_val_if_fail (KH_IS_PREFERENCES_WINDOW (self), FALSE);

  return self->busy;
}

GtkWidget *
kh_preferences_window_get_control (KhPreferencesWindow *self,
                                   const char          *id)
{
  g_return_val_if_fail (KH_IS_PREFERENCES_WINDOW (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  return GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (self),
                                                    KH_TYPE_PREFERENCES_WINDOW, id));
}

/* ---- team ---------------------------------------------------------------------------------- */

static void
set_team_busy (KhPreferencesWindow *self,
               gboolean             busy)
{
  KhTeam *team = kh_app_context_get_team (self->context);

  self->team_busy = busy;
  gtk_widget_set_visible (self->team_spinner, busy);
  gtk_spinner_set_spinning (GTK_SPINNER (self->team_spinner), busy);
  gtk_widget_set_visible (self->team_create_button, team == NULL);
  gtk_widget_set_visible (self->team_join_button, team == NULL);
  gtk_widget_set_visible (self->team_leave_button, team != NULL);
  gtk_widget_set_sensitive (self->team_create_button, !busy);
  gtk_widget_set_sensitive (self->team_join_button, !busy);
  gtk_widget_set_sensitive (self->team_leave_button, !busy);
}

static void
show_team_error (KhPreferencesWindow *self,
                 const char          *heading,
                 const GError        *error)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, error->message);

  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
describe_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  GError *error = NULL;
  JsonObject *status = kh_team_describe (task_data, &error);

  if (status == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, status, (GDestroyNotify) json_object_unref);
}

static char *
status_text (JsonObject *status,
             const char *member)
{
  JsonNode *node = json_object_get_member (status, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return g_strdup ("");
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));

  return g_strdup (json_node_get_string (node));
}

static void
described_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);
  g_autoptr(JsonObject) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *role = NULL;
  g_autofree char *host = NULL;
  g_autofree char *database = NULL;
  g_autofree char *schema = NULL;
  g_autofree char *key_id = NULL;
  g_autofree char *where = NULL;
  g_autofree char *grants_text = NULL;
  g_autofree char *connected = NULL;
  gint64 grants;

  status = g_task_propagate_pointer (G_TASK (result), &error);
  if (status == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        adw_action_row_set_subtitle (self->team_status_row, error->message);
      return;
    }

  role = status_text (status, "role");
  host = status_text (status, "host");
  database = status_text (status, "database");
  schema = status_text (status, "schema_version");
  key_id = status_text (status, "key_id");
  grants = json_object_get_int_member_with_default (status, "grants", 0);
  where = g_strdup_printf ("%s/%s", host, database);
  /* Translators: "Connected as alice to db.example/keyhold"; the admin variant says so. */
  connected = g_strdup_printf (json_object_get_boolean_member_with_default (status, "admin",
                                                                            FALSE)
                               ? _("Connected as %s (admin) to %s")
                               : _("Connected as %s to %s"), role, where);
  adw_action_row_set_subtitle (self->team_status_row, connected);
  adw_action_row_set_subtitle (self->team_schema_row, schema);
  adw_action_row_set_subtitle (self->team_key_row, key_id);
  grants_text = g_strdup_printf ("%" G_GINT64_FORMAT, grants);
  adw_action_row_set_subtitle (self->team_grants_row, grants_text);
  gtk_widget_set_visible (GTK_WIDGET (self->team_schema_row), TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->team_key_row), TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->team_grants_row), TRUE);
}

static void
show_team (KhPreferencesWindow *self)
{
  KhTeam *team = kh_app_context_get_team (self->context);
  g_autoptr(GTask) task = NULL;

  set_team_busy (self, self->team_busy);
  gtk_widget_set_visible (GTK_WIDGET (self->team_schema_row), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->team_key_row), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->team_grants_row), FALSE);
  if (team == NULL)
    {
      adw_action_row_set_subtitle (self->team_status_row, _("Not in a team"));
      return;
    }

  adw_action_row_set_subtitle (self->team_status_row, _("Connecting…"));
  task = g_task_new (self, self->cancellable, described_cb, NULL);
  g_task_set_task_data (task, g_object_ref (team), g_object_unref);
  g_task_run_in_thread (task, describe_thread);
}

typedef struct
{
  KhStore *store;
  char    *url;
  char    *password;   /* NULL: libpq's passfile */
  char    *join_code;  /* NULL: create */
  char    *created_code;
} TeamJob;

static void
wipe_free (char *secret)
{
  if (secret != NULL)
    memset (secret, 0, strlen (secret));
  g_free (secret);
}

static void
team_job_free (TeamJob *job)
{
  g_object_unref (job->store);
  g_free (job->url);
  wipe_free (job->password);
  wipe_free (job->join_code);
  wipe_free (job->created_code);
  g_free (job);
}

static void
connect_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  TeamJob *job = task_data;
  GError *error = NULL;
  KhTeam *team;

  if (job->join_code == NULL)
    team = kh_team_create (job->store, job->url, job->password, &job->created_code, &error);
  else
    team = kh_team_join (job->store, job->url, job->password, job->join_code, NULL, &error);

  if (team == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, team, g_object_unref);
}

static void
show_join_code (KhPreferencesWindow *self,
                const char          *join_code)
{
  GtkWidget *dialog;
  GtkWidget *label = gtk_label_new (join_code);

  /* Shown once: the user copies it into a password manager or reads it out. */
  gtk_label_set_selectable (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (label), PANGO_WRAP_CHAR);
  gtk_widget_add_css_class (label, "monospace");
  gtk_accessible_update_property (GTK_ACCESSIBLE (label), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Join code"), -1);
  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Team Created"),
                                   _("The join code is the team key: give it to a new member in "
                                     "person or through a password manager, never by chat or "
                                     "mail; it is not shown again"));
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), label);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
connected_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);
  TeamJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;
  gboolean create = job->join_code == NULL;

  team = g_task_propagate_pointer (G_TASK (result), &error);
  set_team_busy (self, FALSE);
  if (team == NULL)
    {
      show_team_error (self, create ? _("Could Not Create the Team")
                                    : _("Could Not Join the Team"), error);
      return;
    }

  kh_app_context_set_team (self->context, team);
  if (create && job->created_code != NULL)
    show_join_code (self, job->created_code);
}

static void
connect_response_cb (AdwMessageDialog    *dialog,
                     const char          *response,
                     KhPreferencesWindow *self)
{
  gboolean create = g_str_equal (response, "create");
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *url = gtk_editable_get_text (GTK_EDITABLE (self->team_url_row));
  const char *password = gtk_editable_get_text (GTK_EDITABLE (self->team_password_row));
  const char *code = gtk_editable_get_text (GTK_EDITABLE (self->team_code_row));
  TeamJob *job;

  adw_message_dialog_set_extra_child (dialog, NULL);
  if ((!create && !g_str_equal (response, "join")) || self->team_busy)
    return;

  /* What can be checked here is, before anything goes over the network. */
  if (!kh_team_check_conninfo (url, &error))
    {
      show_team_error (self, create ? _("Could Not Create the Team")
                                    : _("Could Not Join the Team"), error);
      return;
    }

  job = g_new0 (TeamJob, 1);
  job->store = g_object_ref (kh_app_context_get_store (self->context));
  job->url = g_strstrip (g_strdup (url));
  job->password = *password != '\0' ? g_strdup (password) : NULL;
  job->join_code = create ? NULL : g_strstrip (g_strdup (code));
  gtk_editable_set_text (GTK_EDITABLE (self->team_password_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->team_code_row), "");

  set_team_busy (self, TRUE);
  task = g_task_new (self, NULL, connected_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) team_job_free);
  g_task_run_in_thread (task, connect_thread);
}

/* Create (join FALSE) or Join Team: the URL, the password and, to join, the join code. */
static void
ask_connect (KhPreferencesWindow *self,
             gboolean             join)
{
  GtkWidget *dialog;

  if (self->team_busy || kh_app_context_get_store (self->context) == NULL)
    return;

  dialog = adw_message_dialog_new (GTK_WINDOW (self),
                                   join ? _("Join a Team") : _("Create a Team"),
                                   join ? _("The database URL and join code come from the team's "
                                            "admin.")
                                        : _("Your PostgreSQL role needs CREATEROLE and CREATE on "
                                            "the database. You become the team's first admin."));
  gtk_widget_set_visible (GTK_WIDGET (self->team_code_row), join);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), self->team_fields);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    join ? "join" : "create", join ? _("_Join") : _("C_reate"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog),
                                              join ? "join" : "create",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (connect_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_team_create_clicked (KhPreferencesWindow *self)
{
  ask_connect (self, FALSE);
}

static void
on_team_join_clicked (KhPreferencesWindow *self)
{
  ask_connect (self, TRUE);
}

static void
leave_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  GError *error = NULL;

  if (!kh_team_leave (task_data, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
left_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);
  g_autoptr(GError) error = NULL;

  set_team_busy (self, FALSE);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      show_team_error (self, _("Could Not Leave the Team"), error);
      return;
    }
  kh_app_context_set_team (self->context, NULL);
}

static void
leave_response_cb (AdwMessageDialog    *dialog,
                   const char          *response,
                   KhPreferencesWindow *self)
{
  KhTeam *team = kh_app_context_get_team (self->context);
  g_autoptr(GTask) task = NULL;

  if (!g_str_equal (response, "leave") || team == NULL || self->team_busy)
    return;

  set_team_busy (self, TRUE);
  task = g_task_new (self, NULL, left_cb, NULL);
  g_task_set_task_data (task, g_object_ref (team), g_object_unref);
  g_task_run_in_thread (task, leave_thread);
}

static void
on_team_leave_clicked (KhPreferencesWindow *self)
{
  GtkWidget *dialog;

  if (self->team_busy)
    return;

  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Leave the Team?"),
                                   _("This computer forgets the team, its key and its password. "
                                     "Shared grants stay in the team for the others, and your "
                                     "role keeps its access until an admin removes it."));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "leave", _("_Leave Team"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "leave",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect_object (dialog, "response", G_CALLBACK (leave_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- GObject ------------------------------------------------------------------------------- */

static void
kh_preferences_window_dispose (GObject *object)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_PREFERENCES_WINDOW);
  g_clear_object (&self->settings);
  g_clear_object (&self->context);

  G_OBJECT_CLASS (kh_preferences_window_parent_class)->dispose (object);
}

static void
kh_preferences_window_finalize (GObject *object)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);

  g_free (self->secrets_dir);
  g_free (self->index_dir);

  G_OBJECT_CLASS (kh_preferences_window_parent_class)->finalize (object);
}

static void
kh_preferences_window_class_init (KhPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kh_preferences_window_dispose;
  object_class->finalize = kh_preferences_window_finalize;

  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/keyhold/Keyhold/kh-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, port_spin);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, background_switch);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, margin_spin);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, notify_switch);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, thresholds_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, storage_page);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, secrets_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow,
                                        secrets_folder_button);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, index_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, storage_label);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, forget_button);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, forget_spinner);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, forget_result_label);
  gtk_widget_class_bind_template_callback (widget_class, on_thresholds_apply);
  gtk_widget_class_bind_template_callback (widget_class, on_secrets_folder_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_index_folder_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_forget_clicked);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_page);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_status_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_schema_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_key_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_grants_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_spinner);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_create_button);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_join_button);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_leave_button);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_fields);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_url_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_password_row);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, team_code_row);
  gtk_widget_class_bind_template_callback (widget_class, on_team_create_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_team_join_clicked);
  gtk_widget_class_bind_template_callback (widget_class, on_team_leave_clicked);
}

static void
kh_preferences_window_init (KhPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
}

KhPreferencesWindow *
kh_preferences_window_new (GSettings *settings)
{
  KhPreferencesWindow *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (KH_TYPE_PREFERENCES_WINDOW, NULL);
  self->settings = g_object_ref (settings);

  g_settings_bind (settings, "redirect-port", self->port_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "refresh-margin", self->margin_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "background-refresh", self->background_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify", self->notify_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify", self->thresholds_row, "sensitive",
                   G_SETTINGS_BIND_GET);
  show_thresholds (self);
  /* Without the application there is no store to describe or forget, nor a team. */
  gtk_widget_set_visible (GTK_WIDGET (self->storage_page), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->team_page), FALSE);

  return self;
}

KhPreferencesWindow *
kh_preferences_window_new_for_application (KhAppContext *context)
{
  KhPreferencesWindow *self;

  g_return_val_if_fail (KH_IS_APP_CONTEXT (context), NULL);

  self = kh_preferences_window_new (kh_app_context_get_settings (context));
  self->context = g_object_ref (context);
  gtk_widget_set_visible (GTK_WIDGET (self->storage_page), TRUE);
  show_storage (self);
  /* Without a store (no keyring) there is nowhere to keep a team's key. */
  gtk_widget_set_visible (GTK_WIDGET (self->team_page),
                          kh_app_context_get_store (context) != NULL);
  g_signal_connect_object (context, "notify::team", G_CALLBACK (show_team), self,
                           G_CONNECT_SWAPPED);
  show_team (self);

  return self;
}
