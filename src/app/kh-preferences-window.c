/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-preferences-window.c: every control is bound straight to its GSettings key, so the app
 * and the background refresh see a change at once. The Storage page says where the secrets are
 * (inside Flatpak libsecret keeps them in its own encrypted file, which Passwords and Keys never
 * shows, so this page is the only place a user learns of it) and offers "Forget All". */

#define G_LOG_DOMAIN "kh-preferences-window"

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "kh-preferences-window.h"

#include "kh-environment.h"

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

  /* owned */
  GSettings            *settings;
  KhApplication        *application;
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
  KhStore *store = kh_application_get_store (self->application);
  g_autofree char *description = NULL;

  if (store == NULL)
    {
      /* No keyring at startup: say why, and there is nothing to forget. */
      const GError *error = kh_application_get_store_error (self->application);

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
  KhApplication       *application;
} ForgetData;

static void
forget_data_free (ForgetData *data)
{
  g_object_unref (data->self);
  g_object_unref (data->application);
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
  kh_application_reload (data->application);
  if (self->application == NULL)
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
      guint left = count_stored (kh_application_get_store (self->application));
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
  KhStore *store = self->application != NULL ? kh_application_get_store (self->application)
                                               : NULL;
  ForgetData *data;

  if (!g_str_equal (response, "forget") || store == NULL || self->busy)
    return;

  set_busy (self, TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->forget_result_label), FALSE);
  /* No cancellable: once started, forgetting runs to the end, even if this window closes. */
  data = g_new0 (ForgetData, 1);
  data->self = g_object_ref (self);
  data->application = g_object_ref (self->application);
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

  if (self->application == NULL || self->busy)
    return;
  adw_preferences_window_set_visible_page (ADW_PREFERENCES_WINDOW (self), self->storage_page);
  store = kh_application_get_store (self->application);
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

/* ---- GObject ------------------------------------------------------------------------------- */

static void
kh_preferences_window_dispose (GObject *object)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_PREFERENCES_WINDOW);
  g_clear_object (&self->settings);
  g_clear_object (&self->application);

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
}

static void
kh_preferences_window_init (KhPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
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
  /* Without the application there is no store to describe or forget. */
  gtk_widget_set_visible (GTK_WIDGET (self->storage_page), FALSE);

  return self;
}

KhPreferencesWindow *
kh_preferences_window_new_for_application (KhApplication *application)
{
  KhPreferencesWindow *self;

  g_return_val_if_fail (KH_IS_APPLICATION (application), NULL);

  self = kh_preferences_window_new (kh_application_get_settings (application));
  self->application = g_object_ref (application);
  gtk_widget_set_visible (GTK_WIDGET (self->storage_page), TRUE);
  show_storage (self);

  return self;
}
