/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-token-client.c: the parsers on the exact shapes of tiktok-api.md and on garbage, then the
 * client over HTTP: against a small fake TikTok for the exact wire format of each request and
 * faults the sandbox cannot stage (a 503 carrying a valid envelope, a 2 MiB answer, silence),
 * and against the real keyhold-sandbox for every call of every kind, rotation, revocation,
 * retries, dropped connections, garbage, cancellation and logs that never carry a secret. */

#include "config.h"

#include <libsoup/soup.h>

#include "kh-app-profile.h"
#include "kh-error.h"
#include "kh-json.h"
#include "kh-log.h"
#include "kh-origin-map.h"
#include "kh-sign.h"
#define KH_TEST_WITH_SANDBOX 1
#include "kh-test-util.h"
#include "kh-token-client.h"
#include "kh-util.h"

#define TIMEOUT_MS 20000

#define SHOP_KEY        "6a1b2c3d4e5f"
#define SHOP_SECRET     "shop-secret-0123456789"
#define BIZ_ID          "7100000000000000001"
#define BIZ_SECRET      "biz-secret-0123456789"
#define GOOD_CODE       "code-good-ABCDEF"
#define REDIRECT        "http://localhost:8765/callback/"

/* ---- parser fixtures: the shapes of tiktok-api.md -------------------------------------------- */

static const char shop_token_json[] =
  "{\"code\":0,\"message\":\"success\",\"data\":{"
  "\"access_token\":\"ROW_access_Sx9\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"ROW_refresh_Qa1\",\"refresh_token_expire_in\":4903858076,"
  "\"open_id\":\"7010736057180325637\",\"seller_name\":\"Kat Lee\","
  "\"seller_base_region\":\"GB\",\"user_type\":0,"
  "\"granted_scopes\":[\"seller.authorization.info\",\"seller.order\"]},"
  "\"request_id\":\"2022081509462301\"}";

static const char shop_token_permissions_json[] =
  "{\"code\":0,\"message\":\"success\",\"data\":{"
  "\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":1691000000,"
  "\"user_type\":1,\"granted_permissions\":[\"creator.affiliate.info\"]},\"request_id\":\"x\"}";

static const char shop_token_no_scopes_json[] =
  "{\"code\":0,\"message\":\"success\",\"data\":{"
  "\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":1691000000}}";

static const char advertiser_token_json[] =
  "{\"code\":0,\"message\":\"OK\",\"request_id\":\"20220815abcdef\",\"data\":{"
  "\"access_token\":\"adv_access_7f\",\"advertiser_ids\":[\"7012345678901234567\","
  "7012345678901234568],\"scope\":[1,4,10]}}";

static const char tt_user_token_json[] =
  "{\"code\":0,\"message\":\"OK\",\"request_id\":\"2022tt\",\"data\":{"
  "\"access_token\":\"act.tt_access\",\"token_type\":\"Bearer\",\"expires_in\":86400,"
  "\"refresh_token\":\"rft.tt_refresh\",\"refresh_token_expires_in\":31536000,"
  "\"open_id\":\"-000xyzOpenId\","
  "\"scope\":\"user.info.basic, video.list,,biz.creator.info ,\"}}";

static const char shops_json[] =
  "{\"code\":0,\"data\":{\"shops\":["
  "{\"id\":\"7000714532876273420\",\"name\":\"Maomao beauty shop\",\"region\":\"GB\","
  "\"seller_type\":\"CROSS_BORDER\",\"cipher\":\"GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3\","
  "\"code\":\"CNGBCBA4LLU8\"},"
  "{\"id\":7000714532876273421,\"name\":\"Second\",\"region\":\"US\",\"seller_type\":\"LOCAL\","
  "\"cipher\":\"ROW_abc\",\"code\":\"USLC1\"}]},"
  "\"message\":\"Success\",\"request_id\":\"202203070749000101890810281E8C70B7\"}";

static const char advertisers_json[] =
  "{\"code\":0,\"message\":\"OK\",\"request_id\":\"r\",\"data\":{\"list\":["
  "{\"advertiser_id\":\"7012345678901234567\",\"advertiser_name\":\"Acme Ads\"},"
  "{\"advertiser_id\":6900000000000000001},"
  "{\"advertiser_id\":\"42\",\"advertiser_name\":null}]}}";

static const char account_json[] =
  "{\"code\":0,\"message\":\"OK\",\"request_id\":\"r\",\"data\":{"
  "\"display_name\":\"Kat's Kitchen\",\"profile_image\":\"https://p16.example/img.jpeg\","
  "\"username\":\"katskitchen\"}}";

/* 2022-08-10: before the official example's expiry, so that it is not "already expired". */
#define PARSE_NOW G_GINT64_CONSTANT (1660100000)

static void
test_parse_shop_token (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autofree char *iso = NULL;
  const char *scopes[] = { "seller.authorization.info", "seller.order", NULL };

  response = kh_parse_token_response (KH_TOKEN_KIND_SHOP, shop_token_json,
                                      strlen (shop_token_json), PARSE_NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->tokens->access_token, ==, "ROW_access_Sx9");
  g_assert_cmpstr (response->tokens->refresh_token, ==, "ROW_refresh_Qa1");
  /* Absolute Unix times stay as they are: the classic unit bug would add now. */
  g_assert_cmpint (response->tokens->access_expires_at, ==, 1660556783);
  iso = kh_iso8601_from_unix (response->tokens->access_expires_at);
  g_assert_cmpstr (iso, ==, "2022-08-15T09:46:23Z");
  g_assert_cmpint (response->tokens->refresh_expires_at, ==, 4903858076);
  g_assert_cmpstr (response->open_id, ==, "7010736057180325637");
  g_assert_cmpstr (response->seller_name, ==, "Kat Lee");
  g_assert_cmpstr (response->seller_base_region, ==, "GB");
  g_assert_cmpint (response->user_type, ==, 0);
  g_assert_cmpstrv (response->scopes, scopes);
  g_assert_nonnull (response->advertiser_ids);
  g_assert_null (response->advertiser_ids[0]);
  g_assert_cmpstr (response->request_id, ==, "2022081509462301");
}

static void
test_parse_shop_token_variants (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) bare = NULL;
  const char *permissions[] = { "creator.affiliate.info", NULL };

  /* Older documents: granted_permissions instead of granted_scopes. */
  response = kh_parse_token_response (KH_TOKEN_KIND_SHOP, shop_token_permissions_json,
                                      strlen (shop_token_permissions_json), PARSE_NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstrv (response->scopes, permissions);
  g_assert_cmpint (response->user_type, ==, 1);
  g_assert_null (response->open_id);
  g_assert_cmpstr (response->request_id, ==, "x");

  /* ...or no list at all, and no user_type. */
  bare = kh_parse_token_response (KH_TOKEN_KIND_SHOP, shop_token_no_scopes_json,
                                  strlen (shop_token_no_scopes_json), PARSE_NOW, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bare->scopes);
  g_assert_null (bare->scopes[0]);
  g_assert_cmpint (bare->user_type, ==, -1);
}

static void
test_parse_advertiser_token (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  const char *ids[] = { "7012345678901234567", "7012345678901234568", NULL };
  const char *scopes[] = { "1", "4", "10", NULL };

  response = kh_parse_token_response (KH_TOKEN_KIND_ADVERTISER, advertiser_token_json,
                                      strlen (advertiser_token_json), PARSE_NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->tokens->access_token, ==, "adv_access_7f");
  g_assert_null (response->tokens->refresh_token);
  g_assert_cmpint (response->tokens->access_expires_at, ==, 0);
  g_assert_cmpint (response->tokens->refresh_expires_at, ==, 0);
  g_assert_cmpstrv (response->advertiser_ids, ids);
  g_assert_cmpstrv (response->scopes, scopes);
  g_assert_cmpint (response->user_type, ==, -1);
}

