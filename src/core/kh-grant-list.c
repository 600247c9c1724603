/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-list.c: a GListModel over the store's index. All grants are kept sorted once (when
 * the index changes); a filter change only walks that sorted array, so a keystroke in the
 * search field costs O(n) with a pre-folded search text per grant, never a sort. items-changed
 * covers only the span between the unchanged head and tail of the list. A view shares its
 * source's sorted array (reference counted, replaced, never changed in place) and refilters when
 * the source has re-read the index; a deferred source reads it in a worker thread. */

#define G_LOG_DOMAIN "kh-grant-list"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-grant-list.h"

#include "kh-provider.h"
#include "kh-shared.h"
#include "kh-util.h"

#include <string.h>

typedef struct
{
  KhGrant *grant;
  gint64   expiry;   /* sort keys: expiry, status rank, name */
  int      rank;
  char    *collate;
  char    *folded;   /* casefolded search text */
} Entry;

struct _KhGrantList
{
  GObject       parent_instance;

  /* owned */
  KhStore      *store;
  KhGrantList  *source;   /* views only */
  GFileMonitor *monitor;  /* sources only */
  KhTeam       *team;     /* sources only; NULL: not in a team */
  guint         watch_id; /* the team's LISTEN connection, once it is up */
  guint         rewatch_id;
  GCancellable *cancellable;
  GArray       *all;      /* Entry, sorted; shared with the views of a source */
  GPtrArray    *items;    /* KhGrant (refs), the filtered view */
  char         *client_filter;
  char         *text_filter;    /* casefolded */
  guint         reload_id;

  guint         load_serial;   /* the newest read wins when reads overlap */
  int           type_filter;
  int           status_filter;
  KhGrantListSort sort;
  gboolean      deferred;
  gboolean      loaded;
};

static void kh_grant_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (KhGrantList, kh_grant_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, kh_grant_list_model_init))

enum {
  PROP_0,
  PROP_STORE,
  PROP_TYPE_FILTER,
  PROP_CLIENT_FILTER,
  PROP_STATUS_FILTER,
  PROP_TEXT_FILTER,
  PROP_N_ITEMS,
  PROP_SOURCE,
  PROP_DEFERRED,
  PROP_LOADED,
  PROP_SORT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_RELOADED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* Replaces *slot by a copy of value; FALSE when they were equal (g_set_str is newer than our
 * GLib floor). */
static gboolean
set_str (char       **slot,
         const char  *value)
{
  if (g_strcmp0 (*slot, value) == 0)
    return FALSE;

  g_free (*slot);
  *slot = g_strdup (value);
  return TRUE;
}

/* ---- entries -------------------------------------------------------------------------------- */

gint64
kh_grant_get_relevant_expiry (KhGrant *grant)
{
  gint64 refresh;
  gint64 access;

  g_return_val_if_fail (KH_IS_GRANT (grant), G_MAXINT64);

  /* The access token renews itself; what needs a person is the end of the authorization. */
  refresh = kh_grant_get_refresh_expires_at (grant);
  access = kh_grant_get_access_expires_at (grant);
  if (refresh != 0)
    return refresh;
  if (access != 0)
    return access;

  return G_MAXINT64;
}

static char *
fold_search_text (KhGrant *grant)
{
  g_autoptr(GString) text = g_string_new (NULL);
  GPtrArray *shops = kh_grant_get_shops (grant);
  GPtrArray *advertisers = kh_grant_get_advertisers (grant);
  const char *values[] = {
    kh_grant_get_display_name (grant), kh_grant_get_client_label (grant),
    kh_grant_get_region (grant), kh_grant_get_id (grant), kh_grant_get_app_name (grant),
    kh_grant_get_open_id (grant),
  };

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    if (values[i] != NULL)
      g_string_append_printf (text, "%s\n", values[i]);
  for (guint i = 0; shops != NULL && i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);

      if (shop->name != NULL)
        g_string_append_printf (text, "%s\n", shop->name);
      if (shop->region != NULL)
        g_string_append_printf (text, "%s\n", shop->region);
      if (shop->id != NULL)
        g_string_append_printf (text, "%s\n", shop->id);
      if (shop->cipher != NULL)
        g_string_append_printf (text, "%s\n", shop->cipher);
    }
  for (guint i = 0; advertisers != NULL && i < advertisers->len; i++)
    {
      KhAdvertiser *advertiser = g_ptr_array_index (advertisers, i);

      if (advertiser->name != NULL)
        g_string_append_printf (text, "%s\n", advertiser->name);
      if (advertiser->id != NULL)
        g_string_append_printf (text, "%s\n", advertiser->id);
    }

