/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-history.c: the history record (its JSON form both ways, the field-by-field checks, the
 * sentences). */

#include "config.h"

#include "kh-error.h"
#include "kh-grant.h"
#include "kh-history.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-test-util.h"
#include "kh-util.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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


/* ---- the history file ----------------------------------------------------------------------- */

static char *
log_path (const char *name)
{
  return g_build_filename (kh_test_get_tmpdir (), name, NULL);
}

static KhHistoryEntry *
token_read (const char *grant_id,
            guint       seq,
            gint64      at)
{
  KhHistoryEntry *entry = kh_history_entry_new_full (at, KH_HISTORY_TOKEN_READ, grant_id,
                                                     "seller", "Acme", "a", "m");
  g_autofree char *command = g_strdup_printf ("seq-%u", seq);

  kh_history_entry_set_detail_string (entry, "command", command);
  return entry;
}

static guint
entry_seq (KhHistoryEntry *entry)
{
  const char *command = kh_json_get_string (kh_history_entry_get_detail (entry), "command");

  g_assert_true (g_str_has_prefix (command, "seq-"));
  return (guint) g_ascii_strtoull (command + 4, NULL, 10);
}

static void
test_log_append_read (void)
{
  g_autofree char *path = log_path ("append.jsonl");
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GPtrArray) one = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  struct stat st;

  /* A missing file is an empty history. */
  all = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (all->len, ==, 0);
  g_clear_pointer (&all, g_ptr_array_unref);

  for (guint i = 0; i < 6; i++)
    {
      g_autoptr(KhHistoryEntry) entry = token_read (i % 2 ? "g-odd" : "g-even", i, AT_UNIX + i);

      g_assert_true (kh_history_log_append (path, entry, 0, &error));
      g_assert_no_error (error);
    }

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_assert_cmpuint (strlen (text), >, 0);
  g_assert_true (g_str_has_suffix (text, "}\n"));

  all = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (all->len, ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpuint (entry_seq (g_ptr_array_index (all, i)), ==, i);

  one = kh_history_log_read (path, "g-odd", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (one->len, ==, 3);
  g_assert_cmpuint (entry_seq (g_ptr_array_index (one, 2)), ==, 5);
}

static void
test_log_refuses_secrets (void)
{
  g_autofree char *path = log_path ("secrets.jsonl");
  g_autoptr(KhHistoryEntry) entry = kh_history_entry_new_full (AT_UNIX, KH_HISTORY_REFRESHED, "g1",
                                                               "seller", NULL, "a", "m");
  g_autoptr(GError) error = NULL;

  /* A detail member `refreshed` does not define never reaches the disk. */
  kh_history_entry_set_detail_string (entry, "access_token", "TTP_secret_value");
  g_assert_false (kh_history_log_append (path, entry, 0, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_null (strstr (error->message, "TTP_secret_value"));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_log_torn_lines (void)
{
  g_autofree char *path = log_path ("torn.jsonl");
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(KhHistoryEntry) later = NULL;
  char *line[4] = { NULL, };

  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(KhHistoryEntry) entry = token_read ("g1", i, AT_UNIX + i);

      line[i] = kh_history_entry_to_json (entry);
    }

  /* A whole line; a record torn by a crash that the next append continued on the same line;
   * garbage; a zero-filled block as a crash can leave; a whole line; a torn last line. */
  g_string_append_printf (text, "%s\n", line[0]);
  g_string_append_len (text, line[1], strlen (line[1]) / 2);
  g_string_append_printf (text, "%s\n", line[2]);
  g_string_append (text, "not json at all\n");
  g_string_append_len (text, "\0\0\0\0\0\0\0\0", 8);
  g_string_append (text, "\n");
  g_string_append_printf (text, "%s\n", line[3]);
  g_string_append_len (text, line[1], strlen (line[1]) - 3);
  g_assert_true (g_file_set_contents (path, text->str, text->len, NULL));

  entries = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 3);
  g_assert_cmpuint (entry_seq (g_ptr_array_index (entries, 0)), ==, 0);
  g_assert_cmpuint (entry_seq (g_ptr_array_index (entries, 1)), ==, 2);
  g_assert_cmpuint (entry_seq (g_ptr_array_index (entries, 2)), ==, 3);
  g_clear_pointer (&entries, g_ptr_array_unref);

  /* An append after a torn last line: the torn record is lost, the new one is not. */
  later = token_read ("g1", 9, AT_UNIX + 9);
  g_assert_true (kh_history_log_append (path, later, 0, &error));
  entries = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, 4);
  g_assert_cmpuint (entry_seq (g_ptr_array_index (entries, 3)), ==, 9);
  for (guint i = 0; i < G_N_ELEMENTS (line); i++)
    g_free (line[i]);
}

/* Sums what the history says happened to grant_id: plain records plus summarised counts. */
static gint64
count_events (GPtrArray  *entries,
              const char *grant_id,
              guint      *n_summaries)
{
  gint64 total = 0;

  *n_summaries = 0;
  for (guint i = 0; i < entries->len; i++)
    {
      KhHistoryEntry *entry = g_ptr_array_index (entries, i);

      if (g_strcmp0 (kh_history_entry_get_grant_id (entry), grant_id) != 0)
        continue;
      if (g_str_equal (kh_history_entry_get_action (entry), KH_HISTORY_ROLLED_UP))
        {
          gint64 n = 0;

          (*n_summaries)++;
          g_assert_true (kh_json_get_int (kh_json_get_object (kh_history_entry_get_detail (entry),
                                                              "counts"),
                                          KH_HISTORY_TOKEN_READ, &n));
          total += n;
        }
      else
        total++;
    }
  return total;
}

static void
test_log_roll_up (void)
{
  g_autofree char *path = log_path ("rollup.jsonl");
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  const gsize max_bytes = 8 * 1024;
  const char *grants[] = { "g-a", "g-b", "g-c" };
  KhHistoryEntry *first, *last;
  guint n_summaries;
  struct stat st;

  for (guint i = 0; i < 600; i++)
    {
      g_autoptr(KhHistoryEntry) entry = token_read (grants[i % 3], i, AT_UNIX + i);

      g_assert_true (kh_history_log_append (path, entry, max_bytes, &error));
      g_assert_no_error (error);
      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpint (st.st_size, <=, max_bytes + 512);
      g_assert_cmpint (st.st_mode & 0777, ==, 0600);
    }

  entries = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  for (guint g = 0; g < 3; g++)
    {
      /* Nothing lost: every event is a record or counted in the grant's one summary. */
      g_assert_cmpint (count_events (entries, grants[g], &n_summaries), ==, 200);
      g_assert_cmpuint (n_summaries, ==, 1);
    }

  /* Summaries first, from the very first record; then the newest records in order. */
  first = g_ptr_array_index (entries, 0);
  g_assert_cmpstr (kh_history_entry_get_action (first), ==, KH_HISTORY_ROLLED_UP);
  last = g_ptr_array_index (entries, entries->len - 1);
  g_assert_cmpuint (entry_seq (last), ==, 599);
  for (guint i = 0; i < 3; i++)
    {
      KhHistoryEntry *summary = g_ptr_array_index (entries, i);
      gint64 since;

      g_assert_true (kh_unix_from_iso8601 (kh_json_get_string (kh_history_entry_get_detail (summary),
                                                               "since"), &since));
      g_assert_cmpint (since, <, AT_UNIX + 3);
    }
  /* No temporary file is left beside it. */
  {
    g_autoptr(GDir) dir = g_dir_open (kh_test_get_tmpdir (), 0, NULL);
    const char *name;

    while ((name = g_dir_read_name (dir)) != NULL)
      g_assert_false (g_str_has_prefix (name, "rollup.jsonl."));
  }
}

/* ---- several processes at once -------------------------------------------------------------- */

#define CHILD_ARG "--append-child"
/* This test's own program (argv[0], not /proc/self/exe, which is valgrind under valgrind). */
static char *test_program;
#define N_CHILDREN 4
#define N_APPENDS 300

/* A child: appends N_APPENDS long records for grant "proc-<k>" as fast as it can. */
static int
append_child (const char *path,
              const char *k,
              const char *max_bytes)
{
  g_autofree char *grant_id = g_strdup_printf ("proc-%s", k);
  /* Long lines (over a kilobyte with the label): a torn or interleaved write would show. */
  g_autofree char *label = g_strnfill (1000, 'a' + (char) atoi (k));

  for (guint i = 0; i < N_APPENDS; i++)
    {
      g_autoptr(KhHistoryEntry) entry = kh_history_entry_new_full (AT_UNIX + i,
                                                                   KH_HISTORY_TOKEN_READ,
                                                                   grant_id, "seller", label,
                                                                   "a", "m");
      g_autofree char *command = g_strdup_printf ("seq-%u", i);
      g_autoptr(GError) error = NULL;

      kh_history_entry_set_detail_string (entry, "command", command);
      if (!kh_history_log_append (path, entry, g_ascii_strtoull (max_bytes, NULL, 10), &error))
        {
          g_printerr ("append failed: %s\n", error->message);
          return 1;
        }
    }
  return 0;
}

static void
run_children (const char *path,
              gsize       max_bytes)
{
  GSubprocess *children[N_CHILDREN];
  g_autofree char *max_text = g_strdup_printf ("%" G_GSIZE_FORMAT, max_bytes);

  for (guint k = 0; k < N_CHILDREN; k++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *k_text = g_strdup_printf ("%u", k);

      children[k] = g_subprocess_new (G_SUBPROCESS_FLAGS_NONE, &error, test_program, CHILD_ARG,
                                      path, k_text, max_text, NULL);
      g_assert_no_error (error);
    }
  for (guint k = 0; k < N_CHILDREN; k++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (g_subprocess_wait_check (children[k], NULL, &error));
      g_assert_no_error (error);
      g_object_unref (children[k]);
    }
}

static void
test_log_concurrent_appenders (void)
{
  g_autofree char *path = log_path ("concurrent.jsonl");
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  gsize len;

  run_children (path, 64 * 1024 * 1024);

  /* Every line whole: exactly N_CHILDREN * N_APPENDS records, none damaged. */
  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, N_CHILDREN * N_APPENDS + 1);
  g_assert_cmpstr (lines[N_CHILDREN * N_APPENDS], ==, "");
  entries = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (entries->len, ==, N_CHILDREN * N_APPENDS);

  /* Each process's records all there, in its own order. */
  for (guint k = 0; k < N_CHILDREN; k++)
    {
      g_autofree char *grant_id = g_strdup_printf ("proc-%u", k);
      guint next = 0;

      for (guint i = 0; i < entries->len; i++)
        {
          KhHistoryEntry *entry = g_ptr_array_index (entries, i);

          if (g_str_equal (kh_history_entry_get_grant_id (entry), grant_id))
            g_assert_cmpuint (entry_seq (entry), ==, next++);
        }
      g_assert_cmpuint (next, ==, N_APPENDS);
    }
}

