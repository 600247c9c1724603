/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page.c: one tab per account type. Everything that differs between the six types
 * comes from the provider table (KhProvider): which rows show, what the notes say, which roles
 * exist. The three entrances (browser, client link, pasted URL) and Quick Connect all run
 * through KhFlow; the page only shows its progress and explains its errors. This file is the
 * page itself: its state, the errors it explains, the per-type setup and building its content;
 * the form (kh-account-page-form.c), Quick Connect (kh-account-page-quick.c) and the grant list
 * (kh-account-page-list.c) are its parts (kh-account-page-private.h). */

#define G_LOG_DOMAIN "kh-account-page"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-account-page.h"
#include "kh-account-page-private.h"

#include "kh-error.h"
#include "kh-grant-row.h"
#include "kh-provider.h"

G_DEFINE_FINAL_TYPE (KhAccountPage, kh_account_page, ADW_TYPE_BIN)

/* What the page asks of the window it is in (the window connects them). */
enum
{
  SIGNAL_TOAST,
  SIGNAL_SHOW_ERROR,
  SIGNAL_GRANT_ADDED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

#define CONTENT_CHILD(name) { #name, G_STRUCT_OFFSET (KhAccountPage, name) }

static const struct
{
  const char *id;
  glong       offset;
} content_children[] = {
  CONTENT_CHILD (content),
  CONTENT_CHILD (description_label),
  CONTENT_CHILD (app_row),
  CONTENT_CHILD (edit_app_button),
  CONTENT_CHILD (region_row),
  CONTENT_CHILD (role_row),
  CONTENT_CHILD (role_list),
  CONTENT_CHILD (consent_row),
  CONTENT_CHILD (consent_switch),
  CONTENT_CHILD (client_row),
  CONTENT_CHILD (browser_row),
  CONTENT_CHILD (browser_list),
  CONTENT_CHILD (actions_box),
  CONTENT_CHILD (authorize_button),
  CONTENT_CHILD (link_button),
  CONTENT_CHILD (paste_button),
  CONTENT_CHILD (progress_revealer),
  CONTENT_CHILD (progress_box),
  CONTENT_CHILD (progress_spinner),
  CONTENT_CHILD (progress_label),
  CONTENT_CHILD (copy_flow_link_button),
  CONTENT_CHILD (quick_group),
  CONTENT_CHILD (quick_secret_row),
  CONTENT_CHILD (quick_url_row),
  CONTENT_CHILD (quick_button),
  CONTENT_CHILD (quick_error_label),
  CONTENT_CHILD (redirect_note_row),
  CONTENT_CHILD (cancel_note_row),
  CONTENT_CHILD (renew_note_row),
  CONTENT_CHILD (scopes_note_row),
  CONTENT_CHILD (count_label),
  CONTENT_CHILD (list_stack),
  CONTENT_CHILD (list_view),
  CONTENT_CHILD (list_empty_status),
};

#undef CONTENT_CHILD

static void apply_search (KhAccountPage *self);

/* ---- models --------------------------------------------------------------------------------- */

static gboolean
app_filter_func (gpointer item,
                 gpointer user_data)
{
  KhAccountPage *self = user_data;

  return kh_app_profile_get_family (KH_APP_PROFILE (item)) == self->provider->family;
}

static char *
app_display_name (KhAppProfile *app)
{
  return g_strdup (app != NULL ? kh_app_profile_get_name (app) : "");
}

GListModel *
kh_account_page_get_model (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);

  if (self->search_pending)
    apply_search (self);

  return self->model;
}

KhAccountType
kh_account_page_get_account_type (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), KH_ACCOUNT_SELLER);

  return self->type;
}

KhAppContext *
kh_account_page_get_context (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);

  return self->context;
}

KhFlow *
kh_account_page_get_flow (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);

  return self->flow;
}

gboolean
kh_account_page_get_busy (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), FALSE);

  return self->busy;
}

GtkWidget *
kh_account_page_get_control (KhAccountPage *self,
                             const char    *id)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (content_children); i++)
    if (g_str_equal (content_children[i].id, id))
      {
        kh_account_page_ensure_content (self);
        return G_STRUCT_MEMBER (GtkWidget *, self, content_children[i].offset);
      }

  return GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (self), KH_TYPE_ACCOUNT_PAGE, id));
}

