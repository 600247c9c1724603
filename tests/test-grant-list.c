/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-grant-list.c: KhGrantList over a real store (keyring + index): the sort order, every
 * filter alone and combined, items-changed that a view can replay exactly (and that keeps
 * unchanged rows), and following index changes made by another store object, as another
 * process would. */

#include "config.h"

#include <string.h>
#include <unistd.h>

#include "kh-broker.h"
#include "kh-grant-list.h"
#include "kh-store.h"
#include "kh-test-util.h"
#include "kh-util.h"

#define DAY        (24 * 3600)
#define TIMEOUT_MS 20000

typedef struct
{
  KhStore     *store;
  char        *store_name;
  KhGrantList *list;
  GPtrArray   *shadow;     /* what a view replaying items-changed holds */
  guint        changes;
  guint        last_position;
  guint        last_removed;
  guint        last_added;
} Fixture;

static void
on_items_changed (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  gpointer    user_data)
{
  Fixture *fixture = user_data;

  g_assert_cmpuint (position + removed, <=, fixture->shadow->len);
  g_ptr_array_remove_range (fixture->shadow, position, removed);
  for (guint i = 0; i < added; i++)
    g_ptr_array_insert (fixture->shadow, (int) (position + i),
                        g_list_model_get_item (model, position + i));
  g_assert_cmpuint (fixture->shadow->len, ==, g_list_model_get_n_items (model));

  fixture->changes++;
  fixture->last_position = position;
  fixture->last_removed = removed;
  fixture->last_added = added;
}

/* The replayed view and the model agree item for item. */
static void
assert_shadow (Fixture *fixture)
{
  GListModel *model = G_LIST_MODEL (fixture->list);

  g_assert_cmpuint (fixture->shadow->len, ==, g_list_model_get_n_items (model));
  for (guint i = 0; i < fixture->shadow->len; i++)
    {
      g_autoptr(KhGrant) item = g_list_model_get_item (model, i);

      g_assert_true (item == g_ptr_array_index (fixture->shadow, i));
    }
}

