/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-history.c: the history record (its JSON form both ways, the field-by-field checks, the
 * sentences). */

#include "config.h"

#include "kh-error.h"
#include "kh-grant.h"
#include "kh-history.h"
#include "kh-json.h"
#include "kh-test-util.h"
#include "kh-util.h"

#include <string.h>

#define AT "2026-12-04T21:00:00Z"
#define AT_UNIX G_GINT64_CONSTANT (1796418000)

static KhGrant *
make_grant (void)
{
  KhGrant *grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "main-app");

  kh_grant_set_client_label (grant, "Acme");
  kh_grant_set_display_name (grant, "Acme Shop");
  return grant;
}

/* ---- the record ----------------------------------------------------------------------------- */

static void
test_entry_new_from_grant (void)
{
  g_autoptr(KhGrant) grant = make_grant ();
  g_autoptr(KhHistoryEntry) entry = NULL;
  gint64 before = kh_now ();

  entry = kh_history_entry_new (KH_HISTORY_REFRESHED, grant);
  g_assert_cmpint (kh_history_entry_get_at (entry), >=, before);
  g_assert_cmpint (kh_history_entry_get_at (entry), <=, kh_now ());
  g_assert_cmpstr (kh_history_entry_get_action (entry), ==, "refreshed");
  g_assert_cmpstr (kh_history_entry_get_grant_id (entry), ==, kh_grant_get_id (grant));
  g_assert_cmpstr (kh_history_entry_get_type_id (entry), ==, "seller");
  g_assert_cmpstr (kh_history_entry_get_client (entry), ==, "Acme");
  g_assert_cmpstr (kh_history_entry_get_actor (entry), ==, g_get_user_name ());
  g_assert_cmpstr (kh_history_entry_get_machine (entry), ==, g_get_host_name ());
  g_assert_null (kh_history_entry_get_detail (entry));
}

static void
test_entry_clock (void)
{
  g_autoptr(KhGrant) grant = make_grant ();
  g_autoptr(KhHistoryEntry) entry = NULL;
  gint64 real = kh_now ();

  /* `at` comes from kh_now, so tests that move the clock move the history too. */
  kh_set_clock_offset (86400);
  entry = kh_history_entry_new (KH_HISTORY_REMOVED, grant);
  kh_set_clock_offset (0);
  g_assert_cmpint (kh_history_entry_get_at (entry), >=, real + 86400);
}

static void
test_entry_to_json (void)
{
  g_autoptr(KhHistoryEntry) entry = NULL;
  g_autofree char *line = NULL;
  const char * const scopes[] = { "seller.order.info", "seller.product.basic", NULL };

  entry = kh_history_entry_new_full (AT_UNIX, KH_HISTORY_AUTHORIZED, "0123abcd", "seller", "Acme",
                                     "alice", "alice-laptop");
  kh_history_entry_set_detail_string (entry, "flow", "browser");
  kh_history_entry_set_detail_strv (entry, "scopes", scopes);
  line = kh_history_entry_to_json (entry);
  g_assert_cmpstr (line, ==,
                   "{\"v\":1,\"at\":\"" AT "\",\"action\":\"authorized\",\"grant\":\"0123abcd\","
                   "\"type\":\"seller\",\"client\":\"Acme\",\"actor\":\"alice\","
                   "\"machine\":\"alice-laptop\",\"detail\":{\"flow\":\"browser\","
                   "\"scopes\":[\"seller.order.info\",\"seller.product.basic\"]}}");
  g_assert_null (strchr (line, '\n'));
}

/* Every action, with its detail, reads back to the same line. */
static const char *valid_lines[] = {
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"authorized\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"flow\":\"quick-connect\","
  "\"scopes\":[]}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"g1\",\"type\":\"advertiser\","
  "\"client\":\"Acme\",\"actor\":\"a\",\"machine\":\"m\",\"detail\":{}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refresh-failed\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"code\":105002,"
  "\"message\":\"the refresh token expired\"}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"accounts-changed\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"added\":[{\"id\":\"7001\","
  "\"name\":\"New Shop\"}],\"removed\":[{\"id\":\"7000\",\"name\":null}]}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"renewal-copied\",\"grant\":\"g1\",\"type\":\"partner\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"revoked\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"manual\":true}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"removed\",\"grant\":\"g1\",\"type\":null,"
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"token-read\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"command\":\"token\"}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"exported\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"format\":\"mcp-shops\","
  "\"stale_at\":\"2026-12-05T01:00:00Z\"}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"exported\",\"grant\":\"g1\",\"type\":\"advertiser\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"format\":\"env\","
  "\"stale_at\":null}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"shared\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"unshared\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"access-changed\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"role\":\"member\","
  "\"clients\":[\"Acme\",\"Beta\"]}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"needs-reauth\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"reason\":\"refresh token "
  "expired\"}}",
  "{\"v\":1,\"at\":\"" AT "\",\"action\":\"rolled-up\",\"grant\":\"g1\",\"type\":\"seller\","
  "\"client\":null,\"actor\":\"a\",\"machine\":\"m\",\"detail\":{\"since\":\"2026-01-01T00:00:00Z\","
  "\"until\":\"" AT "\",\"counts\":{\"refreshed\":12,\"token-read\":40}}}",
};

