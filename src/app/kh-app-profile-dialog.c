/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-app-profile-dialog.c: the app profile form. Each field is checked with the same core
 * function the CLI uses, as the user types; a field shows its error once it was touched, and
 * Save stays off until the whole profile validates. The secret goes to the keyring only. */

#define G_LOG_DOMAIN "kh-app-profile-dialog"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-app-profile-dialog.h"

#include "kh-error.h"

struct _KhAppProfileDialog
{
  AdwWindow            parent_instance;

  /* template widgets */
  AdwPreferencesGroup *app_group;
  AdwEntryRow         *name_row;
  AdwEntryRow         *key_row;
  AdwPasswordEntryRow *secret_row;
  AdwEntryRow         *service_row;
  AdwEntryRow         *redirect_row;
  AdwEntryRow         *link_row;
  AdwEntryRow         *scopes_row;
  GtkLabel            *error_label;
  GtkButton           *save_button;

  /* borrowed */
  KhAppContext        *context;

  /* owned */
  KhAppProfile        *existing;
  GHashTable          *touched;      /* rows the user changed */

  KhFamily             family;
  gboolean             can_save;
  gboolean             saving;
  gboolean             filling;
};

G_DEFINE_FINAL_TYPE (KhAppProfileDialog, kh_app_profile_dialog, ADW_TYPE_WINDOW)

enum {
  SAVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static char *
field_text (gpointer row)
{
  return g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));
}

static char **
parse_scopes (const char *text)
{
  g_auto(GStrv) parts = g_strsplit_set (text, ", \t\n", -1);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0')
      g_strv_builder_add (builder, parts[i]);

  return g_strv_builder_end (builder);
}

static gboolean
app_name_exists (KhAppProfileDialog *self,
                 const char         *name)
{
  GListModel *apps = kh_app_context_get_apps (self->context);
  guint n = g_list_model_get_n_items (apps);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KhAppProfile) app = g_list_model_get_item (apps, i);

      if (g_strcmp0 (kh_app_profile_get_name (app), name) == 0)
        return TRUE;
    }

  return FALSE;
}

/* Builds the profile the form describes; NULL (and error) when a field is wrong. */
static KhAppProfile *
build_profile (KhAppProfileDialog  *self,
               GError             **error)
{
  g_autofree char *name = field_text (self->name_row);
  g_autofree char *key = field_text (self->key_row);
  g_autofree char *service = field_text (self->service_row);
  g_autofree char *redirect = field_text (self->redirect_row);
  g_autofree char *link = field_text (self->link_row);
  g_autofree char *scopes_text = field_text (self->scopes_row);
  g_auto(GStrv) scopes = parse_scopes (scopes_text);
  g_autoptr(KhAppProfile) app = NULL;

  app = kh_app_profile_new (name, self->family, key);
  kh_app_profile_set_service_id (app, *service != '\0' ? service : NULL);
  kh_app_profile_set_redirect_uri (app, redirect);
  kh_app_profile_set_auth_link (app, *link != '\0' ? link : NULL);
  kh_app_profile_set_scopes (app, (const char * const *) scopes);

  if (!kh_app_profile_validate (app, error))
    return NULL;

  return g_steal_pointer (&app);
}

static void
mark_row (KhAppProfileDialog *self,
          gpointer            row,
          GError            **error,
          GString            *messages)
{
  gboolean bad = *error != NULL;

  /* Untouched fields of a new profile stay quiet: an empty form is not an error yet. */
  if (bad && (self->existing != NULL || g_hash_table_contains (self->touched, row)))
    {
      if (!gtk_widget_has_css_class (GTK_WIDGET (row), "error"))
        gtk_widget_add_css_class (GTK_WIDGET (row), "error");
      if (messages->len > 0)
        g_string_append_c (messages, '\n');
      g_string_append (messages, (*error)->message);
    }
  else
    gtk_widget_remove_css_class (GTK_WIDGET (row), "error");

  g_clear_error (error);
}

