/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-window.c: the main window. The pages do the authorizing; the window holds what spans them:
 * search, the banner that says when test endpoints are active, toasts, error dialogs, and the
 * operations of a grant's row menu (copy token, refresh, revoke, remove, label...). */

#define G_LOG_DOMAIN "kh-window"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-window.h"

#include "kh-account-page.h"
#include "kh-error.h"
#include "kh-grant-window.h"
#include "kh-history-log.h"
#include "kh-origin-map.h"
#include "kh-provider.h"
#include "kh-util.h"

struct _KhWindow
{
  AdwApplicationWindow  parent_instance;

  /* template widgets */
  AdwToastOverlay      *toast_overlay;
  AdwViewStack         *stack;
  AdwViewSwitcherTitle *switcher_title;
  AdwViewSwitcherBar   *switcher_bar;
  GtkStack             *main_stack;
  AdwStatusPage        *error_page;
  GtkSearchBar         *search_bar;
  GtkSearchEntry       *search_entry;
  GtkRevealer          *banner_revealer;
  GtkLabel             *banner_label;
  GtkMenuButton        *menu_button;
  GMenuModel           *primary_menu;

  /* borrowed */
  KhAppContext         *context;
  AdwBin               *slots[KH_N_ACCOUNT_TYPES];   /* the stack's pages */
  KhAccountPage        *pages[KH_N_ACCOUNT_TYPES];   /* built when first needed */

  /* owned */
  GCancellable         *cancellable;
  GdkFrameClock        *frame_clock;   /* until the first frame */
  guint                 help_overlay_id;
  char                 *search;
};

G_DEFINE_FINAL_TYPE (KhWindow, kh_window, ADW_TYPE_APPLICATION_WINDOW)

/* ---- helpers -------------------------------------------------------------------------------- */

/* A toast's title is Pango markup in libadwaita 1.2, and the names in it come from TikTok or
 * the user ("Acme & Sons"): always plain text here. */
static AdwToast *
toast_new (const char *text)
{
  g_autofree char *markup = g_markup_escape_text (text, -1);
  AdwToast *toast = adw_toast_new (markup);

  adw_toast_set_timeout (toast, 4);
  return toast;
}

void
kh_window_add_toast (KhWindow   *self,
                     const char *text)
{
  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (text != NULL);

  adw_toast_overlay_add_toast (self->toast_overlay, toast_new (text));
}

void
kh_window_grant_added (KhWindow      *self,
                       KhAccountPage *from,
                       KhGrant       *grant)
{
  KhAccountType type;
  g_autofree char *text = NULL;
  AdwToast *toast;

  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (from));
  g_return_if_fail (KH_IS_GRANT (grant));

  /* The user watches the page that authorized: it shows the grant's page (a pasted address may
   * have been another account type's). */
  type = kh_grant_get_account_type (grant);
  if (kh_window_get_visible_page (self) == from)
    kh_window_show_page (self, type);

  if (kh_account_page_get_account_type (kh_window_get_visible_page (self)) == type)
    {
      text = g_strdup_printf (_("Authorized “%s”"), kh_grant_get_display_name (grant));
      kh_window_add_toast (self, text);
      return;
    }

  /* They moved to another tab meanwhile: say which tab has the grant, and offer to show it. */
  /* Translators: the first %s is a tab ("Shop Seller"), the second the account's name. */
  text = g_strdup_printf (_("%s grant added: %s"), _(kh_provider_get (type)->title),
                          kh_grant_get_display_name (grant));
  toast = toast_new (text);
  adw_toast_set_timeout (toast, 8);
  adw_toast_set_button_label (toast, _("_Show"));
  adw_toast_set_action_name (toast, "grant.details");
  adw_toast_set_action_target_value (toast, g_variant_new_string (kh_grant_get_id (grant)));
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

void
kh_window_show_error (KhWindow     *self,
                      const char   *heading,
                      const GError *error)
{
  GtkWidget *dialog;

  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (error != NULL);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, error->message);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

KhGrant *
kh_window_lookup_grant (KhWindow   *self,
                        const char *grant_id)
{
  GListModel *grants;
  guint n;

  g_return_val_if_fail (KH_IS_WINDOW (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);

  grants = kh_app_context_get_grants (self->context);
  n = g_list_model_get_n_items (grants);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KhGrant) grant = g_list_model_get_item (grants, i);

      if (g_strcmp0 (kh_grant_get_id (grant), grant_id) == 0)
        return grant;
    }

  return NULL;
}

