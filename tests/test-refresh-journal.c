/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-refresh-journal.c: the durable intents of refreshes in flight: written whole with no
 * secret in them, found again by a later process (interrupted: same token), told apart from an
 * intent for another token, listed, removed, and explained as a needs-reauth reason. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kh-test-util.h"

#include "kh-error.h"
#include "kh-refresh-journal.h"
#include "kh-util.h"

#define GRANT_A "0123456789abcdef0123456789abcdef"
#define GRANT_B "fedcba9876543210fedcba9876543210"
#define GRANT_C "5555555555555555aaaaaaaaaaaaaaaa"
#define TOKEN_1 "refresh-token-one-3f9a8b7c6d5e4f30"
#define TOKEN_2 "refresh-token-two-1a2b3c4d5e6f7a8b"

static KhRefreshJournal *
new_journal (void)
{
  static guint counter;
  g_autofree char *name = g_strdup_printf ("journal-%u", counter++);
  g_autofree char *dir = g_build_filename (kh_test_get_tmpdir (), name, "refresh-intents", NULL);

  return kh_refresh_journal_new (dir);
}

static char *
read_intent_file (KhRefreshJournal *journal,
                  const char       *grant_id)
{
  g_autofree char *file = g_strconcat (grant_id, ".intent", NULL);
  g_autofree char *path = g_build_filename (kh_refresh_journal_get_dir (journal), file, NULL);
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  return text;
}