  return g_utf8_casefold (text->str, -1);
}

static void
entry_clear (gpointer data)
{
  Entry *entry = data;

  g_clear_object (&entry->grant);
  g_clear_pointer (&entry->collate, g_free);
  g_clear_pointer (&entry->folded, g_free);
}

/* What needs a person first: re-authorize, renew soon, fine, gone. */
static int
status_rank (KhGrantStatus status)
{
  switch (status)
    {
    case KH_GRANT_STATUS_NEEDS_REAUTH:
      return 0;
    case KH_GRANT_STATUS_EXPIRING:
      return 1;
    case KH_GRANT_STATUS_ACTIVE:
      return 2;
    case KH_GRANT_STATUS_REVOKED:
    default:
      return 3;
    }
}

/* The costly parts of an entry (casefolding, collation keys) are computed here, once per grant
 * object; a deferred source does it in its worker thread. */
static void
entry_init (Entry   *entry,
            KhGrant *grant,
            gint64   now)
{
  entry->grant = g_object_ref (grant);
  entry->expiry = kh_grant_get_relevant_expiry (grant);
  entry->rank = status_rank (kh_grant_compute_status (grant, now));
  entry->collate = g_utf8_collate_key (kh_grant_get_display_name (grant) != NULL
                                       ? kh_grant_get_display_name (grant) : "", -1);
  entry->folded = fold_search_text (grant);
}

static int
compare_entries (gconstpointer a,
                 gconstpointer b,
                 gpointer      user_data)
{
  const Entry *ea = a;
  const Entry *eb = b;
  KhGrantListSort sort = GPOINTER_TO_INT (user_data);
  int cmp;

  if (sort == KH_GRANT_LIST_SORT_ATTENTION && ea->rank != eb->rank)
    return ea->rank < eb->rank ? -1 : 1;
  if (ea->expiry != eb->expiry)
    return ea->expiry < eb->expiry ? -1 : 1;
  cmp = strcmp (ea->collate, eb->collate);
  if (cmp != 0)
    return cmp;

  return strcmp (kh_grant_get_id (ea->grant), kh_grant_get_id (eb->grant));
}

/* Two index snapshots of a grant that show the same thing: the old object is kept, so views
 * bound to it do not flicker. */
static gboolean
same_grant (KhGrant *a,
            KhGrant *b)
{
  GPtrArray *shops_a = kh_grant_get_shops (a);
  GPtrArray *shops_b = kh_grant_get_shops (b);
  GPtrArray *adv_a = kh_grant_get_advertisers (a);
  GPtrArray *adv_b = kh_grant_get_advertisers (b);

  return g_str_equal (kh_grant_get_id (a), kh_grant_get_id (b)) &&
         kh_grant_get_updated_at (a) == kh_grant_get_updated_at (b) &&
         kh_grant_get_access_expires_at (a) == kh_grant_get_access_expires_at (b) &&
         kh_grant_get_refresh_expires_at (a) == kh_grant_get_refresh_expires_at (b) &&
         kh_grant_get_stored_status (a) == kh_grant_get_stored_status (b) &&
         kh_grant_get_shared (a) == kh_grant_get_shared (b) &&
         g_strcmp0 (kh_grant_get_display_name (a), kh_grant_get_display_name (b)) == 0 &&
         g_strcmp0 (kh_grant_get_client_label (a), kh_grant_get_client_label (b)) == 0 &&
         g_strcmp0 (kh_grant_get_region (a), kh_grant_get_region (b)) == 0 &&
         (shops_a != NULL ? shops_a->len : 0) == (shops_b != NULL ? shops_b->len : 0) &&
         (adv_a != NULL ? adv_a->len : 0) == (adv_b != NULL ? adv_b->len : 0) &&
         g_strv_equal ((const char * const *) kh_grant_get_missing_scopes (a),
                       (const char * const *) kh_grant_get_missing_scopes (b));
}

