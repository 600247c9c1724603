/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-app-profile.c: the non-secret description of a developer app registered with TikTok, its
 * validation (every field, with a message that names the field) and its JSON form for the index
 * and the keyring. The app secret is never part of this object or of its JSON. */
#define G_LOG_DOMAIN "kh-app-profile"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-app-profile.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"

#include <string.h>

/* Limits that keep a profile displayable and every link short enough for a browser. */
#define NAME_MAX_CHARS     64
#define APP_KEY_MAX_LEN    64
#define SERVICE_ID_MAX_LEN 32
#define SCOPE_MAX_LEN      128
#define URL_MAX_LEN        2048

struct _KhAppProfile
{
  GObject    parent_instance;

  char      *name;
  KhFamily   family;
  char      *app_key;
  char      *service_id;     /* NULL when the app has none */
  char      *redirect_uri;   /* never NULL */
  char      *auth_link;      /* NULL when the link is built from the provider table */
  char     **scopes;         /* never NULL */
};

G_DEFINE_FINAL_TYPE (KhAppProfile, kh_app_profile, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_FAMILY,
  PROP_APP_KEY,
  PROP_SERVICE_ID,
  PROP_REDIRECT_URI,
  PROP_AUTH_LINK,
  PROP_SCOPES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
kh_app_profile_finalize (GObject *object)
{
  KhAppProfile *self = (KhAppProfile *) object;

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->app_key, g_free);
  g_clear_pointer (&self->service_id, g_free);
  g_clear_pointer (&self->redirect_uri, g_free);
  g_clear_pointer (&self->auth_link, g_free);
  g_clear_pointer (&self->scopes, g_strfreev);

  G_OBJECT_CLASS (kh_app_profile_parent_class)->finalize (object);
}

