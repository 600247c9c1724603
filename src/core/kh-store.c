/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store.c: the KhStore object: opening a store (its folder, first load, rebuild of a missing
 * or damaged index), the change transaction every write goes through (mutate), plain secrets,
 * reload and rebuild, and turning index entries into objects. KhStore keeps every secret in
 * the desktop keyring (libsecret) and a non-secret index on disk so that listing 2,000 grants
 * never enumerates the keyring. Its parts, one job each, sharing kh-store-private.h:
 *   kh-store-index.c    the index: entries, snapshots, parsing, reading and writing index.json
 *   kh-store-keyring.c  the keyring: items, the 32 grant buckets, rebuilding the index
 *   kh-store-lock.c     the locks (index.lock, items.lock) and the group commit
 *   kh-store-migrate.c  moving the per-grant items of earlier Keyholds into buckets
 *   kh-store-apps.c     the app profiles and pending requests API
 *   kh-store-grants.c   the grants API (save, update, find, load with healing, peek, remove)
 *
 * Keyring items (schema "io.github.keyhold.Keyhold.Item", default collection) hold small JSON
 * documents, so that the index can be rebuilt from the keyring alone:
 *   grants:  32 bucket items (kind "grants", gen 2, id "00".."31"): a grant lives in bucket
 *            FNV-1a(grant id) mod 32, {"v":2,"grants":{<id>:{"tokens":<KhTokenSet>,
 *            "grant":<kh_grant_to_json>},...}}
 *   app:     {"v":1,"secret":"...","app":<kh_app_profile_to_json>}            (gen 1)
 *   pending: {"v":1,"request":<kh_auth_request_to_json, state included>}      (gen 1)
 * Attributes carry only identifiers (gen store kind id type app), never a secret. gnome-keyring
 * and libsecret's file backend rewrite and re-encrypt their whole file on every write, at a
 * cost that grows with the number of items (tests/bench/RESULTS.md): a few dozen items instead
 * of one per grant make each write cheaper, and refreshes that end together in one bucket share
 * one write. Earlier Keyholds kept one item per grant (kind "grant", gen 1); those move into
 * their buckets on the first start (migrate_grant_items), crash-safe at every step.
 *
 * The index (<data_dir>/<store>/index.json, 0600 in a 0700 directory) is replaced atomically
 * under an exclusive flock on index.lock. Every change takes the lock, re-reads the index when the
 * file changed, applies the change and writes it back, so concurrent processes never lose each
 * other's changes. Format 2; format 1 is the same list written before the grants moved.
 *
 * Order of writes: a save writes the grant's bucket first and the index second, so a crash
 * leaves at worst a keyring entry that the next rebuild picks up ("nothing is deleted until its
 * replacement is stored"), or a grant whose index entry is older than its bucket entry, which the
 * next kh_store_load_tokens of that grant brings up to date. A grant save holds that grant's item
 * lock (a byte of items.lock) across both writes; the bucket's read-modify-write holds the
 * bucket's byte of items.lock (another process may write the same bucket), and the index write
 * the store lock. Both writes are shared by concurrent saves (group commit). A removal takes the
 * grant out of its bucket first (deleting the bucket item with its last grant): the user asked
 * for the secret to go, and a crash then leaves an index entry without secret, which reads as
 * "not in the keyring" and can be removed again or dropped by a rebuild; the secret is never
 * resurrected. kh_store_update_grant touches the index only: rewriting the keyring entry would
 * need the tokens, and reading them back could undo a concurrent refresh, so the metadata copy
 * in the keyring is the one of the last kh_store_save_grant (every refresh saves).
 *
 * In memory the index is an immutable, reference-counted snapshot: readers take a reference
 * under the mutex and read without holding it, changes publish a new snapshot. Entries keep
 * their exact text from the file and are parsed only when used (opening a 2,000-grant index to
 * fetch one token parses one entry), and writing the index re-serializes only what changed. */

#define G_LOG_DOMAIN "kh-store"

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

G_DEFINE_FINAL_TYPE (KhStore, kh_store, G_TYPE_OBJECT)

/* ---- changes ------------------------------------------------------------------------------- */

/* With the lock held: the current index, re-read if the file changed, rebuilt from the keyring
 * if it is missing or damaged (*needs_write then says the result is not on disk yet). */
Index *
load_locked (KhStore  *self,
             gboolean *needs_write,
             Stamp    *stamp_out,
             GError  **error)
{
  g_autoptr(GError) read_error = NULL;
  Index *index = NULL;
  Stamp stamp;
  ReadResult result;

  *needs_write = FALSE;

  if (!stat_index (self, &stamp, error))
    return NULL;

  {
    G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

    if (stamp.exists && stamp_equal (&stamp, &self->stamp))
      {
        *stamp_out = stamp;
        return index_ref (self->index);
      }
  }

  result = read_index (self, &index, &stamp, &read_error);
  switch (result)
    {
    case READ_OK:
      *stamp_out = stamp;
      return index;

    case READ_MISSING:
      /* Deleted under us (or never written): the keyring is the truth. */
      *needs_write = TRUE;
      memset (stamp_out, 0, sizeof *stamp_out);
      return rebuild_from_keyring (self, NULL, error);

    case READ_CORRUPT:
      /* Rebuild before moving aside, so that no keyring means the file stays where it was. */
      {
        g_autoptr(Index) rebuilt = rebuild_from_keyring (self, NULL, error);

        if (rebuilt == NULL)
          return NULL;
        g_debug ("index unusable: %s", read_error->message);
        if (!move_aside (self, error))
          return NULL;
        *needs_write = TRUE;
        memset (stamp_out, 0, sizeof *stamp_out);
        return g_steal_pointer (&rebuilt);
      }

    case READ_FAILED:
    default:
      g_propagate_error (error, g_steal_pointer (&read_error));
      return NULL;
    }
}


/* Every change: lock, bring the index up to date, apply func (which may write the keyring and
 * edits index, a private copy), write the index, publish, unlock. */
gboolean
mutate (KhStore    *self,
        MutateFunc  func,
        gpointer    user_data,
        GError    **error)
{
  kh_autolock StoreLock fd = -1;
  g_autoptr(Index) current = NULL;
  g_autoptr(Index) next = NULL;
  gboolean needs_write;
  Stamp stamp;

  fd = lock_store (self, error);
  if (fd < 0)
    return FALSE;

  current = load_locked (self, &needs_write, &stamp, error);
  if (current == NULL)
    return FALSE;

  next = index_copy (current);
  if (!func (self, next, user_data, error))
    {
      /* What was read (or rebuilt) is still the truth even though the change failed. */
      if (!needs_write || write_index (self, current, &stamp, NULL))
        publish (self, current, &stamp);
      return FALSE;
    }

  if (!write_index (self, next, &stamp, error))
    return FALSE;
  publish (self, next, &stamp);
  return TRUE;
}

/* ---- object -------------------------------------------------------------------------------- */

static void
kh_store_finalize (GObject *object)
{
  KhStore *self = KH_STORE (object);

  g_clear_pointer (&self->index, index_unref);
  committer_clear (&self->index_committer);
  for (guint b = 0; b < N_BUCKETS; b++)
    committer_clear (&self->bucket_committers[b]);
  g_mutex_clear (&self->mutex);
  g_free (self->store_name);
  g_free (self->dir);
  g_free (self->index_path);
  g_free (self->lock_path);
  g_free (self->items_lock_path);
  g_free (self->migrate_lock_path);

  G_OBJECT_CLASS (kh_store_parent_class)->finalize (object);
}

static void
kh_store_class_init (KhStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kh_store_finalize;
}

static void
kh_store_init (KhStore *self)
{
  g_mutex_init (&self->mutex);
  self->index = index_new ();
  committer_init (&self->index_committer);
  for (guint b = 0; b < N_BUCKETS; b++)
    committer_init (&self->bucket_committers[b]);
}

/* A store name is the keyring "store" attribute, verbatim, and one directory under the data
 * dir. Any printable name is accepted (KEYHOLD_STORE may come from scripts and test harnesses);
 * the directory gets an escaped form that can never leave the data dir. */
static gboolean
store_name_is_valid (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 1024 || !g_utf8_validate (name, -1, NULL))
    return FALSE;
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (!g_unichar_isprint (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static char *
store_dir_name (const char *name)
{
  GString *out = g_string_new (NULL);

  for (const char *p = name; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      /* A leading dot would hide the folder or, as "..", climb out of the data dir. */
      if (g_ascii_isalnum (c) || c == '-' || c == '_' || (c == '.' && p != name))
        g_string_append_c (out, (char) c);
      else
        g_string_append_printf (out, "%%%02X", c);
    }

  /* Stay well below NAME_MAX; a digest keeps long names apart. */
  if (out->len > 120)
    {
      g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, name, -1);

      g_string_truncate (out, 80);
      g_string_append_printf (out, "-%.16s", digest);
    }

  return g_string_free (out, FALSE);
}

/* The first load. A missing index is normal on a first start; if the keyring holds items of this
 * store (the index was deleted), the index is rebuilt. The keyring is searched before the lock is
 * taken so that, without a keyring, nothing at all is created on disk. */
static gboolean
initial_load (KhStore *self,
              GError **error)
{
  g_autoptr(GError) read_error = NULL;
  g_autoptr(Index) index = NULL;
  Stamp stamp;

  switch (read_index (self, &index, &stamp, &read_error))
    {
    case READ_OK:
      publish (self, index, &stamp);
      return TRUE;

    case READ_MISSING:
      {
        g_autoptr(ItemList) items = NULL;
        GError *local_error = NULL;
        kh_autolock StoreLock fd = -1;
        ReadResult again;

        items = keyring_search_store (self, &local_error);
        if (local_error != NULL && self->headless &&
            g_error_matches (local_error, KH_ERROR, KH_ERROR_NO_KEYRING))
          g_clear_error (&local_error);
        if (local_error != NULL)
          {
            g_propagate_error (error, local_error);
            return FALSE;
          }
        if (items == NULL)
          {
            g_autoptr(Index) empty = index_new ();

            /* Nothing stored yet: nothing to write either. */
            memset (&stamp, 0, sizeof stamp);
            publish (self, empty, &stamp);
            return TRUE;
          }

        fd = lock_store (self, error);
        if (fd < 0)
          return FALSE;
        /* Another process may have written the index while we searched. */
        g_clear_error (&read_error);
        again = read_index (self, &index, &stamp, &read_error);
        if (again == READ_OK)
          {
            publish (self, index, &stamp);
            return TRUE;
          }
        if (again == READ_FAILED)
          {
            g_propagate_error (error, g_steal_pointer (&read_error));
            return FALSE;
          }
        if (again == READ_CORRUPT && !move_aside (self, error))
          return FALSE;
        index = index_from_items (self, items, NULL, error);
        if (index == NULL)
          return FALSE;
        /* Only a team's plain secrets (kh_store_save_secret) is no index lost: nothing to say. */
        if (index->entries[SECTION_GRANTS]->len + index->entries[SECTION_APPS]->len +
            index->entries[SECTION_PENDING]->len > 0)
          g_message ("Rebuilt the missing index of store \"%s\" from the keyring",
                     self->store_name);
        if (!write_index (self, index, &stamp, error))
          return FALSE;
        publish (self, index, &stamp);
        return TRUE;
      }

    case READ_CORRUPT:
      {
        kh_autolock StoreLock fd = -1;
        gboolean needs_write;

        fd = lock_store (self, error);
        if (fd < 0)
          return FALSE;
        index = load_locked (self, &needs_write, &stamp, error);
        if (index == NULL)
          return FALSE;
        if (needs_write && !write_index (self, index, &stamp, error))
          return FALSE;
        publish (self, index, &stamp);
        return TRUE;
      }

    case READ_FAILED:
    default:
      g_propagate_error (error, g_steal_pointer (&read_error));
      return FALSE;
    }
}

/* NULL: $KEYHOLD_STORE, else "default". NULL with an error for an invalid name. */
const char *
resolve_store_name (const char  *store_name,
                    GError     **error)
{
  if (store_name == NULL)
    {
      store_name = g_getenv ("KEYHOLD_STORE");
      if (store_name == NULL || *store_name == '\0')
        store_name = "default";
    }
  if (!store_name_is_valid (store_name))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("“%s” is not a valid store name: use printable characters"), store_name);
      return NULL;
    }

  return store_name;
}

