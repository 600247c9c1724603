/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-application.c: the application object. It opens the store once, keeps the grant and app
 * profile models every page filters, runs background refresh and notifications, and exports
 * the main operations as GActions so that `gapplication action` and the UI tests can drive
 * Keyhold exactly as a user does. Background refresh and notifications are in
 * kh-application-maintenance.c. All blocking store calls run in GTask threads. The grants are
 * one KhGrantList that reads the index in a worker thread and follows other processes' changes;
 * every page shows a filtered view of it. */

#define G_LOG_DOMAIN "kh-application"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-application.h"
#include "kh-application-private.h"

#include "kh-broker.h"
#include "kh-error.h"
#include "kh-grant-list.h"
#include "kh-origin-map.h"
#include "kh-preferences-window.h"
#include "kh-provider.h"
#include "kh-shared.h"
#include "kh-util.h"
#include "kh-window.h"

#ifdef KH_HAVE_SANDBOX
#include "kh-sandbox.h"
#endif

#define SCHEMA_ID "io.github.keyhold.Keyhold"

/* The sandbox's demo apps (src/sandbox registers them at start). */
#define DEMO_SHOP_NAME        "Demo Shop App"
#define DEMO_SHOP_KEY         "demoshop"
#define DEMO_SHOP_SECRET      "demo-shop-secret"
#define DEMO_SHOP_SERVICE_ID  "7000000000000000001"
#define DEMO_BIZ_NAME         "Demo Business App"
#define DEMO_BIZ_ID           "7000000000000000002"
#define DEMO_BIZ_SECRET       "demo-business-secret"
#define DEMO_REDIRECT_URI     "http://localhost:8765/callback"


static void kh_application_app_context_init (KhAppContextInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (KhApplication, kh_application, ADW_TYPE_APPLICATION,
                               G_IMPLEMENT_INTERFACE (KH_TYPE_APP_CONTEXT,
                                                      kh_application_app_context_init))

enum {
  PROP_0,
  PROP_DEMO_READY,
  PROP_TEAM,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ---- models ------------------------------------------------------------------------------ */

static void
replace_all (GListStore *list,
             GPtrArray  *items)
{
  g_list_store_splice (list, 0, g_list_model_get_n_items (G_LIST_MODEL (list)),
                       items->pdata, items->len);
}

static void
reload_apps (KhApplication *self)
{
  g_autoptr(GPtrArray) apps = kh_store_list_apps (self->store);

  replace_all (self->apps, apps);
}

static void
grants_loaded_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!kh_grant_list_load_finish (KH_GRANT_LIST (object), result, &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_warning ("Could not re-read the store: %s", error->message);
}

void
kh_application_reload (KhApplication *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (KH_IS_APPLICATION (self));

  if (self->store == NULL)
    return;

  /* Another process (keyhold-cli, a script) may have changed the index meanwhile. Profiles are
   * few and a dialog selects the one it saved at once: they are read here. The grants are read
   * in a worker thread; the pages follow when they arrive. */
  if (!kh_store_reload (self->store, &error))
    g_warning ("Could not re-read the store: %s", error->message);
  reload_apps (self);
  g_clear_handle_id (&self->first_load_id, g_source_remove);
  kh_grant_list_load_async (self->grants, self->cancellable, grants_loaded_cb, NULL);
}

void
kh_application_load_grants (KhApplication *self)
{
  g_return_if_fail (KH_IS_APPLICATION (self));

  if (self->grants != NULL && !kh_grant_list_get_loaded (self->grants)
      && self->first_load_id != 0)
    kh_application_reload (self);
}

static gboolean
first_load_cb (gpointer user_data)
{
  KhApplication *self = user_data;

  self->first_load_id = 0;
  kh_application_reload (self);

  return G_SOURCE_REMOVE;
}

KhGrantList *
kh_application_get_grant_list (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->grants;
}

KhStore *
kh_application_get_store (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->store;
}

const GError *
kh_application_get_store_error (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->store_error;
}

KhTokenClient *
kh_application_get_token_client (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->client;
}

GSettings *
kh_application_get_settings (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->settings;
}

GListModel *
kh_application_get_grants (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->grants != NULL ? G_LIST_MODEL (self->grants) : G_LIST_MODEL (self->no_grants);
}

GListModel *
kh_application_get_apps (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return G_LIST_MODEL (self->apps);
}

gboolean
kh_application_get_sandbox_mode (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), FALSE);

  return self->sandbox_mode;
}

