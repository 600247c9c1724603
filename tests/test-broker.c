/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-broker.c: KhBroker against an in-process sandbox with rotating refresh tokens and a real
 * keyring: the fast path, single-flight refresh, adoption of tokens stored by someone else,
 * fault injection (5xx, timeouts, dropped connections, garbage), terminal errors, expiry
 * arithmetic on the sandbox clock, revoke, advertiser drift and the renewal pack. */

#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define KH_TEST_WITH_SANDBOX 1
#include "kh-test-util.h"

#include "kh-broker.h"
#include "kh-error.h"
#include "kh-flow.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-refresh-journal.h"
#include "kh-util.h"

#define TIMEOUT_MS      30000
#define SHOP_KEY        "brokertestshop"
#define SHOP_SECRET     "shop-secret-b7e2a91c"
#define SHOP_SERVICE_ID "7100000000000000011"
#define BIZ_ID          "7100000000000000012"
#define BIZ_SECRET      "biz-secret-4d5e6f7a8b"
#define DAY             (24 * 3600)

typedef struct
{
  KhSandbox     *sandbox;
  KhStore       *store;
  KhTokenClient *client;
  KhBroker      *broker;
  char          *redirect_uri;
  gint64         offset;     /* seconds both clocks were moved */
} Fixture;

/* ---- clocks ----------------------------------------------------------------------------------- */

/* Moves the sandbox clock and Keyhold's (kh_set_clock_offset) together. */
static void
advance_clocks (Fixture *fixture,
                gint64   seconds)
{
  fixture->offset += seconds;
  kh_sandbox_advance_clock (fixture->sandbox, seconds);
  kh_set_clock_offset (fixture->offset);
}

/* ---- the fixture ------------------------------------------------------------------------------ */

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(KhAppProfile) shop = NULL;
  g_autoptr(KhAppProfile) biz = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *store_name = NULL;
  g_autoptr(JsonObject) config = json_object_new ();
  static guint counter;

  kh_set_clock_offset (0);
  fixture->offset = 0;
  fixture->sandbox = kh_test_sandbox_start ();
  fixture->redirect_uri = g_strdup_printf ("http://localhost:%u/callback", kh_test_free_port ());
  kh_sandbox_add_app (fixture->sandbox, "shop", SHOP_KEY, SHOP_SECRET, SHOP_SERVICE_ID,
                      fixture->redirect_uri);
  kh_sandbox_add_app (fixture->sandbox, "business", BIZ_ID, BIZ_SECRET, NULL,
                      fixture->redirect_uri);
  /* A retried refresh whose first answer was lost gets the current pair again. */
  json_object_set_int_member (config, "refresh_grace", 600);
  kh_sandbox_configure (fixture->sandbox, config, &error);
  g_assert_no_error (error);

  /* A keyring namespace of its own per test (the store attribute keeps runs apart). */
  store_name = g_strdup_printf ("test-broker-%d-%u", (int) getpid (), counter++);
  fixture->store = kh_store_new (NULL, store_name, &error);
  g_assert_no_error (error);

  shop = kh_app_profile_new ("Shop App", KH_FAMILY_SHOP, SHOP_KEY);
  kh_app_profile_set_service_id (shop, SHOP_SERVICE_ID);
  kh_app_profile_set_redirect_uri (shop, fixture->redirect_uri);
  kh_store_save_app (fixture->store, shop, SHOP_SECRET, FALSE, &error);
  g_assert_no_error (error);
  biz = kh_app_profile_new ("Biz App", KH_FAMILY_BUSINESS, BIZ_ID);
  kh_app_profile_set_redirect_uri (biz, fixture->redirect_uri);
  kh_store_save_app (fixture->store, biz, BIZ_SECRET, FALSE, &error);
  g_assert_no_error (error);

  fixture->client = kh_token_client_new ();
  kh_token_client_set_retry (fixture->client, 2, 10);
  kh_token_client_set_timeout (fixture->client, 2);
  fixture->broker = kh_broker_new (fixture->store, fixture->client);
}

static gboolean
is_null (gpointer user_data)
{
  return *(gpointer *) user_data == NULL;
}

static gboolean
tick_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  KhBroker *broker = fixture->broker;
  guint tick;

  /* Worker threads drop their task's reference just after the result is delivered, so the
   * broker may be finalized in one: wait for it (the tick wakes the main context, which no
   * event from that thread does), which also proves no flight is left behind holding it. */
  g_object_add_weak_pointer (G_OBJECT (broker), (gpointer *) &broker);
  g_clear_object (&fixture->broker);
  tick = g_timeout_add (10, tick_cb, NULL);
  kh_test_wait_until (is_null, &broker, TIMEOUT_MS);
  g_source_remove (tick);
  g_clear_object (&fixture->client);
  g_clear_object (&fixture->store);
  g_clear_object (&fixture->sandbox);
  g_free (fixture->redirect_uri);
  kh_set_clock_offset (0);
}

/* ---- authorizing through the sandbox ------------------------------------------------------ */

/* Plays the account holder: approves on the consent page and returns where the browser lands. */
static char *
approve (const char *url)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *approve_url = g_strdup_printf ("%s&auto=approve", url);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", approve_url);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  const char *location;

  /* Asynchronous: the sandbox answers on this same main context. */
  soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL,
                                    kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  body = soup_session_send_and_read_finish (session, done, &error);
  g_assert_no_error (error);
  g_assert_true (SOUP_STATUS_IS_REDIRECTION (soup_message_get_status (msg)));
  location = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Location");
  g_assert_nonnull (location);

  return g_strdup (location);
}

