/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox-consent.c: the consent pages of the six account types (Shop seller ROW/US,
 * creator, partner, advertiser, TikTok account): the page itself, the scopes an app may be
 * granted, the approve or deny decision (a form post or /_sandbox/consent) and the redirect
 * back to the app with a single-use code. */

#define G_LOG_DOMAIN "kh-sandbox-consent"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox-private.h"

#include <string.h>

/* ---- consent ---------------------------------------------------------------------------- */

static const char *
flow_label (Flow flow)
{
  switch (flow)
    {
    case FLOW_SELLER:
      return _("TikTok Shop seller account");
    case FLOW_CREATOR:
      return _("TikTok Shop creator account");
    case FLOW_PARTNER:
      return _("TikTok Shop partner account");
    case FLOW_ADVERTISER:
      return _("TikTok for Business advertiser account");
    case FLOW_TT_USER:
      return _("TikTok account");
    default:
      g_assert_not_reached ();
    }
}

static gboolean
scope_fits_flow (Flow        flow,
                 const char *scope)
{
  switch (flow)
    {
    case FLOW_SELLER:
      return !g_str_has_prefix (scope, "creator") && !g_str_has_prefix (scope, "partner");
    case FLOW_CREATOR:
      return g_str_has_prefix (scope, "creator");
    case FLOW_PARTNER:
      return g_str_has_prefix (scope, "partner");
    case FLOW_ADVERTISER:
      return sb_is_decimal (scope);
    case FLOW_TT_USER:
      return !sb_is_decimal (scope);
    default:
      g_assert_not_reached ();
    }
}

/* What a consent grants: the scopes the link asks for (TikTok account links), else the app's
 * scopes that fit the flow, else a default; grant_scopes (tests of partial authorization)
 * narrows that down. */
static char **
consent_scopes (SbApp      *app,
                Flow        flow,
                const char *link_scope,
                const char *grant_scopes)
{
  static const char * const seller_default[] = { "seller.authorization.info", NULL };
  static const char * const creator_default[] = { "creator.affiliate.info", NULL };
  static const char * const partner_default[] = { "partner.tap.info", NULL };
  static const char * const advertiser_default[] = { "1", "2", "3", "4", NULL };
  static const char * const tt_default[] = {
    "user.info.basic", "user.info.username", "user.info.stats", "video.list", NULL,
  };
  const char * const *defaults = NULL;
  g_autoptr(GPtrArray) base = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) grant = NULL;
  GPtrArray *out = g_ptr_array_new ();

  if (flow == FLOW_TT_USER && !sb_is_empty (link_scope))
    {
      g_auto(GStrv) requested = sb_split_scopes (link_scope);

      for (guint i = 0; requested[i] != NULL; i++)
        g_ptr_array_add (base, g_strdup (requested[i]));
    }
  else if (app->scopes != NULL)
    {
      for (guint i = 0; app->scopes[i] != NULL; i++)
        if (scope_fits_flow (flow, app->scopes[i]))
          g_ptr_array_add (base, g_strdup (app->scopes[i]));
    }

  if (base->len == 0 && (app->scopes == NULL || flow == FLOW_ADVERTISER || flow == FLOW_TT_USER))
    {
      switch (flow)
        {
        case FLOW_SELLER:
          defaults = seller_default;
          break;
        case FLOW_CREATOR:
          defaults = creator_default;
          break;
        case FLOW_PARTNER:
          defaults = partner_default;
          break;
        case FLOW_ADVERTISER:
          defaults = advertiser_default;
          break;
        case FLOW_TT_USER:
          defaults = tt_default;
          break;
        default:
          g_assert_not_reached ();
        }
      for (guint i = 0; defaults[i] != NULL; i++)
        g_ptr_array_add (base, g_strdup (defaults[i]));
    }

  grant = grant_scopes != NULL ? sb_split_scopes (grant_scopes) : NULL;
  for (guint i = 0; i < base->len; i++)
    {
      const char *scope = g_ptr_array_index (base, i);

      if (grant == NULL || g_strv_contains ((const char * const *) grant, scope))
        g_ptr_array_add (out, g_strdup (scope));
    }

  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static void
append_param (GString    *url,
              gboolean   *first,
              const char *name,
              const char *value)
{
  g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);

  g_string_append_c (url, *first ? '?' : '&');
  *first = FALSE;
  g_string_append_printf (url, "%s=%s", name, escaped);
}

