/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-json.c: the JSON form of a KhTokenSet (its keyring item) and of a KhGrant (its index
 * entry and `list --json`), written and read back with a clear error for each bad member. */

#define G_LOG_DOMAIN "kh-grant-json"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-grant-private.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-util.h"

/* ---- reading and writing members ------------------------------------------------------------ */

/* Reads an optional string member: absent or null gives NULL; any other type is an error. */
static gboolean
read_optional_string (JsonObject  *object,
                      const char  *member,
                      char       **out,
                      GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The member “%s” is not a string"), member);
      return FALSE;
    }
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
read_required_string (JsonObject  *object,
                      const char  *member,
                      char       **out,
                      GError     **error)
{
  if (!read_optional_string (object, member, out, error))
    return FALSE;
  if (*out == NULL || **out == '\0')
    {
      g_clear_pointer (out, g_free);
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The member “%s” is missing or empty"), member);
      return FALSE;
    }
  return TRUE;
}

/* A strict integer: a JSON integer, not a double, not a string, and not negative. */
static gboolean
read_time_int (JsonObject  *object,
               const char  *member,
               gint64      *out,
               GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64
      || json_node_get_int (node) < 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The member “%s” is not a non-negative integer"), member);
      return FALSE;
    }
  *out = json_node_get_int (node);
  return TRUE;
}

/* Times in the index are ISO 8601 UTC strings, or null for "never". */
static gboolean
read_iso_time (JsonObject  *object,
               const char  *member,
               gint64      *out,
               GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = 0;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (json_node_get_value_type (node) != G_TYPE_STRING
      || !kh_unix_from_iso8601 (json_node_get_string (node), out)
      || *out < 0)
    {
      *out = 0;
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The member “%s” is not an ISO 8601 time"), member);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_strv (JsonObject   *object,
           const char   *member,
           char       ***out,
           GError      **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      *out = g_new0 (char *, 1);
      return TRUE;
    }
  *out = kh_json_get_strv (object, member);
  if (*out == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The member “%s” is not an array of strings"), member);
      return FALSE;
    }
  return TRUE;
}

static void
builder_add_string_or_null (JsonBuilder *builder,
                            const char  *member,
                            const char  *value)
{
  json_builder_set_member_name (builder, member);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
builder_add_iso_time (JsonBuilder *builder,
                      const char  *member,
                      gint64       unix_time)
{
  g_autofree char *text = unix_time != 0 ? kh_iso8601_from_unix (unix_time) : NULL;

  builder_add_string_or_null (builder, member, text);
}

static void
builder_add_strv (JsonBuilder        *builder,
                  const char         *member,
                  const char * const *strv)
{
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}
/* ---- KhTokenSet ------------------------------------------------------------------------------ */

JsonNode *
kh_token_set_to_json (const KhTokenSet *self)
{
  g_autoptr(JsonBuilder) builder = NULL;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (self->access_token != NULL, NULL);

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "access_token");
  json_builder_add_string_value (builder, self->access_token);
  builder_add_string_or_null (builder, "refresh_token", self->refresh_token);
  json_builder_set_member_name (builder, "access_expires_at");
  json_builder_add_int_value (builder, self->access_expires_at);
  json_builder_set_member_name (builder, "refresh_expires_at");
  json_builder_add_int_value (builder, self->refresh_expires_at);
  json_builder_end_object (builder);

  return json_builder_get_root (builder);
}

/* Strict: this comes from the keyring, where only Keyhold writes; anything unexpected means the
 * item is damaged or foreign, and guessing could hand a script a wrong token. Unknown members are
 * ignored so that a newer Keyhold can add some. */