static void
kh_app_profile_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  KhAppProfile *self = KH_APP_PROFILE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;

    case PROP_FAMILY:
      g_value_set_int (value, self->family);
      break;

    case PROP_APP_KEY:
      g_value_set_string (value, self->app_key);
      break;

    case PROP_SERVICE_ID:
      g_value_set_string (value, self->service_id);
      break;

    case PROP_REDIRECT_URI:
      g_value_set_string (value, self->redirect_uri);
      break;

    case PROP_AUTH_LINK:
      g_value_set_string (value, self->auth_link);
      break;

    case PROP_SCOPES:
      g_value_set_boxed (value, self->scopes);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_app_profile_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  KhAppProfile *self = KH_APP_PROFILE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_free (self->name);
      self->name = g_strdup (g_value_get_string (value) ? g_value_get_string (value) : "");
      break;

    case PROP_FAMILY:
      self->family = g_value_get_int (value);
      break;

    case PROP_APP_KEY:
      g_free (self->app_key);
      self->app_key = g_strdup (g_value_get_string (value) ? g_value_get_string (value) : "");
      break;

    case PROP_SERVICE_ID:
      kh_app_profile_set_service_id (self, g_value_get_string (value));
      break;

    case PROP_REDIRECT_URI:
      kh_app_profile_set_redirect_uri (self, g_value_get_string (value));
      break;

    case PROP_AUTH_LINK:
      kh_app_profile_set_auth_link (self, g_value_get_string (value));
      break;

    case PROP_SCOPES:
      kh_app_profile_set_scopes (self, g_value_get_boxed (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_app_profile_class_init (KhAppProfileClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kh_app_profile_finalize;
  object_class->get_property = kh_app_profile_get_property;
  object_class->set_property = kh_app_profile_set_property;

  /* The name is the profile's key in the store: renaming is remove + add, so it is fixed. */
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /* KhFamily has no registered enum type (kh-types.h is plain C), so it travels as an int. */
  properties[PROP_FAMILY] =
    g_param_spec_int ("family", NULL, NULL,
                      KH_FAMILY_SHOP, KH_FAMILY_BUSINESS, KH_FAMILY_SHOP,
                      (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                       G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  properties[PROP_APP_KEY] =
    g_param_spec_string ("app-key", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  properties[PROP_SERVICE_ID] =
    g_param_spec_string ("service-id", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  properties[PROP_REDIRECT_URI] =
    g_param_spec_string ("redirect-uri", NULL, NULL,
                         KH_DEFAULT_REDIRECT_URI,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  properties[PROP_AUTH_LINK] =
    g_param_spec_string ("auth-link", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  properties[PROP_SCOPES] =
    g_param_spec_boxed ("scopes", NULL, NULL,
                        G_TYPE_STRV,
                        (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_app_profile_init (KhAppProfile *self)
{
  self->name = g_strdup ("");
  self->app_key = g_strdup ("");
  self->redirect_uri = g_strdup (KH_DEFAULT_REDIRECT_URI);
  self->scopes = g_new0 (char *, 1);
}

KhAppProfile *
kh_app_profile_new (const char *name,
                    KhFamily    family,
                    const char *app_key)
{
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (family == KH_FAMILY_SHOP || family == KH_FAMILY_BUSINESS, NULL);
  g_return_val_if_fail (app_key != NULL, NULL);

  return g_object_new (KH_TYPE_APP_PROFILE,
                       "name", name,
                       "family", (int) family,
                       "app-key", app_key,
                       NULL);
}

const char *
kh_app_profile_get_name (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  return self->name;
}

KhFamily
kh_app_profile_get_family (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), KH_FAMILY_SHOP);

  return self->family;
}

const char *
kh_app_profile_get_app_key (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  return self->app_key;
}

const char *
kh_app_profile_get_service_id (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  return self->service_id;
}

/* Optional string fields treat "" as "not set", so an emptied entry row clears the field. */
static gboolean
set_optional_string (char       **field,
                     const char  *value)
{
  if (value != NULL && *value == '\0')
    value = NULL;

  if (g_strcmp0 (*field, value) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (value);
  return TRUE;
}

void
kh_app_profile_set_service_id (KhAppProfile *self,
                               const char   *service_id)
{
  g_return_if_fail (KH_IS_APP_PROFILE (self));

  if (set_optional_string (&self->service_id, service_id))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SERVICE_ID]);
}

const char *
kh_app_profile_get_redirect_uri (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  return self->redirect_uri;
}

void
kh_app_profile_set_redirect_uri (KhAppProfile *self,
                                 const char   *redirect_uri)
{
  g_return_if_fail (KH_IS_APP_PROFILE (self));

  if (redirect_uri == NULL || *redirect_uri == '\0')
    redirect_uri = KH_DEFAULT_REDIRECT_URI;

  if (g_strcmp0 (self->redirect_uri, redirect_uri) == 0)
    return;

  g_free (self->redirect_uri);
  self->redirect_uri = g_strdup (redirect_uri);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REDIRECT_URI]);
}

const char *
kh_app_profile_get_auth_link (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  return self->auth_link;
}

void
kh_app_profile_set_auth_link (KhAppProfile *self,
                              const char   *auth_link)
{
  g_return_if_fail (KH_IS_APP_PROFILE (self));

  if (set_optional_string (&self->auth_link, auth_link))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AUTH_LINK]);
}

const char * const *
kh_app_profile_get_scopes (KhAppProfile *self)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  return (const char * const *) self->scopes;
}

void
kh_app_profile_set_scopes (KhAppProfile       *self,
                           const char * const *scopes)
{
  static const char * const empty[] = { NULL };

  g_return_if_fail (KH_IS_APP_PROFILE (self));

  if (scopes == NULL)
    scopes = empty;

  if (g_strv_equal ((const char * const *) self->scopes, scopes))
    return;

  g_strfreev (self->scopes);
  self->scopes = g_strdupv ((char **) scopes);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCOPES]);
}

/* ---- validation ---- */

/* Untrusted text is quoted in messages only in escaped form, so an error line can never carry
 * control characters or terminal escapes. */
static char *
quote_for_message (const char *text)
{
  g_autofree char *head = g_strndup (text, 64);

  return g_strescape (head, NULL);
}

static gboolean
is_ascii_token (const char *text,
                const char *extra)
{
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && strchr (extra, *p) == NULL)
        return FALSE;
    }

  return TRUE;
}

/* Rejects spaces and control bytes before GUri sees the text: GUri accepts "a b" as a host. */
static gboolean
has_space_or_control (const char *text)
{
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      if (*p <= 0x20 || *p == 0x7f)
        return TRUE;
    }

  return FALSE;
}

static gboolean
is_loopback_host (const char *host)
{
  return (g_ascii_strcasecmp (host, "localhost") == 0 ||
          g_strcmp0 (host, "127.0.0.1") == 0 ||
          g_strcmp0 (host, "::1") == 0);
}

