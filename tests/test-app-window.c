/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-app-window.c: the GTK application under Xvfb, in-process. Widget tests (controls per
 * account type, app profile validation, the list with 2,000 grants), end to end through the
 * GActions with headless Chromium as the default browser against the in-process sandbox, and
 * screenshots of every page into the build directory. One KhApplication serves every case, in
 * order, as a user's session would. */

#include "config.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <glib/gstdio.h>
#include <string.h>

#define KH_TEST_WITH_SANDBOX 1
#include "kh-test-pg.h"
#include "kh-test-util.h"

#include "kh-account-page.h"
#include "kh-app-profile-dialog.h"
#include "kh-application.h"
#include "kh-browser-profile.h"
#include "kh-grant-row.h"
#include "kh-grant-window.h"
#include "kh-history-group.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-preferences-window.h"
#include "kh-provider.h"
#include "kh-shared.h"
#include "kh-util.h"
#include "kh-window.h"

#define SHOP_KEY        "uitestshop"
#define SHOP_SECRET     "ui-shop-secret-1f2e3d"
#define SHOP_SERVICE_ID "7200000000000000001"
#define BIZ_ID          "7200000000000000002"
#define BIZ_SECRET      "ui-biz-secret-4c5b6a"

static struct
{
  KhApplication *app;
  KhWindow      *window;
  KhSandbox     *sandbox;
  char          *redirect_uri;
  gboolean       have_browser;
} env;

/* ---- helpers -------------------------------------------------------------------------------- */

static void
iterate (guint ms)
{
  gint64 until = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
}

typedef struct
{
  char   *method;
  char   *url;
  char   *body;
  guint   status;
  char   *location;
  gboolean done;
} HttpCall;

/* The sandbox runs on this thread's main context: HTTP to it must come from another thread. */
static gpointer
http_thread (gpointer data)
{
  HttpCall *call = data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  g_main_context_push_thread_default (context);
  session = soup_session_new ();
  msg = soup_message_new (call->method, call->url);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  if (call->body != NULL)
    {
      g_autoptr(GBytes) body = g_bytes_new (call->body, strlen (call->body));

      soup_message_set_request_body_from_bytes (msg, "application/json", body);
    }
  bytes = soup_session_send_and_read (session, msg, NULL, &error);
  if (error == NULL)
    {
      call->status = soup_message_get_status (msg);
      call->location = g_strdup (soup_message_headers_get_one (
                                   soup_message_get_response_headers (msg), "Location"));
    }
  g_main_context_pop_thread_default (context);
  g_atomic_int_set (&call->done, TRUE);

  return NULL;
}

static guint
http (const char  *method,
      const char  *url,
      const char  *body,
      char       **location)
{
  HttpCall call = { (char *) method, (char *) url, (char *) body, 0, NULL, FALSE };
  GThread *thread = g_thread_new ("http", http_thread, &call);

  kh_test_wait_flag (&call.done, 30000);
  g_thread_join (thread);
  if (location != NULL)
    *location = call.location;
  else
    g_free (call.location);

  return call.status;
}

static void
sandbox_config (const char *json)
{
  g_autofree char *origin = kh_sandbox_dup_origin (env.sandbox);
  g_autofree char *url = g_strconcat (origin, "/_sandbox/config", NULL);

  g_assert_cmpuint (http ("POST", url, json, NULL), ==, 200);
}

static void
activate_action (const char *name,
                 const char *param)
{
  g_action_group_activate_action (G_ACTION_GROUP (env.app), name,
                                  param != NULL ? g_variant_new_string (param) : NULL);
}

static guint
model_count (KhAccountType type)
{
  return g_list_model_get_n_items (kh_account_page_get_model (kh_window_get_page (env.window,
                                                                                   type)));
}

static gboolean
widget_shown (KhAccountPage *page,
              const char    *id)
{
  GtkWidget *widget = kh_account_page_get_control (page, id);

  g_assert_nonnull (widget);

  return gtk_widget_get_visible (widget);
}

/* The transient windows of the main window (dialogs the app opened). */
static GtkWindow *
find_dialog (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (window, type) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return window;
    }

  return NULL;
}

static void
close_dialogs (void)
{
  GtkWindow *dialog;

  while ((dialog = find_dialog (ADW_TYPE_MESSAGE_DIALOG)) != NULL)
    gtk_window_destroy (dialog);
}

static void
save_widget_png (GtkWidget  *widget,
                 GtkNative  *native,
                 const char *name)
{
  int width;
  int height;
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *dir = g_build_filename (g_getenv ("KEYHOLD_TEST_BUILDDIR"), "screenshots",
                                           NULL);
  g_autofree char *file = g_strdup_printf ("%s.png", name);
  g_autofree char *path = g_build_filename (dir, file, NULL);
  GskRenderer *renderer = gtk_native_get_renderer (native);

  /* A window just presented is allocated after a frame or two, later on a loaded machine:
   * wait for its size (up to 20 s) rather than for a fixed time. */
  iterate (200);
  for (guint i = 0; i < 400 && (gtk_widget_get_width (widget) <= 0 ||
                                gtk_widget_get_height (widget) <= 0); i++)
    iterate (50);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  g_assert_cmpint (width, >, 0);
  g_assert_cmpint (height, >, 0);
  paintable = gtk_widget_paintable_new (widget);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  /* The window, not its content, paints the background: paint it under the content. */
  gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0.98, 0.98, 0.98, 1.0 },
                             &GRAPHENE_RECT_INIT (0, 0, width, height));
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (renderer, node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}

/* The main window's content: a toplevel cannot be its own paintable. */
static void
save_png (const char *name)
{
  save_widget_png (adw_application_window_get_content (ADW_APPLICATION_WINDOW (env.window)),
                   GTK_NATIVE (env.window), name);
}

static KhGrant *
fake_grant (KhAccountType  type,
            const char    *name,
            const char    *client,
            const char    *region,
            gint64         access_in,
            gint64         refresh_in,
            KhGrantStatus  stored)
{
  KhGrant *grant = kh_grant_new (type, NULL, "Fake App");
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  gint64 now = kh_now ();

  kh_grant_set_display_name (grant, name);
  kh_grant_set_client_label (grant, client);
  kh_grant_set_region (grant, region);
  tokens->access_expires_at = access_in != 0 ? now + access_in : 0;
  tokens->refresh_expires_at = refresh_in != 0 ? now + refresh_in : 0;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  kh_grant_set_stored_status (grant, stored);
  if (type == KH_ACCOUNT_SELLER)
    {
      g_autoptr(GPtrArray) shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
      KhShop *shop = g_new0 (KhShop, 1);

      shop->id = g_strdup_printf ("7%012u", g_str_hash (name));
      shop->name = g_strdup_printf ("%s Store", name);
      shop->region = g_strdup (region);
      shop->cipher = g_strdup_printf ("ROW_cipher_%s", name);
      g_ptr_array_add (shops, shop);
      kh_grant_set_shops (grant, shops);
    }

  return grant;
}

static gboolean setup_browser (void);

/* GTest isolates XDG directories per case and points GIO's MIME database there; GTK needs the
 * real one to recognise the SVG icons it loads. */
static void
real_mime_dirs (void)
{
  const char *dirs[] = { "/usr/local/share/mime", "/usr/share/mime", NULL };
  GdkDisplay *display = gdk_display_get_default ();

  g_content_type_set_mime_dirs (dirs);
  /* The icon themes too live in the real data dirs. */
  if (display != NULL)
    {
      GtkIconTheme *theme = gtk_icon_theme_get_for_display (display);
      const char *paths[] = { "/usr/share/icons", "/usr/local/share/icons", NULL };

      gtk_icon_theme_set_search_path (theme, paths);
    }
}

/* ---- cases ---------------------------------------------------------------------------------- */

static void
test_pages (void)
{
  AdwViewStack *stack = NULL;
  GtkWidget *visible;

  real_mime_dirs ();
  /* Six pages in tab order, each titled and with an icon. */
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    {
      KhAccountPage *page = kh_window_get_page (env.window, i);
      const KhProvider *provider = kh_provider_get (i);
      AdwViewStackPage *stack_page;

      g_assert_nonnull (page);
      g_assert_cmpint (kh_account_page_get_account_type (page), ==, i);
      /* Each page sits in a slot of the stack, built when first shown or asked for. */
      stack = ADW_VIEW_STACK (gtk_widget_get_ancestor (GTK_WIDGET (page), ADW_TYPE_VIEW_STACK));
      stack_page = adw_view_stack_get_page (stack, gtk_widget_get_parent (GTK_WIDGET (page)));
      g_assert_cmpstr (adw_view_stack_page_get_title (stack_page), ==, provider->title);
      g_assert_cmpstr (adw_view_stack_page_get_icon_name (stack_page), ==, provider->icon_name);

      /* No app profile yet: the page shows "Add an App Profile" and has not built the form it
       * cannot use yet (kh-account-page-content.ui), which keeps the first frame light. Asking
       * for a control of the form builds it. */
      g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (
                         kh_account_page_get_control (page, "page_stack"))), ==, "empty");
      g_assert_null (gtk_stack_get_child_by_name (GTK_STACK (kh_account_page_get_control (
                       page, "page_stack")), "content"));

      /* The controls each type needs, and none it does not. */
      g_assert_cmpint (widget_shown (page, "region_row"), ==, provider->has_regions);
      g_assert_cmpint (widget_shown (page, "role_row"), ==, provider->n_roles > 1);
      g_assert_cmpint (widget_shown (page, "consent_row"), ==, i == KH_ACCOUNT_TIKTOK_ACCOUNT);
      g_assert_cmpint (widget_shown (page, "quick_group"), ==, i == KH_ACCOUNT_SELLER);
      g_assert_cmpint (widget_shown (page, "cancel_note_row"), ==,
                       provider->manual_revoke != NULL);
      g_assert_true (widget_shown (page, "browser_row"));
      g_assert_true (widget_shown (page, "authorize_button"));
      g_assert_true (widget_shown (page, "link_button"));
      g_assert_true (widget_shown (page, "paste_button"));
      g_assert_true (GTK_IS_WIDGET (kh_account_page_get_control (page, "list_view")));
    }

  /* The seller and partner pages choose US or rest of world. */
  g_assert_true (widget_shown (kh_window_get_page (env.window, KH_ACCOUNT_SELLER), "region_row"));
  g_assert_true (widget_shown (kh_window_get_page (env.window, KH_ACCOUNT_PARTNER),
                               "region_row"));

  /* Built after the first frame: the narrow-window switcher follows the same stack, and the
   * main menu gets its popover when it first opens. */
  {
    GObject *bar = gtk_widget_get_template_child (GTK_WIDGET (env.window), KH_TYPE_WINDOW,
                                                  "switcher_bar");
    GtkMenuButton *menu = GTK_MENU_BUTTON (gtk_widget_get_template_child (
                                             GTK_WIDGET (env.window), KH_TYPE_WINDOW,
                                             "menu_button"));

    g_assert_true (adw_view_switcher_bar_get_stack (ADW_VIEW_SWITCHER_BAR (bar)) == stack);
    g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (menu)));
    gtk_menu_button_popup (menu);
    iterate (100);
    g_assert_nonnull (gtk_menu_button_get_menu_model (menu));
    g_assert_cmpint (g_menu_model_get_n_items (gtk_menu_button_get_menu_model (menu)), >, 0);
    gtk_menu_button_popdown (menu);
  }

  /* Test endpoints are active (the sandbox's origin map): the banner says so. */
  g_assert_true (kh_window_get_banner_visible (env.window));

  /* Keyboard: Alt+3 shows the third page. */
  gtk_widget_activate_action (GTK_WIDGET (env.window), "window.show-page", "i", 2);
  visible = adw_view_stack_get_visible_child (stack);
  g_assert_true (visible == gtk_widget_get_parent (GTK_WIDGET (kh_window_get_page (
                                                  env.window, KH_ACCOUNT_PARTNER))));
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
}

static void
type_into (KhAppProfileDialog *dialog,
           const char         *row,
           const char         *text)
{
  gtk_editable_set_text (GTK_EDITABLE (kh_app_profile_dialog_get_row (dialog, row)), text);
}

static gboolean
row_has_error (KhAppProfileDialog *dialog,
               const char         *row)
{
  return gtk_widget_has_css_class (kh_app_profile_dialog_get_row (dialog, row), "error");
}

