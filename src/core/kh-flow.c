/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow.c: one authorization from start to stored grant. The three entrances (loopback
 * authorize, pasted completion, Quick Connect) differ only in how they obtain the callback and
 * the app; from the code on they share one pipeline: exchange -> enrich -> store. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-flow.h"

#include "kh-callback.h"
#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-loopback.h"
#include "kh-provider.h"
#include "kh-util.h"

struct _KhFlow
{
  GObject        parent_instance;

  /* owned */
  KhStore       *store;
  KhTokenClient *client;
  KhAuthRequest *request;
  KhBrowserProfile *browser;   /* NULL: the system browser */
  GPtrArray     *warnings;     /* char *, NULL-terminated */

  KhFlowStage    stage;
};

G_DEFINE_FINAL_TYPE (KhFlow, kh_flow, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_STAGE,
  PROP_REQUEST,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* Everything one run of the pipeline needs; the GTask owns it. */
typedef struct
{
  KhAccountType          type;
  const KhProviderRole  *role;
  KhAppProfile          *app;
  char                  *app_secret;
  KhAuthRequest         *request;      /* NULL for Quick Connect and state-less completion */
  gboolean               request_is_pending;  /* persisted: remove it once done */
  KhLoopback            *loopback;
  KhBrowserProfile      *browser;      /* NULL: the system browser */
  GCancellable          *browser_cancellable;  /* watching the browser process */
  KhCallback            *callback;
  KhTokenResponse       *response;
  GPtrArray             *shops;
  GPtrArray             *advertisers;
  char                  *account_name;
  KhGrant               *grant;
  char                  *client_label;
  KhRegion               region;
  gboolean               region_known;
  gboolean               without_state;
  gboolean               save_app;     /* Quick Connect: store the profile after success */
  KhFlowFlags            flags;
  guint                  timeout_seconds;
  GCancellable          *wait_cancellable;  /* the loopback wait: cancelled by the caller's
                                              * cancellable, or when the browser cannot open */
  GCancellable          *outer_cancellable;
  gulong                 outer_handler;
  GError                *launch_error;
} Run;

static void
run_free (Run *run)
{
  if (run->outer_cancellable != NULL)
    g_cancellable_disconnect (run->outer_cancellable, run->outer_handler);
  g_clear_object (&run->outer_cancellable);
  g_clear_object (&run->wait_cancellable);
  g_clear_error (&run->launch_error);
  /* A browser this run started may live on for hours: stop watching it. */
  if (run->browser_cancellable != NULL)
    g_cancellable_cancel (run->browser_cancellable);
  g_clear_object (&run->browser_cancellable);
  g_clear_object (&run->browser);
  g_clear_object (&run->app);
  if (run->app_secret != NULL)
    {
      memset (run->app_secret, 0, strlen (run->app_secret));
      g_clear_pointer (&run->app_secret, g_free);
    }
  g_clear_object (&run->request);
  if (run->loopback != NULL)
    kh_loopback_stop (run->loopback);
  g_clear_object (&run->loopback);
  g_clear_pointer (&run->callback, kh_callback_free);
  g_clear_pointer (&run->response, kh_token_response_free);
  g_clear_pointer (&run->shops, g_ptr_array_unref);
  g_clear_pointer (&run->advertisers, g_ptr_array_unref);
  g_clear_pointer (&run->account_name, g_free);
  g_clear_object (&run->grant);
  g_clear_pointer (&run->client_label, g_free);
  g_free (run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Run, run_free)

static void exchange_code (GTask *task);

/* ---- the object ------------------------------------------------------------------------- */

static void
kh_flow_set_stage (KhFlow      *self,
                   KhFlowStage  stage)
{
  if (self->stage == stage)
    return;

  self->stage = stage;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STAGE]);
}

static void
kh_flow_set_request (KhFlow        *self,
                     KhAuthRequest *request)
{
  if (!g_set_object (&self->request, request))
    return;

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REQUEST]);
}

static void
kh_flow_reset (KhFlow *self)
{
  g_ptr_array_set_size (self->warnings, 0);
  g_ptr_array_add (self->warnings, NULL);
  kh_flow_set_request (self, NULL);
  kh_flow_set_stage (self, KH_FLOW_STAGE_IDLE);
}

static void
kh_flow_add_warning (KhFlow     *self,
                     const char *warning)
{
  /* Keep the array NULL-terminated so it can be handed out as a strv. */
  g_ptr_array_remove_index (self->warnings, self->warnings->len - 1);
  g_ptr_array_add (self->warnings, g_strdup (warning));
  g_ptr_array_add (self->warnings, NULL);
  g_debug ("warning: %s", warning);
}

static void
kh_flow_dispose (GObject *object)
{
  KhFlow *self = (KhFlow *) object;

  g_clear_object (&self->request);
  g_clear_object (&self->browser);
  g_clear_object (&self->client);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (kh_flow_parent_class)->dispose (object);
}

