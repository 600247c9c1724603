/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page-form.c: the form of an account page and its entrances: the app profile (add,
 * edit, copy its Redirect URL), the browser profile, and the three ways to a grant that run
 * through KhFlow: authorize in the browser, a link for a client (and the renewal pack), a pasted
 * redirected URL. */

#define G_LOG_DOMAIN "kh-account-page"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-account-page-private.h"

#include "kh-app-profile-dialog.h"
#include "kh-browser-profile.h"
#include "kh-error.h"
#include "kh-grant-row.h"
#include "kh-history-log.h"
#include "kh-provider.h"
#include "kh-util.h"

#define AUTHORIZE_TIMEOUT_SECONDS (15 * 60)

/* ---- authorize in browser ------------------------------------------------------------------- */

static void
authorize_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(KhAccountPage) self = user_data;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;

  grant = kh_flow_authorize_finish (KH_FLOW (object), result, &error);
  kh_account_page_set_busy (self, FALSE);

  if (grant == NULL)
    kh_account_page_show_flow_error (self, error);
  else
    kh_account_page_flow_succeeded (self, grant);
}

static void
select_role (KhAccountPage *self,
             const char    *role)
{
  for (guint i = 0; role != NULL && i < self->provider->n_roles; i++)
    if (g_strcmp0 (self->provider->roles[i].id, role) == 0)
      adw_combo_row_set_selected (self->role_row, i);
}

static gboolean
check_ready (KhAccountPage *self)
{
  if (self->busy)
    {
      kh_account_page_toast (self, _("An authorization is already running on this page"));
      return FALSE;
    }

  if (kh_app_context_get_store (self->context) == NULL)
    return FALSE;

  if (kh_account_page_get_selected_app (self) == NULL)
    {
      kh_account_page_toast (self, _("Add an app profile first"));
      return FALSE;
    }

  return TRUE;
}

static KhFlowFlags
selected_flags (KhAccountPage *self)
{
  if (self->type == KH_ACCOUNT_TIKTOK_ACCOUNT && gtk_switch_get_active (self->consent_switch))
    return KH_FLOW_FLAGS_FORCE_CONSENT;

  return KH_FLOW_FLAGS_NONE;
}

/* ---- the browser profile -------------------------------------------------------------------- */

/* The profile the browser row shows, or NULL for the system browser. */
static KhBrowserProfile *
selected_browser (KhAccountPage *self)
{
  guint selected = adw_combo_row_get_selected (self->browser_row);

  if (self->browser_profiles == NULL || selected == 0 || selected == GTK_INVALID_LIST_POSITION ||
      selected > self->browser_profiles->len)
    return NULL;

  return g_ptr_array_index (self->browser_profiles, selected - 1);
}

/* Shows the profile of that id, or the system browser when id is NULL or gone. */
static void
select_browser (KhAccountPage *self,
                const char    *id)
{
  guint position = 0;

  for (guint i = 0; id != NULL && self->browser_profiles != NULL &&
                    i < self->browser_profiles->len; i++)
    if (g_str_equal (kh_browser_profile_get_id (g_ptr_array_index (self->browser_profiles, i)),
                     id))
      position = i + 1;
  adw_combo_row_set_selected (self->browser_row, position);
}

/* The last profile used for the client label in the form: a client's shop lives in one
 * profile, so naming the client picks it again. */
static void
select_remembered_browser (KhAccountPage *self)
{
  GSettings *settings = kh_app_context_get_settings (self->context);
  g_autoptr(GVariant) choices = g_settings_get_value (settings, "browser-profiles");
  g_autofree char *label = kh_account_page_client_label (self);
  g_autofree char *id = kh_browser_profile_lookup_choice (choices, label);

  select_browser (self, id);
}

