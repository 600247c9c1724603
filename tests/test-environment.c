/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-environment.c: Flatpak detection, the secret backend and its file, the description of
 * where secrets are, and "forget all" against a real Secret Service (.ci/session). */

#include "config.h"

#include <libsecret/secret.h>
#include <string.h>
#include <unistd.h>

#include "kh-environment.h"
#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-test-pg.h"
#include "kh-test-util.h"
#include "kh-util.h"

/* The store's schema, to plant and count items behind the store's back. */
#define test_schema (*kh_store_get_item_schema ())

static char *
new_data_dir (void)
{
  g_autofree char *template = g_build_filename (kh_test_get_tmpdir (), "data-XXXXXX", NULL);
  char *dir = g_mkdtemp (g_steal_pointer (&template));

  g_assert_nonnull (dir);
  return dir;
}

static char *
new_store_name (void)
{
  return g_strdup_printf ("test-environment-%d-%08x", (int) getpid (), g_random_int ());
}

static guint
count_items (const char *store_name)
{
  g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  GList *items;
  guint n;

  g_hash_table_insert (attributes, (char *) "store", (char *) store_name);
  items = secret_password_searchv_sync (&test_schema, attributes, SECRET_SEARCH_ALL, NULL,
                                        &error);
  g_assert_no_error (error);
  n = g_list_length (items);
  g_list_free_full (items, g_object_unref);
  return n;
}

static void
test_flatpak (void)
{
  g_assert_cmpint (kh_environment_is_flatpak (), ==,
                   g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS));
}

static void
test_secret_file_path (void)
{
  g_autofree char *expected = g_build_filename (g_get_user_data_dir (), "keyrings",
                                                "default.keyring", NULL);
  g_autofree char *path = NULL;
  g_autofree char *test_path = NULL;

  g_unsetenv ("SECRET_FILE_TEST_PATH");
  path = kh_environment_get_secret_file_path ();
  g_assert_cmpstr (path, ==, expected);

  g_setenv ("SECRET_FILE_TEST_PATH", "/tmp/keyhold-test.keyring", TRUE);
  test_path = kh_environment_get_secret_file_path ();
  g_assert_cmpstr (test_path, ==, "/tmp/keyhold-test.keyring");
  g_unsetenv ("SECRET_FILE_TEST_PATH");
}

/* Outside Flatpak with SECRET_BACKEND unset, libsecret talks to the Secret Service, and the
 * description points the user at Passwords and Keys and at the index folder. */
static void
test_describe_service (void)
{
  g_autofree char *data_dir = new_data_dir ();
  g_autofree char *store_name = new_store_name ();
  g_autoptr(GError) error = NULL;
  g_autoptr(KhStore) store = NULL;
  g_autofree char *text = NULL;
  g_autofree char *index_dir = NULL;

  if (kh_environment_is_flatpak ())
    {
      g_test_skip ("running inside Flatpak");
      return;
    }
  g_assert_cmpint (kh_environment_get_secret_backend (), ==, KH_SECRET_BACKEND_SERVICE);
  store = kh_store_new (data_dir, store_name, &error);
  g_assert_no_error (error);
  text = kh_environment_describe_secret_storage (store);
  index_dir = g_path_get_dirname (kh_store_get_index_path (store));
  g_assert_nonnull (strstr (text, "Passwords and Keys"));
  g_assert_nonnull (strstr (text, "desktop keyring"));
  g_assert_nonnull (strstr (text, "Keyhold grants, part … of 32"));
  g_assert_nonnull (strstr (text, index_dir));
}

/* SECRET_BACKEND=file (what libsecret does by itself inside Flatpak with the portal): the
 * description names the file and says Passwords and Keys will not show the items. Run in a
 * child because the backend is decided once per process. */