void
kh_application_set_sandbox_mode (KhApplication *self,
                                 gboolean       sandbox_mode)
{
  g_return_if_fail (KH_IS_APPLICATION (self));

  self->sandbox_mode = !!sandbox_mode;
}

KhTeam *
kh_application_get_team (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->team;
}

void
kh_application_set_team (KhApplication *self,
                         KhTeam        *team)
{
  g_return_if_fail (KH_IS_APPLICATION (self));
  g_return_if_fail (team == NULL || KH_IS_TEAM (team));

  if (!g_set_object (&self->team, team))
    return;

  /* Background refresh goes through the broker, under the team's row locks like every other
   * machine's; the list shows shared grants and follows the team's changes. */
  if (self->broker != NULL)
    kh_broker_set_team (self->broker, team, NULL);
  if (self->grants != NULL)
    kh_grant_list_set_team (self->grants, team);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEAM]);
}

static void
team_open_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  KhApplication *self = source_object;
  GError *error = NULL;
  KhTeam *team = kh_team_open (self->store, NULL, &error);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, team, team != NULL ? g_object_unref : NULL);
}

static void
team_opened_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  KhApplication *self = KH_APPLICATION (object);
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(GError) error = NULL;

  team = g_task_propagate_pointer (G_TASK (result), &error);
  if (error != NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("Could not open the team: %s", error->message);
      return;
    }
  if (team != NULL)
    kh_application_set_team (self, team);
}

gboolean
kh_application_get_demo_ready (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), FALSE);

  return self->demo_ready;
}

char *
kh_application_dup_default_redirect_uri (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return g_strdup_printf ("http://localhost:%u/callback",
                          g_settings_get_uint (self->settings, "redirect-port"));
}

static KhWindow *
get_window (KhApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    {
      g_application_activate (G_APPLICATION (self));
      window = gtk_application_get_active_window (GTK_APPLICATION (self));
    }

  return KH_WINDOW (window);
}

/* ---- grant operations -------------------------------------------------------------------- */

/* A task for an operation on the store; NULL, with the callback already given the store's
 * error, when there is no store. */
static GTask *
store_task_new (KhApplication       *self,
                GCancellable        *cancellable,
                GAsyncReadyCallback  callback,
                gpointer             user_data,
                gpointer             source_tag)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  if (self->store == NULL)
    {
      g_task_return_error (task, g_error_copy (self->store_error));
      return NULL;
    }

  return g_steal_pointer (&task);
}

/* -- refresh: through KhBroker, single-flight across threads and processes -- */

static void
recovered_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(KhApplication) self = user_data;
  g_autoptr(GPtrArray) outcomes = NULL;
  g_autoptr(GError) error = NULL;

  outcomes = kh_broker_recover_finish (KH_BROKER (object), result, &error);
  if (outcomes == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("Could not recover interrupted refreshes: %s", error->message);
      return;
    }
  for (guint i = 0; i < outcomes->len; i++)
    {
      KhRecovery *recovery = g_ptr_array_index (outcomes, i);

      g_message ("An interrupted refresh of %s: %s", recovery->grant_id,
                 recovery->error != NULL ? recovery->error->message : "completed and stored");
    }
  if (outcomes->len > 0)
    kh_application_reload (self);
}