/* ---- filtering ------------------------------------------------------------------------------ */

static gboolean
entry_matches (KhGrantList *self,
               Entry       *entry,
               gint64       now)
{
  if (self->type_filter != KH_GRANT_LIST_ANY &&
      (int) kh_grant_get_account_type (entry->grant) != self->type_filter)
    return FALSE;
  if (self->client_filter != NULL &&
      g_strcmp0 (kh_grant_get_client_label (entry->grant), self->client_filter) != 0)
    return FALSE;
  if (self->status_filter != KH_GRANT_LIST_ANY &&
      (int) kh_grant_compute_status (entry->grant, now) != self->status_filter)
    return FALSE;
  if (self->text_filter != NULL && strstr (entry->folded, self->text_filter) == NULL)
    return FALSE;

  return TRUE;
}

/* Rebuilds the filtered view and tells the views which span changed. */
static void
refilter (KhGrantList *self)
{
  g_autoptr(GPtrArray) old = self->items;
  guint n_all = self->all != NULL ? self->all->len : 0;
  GPtrArray *next = g_ptr_array_new_full (n_all, g_object_unref);
  gint64 now = kh_now ();
  guint prefix = 0;
  guint suffix = 0;
  guint removed;
  guint added;

  for (guint i = 0; i < n_all; i++)
    {
      Entry *entry = &g_array_index (self->all, Entry, i);

      if (entry_matches (self, entry, now))
        g_ptr_array_add (next, g_object_ref (entry->grant));
    }
  self->items = next;

  while (prefix < old->len && prefix < next->len &&
         g_ptr_array_index (old, prefix) == g_ptr_array_index (next, prefix))
    prefix++;
  while (suffix < old->len - prefix && suffix < next->len - prefix &&
         g_ptr_array_index (old, old->len - 1 - suffix) ==
         g_ptr_array_index (next, next->len - 1 - suffix))
    suffix++;

  removed = old->len - prefix - suffix;
  added = next->len - prefix - suffix;
  if (removed == 0 && added == 0)
    return;

  g_list_model_items_changed (G_LIST_MODEL (self), prefix, removed, added);
  if (old->len != next->len)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

/* Entries for grants, sorted. Touches nothing shared: worker threads call it. */
static GArray *
entries_new (GPtrArray       *grants,
             KhGrantListSort  sort)
{
  GArray *all = g_array_sized_new (FALSE, TRUE, sizeof (Entry), grants->len);
  gint64 now = kh_now ();

  g_array_set_clear_func (all, entry_clear);
  for (guint i = 0; i < grants->len; i++)
    {
      Entry entry = { NULL, };

      entry_init (&entry, g_ptr_array_index (grants, i), now);
      g_array_append_val (all, entry);
    }
  g_array_sort_with_data (all, compare_entries, GINT_TO_POINTER (sort));

  return all;
}

/* Takes a freshly read, sorted array, keeping the objects of unchanged grants (same content, so
 * the same sort keys): rows bound to them do not flicker, and refilter() sees them unchanged. */
static void
adopt (KhGrantList *self,
       GArray      *all)
{
  g_autoptr(GHashTable) previous = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GArray) old = self->all;
  gboolean was_loaded = self->loaded;

  for (guint i = 0; old != NULL && i < old->len; i++)
    {
      Entry *entry = &g_array_index (old, Entry, i);

      g_hash_table_insert (previous, (gpointer) kh_grant_get_id (entry->grant), entry->grant);
    }
  for (guint i = 0; i < all->len; i++)
    {
      Entry *entry = &g_array_index (all, Entry, i);
      KhGrant *before = g_hash_table_lookup (previous, kh_grant_get_id (entry->grant));

      if (before != NULL && before != entry->grant && same_grant (before, entry->grant))
        g_set_object (&entry->grant, before);
    }

  self->all = all;
  self->loaded = TRUE;
  refilter (self);
  if (!was_loaded)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADED]);
  g_signal_emit (self, signals[SIGNAL_RELOADED], 0);
}

