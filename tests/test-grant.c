/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-grant.c: KhTokenSet's strict keyring form, KhGrant's index / list --json form, the
 * derived status and the property notifications. */

#include "config.h"

#include "kh-error.h"
#include "kh-grant.h"
#include "kh-json.h"
#include "kh-test-util.h"
#include "kh-util.h"

#define DAY (G_GINT64_CONSTANT (86400))

static JsonNode *
parse (const char *text)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = kh_json_parse (text, strlen (text), &error);

  g_assert_no_error (error);
  return node;
}

/* ---- KhTokenSet ------------------------------------------------------------------------------ */

static void
test_token_set_round_trip (void)
{
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(KhTokenSet) copy = NULL;
  g_autoptr(KhTokenSet) back = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  tokens->access_token = g_strdup ("TTP_access");
  tokens->refresh_token = g_strdup ("TTP_refresh");
  tokens->access_expires_at = 1660556783;
  tokens->refresh_expires_at = 4903858076;

  node = kh_token_set_to_json (tokens);
  text = kh_json_to_string (node, FALSE);
  g_assert_cmpstr (text, ==,
                   "{\"access_token\":\"TTP_access\",\"refresh_token\":\"TTP_refresh\","
                   "\"access_expires_at\":1660556783,\"refresh_expires_at\":4903858076}");

  back = kh_token_set_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->access_token, ==, "TTP_access");
  g_assert_cmpstr (back->refresh_token, ==, "TTP_refresh");
  g_assert_cmpint (back->access_expires_at, ==, 1660556783);
  g_assert_cmpint (back->refresh_expires_at, ==, 4903858076);

  copy = kh_token_set_copy (back);
  g_assert_cmpstr (copy->access_token, ==, "TTP_access");
  g_assert_true (copy->access_token != back->access_token);
  g_assert_cmpint (copy->refresh_expires_at, ==, 4903858076);
}

static void
test_token_set_no_refresh (void)
{
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(KhTokenSet) back = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;

  tokens->access_token = g_strdup ("advertiser-token");
  node = kh_token_set_to_json (tokens);
  text = kh_json_to_string (node, FALSE);
  g_assert_cmpstr (text, ==,
                   "{\"access_token\":\"advertiser-token\",\"refresh_token\":null,"
                   "\"access_expires_at\":0,\"refresh_expires_at\":0}");

  back = kh_token_set_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_null (back->refresh_token);
  g_assert_cmpint (back->access_expires_at, ==, 0);
}

static void
test_token_set_strict (void)
{
  static const char * const bad[] = {
    "[]",
    "\"token\"",
    "null",
    "{}",
    /* access_token missing, empty, or not a string */
    "{\"refresh_token\":null,\"access_expires_at\":0,\"refresh_expires_at\":0}",
    "{\"access_token\":\"\",\"refresh_token\":null,"
    "\"access_expires_at\":0,\"refresh_expires_at\":0}",
    "{\"access_token\":42,\"refresh_token\":null,\"access_expires_at\":0,\"refresh_expires_at\":0}",
    /* refresh_token missing, empty or of another type */
    "{\"access_token\":\"a\",\"access_expires_at\":0,\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":\"\","
    "\"access_expires_at\":0,\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":[],"
    "\"access_expires_at\":0,\"refresh_expires_at\":0}",
    /* times: missing, strings, doubles, negative */
    "{\"access_token\":\"a\",\"refresh_token\":null,\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":null,\"access_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":null,"
    "\"access_expires_at\":\"1\",\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":null,"
    "\"access_expires_at\":1.5,\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":null,"
    "\"access_expires_at\":10.0,\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":null,"
    "\"access_expires_at\":-1,\"refresh_expires_at\":0}",
    "{\"access_token\":\"a\",\"refresh_token\":null,"
    "\"access_expires_at\":0,\"refresh_expires_at\":null}",
    "{\"access_token\":\"a\",\"refresh_token\":null,"
    "\"access_expires_at\":true,\"refresh_expires_at\":0}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(JsonNode) node = parse (bad[i]);
      g_autoptr(GError) error = NULL;
      g_autoptr(KhTokenSet) tokens = kh_token_set_new_from_json (node, &error);

      g_test_message ("input: %s", bad[i]);
      g_assert_null (tokens);
      g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
    }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(KhTokenSet) tokens = kh_token_set_new_from_json (NULL, &error);

    g_assert_null (tokens);
    g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  }

  /* Unknown members are tolerated: a newer Keyhold may add some. */
  {
    g_autoptr(JsonNode) node =
      parse ("{\"access_token\":\"a\",\"refresh_token\":\"r\",\"access_expires_at\":5,"
             "\"refresh_expires_at\":6,\"version\":2}");
    g_autoptr(GError) error = NULL;
    g_autoptr(KhTokenSet) tokens = kh_token_set_new_from_json (node, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (tokens->refresh_token, ==, "r");
    g_assert_cmpint (tokens->refresh_expires_at, ==, 6);
  }
}