KhAppContext *
kh_window_get_application (KhWindow *self)
{
  g_return_val_if_fail (KH_IS_WINDOW (self), NULL);

  return self->context;
}

static void
page_toast_cb (KhAccountPage *page,
               const char    *text,
               KhWindow      *self)
{
  kh_window_add_toast (self, text);
}

static void
page_show_error_cb (KhAccountPage *page,
                    const char    *heading,
                    const GError  *error,
                    KhWindow      *self)
{
  kh_window_show_error (self, heading, error);
}

static void
page_grant_added_cb (KhAccountPage *page,
                     KhGrant       *grant,
                     KhWindow      *self)
{
  kh_window_grant_added (self, page, grant);
}

/* A page is built when it is first shown or asked for: six pages of forms are most of the
 * window, and the first frame needs only the visible one. */
static KhAccountPage *
ensure_page (KhWindow      *self,
             KhAccountType  type)
{
  if (self->pages[type] == NULL)
    {
      self->pages[type] = kh_account_page_new (self->context, type);
      g_signal_connect_object (self->pages[type], "toast", G_CALLBACK (page_toast_cb), self, 0);
      g_signal_connect_object (self->pages[type], "show-error", G_CALLBACK (page_show_error_cb),
                               self, 0);
      g_signal_connect_object (self->pages[type], "grant-added",
                               G_CALLBACK (page_grant_added_cb), self, 0);
      if (self->search != NULL)
        kh_account_page_set_search (self->pages[type], self->search);
      adw_bin_set_child (self->slots[type], GTK_WIDGET (self->pages[type]));
    }

  return self->pages[type];
}

