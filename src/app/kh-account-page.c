/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page.c: one tab per account type. Everything that differs between the six types
 * comes from the provider table (KhProvider): which rows show, what the notes say, which roles
 * exist. The three entrances (browser, client link, pasted URL) and Quick Connect all run
 * through KhFlow; the page only shows its progress and explains its errors. */

#define G_LOG_DOMAIN "kh-account-page"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-account-page.h"

#include "kh-app-profile-dialog.h"
#include "kh-broker.h"
#include "kh-browser-profile.h"
#include "kh-error.h"
#include "kh-grant-row.h"
#include "kh-history-log.h"
#include "kh-provider.h"
#include "kh-util.h"

#define AUTHORIZE_TIMEOUT_SECONDS (15 * 60)

struct _KhAccountPage
{
  AdwBin               parent_instance;

  /* template widgets */
  GtkStack            *page_stack;
  AdwStatusPage       *empty_status;
  GtkLabel            *empty_help_label;

  /* kh-account-page-content.ui, built by ensure_content() (CONTENT_CHILDREN names them) */
  GtkWidget           *content;
  GtkLabel            *description_label;
  AdwComboRow         *app_row;
  GtkButton           *edit_app_button;
  AdwComboRow         *region_row;
  AdwComboRow         *role_row;
  GtkStringList       *role_list;
  AdwActionRow        *consent_row;
  GtkSwitch           *consent_switch;
  AdwEntryRow         *client_row;
  AdwComboRow         *browser_row;
  GtkStringList       *browser_list;
  GtkWidget           *actions_box;
  GtkButton           *authorize_button;
  GtkButton           *link_button;
  GtkButton           *paste_button;
  GtkRevealer         *progress_revealer;
  GtkWidget           *progress_box;
  GtkSpinner          *progress_spinner;
  GtkLabel            *progress_label;
  GtkWidget           *copy_flow_link_button;
  AdwPreferencesGroup *quick_group;
  AdwPasswordEntryRow *quick_secret_row;
  AdwEntryRow         *quick_url_row;
  GtkButton           *quick_button;
  GtkLabel            *quick_error_label;
  AdwActionRow        *redirect_note_row;
  AdwActionRow        *cancel_note_row;
  AdwActionRow        *renew_note_row;
  AdwActionRow        *scopes_note_row;
  GtkLabel            *count_label;
  GtkStack            *list_stack;
  GtkListView         *list_view;
  AdwStatusPage       *list_empty_status;

  /* borrowed */
  KhAppContext         *context;
  const KhProvider    *provider;

  /* owned */
  KhFlow              *flow;
  GCancellable        *cancellable;
  GCancellable        *browser_cancellable;  /* the running profile discovery */
  GPtrArray           *browser_profiles;     /* KhBrowserProfile: browser_list items 1... */
  GtkFilterListModel  *apps;
  KhGrantList         *grants;       /* this type's grants, searched: a view of the app's list */
  GListModel          *model;        /* what the list shows: grants, or empty without a store */
  GtkPopoverMenu      *row_menu;     /* one menu for every row, built when it opens */
  GtkWidget           *menu_row;     /* weak: the row it was opened on */
  GdkFrameClock       *frame_clock;  /* until the page's first frame */
  char                *wanted_search;   /* set while hidden, applied when shown */
  gboolean             search_pending;

  KhAccountType        type;
  guint                attach_id;
  char                *chosen_app;      /* the profile the user picked, kept across reloads */
  gboolean             restoring;
  gboolean             busy;
  gboolean             browsers_available;   /* FALSE inside Flatpak */
};

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
static void ensure_content (KhAccountPage *self);

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
        ensure_content (self);
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

  ensure_content (self);
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

  ensure_content (self);
  adw_combo_row_set_selected (self->region_row, region == KH_REGION_US ? 1 : 0);
}

static KhRegion
selected_region (KhAccountPage *self)
{
  if (!self->provider->has_regions)
    return KH_REGION_ROW;

  return adw_combo_row_get_selected (self->region_row) == 1 ? KH_REGION_US : KH_REGION_ROW;
}

static const char *
selected_role (KhAccountPage *self)
{
  guint selected = adw_combo_row_get_selected (self->role_row);

  if (self->provider->n_roles < 2 || selected >= self->provider->n_roles)
    return NULL;

  return self->provider->roles[selected].id;
}

static char *
client_label (KhAccountPage *self)
{
  g_autofree char *label = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (
                                                  self->client_row))));

  return *label != '\0' ? g_steal_pointer (&label) : NULL;
}

/* ---- state ---------------------------------------------------------------------------------- */