static void
test_entry_round_trip (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (valid_lines); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhHistoryEntry) entry = kh_history_entry_from_json (valid_lines[i], &error);
      g_autofree char *back = NULL;
      g_autofree char *sentence = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (entry);
      g_assert_cmpint (kh_history_entry_get_at (entry), ==, AT_UNIX);
      back = kh_history_entry_to_json (entry);
      g_assert_cmpstr (back, ==, valid_lines[i]);
      sentence = kh_history_entry_describe (entry);
      g_assert_nonnull (sentence);
      g_assert_cmpuint (strlen (sentence), >, 0);
    }
}

static void
test_entry_absent_optional (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhHistoryEntry) entry = NULL;

  /* type, client and an empty detail may be left out altogether. */
  entry = kh_history_entry_from_json ("{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\","
                                      "\"grant\":\"g1\",\"actor\":\"a\",\"machine\":\"m\"}",
                                      &error);
  g_assert_no_error (error);
  g_assert_null (kh_history_entry_get_type_id (entry));
  g_assert_null (kh_history_entry_get_client (entry));
  g_assert_null (kh_history_entry_get_detail (entry));
}

#define BASE_HEAD "{\"v\":1,\"at\":\"" AT "\",\"grant\":\"g1\",\"actor\":\"a\",\"machine\":\"m\","

