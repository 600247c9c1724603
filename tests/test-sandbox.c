/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-sandbox.c: keyhold-sandbox against a real libsoup client on loopback: every endpoint's
 * happy path and documented errors, the signature vectors, single-use and expiring codes,
 * rotation with and without grace, revocation, fault injection, rate limiting, the consent page
 * and host routing for all six account types. */

#include "config.h"

#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#define KH_TEST_WITH_SANDBOX 1
#include "kh-test-util.h"

#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-sign.h"

#define SHOP_KEY        "demoshop"
#define SHOP_SECRET     "demo-shop-secret"
#define SHOP_SERVICE    "7000000000000000001"
#define BIZ_ID          "7000000000000000002"
#define BIZ_SECRET      "demo-business-secret"
#define REDIRECT        "http://localhost:8765/callback"
#define STATE           "state-0123456789abcdef"
#define SHOPS_PATH      "/authorization/202309/shops"
#define OPEN_API        "/_host/open-api.tiktokglobalshop.com"
#define AUTH_HOST       "/_host/auth.tiktok-shops.com"
#define BIZ_HOST        "/_host/business-api.tiktok.com/open_api/v1.3"
#define WAIT_MS         10000

/* ---- fixture and HTTP helpers ----------------------------------------------------------- */

typedef struct {
  KhSandbox *sandbox;
  char      *origin;
} Fixture;

typedef struct {
  guint               status;
  char               *body;
  char               *location;
  GError             *error;
  SoupMessageHeaders *headers;
  JsonNode           *json;
  gint64              elapsed_ms;
} Response;

static void
response_free (Response *r)
{
  g_free (r->body);
  g_free (r->location);
  g_clear_error (&r->error);
  g_clear_pointer (&r->headers, soup_message_headers_unref);
  g_clear_pointer (&r->json, json_node_unref);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Response, response_free)

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->sandbox = kh_sandbox_new (42);
  kh_sandbox_listen (f->sandbox, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (kh_sandbox_get_port (f->sandbox), >, 0);
  f->origin = kh_sandbox_dup_origin (f->sandbox);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_free (f->origin);
  g_assert_finalize_object (f->sandbox);
}

typedef struct {
  Response     *response;
  gint64        started;
  GCancellable *cancellable;
} Pending;

static void
send_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Pending *pending = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  Response *r = g_new0 (Response, 1);
  g_autoptr(GBytes) body = NULL;

  body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &r->error);
  r->elapsed_ms = (g_get_monotonic_time () - pending->started) / 1000;
  if (r->error == NULL)
    {
      gsize size;
      const char *data = g_bytes_get_data (body, &size);

      r->status = soup_message_get_status (msg);
      r->body = g_strndup (data != NULL ? data : "", size);
      r->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
      r->location = g_strdup (soup_message_headers_get_one (r->headers, "Location"));
    }
  pending->response = r;
}

static gboolean
pending_done (gpointer user_data)
{
  return ((Pending *) user_data)->response != NULL;
}

/* Starts a request; a fresh session each time, so a dropped connection is never retried on
 * another one behind the test's back. */
static Pending *
start_request (Fixture    *f,
               const char *method,
               const char *path,
               const char *content_type,
               const char *body,
               const char *header,
               const char *value)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("timeout", 30, NULL);
  g_autofree char *url = g_strconcat (f->origin, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  Pending *pending = g_new0 (Pending, 1);

  g_assert_nonnull (msg);
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, content_type, bytes);
    }
  if (header != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), header, value);

  pending->started = g_get_monotonic_time ();
  pending->cancellable = g_cancellable_new ();
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, pending->cancellable,
                                    send_done_cb, pending);
  return pending;
}

static Response *
finish_request (Pending *pending)
{
  Response *r;

  kh_test_wait_until (pending_done, pending, WAIT_MS);
  r = pending->response;
  g_clear_object (&pending->cancellable);
  g_free (pending);
  return r;
}

static Response *
request (Fixture    *f,
         const char *method,
         const char *path,
         const char *content_type,
         const char *body,
         const char *header,
         const char *value)
{
  return finish_request (start_request (f, method, path, content_type, body, header, value));
}

static Response *
get (Fixture    *f,
     const char *path)
{
  return request (f, "GET", path, NULL, NULL, NULL, NULL);
}

static Response *
post_json (Fixture    *f,
           const char *path,
           const char *json)
{
  return request (f, "POST", path, "application/json", json, NULL, NULL);
}

static JsonObject *
root_object (Response *r)
{
  g_autoptr(GError) error = NULL;

  g_assert_no_error (r->error);
  if (r->json == NULL)
    {
      r->json = kh_json_parse (r->body, strlen (r->body), &error);
      g_assert_no_error (error);
    }
  g_assert_nonnull (kh_json_node_object (r->json));

  return kh_json_node_object (r->json);
}

/* Checks TikTok's envelope and returns its code. */
static gint64
api_code (Response *r)
{
  JsonObject *root;
  gint64 code;

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
  root = root_object (r);
  g_assert_true (kh_json_get_int (root, "code", &code));
  g_assert_nonnull (kh_json_get_string (root, "message"));
  g_assert_nonnull (kh_json_get_string (root, "request_id"));
  g_assert_nonnull (kh_json_get_object (root, "data"));

  return code;
}

static JsonObject *
api_data (Response *r)
{
  g_assert_cmpint (api_code (r), ==, 0);
  return kh_json_get_object (root_object (r), "data");
}

static GHashTable *
location_params (Response *r)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) error = NULL;
  GHashTable *params;

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 302);
  g_assert_nonnull (r->location);
  uri = g_uri_parse (r->location, G_URI_FLAGS_ENCODED_QUERY, &error);
  g_assert_no_error (error);
  params = g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, &error);
  g_assert_no_error (error);

  return params;
}

/* Approves an authorization URL at once and returns the code it redirected with. */
static char *
authorize (Fixture    *f,
           const char *path_and_query)
{
  g_autoptr(Response) r = get (f, path_and_query);
  g_autoptr(GHashTable) params = location_params (r);
  const char *code = g_hash_table_lookup (params, "code");

  g_assert_nonnull (code);
  return g_strdup (code);
}

static Response *
shop_token_get (Fixture    *f,
                const char *app_key,
                const char *secret,
                const char *code,
                const char *grant_type)
{
  g_autofree char *path = g_strdup_printf (AUTH_HOST "/api/v2/token/get?app_key=%s&app_secret=%s"
                                           "&auth_code=%s&grant_type=%s",
                                           app_key, secret, code, grant_type);

  return get (f, path);
}

static Response *
shop_token_refresh (Fixture    *f,
                    const char *refresh_token)
{
  g_autofree char *path = g_strdup_printf (AUTH_HOST "/api/v2/token/refresh?app_key=" SHOP_KEY
                                           "&app_secret=" SHOP_SECRET "&refresh_token=%s"
                                           "&grant_type=refresh_token", refresh_token);

  return get (f, path);
}

/* Authorizes a seller (ROW) and exchanges the code: returns the token/get data response. */
static Response *
new_shop_grant (Fixture    *f,
                const char *authorize_path)
{
  g_autofree char *code = authorize (f, authorize_path);

  return shop_token_get (f, SHOP_KEY, SHOP_SECRET, code, "authorized_code");
}

#define SELLER_ROW_LINK "/_host/services.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE \
                        "&state=" STATE "&auto=approve"
#define CREATOR_LINK    "/_host/shop.tiktok.com/alliance/creator/auth?app_key=" SHOP_KEY \
                        "&state=" STATE "&auto=approve"
#define ADVERTISER_LINK "/_host/business-api.tiktok.com/portal/auth?app_id=" BIZ_ID \
                        "&state=" STATE "&redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcallback" \
                        "&auto=approve"
#define TT_LINK         "/_host/www.tiktok.com/v2/auth/authorize/?client_key=" BIZ_ID \
                        "&scope=user.info.basic,video.list&response_type=code" \
                        "&redirect_uri=http%3A%2F%2Flocalhost%3A8765%2Fcallback&state=" STATE \
                        "&auto=approve"

static Response *
get_shops (Fixture    *f,
           const char *app_key,
           const char *secret,
           gint64      timestamp,
           const char *access_token)
{
  g_autoptr(GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *ts = g_strdup_printf ("%" G_GINT64_FORMAT, timestamp);
  g_autofree char *sign = NULL;
  g_autofree char *path = NULL;

  g_hash_table_insert (query, (char *) "app_key", (char *) app_key);
  g_hash_table_insert (query, (char *) "timestamp", ts);
  sign = kh_sign (secret, SHOPS_PATH, query, NULL, 0, NULL);
  path = g_strdup_printf (OPEN_API SHOPS_PATH "?app_key=%s&timestamp=%s&sign=%s",
                          app_key, ts, sign);

  return request (f, "GET", path, NULL, NULL, access_token != NULL ? "x-tts-access-token" : NULL,
                  access_token);
}

static Response *
advertiser_exchange (Fixture    *f,
                     const char *code)
{
  g_autofree char *body = g_strdup_printf ("{\"app_id\":\"" BIZ_ID "\",\"secret\":\"" BIZ_SECRET
                                           "\",\"auth_code\":\"%s\"}", code);

  return post_json (f, BIZ_HOST "/oauth2/access_token/", body);
}

static Response *
tt_exchange (Fixture    *f,
             const char *code,
             const char *redirect_uri)
{
  g_autofree char *body = g_strdup_printf ("{\"client_id\":\"" BIZ_ID "\",\"client_secret\":\""
                                           BIZ_SECRET "\",\"grant_type\":\"authorization_code\","
                                           "\"auth_code\":\"%s\",\"redirect_uri\":\"%s\"}",
                                           code, redirect_uri);

  return post_json (f, BIZ_HOST "/tt_user/oauth2/token/", body);
}

static Response *
tt_refresh (Fixture    *f,
            const char *refresh_token)
{
  g_autofree char *body = g_strdup_printf ("{\"client_id\":\"" BIZ_ID "\",\"client_secret\":\""
                                           BIZ_SECRET "\",\"grant_type\":\"refresh_token\","
                                           "\"refresh_token\":\"%s\"}", refresh_token);

  return post_json (f, BIZ_HOST "/tt_user/oauth2/refresh_token/", body);
}

static void
configure (Fixture    *f,
           const char *json)
{
  g_autoptr(Response) r = post_json (f, "/_sandbox/config", json);

  g_assert_cmpuint (r->status, ==, 200);
}

static char *
dup_string (JsonObject *object,
            const char *member)
{
  const char *value = kh_json_get_string (object, member);

  g_assert_nonnull (value);
  return g_strdup (value);
}

static JsonObject *
ledger_authorization (JsonNode *ledger,
                      guint     index)
{
  JsonArray *list = kh_json_get_array (kh_json_node_object (ledger), "authorizations");

  g_assert_nonnull (list);
  g_assert_cmpuint (index, <, json_array_get_length (list));
  return json_array_get_object_element (list, index);
}

/* ---- signatures ------------------------------------------------------------------------- */

static void
test_sign_vectors (void)
{
  g_autoptr(GHashTable) q1 = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) q2 = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) q3 = g_hash_table_new (g_str_hash, g_str_equal);
  const char *body3 = "{\"address\":\"https://partner.tiktokshop.com\","
                      "\"event_type\":\"PACKAGE_UPDATE\"}";
  g_autofree char *s1 = NULL;
  g_autofree char *s2 = NULL;
  g_autofree char *s3 = NULL;

  g_hash_table_insert (q1, (char *) "app_key", (char *) "29a39d");
  g_hash_table_insert (q1, (char *) "timestamp", (char *) "1623812664");
  s1 = kh_sign ("e59af819cc", SHOPS_PATH, q1, NULL, 0, NULL);
  g_assert_cmpstr (s1, ==, "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");

  g_hash_table_insert (q2, (char *) "foo", (char *) "bar");
  s2 = kh_sign ("app_secret", "/test-api", q2, NULL, 0, NULL);
  g_assert_cmpstr (s2, ==, "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f");

  g_hash_table_insert (q3, (char *) "app_key", (char *) "68xu9ks5p4i8");
  g_hash_table_insert (q3, (char *) "shop_cipher", (char *) "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK");
  g_hash_table_insert (q3, (char *) "timestamp", (char *) "1696909648");
  s3 = kh_sign ("e59af819cc", "/event/202309/webhooks", q3, body3, strlen (body3),
                "application/json");
  g_assert_cmpstr (s3, ==, "cd0d6268252f4ba293bf7ea4c0a2873bf9beec600d22530638564ab301435f7a");
}