static void
kh_flow_finalize (GObject *object)
{
  KhFlow *self = (KhFlow *) object;

  g_clear_pointer (&self->warnings, g_ptr_array_unref);

  G_OBJECT_CLASS (kh_flow_parent_class)->finalize (object);
}

static void
kh_flow_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  KhFlow *self = KH_FLOW (object);

  switch (prop_id)
    {
    case PROP_STAGE:
      g_value_set_int (value, self->stage);
      break;

    case PROP_REQUEST:
      g_value_set_object (value, self->request);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_flow_class_init (KhFlowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_flow_dispose;
  object_class->finalize = kh_flow_finalize;
  object_class->get_property = kh_flow_get_property;

  properties[PROP_STAGE] =
    g_param_spec_int ("stage", NULL, NULL,
                      KH_FLOW_STAGE_IDLE, KH_FLOW_STAGE_FAILED, KH_FLOW_STAGE_IDLE,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_REQUEST] =
    g_param_spec_object ("request", NULL, NULL,
                         KH_TYPE_AUTH_REQUEST,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_flow_init (KhFlow *self)
{
  self->warnings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->warnings, NULL);
}

KhFlow *
kh_flow_new (KhStore       *store,
             KhTokenClient *client)
{
  KhFlow *self;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (client), NULL);

  self = g_object_new (KH_TYPE_FLOW, NULL);
  self->store = g_object_ref (store);
  self->client = g_object_ref (client);

  return self;
}

KhFlowStage
kh_flow_get_stage (KhFlow *self)
{
  g_return_val_if_fail (KH_IS_FLOW (self), KH_FLOW_STAGE_IDLE);

  return self->stage;
}

const char *
kh_flow_stage_describe (KhFlowStage stage)
{
  switch (stage)
    {
    case KH_FLOW_STAGE_IDLE:
      return _("Ready");
    case KH_FLOW_STAGE_WAITING:
      return _("Waiting for the authorization in the browser");
    case KH_FLOW_STAGE_EXCHANGING:
      return _("Exchanging the authorization code for tokens");
    case KH_FLOW_STAGE_ENRICHING:
      return _("Fetching the authorized accounts");
    case KH_FLOW_STAGE_STORING:
      return _("Storing the tokens in the keyring");
    case KH_FLOW_STAGE_DONE:
      return _("Authorized");
    case KH_FLOW_STAGE_FAILED:
      return _("Authorization failed");
    default:
      g_assert_not_reached ();
    }
}

KhAuthRequest *
kh_flow_get_request (KhFlow *self)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);

  return self->request;
}

void
kh_flow_set_browser_profile (KhFlow           *self,
                             KhBrowserProfile *profile)
{
  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (profile == NULL || KH_IS_BROWSER_PROFILE (profile));

  g_set_object (&self->browser, profile);
}

const char * const *
kh_flow_get_warnings (KhFlow *self)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);

  return (const char * const *) self->warnings->pdata;
}

/* ---- ending a run ------------------------------------------------------------------------ */

static void
fail (GTask  *task,
      GError *error)
{
  KhFlow *self = g_task_get_source_object (task);

  kh_flow_set_stage (self, KH_FLOW_STAGE_FAILED);
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
succeed (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  kh_flow_set_stage (self, KH_FLOW_STAGE_DONE);
  g_task_return_pointer (task, g_object_ref (run->grant), g_object_unref);
  g_object_unref (task);
}

/* Blocking store work runs in a GTask thread; these are its bodies. */

static void
remove_pending_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  KhStore *store = source_object;
  const char *request_id = task_data;
  GError *error = NULL;

  if (!kh_store_remove_pending (store, request_id, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
remove_pending_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  /* The grant is stored; a pending record that could not be removed is only clutter, and it
   * cannot be completed twice because its code is spent. */
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_message ("Could not remove the completed pending request: %s", error->message);

  succeed (g_steal_pointer (&task));
}

static void
remove_pending_then (KhFlow              *self,
                     KhAuthRequest       *request,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self->store, NULL, callback, user_data);

  g_task_set_source_tag (task, remove_pending_then);
  g_task_set_task_data (task, g_strdup (kh_auth_request_get_id (request)), g_free);
  g_task_run_in_thread (task, remove_pending_thread);
}

/* ---- store ------------------------------------------------------------------------------- */

static const char *
shop_region_for (Run *run)
{
  if (run->response != NULL && run->response->seller_base_region != NULL &&
      *run->response->seller_base_region != '\0')
    return run->response->seller_base_region;
  if (run->callback != NULL && run->callback->shop_region != NULL)
    return run->callback->shop_region;
  if (run->region_known)
    return kh_region_to_string (run->region);
  return NULL;
}

static char *
display_name_for (Run *run)
{
  if (run->response->seller_name != NULL && *run->response->seller_name != '\0')
    return g_strdup (run->response->seller_name);

  if (run->account_name != NULL && *run->account_name != '\0')
    return g_strdup (run->account_name);

  if (run->advertisers != NULL && run->advertisers->len > 0)
    {
      KhAdvertiser *first = g_ptr_array_index (run->advertisers, 0);
      const char *name = first->name != NULL ? first->name : first->id;

      if (run->advertisers->len == 1)
        return g_strdup (name);

      /* Translators: "Acme Ads and 2 more" */
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s and %u more",
                                           "%s and %u more", run->advertisers->len - 1),
                              name, run->advertisers->len - 1);
    }

  if (run->shops != NULL && run->shops->len > 0)
    return g_strdup (((KhShop *) g_ptr_array_index (run->shops, 0))->name);

  if (run->response->open_id != NULL && *run->response->open_id != '\0')
    return g_strdup (run->response->open_id);

  return NULL;
}