KhTokenSet *
kh_token_set_new_from_json (JsonNode  *node,
                            GError   **error)
{
  g_autoptr(KhTokenSet) tokens = NULL;
  JsonObject *object;
  JsonNode *refresh;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  object = node != NULL ? kh_json_node_object (node) : NULL;
  if (object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The stored tokens are not a JSON object"));
      return NULL;
    }

  tokens = kh_token_set_new ();
  if (!read_required_string (object, "access_token", &tokens->access_token, error))
    return NULL;

  /* refresh_token must be present: a string, or null for kinds that have none. */
  refresh = json_object_get_member (object, "refresh_token");
  if (refresh == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The member “refresh_token” is missing"));
      return NULL;
    }
  if (!read_optional_string (object, "refresh_token", &tokens->refresh_token, error))
    return NULL;
  if (tokens->refresh_token != NULL && *tokens->refresh_token == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The member “refresh_token” is empty"));
      return NULL;
    }

  if (!read_time_int (object, "access_expires_at", &tokens->access_expires_at, error)
      || !read_time_int (object, "refresh_expires_at", &tokens->refresh_expires_at, error))
    return NULL;

  return g_steal_pointer (&tokens);
}
/* ---- JSON ------------------------------------------------------------------------------------ */

JsonNode *
kh_grant_to_json (KhGrant *self)
{
  g_autoptr(JsonBuilder) builder = NULL;
  const KhProvider *provider;

  g_return_val_if_fail (KH_IS_GRANT (self), NULL);

  provider = kh_provider_get (self->type);
  builder = json_builder_new ();
  json_builder_begin_object (builder);

  builder_add_string_or_null (builder, "id", self->id);
  builder_add_string_or_null (builder, "type", provider->id);
  builder_add_string_or_null (builder, "role", self->role);
  builder_add_string_or_null (builder, "kind",
                              kh_token_kind_to_string (kh_grant_get_token_kind (self)));
  builder_add_string_or_null (builder, "app", self->app_name);
  builder_add_string_or_null (builder, "client", self->client_label);
  builder_add_string_or_null (builder, "display_name", kh_grant_get_display_name (self));
  builder_add_string_or_null (builder, "region", self->region);
  builder_add_string_or_null (builder, "open_id", self->open_id);
  builder_add_string_or_null (builder, "status",
                              kh_grant_status_to_string (kh_grant_compute_status (self,
                                                                                  kh_now ())));
  builder_add_string_or_null (builder, "stored_status",
                              kh_grant_status_to_string (self->stored_status));
  builder_add_string_or_null (builder, "status_reason", self->status_reason);
  builder_add_iso_time (builder, "access_expires_at", self->access_expires_at);
  builder_add_iso_time (builder, "refresh_expires_at", self->refresh_expires_at);
  builder_add_strv (builder, "scopes", (const char * const *) self->scopes);
  builder_add_strv (builder, "missing_scopes", (const char * const *) self->missing_scopes);

  json_builder_set_member_name (builder, "shops");
  json_builder_begin_array (builder);
  for (guint i = 0; i < self->shops->len; i++)
    {
      const KhShop *shop = g_ptr_array_index (self->shops, i);

      json_builder_begin_object (builder);
      builder_add_string_or_null (builder, "id", shop->id);
      builder_add_string_or_null (builder, "name", shop->name);
      builder_add_string_or_null (builder, "region", shop->region);
      builder_add_string_or_null (builder, "seller_type", shop->seller_type);
      builder_add_string_or_null (builder, "cipher", shop->cipher);
      builder_add_string_or_null (builder, "code", shop->code);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "advertisers");
  json_builder_begin_array (builder);
  for (guint i = 0; i < self->advertisers->len; i++)
    {
      const KhAdvertiser *advertiser = g_ptr_array_index (self->advertisers, i);

      json_builder_begin_object (builder);
      builder_add_string_or_null (builder, "id", advertiser->id);
      builder_add_string_or_null (builder, "name", advertiser->name);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "without_state");
  json_builder_add_boolean_value (builder, self->without_state);
  json_builder_set_member_name (builder, "storage");
  json_builder_add_string_value (builder, self->shared ? "team" : "local");
  builder_add_strv (builder, "warnings", (const char * const *) self->warnings);
  builder_add_iso_time (builder, "created_at", self->created_at);
  builder_add_iso_time (builder, "updated_at", self->updated_at);

  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static GPtrArray *
shops_from_json (JsonObject  *object,
                 GError     **error)
{
  g_autoptr(GPtrArray) shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  JsonArray *array;
  JsonNode *node = json_object_get_member (object, "shops");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_steal_pointer (&shops);
  array = kh_json_get_array (object, "shops");
  if (array == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The member “shops” is not an array"));
      return NULL;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *item = kh_json_node_object (json_array_get_element (array, i));
      g_autoptr(KhShop) shop = g_new0 (KhShop, 1);

      if (item == NULL)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("A shop is not a JSON object"));
          return NULL;
        }
      if (!read_required_string (item, "id", &shop->id, error)
          || !read_optional_string (item, "name", &shop->name, error)
          || !read_optional_string (item, "region", &shop->region, error)
          || !read_optional_string (item, "seller_type", &shop->seller_type, error)
          || !read_optional_string (item, "cipher", &shop->cipher, error)
          || !read_optional_string (item, "code", &shop->code, error))
        return NULL;
      g_ptr_array_add (shops, g_steal_pointer (&shop));
    }

  return g_steal_pointer (&shops);
}