static void
test_describe_file (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *data_dir = new_data_dir ();
      g_autofree char *store_name = new_store_name ();
      g_autoptr(GError) error = NULL;
      g_autoptr(KhStore) store = NULL;
      g_autofree char *text = NULL;
      g_autofree char *file = g_build_filename (data_dir, "default.keyring", NULL);
      g_autoptr(KhAppProfile) app = kh_app_profile_new ("file-app", KH_FAMILY_BUSINESS,
                                                        "7123456789012345678");
      g_autoptr(GPtrArray) apps = NULL;
      guint removed = 0;

      /* Before any libsecret use in this process: the encrypted file, with a test password
       * standing in for the key the Secret portal hands out inside Flatpak. */
      g_setenv ("SECRET_BACKEND", "file", TRUE);
      g_setenv ("SECRET_FILE_TEST_PATH", file, TRUE);
      g_setenv ("SECRET_FILE_TEST_PASSWORD", "keyhold-test-password", TRUE);
      g_assert_cmpint (kh_environment_get_secret_backend (), ==, KH_SECRET_BACKEND_FILE);
      store = kh_store_new (data_dir, store_name, &error);
      g_assert_no_error (error);
      text = kh_environment_describe_secret_storage (store);
      g_assert_nonnull (strstr (text, file));
      g_assert_nonnull (strstr (text, "do not appear in Passwords and Keys"));
      g_assert_nonnull (strstr (text, "Forget All"));

      /* "Forget all" is the only way to clear that file from the app: it works there too. */
      g_assert_true (kh_store_save_app (store, app, "test-app-secret", FALSE, &error));
      g_assert_no_error (error);
      g_assert_true (g_file_test (file, G_FILE_TEST_EXISTS));
      g_assert_cmpuint (count_items (store_name), ==, 1);
      g_assert_true (kh_environment_forget_all (store, &removed, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (removed, ==, 1);
      g_assert_cmpuint (count_items (store_name), ==, 0);
      apps = kh_store_list_apps (store);
      g_assert_cmpuint (apps->len, ==, 0);
      return;
    }
  if (kh_environment_is_flatpak ())
    {
      g_test_skip ("running inside Flatpak");
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

typedef struct {
  char    *data_dir;
  char    *store_name;
  KhStore *store;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();

  fixture->data_dir = new_data_dir ();
  fixture->store_name = new_store_name ();
  fixture->store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);

  app = kh_app_profile_new ("shop-app", KH_FAMILY_SHOP, "6a1b2c3d4e5f6");
  kh_app_profile_set_service_id (app, "7012345678901234567");
  g_assert_true (kh_store_save_app (fixture->store, app, "test-app-secret", FALSE, &error));
  g_assert_no_error (error);

  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US, "client", FALSE,
                                 &error);
  g_assert_no_error (error);
  g_assert_true (kh_store_save_pending (fixture->store, request, &error));
  g_assert_no_error (error);

  grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "shop-app");
  kh_grant_set_display_name (grant, "Test Shop");
  tokens->access_token = g_strdup ("ACCESS-environment-test");
  tokens->refresh_token = g_strdup ("REFRESH-environment-test");
  tokens->access_expires_at = kh_now () + 7 * 24 * 3600;
  tokens->refresh_expires_at = kh_now () + 60 * 24 * 3600;
  g_assert_true (kh_store_save_grant (fixture->store, grant, tokens, &error));
  g_assert_no_error (error);
  kh_history_record_action (fixture->store, KH_HISTORY_REFRESHED, grant);

  /* An item the index does not know about, as an interrupted save leaves behind. */
  secret_password_store_sync (&test_schema, SECRET_COLLECTION_DEFAULT, "Keyhold stray item",
                              "{\"v\":1}", NULL, &error,
                              "gen", 1, "store", fixture->store_name, "kind", "grant",
                              "id", "stray", NULL);
  g_assert_no_error (error);
  g_assert_cmpuint (count_items (fixture->store_name), ==, 4);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  secret_password_clear_sync (&test_schema, NULL, &error, "store", fixture->store_name, NULL);
  g_assert_no_error (error);
  g_clear_object (&fixture->store);
  g_free (fixture->data_dir);
  g_free (fixture->store_name);
}