static const struct {
  const char *line;
  const char *field;     /* named in the error */
} invalid_lines[] = {
  { "", "JSON" },
  { "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refre", "JSON" },
  { "[1,2]", "record" },
  { "{\"v\":2,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"g1\",\"actor\":\"a\","
    "\"machine\":\"m\"}", "v" },
  { "{\"v\":\"1\",\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"g1\",\"actor\":\"a\","
    "\"machine\":\"m\"}", "v" },
  { "{\"v\":1,\"at\":\"yesterday\",\"action\":\"refreshed\",\"grant\":\"g1\",\"actor\":\"a\","
    "\"machine\":\"m\"}", "at" },
  { "{\"v\":1,\"at\":1796418000,\"action\":\"refreshed\",\"grant\":\"g1\",\"actor\":\"a\","
    "\"machine\":\"m\"}", "at" },
  { BASE_HEAD "\"action\":\"hacked\"}", "action" },
  { BASE_HEAD "\"action\":\"Refreshed\"}", "action" },
  { "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"g 1\",\"actor\":\"a\","
    "\"machine\":\"m\"}", "grant" },
  { "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"\",\"actor\":\"a\","
    "\"machine\":\"m\"}", "grant" },
  { "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":7,\"actor\":\"a\","
    "\"machine\":\"m\"}", "grant" },
  { BASE_HEAD "\"action\":\"refreshed\",\"type\":\"shopper\"}", "type" },
  { BASE_HEAD "\"action\":\"refreshed\",\"client\":[\"x\"]}", "client" },
  { BASE_HEAD "\"action\":\"refreshed\",\"client\":\"two\\nlines\"}", "client" },
  { "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"g1\",\"machine\":\"m\"}",
    "actor" },
  { "{\"v\":1,\"at\":\"" AT "\",\"action\":\"refreshed\",\"grant\":\"g1\",\"actor\":\"a\","
    "\"machine\":\"\"}", "machine" },
  /* A member the record does not define: refused, whatever it holds. */
  { BASE_HEAD "\"action\":\"refreshed\",\"access_token\":\"TTP_x\"}", "access_token" },
  { BASE_HEAD "\"action\":\"refreshed\",\"detail\":[]}", "detail" },
  /* A detail member the action does not define, e.g. a token smuggled into a refresh. */
  { BASE_HEAD "\"action\":\"refreshed\",\"detail\":{\"access_token\":\"TTP_x\"}}", "detail" },
  { BASE_HEAD "\"action\":\"token-read\",\"detail\":{\"command\":\"token\",\"token\":\"TTP_x\"}}",
    "detail" },
  { BASE_HEAD "\"action\":\"authorized\",\"detail\":{\"flow\":\"magic\",\"scopes\":[]}}", "flow" },
  { BASE_HEAD "\"action\":\"authorized\",\"detail\":{\"flow\":\"link\"}}", "scopes" },
  { BASE_HEAD "\"action\":\"authorized\"}", "flow" },
  { BASE_HEAD "\"action\":\"authorized\",\"detail\":{\"flow\":\"link\",\"scopes\":[1]}}",
    "scopes" },
  { BASE_HEAD "\"action\":\"refresh-failed\",\"detail\":{\"code\":-1,\"message\":\"x\"}}", "code" },
  { BASE_HEAD "\"action\":\"refresh-failed\",\"detail\":{\"code\":\"105002\",\"message\":\"x\"}}",
    "code" },
  { BASE_HEAD "\"action\":\"refresh-failed\",\"detail\":{\"code\":1}}", "message" },
  { BASE_HEAD "\"action\":\"accounts-changed\",\"detail\":{\"added\":[{\"id\":\"1\","
    "\"cipher\":\"GCP_x\"}],\"removed\":[]}}", "added" },
  { BASE_HEAD "\"action\":\"accounts-changed\",\"detail\":{\"added\":[{\"name\":\"x\"}],"
    "\"removed\":[]}}", "added" },
  { BASE_HEAD "\"action\":\"accounts-changed\",\"detail\":{\"added\":[],\"removed\":{}}}",
    "removed" },
  { BASE_HEAD "\"action\":\"revoked\",\"detail\":{\"manual\":\"yes\"}}", "manual" },
  { BASE_HEAD "\"action\":\"token-read\",\"detail\":{\"command\":\"rm -rf\"}}", "command" },
  { BASE_HEAD "\"action\":\"exported\",\"detail\":{\"format\":\"csv\",\"stale_at\":null}}",
    "format" },
  { BASE_HEAD "\"action\":\"exported\",\"detail\":{\"format\":\"env\",\"stale_at\":\"soon\"}}",
    "stale_at" },
  { BASE_HEAD "\"action\":\"rolled-up\",\"detail\":{\"since\":\"" AT "\",\"until\":\"" AT "\","
    "\"counts\":{\"stolen\":1}}}", "counts" },
  { BASE_HEAD "\"action\":\"rolled-up\",\"detail\":{\"since\":\"" AT "\",\"until\":\"" AT "\","
    "\"counts\":{\"refreshed\":-3}}}", "counts" },
};

static void
test_entry_invalid (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (invalid_lines); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhHistoryEntry) entry = kh_history_entry_from_json (invalid_lines[i].line, &error);

      g_test_message ("line %" G_GSIZE_FORMAT ": %s", i, invalid_lines[i].line);
      g_assert_null (entry);
      g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
      g_assert_nonnull (strstr (error->message, invalid_lines[i].field));
      /* The error names the field, never the value (which might be a secret). */
      g_assert_null (strstr (error->message, "TTP_x"));
      g_assert_null (strstr (error->message, "GCP_x"));
    }
}