char *
kh_store_dup_dir (const char  *data_dir,
                  const char  *store_name,
                  GError     **error)
{
  g_autofree char *base = NULL;
  g_autofree char *dir_name = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  store_name = resolve_store_name (store_name, error);
  if (store_name == NULL)
    return NULL;

  if (data_dir != NULL)
    base = g_strdup (data_dir);
  else if (g_getenv ("KEYHOLD_DATA_DIR") != NULL && *g_getenv ("KEYHOLD_DATA_DIR") != '\0')
    base = g_strdup (g_getenv ("KEYHOLD_DATA_DIR"));
  else
    base = g_build_filename (g_get_user_data_dir (), "keyhold", NULL);

  dir_name = store_dir_name (store_name);
  return g_build_filename (base, dir_name, NULL);
}

static KhStore *
store_new (const char  *data_dir,
           const char  *store_name,
           gboolean     headless,
           GError     **error)
{
  g_autoptr(KhStore) self = NULL;
  char *dir;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = kh_store_dup_dir (data_dir, store_name, error);
  if (dir == NULL)
    return NULL;

  self = g_object_new (KH_TYPE_STORE, NULL);
  self->store_name = g_strdup (resolve_store_name (store_name, NULL));
  self->dir = dir;
  self->index_path = g_build_filename (self->dir, "index.json", NULL);
  self->lock_path = g_build_filename (self->dir, "index.lock", NULL);
  self->items_lock_path = g_build_filename (self->dir, "items.lock", NULL);
  self->headless = headless;
  self->migrate_lock_path = g_build_filename (self->dir, "migrate.lock", NULL);

  if (!initial_load (self, error))
    return NULL;
  maybe_migrate (self);

  return g_steal_pointer (&self);
}