static GtkWindow *
get_window (KhAccountPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static void
toast (KhAccountPage *self,
       const char    *text)
{
  GtkWindow *window = get_window (self);

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

static void
update_app_state (KhAccountPage *self)
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
  ensure_content (self);

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

static void
set_busy (KhAccountPage *self,
          gboolean       busy)
{
  self->busy = busy;
  gtk_revealer_set_reveal_child (self->progress_revealer, busy);
  if (busy)
    gtk_spinner_start (self->progress_spinner);
  else
    gtk_spinner_stop (self->progress_spinner);
  update_app_state (self);
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

static KhFlow *
new_flow (KhAccountPage *self)
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
static const char *
error_heading (const GError *error)
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
static char *
explain_error (const GError *error)
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

static void
show_flow_error (KhAccountPage *self,
                 const GError  *error)
{
  GtkWindow *window = get_window (self);
  g_autoptr(GError) explained = NULL;

  if (window == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  explained = g_error_new_literal (error->domain, error->code, "");
  g_free (explained->message);
  explained->message = explain_error (error);
  g_signal_emit (self, signals[SIGNAL_SHOW_ERROR], 0, error_heading (error), explained);
}

static void
flow_succeeded (KhAccountPage *self,
                KhGrant       *grant)
{
  const char * const *warnings = kh_flow_get_warnings (self->flow);
  GtkWindow *window = get_window (self);

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
  set_busy (self, FALSE);

  if (grant == NULL)
    show_flow_error (self, error);
  else
    flow_succeeded (self, grant);
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
      toast (self, _("An authorization is already running on this page"));
      return FALSE;
    }

  if (kh_app_context_get_store (self->context) == NULL)
    return FALSE;

  if (kh_account_page_get_selected_app (self) == NULL)
    {
      toast (self, _("Add an app profile first"));
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
  g_autofree char *label = client_label (self);
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
static void
reload_browsers (KhAccountPage *self)
{
  if (!self->browsers_available)
    return;

  g_cancellable_cancel (self->browser_cancellable);
  g_clear_object (&self->browser_cancellable);
  self->browser_cancellable = g_cancellable_new ();
  kh_browser_profile_discover_async (self->browser_cancellable, browsers_discovered_cb,
                                     g_object_ref (self));
}

static void
setup_browser_row (KhAccountPage *self)
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

static void
on_client_label_changed (KhAccountPage *self)
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
  ensure_content (self);

  select_role (self, role);
  if (!check_ready (self))
    return;

  flow = new_flow (self);
  label = client_label (self);
  kh_flow_set_browser_profile (flow, selected_browser (self));
  remember_browser (self, label);
  set_busy (self, TRUE);
  kh_flow_authorize_async (flow, self->type, selected_role (self),
                           kh_account_page_get_selected_app (self), selected_region (self), label,
                           selected_flags (self), AUTHORIZE_TIMEOUT_SECONDS, self->cancellable,
                           authorize_cb, g_object_ref (self));
}

void
kh_account_page_cancel (KhAccountPage *self)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));

  g_cancellable_cancel (self->cancellable);
}

static void
on_authorize_clicked (KhAccountPage *self)
{
  kh_account_page_authorize (self, NULL);
}

static void
on_copy_flow_link_clicked (KhAccountPage *self)
{
  KhAuthRequest *request = self->flow != NULL ? kh_flow_get_request (self->flow) : NULL;

  if (request == NULL)
    return;

  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                          kh_auth_request_get_url (request));
  toast (self, _("Authorization link copied"));
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
      toast (self, _("Link copied"));
    }
}

static void
show_link_dialog (KhAccountPage *self,
                  KhAuthRequest *request)
{
  GtkWindow *window = get_window (self);
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

  set_busy (self, FALSE);
  request = g_task_propagate_pointer (G_TASK (result), &error);
  if (request == NULL)
    {
      show_flow_error (self, error);
      return;
    }

  show_link_dialog (self, request);
}

static LinkJob *
link_job_from_page (KhAccountPage *self)
{
  LinkJob *job = g_new0 (LinkJob, 1);

  job->type = self->type;
  job->role = g_strdup (selected_role (self));
  job->app = g_object_ref (kh_account_page_get_selected_app (self));
  job->region = selected_region (self);
  job->client_label = client_label (self);
  job->flags = selected_flags (self);

  return job;
}

void
kh_account_page_create_link (KhAccountPage *self,
                             const char    *role)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  ensure_content (self);

  select_role (self, role);
  if (!check_ready (self))
    return;

  gtk_label_set_text (self->progress_label, _("Creating the link…"));
  gtk_widget_set_visible (self->copy_flow_link_button, FALSE);
  set_busy (self, TRUE);
  start_link_job (self, link_job_from_page (self), link_cb);
}

