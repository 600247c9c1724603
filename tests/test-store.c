/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-store.c: KhStore against a real Secret Service (gnome-keyring on a private session bus,
 * see .ci/session), plus one pass on libsecret's file backend and one without any keyring.
 * Every case uses its own store name and data directory, and deletes its keyring items. */

#include "config.h"

#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kh-error.h"
#include "kh-json.h"
#include "kh-store.h"
#include "kh-test-keyring.h"
#include "kh-test-util.h"
#include "kh-util.h"

/* The store's schema, to clean up and to inspect items behind its back. */
#define test_schema (*kh_store_get_item_schema ())

#define SHOP_KEY "6a1b2c3d4e5f6"
#define BIZ_APP_ID "7123456789012345678"
#define NO_KEYRING_MESSAGE \
  "No keyring is available: Keyhold stores tokens only in the desktop keyring (Secret " \
  "Service). Start gnome-keyring or another Secret Service and try again."

typedef struct {
  char    *data_dir;
  char    *store_name;
  KhStore *store;
} Fixture;

static guint store_counter;

static char *
new_store_name (void)
{
  return g_strdup_printf ("test-store-%d-%08x-%u", (int) getpid (), g_random_int (),
                          g_atomic_int_add (&store_counter, 1));
}

static char *
new_data_dir (void)
{
  g_autofree char *template = g_build_filename (kh_test_get_tmpdir (), "data-XXXXXX", NULL);
  char *dir = g_mkdtemp (g_steal_pointer (&template));

  g_assert_nonnull (dir);
  return dir;
}

static void
clear_keyring_store (const char *store_name)
{
  g_autoptr(GError) error = NULL;

  secret_password_clear_sync (&test_schema, NULL, &error, "store", store_name, NULL);
  g_assert_no_error (error);
}


static void
fixture_setup (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->data_dir = new_data_dir ();
  fixture->store_name = new_store_name ();
  fixture->store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->store);
}

static gboolean
pointer_is_null (gpointer user_data)
{
  return *(gpointer *) user_data == NULL;
}

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  user_data)
{
  guint wake;

  /* A GTask drops its reference to the store in its worker thread, possibly just after the
   * callback ran, and nothing then wakes the main context: poll for the last reference
   * instead of asserting it is already gone. */
  g_object_add_weak_pointer (G_OBJECT (fixture->store), (gpointer *) &fixture->store);
  g_object_unref (fixture->store);
  wake = g_timeout_add (10, wake_cb, NULL);
  kh_test_wait_until (pointer_is_null, &fixture->store, 5000);
  g_source_remove (wake);
  clear_keyring_store (fixture->store_name);
  g_free (fixture->data_dir);
  g_free (fixture->store_name);
}

/* ---- builders ------------------------------------------------------------------------------ */

static KhAppProfile *
make_app (const char *name,
          KhFamily    family)
{
  KhAppProfile *app = kh_app_profile_new (name, family,
                                          family == KH_FAMILY_SHOP ? SHOP_KEY : BIZ_APP_ID);

  if (family == KH_FAMILY_SHOP)
    kh_app_profile_set_service_id (app, "7012345678901234567");
  return app;
}

static KhTokenSet *
make_tokens (const char *tag)
{
  KhTokenSet *tokens = kh_token_set_new ();

  tokens->access_token = g_strdup_printf ("ACCESS-%s-%08x", tag, g_random_int ());
  tokens->refresh_token = g_strdup_printf ("REFRESH-%s-%08x", tag, g_random_int ());
  tokens->access_expires_at = kh_now () + 7 * 24 * 3600;
  tokens->refresh_expires_at = kh_now () + 60 * 24 * 3600;
  return tokens;
}

static KhGrant *
make_grant (const char *display_name,
            const char *client)
{
  KhGrant *grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "shop-app");
  g_autoptr(GPtrArray) shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  const char *scopes[] = { "seller.authorization.info", "seller.order.info", NULL };
  KhShop *shop = g_new0 (KhShop, 1);

  kh_grant_set_display_name (grant, display_name);
  if (client != NULL)
    kh_grant_set_client_label (grant, client);
  kh_grant_set_region (grant, "GB");
  kh_grant_set_open_id (grant, "open-id-1");
  kh_grant_set_scopes (grant, scopes);

  shop->id = g_strdup ("7000123");
  shop->name = g_strdup (display_name);
  shop->region = g_strdup ("GB");
  shop->seller_type = g_strdup ("LOCAL");
  shop->cipher = g_strdup ("GCP_abcdef");
  shop->code = g_strdup ("GBLCABC");
  g_ptr_array_add (shops, shop);
  kh_grant_set_shops (grant, shops);
  kh_grant_add_warning (grant, "a warning");
  return grant;
}

static KhAuthRequest *
make_request (KhAppProfile *app,
              const char   *client)
{
  g_autoptr(GError) error = NULL;
  KhAuthRequest *request;

  request = kh_auth_request_new (KH_ACCOUNT_SELLER, NULL, app, KH_REGION_US, client, FALSE,
                                 &error);
  g_assert_no_error (error);
  return request;
}

static char *
node_to_string (JsonNode *node)
{
  g_autoptr(JsonNode) owned = node;

  return kh_json_to_string (owned, FALSE);
}

static char *
grant_json (KhGrant *grant)
{
  return node_to_string (kh_grant_to_json (grant));
}

static char *
app_json (KhAppProfile *app)
{
  return node_to_string (kh_app_profile_to_json (app));
}

static char *
request_public_json (KhAuthRequest *request)
{
  return node_to_string (kh_auth_request_to_public_json (request));
}