/* The acceptance check: V1's exact request is not 106001 (its timestamp is years old:
 * 36009004); one character of sign changed is 106001. */
static void
test_sign_v1_http (Fixture       *f,
                   gconstpointer  data)
{
  const char *v1 = SHOPS_PATH "?app_key=29a39d&timestamp=1623812664"
                   "&sign=b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8";
  const char *bad = SHOPS_PATH "?app_key=29a39d&timestamp=1623812664"
                    "&sign=b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc9";
  g_autofree char *v1_host = g_strconcat (OPEN_API, v1, NULL);
  g_autoptr(Response) r1 = get (f, v1);
  g_autoptr(Response) r2 = get (f, bad);
  g_autoptr(Response) r3 = get (f, v1_host);
  g_autoptr(Response) r4 = get (f, SHOPS_PATH "?app_key=29a39d&timestamp=1623812664");
  g_autoptr(Response) r5 = NULL;

  g_assert_cmpint (api_code (r1), ==, 36009004);
  g_assert_cmpint (api_code (r2), ==, 106001);
  g_assert_cmpint (api_code (r3), ==, 36009004);
  g_assert_cmpint (api_code (r4), ==, 106001);

  /* A fresh timestamp passes the window; the missing token is the next complaint. */
  r5 = get_shops (f, "29a39d", "e59af819cc", kh_sandbox_now (f->sandbox), NULL);
  g_assert_cmpint (api_code (r5), ==, 36009004);
  g_assert_nonnull (strstr (kh_json_get_string (root_object (r5), "message"), "access"));
}

/* ---- routing and consent ---------------------------------------------------------------- */

static void
test_origin_map (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *map = kh_sandbox_dup_origin_map (f->sandbox);
  g_autofree char *expected = NULL;
  g_autofree char *rewritten = NULL;
  g_autoptr(GError) error = NULL;
  const char * const hosts[] = {
    "services.us.tiktokshop.com", "services.tiktokshops.us", "services.tiktokshop.com",
    "auth.tiktok-shops.com", "shop.tiktok.com", "partner.us.tiktokshop.com",
    "partner.tiktokshop.com", "open-api.tiktokglobalshop.com", "business-api.tiktok.com",
    "ads.tiktok.com", "www.tiktok.com",
  };
  g_auto(GStrv) pairs = g_strsplit (map, ";", -1);

  g_assert_cmpuint (g_strv_length (pairs), ==, G_N_ELEMENTS (hosts));
  for (guint i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      g_autofree char *pair = g_strdup_printf ("https://%s=%s/_host/%s", hosts[i], f->origin,
                                               hosts[i]);

      g_assert_true (g_strv_contains ((const char * const *) pairs, pair));
    }

  g_assert_true (kh_origin_map_set (map, &error));
  g_assert_no_error (error);
  rewritten = kh_origin_map_rewrite ("https://auth.tiktok-shops.com/api/v2/token/get?a=b");
  expected = g_strdup_printf ("%s/_host/auth.tiktok-shops.com/api/v2/token/get?a=b", f->origin);
  g_assert_cmpstr (rewritten, ==, expected);
  kh_origin_map_set (NULL, NULL);
}

typedef struct {
  const char *path_and_query;
  const char *flow;
  const char *code_param;
  const char *shop_region;   /* NULL: not a Shop link */
} RouteCase;

static void
test_host_routing (Fixture       *f,
                   gconstpointer  data)
{
  const RouteCase cases[] = {
    { "/_host/services.us.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE,
      "seller", "code", "US" },
    { "/_host/services.tiktokshops.us/open/authorize?service_id=" SHOP_SERVICE,
      "seller", "code", "US" },
    { "/_host/services.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE,
      "seller", "code", "GB" },
    { "/_host/auth.tiktok-shops.com/oauth/authorize?app_key=" SHOP_KEY, "seller", "code", "GB" },
    { "/_host/shop.tiktok.com/alliance/creator/auth?app_key=" SHOP_KEY, "creator", "code", "GB" },
    { "/_host/partner.us.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE,
      "partner", "code", "US" },
    { "/_host/partner.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE,
      "partner", "code", "GB" },
    { "/_host/business-api.tiktok.com/portal/auth?app_id=" BIZ_ID, "advertiser", "auth_code",
      NULL },
    { "/_host/ads.tiktok.com/marketing_api/auth?app_id=" BIZ_ID, "advertiser", "auth_code", NULL },
    { "/_host/www.tiktok.com/v2/auth/authorize/?client_key=" BIZ_ID "&response_type=code"
      "&scope=user.info.basic", "tiktok-account", "code", NULL },
    /* Plain paths, no host prefix. */
    { "/open/authorize?service_id=" SHOP_SERVICE, "seller", "code", "GB" },
    { "/alliance/creator/auth?app_key=" SHOP_KEY, "creator", "code", "GB" },
    { "/portal/auth?app_id=" BIZ_ID, "advertiser", "auth_code", NULL },
    { "/v2/auth/authorize/?client_key=" BIZ_ID "&response_type=code", "tiktok-account", "code",
      NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strconcat (cases[i].path_and_query, "&state=" STATE
                                           "&auto=approve", NULL);
      g_autoptr(Response) r = get (f, path);
      g_autoptr(GHashTable) params = location_params (r);
      g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (f->sandbox);
      JsonObject *auth = ledger_authorization (ledger, i);

      g_test_message ("route %s", cases[i].path_and_query);
      g_assert_true (g_str_has_prefix (r->location, REDIRECT "?"));
      g_assert_nonnull (g_hash_table_lookup (params, cases[i].code_param));
      g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, STATE);
      g_assert_cmpstr (kh_json_get_string (auth, "flow"), ==, cases[i].flow);
      if (cases[i].shop_region != NULL)
        {
          const char *code = g_hash_table_lookup (params, "code");

          g_assert_cmpstr (g_hash_table_lookup (params, "app_key"), ==, SHOP_KEY);
          g_assert_cmpstr (g_hash_table_lookup (params, "locale"), ==, "en-GB");
          g_assert_cmpstr (g_hash_table_lookup (params, "shop_region"), ==,
                           cases[i].shop_region);
          g_assert_true (g_str_has_prefix (code, g_str_equal (cases[i].shop_region, "US")
                                                 ? "US_" : "ROW_"));
        }
      if (g_str_equal (cases[i].flow, "advertiser"))
        g_assert_cmpstr (g_hash_table_lookup (params, "auth_code"), ==,
                         g_hash_table_lookup (params, "code"));
      if (g_str_equal (cases[i].flow, "tiktok-account"))
        g_assert_nonnull (g_hash_table_lookup (params, "scopes"));
    }

  /* A plain /open/authorize is a partner link when the app says so. */
  {
    g_autoptr(Response) reg = post_json (f, "/_sandbox/apps",
                                         "{\"family\":\"shop\",\"app_key\":\"tapapp\","
                                         "\"app_secret\":\"tap-secret-123\",\"service_id\":\"42\","
                                         "\"redirect_uri\":\"http://127.0.0.1:9/cb\","
                                         "\"category\":\"partner\"}");
    g_autoptr(Response) r = NULL;
    g_autoptr(JsonNode) ledger = NULL;

    g_assert_cmpuint (reg->status, ==, 200);
    r = get (f, "/open/authorize?service_id=42&state=" STATE "&auto=approve");
    g_assert_cmpuint (r->status, ==, 302);
    g_assert_true (g_str_has_prefix (r->location, "http://127.0.0.1:9/cb?code="));
    ledger = kh_sandbox_dup_ledger (f->sandbox);
    g_assert_cmpstr (kh_json_get_string (ledger_authorization (ledger, G_N_ELEMENTS (cases)),
                                         "flow"), ==, "partner");
  }

  /* Unknown hosts, paths on the wrong host and wrong methods. */
  {
    g_autoptr(Response) r1 = get (f, "/_host/evil.example.com/open/authorize?service_id=1");
    g_autoptr(Response) r2 = get (f, "/_host/www.tiktok.com/api/v2/token/get?app_key=x");
    g_autoptr(Response) r3 = get (f, "/nothing/here");
    g_autoptr(Response) r4 = get (f, BIZ_HOST "/oauth2/access_token/");
    g_autoptr(Response) r5 = get (f, "/_host/");
    g_autoptr(Response) r6 = get (f, BIZ_HOST "/oauth2/access_token");

    g_assert_cmpuint (r1->status, ==, 404);
    g_assert_cmpuint (r2->status, ==, 404);
    g_assert_cmpuint (r3->status, ==, 404);
    g_assert_cmpuint (r4->status, ==, 405);
    g_assert_cmpuint (r5->status, ==, 404);
    g_assert_cmpuint (r6->status, ==, 404);
  }
}

static char *
consent_id_from_page (const char *html)
{
  const char *marker = "name=\"consent\" value=\"";
  const char *start = strstr (html, marker);
  const char *end;

  g_assert_nonnull (start);
  start += strlen (marker);
  end = strchr (start, '"');
  g_assert_nonnull (end);

  return g_strndup (start, (gsize) (end - start));
}