/* Applies the wanted search text to the list. */
static void
apply_search (KhAccountPage *self)
{
  g_autofree char *text = g_steal_pointer (&self->wanted_search);

  self->search_pending = FALSE;
  if (self->grants != NULL)
    kh_grant_list_set_text_filter (self->grants, text);
}

void
kh_account_page_set_search (KhAccountPage *self,
                            const char    *text)
{
  g_autofree char *folded = NULL;

  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));

  if (text != NULL)
    {
      g_autofree char *stripped = g_strstrip (g_strdup (text));

      if (*stripped != '\0')
        folded = g_steal_pointer (&stripped);
    }

  g_free (self->wanted_search);
  self->wanted_search = g_steal_pointer (&folded);
  self->search_pending = TRUE;

  /* Hidden pages filter when they are shown (or asked for their model): a keystroke then
   * rebinds the rows of one list view, not six. */
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    apply_search (self);
}

KhAppProfile *
kh_account_page_get_selected_app (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);

  /* Without the form the page has had no profile to choose. */
  if (self->app_row == NULL)
    return NULL;

  return adw_combo_row_get_selected_item (self->app_row);
}

gboolean
kh_account_page_select_app (KhAccountPage *self,
                            const char    *name)
{
  guint n;

  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  kh_account_page_ensure_content (self);
  n = g_list_model_get_n_items (G_LIST_MODEL (self->apps));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KhAppProfile) app = g_list_model_get_item (G_LIST_MODEL (self->apps), i);

      if (g_strcmp0 (kh_app_profile_get_name (app), name) == 0)
        {
          adw_combo_row_set_selected (self->app_row, i);
          return TRUE;
        }
    }

  return FALSE;
}

void
kh_account_page_set_region (KhAccountPage *self,
                            KhRegion       region)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));

  kh_account_page_ensure_content (self);
  adw_combo_row_set_selected (self->region_row, region == KH_REGION_US ? 1 : 0);
}

KhRegion
kh_account_page_selected_region (KhAccountPage *self)
{
  if (!self->provider->has_regions)
    return KH_REGION_ROW;

  return adw_combo_row_get_selected (self->region_row) == 1 ? KH_REGION_US : KH_REGION_ROW;
}

const char *
kh_account_page_selected_role (KhAccountPage *self)
{
  guint selected = adw_combo_row_get_selected (self->role_row);

  if (self->provider->n_roles < 2 || selected >= self->provider->n_roles)
    return NULL;

  return self->provider->roles[selected].id;
}

char *
kh_account_page_client_label (KhAccountPage *self)
{
  g_autofree char *label = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (
                                                  self->client_row))));

  return *label != '\0' ? g_steal_pointer (&label) : NULL;
}

/* ---- state ---------------------------------------------------------------------------------- */

GtkWindow *
kh_account_page_get_window (KhAccountPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

void
kh_account_page_toast (KhAccountPage *self,
                       const char    *text)
{
  GtkWindow *window = kh_account_page_get_window (self);

  if (window != NULL)
    g_signal_emit (self, signals[SIGNAL_TOAST], 0, text);
}

/* Shows one child of a stack and hides the others. A stack's other children stay "visible"
 * widgets: GTK then still keeps their styles up to date and sizes them for the window, and the
 * page's form alone is a couple of hundred widgets (about 30 ms of the first frame when the page
 * shows "Add an App Profile" instead). The stack keeps its crossfade: it draws the old child
 * from a snapshot taken when it switches. */
static void
show_only (GtkStack   *stack,
           const char *name)
{
  GtkWidget *shown = gtk_stack_get_child_by_name (stack, name);

  gtk_widget_set_visible (shown, TRUE);
  gtk_stack_set_visible_child (stack, shown);
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (stack)); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (child != shown)
      gtk_widget_set_visible (child, FALSE);
}

static void
update_list_state (KhAccountPage *self)
{
  guint shown = g_list_model_get_n_items (self->model);
  g_autofree char *count = NULL;

  if (self->content == NULL)
    return;

  /* Until the store has been read the list stays blank: "No Authorizations Yet" would be a
   * lie for the moment it takes. */
  if (self->grants != NULL && !kh_grant_list_get_loaded (self->grants))
    {
      show_only (self->list_stack, "list");
      gtk_label_set_text (self->count_label, "");
      return;
    }

  if (shown > 0)
    show_only (self->list_stack, "list");
  else if (self->grants != NULL && kh_grant_list_get_text_filter (self->grants) != NULL)
    show_only (self->list_stack, "no-results");
  else
    show_only (self->list_stack, "empty");

  count = g_strdup_printf ("%u", shown);
  gtk_label_set_text (self->count_label, count);
}