static GPtrArray *
advertisers_from_json (JsonObject  *object,
                       GError     **error)
{
  g_autoptr(GPtrArray) advertisers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  JsonArray *array;
  JsonNode *node = json_object_get_member (object, "advertisers");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_steal_pointer (&advertisers);
  array = kh_json_get_array (object, "advertisers");
  if (array == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The member “advertisers” is not an array"));
      return NULL;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *item = kh_json_node_object (json_array_get_element (array, i));
      g_autoptr(KhAdvertiser) advertiser = g_new0 (KhAdvertiser, 1);

      if (item == NULL)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("An advertiser is not a JSON object"));
          return NULL;
        }
      if (!read_required_string (item, "id", &advertiser->id, error)
          || !read_optional_string (item, "name", &advertiser->name, error))
        return NULL;
      g_ptr_array_add (advertisers, g_steal_pointer (&advertiser));
    }

  return g_steal_pointer (&advertisers);
}

KhGrant *
kh_grant_new_from_json (JsonNode  *node,
                        GError   **error)
{
  JsonObject *object = node != NULL ? kh_json_node_object (node) : NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("A grant is not a JSON object"));
      return NULL;
    }
  return kh_grant_new_from_json_object (object, error);
}

/* Reads object and takes no reference to it nor to anything in it: the store's index shares
 * its objects between threads, and json-glib's reference counts are not atomic. */