static void
test_consent_page (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(Response) page = NULL;
  g_autoptr(Response) approved = NULL;
  g_autoptr(Response) again = NULL;
  g_autoptr(Response) page2 = NULL;
  g_autoptr(Response) denied = NULL;
  g_autoptr(Response) reg = NULL;
  g_autoptr(Response) hostile = NULL;
  g_autoptr(Response) via_get = NULL;
  g_autoptr(Response) page3 = NULL;
  g_autoptr(Response) undecided = NULL;
  g_autoptr(GHashTable) params = NULL;
  g_autoptr(GHashTable) denied_params = NULL;
  g_autofree char *id = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *id3 = NULL;
  g_autofree char *form = NULL;
  g_autofree char *form2 = NULL;
  g_autofree char *get_path = NULL;
  g_autofree char *bad_form = NULL;

  page = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE
              "&state=" STATE);
  g_assert_cmpuint (page->status, ==, 200);
  g_assert_true (g_str_has_prefix (soup_message_headers_get_content_type (page->headers, NULL),
                                   "text/html"));
  g_assert_cmpstr (soup_message_headers_get_one (page->headers, "Cache-Control"), ==, "no-store");
  g_assert_nonnull (soup_message_headers_get_one (page->headers, "Content-Security-Policy"));
  g_assert_nonnull (strstr (page->body, ">Approve</button>"));
  g_assert_nonnull (strstr (page->body, ">Deny</button>"));
  g_assert_nonnull (strstr (page->body, SHOP_KEY));
  g_assert_nonnull (strstr (page->body, "seller"));
  /* The state is a secret of the client: never echoed. */
  g_assert_null (strstr (page->body, STATE));

  id = consent_id_from_page (page->body);
  form = g_strdup_printf ("consent=%s&decision=approve", id);
  approved = request (f, "POST", "/_sandbox/consent", "application/x-www-form-urlencoded", form,
                      NULL, NULL);
  params = location_params (approved);
  g_assert_true (g_str_has_prefix (g_hash_table_lookup (params, "code"), "ROW_"));
  g_assert_cmpstr (g_hash_table_lookup (params, "state"), ==, STATE);

  /* The consent is single-use. */
  again = request (f, "POST", "/_sandbox/consent", "application/x-www-form-urlencoded", form,
                   NULL, NULL);
  g_assert_cmpuint (again->status, ==, 400);

  page2 = get (f, "/_host/business-api.tiktok.com/portal/auth?app_id=" BIZ_ID "&state=" STATE);
  g_assert_cmpuint (page2->status, ==, 200);
  id2 = consent_id_from_page (page2->body);
  form2 = g_strdup_printf ("consent=%s&decision=deny", id2);
  denied = request (f, "POST", "/_sandbox/consent", "application/x-www-form-urlencoded", form2,
                    NULL, NULL);
  denied_params = location_params (denied);
  g_assert_cmpstr (g_hash_table_lookup (denied_params, "error"), ==, "access_denied");
  g_assert_nonnull (g_hash_table_lookup (denied_params, "error_description"));
  g_assert_cmpstr (g_hash_table_lookup (denied_params, "state"), ==, STATE);
  g_assert_null (g_hash_table_lookup (denied_params, "auth_code"));

  /* Everything echoed in the page is escaped. */
  reg = post_json (f, "/_sandbox/apps", "{\"family\":\"shop\",\"app_key\":\"<b>x&y</b>\","
                   "\"app_secret\":\"s3cret-value\",\"redirect_uri\":\"http://127.0.0.1:9/cb\","
                   "\"scopes\":[\"seller.<i>odd</i>\"]}");
  g_assert_cmpuint (reg->status, ==, 200);
  hostile = get (f, "/_host/auth.tiktok-shops.com/oauth/authorize?app_key=%3Cb%3Ex%26y%3C/b%3E");
  g_assert_cmpuint (hostile->status, ==, 200);
  g_assert_null (strstr (hostile->body, "<b>"));
  g_assert_null (strstr (hostile->body, "<i>"));
  g_assert_nonnull (strstr (hostile->body, "&lt;b&gt;x&amp;y&lt;/b&gt;"));

  /* The decision may also come by GET; a missing decision keeps the consent. */
  page3 = get (f, "/_host/shop.tiktok.com/alliance/creator/auth?app_key=" SHOP_KEY
               "&state=" STATE);
  id3 = consent_id_from_page (page3->body);
  bad_form = g_strdup_printf ("/_sandbox/consent?consent=%s&decision=maybe", id3);
  undecided = get (f, bad_form);
  g_assert_cmpuint (undecided->status, ==, 400);
  get_path = g_strdup_printf ("/_sandbox/consent?consent=%s&decision=approve", id3);
  via_get = get (f, get_path);
  g_assert_cmpuint (via_get->status, ==, 302);
}

static void
test_auto_deny (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(Response) shop = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id="
                                  SHOP_SERVICE "&state=" STATE "&auto=deny");
  g_autoptr(Response) tt = get (f, "/_host/www.tiktok.com/v2/auth/authorize/?client_key=" BIZ_ID
                                "&response_type=code&state=" STATE "&auto=deny");
  g_autoptr(Response) bad = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id="
                                 SHOP_SERVICE "&auto=perhaps");
  g_autoptr(GHashTable) shop_params = location_params (shop);
  g_autoptr(GHashTable) tt_params = location_params (tt);
  g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (f->sandbox);

  g_assert_cmpstr (g_hash_table_lookup (shop_params, "error"), ==, "access_denied");
  g_assert_cmpstr (g_hash_table_lookup (shop_params, "code"), ==, "null");
  g_assert_cmpstr (g_hash_table_lookup (shop_params, "state"), ==, STATE);
  g_assert_cmpstr (g_hash_table_lookup (tt_params, "error"), ==, "access_denied");
  g_assert_null (g_hash_table_lookup (tt_params, "code"));
  g_assert_cmpuint (bad->status, ==, 400);

  /* A refusal creates no authorization. */
  g_assert_cmpuint (json_array_get_length (kh_json_get_array (kh_json_node_object (ledger),
                                                              "authorizations")), ==, 0);
}

static void
test_link_errors (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Response) no_state = get (f, "/_host/shop.tiktok.com/alliance/creator/auth?app_key="
                                      SHOP_KEY "&auto=approve");
  g_autoptr(Response) unknown = get (f, "/_host/services.tiktokshop.com/open/authorize?"
                                     "service_id=123&auto=approve");
  g_autoptr(Response) no_redirect = get (f, "/_host/auth.tiktok-shops.com/oauth/authorize?"
                                         "app_key=29a39d&auto=approve");
  g_autoptr(Response) mismatch = get (f, "/_host/business-api.tiktok.com/portal/auth?app_id="
                                      BIZ_ID "&state=s&redirect_uri=http%3A%2F%2Flocalhost%3A8765"
                                      "%2Fcallback%2F&auto=approve");
  g_autoptr(Response) no_type = get (f, "/_host/www.tiktok.com/v2/auth/authorize/?client_key="
                                     BIZ_ID "&state=s&auto=approve");
  g_autoptr(Response) reg = NULL;
  g_autoptr(Response) own = NULL;
  g_autoptr(Response) invalid = NULL;
  g_autoptr(Response) no_state_seller = NULL;
  g_autoptr(GHashTable) params = NULL;

  g_assert_cmpuint (no_state->status, ==, 400);
  g_assert_nonnull (strstr (no_state->body, "state"));
  g_assert_cmpuint (unknown->status, ==, 400);
  g_assert_cmpuint (no_redirect->status, ==, 400);
  g_assert_cmpuint (mismatch->status, ==, 400);
  g_assert_cmpuint (no_type->status, ==, 400);

  /* A Business app without a registered redirect URI takes the link's. */
  kh_sandbox_add_app (f->sandbox, "business", "7000000000000000077", "other-biz-secret", NULL,
                      NULL);
  own = get (f, "/_host/business-api.tiktok.com/portal/auth?app_id=7000000000000000077&state=s"
             "&redirect_uri=http%3A%2F%2F127.0.0.1%3A4321%2Fdone%3Fx%3D1&auto=approve");
  g_assert_cmpuint (own->status, ==, 302);
  g_assert_true (g_str_has_prefix (own->location, "http://127.0.0.1:4321/done?x=1&auth_code="));
  invalid = get (f, "/_host/business-api.tiktok.com/portal/auth?app_id=7000000000000000077"
                 "&state=s&redirect_uri=javascript%3Aalert(1)&auto=approve");
  g_assert_cmpuint (invalid->status, ==, 400);

  /* Seller links started from the App Store carry no state: none comes back. */
  no_state_seller = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id="
                         SHOP_SERVICE "&auto=approve");
  params = location_params (no_state_seller);
  g_assert_false (g_hash_table_contains (params, "state"));
  g_assert_nonnull (g_hash_table_lookup (params, "code"));

  reg = post_json (f, "/_sandbox/apps", "{\"family\":\"shop\",\"app_key\":\"k\","
                   "\"app_secret\":\"s\",\"redirect_uri\":\"ftp://x/\"}");
  g_assert_cmpuint (reg->status, ==, 400);
}

/* ---- TikTok Shop ------------------------------------------------------------------------ */

static void
test_shop_token (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *code = authorize (f, SELLER_ROW_LINK);
  g_autoptr(Response) r = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code, "authorized_code");
  g_autoptr(Response) reuse = NULL;
  g_autoptr(Response) creator = NULL;
  g_autoptr(Response) partner = NULL;
  g_autofree char *creator_code = NULL;
  g_autofree char *partner_code = NULL;
  g_autofree char *code2 = NULL;
  g_autoptr(Response) bad_secret = NULL;
  g_autoptr(Response) bad_app = NULL;
  g_autoptr(Response) bad_grant = NULL;
  g_autoptr(Response) other_app = NULL;
  g_autoptr(Response) unknown = NULL;
  g_autoptr(Response) still_good = NULL;
  JsonObject *d;
  gint64 now = kh_sandbox_now (f->sandbox);
  gint64 value;
  g_auto(GStrv) scopes = NULL;

  d = api_data (r);
  g_assert_cmpstr (kh_json_get_string (root_object (r), "message"), ==, "success");
  g_assert_true (g_str_has_prefix (kh_json_get_string (d, "access_token"), "ROW_"));
  g_assert_nonnull (kh_json_get_string (d, "refresh_token"));
  /* Absolute Unix times. */
  g_assert_true (kh_json_get_int (d, "access_token_expire_in", &value));
  g_assert_cmpint (value, >=, now + 7 * 86400 - 5);
  g_assert_cmpint (value, <=, now + 7 * 86400 + 5);
  g_assert_true (kh_json_get_int (d, "refresh_token_expire_in", &value));
  g_assert_cmpint (value, >, now + 300 * 86400);
  g_assert_nonnull (kh_json_get_string (d, "open_id"));
  g_assert_nonnull (kh_json_get_string (d, "seller_name"));
  g_assert_cmpstr (kh_json_get_string (d, "seller_base_region"), ==, "GB");
  g_assert_true (kh_json_get_int (d, "user_type", &value));
  g_assert_cmpint (value, ==, 0);
  scopes = kh_json_get_strv (d, "granted_scopes");
  g_assert_nonnull (scopes);
  g_assert_true (g_strv_contains ((const char * const *) scopes, "seller.authorization.info"));
  g_assert_false (g_strv_contains ((const char * const *) scopes, "creator.affiliate.info"));

  /* Codes are single-use. */
  reuse = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code, "authorized_code");
  g_assert_cmpint (api_code (reuse), ==, 36004004);

  creator_code = authorize (f, CREATOR_LINK);
  creator = shop_token_get (f, SHOP_KEY, SHOP_SECRET, creator_code, "authorized_code");
  d = api_data (creator);
  g_assert_true (kh_json_get_int (d, "user_type", &value));
  g_assert_cmpint (value, ==, 1);
  g_assert_true (kh_json_get_int (d, "refresh_token_expire_in", &value));
  g_assert_cmpint (value, ==, G_GINT64_CONSTANT (4903858076));

  partner_code = authorize (f, "/_host/partner.us.tiktokshop.com/open/authorize?service_id="
                            SHOP_SERVICE "&state=" STATE "&auto=approve");
  partner = shop_token_get (f, SHOP_KEY, SHOP_SECRET, partner_code, "authorized_code");
  d = api_data (partner);
  g_assert_true (kh_json_get_int (d, "user_type", &value));
  g_assert_cmpint (value, ==, 3);
  g_assert_cmpstr (kh_json_get_string (d, "seller_base_region"), ==, "US");
  g_assert_true (g_str_has_prefix (kh_json_get_string (d, "access_token"), "US_"));

  /* Errors leave the code usable. */
  code2 = authorize (f, SELLER_ROW_LINK);
  bad_secret = shop_token_get (f, SHOP_KEY, "wrong-secret", code2, "authorized_code");
  g_assert_cmpint (api_code (bad_secret), ==, 36009004);
  bad_app = shop_token_get (f, "nosuchapp", SHOP_SECRET, code2, "authorized_code");
  g_assert_cmpint (api_code (bad_app), ==, 36009004);
  bad_grant = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code2, "authorization_code");
  g_assert_cmpint (api_code (bad_grant), ==, 36009004);
  other_app = shop_token_get (f, "29a39d", "e59af819cc", code2, "authorized_code");
  g_assert_cmpint (api_code (other_app), ==, 36004004);
  unknown = shop_token_get (f, SHOP_KEY, SHOP_SECRET, "ROW_nonsense", "authorized_code");
  g_assert_cmpint (api_code (unknown), ==, 36004004);
  still_good = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code2, "authorized_code");
  g_assert_cmpint (api_code (still_good), ==, 0);
}