void
kh_account_page_update_app_state (KhAccountPage *self)
{
  guint n_apps = g_list_model_get_n_items (G_LIST_MODEL (self->apps));
  KhAppProfile *app;
  g_autofree char *default_uri = NULL;
  gboolean ready;

  /* The form is built when the page first has a profile to show it with. */
  if (n_apps == 0 && self->content == NULL)
    {
      show_only (self->page_stack, "empty");
      return;
    }
  kh_account_page_ensure_content (self);

  app = kh_account_page_get_selected_app (self);
  default_uri = kh_app_context_dup_default_redirect_uri (self->context);
  ready = app != NULL && !self->busy;
  show_only (self->page_stack, n_apps > 0 ? "content" : "empty");
  gtk_widget_set_sensitive (GTK_WIDGET (self->edit_app_button), app != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->authorize_button), ready);
  gtk_widget_set_sensitive (GTK_WIDGET (self->link_button), ready);
  gtk_widget_set_sensitive (GTK_WIDGET (self->paste_button), !self->busy);
  gtk_widget_set_sensitive (GTK_WIDGET (self->quick_group), !self->busy);
  adw_action_row_set_subtitle (self->redirect_note_row,
                               app != NULL ? kh_app_profile_get_redirect_uri (app) : default_uri);

  {
    /* Teach the Redirect URL of the profile in use: the one Keyhold will listen on. */
    g_autofree char *empty_list = g_markup_printf_escaped (
      _("Authorize in the browser on this computer, or send a link to a client. The app must "
        "have %s registered as its Redirect URL."),
      app != NULL ? kh_app_profile_get_redirect_uri (app) : default_uri);

    adw_status_page_set_description (self->list_empty_status, empty_list);
  }
}

void
kh_account_page_set_busy (KhAccountPage *self,
                          gboolean       busy)
{
  self->busy = busy;
  gtk_revealer_set_reveal_child (self->progress_revealer, busy);
  if (busy)
    gtk_spinner_start (self->progress_spinner);
  else
    gtk_spinner_stop (self->progress_spinner);
  kh_account_page_update_app_state (self);
}

static void
on_stage_changed (KhFlow        *flow,
                  GParamSpec    *pspec,
                  KhAccountPage *self)
{
  KhFlowStage stage = kh_flow_get_stage (flow);
  const char *text = kh_flow_stage_describe (stage);

  gtk_label_set_text (self->progress_label, text);
  /* Screen readers hear the stage: the box is a status region and its label changes. */
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->progress_box),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, text, -1);
  gtk_widget_set_visible (self->copy_flow_link_button,
                          stage == KH_FLOW_STAGE_WAITING && kh_flow_get_request (flow) != NULL);
}

KhFlow *
kh_account_page_new_flow (KhAccountPage *self)
{
  if (self->flow != NULL)
    g_signal_handlers_disconnect_by_func (self->flow, on_stage_changed, self);
  g_clear_object (&self->flow);
  g_clear_object (&self->cancellable);

  self->flow = kh_flow_new (kh_app_context_get_store (self->context),
                            kh_app_context_get_token_client (self->context));
  self->cancellable = g_cancellable_new ();
  g_signal_connect (self->flow, "notify::stage", G_CALLBACK (on_stage_changed), self);
  gtk_label_set_text (self->progress_label, _("Starting…"));
  gtk_widget_set_visible (self->copy_flow_link_button, FALSE);

  return self->flow;
}

/* A heading for each failure, so the dialog says at a glance what went wrong; the body is the
 * core's message, which says what to do. */