static KhGrant *
authorize (Fixture       *fixture,
           KhAccountType  type,
           const char    *role)
{
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(KhFlow) flow = kh_flow_new (fixture->store, fixture->client);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *landing = NULL;
  KhGrant *grant;

  app = kh_store_get_app (fixture->store,
                          kh_provider_get (type)->family == KH_FAMILY_SHOP ? "Shop App"
                                                                           : "Biz App");
  request = kh_flow_create_link (fixture->store, type, role, app, KH_REGION_ROW, "Acme",
                                 KH_FLOW_FLAGS_NONE, &error);
  g_assert_no_error (error);
  landing = approve (kh_auth_request_get_url (request));

  kh_flow_complete_async (flow, landing, KH_FLOW_FLAGS_NONE, NULL, kh_test_store_result_cb,
                          &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  grant = kh_flow_complete_finish (flow, done, &error);
  g_assert_no_error (error);

  return grant;
}

/* ---- the ledger ------------------------------------------------------------------------------- */

static JsonObject *
ledger_authorization (Fixture    *fixture,
                      const char *open_id,
                      JsonNode  **node_out)
{
  JsonNode *node = kh_sandbox_dup_ledger (fixture->sandbox);
  JsonArray *list = kh_json_get_array (kh_json_node_object (node), "authorizations");

  *node_out = node;
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *auth = kh_json_node_object (json_array_get_element (list, i));

      if (g_strcmp0 (kh_json_get_string (auth, "open_id"), open_id) == 0)
        return auth;
    }

  g_assert_not_reached ();
}

static gint64
refresh_count (Fixture *fixture,
               KhGrant *grant)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *auth = ledger_authorization (fixture, kh_grant_get_open_id (grant), &node);
  gint64 count = -1;

  g_assert_true (kh_json_get_int (auth, "refresh_count", &count));
  return count;
}

static char *
sandbox_refresh_token (Fixture *fixture,
                       KhGrant *grant)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *auth = ledger_authorization (fixture, kh_grant_get_open_id (grant), &node);

  return g_strdup (kh_json_get_string (auth, "refresh_token"));
}

static gint64
refresh_calls (Fixture *fixture)
{
  g_autoptr(JsonNode) node = kh_sandbox_dup_ledger (fixture->sandbox);
  JsonObject *counters = kh_json_get_object (kh_json_node_object (node), "counters");
  gint64 shop = 0, tt = 0;

  kh_json_get_int (counters, "/api/v2/token/refresh", &shop);
  kh_json_get_int (counters, "/open_api/v1.3/tt_user/oauth2/refresh_token/", &tt);
  return shop + tt;
}

/* ---- broker calls ------------------------------------------------------------------------- */

static KhTokenSet *
get_token (Fixture  *fixture,
           KhGrant  *grant,
           gint64    min_valid,
           GError  **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;

  kh_broker_get_token_async (fixture->broker, kh_grant_get_id (grant), min_valid, NULL,
                             kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  return kh_broker_get_token_finish (fixture->broker, done, error);
}

static KhTokenSet *
refresh (Fixture  *fixture,
         KhGrant  *grant,
         gboolean  force,
         GError  **error)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;

  kh_broker_refresh_async (fixture->broker, kh_grant_get_id (grant), force, NULL,
                           kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  return kh_broker_refresh_finish (fixture->broker, done, error);
}

static KhTokenSet *
stored_tokens (Fixture *fixture,
               KhGrant *grant)
{
  g_autoptr(GError) error = NULL;
  KhTokenSet *tokens = kh_store_load_tokens (fixture->store, kh_grant_get_id (grant), &error);

  g_assert_no_error (error);
  return tokens;
}

static KhGrant *
stored_grant (Fixture *fixture,
              KhGrant *grant)
{
  g_autoptr(GError) error = NULL;
  KhGrant *found;

  kh_store_reload (fixture->store, &error);
  g_assert_no_error (error);
  found = kh_store_find_grant (fixture->store, kh_grant_get_id (grant), &error);
  g_assert_no_error (error);
  return found;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void
test_fast_path (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhTokenSet) before = stored_tokens (fixture, grant);
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  tokens = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, before->access_token);
  g_assert_cmpint (refresh_calls (fixture), ==, 0);
}

static void
test_peek (Fixture       *fixture,
           gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhTokenSet) before = stored_tokens (fixture, grant);
  g_autoptr(KhTokenSet) peeked = NULL;
  g_autoptr(KhTokenSet) stale = NULL;
  g_autoptr(KhTokenSet) other_store = NULL;
  g_autoptr(KhTokenSet) by_name = NULL;
  g_autoptr(KhTokenSet) marked = NULL;
  g_autoptr(KhTokenSet) failed = NULL;
  g_autoptr(GError) error = NULL;
  const char *store_name = kh_store_get_name (fixture->store);

  /* Fresh, by id: the tokens, from one keyring lookup. */
  peeked = kh_broker_peek_token (store_name, kh_grant_get_id (grant), 600);
  g_assert_nonnull (peeked);
  g_assert_cmpstr (peeked->access_token, ==, before->access_token);

  /* Anything else falls back: too old for the margin, another store, not an id. */
  stale = kh_broker_peek_token (store_name, kh_grant_get_id (grant), 8 * DAY);
  g_assert_null (stale);
  other_store = kh_broker_peek_token ("no-such-store", kh_grant_get_id (grant), 600);
  g_assert_null (other_store);
  by_name = kh_broker_peek_token (store_name, kh_grant_get_display_name (grant), 600);
  g_assert_null (by_name);

  /* A grant marked needs-reauth is marked in the keyring too. */
  kh_sandbox_deauthorize (fixture->sandbox, kh_grant_get_open_id (grant));
  failed = refresh (fixture, grant, TRUE, &error);
  g_assert_error (error, KH_API_ERROR, 105001);
  marked = kh_broker_peek_token (store_name, kh_grant_get_id (grant), 0);
  g_assert_null (marked);
}

typedef struct {
  GPtrArray    *answered;   /* char *: grant ids, in order */
  GAsyncResult *result;     /* set when the refresh completes */
  gboolean      answered_before_done;
} AnsweredData;

static void
answered_cb (KhBroker   *broker,
             const char *grant_id,
             gpointer    user_data)
{
  AnsweredData *data = user_data;

  g_ptr_array_add (data->answered, g_strdup (grant_id));
  data->answered_before_done = data->result == NULL;
}

/* "answered" comes once per call to TikTok, before the refresh completes (its tokens are stored
 * then); a refresh that needs no call says nothing. refresh --all hands a slot on at it. */