static KhGrant *
add_grant (KhStore       *store,
           KhAccountType  type,
           const char    *name,
           const char    *client,
           gint64         access,
           gint64         refresh_end)
{
  g_autoptr(KhGrant) grant = kh_grant_new (type, NULL, "App");
  g_autoptr(KhTokenSet) tokens = kh_token_set_new ();
  g_autoptr(GError) error = NULL;

  tokens->access_token = g_strdup ("access-token-for-list-test");
  tokens->refresh_token = access != 0 ? g_strdup ("refresh-token-for-list-test") : NULL;
  tokens->access_expires_at = access;
  tokens->refresh_expires_at = refresh_end;
  kh_grant_set_expiries_from_tokens (grant, tokens);
  kh_grant_set_display_name (grant, name);
  kh_grant_set_client_label (grant, client);
  kh_store_save_grant (store, grant, tokens, &error);
  g_assert_no_error (error);

  return g_steal_pointer (&grant);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  static guint counter;

  fixture->store_name = g_strdup_printf ("test-grant-list-%d-%u", (int) getpid (), counter++);
  fixture->store = kh_store_new (NULL, fixture->store_name, &error);
  g_assert_no_error (error);
  fixture->shadow = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
watch (Fixture *fixture)
{
  GListModel *model;

  fixture->list = kh_grant_list_new (fixture->store);
  model = G_LIST_MODEL (fixture->list);
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    g_ptr_array_add (fixture->shadow, g_list_model_get_item (model, i));
  g_signal_connect (fixture->list, "items-changed", G_CALLBACK (on_items_changed), fixture);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  if (fixture->list != NULL)
    g_assert_finalize_object (fixture->list);
  g_clear_pointer (&fixture->shadow, g_ptr_array_unref);
  g_clear_object (&fixture->store);
  g_free (fixture->store_name);
}

static const char *
name_at (KhGrantList *list,
         guint        position)
{
  g_autoptr(KhGrant) grant = g_list_model_get_item (G_LIST_MODEL (list), position);

  /* The list holds its own reference: the string outlives this one. */
  return kh_grant_get_display_name (grant);
}

static void
test_sort (Fixture       *fixture,
           gconstpointer  user_data)
{
  gint64 now = kh_now ();
  g_autoptr(KhGrant) b = NULL;
  g_autoptr(KhGrant) d = NULL;

  g_object_unref (add_grant (fixture->store, KH_ACCOUNT_SELLER, "Later shop", "Acme",
                             now + 7 * DAY, now + 200 * DAY));
  b = add_grant (fixture->store, KH_ACCOUNT_ADVERTISER, "Ads forever", "Acme", 0, 0);
  g_object_unref (add_grant (fixture->store, KH_ACCOUNT_SELLER, "Soon shop", "Beta",
                             now + 7 * DAY, now + 5 * DAY));
  d = add_grant (fixture->store, KH_ACCOUNT_TIKTOK_ACCOUNT, "Account", "Beta", now + DAY,
                 now + 100 * DAY);

  watch (fixture);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (fixture->list)), ==, 4);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (fixture->list)) == KH_TYPE_GRANT);
  /* Soonest end of authorization first; "never" last. */
  g_assert_cmpstr (name_at (fixture->list, 0), ==, "Soon shop");
  g_assert_cmpstr (name_at (fixture->list, 1), ==, "Account");
  g_assert_cmpstr (name_at (fixture->list, 2), ==, "Later shop");
  g_assert_cmpstr (name_at (fixture->list, 3), ==, "Ads forever");
  g_assert_null (g_list_model_get_item (G_LIST_MODEL (fixture->list), 4));
  g_assert_cmpint (kh_grant_get_relevant_expiry (b), ==, G_MAXINT64);
  g_assert_cmpint (kh_grant_get_relevant_expiry (d), ==, now + 100 * DAY);
}