static void
test_log_concurrent_roll_up (void)
{
  g_autofree char *path = log_path ("concurrent-rollup.jsonl");
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GError) error = NULL;
  guint n_summaries;

  /* Small enough that the children roll the file up many times while the others append: no
   * append may land in a file that a roll-up has replaced. */
  run_children (path, 96 * 1024);

  entries = kh_history_log_read (path, NULL, &error);
  g_assert_no_error (error);
  for (guint k = 0; k < N_CHILDREN; k++)
    {
      g_autofree char *grant_id = g_strdup_printf ("proc-%u", k);

      g_assert_cmpint (count_events (entries, grant_id, &n_summaries), ==, N_APPENDS);
      g_assert_cmpuint (n_summaries, <=, 1);
    }
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 5 && g_str_equal (argv[1], CHILD_ARG))
    return append_child (argv[2], argv[3], argv[4]);
  test_program = g_canonicalize_filename (argv[0], NULL);

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
  g_test_add_func ("/keyhold/history/log/append-read", test_log_append_read);
  g_test_add_func ("/keyhold/history/log/refuses-secrets", test_log_refuses_secrets);
  g_test_add_func ("/keyhold/history/log/torn-lines", test_log_torn_lines);
  g_test_add_func ("/keyhold/history/log/roll-up", test_log_roll_up);
  g_test_add_func ("/keyhold/history/log/concurrent-appenders", test_log_concurrent_appenders);
  g_test_add_func ("/keyhold/history/log/concurrent-roll-up", test_log_concurrent_roll_up);

  return g_test_run ();
}