static void
test_parse_tt_user_token (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) arrays = NULL;
  const char *scopes[] = { "user.info.basic", "video.list", "biz.creator.info", NULL };
  const gint64 now = 1700000000;
  const char *array_scopes =
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400,\"refresh_token\":\"r\","
    "\"refresh_token_expires_in\":31527314,\"scope\":[\"user.info.basic\"]}}";

  response = kh_parse_token_response (KH_TOKEN_KIND_TT_USER, tt_user_token_json,
                                      strlen (tt_user_token_json), now, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (response->tokens->access_token, ==, "act.tt_access");
  g_assert_cmpstr (response->tokens->refresh_token, ==, "rft.tt_refresh");
  /* Seconds from the answer, made absolute. */
  g_assert_cmpint (response->tokens->access_expires_at, ==, now + 86400);
  g_assert_cmpint (response->tokens->refresh_expires_at, ==, now + 31536000);
  g_assert_cmpstr (response->open_id, ==, "-000xyzOpenId");
  g_assert_cmpstrv (response->scopes, scopes);

  arrays = kh_parse_token_response (KH_TOKEN_KIND_TT_USER, array_scopes, strlen (array_scopes),
                                    now, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (arrays->scopes[0], ==, "user.info.basic");
  g_assert_cmpint (arrays->tokens->refresh_expires_at, ==, now + 31527314);
}

static void
test_parse_error_envelopes (void)
{
  static const struct {
    KhTokenKind kind;
    const char *body;
    int         code;
  } cases[] = {
    { KH_TOKEN_KIND_SHOP,
      "{\"code\":36004004,\"message\":\"auth code is invalid\",\"request_id\":\"r1\",\"data\":{}}",
      36004004 },
    { KH_TOKEN_KIND_SHOP, "{\"code\":105001,\"message\":\"deauthorized\"}", 105001 },
    { KH_TOKEN_KIND_SHOP, "{\"code\":36009002,\"message\":\"rate\",\"data\":null}", 36009002 },
    { KH_TOKEN_KIND_ADVERTISER, "{\"code\":40110,\"message\":\"auth_code used\"}", 40110 },
    { KH_TOKEN_KIND_TT_USER, "{\"code\":40105,\"message\":\"revoked\",\"request_id\":\"r\"}",
      40105 },
    { KH_TOKEN_KIND_TT_USER, "{\"code\":51000}", 51000 },
    { KH_TOKEN_KIND_TT_USER, "{\"code\":-1,\"message\":\"\\u001b[31mred\\nline\"}", -1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhTokenResponse) response = NULL;

      response = kh_parse_token_response (cases[i].kind, cases[i].body, strlen (cases[i].body),
                                          PARSE_NOW, &error);
      g_test_message ("input: %s", cases[i].body);
      g_assert_null (response);
      g_assert_error (error, KH_API_ERROR, cases[i].code);
      /* TikTok's text never smuggles a terminal escape or a second line into our errors. */
      g_assert_null (strchr (error->message, '\033'));
      g_assert_null (strchr (error->message, '\n'));
    }

  /* The same rule for every parser. */
  {
    const char *body = "{\"code\":106001,\"message\":\"invalid sign\"}";
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    g_autoptr(GPtrArray) shops = kh_parse_shops (body, strlen (body), &e1);
    g_autoptr(GPtrArray) advertisers = kh_parse_advertisers (body, strlen (body), &e2);
    g_autofree char *name = kh_parse_account_name (body, strlen (body), &e3);

    g_assert_null (shops);
    g_assert_error (e1, KH_API_ERROR, 106001);
    g_assert_null (advertisers);
    g_assert_error (e2, KH_API_ERROR, 106001);
    g_assert_null (name);
    g_assert_error (e3, KH_API_ERROR, 106001);
  }
}

static JsonNode *
parse_text (const char  *text,
            GError     **error)
{
  return kh_json_parse (text, strlen (text), error);
}

static void
test_parse_envelope (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) ok = NULL;
  g_autoptr(JsonNode) failed = NULL;
  g_autoptr(JsonNode) no_data = NULL;
  JsonObject *data;

  ok = parse_text ("{\"code\":0,\"data\":{\"x\":1}}", &error);
  g_assert_no_error (error);
  data = kh_parse_envelope (ok, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_has_member (data, "x"));

  failed = parse_text ("{\"code\":40001,\"message\":\"no\",\"request_id\":\"rq\"}", &error);
  g_assert_no_error (error);
  g_assert_null (kh_parse_envelope (failed, &error));
  g_assert_error (error, KH_API_ERROR, 40001);
  g_assert_nonnull (strstr (error->message, "40001"));
  g_clear_error (&error);

  no_data = parse_text ("{\"code\":0,\"message\":\"OK\"}", &error);
  g_assert_no_error (error);
  g_assert_null (kh_parse_envelope (no_data, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_clear_error (&error);

  g_assert_null (kh_parse_envelope (NULL, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
}

static void
test_parse_enrichment (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;
  g_autofree char *name = NULL;
  g_autofree char *username = NULL;
  KhShop *shop;
  KhAdvertiser *advertiser;
  const char *username_json = "{\"code\":0,\"data\":{\"username\":\"kat\",\"display_name\":\"\"}}";
  const char *empty_shops = "{\"code\":0,\"data\":{\"shops\":[]}}";

  shops = kh_parse_shops (shops_json, strlen (shops_json), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (shops->len, ==, 2);
  shop = g_ptr_array_index (shops, 0);
  g_assert_cmpstr (shop->id, ==, "7000714532876273420");
  g_assert_cmpstr (shop->name, ==, "Maomao beauty shop");
  g_assert_cmpstr (shop->region, ==, "GB");
  g_assert_cmpstr (shop->seller_type, ==, "CROSS_BORDER");
  g_assert_cmpstr (shop->cipher, ==, "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
  g_assert_cmpstr (shop->code, ==, "CNGBCBA4LLU8");
  /* A numeric id keeps every digit. */
  shop = g_ptr_array_index (shops, 1);
  g_assert_cmpstr (shop->id, ==, "7000714532876273421");
  g_clear_pointer (&shops, g_ptr_array_unref);

  shops = kh_parse_shops (empty_shops, strlen (empty_shops), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (shops->len, ==, 0);

  advertisers = kh_parse_advertisers (advertisers_json, strlen (advertisers_json), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (advertisers->len, ==, 3);
  advertiser = g_ptr_array_index (advertisers, 0);
  g_assert_cmpstr (advertiser->id, ==, "7012345678901234567");
  g_assert_cmpstr (advertiser->name, ==, "Acme Ads");
  advertiser = g_ptr_array_index (advertisers, 1);
  g_assert_cmpstr (advertiser->id, ==, "6900000000000000001");
  g_assert_null (advertiser->name);
  advertiser = g_ptr_array_index (advertisers, 2);
  g_assert_cmpstr (advertiser->id, ==, "42");

  name = kh_parse_account_name (account_json, strlen (account_json), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "Kat's Kitchen");
  username = kh_parse_account_name (username_json, strlen (username_json), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (username, ==, "kat");

  /* Names are shown in terminals and lists: control characters never survive. */
  {
    const char *hostile = "{\"code\":0,\"data\":{\"display_name\":\"Kat\\u001b[2J\\nrm -rf\"}}";
    g_autofree char *clean = kh_parse_account_name (hostile, strlen (hostile), &error);

    g_assert_no_error (error);
    g_assert_null (strchr (clean, '\033'));
    g_assert_null (strchr (clean, '\n'));
    g_assert_true (g_str_has_prefix (clean, "Kat"));
  }
}

/* Inputs that are not what TikTok sends: every one is KH_ERROR_BAD_RESPONSE, none crashes. */
static const char * const bad_token_bodies[] = {
  "",
  "   ",
  "not json",
  "<html><body>502 Bad Gateway</body></html>",
  "null",
  "[]",
  "42",
  "\"code\"",
  "{}",
  "{\"code\":\"0\",\"data\":{}}",
  "{\"code\":0.5,\"data\":{}}",
  "{\"code\":null}",
  "{\"code\":99999999999999,\"message\":\"big\"}",
  "{\"code\":0}",
  "{\"code\":0,\"data\":null}",
  "{\"code\":0,\"data\":[]}",
  "{\"code\":0,\"data\":\"token\"}",
  "{\"code\":0,\"data\":{}}",
  "{\"code\":0,\"data\":{\"access_token\":42}}",
  "{\"code\":0,\"data\":{\"access_token\":\"\"}}",
  "{\"code\":0,\"data\":{\"access_token\":[\"a\"]}}",
  /* A token that would split the HTTP header it is later sent in, or is not visible ASCII. */
  "{\"code\":0,\"data\":{\"access_token\":\"a\\r\\nX-Injected: 1\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a b\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"caf\u00e9\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"advertiser_ids\":[\"1 2\"]}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"scope\":[\"x\\ty\"]}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"scope\":{}}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"advertiser_ids\":\"x\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"advertiser_ids\":[1.5]}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"advertiser_ids\":[true]}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"advertiser_ids\":[[]]}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"scope\":[null]}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"scope\":true}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":\"1660556783\","
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":7,\"refresh_token_expire_in\":4903858076}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":-5}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":99999999999}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076,\"granted_scopes\":\"x\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076,\"user_type\":\"0\"}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783,"
  "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076,\"seller_name\":{}}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":\"86400\",\"refresh_token\":\"r\","
  "\"refresh_token_expires_in\":1}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400,"
  "\"refresh_token_expires_in\":1}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400,\"refresh_token\":\"r\","
  "\"refresh_token_expires_in\":0}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400,\"refresh_token\":\"r\","
  "\"refresh_token_expires_in\":31536000,\"open_id\":5}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400,\"refresh_token\":\"r\","
  "\"refresh_token_expires_in\":31536000,\"scope\":7}}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\"",
  "\xff\xfe{\"code\":0}",
  "{\"code\":0,\"data\":{\"access_token\":\"a\xc3\x28\"}}",
};

static void
test_parse_garbage (void)
{
  static const KhTokenKind kinds[] = {
    KH_TOKEN_KIND_SHOP, KH_TOKEN_KIND_ADVERTISER, KH_TOKEN_KIND_TT_USER
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad_token_bodies); i++)
    for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
      {
        const char *body = bad_token_bodies[i];
        g_autoptr(GError) error = NULL;
        g_autoptr(KhTokenResponse) response = NULL;
        g_autofree char *escaped = g_strescape (body, NULL);

        response = kh_parse_token_response (kinds[k], body, strlen (body), PARSE_NOW, &error);
        /* Some bodies are valid for one kind only (an advertiser token needs no expiry). */
        if (response != NULL)
          {
            g_assert_no_error (error);
            g_assert_cmpint (kinds[k], ==, KH_TOKEN_KIND_ADVERTISER);
            continue;
          }
        g_test_message ("kind %u input: %s", kinds[k], escaped);
        g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
      }
}

static void
test_parse_garbage_enrichment (void)
{
  static const char * const bad[] = {
    "",
    "{}",
    "{\"code\":0,\"data\":{}}",
    "{\"code\":0,\"data\":{\"shops\":{}}}",
    "{\"code\":0,\"data\":{\"shops\":[1]}}",
    "{\"code\":0,\"data\":{\"shops\":[{}]}}",
    "{\"code\":0,\"data\":{\"shops\":[{\"id\":\"\"}]}}",
    "{\"code\":0,\"data\":{\"shops\":[{\"id\":1.5}]}}",
    "{\"code\":0,\"data\":{\"shops\":[{\"id\":\"1\",\"name\":2}]}}",
    "{\"code\":0,\"data\":{\"shops\":[{\"id\":\"1\",\"cipher\":[]}]}}",
    "{\"code\":0,\"data\":{\"shops\":[{\"id\":\"1\",\"cipher\":\"a\\nb\"}]}}",
    "{\"code\":0,\"data\":{\"shops\":[{\"id\":\"1 2\"}]}}",
    "{\"code\":0,\"data\":{\"list\":{}}}",
    "{\"code\":0,\"data\":{\"list\":[\"7\"]}}",
    "{\"code\":0,\"data\":{\"list\":[{\"advertiser_name\":\"x\"}]}}",
    "{\"code\":0,\"data\":{\"list\":[{\"advertiser_id\":false}]}}",
    "{\"code\":0,\"data\":{\"list\":[{\"advertiser_id\":\"1\",\"advertiser_name\":3}]}}",
    "{\"code\":0,\"data\":{\"display_name\":5}}",
    "{\"code\":0,\"data\":{\"display_name\":\"\"}}",
    "{\"code\":0,\"data\":{\"profile_image\":\"x\"}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e1 = NULL;
      g_autoptr(GError) e2 = NULL;
      g_autoptr(GError) e3 = NULL;
      g_autoptr(GPtrArray) shops = kh_parse_shops (bad[i], strlen (bad[i]), &e1);
      g_autoptr(GPtrArray) advertisers = kh_parse_advertisers (bad[i], strlen (bad[i]), &e2);
      g_autofree char *name = kh_parse_account_name (bad[i], strlen (bad[i]), &e3);

      g_test_message ("input: %s", bad[i]);
      /* Each parser rejects what is not its own shape; none of these fits any. */
      g_assert_null (shops);
      g_assert_error (e1, KH_ERROR, KH_ERROR_BAD_RESPONSE);
      g_assert_null (advertisers);
      g_assert_error (e2, KH_ERROR, KH_ERROR_BAD_RESPONSE);
      g_assert_null (name);
      g_assert_error (e3, KH_ERROR, KH_ERROR_BAD_RESPONSE);
    }
}

/* A poor man's fuzzer: truncations, deep nesting and byte flips of the real shapes. Each run
 * must end in exactly one of result or error, never in a crash or a warning. */
static void
check_all_parsers (const char *data,
                   gsize       length)
{
  static const KhTokenKind kinds[] = {
    KH_TOKEN_KIND_SHOP, KH_TOKEN_KIND_ADVERTISER, KH_TOKEN_KIND_TT_USER
  };

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhTokenResponse) response =
        kh_parse_token_response (kinds[k], data, length, PARSE_NOW, &error);

      g_assert_true ((response == NULL) != (error == NULL));
    }
  {
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) e3 = NULL;
    g_autoptr(GPtrArray) shops = kh_parse_shops (data, length, &e1);
    g_autoptr(GPtrArray) advertisers = kh_parse_advertisers (data, length, &e2);
    g_autofree char *name = kh_parse_account_name (data, length, &e3);

    g_assert_true ((shops == NULL) != (e1 == NULL));
    g_assert_true ((advertisers == NULL) != (e2 == NULL));
    g_assert_true ((name == NULL) != (e3 == NULL));
  }
}

static void
test_parse_mutations (void)
{
  static const char * const seeds[] = {
    shop_token_json, advertiser_token_json, tt_user_token_json, shops_json, advertisers_json,
    account_json,
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (20221115);
  g_autofree char *deep = NULL;
  gsize n = 300000;

  for (guint s = 0; s < G_N_ELEMENTS (seeds); s++)
    {
      gsize length = strlen (seeds[s]);

      for (gsize cut = 0; cut <= length; cut++)
        check_all_parsers (seeds[s], cut);

      for (guint round = 0; round < 400; round++)
        {
          g_autofree char *copy = g_memdup2 (seeds[s], length);

          for (guint flips = g_rand_int_range (rand, 1, 4); flips > 0; flips--)
            {
              gint32 at = g_rand_int_range (rand, 0, (gint32) length);

              copy[at] = (char) g_rand_int_range (rand, 0, 256);
            }
          check_all_parsers (copy, length);
        }
    }

  /* Not NUL-terminated: the parsers honour length. */
  check_all_parsers (shop_token_json, 10);

  /* Deep nesting would overflow json-glib's recursive parser. */
  deep = g_malloc (2 * n);
  memset (deep, '[', n);
  memset (deep + n, ']', n);
  check_all_parsers (deep, 2 * n);
  memset (deep, '{', n);
  check_all_parsers (deep, n);
}

static void
test_parse_absurd_expiry (void)
{
  static const char * const bad[] = {
    /* already expired at PARSE_NOW */
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1600000000,"
    "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076}}",
    /* a duration where an absolute time belongs: 1970 */
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":604800,"
    "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076}}",
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":-1,"
    "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076}}",
    /* beyond the year 3000: milliseconds, probably */
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"access_token_expire_in\":1660556783000,"
    "\"refresh_token\":\"r\",\"refresh_token_expire_in\":4903858076}}",
  };
  static const char * const bad_tt[] = {
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":0,\"refresh_token\":\"r\","
    "\"refresh_token_expires_in\":31536000}}",
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":-86400,\"refresh_token\":\"r\","
    "\"refresh_token_expires_in\":31536000}}",
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":9223372036854775807,"
    "\"refresh_token\":\"r\",\"refresh_token_expires_in\":31536000}}",
    "{\"code\":0,\"data\":{\"access_token\":\"a\",\"expires_in\":86400,\"refresh_token\":\"r\","
    "\"refresh_token_expires_in\":9223372036854775807}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhTokenResponse) response =
        kh_parse_token_response (KH_TOKEN_KIND_SHOP, bad[i], strlen (bad[i]), PARSE_NOW, &error);

      g_test_message ("input: %s", bad[i]);
      g_assert_null (response);
      g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_tt); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhTokenResponse) response =
        kh_parse_token_response (KH_TOKEN_KIND_TT_USER, bad_tt[i], strlen (bad_tt[i]), PARSE_NOW,
                                 &error);

      g_test_message ("input: %s", bad_tt[i]);
      g_assert_null (response);
      g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
    }
}

/* ---- a fake TikTok on a loopback port -------------------------------------------------------- */

typedef enum {
  FAULT_HTTP_503,           /* 503 with an HTML body */
  FAULT_HTTP_503_ENVELOPE,  /* 503, but the normal (valid) answer in the body */
  FAULT_API_ERROR,          /* HTTP 200 with an error envelope */
  FAULT_GARBAGE,            /* HTTP 200 with a body that is not JSON */
  FAULT_DROP,               /* the connection is closed without an answer */
  FAULT_HANG,               /* no answer at all */
  FAULT_HUGE,               /* a 2 MiB answer */
  FAULT_NO_TOKEN,           /* code 0, but no access_token */
} FaultKind;

typedef struct {
  FaultKind kind;
  int       code;
  int       remaining;      /* -1: every request */
} Fault;

typedef struct {
  SoupServer    *server;
  KhTokenClient *client;
  KhAppProfile  *shop_app;
  KhAppProfile  *business_app;
  GQueue         faults;
  GHashTable    *hits;          /* path -> count */
  GPtrArray     *hung;          /* SoupServerMessage, paused forever */
  guint          serial;
  GHashTable    *used_codes;
  char          *shop_refresh;  /* the one valid Shop refresh token (rotation) */
  char          *tt_refresh;
  /* the last request, as the server saw it */
  char          *method;
  char          *path;          /* without the /_host/<host> prefix */
  char          *host;
  GHashTable    *query;
  char          *body;
  char          *access_token_header;
  char          *tts_token_header;
  char          *content_type;
  char          *user_agent;
} Fixture;

static void
fixture_add_fault (Fixture   *fixture,
                   FaultKind  kind,
                   int        code,
                   int        count)
{
  Fault *fault = g_new0 (Fault, 1);

  fault->kind = kind;
  fault->code = code;
  fault->remaining = count;
  g_queue_push_tail (&fixture->faults, fault);
}

static guint
fixture_hits (Fixture    *fixture,
              const char *path)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (fixture->hits, path));
}

static void
respond_json (SoupServerMessage *msg,
              guint              status,
              const char        *body)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, body, strlen (body));
}