static void
test_profile_validation (void)
{
  KhAppProfileDialog *dialog;

  real_mime_dirs ();
  dialog = kh_app_profile_dialog_new (KH_APP_CONTEXT (env.app), KH_FAMILY_SHOP, NULL);
  gtk_window_set_transient_for (GTK_WINDOW (dialog), GTK_WINDOW (env.window));
  gtk_window_present (GTK_WINDOW (dialog));

  /* An empty form is not an error yet, but cannot be saved. */
  g_assert_cmpstr (kh_app_profile_dialog_get_error_text (dialog), ==, "");
  g_assert_false (kh_app_profile_dialog_get_can_save (dialog));
  g_assert_true (gtk_widget_get_visible (kh_app_profile_dialog_get_row (dialog, "service_row")));

  type_into (dialog, "name_row", "Form App");
  type_into (dialog, "key_row", "bad key!");
  g_assert_true (row_has_error (dialog, "key_row"));
  g_assert_nonnull (strstr (kh_app_profile_dialog_get_error_text (dialog), "pp"));
  g_assert_false (kh_app_profile_dialog_get_can_save (dialog));

  type_into (dialog, "key_row", "formappkey");
  g_assert_false (row_has_error (dialog, "key_row"));
  type_into (dialog, "service_row", "12ab");
  g_assert_true (row_has_error (dialog, "service_row"));
  type_into (dialog, "service_row", "7300000000000000001");
  g_assert_false (row_has_error (dialog, "service_row"));

  type_into (dialog, "redirect_row", "ftp://example.com/callback");
  g_assert_true (row_has_error (dialog, "redirect_row"));
  g_assert_cmpstr (kh_app_profile_dialog_get_error_text (dialog), !=, "");
  type_into (dialog, "redirect_row", env.redirect_uri);
  g_assert_false (row_has_error (dialog, "redirect_row"));

  /* The secret is required for a new profile. */
  type_into (dialog, "secret_row", "x");
  type_into (dialog, "secret_row", "");
  g_assert_true (row_has_error (dialog, "secret_row"));
  g_assert_false (kh_app_profile_dialog_get_can_save (dialog));
  type_into (dialog, "secret_row", SHOP_SECRET);

  /* A pasted link must be https on a TikTok host. */
  type_into (dialog, "link_row", "https://evil.example.com/oauth/authorize?service_id=1");
  g_assert_true (row_has_error (dialog, "link_row"));
  g_assert_false (kh_app_profile_dialog_get_can_save (dialog));
  type_into (dialog, "link_row", "");
  g_assert_cmpstr (kh_app_profile_dialog_get_error_text (dialog), ==, "");
  g_assert_true (kh_app_profile_dialog_get_can_save (dialog));

  gtk_window_destroy (GTK_WINDOW (dialog));

  /* The business form asks for an App ID and has no service id. */
  dialog = kh_app_profile_dialog_new (KH_APP_CONTEXT (env.app), KH_FAMILY_BUSINESS, NULL);
  g_assert_false (gtk_widget_get_visible (kh_app_profile_dialog_get_row (dialog, "service_row")));
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (
                     kh_app_profile_dialog_get_row (dialog, "key_row"))), ==, "App ID");
  gtk_window_destroy (GTK_WINDOW (dialog));
}

static void
saved_cb (KhAppProfileDialog *dialog,
          const char         *name,
          gboolean           *saved)
{
  *saved = TRUE;
}

static void
add_profile (KhFamily    family,
             const char *name,
             const char *key,
             const char *secret,
             const char *service_id,
             const char *scopes)
{
  KhAppProfileDialog *dialog = kh_app_profile_dialog_new (KH_APP_CONTEXT (env.app), family, NULL);
  gboolean saved = FALSE;

  g_signal_connect (dialog, "saved", G_CALLBACK (saved_cb), &saved);
  gtk_window_set_transient_for (GTK_WINDOW (dialog), GTK_WINDOW (env.window));
  gtk_window_present (GTK_WINDOW (dialog));
  type_into (dialog, "name_row", name);
  type_into (dialog, "key_row", key);
  type_into (dialog, "secret_row", secret);
  if (service_id != NULL)
    type_into (dialog, "service_row", service_id);
  type_into (dialog, "redirect_row", env.redirect_uri);
  if (scopes != NULL)
    type_into (dialog, "scopes_row", scopes);
  g_assert_true (kh_app_profile_dialog_get_can_save (dialog));
  kh_app_profile_dialog_save (dialog);
  kh_test_wait_flag (&saved, 30000);
}

static void
test_profile_save (void)
{
  KhStore *store = kh_application_get_store (env.app);
  g_autofree char *secret = NULL;
  g_autoptr(GError) error = NULL;

  real_mime_dirs ();
  /* No profile yet: the page teaches where to find the app's credentials. */
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (kh_account_page_get_control (
                     kh_window_get_page (env.window, KH_ACCOUNT_SELLER), "page_stack"))), ==,
                   "empty");
  save_png ("seller-no-profile");

  add_profile (KH_FAMILY_SHOP, "Shop App", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID,
               "creator.affiliate.info");
  add_profile (KH_FAMILY_BUSINESS, "Biz App", BIZ_ID, BIZ_SECRET, NULL, NULL);

  /* In the keyring, and selected on every page of the family. */
  secret = kh_store_load_app_secret (store, "Shop App", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, SHOP_SECRET);
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    {
      KhAccountPage *page = kh_window_get_page (env.window, i);
      KhAppProfile *app = kh_account_page_get_selected_app (page);

      g_assert_nonnull (app);
      g_assert_cmpstr (kh_app_profile_get_name (app), ==,
                       kh_provider_get (i)->family == KH_FAMILY_SHOP ? "Shop App" : "Biz App");
      g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (
                         kh_account_page_get_control (page, "page_stack"))), ==, "content");
    }

  /* Saving a second profile under a taken name is refused in the form. */
  {
    KhAppProfileDialog *dialog = kh_app_profile_dialog_new (KH_APP_CONTEXT (env.app), KH_FAMILY_SHOP, NULL);

    type_into (dialog, "name_row", "Shop App");
    g_assert_true (row_has_error (dialog, "name_row"));
    gtk_window_destroy (GTK_WINDOW (dialog));
  }
}

typedef struct
{
  KhAccountType type;
  guint         count;
} CountWait;

static gboolean
count_is (gpointer data)
{
  CountWait *wait = data;

  return model_count (wait->type) == wait->count;
}

static gboolean
page_idle (gpointer data)
{
  return !kh_account_page_get_busy (data);
}

typedef struct
{
  const char    *spec;
  KhAccountType  type;
} AuthorizeCase;

static const AuthorizeCase authorize_cases[] = {
  { "seller", KH_ACCOUNT_SELLER },
  { "creator", KH_ACCOUNT_CREATOR },
  { "partner", KH_ACCOUNT_PARTNER },
  { "advertiser", KH_ACCOUNT_ADVERTISER },
  { "tiktok-account", KH_ACCOUNT_TIKTOK_ACCOUNT },
  { "creator-marketplace:account", KH_ACCOUNT_CREATOR_MARKETPLACE },
  { "creator-marketplace:creator", KH_ACCOUNT_CREATOR_MARKETPLACE },
};

static void
test_authorize (gconstpointer data)
{
  const AuthorizeCase *tc = data;
  KhAccountPage *page = kh_window_get_page (env.window, tc->type);
  guint before = model_count (tc->type);
  KhFlow *flow;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  real_mime_dirs ();
  if (!env.have_browser || !setup_browser ())
    {
      g_test_skip ("chromium is not installed");
      return;
    }

  /* What `gapplication action io.github.keyhold.Keyhold authorize "'seller'"` does. */
  activate_action ("authorize", tc->spec);
  g_assert_true (kh_account_page_get_busy (page));
  flow = kh_account_page_get_flow (page);
  g_assert_nonnull (flow);
  kh_test_wait_until (page_idle, page, 120000);
  close_dialogs ();

  g_assert_cmpint (kh_flow_get_stage (flow), ==, KH_FLOW_STAGE_DONE);
  /* The grants are read in a worker thread: the list follows a moment later. */
  {
    CountWait count = { tc->type, before + 1 };

    kh_test_wait_until (count_is, &count, 10000);
  }

  /* In the page's list and in the keyring. */
  grant = g_list_model_get_item (kh_account_page_get_model (page), 0);
  g_assert_nonnull (grant);
  tokens = kh_store_load_tokens (kh_application_get_store (env.app), kh_grant_get_id (grant),
                                 &error);
  g_assert_no_error (error);
  g_assert_nonnull (tokens->access_token);
}

/* Link for a Client on the partner page, labelled for client: the dialog that shows the link. */
static GtkWindow *
partner_link_dialog (const char *client)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_PARTNER);
  GtkWindow *dialog;

  kh_window_show_page (env.window, KH_ACCOUNT_PARTNER);
  gtk_editable_set_text (GTK_EDITABLE (kh_account_page_get_control (page, "client_row")), client);
  activate_action ("link", "partner");
  kh_test_wait_until (page_idle, page, 30000);
  dialog = find_dialog (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);

  return dialog;
}

/* The client opens the link of dialog and approves: the address their browser lands on, which
 * the agency pastes. Closes the dialog. */
static char *
approve_link (GtkWindow *dialog)
{
  g_autofree char *approve = g_strconcat (g_object_get_data (G_OBJECT (dialog), "url"),
                                          "&auto=approve", NULL);
  char *location = NULL;

  close_dialogs ();
  g_assert_cmpuint (http ("GET", approve, NULL, &location) / 100, ==, 3);
  g_assert_nonnull (location);

  return location;
}

static void
test_complete_url (void)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_PARTNER);
  g_autoptr(GPtrArray) pending = NULL;
  g_autofree char *location = NULL;
  KhAuthRequest *request = NULL;
  guint before = model_count (KH_ACCOUNT_PARTNER);
  GtkWindow *dialog;

  real_mime_dirs ();
  /* Link for a Client: a pending request and a dialog that shows the link. */
  dialog = partner_link_dialog ("Acme Agency Client");
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (dialog)), ==,
                   "Link for a Client");
  save_png ("partner-link-dialog");
  if (gtk_window_get_child (dialog) != NULL)
    save_widget_png (gtk_window_get_child (dialog), GTK_NATIVE (dialog), "link-dialog");

  /* The pending request is in the store, labelled for the client. */
  pending = kh_store_list_pending (kh_application_get_store (env.app));
  for (guint i = 0; i < pending->len; i++)
    if (g_strcmp0 (kh_auth_request_get_client_label (g_ptr_array_index (pending, i)),
                   "Acme Agency Client") == 0)
      request = g_ptr_array_index (pending, i);
  g_assert_nonnull (request);

  /* The client approves; the agency pastes where their browser landed. */
  location = approve_link (dialog);
  activate_action ("complete-url", location);
  kh_test_wait_until (page_idle, page, 60000);
  g_assert_null (find_dialog (ADW_TYPE_MESSAGE_DIALOG));
  {
    CountWait count = { KH_ACCOUNT_PARTNER, before + 1 };

    kh_test_wait_until (count_is, &count, 10000);
  }

  /* The same URL again: used, so it matches no pending link any more. */
  activate_action ("complete-url", location);
  kh_test_wait_until (page_idle, page, 60000);
  dialog = find_dialog (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (dialog)), ==,
                   "This Address Matches No Pending Link");
  close_dialogs ();

  /* Something that is not a redirected URL at all. */
  activate_action ("complete-url", "hello there");
  kh_test_wait_until (page_idle, page, 60000);
  dialog = find_dialog (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (dialog)), ==,
                   "This Address Cannot Be Used");
  if (gtk_window_get_child (dialog) != NULL)
    save_widget_png (gtk_window_get_child (dialog), GTK_NATIVE (dialog), "paste-error-dialog");
  close_dialogs ();
  g_assert_cmpuint (model_count (KH_ACCOUNT_PARTNER), ==, before + 1);
}

static char *
stored_access_token (const char *grant_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenSet) tokens = kh_store_load_tokens (kh_application_get_store (env.app),
                                                       grant_id, &error);

  g_assert_no_error (error);

  return g_strdup (tokens->access_token);
}

typedef struct
{
  const char *grant_id;
  const char *before;
} TokenWait;

static gboolean
token_changed (gpointer data)
{
  TokenWait *wait = data;
  g_autofree char *now = stored_access_token (wait->grant_id);

  return g_strcmp0 (now, wait->before) != 0;
}

static KhGrant *
first_grant (KhAccountType type)
{
  return g_list_model_get_item (kh_account_page_get_model (kh_window_get_page (env.window, type)),
                                0);
}

/* The first label under root whose text starts with prefix (a toast's title, a window's). */
static GtkWidget *
find_label (GtkWidget  *root,
            const char *prefix)
{
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found;

      if (GTK_IS_LABEL (child) && g_str_has_prefix (gtk_label_get_text (GTK_LABEL (child)), prefix))
        return child;
      found = find_label (child, prefix);
      if (found != NULL)
        return found;
    }
  return NULL;
}

typedef struct
{
  GtkWidget  *root;
  const char *prefix;
} TextWait;

static gboolean
text_shown (gpointer data)
{
  TextWait *wait = data;

  return find_label (wait->root, wait->prefix) != NULL;
}

/* The button of the toast whose title is label. */
static GtkWidget *
toast_button (GtkWidget *label)
{
  GtkWidget *toast = gtk_widget_get_ancestor (label, g_type_from_name ("AdwToastWidget"));

  g_assert_nonnull (toast);
  for (GtkWidget *child = gtk_widget_get_first_child (toast); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (GTK_IS_BUTTON (child) && gtk_widget_get_visible (child))
      return child;
  return NULL;
}

static KhGrant *
grant_of_client (KhAccountType  type,
                 const char    *client)
{
  GListModel *model = kh_account_page_get_model (kh_window_get_page (env.window, type));

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(KhGrant) grant = g_list_model_get_item (model, i);

      if (g_strcmp0 (kh_grant_get_client_label (grant), client) == 0)
        return g_steal_pointer (&grant);
    }
  return NULL;
}

