/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store-migration.c: a store of the earlier layout (one keyring item per grant, index of
 * format 1) moves into grant buckets on its first start, and stays whole when that start is
 * killed (SIGKILL) at random points: every grant readable after every kill, with the tokens it
 * had, and the move finished by a later start. Real gnome-keyring (see .ci/session). */

#include "config.h"

#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <signal.h>
#include <string.h>

#include "kh-error.h"
#include "kh-store.h"
#include "kh-test-keyring.h"
#include "kh-test-util.h"
#include "kh-util.h"

typedef struct {
  char      *data_dir;
  char      *store_name;
  GPtrArray *grants;   /* KhGrant, as the earlier Keyhold stored them */
  GPtrArray *tokens;   /* KhTokenSet, the tokens of each */
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autofree char *template = g_build_filename (kh_test_get_tmpdir (), "migrate-XXXXXX", NULL);

  fixture->data_dir = g_mkdtemp (g_steal_pointer (&template));
  g_assert_nonnull (fixture->data_dir);
  fixture->store_name = g_strdup_printf ("test-migrate-%d-%08x", (int) getpid (),
                                         g_random_int ());
  fixture->grants = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->tokens = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_token_set_free);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  secret_password_clear_sync (kh_store_get_item_schema (), NULL, &error,
                              "store", fixture->store_name, NULL);
  g_assert_no_error (error);
  g_ptr_array_unref (fixture->grants);
  g_ptr_array_unref (fixture->tokens);
  g_free (fixture->data_dir);
  g_free (fixture->store_name);
}

/* n grants in the earlier layout: an item each and an index of format 1. */
static void
seed_old_store (Fixture *fixture,
                guint    n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("Old shop %02u", i);
      KhGrant *grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "shop-app");
      KhTokenSet *tokens = kh_token_set_new ();

      kh_grant_set_display_name (grant, name);
      kh_grant_set_region (grant, "GB");
      tokens->access_token = g_strdup_printf ("ACCESS-old-%02u-%08x", i, g_random_int ());
      tokens->refresh_token = g_strdup_printf ("REFRESH-old-%02u-%08x", i, g_random_int ());
      tokens->access_expires_at = kh_now () + 7 * 24 * 3600;
      tokens->refresh_expires_at = kh_now () + 60 * 24 * 3600;
      kh_grant_set_expiries_from_tokens (grant, tokens);
      kh_test_write_grant_item (fixture->store_name, "1", grant, tokens);
      g_ptr_array_add (fixture->grants, grant);
      g_ptr_array_add (fixture->tokens, tokens);
    }
  kh_test_write_old_index (fixture->data_dir, fixture->store_name, fixture->grants);
}


/* Every grant is readable the way `keyhold-cli token` reads it (no store opened, so nothing
 * moves meanwhile), with the tokens it was given. */
static void
assert_all_readable (Fixture *fixture)
{
  for (guint i = 0; i < fixture->grants->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (fixture->grants, i);
      g_autoptr(KhGrant) peeked = NULL;
      g_autoptr(KhTokenSet) tokens = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_true (kh_store_peek_grant (fixture->store_name, kh_grant_get_id (grant), &peeked,
                                          &tokens, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (kh_grant_get_display_name (peeked), ==,
                       kh_grant_get_display_name (grant));
      kh_test_assert_tokens_equal (tokens, g_ptr_array_index (fixture->tokens, i));
    }
}

static int
index_version (Fixture *fixture)
{
  g_autofree char *path = g_build_filename (fixture->data_dir, fixture->store_name, "index.json",
                                            NULL);
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  g_assert_no_error (error);
  if (g_str_has_prefix (text, "{\"version\":1,"))
    return 1;
  if (g_str_has_prefix (text, "{\"version\":2,"))
    return 2;
  g_assert_not_reached ();
}

/* After the move: no per-grant item left, every grant in its bucket, listed and readable. */
static void
assert_moved (Fixture *fixture,
              guint    n_left)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GPtrArray) listed = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (index_version (fixture), ==, 2);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, n_left);
  g_assert_cmpuint (kh_test_count_bucket_grants (fixture->store_name), ==, fixture->grants->len);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grants"), <=, KH_TEST_N_BUCKETS);
  assert_all_readable (fixture);

  store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  listed = kh_store_list_grants (store);
  g_assert_cmpuint (listed->len, ==, fixture->grants->len);
  for (guint i = 0; i < fixture->grants->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (fixture->grants, i);
      g_autoptr(KhTokenSet) tokens = kh_store_load_tokens (store, kh_grant_get_id (grant),
                                                           &error);

      g_assert_no_error (error);
      kh_test_assert_tokens_equal (tokens, g_ptr_array_index (fixture->tokens, i));
    }
}