static void
remember_browser (KhAccountPage *self,
                  const char    *label)
{
  GSettings *settings = kh_app_context_get_settings (self->context);
  KhBrowserProfile *profile = selected_browser (self);
  const char *id = profile != NULL ? kh_browser_profile_get_id (profile) : NULL;
  g_autoptr(GVariant) choices = g_settings_get_value (settings, "browser-profiles");
  g_autofree char *remembered = kh_browser_profile_lookup_choice (choices, label);

  /* Until the profiles are read the row can only show the system browser: that is no choice,
   * and it must not forget the profile remembered for the label. */
  if (self->browser_profiles == NULL || g_strcmp0 (remembered, id) == 0)
    return;
  g_settings_set_value (settings, "browser-profiles",
                        kh_browser_profile_remember_choice (choices, label, id));
}

static void
browsers_discovered_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(KhAccountPage) self = user_data;
  g_autoptr(GPtrArray) profiles = kh_browser_profile_discover_finish (result, NULL);
  g_autofree char *kept = NULL;
  g_autofree const char **titles = NULL;

  /* NULL: cancelled, by a newer discovery or the page's end. */
  if (profiles == NULL || self->browser_row == NULL)
    return;

  /* A profile the user picked survives a re-read; otherwise the label's choice shows. */
  if (selected_browser (self) != NULL)
    kept = g_strdup (kh_browser_profile_get_id (selected_browser (self)));

  titles = g_new0 (const char *, profiles->len + 1);
  for (guint i = 0; i < profiles->len; i++)
    titles[i] = kh_browser_profile_get_title (g_ptr_array_index (profiles, i));
  g_clear_pointer (&self->browser_profiles, g_ptr_array_unref);
  self->browser_profiles = g_ptr_array_ref (profiles);
  gtk_string_list_splice (self->browser_list, 1,
                          g_list_model_get_n_items (G_LIST_MODEL (self->browser_list)) - 1,
                          titles);

  if (kept != NULL && kh_browser_profile_find (profiles, kept) != NULL)
    select_browser (self, kept);
  else
    select_remembered_browser (self);
}

/* Reads the installed browsers' profiles again, whenever the page is shown: a profile made in
 * the browser meanwhile appears. */
void
kh_account_page_reload_browsers (KhAccountPage *self)
{
  if (!self->browsers_available)
    return;

  g_cancellable_cancel (self->browser_cancellable);
  g_clear_object (&self->browser_cancellable);
  self->browser_cancellable = g_cancellable_new ();
  kh_browser_profile_discover_async (self->browser_cancellable, browsers_discovered_cb,
                                     g_object_ref (self));
}

void
kh_account_page_setup_browser_row (KhAccountPage *self)
{
  const char *help = _("The profile signed in to the account to authorize; remembered for "
                       "each client label");
  KhBrowserPlaces places;
  const char *reason;

  kh_browser_places_init (&places);
  reason = kh_browser_places_unavailable_reason (&places);
  self->browsers_available = reason == NULL;
  gtk_widget_set_sensitive (GTK_WIDGET (self->browser_row), self->browsers_available);
  if (reason != NULL)
    {
      /* Flatpak: the OpenURI portal opens the system browser, and nothing else can. */
      adw_action_row_set_subtitle (ADW_ACTION_ROW (self->browser_row), reason);
      return;
    }

  /* The choice shows in full under the title ("Chromium — Work" does not fit beside it);
   * what it is for is the row's description. */
  adw_combo_row_set_use_subtitle (self->browser_row, TRUE);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->browser_row), help);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->browser_row),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, help, -1);
}

void
kh_account_page_on_client_label_changed (KhAccountPage *self)
{
  select_remembered_browser (self);
}

void
kh_account_page_authorize (KhAccountPage *self,
                           const char    *role)
{
  g_autofree char *label = NULL;
  KhFlow *flow;

  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  kh_account_page_ensure_content (self);

  select_role (self, role);
  if (!check_ready (self))
    return;

  flow = kh_account_page_new_flow (self);
  label = kh_account_page_client_label (self);
  kh_flow_set_browser_profile (flow, selected_browser (self));
  remember_browser (self, label);
  kh_account_page_set_busy (self, TRUE);
  kh_flow_authorize_async (flow, self->type, kh_account_page_selected_role (self),
                           kh_account_page_get_selected_app (self),
                           kh_account_page_selected_region (self), label,
                           selected_flags (self), AUTHORIZE_TIMEOUT_SECONDS, self->cancellable,
                           authorize_cb, g_object_ref (self));
}