/* The history's name of the way this run authorized. */
static const char *
run_flow_name (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  gpointer tag = g_task_get_source_tag (task);

  if (tag == kh_flow_authorize_async)
    return "browser";
  if (tag == kh_flow_quick_connect_async)
    return "quick-connect";
  return run->request_is_pending ? "link" : "paste";
}

static void
save_grant_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr(KhHistoryEntry) entry = NULL;
  GError *error = NULL;

  if (!kh_store_save_grant_finish (KH_STORE (object), result, &error))
    {
      /* The code is spent and the tokens exist only in memory now: say so plainly. */
      g_prefix_error (&error,
                      _("The authorization succeeded but its tokens could not be stored: "));
      fail (g_steal_pointer (&task), error);
      return;
    }

  entry = kh_history_entry_new_authorized (run->grant, run_flow_name (task));
  kh_history_record (self->store, entry);

  if (run->request_is_pending)
    remove_pending_then (self, run->request, remove_pending_cb, g_steal_pointer (&task));
  else
    succeed (g_steal_pointer (&task));
}

static void
save_app_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  KhStore *store = source_object;
  Run *run = task_data;
  GError *error = NULL;

  if (!kh_store_save_app (store, run->app, run->app_secret, TRUE, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void store_grant (GTask *task);

static void
save_app_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      fail (g_steal_pointer (&task), error);
      return;
    }

  run->save_app = FALSE;
  store_grant (g_steal_pointer (&task));
}

static void
store_grant (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autofree char *display_name = NULL;

  kh_flow_set_stage (self, KH_FLOW_STAGE_STORING);

  /* Quick Connect creates the app profile only now that the secret has proved right. */
  if (run->save_app)
    {
      g_autoptr(GTask) save = g_task_new (self->store, g_task_get_cancellable (task),
                                          save_app_cb, task);

      g_task_set_source_tag (save, store_grant);
      g_task_set_task_data (save, run, NULL);
      g_task_run_in_thread (save, save_app_thread);
      return;
    }

  run->grant = kh_grant_new (run->type, run->role->id, kh_app_profile_get_name (run->app));
  kh_grant_set_client_label (run->grant, run->client_label);
  display_name = display_name_for (run);
  kh_grant_set_display_name (run->grant, display_name);
  kh_grant_set_region (run->grant, shop_region_for (run));
  kh_grant_set_open_id (run->grant, run->response->open_id);
  kh_grant_set_scopes (run->grant, (const char * const *) run->response->scopes);
  kh_grant_set_expiries_from_tokens (run->grant, run->response->tokens);
  kh_grant_set_without_state (run->grant, run->without_state);
  if (run->shops != NULL)
    kh_grant_set_shops (run->grant, run->shops);
  if (run->advertisers != NULL)
    kh_grant_set_advertisers (run->grant, run->advertisers);

  for (guint i = 0; self->warnings->pdata[i] != NULL; i++)
    kh_grant_add_warning (run->grant, self->warnings->pdata[i]);

  /* Missing creator scopes are part of the grant: its status shows them. */
  if (run->type == KH_ACCOUNT_CREATOR)
    {
      const char * const *needed = kh_app_profile_get_scopes (run->app);
      g_autoptr(GStrvBuilder) missing = g_strv_builder_new ();
      g_auto(GStrv) missing_strv = NULL;

      for (guint i = 0; needed[i] != NULL; i++)
        {
          if (!g_str_has_prefix (needed[i], "creator"))
            continue;
          if (!g_strv_contains ((const char * const *) run->response->scopes, needed[i]))
            g_strv_builder_add (missing, needed[i]);
        }
      missing_strv = g_strv_builder_end (missing);
      kh_grant_set_missing_scopes (run->grant, (const char * const *) missing_strv);
    }

  kh_store_save_grant_async (self->store, run->grant, run->response->tokens,
                             g_task_get_cancellable (task), save_grant_cb, task);
}

/* ---- enrich ------------------------------------------------------------------------------ */

static void
enrich_done (GTask *task)
{
  store_grant (task);
}

/* Enrichment is best effort: the tokens are valid whatever happens here, so a failure becomes a
 * warning saying what to do, and the grant is stored anyway. Only cancellation ends the run.
 * Returns TRUE when the run may go on. */
