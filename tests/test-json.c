/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-json.c: the type-checked JSON readers never warn, abort or lie on hostile input. */

#include "config.h"

#include <string.h>

#include "kh-error.h"
#include "kh-json.h"
#include "kh-test-util.h"

static JsonObject *
parse_object (const char *text,
              JsonNode  **out_node)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = kh_json_parse (text, strlen (text), &error);

  g_assert_no_error (error);
  g_assert_nonnull (node);
  *out_node = node;

  return kh_json_node_object (node);
}

static void
test_json_parse_errors (void)
{
  const char *bad[] = { "", "{", "{\"a\":}", "not json", "\xff\xfe{}", NULL };

  for (guint i = 0; bad[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = kh_json_parse (bad[i], strlen (bad[i]), &error);

      g_assert_null (node);
      g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
    }
}

static void
test_json_depth_limit (void)
{
  g_autoptr(GString) deep = g_string_new (NULL);
  g_autoptr(GString) ok = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) fine = NULL;

  /* 200,000 levels would overflow json-glib's recursive parser: refused up front. */
  for (guint i = 0; i < 200000; i++)
    g_string_append_c (deep, '[');
  node = kh_json_parse (deep->str, deep->len, &error);
  g_assert_null (node);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_clear_error (&error);

  /* Brackets inside strings do not count; the limit itself is allowed. */
  for (guint i = 0; i < KH_JSON_MAX_DEPTH; i++)
    g_string_append_c (ok, '[');
  g_string_append (ok, "\"[[[[\\\"[[\"");
  for (guint i = 0; i < KH_JSON_MAX_DEPTH; i++)
    g_string_append_c (ok, ']');
  fine = kh_json_parse (ok->str, ok->len, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fine);
}

static void
test_json_getters_check_types (void)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *object = parse_object ("{\"s\":\"x\",\"i\":42,\"d\":4903858076.0,\"f\":1.5,"
                                     "\"b\":true,\"n\":null,\"o\":{},\"a\":[\"p\",\"q\"],"
                                     "\"mixed\":[\"p\",1],\"digits\":\"7000714532876273420\","
                                     "\"neg\":\"-1\",\"huge\":1e300}", &node);
  g_auto(GStrv) strv = NULL;
  gint64 value = 0;
  gboolean flag = FALSE;

  g_assert_cmpstr (kh_json_get_string (object, "s"), ==, "x");
  g_assert_null (kh_json_get_string (object, "i"));
  g_assert_null (kh_json_get_string (object, "n"));
  g_assert_null (kh_json_get_string (object, "o"));
  g_assert_null (kh_json_get_string (object, "missing"));
  g_assert_null (kh_json_get_string (NULL, "s"));

  g_assert_true (kh_json_get_int (object, "i", &value));
  g_assert_cmpint (value, ==, 42);
  g_assert_true (kh_json_get_int (object, "d", &value));
  g_assert_cmpint (value, ==, 4903858076);
  g_assert_false (kh_json_get_int (object, "f", &value));
  g_assert_false (kh_json_get_int (object, "huge", &value));
  g_assert_false (kh_json_get_int (object, "s", &value));
  g_assert_false (kh_json_get_int (object, "digits", &value));

  g_assert_true (kh_json_get_int_or_string (object, "digits", &value));
  g_assert_cmpint (value, ==, G_GINT64_CONSTANT (7000714532876273420));
  g_assert_false (kh_json_get_int_or_string (object, "neg", &value));
  g_assert_false (kh_json_get_int_or_string (object, "s", &value));

  g_assert_true (kh_json_get_bool (object, "b", &flag));
  g_assert_true (flag);
  g_assert_false (kh_json_get_bool (object, "i", &flag));

  g_assert_nonnull (kh_json_get_object (object, "o"));
  g_assert_null (kh_json_get_object (object, "a"));
  g_assert_nonnull (kh_json_get_array (object, "a"));
  g_assert_null (kh_json_get_array (object, "o"));

  strv = kh_json_get_strv (object, "a");
  g_assert_cmpstrv (strv, ((const char *[]) { "p", "q", NULL }));
  g_assert_null (kh_json_get_strv (object, "mixed"));
  g_assert_null (kh_json_get_strv (object, "s"));
}

static void
test_json_strv_round_trip (void)
{
  const char *scopes[] = { "seller.order.info", "creator.affiliate.info", NULL };
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;
  g_auto(GStrv) back = NULL;

  kh_json_set_strv (object, "scopes", scopes);
  json_node_set_object (node, object);
  text = kh_json_to_string (node, FALSE);
  g_assert_cmpstr (text, ==, "{\"scopes\":[\"seller.order.info\",\"creator.affiliate.info\"]}");

  back = kh_json_get_strv (object, "scopes");
  g_assert_cmpstrv (back, scopes);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/json/parse-errors", test_json_parse_errors);
  g_test_add_func ("/keyhold/json/depth-limit", test_json_depth_limit);
  g_test_add_func ("/keyhold/json/getters-check-types", test_json_getters_check_types);
  g_test_add_func ("/keyhold/json/strv-round-trip", test_json_strv_round_trip);

  return g_test_run ();
}
