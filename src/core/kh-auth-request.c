/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-auth-request.c: one authorization in progress. It draws the id and the secret state, builds
 * the authorization URL from the provider table (or completes a link pasted from TikTok's
 * portals), refuses to produce a URL that is not safe to launch, and serialises itself twice:
 * in full for the keyring and without secrets for the index. */
#define G_LOG_DOMAIN "kh-auth-request"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-auth-request.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-util.h"

#include <string.h>

#define REQUEST_ID_BYTES    8
#define STATE_BYTES         32
/* 128 bits in unpadded base64url: the least a state read back from storage may carry. */
#define STATE_MIN_LEN       22
#define STATE_MAX_LEN       512
#define CLIENT_MAX_CHARS    128
#define URL_MAX_LEN         8192
#define DEFAULT_TT_SCOPE    "user.info.basic"

struct _KhAuthRequest
{
  GObject               parent_instance;

  char                 *id;
  const KhProvider     *provider;
  const KhProviderRole *role;
  char                 *app_name;
  char                 *app_key;
  KhRegion              region;
  char                 *client_label;   /* NULL when none */
  char                 *redirect_uri;
  gint64                created_at;
  gint64                expires_at;

  /* Secrets: NULL when the request was read back from its public form. */
  char                 *state;
  char                 *url;
};

G_DEFINE_FINAL_TYPE (KhAuthRequest, kh_auth_request, G_TYPE_OBJECT)

/* Overwrites a secret before its memory goes back to the allocator. */
static void
clear_secret (char **secret)
{
  if (*secret == NULL)
    return;

  memset (*secret, 0, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

static void
kh_auth_request_finalize (GObject *object)
{
  KhAuthRequest *self = (KhAuthRequest *) object;

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->app_name, g_free);
  g_clear_pointer (&self->app_key, g_free);
  g_clear_pointer (&self->client_label, g_free);
  g_clear_pointer (&self->redirect_uri, g_free);
  clear_secret (&self->state);
  clear_secret (&self->url);

  G_OBJECT_CLASS (kh_auth_request_parent_class)->finalize (object);
}

static void
kh_auth_request_class_init (KhAuthRequestClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kh_auth_request_finalize;
}

static void
kh_auth_request_init (KhAuthRequest *self)
{
}

/* ---- helpers ---- */

/* The provider's own lookup would do, but an explicit loop makes "a role id given to a
 * single-role type" an error instead of depending on how NULL ids compare. */
static const KhProviderRole *
find_role (const KhProvider *provider,
           const char       *role_id)
{
  if (provider->n_roles == 0)
    return NULL;

  if (role_id == NULL)
    return &provider->roles[0];

  for (guint i = 0; i < provider->n_roles; i++)
    {
      if (provider->roles[i].id != NULL && strcmp (provider->roles[i].id, role_id) == 0)
        return &provider->roles[i];
    }

  return NULL;
}

static void
set_unknown_role_error (const KhProvider  *provider,
                        const char        *role_id,
                        GError           **error)
{
  g_autoptr(GString) ids = g_string_new (NULL);
  g_autofree char *quoted = g_strescape (role_id != NULL ? role_id : "", NULL);

  for (guint i = 0; i < provider->n_roles; i++)
    {
      if (provider->roles[i].id == NULL)
        continue;
      if (ids->len > 0)
        g_string_append (ids, ", ");
      g_string_append (ids, provider->roles[i].id);
    }

  if (ids->len == 0)
    g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                 _("The %s tab has no role “%s”"), _(provider->title), quoted);
  else
    g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                 _("The %s tab has no role “%s”; use one of: %s"),
                 _(provider->title), quoted, ids->str);
}

static gboolean
check_client_label (const char  *label,
                    GError     **error)
{
  if (!g_utf8_validate (label, -1, NULL))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Client label is not valid UTF-8 text"));
      return FALSE;
    }

  if (g_utf8_strlen (label, -1) > CLIENT_MAX_CHARS)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Client label must be at most %d characters long"), CLIENT_MAX_CHARS);
      return FALSE;
    }

  for (const char *p = label; *p != '\0'; p = g_utf8_next_char (p))
    {
      GUnicodeType t = g_unichar_type (g_utf8_get_char (p));

      if (t == G_UNICODE_CONTROL ||
          t == G_UNICODE_LINE_SEPARATOR ||
          t == G_UNICODE_PARAGRAPH_SEPARATOR)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Client label must not contain control characters or line "
                                 "breaks"));
          return FALSE;
        }
    }

  return TRUE;
}

