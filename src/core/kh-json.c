/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-json.c: type-checked access to JSON that came from the network or from disk. json-glib's
 * own getters warn (and with fatal-warnings, abort) on a type mismatch; these never do. */

#define G_LOG_DOMAIN "kh-json"

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "kh-error.h"
#include "kh-json.h"

/* json-glib's parser recurses once per nesting level and overflows the stack on a few hundred
 * thousand '['. Nothing Keyhold reads nests more than a handful of levels: refuse deep documents
 * before parsing. */
static gboolean
nesting_is_sane (const char *data,
                 gsize       length)
{
  gboolean in_string = FALSE;
  gboolean escaped = FALSE;
  guint depth = 0;

  for (gsize i = 0; i < length; i++)
    {
      char c = data[i];

      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > KH_JSON_MAX_DEPTH)
            return FALSE;
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }

  return TRUE;
}

JsonNode *
kh_json_parse (const char  *data,
               gsize        length,
               GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  g_return_val_if_fail (data != NULL || length == 0, NULL);

  if (length == 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE, _("The answer was empty"));
      return NULL;
    }

  /* json-glib insists on valid UTF-8 and would report an error anyway, but checking first gives
   * one clear message for binary garbage. */
  if (!g_utf8_validate (data, length, NULL))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                           _("The answer is not valid UTF-8 text"));
      return NULL;
    }

  if (!nesting_is_sane (data, length))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                   _("The answer is nested more than %d levels deep"), KH_JSON_MAX_DEPTH);
      return NULL;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, length, &local_error))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE,
                   _("The answer is not valid JSON: %s"), local_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_BAD_RESPONSE, _("The answer was empty"));
      return NULL;
    }

  return json_node_copy (root);
}

char *
kh_json_to_string (JsonNode *node,
                   gboolean  pretty)
{
  g_autoptr(JsonGenerator) generator = NULL;

  g_return_val_if_fail (node != NULL, NULL);

  generator = json_generator_new ();
  json_generator_set_pretty (generator, pretty);
  json_generator_set_root (generator, node);

  return json_generator_to_data (generator, NULL);
}

JsonObject *
kh_json_node_object (JsonNode *node)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;

  return json_node_get_object (node);
}

static JsonNode *
get_member (JsonObject *object,
            const char *member)
{
  if (object == NULL || member == NULL)
    return NULL;

  return json_object_get_member (object, member);
}

const char *
kh_json_get_string (JsonObject *object,
                    const char *member)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (node);
}

gboolean
kh_json_get_int (JsonObject *object,
                 const char *member,
                 gint64     *out)
{
  JsonNode *node = get_member (object, member);
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;

  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    {
      if (out != NULL)
        *out = json_node_get_int (node);
      return TRUE;
    }

  if (type == G_TYPE_DOUBLE)
    {
      double value = json_node_get_double (node);

      /* 4903858076.0 is a fine expiry; 1.5 or 1e300 is not an integer. */
      if (!isfinite (value) || value != floor (value) ||
          value < (double) G_MININT64 || value >= (double) G_MAXINT64)
        return FALSE;
      if (out != NULL)
        *out = (gint64) value;
      return TRUE;
    }

  return FALSE;
}

gboolean
kh_json_get_int_or_string (JsonObject *object,
                           const char *member,
                           gint64     *out)
{
  const char *str;
  guint64 value;

  if (kh_json_get_int (object, member, out))
    return TRUE;

  str = kh_json_get_string (object, member);
  if (str == NULL || *str == '\0' || strlen (str) > 19)
    return FALSE;

  if (!g_ascii_string_to_unsigned (str, 10, 0, G_MAXINT64, &value, NULL))
    return FALSE;

  if (out != NULL)
    *out = (gint64) value;

  return TRUE;
}

gboolean
kh_json_get_bool (JsonObject *object,
                  const char *member,
                  gboolean   *out)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return FALSE;

  if (out != NULL)
    *out = json_node_get_boolean (node);

  return TRUE;
}

JsonObject *
kh_json_get_object (JsonObject *object,
                    const char *member)
{
  return kh_json_node_object (get_member (object, member));
}

JsonArray *
kh_json_get_array (JsonObject *object,
                   const char *member)
{
  JsonNode *node = get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return NULL;

  return json_node_get_array (node);
}

char **
kh_json_get_strv (JsonObject *object,
                  const char *member)
{
  JsonArray *array = kh_json_get_array (object, member);
  g_autoptr(GStrvBuilder) builder = NULL;
  guint length;

  if (array == NULL)
    return NULL;

  builder = g_strv_builder_new ();
  length = json_array_get_length (array);

  for (guint i = 0; i < length; i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        return NULL;

      g_strv_builder_add (builder, json_node_get_string (node));
    }

  return g_strv_builder_end (builder);
}

JsonArray *
kh_json_array_from_strv (const char * const *strv)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);

  return array;
}

void
kh_json_set_strv (JsonObject         *object,
                  const char         *member,
                  const char * const *strv)
{
  g_return_if_fail (object != NULL);
  g_return_if_fail (member != NULL);

  json_object_set_array_member (object, member, kh_json_array_from_strv (strv));
}