/* A grant finished on one tab while the user looks at another (issue #11): the toast names the
 * grant's tab, the window stays where the user is, and Show opens the grant on its tab. A toast
 * shows names as they are, never as markup. */
static void
test_grant_toast_other_tab (void)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_PARTNER);
  guint before = model_count (KH_ACCOUNT_PARTNER);
  CountWait count = { KH_ACCOUNT_PARTNER, before + 1 };
  TextWait wait = { GTK_WIDGET (env.window), "Shop Partner grant added: " };
  g_autofree char *location = NULL;
  g_autoptr(KhGrant) grant = NULL;
  GtkWidget *label;
  GtkWidget *button;
  GtkWindow *details;

  real_mime_dirs ();
  /* A link for a client, approved; the redirected address is pasted on the partner page. */
  location = approve_link (partner_link_dialog ("Toast Client"));
  kh_account_page_complete (page, location);
  /* While it completes, the user moves to the seller tab. */
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
  kh_test_wait_until (page_idle, page, 60000);
  g_assert_null (find_dialog (ADW_TYPE_MESSAGE_DIALOG));
  kh_test_wait_until (count_is, &count, 10000);

  /* The toast says which tab; the window did not leave the seller tab. */
  kh_test_wait_until (text_shown, &wait, 30000);
  g_assert_true (kh_window_get_visible_page (env.window)
                 == kh_window_get_page (env.window, KH_ACCOUNT_SELLER));
  label = find_label (GTK_WIDGET (env.window), wait.prefix);
  grant = grant_of_client (KH_ACCOUNT_PARTNER, "Toast Client");
  g_assert_nonnull (grant);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (label)) + strlen (wait.prefix), ==,
                   kh_grant_get_display_name (grant));
  iterate (500);   /* the toast slides in */
  save_png ("grant-toast-other-tab");

  /* Show: the partner tab, and the grant's details. */
  button = toast_button (label);
  g_assert_nonnull (button);
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (button)), ==, "_Show");
  g_signal_emit_by_name (button, "clicked");
  iterate (300);
  g_assert_true (kh_window_get_visible_page (env.window) == page);
  details = find_dialog (KH_TYPE_GRANT_WINDOW);
  g_assert_nonnull (details);
  g_assert_true (ADW_IS_WINDOW_TITLE (gtk_widget_get_ancestor (
                   find_label (GTK_WIDGET (details), kh_grant_get_display_name (grant)),
                   ADW_TYPE_WINDOW_TITLE)));
  gtk_window_destroy (details);

  /* Names with markup characters are shown as they are. */
  wait.prefix = "Removed “Acme & Sons <Ltd>”";
  kh_window_add_toast (env.window, wait.prefix);
  kh_test_wait_until (text_shown, &wait, 30000);
}

/* Quick Connect on the seller page: an App Secret and the address an App Store install landed
 * on, nothing else. */
static void
test_quick_connect (void)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_SELLER);
  g_autofree char *consent = NULL;
  g_autofree char *redirected = NULL;
  GtkWidget *error_label = kh_account_page_get_control (page, "quick_error_label");
  guint before = model_count (KH_ACCOUNT_SELLER);
  CountWait count = { KH_ACCOUNT_SELLER, before + 1 };

  real_mime_dirs ();
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
  consent = g_strdup_printf ("http://127.0.0.1:%u/_host/services.tiktokshop.com/open/authorize"
                             "?service_id=" SHOP_SERVICE_ID "&auto=approve",
                             kh_sandbox_get_port (env.sandbox));

  /* A wrong secret: TikTok refuses, the page says why, nothing is stored. */
  g_assert_cmpuint (http ("GET", consent, NULL, &redirected) / 100, ==, 3);
  gtk_editable_set_text (GTK_EDITABLE (kh_account_page_get_control (page, "quick_secret_row")),
                         "not-the-secret");
  gtk_editable_set_text (GTK_EDITABLE (kh_account_page_get_control (page, "quick_url_row")),
                         redirected);
  g_signal_emit_by_name (kh_account_page_get_control (page, "quick_button"), "clicked");
  kh_test_wait_until (page_idle, page, 60000);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (error_label)), !=, "");
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, before);

  /* The right secret and a fresh code: the grant with its shops. */
  g_clear_pointer (&redirected, g_free);
  g_assert_cmpuint (http ("GET", consent, NULL, &redirected) / 100, ==, 3);
  gtk_editable_set_text (GTK_EDITABLE (kh_account_page_get_control (page, "quick_secret_row")),
                         SHOP_SECRET);
  gtk_editable_set_text (GTK_EDITABLE (kh_account_page_get_control (page, "quick_url_row")),
                         redirected);
  g_signal_emit_by_name (kh_account_page_get_control (page, "quick_button"), "clicked");
  kh_test_wait_until (page_idle, page, 60000);
  close_dialogs ();
  kh_test_wait_until (count_is, &count, 10000);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (error_label)), ==, "");
  /* The secret leaves the form once used. */
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (kh_account_page_get_control (
                     page, "quick_secret_row"))), ==, "");
}

/* Another program holds the redirect port: the page says so instead of waiting forever. */
static void
test_port_in_use (void)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_PARTNER);
  g_autoptr(GSocketListener) blocker = g_socket_listener_new ();
  g_autoptr(GUri) uri = g_uri_parse (env.redirect_uri, G_URI_FLAGS_NONE, NULL);
  g_autoptr(GError) error = NULL;
  GtkWindow *dialog;

  real_mime_dirs ();
  g_socket_listener_add_inet_port (blocker, g_uri_get_port (uri), NULL, &error);
  g_assert_no_error (error);

  activate_action ("authorize", "partner");
  kh_test_wait_until (page_idle, page, 30000);
  dialog = find_dialog (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (dialog)), ==,
                   "The Redirect Port Is Taken");
  close_dialogs ();
  g_socket_listener_close (blocker);
}

/* keyhold-cli (here: a second KhStore on the same store) adds a grant: the window follows. */
static void
test_follow_other_process (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhStore) other = kh_store_new (NULL, NULL, &error);
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_PARTNER, NULL, "Shop App");
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  CountWait count = { KH_ACCOUNT_PARTNER, model_count (KH_ACCOUNT_PARTNER) + 1 };
  KhAppProfile *chosen;

  real_mime_dirs ();
  g_assert_no_error (error);
  chosen = kh_account_page_get_selected_app (kh_window_get_page (env.window, KH_ACCOUNT_SELLER));
  g_assert_nonnull (chosen);

  tokens->access_token = g_strdup ("other-process-token");
  tokens->access_expires_at = kh_now () + 3600;
  kh_grant_set_display_name (grant, "Added by the CLI");
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_true (kh_store_save_grant (other, grant, tokens, &error));
  g_assert_no_error (error);

  kh_test_wait_until (count_is, &count, 10000);

  /* The reload kept the profile the user had chosen. */
  g_assert_cmpstr (kh_app_profile_get_name (kh_account_page_get_selected_app (
                     kh_window_get_page (env.window, KH_ACCOUNT_SELLER))), ==, "Shop App");
}

/* refresh, revoke and remove, as `gapplication action` would call them. */
static void
test_grant_actions (void)
{
  g_autoptr(KhGrant) seller = NULL;
  g_autoptr(KhGrant) creator = NULL;
  g_autoptr(KhGrant) advertiser = NULL;
  g_autofree char *before = NULL;
  CountWait count;
  TokenWait token;

  real_mime_dirs ();
  if (model_count (KH_ACCOUNT_SELLER) == 0 || model_count (KH_ACCOUNT_CREATOR) == 0
      || model_count (KH_ACCOUNT_ADVERTISER) == 0)
    {
      g_test_skip ("needs the grants of the authorize cases");
      return;
    }

  /* Removing from the row menu asks first, and offers to revoke at TikTok first where TikTok
   * can revoke (the advertiser), not where it cannot (the seller). Cancel changes nothing. */
  seller = first_grant (KH_ACCOUNT_SELLER);
  advertiser = first_grant (KH_ACCOUNT_ADVERTISER);
  {
    guint sellers = model_count (KH_ACCOUNT_SELLER);
    guint advertisers = model_count (KH_ACCOUNT_ADVERTISER);
    AdwMessageDialog *dialog;

    kh_window_remove_grant (env.window, kh_grant_get_id (advertiser), TRUE);
    dialog = ADW_MESSAGE_DIALOG (find_dialog (ADW_TYPE_MESSAGE_DIALOG));
    g_assert_nonnull (dialog);
    g_assert_true (adw_message_dialog_has_response (dialog, "remove"));
    g_assert_true (adw_message_dialog_has_response (dialog, "revoke"));
    adw_message_dialog_response (dialog, "cancel");
    close_dialogs ();

    kh_window_remove_grant (env.window, kh_grant_get_id (seller), TRUE);
    dialog = ADW_MESSAGE_DIALOG (find_dialog (ADW_TYPE_MESSAGE_DIALOG));
    g_assert_nonnull (dialog);
    g_assert_true (adw_message_dialog_has_response (dialog, "remove"));
    g_assert_false (adw_message_dialog_has_response (dialog, "revoke"));
    adw_message_dialog_response (dialog, "cancel");
    close_dialogs ();

    iterate (200);
    g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, sellers);
    g_assert_cmpuint (model_count (KH_ACCOUNT_ADVERTISER), ==, advertisers);
  }

  /* Refresh: KhBroker stores a new access token. */
  before = stored_access_token (kh_grant_get_id (seller));
  token.grant_id = kh_grant_get_id (seller);
  token.before = before;
  activate_action ("refresh", kh_grant_get_id (seller));
  kh_test_wait_until (token_changed, &token, 60000);

  /* Remove: gone from the list and the keyring. */
  creator = first_grant (KH_ACCOUNT_CREATOR);
  count.type = KH_ACCOUNT_CREATOR;
  count.count = model_count (KH_ACCOUNT_CREATOR) - 1;
  activate_action ("remove", kh_grant_get_id (creator));
  kh_test_wait_until (count_is, &count, 60000);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(KhTokenSet) tokens = kh_store_load_tokens (kh_application_get_store (env.app),
                                                         kh_grant_get_id (creator), &error);

    g_assert_null (tokens);
    g_assert_nonnull (error);
  }

  /* Revoke: the advertiser token is revoked at TikTok (the sandbox), then removed. */
  count.type = KH_ACCOUNT_ADVERTISER;
  count.count = model_count (KH_ACCOUNT_ADVERTISER) - 1;
  activate_action ("revoke", kh_grant_get_id (advertiser));
  kh_test_wait_until (count_is, &count, 60000);
  close_dialogs ();
}

/* ---- the History section ------------------------------------------------------------------ */

static GtkWidget *
find_widget (GtkWidget *root,
             GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (root, type))
    return root;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The action rows under root, in the order they are shown. */
static void
collect_rows (GtkWidget *root,
              GPtrArray *rows)
{
  if (ADW_IS_ACTION_ROW (root))
    {
      g_ptr_array_add (rows, root);
      return;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    collect_rows (child, rows);
}

static const char *
row_title (GPtrArray *rows,
           guint      i)
{
  return adw_preferences_row_get_title (ADW_PREFERENCES_ROW (g_ptr_array_index (rows, i)));
}

static KhHistoryEntry *
entry_at (gint64      at,
          const char *action,
          const char *actor)
{
  return kh_history_entry_new_full (at, action, "g1", "seller", NULL, actor,
                                    g_strcmp0 (actor, g_get_user_name ()) == 0
                                    ? g_get_host_name () : "build-host");
}

/* The group shows entries from any source (a team's audit rows too): newest first, who did it
 * when it was someone else, a bounded number of rows, and a read error in their place. */
static void
test_history_group (void)
{
  g_autoptr(KhHistoryGroup) group = g_object_ref_sink (kh_history_group_new ());
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                                                 "Permission denied");
  const char *subtitle;

  g_assert_cmpstr (adw_preferences_group_get_title (ADW_PREFERENCES_GROUP (group)), ==, "History");
  kh_history_group_set_entries (group, NULL);
  g_assert_cmpuint (kh_history_group_get_n_events (group), ==, 0);
  g_assert_cmpstr (adw_preferences_group_get_description (ADW_PREFERENCES_GROUP (group)), ==,
                   "Nothing has happened to this grant yet.");

  g_ptr_array_add (entries, entry_at (1000, KH_HISTORY_REFRESHED, g_get_user_name ()));
  g_ptr_array_add (entries, entry_at (3000, KH_HISTORY_SHARED, "bob"));
  g_ptr_array_add (entries, entry_at (2000, KH_HISTORY_RENEWAL_COPIED, g_get_user_name ()));
  kh_history_group_set_entries (group, entries);
  g_assert_cmpuint (kh_history_group_get_n_events (group), ==, 3);
  collect_rows (GTK_WIDGET (group), rows);
  g_assert_cmpuint (rows->len, ==, 3);
  g_assert_cmpstr (row_title (rows, 0), ==, "Shared with the team.");
  g_assert_cmpstr (row_title (rows, 1), ==, "Renewal pack copied.");
  g_assert_cmpstr (row_title (rows, 2), ==, "Tokens refreshed.");
  subtitle = adw_action_row_get_subtitle (g_ptr_array_index (rows, 0));
  g_assert_true (g_str_has_suffix (subtitle, " · by bob on build-host"));
  subtitle = adw_action_row_get_subtitle (g_ptr_array_index (rows, 2));
  g_assert_null (strstr (subtitle, " · by "));
  /* Keyboard: every row takes the focus, so the list is read row by row. */
  for (guint i = 0; i < rows->len; i++)
    g_assert_true (gtk_widget_get_focusable (g_ptr_array_index (rows, i)));
  g_ptr_array_set_size (rows, 0);

  /* Bounded: the newest rows, and a note of how many older ones the CLI lists. */
  g_ptr_array_set_size (entries, 0);
  for (guint i = 0; i < KH_HISTORY_GROUP_MAX_ROWS + 5; i++)
    g_ptr_array_add (entries, entry_at (1000 + i, KH_HISTORY_REFRESHED, g_get_user_name ()));
  kh_history_group_set_entries (group, entries);
  g_assert_cmpuint (kh_history_group_get_n_events (group), ==, KH_HISTORY_GROUP_MAX_ROWS);
  collect_rows (GTK_WIDGET (group), rows);
  g_assert_cmpuint (rows->len, ==, KH_HISTORY_GROUP_MAX_ROWS);
  g_assert_nonnull (strstr (adw_preferences_group_get_description (ADW_PREFERENCES_GROUP (group)),
                            "5 older events are not shown"));
  g_ptr_array_set_size (rows, 0);

  kh_history_group_set_error (group, error);
  g_assert_cmpuint (kh_history_group_get_n_events (group), ==, 0);
  collect_rows (GTK_WIDGET (group), rows);
  g_assert_cmpuint (rows->len, ==, 1);
  g_assert_cmpstr (adw_action_row_get_subtitle (g_ptr_array_index (rows, 0)), ==,
                   "Permission denied");
}

