/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-origin-map.c: the process-wide KEYHOLD_ORIGIN_MAP rewrite of TikTok origins to test
 * endpoints (the sandbox). Every request and every authorization link goes through
 * kh_origin_map_rewrite, so one variable points all of Keyhold at a local emulator. */
#define G_LOG_DOMAIN "kh-origin-map"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-origin-map.h"
#include "kh-error.h"

#include <string.h>

typedef struct {
  char *origin;          /* normalised "scheme://host[:port]" */
  char *target_origin;   /* normalised, likewise */
  char *target_prefix;   /* path prefix without trailing '/', "" for none */
} KhOriginMapping;

typedef struct {
  char      *spec;
  GPtrArray *mappings;   /* of KhOriginMapping */
} KhOriginMap;

G_LOCK_DEFINE_STATIC (origin_map);
static KhOriginMap *active_map;       /* NULL when no mapping is active */
static gboolean     active_map_initialized;

static void
kh_origin_mapping_free (KhOriginMapping *mapping)
{
  g_free (mapping->origin);
  g_free (mapping->target_origin);
  g_free (mapping->target_prefix);
  g_free (mapping);
}

static void
kh_origin_map_free (KhOriginMap *map)
{
  g_free (map->spec);
  g_ptr_array_unref (map->mappings);
  g_free (map);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhOriginMap, kh_origin_map_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhOriginMapping, kh_origin_mapping_free)

static int
default_port (const char *scheme)
{
  if (g_ascii_strcasecmp (scheme, "https") == 0)
    return 443;
  if (g_ascii_strcasecmp (scheme, "http") == 0)
    return 80;
  return -1;
}

/* "scheme://host[:port]" with lowercase scheme and host and the scheme's default port dropped,
 * so that "HTTPS://Auth.TikTok-Shops.com:443" and "https://auth.tiktok-shops.com" are one
 * origin. IPv6 literals get their brackets back. */
static char *
normalize_origin (GUri *uri)
{
  g_autofree char *scheme = g_ascii_strdown (g_uri_get_scheme (uri), -1);
  g_autofree char *host = g_ascii_strdown (g_uri_get_host (uri), -1);
  int port = g_uri_get_port (uri);
  gboolean ipv6 = strchr (host, ':') != NULL;
  GString *out = g_string_new (NULL);

  g_string_append_printf (out, "%s://%s%s%s", scheme, ipv6 ? "[" : "", host, ipv6 ? "]" : "");
  if (port > 0 && port != default_port (scheme))
    g_string_append_printf (out, ":%d", port);

  return g_string_free (out, FALSE);
}

static gboolean
is_http_scheme (const char *scheme)
{
  return scheme != NULL &&
         (g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "https") == 0);
}

/* Parses one side of a pair. An origin has no path; a target may have a path prefix. */
static GUri *
parse_side (const char  *text,
            gboolean     allow_path,
            GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *path;

  uri = g_uri_parse (text, G_URI_FLAGS_ENCODED, &local_error);
  if (uri == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("“%s” is not a URL: %s"), text, local_error->message);
      return NULL;
    }

  if (!is_http_scheme (g_uri_get_scheme (uri)))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("“%s” must start with http:// or https://"), text);
      return NULL;
    }

  if (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT, _("“%s” has no host"), text);
      return NULL;
    }

  if (g_uri_get_userinfo (uri) != NULL || g_uri_get_query (uri) != NULL ||
      g_uri_get_fragment (uri) != NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("“%s” must not contain a user name, a query or a fragment"), text);
      return NULL;
    }

  path = g_uri_get_path (uri);
  if (!allow_path && *path != '\0' && !g_str_equal (path, "/"))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The origin “%s” must not have a path"), text);
      return NULL;
    }

  return g_steal_pointer (&uri);
}

static KhOriginMap *
parse_spec (const char  *spec,
            GError     **error)
{
  g_autoptr(KhOriginMap) map = g_new0 (KhOriginMap, 1);
  g_auto(GStrv) pairs = g_strsplit (spec, ";", -1);

  map->spec = g_strdup (spec);
  map->mappings = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_origin_mapping_free);

  for (guint i = 0; pairs[i] != NULL; i++)
    {
      g_autoptr(KhOriginMapping) mapping = NULL;
      g_autoptr(GUri) origin = NULL;
      g_autoptr(GUri) target = NULL;
      g_autofree char *prefix = NULL;
      char *pair = g_strstrip (pairs[i]);
      char *eq;
      gsize prefix_len;

      /* Empty entries (a trailing ';') are harmless. */
      if (*pair == '\0')
        continue;

      eq = strchr (pair, '=');
      if (eq == NULL)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("“%s” is not of the form ORIGIN=TARGET"), pair);
          return NULL;
        }
      *eq = '\0';

      origin = parse_side (g_strstrip (pair), FALSE, error);
      if (origin == NULL)
        return NULL;
      target = parse_side (g_strstrip (eq + 1), TRUE, error);
      if (target == NULL)
        return NULL;

      prefix = g_strdup (g_uri_get_path (target));
      prefix_len = strlen (prefix);
      while (prefix_len > 0 && prefix[prefix_len - 1] == '/')
        prefix[--prefix_len] = '\0';

      mapping = g_new0 (KhOriginMapping, 1);
      mapping->origin = normalize_origin (origin);
      mapping->target_origin = normalize_origin (target);
      mapping->target_prefix = g_steal_pointer (&prefix);

      for (guint j = 0; j < map->mappings->len; j++)
        {
          KhOriginMapping *other = g_ptr_array_index (map->mappings, j);

          if (g_str_equal (other->origin, mapping->origin))
            {
              g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The origin “%s” is mapped twice"), mapping->origin);
              return NULL;
            }
        }

      g_ptr_array_add (map->mappings, g_steal_pointer (&mapping));
    }

  if (map->mappings->len == 0)
    return NULL;

  return g_steal_pointer (&map);
}