static gboolean
survive_enrichment_error (GTask      *task,
                          GError     *error,
                          const char *what)
{
  KhFlow *self = g_task_get_source_object (task);
  g_autofree char *warning = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      fail (task, g_error_copy (error));
      return FALSE;
    }

  warning = g_strdup_printf ("%s (%s)", what, error->message);
  kh_flow_add_warning (self, warning);

  return TRUE;
}

static void
shops_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  GTask *task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  run->shops = kh_token_client_get_shops_finish (KH_TOKEN_CLIENT (object), result, &error);

  if (run->shops == NULL)
    {
      if (!survive_enrichment_error (task, error, _("The authorized shops could not be fetched: "
                                                    "run “keyhold-cli shops GRANT --update” "
                                                    "later")))
        return;
    }
  else if (run->shops->len == 0)
    {
      kh_flow_add_warning (self, _("This authorization covers no shop: authorize with a seller "
                                   "shop account, and enable the “Shop Authorized Information” "
                                   "scope of the app in Partner Center"));
    }

  enrich_done (task);
}

static void
advertisers_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  run->advertisers = kh_token_client_get_advertisers_finish (KH_TOKEN_CLIENT (object), result,
                                                             &error);
  if (run->advertisers == NULL)
    {
      if (!survive_enrichment_error (task, error, _("The advertiser names could not be fetched")))
        return;

      /* The token response names the advertiser ids even when the list call fails. */
      run->advertisers = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
      for (guint i = 0; run->response->advertiser_ids[i] != NULL; i++)
        {
          KhAdvertiser *advertiser = g_new0 (KhAdvertiser, 1);

          advertiser->id = g_strdup (run->response->advertiser_ids[i]);
          g_ptr_array_add (run->advertisers, advertiser);
        }
    }

  enrich_done (task);
}

static void
account_name_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  run->account_name = kh_token_client_get_account_name_finish (KH_TOKEN_CLIENT (object), result,
                                                               &error);
  if (run->account_name == NULL &&
      !survive_enrichment_error (task, error, _("The account name could not be fetched")))
    return;

  enrich_done (task);
}

static void
check_shop_account (KhFlow *self,
                    Run    *run)
{
  const KhProvider *provider = kh_provider_get (run->type);
  const char *base_region = run->response->seller_base_region;

  if (provider->user_type >= 0 && run->response->user_type >= 0 &&
      run->response->user_type != provider->user_type)
    {
      g_autofree char *warning = NULL;
      const char *actual = run->response->user_type == 0 ? _("seller") :
                           run->response->user_type == 1 ? _("creator") :
                           run->response->user_type == 3 ? _("partner") : _("unknown");

      warning = g_strdup_printf (_("This authorization is for a %s account, not a %s: "
                                   "check which account signed in"),
                                 actual, _(provider->title));
      kh_flow_add_warning (self, warning);
    }

  /* A US link authorized by a shop based elsewhere (or the reverse) usually means the wrong
   * link was sent; the grant still works, so warn. */
  if (run->region_known && provider->has_regions && base_region != NULL && *base_region != '\0')
    {
      gboolean base_is_us = g_ascii_strcasecmp (base_region, "US") == 0;

      if (base_is_us != (run->region == KH_REGION_US))
        {
          g_autofree char *warning = NULL;

          warning = g_strdup_printf (_("The account is based in %s but was authorized through "
                                       "the %s link"),
                                     base_region,
                                     run->region == KH_REGION_US ? _("United States")
                                                                 : _("rest-of-world"));
          kh_flow_add_warning (self, warning);
        }
    }

  if (run->type == KH_ACCOUNT_CREATOR)
    {
      const char * const *needed = kh_app_profile_get_scopes (run->app);
      gboolean missing = FALSE;

      for (guint i = 0; needed[i] != NULL; i++)
        if (g_str_has_prefix (needed[i], "creator") &&
            !g_strv_contains ((const char * const *) run->response->scopes, needed[i]))
          missing = TRUE;

      if (missing)
        kh_flow_add_warning (self, _("The creator did not grant every scope the app needs: ask "
                                     "them to re-open the authorization link, choose “Remove all "
                                     "access”, then authorize again with every scope on"));
    }
}

static void
enrich (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  const char *access_token = run->response->tokens->access_token;

  kh_flow_set_stage (self, KH_FLOW_STAGE_ENRICHING);

  switch (run->role->token_kind)
    {
    case KH_TOKEN_KIND_SHOP:
      check_shop_account (self, run);
      if (run->type == KH_ACCOUNT_SELLER)
        {
          kh_token_client_get_shops_async (self->client, run->app, run->app_secret, access_token,
                                           cancellable, shops_cb, task);
          return;
        }
      break;

    case KH_TOKEN_KIND_ADVERTISER:
      if (run->type == KH_ACCOUNT_ADVERTISER)
        {
          kh_token_client_get_advertisers_async (self->client, run->app, run->app_secret,
                                                 access_token, cancellable, advertisers_cb, task);
          return;
        }
      break;

    case KH_TOKEN_KIND_TT_USER:
      if (run->response->open_id != NULL)
        {
          kh_token_client_get_account_name_async (self->client, access_token,
                                                  run->response->open_id, cancellable,
                                                  account_name_cb, task);
          return;
        }
      break;

    default:
      g_assert_not_reached ();
    }

  enrich_done (task);
}