static void
test_code_expiry (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *shop_code = authorize (f, SELLER_ROW_LINK);
  g_autofree char *shop_code2 = authorize (f, SELLER_ROW_LINK);
  g_autofree char *adv_code = authorize (f, ADVERTISER_LINK);
  g_autofree char *adv_code2 = authorize (f, ADVERTISER_LINK);
  g_autoptr(Response) r1 = NULL;
  g_autoptr(Response) r2 = NULL;
  g_autoptr(Response) r3 = NULL;
  g_autoptr(Response) r4 = NULL;
  g_autoptr(Response) clock = NULL;

  /* 29 minutes: the Shop code still works. */
  kh_sandbox_advance_clock (f->sandbox, 29 * 60);
  r1 = shop_token_get (f, SHOP_KEY, SHOP_SECRET, shop_code, "authorized_code");
  g_assert_cmpint (api_code (r1), ==, 0);

  /* Past 30 minutes through the control endpoint: expired. */
  clock = post_json (f, "/_sandbox/clock", "{\"advance\": 61}");
  g_assert_cmpuint (clock->status, ==, 200);
  r2 = shop_token_get (f, SHOP_KEY, SHOP_SECRET, shop_code2, "authorized_code");
  g_assert_cmpint (api_code (r2), ==, 36004004);

  /* Business codes live one hour. */
  r3 = advertiser_exchange (f, adv_code);
  g_assert_cmpint (api_code (r3), ==, 0);
  kh_sandbox_advance_clock (f->sandbox, 30 * 60);
  r4 = advertiser_exchange (f, adv_code2);
  g_assert_cmpint (api_code (r4), ==, 40110);
}

static void
test_shop_rotation (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(Response) first = new_shop_grant (f, SELLER_ROW_LINK);
  g_autofree char *access1 = dup_string (api_data (first), "access_token");
  g_autofree char *refresh1 = dup_string (api_data (first), "refresh_token");
  g_autofree char *access2 = NULL;
  g_autofree char *refresh2 = NULL;
  g_autoptr(Response) second = NULL;
  g_autoptr(Response) replay = NULL;
  g_autoptr(Response) shops_old = NULL;
  g_autoptr(Response) third = NULL;
  g_autoptr(Response) unknown = NULL;
  g_autoptr(JsonNode) ledger = NULL;
  JsonObject *auth;
  gint64 refresh_expiry1, refresh_expiry2, count;

  g_assert_true (kh_json_get_int (api_data (first), "refresh_token_expire_in",
                                  &refresh_expiry1));
  kh_sandbox_advance_clock (f->sandbox, 3600);
  second = shop_token_refresh (f, refresh1);
  access2 = dup_string (api_data (second), "access_token");
  refresh2 = dup_string (api_data (second), "refresh_token");
  g_assert_cmpstr (access1, !=, access2);
  g_assert_cmpstr (refresh1, !=, refresh2);
  /* The authorization period does not move with a refresh. */
  g_assert_true (kh_json_get_int (api_data (second), "refresh_token_expire_in",
                                  &refresh_expiry2));
  g_assert_cmpint (refresh_expiry1, ==, refresh_expiry2);

  /* The old refresh token stops working; the old access token lives until it expires. */
  replay = shop_token_refresh (f, refresh1);
  g_assert_cmpint (api_code (replay), ==, 36004005);
  shops_old = get_shops (f, SHOP_KEY, SHOP_SECRET, kh_sandbox_now (f->sandbox), access1);
  g_assert_cmpint (api_code (shops_old), ==, 0);

  third = shop_token_refresh (f, refresh2);
  g_assert_cmpint (api_code (third), ==, 0);
  unknown = shop_token_refresh (f, "ROW_never_issued_token");
  g_assert_cmpint (api_code (unknown), ==, 36004005);

  ledger = kh_sandbox_dup_ledger (f->sandbox);
  auth = ledger_authorization (ledger, 0);
  g_assert_true (kh_json_get_int (auth, "refresh_count", &count));
  g_assert_cmpint (count, ==, 2);
  g_assert_cmpstr (kh_json_get_string (auth, "access_token"), ==,
                   kh_json_get_string (api_data (third), "access_token"));
  g_assert_cmpuint (json_array_get_length (kh_json_get_array (auth, "tokens")), ==, 6);
  for (guint i = 0; i < 6; i++)
    {
      JsonObject *token = json_array_get_object_element (kh_json_get_array (auth, "tokens"), i);
      gboolean valid;
      gboolean is_refresh = g_str_equal (kh_json_get_string (token, "kind"), "refresh");

      g_assert_true (kh_json_get_bool (token, "valid", &valid));
      /* Access tokens stay valid until expiry; only the newest refresh token works. */
      g_assert_true (valid == (!is_refresh || i == 5));
    }
}

static void
test_shop_refresh_expiry (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(Response) first = NULL;
  g_autoptr(Response) expired = NULL;
  g_autofree char *refresh = NULL;

  configure (f, "{\"shop_refresh_ttl\": 3600, \"shop_access_ttl\": 600}");
  first = new_shop_grant (f, SELLER_ROW_LINK);
  refresh = dup_string (api_data (first), "refresh_token");
  kh_sandbox_advance_clock (f->sandbox, 3601);
  expired = shop_token_refresh (f, refresh);
  g_assert_cmpint (api_code (expired), ==, 36004001);
}

static gboolean
ledger_refresh_accepted (JsonNode   *ledger,
                         const char *refresh_token)
{
  JsonArray *tokens = kh_json_get_array (ledger_authorization (ledger, 0), "tokens");
  gboolean accepted = FALSE;

  for (guint i = 0; i < json_array_get_length (tokens); i++)
    {
      JsonObject *token = json_array_get_object_element (tokens, i);

      if (g_strcmp0 (kh_json_get_string (token, "token"), refresh_token) == 0)
        {
          g_assert_true (kh_json_get_bool (token, "accepted", &accepted));
          return accepted;
        }
    }

  g_assert_not_reached ();
}

static void
test_refresh_grace (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(Response) first = NULL;
  g_autoptr(Response) second = NULL;
  g_autoptr(Response) retry = NULL;
  g_autoptr(Response) late = NULL;
  g_autoptr(Response) tt_first = NULL;
  g_autoptr(Response) tt_second = NULL;
  g_autoptr(Response) tt_retry = NULL;
  g_autoptr(Response) tt_late = NULL;
  g_autofree char *refresh1 = NULL;
  g_autofree char *tt_refresh1 = NULL;
  g_autofree char *tt_code = NULL;
  g_autoptr(JsonNode) ledger = NULL;
  gint64 count;

  configure (f, "{\"refresh_grace\": 60}");
  first = new_shop_grant (f, SELLER_ROW_LINK);
  refresh1 = dup_string (api_data (first), "refresh_token");
  second = shop_token_refresh (f, refresh1);
  g_assert_cmpint (api_code (second), ==, 0);

  /* A retry with the previous token inside the grace gets the current pair, no new rotation. */
  kh_sandbox_advance_clock (f->sandbox, 30);
  retry = shop_token_refresh (f, refresh1);
  g_assert_cmpstr (kh_json_get_string (api_data (retry), "access_token"), ==,
                   kh_json_get_string (api_data (second), "access_token"));
  g_assert_cmpstr (kh_json_get_string (api_data (retry), "refresh_token"), ==,
                   kh_json_get_string (api_data (second), "refresh_token"));
  ledger = kh_sandbox_dup_ledger (f->sandbox);
  g_assert_true (kh_json_get_int (ledger_authorization (ledger, 0), "refresh_count", &count));
  g_assert_cmpint (count, ==, 1);

  /* The ledger says which refresh tokens TikTok would still take. */
  g_assert_true (ledger_refresh_accepted (ledger, refresh1));
  g_assert_true (ledger_refresh_accepted (ledger, kh_json_get_string (api_data (second),
                                                                      "refresh_token")));
  g_clear_pointer (&ledger, json_node_unref);

  kh_sandbox_advance_clock (f->sandbox, 31);
  ledger = kh_sandbox_dup_ledger (f->sandbox);
  g_assert_false (ledger_refresh_accepted (ledger, refresh1));
  g_clear_pointer (&ledger, json_node_unref);
  late = shop_token_refresh (f, refresh1);
  g_assert_cmpint (api_code (late), ==, 36004005);

  /* The same rule for TikTok account tokens. */
  tt_code = authorize (f, TT_LINK);
  tt_first = tt_exchange (f, tt_code, REDIRECT);
  tt_refresh1 = dup_string (api_data (tt_first), "refresh_token");
  tt_second = tt_refresh (f, tt_refresh1);
  g_assert_cmpint (api_code (tt_second), ==, 0);
  tt_retry = tt_refresh (f, tt_refresh1);
  g_assert_cmpstr (kh_json_get_string (api_data (tt_retry), "refresh_token"), ==,
                   kh_json_get_string (api_data (tt_second), "refresh_token"));
  kh_sandbox_advance_clock (f->sandbox, 61);
  tt_late = tt_refresh (f, tt_refresh1);
  g_assert_cmpint (api_code (tt_late), ==, 40107);
}