static char *
read_index_text (KhStore *store)
{
  g_autoptr(GError) error = NULL;
  char *text = NULL;

  g_file_get_contents (kh_store_get_index_path (store), &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

/* ---- apps ---------------------------------------------------------------------------------- */

static void
test_apps (Fixture       *fixture,
           gconstpointer  user_data)
{
  KhStore *store = fixture->store;
  g_autoptr(KhAppProfile) shop = make_app ("shop-app", KH_FAMILY_SHOP);
  g_autoptr(KhAppProfile) ads = make_app ("ads-app", KH_FAMILY_BUSINESS);
  g_autoptr(KhAppProfile) got = NULL;
  g_autoptr(KhAppProfile) by_key = NULL;
  g_autoptr(KhAppProfile) dup = NULL;
  g_autoptr(GPtrArray) apps = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;

  g_assert_true (kh_store_save_app (store, shop, "shop-secret-1", FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_app (store, ads, "ads-secret-1", FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "app"), ==, 2);

  got = kh_store_get_app (store, "shop-app");
  g_assert_nonnull (got);
  expected = app_json (shop);
  actual = app_json (got);
  g_assert_cmpstr (actual, ==, expected);
  g_assert_null (kh_store_get_app (store, "nope"));

  apps = kh_store_list_apps (store);
  g_assert_cmpuint (apps->len, ==, 2);
  g_assert_cmpstr (kh_app_profile_get_name (g_ptr_array_index (apps, 0)), ==, "ads-app");
  g_assert_cmpstr (kh_app_profile_get_name (g_ptr_array_index (apps, 1)), ==, "shop-app");

  by_key = kh_store_find_app_by_key (store, BIZ_APP_ID);
  g_assert_nonnull (by_key);
  g_assert_cmpstr (kh_app_profile_get_name (by_key), ==, "ads-app");
  g_assert_null (kh_store_find_app_by_key (store, "nokey"));

  secret = kh_store_load_app_secret (store, "shop-app", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "shop-secret-1");
  g_clear_pointer (&secret, g_free);

  /* Creating over an existing name is refused and changes nothing. */
  dup = make_app ("shop-app", KH_FAMILY_SHOP);
  kh_app_profile_set_redirect_uri (dup, "http://localhost:9999/other");
  g_assert_false (kh_store_save_app (store, dup, "other-secret", FALSE, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_EXISTS);
  g_clear_error (&error);
  secret = kh_store_load_app_secret (store, "shop-app", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "shop-secret-1");
  g_clear_pointer (&secret, g_free);

  /* Editing without a secret keeps the stored one and stores the new profile. */
  g_assert_true (kh_store_save_app (store, dup, NULL, TRUE, &error));
  g_assert_no_error (error);
  secret = kh_store_load_app_secret (store, "shop-app", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "shop-secret-1");
  g_clear_pointer (&secret, g_free);
  g_clear_object (&got);
  got = kh_store_get_app (store, "shop-app");
  g_assert_cmpstr (kh_app_profile_get_redirect_uri (got), ==, "http://localhost:9999/other");
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "app"), ==, 2);

  /* Replacing the secret. */
  g_assert_true (kh_store_save_app (store, dup, "shop-secret-2", TRUE, &error));
  g_assert_no_error (error);
  secret = kh_store_load_app_secret (store, "shop-app", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "shop-secret-2");
  g_clear_pointer (&secret, g_free);

  /* A new app needs a secret, and an invalid profile is refused. */
  {
    g_autoptr(KhAppProfile) fresh = make_app ("fresh", KH_FAMILY_SHOP);
    g_autoptr(KhAppProfile) bad = kh_app_profile_new ("bad", KH_FAMILY_SHOP, "no spaces allowed");

    g_assert_false (kh_store_save_app (store, fresh, NULL, FALSE, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
    g_clear_error (&error);
    g_assert_false (kh_store_save_app (store, bad, "x", FALSE, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
    g_clear_error (&error);
    g_assert_null (kh_store_get_app (store, "fresh"));
  }

  g_assert_true (kh_store_remove_app (store, "shop-app", &error));
  g_assert_no_error (error);
  g_assert_null (kh_store_get_app (store, "shop-app"));
  g_assert_null (kh_store_load_app_secret (store, "shop-app", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (kh_store_remove_app (store, "shop-app", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "app"), ==, 1);

  g_clear_pointer (&apps, g_ptr_array_unref);
  apps = kh_store_list_apps (store);
  g_assert_cmpuint (apps->len, ==, 1);
}

/* ---- grants -------------------------------------------------------------------------------- */

static void
test_grants (Fixture       *fixture,
             gconstpointer  user_data)
{
  KhStore *store = fixture->store;
  g_autoptr(KhGrant) acme = make_grant ("Acme Shop", "Client One");
  g_autoptr(KhGrant) beta = make_grant ("Beta Store", NULL);
  g_autoptr(KhGrant) twin1 = make_grant ("Twin", NULL);
  g_autoptr(KhGrant) twin2 = make_grant ("twin", NULL);
  g_autoptr(KhTokenSet) acme_tokens = make_tokens ("acme");
  g_autoptr(KhTokenSet) beta_tokens = make_tokens ("beta");
  g_autoptr(KhTokenSet) twin_tokens = make_tokens ("twin");
  g_autoptr(KhTokenSet) loaded = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) found = NULL;
  g_autofree char *prefix = NULL;

  g_assert_true (kh_store_save_grant (store, acme, acme_tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (store, beta, beta_tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (store, twin1, twin_tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (store, twin2, twin_tokens, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_bucket_grants (fixture->store_name), ==, 4);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, 0);

  /* The index mirrors the tokens' expiry times. */
  g_assert_cmpint (kh_grant_get_access_expires_at (acme), ==, acme_tokens->access_expires_at);

  grants = kh_store_list_grants (store);
  g_assert_cmpuint (grants->len, ==, 4);
  {
    g_autofree char *expected = grant_json (acme);
    g_autofree char *actual = grant_json (g_ptr_array_index (grants, 0));

    g_assert_cmpstr (actual, ==, expected);
  }

  /* By id, unique prefix, display name (any case), client label. */
  found = kh_store_find_grant (store, kh_grant_get_id (beta), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, kh_grant_get_id (beta));
  g_clear_object (&found);

  prefix = g_strndup (kh_grant_get_id (acme), 8);
  found = kh_store_find_grant (store, prefix, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, kh_grant_get_id (acme));
  g_clear_object (&found);

  found = kh_store_find_grant (store, "acme SHOP", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, kh_grant_get_id (acme));
  g_clear_object (&found);

  found = kh_store_find_grant (store, "client one", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, kh_grant_get_id (acme));
  g_clear_object (&found);

  found = kh_store_find_grant (store, "TWIN", &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_AMBIGUOUS);
  g_assert_nonnull (strstr (error->message, kh_grant_get_id (twin1)));
  g_assert_nonnull (strstr (error->message, kh_grant_get_id (twin2)));
  g_assert_null (found);
  g_clear_error (&error);

  found = kh_store_find_grant (store, "nothing here", &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, "No grant matches “nothing here”");
  g_clear_error (&error);

  /* Prefixes shorter than 6 characters are not ids. */
  {
    g_autofree char *short_prefix = g_strndup (kh_grant_get_id (beta), 5);

    found = kh_store_find_grant (store, short_prefix, &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
    g_clear_error (&error);
  }

  loaded = kh_store_load_tokens (store, kh_grant_get_id (acme), &error);
  g_assert_no_error (error);
  kh_test_assert_tokens_equal (loaded, acme_tokens);
  g_clear_pointer (&loaded, kh_token_set_free);

  /* Updating changes the index entry, not the tokens. */
  kh_grant_set_client_label (beta, "New Client");
  kh_grant_set_stored_status (beta, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_true (kh_store_update_grant (store, beta, &error));
  g_assert_no_error (error);
  found = kh_store_find_grant (store, "new client", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, kh_grant_get_id (beta));
  g_assert_cmpint (kh_grant_get_stored_status (found), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_clear_object (&found);
  loaded = kh_store_load_tokens (store, kh_grant_get_id (beta), &error);
  g_assert_no_error (error);
  kh_test_assert_tokens_equal (loaded, beta_tokens);
  g_clear_pointer (&loaded, kh_token_set_free);

  /* Updating a grant that was never saved is an error, not a new entry. */
  {
    g_autoptr(KhGrant) stranger = make_grant ("Stranger", NULL);

    g_assert_false (kh_store_update_grant (store, stranger, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
    g_clear_error (&error);
  }

  /* Saving again (a refresh) replaces the tokens in place. */
  {
    g_autoptr(KhTokenSet) fresh = make_tokens ("acme2");

    g_assert_true (kh_store_save_grant (store, acme, fresh, &error));
    g_assert_no_error (error);
    loaded = kh_store_load_tokens (store, kh_grant_get_id (acme), &error);
    g_assert_no_error (error);
    kh_test_assert_tokens_equal (loaded, fresh);
    g_clear_pointer (&loaded, kh_token_set_free);
    g_assert_cmpuint (kh_test_count_bucket_grants (fixture->store_name), ==, 4);
  }

  g_assert_true (kh_store_remove_grant (store, kh_grant_get_id (acme), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_bucket_grants (fixture->store_name), ==, 3);
  g_clear_pointer (&grants, g_ptr_array_unref);
  grants = kh_store_list_grants (store);
  g_assert_cmpuint (grants->len, ==, 3);
  loaded = kh_store_load_tokens (store, kh_grant_get_id (acme), &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_assert_null (loaded);
  g_clear_error (&error);
  g_assert_false (kh_store_remove_grant (store, kh_grant_get_id (acme), &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
}

/* ---- pending ------------------------------------------------------------------------------- */

static void
test_pending (Fixture       *fixture,
              gconstpointer  user_data)
{
  KhStore *store = fixture->store;
  g_autoptr(KhAppProfile) app = make_app ("shop-app", KH_FAMILY_SHOP);
  g_autoptr(KhAuthRequest) one = make_request (app, "Client One");
  g_autoptr(KhAuthRequest) two = make_request (app, NULL);
  g_autoptr(KhAuthRequest) found = NULL;
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (kh_store_save_pending (store, one, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_pending (store, two, &error));
  g_assert_no_error (error);

  pending = kh_store_list_pending (store);
  g_assert_cmpuint (pending->len, ==, 2);
  {
    g_autofree char *expected = request_public_json (one);
    g_autofree char *actual = request_public_json (g_ptr_array_index (pending, 0));

    g_assert_cmpstr (actual, ==, expected);
  }

  found = kh_store_find_pending_by_state (store, kh_auth_request_get_state (two), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_auth_request_get_id (found), ==, kh_auth_request_get_id (two));
  g_assert_cmpstr (kh_auth_request_get_state (found), ==, kh_auth_request_get_state (two));
  g_assert_cmpstr (kh_auth_request_get_url (found), ==, kh_auth_request_get_url (two));
  g_clear_object (&found);

  found = kh_store_find_pending_by_state (store, "not-the-state", &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_STATE_MISMATCH);
  g_assert_cmpstr (error->message, ==,
                   "This URL does not belong to any pending authorization (it may have been "
                   "completed already, or created by another computer)");
  g_assert_null (found);
  g_clear_error (&error);

  g_assert_true (kh_store_remove_pending (store, kh_auth_request_get_id (two), &error));
  g_assert_no_error (error);
  found = kh_store_find_pending_by_state (store, kh_auth_request_get_state (two), &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_STATE_MISMATCH);
  g_clear_error (&error);
  found = kh_store_find_pending_by_state (store, kh_auth_request_get_state (one), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_auth_request_get_id (found), ==, kh_auth_request_get_id (one));
  g_clear_object (&found);

  g_assert_false (kh_store_remove_pending (store, kh_auth_request_get_id (two), &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "pending"), ==, 1);
}

/* ---- rebuilding ---------------------------------------------------------------------------- */

typedef struct {
  char *grants;
  char *apps;
  char *pending;
} Snapshot;

static void
snapshot_clear (Snapshot *snap)
{
  g_free (snap->grants);
  g_free (snap->apps);
  g_free (snap->pending);
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char **) a, *(const char **) b);
}

/* Every listed entry, serialized and sorted: what "nothing lost" compares. */
static void
take_snapshot (KhStore  *store,
               Snapshot *snap)
{
  g_autoptr(GPtrArray) grants = kh_store_list_grants (store);
  g_autoptr(GPtrArray) apps = kh_store_list_apps (store);
  g_autoptr(GPtrArray) pending = kh_store_list_pending (store);
  g_autoptr(GPtrArray) strings = NULL;

  strings = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < grants->len; i++)
    g_ptr_array_add (strings, grant_json (g_ptr_array_index (grants, i)));
  g_ptr_array_sort (strings, compare_strings);
  g_ptr_array_add (strings, NULL);
  snap->grants = g_strjoinv ("\n", (char **) strings->pdata);
  g_clear_pointer (&strings, g_ptr_array_unref);

  strings = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < apps->len; i++)
    g_ptr_array_add (strings, app_json (g_ptr_array_index (apps, i)));
  g_ptr_array_sort (strings, compare_strings);
  g_ptr_array_add (strings, NULL);
  snap->apps = g_strjoinv ("\n", (char **) strings->pdata);
  g_clear_pointer (&strings, g_ptr_array_unref);

  strings = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < pending->len; i++)
    g_ptr_array_add (strings, request_public_json (g_ptr_array_index (pending, i)));
  g_ptr_array_sort (strings, compare_strings);
  g_ptr_array_add (strings, NULL);
  snap->pending = g_strjoinv ("\n", (char **) strings->pdata);
}

static void
assert_snapshots_equal (Snapshot *a,
                        Snapshot *b)
{
  g_assert_cmpstr (a->grants, ==, b->grants);
  g_assert_cmpstr (a->apps, ==, b->apps);
  g_assert_cmpstr (a->pending, ==, b->pending);
}

/* Saves two apps, three grants and a pending request; returns one grant's tokens. */
static KhTokenSet *
populate (KhStore *store)
{
  g_autoptr(KhAppProfile) shop = make_app ("shop-app", KH_FAMILY_SHOP);
  g_autoptr(KhAppProfile) ads = make_app ("ads-app", KH_FAMILY_BUSINESS);
  g_autoptr(KhAuthRequest) request = make_request (shop, "Client P");
  g_autoptr(GError) error = NULL;
  KhTokenSet *first = NULL;
  const char *names[] = { "Alpha", "Bravo", "Charlie" };

  kh_app_profile_set_redirect_uri (ads, "http://127.0.0.1:8123/cb");
  g_assert_true (kh_store_save_app (store, shop, "shop-secret", FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_app (store, ads, "ads-secret", FALSE, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(KhGrant) grant = make_grant (names[i], i == 1 ? "Client B" : NULL);
      g_autoptr(KhTokenSet) tokens = make_tokens (names[i]);

      g_assert_true (kh_store_save_grant (store, grant, tokens, &error));
      g_assert_no_error (error);
      if (first == NULL)
        first = kh_token_set_copy (tokens);
    }

  g_assert_true (kh_store_save_pending (store, request, &error));
  g_assert_no_error (error);
  return first;
}

static void
test_rebuild_missing (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(KhStore) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *index_path = g_strdup (kh_store_get_index_path (fixture->store));
  Snapshot before = { 0 };
  Snapshot after = { 0 };

  kh_token_set_free (populate (fixture->store));
  take_snapshot (fixture->store, &before);
  g_assert_cmpint (g_unlink (index_path), ==, 0);

  /* A new instance finds no index but keyring items: it rebuilds everything. */
  again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  take_snapshot (again, &after);
  assert_snapshots_equal (&before, &after);
  g_assert_true (g_file_test (index_path, G_FILE_TEST_IS_REGULAR));
  snapshot_clear (&after);

  /* The open instance recovers on reload as well. */
  g_assert_cmpint (g_unlink (index_path), ==, 0);
  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  take_snapshot (fixture->store, &after);
  assert_snapshots_equal (&before, &after);

  snapshot_clear (&before);
  snapshot_clear (&after);
}

static void
test_rebuild_explicit (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(KhGrant) renamed = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  Snapshot before = { 0 };
  Snapshot after = { 0 };

  kh_token_set_free (populate (fixture->store));
  /* An index edit that only the index knows (update_grant) survives a rebuild. */
  renamed = kh_store_find_grant (fixture->store, "Bravo", &error);
  g_assert_no_error (error);
  kh_grant_set_client_label (renamed, "Renamed Client");
  g_assert_true (kh_store_update_grant (fixture->store, renamed, &error));
  g_assert_no_error (error);
  take_snapshot (fixture->store, &before);

  /* An index that lost one grant (a crash between keyring write and index write) gets it
   * back; an index entry whose secret is gone is dropped. */
  {
    g_autoptr(KhGrant) alpha = kh_store_find_grant (fixture->store, "Alpha", &error);

    g_assert_no_error (error);
    kh_test_remove_bucket_entry (fixture->store_name, kh_grant_get_id (alpha));
  }

  g_assert_true (kh_store_rebuild_index (fixture->store, &error));
  g_assert_no_error (error);
  grants = kh_store_list_grants (fixture->store);
  g_assert_cmpuint (grants->len, ==, 2);
  g_clear_pointer (&grants, g_ptr_array_unref);
  {
    g_autoptr(KhGrant) bravo = kh_store_find_grant (fixture->store, "Bravo", &error);

    g_assert_no_error (error);
    g_assert_cmpstr (kh_grant_get_client_label (bravo), ==, "Renamed Client");
  }

  /* Remove Charlie from the index only, by hand: the rebuild restores it from the keyring. */
  {
    g_autoptr(KhGrant) charlie = kh_store_find_grant (fixture->store, "Charlie", &error);
    g_autoptr(JsonNode) root = NULL;
    JsonArray *array;
    JsonArray *filtered = json_array_new ();
    g_autofree char *charlie_before = grant_json (charlie);

    g_assert_no_error (error);
    text = read_index_text (fixture->store);
    root = kh_json_parse (text, strlen (text), &error);
    g_assert_no_error (error);
    array = kh_json_get_array (kh_json_node_object (root), "grants");
    for (guint i = 0; i < json_array_get_length (array); i++)
      {
        JsonObject *entry = json_array_get_object_element (array, i);

        if (g_strcmp0 (kh_json_get_string (entry, "id"), kh_grant_get_id (charlie)) != 0)
          json_array_add_element (filtered, json_node_copy (json_array_get_element (array, i)));
      }
    json_object_set_array_member (kh_json_node_object (root), "grants", filtered);
    g_clear_pointer (&text, g_free);
    text = kh_json_to_string (root, TRUE);
    g_assert_true (g_file_set_contents (kh_store_get_index_path (fixture->store), text, -1,
                                        &error));
    g_assert_no_error (error);

    g_assert_true (kh_store_reload (fixture->store, &error));
    g_assert_no_error (error);
    grants = kh_store_list_grants (fixture->store);
    g_assert_cmpuint (grants->len, ==, 1);
    g_clear_pointer (&grants, g_ptr_array_unref);

    g_assert_true (kh_store_rebuild_index (fixture->store, &error));
    g_assert_no_error (error);
    g_clear_object (&charlie);
    charlie = kh_store_find_grant (fixture->store, "Charlie", &error);
    g_assert_no_error (error);
    {
      g_autofree char *charlie_after = grant_json (charlie);

      g_assert_cmpstr (charlie_after, ==, charlie_before);
    }
  }

  take_snapshot (fixture->store, &after);
  g_assert_cmpstr (before.apps, ==, after.apps);
  g_assert_cmpstr (before.pending, ==, after.pending);
  snapshot_clear (&before);
  snapshot_clear (&after);
}

static guint
count_corrupt_files (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "index.json.corrupt-"))
      n++;
  return n;
}

static void
test_corrupt (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autoptr(KhStore) again = NULL;
  g_autoptr(KhTokenSet) loaded = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autofree char *dir = g_path_get_dirname (kh_store_get_index_path (fixture->store));
  const char *index_path = kh_store_get_index_path (fixture->store);
  Snapshot before = { 0 };
  Snapshot after = { 0 };
  const char *garbage[] = {
    "{\"version\":1,\"grants\":[{\"id\":", "\xff\xfe binary", "[]", "{\"grants\":[]}",
    "{\"version\":1,\"grants\":{}}", "{\"version\":1,\"apps\":[{\"no-name\":1}]}", "",
  };

  kh_token_set_free (populate (fixture->store));
  take_snapshot (fixture->store, &before);

  for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
    {
      g_assert_true (g_file_set_contents (index_path, garbage[i], -1, &error));
      g_assert_no_error (error);

      again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
      g_assert_no_error (error);
      take_snapshot (again, &after);
      assert_snapshots_equal (&before, &after);
      snapshot_clear (&after);
      g_clear_object (&again);
      g_assert_cmpuint (count_corrupt_files (dir), ==, i + 1);
    }

  /* The damaged file was kept, byte for byte. */
  {
    g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    gboolean seen = FALSE;

    while ((name = g_dir_read_name (d)) != NULL)
      if (g_str_has_prefix (name, "index.json.corrupt-"))
        {
          g_autofree char *path = g_build_filename (dir, name, NULL);
          g_autofree char *contents = NULL;

          g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
          for (guint i = 0; i < G_N_ELEMENTS (garbage); i++)
            if (g_str_equal (contents, garbage[i]))
              seen = TRUE;
        }
    g_assert_true (seen);
  }

  /* An open store recovers on reload, and the tokens were never touched. */
  g_assert_true (g_file_set_contents (index_path, "not json", -1, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  take_snapshot (fixture->store, &after);
  assert_snapshots_equal (&before, &after);

  grants = kh_store_list_grants (fixture->store);
  for (guint i = 0; i < grants->len; i++)
    {
      loaded = kh_store_load_tokens (fixture->store,
                                     kh_grant_get_id (g_ptr_array_index (grants, i)), &error);
      g_assert_no_error (error);
      g_clear_pointer (&loaded, kh_token_set_free);
    }

  /* An index from a newer Keyhold is refused, never moved aside or overwritten. */
  {
    guint n_aside = count_corrupt_files (dir);

    g_assert_true (g_file_set_contents (index_path, "{\"version\":3,\"grants\":[]}", -1,
                                        &error));
    g_assert_no_error (error);
    again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
    g_assert_null (again);
    g_clear_error (&error);
    g_assert_cmpuint (count_corrupt_files (dir), ==, n_aside);
    g_assert_true (g_unlink (index_path) == 0);
  }

  snapshot_clear (&before);
  snapshot_clear (&after);
}

/* One damaged entry in an otherwise sound index hides only itself. */
static void
test_damaged_entry (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(KhGrant) good = make_grant ("Good", NULL);
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(KhGrant) found = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *good_json = grant_json (good);
  g_autofree char *dir = g_build_filename (fixture->data_dir, fixture->store_name, NULL);
  g_autofree char *path = g_build_filename (dir, "index.json", NULL);
  g_autofree char *text = NULL;

  text = g_strdup_printf ("{\"version\":1,\n\"grants\":[\n%s,\n"
                          "{\"id\":\"0123456789abcdef\",\"type\":\"no-such-type\"}],\n"
                          "\"apps\":[],\n\"pending\":[]}\n", good_json);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);

  store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  grants = kh_store_list_grants (store);
  g_assert_cmpuint (grants->len, ==, 1);
  g_assert_cmpstr (kh_grant_get_id (g_ptr_array_index (grants, 0)), ==, kh_grant_get_id (good));

  found = kh_store_find_grant (store, "0123456789abcdef", &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
  g_assert_null (found);
  g_clear_error (&error);

  found = kh_store_find_grant (store, "good", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, kh_grant_get_id (good));
  g_clear_object (&found);

  /* Entries read from disk are written back byte for byte. */
  {
    g_autoptr(KhAppProfile) app = make_app ("an-app", KH_FAMILY_SHOP);
    g_autofree char *after = NULL;

    g_assert_true (kh_store_save_app (store, app, "secret", FALSE, &error));
    g_assert_no_error (error);
    after = read_index_text (store);
    g_assert_nonnull (strstr (after, good_json));
    g_assert_nonnull (strstr (after, "{\"id\":\"0123456789abcdef\",\"type\":\"no-such-type\"}"));
  }
}

/* Hand-edited or foreign layouts load as well as Keyhold's own. */
static void
test_index_layouts (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = make_grant ("Layout", "Client L");
  g_autoptr(KhAppProfile) app = make_app ("caf\xc3\xa9 app", KH_FAMILY_SHOP);
  g_autofree char *grant_text = grant_json (grant);
  g_autofree char *app_text = app_json (app);
  g_autofree char *dir = g_build_filename (fixture->data_dir, fixture->store_name, NULL);
  g_autofree char *path = g_build_filename (dir, "index.json", NULL);
  g_autofree char *escaped_app = NULL;
  g_autoptr(GError) error = NULL;
  const char *layouts[] = {
    /* pretty, version last, an unknown member */
    "{\n  \"grants\" : [ %s ],\n  \"future\" : {\"a\": [1, 2.5e3, true, null]},\n"
    "  \"apps\" : [ %s ],\n  \"version\" : 1\n}\n",
    /* escapes in the app name: json-glib reads this one */
    "{\"version\":1,\"grants\":[%s],\"apps\":[%s],\"pending\":[]}",
  };

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  {
    GString *escaped = g_string_new (NULL);

    /* The same profile with its name written as \u escapes. */
    for (const char *p = app_text; *p != '\0'; p++)
      {
        if (g_str_has_prefix (p, "caf\xc3\xa9"))
          {
            g_string_append (escaped, "caf\\u00e9");
            p += strlen ("caf\xc3\xa9") - 1;
          }
        else
          g_string_append_c (escaped, *p);
      }
    escaped_app = g_string_free (escaped, FALSE);
  }

  for (guint i = 0; i < G_N_ELEMENTS (layouts); i++)
    {
      g_autofree char *text = NULL;
      g_autoptr(KhStore) store = NULL;
      g_autoptr(GPtrArray) grants = NULL;
      g_autoptr(KhAppProfile) got = NULL;

      /* The format strings are the test's own. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
      text = g_strdup_printf (layouts[i], grant_text, i == 1 ? escaped_app : app_text);
#pragma GCC diagnostic pop
      g_assert_true (g_file_set_contents (path, text, -1, &error));
      g_assert_no_error (error);

      store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
      g_assert_no_error (error);
      grants = kh_store_list_grants (store);
      g_assert_cmpuint (grants->len, ==, 1);
      {
        g_autofree char *actual = grant_json (g_ptr_array_index (grants, 0));

        g_assert_cmpstr (actual, ==, grant_text);
      }
      got = kh_store_get_app (store, "caf\xc3\xa9 app");
      g_assert_nonnull (got);
      g_assert_cmpstr (kh_app_profile_get_app_key (got), ==, SHOP_KEY);
      g_assert_cmpuint (count_corrupt_files (dir), ==, 0);
    }
}

/* An index written before grants had a status_reason loads unchanged, and keeps loading once a
 * reason is added to one of its grants. */
static void
test_index_before_status_reason (Fixture       *fixture,
                                 gconstpointer  user_data)
{
  g_autofree char *dir = g_build_filename (fixture->data_dir, fixture->store_name, NULL);
  g_autofree char *path = g_build_filename (dir, "index.json", NULL);
  g_autoptr(KhStore) store = NULL;
  g_autoptr(KhStore) again = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) reread = NULL;
  g_autoptr(GError) error = NULL;
  const char *old_index =
    "{\"version\":1,\"grants\":[{\"id\":\"0123456789abcdef0123456789abcdef\","
    "\"type\":\"seller\",\"role\":null,\"kind\":\"shop\",\"app\":\"a\","
    "\"client\":\"Old client\",\"display_name\":\"Old shop\",\"region\":\"GB\","
    "\"open_id\":\"o\",\"status\":\"needs-reauth\",\"stored_status\":\"needs-reauth\","
    "\"access_expires_at\":\"2022-08-15T09:46:23Z\",\"refresh_expires_at\":null,"
    "\"scopes\":[],\"missing_scopes\":[],\"shops\":[],\"advertisers\":[],"
    "\"without_state\":false,\"warnings\":[],\"created_at\":\"2023-11-14T22:13:20Z\","
    "\"updated_at\":\"2023-11-14T22:13:20Z\"}],\"apps\":[],\"pending\":[]}";

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, old_index, -1, &error));
  g_assert_no_error (error);

  store = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  grant = kh_store_find_grant (store, "Old shop", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_client_label (grant), ==, "Old client");
  g_assert_cmpint (kh_grant_get_stored_status (grant), ==, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_null (kh_grant_get_status_reason (grant));
  g_assert_cmpuint (count_corrupt_files (dir), ==, 0);

  kh_grant_set_status_reason (grant, "Interrupted: authorize again");
  g_assert_true (kh_store_update_grant (store, grant, &error));
  g_assert_no_error (error);
  again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  reread = kh_store_find_grant (again, kh_grant_get_id (grant), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_status_reason (reread), ==, "Interrupted: authorize again");
}

/* ---- two processes ------------------------------------------------------------------------- */

static void
test_two_instances (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(KhStore) a = g_object_ref (fixture->store);
  g_autoptr(KhStore) b = NULL;
  g_autoptr(KhAppProfile) app1 = make_app ("app-one", KH_FAMILY_SHOP);
  g_autoptr(KhAppProfile) app2 = make_app ("app-two", KH_FAMILY_BUSINESS);
  g_autoptr(KhGrant) g1 = make_grant ("One", NULL);
  g_autoptr(KhGrant) g2 = make_grant ("Two", NULL);
  g_autoptr(KhTokenSet) tokens = make_tokens ("two");
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;

  b = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);

  /* Each instance works from its own snapshot; every change re-reads the file first. */
  g_assert_true (kh_store_save_app (a, app1, "s1", FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_app (b, app2, "s2", FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (a, g1, tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (b, g2, tokens, &error));
  g_assert_no_error (error);

  /* b saw a's app before writing; b cannot create what a already made. */
  g_assert_false (kh_store_save_app (b, app1, "s3", FALSE, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_EXISTS);
  g_clear_error (&error);

  g_assert_true (kh_store_remove_grant (a, kh_grant_get_id (g1), &error));
  g_assert_no_error (error);

  g_assert_true (kh_store_reload (a, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_reload (b, &error));
  g_assert_no_error (error);
  for (guint k = 0; k < 2; k++)
    {
      KhStore *store = k == 0 ? a : b;

      list = kh_store_list_apps (store);
      g_assert_cmpuint (list->len, ==, 2);
      g_clear_pointer (&list, g_ptr_array_unref);
      list = kh_store_list_grants (store);
      g_assert_cmpuint (list->len, ==, 1);
      g_assert_cmpstr (kh_grant_get_id (g_ptr_array_index (list, 0)), ==, kh_grant_get_id (g2));
      g_clear_pointer (&list, g_ptr_array_unref);
    }

  g_assert_finalize_object (g_steal_pointer (&b));
  g_clear_object (&a);
}

typedef struct {
  const char *data_dir;
  const char *store_name;
  guint       n;
  const char *tag;
} WriterData;

static gpointer
writer_thread (gpointer user_data)
{
  WriterData *data = user_data;
  g_autoptr(KhStore) store = NULL;
  g_autoptr(GError) error = NULL;

  store = kh_store_new (data->data_dir, data->store_name, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < data->n; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s %u", data->tag, i);
      g_autoptr(KhGrant) grant = make_grant (name, NULL);
      g_autoptr(KhTokenSet) tokens = make_tokens (data->tag);

      g_assert_true (kh_store_save_grant (store, grant, tokens, &error));
      g_assert_no_error (error);
    }
  return NULL;
}

static void
test_concurrent_writers (Fixture       *fixture,
                         gconstpointer  user_data)
{
  WriterData w1 = { fixture->data_dir, fixture->store_name, 12, "left" };
  WriterData w2 = { fixture->data_dir, fixture->store_name, 12, "right" };
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  GThread *t1;
  GThread *t2;

  /* Two instances in two threads stand in for two processes: the flock is per open file, so it
   * serializes them exactly as it would serialize processes. */
  t1 = g_thread_new ("writer-1", writer_thread, &w1);
  t2 = g_thread_new ("writer-2", writer_thread, &w2);
  g_thread_join (t1);
  g_thread_join (t2);

  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  grants = kh_store_list_grants (fixture->store);
  g_assert_cmpuint (grants->len, ==, 24);
}

/* ---- isolation and the file on disk -------------------------------------------------------- */

static void
test_isolation (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *other_name = new_store_name ();
  g_autoptr(KhStore) other = NULL;
  g_autoptr(KhAppProfile) app = make_app ("shared-name", KH_FAMILY_SHOP);
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *secret = NULL;

  other = kh_store_new (fixture->data_dir, other_name, &error);
  g_assert_no_error (error);

  g_assert_true (kh_store_save_app (fixture->store, app, "secret-a", FALSE, &error));
  g_assert_no_error (error);
  list = kh_store_list_apps (other);
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);
  g_assert_null (kh_store_load_app_secret (other, "shared-name", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Same name in the other store: two items, two secrets. */
  g_assert_true (kh_store_save_app (other, app, "secret-b", FALSE, &error));
  g_assert_no_error (error);
  secret = kh_store_load_app_secret (fixture->store, "shared-name", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "secret-a");
  g_clear_pointer (&secret, g_free);
  secret = kh_store_load_app_secret (other, "shared-name", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "secret-b");

  g_assert_true (kh_store_remove_app (other, "shared-name", &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_rebuild_index (other, &error));
  g_assert_no_error (error);
  list = kh_store_list_apps (other);
  g_assert_cmpuint (list->len, ==, 0);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = kh_store_list_apps (fixture->store);
  g_assert_cmpuint (list->len, ==, 1);

  g_assert_cmpstr (kh_store_get_name (other), ==, other_name);
  g_assert_true (g_str_has_prefix (kh_store_get_index_path (other), fixture->data_dir));
  g_assert_finalize_object (g_steal_pointer (&other));
  clear_keyring_store (other_name);

  /* Any printable name works, and its folder stays inside the data dir. */
  {
    const char *odd[] = { "../x", "a/b", ".hidden", "sp ace", "..", "/abs/path" };
    g_autofree char *long_name = g_strnfill (300, '/');

    for (guint i = 0; i < G_N_ELEMENTS (odd) + 1; i++)
      {
        const char *store_name = i < G_N_ELEMENTS (odd) ? odd[i] : long_name;
        g_autoptr(KhStore) odd_store = kh_store_new (fixture->data_dir, store_name, &error);
        g_autofree char *dir = NULL;
        g_autofree char *parent = NULL;
        g_autofree char *base = NULL;

        g_assert_no_error (error);
        g_assert_cmpstr (kh_store_get_name (odd_store), ==, store_name);
        dir = g_path_get_dirname (kh_store_get_index_path (odd_store));
        parent = g_path_get_dirname (dir);
        base = g_path_get_basename (dir);
        g_assert_cmpstr (parent, ==, fixture->data_dir);
        g_assert_cmpint (base[0], !=, '.');
        g_assert_cmpuint (strlen (base), <=, 120);
      }
  }

  /* Control characters are refused. */
  {
    const char *bad[] = { "", "a\nb", "tab\there" };

    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_assert_null (kh_store_new (fixture->data_dir, bad[i], &error));
        g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
        g_clear_error (&error);
      }
  }
}

static void
test_no_secret_in_index (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(KhAppProfile) app = make_app ("shop-app", KH_FAMILY_SHOP);
  g_autoptr(KhAuthRequest) request = make_request (app, "Client");
  g_autoptr(KhGrant) grant = make_grant ("Visible Name", "Client");
  g_autoptr(KhTokenSet) tokens = make_tokens ("secret");
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *dir = NULL;
  struct stat st;

  g_assert_true (kh_store_save_app (fixture->store, app, "APP-SECRET-do-not-leak", FALSE,
                                    &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (fixture->store, grant, tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_pending (fixture->store, request, &error));
  g_assert_no_error (error);

  text = read_index_text (fixture->store);
  g_assert_nonnull (strstr (text, "Visible Name"));
  g_assert_null (strstr (text, "APP-SECRET-do-not-leak"));
  g_assert_null (strstr (text, tokens->access_token));
  g_assert_null (strstr (text, tokens->refresh_token));
  g_assert_null (strstr (text, kh_auth_request_get_state (request)));
  g_assert_null (strstr (text, "\"state\""));
  g_assert_null (strstr (text, "\"url\""));

  g_assert_cmpint (g_stat (kh_store_get_index_path (fixture->store), &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  dir = g_path_get_dirname (kh_store_get_index_path (fixture->store));
  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

  /* Nor in the keyring attributes or labels. */
  {
    g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
    GList *items;

    g_hash_table_insert (attributes, (char *) "store", fixture->store_name);
    items = secret_password_searchv_sync (&test_schema, attributes, SECRET_SEARCH_ALL, NULL,
                                          &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_list_length (items), ==, 3);
    for (GList *l = items; l != NULL; l = l->next)
      {
        g_autoptr(GHashTable) attrs = secret_retrievable_get_attributes (l->data);
        g_autofree char *label = secret_retrievable_get_label (l->data);
        GHashTableIter iter;
        gpointer value;

        g_assert_true (g_str_has_prefix (label, "Keyhold "));
        g_hash_table_iter_init (&iter, attrs);
        while (g_hash_table_iter_next (&iter, NULL, &value))
          {
            g_assert_null (strstr (value, "SECRET"));
            g_assert_cmpstr (value, !=, kh_auth_request_get_state (request));
          }
      }
    g_list_free_full (items, g_object_unref);
  }
}

/* ---- async --------------------------------------------------------------------------------- */

static void
test_async (Fixture       *fixture,
            gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = make_grant ("Async", NULL);
  g_autoptr(KhTokenSet) tokens = make_tokens ("async");
  g_autoptr(KhAppProfile) app = make_app ("async-app", KH_FAMILY_SHOP);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhTokenSet) loaded = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *secret = NULL;
  GAsyncResult *pending = NULL;

  kh_store_save_grant_async (fixture->store, grant, tokens, NULL, kh_test_store_result_cb,
                             &pending);
  result = kh_test_wait_result (&pending, 10000);
  g_assert_true (kh_store_save_grant_finish (fixture->store, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  kh_store_load_tokens_async (fixture->store, kh_grant_get_id (grant), NULL,
                              kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, 10000);
  loaded = kh_store_load_tokens_finish (fixture->store, result, &error);
  g_assert_no_error (error);
  kh_test_assert_tokens_equal (loaded, tokens);
  g_clear_object (&result);

  kh_store_load_tokens_async (fixture->store, "0000000000000000", NULL,
                              kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, 10000);
  g_assert_null (kh_store_load_tokens_finish (fixture->store, result, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_clear_object (&result);

  g_assert_true (kh_store_save_app (fixture->store, app, "async-secret", FALSE, &error));
  g_assert_no_error (error);
  kh_store_load_app_secret_async (fixture->store, "async-app", NULL, kh_test_store_result_cb,
                                  &pending);
  result = kh_test_wait_result (&pending, 10000);
  secret = kh_store_load_app_secret_finish (fixture->store, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (secret, ==, "async-secret");
  g_clear_object (&result);

  /* A cancelled call reports the cancellation. */
  {
    g_autoptr(GCancellable) cancellable = g_cancellable_new ();

    g_cancellable_cancel (cancellable);
    kh_store_load_app_secret_async (fixture->store, "async-app", cancellable,
                                    kh_test_store_result_cb, &pending);
    result = kh_test_wait_result (&pending, 10000);
    g_assert_null (kh_store_load_app_secret_finish (fixture->store, result, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_clear_error (&error);
  }

  /* The grant was listed by the index and its expiries mirrored. */
  {
    g_autoptr(KhGrant) found = kh_store_find_grant (fixture->store, "async", &error);

    g_assert_no_error (error);
    g_assert_cmpint (kh_grant_get_access_expires_at (found), ==, tokens->access_expires_at);
  }
}

/* ---- without a keyring --------------------------------------------------------------------- */

static void
assert_no_keyring (GError *error)
{
  g_assert_error (error, KH_ERROR, KH_ERROR_NO_KEYRING);
  g_assert_cmpstr (error->message, ==, NO_KEYRING_MESSAGE);
}

static void
test_no_keyring (void)
{
  if (g_test_subprocess ())
    {
      const char *dir = g_getenv ("KH_TEST_STORE_DIR");
      const char *name = g_getenv ("KH_TEST_STORE_NAME");
      g_autofree char *fresh_dir = new_data_dir ();
      g_autofree char *fresh_index = g_build_filename (fresh_dir, name, "index.json", NULL);
      g_autofree char *index_before = NULL;
      g_autofree char *index_after = NULL;
      g_autofree char *secret = NULL;
      g_autoptr(KhStore) store = NULL;
      g_autoptr(KhAppProfile) app = make_app ("other-app", KH_FAMILY_SHOP);
      g_autoptr(KhGrant) grant = make_grant ("No keyring", NULL);
      g_autoptr(KhTokenSet) tokens = make_tokens ("nokeyring");
      g_autoptr(GPtrArray) apps = NULL;
      g_autoptr(GError) error = NULL;

      /* Before any D-Bus use in this process. */
      g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/keyhold-test-bus", TRUE);
      g_unsetenv ("SECRET_BACKEND");

      /* A first start without a keyring: an error, and nothing on disk. */
      g_assert_null (kh_store_new (fresh_dir, name, &error));
      assert_no_keyring (error);
      g_clear_error (&error);
      g_assert_false (g_file_test (fresh_index, G_FILE_TEST_EXISTS));

      /* A headless team server's store opens empty, still writes nothing, and keeps no secret. */
      {
        g_autoptr(KhStore) headless = kh_store_new_headless (fresh_dir, name, &error);
        g_autoptr(GPtrArray) none = NULL;

        g_assert_no_error (error);
        none = kh_store_list_grants (headless);
        g_assert_cmpuint (none->len, ==, 0);
        g_assert_false (kh_store_save_grant (headless, grant, tokens, &error));
        assert_no_keyring (error);
        g_clear_error (&error);
        g_assert_false (g_file_test (fresh_index, G_FILE_TEST_EXISTS));
      }

      /* An existing index still lists, but nothing can be saved or read. */
      store = kh_store_new (dir, name, &error);
      g_assert_no_error (error);
      apps = kh_store_list_apps (store);
      g_assert_cmpuint (apps->len, ==, 1);
      g_assert_true (g_file_get_contents (kh_store_get_index_path (store), &index_before, NULL,
                                          NULL));

      g_assert_false (kh_store_save_app (store, app, "secret", FALSE, &error));
      assert_no_keyring (error);
      g_clear_error (&error);
      g_assert_false (kh_store_save_grant (store, grant, tokens, &error));
      assert_no_keyring (error);
      g_clear_error (&error);
      secret = kh_store_load_app_secret (store, "shop-app", &error);
      assert_no_keyring (error);
      g_assert_null (secret);
      g_clear_error (&error);
      g_assert_false (kh_store_remove_app (store, "shop-app", &error));
      assert_no_keyring (error);
      g_clear_error (&error);
      g_assert_null (kh_store_find_pending_by_state (store, "x", &error));
      g_assert_error (error, KH_ERROR, KH_ERROR_STATE_MISMATCH);
      g_clear_error (&error);

      g_assert_true (g_file_get_contents (kh_store_get_index_path (store), &index_after, NULL,
                                          NULL));
      g_assert_cmpstr (index_after, ==, index_before);
      apps = (g_ptr_array_unref (apps), kh_store_list_apps (store));
      g_assert_cmpuint (apps->len, ==, 1);
      return;
    }

  /* The parent has the keyring: it prepares an index for the child to find. The child must
   * not touch D-Bus before it has pointed the session bus address nowhere, so no fixture. */
  {
    g_autofree char *data_dir = new_data_dir ();
    g_autofree char *name = new_store_name ();
    g_autoptr(KhStore) store = NULL;
    g_autoptr(KhAppProfile) app = make_app ("shop-app", KH_FAMILY_SHOP);
    g_autoptr(GError) error = NULL;

    store = kh_store_new (data_dir, name, &error);
    g_assert_no_error (error);
    g_assert_true (kh_store_save_app (store, app, "secret", FALSE, &error));
    g_assert_no_error (error);
    g_setenv ("KH_TEST_STORE_DIR", data_dir, TRUE);
    g_setenv ("KH_TEST_STORE_NAME", name, TRUE);
    g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed ();
    g_unsetenv ("KH_TEST_STORE_DIR");
    g_unsetenv ("KH_TEST_STORE_NAME");
    g_assert_finalize_object (g_steal_pointer (&store));
    clear_keyring_store (name);
  }
}

/* ---- libsecret's file backend -------------------------------------------------------------- */

static void
test_file_backend (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *keyring = g_build_filename (kh_test_get_tmpdir (), "file.keyring", NULL);
      g_autofree char *data_dir = new_data_dir ();
      g_autofree char *name = new_store_name ();
      g_autoptr(KhStore) store = NULL;
      g_autoptr(KhStore) again = NULL;
      g_autoptr(KhTokenSet) tokens = NULL;
      g_autoptr(KhTokenSet) loaded = NULL;
      g_autoptr(GPtrArray) grants = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *secret = NULL;
      Snapshot before = { 0 };
      Snapshot after = { 0 };

      /* libsecret 0.20 picks its backend once per process, from the environment. Without
       * SECRET_FILE_TEST_PASSWORD the file backend asks the Secret portal for its key. */
      g_setenv ("SECRET_BACKEND", "file", TRUE);
      g_setenv ("SECRET_FILE_TEST_PATH", keyring, TRUE);
      g_setenv ("SECRET_FILE_TEST_PASSWORD", "keyhold-test", TRUE);
      g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/keyhold-test-bus", TRUE);

      store = kh_store_new (data_dir, name, &error);
      g_assert_no_error (error);
      tokens = populate (store);
      take_snapshot (store, &before);

      secret = kh_store_load_app_secret (store, "ads-app", &error);
      g_assert_no_error (error);
      g_assert_cmpstr (secret, ==, "ads-secret");
      grants = kh_store_list_grants (store);
      g_assert_cmpuint (grants->len, ==, 3);
      loaded = kh_store_load_tokens (store, kh_grant_get_id (g_ptr_array_index (grants, 0)),
                                     &error);
      g_assert_no_error (error);
      kh_test_assert_tokens_equal (loaded, tokens);

      {
        g_autoptr(GPtrArray) pending = kh_store_list_pending (store);
        g_autoptr(KhAuthRequest) request = NULL;
        g_autoptr(KhAuthRequest) found = NULL;

        g_assert_cmpuint (pending->len, ==, 1);
        request = g_object_ref (g_ptr_array_index (pending, 0));
        found = kh_store_find_pending_by_state (store, "wrong", &error);
        g_assert_error (error, KH_ERROR, KH_ERROR_STATE_MISMATCH);
        g_clear_error (&error);
      }

      g_assert_cmpint (g_unlink (kh_store_get_index_path (store)), ==, 0);
      again = kh_store_new (data_dir, name, &error);
      g_assert_no_error (error);
      take_snapshot (again, &after);
      assert_snapshots_equal (&before, &after);

      g_assert_true (kh_store_remove_grant (again,
                                            kh_grant_get_id (g_ptr_array_index (grants, 0)),
                                            &error));
      g_assert_no_error (error);
      g_clear_pointer (&loaded, kh_token_set_free);
      loaded = kh_store_load_tokens (again, kh_grant_get_id (g_ptr_array_index (grants, 0)),
                                     &error);
      g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
      g_clear_error (&error);

      snapshot_clear (&before);
      snapshot_clear (&after);
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* ---- a locked keyring ---------------------------------------------------------------------- */

static void
name_appeared_cb (GDBusConnection *connection,
                  const char      *name,
                  const char      *owner,
                  gpointer         user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* Locking the keyring of the shared test session would break every other test running against
 * it, so the child gets its own bus and its own gnome-keyring, which it can lock. Nothing can
 * show an unlock prompt there: the prompt is dismissed, as when the user cancels it. */
static void
test_locked_keyring (void)
{
  g_autofree char *daemon = g_find_program_in_path ("gnome-keyring-daemon");

  if (!g_test_subprocess ())
    {
      if (daemon == NULL)
        {
          g_test_skip ("gnome-keyring-daemon is not installed");
          return;
        }
      g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
      g_test_trap_assert_passed ();
      return;
    }

  {
    GTestDBus *bus = g_test_dbus_new (G_TEST_DBUS_NONE);
    g_autoptr(GSubprocessLauncher) launcher = NULL;
    g_autoptr(GSubprocess) keyring = NULL;
    g_autoptr(SecretService) service = NULL;
    g_autoptr(SecretCollection) collection = NULL;
    g_autoptr(KhStore) store = NULL;
    g_autoptr(KhStore) again = NULL;
    g_autoptr(KhAppProfile) app = make_app ("locked-app", KH_FAMILY_SHOP);
    g_autoptr(KhAppProfile) other = make_app ("other-app", KH_FAMILY_SHOP);
    g_autoptr(KhAuthRequest) request = make_request (app, NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *keyring_dir = NULL;
    g_autofree char *runtime_dir = NULL;
    g_autofree char *data_dir = new_data_dir ();
    g_autofree char *name = new_store_name ();
    g_autofree char *index_before = NULL;
    g_autofree char *index_after = NULL;
    g_autofree char *secret = NULL;
    GOutputStream *input;
    gboolean appeared = FALSE;
    guint watch;
    GList collections = { NULL, NULL, NULL };

    g_test_dbus_up (bus);

    keyring_dir = g_dir_make_tmp ("kh-keyring-XXXXXX", &error);
    g_assert_no_error (error);
    runtime_dir = g_build_filename (keyring_dir, "run", NULL);
    g_assert_cmpint (g_mkdir_with_parents (runtime_dir, 0700), ==, 0);

    launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE);
    g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", keyring_dir, TRUE);
    g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
    /* The daemon warns that it cannot show the prompt; with the tests' fatal-warnings it would
     * abort instead of answering "dismissed". */
    g_subprocess_launcher_unsetenv (launcher, "G_DEBUG");
    keyring = g_subprocess_launcher_spawn (launcher, &error, daemon, "--foreground", "--unlock",
                                           "--components=secrets", NULL);
    g_assert_no_error (error);
    input = g_subprocess_get_stdin_pipe (keyring);
    g_assert_true (g_output_stream_write_all (input, "pw", 2, NULL, NULL, &error));
    g_assert_true (g_output_stream_close (input, NULL, &error));
    g_assert_no_error (error);

    watch = g_bus_watch_name (G_BUS_TYPE_SESSION, "org.freedesktop.secrets",
                              G_BUS_NAME_WATCHER_FLAGS_NONE, name_appeared_cb, NULL, &appeared,
                              NULL);
    kh_test_wait_flag (&appeared, 30000);
    g_bus_unwatch_name (watch);

    store = kh_store_new (data_dir, name, &error);
    g_assert_no_error (error);
    g_assert_true (kh_store_save_app (store, app, "locked-secret", FALSE, &error));
    g_assert_no_error (error);
    g_assert_true (kh_store_save_pending (store, request, &error));
    g_assert_no_error (error);

    service = secret_service_get_sync (SECRET_SERVICE_LOAD_COLLECTIONS, NULL, &error);
    g_assert_no_error (error);
    collection = secret_collection_for_alias_sync (service, SECRET_COLLECTION_DEFAULT,
                                                   SECRET_COLLECTION_NONE, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (collection);
    collections.data = collection;
    secret_service_lock_sync (service, &collections, NULL, NULL, &error);
    g_assert_no_error (error);

    index_before = read_index_text (store);

    g_assert_false (kh_store_save_app (store, other, "other-secret", FALSE, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
    g_assert_cmpstr (error->message, ==, "The keyring is locked");
    g_clear_error (&error);

    secret = kh_store_load_app_secret (store, "locked-app", &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
    g_assert_cmpstr (error->message, ==, "The keyring is locked");
    g_assert_null (secret);
    g_clear_error (&error);

    g_assert_null (kh_store_find_pending_by_state (store, kh_auth_request_get_state (request),
                                                   &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
    g_assert_cmpstr (error->message, ==, "The keyring is locked");
    g_clear_error (&error);

    index_after = read_index_text (store);
    g_assert_cmpstr (index_after, ==, index_before);

    /* A rebuild cannot read locked items: it fails and leaves the index alone. */
    g_assert_false (kh_store_rebuild_index (store, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
    g_assert_cmpstr (error->message, ==, "The keyring is locked");
    g_clear_error (&error);
    g_clear_pointer (&index_after, g_free);
    index_after = read_index_text (store);
    g_assert_cmpstr (index_after, ==, index_before);

    /* Without an index, nothing is rebuilt from a locked keyring and nothing is written. */
    g_assert_cmpint (g_unlink (kh_store_get_index_path (store)), ==, 0);
    again = kh_store_new (data_dir, name, &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
    g_assert_cmpstr (error->message, ==, "The keyring is locked");
    g_assert_null (again);
    g_clear_error (&error);
    g_assert_false (g_file_test (kh_store_get_index_path (store), G_FILE_TEST_EXISTS));

    g_subprocess_force_exit (keyring);
    g_assert_true (g_subprocess_wait (keyring, NULL, NULL));
    /* The bus goes away with this process (GTestDBus watches it); bus stays referenced so that
     * no finalizer waits for connections libsecret still holds. */
    g_test_dbus_stop (bus);
    (void) bus;
  }
}

/* ---- scale --------------------------------------------------------------------------------- */

static void
test_large_index (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GString) text = g_string_new ("{\"version\":1,\"grants\":[");
  g_autoptr(KhStore) big = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(KhGrant) found = NULL;
  g_autoptr(KhAppProfile) app = make_app ("big-app", KH_FAMILY_SHOP);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (fixture->data_dir, fixture->store_name, NULL);
  g_autofree char *path = g_build_filename (dir, "index.json", NULL);
  g_autofree char *last_id = NULL;
  gint64 start;
  gint64 t_open;
  gint64 t_find_id;
  gint64 t_list;
  gint64 t_find;
  gint64 t_save;

  /* 2,000 grants, as an agency keeps them; written straight to the index (the keyring is not
   * what is measured here). */
  for (guint i = 0; i < 2000; i++)
    {
      g_autofree char *name = g_strdup_printf ("Client shop %u", i);
      g_autoptr(KhGrant) grant = make_grant (name, name);
      g_autofree char *json = grant_json (grant);

      if (i > 0)
        g_string_append_c (text, ',');
      g_string_append (text, json);
      if (i == 1999)
        last_id = g_strdup (kh_grant_get_id (grant));
    }
  g_string_append (text, "]}");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, text->str, text->len, &error));
  g_assert_no_error (error);

  start = g_get_monotonic_time ();
  big = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  t_open = g_get_monotonic_time () - start;

  /* What `keyhold-cli token GRANT` does: open, then look one grant up by id. */
  start = g_get_monotonic_time ();
  found = kh_store_find_grant (big, last_id, &error);
  t_find_id = g_get_monotonic_time () - start;
  g_assert_no_error (error);
  g_clear_object (&found);

  start = g_get_monotonic_time ();
  grants = kh_store_list_grants (big);
  t_list = g_get_monotonic_time () - start;
  g_assert_cmpuint (grants->len, ==, 2000);

  start = g_get_monotonic_time ();
  found = kh_store_find_grant (big, "client shop 1999", &error);
  t_find = g_get_monotonic_time () - start;
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, last_id);

  /* A change rewrites the index once and writes one keyring item. */
  start = g_get_monotonic_time ();
  g_assert_true (kh_store_save_app (big, app, "big-secret", FALSE, &error));
  t_save = g_get_monotonic_time () - start;
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, NULL), ==, 1);

  g_test_message ("2,000 grants (%zu bytes): open %.1f ms, find by id %.1f ms, list %.1f ms, "
                  "find by name %.1f ms, save an app %.1f ms", text->len, t_open / 1000.,
                  t_find_id / 1000., t_list / 1000., t_find / 1000., t_save / 1000.);
  /* Generous bounds (sanitizers, loaded CI machines); the point is milliseconds, not seconds. */
  g_assert_cmpint (t_open, <, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (t_find, <, 1 * G_USEC_PER_SEC);

  g_clear_pointer (&grants, g_ptr_array_unref);
  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  grants = kh_store_list_grants (fixture->store);
  g_assert_cmpuint (grants->len, ==, 2000);
}

/* ---- keyring writes ------------------------------------------------------------------------ */

static void
assert_stored_tokens (KhStore          *store,
                      const char       *grant_id,
                      const KhTokenSet *expected)
{
  g_autoptr(KhTokenSet) loaded = NULL;
  g_autoptr(GError) error = NULL;

  loaded = kh_store_load_tokens (store, grant_id, &error);
  g_assert_no_error (error);
  kh_test_assert_tokens_equal (loaded, expected);
}

/* Two ids that fall into the same bucket, found among fresh grants. */
static void
make_bucket_mates (KhGrant **first,
                   KhGrant **second)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                                      g_object_unref);

  for (guint i = 0;; i++)
    {
      g_autofree char *name = g_strdup_printf ("Mate %u", i);
      KhGrant *grant = make_grant (name, NULL);
      gpointer bucket = GUINT_TO_POINTER (kh_test_grant_bucket (kh_grant_get_id (grant)) + 1);
      KhGrant *mate = g_hash_table_lookup (seen, bucket);

      if (mate != NULL)
        {
          *first = g_object_ref (mate);
          *second = grant;
          return;
        }
      g_hash_table_insert (seen, bucket, grant);
    }
}

/* Grants' tokens live in at most 32 bucket items: grants of one bucket share its item, which a
 * save rewrites with the other grants kept; an item deleted behind the store's back is written
 * afresh; a damaged one is never overwritten; the last grant out deletes its item. */
static void
test_buckets (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autoptr(KhGrant) first = NULL;
  g_autoptr(KhGrant) second = NULL;
  g_autoptr(KhGrant) elsewhere = NULL;
  g_autoptr(KhTokenSet) first_tokens = make_tokens ("first");
  g_autoptr(KhTokenSet) second_tokens = make_tokens ("second");
  g_autoptr(KhTokenSet) again = make_tokens ("again");
  g_autoptr(KhTokenSet) loaded = NULL;
  g_autoptr(JsonObject) grants = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *label = NULL;
  guint bucket;

  make_bucket_mates (&first, &second);
  bucket = kh_test_grant_bucket (kh_grant_get_id (first));
  for (guint i = 0; elsewhere == NULL || kh_test_grant_bucket (kh_grant_get_id (elsewhere)) ==
                                         bucket; i++)
    {
      g_clear_object (&elsewhere);
      elsewhere = make_grant ("Elsewhere", NULL);
    }

  g_assert_true (kh_store_save_grant (fixture->store, first, first_tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (fixture->store, second, second_tokens, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_grant (fixture->store, elsewhere, first_tokens, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grants"), ==, 2);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, NULL), ==, 2);
  grants = kh_test_read_bucket (fixture->store_name, bucket);
  g_assert_cmpuint (json_object_get_size (grants), ==, 2);
  g_clear_pointer (&grants, json_object_unref);

  /* A refresh of one keeps the other. */
  g_assert_true (kh_store_save_grant (fixture->store, first, again, &error));
  g_assert_no_error (error);
  assert_stored_tokens (fixture->store, kh_grant_get_id (first), again);
  assert_stored_tokens (fixture->store, kh_grant_get_id (second), second_tokens);

  /* The bucket's label names it, not a grant. */
  {
    g_autoptr(GHashTable) attributes = g_hash_table_new (g_str_hash, g_str_equal);
    g_autofree char *id = g_strdup_printf ("%02u", bucket);
    GList *items;

    g_hash_table_insert (attributes, (char *) "store", fixture->store_name);
    g_hash_table_insert (attributes, (char *) "kind", (char *) "grants");
    g_hash_table_insert (attributes, (char *) "id", id);
    items = secret_password_searchv_sync (&test_schema, attributes, SECRET_SEARCH_ALL, NULL,
                                          &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_list_length (items), ==, 1);
    label = secret_item_get_label (items->data);
    g_list_free_full (items, g_object_unref);
  }
  {
    g_autofree char *expected = g_strdup_printf ("Keyhold grants, part %u of 32", bucket + 1);

    g_assert_cmpstr (label, ==, expected);
  }

  /* Deleted behind the store's back: the next save writes it afresh, with what it knows. */
  {
    g_autofree char *id = g_strdup_printf ("%02u", bucket);

    secret_password_clear_sync (&test_schema, NULL, &error, "store", fixture->store_name,
                                "kind", "grants", "id", id, NULL);
    g_assert_no_error (error);
  }
  g_assert_true (kh_store_save_grant (fixture->store, second, second_tokens, &error));
  g_assert_no_error (error);
  assert_stored_tokens (fixture->store, kh_grant_get_id (second), second_tokens);
  loaded = kh_store_load_tokens (fixture->store, kh_grant_get_id (first), &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_assert_null (loaded);
  g_clear_error (&error);

  /* A damaged bucket: saves into it fail and leave it as it is; other buckets still work. */
  kh_test_write_bucket (fixture->store_name, bucket, NULL, "{\"v\":2,\"grants\":{\"x\":");
  g_assert_false (kh_store_save_grant (fixture->store, first, first_tokens, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
  g_clear_error (&error);
  {
    g_autofree char *id = g_strdup_printf ("%02u", bucket);
    g_autofree char *raw = secret_password_lookup_sync (&test_schema, NULL, &error,
                                                        "store", fixture->store_name,
                                                        "kind", "grants", "id", id, NULL);

    g_assert_no_error (error);
    g_assert_cmpstr (raw, ==, "{\"v\":2,\"grants\":{\"x\":");
  }
  loaded = kh_store_load_tokens (fixture->store, kh_grant_get_id (second), &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_STORE);
  g_assert_null (loaded);
  g_clear_error (&error);
  g_assert_true (kh_store_save_grant (fixture->store, elsewhere, again, &error));
  g_assert_no_error (error);
  assert_stored_tokens (fixture->store, kh_grant_get_id (elsewhere), again);

  /* The last grant out of a bucket takes its item with it. */
  g_assert_true (kh_store_remove_grant (fixture->store, kh_grant_get_id (elsewhere), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grants"), ==, 1);
}

/* A save that stopped after its keyring write and before its index write: the next reader of
 * the grant's tokens brings the index entry up to date; index-only changes are kept. */
static void
test_crash_between_writes (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(KhGrant) grant = make_grant ("Crashed", NULL);
  g_autoptr(KhTokenSet) before = make_tokens ("before");
  g_autoptr(KhTokenSet) after = make_tokens ("after");
  g_autoptr(KhStore) again = NULL;
  g_autoptr(KhGrant) listed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *listed_json = NULL;
  Snapshot rebuilt = { 0 };
  Snapshot healed = { 0 };

  g_assert_true (kh_store_save_grant (fixture->store, grant, before, &error));
  g_assert_no_error (error);

  /* The half-done refresh: new tokens and a touched grant in the keyring only. */
  after->access_expires_at += 3600;
  kh_grant_set_expiries_from_tokens (grant, after);
  kh_grant_touch (grant, kh_grant_get_updated_at (grant) + 5);
  kh_test_put_bucket_entry (fixture->store_name, grant, after);
  expected = grant_json (grant);

  again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  listed = kh_store_find_grant (again, kh_grant_get_id (grant), &error);
  g_assert_no_error (error);
  g_assert_cmpint (kh_grant_get_access_expires_at (listed), ==, before->access_expires_at);
  g_clear_object (&listed);

  assert_stored_tokens (again, kh_grant_get_id (grant), after);
  listed = kh_store_find_grant (again, kh_grant_get_id (grant), &error);
  g_assert_no_error (error);
  listed_json = grant_json (listed);
  g_assert_cmpstr (listed_json, ==, expected);

  /* On disk too, and equal to what a rebuild from the keyring gives. */
  g_clear_object (&again);
  again = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  take_snapshot (again, &healed);
  g_assert_true (kh_store_rebuild_index (again, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_unlink (kh_store_get_index_path (again)), ==, 0);
  g_assert_true (kh_store_reload (again, &error));
  g_assert_no_error (error);
  take_snapshot (again, &rebuilt);
  assert_snapshots_equal (&healed, &rebuilt);

  /* An index-only change is newer than the keyring copy: reading the tokens keeps it. */
  kh_grant_set_client_label (listed, "Client after update");
  kh_grant_touch (listed, kh_grant_get_updated_at (listed) + 5);
  g_assert_true (kh_store_update_grant (again, listed, &error));
  g_assert_no_error (error);
  assert_stored_tokens (again, kh_grant_get_id (grant), after);
  g_clear_object (&listed);
  listed = kh_store_find_grant (again, "Client after update", &error);
  g_assert_no_error (error);
  g_assert_nonnull (listed);

  snapshot_clear (&healed);
  snapshot_clear (&rebuilt);
}

typedef struct {
  KhStore   *store;
  GPtrArray *grants;   /* KhGrant */
  GPtrArray *tokens;   /* KhTokenSet, the last saved of each grant */
  guint      first;
  guint      step;
} SaverData;

static gpointer
saver_thread (gpointer user_data)
{
  SaverData *data = user_data;

  for (guint round = 0; round < 2; round++)
    for (guint i = data->first; i < data->grants->len; i += data->step)
      {
        g_autoptr(GError) error = NULL;
        g_autoptr(KhTokenSet) tokens = make_tokens ("saver");

        g_assert_true (kh_store_save_grant (data->store, g_ptr_array_index (data->grants, i),
                                            tokens, &error));
        g_assert_no_error (error);
        /* Each slot belongs to this thread alone. */
        kh_token_set_free (data->tokens->pdata[i]);
        data->tokens->pdata[i] = g_steal_pointer (&tokens);
      }
  return NULL;
}

/* Many saves at once share index writes; afterwards the index is exactly what the keyring
 * holds, in this instance, on disk, and in another instance that saved at the same time. */
static void
test_group_commit (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GPtrArray) grants = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) tokens = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_token_set_free);
  g_autoptr(KhStore) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *index_path = g_strdup (kh_store_get_index_path (fixture->store));
  SaverData data[6];
  GThread *threads[G_N_ELEMENTS (data)];
  Snapshot saved = { 0 };
  Snapshot rebuilt = { 0 };
  const guint n = 36;

  second = kh_store_new (fixture->data_dir, fixture->store_name, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("Batched %02u", i);

      g_ptr_array_add (grants, make_grant (name, NULL));
      g_ptr_array_add (tokens, NULL);
    }

  for (guint t = 0; t < G_N_ELEMENTS (data); t++)
    {
      data[t].store = t % 3 == 2 ? second : fixture->store;
      data[t].grants = grants;
      data[t].tokens = tokens;
      data[t].first = t;
      data[t].step = G_N_ELEMENTS (data);
      threads[t] = g_thread_new ("saver", saver_thread, &data[t]);
    }
  for (guint t = 0; t < G_N_ELEMENTS (data); t++)
    g_thread_join (threads[t]);

  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_bucket_grants (fixture->store_name), ==, n);
  for (guint i = 0; i < n; i++)
    {
      KhGrant *grant = g_ptr_array_index (grants, i);
      const KhTokenSet *last = g_ptr_array_index (tokens, i);
      g_autoptr(KhGrant) listed = kh_store_find_grant (fixture->store, kh_grant_get_id (grant),
                                                       &error);

      g_assert_no_error (error);
      g_assert_cmpint (kh_grant_get_access_expires_at (listed), ==, last->access_expires_at);
      assert_stored_tokens (fixture->store, kh_grant_get_id (grant), last);
    }

  take_snapshot (fixture->store, &saved);
  g_assert_cmpint (g_unlink (index_path), ==, 0);
  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  take_snapshot (fixture->store, &rebuilt);
  assert_snapshots_equal (&saved, &rebuilt);

  snapshot_clear (&saved);
  snapshot_clear (&rebuilt);
}

typedef struct {
  KhStore *store;
  guint    rounds;
} ReaderData;

static gpointer
reader_thread (gpointer user_data)
{
  ReaderData *data = user_data;

  for (guint round = 0; round < data->rounds; round++)
    {
      g_autoptr(GPtrArray) grants = kh_store_list_grants (data->store);
      g_autoptr(GPtrArray) apps = kh_store_list_apps (data->store);
      g_autoptr(GPtrArray) pending = kh_store_list_pending (data->store);

      g_assert_cmpuint (grants->len, >=, 8);
      g_assert_cmpuint (apps->len, ==, 1);
      g_assert_cmpuint (pending->len, ==, 1);
    }
  return NULL;
}

/* Threads list the same index at once (KhGrantList reads in a worker thread while the window
 * counts what is stored) while this one saves grants and re-reads the index: the index's JSON
 * objects are shared by every snapshot, and json-glib counts their references without atomics,
 * so a reference taken or dropped in two threads at once freed an object still in use
 * (forget-all-error: "json_object_ref: assertion 'object->ref_count > 0' failed"). */
static void
test_shared_readers (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(KhAppProfile) app = make_app ("Shared App", KH_FAMILY_SHOP);
  g_autoptr(KhAuthRequest) request = make_request (app, "Shared Client");
  g_autoptr(GError) error = NULL;
  GThread *threads[3];

  g_assert_true (kh_store_save_app (fixture->store, app, "shared-app-secret", TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (kh_store_save_pending (fixture->store, request, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 8; i++)
    {
      g_autofree char *name = g_strdup_printf ("Shared %u", i);
      g_autoptr(KhGrant) grant = make_grant (name, "Shared Client");
      g_autoptr(KhTokenSet) tokens = make_tokens ("shared");

      g_assert_true (kh_store_save_grant (fixture->store, grant, tokens, &error));
      g_assert_no_error (error);
    }

  for (guint round = 0; round < 3; round++)
    {
      /* A fresh instance: every entry is parsed again, by whichever thread lists it first. */
      g_autoptr(KhStore) shared = kh_store_new (fixture->data_dir, fixture->store_name, &error);
      /* Under valgrind threads take turns: a few rounds check the memory, no race is seen. */
      ReaderData data = { shared, kh_test_under_valgrind () ? 20 : 2000 };

      g_assert_no_error (error);
      for (guint t = 0; t < G_N_ELEMENTS (threads); t++)
        threads[t] = g_thread_new ("reader", reader_thread, &data);
      /* New entries, from a change, while the readers list the old and the new. */
      for (guint i = 0; i < 2; i++)
        {
          g_autofree char *name = g_strdup_printf ("Shared %u-%u", round, i);
          g_autoptr(KhGrant) grant = make_grant (name, NULL);
          g_autoptr(KhTokenSet) tokens = make_tokens ("shared");

          g_assert_true (kh_store_save_grant (shared, grant, tokens, &error));
          g_assert_no_error (error);
        }
      for (guint t = 0; t < G_N_ELEMENTS (threads); t++)
        g_thread_join (threads[t]);
    }
  g_assert_true (kh_store_reload (fixture->store, &error));
  g_assert_no_error (error);
  {
    g_autoptr(GPtrArray) grants = kh_store_list_grants (fixture->store);

    g_assert_cmpuint (grants->len, ==, 8 + 3 * 2);
  }
}

/* ---- schema generations -------------------------------------------------------------------- */

/* Items carry the schema generation ("gen") they were written under. This Keyhold reads grant
 * buckets of generation 2 and, until they have moved, per-grant items of generation 1: an item
 * of another generation (a newer Keyhold's) is never read as this one's, never listed by a
 * rebuild (which reports it), and never deleted by a rebuild or a save; removing a grant removes
 * its items of every generation, so that no token outlives its grant. */
static void
test_schema_generation (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(KhGrant) current = make_grant ("Current", NULL);
  g_autoptr(KhGrant) older = make_grant ("Older generation", NULL);
  g_autoptr(KhGrant) newer = make_grant ("Newer generation", NULL);
  g_autoptr(KhTokenSet) current_tokens = make_tokens ("gen1");
  g_autoptr(KhTokenSet) older_tokens = make_tokens ("gen0");
  g_autoptr(KhTokenSet) newer_tokens = make_tokens ("gen2");
  g_autoptr(KhTokenSet) beside = make_tokens ("gen2-beside");
  g_autoptr(KhTokenSet) loaded = NULL;
  g_autoptr(KhGrant) peeked = NULL;
  g_autoptr(KhTokenSet) peeked_tokens = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (kh_store_save_grant (fixture->store, current, current_tokens, &error));
  g_assert_no_error (error);
  kh_test_write_grant_item (fixture->store_name, "0", older, older_tokens);
  kh_test_write_grant_item (fixture->store_name, "2", newer, newer_tokens);
  /* A newer Keyhold's item for a grant this one knows too. */
  kh_test_write_grant_item (fixture->store_name, "2", current, beside);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, 3);

  /* Reading: only this store's buckets (generation 2) and per-grant items of generation 1. */
  loaded = kh_store_load_tokens (fixture->store, kh_grant_get_id (older), &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_assert_null (loaded);
  g_clear_error (&error);
  g_assert_false (kh_store_peek_grant (fixture->store_name, kh_grant_get_id (newer), &peeked,
                                       &peeked_tokens, &error));
  g_assert_no_error (error);
  g_assert_null (peeked);
  assert_stored_tokens (fixture->store, kh_grant_get_id (current), current_tokens);

  /* A rebuild lists what this Keyhold reads only and deletes nothing. */
  g_assert_cmpint (g_unlink (kh_store_get_index_path (fixture->store)), ==, 0);
  g_assert_true (kh_store_rebuild_index (fixture->store, &error));
  g_assert_no_error (error);
  grants = kh_store_list_grants (fixture->store);
  g_assert_cmpuint (grants->len, ==, 1);
  g_assert_cmpstr (kh_grant_get_id (g_ptr_array_index (grants, 0)), ==,
                   kh_grant_get_id (current));
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, 3);

  /* A save writes the grant's bucket and leaves the other generations' items alone. */
  g_assert_true (kh_store_save_grant (fixture->store, current, older_tokens, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, 3);
  assert_stored_tokens (fixture->store, kh_grant_get_id (current), older_tokens);

  /* Removing the grant removes it from its bucket and its items of every generation. */
  g_assert_true (kh_store_remove_grant (fixture->store, kh_grant_get_id (current), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (kh_test_count_items (fixture->store_name, "grant"), ==, 2);
  g_assert_cmpuint (kh_test_count_bucket_grants (fixture->store_name), ==, 0);
}

/* The keyring items' schema is a contract with other tools (secret-tool, Seahorse searches, older
 * Keyhold versions): its name and attributes never change without a new generation. */
static void
test_item_schema (void)
{
  const SecretSchema *schema = kh_store_get_item_schema ();
  const char *names[] = { "gen", "store", "kind", "id", "type", "app" };

  g_assert_cmpstr (schema->name, ==, "io.github.keyhold.Keyhold.Item");
  g_assert_cmpint (schema->flags, ==, SECRET_SCHEMA_NONE);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    g_assert_cmpstr (schema->attributes[i].name, ==, names[i]);
  g_assert_cmpint (schema->attributes[0].type, ==, SECRET_SCHEMA_ATTRIBUTE_INTEGER);
  g_assert_null (schema->attributes[G_N_ELEMENTS (names)].name);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/keyhold/store/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  g_test_add_func ("/keyhold/store/item-schema", test_item_schema);
  ADD ("apps", test_apps);
  ADD ("grants", test_grants);
  ADD ("pending", test_pending);
  ADD ("rebuild-missing-index", test_rebuild_missing);
  ADD ("rebuild-explicit", test_rebuild_explicit);
  ADD ("corrupt-index", test_corrupt);
  ADD ("damaged-entry", test_damaged_entry);
  ADD ("index-layouts", test_index_layouts);
  ADD ("index-before-status-reason", test_index_before_status_reason);
  ADD ("two-instances", test_two_instances);
  ADD ("concurrent-writers", test_concurrent_writers);
  ADD ("isolation", test_isolation);
  ADD ("no-secret-in-index", test_no_secret_in_index);
  ADD ("async", test_async);
  ADD ("large-index", test_large_index);
  ADD ("buckets", test_buckets);
  ADD ("crash-between-writes", test_crash_between_writes);
  ADD ("group-commit", test_group_commit);
  ADD ("shared-readers", test_shared_readers);
  ADD ("schema-generation", test_schema_generation);
  g_test_add_func ("/keyhold/store/no-keyring", test_no_keyring);
  g_test_add_func ("/keyhold/store/file-backend", test_file_backend);
  g_test_add_func ("/keyhold/store/locked-keyring", test_locked_keyring);

#undef ADD

  return g_test_run ();
}