/* ---- KhGrant --------------------------------------------------------------------------------- */

static GPtrArray *
make_shops (void)
{
  GPtrArray *shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  KhShop *shop = g_new0 (KhShop, 1);

  shop->id = g_strdup ("7000714532876273420");
  shop->name = g_strdup ("Maomao beauty shop");
  shop->region = g_strdup ("GB");
  shop->seller_type = g_strdup ("CROSS_BORDER");
  shop->cipher = g_strdup ("GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
  shop->code = g_strdup ("CNGBCBA4LLU8");
  g_ptr_array_add (shops, shop);

  shop = g_new0 (KhShop, 1);
  shop->id = g_strdup ("7000714532876273421");
  shop->name = g_strdup ("Second shop");
  g_ptr_array_add (shops, shop);

  return shops;
}

static void
test_grant_new (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(KhGrant) other = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(KhGrant) ttcm = kh_grant_new (KH_ACCOUNT_CREATOR_MARKETPLACE, "creator", "biz");
  gint64 now = kh_now ();

  g_assert_cmpuint (strlen (kh_grant_get_id (grant)), ==, 32);
  g_assert_cmpstr (kh_grant_get_id (grant), !=, kh_grant_get_id (other));
  g_assert_cmpint (kh_grant_get_account_type (grant), ==, KH_ACCOUNT_SELLER);
  g_assert_null (kh_grant_get_role (grant));
  g_assert_cmpint (kh_grant_get_token_kind (grant), ==, KH_TOKEN_KIND_SHOP);
  g_assert_cmpstr (kh_grant_get_app_name (grant), ==, "my-app");
  g_assert_nonnull (kh_grant_get_scopes (grant));
  g_assert_null (kh_grant_get_scopes (grant)[0]);
  g_assert_nonnull (kh_grant_get_missing_scopes (grant));
  g_assert_nonnull (kh_grant_get_warnings (grant));
  g_assert_cmpuint (kh_grant_get_shops (grant)->len, ==, 0);
  g_assert_cmpuint (kh_grant_get_advertisers (grant)->len, ==, 0);
  g_assert_cmpint (kh_grant_get_stored_status (grant), ==, KH_GRANT_STATUS_ACTIVE);
  g_assert_cmpint (ABS (kh_grant_get_created_at (grant) - now), <=, 2);
  g_assert_cmpint (kh_grant_get_updated_at (grant), ==, kh_grant_get_created_at (grant));

  g_assert_cmpstr (kh_grant_get_role (ttcm), ==, "creator");
  g_assert_cmpint (kh_grant_get_token_kind (ttcm), ==, KH_TOKEN_KIND_TT_USER);

  g_assert_finalize_object (g_steal_pointer (&grant));
}

static void
test_grant_display_name (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_ADVERTISER, NULL, "biz");

  /* No name yet: the id stands in, so lists never show an empty row. */
  g_assert_cmpstr (kh_grant_get_display_name (grant), ==, kh_grant_get_id (grant));
  kh_grant_set_display_name (grant, "Acme Ads");
  g_assert_cmpstr (kh_grant_get_display_name (grant), ==, "Acme Ads");
  kh_grant_set_display_name (grant, "");
  g_assert_cmpstr (kh_grant_get_display_name (grant), ==, kh_grant_get_id (grant));
  kh_grant_set_display_name (grant, "Acme Ads");
  kh_grant_set_display_name (grant, NULL);
  g_assert_cmpstr (kh_grant_get_display_name (grant), ==, kh_grant_get_id (grant));
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  GHashTable *counts = user_data;
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (counts, pspec->name));

  g_hash_table_insert (counts, (gpointer) pspec->name, GUINT_TO_POINTER (n + 1));
}