/* Finds a parameter in an encoded query by its decoded name and returns its decoded value
 * ("" when it has no '='). Segments without '=' and empty segments are tolerated, unlike
 * g_uri_parse_params(), because links copied from web pages contain them. */
static gboolean
query_lookup (const char  *query,
              const char  *name,
              char       **value_out)
{
  g_auto(GStrv) segments = NULL;

  if (value_out != NULL)
    *value_out = NULL;

  if (query == NULL)
    return FALSE;

  segments = g_strsplit (query, "&", -1);
  for (guint i = 0; segments[i] != NULL; i++)
    {
      const char *eq = strchr (segments[i], '=');
      g_autofree char *raw_name = NULL;
      g_autofree char *decoded = NULL;

      if (segments[i][0] == '\0')
        continue;

      raw_name = eq != NULL ? g_strndup (segments[i], eq - segments[i]) : g_strdup (segments[i]);
      decoded = g_uri_unescape_string (raw_name, NULL);
      if (g_strcmp0 (decoded, name) != 0)
        continue;

      if (value_out != NULL)
        *value_out = eq != NULL ? g_uri_unescape_string (eq + 1, NULL) : g_strdup ("");
      return TRUE;
    }

  return FALSE;
}

gboolean
kh_app_profile_check_name (const char  *name,
                           GError     **error)
{
  gunichar first;
  gunichar last = 0;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (name == NULL || *name == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Name must not be empty"));
      return FALSE;
    }

  if (!g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Name is not valid UTF-8 text"));
      return FALSE;
    }

  if (g_utf8_strlen (name, -1) > NAME_MAX_CHARS)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Name must be at most %d characters long"), NAME_MAX_CHARS);
      return FALSE;
    }

  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      GUnicodeType t = g_unichar_type (c);

      /* Line and paragraph separators break one-line listings as much as control characters. */
      if (t == G_UNICODE_CONTROL ||
          t == G_UNICODE_LINE_SEPARATOR ||
          t == G_UNICODE_PARAGRAPH_SEPARATOR)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Name must not contain control characters or line breaks"));
          return FALSE;
        }
      last = c;
    }

  first = g_utf8_get_char (name);
  if (g_unichar_isspace (first) || g_unichar_isspace (last))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Name must not start or end with a space"));
      return FALSE;
    }

  return TRUE;
}

gboolean
kh_app_profile_check_app_key (KhFamily     family,
                              const char  *app_key,
                              GError     **error)
{
  /* Shop apps call it App Key, Business apps App ID: use the word the user sees in the portal. */
  const char *field = family == KH_FAMILY_BUSINESS ? _("App ID") : _("App key");

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (app_key == NULL || *app_key == '\0')
    {
      /* Translators: %s is "App key" or "App ID". */
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("%s must not be empty"), field);
      return FALSE;
    }

  if (strlen (app_key) > APP_KEY_MAX_LEN)
    {
      /* Translators: %s is "App key" or "App ID", %d a number. */
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("%s must be at most %d characters long"), field, APP_KEY_MAX_LEN);
      return FALSE;
    }

  if (!is_ascii_token (app_key, "_-"))
    {
      /* Translators: %s is "App key" or "App ID". */
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("%s may only contain letters, digits, “_” and “-”"), field);
      return FALSE;
    }

  return TRUE;
}

gboolean
kh_app_profile_check_service_id (const char  *service_id,
                                 GError     **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (service_id == NULL || *service_id == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Service ID must not be empty"));
      return FALSE;
    }

  if (strlen (service_id) > SERVICE_ID_MAX_LEN)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Service ID must be at most %d digits long"), SERVICE_ID_MAX_LEN);
      return FALSE;
    }

  for (const char *p = service_id; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Service ID may only contain digits"));
          return FALSE;
        }
    }

  return TRUE;
}