static void
respond_error (SoupServerMessage *msg,
               int                code,
               const char        *message)
{
  g_autofree char *body =
    g_strdup_printf ("{\"code\":%d,\"message\":\"%s\",\"request_id\":\"req-%d\",\"data\":{}}",
                     code, message, code);

  respond_json (msg, SOUP_STATUS_OK, body);
}

static char *
new_token (Fixture    *fixture,
           const char *prefix)
{
  return g_strdup_printf ("%s-%u", prefix, ++fixture->serial);
}

static JsonObject *
request_json (Fixture *fixture)
{
  static JsonNode *last;   /* kept until the next request: test-only simplicity */

  g_clear_pointer (&last, json_node_unref);
  if (fixture->body == NULL)
    return NULL;
  last = kh_json_parse (fixture->body, strlen (fixture->body), NULL);
  return last != NULL ? kh_json_node_object (last) : NULL;
}

static const char *
query_get (Fixture    *fixture,
           const char *key)
{
  return fixture->query != NULL ? g_hash_table_lookup (fixture->query, key) : NULL;
}

static char *
shop_token_body (Fixture *fixture)
{
  g_autofree char *access = new_token (fixture, "shop-access");

  g_free (fixture->shop_refresh);
  fixture->shop_refresh = new_token (fixture, "shop-refresh");
  return g_strdup_printf ("{\"code\":0,\"message\":\"success\",\"request_id\":\"rq\",\"data\":{"
                          "\"access_token\":\"%s\",\"access_token_expire_in\":%" G_GINT64_FORMAT ","
                          "\"refresh_token\":\"%s\","
                          "\"refresh_token_expire_in\":%" G_GINT64_FORMAT ","
                          "\"open_id\":\"open-shop\",\"seller_name\":\"Maomao\","
                          "\"seller_base_region\":\"GB\",\"user_type\":0,"
                          "\"granted_scopes\":[\"seller.authorization.info\"]}}",
                          access, kh_now () + 7 * 86400, fixture->shop_refresh,
                          kh_now () + 365 * 86400);
}

static char *
tt_token_body (Fixture *fixture,
               gint64   refresh_seconds)
{
  g_autofree char *access = new_token (fixture, "act");

  g_free (fixture->tt_refresh);
  fixture->tt_refresh = new_token (fixture, "rft");
  return g_strdup_printf ("{\"code\":0,\"message\":\"OK\",\"request_id\":\"rq\",\"data\":{"
                          "\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":86400,"
                          "\"refresh_token\":\"%s\","
                          "\"refresh_token_expires_in\":%" G_GINT64_FORMAT ","
                          "\"open_id\":\"open-tt\","
                          "\"scope\":\"user.info.basic,biz.creator.info\"}}",
                          access, fixture->tt_refresh, refresh_seconds);
}

static gboolean
check_business_app (Fixture    *fixture,
                    JsonObject *object,
                    const char *id_member,
                    const char *secret_member)
{
  return object != NULL
         && g_strcmp0 (kh_json_get_string (object, id_member), BIZ_ID) == 0
         && g_strcmp0 (kh_json_get_string (object, secret_member), BIZ_SECRET) == 0;
}