static void
validate (KhAppProfileDialog *self)
{
  g_autoptr(GString) messages = g_string_new (NULL);
  g_autofree char *name = field_text (self->name_row);
  g_autofree char *key = field_text (self->key_row);
  g_autofree char *secret = field_text (self->secret_row);
  g_autofree char *service = field_text (self->service_row);
  g_autofree char *redirect = field_text (self->redirect_row);
  g_autofree char *link = field_text (self->link_row);
  g_autoptr(KhAppProfile) app = NULL;
  GError *error = NULL;
  gboolean valid = TRUE;

  if (!kh_app_profile_check_name (name, &error))
    valid = FALSE;
  else if (self->existing == NULL && app_name_exists (self, name))
    {
      error = g_error_new (KH_ERROR, KH_ERROR_EXISTS,
                           _("An app profile named “%s” already exists: choose another name"),
                           name);
      valid = FALSE;
    }
  mark_row (self, self->name_row, &error, messages);

  if (!kh_app_profile_check_app_key (self->family, key, &error))
    valid = FALSE;
  mark_row (self, self->key_row, &error, messages);

  /* Editing keeps the stored secret when the field stays empty. */
  if (self->existing == NULL && *secret == '\0')
    {
      error = g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                   _("App Secret: enter the secret shown next to the app key"));
      valid = FALSE;
    }
  mark_row (self, self->secret_row, &error, messages);

  if (*service != '\0' && !kh_app_profile_check_service_id (service, &error))
    valid = FALSE;
  mark_row (self, self->service_row, &error, messages);

  if (!kh_app_profile_check_redirect_uri (redirect, &error))
    valid = FALSE;
  mark_row (self, self->redirect_row, &error, messages);

  /* The link has no single-field check of its own: the whole profile decides. */
  if (valid)
    {
      app = build_profile (self, &error);
      if (app == NULL)
        {
          valid = FALSE;
          if (*link != '\0')
            g_hash_table_add (self->touched, self->link_row);
          mark_row (self, self->link_row, &error, messages);
        }
      else
        gtk_widget_remove_css_class (GTK_WIDGET (self->link_row), "error");
    }

  gtk_label_set_text (self->error_label, messages->str);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), messages->len > 0);
  self->can_save = valid;
  gtk_widget_set_sensitive (GTK_WIDGET (self->save_button), valid && !self->saving);
}

static void
on_field_changed (KhAppProfileDialog *self,
                  GtkEditable        *row)
{
  if (self->filling)
    return;

  g_hash_table_add (self->touched, row);
  validate (self);
}

GtkWidget *
kh_app_profile_dialog_get_row (KhAppProfileDialog *self,
                               const char         *id)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE_DIALOG (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  return GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (self),
                                                    KH_TYPE_APP_PROFILE_DIALOG, id));
}

const char *
kh_app_profile_dialog_get_error_text (KhAppProfileDialog *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE_DIALOG (self), NULL);

  return gtk_label_get_text (self->error_label);
}

gboolean
kh_app_profile_dialog_get_can_save (KhAppProfileDialog *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE_DIALOG (self), FALSE);

  return self->can_save && !self->saving;
}

/* ---- saving --------------------------------------------------------------------------------- */

typedef struct
{
  KhAppProfile *app;
  char         *secret;
  gboolean      replace;
} SaveJob;

static void
save_job_free (SaveJob *job)
{
  g_clear_object (&job->app);
  if (job->secret != NULL)
    memset (job->secret, 0, strlen (job->secret));
  g_free (job->secret);
  g_free (job);
}

static void
save_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  KhStore *store = source_object;
  SaveJob *job = task_data;
  GError *error = NULL;

  if (!kh_store_save_app (store, job->app, job->secret, job->replace, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
save_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(KhAppProfileDialog) self = user_data;
  SaveJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  self->saving = FALSE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      gtk_label_set_text (self->error_label, error->message);
      gtk_widget_set_visible (GTK_WIDGET (self->error_label), TRUE);
      gtk_widget_set_sensitive (GTK_WIDGET (self->save_button), TRUE);
      return;
    }

  kh_app_context_reload (self->context);
  g_signal_emit (self, signals[SAVED], 0, kh_app_profile_get_name (job->app));
  gtk_window_close (GTK_WINDOW (self));
}

void
kh_app_profile_dialog_save (KhAppProfileDialog *self)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  KhStore *store;
  SaveJob *job;

  g_return_if_fail (KH_IS_APP_PROFILE_DIALOG (self));

  /* Saving shows every remaining error, touched or not. */
  g_hash_table_add (self->touched, self->name_row);
  g_hash_table_add (self->touched, self->key_row);
  g_hash_table_add (self->touched, self->secret_row);
  g_hash_table_add (self->touched, self->redirect_row);
  validate (self);
  store = kh_app_context_get_store (self->context);
  if (!self->can_save || self->saving || store == NULL)
    return;

  job = g_new0 (SaveJob, 1);
  job->app = build_profile (self, &error);
  g_assert (job->app != NULL);
  job->secret = field_text (self->secret_row);
  if (*job->secret == '\0')
    g_clear_pointer (&job->secret, g_free);
  job->replace = self->existing != NULL;

  /* The secret has left the entry: do not keep it in the widget longer than needed. */
  self->saving = TRUE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->save_button), FALSE);
  task = g_task_new (store, NULL, save_cb, g_object_ref (self));
  g_task_set_task_data (task, job, (GDestroyNotify) save_job_free);
  g_task_run_in_thread (task, save_thread);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void