static gboolean
history_has_copy (gpointer data)
{
  g_autofree char *path = kh_history_log_path_for_store (kh_application_get_store (env.app));
  g_autoptr(GPtrArray) entries = kh_history_log_read (path, data, NULL);

  for (guint i = 0; entries != NULL && i < entries->len; i++)
    {
      KhHistoryEntry *entry = g_ptr_array_index (entries, i);

      if (g_str_equal (kh_history_entry_get_action (entry), KH_HISTORY_TOKEN_READ)
          && g_strcmp0 (kh_json_get_string (kh_history_entry_get_detail (entry), "command"),
                        "copy") == 0)
        return TRUE;
    }
  return FALSE;
}

static gboolean
history_loaded (gpointer data)
{
  return kh_history_group_get_n_events (data) > 0;
}

/* The grant window's History: what the authorize, refresh and copy cases did to the seller,
 * newest first, read from the history file off the main thread; and what the remove and revoke
 * cases left in the file. */
static void
test_grant_history (void)
{
  g_autoptr(KhGrant) seller = NULL;
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();
  g_autoptr(GPtrArray) all = NULL;
  g_autofree char *path = NULL;
  KhHistoryGroup *group;
  GtkWindow *details;
  gboolean revoked = FALSE, removed = FALSE;

  real_mime_dirs ();
  if (model_count (KH_ACCOUNT_SELLER) == 0)
    {
      g_test_skip ("needs the grants of the authorize cases");
      return;
    }
  seller = first_grant (KH_ACCOUNT_SELLER);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (env.window), "grant.copy-token", "s",
                                             kh_grant_get_id (seller)));
  kh_test_wait_until (history_has_copy, (gpointer) kh_grant_get_id (seller), 60000);

  activate_action ("show-grant", kh_grant_get_id (seller));
  iterate (100);
  details = find_dialog (KH_TYPE_GRANT_WINDOW);
  g_assert_nonnull (details);
  group = KH_HISTORY_GROUP (find_widget (GTK_WIDGET (details), KH_TYPE_HISTORY_GROUP));
  g_assert_nonnull (group);
  kh_test_wait_until (history_loaded, group, 30000);

  collect_rows (GTK_WIDGET (group), rows);
  g_assert_cmpuint (rows->len, >=, 3);
  g_assert_cmpstr (row_title (rows, 0), ==, "Access token copied to the clipboard.");
  g_assert_true (g_str_has_prefix (row_title (rows, rows->len - 1), "Authorized "));
  {
    gboolean refreshed = FALSE;

    for (guint i = 0; i < rows->len; i++)
      refreshed = refreshed || g_str_equal (row_title (rows, i), "Tokens refreshed.");
    g_assert_true (refreshed);
  }
  save_widget_png (GTK_WIDGET (group), GTK_NATIVE (details), "seller-grant-history");
  gtk_window_destroy (details);

  /* Revoke and remove left their records; the file holds no secret of the sandbox. */
  path = kh_history_log_path_for_store (kh_application_get_store (env.app));
  all = kh_history_log_read (path, NULL, NULL);
  for (guint i = 0; i < all->len; i++)
    {
      const char *action = kh_history_entry_get_action (g_ptr_array_index (all, i));

      revoked = revoked || g_str_equal (action, KH_HISTORY_REVOKED);
      removed = removed || g_str_equal (action, KH_HISTORY_REMOVED);
    }
  g_assert_true (revoked);
  g_assert_true (removed);
  {
    g_autofree char *text = NULL;

    g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (env.sandbox);
    JsonArray *secrets = json_object_get_array_member (json_node_get_object (ledger), "secrets");

    g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
    g_assert_null (strstr (text, SHOP_SECRET));
    g_assert_null (strstr (text, BIZ_SECRET));
    g_assert_cmpuint (json_array_get_length (secrets), >, 0);
    for (guint i = 0; i < json_array_get_length (secrets); i++)
      {
        const char *secret = json_array_get_string_element (secrets, i);

        if (secret != NULL && strlen (secret) >= 8)
          g_assert_null (strstr (text, secret));
      }
  }
}

static void
test_screenshots (gconstpointer data)
{
  const char *suffix = data;

  real_mime_dirs ();
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s-%s", kh_provider_get (i)->id, suffix);

      kh_window_show_page (env.window, i);
      iterate (300);
      save_png (name);
    }
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);

  /* The details of a seller grant (shops, ciphers, renewal) and the preferences. */
  if (strcmp (suffix, "grants") == 0 && model_count (KH_ACCOUNT_SELLER) > 0)
    {
      g_autoptr(KhGrant) grant = g_list_model_get_item (kh_account_page_get_model (
                                                          kh_window_get_page (env.window,
                                                                              KH_ACCOUNT_SELLER)),
                                                        0);
      GtkWindow *details;
      GtkWindow *prefs;

      activate_action ("show-grant", kh_grant_get_id (grant));
      iterate (300);
      details = find_dialog (KH_TYPE_GRANT_WINDOW);
      g_assert_nonnull (details);
      save_widget_png (adw_window_get_content (ADW_WINDOW (details)), GTK_NATIVE (details),
                       "seller-grant-details");
      gtk_window_destroy (details);

      activate_action ("preferences", NULL);
      iterate (300);
      prefs = find_dialog (KH_TYPE_PREFERENCES_WINDOW);
      g_assert_nonnull (prefs);
      save_widget_png (adw_window_get_content (ADW_WINDOW (prefs)), GTK_NATIVE (prefs),
                       "preferences");
      gtk_window_destroy (prefs);

      /* About (from the metainfo facts) and the keyboard shortcuts open without a warning. */
      activate_action ("about", NULL);
      iterate (200);
      g_assert_nonnull (find_dialog (ADW_TYPE_ABOUT_WINDOW));
      gtk_window_destroy (find_dialog (ADW_TYPE_ABOUT_WINDOW));
      /* The window set its help overlay after its first frame; Ctrl+? still opens it. */
      g_assert_nonnull (gtk_application_window_get_help_overlay (
                          GTK_APPLICATION_WINDOW (env.window)));
      {
        g_auto(GStrv) accels = gtk_application_get_accels_for_action (
          GTK_APPLICATION (env.app), "win.show-help-overlay");

        g_assert_true (g_strv_contains ((const char * const *) accels, "<Control>question"));
      }
      g_action_group_activate_action (G_ACTION_GROUP (env.window), "show-help-overlay", NULL);
      iterate (200);
      g_assert_nonnull (find_dialog (GTK_TYPE_SHORTCUTS_WINDOW));
      save_widget_png (gtk_window_get_child (find_dialog (GTK_TYPE_SHORTCUTS_WINDOW)),
                       GTK_NATIVE (find_dialog (GTK_TYPE_SHORTCUTS_WINDOW)), "shortcuts");
      gtk_window_close (find_dialog (GTK_TYPE_SHORTCUTS_WINDOW));
    }
}

static gboolean
count_below_2000 (gpointer data)
{
  return g_list_model_get_n_items (kh_application_get_grants (env.app)) < 2000;
}

/* The rows of the visible page's list that GtkListView has built. */
static KhGrantRow *
first_row (KhAccountPage *page)
{
  GtkWidget *list_view = kh_account_page_get_control (page, "list_view");
  g_autoptr(KhGrant) first = g_list_model_get_item (kh_account_page_get_model (page), 0);

  for (GtkWidget *child = gtk_widget_get_first_child (list_view); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *row = gtk_widget_get_first_child (child);

      if (row != NULL && KH_IS_GRANT_ROW (row) && kh_grant_row_get_grant (KH_GRANT_ROW (row))
          == first)
        return KH_GRANT_ROW (row);
    }

  return NULL;
}

static gboolean
has_first_row (gpointer data)
{
  return first_row (data) != NULL;
}

/* Every entry of a row menu targets grant_id; returns the number of entries. */
static guint
assert_menu_targets (GMenuModel *menu,
                     const char *grant_id)
{
  guint n_items = 0;

  for (int s = 0; s < g_menu_model_get_n_items (menu); s++)
    {
      GMenuModel *section = g_menu_model_get_item_link (menu, s, G_MENU_LINK_SECTION);

      for (int i = 0; i < g_menu_model_get_n_items (section); i++)
        {
          g_autoptr(GVariant) target = g_menu_model_get_item_attribute_value (
            section, i, G_MENU_ATTRIBUTE_TARGET, G_VARIANT_TYPE_STRING);
          g_autofree char *label = NULL;

          g_assert_true (g_menu_model_get_item_attribute (section, i, G_MENU_ATTRIBUTE_LABEL,
                                                          "s", &label));
          g_assert_cmpstr (label, !=, "");
          g_assert_nonnull (target);
          g_assert_cmpstr (g_variant_get_string (target, NULL), ==, grant_id);
          n_items++;
        }
      g_object_unref (section);
    }

  return n_items;
}

typedef struct
{
  const char *grant_id;
  const char *label;
} LabelWait;

static gboolean
label_shown (gpointer data)
{
  LabelWait *wait = data;
  KhGrant *grant = kh_window_lookup_grant (env.window, wait->grant_id);

  return grant != NULL && g_strcmp0 (kh_grant_get_client_label (grant), wait->label) == 0;
}

/* Rows have no buttons: one menu per page opens from the row, by keyboard (Menu, Shift+F10,
 * Enter) or mouse (click, right click), offers every operation for that row's grant, and its
 * operations work from there. */
/* The browser row: the installed profiles (here a fake Vivaldi, named by the user's .desktop
 * file, that runs headless Chromium with the arguments it gets), the system browser first and by
 * default, the last choice remembered per client label, and an authorization that opens the
 * chosen profile and catches its redirect. */
static gboolean
combo_has_items (gpointer data)
{
  return g_list_model_get_n_items (adw_combo_row_get_model (data)) == 3;
}

static const char *
combo_item (AdwComboRow *row,
            guint        position)
{
  g_autoptr(GtkStringObject) item = g_list_model_get_item (adw_combo_row_get_model (row),
                                                           position);

  return gtk_string_object_get_string (item);
}