void
kh_account_page_cancel (KhAccountPage *self)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));

  g_cancellable_cancel (self->cancellable);
}

void
kh_account_page_on_authorize_clicked (KhAccountPage *self)
{
  kh_account_page_authorize (self, NULL);
}

void
kh_account_page_on_copy_flow_link_clicked (KhAccountPage *self)
{
  KhAuthRequest *request = self->flow != NULL ? kh_flow_get_request (self->flow) : NULL;

  if (request == NULL)
    return;

  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                          kh_auth_request_get_url (request));
  kh_account_page_toast (self, _("Authorization link copied"));
}

/* ---- link for a client ---------------------------------------------------------------------- */

typedef struct
{
  KhAccountType  type;
  char          *role;
  KhAppProfile  *app;
  KhRegion       region;
  char          *client_label;
  KhFlowFlags    flags;
  KhGrant       *grant;        /* renewal pack: the grant being renewed */
} LinkJob;

static void
link_job_free (LinkJob *job)
{
  g_free (job->role);
  g_clear_object (&job->app);
  g_free (job->client_label);
  g_clear_object (&job->grant);
  g_free (job);
}

static void
link_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  KhAccountPage *self = source_object;
  LinkJob *job = task_data;
  KhAuthRequest *request;
  GError *error = NULL;

  request = kh_flow_create_link (kh_app_context_get_store (self->context), job->type,
                                 job->role, job->app, job->region, job->client_label, job->flags,
                                 &error);
  if (request == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, request, g_object_unref);
}

static void
start_link_job (KhAccountPage       *self,
                LinkJob             *job,
                GAsyncReadyCallback  callback)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, NULL);

  g_task_set_task_data (task, job, (GDestroyNotify) link_job_free);
  g_task_run_in_thread (task, link_thread);
}

static char *
format_remaining (gint64 seconds)
{
  if (seconds <= 0)
    return g_strdup (_("This link has expired"));
  if (seconds >= 3600)
    return g_strdup_printf (_("Expires in %d:%02d:%02d"), (int) (seconds / 3600),
                            (int) (seconds % 3600 / 60), (int) (seconds % 60));

  return g_strdup_printf (_("Expires in %d:%02d"), (int) (seconds / 60), (int) (seconds % 60));
}

static gboolean
countdown_tick (gpointer user_data)
{
  GtkLabel *label = user_data;
  gint64 expires_at = GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (label), "expires-at"));
  g_autofree char *text = format_remaining (expires_at - kh_now ());

  gtk_label_set_text (label, text);

  return G_SOURCE_CONTINUE;
}

static void
link_dialog_response_cb (AdwMessageDialog *dialog,
                         const char       *response,
                         gpointer          user_data)
{
  KhAccountPage *self = user_data;
  const char *url = g_object_get_data (G_OBJECT (dialog), "url");

  if (g_str_equal (response, "copy"))
    {
      gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (dialog)), url);
      kh_account_page_toast (self, _("Link copied"));
    }
}

