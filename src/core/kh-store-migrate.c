/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-migrate.c: moving the per-grant keyring items of earlier Keyholds (kind "grant",
 * gen 1, index format 1) into their grant buckets on the first start, crash-safe at every step
 * (see kh-store.c for the design). */

#define G_LOG_DOMAIN "kh-store-migrate"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-store.h"
#include "kh-store-private.h"

#include "kh-environment.h"
#include "kh-error.h"
#include "kh-history-log.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- moving per-grant items into buckets --------------------------------------------------- */

/* Which of two copies of a grant is newer: the later touched, then the later access expiry.
 * Negative, zero or positive as a is older than, as old as, or newer than b. */
static int
grant_compare (KhGrant *a,
               KhGrant *b)
{
  if (kh_grant_get_updated_at (a) != kh_grant_get_updated_at (b))
    return kh_grant_get_updated_at (a) < kh_grant_get_updated_at (b) ? -1 : 1;
  if (kh_grant_get_access_expires_at (a) != kh_grant_get_access_expires_at (b))
    return kh_grant_get_access_expires_at (a) < kh_grant_get_access_expires_at (b) ? -1 : 1;
  return 0;
}

/* The grant a bucket entry's text describes, or NULL when it is damaged. */
static KhGrant *
grant_from_entry_text (const char *text)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  JsonObject *doc = NULL;
  JsonNode *node;

  if (json_parser_load_from_data (parser, text, -1, NULL))
    doc = kh_json_node_object (json_parser_get_root (parser));
  node = doc != NULL ? json_object_get_member (doc, "grant") : NULL;
  return node != NULL ? kh_grant_new_from_json (node, NULL) : NULL;
}

/* One grant item of an earlier Keyhold on its way into its bucket. */
typedef struct {
  char              *id;
  char              *text;    /* its bucket entry: wiped */
  KhGrant           *grant;
  SecretRetrievable *item;
} Move;

static void
move_free (gpointer data)
{
  Move *move = data;

  g_free (move->id);
  secret_str_free (move->text);
  g_clear_object (&move->grant);
  g_clear_object (&move->item);
  g_free (move);
}

/* Adds each move (GPtrArray of Move) to the bucket unless the bucket has the grant already in
 * the same or a newer state (a refresh by this Keyhold since, or a move that stopped before it
 * deleted the old item). */
static gboolean
merge_moves_func (KhStore   *self,
                  GPtrArray *entries,
                  gpointer   user_data,
                  gboolean  *changed,
                  GError   **error)
{
  GPtrArray *moves = user_data;

  for (guint i = 0; i < moves->len; i++)
    {
      Move *move = g_ptr_array_index (moves, i);
      guint pos;
      BucketEntry *entry = bucket_find (entries, move->id, &pos);
      g_autoptr(KhGrant) present = entry != NULL ? grant_from_entry_text (entry->text) : NULL;

      if (present != NULL && grant_compare (move->grant, present) <= 0)
        continue;
      if (entry != NULL)
        {
          entries->pdata[pos] = bucket_entry_new (move->id, g_strdup (move->text));
          bucket_entry_free (entry);
        }
      else
        g_ptr_array_add (entries, bucket_entry_new (move->id, g_strdup (move->text)));
      *changed = TRUE;
    }
  return TRUE;
}

/* TRUE when the bucket, read back from the keyring, holds move's grant in its state or newer. */
static gboolean
move_verified (GPtrArray *entries,
               Move      *move)
{
  BucketEntry *entry = bucket_find (entries, move->id, NULL);
  g_autoptr(KhGrant) stored = entry != NULL ? grant_from_entry_text (entry->text) : NULL;

  if (stored == NULL)
    return FALSE;
  if (grant_compare (stored, move->grant) > 0)
    return TRUE;
  return g_str_equal (entry->text, move->text);
}

static gboolean
delete_item (SecretRetrievable *item,
             GError           **error)
{
  GError *local_error = NULL;
  KEYRING_GUARD ();

  if (SECRET_IS_ITEM (item))
    secret_item_delete_sync (SECRET_ITEM (item), NULL, &local_error);
  else
    {
      g_autoptr(GHashTable) attributes = secret_retrievable_get_attributes (item);

      secret_password_clearv_sync (&item_schema, attributes, NULL, &local_error);
    }
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not delete from the keyring"));
      return FALSE;
    }
  return TRUE;
}

/* Reads the store's per-grant items of an earlier Keyhold into moves per bucket. A damaged item
 * stays where it is (it was unreadable before too) and is counted in *n_damaged. */