/* Ends a consent: creates the authorization and its code, or not, and redirects the browser to
 * the redirect URI with the parameters TikTok sends for that flow. */
static void
finish_consent (KhSandbox          *self,
                SoupServerMessage  *msg,
                SbApp              *app,
                Flow                flow,
                gboolean            us,
                const char         *redirect_uri,
                const char         *state,
                const char * const *scopes,
                gboolean            approve)
{
  const char *fragment = strchr (redirect_uri, '#');
  gsize base_len = fragment != NULL ? (gsize) (fragment - redirect_uri) : strlen (redirect_uri);
  g_autoptr(GString) url = g_string_new_len (redirect_uri, (gssize) base_len);
  gboolean first = memchr (redirect_uri, '?', base_len) == NULL;

  if (approve)
    {
      SbAuthorization *auth = sb_create_authorization (self, flow, app, us, redirect_uri, scopes);
      SbCode *code = sb_issue_code (self, auth);

      switch (flow)
        {
        case FLOW_SELLER:
        case FLOW_CREATOR:
        case FLOW_PARTNER:
          append_param (url, &first, "code", code->value);
          if (state != NULL)
            append_param (url, &first, "state", state);
          append_param (url, &first, "app_key", app->app_key);
          append_param (url, &first, "locale", "en-GB");
          append_param (url, &first, "shop_region", us ? "US" : "GB");
          break;
        case FLOW_ADVERTISER:
          append_param (url, &first, "auth_code", code->value);
          append_param (url, &first, "code", code->value);
          if (state != NULL)
            append_param (url, &first, "state", state);
          break;
        case FLOW_TT_USER:
          {
            g_autofree char *joined = g_strjoinv (",", (char **) scopes);

            append_param (url, &first, "code", code->value);
            if (state != NULL)
              append_param (url, &first, "state", state);
            append_param (url, &first, "scopes", joined);
          }
          break;
        default:
          g_assert_not_reached ();
        }
    }
  else if (sb_is_shop_flow (flow))
    {
      append_param (url, &first, "error", "access_denied");
      append_param (url, &first, "code", "null");
      if (state != NULL)
        append_param (url, &first, "state", state);
    }
  else
    {
      append_param (url, &first, "error", "access_denied");
      append_param (url, &first, "error_description", "The user denied the authorization");
      if (state != NULL)
        append_param (url, &first, "state", state);
    }

  if (fragment != NULL)
    g_string_append (url, fragment);

  sb_set_common_headers (msg);
  soup_server_message_set_redirect (msg, SOUP_STATUS_FOUND, url->str);
}

static void
prune_consents (KhSandbox *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = sb_now (self);

  g_hash_table_iter_init (&iter, self->consents);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((SbConsent *) value)->expires_at <= now)
      g_hash_table_iter_remove (&iter);
}

static void
respond_consent_page (SoupServerMessage *msg,
                      SbConsent         *consent)
{
  g_autofree char *app = g_markup_escape_text (consent->app_key, -1);
  g_autofree char *id = g_markup_escape_text (consent->id, -1);
  g_autofree char *label = g_markup_escape_text (flow_label (consent->flow), -1);
  g_autofree char *title = g_strdup_printf (_("Authorize %s"), consent->app_key);
  g_autofree char *intro = NULL;
  g_autofree char *body = NULL;
  g_autoptr(GString) items = g_string_new (NULL);

  for (guint i = 0; consent->scopes[i] != NULL; i++)
    {
      g_autofree char *scope = g_markup_escape_text (consent->scopes[i], -1);

      g_string_append_printf (items, "<li>%s</li>", scope);
    }

  intro = g_strdup_printf (_("The app <strong id=\"app\">%s</strong> asks to connect to your "
                             "<span id=\"flow\">%s</span>. This is keyhold-sandbox: nothing "
                             "leaves this computer."), app, label);
  body = g_strdup_printf ("<p>%s</p>\n<ul id=\"scopes\">%s</ul>\n"
                          "<form method=\"post\" action=\"/_sandbox/consent\">\n"
                          "<input type=\"hidden\" name=\"consent\" value=\"%s\">\n"
                          "<button type=\"submit\" name=\"decision\" value=\"approve\" "
                          "id=\"approve\">%s</button>\n"
                          "<button type=\"submit\" name=\"decision\" value=\"deny\" "
                          "id=\"deny\">%s</button>\n</form>",
                          intro, items->str, id, _("Approve"), _("Deny"));
  sb_respond_html (msg, SOUP_STATUS_OK, title, body);
}