static void
show_link_dialog (KhAccountPage *self,
                  KhAuthRequest *request)
{
  GtkWindow *window = kh_account_page_get_window (self);
  GtkWidget *dialog;
  GtkWidget *box;
  GtkWidget *url_label;
  GtkWidget *countdown;
  guint tick;

  if (window == NULL)
    return;

  dialog = adw_message_dialog_new (GTK_WINDOW (window), _("Link for a Client"),
                                   _("Send this link to the account holder. After they approve, "
                                     "their browser shows an address that does not load: ask "
                                     "them to send you that whole address, and paste it with "
                                     "Paste Redirected URL."));
  g_object_set_data_full (G_OBJECT (dialog), "url", g_strdup (kh_auth_request_get_url (request)),
                          g_free);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  url_label = gtk_label_new (kh_auth_request_get_url (request));
  gtk_label_set_selectable (GTK_LABEL (url_label), TRUE);
  gtk_label_set_wrap (GTK_LABEL (url_label), TRUE);
  gtk_label_set_wrap_mode (GTK_LABEL (url_label), PANGO_WRAP_CHAR);
  gtk_label_set_xalign (GTK_LABEL (url_label), 0);
  gtk_widget_add_css_class (url_label, "monospace");
  gtk_widget_add_css_class (url_label, "kh-link");
  gtk_accessible_update_property (GTK_ACCESSIBLE (url_label), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Authorization link"), -1);
  countdown = gtk_label_new (NULL);
  gtk_widget_add_css_class (countdown, "dim-label");
  gtk_widget_add_css_class (countdown, "numeric");
  gtk_widget_set_name (countdown, "link-countdown");
  g_object_set_data (G_OBJECT (countdown), "expires-at",
                     GSIZE_TO_POINTER ((gsize) kh_auth_request_get_expires_at (request)));
  countdown_tick (countdown);
  gtk_box_append (GTK_BOX (box), url_label);
  gtk_box_append (GTK_BOX (box), countdown);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), box);

  /* The countdown lives as long as the dialog. */
  tick = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, 1, countdown_tick,
                                     g_object_ref (countdown), g_object_unref);
  g_object_set_data_full (G_OBJECT (dialog), "tick", GUINT_TO_POINTER (tick),
                          (GDestroyNotify) g_source_remove);

  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "close", _("_Close"),
                                    "copy", _("_Copy Link"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "copy",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "copy");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "close");
  g_signal_connect_object (dialog, "response", G_CALLBACK (link_dialog_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
link_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (object);
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(GError) error = NULL;

  kh_account_page_set_busy (self, FALSE);
  request = g_task_propagate_pointer (G_TASK (result), &error);
  if (request == NULL)
    {
      kh_account_page_show_flow_error (self, error);
      return;
    }

  show_link_dialog (self, request);
}

static LinkJob *
link_job_from_page (KhAccountPage *self)
{
  LinkJob *job = g_new0 (LinkJob, 1);

  job->type = self->type;
  job->role = g_strdup (kh_account_page_selected_role (self));
  job->app = g_object_ref (kh_account_page_get_selected_app (self));
  job->region = kh_account_page_selected_region (self);
  job->client_label = kh_account_page_client_label (self);
  job->flags = selected_flags (self);

  return job;
}

void
kh_account_page_create_link (KhAccountPage *self,
                             const char    *role)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  kh_account_page_ensure_content (self);

  select_role (self, role);
  if (!check_ready (self))
    return;

  gtk_label_set_text (self->progress_label, _("Creating the link…"));
  gtk_widget_set_visible (self->copy_flow_link_button, FALSE);
  kh_account_page_set_busy (self, TRUE);
  start_link_job (self, link_job_from_page (self), link_cb);
}

void
kh_account_page_on_link_clicked (KhAccountPage *self)
{
  kh_account_page_create_link (self, NULL);
}

/* ---- renewal pack --------------------------------------------------------------------------- */

static void
renewal_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (object);
  LinkJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *until = NULL;
  g_autofree char *pack = NULL;

  kh_account_page_set_busy (self, FALSE);
  request = g_task_propagate_pointer (G_TASK (result), &error);
  if (request == NULL)
    {
      kh_account_page_show_flow_error (self, error);
      return;
    }

  /* The core writes the message (deadline, where the owner renews); the page adds how this
   * link comes back to us. */
  pack = kh_grant_renewal_pack (job->grant, job->app, kh_auth_request_get_url (request), kh_now ());
  until = kh_format_time (kh_auth_request_get_expires_at (request));
  g_string_append (text, pack);
  g_string_append (text, "\n");
  g_string_append_printf (text, _("The link works until %s. After you approve, your browser "
                                  "shows an address starting with %s that does not load: "
                                  "please send us that whole address."),
                          until, kh_auth_request_get_redirect_uri (request));
  g_string_append_c (text, '\n');

  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), text->str);
  kh_history_record_action (kh_app_context_get_store (self->context),
                            KH_HISTORY_RENEWAL_COPIED, job->grant);
  kh_account_page_toast (self, _("Renewal pack copied: paste it into a message to the client"));
}