static void
route (Fixture           *fixture,
       SoupServerMessage *msg)
{
  const char *path = fixture->path;
  JsonObject *body = request_json (fixture);

  if (g_str_equal (fixture->host, "auth.tiktok-shops.com")
      && g_str_equal (path, "/api/v2/token/get"))
    {
      const char *code = query_get (fixture, "auth_code");
      g_autofree char *answer = NULL;

      g_assert_cmpstr (fixture->method, ==, "GET");
      g_assert_cmpstr (query_get (fixture, "app_key"), ==, SHOP_KEY);
      g_assert_cmpstr (query_get (fixture, "app_secret"), ==, SHOP_SECRET);
      g_assert_cmpstr (query_get (fixture, "grant_type"), ==, "authorized_code");
      /* Codes are single-use, as at TikTok. */
      if (g_strcmp0 (code, GOOD_CODE) != 0 || g_hash_table_contains (fixture->used_codes, code))
        {
          respond_error (msg, 36004004, "auth code is invalid");
          return;
        }
      g_hash_table_add (fixture->used_codes, g_strdup (code));
      answer = shop_token_body (fixture);
      respond_json (msg, SOUP_STATUS_OK, answer);
    }
  else if (g_str_equal (fixture->host, "auth.tiktok-shops.com")
           && g_str_equal (path, "/api/v2/token/refresh"))
    {
      g_autofree char *answer = NULL;

      g_assert_cmpstr (fixture->method, ==, "GET");
      g_assert_cmpstr (query_get (fixture, "app_key"), ==, SHOP_KEY);
      g_assert_cmpstr (query_get (fixture, "app_secret"), ==, SHOP_SECRET);
      g_assert_cmpstr (query_get (fixture, "grant_type"), ==, "refresh_token");
      if (g_strcmp0 (query_get (fixture, "refresh_token"), fixture->shop_refresh) != 0)
        {
          respond_error (msg, 36004005, "no related auth record");
          return;
        }
      answer = shop_token_body (fixture);
      respond_json (msg, SOUP_STATUS_OK, answer);
    }
  else if (g_str_equal (fixture->host, "open-api.tiktokglobalshop.com")
           && g_str_equal (path, "/authorization/202309/shops"))
    {
      gint64 timestamp = 0;

      g_assert_cmpstr (fixture->method, ==, "GET");
      g_assert_cmpstr (fixture->content_type, ==, "application/json");
      g_assert_cmpstr (query_get (fixture, "app_key"), ==, SHOP_KEY);
      g_assert_null (query_get (fixture, "app_secret"));
      g_assert_null (query_get (fixture, "access_token"));
      g_assert_true (g_ascii_string_to_signed (query_get (fixture, "timestamp"), 10, 0,
                                               G_MAXINT64, &timestamp, NULL));
      g_assert_cmpint (ABS (timestamp - kh_now ()), <=, 5);
      /* Signed over the path TikTok sees, not over the /_host/... path of the test map. */
      if (!kh_sign_verify (SHOP_SECRET, "/authorization/202309/shops", fixture->query, NULL, 0,
                           "application/json", query_get (fixture, "sign")))
        {
          respond_error (msg, 106001, "invalid sign");
          return;
        }
      if (g_strcmp0 (fixture->tts_token_header, "shop-access-token") != 0)
        {
          respond_error (msg, 105001, "token invalid");
          return;
        }
      respond_json (msg, SOUP_STATUS_OK, shops_json);
    }
  else if (g_str_equal (path, "/open_api/v1.3/oauth2/access_token/"))
    {
      g_autofree char *access = new_token (fixture, "adv-access");
      g_autofree char *answer = NULL;

      g_assert_cmpstr (fixture->method, ==, "POST");
      g_assert_true (check_business_app (fixture, body, "app_id", "secret"));
      if (g_strcmp0 (kh_json_get_string (body, "auth_code"), GOOD_CODE) != 0)
        {
          respond_error (msg, 40110, "auth_code used");
          return;
        }
      answer = g_strdup_printf ("{\"code\":0,\"message\":\"OK\",\"request_id\":\"r\",\"data\":{"
                                "\"access_token\":\"%s\","
                                "\"advertiser_ids\":[\"7012345678901234567\"],"
                                "\"scope\":[1,2,3]}}", access);
      respond_json (msg, SOUP_STATUS_OK, answer);
    }
  else if (g_str_equal (path, "/open_api/v1.3/oauth2/advertiser/get/"))
    {
      g_assert_cmpstr (fixture->method, ==, "GET");
      g_assert_cmpstr (query_get (fixture, "app_id"), ==, BIZ_ID);
      g_assert_cmpstr (query_get (fixture, "secret"), ==, BIZ_SECRET);
      if (fixture->access_token_header == NULL)
        {
          respond_error (msg, 40104, "token missing");
          return;
        }
      respond_json (msg, SOUP_STATUS_OK, advertisers_json);
    }
  else if (g_str_equal (path, "/open_api/v1.3/tt_user/oauth2/token/"))
    {
      g_autofree char *answer = NULL;

      g_assert_cmpstr (fixture->method, ==, "POST");
      g_assert_true (check_business_app (fixture, body, "client_id", "client_secret"));
      g_assert_cmpstr (kh_json_get_string (body, "grant_type"), ==, "authorization_code");
      g_assert_cmpstr (kh_json_get_string (body, "redirect_uri"), ==, REDIRECT);
      if (g_strcmp0 (kh_json_get_string (body, "auth_code"), GOOD_CODE) != 0)
        {
          respond_error (msg, 40110, "auth_code used");
          return;
        }
      answer = tt_token_body (fixture, 31536000);
      respond_json (msg, SOUP_STATUS_OK, answer);
    }
  else
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
    }
}

static void
server_cb (SoupServer        *server,
           SoupServerMessage *msg,
           const char        *path,
           GHashTable        *query,
           gpointer           user_data)
{
  Fixture *fixture = user_data;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageBody *request_body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) flat = NULL;
  const char *rest;

  /* The origin map sends every TikTok host here under /_host/<host>. */
  g_assert_true (g_str_has_prefix (path, "/_host/"));
  rest = strchr (path + strlen ("/_host/"), '/');
  g_assert_nonnull (rest);

  g_free (fixture->host);
  fixture->host = g_strndup (path + strlen ("/_host/"), rest - path - strlen ("/_host/"));
  g_free (fixture->path);
  fixture->path = g_strdup (rest);
  g_free (fixture->method);
  fixture->method = g_strdup (soup_server_message_get_method (msg));
  g_clear_pointer (&fixture->query, g_hash_table_unref);
  if (query != NULL)
    fixture->query = g_hash_table_ref (query);
  g_free (fixture->body);
  flat = soup_message_body_flatten (request_body);
  fixture->body = g_bytes_get_size (flat) > 0
                  ? g_strndup (g_bytes_get_data (flat, NULL), g_bytes_get_size (flat))
                  : NULL;
  g_free (fixture->access_token_header);
  fixture->access_token_header = g_strdup (soup_message_headers_get_one (headers, "Access-Token"));
  g_free (fixture->tts_token_header);
  fixture->tts_token_header =
    g_strdup (soup_message_headers_get_one (headers, "x-tts-access-token"));
  g_free (fixture->content_type);
  fixture->content_type = g_strdup (soup_message_headers_get_one (headers, "Content-Type"));
  g_free (fixture->user_agent);
  fixture->user_agent = g_strdup (soup_message_headers_get_one (headers, "User-Agent"));

  g_hash_table_insert (fixture->hits, g_strdup (fixture->path),
                       GUINT_TO_POINTER (fixture_hits (fixture, fixture->path) + 1));

  if (!g_queue_is_empty (&fixture->faults))
    {
      Fault *fault = g_queue_peek_head (&fixture->faults);
      FaultKind kind = fault->kind;
      int code = fault->code;

      if (fault->remaining > 0 && --fault->remaining == 0)
        g_free (g_queue_pop_head (&fixture->faults));

      switch (kind)
        {
        case FAULT_HTTP_503:
          /* code: another status without an envelope (429...). */
          soup_server_message_set_status (msg, code != 0 ? (guint) code
                                                         : SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
          soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_STATIC,
                                            "<h1>503</h1>", 12);
          return;
        case FAULT_HTTP_503_ENVELOPE:
          route (fixture, msg);
          soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
          return;
        case FAULT_API_ERROR:
          respond_error (msg, code, "injected");
          return;
        case FAULT_GARBAGE:
          soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
          soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                            "{\"code\":0,\"data\":{\"acc", 23);
          return;
        case FAULT_DROP:
          {
            g_autoptr(GIOStream) stream = soup_server_message_steal_connection (msg);

            g_io_stream_close (stream, NULL, NULL);
          }
          return;
        case FAULT_HANG:
          soup_server_pause_message (fixture->server, msg);
          g_ptr_array_add (fixture->hung, g_object_ref (msg));
          return;
        case FAULT_HUGE:
          {
            gsize size = 2 * 1024 * 1024;
            char *huge = g_malloc (size);

            memset (huge, ' ', size);
            huge[0] = '{';
            memcpy (huge + size - 10, "\"code\":0}", 9);
            soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
            if (code == 0)
              soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                                huge, size);
            else
              {
                /* code != 0: chunked, so no Content-Length warns the client in advance. */
                SoupMessageHeaders *response_headers =
                  soup_server_message_get_response_headers (msg);
                SoupMessageBody *body = soup_server_message_get_response_body (msg);

                soup_message_headers_set_encoding (response_headers, SOUP_ENCODING_CHUNKED);
                soup_message_headers_set_content_type (response_headers, "application/json",
                                                       NULL);
                for (gsize at = 0; at < size; at += 65536)
                  soup_message_body_append (body, SOUP_MEMORY_COPY, huge + at, 65536);
                soup_message_body_complete (body);
                g_free (huge);
              }
          }
          return;
        case FAULT_NO_TOKEN:
          respond_json (msg, SOUP_STATUS_OK, "{\"code\":0,\"message\":\"OK\",\"data\":{}}");
          return;
        default:
          g_assert_not_reached ();
        }
    }

  route (fixture, msg);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *map = NULL;
  g_autofree char *origin = NULL;

  fixture->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fixture->server, NULL, server_cb, fixture, NULL);
  soup_server_listen_local (fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  origin = g_strdup_printf ("http://127.0.0.1:%u", kh_test_server_get_port (fixture->server));

  map = g_strdup_printf ("https://auth.tiktok-shops.com=%s/_host/auth.tiktok-shops.com;"
                         "https://open-api.tiktokglobalshop.com="
                         "%s/_host/open-api.tiktokglobalshop.com;"
                         "https://business-api.tiktok.com=%s/_host/business-api.tiktok.com",
                         origin, origin, origin);
  kh_origin_map_set (map, &error);
  g_assert_no_error (error);

  g_queue_init (&fixture->faults);
  fixture->hits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fixture->hung = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->used_codes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  fixture->client = kh_token_client_new ();
  /* Fast retries: the backoff logic is the same at 2 ms as at 500 ms. */
  kh_token_client_set_retry (fixture->client, 3, 2);
  fixture->shop_app = kh_app_profile_new ("shop-app", KH_FAMILY_SHOP, SHOP_KEY);
  fixture->business_app = kh_app_profile_new ("biz-app", KH_FAMILY_BUSINESS, BIZ_ID);
  kh_app_profile_set_redirect_uri (fixture->business_app, REDIRECT);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_assert_finalize_object (g_steal_pointer (&fixture->client));
  g_clear_object (&fixture->shop_app);
  g_clear_object (&fixture->business_app);
  for (guint i = 0; i < fixture->hung->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (fixture->hung, i);

      soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
      soup_server_unpause_message (fixture->server, msg);
    }
  g_clear_pointer (&fixture->hung, g_ptr_array_unref);
  soup_server_disconnect (fixture->server);
  g_clear_object (&fixture->server);
  g_queue_clear_full (&fixture->faults, g_free);
  g_clear_pointer (&fixture->hits, g_hash_table_unref);
  g_clear_pointer (&fixture->used_codes, g_hash_table_unref);
  g_clear_pointer (&fixture->query, g_hash_table_unref);
  g_free (fixture->shop_refresh);
  g_free (fixture->tt_refresh);
  g_free (fixture->method);
  g_free (fixture->path);
  g_free (fixture->host);
  g_free (fixture->body);
  g_free (fixture->access_token_header);
  g_free (fixture->tts_token_header);
  g_free (fixture->content_type);
  g_free (fixture->user_agent);
  kh_origin_map_set (NULL, NULL);
}