static void
test_browser_profile (void)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_ADVERTISER);
  GSettings *settings = kh_application_get_settings (env.app);
  g_autofree char *chromium = g_find_program_in_path ("chromium");
  g_autofree char *root = g_build_filename (kh_test_get_tmpdir (), "browser-profile", NULL);
  g_autofree char *fake = g_build_filename (root, "vivaldi", NULL);
  g_autofree char *args_file = g_build_filename (root, "vivaldi.args", NULL);
  g_autofree char *user_data_dir = g_build_filename (g_get_user_config_dir (), "vivaldi", NULL);
  g_autofree char *local_state = g_build_filename (user_data_dir, "Local State", NULL);
  g_autofree char *apps = g_build_filename (g_get_user_data_dir (), "applications", NULL);
  g_autofree char *desktop = g_build_filename (apps, "vivaldi-stable.desktop", NULL);
  g_autofree char *desktop_text = NULL;
  g_autoptr(GVariant) choices = NULL;
  g_autofree char *remembered = NULL;
  g_autoptr(GError) error = NULL;
  GtkEditable *client;
  AdwComboRow *row;
  guint before = model_count (KH_ACCOUNT_ADVERTISER);

  real_mime_dirs ();
  if (!env.have_browser)
    {
      g_test_skip ("chromium is not installed");
      return;
    }

  g_assert_cmpint (g_mkdir_with_parents (root, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (user_data_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (apps, 0700), ==, 0);
  g_file_set_contents (local_state, "{\"profile\":{\"info_cache\":{"
                                    "\"Default\":{\"name\":\"Person 1\"},"
                                    "\"Profile 3\":{\"name\":\"Work\"}}}}", -1, &error);
  g_assert_no_error (error);
  kh_test_write_chromium_wrapper (fake, chromium, args_file);
  desktop_text = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Vivaldi\n"
                                  "Exec=%s %%U\n", fake);
  g_file_set_contents (desktop, desktop_text, -1, &error);
  g_assert_no_error (error);
  sandbox_config ("{\"auto_consent\":\"approve\"}");

  /* Showing the page reads the profiles again. */
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
  iterate (50);
  kh_window_show_page (env.window, KH_ACCOUNT_ADVERTISER);
  row = ADW_COMBO_ROW (kh_account_page_get_control (page, "browser_row"));
  kh_test_wait_until (combo_has_items, row, 10000);
  g_assert_cmpstr (combo_item (row, 0), ==, "System Browser");
  g_assert_cmpstr (combo_item (row, 1), ==, "Vivaldi — Person 1");
  g_assert_cmpstr (combo_item (row, 2), ==, "Vivaldi — Work");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 0);
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (row)));
  /* Keyboard: the row takes focus, and its title is its accessible name. */
  g_assert_true (gtk_widget_grab_focus (GTK_WIDGET (row)));
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (row)), ==, "Browser");

  /* Authorize for "Shop A" in Vivaldi — Work. */
  client = GTK_EDITABLE (kh_account_page_get_control (page, "client_row"));
  gtk_editable_set_text (client, "Shop A");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 0);
  adw_combo_row_set_selected (row, 2);
  save_png ("browser-profile");
  kh_account_page_authorize (page, NULL);
  kh_test_wait_until (page_idle, page, 120000);
  close_dialogs ();
  g_assert_cmpint (kh_flow_get_stage (kh_account_page_get_flow (page)), ==, KH_FLOW_STAGE_DONE);
  {
    CountWait count = { KH_ACCOUNT_ADVERTISER, before + 1 };

    kh_test_wait_until (count_is, &count, 10000);
  }
  kh_test_assert_chromium_profile (args_file, user_data_dir, "Profile 3");

  /* Remembered for "Shop A" only; a label without a choice opens the system browser. */
  choices = g_settings_get_value (settings, "browser-profiles");
  remembered = kh_browser_profile_lookup_choice (choices, "Shop A");
  g_assert_cmpstr (remembered, ==, "vivaldi:Profile 3");
  gtk_editable_set_text (client, "Shop B");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 0);
  gtk_editable_set_text (client, "Shop A");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 2);
  gtk_editable_set_text (client, "");
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 0);

  /* A re-read keeps what the user picked. */
  adw_combo_row_set_selected (row, 1);
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
  iterate (50);
  kh_window_show_page (env.window, KH_ACCOUNT_ADVERTISER);
  iterate (300);
  g_assert_cmpuint (adw_combo_row_get_selected (row), ==, 1);

  /* The later cases use the system browser. */
  adw_combo_row_set_selected (row, 0);
  g_settings_reset (settings, "browser-profiles");
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
}

static void
test_row_menu (void)
{
  KhAccountPage *page = kh_window_get_page (env.window, KH_ACCOUNT_SELLER);
  GtkWidget *list_view = kh_account_page_get_control (page, "list_view");
  g_autoptr(KhGrant) grant = NULL;
  KhGrantRow *row;
  GtkPopover *menu;
  GtkWindow *dialog;
  LabelWait wait;

  real_mime_dirs ();
  if (model_count (KH_ACCOUNT_SELLER) == 0)
    {
      g_test_skip ("needs the grants of the authorize cases");
      return;
    }
  kh_window_show_page (env.window, KH_ACCOUNT_SELLER);
  kh_test_wait_until (has_first_row, page, 10000);
  grant = g_list_model_get_item (kh_account_page_get_model (page), 0);
  row = first_row (page);

  /* The row can take the keyboard focus (its accessible name, status, details and popup are set
   * on it; GTK_A11Y=none here gives no context to read them back from). */
  g_assert_nonnull (row);
  g_assert_true (gtk_widget_get_focusable (gtk_widget_get_parent (GTK_WIDGET (row))));


  /* The Menu key (or Shift+F10) on the focused row. */
  g_assert_true (gtk_widget_grab_focus (gtk_widget_get_parent (GTK_WIDGET (row))));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "grants.menu", NULL));
  menu = kh_account_page_get_row_menu (page);
  g_assert_nonnull (menu);
  iterate (100);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (menu)));
  g_assert_cmpuint (assert_menu_targets (gtk_popover_menu_get_menu_model (
                                           GTK_POPOVER_MENU (menu)),
                                         kh_grant_get_id (grant)), ==, 8);
  gtk_popover_popdown (menu);
  iterate (100);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (menu)));

  /* Enter or a click activates the row: the same menu. */
  g_assert_true (gtk_widget_activate_action (list_view, "list.activate-item", "u", 0));
  iterate (100);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (menu)));

  /* An entry of the menu acts on that grant: Set Client Label, through the window's action
   * as the menu item would, and the list follows the store. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (menu), "grant.set-label", "s",
                                             kh_grant_get_id (grant)));
  gtk_popover_popdown (menu);
  dialog = find_dialog (ADW_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);
  gtk_editable_set_text (GTK_EDITABLE (adw_message_dialog_get_extra_child (
                           ADW_MESSAGE_DIALOG (dialog))), "Relabelled Client");
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (dialog), "save");
  close_dialogs ();
  wait.grant_id = kh_grant_get_id (grant);
  wait.label = "Relabelled Client";
  kh_test_wait_until (label_shown, &wait, 10000);
  kh_window_set_search (env.window, "relabelled client");
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, 1);
  kh_window_set_search (env.window, NULL);
  /* The list also re-reads the index it saw change: let that settle before the next case. */
  iterate (500);
}

typedef struct
{
  KhApplication *app;
  KhWindow      *window;
  gboolean       painted;
  gboolean       model_at_first_frame;
  gboolean       loaded_at_first_frame;
  gboolean       empty_before_loaded;
} StartWatch;

static void
start_after_paint_cb (GdkFrameClock *clock,
                      StartWatch    *watch)
{
  KhAccountPage *page = kh_window_get_visible_page (watch->window);
  GtkWidget *list_view = kh_account_page_get_control (page, "list_view");

  g_signal_handlers_disconnect_by_func (clock, start_after_paint_cb, watch);
  watch->painted = TRUE;
  watch->model_at_first_frame = gtk_list_view_get_model (GTK_LIST_VIEW (list_view)) != NULL;
  watch->loaded_at_first_frame = kh_grant_list_get_loaded (kh_application_get_grant_list (
                                                             watch->app));
}

static void
start_stack_cb (GtkStack   *stack,
                GParamSpec *pspec,
                StartWatch *watch)
{
  if (g_strcmp0 (gtk_stack_get_visible_child_name (stack), "empty") == 0
      && !kh_grant_list_get_loaded (kh_application_get_grant_list (watch->app)))
    watch->empty_before_loaded = TRUE;
}

static gboolean
start_painted (gpointer data)
{
  return ((StartWatch *) data)->painted;
}

static gboolean
start_filled (gpointer data)
{
  StartWatch *watch = data;
  KhAccountPage *page = kh_window_get_visible_page (watch->window);
  GtkWidget *list_view = kh_account_page_get_control (page, "list_view");

  return kh_grant_list_get_loaded (kh_application_get_grant_list (watch->app))
         && gtk_list_view_get_model (GTK_LIST_VIEW (list_view)) != NULL
         && first_row (page) != NULL;
}

/* A second start of Keyhold on this store, in a child process of this test (one process exports
 * one application): the window is drawn before the grants are read, the list is filled after the
 * first frame, and "No Authorizations Yet" never shows meanwhile. */
static void
test_startup_child (void)
{
  StartWatch watch = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autoptr(KhStore) store = kh_store_new (NULL, NULL, &error);
  g_autoptr(GPtrArray) grants = NULL;
  KhAccountPage *page;
  GtkWidget *stack;
  guint expected = 0;

  g_assert_no_error (error);
  grants = kh_store_list_grants (store);
  for (guint i = 0; i < grants->len; i++)
    if (kh_grant_get_account_type (g_ptr_array_index (grants, i)) == KH_ACCOUNT_SELLER)
      expected++;
  g_assert_cmpuint (expected, >, 0);

  watch.app = g_object_new (KH_TYPE_APPLICATION, "flags", G_APPLICATION_NON_UNIQUE, NULL);
  g_application_register (G_APPLICATION (watch.app), NULL, &error);
  g_assert_no_error (error);
  g_settings_set_boolean (kh_application_get_settings (watch.app), "background-refresh", FALSE);
  g_application_activate (G_APPLICATION (watch.app));
  watch.window = KH_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (watch.app)));
  g_assert_nonnull (watch.window);
  page = kh_window_get_visible_page (watch.window);
  g_assert_true (kh_account_page_get_account_type (page) == KH_ACCOUNT_SELLER);
  stack = kh_account_page_get_control (page, "list_stack");

  /* Nothing read yet: a blank list, not the empty state. */
  g_assert_false (kh_grant_list_get_loaded (kh_application_get_grant_list (watch.app)));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (stack)), ==, "list");
  g_signal_connect (stack, "notify::visible-child-name", G_CALLBACK (start_stack_cb), &watch);
  g_signal_connect (gtk_widget_get_frame_clock (GTK_WIDGET (watch.window)), "after-paint",
                    G_CALLBACK (start_after_paint_cb), &watch);

  kh_test_wait_until (start_painted, &watch, 20000);
  g_assert_false (watch.model_at_first_frame);
  g_test_message ("grants read before the first frame: %s",
                  watch.loaded_at_first_frame ? "yes" : "no");
  kh_test_wait_until (start_filled, &watch, 20000);
  g_assert_false (watch.empty_before_loaded);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (stack)), ==, "list");
  g_assert_cmpuint (g_list_model_get_n_items (kh_account_page_get_model (page)), ==, expected);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (kh_account_page_get_control (page,
                                                                               "count_label"))),
                   !=, "");

  /* Hidden pages are built when first shown, and then search like the others (Ctrl+F searches
   * every tab). */
  kh_window_set_search (watch.window, "no such grant anywhere");
  g_assert_cmpuint (g_list_model_get_n_items (kh_account_page_get_model (page)), ==, 0);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (stack)), ==, "no-results");
  kh_window_show_page (watch.window, KH_ACCOUNT_PARTNER);
  page = kh_window_get_visible_page (watch.window);
  g_assert_true (kh_account_page_get_account_type (page) == KH_ACCOUNT_PARTNER);
  g_assert_cmpuint (g_list_model_get_n_items (kh_account_page_get_model (page)), ==, 0);
  kh_window_set_search (watch.window, NULL);
  g_assert_cmpuint (g_list_model_get_n_items (kh_account_page_get_model (page)), >, 0);

  /* Left to the process exit, like the main window (see main ()). */
  g_signal_handlers_disconnect_by_data (stack, &watch);
}

static void
test_startup (void)
{
  if (model_count (KH_ACCOUNT_SELLER) == 0)
    {
      g_test_skip ("needs the grants of the authorize cases");
      return;
    }

  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

#define INTERRUPTED_REASON "A refresh started at 2026-12-04T10:00:00Z was interrupted after TikTok " \
                           "had rotated the refresh token: authorize again"

/* Whether a label under root shows text, as its text or its tooltip. */
static gboolean
has_text (GtkWidget  *root,
          const char *text)
{
  if (g_strcmp0 (gtk_widget_get_tooltip_text (root), text) == 0)
    return TRUE;
  if (GTK_IS_LABEL (root) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (root)), text) == 0)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (root); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (has_text (child, text))
      return TRUE;

  return FALSE;
}