static void
job_from_grant (KhAccountPage *self,
                KhGrant       *grant)
{
  const char *region = kh_grant_get_region (grant);
  const char *label = kh_grant_get_client_label (grant);

  kh_account_page_select_app (self, kh_grant_get_app_name (grant));
  kh_account_page_set_region (self, region != NULL && g_ascii_strcasecmp (region, "us") == 0
                                    ? KH_REGION_US : KH_REGION_ROW);
  select_role (self, kh_grant_get_role (grant));
  gtk_editable_set_text (GTK_EDITABLE (self->client_row), label != NULL ? label : "");
}

void
kh_account_page_copy_renewal_pack (KhAccountPage *self,
                                   KhGrant       *grant)
{
  LinkJob *job;

  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  g_return_if_fail (KH_IS_GRANT (grant));
  kh_account_page_ensure_content (self);

  job_from_grant (self, grant);
  if (!check_ready (self))
    return;

  gtk_label_set_text (self->progress_label, _("Creating the renewal link…"));
  gtk_widget_set_visible (self->copy_flow_link_button, FALSE);
  job = link_job_from_page (self);
  job->grant = g_object_ref (grant);
  kh_account_page_set_busy (self, TRUE);
  start_link_job (self, job, renewal_cb);
}

void
kh_account_page_reauthorize (KhAccountPage *self,
                             KhGrant       *grant)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  g_return_if_fail (KH_IS_GRANT (grant));
  kh_account_page_ensure_content (self);

  job_from_grant (self, grant);
  kh_account_page_authorize (self, kh_grant_get_role (grant));
}

/* ---- paste redirected URL ------------------------------------------------------------------- */

static void complete_with_flags (KhAccountPage *self,
                                 const char    *url,
                                 KhFlowFlags    flags);

static void
accept_no_state_response_cb (AdwMessageDialog *dialog,
                             const char       *response,
                             gpointer          user_data)
{
  KhAccountPage *self = user_data;
  const char *url = g_object_get_data (G_OBJECT (dialog), "url");

  if (g_str_equal (response, "accept"))
    complete_with_flags (self, url, KH_FLOW_FLAGS_ALLOW_NO_STATE);
}

static void
complete_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(KhAccountPage) self = user_data;
  g_autofree char *url = g_object_steal_data (object, "kh-pasted");
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;
  GtkWindow *window;

  grant = kh_flow_complete_finish (KH_FLOW (object), result, &error);
  kh_account_page_set_busy (self, FALSE);

  if (grant != NULL)
    {
      kh_account_page_flow_succeeded (self, grant);
      return;
    }

  window = kh_account_page_get_window (self);
  if (window != NULL && g_error_matches (error, KH_ERROR, KH_ERROR_STATE_MISSING))
    {
      /* An App Store install carries no state: accept it only with the user's word. */
      g_autofree char *body = kh_account_page_explain_error (error);
      GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (window),
                                                  kh_account_page_error_heading (error), body);

      g_object_set_data_full (G_OBJECT (dialog), "url", g_steal_pointer (&url), g_free);
      adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                        "cancel", _("_Cancel"),
                                        "accept", _("_Accept Without State"),
                                        NULL);
      adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "accept",
                                                  ADW_RESPONSE_DESTRUCTIVE);
      adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
      g_signal_connect_object (dialog, "response", G_CALLBACK (accept_no_state_response_cb),
                               self, 0);
      gtk_window_present (GTK_WINDOW (dialog));
      return;
    }

  kh_account_page_show_flow_error (self, error);
}