static void
test_answered (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) stored = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;
  AnsweredData data = { g_ptr_array_new_with_free_func (g_free), NULL, FALSE };
  gulong id = g_signal_connect (fixture->broker, "answered", G_CALLBACK (answered_cb), &data);

  kh_broker_refresh_async (fixture->broker, kh_grant_get_id (grant), TRUE, NULL,
                           kh_test_store_result_cb, &data.result);
  done = kh_test_wait_result (&data.result, TIMEOUT_MS);
  tokens = kh_broker_refresh_finish (fixture->broker, done, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (data.answered->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (data.answered, 0), ==, kh_grant_get_id (grant));
  g_assert_true (data.answered_before_done);
  stored = stored_tokens (fixture, grant);
  g_assert_cmpstr (stored->access_token, ==, tokens->access_token);

  /* Fresh: no call, no signal. */
  g_clear_pointer (&tokens, kh_token_set_free);
  tokens = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (data.answered->len, ==, 1);

  g_signal_handler_disconnect (fixture->broker, id);
  g_ptr_array_unref (data.answered);
}

static void
test_refresh_when_needed (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhTokenSet) before = stored_tokens (fixture, grant);
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) after = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_autofree char *current = NULL;
  g_autoptr(GError) error = NULL;

  /* Seven days and a bit later the access token is dead. */
  advance_clocks (fixture, 7 * DAY + 60);
  tokens = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, !=, before->access_token);
  g_assert_cmpint (tokens->access_expires_at, >, kh_now () + 6 * DAY);
  g_assert_cmpint (refresh_count (fixture, grant), ==, 1);

  /* Stored (keyring and index) before anyone got it; the sandbox's current refresh token. */
  after = stored_tokens (fixture, grant);
  g_assert_cmpstr (after->access_token, ==, tokens->access_token);
  current = sandbox_refresh_token (fixture, grant);
  g_assert_cmpstr (after->refresh_token, ==, current);
  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_access_expires_at (reread), ==, tokens->access_expires_at);

  /* Fresh now: no second refresh. */
  g_clear_pointer (&tokens, kh_token_set_free);
  tokens = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpint (refresh_count (fixture, grant), ==, 1);
}

static void
test_single_flight (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_TIKTOK_ACCOUNT, NULL);
  GAsyncResult *results[12] = { NULL, };
  g_autofree char *first = NULL;

  advance_clocks (fixture, DAY + 60);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    kh_broker_get_token_async (fixture->broker, kh_grant_get_id (grant), 300, NULL,
                               kh_test_store_result_cb, &results[i]);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autoptr(GAsyncResult) done = kh_test_wait_result (&results[i], TIMEOUT_MS);
      g_autoptr(KhTokenSet) tokens = NULL;
      g_autoptr(GError) error = NULL;

      tokens = kh_broker_get_token_finish (fixture->broker, done, &error);
      g_assert_no_error (error);
      if (first == NULL)
        first = g_strdup (tokens->access_token);
      g_assert_cmpstr (tokens->access_token, ==, first);
    }

  g_assert_cmpint (refresh_count (fixture, grant), ==, 1);
}

static void
test_adopt_stored (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhBroker) other = kh_broker_new (fixture->store, fixture->client);
  g_autoptr(KhTokenSet) theirs = NULL;
  g_autoptr(KhTokenSet) ours = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;

  /* Another broker (as another process would) refreshes first... */
  kh_broker_refresh_async (other, kh_grant_get_id (grant), TRUE, NULL, kh_test_store_result_cb,
                           &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  theirs = kh_broker_refresh_finish (other, done, &error);
  g_assert_no_error (error);

  /* ...and this one, needing 6 days more than the old token had, adopts what it stored. */
  advance_clocks (fixture, DAY);
  ours = get_token (fixture, grant, 5 * DAY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ours->access_token, ==, theirs->access_token);
  g_assert_cmpint (refresh_count (fixture, grant), ==, 1);
}

typedef struct
{
  const char         *name;
  KhSandboxFaultKind  kind;
  int                 value;
} FaultCase;

static const FaultCase fault_cases[] = {
  { "http-503", KH_SANDBOX_FAULT_HTTP_STATUS, 503 },
  { "rate-limited", KH_SANDBOX_FAULT_ERROR_CODE, 36009002 },
  { "timeout", KH_SANDBOX_FAULT_DELAY, 4000 },
  { "dropped", KH_SANDBOX_FAULT_DROP, 0 },
  { "garbage", KH_SANDBOX_FAULT_GARBAGE, 0 },
};

static void
test_fault (Fixture       *fixture,
            gconstpointer  user_data)
{
  const FaultCase *fc = user_data;
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhTokenSet) before = stored_tokens (fixture, grant);
  g_autoptr(KhTokenSet) failed = NULL;
  g_autoptr(KhTokenSet) after = NULL;
  g_autoptr(KhTokenSet) usable = NULL;
  g_autoptr(KhTokenSet) refreshed = NULL;
  g_autoptr(KhTokenSet) final = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_autofree char *current = NULL;
  g_autoptr(GError) error = NULL;
  gint64 calls;

  /* Every attempt meets the fault: the client's two, and libsoup's own resend of a request
   * whose connection closed. */
  kh_sandbox_add_fault (fixture->sandbox, "/api/v2/token/refresh", 8, fc->kind, fc->value);
  failed = refresh (fixture, grant, TRUE, &error);
  g_assert_null (failed);
  g_assert_nonnull (error);
  g_test_message ("%s: %s", fc->name, error->message);
  g_assert_cmpint (kh_error_exit_code (error), ==, 4);
  g_clear_error (&error);

  /* The old tokens are in place and the grant is not marked. */
  after = stored_tokens (fixture, grant);
  g_assert_cmpstr (after->access_token, ==, before->access_token);
  g_assert_cmpstr (after->refresh_token, ==, before->refresh_token);
  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_stored_status (reread), ==, KH_GRANT_STATUS_ACTIVE);

  /* Usable: the still-valid token is handed out, even when a refresh would be due; and the
   * broker backs off: TikTok is not asked again so soon. */
  calls = refresh_calls (fixture);
  usable = get_token (fixture, grant, 8 * DAY, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (usable->access_token, ==, before->access_token);
  g_assert_cmpint (refresh_calls (fixture), ==, calls);
  kh_sandbox_clear_faults (fixture->sandbox);

  /* And refreshable: even where the sandbox had rotated (an answer lost on the way), the old
   * refresh token gets the current pair within the grace. */
  refreshed = refresh (fixture, grant, TRUE, &error);
  g_assert_no_error (error);
  final = stored_tokens (fixture, grant);
  current = sandbox_refresh_token (fixture, grant);
  g_assert_cmpstr (final->refresh_token, ==, current);
  g_assert_cmpstr (final->access_token, ==, refreshed->access_token);
}