static void
test_list_2000 (void)
{
  KhGrantList *grants = kh_application_get_grant_list (env.app);
  g_autoptr(GPtrArray) fakes = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(KhGrant) first = NULL;
  g_autoptr(KhGrant) second = NULL;
  KhAccountPage *seller = kh_window_get_page (env.window, KH_ACCOUNT_SELLER);
  guint n_sellers = 0;
  gint64 start;
  double per_key_ms;
  const char *typed = "shop 1234";

  real_mime_dirs ();
  /* No read of the index may still be under way: it would replace the grants set here. */
  iterate (500);
  /* 2,000 grants over the six types: the list models must stay exact and fast. */
  for (guint i = 0; i < 2000; i++)
    {
      KhAccountType type = i % KH_N_ACCOUNT_TYPES;
      g_autofree char *name = g_strdup_printf ("Shop %04u", i);
      g_autofree char *client = g_strdup_printf ("Client %u", i % 37);
      KhGrantStatus stored = i == 6 ? KH_GRANT_STATUS_NEEDS_REAUTH : KH_GRANT_STATUS_ACTIVE;
      gint64 refresh = i == 12 ? 3 * 86400 : 300 * 86400;

      g_ptr_array_add (fakes, fake_grant (type, name, client, i % 2 ? "us" : "row", 4 * 3600,
                                          refresh, stored));
      if (i == 6)
        kh_grant_set_status_reason (g_ptr_array_index (fakes, i), INTERRUPTED_REASON);
      if (type == KH_ACCOUNT_SELLER)
        n_sellers++;
    }
  /* The app's one grant list shows them instead of the store's until it re-reads the index;
   * every page is a view of it. */
  kh_grant_list_set_grants (grants, fakes);
  iterate (200);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (grants)), ==, 2000);
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, n_sellers);
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    g_assert_cmpuint (model_count (i), ==, 2000 / 6 + (i < 2000 % 6 ? 1 : 0));

  /* Sorted by what needs attention: re-authorization first, then expiring, then by name. */
  first = g_list_model_get_item (kh_account_page_get_model (seller), 0);
  second = g_list_model_get_item (kh_account_page_get_model (seller), 1);
  g_assert_cmpstr (kh_grant_get_display_name (first), ==, "Shop 0006");
  g_assert_cmpint (kh_grant_compute_status (first, kh_now ()), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpstr (kh_grant_get_display_name (second), ==, "Shop 0012");
  g_assert_cmpint (kh_grant_compute_status (second, kh_now ()), ==, KH_GRANT_STATUS_EXPIRING);
  {
    g_autoptr(KhGrant) third = g_list_model_get_item (kh_account_page_get_model (seller), 2);

    g_assert_cmpstr (kh_grant_get_display_name (third), ==, "Shop 0000");
  }
  save_png ("seller-2000-grants");

  /* Search, typed key by key, filters every page. */
  start = g_get_monotonic_time ();
  for (guint len = 1; len <= strlen (typed); len++)
    {
      g_autofree char *prefix = g_strndup (typed, len);
      gint64 key_start = g_get_monotonic_time ();

      kh_window_set_search (env.window, prefix);
      g_test_message ("search “%s”: %.2f ms", prefix,
                      (g_get_monotonic_time () - key_start) / 1000.0);
    }
  per_key_ms = (g_get_monotonic_time () - start) / 1000.0 / strlen (typed);
  g_test_message ("filtering 2,000 grants over 6 pages: %.2f ms per keystroke", per_key_ms);
  g_print ("# bench: filter-per-keystroke-ms %.3f\n", per_key_ms);
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER) + model_count (KH_ACCOUNT_CREATOR)
                    + model_count (KH_ACCOUNT_PARTNER) + model_count (KH_ACCOUNT_ADVERTISER)
                    + model_count (KH_ACCOUNT_TIKTOK_ACCOUNT)
                    + model_count (KH_ACCOUNT_CREATOR_MARKETPLACE), ==, 1);
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER + 1234 % 6), ==, 1);

  /* By client label, shop cipher, region and id. */
  kh_window_set_search (env.window, "client 36");
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), >, 0);
  kh_window_set_search (env.window, "ROW_cipher_Shop 0030");
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, 1);
  {
    KhGrant *grant = g_ptr_array_index (fakes, 42);

    kh_window_set_search (env.window, kh_grant_get_id (grant));
    g_assert_cmpuint (model_count (kh_grant_get_account_type (grant)), ==, 1);
  }
  kh_window_set_search (env.window, "no such grant anywhere");
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, 0);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (kh_account_page_get_control (
                     seller, "list_stack"))), ==, "no-results");
  kh_window_set_search (env.window, NULL);
  g_assert_cmpuint (model_count (KH_ACCOUNT_SELLER), ==, n_sellers);

  /* The row menu offers every operation for the grant it shows. */
  {
    KhGrantRow *row = kh_grant_row_new ();
    GMenuModel *menu;
    guint n_items = 0;

    g_object_ref_sink (row);
    kh_grant_row_set_grant (row, g_ptr_array_index (fakes, 0));
    menu = kh_grant_row_get_menu (row);
    for (int s = 0; s < g_menu_model_get_n_items (menu); s++)
      n_items += g_menu_model_get_n_items (g_menu_model_get_item_link (menu, s,
                                                                       G_MENU_LINK_SECTION));
    g_assert_cmpuint (n_items, ==, 8);
    g_object_unref (row);
  }

  /* The reason of a mark shows on the row (its status' tooltip) and in the grant's window. */
  {
    KhGrantRow *row = kh_grant_row_new ();
    KhGrantWindow *window = kh_grant_window_new (
      kh_window_get_page (env.window,
                          kh_grant_get_account_type (g_ptr_array_index (fakes, 6))),
      g_ptr_array_index (fakes, 6));

    g_object_ref_sink (row);
    kh_grant_row_set_grant (row, g_ptr_array_index (fakes, 6));
    g_assert_true (has_text (GTK_WIDGET (row), INTERRUPTED_REASON));
    kh_grant_row_set_grant (row, g_ptr_array_index (fakes, 0));
    g_assert_false (has_text (GTK_WIDGET (row), INTERRUPTED_REASON));
    g_object_unref (row);
    g_assert_true (has_text (GTK_WIDGET (window), INTERRUPTED_REASON));
    gtk_window_present (GTK_WINDOW (window));
    save_widget_png (adw_window_get_content (ADW_WINDOW (window)), GTK_NATIVE (window),
                     "grant-window-interrupted");
    gtk_window_destroy (GTK_WINDOW (window));
  }

  /* A shared grant says so (an icon, whose meaning the row's description also gives), and
   * its menu leaves the client label, which decides who in the team sees it, to admins. */
  {
    KhGrantRow *row = kh_grant_row_new ();
    g_autoptr(JsonNode) node = kh_grant_to_json (g_ptr_array_index (fakes, 0));
    g_autoptr(KhGrant) shared = kh_grant_new_from_json (node, NULL);
    GtkWidget *box;
    GtkWidget *icon;
    GMenuModel *menu;
    guint n_items = 0;

    g_object_ref_sink (row);
    box = adw_bin_get_child (ADW_BIN (row));
    icon = gtk_widget_get_next_sibling (gtk_widget_get_first_child (box));
    kh_grant_row_set_grant (row, g_ptr_array_index (fakes, 0));
    g_assert_true (GTK_IS_IMAGE (icon));
    g_assert_false (gtk_widget_get_visible (icon));
    kh_grant_set_shared (shared, TRUE);
    kh_grant_row_set_grant (row, shared);
    g_assert_true (gtk_widget_get_visible (icon));
    g_assert_cmpstr (gtk_widget_get_tooltip_text (icon), ==, "Shared with the team");
    menu = kh_grant_row_get_menu (row);
    for (int s = 0; s < g_menu_model_get_n_items (menu); s++)
      n_items += g_menu_model_get_n_items (g_menu_model_get_item_link (menu, s,
                                                                       G_MENU_LINK_SECTION));
    g_assert_cmpuint (n_items, ==, 7);
    g_object_unref (row);
  }

  /* Notifications: once per threshold, remembered in GSettings, for the grant that ends in 3
   * days (the 7-day threshold) and the one that needs re-authorization. */
  {
    GSettings *settings = kh_application_get_settings (env.app);
    g_auto(GStrv) notified = NULL;
    g_autofree char *expiring = g_strdup_printf ("%s:7", kh_grant_get_id (g_ptr_array_index (fakes,
                                                                                        12)));
    g_autofree char *larger = g_strdup_printf ("%s:30", kh_grant_get_id (g_ptr_array_index (fakes,
                                                                                      12)));
    g_autofree char *reauth = g_strdup_printf ("%s:reauth",
                                               kh_grant_get_id (g_ptr_array_index (fakes, 6)));

    g_settings_set_boolean (settings, "background-refresh", FALSE);
    kh_application_run_maintenance (env.app);
    notified = g_settings_get_strv (settings, "notified");
    g_assert_true (g_strv_contains ((const char * const *) notified, expiring));
    g_assert_true (g_strv_contains ((const char * const *) notified, larger));
    g_assert_true (g_strv_contains ((const char * const *) notified, reauth));
    g_assert_cmpuint (g_strv_length (notified), ==, 3);
    g_settings_set_boolean (settings, "background-refresh", TRUE);
  }

  /* Back to what the store holds. */
  kh_application_reload (env.app);
  kh_test_wait_until (count_below_2000, NULL, 30000);
}

static void
test_no_display (void)
{
  g_test_skip ("no display: run under .ci/session (Xvfb)");
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* Headless Chromium is the default browser of this process (a private mimeapps.list), and the
 * sandbox approves consent pages by itself, since a headless browser cannot click. */
static gboolean
setup_browser (void)
{
  g_autofree char *chromium = g_find_program_in_path ("chromium");
  g_autofree char *root = g_build_filename (kh_test_get_tmpdir (), "browser", NULL);
  /* GTest isolates the XDG directories of each case: the browser is set up in those. */
  const char *config = g_get_user_config_dir ();
  const char *data = g_get_user_data_dir ();
  g_autofree char *apps = g_build_filename (data, "applications", NULL);
  g_autofree char *profile = g_build_filename (root, "profile", NULL);
  g_autofree char *mimeapps = g_build_filename (config, "mimeapps.list", NULL);
  g_autofree char *desktop = g_build_filename (apps, "kh-test-browser.desktop", NULL);
  g_autofree char *desktop_text = NULL;
  g_autofree char *script = g_build_filename (root, "kh-test-browser.sh", NULL);
  g_autofree char *script_text = NULL;
  g_autoptr(GError) error = NULL;

  if (chromium == NULL)
    return FALSE;

  g_assert_cmpint (g_mkdir_with_parents (root, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (config, 0700), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (apps, 0700), ==, 0);
  g_file_set_contents (mimeapps,
                       "[Default Applications]\n"
                       "x-scheme-handler/http=kh-test-browser.desktop\n"
                       "x-scheme-handler/https=kh-test-browser.desktop\n", -1, &error);
  g_assert_no_error (error);
  /* A wrapper keeps the page Chromium dumps out of this test's TAP output. */
  script_text = g_strdup_printf ("#!/bin/sh\n"
                                 "exec %s " KH_TEST_CHROMIUM_FLAGS " "
                                 "--user-data-dir=%s --dump-dom \"$1\" >/dev/null 2>&1\n",
                                 chromium, profile);
  g_file_set_contents (script, script_text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (script, 0700), ==, 0);
  desktop_text = g_strdup_printf ("[Desktop Entry]\nType=Application\nName=Test Browser\n"
                                  "NoDisplay=true\n"
                                  "MimeType=x-scheme-handler/http;x-scheme-handler/https;\n"
                                  "Exec=%s %%u\n", script);
  g_file_set_contents (desktop, desktop_text, -1, &error);
  g_assert_no_error (error);

  return TRUE;
}

static void
setup_app (void)
{
  g_autoptr(GError) error = NULL;
  guint port = kh_test_free_port ();

  env.redirect_uri = g_strdup_printf ("http://localhost:%u/callback", port);
  env.sandbox = kh_test_sandbox_start ();
  kh_sandbox_add_app (env.sandbox, "shop", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID,
                      env.redirect_uri);
  kh_sandbox_add_app (env.sandbox, "business", BIZ_ID, BIZ_SECRET, NULL, env.redirect_uri);
  if (env.have_browser)
    sandbox_config ("{\"auto_consent\":\"approve\"}");

  /* No application id: nothing is exported on the session bus, several runs never meet. */
  env.app = g_object_new (KH_TYPE_APPLICATION, "flags", G_APPLICATION_NON_UNIQUE, NULL);
  g_application_register (G_APPLICATION (env.app), NULL, &error);
  g_assert_no_error (error);
  g_assert_no_error ((GError *) kh_application_get_store_error (env.app));
  g_application_activate (G_APPLICATION (env.app));
  env.window = KH_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (env.app)));
  g_assert_nonnull (env.window);
  gtk_window_set_default_size (GTK_WINDOW (env.window), 1200, 800);
  iterate (500);
}

/* ---- storage, forget all and the page icons (issue #6) -------------------------------------- */

#include "kh-environment.h"

/* The six page icons come from the app's resources: nothing is installed in a test run. */
static void
test_page_icons (void)
{
  GtkIconTheme *theme = gtk_icon_theme_get_for_display (gtk_widget_get_display (
                                                          GTK_WIDGET (env.window)));

  real_mime_dirs ();
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    {
      const KhProvider *provider = kh_provider_get (i);
      g_autofree char *resource = g_strdup_printf ("/io/github/keyhold/Keyhold/icons/scalable/"
                                                   "actions/%s.svg", provider->icon_name);

      g_assert_true (g_str_has_prefix (provider->icon_name, "keyhold-"));
      g_assert_true (g_resources_get_info (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL, NULL,
                                           NULL));
      g_assert_true (gtk_icon_theme_has_icon (theme, provider->icon_name));
    }
}

static KhPreferencesWindow *
open_preferences (const char *action)
{
  KhPreferencesWindow *prefs;

  activate_action (action, NULL);
  iterate (300);
  prefs = KH_PREFERENCES_WINDOW (find_dialog (KH_TYPE_PREFERENCES_WINDOW));
  g_assert_nonnull (prefs);

  return prefs;
}

