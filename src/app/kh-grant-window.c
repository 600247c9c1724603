/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-window.c: the details of one grant. What each account type needs to show comes from
 * the grant and the provider table: shops and ciphers (seller), advertisers (advertiser and the
 * TTCM account token), granted vs required scopes with TikTok's "remove all access, then
 * authorize again" rule (creator), and where the holder renews or cancels (seller, partner). */

#define G_LOG_DOMAIN "kh-grant-window"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-grant-window.h"

#include "kh-account-page.h"
#include "kh-broker.h"
#include "kh-grant-row.h"
#include "kh-history-group.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-util.h"

#define RENEWAL_WARNING_DAYS 30

struct _KhGrantWindow
{
  AdwWindow            parent_instance;

  /* template widgets */
  AdwToastOverlay     *toast_overlay;
  AdwWindowTitle      *window_title;
  AdwPreferencesGroup *notice_group;
  GtkLabel            *notice_label;
  AdwPreferencesGroup *info_group;
  AdwPreferencesGroup *shops_group;
  AdwPreferencesGroup *advertisers_group;
  AdwPreferencesGroup *scopes_group;
  AdwPreferencesGroup *help_group;
  KhHistoryGroup      *history_group;

  /* owned */
  KhGrant             *grant;
  KhAccountPage       *page;
  GCancellable        *cancellable;
};

G_DEFINE_FINAL_TYPE (KhGrantWindow, kh_grant_window, ADW_TYPE_WINDOW)

static void
copy_clicked_cb (GtkButton     *button,
                 KhGrantWindow *self)
{
  const char *text = g_object_get_data (G_OBJECT (button), "copy-text");

  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)), text);
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (_("Copied")));
}

static void
add_copy_button (KhGrantWindow *self,
                 AdwActionRow  *row,
                 const char    *text,
                 const char    *what)
{
  GtkWidget *button = gtk_button_new_from_icon_name ("edit-copy-symbolic");
  g_autofree char *tooltip = g_strdup_printf (_("Copy %s"), what);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  tooltip, -1);
  g_object_set_data_full (G_OBJECT (button), "copy-text", g_strdup (text), g_free);
  g_signal_connect (button, "clicked", G_CALLBACK (copy_clicked_cb), self);
  adw_action_row_add_suffix (row, button);
}

static AdwActionRow *
add_row (AdwPreferencesGroup *group,
         const char          *title,
         const char          *subtitle)
{
  AdwActionRow *row = ADW_ACTION_ROW (adw_action_row_new ());

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  if (subtitle != NULL)
    adw_action_row_set_subtitle (row, subtitle);
  adw_preferences_group_add (group, GTK_WIDGET (row));

  return row;
}

static void
add_time_row (AdwPreferencesGroup *group,
              const char          *title,
              gint64               when,
              gint64               now)
{
  g_autofree char *time = kh_format_time (when);
  g_autofree char *relative = when != 0 ? kh_format_relative (when, now) : NULL;
  g_autofree char *text = relative != NULL ? g_strdup_printf ("%s (%s)", time, relative)
                                           : g_strdup (_("Never expires"));

  add_row (group, title, text);
}

static void
reauthorize_clicked_cb (GtkButton     *button,
                        KhGrantWindow *self)
{
  KhAccountPage *page = self->page;

  gtk_window_close (GTK_WINDOW (self));
  kh_account_page_reauthorize (page, self->grant);
}

static void
renewal_clicked_cb (GtkButton     *button,
                    KhGrantWindow *self)
{
  KhAccountPage *page = self->page;

  kh_account_page_copy_renewal_pack (page, self->grant);
}

static void
history_loaded_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(KhGrantWindow) self = user_data;
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;

  entries = kh_history_log_read_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (entries == NULL)
    kh_history_group_set_error (self->history_group, error);
  else
    kh_history_group_set_entries (self->history_group, entries);
}

/* Worker thread: a shared grant's history is the team's audit log of it, read as the same
 * records as the local file's. */
static void
audit_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  KhGrantWindow *self = source_object;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GPtrArray) entries = NULL;
  GError *error = NULL;

  records = kh_team_read_audit (task_data, kh_grant_get_id (self->grant), NULL, 0, &error);
  if (records == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  entries = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
  for (guint i = 0; i < records->len; i++)
    {
      g_autoptr(GError) record_error = NULL;
      KhHistoryEntry *entry = kh_history_entry_from_json_node (g_ptr_array_index (records, i),
                                                               &record_error);

      /* A record a newer Keyhold wrote, with an action this one does not know, is skipped. */
      if (entry == NULL)
        g_debug ("Skipping an audit record: %s", record_error->message);
      else
        g_ptr_array_add (entries, entry);
    }
  g_task_return_pointer (task, g_steal_pointer (&entries), (GDestroyNotify) g_ptr_array_unref);
}