/* The first start moves every grant; a grant this Keyhold refreshed already (into its bucket)
 * keeps its newer tokens over its old item; a damaged old item stays where it is; reads work
 * before, during and after. */
static void
test_moves (Fixture       *fixture,
            gconstpointer  user_data)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  KhGrant *refreshed;
  KhTokenSet *newer;

  seed_old_store (fixture, 40);
  assert_all_readable (fixture);

  /* A refresh by this Keyhold during an earlier, interrupted start. */
  refreshed = g_ptr_array_index (fixture->grants, 7);
  newer = g_ptr_array_index (fixture->tokens, 7);
  g_free (newer->access_token);
  newer->access_token = g_strdup ("ACCESS-refreshed-since");
  newer->access_expires_at += 3600;
  kh_grant_set_expiries_from_tokens (refreshed, newer);
  kh_grant_touch (refreshed, kh_grant_get_updated_at (refreshed) + 10);
  kh_test_put_bucket_entry (fixture->store_name, refreshed, newer);
  assert_all_readable (fixture);

  /* Not one of ours to read: left alone. */
  secret_password_store_sync (kh_store_get_item_schema (), SECRET_COLLECTION_DEFAULT, "damaged",
                              "{\"v\":1,\"tokens\":", NULL, &error, "gen", 1,
                              "store", fixture->store_name, "kind", "grant",
                              "id", "00000000000000000000000000000bad", NULL);
  g_assert_no_error (error);

  store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  g_clear_object (&store);
  assert_moved (fixture, 1);
}

/* A store whose index is gone and whose grants are still in per-grant items: the rebuild lists
 * them and the move follows. */
static void
test_moves_after_rebuild (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;

  seed_old_store (fixture, 12);
  path = g_build_filename (fixture->data_dir, fixture->store_name, "index.json", NULL);
  g_assert_cmpint (g_unlink (path), ==, 0);
  store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  g_clear_object (&store);
  assert_moved (fixture, 0);
}

/* `keyhold-cli list` starts the move; it is killed (SIGKILL) at a random moment again and
 * again. After every kill each grant reads back with its own tokens; the index says format 2
 * only once no per-grant item is left; a last, uninterrupted start finishes the move. */
static void
test_killed (Fixture       *fixture,
             gconstpointer  user_data)
{
  g_autofree char *cli = kh_test_build_path ("src/cli/keyhold-cli");
  const char *argv[] = { cli, "list", "--json", NULL };
  guint killed = 0;
  guint finished = 0;

  seed_old_store (fixture, 60);

  /* The last round is not killed. */
  for (guint round = 0; round <= 16; round++)
    {
      g_autoptr(GSubprocessLauncher) launcher = NULL;
      g_autoptr(GSubprocess) child = NULL;
      g_autoptr(GError) error = NULL;
      guint delay_ms = (guint) g_test_rand_int_range (5, 400);

      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                            G_SUBPROCESS_FLAGS_STDERR_SILENCE);
      g_subprocess_launcher_setenv (launcher, "KEYHOLD_DATA_DIR", fixture->data_dir, TRUE);
      g_subprocess_launcher_setenv (launcher, "KEYHOLD_STORE", fixture->store_name, TRUE);
      g_subprocess_launcher_set_child_setup (launcher, kh_test_die_with_parent, NULL, NULL);
      child = g_subprocess_launcher_spawnv (launcher, argv, &error);
      g_assert_no_error (error);
      if (round < 16)
        {
          g_usleep (delay_ms * 1000);
          g_subprocess_send_signal (child, SIGKILL);
        }
      g_assert_true (g_subprocess_wait (child, NULL, &error));
      g_assert_no_error (error);
      if (g_subprocess_get_if_signaled (child))
        killed++;
      else
        {
          g_assert_cmpint (g_subprocess_get_exit_status (child), ==, 0);
          finished++;
        }

      assert_all_readable (fixture);
      /* Format 2 means moved: never while an old item is left. */
      if (index_version (fixture) == 2)
        g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, 0);
    }
  g_test_message ("%u starts killed, %u finished", killed, finished);
  g_assert_cmpuint (killed, >, 0);

  assert_moved (fixture, 0);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/keyhold/store-migration/" path, Fixture, NULL, fixture_setup, func, \
              fixture_teardown)

  ADD ("moves", test_moves);
  ADD ("moves-after-rebuild", test_moves_after_rebuild);
  ADD ("killed", test_killed);

#undef ADD

  return g_test_run ();
}