const char *
kh_account_page_error_heading (const GError *error)
{
  if (error->domain == KH_API_ERROR)
    return _("TikTok Refused the Request");

  if (error->domain != KH_ERROR)
    return _("Authorization Failed");

  switch ((KhErrorCode) error->code)
    {
    case KH_ERROR_INVALID_INPUT:
      return _("This Address Cannot Be Used");
    case KH_ERROR_STATE_MISMATCH:
      return _("This Address Matches No Pending Link");
    case KH_ERROR_STATE_MISSING:
      return _("The Address Has No State");
    case KH_ERROR_REQUEST_EXPIRED:
      return _("The Link Has Expired");
    case KH_ERROR_DENIED:
      return _("Authorization Was Refused");
    case KH_ERROR_PORT_IN_USE:
      return _("The Redirect Port Is Taken");
    case KH_ERROR_TIMEOUT:
      return _("No Answer in Time");
    case KH_ERROR_NETWORK:
    case KH_ERROR_BAD_RESPONSE:
      return _("TikTok Could Not Be Reached");
    case KH_ERROR_UNSAFE_URL:
      return _("Unsafe Authorization Link");
    case KH_ERROR_NO_KEYRING:
    case KH_ERROR_STORE:
      return _("Could Not Store the Authorization");
    case KH_ERROR_NO_SHOPS:
      return _("No Shop Was Authorized");
    case KH_ERROR_WRONG_ACCOUNT:
      return _("Wrong Account or App");
    case KH_ERROR_NOT_FOUND:
      return _("Not Found");
    case KH_ERROR_FAILED:
    case KH_ERROR_AMBIGUOUS:
    case KH_ERROR_EXISTS:
    case KH_ERROR_NEEDS_REAUTH:
    case KH_ERROR_TEAM_URL:
    case KH_ERROR_TEAM_AUTH:
    case KH_ERROR_TEAM_UNREACHABLE:
    case KH_ERROR_TEAM_SCHEMA:
    case KH_ERROR_TEAM_KEY:
    case KH_ERROR_TEAM_ACCESS:
    default:
      return _("Authorization Failed");
    }
}

/* Extra words for pasted URLs: the core says what is wrong, this says what it means. */
char *
kh_account_page_explain_error (const GError *error)
{
  const char *hint = NULL;

  if (error->domain == KH_ERROR)
    switch ((KhErrorCode) error->code)
      {
      case KH_ERROR_STATE_MISMATCH:
        hint = _("It was already used, or it comes from a link that another app or computer "
                 "created. Create a new link for the client.");
        break;
      case KH_ERROR_REQUEST_EXPIRED:
        hint = _("Authorization codes live only a short time. Create a new link and ask the "
                 "client to open it again.");
        break;
      case KH_ERROR_INVALID_INPUT:
        hint = _("Paste the whole address from the client's browser, starting with http.");
        break;
      case KH_ERROR_STATE_MISSING:
        hint = _("Addresses without state come from installs through the Seller Center App "
                 "Store. Accept it only if you started such an install yourself.");
        break;
      case KH_ERROR_FAILED:
      case KH_ERROR_NOT_FOUND:
      case KH_ERROR_AMBIGUOUS:
      case KH_ERROR_EXISTS:
      case KH_ERROR_DENIED:
      case KH_ERROR_PORT_IN_USE:
      case KH_ERROR_TIMEOUT:
      case KH_ERROR_NETWORK:
      case KH_ERROR_BAD_RESPONSE:
      case KH_ERROR_UNSAFE_URL:
      case KH_ERROR_NO_KEYRING:
      case KH_ERROR_STORE:
      case KH_ERROR_NO_SHOPS:
      case KH_ERROR_WRONG_ACCOUNT:
      case KH_ERROR_NEEDS_REAUTH:
      case KH_ERROR_TEAM_URL:
      case KH_ERROR_TEAM_AUTH:
      case KH_ERROR_TEAM_UNREACHABLE:
      case KH_ERROR_TEAM_SCHEMA:
      case KH_ERROR_TEAM_KEY:
      case KH_ERROR_TEAM_ACCESS:
      default:
        break;
      }

  {
    /* The core's messages are written to follow "keyhold-cli: "; a dialog starts a sentence. */
    g_autofree char *message = g_strdup (error->message);

    if (g_ascii_islower (message[0]))
      message[0] = g_ascii_toupper (message[0]);

    if (hint == NULL)
      return g_steal_pointer (&message);

    return g_strdup_printf ("%s\n\n%s", message, hint);
  }
}