static const char *
link_id_param_name (KhLinkIdParam param)
{
  switch (param)
    {
    case KH_LINK_ID_SERVICE_ID:
      return "service_id";
    case KH_LINK_ID_APP_KEY:
      return "app_key";
    case KH_LINK_ID_APP_ID:
      return "app_id";
    case KH_LINK_ID_CLIENT_KEY:
      return "client_key";
    default:
      g_assert_not_reached ();
    }

  return NULL;
}

/* Appends name=value to an encoded query. Only unreserved characters stay literal, so a redirect
 * URI with its own query or a state can never split into extra parameters. */
static void
append_param (GString    *query,
              const char *name,
              const char *value)
{
  g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);

  if (query->len > 0 && query->str[query->len - 1] != '&')
    g_string_append_c (query, '&');
  g_string_append_printf (query, "%s=%s", name, escaped);
}

static char *
join_scopes (KhAppProfile *app)
{
  const char * const *scopes = kh_app_profile_get_scopes (app);

  if (scopes[0] == NULL)
    return g_strdup (DEFAULT_TT_SCOPE);

  return g_strjoinv (",", (char **) scopes);
}

/* The link built from the provider table: host by region and service id, then the id parameter,
 * then the rest in a fixed order. */
static char *
build_provider_url (const KhProvider      *provider,
                    const KhProviderRole  *role,
                    KhAppProfile          *app,
                    KhRegion               region,
                    const char            *state,
                    gboolean               force_consent,
                    GError               **error)
{
  const char *service_id = kh_app_profile_get_service_id (app);
  g_autoptr(GString) query = g_string_new (NULL);
  const char *base;
  const char *id_value;
  KhLinkIdParam id_param;

  if (role->id_param == KH_LINK_ID_SERVICE_ID && service_id == NULL)
    {
      /* Seller apps without a service id still work through the legacy app_key link. */
      if (role->url_legacy == NULL || role->legacy_id_param == KH_LINK_ID_SERVICE_ID)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("App “%s” has no service ID; the %s tab needs one (Partner Center, "
                         "App details)"),
                       kh_app_profile_get_name (app), _(provider->title));
          return NULL;
        }
      base = role->url_legacy;
      id_param = role->legacy_id_param;
    }
  else
    {
      base = (region == KH_REGION_US && role->url_us != NULL) ? role->url_us : role->url_row;
      id_param = role->id_param;
    }

  id_value = id_param == KH_LINK_ID_SERVICE_ID ? service_id : kh_app_profile_get_app_key (app);
  append_param (query, link_id_param_name (id_param), id_value);
  append_param (query, "state", state);

  if (role->sends_redirect_uri)
    append_param (query, "redirect_uri", kh_app_profile_get_redirect_uri (app));

  if (role->sends_scope)
    {
      g_autofree char *scope = join_scopes (app);

      append_param (query, "scope", scope);
      append_param (query, "response_type", "code");
    }

  if (force_consent)
    append_param (query, "disable_auto_auth", "1");

  return g_strconcat (base, strchr (base, '?') != NULL ? "&" : "?", query->str, NULL);
}

/* A link copied from Partner Center or the Business portal: everything TikTok put in it stays
 * as it is; only what Keyhold must own is added. */
static char *
build_link_url (const KhProvider  *provider,
                KhAppProfile      *app,
                const char        *state,
                gboolean           force_consent,
                GError           **error)
{
  const char *link = kh_app_profile_get_auth_link (app);
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GString) query = NULL;
  g_autofree char *existing_state = NULL;
  g_autofree char *existing_redirect = NULL;
  g_autofree char *existing_consent = NULL;

  uri = g_uri_parse (link, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link is not a valid absolute URL"));
      return NULL;
    }

  existing_state = kh_app_profile_dup_auth_link_param (app, "state");
  if (existing_state != NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link already carries a “state” parameter; copy the "
                             "link without it"));
      return NULL;
    }

  query = g_string_new (g_uri_get_query (uri));
  append_param (query, "state", state);

  existing_redirect = kh_app_profile_dup_auth_link_param (app, "redirect_uri");
  if (provider->family == KH_FAMILY_BUSINESS && existing_redirect == NULL)
    append_param (query, "redirect_uri", kh_app_profile_get_redirect_uri (app));

  existing_consent = kh_app_profile_dup_auth_link_param (app, "disable_auto_auth");
  if (force_consent && existing_consent == NULL)
    append_param (query, "disable_auto_auth", "1");

  return g_uri_join (G_URI_FLAGS_ENCODED,
                     g_uri_get_scheme (uri),
                     g_uri_get_userinfo (uri),
                     g_uri_get_host (uri),
                     g_uri_get_port (uri),
                     g_uri_get_path (uri),
                     query->str,
                     g_uri_get_fragment (uri));
}