static void
refresh_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  KhApplication *self = g_task_get_source_object (task);
  const char *grant_id = g_task_get_task_data (task);
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) grant = NULL;

  tokens = kh_broker_refresh_finish (KH_BROKER (object), result, &error);
  /* A terminal error marked the grant needs-reauth in the index: show it either way. */
  kh_application_reload (self);
  if (tokens == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  grant = kh_store_find_grant (self->store, grant_id, &error);
  /* A shared grant: the list's copy (never the database from the main thread); the list
   * shows the refreshed one once the team's change notification arrives. */
  if (grant == NULL && self->team != NULL && g_error_matches (error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      GListModel *grants = G_LIST_MODEL (self->grants);

      for (guint i = 0; grant == NULL && i < g_list_model_get_n_items (grants); i++)
        {
          g_autoptr(KhGrant) candidate = g_list_model_get_item (grants, i);

          if (g_str_equal (kh_grant_get_id (candidate), grant_id))
            grant = g_steal_pointer (&candidate);
        }
      if (grant != NULL)
        g_clear_error (&error);
    }
  if (grant == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, g_steal_pointer (&grant), g_object_unref);
}

static void
refresh_grant (KhApplication       *self,
               const char          *grant_id,
               gboolean             force,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data)
{
  g_autoptr(GTask) task = store_task_new (self, cancellable, callback, user_data,
                                          kh_application_refresh_grant_async);

  if (task == NULL)
    return;

  g_task_set_task_data (task, g_strdup (grant_id), g_free);
  kh_broker_refresh_async (self->broker, grant_id, force, cancellable, refresh_cb,
                           g_object_ref (task));
}

void
kh_application_refresh_grant_async (KhApplication       *self,
                                    const char          *grant_id,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_return_if_fail (KH_IS_APPLICATION (self));
  g_return_if_fail (grant_id != NULL);

  refresh_grant (self, grant_id, TRUE, cancellable, callback, user_data);
}

KhGrant *
kh_application_refresh_grant_finish (KhApplication *self,
                                     GAsyncResult  *result,
                                     GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

KhBroker *
kh_application_get_broker (KhApplication *self)
{
  g_return_val_if_fail (KH_IS_APPLICATION (self), NULL);

  return self->broker;
}

/* -- remove -- */

static void
remove_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  KhApplication *self = source_object;
  const char *grant_id = task_data;
  g_autoptr(KhGrant) grant = NULL;
  GError *error = NULL;

  grant = kh_shared_find_grant (self->store, self->team, grant_id, &error);
  if (grant == NULL || !kh_shared_remove_grant (self->store, self->team, grant, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
remove_done_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  kh_application_reload (KH_APPLICATION (object));
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
kh_application_remove_grant_async (KhApplication       *self,
                                   const char          *grant_id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker = NULL;

  g_return_if_fail (KH_IS_APPLICATION (self));
  g_return_if_fail (grant_id != NULL);

  task = store_task_new (self, cancellable, callback, user_data,
                         kh_application_remove_grant_async);
  if (task == NULL)
    return;

  worker = g_task_new (self, cancellable, remove_done_cb, g_object_ref (task));
  g_task_set_task_data (worker, g_strdup (grant_id), g_free);
  g_task_run_in_thread (worker, remove_thread);
}

gboolean
kh_application_remove_grant_finish (KhApplication *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- revoke -- */

static void
revoke_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  KhApplication *self = g_task_get_source_object (task);
  gboolean manual = FALSE;
  GError *error = NULL;

  if (!kh_broker_revoke_finish (KH_BROKER (object), result, &manual, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  kh_application_reload (self);
  g_task_return_boolean (task, TRUE);
}

void
kh_application_revoke_grant_async (KhApplication       *self,
                                   const char          *grant_id,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KH_IS_APPLICATION (self));
  g_return_if_fail (grant_id != NULL);

  task = store_task_new (self, cancellable, callback, user_data,
                         kh_application_revoke_grant_async);
  if (task == NULL)
    return;

  kh_broker_revoke_async (self->broker, grant_id, cancellable, revoke_cb, g_object_ref (task));
}

gboolean
kh_application_revoke_grant_finish (KhApplication *self,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* -- tokens for "Copy Access Token": KhBroker refreshes first when needed -- */

static void
valid_tokens_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  KhTokenSet *tokens;
  GError *error = NULL;

  tokens = kh_broker_get_token_finish (KH_BROKER (object), result, &error);
  kh_application_reload (g_task_get_source_object (task));
  if (tokens == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, tokens, (GDestroyNotify) kh_token_set_free);
}

void
kh_application_load_valid_tokens_async (KhApplication       *self,
                                        const char          *grant_id,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KH_IS_APPLICATION (self));
  g_return_if_fail (grant_id != NULL);

  task = store_task_new (self, cancellable, callback, user_data,
                         kh_application_load_valid_tokens_async);
  if (task == NULL)
    return;

  kh_broker_get_token_async (self->broker, grant_id, KH_BROKER_DEFAULT_MIN_VALID, cancellable,
                             valid_tokens_cb, g_object_ref (task));
}

KhTokenSet *
kh_application_load_valid_tokens_finish (KhApplication *self,
                                         GAsyncResult  *result,
                                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- following other processes --------------------------------------------------------- */

/* keyhold-cli, scripts and background refreshes of other processes write the index: the grant
 * list follows it and re-reads it in a worker thread, which also brings the store up to date.
 * The app profiles come from the same index. */
static void
grants_reloaded_cb (KhApplication *self)
{
  reload_apps (self);

  /* The first pass of background work runs once the grants are known and the window is up,
   * so notifications can open it. */
  if (!self->first_pass_done && gtk_application_get_active_window (GTK_APPLICATION (self)))
    {
      self->first_pass_done = TRUE;
      kh_application_run_maintenance (self);
    }
}

/* ---- actions ------------------------------------------------------------------------------- */

static void
authorize_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  kh_window_authorize (get_window (user_data), g_variant_get_string (parameter, NULL));
}

static void
link_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  kh_window_create_link (get_window (user_data), g_variant_get_string (parameter, NULL));
}

static void
complete_url_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  kh_window_complete_url (get_window (user_data), g_variant_get_string (parameter, NULL));
}

static void
refresh_action (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  kh_window_refresh_grant (get_window (user_data), g_variant_get_string (parameter, NULL));
}

static void
refresh_all_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  KhApplication *self = user_data;

  kh_application_reload (self);
  kh_application_run_maintenance (self);
}

static void
revoke_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  kh_window_revoke_grant (get_window (user_data), g_variant_get_string (parameter, NULL), FALSE);
}