/* Takes the grants of the store's current index. */
static gboolean
rebuild (KhGrantList  *self,
         GError      **error)
{
  g_autoptr(GPtrArray) grants = kh_shared_list_grants (self->store, self->team, error);

  if (grants == NULL)
    return FALSE;
  self->load_serial++;
  adopt (self, entries_new (grants, self->sort));
  return TRUE;
}

gboolean
kh_grant_list_reload (KhGrantList  *self,
                      GError      **error)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->source != NULL)
    return kh_grant_list_reload (self->source, error);

  if (!kh_store_reload (self->store, error))
    return FALSE;

  return rebuild (self, error);
}

void
kh_grant_list_set_grants (KhGrantList *self,
                          GPtrArray   *grants)
{
  g_return_if_fail (KH_IS_GRANT_LIST (self));
  g_return_if_fail (self->source == NULL);
  g_return_if_fail (grants != NULL);

  for (guint i = 0; i < grants->len; i++)
    g_return_if_fail (KH_IS_GRANT (g_ptr_array_index (grants, i)));

  /* A read that started before must not overwrite these. */
  self->load_serial++;
  adopt (self, entries_new (grants, self->sort));
}

/* -- reading in a worker thread -- */

typedef struct
{
  KhStore         *store;
  KhTeam          *team;
  KhGrantListSort  sort;
  guint            serial;
} LoadData;

static void
load_data_free (LoadData *data)
{
  g_object_unref (data->store);
  g_clear_object (&data->team);
  g_free (data);
}