void
kh_account_page_show_flow_error (KhAccountPage *self,
                                 const GError  *error)
{
  GtkWindow *window = kh_account_page_get_window (self);
  g_autoptr(GError) explained = NULL;

  if (window == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  explained = g_error_new_literal (error->domain, error->code, "");
  g_free (explained->message);
  explained->message = kh_account_page_explain_error (error);
  g_signal_emit (self, signals[SIGNAL_SHOW_ERROR], 0, kh_account_page_error_heading (error),
                 explained);
}

void
kh_account_page_flow_succeeded (KhAccountPage *self,
                                KhGrant       *grant)
{
  const char * const *warnings = kh_flow_get_warnings (self->flow);
  GtkWindow *window = kh_account_page_get_window (self);

  kh_app_context_reload (self->context);

  if (window != NULL)
    g_signal_emit (self, signals[SIGNAL_GRANT_ADDED], 0, grant);

  /* Non-fatal findings (region mismatch, missing scopes) are worth a dialog: the grant works,
   * but not as the user may expect. */
  if (window != NULL && warnings != NULL && warnings[0] != NULL)
    {
      g_autofree char *body = g_strjoinv ("\n\n", (char **) warnings);
      GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (window),
                                                  _("Authorized, With Warnings"), body);

      adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
      gtk_window_present (GTK_WINDOW (dialog));
    }
}

/* ---- per-type setup ------------------------------------------------------------------------- */

static void
setup_for_type (KhAccountPage *self)
{
  const KhProvider *provider = self->provider;
  g_autofree char *redirect = kh_app_context_dup_default_redirect_uri (self->context);
  g_autofree char *help = NULL;
  g_autofree char *description = g_markup_escape_text (_(provider->description), -1);
  gboolean shop = provider->family == KH_FAMILY_SHOP;

  adw_status_page_set_description (self->empty_status, description);
  adw_status_page_set_icon_name (self->empty_status, provider->icon_name);

  if (shop)
    help = g_markup_printf_escaped (
      _("<b>App Key and App Secret</b>: Partner Center › App &amp; Service › your app › "
        "Basic Information.\n\n"
        "<b>Service ID</b>: the number at the end of the app's authorization link in Partner "
        "Center › App &amp; Service › Authorization; or paste the whole link.\n\n"
        "<b>Redirect URL</b>: register <tt>%s</tt> as the app's Redirect URL. Keyhold listens "
        "there, on this computer only, while you authorize."), redirect);
  else
    help = g_markup_printf_escaped (
      _("<b>App ID and Secret</b>: TikTok for Business developer portal › My Apps › your app "
        "› Basic Information.\n\n"
        "<b>Redirect URL</b>: add <tt>%s</tt> to the app's redirect URLs. Keyhold listens "
        "there, on this computer only, while you authorize."), redirect);
  gtk_label_set_markup (self->empty_help_label, help);
}

/* The form's rows and notes for this page's type. */
static void
setup_content_for_type (KhAccountPage *self)
{
  const KhProvider *provider = self->provider;

  gtk_label_set_text (self->description_label, _(provider->description));
  gtk_widget_set_visible (GTK_WIDGET (self->region_row), provider->has_regions);
  gtk_widget_set_visible (GTK_WIDGET (self->role_row), provider->n_roles > 1);
  for (guint i = 0; i < provider->n_roles; i++)
    gtk_string_list_append (self->role_list, _(provider->roles[i].title));
  gtk_widget_set_visible (GTK_WIDGET (self->consent_row),
                          self->type == KH_ACCOUNT_TIKTOK_ACCOUNT);
  gtk_widget_set_visible (GTK_WIDGET (self->quick_group), self->type == KH_ACCOUNT_SELLER);

  gtk_widget_set_visible (GTK_WIDGET (self->cancel_note_row), provider->manual_revoke != NULL);
  if (provider->manual_revoke != NULL)
    adw_action_row_set_subtitle (self->cancel_note_row, _(provider->manual_revoke));
  gtk_widget_set_visible (GTK_WIDGET (self->renew_note_row), provider->renew_path != NULL);
  if (provider->renew_path != NULL)
    {
      g_autofree char *renew = NULL;

      if (self->type == KH_ACCOUNT_SELLER)
        renew = g_strdup_printf (_("Keyhold warns 30 days before the authorization ends. To "
                                   "renew: %s."), _(provider->renew_path));
      else
        renew = g_strdup_printf (_("To renew: %s."), _(provider->renew_path));
      adw_action_row_set_subtitle (self->renew_note_row, renew);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->scopes_note_row), provider->scope_prefix != NULL
                                                              && self->type
                                                              == KH_ACCOUNT_CREATOR);
}