static void
on_link_clicked (KhAccountPage *self)
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

  set_busy (self, FALSE);
  request = g_task_propagate_pointer (G_TASK (result), &error);
  if (request == NULL)
    {
      show_flow_error (self, error);
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
  toast (self, _("Renewal pack copied: paste it into a message to the client"));
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
  ensure_content (self);

  job_from_grant (self, grant);
  if (!check_ready (self))
    return;

  gtk_label_set_text (self->progress_label, _("Creating the renewal link…"));
  gtk_widget_set_visible (self->copy_flow_link_button, FALSE);
  job = link_job_from_page (self);
  job->grant = g_object_ref (grant);
  set_busy (self, TRUE);
  start_link_job (self, job, renewal_cb);
}

void
kh_account_page_reauthorize (KhAccountPage *self,
                             KhGrant       *grant)
{
  g_return_if_fail (KH_IS_ACCOUNT_PAGE (self));
  g_return_if_fail (KH_IS_GRANT (grant));
  ensure_content (self);

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
  set_busy (self, FALSE);

  if (grant != NULL)
    {
      flow_succeeded (self, grant);
      return;
    }

  window = get_window (self);
  if (window != NULL && g_error_matches (error, KH_ERROR, KH_ERROR_STATE_MISSING))
    {
      /* An App Store install carries no state: accept it only with the user's word. */
      g_autofree char *body = explain_error (error);
      GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (window), error_heading (error),
                                                  body);

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

  show_flow_error (self, error);
}

static void
complete_with_flags (KhAccountPage *self,
                     const char    *url,
                     KhFlowFlags    flags)
{
  KhFlow *flow;

  ensure_content (self);

  if (self->busy || kh_app_context_get_store (self->context) == NULL)
    return;

  flow = new_flow (self);
  g_object_set_data_full (G_OBJECT (flow), "kh-pasted", g_strdup (url), g_free);
  gtk_label_set_text (self->progress_label, _("Checking the address…"));
  set_busy (self, TRUE);
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
  ensure_content (self);

  if (url != NULL)
    {
      complete_with_flags (self, url, KH_FLOW_FLAGS_NONE);
      return;
    }

  window = get_window (self);
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

static void
on_paste_clicked (KhAccountPage *self)
{
  kh_account_page_complete (self, NULL);
}

/* ---- Quick Connect -------------------------------------------------------------------------- */

static void
quick_connect_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(KhAccountPage) self = user_data;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;

  grant = kh_flow_quick_connect_finish (KH_FLOW (object), result, &error);
  set_busy (self, FALSE);

  if (grant == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        gtk_label_set_text (self->quick_error_label, error->message);
      return;
    }

  gtk_label_set_text (self->quick_error_label, "");
  gtk_editable_set_text (GTK_EDITABLE (self->quick_secret_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->quick_url_row), "");
  flow_succeeded (self, grant);
}

static void
on_quick_connect_clicked (KhAccountPage *self)
{
  g_autofree char *secret = g_strstrip (g_strdup (gtk_editable_get_text (
                                          GTK_EDITABLE (self->quick_secret_row))));
  g_autofree char *url = g_strstrip (g_strdup (gtk_editable_get_text (
                                       GTK_EDITABLE (self->quick_url_row))));
  KhFlow *flow;

  if (self->busy || kh_app_context_get_store (self->context) == NULL)
    return;

  if (*secret == '\0')
    {
      gtk_label_set_text (self->quick_error_label, _("Enter the App Secret of the app"));
      gtk_widget_grab_focus (GTK_WIDGET (self->quick_secret_row));
      return;
    }
  if (*url == '\0')
    {
      gtk_label_set_text (self->quick_error_label,
                          _("Paste the address the browser landed on after the install"));
      gtk_widget_grab_focus (GTK_WIDGET (self->quick_url_row));
      return;
    }

  gtk_label_set_text (self->quick_error_label, "");
  flow = new_flow (self);
  set_busy (self, TRUE);
  kh_flow_quick_connect_async (flow, secret, url, self->cancellable, quick_connect_cb,
                               g_object_ref (self));
  memset (secret, 0, strlen (secret));
}

/* ---- app profiles --------------------------------------------------------------------------- */

static void
profile_saved_cb (KhAppProfileDialog *dialog,
                  const char         *name,
                  KhAccountPage      *self)
{
  kh_app_context_reload (self->context);
  kh_account_page_select_app (self, name);
  update_app_state (self);
}