static void
test_shops (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(Response) grant = new_shop_grant (f, SELLER_ROW_LINK);
  g_autofree char *access = dup_string (api_data (grant), "access_token");
  gint64 now = kh_sandbox_now (f->sandbox);
  g_autoptr(Response) ok = get_shops (f, SHOP_KEY, SHOP_SECRET, now, access);
  g_autoptr(Response) plain = NULL;
  g_autoptr(Response) old_ts = NULL;
  g_autoptr(Response) future_ts = NULL;
  g_autoptr(Response) edge_ts = NULL;
  g_autoptr(Response) wrong_secret = NULL;
  g_autoptr(Response) unknown_token = NULL;
  g_autoptr(Response) expired = NULL;
  g_autoptr(Response) creator = NULL;
  g_autoptr(Response) creator_grant = NULL;
  g_autoptr(Response) other_app = NULL;
  g_autofree char *creator_code = NULL;
  g_autofree char *plain_path = NULL;
  g_autofree char *sign = NULL;
  g_autofree char *ts = g_strdup_printf ("%" G_GINT64_FORMAT, now);
  g_autoptr(GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (f->sandbox);
  JsonArray *shops = kh_json_get_array (api_data (ok), "shops");
  JsonArray *ledger_shops = kh_json_get_array (ledger_authorization (ledger, 0), "shops");

  g_assert_nonnull (shops);
  g_assert_cmpuint (json_array_get_length (shops), >=, 1);
  g_assert_cmpuint (json_array_get_length (shops), ==, json_array_get_length (ledger_shops));
  for (guint i = 0; i < json_array_get_length (shops); i++)
    {
      JsonObject *shop = json_array_get_object_element (shops, i);
      const char *type = kh_json_get_string (shop, "seller_type");

      g_assert_nonnull (kh_json_get_string (shop, "id"));
      g_assert_nonnull (kh_json_get_string (shop, "name"));
      g_assert_nonnull (kh_json_get_string (shop, "region"));
      g_assert_nonnull (kh_json_get_string (shop, "cipher"));
      g_assert_nonnull (kh_json_get_string (shop, "code"));
      g_assert_true (g_strcmp0 (type, "LOCAL") == 0 || g_strcmp0 (type, "CROSS_BORDER") == 0);
    }

  /* Without the /_host prefix, signed over the plain path, and with extra parameters. */
  g_hash_table_insert (query, (char *) "app_key", (char *) SHOP_KEY);
  g_hash_table_insert (query, (char *) "timestamp", ts);
  g_hash_table_insert (query, (char *) "version", (char *) "202309");
  sign = kh_sign (SHOP_SECRET, SHOPS_PATH, query, NULL, 0, NULL);
  plain_path = g_strdup_printf (SHOPS_PATH "?version=202309&timestamp=%s&app_key=" SHOP_KEY
                                "&sign=%s", ts, sign);
  plain = request (f, "GET", plain_path, NULL, NULL, "x-tts-access-token", access);
  g_assert_cmpint (api_code (plain), ==, 0);

  old_ts = get_shops (f, SHOP_KEY, SHOP_SECRET, now - 301, access);
  g_assert_cmpint (api_code (old_ts), ==, 36009004);
  future_ts = get_shops (f, SHOP_KEY, SHOP_SECRET, now + 60, access);
  g_assert_cmpint (api_code (future_ts), ==, 36009004);
  edge_ts = get_shops (f, SHOP_KEY, SHOP_SECRET, now - 250, access);
  g_assert_cmpint (api_code (edge_ts), ==, 0);
  wrong_secret = get_shops (f, SHOP_KEY, "not-the-secret", now, access);
  g_assert_cmpint (api_code (wrong_secret), ==, 106001);
  unknown_token = get_shops (f, SHOP_KEY, SHOP_SECRET, now, "ROW_unknown_token");
  g_assert_cmpint (api_code (unknown_token), ==, 105001);
  other_app = get_shops (f, "29a39d", "e59af819cc", now, access);
  g_assert_cmpint (api_code (other_app), ==, 105001);

  creator_code = authorize (f, CREATOR_LINK);
  creator_grant = shop_token_get (f, SHOP_KEY, SHOP_SECRET, creator_code, "authorized_code");
  creator = get_shops (f, SHOP_KEY, SHOP_SECRET, now,
                       kh_json_get_string (api_data (creator_grant), "access_token"));
  g_assert_cmpint (api_code (creator), ==, 101000);

  kh_sandbox_advance_clock (f->sandbox, 7 * 86400 + 1);
  expired = get_shops (f, SHOP_KEY, SHOP_SECRET, kh_sandbox_now (f->sandbox), access);
  g_assert_cmpint (api_code (expired), ==, 105002);
}

static void
test_deauthorize (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(Response) grant = new_shop_grant (f, SELLER_ROW_LINK);
  g_autofree char *access = dup_string (api_data (grant), "access_token");
  g_autofree char *refresh = dup_string (api_data (grant), "refresh_token");
  g_autofree char *open_id = dup_string (api_data (grant), "open_id");
  g_autofree char *body = g_strdup_printf ("{\"open_id\":\"%s\"}", open_id);
  g_autofree char *tt_code = authorize (f, TT_LINK);
  g_autoptr(Response) tt = tt_exchange (f, tt_code, REDIRECT);
  g_autofree char *tt_body = g_strdup_printf ("{\"open_id\":\"%s\"}",
                                              kh_json_get_string (api_data (tt), "open_id"));
  g_autofree char *info = g_strdup_printf ("{\"app_id\":\"" BIZ_ID "\",\"access_token\":\"%s\"}",
                                           kh_json_get_string (api_data (tt), "access_token"));
  g_autoptr(Response) r = post_json (f, "/_sandbox/deauthorize", body);
  g_autoptr(Response) r_tt = post_json (f, "/_sandbox/deauthorize", tt_body);
  g_autoptr(Response) missing = post_json (f, "/_sandbox/deauthorize", "{}");
  g_autoptr(Response) shops = NULL;
  g_autoptr(Response) refreshed = NULL;
  g_autoptr(Response) tt_info = NULL;
  g_autoptr(Response) tt_refreshed = NULL;
  g_autoptr(JsonNode) ledger = NULL;
  gint64 n;
  gboolean revoked;

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_true (kh_json_get_int (root_object (r), "deauthorized", &n));
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpuint (r_tt->status, ==, 200);
  g_assert_cmpuint (missing->status, ==, 400);

  shops = get_shops (f, SHOP_KEY, SHOP_SECRET, kh_sandbox_now (f->sandbox), access);
  g_assert_cmpint (api_code (shops), ==, 105001);
  refreshed = shop_token_refresh (f, refresh);
  g_assert_cmpint (api_code (refreshed), ==, 105001);
  tt_info = post_json (f, BIZ_HOST "/tt_user/token_info/get/", info);
  g_assert_cmpint (api_code (tt_info), ==, 40105);
  tt_refreshed = tt_refresh (f, kh_json_get_string (api_data (tt), "refresh_token"));
  g_assert_cmpint (api_code (tt_refreshed), ==, 40105);

  ledger = kh_sandbox_dup_ledger (f->sandbox);
  g_assert_true (kh_json_get_bool (ledger_authorization (ledger, 0), "revoked", &revoked));
  g_assert_true (revoked);
}

/* ---- TikTok for Business ---------------------------------------------------------------- */

static void
test_advertiser (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *code = authorize (f, ADVERTISER_LINK);
  g_autoptr(Response) r = advertiser_exchange (f, code);
  JsonObject *d = api_data (r);
  g_autofree char *access = dup_string (d, "access_token");
  g_autofree char *list_path = g_strdup_printf (BIZ_HOST "/oauth2/advertiser/get/?app_id=" BIZ_ID
                                                "&secret=" BIZ_SECRET);
  g_autofree char *revoke = g_strdup_printf ("{\"app_id\":\"" BIZ_ID "\",\"secret\":\""
                                             BIZ_SECRET "\",\"access_token\":\"%s\"}", access);
  g_autoptr(Response) list = NULL;
  g_autoptr(Response) reuse = NULL;
  g_autoptr(Response) bad_secret = NULL;
  g_autoptr(Response) missing = NULL;
  g_autoptr(Response) bad_json = NULL;
  g_autoptr(Response) not_object = NULL;
  g_autoptr(Response) no_token = NULL;
  g_autoptr(Response) wrong_token = NULL;
  g_autoptr(Response) revoked = NULL;
  g_autoptr(Response) after = NULL;
  g_autoptr(Response) revoke_again = NULL;
  g_autoptr(Response) numeric_id = NULL;
  g_autofree char *code2 = NULL;
  g_autofree char *numeric_body = NULL;
  JsonArray *ids = kh_json_get_array (d, "advertiser_ids");
  JsonArray *scope = kh_json_get_array (d, "scope");
  JsonArray *items;

  g_assert_cmpstr (kh_json_get_string (root_object (r), "message"), ==, "OK");
  g_assert_nonnull (ids);
  g_assert_cmpuint (json_array_get_length (ids), >=, 1);
  g_assert_nonnull (scope);
  g_assert_cmpuint (json_array_get_length (scope), >=, 1);
  g_assert_cmpint (json_node_get_value_type (json_array_get_element (scope, 0)), ==,
                   G_TYPE_INT64);
  g_assert_false (json_object_has_member (d, "refresh_token"));
  g_assert_false (json_object_has_member (d, "expires_in"));

  list = request (f, "GET", list_path, NULL, NULL, "Access-Token", access);
  items = kh_json_get_array (api_data (list), "list");
  g_assert_cmpuint (json_array_get_length (items), ==, json_array_get_length (ids));
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      JsonObject *item = json_array_get_object_element (items, i);

      g_assert_cmpstr (kh_json_get_string (item, "advertiser_id"), ==,
                       json_array_get_string_element (ids, i));
      g_assert_nonnull (kh_json_get_string (item, "advertiser_name"));
    }

  reuse = advertiser_exchange (f, code);
  g_assert_cmpint (api_code (reuse), ==, 40110);

  code2 = authorize (f, ADVERTISER_LINK);
  bad_secret = post_json (f, BIZ_HOST "/oauth2/access_token/",
                          "{\"app_id\":\"" BIZ_ID "\",\"secret\":\"nope\",\"auth_code\":\"x\"}");
  g_assert_cmpint (api_code (bad_secret), ==, 40113);
  missing = post_json (f, BIZ_HOST "/oauth2/access_token/", "{\"app_id\":\"" BIZ_ID "\"}");
  g_assert_cmpint (api_code (missing), ==, 40002);
  bad_json = post_json (f, BIZ_HOST "/oauth2/access_token/", "{\"app_id\": ");
  g_assert_cmpint (api_code (bad_json), ==, 40002);
  not_object = post_json (f, BIZ_HOST "/oauth2/access_token/", "[1,2,3]");
  g_assert_cmpint (api_code (not_object), ==, 40002);
  /* app_id may come as a number. */
  numeric_body = g_strdup_printf ("{\"app_id\":" BIZ_ID ",\"secret\":\"" BIZ_SECRET "\","
                                  "\"auth_code\":\"%s\"}", code2);
  numeric_id = post_json (f, BIZ_HOST "/oauth2/access_token/", numeric_body);
  g_assert_cmpint (api_code (numeric_id), ==, 0);

  no_token = get (f, list_path);
  g_assert_cmpint (api_code (no_token), ==, 40104);
  wrong_token = request (f, "GET", list_path, NULL, NULL, "Access-Token", "not-a-token-ever-issued");
  g_assert_cmpint (api_code (wrong_token), ==, 40105);

  revoked = post_json (f, BIZ_HOST "/oauth2/revoke_token/", revoke);
  g_assert_cmpint (api_code (revoked), ==, 0);
  after = request (f, "GET", list_path, NULL, NULL, "Access-Token", access);
  g_assert_cmpint (api_code (after), ==, 40105);
  revoke_again = post_json (f, BIZ_HOST "/oauth2/revoke_token/", revoke);
  g_assert_cmpint (api_code (revoke_again), ==, 40105);
}

static void
test_tt_user (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *code = authorize (f, TT_LINK);
  g_autofree char *code2 = authorize (f, TT_LINK);
  g_autoptr(Response) mismatch = tt_exchange (f, code, REDIRECT "/");
  g_autoptr(Response) r = tt_exchange (f, code, REDIRECT);
  JsonObject *d = api_data (r);
  g_autofree char *access = dup_string (d, "access_token");
  g_autofree char *refresh = dup_string (d, "refresh_token");
  g_autofree char *open_id = dup_string (d, "open_id");
  g_autofree char *info_body = g_strdup_printf ("{\"app_id\":\"" BIZ_ID "\","
                                                "\"access_token\":\"%s\"}", access);
  g_autofree char *account_path = g_strdup_printf (BIZ_HOST "/business/get/?business_id=%s"
                                                   "&fields=%%5B%%22display_name%%22%%2C%%22"
                                                   "profile_image%%22%%5D", open_id);
  g_autofree char *other_account = g_strdup (BIZ_HOST "/business/get/?business_id=someone");
  g_autofree char *revoke_body = NULL;
  g_autofree char *refresh2 = NULL;
  g_autofree char *grant_body = NULL;
  g_autoptr(Response) grant_type = NULL;
  g_autoptr(Response) info = NULL;
  g_autoptr(Response) account = NULL;
  g_autoptr(Response) other = NULL;
  g_autoptr(Response) refreshed = NULL;
  g_autoptr(Response) old_refresh = NULL;
  g_autoptr(Response) expired_access = NULL;
  g_autoptr(Response) wrong_kind = NULL;
  g_autoptr(Response) revoked = NULL;
  g_autoptr(Response) after_revoke = NULL;
  g_autoptr(Response) late = NULL;
  g_autoptr(Response) second = NULL;
  gint64 value;

  /* A wrong redirect_uri does not burn the code. */
  g_assert_cmpint (api_code (mismatch), ==, 40002);

  g_assert_cmpstr (kh_json_get_string (d, "token_type"), ==, "Bearer");
  g_assert_true (g_str_has_prefix (access, "act."));
  g_assert_true (g_str_has_prefix (refresh, "rft."));
  g_assert_true (kh_json_get_int (d, "expires_in", &value));
  g_assert_cmpint (value, ==, 86400);
  g_assert_true (kh_json_get_int (d, "refresh_token_expires_in", &value));
  g_assert_cmpint (value, ==, 31536000);
  g_assert_cmpstr (kh_json_get_string (d, "scope"), ==, "user.info.basic,video.list");

  grant_body = g_strdup_printf ("{\"client_id\":\"" BIZ_ID "\",\"client_secret\":\"" BIZ_SECRET
                                "\",\"grant_type\":\"code\",\"auth_code\":\"%s\","
                                "\"redirect_uri\":\"" REDIRECT "\"}", code2);
  grant_type = post_json (f, BIZ_HOST "/tt_user/oauth2/token/", grant_body);
  g_assert_cmpint (api_code (grant_type), ==, 40108);
  /* The refused exchange left code2 usable. */
  second = tt_exchange (f, code2, REDIRECT);
  g_assert_cmpint (api_code (second), ==, 0);

  info = post_json (f, BIZ_HOST "/tt_user/token_info/get/", info_body);
  g_assert_cmpstr (kh_json_get_string (api_data (info), "creator_id"), ==, open_id);
  g_assert_cmpstr (kh_json_get_string (api_data (info), "app_id"), ==, BIZ_ID);
  g_assert_cmpstr (kh_json_get_string (api_data (info), "scope"), ==, "user.info.basic,video.list");

  account = request (f, "GET", account_path, NULL, NULL, "Access-Token", access);
  g_assert_nonnull (kh_json_get_string (api_data (account), "display_name"));
  g_assert_nonnull (kh_json_get_string (api_data (account), "profile_image"));
  other = request (f, "GET", other_account, NULL, NULL, "Access-Token", access);
  g_assert_cmpint (api_code (other), ==, 40001);

  /* The refresh window is not extended by a refresh. */
  kh_sandbox_advance_clock (f->sandbox, 1000);
  refreshed = tt_refresh (f, refresh);
  d = api_data (refreshed);
  refresh2 = dup_string (d, "refresh_token");
  g_assert_cmpstr (refresh2, !=, refresh);
  g_assert_true (kh_json_get_int (d, "refresh_token_expires_in", &value));
  g_assert_cmpint (value, <=, 31536000 - 1000);
  g_assert_cmpint (value, >=, 31536000 - 1005);
  g_assert_true (kh_json_get_int (d, "expires_in", &value));
  g_assert_cmpint (value, ==, 86400);
  old_refresh = tt_refresh (f, refresh);
  g_assert_cmpint (api_code (old_refresh), ==, 40107);
  wrong_kind = tt_refresh (f, access);
  g_assert_cmpint (api_code (wrong_kind), ==, 40107);

  /* The first access token expires after a day: 40102. */
  kh_sandbox_advance_clock (f->sandbox, 86400);
  expired_access = post_json (f, BIZ_HOST "/tt_user/token_info/get/", info_body);
  g_assert_cmpint (api_code (expired_access), ==, 40102);

  /* After a year the refresh token is dead: 40103. */
  kh_sandbox_advance_clock (f->sandbox, 31536000);
  late = tt_refresh (f, refresh2);
  g_assert_cmpint (api_code (late), ==, 40103);

  /* Revoke: the tokens answer 40105. */
  revoke_body = g_strdup_printf ("{\"client_id\":\"" BIZ_ID "\",\"client_secret\":\""
                                 BIZ_SECRET "\",\"access_token\":\"%s\"}",
                                 kh_json_get_string (api_data (second), "access_token"));
  revoked = post_json (f, BIZ_HOST "/tt_user/oauth2/revoke/", revoke_body);
  g_assert_cmpint (api_code (revoked), ==, 0);
  after_revoke = tt_refresh (f, kh_json_get_string (api_data (second), "refresh_token"));
  g_assert_cmpint (api_code (after_revoke), ==, 40105);
}