static void
load_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  LoadData *data = task_data;
  g_autoptr(GPtrArray) grants = NULL;
  GError *error = NULL;

  if (!kh_store_reload (data->store, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  grants = kh_shared_list_grants (data->store, data->team, &error);
  if (grants == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, entries_new (grants, data->sort), (GDestroyNotify) g_array_unref);
}

static void
load_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  KhGrantList *self = KH_GRANT_LIST (object);
  g_autoptr(GTask) task = user_data;
  LoadData *data = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;
  GArray *all;

  all = g_task_propagate_pointer (G_TASK (result), &error);
  if (all == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* Only the newest read counts: an older one finishing late would undo a newer change. */
  if (data->serial == self->load_serial)
    adopt (self, all);
  else
    g_array_unref (all);
  g_task_return_boolean (task, TRUE);
}

void
kh_grant_list_load_async (KhGrantList        *self,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker = NULL;
  LoadData *data;

  g_return_if_fail (KH_IS_GRANT_LIST (self));
  g_return_if_fail (self->source == NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_grant_list_load_async);

  data = g_new0 (LoadData, 1);
  data->store = g_object_ref (self->store);
  data->team = self->team != NULL ? g_object_ref (self->team) : NULL;
  data->sort = self->sort;
  data->serial = ++self->load_serial;
  worker = g_task_new (self, cancellable, load_done_cb, g_steal_pointer (&task));
  g_task_set_source_tag (worker, load_thread);
  g_task_set_task_data (worker, data, (GDestroyNotify) load_data_free);
  g_task_run_in_thread (worker, load_thread);
}

gboolean
kh_grant_list_load_finish (KhGrantList  *self,
                           GAsyncResult *result,
                           GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
background_load_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!kh_grant_list_load_finish (KH_GRANT_LIST (object), result, &error)
      && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("Could not re-read the grant index: %s", error->message);
}

static gboolean
reload_timeout_cb (gpointer user_data)
{
  KhGrantList *self = user_data;
  g_autoptr(GError) error = NULL;

  self->reload_id = 0;
  if (self->deferred)
    kh_grant_list_load_async (self, self->cancellable, background_load_cb, NULL);
  else if (!kh_grant_list_reload (self, &error))
    g_message ("Could not re-read the grant index: %s", error->message);

  return G_SOURCE_REMOVE;
}

static void
on_index_changed (GFileMonitor      *monitor,
                  GFile             *file,
                  GFile             *other_file,
                  GFileMonitorEvent  event,
                  gpointer           user_data)
{
  KhGrantList *self = user_data;

  if (event == G_FILE_MONITOR_EVENT_ATTRIBUTE_CHANGED ||
      event == G_FILE_MONITOR_EVENT_PRE_UNMOUNT || event == G_FILE_MONITOR_EVENT_UNMOUNTED)
    return;

  /* An atomic replace arrives as several events: read the file once they have settled. */
  if (self->reload_id == 0)
    self->reload_id = g_timeout_add (50, reload_timeout_cb, self);
}

/* -- the team -- */

static void start_watch (KhGrantList *self);

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

static gboolean
rewatch_cb (gpointer user_data)
{
  KhGrantList *self = user_data;

  self->rewatch_id = 0;
  start_watch (self);

  return G_SOURCE_REMOVE;
}

/* A change committed by anyone, anywhere (grant_id NULL: the watch's connection was lost). */
static void
team_changed_cb (const char *grant_id,
                 gpointer    user_data)
{
  g_autoptr(KhGrantList) self = g_weak_ref_get (user_data);

  if (self == NULL)
    return;
  if (self->reload_id == 0)
    self->reload_id = g_timeout_add (50, reload_timeout_cb, self);
  if (grant_id == NULL)
    {
      /* kh_team_watch ended the watch: try again in a while, without polling meanwhile. */
      self->watch_id = 0;
      if (self->rewatch_id == 0)
        self->rewatch_id = g_timeout_add_seconds (10, rewatch_cb, self);
    }
}

static void
watch_thread (GTask        *task,
              gpointer      source_object,
              gpointer      task_data,
              GCancellable *cancellable)
{
  KhGrantList *self = source_object;
  GWeakRef *ref = g_new0 (GWeakRef, 1);
  GError *error = NULL;
  guint id;

  g_weak_ref_init (ref, self);
  /* Connecting blocks, so here; the watch itself runs in the list's context. */
  id = kh_team_watch (task_data, g_task_get_context (task), team_changed_cb, ref,
                      (GDestroyNotify) weak_ref_free, &error);
  if (id == 0)
    {
      weak_ref_free (ref);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_int (task, id);
}

static void
watch_started_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  KhGrantList *self = KH_GRANT_LIST (object);
  KhTeam *team = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  gssize id = g_task_propagate_int (G_TASK (result), &error);

  if (id <= 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_message ("Could not watch the team for changes: %s", error->message);
          if (self->rewatch_id == 0 && self->team == team)
            self->rewatch_id = g_timeout_add_seconds (10, rewatch_cb, self);
        }
      return;
    }

  /* The team changed (or went) while the watch was starting. */
  if (self->team != team)
    {
      kh_team_unwatch (team, (guint) id);
      return;
    }
  self->watch_id = (guint) id;
}

static void
start_watch (KhGrantList *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->team == NULL || self->watch_id != 0)
    return;

  task = g_task_new (self, self->cancellable, watch_started_cb, NULL);
  g_task_set_source_tag (task, start_watch);
  g_task_set_task_data (task, g_object_ref (self->team), g_object_unref);
  g_task_run_in_thread (task, watch_thread);
}

static void
stop_watch (KhGrantList *self)
{
  g_clear_handle_id (&self->rewatch_id, g_source_remove);
  if (self->team != NULL && self->watch_id != 0)
    kh_team_unwatch (self->team, self->watch_id);
  self->watch_id = 0;
}

void
kh_grant_list_set_team (KhGrantList *self,
                        KhTeam      *team)
{
  g_return_if_fail (KH_IS_GRANT_LIST (self));
  g_return_if_fail (self->source == NULL);
  g_return_if_fail (team == NULL || KH_IS_TEAM (team));

  if (self->team == team)
    return;

  stop_watch (self);
  g_set_object (&self->team, team);
  start_watch (self);

  /* Shared grants appear (or go) with the next read; a deferred list reads on its own. */
  if (self->loaded && self->reload_id == 0)
    self->reload_id = g_timeout_add (50, reload_timeout_cb, self);
}

