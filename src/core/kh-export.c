/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-export.c: the three export forms (kh-export.h) and the 0600 atomic file they are written
 * to. The forms, and why they look as they do, are in the README ("Exports"). */

#define G_LOG_DOMAIN "kh-export"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kh-export.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* n8n's credential type of the TikTok Shop community node (n8n-nodes-tiktok-shop). */
#define N8N_CREDENTIAL_TYPE "tiktokShopApi"

static const char * const format_names[] = { "n8n", "mcp-shops", "env" };

const char *
kh_export_format_to_string (KhExportFormat format)
{
  g_return_val_if_fail (format <= KH_EXPORT_ENV, NULL);

  return format_names[format];
}

gboolean
kh_export_format_from_string (const char     *text,
                              KhExportFormat *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (format_names); i++)
    if (g_strcmp0 (text, format_names[i]) == 0)
      {
        *out = (KhExportFormat) i;
        return TRUE;
      }
  return FALSE;
}

/* ---- the forms ------------------------------------------------------------------------------ */

/* The sentence every export carries: when it goes stale and why sooner. Untranslated: it is
 * written into files that other programs and other people read. */
static char *
stale_note (gint64 stale_at)
{
  g_autofree char *when = kh_iso8601_from_unix (stale_at);

  if (when == NULL)
    return g_strdup ("A copy of the access token: it does not expire, but stops working when "
                     "the authorization is revoked. Prefer `keyhold-cli token`.");
  return g_strdup_printf ("A copy of the access token: stale at %s (its expiry), or as soon as "
                          "Keyhold refreshes the grant. Export again then, or better, call "
                          "`keyhold-cli token`.", when);
}

static char *
node_to_text (JsonNode *node)
{
  g_autofree char *text = kh_json_to_string (node, TRUE);

  return g_strconcat (text, "\n", NULL);
}

static void
add_string_or_null (JsonBuilder *builder,
                    const char  *name,
                    const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

/* n8n's `import:credentials` file: an array of credentials, one per shop, whose data carries
 * the node's fields. appSecret stays empty: it is typed into n8n, never exported. */
static char *
render_n8n (KhGrant          *grant,
            KhAppProfile     *app,
            const KhTokenSet *tokens)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *when = kh_iso8601_from_unix (tokens->access_expires_at);
  GPtrArray *shops = kh_grant_get_shops (grant);

  json_builder_begin_array (builder);
  for (guint i = 0; i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);
      g_autofree char *name = NULL;

      name = g_strdup_printf ("Keyhold %s (stale at %s)", shop->name ? shop->name : shop->id,
                              when != NULL ? when : "revocation");
      json_builder_begin_object (builder);
      add_string_or_null (builder, "name", name);
      add_string_or_null (builder, "type", N8N_CREDENTIAL_TYPE);
      json_builder_set_member_name (builder, "data");
      json_builder_begin_object (builder);
      add_string_or_null (builder, "appKey", kh_app_profile_get_app_key (app));
      add_string_or_null (builder, "appSecret", "");
      add_string_or_null (builder, "shopId", shop->id);
      add_string_or_null (builder, "shopCipher", shop->cipher);
      add_string_or_null (builder, "accessToken", tokens->access_token);
      json_builder_end_object (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  root = json_builder_get_root (builder);
  return node_to_text (root);
}

/* shops.json for an MCP server: TikTok's own parameter names (app_key, shop_cipher,
 * access_token), one entry per shop, and when the copy goes stale. */
static char *
render_mcp_shops (KhGrant          *grant,
                  KhAppProfile     *app,
                  const KhTokenSet *tokens)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *when = kh_iso8601_from_unix (tokens->access_expires_at);
  g_autofree char *note = stale_note (tokens->access_expires_at);
  GPtrArray *shops = kh_grant_get_shops (grant);

  json_builder_begin_object (builder);
  add_string_or_null (builder, "generated_by", "keyhold");
  add_string_or_null (builder, "grant", kh_grant_get_id (grant));
  add_string_or_null (builder, "stale_at", when);
  add_string_or_null (builder, "note", note);
  add_string_or_null (builder, "app_key", kh_app_profile_get_app_key (app));
  json_builder_set_member_name (builder, "shops");
  json_builder_begin_array (builder);
  for (guint i = 0; i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);

      json_builder_begin_object (builder);
      add_string_or_null (builder, "shop_id", shop->id);
      add_string_or_null (builder, "shop_name", shop->name);
      add_string_or_null (builder, "shop_cipher", shop->cipher);
      add_string_or_null (builder, "region", shop->region);
      add_string_or_null (builder, "access_token", tokens->access_token);
      add_string_or_null (builder, "access_token_expires_at", when);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return node_to_text (root);
}

/* A value dotenv readers take literally: single-quoted, so no $ expansion or escapes. */
static gboolean
add_env (GString    *text,
         const char *name,
         const char *value,
         GError    **error)
{
  if (value == NULL)
    return TRUE;
  if (strpbrk (value, "'\n\r") != NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The value of %s cannot be written to a dotenv file"), name);
      return FALSE;
    }
  g_string_append_printf (text, "%s='%s'\n", name, value);
  return TRUE;
}