static void
test_cross_flow_codes (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *tt_code = authorize (f, TT_LINK);
  g_autofree char *adv_code = authorize (f, ADVERTISER_LINK);
  g_autofree char *shop_code = authorize (f, SELLER_ROW_LINK);
  g_autoptr(Response) r1 = advertiser_exchange (f, tt_code);
  g_autoptr(Response) r2 = tt_exchange (f, adv_code, REDIRECT);
  g_autoptr(Response) r3 = shop_token_get (f, SHOP_KEY, SHOP_SECRET, adv_code, "authorized_code");
  g_autoptr(Response) r4 = advertiser_exchange (f, shop_code);

  g_assert_cmpint (api_code (r1), ==, 40110);
  g_assert_cmpint (api_code (r2), ==, 40110);
  g_assert_cmpint (api_code (r3), ==, 36004004);
  g_assert_cmpint (api_code (r4), ==, 40110);
}

static void
test_partial_scopes (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *code = authorize (f, "/_host/shop.tiktok.com/alliance/creator/auth?app_key="
                                     SHOP_KEY "&state=" STATE "&auto=approve"
                                     "&grant_scopes=seller.order.info");
  g_autoptr(Response) r = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code, "authorized_code");
  g_auto(GStrv) scopes = kh_json_get_strv (api_data (r), "granted_scopes");
  g_autofree char *code2 = authorize (f, "/_host/services.tiktokshop.com/open/authorize?"
                                      "service_id=" SHOP_SERVICE "&auto=approve"
                                      "&grant_scopes=seller.order.info");
  g_autoptr(Response) r2 = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code2, "authorized_code");
  g_auto(GStrv) scopes2 = kh_json_get_strv (api_data (r2), "granted_scopes");

  /* A creator grant that lacks the creator scopes the app needs. */
  g_assert_nonnull (scopes);
  g_assert_cmpuint (g_strv_length (scopes), ==, 0);
  g_assert_nonnull (scopes2);
  g_assert_cmpuint (g_strv_length (scopes2), ==, 1);
  g_assert_cmpstr (scopes2[0], ==, "seller.order.info");
}

/* ---- faults, latency, rate limit -------------------------------------------------------- */

static void
add_fault (Fixture    *f,
           const char *json)
{
  g_autoptr(Response) r = post_json (f, "/_sandbox/faults", json);

  g_assert_cmpuint (r->status, ==, 200);
}

static void
test_faults (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(Response) grant = new_shop_grant (f, SELLER_ROW_LINK);
  g_autofree char *refresh = dup_string (api_data (grant), "refresh_token");
  g_autoptr(Response) e1 = NULL;
  g_autoptr(Response) e2 = NULL;
  g_autoptr(Response) h1 = NULL;
  g_autoptr(Response) g1 = NULL;
  g_autoptr(Response) d1 = NULL;
  g_autoptr(Response) ok = NULL;
  g_autoptr(Response) star = NULL;
  g_autoptr(Response) cleared = NULL;
  g_autoptr(Response) list = NULL;
  g_autoptr(Response) del = NULL;
  g_autoptr(Response) page = NULL;
  g_autoptr(JsonNode) garbage = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) ledger = NULL;
  JsonArray *faults;

  /* FIFO: two error codes, then a 503, then garbage, then a dropped connection. */
  add_fault (f, "{\"path\":\"/api/v2/token/refresh\",\"count\":2,\"error_code\":36009003}");
  add_fault (f, "{\"path\":\"/api/v2/token/refresh\",\"http_status\":503}");
  add_fault (f, "{\"path\":\"/api/v2/token/refresh\",\"garbage\":true}");
  add_fault (f, "{\"path\":\"/api/v2/token/refresh\",\"drop\":true}");
  list = get (f, "/_sandbox/faults");
  faults = kh_json_get_array (root_object (list), "faults");
  g_assert_cmpuint (json_array_get_length (faults), ==, 4);

  e1 = shop_token_refresh (f, refresh);
  g_assert_cmpint (api_code (e1), ==, 36009003);
  e2 = shop_token_refresh (f, refresh);
  g_assert_cmpint (api_code (e2), ==, 36009003);
  h1 = shop_token_refresh (f, refresh);
  g_assert_no_error (h1->error);
  g_assert_cmpuint (h1->status, ==, 503);
  g1 = shop_token_refresh (f, refresh);
  g_assert_cmpuint (g1->status, ==, 200);
  garbage = kh_json_parse (g1->body, strlen (g1->body), &error);
  g_assert_null (garbage);
  g_assert_nonnull (error);
  d1 = shop_token_refresh (f, refresh);
  g_assert_nonnull (d1->error);
  g_assert_cmpuint (d1->status, ==, 0);

  /* The faults are used up and nothing was rotated: the refresh token still works. */
  ok = shop_token_refresh (f, refresh);
  g_assert_cmpint (api_code (ok), ==, 0);
  ledger = kh_sandbox_dup_ledger (f->sandbox);
  {
    gint64 calls;

    g_assert_true (kh_json_get_int (kh_json_get_object (kh_json_node_object (ledger), "counters"),
                                    "/api/v2/token/refresh", &calls));
    g_assert_cmpint (calls, ==, 6);
  }

  /* "*" covers every API path but not the consent pages; DELETE clears. */
  add_fault (f, "{\"path\":\"*\",\"count\":5,\"error_code\":40100}");
  page = get (f, SELLER_ROW_LINK);
  g_assert_cmpuint (page->status, ==, 302);
  star = advertiser_exchange (f, "whatever");
  g_assert_cmpint (api_code (star), ==, 40100);
  del = request (f, "DELETE", "/_sandbox/faults", NULL, NULL, NULL, NULL);
  g_assert_cmpuint (del->status, ==, 200);
  cleared = advertiser_exchange (f, "whatever");
  g_assert_cmpint (api_code (cleared), ==, 40110);
}

static void
test_fault_validation (Fixture       *f,
                       gconstpointer  data)
{
  const char * const bad[] = {
    "not json",
    "[]",
    "{\"count\":1,\"error_code\":1}",
    "{\"path\":\"/x\"}",
    "{\"path\":\"/x\",\"http_status\":404}",
    "{\"path\":\"/x\",\"error_code\":1,\"drop\":true}",
    "{\"path\":\"/x\",\"count\":0,\"drop\":true}",
    "{\"path\":\"/x\",\"garbage\":false}",
    "{\"path\":\"/x\",\"delay_ms\":\"10\"}",
    "{\"path\":\"x\",\"drop\":true}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(Response) r = post_json (f, "/_sandbox/faults", bad[i]);
      gboolean ok = TRUE;

      g_assert_cmpuint (r->status, ==, 400);
      g_assert_true (kh_json_get_bool (root_object (r), "ok", &ok));
      g_assert_false (ok);
    }
}

static void
test_delay (Fixture       *f,
            gconstpointer  data)
{
  Pending *slow;
  Pending *fast;
  g_autoptr(Response) slow_r = NULL;
  g_autoptr(Response) fast_r = NULL;

  add_fault (f, "{\"path\":\"/open_api/v1.3/oauth2/access_token/\",\"delay_ms\":400}");
  slow = start_request (f, "POST", BIZ_HOST "/oauth2/access_token/", "application/json",
                        "{\"app_id\":\"" BIZ_ID "\",\"secret\":\"" BIZ_SECRET "\","
                        "\"auth_code\":\"x\"}", NULL, NULL);
  fast = start_request (f, "GET", "/_sandbox/ledger", NULL, NULL, NULL, NULL);

  /* The delayed answer does not hold up the main loop: the ledger answers first. */
  fast_r = finish_request (fast);
  g_assert_cmpuint (fast_r->status, ==, 200);
  g_assert_null (slow->response);
  slow_r = finish_request (slow);
  g_assert_cmpint (api_code (slow_r), ==, 40110);
  g_assert_cmpint (slow_r->elapsed_ms, >=, 390);
}

static void
test_latency (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(Response) r = NULL;
  g_autoptr(Response) control = NULL;

  kh_sandbox_set_latency (f->sandbox, 250);
  r = get (f, SELLER_ROW_LINK);
  g_assert_cmpuint (r->status, ==, 302);
  g_assert_cmpint (r->elapsed_ms, >=, 240);
  control = get (f, "/_sandbox/config");
  g_assert_cmpuint (control->status, ==, 200);
}

static void
test_rate_limit (Fixture       *f,
                 gconstpointer  data)
{
  guint limited = 0, biz_limited = 0;
  g_autoptr(Response) off = NULL;

  configure (f, "{\"rate_limit\": 3}");
  for (guint i = 0; i < 10; i++)
    {
      g_autoptr(Response) r = shop_token_refresh (f, "ROW_no_such_refresh_token");
      g_autoptr(Response) b = advertiser_exchange (f, "no-such-code");
      gint64 code = api_code (r);
      gint64 biz_code = api_code (b);

      g_assert_true (code == 36004005 || code == 36009002);
      g_assert_true (biz_code == 40110 || biz_code == 40100);
      limited += code == 36009002;
      biz_limited += biz_code == 40100;
    }
  g_assert_cmpuint (limited, >=, 4);
  g_assert_cmpuint (biz_limited, >=, 4);

  configure (f, "{\"rate_limit\": 0}");
  off = shop_token_refresh (f, "ROW_no_such_refresh_token");
  g_assert_cmpint (api_code (off), ==, 36004005);
}