static void
on_apps_changed (KhAccountPage *self)
{
  /* A reload replaces the profiles: keep the one the user chose. */
  if (self->chosen_app != NULL && !self->restoring)
    {
      KhAppProfile *app = kh_account_page_get_selected_app (self);

      if (app == NULL || g_strcmp0 (kh_app_profile_get_name (app), self->chosen_app) != 0)
        {
          self->restoring = TRUE;
          kh_account_page_select_app (self, self->chosen_app);
          self->restoring = FALSE;
        }
    }
  kh_account_page_update_app_state (self);
}

static void
on_app_selected (KhAccountPage *self)
{
  KhAppProfile *app = kh_account_page_get_selected_app (self);

  if (!self->restoring && app != NULL)
    {
      g_free (self->chosen_app);
      self->chosen_app = g_strdup (kh_app_profile_get_name (app));
    }
  kh_account_page_update_app_state (self);
}

static void
on_grants_changed (KhAccountPage *self)
{
  update_list_state (self);
}

static void
on_grants_loaded (KhAccountPage *self)
{
  update_list_state (self);
}

static void
kh_account_page_dispose (GObject *object)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->browser_cancellable);
  g_clear_object (&self->browser_cancellable);
  g_clear_pointer (&self->browser_profiles, g_ptr_array_unref);
  g_clear_handle_id (&self->attach_id, g_source_remove);
  if (self->frame_clock != NULL)
    g_signal_handlers_disconnect_by_data (self->frame_clock, self);
  g_clear_object (&self->frame_clock);
  if (self->flow != NULL)
    g_signal_handlers_disconnect_by_func (self->flow, on_stage_changed, self);
  g_clear_object (&self->flow);
  g_clear_object (&self->cancellable);

  /* Disposing the combo row and the list view changes the models: nothing may update the
   * half-disposed page. */
  if (self->apps != NULL)
    g_signal_handlers_disconnect_by_data (self->apps, self);
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data (self->model, self);
  if (self->app_row != NULL)
    g_signal_handlers_disconnect_by_data (self->app_row, self);
  g_clear_weak_pointer (&self->menu_row);
  if (self->row_menu != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->row_menu, self);
      gtk_widget_unparent (GTK_WIDGET (self->row_menu));
      self->row_menu = NULL;
    }

  /* The template's stack is AdwBin's child, and AdwBin keeps its own pointer to it: it must let
   * go first, else gtk_widget_dispose_template() unparents and frees the stack behind its back
   * and AdwBin's dispose then unparents freed memory (a critical when the window goes). */
  adw_bin_set_child (ADW_BIN (self), NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_ACCOUNT_PAGE);
  /* The form went with the page's stack. */
  for (guint i = 0; i < G_N_ELEMENTS (content_children); i++)
    G_STRUCT_MEMBER (gpointer, self, content_children[i].offset) = NULL;

  g_clear_object (&self->model);
  g_clear_object (&self->grants);
  g_clear_object (&self->apps);

  G_OBJECT_CLASS (kh_account_page_parent_class)->dispose (object);
}

static void
kh_account_page_finalize (GObject *object)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (object);

  g_free (self->wanted_search);
  g_free (self->chosen_app);

  G_OBJECT_CLASS (kh_account_page_parent_class)->finalize (object);
}

static gboolean
attach_list_model (gpointer data)
{
  KhAccountPage *self = data;

  self->attach_id = 0;
  gtk_list_view_set_model (self->list_view,
                           GTK_SELECTION_MODEL (gtk_no_selection_new (
                             g_object_ref (self->model))));

  return G_SOURCE_REMOVE;
}

static void
after_paint_cb (KhAccountPage *self)
{
  g_signal_handlers_disconnect_by_data (self->frame_clock, self);
  g_clear_object (&self->frame_clock);
  /* After this frame, not inside it. */
  if (self->list_view != NULL && self->attach_id == 0
      && gtk_list_view_get_model (self->list_view) == NULL)
    self->attach_id = g_idle_add (attach_list_model, self);
}