static void
audit_loaded_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  KhGrantWindow *self = KH_GRANT_WINDOW (object);
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;

  entries = g_task_propagate_pointer (G_TASK (result), &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (entries == NULL)
    kh_history_group_set_error (self->history_group, error);
  else
    kh_history_group_set_entries (self->history_group, entries);
}

/* Reads the grant's history in a worker thread: the local file (it may be megabytes), or for a
 * shared grant the team's audit log. */
static void
load_history (KhGrantWindow *self)
{
  KhAppContext *context = kh_account_page_get_context (self->page);
  KhStore *store = kh_app_context_get_store (context);
  KhTeam *team = kh_app_context_get_team (context);
  g_autofree char *path = NULL;

  if (kh_grant_get_shared (self->grant) && team != NULL)
    {
      g_autoptr(GTask) task = g_task_new (self, self->cancellable, audit_loaded_cb, NULL);

      g_task_set_source_tag (task, load_history);
      g_task_set_task_data (task, g_object_ref (team), g_object_unref);
      g_task_run_in_thread (task, audit_thread);
      return;
    }
  if (store == NULL)
    {
      kh_history_group_set_entries (self->history_group, NULL);
      return;
    }
  path = kh_history_log_path_for_store (store);
  kh_history_log_read_async (path, kh_grant_get_id (self->grant), self->cancellable,
                             history_loaded_cb, g_object_ref (self));
}

static void
update_accounts_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(KhGrantWindow) self = user_data;
  g_auto(GStrv) changes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  changes = kh_broker_update_accounts_finish (KH_BROKER (object), result, &error);
  kh_app_context_reload (kh_account_page_get_context (self->page));
  load_history (self);
  if (changes == NULL)
    {
      adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (error->message));
      return;
    }

  /* Lines are "+ID\tNAME" (added at TikTok) and "-ID\tNAME" (gone). */
  if (changes[0] == NULL)
    text = g_strdup (_("No changes since the authorization"));
  else
    {
      guint added = 0;
      guint removed = 0;

      for (guint i = 0; changes[i] != NULL; i++)
        {
          if (changes[i][0] == '+')
            added++;
          else
            removed++;
        }
      text = g_strdup_printf (_("%u added, %u removed: the list is up to date"), added, removed);
    }
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (text));
}

static void
update_accounts_clicked_cb (GtkButton     *button,
                            KhGrantWindow *self)
{
  KhBroker *broker = kh_app_context_get_broker (kh_account_page_get_context (self->page));

  gtk_widget_set_sensitive (GTK_WIDGET (button), FALSE);
  kh_broker_update_accounts_async (broker, kh_grant_get_id (self->grant), NULL,
                                   update_accounts_cb, g_object_ref (self));
}

static GtkWidget *
suffix_button (KhGrantWindow *self,
               const char    *label,
               GCallback      callback)
{
  GtkWidget *button = gtk_button_new_with_mnemonic (label);

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  g_signal_connect (button, "clicked", callback, self);

  return button;
}