/* ---- construction ---- */

KhAuthRequest *
kh_auth_request_new (KhAccountType   type,
                     const char     *role,
                     KhAppProfile   *app,
                     KhRegion        region,
                     const char     *client_label,
                     gboolean        force_consent,
                     GError        **error)
{
  g_autoptr(KhAuthRequest) self = NULL;
  g_autofree char *raw_url = NULL;
  g_autofree char *url = NULL;
  const KhProvider *provider;
  const KhProviderRole *provider_role;
  const char *auth_link;

  g_return_val_if_fail ((int) type >= 0 && type < KH_N_ACCOUNT_TYPES, NULL);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), NULL);
  g_return_val_if_fail (region == KH_REGION_ROW || region == KH_REGION_US, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  provider = kh_provider_get (type);
  g_return_val_if_fail (provider != NULL, NULL);

  provider_role = find_role (provider, role);
  if (provider_role == NULL)
    {
      set_unknown_role_error (provider, role, error);
      return NULL;
    }

  if (kh_app_profile_get_family (app) != provider->family)
    {
      if (kh_app_profile_get_family (app) == KH_FAMILY_BUSINESS)
        g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                     _("App “%s” is a TikTok for Business app; the %s tab needs a TikTok Shop "
                       "app"),
                     kh_app_profile_get_name (app), _(provider->title));
      else
        g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                     _("App “%s” is a TikTok Shop app; the %s tab needs a TikTok for Business "
                       "app"),
                     kh_app_profile_get_name (app), _(provider->title));
      return NULL;
    }

  /* disable_auto_auth is a parameter of the account-holder (tt_user) link only; elsewhere TikTok
   * would ignore it and the user would wrongly believe the consent screen comes back. */
  if (force_consent && provider_role->token_kind != KH_TOKEN_KIND_TT_USER)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Forcing the consent screen works only for TikTok account links, not for "
                     "the %s tab"),
                   _(provider->title));
      return NULL;
    }

  if (client_label != NULL && *client_label == '\0')
    client_label = NULL;
  if (client_label != NULL && !check_client_label (client_label, error))
    return NULL;

  /* A pasted link on a foreign host is an unsafe URL before it is a bad profile field. */
  auth_link = kh_app_profile_get_auth_link (app);
  if (auth_link != NULL && !kh_provider_check_launch_url (auth_link, error))
    return NULL;

  if (!kh_app_profile_validate (app, error))
    return NULL;

  self = g_object_new (KH_TYPE_AUTH_REQUEST, NULL);
  self->id = kh_random_hex (REQUEST_ID_BYTES);
  self->state = kh_random_token (STATE_BYTES);
  self->provider = provider;
  self->role = provider_role;
  self->app_name = g_strdup (kh_app_profile_get_name (app));
  self->app_key = g_strdup (kh_app_profile_get_app_key (app));
  self->region = region;
  self->client_label = g_strdup (client_label);
  self->redirect_uri = g_strdup (kh_app_profile_get_redirect_uri (app));
  self->created_at = kh_now ();
  self->expires_at = self->created_at + provider_role->code_lifetime;

  if (auth_link != NULL)
    raw_url = build_link_url (provider, app, self->state, force_consent, error);
  else
    raw_url = build_provider_url (provider, provider_role, app, region, self->state,
                                  force_consent, error);
  if (raw_url == NULL)
    return NULL;

  url = kh_origin_map_rewrite (raw_url);
  clear_secret (&raw_url);
  if (url == NULL || !kh_provider_check_launch_url (url, error))
    {
      if (url == NULL)
        g_set_error_literal (error, KH_ERROR, KH_ERROR_UNSAFE_URL,
                             _("The authorization URL could not be rewritten for the test "
                               "endpoints"));
      clear_secret (&url);
      return NULL;
    }

  self->url = g_steal_pointer (&url);

  return g_steal_pointer (&self);
}

/* ---- getters ---- */

const char *
kh_auth_request_get_id (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->id;
}

KhAccountType
kh_auth_request_get_account_type (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), KH_ACCOUNT_SELLER);

  return self->provider->type;
}

const char *
kh_auth_request_get_role (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->role->id;
}

const KhProviderRole *
kh_auth_request_get_provider_role (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->role;
}

const char *
kh_auth_request_get_app_name (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->app_name;
}