static void
remove_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  kh_window_remove_grant (get_window (user_data), g_variant_get_string (parameter, NULL), FALSE);
}

static void
show_grant_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  KhWindow *window = get_window (user_data);

  gtk_window_present (GTK_WINDOW (window));
  kh_window_show_grant (window, g_variant_get_string (parameter, NULL));
}

static KhPreferencesWindow *
present_preferences (KhApplication *self)
{
  KhPreferencesWindow *prefs = kh_preferences_window_new_for_application (KH_APP_CONTEXT (self));

  gtk_window_set_transient_for (GTK_WINDOW (prefs), GTK_WINDOW (get_window (self)));
  gtk_window_present (GTK_WINDOW (prefs));

  return prefs;
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  present_preferences (user_data);
}

/* Asks first, on the preferences' Storage page, which says where the secrets are. */
static void
forget_all_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  kh_preferences_window_ask_forget_all (present_preferences (user_data));
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  KhApplication *self = user_data;
  const char *developers[] = { "The Keyhold developers", NULL };
  GtkWidget *about = adw_about_window_new ();

  /* The same facts as data/io.github.keyhold.Keyhold.metainfo.xml. */
  g_object_set (about,
                "transient-for", get_window (self),
                "application-name", _("Keyhold"),
                "application-icon", APP_ID,
                "developer-name", _("The Keyhold developers"),
                "version", PACKAGE_VERSION,
                "comments", _("Authorize shop and ads accounts, keep their tokens in the "
                              "keyring and fresh, and hand a valid token to any script"),
                "website", "https://github.com/keyhold/keyhold",
                "issue-url", "https://github.com/keyhold/keyhold/issues",
                "license-type", GTK_LICENSE_GPL_3_0,
                "developers", developers,
                "translator-credits", _("translator-credits"),
                NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static const GActionEntry app_actions[] = {
  { "authorize", authorize_action, "s" },
  { "link", link_action, "s" },
  { "complete-url", complete_url_action, "s" },
  { "refresh", refresh_action, "s" },
  { "refresh-all", refresh_all_action },
  { "revoke", revoke_action, "s" },
  { "remove", remove_action, "s" },
  { "show-grant", show_grant_action, "s" },
  { "preferences", preferences_action },
  { "forget-all", forget_all_action },
  { "about", about_action },
  { "quit", quit_action },
};

/* ---- sandbox ------------------------------------------------------------------------------- */

static void
demo_profiles_thread (GTask        *task,
                      gpointer      source_object,
                      gpointer      task_data,
                      GCancellable *cancellable)
{
  KhApplication *self = source_object;
  g_autoptr(KhAppProfile) shop = kh_app_profile_new (DEMO_SHOP_NAME, KH_FAMILY_SHOP,
                                                     DEMO_SHOP_KEY);
  g_autoptr(KhAppProfile) business = kh_app_profile_new (DEMO_BIZ_NAME, KH_FAMILY_BUSINESS,
                                                         DEMO_BIZ_ID);
  const char *shop_scopes[] = { "creator.affiliate.info", NULL };
  GError *error = NULL;

  kh_app_profile_set_service_id (shop, DEMO_SHOP_SERVICE_ID);
  kh_app_profile_set_redirect_uri (shop, DEMO_REDIRECT_URI);
  kh_app_profile_set_scopes (shop, shop_scopes);
  kh_app_profile_set_redirect_uri (business, DEMO_REDIRECT_URI);

  if (!kh_store_save_app (self->store, shop, DEMO_SHOP_SECRET, TRUE, &error)
      || !kh_store_save_app (self->store, business, DEMO_BIZ_SECRET, TRUE, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
demo_profiles_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  KhApplication *self = KH_APPLICATION (object);
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("Could not add the demo app profiles: %s", error->message);

  kh_application_reload (self);
  self->demo_ready = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DEMO_READY]);
}

static gboolean
start_sandbox (KhApplication  *self,
               GError        **error)
{
#ifdef KH_HAVE_SANDBOX
  g_autofree char *map = NULL;

  self->sandbox = kh_sandbox_new (0);
  if (!kh_sandbox_listen (self->sandbox, 0, error))
    return FALSE;

  map = kh_sandbox_dup_origin_map (self->sandbox);
  if (!kh_origin_map_set (map, error))
    return FALSE;

  g_message ("Sandbox listening on %u", kh_sandbox_get_port (self->sandbox));
  return TRUE;
#else
  g_set_error_literal (error, KH_ERROR, KH_ERROR_FAILED,
                       _("This build of Keyhold has no sandbox"));
  return FALSE;
#endif
}

/* ---- GApplication --------------------------------------------------------------------------- */

static int
kh_application_handle_local_options (GApplication *app,
                                     GVariantDict *options)
{
  KhApplication *self = KH_APPLICATION (app);

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("keyhold %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (g_variant_dict_contains (options, "sandbox"))
    {
      /* A sandbox run is its own instance: it never hands over to a running Keyhold, whose
       * store and endpoints are the real ones. */
      self->sandbox_mode = TRUE;
      g_application_set_flags (app, g_application_get_flags (app) | G_APPLICATION_NON_UNIQUE);
    }

  return G_APPLICATION_CLASS (kh_application_parent_class)->handle_local_options (app, options);
}

static void
kh_application_startup (GApplication *app)
{
  KhApplication *self = KH_APPLICATION (app);
  const char *quit_accels[] = { "<Control>q", NULL };
  const char *prefs_accels[] = { "<Control>comma", NULL };
  const char *help_accels[] = { "<Control>question", NULL };
  g_autofree char *store_name = NULL;

  g_application_set_resource_base_path (app, "/io/github/keyhold/Keyhold");

  G_APPLICATION_CLASS (kh_application_parent_class)->startup (app);

  self->settings = g_settings_new (SCHEMA_ID);
  self->client = kh_token_client_new ();

  if (self->sandbox_mode)
    {
      g_autoptr(GError) error = NULL;
      const char *base = g_getenv ("KEYHOLD_STORE");

      if (!start_sandbox (self, &error))
        g_warning ("Could not start the sandbox: %s", error->message);
      /* Sandbox grants never mix with real ones: they live in their own store. */
      store_name = g_strdup_printf ("%s%ssandbox", base != NULL ? base : "",
                                    base != NULL ? "-" : "");
    }

  self->store = kh_store_new (NULL, store_name, &self->store_error);
  if (self->store != NULL)
    {
      self->broker = kh_broker_new (self->store, self->client);
      /* A refresh killed last time (this app's or keyhold-cli's) is settled inside TikTok's
       * grace, in the background; the list shows what it changed. */
      kh_broker_recover_async (self->broker, self->cancellable, recovered_cb,
                               g_object_ref (self));
      /* The window shows itself while the grants are read and sorted in a worker thread. */
      self->grants = kh_grant_list_new_deferred (self->store);
      kh_grant_list_set_sort (self->grants, KH_GRANT_LIST_SORT_ATTENTION);
      g_signal_connect_object (self->grants, "reloaded", G_CALLBACK (grants_reloaded_cb), self,
                               G_CONNECT_SWAPPED);
      /* The profiles now: the pages show "Add an App Profile" without one. The grants once
       * the window has drawn its first frame (kh_application_load_grants), or in a second
       * without a window. */
      reload_apps (self);
      self->first_load_id = g_timeout_add_seconds (1, first_load_cb, self);

      /* team.json and the team key: a keyring lookup, so not on the main thread. */
      {
        g_autoptr(GTask) task = g_task_new (self, self->cancellable, team_opened_cb, NULL);

        g_task_run_in_thread (task, team_open_thread);
      }
    }

  if (self->sandbox_mode && self->store != NULL)
    {
      g_autoptr(GTask) task = g_task_new (self, self->cancellable, demo_profiles_cb, NULL);

      g_task_run_in_thread (task, demo_profiles_thread);
    }

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions),
                                   self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         prefs_accels);
  /* GtkApplication sets this one only for a help overlay at gtk/help-overlay.ui, which Keyhold
   * keeps elsewhere so that windows get it after their first frame (KhWindow). */
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.show-help-overlay",
                                         help_accels);

  self->maintenance_id = g_timeout_add_seconds (MAINTENANCE_INTERVAL_SECONDS,
                                                 kh_application_maintenance_tick,
                                                self);
}