gboolean
kh_app_profile_check_redirect_uri (const char  *redirect_uri,
                                   GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;
  const char *host;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (redirect_uri == NULL || *redirect_uri == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI must not be empty"));
      return FALSE;
    }

  if (strlen (redirect_uri) > URL_MAX_LEN)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Redirect URI must be at most %d characters long"), URL_MAX_LEN);
      return FALSE;
    }

  if (has_space_or_control (redirect_uri) ||
      !(uri = g_uri_parse (redirect_uri, G_URI_FLAGS_NONE, NULL)))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI is not a valid absolute URL"));
      return FALSE;
    }

  scheme = g_uri_get_scheme (uri);
  if (g_strcmp0 (scheme, "http") != 0 && g_strcmp0 (scheme, "https") != 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI must start with http:// or https://"));
      return FALSE;
    }

  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI must name a host"));
      return FALSE;
    }

  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI must not contain a user name or password"));
      return FALSE;
    }

  if (g_uri_get_fragment (uri) != NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI must not contain a fragment (“#…”)"));
      return FALSE;
    }

  if (g_uri_get_port (uri) == 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI must not use port 0"));
      return FALSE;
    }

  /* Plain http is only acceptable when Keyhold's own loopback listener receives the redirect;
   * an https URI elsewhere is fine, its callback is completed by pasting it back. */
  if (g_strcmp0 (scheme, "http") == 0 && !is_loopback_host (host))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Redirect URI with http:// must point to localhost, 127.0.0.1 or "
                             "[::1]; use https:// for any other host"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_auth_link (const char  *auth_link,
                 const char  *redirect_uri,
                 GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autofree char *link_redirect = NULL;
  const char *host;

  if (strlen (auth_link) > URL_MAX_LEN)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Authorization link must be at most %d characters long"), URL_MAX_LEN);
      return FALSE;
    }

  if (has_space_or_control (auth_link) ||
      !(uri = g_uri_parse (auth_link, G_URI_FLAGS_ENCODED, NULL)))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link is not a valid absolute URL"));
      return FALSE;
    }

  if (g_strcmp0 (g_uri_get_scheme (uri), "https") != 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link must start with https://"));
      return FALSE;
    }

  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link must not contain a user name or password"));
      return FALSE;
    }

  host = g_uri_get_host (uri);
  if (host == NULL || !kh_provider_is_known_host (host))
    {
      g_autofree char *quoted = quote_for_message (host ? host : "");

      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Authorization link must point to a TikTok host, not “%s”"), quoted);
      return FALSE;
    }

  /* Keyhold adds its own unguessable state; a copied link that already has one would carry a
   * state that someone else knows. */
  if (query_lookup (g_uri_get_query (uri), "state", NULL))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link already carries a “state” parameter; copy the "
                             "link without it"));
      return FALSE;
    }

  /* TikTok redirects to the link's redirect_uri; Keyhold listens on (and the token call repeats)
   * the profile's. They must be the same. */
  if (query_lookup (g_uri_get_query (uri), "redirect_uri", &link_redirect) &&
      g_strcmp0 (link_redirect, redirect_uri) != 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Authorization link carries a redirect_uri that differs from the "
                             "app’s redirect URI; make them equal"));
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_scopes (const char * const  *scopes,
              GError             **error)
{
  for (guint i = 0; scopes[i] != NULL; i++)
    {
      const char *scope = scopes[i];

      if (*scope == '\0')
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Scopes must not contain an empty entry"));
          return FALSE;
        }

      if (strlen (scope) > SCOPE_MAX_LEN || !is_ascii_token (scope, "._-"))
        {
          g_autofree char *quoted = quote_for_message (scope);

          g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("Scope “%s” is invalid: use at most %d letters, digits, “.”, “_” and "
                         "“-”"),
                       quoted, SCOPE_MAX_LEN);
          return FALSE;
        }
    }

  return TRUE;
}

gboolean
kh_app_profile_validate (KhAppProfile  *self,
                         GError       **error)
{
  g_return_val_if_fail (KH_IS_APP_PROFILE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_app_profile_check_name (self->name, error))
    return FALSE;

  if (self->family != KH_FAMILY_SHOP && self->family != KH_FAMILY_BUSINESS)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("Family must be “shop” or “business”"));
      return FALSE;
    }

  if (!kh_app_profile_check_app_key (self->family, self->app_key, error))
    return FALSE;

  if (self->service_id != NULL && !kh_app_profile_check_service_id (self->service_id, error))
    return FALSE;

  if (!kh_app_profile_check_redirect_uri (self->redirect_uri, error))
    return FALSE;

  if (self->auth_link != NULL && !check_auth_link (self->auth_link, self->redirect_uri, error))
    return FALSE;

  if (!check_scopes ((const char * const *) self->scopes, error))
    return FALSE;

  return TRUE;
}