static int
slot_type (KhWindow  *self,
           GtkWidget *slot)
{
  for (int i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    if (slot == GTK_WIDGET (self->slots[i]))
      return i;

  return KH_ACCOUNT_SELLER;
}

static void
on_visible_page_changed (KhWindow *self)
{
  GtkWidget *child = adw_view_stack_get_visible_child (self->stack);

  if (child != NULL)
    ensure_page (self, slot_type (self, child));
}

KhAccountPage *
kh_window_get_page (KhWindow      *self,
                    KhAccountType  type)
{
  g_return_val_if_fail (KH_IS_WINDOW (self), NULL);
  g_return_val_if_fail (type < KH_N_ACCOUNT_TYPES, NULL);

  return ensure_page (self, type);
}

KhAccountPage *
kh_window_get_visible_page (KhWindow *self)
{
  GtkWidget *child;

  g_return_val_if_fail (KH_IS_WINDOW (self), NULL);

  child = adw_view_stack_get_visible_child (self->stack);

  return ensure_page (self, child != NULL ? slot_type (self, child) : KH_ACCOUNT_SELLER);
}

void
kh_window_show_page (KhWindow      *self,
                     KhAccountType  type)
{
  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (type < KH_N_ACCOUNT_TYPES);

  ensure_page (self, type);
  adw_view_stack_set_visible_child (self->stack, GTK_WIDGET (self->slots[type]));
}

void
kh_window_set_search (KhWindow   *self,
                      const char *text)
{
  g_return_if_fail (KH_IS_WINDOW (self));

  g_free (self->search);
  self->search = g_strdup (text);
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    if (self->pages[i] != NULL)
      kh_account_page_set_search (self->pages[i], text);
}

gboolean
kh_window_get_banner_visible (KhWindow *self)
{
  g_return_val_if_fail (KH_IS_WINDOW (self), FALSE);

  return gtk_revealer_get_reveal_child (self->banner_revealer);
}

static void
on_search_changed (KhWindow *self)
{
  kh_window_set_search (self, gtk_editable_get_text (GTK_EDITABLE (self->search_entry)));
}

static void
on_stop_search (KhWindow *self)
{
  gtk_search_bar_set_search_mode (self->search_bar, FALSE);
  gtk_editable_set_text (GTK_EDITABLE (self->search_entry), "");
}

/* "creator-marketplace:creator" -> the page and the role. */
static KhAccountPage *
page_for_spec (KhWindow    *self,
               const char  *spec,
               char       **role_out)
{
  g_auto(GStrv) parts = NULL;
  const KhProvider *provider;

  *role_out = NULL;
  if (spec == NULL || *spec == '\0')
    return kh_window_get_visible_page (self);

  parts = g_strsplit (spec, ":", 2);
  provider = kh_provider_from_id (parts[0]);
  if (provider == NULL)
    {
      g_autoptr(GError) error = g_error_new (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                             _("Unknown account type “%s”"), parts[0]);

      kh_window_show_error (self, _("Cannot Authorize"), error);
      return NULL;
    }

  if (parts[1] != NULL && *parts[1] != '\0')
    *role_out = g_strdup (parts[1]);

  return ensure_page (self, provider->type);
}

/* Shows the page spec names and returns it; NULL (the error shown) when it names none. */
static KhAccountPage *
show_page_for_spec (KhWindow    *self,
                    const char  *spec,
                    char       **role_out)
{
  KhAccountPage *page = page_for_spec (self, spec, role_out);

  if (page != NULL)
    kh_window_show_page (self, kh_account_page_get_account_type (page));

  return page;
}

void
kh_window_authorize (KhWindow   *self,
                     const char *spec)
{
  g_autofree char *role = NULL;
  KhAccountPage *page;

  g_return_if_fail (KH_IS_WINDOW (self));

  page = show_page_for_spec (self, spec, &role);
  if (page != NULL)
    kh_account_page_authorize (page, role);
}

void
kh_window_create_link (KhWindow   *self,
                       const char *spec)
{
  g_autofree char *role = NULL;
  KhAccountPage *page;

  g_return_if_fail (KH_IS_WINDOW (self));

  page = show_page_for_spec (self, spec, &role);
  if (page != NULL)
    kh_account_page_create_link (page, role);
}

void
kh_window_complete_url (KhWindow   *self,
                        const char *url)
{
  g_return_if_fail (KH_IS_WINDOW (self));

  kh_account_page_complete (kh_window_get_visible_page (self),
                            url != NULL && *url != '\0' ? url : NULL);
}

/* ---- grant operations ----------------------------------------------------------------------- */

typedef struct
{
  KhWindow *window;
  char     *name;
  KhGrant  *grant;    /* NULL when the list does not know it */
} OpData;

static OpData *
op_data_new (KhWindow   *window,
             const char *grant_id)
{
  OpData *data = g_new0 (OpData, 1);
  KhGrant *grant = kh_window_lookup_grant (window, grant_id);

  data->window = g_object_ref (window);
  data->name = g_strdup (grant != NULL ? kh_grant_get_display_name (grant) : grant_id);
  data->grant = grant != NULL ? g_object_ref (grant) : NULL;

  return data;
}

static void
op_data_free (OpData *data)
{
  g_object_unref (data->window);
  g_free (data->name);
  g_clear_object (&data->grant);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (OpData, op_data_free)

static void
refresh_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;

  grant = kh_app_context_refresh_grant_finish (KH_APP_CONTEXT (object), result, &error);
  if (grant == NULL)
    {
      kh_window_show_error (data->window, _("Refresh Failed"), error);
      return;
    }

  {
    g_autofree char *text = g_strdup_printf (_("Refreshed “%s”"), data->name);

    kh_window_add_toast (data->window, text);
  }
}

void
kh_window_refresh_grant (KhWindow   *self,
                         const char *grant_id)
{
  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (grant_id != NULL);

  kh_app_context_refresh_grant_async (self->context, grant_id, self->cancellable,
                                      refresh_cb, op_data_new (self, grant_id));
}

static void
remove_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!kh_app_context_remove_grant_finish (KH_APP_CONTEXT (object), result, &error))
    {
      kh_window_show_error (data->window, _("Could Not Remove"), error);
      return;
    }

  text = g_strdup_printf (_("Removed “%s”"), data->name);
  kh_window_add_toast (data->window, text);
}

static void
revoke_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  if (!kh_app_context_revoke_grant_finish (KH_APP_CONTEXT (object), result, &error))
    {
      kh_window_show_error (data->window, _("Could Not Revoke"), error);
      return;
    }

  text = g_strdup_printf (_("Revoked and removed “%s”"), data->name);
  kh_window_add_toast (data->window, text);
}

static void
confirm_response_cb (AdwMessageDialog *dialog,
                     const char       *response,
                     gpointer          user_data)
{
  KhWindow *self = KH_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));
  const char *grant_id = g_object_get_data (G_OBJECT (dialog), "grant-id");

  if (g_str_equal (response, "revoke"))
    kh_window_revoke_grant (self, grant_id, FALSE);
  else if (g_str_equal (response, "remove"))
    kh_window_remove_grant (self, grant_id, FALSE);
}