static void
fill (KhGrantWindow *self)
{
  KhGrant *grant = self->grant;
  const KhProvider *provider = kh_provider_get (kh_grant_get_account_type (grant));
  gint64 now = kh_now ();
  GPtrArray *shops = kh_grant_get_shops (grant);
  GPtrArray *advertisers = kh_grant_get_advertisers (grant);
  const char * const *scopes = kh_grant_get_scopes (grant);
  const char * const *missing = kh_grant_get_missing_scopes (grant);
  const char * const *warnings = kh_grant_get_warnings (grant);
  g_autofree char *status = kh_grant_describe_status (grant, now);
  g_autoptr(GString) notice = g_string_new (NULL);
  gint64 end = kh_grant_get_refresh_expires_at (grant);
  AdwActionRow *row;

  adw_window_title_set_title (self->window_title, kh_grant_get_display_name (grant));
  adw_window_title_set_subtitle (self->window_title, _(provider->title));
  gtk_window_set_title (GTK_WINDOW (self), kh_grant_get_display_name (grant));

  /* -- what needs attention -- */
  if (kh_grant_compute_status (grant, now) == KH_GRANT_STATUS_NEEDS_REAUTH &&
      kh_grant_get_status_reason (grant) != NULL)
    g_string_append (notice, kh_grant_get_status_reason (grant));
  else if (kh_grant_compute_status (grant, now) == KH_GRANT_STATUS_NEEDS_REAUTH)
    g_string_append (notice, _("TikTok no longer accepts this authorization: re-authorize it."));
  if (provider->authorization_expires && end != 0 && end - now < RENEWAL_WARNING_DAYS * 86400)
    {
      g_autofree char *when = kh_format_relative (end, now);

      if (notice->len > 0)
        g_string_append (notice, "\n\n");
      g_string_append_printf (notice, _("The authorization ends %s. Renew it before then: "
                                        "send the client a renewal pack or re-authorize."),
                              when);
    }
  if (missing[0] != NULL)
    {
      g_autofree char *list = g_strjoinv (", ", (char **) missing);

      if (notice->len > 0)
        g_string_append (notice, "\n\n");
      g_string_append_printf (notice, _("Missing scopes: %s. The account holder must remove all "
                                        "access to the app, then authorize again: TikTok does "
                                        "not offer the left-out scopes a second time."), list);
    }
  for (guint i = 0; warnings[i] != NULL; i++)
    {
      if (notice->len > 0)
        g_string_append (notice, "\n\n");
      g_string_append (notice, warnings[i]);
    }
  gtk_label_set_text (self->notice_label, notice->str);
  gtk_widget_set_visible (GTK_WIDGET (self->notice_group), notice->len > 0);

  /* -- the authorization -- */
  add_row (self->info_group, _("Status"), status);
  if (kh_grant_get_role (grant) != NULL)
    {
      const KhProviderRole *role = kh_provider_get_role (provider, kh_grant_get_role (grant));

      add_row (self->info_group, _("Token"), role != NULL ? _(role->title)
                                                          : kh_grant_get_role (grant));
    }
  add_row (self->info_group, _("App Profile"), kh_grant_get_app_name (grant));
  add_row (self->info_group, _("Client"), kh_grant_get_client_label (grant)
                                          ? kh_grant_get_client_label (grant) : _("None"));
  if (kh_grant_get_region (grant) != NULL)
    add_row (self->info_group, _("Region"), kh_grant_get_region (grant));
  add_time_row (self->info_group, _("Access Token Expires"),
                kh_grant_get_access_expires_at (grant), now);
  if (end != 0)
    add_time_row (self->info_group, _("Authorization Ends"), end, now);
  row = add_row (self->info_group, _("Grant ID"), kh_grant_get_id (grant));
  add_copy_button (self, row, kh_grant_get_id (grant), _("Grant ID"));
  if (kh_grant_get_open_id (grant) != NULL)
    {
      row = add_row (self->info_group, _("Open ID"), kh_grant_get_open_id (grant));
      add_copy_button (self, row, kh_grant_get_open_id (grant), _("Open ID"));
    }

  /* -- shops -- */
  gtk_widget_set_visible (GTK_WIDGET (self->shops_group), shops != NULL && shops->len > 0);
  for (guint i = 0; shops != NULL && i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);
      g_autofree char *subtitle = g_strdup_printf (_("%s · ID %s · cipher %s"),
                                                   shop->region ? shop->region : "?",
                                                   shop->id ? shop->id : "?",
                                                   shop->cipher ? shop->cipher : "?");

      row = add_row (self->shops_group, shop->name ? shop->name : shop->id, subtitle);
      if (shop->cipher != NULL)
        add_copy_button (self, row, shop->cipher, _("Shop Cipher"));
      if (shop->id != NULL)
        add_copy_button (self, row, shop->id, _("Shop ID"));
    }
  if (kh_grant_get_account_type (grant) == KH_ACCOUNT_SELLER && (shops == NULL || shops->len == 0))
    {
      gtk_widget_set_visible (GTK_WIDGET (self->shops_group), TRUE);
      add_row (self->shops_group, _("No shops"),
               _("The seller authorized no shop for this app. Re-authorize and pick the shops."));
    }

  /* -- advertisers -- */
  gtk_widget_set_visible (GTK_WIDGET (self->advertisers_group),
                          advertisers != NULL && advertisers->len > 0);
  for (guint i = 0; advertisers != NULL && i < advertisers->len; i++)
    {
      KhAdvertiser *advertiser = g_ptr_array_index (advertisers, i);

      row = add_row (self->advertisers_group,
                     advertiser->name ? advertiser->name : advertiser->id,
                     advertiser->id);
      add_copy_button (self, row, advertiser->id, _("Advertiser ID"));
    }
  if (advertisers != NULL && advertisers->len > 0)
    adw_preferences_group_set_description (
      self->advertisers_group,
      _("As TikTok listed them when the token was issued or last checked."));

  /* Drift: advertisers (or shops) added or removed at TikTok since the authorization. */
  if (kh_grant_get_token_kind (grant) == KH_TOKEN_KIND_ADVERTISER
      || kh_grant_get_account_type (grant) == KH_ACCOUNT_SELLER)
    {
      AdwPreferencesGroup *group = (advertisers != NULL && advertisers->len > 0)
                                   ? self->advertisers_group : self->shops_group;

      gtk_widget_set_visible (GTK_WIDGET (group), TRUE);
      row = add_row (group, _("Check for Changes"),
                     _("Ask TikTok for the current list and update it here"));
      adw_action_row_add_suffix (row, suffix_button (self, _("C_heck"),
                                                     G_CALLBACK (update_accounts_clicked_cb)));
    }

  /* -- scopes -- */
  gtk_widget_set_visible (GTK_WIDGET (self->scopes_group), scopes[0] != NULL || missing[0] != NULL);
  if (scopes[0] != NULL)
    {
      g_autofree char *list = g_strjoinv (", ", (char **) scopes);

      row = add_row (self->scopes_group, _("Granted"), list);
    }
  if (missing[0] != NULL)
    {
      g_autofree char *list = g_strjoinv (", ", (char **) missing);

      row = add_row (self->scopes_group, _("Required but Missing"), list);
      gtk_widget_add_css_class (GTK_WIDGET (row), "error");
      row = add_row (self->scopes_group, _("Remove All Access, Then Authorize Again"),
                     _("Open the authorization link: the account holder chooses Remove all "
                       "access, then approves again with every scope."));
      adw_action_row_add_suffix (row, suffix_button (self, _("_Open Link"),
                                                     G_CALLBACK (reauthorize_clicked_cb)));
    }

  /* -- renew and cancel -- */
  if (provider->renew_path != NULL)
    add_row (self->help_group, _("Renew"), _(provider->renew_path));
  if (provider->manual_revoke != NULL)
    add_row (self->help_group, _("Cancel at TikTok"), _(provider->manual_revoke));
  else if (provider->revoke_api)
    add_row (self->help_group, _("Cancel at TikTok"),
             _("Revoke from the row menu: Keyhold asks TikTok to end the token."));
  row = add_row (self->help_group, _("Renewal Pack"),
                 _("A message with a fresh link, ready to send to the client"));
  adw_action_row_add_suffix (row, suffix_button (self, _("_Copy"),
                                                 G_CALLBACK (renewal_clicked_cb)));
  row = add_row (self->help_group, _("Re-authorize"),
                 _("Start a new authorization with the same app, region and client"));
  adw_action_row_add_suffix (row, suffix_button (self, _("_Start"),
                                                 G_CALLBACK (reauthorize_clicked_cb)));
}