/* ---- control endpoint, ledger, clock ---------------------------------------------------- */

static gboolean
json_array_has_string (JsonArray  *array,
                       const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      return TRUE;

  return FALSE;
}

static void
test_ledger (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *code = authorize (f, SELLER_ROW_LINK);
  g_autoptr(Response) grant = shop_token_get (f, SHOP_KEY, SHOP_SECRET, code, "authorized_code");
  g_autoptr(Response) ledger = get (f, "/_sandbox/ledger");
  g_autoptr(Response) reset = NULL;
  g_autoptr(Response) after = NULL;
  g_autoptr(Response) apps = NULL;
  JsonObject *root = root_object (ledger);
  JsonArray *secrets = kh_json_get_array (root, "secrets");
  JsonArray *auths = kh_json_get_array (root, "authorizations");
  JsonObject *auth;
  JsonArray *codes;
  JsonArray *app_list;
  gboolean used;
  gint64 calls;

  g_assert_nonnull (secrets);
  g_assert_true (json_array_has_string (secrets, code));
  g_assert_true (json_array_has_string (secrets, STATE));
  g_assert_true (json_array_has_string (secrets, SHOP_SECRET));
  g_assert_true (json_array_has_string (secrets, BIZ_SECRET));
  g_assert_true (json_array_has_string (secrets, kh_json_get_string (api_data (grant),
                                                                      "access_token")));
  g_assert_true (json_array_has_string (secrets, kh_json_get_string (api_data (grant),
                                                                      "refresh_token")));

  g_assert_cmpuint (json_array_get_length (auths), ==, 1);
  auth = json_array_get_object_element (auths, 0);
  g_assert_cmpstr (kh_json_get_string (auth, "app_key"), ==, SHOP_KEY);
  g_assert_cmpstr (kh_json_get_string (auth, "flow"), ==, "seller");
  g_assert_cmpstr (kh_json_get_string (auth, "open_id"), ==,
                   kh_json_get_string (api_data (grant), "open_id"));
  g_assert_cmpstr (kh_json_get_string (auth, "refresh_token"), ==,
                   kh_json_get_string (api_data (grant), "refresh_token"));
  codes = kh_json_get_array (auth, "codes");
  g_assert_cmpuint (json_array_get_length (codes), ==, 1);
  g_assert_true (kh_json_get_bool (json_array_get_object_element (codes, 0), "used", &used));
  g_assert_true (used);
  g_assert_true (kh_json_get_int (kh_json_get_object (root, "counters"), "/api/v2/token/get",
                                  &calls));
  g_assert_cmpint (calls, ==, 1);

  /* GET /_sandbox/apps never shows a secret. */
  apps = get (f, "/_sandbox/apps");
  app_list = kh_json_get_array (root_object (apps), "apps");
  g_assert_cmpuint (json_array_get_length (app_list), ==, 3);
  g_assert_null (strstr (apps->body, SHOP_SECRET));
  g_assert_null (strstr (apps->body, "secret"));

  reset = request (f, "POST", "/_sandbox/reset", NULL, NULL, NULL, NULL);
  g_assert_cmpuint (reset->status, ==, 200);
  after = get (f, "/_sandbox/ledger");
  g_assert_cmpuint (json_array_get_length (kh_json_get_array (root_object (after),
                                                              "authorizations")), ==, 0);
  /* The audit list keeps everything ever issued. */
  g_assert_true (json_array_has_string (kh_json_get_array (root_object (after), "secrets"),
                                        code));
}

static gboolean
flag_timeout_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_clock (Fixture       *f,
            gconstpointer  data)
{
  gint64 start = kh_sandbox_now (f->sandbox);
  g_autoptr(Response) r = post_json (f, "/_sandbox/clock", "{\"advance\": 3600}");
  g_autoptr(Response) speed = NULL;
  g_autoptr(Response) bad = NULL;
  g_autoptr(Response) bad_speed = NULL;
  gint64 now;
  gboolean waited = FALSE;

  g_assert_true (kh_json_get_int (root_object (r), "now", &now));
  g_assert_cmpint (now, >=, start + 3600);
  g_assert_cmpint (now, <=, start + 3602);

  speed = post_json (f, "/_sandbox/clock", "{\"speed\": 1000}");
  g_assert_cmpuint (speed->status, ==, 200);
  g_timeout_add (100, flag_timeout_cb, &waited);
  kh_test_wait_flag (&waited, WAIT_MS);
  g_assert_cmpint (kh_sandbox_now (f->sandbox), >=, now + 90);
  kh_sandbox_set_clock_speed (f->sandbox, 1.0);

  bad = post_json (f, "/_sandbox/clock", "{\"advance\": \"soon\"}");
  g_assert_cmpuint (bad->status, ==, 400);
  bad_speed = post_json (f, "/_sandbox/clock", "{\"speed\": -2}");
  g_assert_cmpuint (bad_speed->status, ==, 400);
}

static void
test_hostile_input (Fixture       *f,
                    gconstpointer  data)
{
  g_autofree char *big = g_strnfill (70 * 1024, 'a');
  g_autoptr(Response) too_big = post_json (f, BIZ_HOST "/oauth2/access_token/", big);
  g_autoptr(Response) bad_config = post_json (f, "/_sandbox/config", "{\"rate_limit\": -1}");
  g_autoptr(Response) bad_ttl = post_json (f, "/_sandbox/config",
                                           "{\"shop_access_ttl\": 10, \"tt_access_ttl\": 0}");
  g_autoptr(Response) config = get (f, "/_sandbox/config");
  g_autoptr(Response) unknown = get (f, "/_sandbox/nothing");
  g_autoptr(Response) empty = post_json (f, "/_sandbox/apps", "");
  g_autoptr(Response) binary = post_json (f, BIZ_HOST "/tt_user/oauth2/token/", "\xff\xfe{");
  g_autoptr(Response) wrong_types = post_json (f, BIZ_HOST "/tt_user/oauth2/token/",
                                               "{\"client_id\":[1],\"client_secret\":{},"
                                               "\"auth_code\":null}");
  g_autoptr(Response) bad_fields = NULL;
  g_autoptr(Response) tt = NULL;
  g_autofree char *tt_code = NULL;
  g_autofree char *fields_path = NULL;
  gint64 ttl;

  g_assert_cmpuint (too_big->status, ==, 413);
  g_assert_cmpuint (bad_config->status, ==, 400);
  g_assert_cmpuint (bad_ttl->status, ==, 400);
  /* All-or-nothing: the valid half of a bad request was not applied. */
  g_assert_true (kh_json_get_int (root_object (config), "shop_access_ttl", &ttl));
  g_assert_cmpint (ttl, ==, 7 * 86400);
  g_assert_cmpuint (unknown->status, ==, 404);
  g_assert_cmpuint (empty->status, ==, 400);
  g_assert_cmpint (api_code (binary), ==, 40002);
  g_assert_cmpint (api_code (wrong_types), ==, 40002);

  tt_code = authorize (f, TT_LINK);
  tt = tt_exchange (f, tt_code, REDIRECT);
  fields_path = g_strdup_printf (BIZ_HOST "/business/get/?business_id=%s&fields=%%5B1%%5D",
                                 kh_json_get_string (api_data (tt), "open_id"));
  bad_fields = request (f, "GET", fields_path, NULL, NULL, "Access-Token",
                        kh_json_get_string (api_data (tt), "access_token"));
  g_assert_cmpint (api_code (bad_fields), ==, 40002);
}

static void
test_auto_consent (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(Response) unknown = post_json (f, "/_sandbox/config", "{\"auto_consnet\":\"approve\"}");
  g_autoptr(Response) bad = post_json (f, "/_sandbox/config", "{\"auto_consent\":\"yes\"}");
  g_autoptr(Response) approve = NULL;
  g_autoptr(Response) deny = NULL;
  g_autoptr(Response) override = NULL;
  g_autoptr(Response) page = NULL;
  g_autoptr(Response) config = NULL;
  g_autoptr(GHashTable) approve_params = NULL;
  g_autoptr(GHashTable) deny_params = NULL;

  g_assert_cmpuint (unknown->status, ==, 400);
  g_assert_cmpuint (bad->status, ==, 400);

  /* A browser that cannot click: every consent page decides by itself. */
  configure (f, "{\"auto_consent\":\"approve\"}");
  approve = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE
                 "&state=" STATE);
  approve_params = location_params (approve);
  g_assert_nonnull (g_hash_table_lookup (approve_params, "code"));

  /* auto= in the link still wins. */
  override = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE
                  "&state=" STATE "&auto=deny");
  g_assert_cmpuint (override->status, ==, 302);
  g_assert_nonnull (strstr (override->location, "error=access_denied"));

  configure (f, "{\"auto_consent\":\"deny\"}");
  deny = get (f, "/_host/www.tiktok.com/v2/auth/authorize/?client_key=" BIZ_ID
              "&response_type=code&redirect_uri=" REDIRECT "&state=" STATE);
  deny_params = location_params (deny);
  g_assert_cmpstr (g_hash_table_lookup (deny_params, "error"), ==, "access_denied");

  configure (f, "{\"auto_consent\":\"none\", \"latency_ms\": 0}");
  page = get (f, "/_host/services.tiktokshop.com/open/authorize?service_id=" SHOP_SERVICE
              "&state=" STATE);
  g_assert_cmpuint (page->status, ==, 200);
  config = get (f, "/_sandbox/config");
  g_assert_cmpstr (kh_json_get_string (root_object (config), "auto_consent"), ==, "none");
}

static void
test_chunked_body (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strconcat (f->origin, BIZ_HOST "/oauth2/access_token/", NULL);
  g_autofree char *big = g_strnfill (200 * 1024, ' ');
  const char *small = "{\"app_id\":\"" BIZ_ID "\",\"secret\":\"" BIZ_SECRET "\","
                      "\"auth_code\":\"nope\"}";

  for (guint round = 0; round < 2; round++)
    {
      const char *text = round == 0 ? big : small;
      g_autoptr(SoupMessage) msg = soup_message_new ("POST", url);
      g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_data (text, strlen (text),
                                                                           NULL);
      GAsyncResult *pending = NULL;
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GBytes) body = NULL;
      g_autoptr(GError) error = NULL;

      /* Length -1: libsoup sends the body chunked, with no Content-Length to refuse early. */
      soup_message_set_request_body (msg, "application/json", stream, -1);
      soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL,
                                        kh_test_store_result_cb, &pending);
      result = kh_test_wait_result (&pending, WAIT_MS);
      body = soup_session_send_and_read_finish (session, result, &error);
      g_assert_no_error (error);
      if (round == 0)
        g_assert_cmpuint (soup_message_get_status (msg), ==, 413);
      else
        {
          g_autoptr(JsonNode) node = kh_json_parse (g_bytes_get_data (body, NULL),
                                                    g_bytes_get_size (body), NULL);
          gint64 code;

          g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
          g_assert_true (kh_json_get_int (kh_json_node_object (node), "code", &code));
          g_assert_cmpint (code, ==, 40110);
        }
    }
}

static gboolean
call_arrived (gpointer user_data)
{
  Fixture *f = user_data;
  g_autoptr(JsonNode) ledger = kh_sandbox_dup_ledger (f->sandbox);
  gint64 calls = 0;

  kh_json_get_int (kh_json_get_object (kh_json_node_object (ledger), "counters"),
                   "/api/v2/token/refresh", &calls);
  return calls > 0;
}

/* A client that gives up during a delay, and a sandbox disposed while an answer is held back:
 * neither may crash or leak the held message. */