char *
kh_app_profile_dup_auth_link_param (KhAppProfile *self,
                                    const char   *param)
{
  g_autoptr(GUri) uri = NULL;
  char *value = NULL;

  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);
  g_return_val_if_fail (param != NULL, NULL);

  if (self->auth_link == NULL)
    return NULL;

  uri = g_uri_parse (self->auth_link, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    return NULL;

  query_lookup (g_uri_get_query (uri), param, &value);
  return value;
}

/* ---- JSON ---- */

JsonNode *
kh_app_profile_to_json (KhAppProfile *self)
{
  g_autoptr(JsonObject) object = NULL;

  g_return_val_if_fail (KH_IS_APP_PROFILE (self), NULL);

  object = json_object_new ();
  json_object_set_string_member (object, "name", self->name);
  json_object_set_string_member (object, "family", kh_family_to_string (self->family));
  json_object_set_string_member (object, "app_key", self->app_key);
  if (self->service_id != NULL)
    json_object_set_string_member (object, "service_id", self->service_id);
  json_object_set_string_member (object, "redirect_uri", self->redirect_uri);
  if (self->auth_link != NULL)
    json_object_set_string_member (object, "auth_link", self->auth_link);
  kh_json_set_strv (object, "scopes", (const char * const *) self->scopes);

  return json_node_init_object (json_node_alloc (), object);
}

/* Reads an optional string member: absent or null gives NULL; any other type is an error. */
static gboolean
read_string (JsonObject   *object,
             const char   *member,
             gboolean      required,
             const char  **out,
             GError      **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = NULL;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (!required)
        return TRUE;

      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("App profile data lacks the “%s” member"), member);
      return FALSE;
    }

  *out = kh_json_get_string (object, member);
  if (*out == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("App profile member “%s” is not a string"), member);
      return FALSE;
    }

  return TRUE;
}

KhAppProfile *
kh_app_profile_new_from_json (JsonNode  *node,
                              GError   **error)
{
  JsonObject *object;

  g_return_val_if_fail (node != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  object = kh_json_node_object (node);
  if (object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("App profile data is not a JSON object"));
      return NULL;
    }
  return kh_app_profile_new_from_json_object (object, error);
}

/* Reads object and takes no reference to it nor to anything in it: the store's index shares
 * its objects between threads, and json-glib's reference counts are not atomic. */
KhAppProfile *
kh_app_profile_new_from_json_object (JsonObject  *object,
                                     GError     **error)
{
  g_autoptr(KhAppProfile) self = NULL;
  g_auto(GStrv) scopes = NULL;
  JsonNode *scopes_node;
  const char *name;
  const char *family_str;
  const char *app_key;
  const char *service_id;
  const char *redirect_uri;
  const char *auth_link;
  KhFamily family;

  g_return_val_if_fail (object != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!read_string (object, "name", TRUE, &name, error) ||
      !read_string (object, "family", TRUE, &family_str, error) ||
      !read_string (object, "app_key", TRUE, &app_key, error) ||
      !read_string (object, "service_id", FALSE, &service_id, error) ||
      !read_string (object, "redirect_uri", FALSE, &redirect_uri, error) ||
      !read_string (object, "auth_link", FALSE, &auth_link, error))
    return NULL;

  if (!kh_family_from_string (family_str, &family))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("App profile member “family” must be “shop” or “business”"));
      return NULL;
    }

  scopes_node = json_object_get_member (object, "scopes");
  if (scopes_node != NULL && !JSON_NODE_HOLDS_NULL (scopes_node))
    {
      scopes = kh_json_get_strv (object, "scopes");
      if (scopes == NULL)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("App profile member “scopes” is not an array of strings"));
          return NULL;
        }
    }

  self = kh_app_profile_new (name, family, app_key);
  kh_app_profile_set_service_id (self, service_id);
  kh_app_profile_set_redirect_uri (self, redirect_uri);
  kh_app_profile_set_auth_link (self, auth_link);
  kh_app_profile_set_scopes (self, (const char * const *) scopes);

  /* Stored data gets the same checks as typed-in data: a tampered index changes nothing. */
  if (!kh_app_profile_validate (self, error))
    return NULL;

  return g_steal_pointer (&self);
}