static void
kh_grant_window_dispose (GObject *object)
{
  KhGrantWindow *self = KH_GRANT_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->grant);
  g_clear_object (&self->page);
  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_GRANT_WINDOW);

  G_OBJECT_CLASS (kh_grant_window_parent_class)->dispose (object);
}

static void
kh_grant_window_class_init (KhGrantWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kh_grant_window_dispose;

  g_type_ensure (KH_TYPE_HISTORY_GROUP);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/keyhold/Keyhold/kh-grant-window.ui");
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, notice_group);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, notice_label);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, info_group);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, shops_group);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, advertisers_group);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, scopes_group);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, help_group);
  gtk_widget_class_bind_template_child (widget_class, KhGrantWindow, history_group);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
kh_grant_window_init (KhGrantWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();
}

KhGrantWindow *
kh_grant_window_new (KhAccountPage *page,
                     KhGrant       *grant)
{
  GtkRoot *root;
  KhGrantWindow *self;

  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (page), NULL);
  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);

  root = gtk_widget_get_root (GTK_WIDGET (page));
  self = g_object_new (KH_TYPE_GRANT_WINDOW,
                       "transient-for", GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, NULL);
  self->page = g_object_ref (page);
  self->grant = g_object_ref (grant);
  fill (self);
  load_history (self);

  return self;
}