static void
test_terminal (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhGrant) reread = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;
  gint64 calls;

  /* The seller cancels in Seller Center. */
  g_assert_cmpuint (kh_sandbox_deauthorize (fixture->sandbox, kh_grant_get_open_id (grant)), ==, 1);
  tokens = refresh (fixture, grant, TRUE, &error);
  g_assert_null (tokens);
  g_assert_error (error, KH_API_ERROR, 105001);
  g_assert_cmpint (kh_error_exit_code (error), ==, 3);
  g_clear_error (&error);

  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_stored_status (reread), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpint (kh_grant_compute_status (reread, kh_now ()), ==, KH_GRANT_STATUS_NEEDS_REAUTH);

  /* It stops refreshing: nothing more is sent, the answer is "re-authorize" (exit 3). */
  calls = refresh_calls (fixture);
  tokens = get_token (fixture, grant, 8 * DAY, &error);
  g_assert_null (tokens);
  g_assert_error (error, KH_ERROR, KH_ERROR_NEEDS_REAUTH);
  g_assert_cmpint (kh_error_exit_code (error), ==, 3);
  g_assert_cmpint (refresh_calls (fixture), ==, calls);
}

static void
test_advertiser_never_expires (Fixture       *fixture,
                               gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_ADVERTISER, NULL);
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) forced = NULL;
  g_autoptr(GError) error = NULL;

  advance_clocks (fixture, 400 * DAY);
  tokens = get_token (fixture, grant, 365 * DAY, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tokens->access_expires_at, ==, 0);
  g_assert_null (tokens->refresh_token);

  forced = refresh (fixture, grant, TRUE, &error);
  g_assert_null (forced);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_cmpint (refresh_calls (fixture), ==, 0);
}

static void
test_expiry_arithmetic (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(JsonObject) config = json_object_new ();
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) refreshed = NULL;
  g_autoptr(KhTokenSet) dead = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reason = NULL;
  gint64 ends;
  gint64 deadline = 0;
  gint64 started;

  /* The seller chose a 40-day authorization. The sandbox's clock may tick a second while it
   * authorizes. */
  json_object_set_int_member (config, "shop_refresh_ttl", 40 * DAY);
  kh_sandbox_configure (fixture->sandbox, config, &error);
  g_assert_no_error (error);
  started = kh_sandbox_now (fixture->sandbox);
  grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  ends = kh_grant_get_refresh_expires_at (grant);
  g_assert_cmpint (ends, >=, started + 40 * DAY);
  g_assert_cmpint (ends, <=, kh_sandbox_now (fixture->sandbox) + 40 * DAY);

  g_assert_cmpint (kh_grant_compute_status (grant, kh_now ()), ==, KH_GRANT_STATUS_ACTIVE);

  /* One minute before the 30-day window: active; one minute into it: expiring. */
  advance_clocks (fixture, ends - kh_now () - 30 * DAY - 60);
  g_assert_cmpint (kh_grant_compute_status (grant, kh_now ()), ==, KH_GRANT_STATUS_ACTIVE);
  advance_clocks (fixture, 120);
  g_assert_cmpint (kh_grant_explain_status (grant, kh_now (), &reason, &deadline), ==,
                   KH_GRANT_STATUS_EXPIRING);
  g_assert_cmpint (deadline, ==, ends);
  g_assert_nonnull (strstr (reason, "in 29 days"));
  g_assert_nonnull (strstr (reason, "Seller Center > App Store > My apps and incidents"));

  /* Access tokens (7 days) keep refreshing within the authorization, which a refresh does not
   * extend. */
  tokens = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpint (refresh_count (fixture, grant), ==, 1);
  g_assert_cmpint (tokens->refresh_expires_at, ==, ends);
  advance_clocks (fixture, 20 * DAY);
  refreshed = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpint (refresh_count (fixture, grant), ==, 2);

  /* One second past the end: nothing can mint a token; the status says so from the expiries
   * and the broker marks the grant without calling TikTok. */
  advance_clocks (fixture, ends - kh_now () + 1);
  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_compute_status (reread, kh_now ()), ==,
                   KH_GRANT_STATUS_NEEDS_REAUTH);
  dead = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_null (dead);
  g_assert_error (error, KH_ERROR, KH_ERROR_NEEDS_REAUTH);
  g_assert_cmpint (refresh_count (fixture, grant), ==, 2);
  g_clear_object (&reread);
  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_stored_status (reread), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
}

static void
test_tt_user_lifetimes (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_TIKTOK_ACCOUNT, NULL);
  g_autoptr(KhTokenSet) before = stored_tokens (fixture, grant);
  g_autoptr(KhTokenSet) after = NULL;
  g_autoptr(GError) error = NULL;

  /* One day of access, one year of refresh that a refresh does not extend. */
  g_assert_cmpint (before->access_expires_at - kh_now (), <=, DAY);
  g_assert_cmpint (before->access_expires_at - kh_now (), >, DAY - 60);
  advance_clocks (fixture, DAY);
  after = get_token (fixture, grant, KH_BROKER_DEFAULT_MIN_VALID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (after->refresh_token, !=, before->refresh_token);
  g_assert_cmpint (ABS (after->refresh_expires_at - before->refresh_expires_at), <=, 2);
}