static AdwMessageDialog *
confirm (KhWindow   *self,
         const char *grant_id,
         const char *heading,
         const char *body,
         const char *response,
         const char *label)
{
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), heading, body);

  g_object_set_data_full (G_OBJECT (dialog), "grant-id", g_strdup (grant_id), g_free);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    response, label,
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), response,
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_signal_connect (dialog, "response", G_CALLBACK (confirm_response_cb), NULL);
  gtk_window_present (GTK_WINDOW (dialog));

  return ADW_MESSAGE_DIALOG (dialog);
}

void
kh_window_revoke_grant (KhWindow   *self,
                        const char *grant_id,
                        gboolean    confirmed_needed)
{
  KhGrant *grant;
  const KhProvider *provider;

  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (grant_id != NULL);

  grant = kh_window_lookup_grant (self, grant_id);
  provider = grant != NULL ? kh_provider_get (kh_grant_get_account_type (grant)) : NULL;

  if (provider != NULL && !provider->revoke_api)
    {
      /* Shop authorizations are cancelled by the account holder, not through an API: say where,
       * and offer to forget the tokens here. */
      g_autofree char *body = g_strdup_printf (
        _("TikTok has no revoke call for this account type. The account holder cancels it in "
          "%s. Keyhold can forget its tokens now."),
        provider->manual_revoke != NULL ? _(provider->manual_revoke) : _("the TikTok portal"));

      confirm (self, grant_id, _("Revoke at TikTok"), body, "remove", _("_Remove From Keyhold"));
      return;
    }

  if (confirmed_needed)
    {
      g_autofree char *heading = g_strdup_printf (_("Revoke “%s”?"),
                                                  kh_grant_get_display_name (grant));

      confirm (self, grant_id, heading,
               _("The tokens stop working at once for every script that uses them, and the "
                 "authorization is removed from Keyhold."),
               "revoke", _("_Revoke"));
      return;
    }

  kh_app_context_revoke_grant_async (self->context, grant_id, self->cancellable,
                                     revoke_cb, op_data_new (self, grant_id));
}

void
kh_window_remove_grant (KhWindow   *self,
                        const char *grant_id,
                        gboolean    confirm_needed)
{
  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (grant_id != NULL);

  if (confirm_needed)
    {
      KhGrant *grant = kh_window_lookup_grant (self, grant_id);
      g_autofree char *heading = g_strdup_printf (_("Remove “%s”?"),
                                                  grant != NULL
                                                  ? kh_grant_get_display_name (grant)
                                                  : grant_id);
      AdwMessageDialog *dialog;

      dialog = confirm (self, grant_id, heading,
                        _("Keyhold forgets the tokens. The authorization stays valid at TikTok "
                          "until it ends or the account holder cancels it."),
                        "remove", _("_Remove"));

      /* Where TikTok can revoke, offer to end the authorization there before forgetting it. */
      if (grant != NULL && kh_provider_get (kh_grant_get_account_type (grant))->revoke_api)
        adw_message_dialog_add_response (dialog, "revoke", _("Revoke _First"));
      return;
    }

  kh_app_context_remove_grant_async (self->context, grant_id, self->cancellable,
                                     remove_cb, op_data_new (self, grant_id));
}

void
kh_window_show_grant (KhWindow   *self,
                      const char *grant_id)
{
  KhGrant *grant;
  KhGrantWindow *details;

  g_return_if_fail (KH_IS_WINDOW (self));
  g_return_if_fail (grant_id != NULL);

  grant = kh_window_lookup_grant (self, grant_id);
  if (grant == NULL)
    {
      kh_window_add_toast (self, _("That authorization no longer exists"));
      return;
    }

  kh_window_show_page (self, kh_grant_get_account_type (grant));
  details = kh_grant_window_new (ensure_page (self, kh_grant_get_account_type (grant)), grant);
  gtk_window_present (GTK_WINDOW (details));
}