static void
open_profile_dialog (KhAccountPage *self,
                     KhAppProfile  *app)
{
  GtkWindow *window = get_window (self);
  KhAppProfileDialog *dialog;

  dialog = kh_app_profile_dialog_new (self->context, self->provider->family, app);
  if (window != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (dialog), GTK_WINDOW (window));
  g_signal_connect_object (dialog, "saved", G_CALLBACK (profile_saved_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
on_add_app_clicked (KhAccountPage *self)
{
  open_profile_dialog (self, NULL);
}

static void
on_edit_app_clicked (KhAccountPage *self)
{
  KhAppProfile *app = kh_account_page_get_selected_app (self);

  if (app != NULL)
    open_profile_dialog (self, app);
}

static void
on_copy_redirect_clicked (KhAccountPage *self)
{
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (self)),
                          adw_action_row_get_subtitle (self->redirect_note_row));
  toast (self, _("Redirect URL copied"));
}

/* ---- list ----------------------------------------------------------------------------------- */

static void
setup_row (GtkSignalListItemFactory *factory,
           GtkListItem              *item,
           gpointer                  user_data)
{
  gtk_list_item_set_child (item, GTK_WIDGET (kh_grant_row_new ()));
}

static void
bind_row (GtkSignalListItemFactory *factory,
          GtkListItem              *item,
          gpointer                  user_data)
{
  kh_grant_row_set_grant (KH_GRANT_ROW (gtk_list_item_get_child (item)),
                          gtk_list_item_get_item (item));
}

static void
unbind_row (GtkSignalListItemFactory *factory,
            GtkListItem              *item,
            gpointer                  user_data)
{
  kh_grant_row_set_grant (KH_GRANT_ROW (gtk_list_item_get_child (item)), NULL);
}

/* -- the row menu: one popover for the page, for the row it was opened on -- */

static void
row_menu_closed_cb (KhAccountPage *self)
{
  GtkWidget *row = self->menu_row;

  /* Back to the row the menu came from, so the keyboard goes on where it was. */
  if (row != NULL && gtk_widget_get_mapped (row) && gtk_widget_get_parent (row) != NULL)
    gtk_widget_grab_focus (gtk_widget_get_parent (row));
  g_clear_weak_pointer (&self->menu_row);
}

static void
open_row_menu (KhAccountPage         *self,
               KhGrantRow            *row,
               const graphene_rect_t *at)
{
  KhGrant *grant = kh_grant_row_get_grant (row);
  g_autoptr(GMenuModel) menu = NULL;
  graphene_rect_t bounds;
  GdkRectangle rect;

  if (grant == NULL)
    return;

  if (self->row_menu == NULL)
    {
      self->row_menu = GTK_POPOVER_MENU (gtk_popover_menu_new_from_model (NULL));
      gtk_widget_set_parent (GTK_WIDGET (self->row_menu), GTK_WIDGET (self));
      gtk_popover_set_position (GTK_POPOVER (self->row_menu), GTK_POS_BOTTOM);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->row_menu),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Authorization Menu"), -1);
      g_signal_connect_object (self->row_menu, "closed", G_CALLBACK (row_menu_closed_cb), self,
                               G_CONNECT_SWAPPED);
    }

  /* A new model each time: the menu of one grant must never act on another. */
  menu = kh_grant_menu_new (grant);
  gtk_popover_menu_set_menu_model (self->row_menu, menu);
  g_set_weak_pointer (&self->menu_row, GTK_WIDGET (row));

  if (at != NULL)
    bounds = *at;
  else if (!gtk_widget_compute_bounds (GTK_WIDGET (row), GTK_WIDGET (self), &bounds))
    graphene_rect_init (&bounds, 0, 0, gtk_widget_get_width (GTK_WIDGET (self)), 1);
  else
    /* Under the row's end, where the "more" icon is. */
    graphene_rect_init (&bounds, bounds.origin.x + bounds.size.width - 32,
                        bounds.origin.y + bounds.size.height / 2, 1, 1);
  rect.x = (int) bounds.origin.x;
  rect.y = (int) bounds.origin.y;
  rect.width = MAX ((int) bounds.size.width, 1);
  rect.height = MAX ((int) bounds.size.height, 1);
  gtk_popover_set_pointing_to (GTK_POPOVER (self->row_menu), &rect);
  gtk_popover_popup (GTK_POPOVER (self->row_menu));
}

