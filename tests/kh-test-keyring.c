/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-keyring.c: see kh-test-keyring.h. */

#include "config.h"

#include <glib/gstdio.h>
#include <libsecret/secret.h>

#include "kh-test-keyring.h"

#include "kh-json.h"
#include "kh-store.h"

#define schema (*kh_store_get_item_schema ())

guint
kh_test_grant_bucket (const char *grant_id)
{
  guint32 hash = 2166136261u;

  for (const guchar *p = (const guchar *) grant_id; *p != '\0'; p++)
    hash = (hash ^ *p) * 16777619u;
  return hash % KH_TEST_N_BUCKETS;
}

JsonObject *
kh_test_read_bucket (const char *store_name,
                     guint       bucket)
{
  g_autofree char *id = g_strdup_printf ("%02u", bucket);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *secret = NULL;
  JsonObject *doc;
  JsonObject *grants;

  secret = secret_password_lookup_sync (&schema, NULL, &error, "store", store_name,
                                        "kind", "grants", "id", id, "gen", 2, NULL);
  g_assert_no_error (error);
  if (secret == NULL)
    return NULL;
  g_assert_true (json_parser_load_from_data (parser, secret, -1, &error));
  g_assert_no_error (error);
  doc = kh_json_node_object (json_parser_get_root (parser));
  g_assert_nonnull (doc);
  g_assert_cmpint (json_object_get_int_member (doc, "v"), ==, 2);
  grants = kh_json_get_object (doc, "grants");
  g_assert_nonnull (grants);
  return json_object_ref (grants);
}

void
kh_test_write_bucket (const char *store_name,
                      guint       bucket,
                      JsonObject *grants,
                      const char *raw)
{
  g_autofree char *id = g_strdup_printf ("%02u", bucket);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (raw == NULL)
    {
      g_autoptr(JsonObject) doc = json_object_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

      json_object_set_int_member (doc, "v", 2);
      json_object_set_object_member (doc, "grants", json_object_ref (grants));
      json_node_set_object (node, doc);
      text = json_to_string (node, FALSE);
    }
  g_assert_true (secret_password_store_sync (&schema, SECRET_COLLECTION_DEFAULT, "test bucket",
                                             raw != NULL ? raw : text, NULL, &error,
                                             "store", store_name, "kind", "grants", "id", id,
                                             "gen", 2, NULL));
  g_assert_no_error (error);
}

static JsonObject *
entry_object (KhGrant          *grant,
              const KhTokenSet *tokens)
{
  JsonObject *entry = json_object_new ();

  json_object_set_member (entry, "tokens", kh_token_set_to_json (tokens));
  json_object_set_member (entry, "grant", kh_grant_to_json (grant));
  return entry;
}

void
kh_test_put_bucket_entry (const char       *store_name,
                          KhGrant          *grant,
                          const KhTokenSet *tokens)
{
  guint bucket = kh_test_grant_bucket (kh_grant_get_id (grant));
  g_autoptr(JsonObject) grants = kh_test_read_bucket (store_name, bucket);

  if (grants == NULL)
    grants = json_object_new ();
  json_object_set_object_member (grants, kh_grant_get_id (grant), entry_object (grant, tokens));
  kh_test_write_bucket (store_name, bucket, grants, NULL);
}

void
kh_test_remove_bucket_entry (const char *store_name,
                             const char *grant_id)
{
  guint bucket = kh_test_grant_bucket (grant_id);
  g_autoptr(JsonObject) grants = kh_test_read_bucket (store_name, bucket);

  g_assert_nonnull (grants);
  g_assert_true (json_object_has_member (grants, grant_id));
  json_object_remove_member (grants, grant_id);
  kh_test_write_bucket (store_name, bucket, grants, NULL);
}

guint
kh_test_count_bucket_grants (const char *store_name)
{
  guint n = 0;

  for (guint b = 0; b < KH_TEST_N_BUCKETS; b++)
    {
      g_autoptr(JsonObject) grants = kh_test_read_bucket (store_name, b);

      if (grants != NULL)
        n += json_object_get_size (grants);
    }
  return n;
}

guint
kh_test_count_items (const char *store_name,
                     const char *kind)
{
  g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  GList *items;
  guint n;

  g_hash_table_insert (attributes, (char *) "store", (char *) store_name);
  if (kind != NULL)
    g_hash_table_insert (attributes, (char *) "kind", (char *) kind);
  items = secret_password_searchv_sync (&schema, attributes, SECRET_SEARCH_ALL, NULL, &error);
  g_assert_no_error (error);
  n = g_list_length (items);
  g_list_free_full (items, g_object_unref);
  return n;
}

void
kh_test_assert_tokens_equal (const KhTokenSet *a,
                             const KhTokenSet *b)
{
  g_assert_cmpstr (a->access_token, ==, b->access_token);
  g_assert_cmpstr (a->refresh_token, ==, b->refresh_token);
  g_assert_cmpint (a->access_expires_at, ==, b->access_expires_at);
  g_assert_cmpint (a->refresh_expires_at, ==, b->refresh_expires_at);
}

void
kh_test_write_grant_item (const char       *store_name,
                          const char       *gen,
                          KhGrant          *grant,
                          const KhTokenSet *tokens)
{
  g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) doc = entry_object (grant, tokens);
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;
  g_autofree char *label = g_strdup_printf ("Keyhold grant %s",
                                            kh_grant_get_display_name (grant));

  json_object_set_int_member (doc, "v", 1);
  json_node_set_object (node, doc);
  text = json_to_string (node, FALSE);
  g_hash_table_insert (attributes, (char *) "gen", (char *) gen);
  g_hash_table_insert (attributes, (char *) "store", (char *) store_name);
  g_hash_table_insert (attributes, (char *) "kind", (char *) "grant");
  g_hash_table_insert (attributes, (char *) "id", (char *) kh_grant_get_id (grant));
  g_hash_table_insert (attributes, (char *) "type", (char *) "seller");
  g_hash_table_insert (attributes, (char *) "app", (char *) kh_grant_get_app_name (grant));
  g_assert_true (secret_password_storev_sync (&schema, attributes, SECRET_COLLECTION_DEFAULT,
                                              label, text, NULL, &error));
  g_assert_no_error (error);
}

void
kh_test_write_old_index (const char *data_dir,
                         const char *store_name,
                         GPtrArray  *grants)
{
  g_autofree char *dir = g_build_filename (data_dir, store_name, NULL);
  g_autofree char *path = g_build_filename (dir, "index.json", NULL);
  g_autoptr(GString) text = g_string_new ("{\"version\":1,\n\"grants\":[");
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < grants->len; i++)
    {
      g_autoptr(JsonNode) node = kh_grant_to_json (g_ptr_array_index (grants, i));
      g_autofree char *entry = json_to_string (node, FALSE);

      g_string_append_printf (text, "%s\n%s", i > 0 ? "," : "", entry);
    }
  g_string_append (text, "],\n\"apps\":[],\n\"pending\":[]}\n");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, text->str, text->len, &error));
  g_assert_no_error (error);
}