static void
kh_application_activate (GApplication *app)
{
  KhApplication *self = KH_APPLICATION (app);
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    {
      window = GTK_WINDOW (kh_window_new (GTK_APPLICATION (self), KH_APP_CONTEXT (self)));
      /* The first pass runs once the window is up, so notifications can open it, and once the
       * grants are read (else grants_reloaded_cb runs it). */
      if (!self->first_pass_done && self->grants != NULL
          && kh_grant_list_get_loaded (self->grants))
        {
          self->first_pass_done = TRUE;
          kh_application_run_maintenance (self);
        }
    }

  gtk_window_present (window);
}

static void
kh_application_shutdown (GApplication *app)
{
  KhApplication *self = KH_APPLICATION (app);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->maintenance_id, g_source_remove);
  g_clear_handle_id (&self->first_load_id, g_source_remove);

  G_APPLICATION_CLASS (kh_application_parent_class)->shutdown (app);
}

static void
kh_application_dispose (GObject *object)
{
  KhApplication *self = KH_APPLICATION (object);

  g_clear_handle_id (&self->maintenance_id, g_source_remove);
  g_clear_handle_id (&self->first_load_id, g_source_remove);
  if (self->grants != NULL)
    g_signal_handlers_disconnect_by_data (self->grants, self);
  g_clear_object (&self->grants);
  g_clear_object (&self->team);
  g_clear_object (&self->no_grants);
  g_clear_object (&self->broker);
  g_clear_object (&self->store);
  g_clear_object (&self->client);
  g_clear_object (&self->settings);
  g_clear_object (&self->apps);
  g_clear_object (&self->cancellable);
#ifdef KH_HAVE_SANDBOX
  g_clear_object (&self->sandbox);
#endif

  G_OBJECT_CLASS (kh_application_parent_class)->dispose (object);
}