const char *
kh_auth_request_get_app_key (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->app_key;
}

KhRegion
kh_auth_request_get_region (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), KH_REGION_ROW);

  return self->region;
}

const char *
kh_auth_request_get_client_label (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->client_label;
}

const char *
kh_auth_request_get_url (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->url;
}

const char *
kh_auth_request_get_redirect_uri (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->redirect_uri;
}

gint64
kh_auth_request_get_created_at (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), 0);

  return self->created_at;
}

gint64
kh_auth_request_get_expires_at (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), 0);

  return self->expires_at;
}

gboolean
kh_auth_request_is_expired (KhAuthRequest *self,
                            gint64         now)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), TRUE);

  return now >= self->expires_at;
}

const char *
kh_auth_request_get_state (KhAuthRequest *self)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  return self->state;
}

gboolean
kh_auth_request_check_state (KhAuthRequest *self,
                             const char    *state)
{
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), FALSE);

  /* A request read back without its state (public form) matches nothing, and neither does a
   * callback without one: "no state" must never equal "no state". */
  if (self->state == NULL || *self->state == '\0' || state == NULL || *state == '\0')
    return FALSE;

  return kh_const_time_equal (self->state, state);
}

/* ---- JSON ---- */

static JsonObject *
build_public_object (KhAuthRequest *self)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autofree char *created = kh_iso8601_from_unix (self->created_at);
  g_autofree char *expires = kh_iso8601_from_unix (self->expires_at);

  json_object_set_string_member (object, "id", self->id);
  json_object_set_string_member (object, "type", self->provider->id);
  if (self->role->id != NULL)
    json_object_set_string_member (object, "role", self->role->id);
  else
    json_object_set_null_member (object, "role");
  json_object_set_string_member (object, "app", self->app_name);
  json_object_set_string_member (object, "app_key", self->app_key);
  json_object_set_string_member (object, "region", kh_region_to_string (self->region));
  if (self->client_label != NULL)
    json_object_set_string_member (object, "client", self->client_label);
  else
    json_object_set_null_member (object, "client");
  json_object_set_string_member (object, "created_at", created);
  json_object_set_string_member (object, "expires_at", expires);
  json_object_set_string_member (object, "redirect_uri", self->redirect_uri);

  return g_steal_pointer (&object);
}

JsonNode *
kh_auth_request_to_json (KhAuthRequest *self)
{
  g_autoptr(JsonObject) object = NULL;

  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  object = build_public_object (self);
  if (self->state != NULL)
    json_object_set_string_member (object, "state", self->state);
  if (self->url != NULL)
    json_object_set_string_member (object, "url", self->url);

  return json_node_init_object (json_node_alloc (), object);
}

JsonNode *
kh_auth_request_to_public_json (KhAuthRequest *self)
{
  g_autoptr(JsonObject) object = NULL;

  g_return_val_if_fail (KH_IS_AUTH_REQUEST (self), NULL);

  object = build_public_object (self);
  return json_node_init_object (json_node_alloc (), object);
}

static gboolean
member_present (JsonObject *object,
                const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && !JSON_NODE_HOLDS_NULL (node);
}

static gboolean
read_string (JsonObject   *object,
             const char   *member,
             gboolean      required,
             const char  **out,
             GError      **error)
{
  *out = NULL;

  if (!member_present (object, member))
    {
      if (!required)
        return TRUE;

      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Pending request data lacks the “%s” member"), member);
      return FALSE;
    }

  *out = kh_json_get_string (object, member);
  if (*out == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Pending request member “%s” is not a string"), member);
      return FALSE;
    }

  return TRUE;
}

/* Times are ISO 8601 strings; Unix seconds are accepted too so hand-written data loads. */
static gboolean
read_time (JsonObject  *object,
           const char  *member,
           gint64      *out,
           GError     **error)
{
  const char *text;

  if (!member_present (object, member))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Pending request data lacks the “%s” member"), member);
      return FALSE;
    }

  text = kh_json_get_string (object, member);
  if (text != NULL ? kh_unix_from_iso8601 (text, out) : kh_json_get_int (object, member, out))
    {
      if (*out > 0)
        return TRUE;
    }

  g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
               _("Pending request member “%s” is not a valid time"), member);
  return FALSE;
}

static gboolean
is_lower_hex (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
        return FALSE;
    }

  return TRUE;
}

static gboolean
is_base64url (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
        return FALSE;
    }

  return TRUE;
}