static void
kh_account_page_map (GtkWidget *widget)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (widget);

  if (self->search_pending)
    apply_search (self);
  if (self->content != NULL)
    kh_account_page_reload_browsers (self);

  /* The list view gets its model once the page has been drawn: GtkListView builds a couple
   * of hundred rows for its model at once. The hidden pages need none at startup, and the
   * visible one fills its list right after the window's first frame. */
  if ((self->list_view == NULL || gtk_list_view_get_model (self->list_view) == NULL)
      && self->attach_id == 0 && self->frame_clock == NULL)
    {
      self->frame_clock = g_object_ref (gtk_widget_get_frame_clock (widget));
      g_signal_connect_object (self->frame_clock, "after-paint", G_CALLBACK (after_paint_cb),
                               self, G_CONNECT_SWAPPED);
    }

  GTK_WIDGET_CLASS (kh_account_page_parent_class)->map (widget);
}

static void
kh_account_page_size_allocate (GtkWidget *widget,
                               int        width,
                               int        height,
                               int        baseline)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (widget);

  GTK_WIDGET_CLASS (kh_account_page_parent_class)->size_allocate (widget, width, height,
                                                                   baseline);
  /* A popover follows its parent: the page places it again when it moves. */
  if (self->row_menu != NULL && gtk_widget_get_visible (GTK_WIDGET (self->row_menu)))
    gtk_popover_present (GTK_POPOVER (self->row_menu));
}

/* Builds the form, Quick Connect, the notes and the list (kh-account-page-content.ui) when the
 * page first needs them: a page that shows "Add an App Profile", as every page does before the
 * first profile, builds only that, which is most of what the window's first frame builds. */
void
kh_account_page_ensure_content (KhAccountPage *self)
{
  g_autoptr(GtkBuilder) builder = NULL;
  g_autoptr(GtkBuilderScope) scope = NULL;
  g_autoptr(GError) error = NULL;
  GtkListItemFactory *factory;
  GtkExpression *expression;
  GtkGesture *click;

  if (self->content != NULL || self->page_stack == NULL)
    return;

  scope = gtk_builder_cscope_new ();
  gtk_builder_cscope_add_callback_symbols (
    GTK_BUILDER_CSCOPE (scope),
    "on_add_app_clicked", G_CALLBACK (kh_account_page_on_add_app_clicked),
    "on_edit_app_clicked", G_CALLBACK (kh_account_page_on_edit_app_clicked),
    "on_authorize_clicked", G_CALLBACK (kh_account_page_on_authorize_clicked),
    "on_link_clicked", G_CALLBACK (kh_account_page_on_link_clicked),
    "on_paste_clicked", G_CALLBACK (kh_account_page_on_paste_clicked),
    "on_copy_flow_link_clicked", G_CALLBACK (kh_account_page_on_copy_flow_link_clicked),
    "kh_account_page_cancel", G_CALLBACK (kh_account_page_cancel),
    "on_quick_connect_clicked", G_CALLBACK (kh_account_page_on_quick_connect_clicked),
    "on_copy_redirect_clicked", G_CALLBACK (kh_account_page_on_copy_redirect_clicked),
    "on_list_activate", G_CALLBACK (kh_account_page_on_list_activate),
    NULL);
  builder = gtk_builder_new ();
  gtk_builder_set_scope (builder, scope);
  /* Swapped handlers get the page, as they did from the template. */
  gtk_builder_set_current_object (builder, G_OBJECT (self));
  if (!gtk_builder_add_from_resource (builder,
                                      "/io/github/keyhold/Keyhold/kh-account-page-content.ui",
                                      &error))
    g_error ("kh-account-page-content.ui: %s", error->message);   /* compiled in */
  for (guint i = 0; i < G_N_ELEMENTS (content_children); i++)
    {
      GObject *object = gtk_builder_get_object (builder, content_children[i].id);

      g_assert (object != NULL);
      G_STRUCT_MEMBER (gpointer, self, content_children[i].offset) = object;
    }

  /* Hidden until update_app_state() shows it (see show_only()). */
  gtk_widget_set_visible (self->content, FALSE);
  gtk_stack_add_named (self->page_stack, self->content, "content");

  /* App profiles of this page's family, named by the combo row. */
  expression = gtk_cclosure_expression_new (G_TYPE_STRING, NULL, 0, NULL,
                                            G_CALLBACK (app_display_name), NULL, NULL);
  adw_combo_row_set_expression (self->app_row, expression);
  gtk_expression_unref (expression);
  adw_combo_row_set_model (self->app_row, G_LIST_MODEL (self->apps));
  g_signal_connect_object (self->app_row, "notify::selected", G_CALLBACK (on_app_selected),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->client_row, "changed",
                           G_CALLBACK (kh_account_page_on_client_label_changed),
                           self, G_CONNECT_SWAPPED);
  kh_account_page_setup_browser_row (self);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    kh_account_page_reload_browsers (self);

  click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (kh_account_page_on_list_secondary_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self->list_view), GTK_EVENT_CONTROLLER (click));

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (kh_account_page_setup_row), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (kh_account_page_bind_row), NULL);
  g_signal_connect (factory, "unbind", G_CALLBACK (kh_account_page_unbind_row), NULL);
  gtk_list_view_set_factory (self->list_view, factory);
  g_object_unref (factory);

  setup_content_for_type (self);
  kh_account_page_update_app_state (self);
  update_list_state (self);

  /* Built after the page's first frame: the list gets its model now (see map()). */
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && self->frame_clock == NULL
      && self->attach_id == 0)
    attach_list_model (self);
}