KhStore *
kh_store_new (const char  *data_dir,
              const char  *store_name,
              GError     **error)
{
  return store_new (data_dir, store_name, FALSE, error);
}

KhStore *
kh_store_new_headless (const char  *data_dir,
                       const char  *store_name,
                       GError     **error)
{
  return store_new (data_dir, store_name, TRUE, error);
}

const char *
kh_store_get_index_path (KhStore *self)
{
  g_return_val_if_fail (KH_IS_STORE (self), NULL);

  return self->index_path;
}

const SecretSchema *
kh_store_get_item_schema (void)
{
  return &item_schema;
}

static gboolean
kind_is_plain_secret (const char *kind)
{
  return kind != NULL && *kind != '\0' && section_from_kind (kind) == N_SECTIONS &&
         strcmp (kind, BUCKET_KIND) != 0;
}

gboolean
kh_store_save_secret (KhStore     *self,
                      const char  *kind,
                      const char  *id,
                      const char  *label,
                      const char  *secret,
                      GError     **error)
{
  g_autoptr(GHashTable) attributes = NULL;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (kind_is_plain_secret (kind), FALSE);
  g_return_val_if_fail (id != NULL && label != NULL && secret != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  attributes = item_attributes (self, kind, id);
  return keyring_store (self, attributes, label, secret, error);
}

char *
kh_store_load_secret (KhStore     *self,
                      const char  *kind,
                      const char  *id,
                      GError     **error)
{
  g_autoptr(GHashTable) attributes = NULL;
  char *secret;
  char *copy;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (kind_is_plain_secret (kind), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  attributes = item_attributes (self, kind, id);
  secret = keyring_lookup_secret (attributes, error);
  if (secret == NULL)
    return NULL;
  /* libsecret may hand out its own secure memory; callers get plain GLib memory. */
  copy = g_strdup (secret);
  secret_password_free (secret);
  return copy;
}

gboolean
kh_store_remove_secret (KhStore     *self,
                        const char  *kind,
                        const char  *id,
                        GError     **error)
{
  g_autoptr(GHashTable) attributes = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (kind_is_plain_secret (kind), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  attributes = item_attributes (self, kind, id);
  secret_password_clearv_sync (&item_schema, attributes, NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not delete from the keyring"));
      return FALSE;
    }
  return TRUE;
}

const char *
kh_store_get_name (KhStore *self)
{
  g_return_val_if_fail (KH_IS_STORE (self), NULL);

  return self->store_name;
}

gboolean
kh_store_clear_keyring (KhStore *self,
                        GError **error)
{
  g_autoptr(GHashTable) attributes = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  attributes = item_attributes (self, NULL, NULL);
  {
    KEYRING_GUARD ();

    secret_password_clearv_sync (&item_schema, attributes, NULL, &local_error);
  }
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not delete from the keyring"));
      return FALSE;
    }
  return TRUE;
}

gboolean
kh_store_reload (KhStore *self,
                 GError **error)
{
  g_autoptr(GError) read_error = NULL;
  g_autoptr(Index) index = NULL;
  Stamp stamp;
  gboolean unchanged;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!stat_index (self, &stamp, error))
    return FALSE;
  {
    G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

    unchanged = stamp_equal (&stamp, &self->stamp);
  }
  if (unchanged)
    return TRUE;

  switch (read_index (self, &index, &stamp, &read_error))
    {
    case READ_OK:
      publish (self, index, &stamp);
      return TRUE;

    case READ_MISSING:
    case READ_CORRUPT:
      return initial_load (self, error);

    case READ_FAILED:
    default:
      g_propagate_error (error, g_steal_pointer (&read_error));
      return FALSE;
    }
}

static gboolean
rebuild_func (KhStore  *self,
              Index    *index,
              gpointer  user_data,
              GError  **error)
{
  g_autoptr(Index) rebuilt = rebuild_from_keyring (self, index, error);

  if (rebuilt == NULL)
    return FALSE;

  for (int s = 0; s < N_SECTIONS; s++)
    {
      GPtrArray *entries = index->entries[s];
      GHashTable *by_id = index->by_id[s];

      index->entries[s] = g_steal_pointer (&rebuilt->entries[s]);
      index->by_id[s] = g_steal_pointer (&rebuilt->by_id[s]);
      rebuilt->entries[s] = entries;
      rebuilt->by_id[s] = by_id;
    }
  index->version = rebuilt->version;
  return TRUE;
}

gboolean
kh_store_rebuild_index (KhStore *self,
                        GError **error)
{
  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!mutate (self, rebuild_func, NULL, error))
    return FALSE;
  maybe_migrate (self);
  return TRUE;
}