static void
assert_store_empty (Fixture *fixture)
{
  g_autoptr(GPtrArray) grants = kh_store_list_grants (fixture->store);
  g_autoptr(GPtrArray) apps = kh_store_list_apps (fixture->store);
  g_autoptr(GPtrArray) pending = kh_store_list_pending (fixture->store);
  g_autoptr(GError) error = NULL;
  g_autoptr(KhStore) again = NULL;
  g_autoptr(GPtrArray) grants_again = NULL;

  g_autofree char *history = kh_history_log_path_for_store (fixture->store);

  g_assert_cmpuint (grants->len, ==, 0);
  g_assert_cmpuint (apps->len, ==, 0);
  g_assert_cmpuint (pending->len, ==, 0);
  g_assert_cmpuint (count_items (fixture->store_name), ==, 0);
  /* Forget All forgets what happened too: the history names clients and shops. */
  g_assert_false (g_file_test (history, G_FILE_TEST_EXISTS));

  /* A fresh store (another process) sees the same empty index, and a rebuild from the keyring
   * brings nothing back. */
  again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  g_assert_true (kh_store_rebuild_index (again, &error));
  g_assert_no_error (error);
  grants_again = kh_store_list_grants (again);
  g_assert_cmpuint (grants_again->len, ==, 0);
}

static void
test_forget_all (Fixture       *fixture,
                 gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *history = kh_history_log_path_for_store (fixture->store);
  guint removed = 0;

  g_assert_true (g_file_test (history, G_FILE_TEST_EXISTS));
  g_assert_true (kh_environment_forget_all (fixture->store, &removed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 3);
  assert_store_empty (fixture);

  /* Forgetting an empty store is not an error. */
  g_assert_true (kh_environment_forget_all (fixture->store, &removed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 0);
}

static void
test_forget_all_async (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) done = NULL;
  g_autoptr(GError) error = NULL;
  guint removed = 0;

  kh_environment_forget_all_async (fixture->store, NULL, kh_test_store_result_cb, &result);
  done = kh_test_wait_result (&result, 30000);
  g_assert_true (kh_environment_forget_all_finish (done, &removed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 3);
  assert_store_empty (fixture);
}

/* A computer in a team: Forget All leaves the team here too (team.json, its key in the keyring),
 * so nothing is left behind that points at a key that is gone; the team itself, in its
 * database, is not touched. */
static void
test_forget_all_team (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *db = NULL;
  g_autofree char *url = NULL;
  g_autofree char *code = NULL;
  g_autofree char *config = NULL;
  g_autofree char *schema = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhTeam) reopened = NULL;
  KhTestPg *pg;
  PGconn *conn;
  guint removed = 0;

  if (!kh_test_pg_available (NULL))
    {
      g_test_skip ("PostgreSQL 15 is not installed");
      return;
    }
  pg = kh_test_pg_new ();
  db = kh_test_pg_create_database (pg, "forget");
  kh_test_pg_create_role (pg, "forget_admin", "forget-pw", TRUE, db);
  url = kh_test_pg_url (pg, "forget_admin", db);
  team = kh_team_create (fixture->store, url, "forget-pw", &code, &error);
  g_assert_no_error (error);
  config = kh_team_dup_config_path (fixture->store);
  g_assert_true (g_file_test (config, G_FILE_TEST_EXISTS));

  g_assert_true (kh_environment_forget_all (fixture->store, &removed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (removed, ==, 3);
  assert_store_empty (fixture);
  g_assert_false (g_file_test (config, G_FILE_TEST_EXISTS));
  reopened = kh_team_open (fixture->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (reopened);

  /* The team's database keeps its schema: the other members go on. */
  conn = kh_test_pg_connect (pg, NULL, NULL, db);
  schema = kh_test_pg_query_value (conn, "SELECT count(*) FROM keyhold.meta", NULL);
  g_assert_cmpstr (schema, ==, "1");
  PQfinish (conn);
  kh_test_pg_free (pg);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/environment/flatpak", test_flatpak);
  g_test_add_func ("/keyhold/environment/secret-file-path", test_secret_file_path);
  g_test_add_func ("/keyhold/environment/describe-service", test_describe_service);
  g_test_add_func ("/keyhold/environment/describe-file", test_describe_file);
  g_test_add ("/keyhold/environment/forget-all", Fixture, NULL,
              fixture_setup, test_forget_all, fixture_teardown);
  g_test_add ("/keyhold/environment/forget-all-team", Fixture, NULL,
              fixture_setup, test_forget_all_team, fixture_teardown);
  g_test_add ("/keyhold/environment/forget-all-async", Fixture, NULL,
              fixture_setup, test_forget_all_async, fixture_teardown);

  return g_test_run ();
}