gboolean
kh_grant_list_get_following_team (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), FALSE);

  return self->source != NULL ? kh_grant_list_get_following_team (self->source)
                              : self->watch_id != 0;
}

KhTeam *
kh_grant_list_get_team (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), NULL);

  return self->source != NULL ? kh_grant_list_get_team (self->source) : self->team;
}

/* -- views -- */

static void
on_source_reloaded (KhGrantList *source,
                    KhGrantList *self)
{
  gboolean was_loaded = self->loaded;

  if (self->all != source->all)
    {
      g_clear_pointer (&self->all, g_array_unref);
      self->all = g_array_ref (source->all);
    }
  self->loaded = TRUE;
  refilter (self);
  if (!was_loaded)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADED]);
  g_signal_emit (self, signals[SIGNAL_RELOADED], 0);
}

/* ---- GListModel ----------------------------------------------------------------------------- */

static GType
kh_grant_list_get_item_type (GListModel *model)
{
  return KH_TYPE_GRANT;
}

static guint
kh_grant_list_get_n_items (GListModel *model)
{
  return KH_GRANT_LIST (model)->items->len;
}

static gpointer
kh_grant_list_get_item (GListModel *model,
                        guint       position)
{
  KhGrantList *self = KH_GRANT_LIST (model);

  if (position >= self->items->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
kh_grant_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = kh_grant_list_get_item_type;
  iface->get_n_items = kh_grant_list_get_n_items;
  iface->get_item = kh_grant_list_get_item;
}

/* ---- object --------------------------------------------------------------------------------- */

static void
kh_grant_list_constructed (GObject *object)
{
  KhGrantList *self = KH_GRANT_LIST (object);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;

  G_OBJECT_CLASS (kh_grant_list_parent_class)->constructed (object);

  if (self->source != NULL)
    {
      g_set_object (&self->store, kh_grant_list_get_store (self->source));
      self->sort = self->source->sort;
      g_signal_connect_object (self->source, "reloaded", G_CALLBACK (on_source_reloaded), self,
                               0);
      if (self->source->loaded)
        {
          self->all = g_array_ref (self->source->all);
          self->loaded = TRUE;
          refilter (self);
        }
      return;
    }

  g_return_if_fail (KH_IS_STORE (self->store));

  file = g_file_new_for_path (kh_store_get_index_path (self->store));
  self->monitor = g_file_monitor_file (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (self->monitor == NULL)
    g_message ("Not following changes of %s: %s", kh_store_get_index_path (self->store),
               error->message);
  else
    g_signal_connect (self->monitor, "changed", G_CALLBACK (on_index_changed), self);

  /* No team yet at construction: listing the store alone cannot fail. */
  if (!self->deferred)
    rebuild (self, NULL);
}

static void
kh_grant_list_dispose (GObject *object)
{
  KhGrantList *self = KH_GRANT_LIST (object);

  if (self->monitor != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->monitor, self);
      g_file_monitor_cancel (self->monitor);
    }
  g_clear_object (&self->monitor);
  stop_watch (self);
  g_clear_object (&self->team);
  g_clear_handle_id (&self->reload_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->source != NULL)
    g_signal_handlers_disconnect_by_data (self->source, self);
  g_clear_object (&self->source);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (kh_grant_list_parent_class)->dispose (object);
}

static void
kh_grant_list_finalize (GObject *object)
{
  KhGrantList *self = KH_GRANT_LIST (object);

  g_clear_pointer (&self->all, g_array_unref);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_free (self->client_filter);
  g_free (self->text_filter);

  G_OBJECT_CLASS (kh_grant_list_parent_class)->finalize (object);
}

static void
kh_grant_list_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  KhGrantList *self = KH_GRANT_LIST (object);

  switch (prop_id)
    {
    case PROP_STORE:
      g_value_set_object (value, self->store);
      break;
    case PROP_TYPE_FILTER:
      g_value_set_int (value, self->type_filter);
      break;
    case PROP_CLIENT_FILTER:
      g_value_set_string (value, self->client_filter);
      break;
    case PROP_STATUS_FILTER:
      g_value_set_int (value, self->status_filter);
      break;
    case PROP_TEXT_FILTER:
      g_value_set_string (value, self->text_filter);
      break;
    case PROP_N_ITEMS:
      g_value_set_uint (value, self->items->len);
      break;
    case PROP_SOURCE:
      g_value_set_object (value, self->source);
      break;
    case PROP_DEFERRED:
      g_value_set_boolean (value, self->deferred);
      break;
    case PROP_LOADED:
      g_value_set_boolean (value, self->loaded);
      break;
    case PROP_SORT:
      g_value_set_int (value, self->sort);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_grant_list_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  KhGrantList *self = KH_GRANT_LIST (object);

  switch (prop_id)
    {
    case PROP_STORE:
      if (g_value_get_object (value) != NULL)
        self->store = g_value_dup_object (value);
      break;
    case PROP_SOURCE:
      self->source = g_value_dup_object (value);
      break;
    case PROP_DEFERRED:
      self->deferred = g_value_get_boolean (value);
      break;
    case PROP_SORT:
      kh_grant_list_set_sort (self, g_value_get_int (value));
      break;
    case PROP_TYPE_FILTER:
      kh_grant_list_set_type_filter (self, g_value_get_int (value));
      break;
    case PROP_CLIENT_FILTER:
      kh_grant_list_set_client_filter (self, g_value_get_string (value));
      break;
    case PROP_STATUS_FILTER:
      kh_grant_list_set_status_filter (self, g_value_get_int (value));
      break;
    case PROP_TEXT_FILTER:
      kh_grant_list_set_text_filter (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_grant_list_class_init (KhGrantListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = kh_grant_list_constructed;
  object_class->dispose = kh_grant_list_dispose;
  object_class->finalize = kh_grant_list_finalize;
  object_class->get_property = kh_grant_list_get_property;
  object_class->set_property = kh_grant_list_set_property;

  properties[PROP_STORE] =
    g_param_spec_object ("store", NULL, NULL, KH_TYPE_STORE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TYPE_FILTER] =
    g_param_spec_int ("type-filter", NULL, NULL, KH_GRANT_LIST_ANY, KH_N_ACCOUNT_TYPES - 1,
                      KH_GRANT_LIST_ANY,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CLIENT_FILTER] =
    g_param_spec_string ("client-filter", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATUS_FILTER] =
    g_param_spec_int ("status-filter", NULL, NULL, KH_GRANT_LIST_ANY, KH_GRANT_STATUS_REVOKED,
                      KH_GRANT_LIST_ANY,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TEXT_FILTER] =
    g_param_spec_string ("text-filter", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  properties[PROP_SOURCE] =
    g_param_spec_object ("source", NULL, NULL, KH_TYPE_GRANT_LIST,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_DEFERRED] =
    g_param_spec_boolean ("deferred", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADED] =
    g_param_spec_boolean ("loaded", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SORT] =
    g_param_spec_int ("sort", NULL, NULL, KH_GRANT_LIST_SORT_EXPIRY, KH_GRANT_LIST_SORT_ATTENTION,
                      KH_GRANT_LIST_SORT_EXPIRY,
                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* After every read of the grants (and after the items-changed it caused). */
  signals[SIGNAL_RELOADED] =
    g_signal_new ("reloaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
kh_grant_list_init (KhGrantList *self)
{
  self->type_filter = KH_GRANT_LIST_ANY;
  self->status_filter = KH_GRANT_LIST_ANY;
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
  self->cancellable = g_cancellable_new ();
}

KhGrantList *
kh_grant_list_new (KhStore *store)
{
  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  return g_object_new (KH_TYPE_GRANT_LIST, "store", store, NULL);
}

KhStore *
kh_grant_list_get_store (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), NULL);

  return self->store;
}

guint
kh_grant_list_get_n_total (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), 0);

  return self->all != NULL ? self->all->len : 0;
}

int
kh_grant_list_get_type_filter (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), KH_GRANT_LIST_ANY);

  return self->type_filter;
}

void
kh_grant_list_set_type_filter (KhGrantList *self,
                               int          type)
{
  g_return_if_fail (KH_IS_GRANT_LIST (self));
  g_return_if_fail (type >= KH_GRANT_LIST_ANY && type < KH_N_ACCOUNT_TYPES);

  if (self->type_filter == type)
    return;

  self->type_filter = type;
  if (self->all != NULL)
    refilter (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPE_FILTER]);
}

const char *
kh_grant_list_get_client_filter (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), NULL);

  return self->client_filter;
}