static void
test_revoke (Fixture       *fixture,
             gconstpointer  user_data)
{
  g_autoptr(KhGrant) account = authorize (fixture, KH_ACCOUNT_TIKTOK_ACCOUNT, NULL);
  g_autoptr(KhGrant) seller = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(KhGrant) gone = NULL;
  gboolean manual = TRUE;
  gboolean revoked = FALSE;
  JsonObject *auth;

  /* TikTok account: the tt_user revoke call, then removal. */
  kh_broker_revoke_async (fixture->broker, kh_grant_get_id (account), NULL,
                          kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  g_assert_true (kh_broker_revoke_finish (fixture->broker, done, &manual, &error));
  g_assert_no_error (error);
  g_assert_false (manual);
  auth = ledger_authorization (fixture, kh_grant_get_open_id (account), &node);
  g_assert_true (kh_json_get_bool (auth, "revoked", &revoked));
  g_assert_true (revoked);
  gone = kh_store_find_grant (fixture->store, kh_grant_get_id (account), &error);
  g_assert_null (gone);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_clear_object (&done);

  /* Seller: no API; the manual path, and removal. */
  kh_broker_revoke_async (fixture->broker, kh_grant_get_id (seller), NULL,
                          kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  g_assert_true (kh_broker_revoke_finish (fixture->broker, done, &manual, &error));
  g_assert_no_error (error);
  g_assert_true (manual);
  g_assert_nonnull (kh_provider_get (KH_ACCOUNT_SELLER)->manual_revoke);
  gone = kh_store_find_grant (fixture->store, kh_grant_get_id (seller), &error);
  g_assert_null (gone);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
}

static void
test_advertiser_drift (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_ADVERTISER, NULL);
  g_autoptr(GPtrArray) local = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_auto(GStrv) changes = NULL;
  g_autofree char *added = NULL;
  GPtrArray *remote = kh_grant_get_advertisers (grant);
  KhAdvertiser fake = { (char *) "9990001", (char *) "Gone Ads" };
  KhAdvertiser *first;
  guint n_remote;

  g_assert_cmpuint (remote->len, >=, 1);
  n_remote = remote->len;
  first = g_ptr_array_index (remote, 0);
  added = g_strdup_printf ("+%s\t%s", first->id, first->name != NULL ? first->name : "");

  /* The index remembers an advertiser TikTok no longer lists and misses one it does. */
  for (guint i = 1; i < remote->len; i++)
    g_ptr_array_add (local, kh_advertiser_copy (g_ptr_array_index (remote, i)));
  g_ptr_array_add (local, kh_advertiser_copy (&fake));
  kh_grant_set_advertisers (grant, local);
  kh_store_update_grant (fixture->store, grant, &error);
  g_assert_no_error (error);

  kh_broker_update_accounts_async (fixture->broker, kh_grant_get_id (grant), NULL,
                                   kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  changes = kh_broker_update_accounts_finish (fixture->broker, done, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (changes), ==, 2);
  g_assert_cmpstr (changes[0], ==, added);
  g_assert_cmpstr (changes[1], ==, "-9990001\tGone Ads");

  reread = stored_grant (fixture, grant);
  g_assert_cmpuint (kh_grant_get_advertisers (reread)->len, ==, n_remote);

  /* The history says what changed, with ids and names. */
  {
    g_autofree char *path = kh_history_log_path_for_store (fixture->store);
    g_autoptr(GPtrArray) entries = kh_history_log_read (path, kh_grant_get_id (grant), &error);
    KhHistoryEntry *last;
    JsonArray *gone;

    g_assert_no_error (error);
    g_assert_cmpuint (entries->len, >=, 2);
    g_assert_cmpstr (kh_history_entry_get_action (g_ptr_array_index (entries, 0)), ==,
                     KH_HISTORY_AUTHORIZED);
    last = g_ptr_array_index (entries, entries->len - 1);
    g_assert_cmpstr (kh_history_entry_get_action (last), ==, KH_HISTORY_ACCOUNTS_CHANGED);
    gone = kh_json_get_array (kh_history_entry_get_detail (last), "removed");
    g_assert_cmpuint (json_array_get_length (gone), ==, 1);
    g_assert_cmpstr (kh_json_get_string (json_array_get_object_element (gone, 0), "id"), ==,
                     "9990001");
    g_assert_cmpstr (kh_json_get_string (json_array_get_object_element (gone, 0), "name"), ==,
                     "Gone Ads");
    g_assert_cmpuint (json_array_get_length (kh_json_get_array (kh_history_entry_get_detail (last),
                                                                "added")), ==, 1);
  }
}

static void
test_not_found (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(KhGrant) ghost = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "Shop App");
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  tokens = get_token (fixture, ghost, 0, &error);
  g_assert_null (tokens);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
}

/* ---- pure lifecycle --------------------------------------------------------------------------- */

static KhGrant *
grant_with_expiries (KhAccountType type,
                     gint64        access,
                     gint64        refresh_end)
{
  KhGrant *grant = kh_grant_new (type, NULL, "Shop App");
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();

  tokens->access_expires_at = access;
  tokens->refresh_expires_at = refresh_end;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  kh_grant_set_display_name (grant, "Maomao beauty shop");

  return grant;
}

static void
test_needs_refresh (void)
{
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  const gint64 now = 1700000000;

  tokens->access_token = g_strdup ("a");
  tokens->access_expires_at = now + 600;
  g_assert_false (kh_token_set_needs_refresh (tokens, 600, now));
  g_assert_true (kh_token_set_needs_refresh (tokens, 601, now));
  g_assert_false (kh_token_set_needs_refresh (tokens, 0, now + 599));
  g_assert_true (kh_token_set_needs_refresh (tokens, 0, now + 600));
  tokens->access_expires_at = 0;
  g_assert_false (kh_token_set_needs_refresh (tokens, G_MAXINT32, now));
  g_clear_pointer (&tokens->access_token, g_free);
  g_assert_true (kh_token_set_needs_refresh (tokens, 0, now));
}

static void
test_explain_status (void)
{
  const gint64 now = 1700000000;
  g_autoptr(KhGrant) active = grant_with_expiries (KH_ACCOUNT_SELLER, now + DAY, now + 60 * DAY);
  g_autoptr(KhGrant) expiring = grant_with_expiries (KH_ACCOUNT_SELLER, now + DAY,
                                                     now + 3 * DAY + 10);
  g_autoptr(KhGrant) ended = grant_with_expiries (KH_ACCOUNT_SELLER, now - 10, now - 5);
  g_autoptr(KhGrant) creator = grant_with_expiries (KH_ACCOUNT_CREATOR, now + DAY,
                                                    G_GINT64_CONSTANT (4903858076));
  g_autoptr(KhGrant) marked = grant_with_expiries (KH_ACCOUNT_TIKTOK_ACCOUNT, now + DAY,
                                                   now + 300 * DAY);
  const char *missing[] = { "creator.affiliate.info", NULL };
  g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL, *r5 = NULL;
  gint64 deadline = -1;

  g_assert_cmpint (kh_grant_explain_status (active, now, &r1, &deadline), ==,
                   KH_GRANT_STATUS_ACTIVE);
  g_assert_cmpint (deadline, ==, 0);
  g_assert_cmpint (kh_grant_explain_status (expiring, now, &r2, &deadline), ==,
                   KH_GRANT_STATUS_EXPIRING);
  g_assert_cmpint (deadline, ==, now + 3 * DAY + 10);
  g_assert_nonnull (strstr (r2, "in 3 days"));
  g_assert_cmpint (kh_grant_explain_status (ended, now, &r3, &deadline), ==,
                   KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_nonnull (strstr (r3, "authorize again"));

  kh_grant_set_missing_scopes (creator, missing);
  g_assert_cmpint (kh_grant_explain_status (creator, now, &r4, &deadline), ==,
                   KH_GRANT_STATUS_EXPIRING);
  g_assert_nonnull (strstr (r4, "creator.affiliate.info"));
  g_assert_nonnull (strstr (r4, "remove all access"));
  g_assert_cmpint (deadline, ==, 0);

  kh_grant_set_stored_status (marked, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpint (kh_grant_explain_status (marked, now, &r5, NULL), ==,
                   KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_nonnull (strstr (r5, "no longer accepts"));
}

static void
test_renewal_pack (void)
{
  const gint64 now = 1700000000;
  g_autoptr(KhGrant) seller = grant_with_expiries (KH_ACCOUNT_SELLER, now + DAY, now + 12 * DAY);
  g_autoptr(KhGrant) partner = grant_with_expiries (KH_ACCOUNT_PARTNER, now + DAY, now + 2 * DAY);
  g_autoptr(KhAppProfile) app = kh_app_profile_new ("Shop App", KH_FAMILY_SHOP, SHOP_KEY);
  g_autofree char *deadline = kh_iso8601_from_unix (now + 12 * DAY);
  g_autofree char *pack = NULL;
  g_autofree char *partner_pack = NULL;
  g_autofree char *no_link = NULL;
  const char *link = "https://services.tiktokshop.com/open/authorize?service_id=7100000000000000011";

  pack = kh_grant_renewal_pack (seller, app, link, now);
  g_assert_nonnull (strstr (pack, "Maomao beauty shop"));
  g_assert_nonnull (strstr (pack, link));
  g_assert_nonnull (strstr (pack, "Seller Center > App Store > My apps and incidents"));
  g_assert_nonnull (strstr (pack, deadline));
  g_assert_nonnull (strstr (pack, "in 12 days"));
  g_assert_nonnull (strstr (pack, "Only the shop owner can renew"));

  partner_pack = kh_grant_renewal_pack (partner, app, link, now);
  g_assert_nonnull (strstr (partner_pack, "Partner Center > My account > My authorizations"));

  /* Without a link, it says one will be sent; never an empty line where the link was. */
  no_link = kh_grant_renewal_pack (seller, NULL, NULL, now);
  g_assert_nonnull (strstr (no_link, "authorization link we send you"));
}

/* ---- many refreshes at once ----------------------------------------------------------------- */

#define MANY 12

typedef struct
{
  KhBroker   *broker;
  KhTokenSet *tokens[MANY];
  GError     *errors[MANY];
  guint       pending;
} Many;

typedef struct
{
  Many  *many;
  guint  index;
} ManyItem;

static void
many_refreshed_cb (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  ManyItem *item = user_data;
  Many *many = item->many;

  many->tokens[item->index] = kh_broker_refresh_finish (many->broker, result,
                                                        &many->errors[item->index]);
  many->pending--;
  g_free (item);
}

static gboolean
many_done (gpointer user_data)
{
  return ((Many *) user_data)->pending == 0;
}

/* The refreshes of `refresh --all`, all at once: their index writes are shared, and afterwards
 * every grant's index entry describes exactly the tokens in its keyring item (a rebuild from the
 * keyring gives the same index), which are the sandbox's current ones. */
static void
test_refresh_many (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GPtrArray) grants = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  Many many = { fixture->broker, { NULL, }, { NULL, }, MANY };

  for (guint i = 0; i < MANY; i++)
    g_ptr_array_add (grants, authorize (fixture, KH_ACCOUNT_SELLER, NULL));
  advance_clocks (fixture, 60);

  for (guint i = 0; i < MANY; i++)
    {
      ManyItem *item = g_new0 (ManyItem, 1);

      item->many = &many;
      item->index = i;
      kh_broker_refresh_async (fixture->broker, kh_grant_get_id (g_ptr_array_index (grants, i)),
                               TRUE, NULL, many_refreshed_cb, item);
    }
  kh_test_wait_until (many_done, &many, TIMEOUT_MS);

  for (guint i = 0; i < MANY; i++)
    {
      KhGrant *grant = g_ptr_array_index (grants, i);
      g_autoptr(KhTokenSet) stored = NULL;
      g_autoptr(KhGrant) entry = NULL;
      g_autofree char *current = NULL;

      g_assert_no_error (many.errors[i]);
      g_assert_nonnull (many.tokens[i]);
      g_assert_cmpint (refresh_count (fixture, grant), ==, 1);
      stored = stored_tokens (fixture, grant);
      current = sandbox_refresh_token (fixture, grant);
      g_assert_cmpstr (stored->refresh_token, ==, current);
      g_assert_cmpstr (stored->access_token, ==, many.tokens[i]->access_token);
      entry = stored_grant (fixture, grant);
      g_assert_cmpint (kh_grant_get_access_expires_at (entry), ==, stored->access_expires_at);
      g_assert_cmpint (kh_grant_get_refresh_expires_at (entry), ==, stored->refresh_expires_at);
      kh_token_set_free (many.tokens[i]);
    }

  /* The index as written equals the index rebuilt from the keyring alone. */
  before = kh_store_list_grants (fixture->store);
  g_assert_cmpint (g_unlink (kh_store_get_index_path (fixture->store)), ==, 0);
  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  after = kh_store_list_grants (fixture->store);
  g_assert_cmpuint (before->len, ==, MANY);
  g_assert_cmpuint (after->len, ==, MANY);
  for (guint i = 0; i < MANY; i++)
    {
      KhGrant *a = g_ptr_array_index (before, i);
      KhGrant *b = NULL;
      g_autoptr(JsonNode) a_node = kh_grant_to_json (a);
      g_autoptr(JsonNode) b_node = NULL;
      g_autofree char *a_text = NULL;
      g_autofree char *b_text = NULL;

      for (guint j = 0; j < after->len && b == NULL; j++)
        if (g_str_equal (kh_grant_get_id (g_ptr_array_index (after, j)), kh_grant_get_id (a)))
          b = g_ptr_array_index (after, j);
      g_assert_nonnull (b);
      b_node = kh_grant_to_json (b);
      a_text = json_to_string (a_node, FALSE);
      b_text = json_to_string (b_node, FALSE);
      g_assert_cmpstr (a_text, ==, b_text);
    }
}

/* ---- interrupted refreshes ------------------------------------------------------------------ */

/* Plays a process killed mid-refresh: it wrote its intent and sent the stored refresh token,
 * TikTok rotated, and the answer never reached the keyring. */
static void
interrupted_refresh (Fixture *fixture,
                     KhGrant *grant)
{
  g_autoptr(KhRefreshJournal) journal = kh_refresh_journal_new_for_store (fixture->store);
  g_autoptr(KhTokenSet) stored = stored_tokens (fixture, grant);
  g_autoptr(KhAppProfile) app = kh_store_get_app (fixture->store, kh_grant_get_app_name (grant));
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(KhTokenResponse) lost = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = sandbox_refresh_token (fixture, grant);

  g_assert_true (kh_refresh_journal_begin (journal, kh_grant_get_id (grant),
                                           stored->refresh_token, NULL, &error));
  g_assert_no_error (error);
  kh_token_client_refresh_async (fixture->client, app, SHOP_SECRET,
                                 kh_grant_get_token_kind (grant), stored->refresh_token, NULL,
                                 kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  lost = kh_token_client_refresh_finish (fixture->client, done, &error);
  g_assert_no_error (error);

  /* TikTok moved on; the keyring did not. */
  {
    g_autofree char *after = sandbox_refresh_token (fixture, grant);

    g_assert_cmpstr (after, !=, before);
    g_assert_cmpstr (stored->refresh_token, ==, before);
  }
}

static GPtrArray *
recover (Fixture *fixture)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *outcomes;

  kh_broker_recover_async (fixture->broker, NULL, kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  outcomes = kh_broker_recover_finish (fixture->broker, done, &error);
  g_assert_no_error (error);
  g_assert_nonnull (outcomes);
  return outcomes;
}

static gboolean
has_intent (Fixture *fixture,
            KhGrant *grant)
{
  g_autoptr(KhRefreshJournal) journal = kh_refresh_journal_new_for_store (fixture->store);
  g_autoptr(KhRefreshIntent) intent = NULL;
  g_autoptr(GError) error = NULL;

  intent = kh_refresh_journal_lookup (journal, kh_grant_get_id (grant), &error);
  g_assert_no_error (error);
  return intent != NULL;
}

static void
assert_current_pair (Fixture *fixture,
                     KhGrant *grant)
{
  g_autoptr(JsonNode) node = NULL;
  JsonObject *auth = ledger_authorization (fixture, kh_grant_get_open_id (grant), &node);
  g_autoptr(KhTokenSet) tokens = stored_tokens (fixture, grant);

  g_assert_cmpstr (tokens->refresh_token, ==, kh_json_get_string (auth, "refresh_token"));
  g_assert_cmpstr (tokens->access_token, ==, kh_json_get_string (auth, "access_token"));
}

/* Every refresh writes its intent before the call and removes it once the tokens are stored. */
static void
test_intent_spans_refresh (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (has_intent (fixture, grant));
  kh_sandbox_add_fault (fixture->sandbox, "/api/v2/token/refresh", 1, KH_SANDBOX_FAULT_DELAY,
                        500);
  kh_broker_refresh_async (fixture->broker, kh_grant_get_id (grant), TRUE, NULL,
                           kh_test_store_result_cb, &result);
  /* While TikTok holds the answer, the intent is on disk. */
  while (!has_intent (fixture, grant) && result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (result);
  done = kh_test_wait_result (&result, TIMEOUT_MS);
  tokens = kh_broker_refresh_finish (fixture->broker, done, &error);
  g_assert_no_error (error);
  g_assert_false (has_intent (fixture, grant));
  assert_current_pair (fixture, grant);
}

/* Killed after TikTok rotated, recovered inside the grace: the retry with the stored (old)
 * token gets the current pair, with no second rotation. */
static void
test_recover_within_grace (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(GPtrArray) outcomes = NULL;
  g_autoptr(GPtrArray) again = NULL;
  g_autoptr(KhGrant) reread = NULL;
  KhRecovery *recovery;
  gint64 rotations;

  interrupted_refresh (fixture, grant);
  rotations = refresh_count (fixture, grant);
  advance_clocks (fixture, 300);

  outcomes = recover (fixture);
  g_assert_cmpuint (outcomes->len, ==, 1);
  recovery = g_ptr_array_index (outcomes, 0);
  g_assert_cmpstr (recovery->grant_id, ==, kh_grant_get_id (grant));
  g_assert_no_error (recovery->error);
  assert_current_pair (fixture, grant);
  g_assert_cmpint (refresh_count (fixture, grant), ==, rotations);
  g_assert_false (has_intent (fixture, grant));
  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_stored_status (reread), ==, KH_GRANT_STATUS_ACTIVE);

  /* Settled: the next start has nothing to do. */
  again = recover (fixture);
  g_assert_cmpuint (again->len, ==, 0);
}

/* Killed after TikTok rotated, and the grace is over (or TikTok has none): the grant is marked
 * needs-reauth with the reason, never left active on a token TikTok refuses. */
static void
test_recover_after_grace (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(GPtrArray) outcomes = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_autofree char *reason = NULL;
  KhRecovery *recovery;

  interrupted_refresh (fixture, grant);
  advance_clocks (fixture, 601);

  outcomes = recover (fixture);
  g_assert_cmpuint (outcomes->len, ==, 1);
  recovery = g_ptr_array_index (outcomes, 0);
  g_assert_error (recovery->error, KH_API_ERROR, 36004005);
  g_assert_cmpint (kh_error_classify (recovery->error), ==, KH_ERROR_CLASS_TERMINAL);
  g_assert_false (has_intent (fixture, grant));

  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_stored_status (reread), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_nonnull (strstr (kh_grant_get_status_reason (reread),
                            "interrupted after TikTok had rotated the refresh token"));
  g_assert_nonnull (strstr (kh_grant_get_status_reason (reread), "authorize again"));
  kh_grant_explain_status (reread, kh_now (), &reason, NULL);
  g_assert_cmpstr (reason, ==, kh_grant_get_status_reason (reread));
}

/* A transient failure keeps the intent for the next start; a live refresh is left alone; the
 * intent of a removed grant is dropped. */
static void
test_recover_transient_and_live (Fixture       *fixture,
                                 gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhGrant) gone = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(GPtrArray) failed = NULL;
  g_autoptr(GPtrArray) busy = NULL;
  g_autoptr(GPtrArray) healed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = kh_broker_dup_lock_dir (fixture->broker);
  g_autofree char *file = g_strconcat (kh_grant_get_id (grant), ".lock", NULL);
  g_autofree char *lock_path = g_build_filename (dir, file, NULL);
  KhRecovery *recovery;
  int fd;

  interrupted_refresh (fixture, grant);
  interrupted_refresh (fixture, gone);
  g_assert_true (kh_store_remove_grant (fixture->store, kh_grant_get_id (gone), &error));
  g_assert_no_error (error);

  kh_sandbox_add_fault (fixture->sandbox, "/api/v2/token/refresh", 8,
                        KH_SANDBOX_FAULT_HTTP_STATUS, 503);
  failed = recover (fixture);
  kh_sandbox_clear_faults (fixture->sandbox);
  g_assert_cmpuint (failed->len, ==, 1);
  recovery = g_ptr_array_index (failed, 0);
  g_assert_cmpstr (recovery->grant_id, ==, kh_grant_get_id (grant));
  g_assert_cmpint (kh_error_classify (recovery->error), ==, KH_ERROR_CLASS_TRANSIENT);
  g_assert_true (has_intent (fixture, grant));
  g_assert_false (has_intent (fixture, gone));

  /* Another process is refreshing it right now (it holds the lock): not ours to retry. */
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  fd = g_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX), ==, 0);
  busy = recover (fixture);
  g_assert_cmpuint (busy->len, ==, 0);
  g_assert_true (has_intent (fixture, grant));
  close (fd);

  healed = recover (fixture);
  g_assert_cmpuint (healed->len, ==, 1);
  g_assert_no_error (((KhRecovery *) g_ptr_array_index (healed, 0))->error);
  assert_current_pair (fixture, grant);
  g_assert_false (has_intent (fixture, grant));
}

/* A plain terminal refresh (no interruption) stores TikTok's own reason with the mark. */
static void
test_terminal_reason (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = authorize (fixture, KH_ACCOUNT_SELLER, NULL);
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (kh_sandbox_deauthorize (fixture->sandbox, kh_grant_get_open_id (grant)), ==, 1);
  tokens = refresh (fixture, grant, TRUE, &error);
  g_assert_error (error, KH_API_ERROR, 105001);
  reread = stored_grant (fixture, grant);
  g_assert_cmpint (kh_grant_get_stored_status (reread), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_nonnull (strstr (kh_grant_get_status_reason (reread), "105001"));
  g_assert_null (strstr (kh_grant_get_status_reason (reread), "interrupted"));
  g_assert_false (has_intent (fixture, grant));
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/broker/needs-refresh", test_needs_refresh);
  g_test_add_func ("/keyhold/broker/explain-status", test_explain_status);
  g_test_add_func ("/keyhold/broker/renewal-pack", test_renewal_pack);

#define ADD(path, func) \
  g_test_add ("/keyhold/broker/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("fast-path", test_fast_path);
  ADD ("peek", test_peek);
  ADD ("refresh-when-needed", test_refresh_when_needed);
  ADD ("answered", test_answered);
  ADD ("single-flight", test_single_flight);
  ADD ("adopt-stored", test_adopt_stored);
  ADD ("terminal", test_terminal);
  ADD ("advertiser-never-expires", test_advertiser_never_expires);
  ADD ("expiry-arithmetic", test_expiry_arithmetic);
  ADD ("tt-user-lifetimes", test_tt_user_lifetimes);
  ADD ("revoke", test_revoke);
  ADD ("advertiser-drift", test_advertiser_drift);
  ADD ("not-found", test_not_found);
  ADD ("refresh-many", test_refresh_many);
  ADD ("intent-spans-refresh", test_intent_spans_refresh);
  ADD ("recover-within-grace", test_recover_within_grace);
  ADD ("recover-after-grace", test_recover_after_grace);
  ADD ("recover-transient-and-live", test_recover_transient_and_live);
  ADD ("terminal-reason", test_terminal_reason);
#undef ADD

  for (guint i = 0; i < G_N_ELEMENTS (fault_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/keyhold/broker/fault/%s", fault_cases[i].name);

      g_test_add (path, Fixture, &fault_cases[i], fixture_set_up, test_fault, fixture_tear_down);
    }

  return g_test_run ();
}