static guint
notified (GHashTable *counts,
          const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (counts, name));
}

static void
test_grant_notify (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(GPtrArray) shops = make_shops ();
  g_autoptr(GPtrArray) same_shops = make_shops ();
  const char *scopes[] = { "seller.order", "seller.product", NULL };
  const char *same_scopes[] = { "seller.order", "seller.product", NULL };
  g_autofree char *label = NULL;

  g_signal_connect (grant, "notify", G_CALLBACK (count_notify), counts);

  kh_grant_set_display_name (grant, "Shop");
  kh_grant_set_display_name (grant, "Shop");
  g_assert_cmpuint (notified (counts, "display-name"), ==, 1);

  kh_grant_set_client_label (grant, "Client A");
  kh_grant_set_client_label (grant, "Client A");
  g_assert_cmpuint (notified (counts, "client-label"), ==, 1);
  g_object_get (grant, "client-label", &label, NULL);
  g_assert_cmpstr (label, ==, "Client A");
  g_object_set (grant, "client-label", "Client B", NULL);
  g_assert_cmpuint (notified (counts, "client-label"), ==, 2);

  kh_grant_set_region (grant, "GB");
  kh_grant_set_region (grant, "GB");
  g_assert_cmpuint (notified (counts, "region"), ==, 1);

  kh_grant_set_open_id (grant, "open-1");
  kh_grant_set_open_id (grant, "open-1");
  g_assert_cmpuint (notified (counts, "open-id"), ==, 1);

  kh_grant_set_scopes (grant, scopes);
  kh_grant_set_scopes (grant, same_scopes);
  g_assert_cmpuint (notified (counts, "scopes"), ==, 1);
  g_assert_cmpstrv (kh_grant_get_scopes (grant), scopes);
  kh_grant_set_missing_scopes (grant, NULL);
  g_assert_cmpuint (notified (counts, "missing-scopes"), ==, 0);

  tokens->access_token = g_strdup ("a");
  tokens->access_expires_at = 100;
  tokens->refresh_expires_at = 200;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpuint (notified (counts, "access-expires-at"), ==, 1);
  g_assert_cmpuint (notified (counts, "refresh-expires-at"), ==, 1);
  g_assert_cmpint (kh_grant_get_access_expires_at (grant), ==, 100);
  g_assert_cmpint (kh_grant_get_refresh_expires_at (grant), ==, 200);

  kh_grant_set_shops (grant, shops);
  g_assert_true (kh_grant_get_shops (grant) == shops);
  kh_grant_set_shops (grant, same_shops);
  g_assert_cmpuint (notified (counts, "shops"), ==, 1);

  kh_grant_set_stored_status (grant, KH_GRANT_STATUS_NEEDS_REAUTH);
  kh_grant_set_stored_status (grant, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpuint (notified (counts, "stored-status"), ==, 1);

  kh_grant_set_without_state (grant, TRUE);
  kh_grant_set_without_state (grant, TRUE);
  g_assert_cmpuint (notified (counts, "without-state"), ==, 1);

  kh_grant_add_warning (grant, "Region differs");
  kh_grant_add_warning (grant, "Region differs");
  g_assert_cmpuint (notified (counts, "warnings"), ==, 1);
  g_assert_cmpuint (g_strv_length ((char **) kh_grant_get_warnings (grant)), ==, 1);

  kh_grant_touch (grant, 12345);
  kh_grant_touch (grant, 12345);
  g_assert_cmpuint (notified (counts, "updated-at"), ==, 1);
  g_assert_cmpint (kh_grant_get_updated_at (grant), ==, 12345);

  g_signal_handlers_disconnect_by_func (grant, count_notify, counts);
}

static void
test_grant_json_round_trip (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(GPtrArray) shops = make_shops ();
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) node2 = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text2 = NULL;
  const char *scopes[] = { "seller.order", "seller.product", NULL };
  gboolean without_state = FALSE;
  JsonObject *object;
  JsonArray *array;
  KhShop *shop;

  tokens->access_token = g_strdup ("secret-access");
  tokens->refresh_token = g_strdup ("secret-refresh");
  tokens->access_expires_at = 1660556783;
  tokens->refresh_expires_at = 4903858076;

  kh_grant_set_display_name (grant, "Maomao");
  kh_grant_set_client_label (grant, "Client A");
  kh_grant_set_region (grant, "GB");
  kh_grant_set_open_id (grant, "open-xyz");
  kh_grant_set_scopes (grant, scopes);
  kh_grant_set_expiries_from_tokens (grant, tokens);
  kh_grant_set_shops (grant, shops);
  kh_grant_set_without_state (grant, TRUE);
  kh_grant_add_warning (grant, "The shop region differs from the link's region");
  kh_grant_touch (grant, 1700000000);

  node = kh_grant_to_json (grant);
  text = kh_json_to_string (node, FALSE);
  /* The index is not a keyring: no token may ever reach it. */
  g_assert_null (strstr (text, "secret-"));

  object = kh_json_node_object (node);
  g_assert_cmpstr (kh_json_get_string (object, "id"), ==, kh_grant_get_id (grant));
  g_assert_cmpstr (kh_json_get_string (object, "type"), ==, "seller");
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (object, "role")));
  g_assert_cmpstr (kh_json_get_string (object, "kind"), ==, "shop");
  g_assert_cmpstr (kh_json_get_string (object, "app"), ==, "my-app");
  g_assert_cmpstr (kh_json_get_string (object, "client"), ==, "Client A");
  g_assert_cmpstr (kh_json_get_string (object, "display_name"), ==, "Maomao");
  g_assert_cmpstr (kh_json_get_string (object, "region"), ==, "GB");
  g_assert_cmpstr (kh_json_get_string (object, "open_id"), ==, "open-xyz");
  g_assert_cmpstr (kh_json_get_string (object, "status"), ==, "active");
  g_assert_cmpstr (kh_json_get_string (object, "stored_status"), ==, "active");
  g_assert_cmpstr (kh_json_get_string (object, "access_expires_at"), ==, "2022-08-15T09:46:23Z");
  g_assert_cmpstr (kh_json_get_string (object, "refresh_expires_at"), ==, "2125-05-25T14:47:56Z");
  g_assert_true (kh_json_get_bool (object, "without_state", &without_state));
  g_assert_true (without_state);
  g_assert_cmpstr (kh_json_get_string (object, "storage"), ==, "local");
  array = kh_json_get_array (object, "shops");
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  g_assert_cmpstr (kh_json_get_string (json_array_get_object_element (array, 0), "cipher"), ==,
                   "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (
    json_array_get_object_element (array, 1), "cipher")));
  g_assert_cmpuint (json_array_get_length (kh_json_get_array (object, "advertisers")), ==, 0);
  g_assert_cmpstr (kh_json_get_string (object, "updated_at"), ==, "2023-11-14T22:13:20Z");

  back = kh_grant_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (back), ==, kh_grant_get_id (grant));
  g_assert_cmpint (kh_grant_get_account_type (back), ==, KH_ACCOUNT_SELLER);
  g_assert_cmpstr (kh_grant_get_display_name (back), ==, "Maomao");
  g_assert_cmpstr (kh_grant_get_client_label (back), ==, "Client A");
  g_assert_cmpstr (kh_grant_get_region (back), ==, "GB");
  g_assert_cmpstr (kh_grant_get_open_id (back), ==, "open-xyz");
  g_assert_cmpstrv (kh_grant_get_scopes (back), scopes);
  g_assert_cmpint (kh_grant_get_access_expires_at (back), ==, 1660556783);
  g_assert_cmpint (kh_grant_get_refresh_expires_at (back), ==, 4903858076);
  g_assert_true (kh_grant_get_without_state (back));
  g_assert_cmpstr (kh_grant_get_warnings (back)[0], ==,
                   "The shop region differs from the link's region");
  g_assert_cmpint (kh_grant_get_created_at (back), ==, kh_grant_get_created_at (grant));
  g_assert_cmpint (kh_grant_get_updated_at (back), ==, 1700000000);
  g_assert_cmpuint (kh_grant_get_shops (back)->len, ==, 2);
  shop = g_ptr_array_index (kh_grant_get_shops (back), 0);
  g_assert_cmpstr (shop->id, ==, "7000714532876273420");
  g_assert_cmpstr (shop->seller_type, ==, "CROSS_BORDER");
  g_assert_cmpstr (shop->code, ==, "CNGBCBA4LLU8");
  shop = g_ptr_array_index (kh_grant_get_shops (back), 1);
  g_assert_null (shop->cipher);

  /* Writing what was read gives the same document. */
  node2 = kh_grant_to_json (back);
  text2 = kh_json_to_string (node2, FALSE);
  g_assert_cmpstr (text, ==, text2);
}