static void
copy_token_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(OpData) data = user_data;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhHistoryEntry) entry = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  KhStore *store;

  tokens = kh_app_context_load_valid_tokens_finish (KH_APP_CONTEXT (object), result, &error);
  if (tokens == NULL)
    {
      kh_window_show_error (data->window, _("Could Not Copy the Token"), error);
      return;
    }

  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (data->window)),
                          tokens->access_token);
  store = kh_app_context_get_store (data->window->context);
  if (store != NULL && data->grant != NULL)
    {
      entry = kh_history_entry_new_token_read (data->grant, "copy");
      kh_history_record (store, entry);
    }
  text = g_strdup_printf (_("Access token of “%s” copied"), data->name);
  kh_window_add_toast (data->window, text);
}

static void
set_label_response_cb (AdwMessageDialog *dialog,
                       const char       *response,
                       gpointer          user_data)
{
  KhWindow *self = KH_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (dialog)));
  const char *grant_id = g_object_get_data (G_OBJECT (dialog), "grant-id");
  GtkEditable *entry = GTK_EDITABLE (adw_message_dialog_get_extra_child (dialog));
  g_autofree char *label = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;

  if (!g_str_equal (response, "save"))
    return;

  /* A copy from the store: the list's grant objects are shared by every page and keep what
   * they show until the list re-reads the index. */
  grant = kh_store_find_grant (kh_app_context_get_store (self->context), grant_id, &error);
  if (grant == NULL)
    {
      kh_window_show_error (self, _("Could Not Save the Label"), error);
      return;
    }

  label = g_strstrip (g_strdup (gtk_editable_get_text (entry)));
  kh_grant_set_client_label (grant, *label != '\0' ? label : NULL);
  kh_grant_touch (grant, kh_now ());
  /* An index-only write: quick enough for the main thread. */
  if (!kh_store_update_grant (kh_app_context_get_store (self->context), grant, &error))
    kh_window_show_error (self, _("Could Not Save the Label"), error);
  kh_app_context_reload (self->context);
}

static void
set_label (KhWindow   *self,
           const char *grant_id)
{
  KhGrant *grant = kh_window_lookup_grant (self, grant_id);
  GtkWidget *dialog;
  GtkWidget *entry;

  if (grant == NULL)
    return;

  dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Set Client Label"),
                                   _("A name for the client this authorization belongs to. "
                                     "Search finds it, and scripts can filter by it."));
  entry = gtk_entry_new ();
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_editable_set_text (GTK_EDITABLE (entry),
                         kh_grant_get_client_label (grant) ? kh_grant_get_client_label (grant)
                                                           : "");
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Client label"), -1);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), entry);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "save", _("_Save"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "save",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "save");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "grant-id", g_strdup (grant_id), g_free);
  g_signal_connect (dialog, "response", G_CALLBACK (set_label_response_cb), NULL);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* The row menu's actions, each with the grant id as target. */
static void
grant_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  KhWindow *self = KH_WINDOW (widget);
  const char *grant_id = g_variant_get_string (parameter, NULL);
  KhGrant *grant = kh_window_lookup_grant (self, grant_id);

  if (g_str_equal (action_name, "grant.copy-token"))
    kh_app_context_load_valid_tokens_async (self->context, grant_id, self->cancellable,
                                            copy_token_cb, op_data_new (self, grant_id));
  else if (g_str_equal (action_name, "grant.refresh"))
    kh_window_refresh_grant (self, grant_id);
  else if (g_str_equal (action_name, "grant.details"))
    kh_window_show_grant (self, grant_id);
  else if (g_str_equal (action_name, "grant.revoke"))
    kh_window_revoke_grant (self, grant_id, TRUE);
  else if (g_str_equal (action_name, "grant.remove"))
    kh_window_remove_grant (self, grant_id, TRUE);
  else if (g_str_equal (action_name, "grant.set-label"))
    set_label (self, grant_id);
  else if (grant != NULL && g_str_equal (action_name, "grant.reauthorize"))
    kh_account_page_reauthorize (ensure_page (self, kh_grant_get_account_type (grant)), grant);
  else if (grant != NULL && g_str_equal (action_name, "grant.renewal-pack"))
    kh_account_page_copy_renewal_pack (ensure_page (self, kh_grant_get_account_type (grant)),
                                       grant);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void
update_banner (KhWindow *self)
{
  g_autofree char *text = NULL;

  if (kh_app_context_get_sandbox_mode (self->context))
    text = g_strdup (_("Sandbox: every authorization goes to a local emulator with demo app "
                       "profiles. Nothing here reaches TikTok."));
  else if (kh_origin_map_is_active ())
    text = g_strdup (_("Test endpoints are active (KEYHOLD_ORIGIN_MAP): requests go to local "
                       "servers, not to TikTok."));

  gtk_label_set_text (self->banner_label, text != NULL ? text : "");
  gtk_revealer_set_reveal_child (self->banner_revealer, text != NULL);
}