static void
test_filters (Fixture       *fixture,
              gconstpointer  user_data)
{
  gint64 now = kh_now ();
  g_autoptr(KhGrant) shop = add_grant (fixture->store, KH_ACCOUNT_SELLER, "Maomao Beauty", "Acme",
                                       now + 7 * DAY, now + 200 * DAY);
  g_autoptr(KhGrant) expiring = add_grant (fixture->store, KH_ACCOUNT_SELLER, "Kat's Kitchen",
                                           "Beta", now + 7 * DAY, now + 10 * DAY);
  g_autoptr(KhGrant) ads = add_grant (fixture->store, KH_ACCOUNT_ADVERTISER, "Acme Ads", "Acme",
                                      0, 0);
  g_autoptr(KhGrant) dead = add_grant (fixture->store, KH_ACCOUNT_TIKTOK_ACCOUNT, "Old account",
                                       NULL, now - 10, now - 5);
  g_autoptr(GError) error = NULL;
  GListModel *model;

  /* A shop name and region to search for. */
  {
    g_autoptr(GPtrArray) shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
    KhShop template = { (char *) "7000714532876273420", (char *) "Lipstick Lab GB",
                        (char *) "GB", (char *) "LOCAL", (char *) "GCP_x", (char *) "GB1" };

    g_ptr_array_add (shops, kh_shop_copy (&template));
    kh_grant_set_shops (shop, shops);
    kh_store_update_grant (fixture->store, shop, &error);
    g_assert_no_error (error);
  }

  watch (fixture);
  model = G_LIST_MODEL (fixture->list);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 4);
  g_assert_cmpuint (kh_grant_list_get_n_total (fixture->list), ==, 4);

  kh_grant_list_set_type_filter (fixture->list, KH_ACCOUNT_SELLER);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);
  assert_shadow (fixture);
  g_assert_cmpint (kh_grant_list_get_type_filter (fixture->list), ==, KH_ACCOUNT_SELLER);

  kh_grant_list_set_client_filter (fixture->list, "Acme");
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
  g_assert_cmpstr (name_at (fixture->list, 0), ==, "Maomao Beauty");
  assert_shadow (fixture);

  kh_grant_list_set_type_filter (fixture->list, KH_GRANT_LIST_ANY);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);
  kh_grant_list_set_client_filter (fixture->list, NULL);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 4);
  assert_shadow (fixture);

  kh_grant_list_set_status_filter (fixture->list, KH_GRANT_STATUS_EXPIRING);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
  g_assert_cmpstr (name_at (fixture->list, 0), ==, "Kat's Kitchen");
  kh_grant_list_set_status_filter (fixture->list, KH_GRANT_STATUS_NEEDS_REAUTH);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
  g_assert_cmpstr (name_at (fixture->list, 0), ==, "Old account");
  kh_grant_list_set_status_filter (fixture->list, KH_GRANT_LIST_ANY);
  assert_shadow (fixture);

  /* Text: case-insensitive, over names, clients, shop names, regions and ids. */
  kh_grant_list_set_text_filter (fixture->list, "LIPSTICK");
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
  g_assert_cmpstr (name_at (fixture->list, 0), ==, "Maomao Beauty");
  kh_grant_list_set_text_filter (fixture->list, "acme");
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 2);
  kh_grant_list_set_text_filter (fixture->list, kh_grant_get_id (dead));
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 1);
  g_assert_cmpstr (name_at (fixture->list, 0), ==, "Old account");
  kh_grant_list_set_text_filter (fixture->list, "no such thing");
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 0);
  kh_grant_list_set_text_filter (fixture->list, "");
  g_assert_null (kh_grant_list_get_text_filter (fixture->list));
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 4);
  assert_shadow (fixture);

  /* Setting the same filter again changes nothing and says nothing. */
  {
    guint changes = fixture->changes;

    kh_grant_list_set_text_filter (fixture->list, NULL);
    kh_grant_list_set_type_filter (fixture->list, KH_GRANT_LIST_ANY);
    g_assert_cmpuint (fixture->changes, ==, changes);
  }

  g_assert_nonnull (ads);
  g_assert_nonnull (expiring);
}

static gboolean
has_items (gpointer user_data)
{
  Fixture *fixture = user_data;

  return g_list_model_get_n_items (G_LIST_MODEL (fixture->list)) == 3;
}

static gboolean
changed_since (gpointer user_data)
{
  Fixture *fixture = user_data;

  return fixture->changes > 0;
}