static void
test_entry_describe (void)
{
  static const struct {
    const char *line;
    const char *sentence;
  } cases[] = {
    { BASE_HEAD "\"action\":\"refreshed\"}", "Tokens refreshed." },
    { BASE_HEAD "\"action\":\"authorized\",\"detail\":{\"flow\":\"link\",\"scopes\":[\"a.b\","
      "\"c.d\"]}}", "Authorized through a link sent to the account holder. Scopes granted: a.b, c.d." },
    { BASE_HEAD "\"action\":\"authorized\",\"detail\":{\"flow\":\"paste\",\"scopes\":[]}}",
      "Authorized from a pasted callback URL." },
    { BASE_HEAD "\"action\":\"refresh-failed\",\"detail\":{\"code\":105002,"
      "\"message\":\"the refresh token expired\"}}",
      "Refresh failed with TikTok code 105002: the refresh token expired." },
    { BASE_HEAD "\"action\":\"refresh-failed\",\"detail\":{\"code\":0,"
      "\"message\":\"could not connect\"}}", "Refresh failed: could not connect." },
    { BASE_HEAD "\"action\":\"accounts-changed\",\"detail\":{\"added\":[{\"id\":\"7001\","
      "\"name\":\"New Shop\"}],\"removed\":[{\"id\":\"7000\",\"name\":null}]}}",
      "Shops or advertisers changed: added New Shop (7001); removed 7000." },
    { BASE_HEAD "\"action\":\"accounts-changed\",\"detail\":{\"added\":[],"
      "\"removed\":[{\"id\":\"7000\",\"name\":\"Old\"}]}}",
      "Shops or advertisers removed: Old (7000)." },
    { BASE_HEAD "\"action\":\"renewal-copied\"}", "Renewal pack copied." },
    { BASE_HEAD "\"action\":\"revoked\",\"detail\":{\"manual\":false}}", "Revoked at TikTok." },
    { BASE_HEAD "\"action\":\"removed\"}", "Removed from Keyhold." },
    { BASE_HEAD "\"action\":\"token-read\",\"detail\":{\"command\":\"token\"}}",
      "Access token handed to a script by “keyhold-cli token”." },
    { BASE_HEAD "\"action\":\"token-read\",\"detail\":{\"command\":\"copy\"}}",
      "Access token copied to the clipboard." },
    { BASE_HEAD "\"action\":\"exported\",\"detail\":{\"format\":\"n8n\",\"stale_at\":null}}",
      "Exported as an n8n credential." },
    { BASE_HEAD "\"action\":\"shared\"}", "Shared with the team." },
    { BASE_HEAD "\"action\":\"needs-reauth\",\"detail\":{\"reason\":\"revoked by the seller\"}}",
      "Needs re-authorization: revoked by the seller." },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhHistoryEntry) entry = kh_history_entry_from_json (cases[i].line, &error);
      g_autofree char *sentence = NULL;

      g_assert_no_error (error);
      sentence = kh_history_entry_describe (entry);
      g_assert_cmpstr (sentence, ==, cases[i].sentence);
    }
}

static void
test_entry_describe_times (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhHistoryEntry) exported = NULL;
  g_autoptr(KhHistoryEntry) rolled = NULL;
  g_autofree char *sentence = NULL;

  exported = kh_history_entry_from_json (BASE_HEAD "\"action\":\"exported\",\"detail\":"
                                         "{\"format\":\"mcp-shops\",\"stale_at\":\"" AT "\"}}",
                                         &error);
  g_assert_no_error (error);
  sentence = kh_history_entry_describe (exported);
  g_assert_true (g_str_has_prefix (sentence, "Exported as an MCP shops.json; the copy goes stale "
                                             "at 2026-12-0"));
  g_clear_pointer (&sentence, g_free);

  rolled = kh_history_entry_from_json (BASE_HEAD "\"action\":\"rolled-up\",\"detail\":"
                                       "{\"since\":\"2026-01-01T12:00:00Z\",\"until\":\"" AT "\","
                                       "\"counts\":{\"refreshed\":12,\"token-read\":30}}}",
                                       &error);
  g_assert_no_error (error);
  sentence = kh_history_entry_describe (rolled);
  g_assert_true (g_str_has_prefix (sentence, "42 earlier events from 2026-01-01"));
}

static void
test_entry_boxed (void)
{
  g_autoptr(KhHistoryEntry) entry = kh_history_entry_new_full (AT_UNIX, KH_HISTORY_SHARED, "g1",
                                                               NULL, NULL, "a", "m");
  GValue value = G_VALUE_INIT;

  g_assert_true (G_TYPE_IS_BOXED (KH_TYPE_HISTORY_ENTRY));
  g_value_init (&value, KH_TYPE_HISTORY_ENTRY);
  g_value_set_boxed (&value, entry);
  g_assert_true (g_value_get_boxed (&value) == entry);
  g_value_unset (&value);
  g_assert_true (kh_history_action_is_known ("exported"));
  g_assert_false (kh_history_action_is_known ("exfiltrated"));
  g_assert_false (kh_history_action_is_known (NULL));
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/history/entry/new-from-grant", test_entry_new_from_grant);
  g_test_add_func ("/keyhold/history/entry/clock", test_entry_clock);
  g_test_add_func ("/keyhold/history/entry/to-json", test_entry_to_json);
  g_test_add_func ("/keyhold/history/entry/round-trip", test_entry_round_trip);
  g_test_add_func ("/keyhold/history/entry/absent-optional", test_entry_absent_optional);
  g_test_add_func ("/keyhold/history/entry/invalid", test_entry_invalid);
  g_test_add_func ("/keyhold/history/entry/describe", test_entry_describe);
  g_test_add_func ("/keyhold/history/entry/describe-times", test_entry_describe_times);
  g_test_add_func ("/keyhold/history/entry/boxed", test_entry_boxed);

  return g_test_run ();
}