static gboolean
collect_moves (KhStore    *self,
               GPtrArray **by_bucket,
               guint      *n_damaged,
               GError    **error)
{
  g_autoptr(GHashTable) attributes = item_attributes (self, sections[SECTION_GRANTS].kind, NULL);
  g_autoptr(ItemList) items = NULL;
  GError *local_error = NULL;
  KEYRING_GUARD ();

  g_hash_table_insert (attributes, (char *) "gen", g_strdup (SCHEMA_GEN));
  items = secret_password_searchv_sync (&item_schema, attributes,
                                        SECRET_SEARCH_ALL | SECRET_SEARCH_UNLOCK |
                                        SECRET_SEARCH_LOAD_SECRETS, NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not search the keyring"));
      return FALSE;
    }

  for (GList *l = items; l != NULL; l = l->next)
    {
      g_autoptr(GHashTable) item_attributes = secret_retrievable_get_attributes (l->data);
      g_autoptr(SecretValue) value = item_secret (l->data, error);
      g_autoptr(JsonObject) doc = NULL;
      g_autoptr(JsonNode) tokens_node = NULL;
      g_autoptr(KhTokenSet) tokens = NULL;
      const char *id = g_hash_table_lookup (item_attributes, "id");
      kh_autosecret char *tokens_text = NULL;
      JsonNode *grant_node;
      Move *move;

      if (value == NULL)
        return FALSE;
      doc = id != NULL ? parse_doc (SECTION_GRANTS, id, secret_value_get_text (value), -1, NULL,
                                    NULL) : NULL;
      grant_node = doc != NULL ? json_object_get_member (doc, "grant") : NULL;
      if (doc != NULL && json_object_get_member (doc, "tokens") != NULL)
        tokens = kh_token_set_new_from_json (json_object_get_member (doc, "tokens"), NULL);
      move = g_new0 (Move, 1);
      move->grant = grant_node != NULL ? kh_grant_new_from_json (grant_node, NULL) : NULL;
      if (tokens == NULL || move->grant == NULL ||
          g_strcmp0 (kh_grant_get_id (move->grant), id) != 0)
        {
          g_message ("Left keyring item grant \"%s\" where it is: its contents are damaged",
                     id != NULL ? id : "");
          (*n_damaged)++;
          move_free (move);
          continue;
        }

      /* Re-serialized from the parsed copies: exactly what this Keyhold writes for them. */
      tokens_node = kh_token_set_to_json (tokens);
      tokens_text = json_to_string (tokens_node, FALSE);
      {
        g_autofree char *grant_text = json_to_string (grant_node, FALSE);

        move->text = grant_entry_text (tokens_text, grant_text);
      }
      move->id = g_strdup (id);
      move->item = g_object_ref (l->data);
      g_ptr_array_add (by_bucket[grant_bucket (id)], move);
    }
  return TRUE;
}

/* Moves the store's per-grant items (an earlier Keyhold's layout) into their buckets, crash-safe
 * at every step: each bucket is written and read back before any of its grants' old items is
 * deleted, and the index says "format 2" only once no old item is left. Until then readers look
 * in the bucket first and then for the old item, so every grant stays readable whenever this is
 * interrupted; the next start carries on. One process moves at a time (migrate.lock). */
static gboolean
migrate_grant_items (KhStore *self,
                     GError **error)
{
  GPtrArray *by_bucket[N_BUCKETS] = { NULL, };
  kh_autolock StoreLock fd = -1;
  guint n_moved = 0;
  guint n_damaged = 0;
  gboolean ok = TRUE;

  fd = open_lock_file (self, self->migrate_lock_path, error);
  if (fd < 0)
    return FALSE;
  while (flock (fd, LOCK_EX) != 0)
    if (errno != EINTR)
      {
        g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not lock %s: %s"),
                     self->migrate_lock_path, g_strerror (errno));
        return FALSE;
      }
  /* Another process may have finished the move while we waited. */
  if (!kh_store_reload (self, error))
    return FALSE;
  {
    g_autoptr(Index) index = snapshot (self);

    if (index->version == INDEX_VERSION)
      return TRUE;
  }

  for (guint b = 0; b < N_BUCKETS; b++)
    by_bucket[b] = g_ptr_array_new_with_free_func (move_free);
  ok = collect_moves (self, by_bucket, &n_damaged, error);

  for (guint b = 0; ok && b < N_BUCKETS; b++)
    {
      g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (bucket_entry_free);

      if (by_bucket[b]->len == 0)
        continue;
      ok = commit_bucket (self, b, merge_moves_func, by_bucket[b], error) &&
           read_bucket (self->store_name, b, entries, error);
      for (guint i = 0; ok && i < by_bucket[b]->len; i++)
        {
          Move *move = g_ptr_array_index (by_bucket[b], i);

          if (!move_verified (entries, move))
            {
              g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                           _("Grant %s could not be moved into its keyring item: its old item "
                             "stays"), move->id);
              ok = FALSE;
            }
          else if ((ok = delete_item (move->item, error)))
            n_moved++;
        }
    }
  for (guint b = 0; b < N_BUCKETS; b++)
    g_ptr_array_unref (by_bucket[b]);
  if (!ok)
    return FALSE;

  {
    kh_autolock StoreLock store_fd = lock_store (self, error);
    g_autoptr(Index) current = NULL;
    g_autoptr(Index) next = NULL;
    gboolean needs_write;
    Stamp stamp;

    if (store_fd < 0)
      return FALSE;
    current = load_locked (self, &needs_write, &stamp, error);
    if (current == NULL)
      return FALSE;
    next = index_copy (current);
    next->version = INDEX_VERSION;
    if (!write_index (self, next, &stamp, error))
      return FALSE;
    publish (self, next, &stamp);
  }

  g_message ("Moved %u grants of store \"%s\" into its %u keyring items of grants%s", n_moved,
             self->store_name, N_BUCKETS,
             n_damaged > 0 ? " (damaged items left where they were)" : "");
  return TRUE;
}

/* After opening or rebuilding: an index of format 1 means per-grant items may wait to move. A
 * move that fails is reported and tried again at the next start; reading works meanwhile. */
void
maybe_migrate (KhStore *self)
{
  g_autoptr(GError) error = NULL;
  gboolean old;

  {
    g_autoptr(Index) index = snapshot (self);

    old = index->version < INDEX_VERSION;
  }
  if (old && !migrate_grant_items (self, &error))
    g_message ("Could not move the grants of store \"%s\" into their new keyring items yet: %s",
               self->store_name, error->message);
}