static void
test_delay_abandoned (Fixture       *f,
                      gconstpointer  data)
{
  Pending *gone;
  Pending *held;
  g_autoptr(Response) gone_r = NULL;
  g_autoptr(Response) after = NULL;
  gboolean waited = FALSE;

  add_fault (f, "{\"path\":\"/api/v2/token/refresh\",\"count\":2,\"delay_ms\":200}");
  gone = start_request (f, "GET", AUTH_HOST "/api/v2/token/refresh?app_key=x", NULL, NULL, NULL,
                        NULL);
  kh_test_wait_until (call_arrived, f, WAIT_MS);
  g_cancellable_cancel (gone->cancellable);
  gone_r = finish_request (gone);
  g_assert_error (gone_r->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  /* Let the held answer go out to nobody. */
  g_timeout_add (300, flag_timeout_cb, &waited);
  kh_test_wait_flag (&waited, WAIT_MS);
  after = get (f, "/_sandbox/ledger");
  g_assert_cmpuint (after->status, ==, 200);

  /* The second delayed call is still held when the fixture disposes the sandbox. */
  held = start_request (f, "GET", AUTH_HOST "/api/v2/token/refresh?app_key=x", NULL, NULL, NULL,
                        NULL);
  kh_test_wait_until (call_arrived, f, WAIT_MS);
  g_clear_object (&f->sandbox);
  f->sandbox = kh_sandbox_new (1);
  {
    g_autoptr(Response) r = finish_request (held);

    g_assert_nonnull (r->error);
  }
}

static gboolean
line_has_prefix (const char *line,
                 const char *prefix)
{
  return line != NULL && g_str_has_prefix (line, prefix);
}

/* The command as scripts use it: lines on a pipe, then SIGTERM. */
static void
test_command (void)
{
  const char *builddir = g_getenv ("KEYHOLD_TEST_BUILDDIR");
  g_autofree char *binary = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GDataInputStream) lines = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  Fixture f = { NULL, NULL };
  g_autoptr(Response) v1 = NULL;
  g_autoptr(Response) v1_bad = NULL;

  if (builddir == NULL)
    {
      g_test_skip ("KEYHOLD_TEST_BUILDDIR is not set");
      return;
    }

  binary = g_build_filename (builddir, "src", "sandbox", "keyhold-sandbox", NULL);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, binary, "--port", "0",
                              "--seed", "3", "--latency", "1", "--clock-speed", "2",
                              "--auto-consent", "approve", NULL);
  g_assert_no_error (error);
  lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process));
  first = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  second = g_data_input_stream_read_line_utf8 (lines, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (line_has_prefix (first, "keyhold-sandbox listening on http://127.0.0.1:"));
  g_assert_true (line_has_prefix (second, "KEYHOLD_ORIGIN_MAP=https://"));

  f.origin = g_strdup (first + strlen ("keyhold-sandbox listening on "));
  v1 = get (&f, OPEN_API SHOPS_PATH "?app_key=29a39d&timestamp=1623812664"
            "&sign=b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");
  g_assert_cmpint (api_code (v1), ==, 36009004);
  v1_bad = get (&f, OPEN_API SHOPS_PATH "?app_key=29a39d&timestamp=1623812664"
                "&sign=c596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");
  g_assert_cmpint (api_code (v1_bad), ==, 106001);

  /* --auto-consent: the consent page redirects at once, so any HTTP client can approve. */
  {
    g_autoptr(Response) consent = get (&f, "/_host/services.tiktokshop.com/open/authorize"
                                       "?service_id=7000000000000000001&state=command-state");

    g_assert_cmpuint (consent->status, ==, 302);
    g_assert_true (g_str_has_prefix (consent->location, "http://localhost:8765/callback?code="));
  }
  g_free (f.origin);

  g_subprocess_send_signal (process, SIGTERM);
  g_assert_true (g_subprocess_wait (process, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
}

static void
test_command_usage (void)
{
  const char *builddir = g_getenv ("KEYHOLD_TEST_BUILDDIR");
  const char * const bad[][3] = {
    { "--port", "70000", NULL },
    { "--latency", "-5", NULL },
    { "--clock-speed", "0", NULL },
    { "--bogus", NULL, NULL },
    { "--auto-consent", "maybe", NULL },
    { "--auto-consent", "none", NULL },
  };
  g_autofree char *binary = NULL;

  if (builddir == NULL)
    {
      g_test_skip ("KEYHOLD_TEST_BUILDDIR is not set");
      return;
    }

  binary = g_build_filename (builddir, "src", "sandbox", "keyhold-sandbox", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GSubprocess) process = NULL;
      g_autoptr(GError) error = NULL;

      process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                  G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                                  binary, bad[i][0], bad[i][1], NULL);
      g_assert_no_error (error);
      g_assert_true (g_subprocess_wait (process, NULL, &error));
      g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 2);
    }
}

/* Whatever arrives, every endpoint answers: no crash, no dropped connection. */
static void
test_garbage_everywhere (Fixture       *f,
                         gconstpointer  data)
{
  const char * const posts[] = {
    BIZ_HOST "/oauth2/access_token/", BIZ_HOST "/oauth2/revoke_token/",
    BIZ_HOST "/tt_user/oauth2/token/", BIZ_HOST "/tt_user/oauth2/refresh_token/",
    BIZ_HOST "/tt_user/oauth2/revoke/", BIZ_HOST "/tt_user/token_info/get/",
    "/_sandbox/apps", "/_sandbox/faults", "/_sandbox/deauthorize", "/_sandbox/clock",
    "/_sandbox/config", "/_sandbox/consent",
  };
  const char * const bodies[] = {
    "", "null", "{}", "[]", "\"x\"", "12", "{\"app_id\":{},\"secret\":[],\"auth_code\":1.5}",
    "{\"client_id\":null,\"client_secret\":true,\"refresh_token\":{\"a\":1}}",
    "{\"path\":{},\"count\":1e300,\"error_code\":-1}", "{\"advance\":1e300,\"speed\":\"fast\"}",
    "{\"family\":\"shop\",\"app_key\":\"a b\",\"app_secret\":\"\\u0000\"}",
    "{\"open_id\":[]}", "{\"rate_limit\":1.5}", "consent=&decision=", "\xc3\x28{",
    "{\"a\":", "{\"app_id\":\"" BIZ_ID "\",\"secret\":\"" BIZ_SECRET "\",\"auth_code\":\"\"}",
  };
  const char * const gets[] = {
    SHOPS_PATH "?app_key=" SHOP_KEY "&timestamp=-1&sign=",
    SHOPS_PATH "?app_key=" SHOP_KEY "&timestamp=99999999999999999999999&sign=x",
    SHOPS_PATH "?app_key=%00&sign=%00",
    SHOPS_PATH,
    AUTH_HOST "/api/v2/token/get",
    AUTH_HOST "/api/v2/token/get?app_key=" SHOP_KEY "&app_secret=" SHOP_SECRET
    "&grant_type=authorized_code&auth_code=",
    AUTH_HOST "/api/v2/token/refresh?app_key=" SHOP_KEY "&app_secret=" SHOP_SECRET
    "&grant_type=refresh_token&refresh_token=%FF%FE",
    BIZ_HOST "/oauth2/advertiser/get/?app_id=&secret=",
    BIZ_HOST "/business/get/?business_id=&fields=%5B",
    "/_host/services.tiktokshop.com/open/authorize",
    "/_host/services.tiktokshop.com/open/authorize?service_id=&app_key=",
    "/_host/www.tiktok.com/v2/auth/authorize/?client_key=" BIZ_ID "&response_type=code"
    "&redirect_uri=%0D%0ALocation:%20x&auto=approve",
    "/_host/business-api.tiktok.com/portal/auth?app_id=" BIZ_ID "&state=%3Cscript%3E"
    "&auto=approve",
    "/_sandbox/consent?consent=%00",
    "/_host//open/authorize", "/_host/%2e%2e/open/authorize",
  };

  for (guint i = 0; i < G_N_ELEMENTS (posts); i++)
    for (guint j = 0; j < G_N_ELEMENTS (bodies); j++)
      {
        const char *type = g_str_equal (posts[i], "/_sandbox/consent")
                           ? "application/x-www-form-urlencoded" : "application/json";
        g_autoptr(Response) r = request (f, "POST", posts[i], type, bodies[j], NULL, NULL);

        g_assert_no_error (r->error);
        g_assert_cmpuint (r->status, >=, 200);
        g_assert_cmpuint (r->status, <, 500);
      }

  for (guint i = 0; i < G_N_ELEMENTS (gets); i++)
    {
      g_autoptr(Response) r = request (f, "GET", gets[i], NULL, NULL, "x-tts-access-token",
                                       "\t");

      g_test_message ("GET %s", gets[i]);
      g_assert_no_error (r->error);
      g_assert_cmpuint (r->status, >=, 200);
      g_assert_cmpuint (r->status, <, 500);
      /* Nothing the request carried ends up unescaped in a page or a header. */
      g_assert_null (strstr (r->body, "<script>"));
      if (r->location != NULL)
        g_assert_null (strpbrk (r->location, "\r\n"));
    }
}

static void
test_reproducible (void)
{
  g_autoptr(KhSandbox) a = kh_sandbox_new (7);
  g_autoptr(KhSandbox) b = kh_sandbox_new (7);
  g_autoptr(GError) error = NULL;
  Fixture fa = { a, NULL };
  Fixture fb = { b, NULL };
  g_autofree char *code_a = NULL;
  g_autofree char *code_b = NULL;

  g_assert_true (kh_sandbox_listen (a, 0, &error));
  g_assert_true (kh_sandbox_listen (b, 0, &error));
  fa.origin = kh_sandbox_dup_origin (a);
  fb.origin = kh_sandbox_dup_origin (b);
  code_a = authorize (&fa, SELLER_ROW_LINK);
  code_b = authorize (&fb, SELLER_ROW_LINK);
  g_assert_cmpstr (code_a, ==, code_b);
  g_free (fa.origin);
  g_free (fb.origin);
}

int
main (int    argc,
      char **argv)
{
  kh_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/keyhold/sandbox/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/keyhold/sandbox/sign-vectors", test_sign_vectors);
  ADD ("sign-v1-http", test_sign_v1_http);
  ADD ("origin-map", test_origin_map);
  ADD ("host-routing", test_host_routing);
  ADD ("consent-page", test_consent_page);
  ADD ("auto-deny", test_auto_deny);
  ADD ("link-errors", test_link_errors);
  ADD ("shop-token", test_shop_token);
  ADD ("code-expiry", test_code_expiry);
  ADD ("shop-rotation", test_shop_rotation);
  ADD ("shop-refresh-expiry", test_shop_refresh_expiry);
  ADD ("refresh-grace", test_refresh_grace);
  ADD ("shops", test_shops);
  ADD ("deauthorize", test_deauthorize);
  ADD ("advertiser", test_advertiser);
  ADD ("tt-user", test_tt_user);
  ADD ("cross-flow-codes", test_cross_flow_codes);
  ADD ("partial-scopes", test_partial_scopes);
  ADD ("faults", test_faults);
  ADD ("fault-validation", test_fault_validation);
  ADD ("delay", test_delay);
  ADD ("latency", test_latency);
  ADD ("rate-limit", test_rate_limit);
  ADD ("ledger", test_ledger);
  ADD ("clock", test_clock);
  ADD ("hostile-input", test_hostile_input);
  ADD ("auto-consent", test_auto_consent);
  ADD ("garbage-everywhere", test_garbage_everywhere);
  ADD ("chunked-body", test_chunked_body);
  ADD ("delay-abandoned", test_delay_abandoned);
  g_test_add_func ("/keyhold/sandbox/command", test_command);
  g_test_add_func ("/keyhold/sandbox/command-usage", test_command_usage);
  g_test_add_func ("/keyhold/sandbox/reproducible", test_reproducible);

#undef ADD

  return g_test_run ();
}