static void
test_grant_json_advertisers (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_CREATOR_MARKETPLACE, "account", "biz");
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(GPtrArray) advertisers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  KhAdvertiser *advertiser;
  JsonObject *object;

  advertiser = g_new0 (KhAdvertiser, 1);
  advertiser->id = g_strdup ("7012345678901234567");
  advertiser->name = g_strdup ("Acme");
  g_ptr_array_add (advertisers, advertiser);
  advertiser = g_new0 (KhAdvertiser, 1);
  advertiser->id = g_strdup ("42");
  g_ptr_array_add (advertisers, advertiser);
  kh_grant_set_advertisers (grant, advertisers);

  node = kh_grant_to_json (grant);
  object = kh_json_node_object (node);
  g_assert_cmpstr (kh_json_get_string (object, "type"), ==, "creator-marketplace");
  g_assert_cmpstr (kh_json_get_string (object, "role"), ==, "account");
  g_assert_cmpstr (kh_json_get_string (object, "kind"), ==, "advertiser");
  /* Never-expiring tokens are null, not 1970. */
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (object, "access_expires_at")));
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (object, "refresh_expires_at")));
  g_assert_cmpstr (kh_json_get_string (object, "status"), ==, "active");
  /* No name: list --json shows the id. */
  g_assert_cmpstr (kh_json_get_string (object, "display_name"), ==, kh_grant_get_id (grant));

  back = kh_grant_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_role (back), ==, "account");
  g_assert_cmpint (kh_grant_get_token_kind (back), ==, KH_TOKEN_KIND_ADVERTISER);
  g_assert_cmpuint (kh_grant_get_advertisers (back)->len, ==, 2);
  advertiser = g_ptr_array_index (kh_grant_get_advertisers (back), 0);
  g_assert_cmpstr (advertiser->id, ==, "7012345678901234567");
  g_assert_cmpstr (advertiser->name, ==, "Acme");
  advertiser = g_ptr_array_index (kh_grant_get_advertisers (back), 1);
  g_assert_null (advertiser->name);
  /* The fallback written for list --json does not become a name of its own. */
  g_assert_cmpstr (kh_grant_get_display_name (back), ==, kh_grant_get_id (back));
}