static gboolean
check_stored_url (const char  *url,
                  GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;

  /* The launch check itself happens when the URL is opened: the origin map of this process
   * may differ from the one of the process that stored it. */
  if (strlen (url) <= URL_MAX_LEN)
    uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  if (uri != NULL)
    {
      scheme = g_uri_get_scheme (uri);
      if ((g_strcmp0 (scheme, "https") == 0 || g_strcmp0 (scheme, "http") == 0) &&
          g_uri_get_host (uri) != NULL && *g_uri_get_host (uri) != '\0')
        return TRUE;
    }

  g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("Pending request member “url” is not a valid http(s) URL"));
  return FALSE;
}

KhAuthRequest *
kh_auth_request_new_from_json (JsonNode  *node,
                               GError   **error)
{
  JsonObject *object;

  g_return_val_if_fail (node != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  object = kh_json_node_object (node);
  if (object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request data is not a JSON object"));
      return NULL;
    }
  return kh_auth_request_new_from_json_object (object, error);
}

/* Reads object and takes no reference to it nor to anything in it: the store's index shares
 * its objects between threads, and json-glib's reference counts are not atomic. */
KhAuthRequest *
kh_auth_request_new_from_json_object (JsonObject  *object,
                                      GError     **error)
{
  g_autoptr(KhAuthRequest) self = NULL;
  const KhProvider *provider;
  const KhProviderRole *role;
  const char *id;
  const char *type;
  const char *role_id;
  const char *app;
  const char *app_key;
  const char *region;
  const char *client;
  const char *redirect_uri;
  const char *state;
  const char *url;
  KhRegion region_value;
  gint64 created_at;
  gint64 expires_at;
  gboolean full_form;

  g_return_val_if_fail (object != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!read_string (object, "id", TRUE, &id, error) ||
      !read_string (object, "type", TRUE, &type, error) ||
      !read_string (object, "role", FALSE, &role_id, error) ||
      !read_string (object, "app", TRUE, &app, error) ||
      !read_string (object, "app_key", TRUE, &app_key, error) ||
      !read_string (object, "region", TRUE, &region, error) ||
      !read_string (object, "client", FALSE, &client, error) ||
      !read_string (object, "redirect_uri", TRUE, &redirect_uri, error) ||
      !read_string (object, "state", FALSE, &state, error) ||
      !read_string (object, "url", FALSE, &url, error) ||
      !read_time (object, "created_at", &created_at, error) ||
      !read_time (object, "expires_at", &expires_at, error))
    return NULL;

  if (strlen (id) < 8 || strlen (id) > 64 || !is_lower_hex (id))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request member “id” is not a request id"));
      return NULL;
    }

  provider = kh_provider_from_id (type);
  if (provider == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request member “type” is not a known account type"));
      return NULL;
    }

  role = find_role (provider, role_id);
  if (role == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request member “role” is not a role of its account type"));
      return NULL;
    }

  if (!kh_region_from_string (region, &region_value))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request member “region” must be “us” or “row”"));
      return NULL;
    }

  if (!kh_app_profile_check_name (app, error) ||
      !kh_app_profile_check_app_key (provider->family, app_key, error) ||
      !kh_app_profile_check_redirect_uri (redirect_uri, error) ||
      (client != NULL && !check_client_label (client, error)))
    {
      g_prefix_error (error, _("Pending request: "));
      return NULL;
    }

  if (expires_at <= created_at)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request member “expires_at” is not after “created_at”"));
      return NULL;
    }

  /* The full form (keyring) has both secrets, the public form (index) neither. Half of them
   * means damaged data. */
  full_form = state != NULL || url != NULL;
  if (full_form && (state == NULL || url == NULL))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Pending request data lacks the “%s” member"),
                   state == NULL ? "state" : "url");
      return NULL;
    }

  if (state != NULL &&
      (strlen (state) < STATE_MIN_LEN || strlen (state) > STATE_MAX_LEN || !is_base64url (state)))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Pending request member “state” is not a valid state"));
      return NULL;
    }

  if (url != NULL && !check_stored_url (url, error))
    return NULL;

  self = g_object_new (KH_TYPE_AUTH_REQUEST, NULL);
  self->id = g_strdup (id);
  self->provider = provider;
  self->role = role;
  self->app_name = g_strdup (app);
  self->app_key = g_strdup (app_key);
  self->region = region_value;
  self->client_label = (client != NULL && *client != '\0') ? g_strdup (client) : NULL;
  self->redirect_uri = g_strdup (redirect_uri);
  self->created_at = created_at;
  self->expires_at = expires_at;
  self->state = g_strdup (state);
  self->url = g_strdup (url);

  return g_steal_pointer (&self);
}