void
sb_handle_authorize (Req *req)
{
  KhSandbox *self = req->self;
  Flow flow = req->route->flow;
  gboolean us = req->route->us;
  const char *state = sb_qget (req, "state");
  const char *auto_mode = sb_qget (req, "auto") != NULL ? sb_qget (req, "auto")
                                                        : self->auto_consent;
  const char *link_redirect = sb_qget (req, "redirect_uri");
  const char *redirect_uri;
  SbApp *app = NULL;
  g_auto(GStrv) scopes = NULL;
  SbConsent *consent;

  sb_note_secret (self, state, FALSE);

  switch (flow)
    {
    case FLOW_SELLER:
    case FLOW_PARTNER:
      app = sb_find_shop_app_by_service_id (self, sb_qget (req, "service_id"));
      if (app == NULL)
        app = sb_find_app (self, "shop", sb_qget (req, "app_key"));
      break;
    case FLOW_CREATOR:
      app = sb_find_app (self, "shop", sb_qget (req, "app_key"));
      break;
    case FLOW_ADVERTISER:
      app = sb_find_app (self, "business", sb_qget (req, "app_id"));
      break;
    case FLOW_TT_USER:
      app = sb_find_app (self, "business", sb_qget (req, "client_key"));
      break;
    default:
      g_assert_not_reached ();
    }

  if (app == NULL)
    {
      sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                             _("This link names no app the sandbox knows. Register the app with "
                               "POST /_sandbox/apps first."));
      return;
    }

  /* A plain origin map cannot tell seller from partner links: the app's category does. */
  if (req->host == NULL && flow == FLOW_SELLER && g_strcmp0 (app->category, "partner") == 0)
    flow = FLOW_PARTNER;

  if (flow == FLOW_CREATOR && sb_is_empty (state))
    {
      sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                             _("The state parameter is required for creator authorization."));
      return;
    }

  if (flow == FLOW_TT_USER && g_strcmp0 (sb_qget (req, "response_type"), "code") != 0)
    {
      sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                             _("response_type must be \"code\"."));
      return;
    }

  if (sb_is_shop_flow (flow))
    {
      if (app->redirect_uri == NULL)
        {
          sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                                 _("The app has no registered redirect URL."));
          return;
        }
      redirect_uri = app->redirect_uri;
    }
  else if (app->redirect_uri != NULL)
    {
      if (link_redirect != NULL && strcmp (link_redirect, app->redirect_uri) != 0)
        {
          sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                                 _("redirect_uri does not match the app's registered redirect "
                                   "URL."));
          return;
        }
      redirect_uri = app->redirect_uri;
    }
  else
    {
      if (!sb_is_valid_redirect_uri (link_redirect))
        {
          sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                                 _("The link has no valid redirect_uri."));
          return;
        }
      redirect_uri = link_redirect;
    }

  scopes = consent_scopes (app, flow, sb_qget (req, "scope"), sb_qget (req, "grant_scopes"));

  if (auto_mode != NULL)
    {
      if (g_strcmp0 (auto_mode, "approve") != 0 && g_strcmp0 (auto_mode, "deny") != 0)
        {
          sb_respond_error_page (req->msg, SOUP_STATUS_BAD_REQUEST,
                                 _("auto must be \"approve\" or \"deny\"."));
          return;
        }
      finish_consent (self, req->msg, app, flow, us, redirect_uri, state,
                      (const char * const *) scopes, g_str_equal (auto_mode, "approve"));
      return;
    }

  prune_consents (self);
  if (g_hash_table_size (self->consents) >= MAX_CONSENTS)
    {
      sb_respond_error_page (req->msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                             _("Too many consent pages are open; try again later."));
      return;
    }

  consent = g_new0 (SbConsent, 1);
  consent->id = sb_random_string (self, ALNUM, 32);
  consent->flow = flow;
  consent->us = us;
  consent->app_key = g_strdup (app->app_key);
  consent->redirect_uri = g_strdup (redirect_uri);
  consent->state = g_strdup (state);
  consent->scopes = g_steal_pointer (&scopes);
  consent->expires_at = sb_now (self) + CONSENT_TTL;
  g_hash_table_replace (self->consents, consent->id, consent);

  respond_consent_page (req->msg, consent);
}