static void
test_grant_json_invalid (void)
{
  static const char * const bad[] = {
    "[]",
    "{}",
    "{\"id\":\"abc\",\"type\":\"seller\"}",                                /* no app */
    "{\"id\":\"abc\",\"type\":\"nope\",\"app\":\"a\"}",
    "{\"id\":\"\",\"type\":\"seller\",\"app\":\"a\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"role\":\"creator\",\"app\":\"a\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"kind\":\"advertiser\",\"app\":\"a\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"stored_status\":\"great\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"access_expires_at\":1660556783}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"access_expires_at\":\"yesterday\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"scopes\":[1,2]}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"scopes\":\"a,b\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"shops\":{}}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"shops\":[1]}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"shops\":[{\"name\":\"x\"}]}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"shops\":[{\"id\":\"1\",\"name\":5}]}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"advertisers\":[{\"name\":\"x\"}]}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"without_state\":\"yes\"}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"client\":7}",
    "{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"storage\":\"cloud\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(JsonNode) node = parse (bad[i]);
      g_autoptr(GError) error = NULL;
      g_autoptr(KhGrant) grant = kh_grant_new_from_json (node, &error);

      g_test_message ("input: %s", bad[i]);
      g_assert_null (grant);
      g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
    }

  /* The minimal valid document. */
  {
    g_autoptr(JsonNode) node = parse ("{\"id\":\"abc\",\"type\":\"creator\",\"app\":\"a\"}");
    g_autoptr(GError) error = NULL;
    g_autoptr(KhGrant) grant = kh_grant_new_from_json (node, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (kh_grant_get_id (grant), ==, "abc");
    g_assert_cmpint (kh_grant_get_account_type (grant), ==, KH_ACCOUNT_CREATOR);
    g_assert_cmpstr (kh_grant_get_display_name (grant), ==, "abc");
    g_assert_cmpint (kh_grant_get_access_expires_at (grant), ==, 0);
  }
}

/* The reason of a mark: kept in the index with the mark, cleared with it, and absent from an
 * index written before it existed (which loads unchanged). */
static void
test_grant_status_reason (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(KhGrant) old = NULL;
  g_autoptr(JsonNode) old_node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) bad = NULL;
  g_autoptr(KhGrant) refused = NULL;
  const char *reason = "The refresh was interrupted: authorize again";

  g_assert_null (kh_grant_get_status_reason (grant));
  node = kh_grant_to_json (grant);
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (kh_json_node_object (node),
                                                               "status_reason")));
  g_clear_pointer (&node, json_node_unref);

  kh_grant_set_stored_status (grant, KH_GRANT_STATUS_NEEDS_REAUTH);
  kh_grant_set_status_reason (grant, reason);
  node = kh_grant_to_json (grant);
  g_assert_cmpstr (kh_json_get_string (kh_json_node_object (node), "status_reason"), ==, reason);
  back = kh_grant_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_cmpint (kh_grant_get_stored_status (back), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpstr (kh_grant_get_status_reason (back), ==, reason);

  /* Authorized again: the mark goes, and its reason with it. */
  kh_grant_set_stored_status (back, KH_GRANT_STATUS_ACTIVE);
  g_assert_null (kh_grant_get_status_reason (back));

  /* An entry written before status_reason existed. */
  old_node = parse ("{\"id\":\"0123456789abcdef0123456789abcdef\",\"type\":\"seller\","
                    "\"role\":null,\"kind\":\"shop\",\"app\":\"a\",\"client\":null,"
                    "\"display_name\":\"Old\",\"region\":\"GB\",\"open_id\":\"o\","
                    "\"status\":\"needs-reauth\",\"stored_status\":\"needs-reauth\","
                    "\"access_expires_at\":\"2022-08-15T09:46:23Z\","
                    "\"refresh_expires_at\":null,\"scopes\":[],\"missing_scopes\":[],"
                    "\"shops\":[],\"advertisers\":[],\"without_state\":false,"
                    "\"warnings\":[],\"created_at\":\"2023-11-14T22:13:20Z\","
                    "\"updated_at\":\"2023-11-14T22:13:20Z\"}");
  old = kh_grant_new_from_json (old_node, &error);
  g_assert_no_error (error);
  g_assert_cmpint (kh_grant_get_stored_status (old), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_null (kh_grant_get_status_reason (old));

  /* Anything but a string or null is a damaged entry. */
  bad = parse ("{\"id\":\"abc\",\"type\":\"seller\",\"app\":\"a\",\"status_reason\":5}");
  refused = kh_grant_new_from_json (bad, &error);
  g_assert_null (refused);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
}

/* A shared grant says so in its JSON and keeps saying so; an index written before teams, with no
 * "storage" member, loads as local. */
static void
test_grant_shared (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(KhGrant) old = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonNode) old_node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_false (kh_grant_get_shared (grant));
  g_signal_connect (grant, "notify", G_CALLBACK (count_notify), counts);
  kh_grant_set_shared (grant, TRUE);
  kh_grant_set_shared (grant, TRUE);
  g_assert_cmpuint (notified (counts, "shared"), ==, 1);

  node = kh_grant_to_json (grant);
  g_assert_cmpstr (kh_json_get_string (kh_json_node_object (node), "storage"), ==, "team");
  back = kh_grant_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_true (kh_grant_get_shared (back));

  old_node = parse ("{\"id\":\"abc\",\"type\":\"creator\",\"app\":\"a\"}");
  old = kh_grant_new_from_json (old_node, &error);
  g_assert_no_error (error);
  g_assert_false (kh_grant_get_shared (old));
}