static void
kh_application_finalize (GObject *object)
{
  KhApplication *self = KH_APPLICATION (object);

  g_clear_error (&self->store_error);
  g_clear_pointer (&self->refreshing, g_hash_table_unref);

  G_OBJECT_CLASS (kh_application_parent_class)->finalize (object);
}

static void
kh_application_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  KhApplication *self = KH_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_DEMO_READY:
      g_value_set_boolean (value, self->demo_ready);
      break;

    case PROP_TEAM:
      g_value_set_object (value, self->team);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* ---- KhAppContext: what pages and dialogs ask of the application ----------------------------- */

#define CONTEXT_GETTER(type, name) \
  static type \
  context_##name (KhAppContext *context) \
  { \
    return kh_application_##name (KH_APPLICATION (context)); \
  }

CONTEXT_GETTER (KhStore *, get_store)
CONTEXT_GETTER (const GError *, get_store_error)
CONTEXT_GETTER (KhTokenClient *, get_token_client)
CONTEXT_GETTER (KhBroker *, get_broker)
CONTEXT_GETTER (GSettings *, get_settings)
CONTEXT_GETTER (GListModel *, get_grants)
CONTEXT_GETTER (KhGrantList *, get_grant_list)
CONTEXT_GETTER (KhTeam *, get_team)
CONTEXT_GETTER (GListModel *, get_apps)
CONTEXT_GETTER (char *, dup_default_redirect_uri)
CONTEXT_GETTER (gboolean, get_sandbox_mode)