/* ---- exchange ---------------------------------------------------------------------------- */

/* Quick Connect and state-less completion learn the account type only from the token. */
static void
adopt_type_from_user_type (Run *run)
{
  switch (run->response->user_type)
    {
    case 1:
      run->type = KH_ACCOUNT_CREATOR;
      break;
    case 3:
      run->type = KH_ACCOUNT_PARTNER;
      break;
    default:
      run->type = KH_ACCOUNT_SELLER;
      break;
    }
  run->role = kh_provider_get_role (kh_provider_get (run->type), NULL);
}

static void
forget_dead_request_cb (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  GTask *task = user_data;
  GError *error = g_object_steal_data (G_OBJECT (task), "kh-flow-dead-error");
  g_autoptr(GError) removal_error = NULL;

  /* The original error is what the user needs to see; the removal outcome is secondary. */
  if (!g_task_propagate_boolean (G_TASK (result), &removal_error))
    g_debug ("Could not remove the dead pending request: %s", removal_error->message);

  fail (task, error);
}

static void
exchange_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  GTask *task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->response = kh_token_client_exchange_finish (KH_TOKEN_CLIENT (object), result, &error);
  if (run->response == NULL)
    {
      /* A code TikTok refused for good (used, expired, wrong app) will never work: the pending
       * request is dead too. A transient failure keeps it so the same URL can be retried. */
      if (run->request_is_pending && error->domain == KH_API_ERROR &&
          kh_error_classify (error) != KH_ERROR_CLASS_TRANSIENT)
        {
          g_object_set_data_full (G_OBJECT (task), "kh-flow-dead-error", error,
                                  (GDestroyNotify) g_error_free);
          remove_pending_then (self, run->request, forget_dead_request_cb, task);
          return;
        }

      fail (task, error);
      return;
    }

  if (run->request == NULL && run->role->token_kind == KH_TOKEN_KIND_SHOP)
    adopt_type_from_user_type (run);

  enrich (task);
}

static void
exchange_code (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  const char *redirect_uri;

  kh_flow_set_stage (self, KH_FLOW_STAGE_EXCHANGING);

  redirect_uri = run->request != NULL ? kh_auth_request_get_redirect_uri (run->request)
                                      : kh_app_profile_get_redirect_uri (run->app);

  kh_token_client_exchange_async (self->client, run->app, run->app_secret, run->role->token_kind,
                                  run->callback->code, redirect_uri,
                                  g_task_get_cancellable (task), exchange_cb, task);
}

/* Checks the callback against what the request expects, then exchanges. */
static void
accept_callback (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  if (kh_callback_is_denied (run->callback, &error))
    {
      fail (task, error);
      return;
    }

  if (run->callback->code == NULL)
    {
      fail (task, g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                       _("The redirect carries no authorization code")));
      return;
    }

  /* The Shop redirect names the app it was issued for; a different app's code cannot work. */
  if (run->callback->app_key != NULL &&
      kh_app_profile_get_family (run->app) == KH_FAMILY_SHOP &&
      g_strcmp0 (run->callback->app_key, kh_app_profile_get_app_key (run->app)) != 0)
    {
      fail (task, g_error_new (KH_ERROR, KH_ERROR_WRONG_ACCOUNT,
                               _("This URL was issued for the app key “%s”, but the request "
                                 "belongs to the app “%s”"),
                               run->callback->app_key, kh_app_profile_get_name (run->app)));
      return;
    }

  exchange_code (task);
}

/* ---- loading the app secret ------------------------------------------------------------- */

typedef void (*RunStep) (GTask *task);

static void
load_secret_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  RunStep next = g_object_get_data (G_OBJECT (task), "kh-flow-next");
  GError *error = NULL;

  run->app_secret = kh_store_load_app_secret_finish (KH_STORE (object), result, &error);
  if (run->app_secret == NULL)
    {
      fail (task, error);
      return;
    }

  next (task);
}

static void
load_secret_then (GTask   *task,
                  RunStep  next)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  g_object_set_data (G_OBJECT (task), "kh-flow-next", next);
  kh_store_load_app_secret_async (self->store, kh_app_profile_get_name (run->app),
                                  g_task_get_cancellable (task), load_secret_cb, task);
}

/* ---- create a link ----------------------------------------------------------------------- */

KhAuthRequest *
kh_flow_create_link (KhStore        *store,
                     KhAccountType   type,
                     const char     *role,
                     KhAppProfile   *app,
                     KhRegion        region,
                     const char     *client_label,
                     KhFlowFlags     flags,
                     GError        **error)
{
  g_autoptr(KhAuthRequest) request = NULL;
  g_autofree char *secret = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), NULL);

  /* A link whose completion would fail for want of a secret helps nobody: check it now. */
  secret = kh_store_load_app_secret (store, kh_app_profile_get_name (app), error);
  if (secret == NULL)
    return NULL;
  memset (secret, 0, strlen (secret));

  request = kh_auth_request_new (type, role, app, region, client_label,
                                 (flags & KH_FLOW_FLAGS_FORCE_CONSENT) != 0, error);
  if (request == NULL)
    return NULL;

  if (!kh_store_save_pending (store, request, error))
    return NULL;

  return g_steal_pointer (&request);
}