static void
test_grant_status (void)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "my-app");
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  const gint64 now = 1700000000;
  const char *missing[] = { "creator.affiliate.info", NULL };

  tokens->access_token = g_strdup ("a");

  /* Fresh seller: access for 7 days, authorization for a year. */
  tokens->access_expires_at = now + 7 * DAY;
  tokens->refresh_expires_at = now + 365 * DAY;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);

  /* The 30-day boundary: one second outside is active, exactly 30 days is expiring. */
  tokens->refresh_expires_at = now + 30 * DAY + 1;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);
  g_assert_cmpint (kh_grant_compute_status (grant, now + 1), ==, KH_GRANT_STATUS_EXPIRING);
  tokens->refresh_expires_at = now + 30 * DAY;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_EXPIRING);

  /* An expired access token alone is routine: the refresh token mints a new one. */
  tokens->access_expires_at = now - 1;
  tokens->refresh_expires_at = now + 200 * DAY;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);

  /* Access expired and the refresh window over: only the account holder can fix it. */
  tokens->access_expires_at = now - 10;
  tokens->refresh_expires_at = now - 5;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  /* ...but while the access token still works, the grant is only expiring. */
  g_assert_cmpint (kh_grant_compute_status (grant, now - 7), ==, KH_GRANT_STATUS_EXPIRING);

  /* Never-expiring advertiser token (all zeros). */
  tokens->access_expires_at = 0;
  tokens->refresh_expires_at = 0;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);

  /* Creator with "unlimited" authorization but missing scopes. */
  tokens->access_expires_at = now + DAY;
  tokens->refresh_expires_at = 4903858076;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);
  kh_grant_set_missing_scopes (grant, missing);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_EXPIRING);
  kh_grant_set_missing_scopes (grant, NULL);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);

  /* What TikTok said wins over the clock. */
  kh_grant_set_stored_status (grant, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  kh_grant_set_stored_status (grant, KH_GRANT_STATUS_REVOKED);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_REVOKED);
  kh_grant_set_stored_status (grant, KH_GRANT_STATUS_ACTIVE);
  g_assert_cmpint (kh_grant_compute_status (grant, now), ==, KH_GRANT_STATUS_ACTIVE);
}