/* Runs once the application is set: GtkWindow:application is not a construct property. */
static void
kh_window_setup (KhWindow     *self,
                 KhAppContext *context)
{
  GSettings *settings;
  const GError *store_error;

  self->context = context;
  settings = kh_app_context_get_settings (self->context);

  /* The bottom switcher shows only in narrow windows: it gets its buttons (six icons and labels
   * in two layouts) after the first frame. */
  adw_view_switcher_bar_set_stack (self->switcher_bar, NULL);
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    {
      const KhProvider *provider = kh_provider_get (i);
      AdwViewStackPage *page;

      self->slots[i] = ADW_BIN (adw_bin_new ());
      page = adw_view_stack_add_titled (self->stack, GTK_WIDGET (self->slots[i]), provider->id,
                                        _(provider->title));
      adw_view_stack_page_set_icon_name (page, provider->icon_name);
    }
  ensure_page (self, KH_ACCOUNT_SELLER);
  g_signal_connect_object (self->stack, "notify::visible-child",
                           G_CALLBACK (on_visible_page_changed), self, G_CONNECT_SWAPPED);

  store_error = kh_app_context_get_store_error (self->context);
  if (store_error != NULL)
    {
      adw_status_page_set_description (self->error_page, store_error->message);
      gtk_stack_set_visible_child_name (self->main_stack, "error");
    }

  update_banner (self);

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (settings, "window-width"),
                               g_settings_get_int (settings, "window-height"));
  if (g_settings_get_boolean (settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
}

/* The Keyboard Shortcuts window (win.show-help-overlay, Ctrl+?). GtkApplication would build it
 * for every window before its first frame if it sat at gtk/help-overlay.ui. */
static gboolean
set_help_overlay (gpointer data)
{
  KhWindow *self = data;
  g_autoptr(GtkBuilder) builder = NULL;

  self->help_overlay_id = 0;
  builder = gtk_builder_new_from_resource ("/io/github/keyhold/Keyhold/kh-help-overlay.ui");
  gtk_application_window_set_help_overlay (GTK_APPLICATION_WINDOW (self),
                                           GTK_SHORTCUTS_WINDOW (gtk_builder_get_object (
                                                                   builder, "help_overlay")));

  return G_SOURCE_REMOVE;
}

static void
after_first_frame_cb (KhWindow *self)
{
  g_signal_handlers_disconnect_by_func (self->frame_clock, after_first_frame_cb, self);
  g_clear_object (&self->frame_clock);
  if (self->switcher_bar != NULL)
    adw_view_switcher_bar_set_stack (self->switcher_bar, self->stack);
  /* After this frame, not inside it. */
  self->help_overlay_id = g_idle_add (set_help_overlay, self);
  /* The window is up: now read the grants (in a worker thread). */
  kh_app_context_load_grants (self->context);
}

static void
kh_window_map (GtkWidget *widget)
{
  KhWindow *self = KH_WINDOW (widget);

  GTK_WIDGET_CLASS (kh_window_parent_class)->map (widget);

  if (self->frame_clock == NULL && adw_view_switcher_bar_get_stack (self->switcher_bar) == NULL)
    {
      self->frame_clock = g_object_ref (gtk_widget_get_frame_clock (widget));
      g_signal_connect_object (self->frame_clock, "after-paint",
                               G_CALLBACK (after_first_frame_cb), self, G_CONNECT_SWAPPED);
    }
}

static gboolean
kh_window_close_request (GtkWindow *window)
{
  KhWindow *self = KH_WINDOW (window);
  GSettings *settings = kh_app_context_get_settings (self->context);
  int width;
  int height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_boolean (settings, "window-maximized", gtk_window_is_maximized (window));
  if (!gtk_window_is_maximized (window))
    {
      g_settings_set_int (settings, "window-width", width);
      g_settings_set_int (settings, "window-height", height);
    }

  return GTK_WINDOW_CLASS (kh_window_parent_class)->close_request (window);
}

static void
kh_window_dispose (GObject *object)
{
  KhWindow *self = KH_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->help_overlay_id, g_source_remove);
  g_clear_pointer (&self->search, g_free);
  if (self->stack != NULL)
    g_signal_handlers_disconnect_by_data (self->stack, self);
  if (self->frame_clock != NULL)
    g_signal_handlers_disconnect_by_data (self->frame_clock, self);
  g_clear_object (&self->frame_clock);

  /* The switchers must let go of the stack before it goes: libadwaita 1.2 otherwise touches
   * its disposed pages. */
  if (self->switcher_bar != NULL)
    adw_view_switcher_bar_set_stack (self->switcher_bar, NULL);
  if (self->switcher_title != NULL)
    adw_view_switcher_title_set_stack (self->switcher_title, NULL);

  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_WINDOW);

  G_OBJECT_CLASS (kh_window_parent_class)->dispose (object);
}