/* ---- authorize (loopback) ---------------------------------------------------------------- */

static void
loopback_wait_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->callback = kh_loopback_wait_finish (KH_LOOPBACK (object), result, &error);
  kh_loopback_stop (run->loopback);

  if (run->callback == NULL)
    {
      /* A browser that could not open cancelled the wait: that is the real error. */
      if (run->launch_error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          error = g_steal_pointer (&run->launch_error);
        }
      fail (task, error);
      return;
    }

  accept_callback (task);
}

/* The browser could not open the consent page: the run ends with that error. */
static void
fail_launch (Run          *run,
             const GError *error)
{
  g_clear_error (&run->launch_error);
  run->launch_error = g_error_new (KH_ERROR, KH_ERROR_FAILED,
                                   _("The browser could not be opened (%s): open the "
                                     "authorization link yourself, or use a link for a "
                                     "client"),
                                   error->message);
  /* The loopback wait is still running: cancelling it ends the run with our error. */
  g_cancellable_cancel (run->wait_cancellable);
}

static void
launch_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          run->callback != NULL || g_task_get_completed (task))
        return;

      fail_launch (run, error);
    }
}

/* A chosen browser that exits with an error before the redirect came would leave the run
 * waiting for nothing. The watch holds the task weakly: a browser may outlive its run. */
static void
browser_exited_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  GWeakRef *task_ref = user_data;
  g_autoptr(GTask) task = g_weak_ref_get (task_ref);
  g_autoptr(GError) error = NULL;
  Run *run;

  g_weak_ref_clear (task_ref);
  g_free (task_ref);

  if (g_subprocess_wait_check_finish (G_SUBPROCESS (object), result, &error) || task == NULL ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_task_get_completed (task))
    return;

  run = g_task_get_task_data (task);
  if (run->callback == NULL)
    fail_launch (run, error);
}

static void
launch_browser_profile (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  GWeakRef *task_ref;

  process = kh_browser_profile_launch (run->browser, kh_auth_request_get_url (run->request),
                                       &error);
  if (process == NULL)
    {
      fail_launch (run, error);
      return;
    }

  run->browser_cancellable = g_cancellable_new ();
  task_ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (task_ref, task);
  g_subprocess_wait_check_async (process, run->browser_cancellable, browser_exited_cb, task_ref);
}

static void
start_listening (GTask *task)
{
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->loopback = kh_loopback_new (kh_auth_request_get_redirect_uri (run->request), &error);
  if (run->loopback == NULL)
    {
      g_prefix_error (&error, _("The app’s Redirect URL cannot be caught on this computer: "));
      fail (task, error);
      return;
    }

  if (!kh_loopback_start (run->loopback, &error))
    {
      fail (task, error);
      return;
    }

  kh_flow_set_request (self, run->request);
  kh_flow_set_stage (self, KH_FLOW_STAGE_WAITING);

  kh_loopback_wait_async (run->loopback, kh_auth_request_get_state (run->request),
                          run->timeout_seconds, run->wait_cancellable,
                          loopback_wait_cb, task);

  if ((run->flags & KH_FLOW_FLAGS_NO_BROWSER) != 0)
    return;
  if (run->browser != NULL)
    launch_browser_profile (task);
  else
    g_app_info_launch_default_for_uri_async (kh_auth_request_get_url (run->request), NULL,
                                             g_task_get_cancellable (task), launch_cb,
                                             g_object_ref (task));
}

static void
cancel_wait (GCancellable *outer,
             GCancellable *wait_cancellable)
{
  g_cancellable_cancel (wait_cancellable);
}

static void
create_request (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  GError *error = NULL;

  run->request = kh_auth_request_new (run->type, run->role->id, run->app, run->region,
                                      run->client_label,
                                      (run->flags & KH_FLOW_FLAGS_FORCE_CONSENT) != 0, &error);
  if (run->request == NULL)
    {
      fail (task, error);
      return;
    }

  start_listening (task);
}