/* ---- synchronous wrappers for the tests ------------------------------------------------------ */

/* Each runs one async call to completion on the default main context (never sleeping). */
static KhTokenResponse *
call_exchange (KhTokenClient  *client,
               KhAppProfile   *app,
               const char     *secret,
               KhTokenKind     kind,
               const char     *code,
               const char     *redirect_uri,
               GCancellable   *cancellable,
               GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_exchange_async (client, app, secret, kind, code, redirect_uri, cancellable,
                                  kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_exchange_finish (client, result, error);
}

static KhTokenResponse *
call_refresh (KhTokenClient  *client,
              KhAppProfile   *app,
              const char     *secret,
              KhTokenKind     kind,
              const char     *refresh_token,
              GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_refresh_async (client, app, secret, kind, refresh_token, NULL,
                                 kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_refresh_finish (client, result, error);
}

static gboolean
call_revoke (KhTokenClient  *client,
             KhAppProfile   *app,
             const char     *secret,
             KhTokenKind     kind,
             const char     *access_token,
             GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_revoke_async (client, app, secret, kind, access_token, NULL,
                                kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_revoke_finish (client, result, error);
}

static GPtrArray *
call_get_shops (KhTokenClient  *client,
                KhAppProfile   *app,
                const char     *secret,
                const char     *access_token,
                GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_get_shops_async (client, app, secret, access_token, NULL,
                                   kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_get_shops_finish (client, result, error);
}

static GPtrArray *
call_get_advertisers (KhTokenClient  *client,
                      KhAppProfile   *app,
                      const char     *secret,
                      const char     *access_token,
                      GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_get_advertisers_async (client, app, secret, access_token, NULL,
                                         kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_get_advertisers_finish (client, result, error);
}

static char *
call_get_account_name (KhTokenClient  *client,
                       const char     *access_token,
                       const char     *open_id,
                       GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_get_account_name_async (client, access_token, open_id, NULL,
                                          kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_get_account_name_finish (client, result, error);
}

/* The fake's apps by kind. */
static KhAppProfile *
fake_app (Fixture     *fixture,
          KhTokenKind  kind)
{
  return kind == KH_TOKEN_KIND_SHOP ? fixture->shop_app : fixture->business_app;
}

static const char *
fake_secret (KhTokenKind kind)
{
  return kind == KH_TOKEN_KIND_SHOP ? SHOP_SECRET : BIZ_SECRET;
}

static KhTokenResponse *
do_exchange (Fixture       *fixture,
             KhTokenKind    kind,
             const char    *code,
             GCancellable  *cancellable,
             GError       **error)
{
  return call_exchange (fixture->client, fake_app (fixture, kind), fake_secret (kind), kind, code,
                        NULL, cancellable, error);
}

static KhTokenResponse *
do_refresh (Fixture     *fixture,
            KhTokenKind  kind,
            const char  *refresh_token,
            GError     **error)
{
  return call_refresh (fixture->client, fake_app (fixture, kind), fake_secret (kind), kind,
                       refresh_token, error);
}

static GPtrArray *
do_get_shops (Fixture     *fixture,
              const char  *access_token,
              GError     **error)
{
  return call_get_shops (fixture->client, fixture->shop_app, SHOP_SECRET, access_token, error);
}

static GPtrArray *
do_get_advertisers (Fixture     *fixture,
                    const char  *access_token,
                    GError     **error)
{
  return call_get_advertisers (fixture->client, fixture->business_app, BIZ_SECRET, access_token,
                               error);
}

/* ---- log capture: no secret may ever reach a log line ---------------------------------------- */

static GString *captured_logs;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE") && captured_logs != NULL)
        {
          if (fields[i].length < 0)
            g_string_append (captured_logs, fields[i].value);
          else
            g_string_append_len (captured_logs, fields[i].value, fields[i].length);
          g_string_append_c (captured_logs, '\n');
        }
    }
  return G_LOG_WRITER_HANDLED;
}

/* ---- client tests ---------------------------------------------------------------------------- */

static void
test_client_exchange_shop (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) again = NULL;
  g_autofree char *user_agent = g_strdup_printf ("Keyhold/%s", PACKAGE_VERSION);
  gint64 now = kh_now ();

  response = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (response->tokens->access_token, "shop-access-"));
  g_assert_cmpstr (response->tokens->refresh_token, ==, fixture->shop_refresh);
  g_assert_cmpint (ABS (response->tokens->access_expires_at - (now + 7 * 86400)), <=, 5);
  g_assert_cmpint (ABS (response->tokens->refresh_expires_at - (now + 365 * 86400)), <=, 5);
  g_assert_cmpstr (response->seller_name, ==, "Maomao");
  g_assert_cmpstr (response->seller_base_region, ==, "GB");
  g_assert_cmpint (response->user_type, ==, 0);
  g_assert_cmpstr (response->scopes[0], ==, "seller.authorization.info");
  g_assert_cmpstr (fixture->host, ==, "auth.tiktok-shops.com");
  g_assert_cmpstr (fixture->query != NULL ? query_get (fixture, "auth_code") : NULL, ==,
                   GOOD_CODE);
  g_assert_null (fixture->body);
  g_assert_cmpstr (fixture->user_agent, ==, user_agent);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), ==, 1);

  /* The code is spent: TikTok says so, and nothing is retried. */
  again = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_null (again);
  g_assert_error (error, KH_API_ERROR, 36004004);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), ==, 2);
}

static void
test_client_exchange_advertiser (Fixture       *fixture,
                                 gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  JsonObject *body;

  response = do_exchange (fixture, KH_TOKEN_KIND_ADVERTISER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (response->tokens->access_token, "adv-access-"));
  g_assert_null (response->tokens->refresh_token);
  g_assert_cmpint (response->tokens->access_expires_at, ==, 0);
  g_assert_cmpstr (response->advertiser_ids[0], ==, "7012345678901234567");
  g_assert_cmpstr (response->scopes[2], ==, "3");

  g_assert_cmpstr (fixture->host, ==, "business-api.tiktok.com");
  g_assert_cmpstr (fixture->content_type, ==, "application/json");
  body = request_json (fixture);
  g_assert_cmpuint (json_object_get_size (body), ==, 3);
  g_assert_cmpstr (kh_json_get_string (body, "auth_code"), ==, GOOD_CODE);
  /* Nothing secret in the URL of a Business call. */
  g_assert_null (fixture->query);
}

static void
test_client_exchange_tt_user (Fixture       *fixture,
                              gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  gint64 now = kh_now ();
  const char *scopes[] = { "user.info.basic", "biz.creator.info", NULL };

  response = do_exchange (fixture, KH_TOKEN_KIND_TT_USER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (response->tokens->access_token, "act-"));
  g_assert_cmpint (ABS (response->tokens->access_expires_at - (now + 86400)), <=, 5);
  g_assert_cmpint (ABS (response->tokens->refresh_expires_at - (now + 31536000)), <=, 5);
  g_assert_cmpstr (response->open_id, ==, "open-tt");
  g_assert_cmpstrv (response->scopes, scopes);
  g_assert_cmpuint (json_object_get_size (request_json (fixture)), ==, 5);
}

static void
test_client_shops (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GPtrArray) denied = NULL;
  KhShop *shop;

  shops = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (shops->len, ==, 2);
  shop = g_ptr_array_index (shops, 0);
  g_assert_cmpstr (shop->cipher, ==, "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3");
  g_assert_cmpstr (fixture->host, ==, "open-api.tiktokglobalshop.com");
  g_assert_cmpstr (fixture->tts_token_header, ==, "shop-access-token");

  denied = do_get_shops (fixture, "some-other-token", &error);
  g_assert_null (denied);
  g_assert_error (error, KH_API_ERROR, 105001);
}

static void
test_client_retry_5xx (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) failed = NULL;

  /* Two 503s, then the answer: the third attempt succeeds. */
  fixture_add_fault (fixture, FAULT_HTTP_503, 0, 2);
  response = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (response);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), ==, 3);

  /* 503 every time: KH_ERROR_NETWORK after max_attempts, naming the status only. */
  fixture_add_fault (fixture, FAULT_HTTP_503, 0, -1);
  failed = do_refresh (fixture, KH_TOKEN_KIND_SHOP, response->tokens->refresh_token, &error);
  g_assert_null (failed);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);
  g_assert_cmpstr (error->message, ==, "TikTok answered HTTP 503");
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/refresh"), ==, 3);
}

static void
test_client_5xx_envelope_wins (Fixture       *fixture,
                               gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;

  fixture_add_fault (fixture, FAULT_HTTP_503_ENVELOPE, 0, 1);
  advertisers = do_get_advertisers (fixture, "adv-token", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (advertisers->len, ==, 3);
  g_assert_cmpuint (fixture_hits (fixture, "/open_api/v1.3/oauth2/advertiser/get/"), ==, 1);
}

static void
test_client_no_retry_api_error (Fixture       *fixture,
                                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) limited = NULL;
  g_autoptr(KhTokenResponse) empty = NULL;

  /* A permanent TikTok error on an exchange: exactly one request. */
  fixture_add_fault (fixture, FAULT_API_ERROR, 40113, 1);
  response = do_exchange (fixture, KH_TOKEN_KIND_ADVERTISER, GOOD_CODE, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, KH_API_ERROR, 40113);
  g_assert_cmpuint (fixture_hits (fixture, "/open_api/v1.3/oauth2/access_token/"), ==, 1);
  g_clear_error (&error);

  /* TikTok's own "rate limited" is worth another try, even for an exchange. */
  fixture_add_fault (fixture, FAULT_API_ERROR, 40100, 1);
  limited = do_exchange (fixture, KH_TOKEN_KIND_ADVERTISER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (limited);
  g_assert_cmpuint (fixture_hits (fixture, "/open_api/v1.3/oauth2/access_token/"), ==, 3);

  /* An envelope with code 0 but no token: the code is spent, asking again cannot help. */
  fixture_add_fault (fixture, FAULT_NO_TOKEN, 0, 1);
  empty = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_null (empty);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), ==, 1);
}