static void
test_shop_advertiser_copy (void)
{
  g_autoptr(GPtrArray) shops = make_shops ();
  g_autoptr(KhShop) shop = kh_shop_copy (g_ptr_array_index (shops, 0));
  g_autoptr(KhAdvertiser) advertiser = NULL;
  KhAdvertiser original = { (char *) "1", (char *) "A" };

  g_assert_cmpstr (shop->name, ==, "Maomao beauty shop");
  g_assert_cmpstr (shop->cipher, ==, "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
  advertiser = kh_advertiser_copy (&original);
  g_assert_cmpstr (advertiser->id, ==, "1");
  g_assert_cmpstr (advertiser->name, ==, "A");
  kh_shop_free (NULL);
  kh_advertiser_free (NULL);
  kh_token_set_free (NULL);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/grant/token-set-round-trip", test_token_set_round_trip);
  g_test_add_func ("/keyhold/grant/token-set-no-refresh", test_token_set_no_refresh);
  g_test_add_func ("/keyhold/grant/token-set-strict", test_token_set_strict);
  g_test_add_func ("/keyhold/grant/new", test_grant_new);
  g_test_add_func ("/keyhold/grant/display-name", test_grant_display_name);
  g_test_add_func ("/keyhold/grant/notify", test_grant_notify);
  g_test_add_func ("/keyhold/grant/json-round-trip", test_grant_json_round_trip);
  g_test_add_func ("/keyhold/grant/json-advertisers", test_grant_json_advertisers);
  g_test_add_func ("/keyhold/grant/json-invalid", test_grant_json_invalid);
  g_test_add_func ("/keyhold/grant/shared", test_grant_shared);
  g_test_add_func ("/keyhold/grant/status", test_grant_status);
  g_test_add_func ("/keyhold/grant/status-reason", test_grant_status_reason);
  g_test_add_func ("/keyhold/grant/shop-advertiser-copy", test_shop_advertiser_copy);

  return g_test_run ();
}