static void
test_begin_end (void)
{
  g_autoptr(KhRefreshJournal) journal = new_journal ();
  g_autoptr(KhRefreshIntent) interrupted = NULL;
  g_autoptr(KhRefreshIntent) intent = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ids = NULL;
  g_autofree char *text = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *file = g_strconcat (GRANT_A, ".intent", NULL);
  g_autofree char *path = g_build_filename (kh_refresh_journal_get_dir (journal), file, NULL);
  GStatBuf st;

  /* No folder yet: nothing in flight. */
  ids = kh_refresh_journal_list (journal, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (ids), ==, 0);
  g_clear_pointer (&ids, g_strfreev);
  g_assert_null (kh_refresh_journal_lookup (journal, GRANT_A, &error));
  g_assert_no_error (error);

  g_assert_true (kh_refresh_journal_begin (journal, GRANT_A, TOKEN_1, &interrupted, &error));
  g_assert_no_error (error);
  g_assert_null (interrupted);

  /* Only the owner may read it, and it holds no secret. */
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  text = read_intent_file (journal, GRANT_A);
  g_assert_null (strstr (text, TOKEN_1));
  fingerprint = kh_refresh_journal_fingerprint (TOKEN_1);
  g_assert_cmpuint (strlen (fingerprint), ==, 16);
  g_assert_nonnull (strstr (text, fingerprint));
  g_assert_null (strstr (TOKEN_1, fingerprint));

  intent = kh_refresh_journal_lookup (journal, GRANT_A, &error);
  g_assert_no_error (error);
  g_assert_nonnull (intent);
  g_assert_cmpstr (intent->grant_id, ==, GRANT_A);
  g_assert_cmpstr (intent->fingerprint, ==, fingerprint);
  g_assert_cmpint (intent->pid, ==, getpid ());
  g_assert_cmpstr (intent->host, ==, g_get_host_name ());
  g_assert_cmpint (ABS (intent->started_at - kh_now ()), <=, 2);
  g_assert_cmpint (intent->first_started_at, ==, intent->started_at);

  ids = kh_refresh_journal_list (journal, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (ids), ==, 1);
  g_assert_cmpstr (ids[0], ==, GRANT_A);
  g_clear_pointer (&ids, g_strfreev);

  g_assert_true (kh_refresh_journal_end (journal, GRANT_A, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  /* Ending twice is fine: the first end may have happened before a crash. */
  g_assert_true (kh_refresh_journal_end (journal, GRANT_A, &error));
  g_assert_no_error (error);
  ids = kh_refresh_journal_list (journal, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (ids), ==, 0);
}

/* An intent left for the same token is an interrupted refresh (whoever begins now holds the
 * grant's lock, so its writer is gone); one for another token is not. */
static void
test_interrupted (void)
{
  g_autoptr(KhRefreshJournal) journal = new_journal ();
  g_autoptr(KhRefreshIntent) interrupted = NULL;
  g_autoptr(KhRefreshIntent) again = NULL;
  g_autoptr(KhRefreshIntent) other = NULL;
  g_autoptr(KhRefreshIntent) now = NULL;
  g_autoptr(GError) error = NULL;
  gint64 first;

  kh_set_clock_offset (-3600);
  g_assert_true (kh_refresh_journal_begin (journal, GRANT_A, TOKEN_1, NULL, &error));
  g_assert_no_error (error);
  first = kh_now ();
  kh_set_clock_offset (0);

  g_assert_true (kh_refresh_journal_begin (journal, GRANT_A, TOKEN_1, &interrupted, &error));
  g_assert_no_error (error);
  g_assert_nonnull (interrupted);
  g_assert_cmpint (ABS (interrupted->first_started_at - first), <=, 2);

  /* A third attempt still dates the trouble from the first one. */
  g_assert_true (kh_refresh_journal_begin (journal, GRANT_A, TOKEN_1, &again, &error));
  g_assert_no_error (error);
  g_assert_nonnull (again);
  g_assert_cmpint (again->first_started_at, ==, interrupted->first_started_at);
  now = kh_refresh_journal_lookup (journal, GRANT_A, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ABS (now->started_at - kh_now ()), <=, 2);
  g_assert_cmpint (now->first_started_at, ==, interrupted->first_started_at);

  /* The keyring moved on to another token (the first refresh stored it, then the end was
   * lost): this refresh starts afresh. */
  g_assert_true (kh_refresh_journal_begin (journal, GRANT_A, TOKEN_2, &other, &error));
  g_assert_no_error (error);
  g_assert_null (other);
}

/* Only whole intents of grant ids count: temp files of a write cut short, foreign files and
 * damaged intents never break anything. */
static void
test_list_and_damage (void)
{
  g_autoptr(KhRefreshJournal) journal = new_journal ();
  const char *dir = kh_refresh_journal_get_dir (journal);
  g_autoptr(KhRefreshIntent) interrupted = NULL;
  g_autoptr(KhRefreshIntent) intent = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ids = NULL;
  g_autofree char *temp = g_build_filename (dir, GRANT_C ".intent.QX81ZA", NULL);
  g_autofree char *foreign = g_build_filename (dir, "notes.txt", NULL);
  g_autofree char *odd = g_build_filename (dir, "not a grant.intent", NULL);
  g_autofree char *damaged = g_build_filename (dir, GRANT_B ".intent", NULL);

  g_assert_true (kh_refresh_journal_begin (journal, GRANT_A, TOKEN_1, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (temp, "{\"version\":1", -1, &error));
  g_assert_true (g_file_set_contents (foreign, "hello", -1, &error));
  g_assert_true (g_file_set_contents (odd, "{}", -1, &error));
  g_assert_true (g_file_set_contents (damaged, "{\"version\":1,\"grant\":", -1, &error));
  g_assert_no_error (error);

  ids = kh_refresh_journal_list (journal, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (ids), ==, 3);
  g_assert_cmpstr (ids[0], ==, GRANT_A);
  g_assert_cmpstr (ids[1], ==, GRANT_C);
  g_assert_cmpstr (ids[2], ==, GRANT_B);

  /* A write a kill cut short left only its temp file: no intent, and ending clears it. */
  g_assert_null (kh_refresh_journal_lookup (journal, GRANT_C, &error));
  g_assert_no_error (error);
  g_assert_true (kh_refresh_journal_end (journal, GRANT_C, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (temp, G_FILE_TEST_EXISTS));

  intent = kh_refresh_journal_lookup (journal, GRANT_B, &error);
  g_assert_null (intent);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_clear_error (&error);

  /* A refresh of that grant replaces the damaged intent with its own. */
  g_assert_true (kh_refresh_journal_begin (journal, GRANT_B, TOKEN_2, &interrupted, &error));
  g_assert_no_error (error);
  g_assert_null (interrupted);
  intent = kh_refresh_journal_lookup (journal, GRANT_B, &error);
  g_assert_no_error (error);
  g_assert_nonnull (intent);

  /* Names that are no grant id never reach the disk. */
  g_assert_null (kh_refresh_journal_lookup (journal, "../index", &error));
  g_assert_no_error (error);
}

static void
test_explain (void)
{
  KhRefreshIntent interrupted = { (char *) GRANT_A, (char *) "0011223344556677", 0, 0, 1, NULL };
  g_autoptr(GError) spent = kh_api_error_new (36004005, "no related auth record", NULL);
  g_autoptr(GError) spent_tt = kh_api_error_new (40107, NULL, NULL);
  g_autoptr(GError) deauthorized = kh_api_error_new (105001, NULL, NULL);
  g_autofree char *when = NULL;
  g_autofree char *text = NULL;

  interrupted.first_started_at = 1700000000;
  when = kh_iso8601_from_unix (1700000000);

  /* Interrupted, and TikTok no longer takes the token: that is what happened, say so. */
  text = kh_refresh_journal_explain (&interrupted, spent);
  g_assert_nonnull (strstr (text, "interrupted after TikTok had rotated the refresh token"));
  g_assert_nonnull (strstr (text, when));
  g_assert_nonnull (strstr (text, "36004005"));
  g_assert_nonnull (strstr (text, "authorize again"));
  g_clear_pointer (&text, g_free);
  text = kh_refresh_journal_explain (&interrupted, spent_tt);
  g_assert_nonnull (strstr (text, "interrupted"));
  g_assert_nonnull (strstr (text, "40107"));
  g_clear_pointer (&text, g_free);

  /* The seller cancelled: the interruption is not why, TikTok's error is. */
  text = kh_refresh_journal_explain (&interrupted, deauthorized);
  g_assert_null (strstr (text, "interrupted"));
  g_assert_nonnull (strstr (text, "105001"));
  g_clear_pointer (&text, g_free);

  /* No interruption: TikTok's error alone. */
  text = kh_refresh_journal_explain (NULL, spent);
  g_assert_null (strstr (text, "interrupted"));
  g_assert_nonnull (strstr (text, "36004005"));
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/refresh-journal/begin-end", test_begin_end);
  g_test_add_func ("/keyhold/refresh-journal/interrupted", test_interrupted);
  g_test_add_func ("/keyhold/refresh-journal/list-and-damage", test_list_and_damage);
  g_test_add_func ("/keyhold/refresh-journal/explain", test_explain);

  return g_test_run ();
}