static void
test_client_garbage (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GPtrArray) recovered = NULL;
  g_autoptr(GPtrArray) huge = NULL;
  g_autoptr(GPtrArray) chunked = NULL;
  g_autoptr(GPtrArray) limited = NULL;
  g_autoptr(GPtrArray) missing = NULL;

  fixture_add_fault (fixture, FAULT_GARBAGE, 0, -1);
  shops = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_null (shops);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_assert_cmpuint (fixture_hits (fixture, "/authorization/202309/shops"), ==, 3);
  g_clear_error (&error);
  g_queue_clear_full (&fixture->faults, g_free);

  /* Garbage is transient: one bad answer, then a good one. */
  fixture_add_fault (fixture, FAULT_GARBAGE, 0, 1);
  recovered = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (recovered->len, ==, 2);

  /* Over 1 MiB is not TikTok, announced or not. */
  kh_token_client_set_retry (fixture->client, 1, 2);
  fixture_add_fault (fixture, FAULT_HUGE, 0, 1);
  huge = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_null (huge);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_clear_error (&error);
  fixture_add_fault (fixture, FAULT_HUGE, 1, 1);
  chunked = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_null (chunked);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_assert_nonnull (strstr (error->message, "1 MiB"));
  g_clear_error (&error);

  /* Rate limited by a proxy, without TikTok's envelope: transient. */
  fixture_add_fault (fixture, FAULT_HTTP_503, 429, 1);
  limited = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_null (limited);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);
  g_assert_cmpstr (error->message, ==, "TikTok answered HTTP 429");
  g_clear_error (&error);

  /* A 404 page is not an answer either. */
  fixture_add_fault (fixture, FAULT_HTTP_503, 404, 1);
  missing = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_null (missing);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
}

static void
cancel_soon (GCancellable *cancellable,
             guint         delay_ms)
{
  g_timeout_add_once (delay_ms, (GSourceOnceFunc) g_cancellable_cancel, cancellable);
}

static void
test_client_cancel (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) in_flight = g_cancellable_new ();
  g_autoptr(GCancellable) in_backoff = g_cancellable_new ();
  g_autoptr(GCancellable) before = g_cancellable_new ();
  g_autoptr(KhTokenResponse) r1 = NULL;
  g_autoptr(KhTokenResponse) r2 = NULL;
  g_autoptr(KhTokenResponse) r3 = NULL;
  gint64 start;

  /* While the request is in flight (the server never answers). */
  fixture_add_fault (fixture, FAULT_HANG, 0, 1);
  cancel_soon (in_flight, 50);
  r1 = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, in_flight, &error);
  g_assert_null (r1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  /* While waiting to retry: a 10 s backoff is cut short. */
  kh_token_client_set_retry (fixture->client, 3, 10000);
  fixture_add_fault (fixture, FAULT_HTTP_503, 0, -1);
  start = g_get_monotonic_time ();
  cancel_soon (in_backoff, 200);
  r2 = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, in_backoff, &error);
  g_assert_null (r2);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), ==, 2);
  g_clear_error (&error);

  /* Already cancelled: no request at all. */
  g_cancellable_cancel (before);
  r3 = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, before, &error);
  g_assert_null (r3);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), ==, 2);
}

static void
test_client_timeout (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;
  guint timeout = 0;

  kh_token_client_set_retry (fixture->client, 1, 2);
  kh_token_client_set_timeout (fixture->client, 1);
  g_object_get (fixture->client, "timeout", &timeout, NULL);
  g_assert_cmpuint (timeout, ==, 1);

  fixture_add_fault (fixture, FAULT_HANG, 0, 1);
  advertisers = do_get_advertisers (fixture, "adv-token", &error);
  g_assert_null (advertisers);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);
  g_assert_nonnull (strstr (error->message, "business-api.tiktok.com"));
}

static void
test_client_refused_input (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_exchange_async (fixture->client, fixture->business_app, BIZ_SECRET,
                                  KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, NULL,
                                  kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  response = kh_token_client_exchange_finish (fixture->client, result, &error);
  g_assert_null (response);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_clear_error (&error);

  /* A token that would split its header is refused before anything is sent. */
  advertisers = do_get_advertisers (fixture, "token\r\nX-Injected: 1", &error);
  g_assert_null (advertisers);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_cmpuint (g_hash_table_size (fixture->hits), ==, 0);
}

/* ---- against the real sandbox ---------------------------------------------------------------- */

#define SB_SHOP_KEY     "khclienttest"
#define SB_SHOP_SECRET  "kh-client-test-shop-secret"
#define SB_SERVICE_ID   "7000000000000000099"
#define SB_BIZ_ID       "7000000000000000098"
#define SB_BIZ_SECRET   "kh-client-test-business-secret"
#define SB_STATE        "state-client-test-0123456789"

typedef struct {
  KhSandbox     *sandbox;
  KhTokenClient *client;
  KhAppProfile  *shop_app;
  KhAppProfile  *business_app;
  char          *redirect_uri;   /* a loopback port nobody listens on: the "browser" stops there */
} Sandbox;

static void
sandbox_set_up (Sandbox       *sb,
                gconstpointer  user_data)
{
  sb->sandbox = kh_test_sandbox_start ();
  sb->redirect_uri = g_strdup_printf ("http://127.0.0.1:%u/callback", kh_test_free_port ());
  kh_sandbox_add_app (sb->sandbox, "shop", SB_SHOP_KEY, SB_SHOP_SECRET, SB_SERVICE_ID,
                      sb->redirect_uri);
  kh_sandbox_add_app (sb->sandbox, "business", SB_BIZ_ID, SB_BIZ_SECRET, NULL, sb->redirect_uri);

  sb->client = kh_token_client_new ();
  kh_token_client_set_retry (sb->client, 3, 2);
  sb->shop_app = kh_app_profile_new ("sandbox-shop", KH_FAMILY_SHOP, SB_SHOP_KEY);
  kh_app_profile_set_service_id (sb->shop_app, SB_SERVICE_ID);
  kh_app_profile_set_redirect_uri (sb->shop_app, sb->redirect_uri);
  sb->business_app = kh_app_profile_new ("sandbox-business", KH_FAMILY_BUSINESS, SB_BIZ_ID);
  kh_app_profile_set_redirect_uri (sb->business_app, sb->redirect_uri);
}

static void
sandbox_tear_down (Sandbox       *sb,
                   gconstpointer  user_data)
{
  g_assert_finalize_object (g_steal_pointer (&sb->client));
  g_clear_object (&sb->shop_app);
  g_clear_object (&sb->business_app);
  kh_origin_map_set (NULL, NULL);
  g_unsetenv ("KEYHOLD_ORIGIN_MAP");
  g_clear_object (&sb->sandbox);
  g_free (sb->redirect_uri);
}

static void
redirect_done_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  char **location = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_assert_no_error (error);
  g_assert_true (SOUP_STATUS_IS_REDIRECTION (soup_message_get_status (msg)));
  *location = g_strdup (soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                       "Location"));
  g_assert_nonnull (*location);
}

static gboolean
string_is_set (gpointer user_data)
{
  return *(char **) user_data != NULL;
}

/* Opens an authorization link as the browser would (through the origin map), lets the sandbox
 * approve it at once, and returns the code of the redirect. The sandbox runs in this process,
 * so the request is async on the default main context. */
static char *
sandbox_authorize (Sandbox    *sb,
                   const char *link)
{
  g_autofree char *url = kh_origin_map_rewrite (link);
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  g_autofree char *location = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;
  const char *code;

  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, redirect_done_cb,
                                    &location);
  kh_test_wait_until (string_is_set, &location, TIMEOUT_MS);

  if (!g_str_has_prefix (location, sb->redirect_uri))
    g_error ("authorization redirected to %s", location);
  uri = g_uri_parse (location, G_URI_FLAGS_ENCODED, NULL);
  g_assert_nonnull (uri);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, NULL);
  g_assert_nonnull (params);
  code = g_hash_table_lookup (params, "code");
  if (code == NULL)
    code = g_hash_table_lookup (params, "auth_code");
  g_assert_nonnull (code);
  return g_strdup (code);
}

static char *
sandbox_link (Sandbox     *sb,
              KhTokenKind  kind,
              gboolean     creator)
{
  g_autofree char *redirect = g_uri_escape_string (sb->redirect_uri, NULL, FALSE);

  switch (kind)
    {
    case KH_TOKEN_KIND_SHOP:
      if (creator)
        return g_strdup ("https://shop.tiktok.com/alliance/creator/auth?app_key=" SB_SHOP_KEY
                         "&state=" SB_STATE "&auto=approve");
      return g_strdup ("https://services.tiktokshop.com/open/authorize?service_id=" SB_SERVICE_ID
                       "&state=" SB_STATE "&auto=approve");
    case KH_TOKEN_KIND_ADVERTISER:
      return g_strdup_printf ("https://business-api.tiktok.com/portal/auth?app_id=" SB_BIZ_ID
                              "&state=" SB_STATE "&redirect_uri=%s&auto=approve", redirect);
    case KH_TOKEN_KIND_TT_USER:
      return g_strdup_printf ("https://www.tiktok.com/v2/auth/authorize/?client_key=" SB_BIZ_ID
                              "&scope=user.info.basic,video.list&response_type=code"
                              "&redirect_uri=%s&state=" SB_STATE "&auto=approve", redirect);
    default:
      g_assert_not_reached ();
    }
}

static KhAppProfile *
sandbox_app (Sandbox     *sb,
             KhTokenKind  kind)
{
  return kind == KH_TOKEN_KIND_SHOP ? sb->shop_app : sb->business_app;
}

static const char *
sandbox_secret (KhTokenKind kind)
{
  return kind == KH_TOKEN_KIND_SHOP ? SB_SHOP_SECRET : SB_BIZ_SECRET;
}

static KhTokenResponse *
sandbox_exchange_code (Sandbox       *sb,
                       KhTokenKind    kind,
                       const char    *code,
                       GCancellable  *cancellable,
                       GError       **error)
{
  return call_exchange (sb->client, sandbox_app (sb, kind), sandbox_secret (kind), kind, code,
                        kind == KH_TOKEN_KIND_TT_USER ? sb->redirect_uri : NULL, cancellable,
                        error);
}