/* ---- entries to objects -------------------------------------------------------------------- */

KhGrant *
grant_from_entry (Entry   *entry,
                  GError **error)
{
  JsonObject *object = entry_get_object (entry);
  g_autoptr(GError) local_error = NULL;
  KhGrant *grant = NULL;

  if (object == NULL)
    g_set_error_literal (&local_error, KH_ERROR, KH_ERROR_STORE, _("it is not a JSON object"));
  else
    grant = kh_grant_new_from_json_object (object, &local_error);
  if (grant == NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                 _("The index entry of grant %s is damaged (%s): rebuild the index"),
                 entry->id, local_error->message);
  return grant;
}

KhAppProfile *
app_from_entry (Entry   *entry,
                GError **error)
{
  JsonObject *object = entry_get_object (entry);
  g_autoptr(GError) local_error = NULL;
  KhAppProfile *app = NULL;

  if (object == NULL)
    g_set_error_literal (&local_error, KH_ERROR, KH_ERROR_STORE, _("it is not a JSON object"));
  else
    app = kh_app_profile_new_from_json_object (object, &local_error);
  if (app == NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                 _("The index entry of app “%s” is damaged (%s): rebuild the index"),
                 entry->id, local_error->message);
  return app;
}

static KhAuthRequest *
request_from_entry (Entry   *entry,
                    GError **error)
{
  JsonObject *object = entry_get_object (entry);
  g_autoptr(GError) local_error = NULL;
  KhAuthRequest *request = NULL;

  if (object == NULL)
    g_set_error_literal (&local_error, KH_ERROR, KH_ERROR_STORE, _("it is not a JSON object"));
  else
    request = kh_auth_request_new_from_json_object (object, &local_error);
  if (request == NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                 _("The index entry of pending request %s is damaged (%s): rebuild the index"),
                 entry->id, local_error->message);
  return request;
}