static void
test_follows_index (Fixture       *fixture,
                    gconstpointer  user_data)
{
  gint64 now = kh_now ();
  g_autoptr(KhGrant) first = add_grant (fixture->store, KH_ACCOUNT_SELLER, "First", "Acme",
                                        now + 7 * DAY, now + 100 * DAY);
  g_autoptr(KhGrant) second = add_grant (fixture->store, KH_ACCOUNT_SELLER, "Second", "Acme",
                                         now + 7 * DAY, now + 150 * DAY);
  g_autoptr(KhStore) other = NULL;
  g_autoptr(KhGrant) third = NULL;
  g_autoptr(KhGrant) relabel = NULL;
  g_autoptr(KhGrant) kept = NULL;
  g_autoptr(GError) error = NULL;

  watch (fixture);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (fixture->list)), ==, 2);
  kept = g_list_model_get_item (G_LIST_MODEL (fixture->list), 0);

  /* Another process adds a grant that sorts last: one insertion at the end, nothing else. */
  other = kh_store_new (NULL, fixture->store_name, &error);
  g_assert_no_error (error);
  third = add_grant (other, KH_ACCOUNT_PARTNER, "Third", "Beta", now + 7 * DAY, now + 300 * DAY);
  kh_test_wait_until (has_items, fixture, TIMEOUT_MS);
  assert_shadow (fixture);
  g_assert_cmpstr (name_at (fixture->list, 2), ==, "Third");
  g_assert_cmpuint (fixture->last_position, ==, 2);
  g_assert_cmpuint (fixture->last_removed, ==, 0);
  g_assert_cmpuint (fixture->last_added, ==, 1);
  {
    g_autoptr(KhGrant) still = g_list_model_get_item (G_LIST_MODEL (fixture->list), 0);

    /* Unchanged grants keep their objects: rows bound to them do not flicker. */
    g_assert_true (still == kept);
  }

  /* It relabels the first one: only that row changes. */
  fixture->changes = 0;
  relabel = kh_store_find_grant (other, kh_grant_get_id (first), &error);
  g_assert_no_error (error);
  kh_grant_set_client_label (relabel, "Gamma");
  kh_grant_touch (relabel, now + 1);
  kh_store_update_grant (other, relabel, &error);
  g_assert_no_error (error);
  kh_test_wait_until (changed_since, fixture, TIMEOUT_MS);
  assert_shadow (fixture);
  g_assert_cmpuint (fixture->last_position, ==, 0);
  g_assert_cmpuint (fixture->last_removed, ==, 1);
  g_assert_cmpuint (fixture->last_added, ==, 1);
  g_assert_cmpstr (kh_grant_get_client_label (g_ptr_array_index (fixture->shadow, 0)), ==,
                   "Gamma");

  /* And removes the second. */
  fixture->changes = 0;
  kh_store_remove_grant (other, kh_grant_get_id (second), &error);
  g_assert_no_error (error);
  kh_test_wait_until (changed_since, fixture, TIMEOUT_MS);
  assert_shadow (fixture);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (fixture->list)), ==, 2);
  g_assert_cmpuint (fixture->last_position, ==, 1);
  g_assert_cmpuint (fixture->last_removed, ==, 1);
  g_assert_cmpuint (fixture->last_added, ==, 0);
}

static void
test_many (Fixture       *fixture,
           gconstpointer  user_data)
{
  gint64 now = kh_now ();
  GListModel *model;
  gint64 start;
  const char *keystrokes[] = { "s", "sh", "sho", "shop", "shop 1", "shop 12", "shop 1", "" };

  for (guint i = 0; i < 150; i++)
    {
      g_autofree char *name = g_strdup_printf ("Shop %u", i);

      g_object_unref (add_grant (fixture->store,
                                 i % 3 == 0 ? KH_ACCOUNT_ADVERTISER : KH_ACCOUNT_SELLER,
                                 name, i % 2 ? "Odd" : "Even",
                                 i % 3 == 0 ? 0 : now + 7 * DAY,
                                 i % 3 == 0 ? 0 : now + (gint64) (i + 1) * DAY));
    }

  watch (fixture);
  model = G_LIST_MODEL (fixture->list);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 150);

  /* Sorted: non-decreasing relevant expiry all the way down. */
  for (guint i = 1; i < 150; i++)
    {
      g_autoptr(KhGrant) a = g_list_model_get_item (model, i - 1);
      g_autoptr(KhGrant) b = g_list_model_get_item (model, i);

      g_assert_cmpint (kh_grant_get_relevant_expiry (a), <=, kh_grant_get_relevant_expiry (b));
    }

  /* Typing in the search field: every keystroke gives the right count and a replayable
   * change. (Timing is for the benchmarks; this reports it only.) */
  start = g_get_monotonic_time ();
  for (guint k = 0; k < G_N_ELEMENTS (keystrokes); k++)
    {
      guint expected = 0;

      kh_grant_list_set_text_filter (fixture->list, keystrokes[k]);
      for (guint i = 0; i < 150; i++)
        {
          g_autofree char *name = g_strdup_printf ("shop %u", i);

          if (*keystrokes[k] == '\0' || strstr (name, keystrokes[k]) != NULL)
            expected++;
        }
      g_assert_cmpuint (g_list_model_get_n_items (model), ==, expected);
      assert_shadow (fixture);
    }
  g_test_message ("%u keystrokes over 150 grants: %" G_GINT64_FORMAT " us",
                  (guint) G_N_ELEMENTS (keystrokes), g_get_monotonic_time () - start);

  kh_grant_list_set_client_filter (fixture->list, "Odd");
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 75);
  assert_shadow (fixture);
}