/* Authorizes and exchanges in one go; the exchange must succeed. */
static KhTokenResponse *
sandbox_grant (Sandbox     *sb,
               KhTokenKind  kind,
               gboolean     creator)
{
  g_autofree char *link = sandbox_link (sb, kind, creator);
  g_autofree char *code = sandbox_authorize (sb, link);
  g_autoptr(GError) error = NULL;
  KhTokenResponse *response = sandbox_exchange_code (sb, kind, code, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (response);
  return response;
}

/* How many calls of path the sandbox saw (its ledger counts every request, faults included). */
static guint
sandbox_calls (Sandbox    *sb,
               const char *path)
{
  g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (sb->sandbox);
  JsonObject *counters = kh_json_get_object (kh_json_node_object (ledger), "counters");
  gint64 count = 0;

  if (counters != NULL)
    kh_json_get_int (counters, path, &count);
  return (guint) count;
}

static void
test_sandbox_exchange_seller (Sandbox       *sb,
                              gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) response = sandbox_grant (sb, KH_TOKEN_KIND_SHOP, FALSE);
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GError) error = NULL;
  gint64 now = kh_now ();

  g_assert_nonnull (response->tokens->access_token);
  g_assert_nonnull (response->tokens->refresh_token);
  /* Absolute times, about 7 days ahead: not a duration, not milliseconds. */
  g_assert_cmpint (response->tokens->access_expires_at, >, now + 6 * 86400);
  g_assert_cmpint (response->tokens->access_expires_at, <, now + 8 * 86400);
  g_assert_cmpint (response->tokens->refresh_expires_at, >, response->tokens->access_expires_at);
  g_assert_nonnull (response->open_id);
  g_assert_nonnull (response->seller_name);
  g_assert_nonnull (response->seller_base_region);
  g_assert_cmpint (response->user_type, ==, 0);
  g_assert_nonnull (response->scopes[0]);
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/get"), ==, 1);

  /* Get Authorized Shops: the sandbox checks the signature, the timestamp and the token. */
  shops = call_get_shops (sb->client, sb->shop_app, SB_SHOP_SECRET,
                          response->tokens->access_token, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (shops->len, >=, 1);
  for (guint i = 0; i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);

      g_assert_nonnull (shop->id);
      g_assert_nonnull (shop->cipher);
      g_assert_true (g_strcmp0 (shop->seller_type, "CROSS_BORDER") == 0
                     || g_strcmp0 (shop->seller_type, "LOCAL") == 0);
    }
}

static void
test_sandbox_exchange_creator (Sandbox       *sb,
                               gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) response = sandbox_grant (sb, KH_TOKEN_KIND_SHOP, TRUE);

  g_assert_cmpint (response->user_type, ==, 1);
  /* A creator's authorization never ends: TikTok's far-future time is kept as it is. */
  g_assert_cmpint (response->tokens->refresh_expires_at, ==, 4903858076);
}

static void
test_sandbox_exchange_advertiser (Sandbox       *sb,
                                  gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) response = sandbox_grant (sb, KH_TOKEN_KIND_ADVERTISER, FALSE);
  g_autoptr(GPtrArray) advertisers = NULL;
  g_autoptr(GError) error = NULL;
  gboolean found = FALSE;

  g_assert_nonnull (response->tokens->access_token);
  g_assert_null (response->tokens->refresh_token);
  g_assert_cmpint (response->tokens->access_expires_at, ==, 0);
  g_assert_cmpint (response->tokens->refresh_expires_at, ==, 0);
  g_assert_nonnull (response->advertiser_ids[0]);
  g_assert_nonnull (response->scopes[0]);

  advertisers = call_get_advertisers (sb->client, sb->business_app, SB_BIZ_SECRET,
                                      response->tokens->access_token, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (advertisers->len, >=, 1);
  for (guint i = 0; i < advertisers->len; i++)
    {
      KhAdvertiser *advertiser = g_ptr_array_index (advertisers, i);

      if (g_strv_contains ((const char * const *) response->advertiser_ids, advertiser->id))
        found = TRUE;
    }
  g_assert_true (found);
}

static void
test_sandbox_exchange_tt_user (Sandbox       *sb,
                               gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) response = sandbox_grant (sb, KH_TOKEN_KIND_TT_USER, FALSE);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  gint64 now = kh_now ();

  /* expires_in is seconds (one day), made absolute. */
  g_assert_cmpint (ABS (response->tokens->access_expires_at - (now + 86400)), <=, 5);
  g_assert_cmpint (response->tokens->refresh_expires_at, >, now + 300 * 86400);
  g_assert_nonnull (response->tokens->refresh_token);
  g_assert_nonnull (response->open_id);
  g_assert_nonnull (response->scopes[0]);

  name = call_get_account_name (sb->client, response->tokens->access_token, response->open_id,
                                &error);
  g_assert_no_error (error);
  g_assert_nonnull (name);
  g_assert_cmpstr (name, !=, "");
}

static void
test_sandbox_refresh_rotation (Sandbox       *sb,
                               gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) shop = sandbox_grant (sb, KH_TOKEN_KIND_SHOP, FALSE);
  g_autoptr(KhTokenResponse) shop2 = NULL;
  g_autoptr(KhTokenResponse) stale = NULL;
  g_autoptr(KhTokenResponse) tt = sandbox_grant (sb, KH_TOKEN_KIND_TT_USER, FALSE);
  g_autoptr(KhTokenResponse) tt2 = NULL;
  g_autoptr(KhTokenResponse) tt_stale = NULL;
  g_autoptr(KhTokenResponse) advertiser = NULL;
  g_autoptr(GError) error = NULL;

  shop2 = call_refresh (sb->client, sb->shop_app, SB_SHOP_SECRET, KH_TOKEN_KIND_SHOP,
                        shop->tokens->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (shop2->tokens->access_token, !=, shop->tokens->access_token);
  g_assert_cmpstr (shop2->tokens->refresh_token, !=, shop->tokens->refresh_token);
  g_assert_cmpint (shop2->tokens->access_expires_at, >=, shop->tokens->access_expires_at);

  /* The rotated-out refresh token is dead: TikTok's error, and exactly one call. */
  stale = call_refresh (sb->client, sb->shop_app, SB_SHOP_SECRET, KH_TOKEN_KIND_SHOP,
                        shop->tokens->refresh_token, &error);
  g_assert_null (stale);
  g_assert_true (error->domain == KH_API_ERROR);
  g_assert_cmpint (kh_error_classify (error), !=, KH_ERROR_CLASS_TRANSIENT);
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/refresh"), ==, 2);
  g_clear_error (&error);

  tt2 = call_refresh (sb->client, sb->business_app, SB_BIZ_SECRET, KH_TOKEN_KIND_TT_USER,
                      tt->tokens->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tt2->tokens->refresh_token, !=, tt->tokens->refresh_token);
  /* The refresh window is not extended by a refresh. */
  g_assert_cmpint (tt2->tokens->refresh_expires_at, <=, tt->tokens->refresh_expires_at + 2);
  tt_stale = call_refresh (sb->client, sb->business_app, SB_BIZ_SECRET, KH_TOKEN_KIND_TT_USER,
                           tt->tokens->refresh_token, &error);
  g_assert_null (tt_stale);
  g_assert_true (error->domain == KH_API_ERROR);
  g_clear_error (&error);

  advertiser = call_refresh (sb->client, sb->business_app, SB_BIZ_SECRET,
                             KH_TOKEN_KIND_ADVERTISER, "anything", &error);
  g_assert_null (advertiser);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
}

static void
test_sandbox_revoke (Sandbox       *sb,
                     gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) advertiser = sandbox_grant (sb, KH_TOKEN_KIND_ADVERTISER, FALSE);
  g_autoptr(KhTokenResponse) tt = sandbox_grant (sb, KH_TOKEN_KIND_TT_USER, FALSE);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  g_assert_true (call_revoke (sb->client, sb->business_app, SB_BIZ_SECRET,
                              KH_TOKEN_KIND_ADVERTISER, advertiser->tokens->access_token, &error));
  g_assert_no_error (error);
  list = call_get_advertisers (sb->client, sb->business_app, SB_BIZ_SECRET,
                               advertiser->tokens->access_token, &error);
  g_assert_null (list);
  g_assert_error (error, KH_API_ERROR, 40105);
  g_clear_error (&error);

  g_assert_true (call_revoke (sb->client, sb->business_app, SB_BIZ_SECRET,
                              KH_TOKEN_KIND_TT_USER, tt->tokens->access_token, &error));
  g_assert_no_error (error);
  name = call_get_account_name (sb->client, tt->tokens->access_token, tt->open_id, &error);
  g_assert_null (name);
  g_assert_error (error, KH_API_ERROR, 40105);
  g_clear_error (&error);

  /* Shop has no revoke call: nothing is sent. */
  g_assert_false (call_revoke (sb->client, sb->shop_app, SB_SHOP_SECRET, KH_TOKEN_KIND_SHOP,
                               "whatever", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
}

static void
test_sandbox_retry_5xx (Sandbox       *sb,
                        gconstpointer  user_data)
{
  g_autofree char *link = sandbox_link (sb, KH_TOKEN_KIND_SHOP, FALSE);
  g_autofree char *code = sandbox_authorize (sb, link);
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) failed = NULL;
  g_autoptr(GError) error = NULL;

  /* Two 503s, then TikTok answers: the third attempt gets the tokens. */
  kh_sandbox_add_fault (sb->sandbox, "/api/v2/token/get", 2, KH_SANDBOX_FAULT_HTTP_STATUS, 503);
  response = sandbox_exchange_code (sb, KH_TOKEN_KIND_SHOP, code, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (response);
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/get"), ==, 3);

  /* 503 every time: a transient network error after max_attempts. */
  kh_sandbox_add_fault (sb->sandbox, "/api/v2/token/refresh", 10, KH_SANDBOX_FAULT_HTTP_STATUS,
                        503);
  failed = call_refresh (sb->client, sb->shop_app, SB_SHOP_SECRET, KH_TOKEN_KIND_SHOP,
                         response->tokens->refresh_token, &error);
  g_assert_null (failed);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);
  g_assert_cmpstr (error->message, ==, "TikTok answered HTTP 503");
  g_assert_cmpint (kh_error_exit_code (error), ==, 4);
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/refresh"), ==, 3);
}

static void
test_sandbox_no_retry_api_error (Sandbox       *sb,
                                 gconstpointer  user_data)
{
  g_autofree char *link = sandbox_link (sb, KH_TOKEN_KIND_SHOP, FALSE);
  g_autofree char *code = sandbox_authorize (sb, link);
  g_autoptr(KhTokenResponse) r1 = NULL;
  g_autoptr(KhTokenResponse) r2 = NULL;
  g_autoptr(KhTokenResponse) r3 = NULL;
  g_autoptr(GError) error = NULL;

  /* TikTok says the code is bad: codes are single-use, so no second try. */
  kh_sandbox_add_fault (sb->sandbox, "/api/v2/token/get", 1, KH_SANDBOX_FAULT_ERROR_CODE,
                        36004004);
  r1 = sandbox_exchange_code (sb, KH_TOKEN_KIND_SHOP, code, NULL, &error);
  g_assert_null (r1);
  g_assert_error (error, KH_API_ERROR, 36004004);
  g_assert_nonnull (strstr (error->message, "36004004"));
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/get"), ==, 1);
  g_clear_error (&error);

  /* TikTok's own "rate limited" is transient: retried, and the code then works. */
  kh_sandbox_add_fault (sb->sandbox, "/api/v2/token/get", 1, KH_SANDBOX_FAULT_ERROR_CODE,
                        36009002);
  r2 = sandbox_exchange_code (sb, KH_TOKEN_KIND_SHOP, code, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r2);
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/get"), ==, 3);

  /* The real thing: a used code, refused by the sandbox itself, asked once. */
  r3 = sandbox_exchange_code (sb, KH_TOKEN_KIND_SHOP, code, NULL, &error);
  g_assert_null (r3);
  g_assert_true (error->domain == KH_API_ERROR);
  g_assert_cmpuint (sandbox_calls (sb, "/api/v2/token/get"), ==, 4);
}