KhGrant *
kh_grant_new_from_json_object (JsonObject  *object,
                               GError     **error)
{
  g_autofree char *id = NULL;
  g_autofree char *type_id = NULL;
  g_autofree char *role = NULL;
  g_autofree char *kind_str = NULL;
  g_autofree char *app = NULL;
  g_autofree char *client = NULL;
  g_autofree char *display_name = NULL;
  g_autofree char *region = NULL;
  g_autofree char *open_id = NULL;
  g_autofree char *stored_status_str = NULL;
  g_autofree char *status_reason = NULL;
  g_auto(GStrv) scopes = NULL;
  g_auto(GStrv) missing_scopes = NULL;
  g_auto(GStrv) warnings = NULL;
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;
  gint64 access_expires_at, refresh_expires_at, created_at, updated_at;
  gboolean without_state = FALSE;
  const char *storage;
  const KhProvider *provider;
  const KhProviderRole *provider_role;
  KhGrantStatus stored_status = KH_GRANT_STATUS_ACTIVE;
  KhGrant *self;
  JsonNode *member;

  g_return_val_if_fail (object != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!read_required_string (object, "id", &id, error)
      || !read_required_string (object, "type", &type_id, error)
      || !read_optional_string (object, "role", &role, error)
      || !read_optional_string (object, "kind", &kind_str, error)
      || !read_required_string (object, "app", &app, error)
      || !read_optional_string (object, "client", &client, error)
      || !read_optional_string (object, "display_name", &display_name, error)
      || !read_optional_string (object, "region", &region, error)
      || !read_optional_string (object, "open_id", &open_id, error)
      || !read_optional_string (object, "stored_status", &stored_status_str, error)
      /* Added later: an index written before it has no such member, which reads as none. */
      || !read_optional_string (object, "status_reason", &status_reason, error)
      || !read_iso_time (object, "access_expires_at", &access_expires_at, error)
      || !read_iso_time (object, "refresh_expires_at", &refresh_expires_at, error)
      || !read_iso_time (object, "created_at", &created_at, error)
      || !read_iso_time (object, "updated_at", &updated_at, error)
      || !read_strv (object, "scopes", &scopes, error)
      || !read_strv (object, "missing_scopes", &missing_scopes, error)
      || !read_strv (object, "warnings", &warnings, error))
    return NULL;

  provider = kh_provider_from_id (type_id);
  if (provider == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Unknown account type “%s”"), type_id);
      return NULL;
    }
  provider_role = kh_provider_get_role (provider, role);
  if (provider_role == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Unknown role “%s” for account type “%s”"), role, type_id);
      return NULL;
    }
  /* The kind is derived from type and role; a stored one that disagrees means a damaged index. */
  if (kind_str != NULL)
    {
      KhTokenKind kind;

      if (!kh_token_kind_from_string (kind_str, &kind) || kind != provider_role->token_kind)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("The token kind “%s” does not fit account type “%s”"),
                       kind_str, type_id);
          return NULL;
        }
    }

  if (stored_status_str != NULL
      && !kh_grant_status_from_string (stored_status_str, &stored_status))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Unknown grant status “%s”"), stored_status_str);
      return NULL;
    }

  member = json_object_get_member (object, "without_state");
  if (member != NULL && !JSON_NODE_HOLDS_NULL (member)
      && !kh_json_get_bool (object, "without_state", &without_state))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The member “without_state” is not a boolean"));
      return NULL;
    }

  /* Indexes written before teams have no "storage": those grants are local. */
  storage = kh_json_get_string (object, "storage");
  if (storage != NULL && g_strcmp0 (storage, "local") != 0 && g_strcmp0 (storage, "team") != 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Unknown grant storage “%s” (local or team)"), storage);
      return NULL;
    }

  shops = shops_from_json (object, error);
  if (shops == NULL)
    return NULL;
  advertisers = advertisers_from_json (object, error);
  if (advertisers == NULL)
    return NULL;

  self = g_object_new (KH_TYPE_GRANT,
                       "id", id,
                       "account-type", (int) provider->type,
                       "role", role,
                       "app-name", app,
                       NULL);
  self->client_label = g_steal_pointer (&client);
  /* to_json writes the fallback (the id) for list --json; it is not a name of its own. */
  if (g_strcmp0 (display_name, id) != 0 && display_name != NULL && *display_name != '\0')
    self->display_name = g_steal_pointer (&display_name);
  self->region = g_steal_pointer (&region);
  self->open_id = g_steal_pointer (&open_id);
  self->access_expires_at = access_expires_at;
  self->refresh_expires_at = refresh_expires_at;
  g_strfreev (self->scopes);
  self->scopes = g_steal_pointer (&scopes);
  g_strfreev (self->missing_scopes);
  self->missing_scopes = g_steal_pointer (&missing_scopes);
  g_strfreev (self->warnings);
  self->warnings = g_steal_pointer (&warnings);
  g_ptr_array_unref (self->shops);
  self->shops = g_steal_pointer (&shops);
  g_ptr_array_unref (self->advertisers);
  self->advertisers = g_steal_pointer (&advertisers);
  self->stored_status = stored_status;
  if (stored_status == KH_GRANT_STATUS_NEEDS_REAUTH || stored_status == KH_GRANT_STATUS_REVOKED)
    self->status_reason = g_steal_pointer (&status_reason);
  self->without_state = without_state;
  self->shared = g_strcmp0 (storage, "team") == 0;
  self->created_at = created_at;
  self->updated_at = updated_at;

  return self;
}