static void
search_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  KhWindow *self = KH_WINDOW (widget);

  gtk_search_bar_set_search_mode (self->search_bar, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->search_entry));
}

static void
show_page_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  KhWindow *self = KH_WINDOW (widget);
  int index = g_variant_get_int32 (parameter);

  if (index >= 0 && index < KH_N_ACCOUNT_TYPES)
    kh_window_show_page (self, index);
}

static void
page_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  KhWindow *self = KH_WINDOW (widget);
  KhAccountPage *page = kh_window_get_visible_page (self);

  if (g_str_equal (action_name, "window.authorize"))
    kh_account_page_authorize (page, NULL);
  else if (g_str_equal (action_name, "window.link"))
    kh_account_page_create_link (page, NULL);
  else if (g_str_equal (action_name, "window.paste"))
    kh_account_page_complete (page, NULL);
  else if (g_str_equal (action_name, "window.cancel"))
    kh_account_page_cancel (page);
}

static void
kh_window_class_init (KhWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);
  const char *grant_actions[] = {
    "grant.copy-token", "grant.refresh", "grant.details", "grant.renewal-pack",
    "grant.reauthorize", "grant.revoke", "grant.remove", "grant.set-label",
  };

  object_class->dispose = kh_window_dispose;
  widget_class->map = kh_window_map;
  window_class->close_request = kh_window_close_request;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/keyhold/Keyhold/kh-window.ui");
  gtk_widget_class_bind_template_child (widget_class, KhWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, switcher_bar);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, error_page);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, search_bar);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, search_entry);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, banner_revealer);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, banner_label);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, menu_button);
  gtk_widget_class_bind_template_child (widget_class, KhWindow, primary_menu);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_stop_search);

  for (guint i = 0; i < G_N_ELEMENTS (grant_actions); i++)
    gtk_widget_class_install_action (widget_class, grant_actions[i], "s", grant_action);
  gtk_widget_class_install_action (widget_class, "window.search", NULL, search_action);
  gtk_widget_class_install_action (widget_class, "window.show-page", "i", show_page_action);
  gtk_widget_class_install_action (widget_class, "window.authorize", NULL, page_action);
  gtk_widget_class_install_action (widget_class, "window.link", NULL, page_action);
  gtk_widget_class_install_action (widget_class, "window.paste", NULL, page_action);
  gtk_widget_class_install_action (widget_class, "window.cancel", NULL, page_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "window.search",
                                       NULL);
  for (int i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1 + i, GDK_ALT_MASK,
                                         "window.show-page", "i", i);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "window.authorize", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_l, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "window.link", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "window.paste", NULL);
}

/* The main menu's popover is built when it first opens (a click or F10), not with the window. */
static void
create_primary_menu (GtkMenuButton *button,
                     gpointer       user_data)
{
  KhWindow *self = user_data;

  gtk_menu_button_set_create_popup_func (button, NULL, NULL, NULL);
  gtk_menu_button_set_menu_model (button, self->primary_menu);
}

static void
kh_window_init (KhWindow *self)
{
  self->cancellable = g_cancellable_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_menu_button_set_create_popup_func (self->menu_button, create_primary_menu, self, NULL);

  if (DEVELOPMENT_BUILD)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
}

KhWindow *
kh_window_new (GtkApplication *application,
               KhAppContext   *context)
{
  KhWindow *self;

  g_return_val_if_fail (GTK_IS_APPLICATION (application), NULL);
  g_return_val_if_fail (KH_IS_APP_CONTEXT (context), NULL);

  self = g_object_new (KH_TYPE_WINDOW, "application", application, NULL);
  kh_window_setup (self, context);

  return self;
}