void
kh_flow_authorize_async (KhFlow              *self,
                         KhAccountType        type,
                         const char          *role,
                         KhAppProfile        *app,
                         KhRegion             region,
                         const char          *client_label,
                         KhFlowFlags          flags,
                         guint                timeout_seconds,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(Run) run = NULL;
  const KhProviderRole *provider_role;

  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (type < KH_N_ACCOUNT_TYPES);
  g_return_if_fail (KH_IS_APP_PROFILE (app));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_flow_authorize_async);

  kh_flow_reset (self);

  provider_role = kh_provider_get_role (kh_provider_get (type), role);
  if (provider_role == NULL)
    {
      fail (g_steal_pointer (&task),
            g_error_new (KH_ERROR, KH_ERROR_INVALID_INPUT, _("“%s” has no role “%s”"),
                         kh_provider_get (type)->id, role));
      return;
    }

  run = g_new0 (Run, 1);
  run->type = type;
  run->role = provider_role;
  run->app = g_object_ref (app);
  run->region = region;
  run->region_known = TRUE;
  run->client_label = g_strdup (client_label);
  run->flags = flags;
  run->timeout_seconds = timeout_seconds;
  if (self->browser != NULL)
    run->browser = g_object_ref (self->browser);
  run->wait_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      run->outer_cancellable = g_object_ref (cancellable);
      run->outer_handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_wait),
                                                  g_object_ref (run->wait_cancellable),
                                                  g_object_unref);
    }
  g_task_set_task_data (task, g_steal_pointer (&run), (GDestroyNotify) run_free);

  load_secret_then (g_steal_pointer (&task), create_request);
}

KhGrant *
kh_flow_authorize_finish (KhFlow        *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- complete (pasted URL) --------------------------------------------------------------- */

typedef struct
{
  char          *state;
  char          *app_key;      /* for a state-less completion */
  KhAuthRequest *request;
  KhAppProfile  *app;
} Lookup;

static void
lookup_free (Lookup *lookup)
{
  g_free (lookup->state);
  g_free (lookup->app_key);
  g_clear_object (&lookup->request);
  g_clear_object (&lookup->app);
  g_free (lookup);
}

static void
lookup_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  KhStore *store = source_object;
  Lookup *lookup = task_data;
  GError *error = NULL;

  if (lookup->state != NULL)
    {
      lookup->request = kh_store_find_pending_by_state (store, lookup->state, &error);
      if (lookup->request == NULL)
        {
          g_task_return_error (task, error);
          return;
        }

      lookup->app = kh_store_get_app (store, kh_auth_request_get_app_name (lookup->request));
      if (lookup->app == NULL)
        {
          g_task_return_new_error (task, KH_ERROR, KH_ERROR_NOT_FOUND,
                                   _("The app profile “%s” of this authorization no longer "
                                     "exists: add it again, then create a new link"),
                                   kh_auth_request_get_app_name (lookup->request));
          return;
        }
    }
  else
    {
      lookup->app = kh_store_find_app_by_key (store, lookup->app_key);
      if (lookup->app == NULL)
        {
          g_task_return_new_error (task, KH_ERROR, KH_ERROR_NOT_FOUND,
                                   _("No app profile has the app key “%s”: add the app first, "
                                     "or use Quick Connect with its App Secret"),
                                   lookup->app_key);
          return;
        }
    }

  g_task_return_boolean (task, TRUE);
}

static void
lookup_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GTask *task = user_data;
  KhFlow *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  Lookup *lookup = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      fail (task, error);
      return;
    }

  run->app = g_object_ref (lookup->app);

  if (lookup->request != NULL)
    {
      KhAuthRequest *request = lookup->request;

      run->request = g_object_ref (request);
      run->request_is_pending = TRUE;
      run->type = kh_auth_request_get_account_type (request);
      run->role = kh_auth_request_get_provider_role (request);
      run->region = kh_auth_request_get_region (request);
      run->region_known = TRUE;
      run->client_label = g_strdup (kh_auth_request_get_client_label (request));
      kh_flow_set_request (self, request);

      if (kh_auth_request_is_expired (request, kh_now ()))
        {
          g_autofree char *when = kh_iso8601_from_unix (kh_auth_request_get_expires_at (request));

          fail (task, g_error_new (KH_ERROR, KH_ERROR_REQUEST_EXPIRED,
                                   _("This authorization link expired at %s (its code lives "
                                     "%d minutes): create a new link"),
                                   when, (int) (run->role->code_lifetime / 60)));
          return;
        }
    }
  else
    {
      /* The Seller Center App Store sends no state; only a Shop app can be completed so. */
      if (kh_app_profile_get_family (run->app) != KH_FAMILY_SHOP)
        {
          fail (task, g_error_new_literal (KH_ERROR, KH_ERROR_STATE_MISSING,
                                           _("This URL carries no state, which only a Seller "
                                             "Center App Store installation may do")));
          return;
        }
      run->type = KH_ACCOUNT_SELLER;
      run->role = kh_provider_get_role (kh_provider_get (KH_ACCOUNT_SELLER), NULL);
      run->without_state = TRUE;
    }

  load_secret_then (task, accept_callback);
}