void
kh_grant_list_set_client_filter (KhGrantList *self,
                                 const char  *client)
{
  g_return_if_fail (KH_IS_GRANT_LIST (self));

  if (client != NULL && *client == '\0')
    client = NULL;
  if (!set_str (&self->client_filter, client))
    return;

  if (self->all != NULL)
    refilter (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIENT_FILTER]);
}

int
kh_grant_list_get_status_filter (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), KH_GRANT_LIST_ANY);

  return self->status_filter;
}

void
kh_grant_list_set_status_filter (KhGrantList *self,
                                 int          status)
{
  g_return_if_fail (KH_IS_GRANT_LIST (self));
  g_return_if_fail (status >= KH_GRANT_LIST_ANY && status <= KH_GRANT_STATUS_REVOKED);

  if (self->status_filter == status)
    return;

  self->status_filter = status;
  if (self->all != NULL)
    refilter (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_FILTER]);
}

const char *
kh_grant_list_get_text_filter (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), NULL);

  return self->text_filter;
}

void
kh_grant_list_set_text_filter (KhGrantList *self,
                               const char  *text)
{
  g_autofree char *folded = NULL;

  g_return_if_fail (KH_IS_GRANT_LIST (self));

  if (text != NULL && *text != '\0')
    folded = g_utf8_casefold (text, -1);
  if (!set_str (&self->text_filter, folded))
    return;

  if (self->all != NULL)
    refilter (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXT_FILTER]);
}