static char *
join_ids (GPtrArray *items,
          gboolean   shops,
          gboolean   ciphers)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) strv = NULL;

  for (guint i = 0; items != NULL && i < items->len; i++)
    {
      gpointer item = g_ptr_array_index (items, i);
      const char *value = shops ? (ciphers ? ((KhShop *) item)->cipher : ((KhShop *) item)->id)
                                : ((KhAdvertiser *) item)->id;

      g_strv_builder_add (builder, value != NULL ? value : "");
    }
  strv = g_strv_builder_end (builder);
  return strv[0] != NULL ? g_strjoinv (",", strv) : NULL;
}

static char *
render_env (KhGrant          *grant,
            KhAppProfile     *app,
            const KhTokenSet *tokens,
            GError          **error)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *note = stale_note (tokens->access_expires_at);
  g_autofree char *when = kh_iso8601_from_unix (tokens->access_expires_at);
  g_autofree char *shop_ids = join_ids (kh_grant_get_shops (grant), TRUE, FALSE);
  g_autofree char *shop_ciphers = join_ids (kh_grant_get_shops (grant), TRUE, TRUE);
  g_autofree char *advertiser_ids = join_ids (kh_grant_get_advertisers (grant), FALSE, FALSE);
  gboolean shop = kh_app_profile_get_family (app) == KH_FAMILY_SHOP;
  g_autofree char *comment = NULL;

  comment = g_strdup_printf ("keyhold-cli export of grant %s (%s, %s).",
                             kh_grant_get_id (grant),
                             kh_provider_get (kh_grant_get_account_type (grant))->id,
                             kh_grant_get_display_name (grant));
  g_strdelimit (comment, "\r\n", ' ');
  g_string_append_printf (text, "# %s\n# %s\n", comment, note);

  if (!add_env (text, "KEYHOLD_GRANT", kh_grant_get_id (grant), error) ||
      !add_env (text, shop ? "TIKTOK_APP_KEY" : "TIKTOK_APP_ID", kh_app_profile_get_app_key (app),
                error) ||
      !add_env (text, "TIKTOK_ACCESS_TOKEN", tokens->access_token, error) ||
      !add_env (text, "TIKTOK_ACCESS_TOKEN_EXPIRES_AT", when, error) ||
      !add_env (text, "TIKTOK_SHOP_IDS", shop_ids, error) ||
      !add_env (text, "TIKTOK_SHOP_CIPHERS", shop_ciphers, error) ||
      !add_env (text, "TIKTOK_ADVERTISER_IDS", advertiser_ids, error) ||
      !add_env (text, "TIKTOK_OPEN_ID", kh_grant_get_open_id (grant), error))
    return NULL;

  return g_string_free (g_steal_pointer (&text), FALSE);
}

char *
kh_export_render (KhExportFormat     format,
                  KhGrant           *grant,
                  KhAppProfile      *app,
                  const KhTokenSet  *tokens,
                  GError           **error)
{
  const KhProvider *provider;

  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), NULL);
  g_return_val_if_fail (tokens != NULL && tokens->access_token != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  provider = kh_provider_get (kh_grant_get_account_type (grant));
  if (format != KH_EXPORT_ENV &&
      (provider->family != KH_FAMILY_SHOP || kh_grant_get_shops (grant)->len == 0))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("--format %s is for Shop grants that cover shops; grant %s covers none: "
                     "use --format env"),
                   kh_export_format_to_string (format), kh_grant_get_id (grant));
      return NULL;
    }

  switch (format)
    {
    case KH_EXPORT_N8N:
      return render_n8n (grant, app, tokens);
    case KH_EXPORT_MCP_SHOPS:
      return render_mcp_shops (grant, app, tokens);
    case KH_EXPORT_ENV:
      return render_env (grant, app, tokens, error);
    default:
      g_return_val_if_reached (NULL);
    }
}

/* ---- the file ------------------------------------------------------------------------------- */

static gboolean
write_error (GError    **error,
             const char *path,
             int         saved_errno)
{
  g_set_error (error, KH_ERROR, KH_ERROR_FAILED, _("Could not write %s: %s"), path,
               g_strerror (saved_errno));
  return FALSE;
}

gboolean
kh_export_write_file (const char  *path,
                      const char  *text,
                      GError     **error)
{
  g_autofree char *tmp_path = NULL;
  gsize len;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* mkstemp creates the file 0600 with O_EXCL, whatever the umask: nobody else can open it. */
  tmp_path = g_strconcat (path, ".XXXXXX", NULL);
  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    return write_error (error, path, errno);

  len = strlen (text);
  while (len > 0)
    {
      ssize_t n = write (fd, text, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved_errno = n < 0 ? errno : EIO;

          close (fd);
          g_unlink (tmp_path);
          return write_error (error, path, saved_errno);
        }
      text += n;
      len -= (gsize) n;
    }
  if (fsync (fd) != 0)
    {
      int saved_errno = errno;

      close (fd);
      g_unlink (tmp_path);
      return write_error (error, path, saved_errno);
    }
  close (fd);
  if (g_rename (tmp_path, path) != 0)
    {
      int saved_errno = errno;

      g_unlink (tmp_path);
      return write_error (error, path, saved_errno);
    }
  return TRUE;
}