void
kh_flow_complete_async (KhFlow              *self,
                        const char          *pasted,
                        KhFlowFlags          flags,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) lookup_task = NULL;
  g_autoptr(KhCallback) parsed = NULL;
  Lookup *lookup;
  Run *run;
  GError *error = NULL;

  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (pasted != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_flow_complete_async);
  kh_flow_reset (self);

  parsed = kh_callback_parse (pasted, &error);
  if (parsed == NULL)
    {
      fail (g_steal_pointer (&task), error);
      return;
    }

  if (parsed->state == NULL)
    {
      if ((flags & KH_FLOW_FLAGS_ALLOW_NO_STATE) == 0)
        {
          fail (g_steal_pointer (&task),
                g_error_new_literal (KH_ERROR, KH_ERROR_STATE_MISSING,
                                     _("This URL carries no state, so Keyhold cannot tell which "
                                       "authorization it completes. If it comes from a Seller "
                                       "Center App Store installation, confirm that to complete "
                                       "it without state")));
          return;
        }
      if (parsed->app_key == NULL)
        {
          fail (g_steal_pointer (&task),
                g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                     _("This URL has neither state nor app_key: copy the whole "
                                       "address the browser showed after authorizing")));
          return;
        }
    }

  run = g_new0 (Run, 1);
  run->flags = flags;
  run->callback = g_steal_pointer (&parsed);
  g_task_set_task_data (task, run, (GDestroyNotify) run_free);

  lookup = g_new0 (Lookup, 1);
  lookup->state = g_strdup (run->callback->state);
  lookup->app_key = g_strdup (run->callback->app_key);

  lookup_task = g_task_new (self->store, cancellable, lookup_cb, g_steal_pointer (&task));
  g_task_set_source_tag (lookup_task, kh_flow_complete_async);
  g_task_set_task_data (lookup_task, lookup, (GDestroyNotify) lookup_free);
  g_task_run_in_thread (lookup_task, lookup_thread);
}

KhGrant *
kh_flow_complete_finish (KhFlow        *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- Quick Connect ----------------------------------------------------------------------- */

static void
quick_lookup_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  KhStore *store = source_object;
  Lookup *lookup = task_data;

  lookup->app = kh_store_find_app_by_key (store, lookup->app_key);
  g_task_return_boolean (task, TRUE);
}

static void
quick_lookup_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  Lookup *lookup = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      fail (task, error);
      return;
    }

  if (lookup->app != NULL)
    {
      if (kh_app_profile_get_family (lookup->app) != KH_FAMILY_SHOP)
        {
          fail (task, g_error_new (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                   _("The app key “%s” belongs to the TikTok for Business app "
                                     "“%s”; Quick Connect is for TikTok Shop apps"),
                                   run->callback->app_key,
                                   kh_app_profile_get_name (lookup->app)));
          return;
        }
      run->app = g_object_ref (lookup->app);
    }
  else
    {
      g_autofree char *name = g_strdup_printf (_("Shop app %s"), run->callback->app_key);

      run->app = kh_app_profile_new (name, KH_FAMILY_SHOP, run->callback->app_key);
      if (!kh_app_profile_validate (run->app, &error))
        {
          fail (task, error);
          return;
        }
    }

  /* The secret the user typed is the one to use, and it replaces the stored one once the
   * exchange proves it right. */
  run->save_app = TRUE;
  accept_callback (task);
}

void
kh_flow_quick_connect_async (KhFlow              *self,
                             const char          *app_secret,
                             const char          *pasted,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) lookup_task = NULL;
  g_autoptr(KhCallback) parsed = NULL;
  g_autofree char *secret = NULL;
  Lookup *lookup;
  Run *run;
  GError *error = NULL;

  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (app_secret != NULL);
  g_return_if_fail (pasted != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_flow_quick_connect_async);
  kh_flow_reset (self);

  secret = g_strstrip (g_strdup (app_secret));
  if (*secret == '\0')
    {
      fail (g_steal_pointer (&task),
            g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                 _("The App Secret is empty: copy it from Partner Center > App "
                                   "Management > your app > Basic Information")));
      return;
    }

  parsed = kh_callback_parse (pasted, &error);
  if (parsed == NULL)
    {
      fail (g_steal_pointer (&task), error);
      return;
    }

  if (parsed->app_key == NULL)
    {
      fail (g_steal_pointer (&task),
            g_error_new_literal (KH_ERROR, KH_ERROR_INVALID_INPUT,
                                 _("This URL has no app_key: Quick Connect needs the address "
                                   "TikTok Shop redirected to after authorizing, which carries "
                                   "app_key and code")));
      return;
    }

  run = g_new0 (Run, 1);
  run->callback = g_steal_pointer (&parsed);
  run->app_secret = g_steal_pointer (&secret);
  run->type = KH_ACCOUNT_SELLER;
  run->role = kh_provider_get_role (kh_provider_get (KH_ACCOUNT_SELLER), NULL);
  run->without_state = run->callback->state == NULL;
  g_task_set_task_data (task, run, (GDestroyNotify) run_free);

  lookup = g_new0 (Lookup, 1);
  lookup->app_key = g_strdup (run->callback->app_key);

  lookup_task = g_task_new (self->store, cancellable, quick_lookup_cb, g_steal_pointer (&task));
  g_task_set_source_tag (lookup_task, kh_flow_quick_connect_async);
  g_task_set_task_data (lookup_task, lookup, (GDestroyNotify) lookup_free);
  g_task_run_in_thread (lookup_task, quick_lookup_thread);
}

KhGrant *
kh_flow_quick_connect_finish (KhFlow        *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