static const char *
prefs_label_text (KhPreferencesWindow *prefs,
                  const char          *id)
{
  return gtk_label_get_text (GTK_LABEL (kh_preferences_window_get_control (prefs, id)));
}

/* The Storage page says where the secrets and the account list are. */
static void
test_preferences_storage (void)
{
  KhStore *store = kh_application_get_store (env.app);
  KhPreferencesWindow *prefs;
  g_autofree char *described = kh_environment_describe_secret_storage (store);
  g_autofree char *index_dir = g_path_get_dirname (kh_store_get_index_path (store));
  GtkWidget *page;
  const char *secrets;

  real_mime_dirs ();
  prefs = open_preferences ("preferences");
  page = kh_preferences_window_get_control (prefs, "storage_page");
  g_assert_true (gtk_widget_get_visible (page));
  g_assert_cmpstr (prefs_label_text (prefs, "storage_label"), ==, described);
  g_assert_nonnull (strstr (described, index_dir));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (
                     kh_preferences_window_get_control (prefs, "index_row"))), ==, index_dir);

  secrets = adw_action_row_get_subtitle (ADW_ACTION_ROW (
                                           kh_preferences_window_get_control (prefs,
                                                                              "secrets_row")));
  if (kh_environment_get_secret_backend () == KH_SECRET_BACKEND_SERVICE)
    {
      /* The session's gnome-keyring: Passwords and Keys shows the items, no file to open. */
      g_assert_nonnull (strstr (described, "Passwords and Keys lists them"));
      g_assert_nonnull (strstr (secrets, "Passwords and Keys"));
      g_assert_false (gtk_widget_get_visible (kh_preferences_window_get_control (
                                                prefs, "secrets_folder_button")));
    }
  else
    {
      g_autofree char *file = kh_environment_get_secret_file_path ();

      g_assert_cmpstr (secrets, ==, file);
      g_assert_true (gtk_widget_get_visible (kh_preferences_window_get_control (
                                               prefs, "secrets_folder_button")));
    }
  g_assert_true (gtk_widget_get_sensitive (kh_preferences_window_get_control (prefs,
                                                                              "forget_button")));

  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (prefs), "storage");
  save_widget_png (adw_window_get_content (ADW_WINDOW (prefs)), GTK_NATIVE (prefs),
                   "preferences-storage");
  gtk_window_destroy (GTK_WINDOW (prefs));
}


static gboolean
team_is (gpointer user_data)
{
  return (kh_application_get_team (env.app) != NULL) == GPOINTER_TO_INT (user_data);
}

typedef struct
{
  GtkWidget  *row;
  const char *prefix;
} SubtitleWait;

static gboolean
subtitle_starts (gpointer user_data)
{
  SubtitleWait *wait = user_data;
  const char *subtitle = adw_action_row_get_subtitle (ADW_ACTION_ROW (wait->row));

  return subtitle != NULL && g_str_has_prefix (subtitle, wait->prefix);
}

static AdwMessageDialog *
dialog_with_heading (const char *heading)
{
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (find_dialog (ADW_TYPE_MESSAGE_DIALOG));

  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, heading);

  return dialog;
}


/* A row titled title somewhere under widget. */
static gboolean
has_row_titled (GtkWidget  *widget,
                const char *title)
{
  if (ADW_IS_PREFERENCES_ROW (widget) &&
      g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0 &&
      gtk_widget_get_mapped (widget))
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (has_row_titled (child, title))
      return TRUE;

  return FALSE;
}

static gboolean
history_shown (gpointer user_data)
{
  return has_row_titled (user_data, "Shared with the team.");
}

/* Test_preferences_team's second half: a shared grant's details show the team's audit log. */
static void
check_shared_history (void)
{
  KhTeam *team = kh_application_get_team (env.app);
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "history-app");
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(GError) error = NULL;
  KhGrantWindow *details;

  tokens->access_token = g_strdup ("history-access-token");
  tokens->refresh_token = g_strdup ("history-refresh-token");
  tokens->access_expires_at = kh_now () + 3600;
  tokens->refresh_expires_at = kh_now () + 100 * 86400;
  kh_grant_set_display_name (grant, "History Shop");
  kh_grant_set_shared (grant, TRUE);
  g_assert_true (kh_team_put_grant (team, grant, tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_shared_audit (team, "shared", grant, NULL, &error));
  g_assert_no_error (error);

  details = kh_grant_window_new (
    kh_window_get_page (env.window, kh_grant_get_account_type (grant)), grant);
  gtk_window_present (GTK_WINDOW (details));
  kh_test_wait_until (history_shown, details, 30000);
  gtk_window_destroy (GTK_WINDOW (details));
}

/* Preferences > Team against a real PostgreSQL cluster: not in a team, Create Team (the join
 * code shown once), the status of the connection, Leave Team after a confirmation. */
static void
test_preferences_team (void)
{
  g_autofree char *db = NULL;
  g_autofree char *url = NULL;
  KhPreferencesWindow *prefs;
  KhTestPg *pg;
  GtkWidget *status;
  AdwMessageDialog *dialog;
  GtkWidget *code;
  SubtitleWait connected = { NULL, "Connected as app_admin (admin) to 127.0.0.1/" };

  if (!kh_test_pg_available (NULL))
    {
      g_test_skip ("PostgreSQL 15 is not installed");
      return;
    }
  pg = kh_test_pg_new ();
  db = kh_test_pg_create_database (pg, "appteam");
  kh_test_pg_create_role (pg, "app_admin", "admin-pw", TRUE, db);
  url = kh_test_pg_url (pg, "app_admin", db);

  prefs = open_preferences ("preferences");
  status = kh_preferences_window_get_control (prefs, "team_status_row");
  connected.row = status;
  g_assert_true (gtk_widget_get_visible (kh_preferences_window_get_control (prefs, "team_page")));
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (status)), ==, "Not in a team");
  g_assert_true (gtk_widget_get_visible (kh_preferences_window_get_control (
                                           prefs, "team_join_button")));
  g_assert_false (gtk_widget_get_visible (kh_preferences_window_get_control (
                                            prefs, "team_leave_button")));

  /* A URL carrying a password is refused before anything is sent. */
  g_signal_emit_by_name (kh_preferences_window_get_control (prefs, "team_create_button"), "clicked");
  iterate (100);
  dialog = dialog_with_heading ("Create a Team");
  g_assert_false (gtk_widget_get_visible (kh_preferences_window_get_control (prefs,
                                                                             "team_code_row")));
  gtk_editable_set_text (GTK_EDITABLE (kh_preferences_window_get_control (prefs, "team_url_row")),
                         "postgresql://app_admin:admin-pw@127.0.0.1/x");
  adw_message_dialog_response (dialog, "create");
  /* A click would close it too. */
  gtk_window_destroy (GTK_WINDOW (dialog));
  iterate (100);
  dialog = dialog_with_heading ("Could Not Create the Team");
  g_assert_null (strstr (adw_message_dialog_get_body (dialog), "admin-pw"));
  close_dialogs ();
  g_assert_null (kh_application_get_team (env.app));

  g_signal_emit_by_name (kh_preferences_window_get_control (prefs, "team_create_button"), "clicked");
  iterate (100);
  dialog = dialog_with_heading ("Create a Team");
  gtk_editable_set_text (GTK_EDITABLE (kh_preferences_window_get_control (prefs, "team_url_row")),
                         url);
  gtk_editable_set_text (GTK_EDITABLE (kh_preferences_window_get_control (prefs,
                                                                          "team_password_row")),
                         "admin-pw");
  adw_message_dialog_response (dialog, "create");
  /* A click would close it too. */
  gtk_window_destroy (GTK_WINDOW (dialog));
  kh_test_wait_until (team_is, GINT_TO_POINTER (TRUE), 30000);
  iterate (100);

  /* The join code, once, selectable; the password field is empty again. */
  dialog = dialog_with_heading ("Team Created");
  code = adw_message_dialog_get_extra_child (dialog);
  g_assert_true (g_str_has_prefix (gtk_label_get_text (GTK_LABEL (code)), "khjoin1:"));
  g_assert_true (gtk_label_get_selectable (GTK_LABEL (code)));
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (kh_preferences_window_get_control (
                                            prefs, "team_password_row"))), ==, "");
  close_dialogs ();

  kh_test_wait_until (subtitle_starts, &connected, 30000);
  g_assert_true (gtk_widget_get_visible (kh_preferences_window_get_control (
                                           prefs, "team_leave_button")));
  g_assert_false (gtk_widget_get_visible (kh_preferences_window_get_control (
                                            prefs, "team_join_button")));
  adw_preferences_window_set_visible_page_name (ADW_PREFERENCES_WINDOW (prefs), "team");
  iterate (200);
  save_widget_png (adw_window_get_content (ADW_WINDOW (prefs)), GTK_NATIVE (prefs),
                   "preferences-team");

  check_shared_history ();

  /* Leave, after saying yes. */
  g_signal_emit_by_name (kh_preferences_window_get_control (prefs, "team_leave_button"), "clicked");
  iterate (100);
  dialog = dialog_with_heading ("Leave the Team?");
  adw_message_dialog_response (dialog, "leave");
  /* A click would close it too. */
  gtk_window_destroy (GTK_WINDOW (dialog));
  kh_test_wait_until (team_is, GINT_TO_POINTER (FALSE), 30000);
  iterate (100);
  g_assert_cmpstr (adw_action_row_get_subtitle (ADW_ACTION_ROW (status)), ==, "Not in a team");

  gtk_window_destroy (GTK_WINDOW (prefs));
  kh_test_pg_free (pg);
}

static gboolean
prefs_idle (gpointer data)
{
  return !kh_preferences_window_get_busy (data);
}

static AdwMessageDialog *
forget_dialog (void)
{
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG (find_dialog (ADW_TYPE_MESSAGE_DIALOG));

  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Forget All Accounts and Apps?");
  g_assert_true (adw_message_dialog_has_response (dialog, "cancel"));
  g_assert_cmpint (adw_message_dialog_get_response_appearance (dialog, "forget"), ==,
                   ADW_RESPONSE_DESTRUCTIVE);
  g_assert_cmpstr (adw_message_dialog_get_default_response (dialog), ==, "cancel");

  return dialog;
}

static guint
n_stored (KhStore *store)
{
  g_autoptr(GPtrArray) grants = kh_store_list_grants (store);
  g_autoptr(GPtrArray) pending = kh_store_list_pending (store);
  g_autoptr(GPtrArray) apps = kh_store_list_apps (store);

  return grants->len + pending->len + apps->len;
}

static gboolean
is_unreadable_index_warning (const char *log_domain,
                             const char *message)
{
  return g_strcmp0 (log_domain, "kh-application") == 0
         && strstr (message, "Could not re-read the store") != NULL;
}

/* The application warns when it cannot re-read the index: expected while the test breaks it.
 * The handler keeps the warning out of the TAP stream, the fatal handler keeps it from aborting;
 * any other message goes on as usual. */
static void
unreadable_index_log (const char     *log_domain,
                      GLogLevelFlags  log_level,
                      const char     *message,
                      gpointer        user_data)
{
  if (is_unreadable_index_warning (log_domain, message))
    g_test_message ("expected: %s", message);
  else
    g_log_default_handler (log_domain, log_level, message, user_data);
}

static gboolean
unreadable_index_fatal (const char     *log_domain,
                        GLogLevelFlags  log_level,
                        const char     *message,
                        gpointer        user_data)
{
  return !is_unreadable_index_warning (log_domain, message);
}

/* When the store fails (here its index cannot be read), Forget All says so, says how much is
 * still stored, and has removed nothing silently. */