static void
on_loaded_changed (KhGrantList *list,
                   GParamSpec  *pspec,
                   guint       *count)
{
  (*count)++;
}

static void
count_changes (GListModel *model,
               guint       position,
               guint       removed,
               guint       added,
               guint      *count)
{
  (*count)++;
}

static gboolean
list_loaded (gpointer user_data)
{
  return kh_grant_list_get_loaded (user_data);
}

/* A deferred source reads nothing until asked, then reads in a worker thread; views share its
 * grant objects and filter on their own; the attention order puts what needs a person first. */
static void
test_views (Fixture       *fixture,
            gconstpointer  user_data)
{
  gint64 now = kh_now ();
  g_autoptr(KhGrant) later = add_grant (fixture->store, KH_ACCOUNT_SELLER, "Later shop", "Acme",
                                        now + 7 * DAY, now + 200 * DAY);
  g_autoptr(KhGrant) soon = add_grant (fixture->store, KH_ACCOUNT_SELLER, "Soon shop", "Beta",
                                       now + 7 * DAY, now + 5 * DAY);
  g_autoptr(KhGrant) ads = add_grant (fixture->store, KH_ACCOUNT_ADVERTISER, "Acme Ads", "Acme",
                                      0, 0);
  g_autoptr(KhGrant) broken = add_grant (fixture->store, KH_ACCOUNT_SELLER, "Broken shop", NULL,
                                         now + 7 * DAY, now + 300 * DAY);
  g_autoptr(KhGrantList) source = NULL;
  g_autoptr(KhGrantList) sellers = NULL;
  g_autoptr(KhGrantList) advertisers = NULL;
  g_autoptr(KhStore) other = NULL;
  g_autoptr(KhGrant) added = NULL;
  g_autoptr(GError) error = NULL;
  guint notified = 0;
  guint n_sellers_changes = 0;

  kh_grant_set_stored_status (broken, KH_GRANT_STATUS_NEEDS_REAUTH);
  kh_store_update_grant (fixture->store, broken, &error);
  g_assert_no_error (error);

  source = kh_grant_list_new_deferred (fixture->store);
  kh_grant_list_set_sort (source, KH_GRANT_LIST_SORT_ATTENTION);
  g_assert_cmpint (kh_grant_list_get_sort (source), ==, KH_GRANT_LIST_SORT_ATTENTION);
  sellers = kh_grant_list_new_view (source);
  kh_grant_list_set_type_filter (sellers, KH_ACCOUNT_SELLER);
  g_assert_true (kh_grant_list_get_source (sellers) == source);
  g_assert_null (kh_grant_list_get_source (source));
  g_assert_true (kh_grant_list_get_store (sellers) == fixture->store);
  g_signal_connect (sellers, "notify::loaded", G_CALLBACK (on_loaded_changed), &notified);
  g_signal_connect (sellers, "items-changed", G_CALLBACK (count_changes), &n_sellers_changes);

  /* Nothing read yet: empty, and it says so. */
  g_assert_false (kh_grant_list_get_loaded (source));
  g_assert_false (kh_grant_list_get_loaded (sellers));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (source)), ==, 0);
  g_assert_cmpuint (kh_grant_list_get_n_total (sellers), ==, 0);

  kh_grant_list_load_async (source, NULL, NULL, NULL);
  kh_test_wait_until (list_loaded, sellers, TIMEOUT_MS);
  g_assert_cmpuint (notified, ==, 1);
  g_assert_cmpuint (n_sellers_changes, ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (source)), ==, 4);
  g_assert_cmpuint (kh_grant_list_get_n_total (sellers), ==, 4);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (sellers)), ==, 3);
  /* Re-authorize first, then expiring, then by end. */
  g_assert_cmpstr (name_at (sellers, 0), ==, "Broken shop");
  g_assert_cmpstr (name_at (sellers, 1), ==, "Soon shop");
  g_assert_cmpstr (name_at (sellers, 2), ==, "Later shop");

  /* One object per grant, shared by the source and its views. */
  {
    g_autoptr(KhGrant) in_source = g_list_model_get_item (G_LIST_MODEL (source), 2);
    g_autoptr(KhGrant) in_view = g_list_model_get_item (G_LIST_MODEL (sellers), 2);

    g_assert_true (in_source == in_view);
  }

  /* A second view added later sees what is loaded at once. */
  advertisers = kh_grant_list_new_view (source);
  g_assert_true (kh_grant_list_get_loaded (advertisers));
  kh_grant_list_set_type_filter (advertisers, KH_ACCOUNT_ADVERTISER);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (advertisers)), ==, 1);
  kh_grant_list_set_text_filter (sellers, "soon");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (sellers)), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (advertisers)), ==, 1);
  kh_grant_list_set_text_filter (sellers, NULL);

  /* Another process adds a seller: the deferred source re-reads in the background and the
   * views follow; the advertisers view does not change. */
  other = kh_store_new (NULL, fixture->store_name, &error);
  g_assert_no_error (error);
  fixture->list = g_object_ref (sellers);
  fixture->changes = 0;
  {
    GListModel *model = G_LIST_MODEL (sellers);

    for (guint i = 0; i < g_list_model_get_n_items (model); i++)
      g_ptr_array_add (fixture->shadow, g_list_model_get_item (model, i));
    g_signal_connect (sellers, "items-changed", G_CALLBACK (on_items_changed), fixture);
  }
  added = add_grant (other, KH_ACCOUNT_SELLER, "Added shop", "Beta", now + 7 * DAY,
                     now + 250 * DAY);
  kh_test_wait_until (changed_since, fixture, TIMEOUT_MS);
  assert_shadow (fixture);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (sellers)), ==, 4);
  g_assert_cmpstr (name_at (sellers, 3), ==, "Added shop");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (advertisers)), ==, 1);
  g_signal_handlers_disconnect_by_data (sellers, fixture);
  g_clear_object (&fixture->list);

  /* Grants from elsewhere replace what is shown until the next read. */
  {
    g_autoptr(GPtrArray) grants = g_ptr_array_new_with_free_func (g_object_unref);

    g_ptr_array_add (grants, g_object_ref (ads));
    kh_grant_list_set_grants (source, grants);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (sellers)), ==, 0);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (advertisers)), ==, 1);
    g_assert_true (kh_grant_list_reload (sellers, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (sellers)), ==, 4);
  }

  g_assert_nonnull (later);
  g_assert_nonnull (soon);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add ("/keyhold/grant-list/sort", Fixture, NULL, fixture_set_up, test_sort,
              fixture_tear_down);
  g_test_add ("/keyhold/grant-list/filters", Fixture, NULL, fixture_set_up, test_filters,
              fixture_tear_down);
  g_test_add ("/keyhold/grant-list/follows-index", Fixture, NULL, fixture_set_up,
              test_follows_index, fixture_tear_down);
  g_test_add ("/keyhold/grant-list/many", Fixture, NULL, fixture_set_up, test_many,
              fixture_tear_down);
  g_test_add ("/keyhold/grant-list/views", Fixture, NULL, fixture_set_up, test_views,
              fixture_tear_down);

  return g_test_run ();
}
