/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-enrich.c: the step after the exchange: describing the fresh grant (a seller's shops,
 * an advertiser's advertisers, a TikTok account's name) and warning about a wrong account,
 * region or missing scopes. Best effort: a failure here becomes a warning. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"


/* ---- enrich ------------------------------------------------------------------------------ */

static void
enrich_done (GTask *task)
{
  kh_flow_store_grant (task);
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
      kh_flow_fail (task, g_error_copy (error));
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

void
kh_flow_enrich (GTask *task)
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