static void
test_forget_all_error (void)
{
  KhStore *store = kh_application_get_store (env.app);
  const char *index_path = kh_store_get_index_path (store);
  g_autofree char *aside = g_strconcat (index_path, ".aside", NULL);
  g_autoptr(GFile) index_file = g_file_new_for_path (index_path);
  g_autoptr(KhGrant) grant = fake_grant (KH_ACCOUNT_PARTNER, "Kept Partner", NULL, "row", 3600,
                                         30 * 86400, KH_GRANT_STATUS_ACTIVE);
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(KhTokenSet) kept = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *left = NULL;
  KhPreferencesWindow *prefs;
  AdwMessageDialog *dialog;
  GtkWidget *result;
  guint before;
  guint handler;

  real_mime_dirs ();
  tokens->access_token = g_strdup ("kept-access");
  tokens->access_expires_at = kh_now () + 3600;
  g_assert_true (kh_store_save_grant (store, grant, tokens, &error));
  g_assert_no_error (error);
  kh_application_reload (env.app);
  before = n_stored (store);

  /* An index that loops onto itself cannot even be looked at. */
  g_test_log_set_fatal_handler (unreadable_index_fatal, NULL);
  handler = g_log_set_handler ("kh-application", G_LOG_LEVEL_WARNING | G_LOG_FLAG_FATAL,
                               unreadable_index_log, NULL);
  g_assert_cmpint (g_rename (index_path, aside), ==, 0);
  g_assert_true (g_file_make_symbolic_link (index_file, index_path, NULL, &error));
  g_assert_no_error (error);

  prefs = open_preferences ("forget-all");
  adw_message_dialog_response (forget_dialog (), "forget");
  close_dialogs ();
  kh_test_wait_until (prefs_idle, prefs, 60000);

  /* A dialog and the page say what failed and how much is left. */
  left = before == 1 ? g_strdup ("1 item is still stored")
                     : g_strdup_printf ("%u items are still stored", before);
  dialog = ADW_MESSAGE_DIALOG (find_dialog (ADW_TYPE_MESSAGE_DIALOG));
  g_assert_nonnull (dialog);
  g_assert_cmpstr (adw_message_dialog_get_heading (dialog), ==, "Could Not Forget Everything");
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), "Could not read the index"));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), left));
  result = kh_preferences_window_get_control (prefs, "forget_result_label");
  g_assert_true (gtk_widget_get_visible (result));
  g_assert_true (gtk_widget_has_css_class (result, "error"));
  g_assert_nonnull (strstr (gtk_label_get_text (GTK_LABEL (result)), left));
  g_assert_true (gtk_widget_get_sensitive (kh_preferences_window_get_control (prefs,
                                                                              "forget_button")));
  if (gtk_window_get_child (GTK_WINDOW (dialog)) != NULL)
    save_widget_png (gtk_window_get_child (GTK_WINDOW (dialog)), GTK_NATIVE (dialog),
                     "forget-all-error");
  close_dialogs ();
  gtk_window_destroy (GTK_WINDOW (prefs));

  /* Put the index back: everything is still there. */
  g_assert_cmpint (g_unlink (index_path), ==, 0);
  g_assert_cmpint (g_rename (aside, index_path), ==, 0);
  g_assert_true (kh_store_reload (store, &error));
  g_assert_no_error (error);
  kh_application_reload (env.app);
  g_log_remove_handler ("kh-application", handler);
  g_test_log_set_fatal_handler (NULL, NULL);
  g_assert_cmpuint (n_stored (store), ==, before);
  kept = kh_store_load_tokens (store, kh_grant_get_id (grant), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kept->access_token, ==, "kept-access");
}

/* Forget All asks (with what it removes, and that TikTok revokes nothing), then empties the
 * store, the keyring items of the store and every page. */
static void
test_forget_all (void)
{
  KhStore *store = kh_application_get_store (env.app);
  g_autoptr(GPtrArray) grant_ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GPtrArray) apps = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *n_grants = NULL;
  g_autofree char *n_apps = NULL;
  g_autofree char *done = NULL;
  KhPreferencesWindow *prefs;
  AdwMessageDialog *dialog;
  GtkWidget *button;
  guint before;

  real_mime_dirs ();
  /* Grants of three types and two app profiles, beside whatever the cases before stored. */
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("Forget Me %u", i);
      g_autoptr(KhGrant) grant = fake_grant (i, name, "Forget Client", "row", 3600, 30 * 86400,
                                             KH_GRANT_STATUS_ACTIVE);
      g_autoptr(KhTokenSet) tokens = kh_token_set_new ();

      tokens->access_token = g_strdup_printf ("forget-access-%u", i);
      tokens->refresh_token = g_strdup_printf ("forget-refresh-%u", i);
      tokens->access_expires_at = kh_now () + 3600;
      tokens->refresh_expires_at = kh_now () + 30 * 86400;
      g_assert_true (kh_store_save_grant (store, grant, tokens, &error));
      g_assert_no_error (error);
      g_ptr_array_add (grant_ids, g_strdup (kh_grant_get_id (grant)));
    }
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *name = g_strdup_printf ("Forget App %u", i);
      g_autofree char *key = g_strdup_printf ("forgetappkey%u", i);
      g_autoptr(KhAppProfile) app = kh_app_profile_new (name, KH_FAMILY_BUSINESS, key);

      kh_app_profile_set_redirect_uri (app, env.redirect_uri);
      g_assert_true (kh_store_save_app (store, app, "forget-app-secret", TRUE, &error));
      g_assert_no_error (error);
    }
  kh_application_reload (env.app);
  grants = kh_store_list_grants (store);
  apps = kh_store_list_apps (store);
  before = n_stored (store);
  g_assert_cmpuint (grants->len, >=, 3);
  g_assert_cmpuint (apps->len, >=, 2);
  n_grants = g_strdup_printf ("%u authorizations", grants->len);
  n_apps = g_strdup_printf ("%u app profiles", apps->len);

  /* app.forget-all opens the Storage page and asks; Cancel changes nothing. */
  prefs = open_preferences ("forget-all");
  g_assert_cmpstr (adw_preferences_window_get_visible_page_name (ADW_PREFERENCES_WINDOW (prefs)),
                   ==, "storage");
  dialog = forget_dialog ();
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), n_grants));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog), n_apps));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (dialog),
                            "Nothing is revoked at TikTok"));
  if (gtk_window_get_child (GTK_WINDOW (dialog)) != NULL)
    save_widget_png (gtk_window_get_child (GTK_WINDOW (dialog)), GTK_NATIVE (dialog),
                     "forget-all-dialog");
  adw_message_dialog_response (dialog, "cancel");
  close_dialogs ();
  iterate (200);
  g_assert_false (kh_preferences_window_get_busy (prefs));
  g_assert_cmpuint (n_stored (store), ==, before);
  g_assert_cmpuint (g_list_model_get_n_items (kh_application_get_grants (env.app)), ==,
                    grants->len);

  /* The button asks the same; yes forgets, with the button off and a spinner meanwhile. */
  button = kh_preferences_window_get_control (prefs, "forget_button");
  g_signal_emit_by_name (button, "clicked");
  dialog = forget_dialog ();
  adw_message_dialog_response (dialog, "forget");
  close_dialogs ();
  g_assert_true (kh_preferences_window_get_busy (prefs));
  g_assert_false (gtk_widget_get_sensitive (button));
  g_assert_true (gtk_widget_get_visible (kh_preferences_window_get_control (prefs,
                                                                            "forget_spinner")));
  kh_test_wait_until (prefs_idle, prefs, 60000);
  g_assert_null (find_dialog (ADW_TYPE_MESSAGE_DIALOG));
  g_assert_true (gtk_widget_get_sensitive (button));

  /* The result says how many. */
  done = g_strdup_printf ("Keyhold forgot %u items.", before);
  g_assert_true (gtk_widget_get_visible (kh_preferences_window_get_control (
                                           prefs, "forget_result_label")));
  g_assert_true (g_str_has_prefix (prefs_label_text (prefs, "forget_result_label"), done));
  save_widget_png (adw_window_get_content (ADW_WINDOW (prefs)), GTK_NATIVE (prefs),
                   "preferences-forgotten");
  gtk_window_destroy (GTK_WINDOW (prefs));

  /* Nothing in the store, its models or any page. */
  g_assert_cmpuint (n_stored (store), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (kh_application_get_grants (env.app)), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (kh_application_get_apps (env.app)), ==, 0);
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    g_assert_cmpuint (model_count (i), ==, 0);

  /* Nor in the keyring: an index rebuilt from the keyring's items of this store is empty. */
  {
    g_autoptr(KhStore) other = kh_store_new (NULL, kh_store_get_name (store), &error);

    g_assert_no_error (error);
    g_assert_true (kh_store_rebuild_index (other, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (n_stored (other), ==, 0);
  }
  for (guint i = 0; i < grant_ids->len; i++)
    {
      g_autoptr(KhTokenSet) tokens = kh_store_load_tokens (store,
                                                           g_ptr_array_index (grant_ids, i),
                                                           &error);

      g_assert_null (tokens);
      g_assert_nonnull (error);
      g_clear_error (&error);
    }
  {
    g_autofree char *secret = kh_store_load_app_secret (store, "Forget App 0", &error);

    g_assert_null (secret);
    g_assert_nonnull (error);
  }
}

static gboolean
pointer_is_null (gpointer data)
{
  return *(gpointer *) data == NULL;
}

/* The last case: the main window goes, and with it every page, row and dialog, without a
 * warning (libadwaita reported a critical here while a page disposed its template), and nothing
 * (a handler, a binding, a task) keeps the window or a page alive. The application stays to the
 * process exit: a GtkApplication holds itself from startup to shutdown, and only
 * g_application_run() shuts down. */
static void
test_destroy (void)
{
  GtkWindow *window = GTK_WINDOW (env.window);
  KhAccountPage *pages[KH_N_ACCOUNT_TYPES];

  real_mime_dirs ();
  close_dialogs ();
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    {
      pages[i] = kh_window_get_page (env.window, i);
      g_object_add_weak_pointer (G_OBJECT (pages[i]), (gpointer *) &pages[i]);
    }
  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &env.window);
  gtk_window_destroy (window);
  kh_test_wait_until (pointer_is_null, &env.window, 10000);
  for (guint i = 0; i < KH_N_ACCOUNT_TYPES; i++)
    kh_test_wait_until (pointer_is_null, &pages[i], 10000);
  g_assert_null (gtk_application_get_active_window (GTK_APPLICATION (env.app)));
}

int
main (int   argc,
      char *argv[])
{
  int status;
  /* A child of /keyhold/app/startup opens its parent's store, which kh_test_init replaces. */
  g_autofree char *parent_data_dir = g_strdup (g_getenv ("KEYHOLD_DATA_DIR"));
  g_autofree char *parent_store = g_strdup (g_getenv ("KEYHOLD_STORE"));

  kh_test_init (&argc, &argv);
  if (g_test_subprocess () && parent_data_dir != NULL && parent_store != NULL)
    {
      g_setenv ("KEYHOLD_DATA_DIR", parent_data_dir, TRUE);
      g_setenv ("KEYHOLD_STORE", parent_store, TRUE);
    }
  /* The store name kh_test_init derives from the program path may hold '/': keep it valid. */
  {
    g_autofree char *store = g_strdup (g_getenv ("KEYHOLD_STORE"));

    if (store != NULL)
      {
        g_strcanon (store, "abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789-_.", '-');
        g_setenv ("KEYHOLD_STORE", store, TRUE);
      }
  }
  real_mime_dirs ();
  /* Xvfb has no GL: the cairo renderer draws the same widgets. */
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  g_setenv ("GTK_A11Y", "none", TRUE);
  /* Every change to the environment comes before gtk_init_check: from there on GTK and GIO
   * worker threads read it, and setenv() under a reader crashes. */
  g_unsetenv ("BROWSER");

  if (!gtk_init_check ())
    {
      g_test_add_func ("/keyhold/app/no-display", test_no_display);
      return g_test_run ();
    }

  real_mime_dirs ();
  /* The child of /keyhold/app/startup: a fresh start of the application, nothing else. */
  if (g_test_subprocess ())
    {
      g_test_add_func ("/keyhold/app/startup", test_startup_child);
      return g_test_run ();
    }
  {
    g_autofree char *chromium = g_find_program_in_path ("chromium");

    env.have_browser = chromium != NULL;
  }
  setup_app ();

  g_test_add_func ("/keyhold/app/pages", test_pages);
  g_test_add_func ("/keyhold/app/profile-validation", test_profile_validation);
  g_test_add_func ("/keyhold/app/profile-save", test_profile_save);
  g_test_add_data_func ("/keyhold/app/screenshots-empty", "empty", test_screenshots);
  for (guint i = 0; i < G_N_ELEMENTS (authorize_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/keyhold/app/authorize-%s",
                                               authorize_cases[i].spec);

      g_strdelimit (path, ":", '-');
      g_test_add_data_func (path, &authorize_cases[i], test_authorize);
    }
  g_test_add_func ("/keyhold/app/complete-url", test_complete_url);
  g_test_add_func ("/keyhold/app/grant-toast-other-tab", test_grant_toast_other_tab);
  g_test_add_func ("/keyhold/app/quick-connect", test_quick_connect);
  g_test_add_func ("/keyhold/app/port-in-use", test_port_in_use);
  g_test_add_func ("/keyhold/app/follow-other-process", test_follow_other_process);
  g_test_add_func ("/keyhold/app/grant-actions", test_grant_actions);
  g_test_add_func ("/keyhold/app/history-group", test_history_group);
  g_test_add_func ("/keyhold/app/grant-history", test_grant_history);
  g_test_add_data_func ("/keyhold/app/screenshots-grants", "grants", test_screenshots);
  g_test_add_func ("/keyhold/app/browser-profile", test_browser_profile);
  g_test_add_func ("/keyhold/app/row-menu", test_row_menu);
  g_test_add_func ("/keyhold/app/list-2000", test_list_2000);
  g_test_add_func ("/keyhold/app/startup", test_startup);

  g_test_add_func ("/keyhold/app/page-icons", test_page_icons);
  g_test_add_func ("/keyhold/app/preferences-storage", test_preferences_storage);
  g_test_add_func ("/keyhold/app/preferences-team", test_preferences_team);
  g_test_add_func ("/keyhold/app/forget-all-error", test_forget_all_error);
  g_test_add_func ("/keyhold/app/forget-all", test_forget_all);
  g_test_add_func ("/keyhold/app/destroy", test_destroy);

  status = g_test_run ();

  g_clear_object (&env.sandbox);
  g_free (env.redirect_uri);

  return status;
}