static void
kh_account_page_class_init (KhAccountPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kh_account_page_dispose;
  widget_class->map = kh_account_page_map;
  widget_class->size_allocate = kh_account_page_size_allocate;
  object_class->finalize = kh_account_page_finalize;

  gtk_widget_class_install_action (widget_class, "grants.menu", NULL,
                                   kh_account_page_row_menu_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "grants.menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK, "grants.menu",
                                       NULL);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/keyhold/Keyhold/kh-account-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, KhAccountPage, name)
  BIND (page_stack);
  BIND (empty_status);
  BIND (empty_help_label);
#undef BIND
  gtk_widget_class_bind_template_callback_full (widget_class, "on_add_app_clicked",
                                                G_CALLBACK (kh_account_page_on_add_app_clicked));

  /* A message for the window's toast overlay. */
  signals[SIGNAL_TOAST] =
    g_signal_new ("toast", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
  /* An error for a dialog: its heading, and the error (its message says what to do). */
  signals[SIGNAL_SHOW_ERROR] =
    g_signal_new ("show-error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_ERROR);
  /* The page's flow stored this grant (the window says so, and may show its tab). */
  signals[SIGNAL_GRANT_ADDED] =
    g_signal_new ("grant-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, KH_TYPE_GRANT);

  g_type_ensure (KH_TYPE_GRANT_ROW);
}

static void
kh_account_page_init (KhAccountPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

KhAccountPage *
kh_account_page_new (KhAppContext  *context,
                     KhAccountType  type)
{
  KhAccountPage *self;

  g_return_val_if_fail (KH_IS_APP_CONTEXT (context), NULL);
  g_return_val_if_fail (type < KH_N_ACCOUNT_TYPES, NULL);

  self = g_object_new (KH_TYPE_ACCOUNT_PAGE, NULL);
  self->context = context;
  self->type = type;
  self->provider = kh_provider_get (type);

  /* App profiles of this page's family (the form's combo row names them). */
  self->apps = gtk_filter_list_model_new (
    g_object_ref (kh_app_context_get_apps (context)),
    GTK_FILTER (gtk_custom_filter_new (app_filter_func, self, NULL)));
  g_signal_connect_object (self->apps, "items-changed", G_CALLBACK (on_apps_changed), self,
                           G_CONNECT_SWAPPED);

  /* Grants of this type, searched: a view of the application's one sorted list, so a keystroke
   * walks this type's share of an array sorted once, with search text folded once. */
  if (kh_app_context_get_grant_list (context) != NULL)
    {
      self->grants = kh_grant_list_new_view (kh_app_context_get_grant_list (context));
      kh_grant_list_set_type_filter (self->grants, type);
      self->model = g_object_ref (G_LIST_MODEL (self->grants));
      g_signal_connect_object (self->grants, "reloaded", G_CALLBACK (on_grants_loaded), self,
                               G_CONNECT_SWAPPED);
    }
  else
    self->model = g_object_ref (kh_app_context_get_grants (context));
  g_signal_connect_object (self->model, "items-changed", G_CALLBACK (on_grants_changed), self,
                           G_CONNECT_SWAPPED);

  setup_for_type (self);
  kh_account_page_update_app_state (self);
  update_list_state (self);

  return self;
}