#undef CONTEXT_GETTER

static void
context_set_team (KhAppContext *context,
                  KhTeam       *team)
{
  kh_application_set_team (KH_APPLICATION (context), team);
}

static void
context_reload (KhAppContext *context)
{
  kh_application_reload (KH_APPLICATION (context));
}

static void
context_load_grants (KhAppContext *context)
{
  kh_application_load_grants (KH_APPLICATION (context));
}

/* The grant operations, each the KhApplication function of the same name. */
#define CONTEXT_GRANT_OPERATION(type, name) \
  static void \
  context_##name##_async (KhAppContext        *context, \
                          const char          *grant_id, \
                          GCancellable        *cancellable, \
                          GAsyncReadyCallback  callback, \
                          gpointer             user_data) \
  { \
    kh_application_##name##_async (KH_APPLICATION (context), grant_id, cancellable, callback, \
                                   user_data); \
  } \
  \
  static type \
  context_##name##_finish (KhAppContext  *context, \
                           GAsyncResult  *result, \
                           GError       **error) \
  { \
    return kh_application_##name##_finish (KH_APPLICATION (context), result, error); \
  }

CONTEXT_GRANT_OPERATION (KhGrant *, refresh_grant)
CONTEXT_GRANT_OPERATION (gboolean, revoke_grant)
CONTEXT_GRANT_OPERATION (gboolean, remove_grant)
CONTEXT_GRANT_OPERATION (KhTokenSet *, load_valid_tokens)

#undef CONTEXT_GRANT_OPERATION

static void
kh_application_app_context_init (KhAppContextInterface *iface)
{
  iface->get_store = context_get_store;
  iface->get_store_error = context_get_store_error;
  iface->get_token_client = context_get_token_client;
  iface->get_broker = context_get_broker;
  iface->get_settings = context_get_settings;
  iface->get_grants = context_get_grants;
  iface->get_grant_list = context_get_grant_list;
  iface->get_team = context_get_team;
  iface->set_team = context_set_team;
  iface->get_apps = context_get_apps;
  iface->reload = context_reload;
  iface->dup_default_redirect_uri = context_dup_default_redirect_uri;
  iface->get_sandbox_mode = context_get_sandbox_mode;
  iface->load_grants = context_load_grants;
  iface->refresh_grant_async = context_refresh_grant_async;
  iface->refresh_grant_finish = context_refresh_grant_finish;
  iface->revoke_grant_async = context_revoke_grant_async;
  iface->revoke_grant_finish = context_revoke_grant_finish;
  iface->remove_grant_async = context_remove_grant_async;
  iface->remove_grant_finish = context_remove_grant_finish;
  iface->load_valid_tokens_async = context_load_valid_tokens_async;
  iface->load_valid_tokens_finish = context_load_valid_tokens_finish;
}

static void
kh_application_class_init (KhApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = kh_application_dispose;
  object_class->finalize = kh_application_finalize;
  object_class->get_property = kh_application_get_property;

  app_class->handle_local_options = kh_application_handle_local_options;
  app_class->startup = kh_application_startup;
  app_class->activate = kh_application_activate;
  app_class->shutdown = kh_application_shutdown;

  properties[PROP_DEMO_READY] =
    g_param_spec_boolean ("demo-ready", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_TEAM] =
    g_param_spec_object ("team", NULL, NULL, KH_TYPE_TEAM,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_application_init (KhApplication *self)
{
  const GOptionEntry options[] = {
    { "sandbox", 0, 0, G_OPTION_ARG_NONE, NULL,
      N_("Run against an in-process sandbox with demo app profiles (no TikTok account needed)"),
      NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
    { NULL }
  };

  self->no_grants = g_list_store_new (KH_TYPE_GRANT);
  self->apps = g_list_store_new (KH_TYPE_APP_PROFILE);
  self->cancellable = g_cancellable_new ();
  self->refreshing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_application_add_main_option_entries (G_APPLICATION (self), options);
}

KhApplication *
kh_application_new (void)
{
  return g_object_new (KH_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       NULL);
}