/* The row of the list that has the keyboard focus. */
static KhGrantRow *
focused_row (KhAccountPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;

  if (focus == NULL || self->list_view == NULL
      || !gtk_widget_is_ancestor (focus, GTK_WIDGET (self->list_view)))
    return NULL;
  if (KH_IS_GRANT_ROW (focus))
    return KH_GRANT_ROW (focus);
  /* The list's item widget has the focus; the row is its child. */
  focus = gtk_widget_get_first_child (focus);

  return focus != NULL && KH_IS_GRANT_ROW (focus) ? KH_GRANT_ROW (focus) : NULL;
}

/* Enter, a click or a double click on a row: its menu. */
static void
on_list_activate (KhAccountPage *self,
                  guint          position)
{
  g_autoptr(KhGrant) grant = g_list_model_get_item (self->model, position);
  KhGrantRow *row = focused_row (self);

  if (grant == NULL)
    return;
  if (row == NULL || kh_grant_row_get_grant (row) != grant)
    {
      /* Activated without the focus on it (a click lands there first, a test does not): find
       * the row among the list's children. */
      row = NULL;
      for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->list_view));
           child != NULL && row == NULL; child = gtk_widget_get_next_sibling (child))
        {
          GtkWidget *inner = gtk_widget_get_first_child (child);

          if (inner != NULL && KH_IS_GRANT_ROW (inner)
              && kh_grant_row_get_grant (KH_GRANT_ROW (inner)) == grant)
            row = KH_GRANT_ROW (inner);
        }
    }
  if (row != NULL)
    open_row_menu (self, row, NULL);
}

/* Right click (or a long press) on a row: its menu, where the pointer is. */
static void
on_list_secondary_click (GtkGestureClick *gesture,
                         int              n_press,
                         double           x,
                         double           y,
                         KhAccountPage   *self)
{
  GtkWidget *picked = gtk_widget_pick (GTK_WIDGET (self->list_view), x, y, GTK_PICK_DEFAULT);
  graphene_point_t point;

  while (picked != NULL && !KH_IS_GRANT_ROW (picked))
    picked = gtk_widget_get_parent (picked);
  if (picked == NULL)
    return;

  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  if (!gtk_widget_compute_point (GTK_WIDGET (self->list_view), GTK_WIDGET (self),
                                 &GRAPHENE_POINT_INIT (x, y), &point))
    point = GRAPHENE_POINT_INIT (x, y);
  open_row_menu (self, KH_GRANT_ROW (picked),
                 &GRAPHENE_RECT_INIT (point.x, point.y, 1, 1));
}

/* The Menu key or Shift+F10 on a row. */
static void
row_menu_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *parameter)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (widget);
  KhGrantRow *row = focused_row (self);

  if (row != NULL)
    open_row_menu (self, row, NULL);
}

GtkPopover *
kh_account_page_get_row_menu (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);

  return self->row_menu != NULL ? GTK_POPOVER (self->row_menu) : NULL;
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
  update_app_state (self);
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
  update_app_state (self);
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
    reload_browsers (self);

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
static void
ensure_content (KhAccountPage *self)
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
    "on_add_app_clicked", G_CALLBACK (on_add_app_clicked),
    "on_edit_app_clicked", G_CALLBACK (on_edit_app_clicked),
    "on_authorize_clicked", G_CALLBACK (on_authorize_clicked),
    "on_link_clicked", G_CALLBACK (on_link_clicked),
    "on_paste_clicked", G_CALLBACK (on_paste_clicked),
    "on_copy_flow_link_clicked", G_CALLBACK (on_copy_flow_link_clicked),
    "kh_account_page_cancel", G_CALLBACK (kh_account_page_cancel),
    "on_quick_connect_clicked", G_CALLBACK (on_quick_connect_clicked),
    "on_copy_redirect_clicked", G_CALLBACK (on_copy_redirect_clicked),
    "on_list_activate", G_CALLBACK (on_list_activate),
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
  g_signal_connect_object (self->client_row, "changed", G_CALLBACK (on_client_label_changed),
                           self, G_CONNECT_SWAPPED);
  setup_browser_row (self);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    reload_browsers (self);

  click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect (click, "pressed", G_CALLBACK (on_list_secondary_click), self);
  gtk_widget_add_controller (GTK_WIDGET (self->list_view), GTK_EVENT_CONTROLLER (click));

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_row), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_row), NULL);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_row), NULL);
  gtk_list_view_set_factory (self->list_view, factory);
  g_object_unref (factory);

  setup_content_for_type (self);
  update_app_state (self);
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

  gtk_widget_class_install_action (widget_class, "grants.menu", NULL, row_menu_action);
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
  gtk_widget_class_bind_template_callback (widget_class, on_add_app_clicked);

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
  update_app_state (self);
  update_list_state (self);

  return self;
}
