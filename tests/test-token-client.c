/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-token-client.c: the parsers on the exact shapes of tiktok-api.md and on garbage, then the
 * client over HTTP against a fake TikTok on a loopback port: every call, the wire format of each
 * request, retries, faults, cancellation, and logs that never carry a secret. */

#include "config.h"

#include <libsoup/soup.h>

#include "kh-app-profile.h"
#include "kh-error.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-sign.h"
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

/* ---- parser fixtures: the shapes of tiktok-api.md ----------------------------------------------- */

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
            copy[g_rand_int_range (rand, 0, (gint32) length)] = (char) g_rand_int_range (rand, 0, 256);
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

/* ---- a fake TikTok on a loopback port ---------------------------------------------------------- */

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
  GHashTable    *revoked;
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
                          "\"refresh_token\":\"%s\",\"refresh_token_expire_in\":%" G_GINT64_FORMAT ","
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
                          "\"refresh_token\":\"%s\",\"refresh_token_expires_in\":%" G_GINT64_FORMAT ","
                          "\"open_id\":\"open-tt\",\"scope\":\"user.info.basic,biz.creator.info\"}}",
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
                                "\"access_token\":\"%s\",\"advertiser_ids\":[\"7012345678901234567\"],"
                                "\"scope\":[1,2,3]}}", access);
      respond_json (msg, SOUP_STATUS_OK, answer);
    }
  else if (g_str_equal (path, "/open_api/v1.3/oauth2/revoke_token/"))
    {
      g_assert_cmpstr (fixture->method, ==, "POST");
      g_assert_true (check_business_app (fixture, body, "app_id", "secret"));
      g_hash_table_add (fixture->revoked, g_strdup (kh_json_get_string (body, "access_token")));
      respond_json (msg, SOUP_STATUS_OK, "{\"code\":0,\"message\":\"OK\",\"request_id\":\"r\"}");
    }
  else if (g_str_equal (path, "/open_api/v1.3/oauth2/advertiser/get/"))
    {
      g_assert_cmpstr (fixture->method, ==, "GET");
      g_assert_cmpstr (query_get (fixture, "app_id"), ==, BIZ_ID);
      g_assert_cmpstr (query_get (fixture, "secret"), ==, BIZ_SECRET);
      if (fixture->access_token_header == NULL
          || g_hash_table_contains (fixture->revoked, fixture->access_token_header))
        {
          respond_error (msg, 40105, "token revoked");
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
  else if (g_str_equal (path, "/open_api/v1.3/tt_user/oauth2/refresh_token/"))
    {
      g_autofree char *answer = NULL;

      g_assert_cmpstr (fixture->method, ==, "POST");
      g_assert_true (check_business_app (fixture, body, "client_id", "client_secret"));
      g_assert_cmpstr (kh_json_get_string (body, "grant_type"), ==, "refresh_token");
      if (g_strcmp0 (kh_json_get_string (body, "refresh_token"), fixture->tt_refresh) != 0)
        {
          respond_error (msg, 40107, "invalid refresh token");
          return;
        }
      /* The refresh window is not extended by a refresh. */
      answer = tt_token_body (fixture, 31527314);
      respond_json (msg, SOUP_STATUS_OK, answer);
    }
  else if (g_str_equal (path, "/open_api/v1.3/tt_user/oauth2/revoke/"))
    {
      g_assert_cmpstr (fixture->method, ==, "POST");
      g_assert_true (check_business_app (fixture, body, "client_id", "client_secret"));
      g_hash_table_add (fixture->revoked, g_strdup (kh_json_get_string (body, "access_token")));
      respond_json (msg, SOUP_STATUS_OK,
                    "{\"code\":0,\"message\":\"OK\",\"request_id\":\"r\",\"data\":{}}");
    }
  else if (g_str_equal (path, "/open_api/v1.3/business/get/"))
    {
      g_assert_cmpstr (fixture->method, ==, "GET");
      g_assert_cmpstr (query_get (fixture, "business_id"), ==, "open-tt");
      g_assert_cmpstr (query_get (fixture, "fields"), ==, "[\"display_name\",\"profile_image\"]");
      if (fixture->access_token_header == NULL
          || g_hash_table_contains (fixture->revoked, fixture->access_token_header))
        {
          respond_error (msg, 40105, "token revoked");
          return;
        }
      respond_json (msg, SOUP_STATUS_OK, account_json);
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
          soup_server_message_set_status (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, NULL);
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
            soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                              huge, size);
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
  g_autoptr(GSList) uris = NULL;
  g_autofree char *map = NULL;
  g_autofree char *origin = NULL;
  GUri *uri;

  fixture->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (fixture->server, NULL, server_cb, fixture, NULL);
  soup_server_listen_local (fixture->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (fixture->server);
  uri = uris->data;
  origin = g_strdup_printf ("http://127.0.0.1:%d", g_uri_get_port (uri));
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);

  map = g_strdup_printf ("https://auth.tiktok-shops.com=%s/_host/auth.tiktok-shops.com;"
                         "https://open-api.tiktokglobalshop.com=%s/_host/open-api.tiktokglobalshop.com;"
                         "https://business-api.tiktok.com=%s/_host/business-api.tiktok.com",
                         origin, origin, origin);
  kh_origin_map_set (map, &error);
  g_assert_no_error (error);

  g_queue_init (&fixture->faults);
  fixture->hits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fixture->hung = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->used_codes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fixture->revoked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

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
  g_clear_pointer (&fixture->revoked, g_hash_table_unref);
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

/* ---- synchronous wrappers for the tests -------------------------------------------------------- */

static KhTokenResponse *
do_exchange (Fixture       *fixture,
             KhTokenKind    kind,
             const char    *code,
             GCancellable  *cancellable,
             GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;
  KhAppProfile *app = kind == KH_TOKEN_KIND_SHOP ? fixture->shop_app : fixture->business_app;
  const char *secret = kind == KH_TOKEN_KIND_SHOP ? SHOP_SECRET : BIZ_SECRET;

  kh_token_client_exchange_async (fixture->client, app, secret, kind, code, NULL, cancellable,
                                  kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_exchange_finish (fixture->client, result, error);
}

static KhTokenResponse *
do_refresh (Fixture     *fixture,
            KhTokenKind  kind,
            const char  *refresh_token,
            GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;
  KhAppProfile *app = kind == KH_TOKEN_KIND_SHOP ? fixture->shop_app : fixture->business_app;
  const char *secret = kind == KH_TOKEN_KIND_SHOP ? SHOP_SECRET : BIZ_SECRET;

  kh_token_client_refresh_async (fixture->client, app, secret, kind, refresh_token, NULL,
                                 kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_refresh_finish (fixture->client, result, error);
}

static gboolean
do_revoke (Fixture     *fixture,
           KhTokenKind  kind,
           const char  *access_token,
           GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;
  KhAppProfile *app = kind == KH_TOKEN_KIND_SHOP ? fixture->shop_app : fixture->business_app;
  const char *secret = kind == KH_TOKEN_KIND_SHOP ? SHOP_SECRET : BIZ_SECRET;

  kh_token_client_revoke_async (fixture->client, app, secret, kind, access_token, NULL,
                                kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_revoke_finish (fixture->client, result, error);
}

static GPtrArray *
do_get_shops (Fixture     *fixture,
              const char  *access_token,
              GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_get_shops_async (fixture->client, fixture->shop_app, SHOP_SECRET, access_token,
                                   NULL, kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_get_shops_finish (fixture->client, result, error);
}

static GPtrArray *
do_get_advertisers (Fixture     *fixture,
                    const char  *access_token,
                    GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_get_advertisers_async (fixture->client, fixture->business_app, BIZ_SECRET,
                                         access_token, NULL, kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_get_advertisers_finish (fixture->client, result, error);
}

static char *
do_get_account_name (Fixture     *fixture,
                     const char  *access_token,
                     const char  *open_id,
                     GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_get_account_name_async (fixture->client, access_token, open_id, NULL,
                                          kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  return kh_token_client_get_account_name_finish (fixture->client, result, error);
}

/* ---- log capture: no secret may ever reach a log line --------------------------------------------- */

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
  if (level & G_LOG_LEVEL_DEBUG)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
assert_no_secret (const char *text)
{
  static const char * const secrets[] = {
    SHOP_SECRET, BIZ_SECRET, GOOD_CODE, "shop-access-", "shop-refresh-", "adv-access-",
    "act-", "rft-", "app_secret=", "auth_code=", "refresh_token=",
  };

  for (guint i = 0; i < G_N_ELEMENTS (secrets); i++)
    if (strstr (text, secrets[i]) != NULL)
      g_error ("secret %s leaked into: %s", secrets[i], text);
}

/* ---- client tests ------------------------------------------------------------------------------ */

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
test_client_refresh_rotation (Fixture       *fixture,
                              gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) first = NULL;
  g_autoptr(KhTokenResponse) second = NULL;
  g_autoptr(KhTokenResponse) stale = NULL;
  g_autoptr(KhTokenResponse) tt = NULL;
  g_autoptr(KhTokenResponse) tt2 = NULL;
  g_autoptr(KhTokenResponse) advertiser = NULL;

  first = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  second = do_refresh (fixture, KH_TOKEN_KIND_SHOP, first->tokens->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (second->tokens->access_token, !=, first->tokens->access_token);
  g_assert_cmpstr (second->tokens->refresh_token, !=, first->tokens->refresh_token);
  g_assert_cmpstr (fixture->path, ==, "/api/v2/token/refresh");

  /* The old refresh token is gone after rotation: a terminal error, not retried. */
  stale = do_refresh (fixture, KH_TOKEN_KIND_SHOP, first->tokens->refresh_token, &error);
  g_assert_null (stale);
  g_assert_error (error, KH_API_ERROR, 36004005);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/refresh"), ==, 2);
  g_clear_error (&error);

  g_hash_table_remove_all (fixture->used_codes);
  tt = do_exchange (fixture, KH_TOKEN_KIND_TT_USER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  tt2 = do_refresh (fixture, KH_TOKEN_KIND_TT_USER, tt->tokens->refresh_token, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tt2->tokens->refresh_token, !=, tt->tokens->refresh_token);
  g_assert_cmpint (tt2->tokens->refresh_expires_at, <, tt->tokens->refresh_expires_at);

  /* Advertiser tokens have nothing to refresh. */
  advertiser = do_refresh (fixture, KH_TOKEN_KIND_ADVERTISER, "whatever", &error);
  g_assert_null (advertiser);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
}

static void
test_client_revoke (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) advertiser = NULL;
  g_autoptr(KhTokenResponse) tt = NULL;
  g_autoptr(GPtrArray) list = NULL;

  advertiser = do_exchange (fixture, KH_TOKEN_KIND_ADVERTISER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (do_revoke (fixture, KH_TOKEN_KIND_ADVERTISER, advertiser->tokens->access_token,
                            &error));
  g_assert_no_error (error);
  g_assert_cmpstr (fixture->path, ==, "/open_api/v1.3/oauth2/revoke_token/");
  g_assert_cmpstr (kh_json_get_string (request_json (fixture), "access_token"), ==,
                   advertiser->tokens->access_token);
  /* A revoked token no longer works. */
  list = do_get_advertisers (fixture, advertiser->tokens->access_token, &error);
  g_assert_null (list);
  g_assert_error (error, KH_API_ERROR, 40105);
  g_clear_error (&error);

  tt = do_exchange (fixture, KH_TOKEN_KIND_TT_USER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (do_revoke (fixture, KH_TOKEN_KIND_TT_USER, tt->tokens->access_token, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (fixture->path, ==, "/open_api/v1.3/tt_user/oauth2/revoke/");

  /* Shop has no revoke call at all. */
  g_assert_false (do_revoke (fixture, KH_TOKEN_KIND_SHOP, "shop-access-1", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
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
test_client_advertisers (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) advertisers = NULL;

  advertisers = do_get_advertisers (fixture, "adv-token", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (advertisers->len, ==, 3);
  g_assert_cmpstr (fixture->access_token_header, ==, "adv-token");
  g_assert_cmpstr (((KhAdvertiser *) g_ptr_array_index (advertisers, 0))->name, ==, "Acme Ads");
}

static void
test_client_account_name (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  name = do_get_account_name (fixture, "act-77", "open-tt", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "Kat's Kitchen");
  g_assert_cmpstr (fixture->access_token_header, ==, "act-77");
  g_assert_cmpstr (fixture->path, ==, "/open_api/v1.3/business/get/");
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

  /* Over 1 MiB is not TikTok. */
  kh_token_client_set_retry (fixture->client, 1, 2);
  fixture_add_fault (fixture, FAULT_HUGE, 0, 1);
  huge = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_null (huge);
  g_assert_error (error, KH_ERROR, KH_ERROR_BAD_RESPONSE);
}

static void
test_client_dropped_connection (Fixture       *fixture,
                                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(KhTokenResponse) recovered = NULL;

  fixture_add_fault (fixture, FAULT_DROP, 0, -1);
  response = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_null (response);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);
  g_assert_cmpint (kh_error_classify (error), ==, KH_ERROR_CLASS_TRANSIENT);
  /* The host is named; the URL, with the app secret in its query, is not. */
  g_assert_nonnull (strstr (error->message, "auth.tiktok-shops.com"));
  assert_no_secret (error->message);
  g_assert_cmpuint (fixture_hits (fixture, "/api/v2/token/get"), >=, 3);
  g_clear_error (&error);
  g_queue_clear_full (&fixture->faults, g_free);

  fixture_add_fault (fixture, FAULT_DROP, 0, 1);
  recovered = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (recovered);
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
test_client_wrong_family (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhTokenResponse) response = NULL;
  GAsyncResult *pending = NULL;

  kh_token_client_exchange_async (fixture->client, fixture->business_app, BIZ_SECRET,
                                  KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, NULL,
                                  kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, TIMEOUT_MS);
  response = kh_token_client_exchange_finish (fixture->client, result, &error);
  g_assert_null (response);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_cmpuint (g_hash_table_size (fixture->hits), ==, 0);
}

static void
test_client_no_secret_in_logs (Fixture       *fixture,
                               gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenResponse) shop = NULL;
  g_autoptr(KhTokenResponse) refreshed = NULL;
  g_autoptr(KhTokenResponse) tt = NULL;
  g_autoptr(KhTokenResponse) failed = NULL;
  g_autoptr(GPtrArray) shops = NULL;
  g_autofree char *name = NULL;

  captured_logs = g_string_new (NULL);

  fixture_add_fault (fixture, FAULT_HTTP_503, 0, 1);
  shop = do_exchange (fixture, KH_TOKEN_KIND_SHOP, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  refreshed = do_refresh (fixture, KH_TOKEN_KIND_SHOP, shop->tokens->refresh_token, &error);
  g_assert_no_error (error);
  tt = do_exchange (fixture, KH_TOKEN_KIND_TT_USER, GOOD_CODE, NULL, &error);
  g_assert_no_error (error);
  shops = do_get_shops (fixture, "shop-access-token", &error);
  g_assert_no_error (error);
  name = do_get_account_name (fixture, tt->tokens->access_token, "open-tt", &error);
  g_assert_no_error (error);
  fixture_add_fault (fixture, FAULT_DROP, 0, -1);
  failed = do_refresh (fixture, KH_TOKEN_KIND_SHOP, refreshed->tokens->refresh_token, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NETWORK);

  /* The client did log (method, host, path), and nothing secret. */
  g_assert_nonnull (strstr (captured_logs->str, "GET auth.tiktok-shops.com/api/v2/token/get"));
  assert_no_secret (captured_logs->str);
  g_assert_null (strstr (captured_logs->str, "?"));

  g_string_free (g_steal_pointer (&captured_logs), TRUE);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);
  g_log_set_writer_func (capture_writer, NULL, NULL);

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
  g_test_add ("/keyhold/token-client/" name, Fixture, NULL, fixture_set_up, func, \
              fixture_tear_down)

  ADD_CLIENT_TEST ("exchange-shop", test_client_exchange_shop);
  ADD_CLIENT_TEST ("exchange-advertiser", test_client_exchange_advertiser);
  ADD_CLIENT_TEST ("exchange-tt-user", test_client_exchange_tt_user);
  ADD_CLIENT_TEST ("refresh-rotation", test_client_refresh_rotation);
  ADD_CLIENT_TEST ("revoke", test_client_revoke);
  ADD_CLIENT_TEST ("shops-signed", test_client_shops);
  ADD_CLIENT_TEST ("advertisers", test_client_advertisers);
  ADD_CLIENT_TEST ("account-name", test_client_account_name);
  ADD_CLIENT_TEST ("retry-5xx", test_client_retry_5xx);
  ADD_CLIENT_TEST ("5xx-envelope-wins", test_client_5xx_envelope_wins);
  ADD_CLIENT_TEST ("no-retry-api-error", test_client_no_retry_api_error);
  ADD_CLIENT_TEST ("garbage", test_client_garbage);
  ADD_CLIENT_TEST ("dropped-connection", test_client_dropped_connection);
  ADD_CLIENT_TEST ("cancel", test_client_cancel);
  ADD_CLIENT_TEST ("timeout", test_client_timeout);
  ADD_CLIENT_TEST ("wrong-family", test_client_wrong_family);
  ADD_CLIENT_TEST ("no-secret-in-logs", test_client_no_secret_in_logs);

  return g_test_run ();
}