static void
test_sandbox_dropped_connection (Sandbox       *sb,
                                 gconstpointer  user_data)
{
  g_autofree char *link = sandbox_link (sb, KH_TOKEN_KIND_TT_USER, FALSE);
  g_autofree char *code = sandbox_authorize (sb, link);
  g_autoptr(KhTokenResponse) dropped = NULL;
  g_autoptr(KhTokenResponse) recovered = NULL;
  g_autoptr(GError) error = NULL;

  kh_sandbox_add_fault (sb->sandbox, "*", 50, KH_SANDBOX_FAULT_DROP, 0);
  dropped = sandbox_exchange_code (sb, KH_TOKEN_KIND_TT_USER, code, NULL, &error);
  g_assert_null (dropped);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);
  g_assert_cmpint (kh_error_classify (error), ==, KH_ERROR_CLASS_TRANSIENT);
  /* The host is named; nothing secret is. */
  g_assert_nonnull (strstr (error->message, "business-api.tiktok.com"));
  g_assert_null (strstr (error->message, SB_BIZ_SECRET));
  g_assert_null (strstr (error->message, code));
  g_assert_cmpuint (sandbox_calls (sb, "/open_api/v1.3/tt_user/oauth2/token/"), >=, 3);
  g_clear_error (&error);

  /* The code never reached the token endpoint, so it still works. */
  kh_sandbox_clear_faults (sb->sandbox);
  recovered = sandbox_exchange_code (sb, KH_TOKEN_KIND_TT_USER, code, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (recovered);
}

static void
test_sandbox_garbage (Sandbox       *sb,
                      gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) seller = sandbox_grant (sb, KH_TOKEN_KIND_SHOP, FALSE);
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GPtrArray) recovered = NULL;
  g_autoptr(GError) error = NULL;

  kh_sandbox_add_fault (sb->sandbox, "/authorization/202309/shops", 3,
                        KH_SANDBOX_FAULT_GARBAGE, 0);
  shops = call_get_shops (sb->client, sb->shop_app, SB_SHOP_SECRET,
                          seller->tokens->access_token, &error);
  g_assert_null (shops);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
  g_assert_cmpuint (sandbox_calls (sb, "/authorization/202309/shops"), ==, 3);
  g_clear_error (&error);

  kh_sandbox_add_fault (sb->sandbox, "/authorization/202309/shops", 1,
                        KH_SANDBOX_FAULT_GARBAGE, 0);
  recovered = call_get_shops (sb->client, sb->shop_app, SB_SHOP_SECRET,
                              seller->tokens->access_token, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (recovered->len, >=, 1);
}

static void
test_sandbox_cancel (Sandbox       *sb,
                     gconstpointer  user_data)
{
  g_autofree char *link = sandbox_link (sb, KH_TOKEN_KIND_ADVERTISER, FALSE);
  g_autofree char *code = sandbox_authorize (sb, link);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  kh_sandbox_add_fault (sb->sandbox, "/open_api/v1.3/oauth2/access_token/", 1,
                        KH_SANDBOX_FAULT_DELAY, 10000);
  cancel_soon (cancellable, 100);
  response = sandbox_exchange_code (sb, KH_TOKEN_KIND_ADVERTISER, code, cancellable, &error);
  g_assert_null (response);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
}

static void
test_sandbox_no_secret_in_logs (Sandbox       *sb,
                                gconstpointer  user_data)
{
  g_autoptr(KhTokenResponse) seller = NULL;
  g_autoptr(KhTokenResponse) refreshed = NULL;
  g_autoptr(KhTokenResponse) advertiser = NULL;
  g_autoptr(KhTokenResponse) tt = NULL;
  g_autoptr(KhTokenResponse) failed = NULL;
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;
  g_autoptr(JsonNode) ledger = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  JsonArray *secrets;

  captured_logs = g_string_new (NULL);

  kh_sandbox_add_fault (sb->sandbox, "/api/v2/token/get", 1, KH_SANDBOX_FAULT_HTTP_STATUS, 502);
  seller = sandbox_grant (sb, KH_TOKEN_KIND_SHOP, FALSE);
  refreshed = call_refresh (sb->client, sb->shop_app, SB_SHOP_SECRET, KH_TOKEN_KIND_SHOP,
                            seller->tokens->refresh_token, &error);
  g_assert_no_error (error);
  shops = call_get_shops (sb->client, sb->shop_app, SB_SHOP_SECRET,
                          refreshed->tokens->access_token, &error);
  g_assert_no_error (error);
  advertiser = sandbox_grant (sb, KH_TOKEN_KIND_ADVERTISER, FALSE);
  advertisers = call_get_advertisers (sb->client, sb->business_app, SB_BIZ_SECRET,
                                      advertiser->tokens->access_token, &error);
  g_assert_no_error (error);
  tt = sandbox_grant (sb, KH_TOKEN_KIND_TT_USER, FALSE);
  name = call_get_account_name (sb->client, tt->tokens->access_token, tt->open_id, &error);
  g_assert_no_error (error);
  kh_sandbox_add_fault (sb->sandbox, "*", 50, KH_SANDBOX_FAULT_DROP, 0);
  failed = call_refresh (sb->client, sb->shop_app, SB_SHOP_SECRET, KH_TOKEN_KIND_SHOP,
                         refreshed->tokens->refresh_token, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);

  /* The client logged what it did (method, host, path)... */
  g_assert_nonnull (strstr (captured_logs->str, "GET auth.tiktok-shops.com/api/v2/token/get"));
  g_assert_nonnull (strstr (captured_logs->str,
                            "POST business-api.tiktok.com/open_api/v1.3/tt_user/oauth2/token/"));
  /* ...and none of the secrets the sandbox issued or received: tokens, codes, app secrets. */
  ledger = kh_sandbox_dup_ledger (sb->sandbox);
  secrets = kh_json_get_array (kh_json_node_object (ledger), "secrets");
  g_assert_nonnull (secrets);
  g_assert_cmpuint (json_array_get_length (secrets), >, 5);
  for (guint i = 0; i < json_array_get_length (secrets); i++)
    {
      const char *secret = json_array_get_string_element (secrets, i);

      if (strstr (captured_logs->str, secret) != NULL)
        g_error ("a secret reached the logs: %s", captured_logs->str);
    }
  g_assert_null (strstr (captured_logs->str, SB_SHOP_SECRET));
  g_assert_null (strstr (captured_logs->str, SB_BIZ_SECRET));
  g_assert_null (strstr (captured_logs->str, "?"));

  g_string_free (g_steal_pointer (&captured_logs), TRUE);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);
  kh_log_set_observer (capture_writer);

  g_test_add_func ("/keyhold/token-client/parse-shop-token", test_parse_shop_token);
  g_test_add_func ("/keyhold/token-client/parse-shop-token-variants",
                   test_parse_shop_token_variants);
  g_test_add_func ("/keyhold/token-client/parse-advertiser-token", test_parse_advertiser_token);
  g_test_add_func ("/keyhold/token-client/parse-tt-user-token", test_parse_tt_user_token);
  g_test_add_func ("/keyhold/token-client/parse-error-envelopes", test_parse_error_envelopes);
  g_test_add_func ("/keyhold/token-client/parse-envelope", test_parse_envelope);
  g_test_add_func ("/keyhold/token-client/parse-enrichment", test_parse_enrichment);
  g_test_add_func ("/keyhold/token-client/parse-garbage", test_parse_garbage);
  g_test_add_func ("/keyhold/token-client/parse-garbage-enrichment",
                   test_parse_garbage_enrichment);
  g_test_add_func ("/keyhold/token-client/parse-mutations", test_parse_mutations);
  g_test_add_func ("/keyhold/token-client/parse-absurd-expiry", test_parse_absurd_expiry);

#define ADD_CLIENT_TEST(name, func) \
  g_test_add ("/keyhold/token-client/fake/" name, Fixture, NULL, fixture_set_up, func, \
              fixture_tear_down)

  ADD_CLIENT_TEST ("exchange-shop", test_client_exchange_shop);
  ADD_CLIENT_TEST ("exchange-advertiser", test_client_exchange_advertiser);
  ADD_CLIENT_TEST ("exchange-tt-user", test_client_exchange_tt_user);
  ADD_CLIENT_TEST ("shops-signed", test_client_shops);
  ADD_CLIENT_TEST ("retry-5xx", test_client_retry_5xx);
  ADD_CLIENT_TEST ("5xx-envelope-wins", test_client_5xx_envelope_wins);
  ADD_CLIENT_TEST ("no-retry-api-error", test_client_no_retry_api_error);
  ADD_CLIENT_TEST ("garbage", test_client_garbage);
  ADD_CLIENT_TEST ("cancel", test_client_cancel);
  ADD_CLIENT_TEST ("timeout", test_client_timeout);
  ADD_CLIENT_TEST ("refused-input", test_client_refused_input);


#define ADD_SANDBOX_TEST(name, func) \
  g_test_add ("/keyhold/token-client/sandbox/" name, Sandbox, NULL, sandbox_set_up, func, \
              sandbox_tear_down)

  ADD_SANDBOX_TEST ("exchange-seller", test_sandbox_exchange_seller);
  ADD_SANDBOX_TEST ("exchange-creator", test_sandbox_exchange_creator);
  ADD_SANDBOX_TEST ("exchange-advertiser", test_sandbox_exchange_advertiser);
  ADD_SANDBOX_TEST ("exchange-tt-user", test_sandbox_exchange_tt_user);
  ADD_SANDBOX_TEST ("refresh-rotation", test_sandbox_refresh_rotation);
  ADD_SANDBOX_TEST ("revoke", test_sandbox_revoke);
  ADD_SANDBOX_TEST ("retry-5xx", test_sandbox_retry_5xx);
  ADD_SANDBOX_TEST ("no-retry-api-error", test_sandbox_no_retry_api_error);
  ADD_SANDBOX_TEST ("dropped-connection", test_sandbox_dropped_connection);
  ADD_SANDBOX_TEST ("garbage", test_sandbox_garbage);
  ADD_SANDBOX_TEST ("cancel", test_sandbox_cancel);
  ADD_SANDBOX_TEST ("no-secret-in-logs", test_sandbox_no_secret_in_logs);

  return g_test_run ();
}