static void
complete_with_flags (KhAccountPage *self,
                     const char    *url,
                     KhFlowFlags    flags)
{
  KhFlow *flow;

  kh_account_page_ensure_content (self);

  if (self->busy || kh_app_context_get_store (self->context) == NULL)
    return;

  flow = kh_account_page_new_flow (self);
  g_object_set_data_full (G_OBJECT (flow), "kh-pasted", g_strdup (url), g_free);
  gtk_label_set_text (self->progress_label, _("Checking the address…"));
  kh_account_page_set_busy (self, TRUE);
  kh_flow_complete_async (flow, url, flags, self->cancellable, complete_cb, g_object_ref (self));
}

static void
paste_response_cb (AdwMessageDialog *dialog,
                   const char       *response,
                   gpointer          user_data)
{
  KhAccountPage *self = user_data;
  GtkEditable *entry = GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog));
  g_autofree char *url = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  if (g_str_equal (response, "complete") && *url != '\0')
    complete_with_flags (self, url, KH_FLOW_FLAGS_NONE);
}

static void
paste_entry_changed_cb (GtkEditable      *entry,
                        AdwMessageDialog *dialog)
{
  g_autofree char *text = g_strstrip (g_strdup (gtk_editable_get_text (entry)));

  adw_message_dialog_set_response_enabled (dialog, "complete", *text != '\0');
}

void
kh_account_page_complete (KhAccountPage *self,
                          const char    *url)
{
  GtkWindow *window;
  GtkWidget *dialog;
  GtkWidget *entry;

  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  kh_account_page_ensure_content (self);

  if (url != NULL)
    {
      complete_with_flags (self, url, KH_FLOW_FLAGS_NONE);
      return;
    }

  window = kh_account_page_get_window (self);
  if (window == NULL)
    return;

  dialog = adw_message_dialog_new (GTK_WINDOW (window), _("Paste Redirected URL"),
                                   _("Paste the whole address the client's browser landed on "
                                     "after they approved. Keyhold finds the link it belongs to "
                                     "and stores the authorization."));
  entry = gtk_entry_new ();
  gtk_entry_set_placeholder_text (GTK_ENTRY (entry), "http://localhost:8765/callback?code=…");
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Redirected URL"), -1);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "complete", _("C_omplete"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "complete",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_response_enabled (ADW_MESSAGE_DIALOG (dialog), "complete", FALSE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "complete");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect (entry, "changed", G_CALLBACK (paste_entry_changed_cb), dialog);
  g_signal_connect_object (dialog, "response", G_CALLBACK (paste_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
kh_account_page_on_paste_clicked (KhAccountPage *self)
{
  kh_account_page_complete (self, NULL);
}

/* ---- app profiles --------------------------------------------------------------------------- */

static void
profile_saved_cb (KhAppProfileDialog *dialog,
                  const char         *name,
                  KhAccountPage      *self)
{
  kh_app_context_reload (self->context);
  kh_account_page_select_app (self, name);
  kh_account_page_update_app_state (self);
}

static void
open_profile_dialog (KhAccountPage *self,
                     KhAppProfile  *app)
{
  GtkWindow *window = kh_account_page_get_window (self);
  KhAppProfileDialog *dialog;

  dialog = kh_app_profile_dialog_new (self->context, self->provider->family, app);
  if (window != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (dialog), GTK_WINDOW (window));
  g_signal_connect_object (dialog, "saved", G_CALLBACK (profile_saved_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

void
kh_account_page_on_add_app_clicked (KhAccountPage *self)
{
  open_profile_dialog (self, NULL);
}

void
kh_account_page_on_edit_app_clicked (KhAccountPage *self)
{
  KhAppProfile *app = kh_account_page_get_selected_app (self);

  if (app != NULL)
    open_profile_dialog (self, app);
}

void
kh_account_page_on_copy_redirect_clicked (KhAccountPage *self)
{
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                          adw_action_row_get_subtitle (self->redirect_note_row));
  kh_account_page_toast (self, _("Redirect URL copied"));
}