fill (KhAppProfileDialog *self)
{
  KhAppProfile *app = self->existing;
  g_autofree char *redirect = NULL;

  self->filling = TRUE;

  if (self->family == KH_FAMILY_BUSINESS)
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->key_row), _("App ID"));
      adw_preferences_group_set_description (
        self->app_group,
        _("TikTok for Business developer portal › My Apps › your app › Basic Information"));
      gtk_widget_set_visible (GTK_WIDGET (self->service_row), FALSE);
    }
  else
    adw_preferences_group_set_description (
      self->app_group, _("Partner Center › App &amp; Service › your app › Basic Information"));

  if (app == NULL)
    {
      redirect = kh_app_context_dup_default_redirect_uri (self->context);
      gtk_editable_set_text (GTK_EDITABLE (self->redirect_row), redirect);
    }
  else
    {
      const char * const *scopes = kh_app_profile_get_scopes (app);
      g_autofree char *scope_text = g_strjoinv (", ", (char **) scopes);

      gtk_window_set_title (GTK_WINDOW (self), _("Edit App Profile"));
      gtk_editable_set_text (GTK_EDITABLE (self->name_row), kh_app_profile_get_name (app));
      /* The name identifies the profile in the keyring and in existing grants. */
      gtk_editable_set_editable (GTK_EDITABLE (self->name_row), FALSE);
      gtk_widget_set_sensitive (GTK_WIDGET (self->name_row), FALSE);
      gtk_editable_set_text (GTK_EDITABLE (self->key_row), kh_app_profile_get_app_key (app));
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->secret_row),
                                     _("App Secret (leave empty to keep)"));
      gtk_editable_set_text (GTK_EDITABLE (self->service_row),
                             kh_app_profile_get_service_id (app)
                             ? kh_app_profile_get_service_id (app) : "");
      gtk_editable_set_text (GTK_EDITABLE (self->redirect_row),
                             kh_app_profile_get_redirect_uri (app));
      gtk_editable_set_text (GTK_EDITABLE (self->link_row),
                             kh_app_profile_get_auth_link (app)
                             ? kh_app_profile_get_auth_link (app) : "");
      gtk_editable_set_text (GTK_EDITABLE (self->scopes_row), scope_text);
    }

  self->filling = FALSE;
  validate (self);
}

static void
kh_app_profile_dialog_dispose (GObject *object)
{
  KhAppProfileDialog *self = KH_APP_PROFILE_DIALOG (object);

  g_clear_object (&self->existing);
  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_APP_PROFILE_DIALOG);

  G_OBJECT_CLASS (kh_app_profile_dialog_parent_class)->dispose (object);
}

static void
kh_app_profile_dialog_finalize (GObject *object)
{
  KhAppProfileDialog *self = KH_APP_PROFILE_DIALOG (object);

  g_clear_pointer (&self->touched, g_hash_table_unref);

  G_OBJECT_CLASS (kh_app_profile_dialog_parent_class)->finalize (object);
}

static void
kh_app_profile_dialog_class_init (KhAppProfileDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kh_app_profile_dialog_dispose;
  object_class->finalize = kh_app_profile_dialog_finalize;

  signals[SAVED] = g_signal_new ("saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                 NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/keyhold/Keyhold/kh-app-profile-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, app_group);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, name_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, key_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, secret_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, service_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, redirect_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, link_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, scopes_row);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, error_label);
  gtk_widget_class_bind_template_child (widget_class, KhAppProfileDialog, save_button);
  gtk_widget_class_bind_template_callback (widget_class, on_field_changed);
  gtk_widget_class_bind_template_callback (widget_class, kh_app_profile_dialog_save);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
kh_app_profile_dialog_init (KhAppProfileDialog *self)
{
  self->touched = g_hash_table_new (NULL, NULL);

  gtk_widget_init_template (GTK_WIDGET (self));
}

KhAppProfileDialog *
kh_app_profile_dialog_new (KhAppContext  *context,
                           KhFamily       family,
                           KhAppProfile  *existing)
{
  KhAppProfileDialog *self;

  g_return_val_if_fail (KH_IS_APP_CONTEXT (context), NULL);
  g_return_val_if_fail (existing == NULL || KH_IS_APP_PROFILE (existing), NULL);

  self = g_object_new (KH_TYPE_APP_PROFILE_DIALOG, NULL);
  self->context = context;
  self->family = existing != NULL ? kh_app_profile_get_family (existing) : family;
  g_set_object (&self->existing, existing);
  fill (self);

  return self;
}