static gpointer
object_from_entry (Section   section,
                   Entry    *entry,
                   GError  **error)
{
  switch (section)
    {
    case SECTION_GRANTS:
      return grant_from_entry (entry, error);
    case SECTION_APPS:
      return app_from_entry (entry, error);
    case SECTION_PENDING:
      return request_from_entry (entry, error);
    case N_SECTIONS:
    default:
      g_assert_not_reached ();
    }
}

/* Parses every not yet parsed entry of a section in one json-glib pass: one parser for 2,000
 * entries costs a tenth of 2,000 parsers. */
void
index_materialize (Index   *index,
                   Section  section)
{
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  g_autoptr(GPtrArray) objects = NULL;
  g_autoptr(GString) text = NULL;
  g_autoptr(JsonParser) parser = NULL;
  JsonArray *array;

  for (guint i = 0; i < index->entries[section]->len; i++)
    {
      Entry *entry = g_ptr_array_index (index->entries[section], i);

      if (g_atomic_pointer_get (&entry->object) == NULL)
        g_ptr_array_add (pending, entry);
    }
  if (pending->len < 2)
    return;

  text = g_string_sized_new (4096);
  g_string_append_c (text, '[');
  for (guint i = 0; i < pending->len; i++)
    {
      Entry *entry = g_ptr_array_index (pending, i);

      if (i > 0)
        g_string_append_c (text, ',');
      g_string_append (text, entry->text);
    }
  g_string_append_c (text, ']');

  parser = json_parser_new_immutable ();
  /* One damaged entry spoils the batch: then each is parsed on its own, when used. */
  if (!json_parser_load_from_data (parser, text->str, text->len, NULL))
    return;
  array = JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)) ?
          json_node_get_array (json_parser_get_root (parser)) : NULL;
  if (array == NULL || json_array_get_length (array) != pending->len)
    return;

  objects = g_ptr_array_new_full (pending->len, NULL);
  for (guint i = 0; i < pending->len; i++)
    {
      JsonObject *object = kh_json_node_object (json_array_get_element (array, i));

      g_ptr_array_add (objects, object != NULL ? json_object_ref (object) : NULL);
    }
  /* The parser's references go before any object is shared. */
  g_clear_object (&parser);
  for (guint i = 0; i < pending->len; i++)
    if (g_ptr_array_index (objects, i) != NULL)
      entry_publish_object (g_ptr_array_index (pending, i), g_ptr_array_index (objects, i));
}

GPtrArray *
list_section (KhStore *self,
              Section  section)
{
  g_autoptr(Index) index = snapshot (self);
  GPtrArray *out = g_ptr_array_new_full (index->entries[section]->len, g_object_unref);

  index_materialize (index, section);

  for (guint i = 0; i < index->entries[section]->len; i++)
    {
      g_autoptr(GError) error = NULL;
      gpointer object = object_from_entry (section, g_ptr_array_index (index->entries[section], i),
                                           &error);

      /* One damaged entry must not hide the others. */
      if (object == NULL)
        g_message ("%s", error->message);
      else
        g_ptr_array_add (out, object);
    }
  return out;
}