/* The Approve / Deny form of the consent page (POST form, or GET with the same fields). */
void
sb_handle_consent_decision (KhSandbox         *self,
                            SoupServerMessage *msg,
                            GHashTable        *query,
                            GBytes            *body)
{
  g_autoptr(GHashTable) form = NULL;
  GHashTable *params = query;
  const char *id = NULL;
  const char *decision = NULL;
  SbConsent *consent = NULL;
  SbApp *app;

  if (g_strcmp0 (soup_server_message_get_method (msg), SOUP_METHOD_POST) == 0)
    {
      gsize size = 0;
      const char *data = body != NULL ? g_bytes_get_data (body, &size) : NULL;
      g_autofree char *text = g_strndup (data != NULL ? data : "", size);

      form = soup_form_decode (text);
      params = form;
    }
  else if (g_strcmp0 (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0)
    {
      sb_respond_plain (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Method not allowed\n");
      return;
    }

  if (params != NULL)
    {
      id = g_hash_table_lookup (params, "consent");
      decision = g_hash_table_lookup (params, "decision");
    }

  prune_consents (self);
  if (id != NULL)
    consent = g_hash_table_lookup (self->consents, id);

  if (consent == NULL)
    {
      sb_respond_error_page (msg, SOUP_STATUS_BAD_REQUEST,
                             _("This consent page has expired or was already used. Open the "
                               "authorization link again."));
      return;
    }

  if (g_strcmp0 (decision, "approve") != 0 && g_strcmp0 (decision, "deny") != 0)
    {
      sb_respond_error_page (msg, SOUP_STATUS_BAD_REQUEST, _("Choose Approve or Deny."));
      return;
    }

  app = sb_find_app (self, sb_is_shop_flow (consent->flow) ? "shop" : "business", consent->app_key);
  if (app == NULL)
    {
      g_hash_table_remove (self->consents, id);
      sb_respond_error_page (msg, SOUP_STATUS_BAD_REQUEST, _("The app is no longer registered."));
      return;
    }

  /* Single use: the consent is gone before the redirect is built. */
  g_hash_table_steal (self->consents, id);
  finish_consent (self, msg, app, consent->flow, consent->us, consent->redirect_uri,
                  consent->state, (const char * const *) consent->scopes,
                  g_str_equal (decision, "approve"));
  sb_consent_free (consent);
}

/* Every consent page of tiktok-api.md. Without a /_host prefix the first route of a path wins,
 * so seller ROW comes first for /open/authorize. */
const Route sb_consent_routes[] = {
  { "services.tiktokshop.com", "/open/authorize", "GET", sb_handle_authorize, FLOW_SELLER, FALSE },
  { "services.us.tiktokshop.com", "/open/authorize", "GET", sb_handle_authorize, FLOW_SELLER,
    TRUE },
  { "services.tiktokshops.us", "/open/authorize", "GET", sb_handle_authorize, FLOW_SELLER, TRUE },
  { "auth.tiktok-shops.com", "/oauth/authorize", "GET", sb_handle_authorize, FLOW_SELLER, FALSE },
  { "shop.tiktok.com", "/alliance/creator/auth", "GET", sb_handle_authorize, FLOW_CREATOR, FALSE },
  { "partner.tiktokshop.com", "/open/authorize", "GET", sb_handle_authorize, FLOW_PARTNER, FALSE },
  { "partner.us.tiktokshop.com", "/open/authorize", "GET", sb_handle_authorize, FLOW_PARTNER,
    TRUE },
  { "business-api.tiktok.com", "/portal/auth", "GET", sb_handle_authorize, FLOW_ADVERTISER, FALSE },
  { "ads.tiktok.com", "/marketing_api/auth", "GET", sb_handle_authorize, FLOW_ADVERTISER, FALSE },
  { "www.tiktok.com", "/v2/auth/authorize/", "GET", sb_handle_authorize, FLOW_TT_USER, FALSE },
  { "www.tiktok.com", "/v2/auth/authorize", "GET", sb_handle_authorize, FLOW_TT_USER, FALSE },
  { NULL, },
};