/* Called with the lock held. The environment is read once, on first use, unless
 * kh_origin_map_set came first. */
static void
ensure_initialized_locked (void)
{
  const char *env;

  if (active_map_initialized)
    return;
  active_map_initialized = TRUE;

  env = g_getenv ("KEYHOLD_ORIGIN_MAP");
  if (env != NULL && *env != '\0')
    {
      g_autoptr(GError) error = NULL;

      active_map = parse_spec (env, &error);
      /* Not g_warning: tests run with fatal warnings, and a bad test hook must not abort a
       * user's program either. The message goes to stderr once; the bad map is ignored. */
      if (error != NULL)
        g_printerr (_("Ignoring KEYHOLD_ORIGIN_MAP: %s\n"), error->message);
    }
}

gboolean
kh_origin_map_set (const char  *spec,
                   GError     **error)
{
  KhOriginMap *map = NULL;
  KhOriginMap *old;

  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (spec != NULL && *spec != '\0')
    {
      g_autoptr(GError) local_error = NULL;

      map = parse_spec (spec, &local_error);
      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }

  G_LOCK (origin_map);
  old = active_map;
  active_map = map;
  active_map_initialized = TRUE;
  G_UNLOCK (origin_map);

  g_clear_pointer (&old, kh_origin_map_free);

  return TRUE;
}

gboolean
kh_origin_map_is_active (void)
{
  gboolean active;

  G_LOCK (origin_map);
  ensure_initialized_locked ();
  active = active_map != NULL;
  G_UNLOCK (origin_map);

  return active;
}

char *
kh_origin_map_dup_spec (void)
{
  char *spec = NULL;

  G_LOCK (origin_map);
  ensure_initialized_locked ();
  if (active_map != NULL)
    spec = g_strdup (active_map->spec);
  G_UNLOCK (origin_map);

  return spec;
}

/* Parses url for matching; ENCODED keeps the path and query byte for byte, so a rewrite
 * never changes what the server receives beyond the origin. */
static GUri *
parse_url (const char *url)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);

  if (uri == NULL || !is_http_scheme (g_uri_get_scheme (uri)) ||
      g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return NULL;

  return g_steal_pointer (&uri);
}

char *
kh_origin_map_rewrite (const char *url)
{
  g_autoptr(GUri) uri = NULL;
  g_autofree char *origin = NULL;
  char *result = NULL;

  g_return_val_if_fail (url != NULL, NULL);

  uri = parse_url (url);
  if (uri == NULL)
    return g_strdup (url);

  origin = normalize_origin (uri);

  G_LOCK (origin_map);
  ensure_initialized_locked ();
  for (guint i = 0; active_map != NULL && i < active_map->mappings->len; i++)
    {
      KhOriginMapping *mapping = g_ptr_array_index (active_map->mappings, i);
      const char *query = g_uri_get_query (uri);
      const char *fragment = g_uri_get_fragment (uri);

      if (!g_str_equal (mapping->origin, origin))
        continue;

      result = g_strconcat (mapping->target_origin, mapping->target_prefix,
                            g_uri_get_path (uri),
                            query != NULL ? "?" : "", query != NULL ? query : "",
                            fragment != NULL ? "#" : "", fragment != NULL ? fragment : "",
                            NULL);
      break;
    }
  G_UNLOCK (origin_map);

  if (result == NULL)
    result = g_strdup (url);

  return result;
}

gboolean
kh_origin_map_is_target_url (const char *url)
{
  g_autoptr(GUri) uri = NULL;
  g_autofree char *origin = NULL;
  gboolean found = FALSE;
  const char *path;

  g_return_val_if_fail (url != NULL, FALSE);

  uri = parse_url (url);
  if (uri == NULL || g_uri_get_userinfo (uri) != NULL)
    return FALSE;

  origin = normalize_origin (uri);
  path = g_uri_get_path (uri);

  G_LOCK (origin_map);
  ensure_initialized_locked ();
  for (guint i = 0; active_map != NULL && i < active_map->mappings->len; i++)
    {
      KhOriginMapping *mapping = g_ptr_array_index (active_map->mappings, i);
      gsize prefix_len = strlen (mapping->target_prefix);

      if (!g_str_equal (mapping->target_origin, origin))
        continue;

      /* "Under" the prefix means the prefix is a whole path segment: /_host/a does not
       * cover /_host/ab. */
      if (strncmp (path, mapping->target_prefix, prefix_len) == 0 &&
          (path[prefix_len] == '\0' || path[prefix_len] == '/' || prefix_len == 0))
        {
          found = TRUE;
          break;
        }
    }
  G_UNLOCK (origin_map);

  return found;
}

void
kh_origin_map_reset (void)
{
  KhOriginMap *old;

  G_LOCK (origin_map);
  old = g_steal_pointer (&active_map);
  active_map_initialized = FALSE;
  G_UNLOCK (origin_map);

  g_clear_pointer (&old, kh_origin_map_free);
}