KhGrantList *
kh_grant_list_new_deferred (KhStore *store)
{
  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  return g_object_new (KH_TYPE_GRANT_LIST, "store", store, "deferred", TRUE, NULL);
}

KhGrantList *
kh_grant_list_new_view (KhGrantList *source)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (source), NULL);
  g_return_val_if_fail (source->source == NULL, NULL);

  return g_object_new (KH_TYPE_GRANT_LIST, "source", source, NULL);
}

KhGrantList *
kh_grant_list_get_source (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), NULL);

  return self->source;
}

gboolean
kh_grant_list_get_loaded (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), FALSE);

  return self->loaded;
}

KhGrantListSort
kh_grant_list_get_sort (KhGrantList *self)
{
  g_return_val_if_fail (KH_IS_GRANT_LIST (self), KH_GRANT_LIST_SORT_EXPIRY);

  return self->sort;
}

void
kh_grant_list_set_sort (KhGrantList     *self,
                        KhGrantListSort  sort)
{
  g_return_if_fail (KH_IS_GRANT_LIST (self));
  g_return_if_fail (sort == KH_GRANT_LIST_SORT_EXPIRY || sort == KH_GRANT_LIST_SORT_ATTENTION);
  g_return_if_fail (self->source == NULL);

  if (self->sort == sort)
    return;

  self->sort = sort;
  if (self->all != NULL)
    {
      /* The array is shared with the views: sort a new one. */
      g_autoptr(GPtrArray) grants = g_ptr_array_new_full (self->all->len, g_object_unref);

      for (guint i = 0; i < self->all->len; i++)
        g_ptr_array_add (grants, g_object_ref (g_array_index (self->all, Entry, i).grant));
      adopt (self, entries_new (grants, sort));
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SORT]);
}
