/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-keyring.c: the store's keyring side (see kh-store.c for the design): the item schema,
 * the file backend's process guard, libsecret errors, item documents, the 32 grant buckets
 * (reading, splitting, writing), and rebuilding an index from the keyring's items. */

#define G_LOG_DOMAIN "kh-store-keyring"

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

/* SECRET_SCHEMA_NONE: libsecret adds xdg:schema to every item and matches on it, so items of
 * other programs that happen to use the same attribute names are never touched. */
const SecretSchema item_schema = {
  "io.github.keyhold.Keyhold.Item", SECRET_SCHEMA_NONE,
  {
    { "gen", SECRET_SCHEMA_ATTRIBUTE_INTEGER },
    { "store", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "kind", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "id", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "type", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { "app", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 },
  }
};

/* ---- secret strings ------------------------------------------------------------------------ */

void
secret_str_free (char *str)
{
  if (str == NULL)
    return;
  secret_password_wipe (str);
  g_free (str);
}

void
secret_str_clear (char **str)
{
  secret_str_free (g_steal_pointer (str));
}

/* ---- libsecret's file backend ---------------------------------------------------------------- */

/* libsecret's file backend (inside Flatpak, or SECRET_BACKEND=file) reads its file once per
 * process and writes its whole in-memory copy back on every change, and its collection is not
 * safe to use from two threads at once. Two Keyhold processes (the app and a script's
 * keyhold-cli, or the broker's many refreshers) would each write back a stale copy and lose the
 * other's tokens. So with that backend every keyring call of this process runs under one
 * recursive mutex and an flock beside the keyring file, and a call that finds the file changed
 * by another process since this one last saw it first drops libsecret's copy
 * (secret_service_disconnect), which reloads the file. With the Secret Service none of this is
 * needed: gnome-keyring serializes its clients itself. */

typedef struct {
  GRecMutex mutex;
  guint     depth;      /* nesting of keyring_enter in the thread holding mutex */
  int       lock_fd;
  char     *path;
  Stamp     seen;       /* of the keyring file as this process's libsecret copy knows it */
} FileGuard;

static FileGuard *
file_guard_get (void)
{
  static FileGuard *guard = NULL;
  static gsize once = 0;

  if (g_once_init_enter (&once))
    {
      if (kh_environment_get_secret_backend () == KH_SECRET_BACKEND_FILE)
        {
          FileGuard *new_guard = g_new0 (FileGuard, 1);

          g_rec_mutex_init (&new_guard->mutex);
          new_guard->lock_fd = -1;
          new_guard->path = kh_environment_get_secret_file_path ();
          guard = new_guard;
        }
      g_once_init_leave (&once, 1);
    }
  return guard;
}

static void
file_guard_stat (FileGuard *guard,
                 Stamp     *stamp)
{
  struct stat st;

  memset (stamp, 0, sizeof *stamp);
  if (g_stat (guard->path, &st) == 0)
    stamp_from_stat (stamp, &st);
}

void
keyring_enter (void)
{
  FileGuard *guard = file_guard_get ();
  Stamp now;

  if (guard == NULL)
    return;
  g_rec_mutex_lock (&guard->mutex);
  if (guard->depth++ > 0)
    return;

  if (guard->lock_fd < 0)
    {
      g_autofree char *dir = g_path_get_dirname (guard->path);
      g_autofree char *lock_path = g_strconcat (guard->path, ".keyhold-lock", NULL);

      g_mkdir_with_parents (dir, 0700);
      guard->lock_fd = g_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (guard->lock_fd < 0)
        g_debug ("could not open %s: %s", lock_path, g_strerror (errno));
    }
  if (guard->lock_fd >= 0)
    while (flock (guard->lock_fd, LOCK_EX) != 0 && errno == EINTR)
      ;

  file_guard_stat (guard, &now);
  if (guard->seen.exists && !stamp_equal (&now, &guard->seen))
    {
      g_debug ("the keyring file changed in another process: reloading it");
      secret_service_disconnect ();
    }
}

static void
keyring_leave (void)
{
  FileGuard *guard = file_guard_get ();

  if (guard == NULL)
    return;
  if (--guard->depth == 0)
    {
      /* Under the flock: what is on disk now is what this process's copy holds. */
      file_guard_stat (guard, &guard->seen);
      if (guard->lock_fd >= 0)
        flock (guard->lock_fd, LOCK_UN);
    }
  g_rec_mutex_unlock (&guard->mutex);
}


void
keyring_guard_clear (KeyringGuard *entered)
{
  if (*entered)
    keyring_leave ();
}


/* ---- the keyring --------------------------------------------------------------------------- */

/* Turns a libsecret/GDBus error into a KH_ERROR. Errors that mean "there is no Secret Service
 * to talk to" become KH_ERROR_NO_KEYRING; cancellation stays G_IO_ERROR_CANCELLED. */
void
propagate_keyring_error (GError     **dest,
                         GError      *src,
                         const char  *what)
{
  g_autoptr(GError) error = src;
  gboolean no_keyring = FALSE;

  g_debug ("%s: %s (%s %d)", what, error->message, g_quark_to_string (error->domain),
           error->code);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_propagate_error (dest, g_steal_pointer (&error));
      return;
    }

  if (g_error_matches (error, SECRET_ERROR, SECRET_ERROR_IS_LOCKED))
    {
      g_set_error_literal (dest, KH_ERROR, KH_ERROR_STORE, _("The keyring is locked"));
      return;
    }

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      g_set_error (dest, KH_ERROR, KH_ERROR_STORE, _("%s: the keyring did not answer in time"),
                   what);
      return;
    }

  /* Connecting to the session bus fails with G_IO_ERROR (no socket, no $DISPLAY to autolaunch,
   * a malformed address; libsecret's file backend without its portal says
   * G_IO_ERROR_INVALID_ARGUMENT); a bus without a Secret Service fails with these D-Bus errors. */
  if (error->domain == G_IO_ERROR && error->code != G_IO_ERROR_DBUS_ERROR)
    no_keyring = TRUE;
  else if (error->domain == G_DBUS_ERROR &&
           (error->code == G_DBUS_ERROR_SERVICE_UNKNOWN ||
            error->code == G_DBUS_ERROR_NAME_HAS_NO_OWNER ||
            error->code == G_DBUS_ERROR_NO_SERVER ||
            error->code == G_DBUS_ERROR_DISCONNECTED ||
            error->code == G_DBUS_ERROR_FILE_NOT_FOUND ||
            error->code == G_DBUS_ERROR_SPAWN_EXEC_FAILED ||
            error->code == G_DBUS_ERROR_SPAWN_FORK_FAILED ||
            error->code == G_DBUS_ERROR_SPAWN_CHILD_EXITED ||
            error->code == G_DBUS_ERROR_SPAWN_CHILD_SIGNALED ||
            error->code == G_DBUS_ERROR_SPAWN_FAILED ||
            error->code == G_DBUS_ERROR_SPAWN_SETUP_FAILED ||
            error->code == G_DBUS_ERROR_SPAWN_CONFIG_INVALID ||
            error->code == G_DBUS_ERROR_SPAWN_SERVICE_INVALID ||
            error->code == G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND ||
            error->code == G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID ||
            error->code == G_DBUS_ERROR_SPAWN_FILE_INVALID ||
            error->code == G_DBUS_ERROR_SPAWN_NO_MEMORY))
    no_keyring = TRUE;

  if (no_keyring)
    g_set_error_literal (dest, KH_ERROR, KH_ERROR_NO_KEYRING,
                         _("No keyring is available: Keyhold stores tokens only in the desktop "
                           "keyring (Secret Service). Start gnome-keyring or another Secret "
                           "Service and try again."));
  else
    g_set_error (dest, KH_ERROR, KH_ERROR_STORE, "%s: %s", what, error->message);
}

static GHashTable *
attributes_for (const char *store_name,
                const char *kind,
                const char *id)
{
  GHashTable *attributes = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  g_hash_table_insert (attributes, (char *) "store", g_strdup (store_name));
  if (kind != NULL)
    g_hash_table_insert (attributes, (char *) "kind", g_strdup (kind));
  if (id != NULL)
    g_hash_table_insert (attributes, (char *) "id", g_strdup (id));
  return attributes;
}

GHashTable *
item_attributes (KhStore    *self,
                 const char *kind,
                 const char *id)
{
  return attributes_for (self->store_name, kind, id);
}

gboolean
keyring_store (KhStore    *self,
               GHashTable *attributes,
               const char *label,
               const char *secret,
               GError    **error)
{
  GError *local_error = NULL;
  KEYRING_GUARD ();

  g_hash_table_insert (attributes, (char *) "gen", g_strdup (SCHEMA_GEN));
  if (!secret_password_storev_sync (&item_schema, attributes, SECRET_COLLECTION_DEFAULT, label,
                                    secret, NULL, &local_error))
    {
      propagate_keyring_error (error, local_error, _("Could not write to the keyring"));
      return FALSE;
    }
  return TRUE;
}

/* TRUE when items matching attributes exist but stay locked: libsecret's lookup returns NULL
 * without an error when the user dismissed the unlock prompt. */
static gboolean
keyring_has_locked (GHashTable *attributes)
{
  g_autoptr(GError) error = NULL;
  GList *items;
  gboolean locked = FALSE;
  KEYRING_GUARD ();

  items = secret_password_searchv_sync (&item_schema, attributes, SECRET_SEARCH_ALL, NULL,
                                        &error);
  for (GList *l = items; l != NULL; l = l->next)
    if (SECRET_IS_ITEM (l->data) && secret_item_get_locked (l->data))
      locked = TRUE;
  g_list_free_full (items, g_object_unref);
  return locked;
}

void
item_list_free (GList *items)
{
  g_list_free_full (items, g_object_unref);
}


/* Parses the document of an item; NULL (and *damaged) when it is not one this Keyhold reads. */
JsonObject *
parse_doc (Section     section,
           const char *id,
           const char *text,
           gssize      length,
           gboolean   *damaged,
           GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) parse_error = NULL;
  JsonObject *doc = NULL;
  gint64 version;

  if (json_parser_load_from_data (parser, text, length, &parse_error))
    doc = kh_json_node_object (json_parser_get_root (parser));
  if (doc == NULL || !kh_json_get_int (doc, "v", &version) || version != ITEM_DOC_VERSION)
    {
      if (damaged != NULL)
        *damaged = TRUE;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The keyring item of %s “%s” is damaged or of an unknown format"),
                   sections[section].kind, id);
      return NULL;
    }

  return json_object_ref (doc);
}

/* The secret of the item of this generation matching attributes (to wipe and free), or NULL:
 * without an error when there is none. */
char *
keyring_lookup_secret (GHashTable  *attributes,
                       GError     **error)
{
  GError *local_error = NULL;
  char *secret;

  g_hash_table_insert (attributes, (char *) "gen", g_strdup (SCHEMA_GEN));
  secret = secret_password_lookupv_sync (&item_schema, attributes, NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not read from the keyring"));
      return NULL;
    }
  if (secret == NULL && keyring_has_locked (attributes))
    g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The keyring is locked"));
  return secret;
}

/* Looks up the document of one item of the store named store_name and parses it. NULL without
 * error when there is no item. Needs no KhStore: kh_store_peek_grant reads without an index. */
static JsonObject *
lookup_doc_by_name (const char *store_name,
                    Section     section,
                    const char *id,
                    gboolean   *damaged,
                    GError    **error)
{
  g_autoptr(GHashTable) attributes = attributes_for (store_name, sections[section].kind, id);
  GError *local_error = NULL;
  kh_autosecret char *secret = NULL;
  KEYRING_GUARD ();

  if (damaged != NULL)
    *damaged = FALSE;
  secret = keyring_lookup_secret (attributes, &local_error);
  if (secret == NULL)
    {
      if (local_error != NULL)
        g_propagate_error (error, local_error);
      return NULL;
    }

  return parse_doc (section, id, secret, -1, damaged, error);
}

/* The secret of an item a search found. Items from the Secret Service come with their secret
 * loaded by the search; reading it from the item avoids a D-Bus round trip per item. Other
 * backends retrieve it. NULL with error when the keyring is locked or fails. */
SecretValue *
item_secret (SecretRetrievable *item,
             GError           **error)
{
  SecretValue *value = NULL;
  GError *retrieve_error = NULL;
  KEYRING_GUARD ();

  if (SECRET_IS_ITEM (item))
    {
      if (secret_item_get_locked (SECRET_ITEM (item)))
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The keyring is locked"));
          return NULL;
        }
      value = secret_item_get_secret (SECRET_ITEM (item));
    }
  if (value != NULL)
    return value;

  value = secret_retrievable_retrieve_secret_sync (item, NULL, &retrieve_error);
  if (value == NULL)
    {
      if (retrieve_error != NULL)
        propagate_keyring_error (error, retrieve_error, _("Could not read from the keyring"));
      else
        g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The keyring is locked"));
    }
  return value;
}

/* ---- grant buckets ------------------------------------------------------------------------- */

/* FNV-1a of the grant id: stable across versions and platforms, unlike g_str_hash's promise. */
guint
grant_bucket (const char *grant_id)
{
  guint32 hash = 2166136261u;

  for (const guchar *p = (const guchar *) grant_id; *p != '\0'; p++)
    hash = (hash ^ *p) * 16777619u;
  return hash % N_BUCKETS;
}

static char *
bucket_item_id (guint bucket)
{
  return g_strdup_printf ("%02u", bucket);
}

static GHashTable *
bucket_attributes (const char *store_name,
                   guint       bucket)
{
  GHashTable *attributes = attributes_for (store_name, BUCKET_KIND, NULL);

  g_hash_table_insert (attributes, (char *) "id", bucket_item_id (bucket));
  g_hash_table_insert (attributes, (char *) "gen", g_strdup (BUCKET_GEN));
  return attributes;
}


void
bucket_entry_free (gpointer data)
{
  BucketEntry *entry = data;

  g_free (entry->id);
  secret_str_free (entry->text);
  g_free (entry);
}

BucketEntry *
bucket_entry_new (const char *id,
                  char       *text)
{
  BucketEntry *entry = g_new0 (BucketEntry, 1);

  entry->id = g_strdup (id);
  entry->text = text;
  return entry;
}

/* Splits a bucket document into its entries (BucketEntry, in document order) without building
 * a JSON tree of the whole bucket: reading one grant parses that grant alone. FALSE when text is
 * not a bucket document of this format. */
static gboolean
bucket_split (const char *text,
              gsize       length,
              GPtrArray  *entries)
{
  Scanner sc = { text, text + length, 0 };
  gboolean seen_version = FALSE;
  gboolean seen_grants = FALSE;

  if (!scan_char (&sc, '{'))
    return FALSE;
  for (;;)
    {
      const char *key_start;
      const char *key_stop;
      gboolean simple;

      if (!scan_string (&sc, &key_start, &key_stop, &simple) || !simple || !scan_char (&sc, ':'))
        return FALSE;
      if (literal_equal (key_start, key_stop, "v"))
        {
          const char *start;

          scan_ws (&sc);
          start = sc.p;
          if (seen_version || !scan_literal (&sc) || sc.p - start != 1 ||
              *start != '0' + BUCKET_DOC_VERSION)
            return FALSE;
          seen_version = TRUE;
        }
      else if (literal_equal (key_start, key_stop, "grants"))
        {
          if (seen_grants || !scan_char (&sc, '{'))
            return FALSE;
          seen_grants = TRUE;
          if (!scan_char (&sc, '}'))
            for (;;)
              {
                const char *id_start;
                const char *id_stop;
                const char *start;
                g_autofree char *id = NULL;

                if (!scan_string (&sc, &id_start, &id_stop, &simple) || !simple ||
                    id_start == id_stop || !scan_char (&sc, ':'))
                  return FALSE;
                scan_ws (&sc);
                start = sc.p;
                if (sc.p >= sc.end || *sc.p != '{' || !scan_value (&sc))
                  return FALSE;
                id = g_strndup (id_start, id_stop - id_start);
                g_ptr_array_add (entries, bucket_entry_new (id, g_strndup (start, sc.p - start)));
                if (scan_char (&sc, ','))
                  continue;
                if (scan_char (&sc, '}'))
                  break;
                return FALSE;
              }
        }
      else if (!scan_value (&sc))
        return FALSE;

      if (scan_char (&sc, ','))
        continue;
      if (scan_char (&sc, '}'))
        break;
      return FALSE;
    }
  scan_ws (&sc);
  return sc.p == sc.end && seen_version && seen_grants;
}

/* The document text of a bucket; wipe it when done. */
static char *
bucket_join (GPtrArray *entries)
{
  GString *out = g_string_sized_new (4096);

  g_string_append_printf (out, "{\"v\":%d,\"grants\":{", BUCKET_DOC_VERSION);
  for (guint i = 0; i < entries->len; i++)
    {
      BucketEntry *entry = g_ptr_array_index (entries, i);

      /* Grant ids are Keyhold's own hex strings: nothing to escape. */
      g_string_append_printf (out, "%s\"%s\":%s", i > 0 ? "," : "", entry->id, entry->text);
    }
  g_string_append (out, "}}");
  return g_string_free (out, FALSE);
}

BucketEntry *
bucket_find (GPtrArray  *entries,
             const char *id,
             guint      *pos_out)
{
  for (guint i = 0; i < entries->len; i++)
    {
      BucketEntry *entry = g_ptr_array_index (entries, i);

      if (g_str_equal (entry->id, id))
        {
          if (pos_out != NULL)
            *pos_out = i;
          return entry;
        }
    }
  return NULL;
}

static void
set_bucket_damaged (GError **error,
                    guint    bucket)
{
  g_set_error (error, KH_ERROR, KH_ERROR_STORE,
               _("The keyring item of grants part %u is damaged or of an unknown format: "
                 "nothing in it was changed"), bucket + 1);
}

/* Parses a bucket's document into entries; FALSE (entries emptied) when it is damaged. */
static gboolean
bucket_parse (const char *text,
              gsize       length,
              guint       bucket,
              GPtrArray  *entries,
              GError    **error)
{
  if (bucket_split (text, length, entries))
    return TRUE;
  g_ptr_array_set_size (entries, 0);
  set_bucket_damaged (error, bucket);
  return FALSE;
}

/* Reads one bucket of the store named store_name into entries. FALSE with error when the keyring
 * fails or the item is damaged; TRUE with no entries when there is no such item. */
gboolean
read_bucket (const char *store_name,
             guint       bucket,
             GPtrArray  *entries,
             GError    **error)
{
  g_autoptr(GHashTable) attributes = bucket_attributes (store_name, bucket);
  GError *local_error = NULL;
  kh_autosecret char *secret = NULL;
  KEYRING_GUARD ();

  secret = secret_password_lookupv_sync (&item_schema, attributes, NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not read from the keyring"));
      return FALSE;
    }
  if (secret == NULL)
    {
      if (keyring_has_locked (attributes))
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The keyring is locked"));
          return FALSE;
        }
      return TRUE;
    }
  return bucket_parse (secret, strlen (secret), bucket, entries, error);
}

/* Like read_bucket, for a read-modify-write: through a search that also hands back the item, so
 * that the write can set its secret (one write of gnome-keyring's file, where libsecret's store
 * asks it to create the item with replace). *item_out is NULL when there is no item, and with
 * backends other than the Secret Service. */
gboolean
read_bucket_for_write (const char  *store_name,
                       guint        bucket,
                       GPtrArray   *entries,
                       SecretItem **item_out,
                       GError     **error)
{
  g_autoptr(GHashTable) attributes = bucket_attributes (store_name, bucket);
  g_autoptr(ItemList) items = NULL;
  g_autoptr(SecretValue) value = NULL;
  GError *local_error = NULL;
  const char *text;
  gsize length;
  KEYRING_GUARD ();

  *item_out = NULL;
  items = secret_password_searchv_sync (&item_schema, attributes, SECRET_SEARCH_LOAD_SECRETS,
                                        NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not read from the keyring"));
      return FALSE;
    }
  if (items == NULL)
    return TRUE;
  value = item_secret (items->data, error);
  if (value == NULL)
    return FALSE;
  text = secret_value_get (value, &length);
  if (!bucket_parse (text, length, bucket, entries, error))
    return FALSE;
  if (SECRET_IS_ITEM (items->data))
    *item_out = g_object_ref (items->data);
  return TRUE;
}

/* Writes entries as the bucket's item, or deletes the item when no grant is left in it. item is
 * the bucket's item as read_bucket_for_write found it under the bucket's lock, or NULL. */
gboolean
write_bucket (const char *store_name,
              guint       bucket,
              GPtrArray  *entries,
              SecretItem *item,
              GError    **error)
{
  g_autoptr(GHashTable) attributes = bucket_attributes (store_name, bucket);
  g_autofree char *label = NULL;
  kh_autosecret char *doc = NULL;
  GError *local_error = NULL;
  KEYRING_GUARD ();

  if (entries->len == 0)
    {
      if (item != NULL)
        secret_item_delete_sync (item, NULL, &local_error);
      else
        secret_password_clearv_sync (&item_schema, attributes, NULL, &local_error);
      if (local_error != NULL)
        {
          propagate_keyring_error (error, local_error, _("Could not delete from the keyring"));
          return FALSE;
        }
      return TRUE;
    }

  doc = bucket_join (entries);
  if (item != NULL)
    {
      g_autoptr(SecretValue) value = secret_value_new (doc, -1, "text/plain");

      if (secret_item_set_secret_sync (item, value, NULL, &local_error))
        return TRUE;
      g_debug ("setting the secret of grants part %u failed: %s", bucket + 1,
               local_error->message);
      g_clear_error (&local_error);
    }

  label = g_strdup_printf (_("Keyhold grants, part %u of %u"), bucket + 1, N_BUCKETS);
  if (!secret_password_storev_sync (&item_schema, attributes, SECRET_COLLECTION_DEFAULT, label,
                                    doc, NULL, &local_error))
    {
      propagate_keyring_error (error, local_error, _("Could not write to the keyring"));
      return FALSE;
    }
  return TRUE;
}

/* The document ({"tokens":...,"grant":...}) of one grant. Looks in its bucket first, then for the
 * grant's own item of an earlier Keyhold that has not moved yet. NULL without error when
 * neither exists. Needs no KhStore: kh_store_peek_grant reads without an index. */
JsonObject *
lookup_grant_doc (const char *store_name,
                  const char *grant_id,
                  GError    **error)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (bucket_entry_free);
  guint bucket = grant_bucket (grant_id);
  BucketEntry *entry;

  if (!read_bucket (store_name, bucket, entries, error))
    return NULL;
  entry = bucket_find (entries, grant_id, NULL);
  if (entry != NULL)
    {
      g_autoptr(JsonParser) parser = json_parser_new_immutable ();
      JsonObject *doc = NULL;

      if (json_parser_load_from_data (parser, entry->text, -1, NULL))
        doc = kh_json_node_object (json_parser_get_root (parser));
      if (doc == NULL)
        {
          set_bucket_damaged (error, bucket);
          return NULL;
        }
      return json_object_ref (doc);
    }

  return lookup_doc_by_name (store_name, SECTION_GRANTS, grant_id, NULL, error);
}

/* The grant's tokens and metadata copy as the text of its bucket entry; wipe it when done. */
char *
grant_entry_text (const char *tokens_text,
                  const char *grant_text)
{
  return g_strdup_printf ("{\"tokens\":%s,\"grant\":%s}", tokens_text, grant_text);
}

JsonObject *
keyring_lookup_doc (KhStore    *self,
                    Section     section,
                    const char *id,
                    gboolean   *damaged,
                    GError    **error)
{
  return lookup_doc_by_name (self->store_name, section, id, damaged, error);
}

/* Deletes an item; *deleted says whether there was one. */
gboolean
keyring_clear (KhStore    *self,
               Section     section,
               const char *id,
               gboolean   *deleted,
               GError    **error)
{
  g_autoptr(GHashTable) attributes = item_attributes (self, sections[section].kind, id);
  GError *local_error = NULL;
  KEYRING_GUARD ();

  *deleted = secret_password_clearv_sync (&item_schema, attributes, NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not delete from the keyring"));
      return FALSE;
    }
  return TRUE;
}

GList *
keyring_search_store (KhStore *self,
                      GError **error)
{
  g_autoptr(GHashTable) attributes = item_attributes (self, NULL, NULL);
  GError *local_error = NULL;
  GList *items;
  KEYRING_GUARD ();

  items = secret_password_searchv_sync (&item_schema, attributes,
                                        SECRET_SEARCH_ALL | SECRET_SEARCH_UNLOCK |
                                        SECRET_SEARCH_LOAD_SECRETS,
                                        NULL, &local_error);
  if (local_error != NULL)
    {
      propagate_keyring_error (error, local_error, _("Could not search the keyring"));
      return NULL;
    }
  return items;
}

Section
section_from_kind (const char *kind)
{
  for (int s = 0; s < N_SECTIONS; s++)
    if (g_strcmp0 (kind, sections[s].kind) == 0)
      return s;
  return N_SECTIONS;
}

/* Adds the grants of a bucket item to found, except those found has already. FALSE with error
 * only when the keyring cannot be read; a damaged bucket is reported and skipped. */
static gboolean
add_bucket_entries (SecretRetrievable *item,
                    const char        *bucket_id,
                    Index             *found,
                    GError           **error)
{
  g_autoptr(SecretValue) value = item_secret (item, error);
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (bucket_entry_free);
  const char *text;
  gsize length;

  if (value == NULL)
    return FALSE;
  text = secret_value_get (value, &length);
  if (!bucket_split (text, length, entries))
    {
      g_message ("Skipped keyring item grants \"%s\": its contents are damaged", bucket_id);
      return TRUE;
    }

  for (guint i = 0; i < entries->len; i++)
    {
      BucketEntry *bucket_entry = g_ptr_array_index (entries, i);
      g_autoptr(JsonParser) parser = json_parser_new_immutable ();
      JsonObject *doc = NULL;
      JsonObject *meta;

      if (index_lookup (found, SECTION_GRANTS, bucket_entry->id) != NULL)
        continue;
      if (json_parser_load_from_data (parser, bucket_entry->text, -1, NULL))
        doc = kh_json_node_object (json_parser_get_root (parser));
      meta = doc != NULL ? kh_json_get_object (doc, "grant") : NULL;
      if (meta == NULL || g_strcmp0 (kh_json_get_string (meta, "id"), bucket_entry->id) != 0)
        {
          g_message ("Skipped grant %s of keyring item grants \"%s\": its contents are damaged",
                     bucket_entry->id, bucket_id);
          continue;
        }
      index_take_entry (found, SECTION_GRANTS, entry_new (bucket_entry->id, meta, NULL));
    }
  return TRUE;
}

/* The index entry a keyring item describes, or NULL (with a message) when it cannot be used. */
static Entry *
entry_from_item (SecretRetrievable *item,
                 Section           *section_out,
                 GError           **error)
{
  g_autoptr(GHashTable) attributes = secret_retrievable_get_attributes (item);
  g_autoptr(SecretValue) value = NULL;
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(JsonNode) meta_node = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *kind = g_hash_table_lookup (attributes, "kind");
  const char *id = g_hash_table_lookup (attributes, "id");
  const char *gen = g_hash_table_lookup (attributes, "gen");
  const char *text;
  gsize length;
  JsonObject *doc = NULL;
  JsonObject *meta;
  Section section = section_from_kind (kind);
  gint64 version;

  *section_out = section;
  if (section == N_SECTIONS && kind != NULL)
    {
      /* A plain secret (kh_store_save_secret): not an index entry. */
      g_debug ("Keyring item of kind \"%s\" is not an index entry", kind);
      return NULL;
    }
  if (section == N_SECTIONS || id == NULL || *id == '\0')
    {
      g_message ("Skipped a keyring item of kind \"%s\" without id", kind ? kind : "");
      return NULL;
    }
  if (g_strcmp0 (gen, SCHEMA_GEN) != 0)
    {
      g_message ("Skipped keyring item %s \"%s\" of schema generation %s (a newer Keyhold?)",
                 kind, id, gen ? gen : "?");
      return NULL;
    }

  value = item_secret (item, error);
  if (value == NULL)
    return NULL;

  text = secret_value_get (value, &length);
  if (json_parser_load_from_data (parser, text, length, &local_error))
    doc = kh_json_node_object (json_parser_get_root (parser));
  meta = doc ? kh_json_get_object (doc, sections[section].doc_member) : NULL;
  if (doc == NULL || !kh_json_get_int (doc, "v", &version) || version != ITEM_DOC_VERSION ||
      meta == NULL)
    {
      g_message ("Skipped keyring item %s \"%s\": its contents are damaged", kind, id);
      return NULL;
    }

  if (section == SECTION_PENDING)
    {
      g_autoptr(KhAuthRequest) request = NULL;
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), meta);

      /* The keyring holds the full request; the index gets its public form (no state, no URL). */
      request = kh_auth_request_new_from_json (node, &local_error);
      if (request == NULL)
        {
          g_message ("Skipped keyring item %s \"%s\": %s", kind, id, local_error->message);
          return NULL;
        }
      meta_node = kh_auth_request_to_public_json (request);
      meta = kh_json_node_object (meta_node);
      if (meta == NULL)
        return NULL;
    }

  if (g_strcmp0 (kh_json_get_string (meta, sections[section].id_member), id) != 0)
    {
      g_message ("Skipped keyring item %s \"%s\": its contents belong to another entry", kind, id);
      return NULL;
    }

  return entry_new (id, meta, NULL);
}

/* Builds an index from the store's keyring items. Entries present in base keep base's version
 * (kh_store_update_grant changes only the index, so it is the newer one); entries of base with no
 * keyring item are dropped, since they have no secret. */
Index *
index_from_items (KhStore *self,
                  GList   *items,
                  Index   *base,
                  GError **error)
{
  g_autoptr(Index) index = index_new ();
  g_autoptr(Index) found = index_new ();
  guint dropped = 0;

  /* Buckets first: a grant also found in an item of its own of an earlier Keyhold (a move that
   * stopped before deleting it) is described by its bucket, which was written last. */
  for (guint pass = 0; pass < 2; pass++)
    for (GList *l = items; l != NULL; l = l->next)
      {
        g_autoptr(GHashTable) attributes = NULL;
        const char *kind;
        const char *id;
        gboolean is_bucket;
        Section section;
        Entry *entry;

        /* A locked item (unlock prompt dismissed) proves nothing either way: stop rather than
         * drop the entries it may stand for. */
        if (SECRET_IS_ITEM (l->data) && secret_item_get_locked (SECRET_ITEM (l->data)))
          {
            g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The keyring is locked"));
            return NULL;
          }

        attributes = secret_retrievable_get_attributes (l->data);
        kind = g_hash_table_lookup (attributes, "kind");
        id = g_hash_table_lookup (attributes, "id");
        is_bucket = g_strcmp0 (kind, BUCKET_KIND) == 0 &&
                    g_strcmp0 (g_hash_table_lookup (attributes, "gen"), BUCKET_GEN) == 0;
        if (is_bucket != (pass == 0))
          continue;
        if (is_bucket)
          {
            if (!add_bucket_entries (l->data, id, found, error))
              return NULL;
            continue;
          }

        section = section_from_kind (kind);
        if (section == SECTION_GRANTS && id != NULL &&
            g_strcmp0 (g_hash_table_lookup (attributes, "gen"), SCHEMA_GEN) == 0)
          {
            /* Not moved into its bucket yet: the index says so until it is. */
            index->version = INDEX_VERSION_PER_GRANT_ITEMS;
            if (index_lookup (found, section, id) != NULL)
              continue;
          }

        if (base != NULL && section != N_SECTIONS && id != NULL &&
            (entry = index_lookup (base, section, id)) != NULL)
          {
            index_take_entry (found, section, entry_ref (entry));
            continue;
          }

        entry = entry_from_item (l->data, &section, error);
        if (entry == NULL)
          {
            if (error != NULL && *error != NULL)
              return NULL;
            continue;
          }
        index_take_entry (found, section, entry);
      }

  /* Keep base's order for what it had, then append what only the keyring had. */
  for (int s = 0; s < N_SECTIONS; s++)
    {
      if (base != NULL)
        for (guint i = 0; i < base->entries[s]->len; i++)
          {
            Entry *entry = g_ptr_array_index (base->entries[s], i);

            if (index_lookup (found, s, entry->id) != NULL)
              index_take_entry (index, s, entry_ref (entry));
            else
              dropped++;
          }
      for (guint i = 0; i < found->entries[s]->len; i++)
        {
          Entry *entry = g_ptr_array_index (found->entries[s], i);

          if (index_lookup (index, s, entry->id) == NULL)
            index_take_entry (index, s, entry_ref (entry));
        }
    }

  if (dropped > 0)
    g_message ("Dropped %u index entries of store \"%s\" that had no keyring item", dropped,
               self->store_name);

  return g_steal_pointer (&index);
}

Index *
rebuild_from_keyring (KhStore *self,
                      Index   *base,
                      GError **error)
{
  g_autoptr(ItemList) items = NULL;
  GError *local_error = NULL;

  items = keyring_search_store (self, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return NULL;
    }
  return index_from_items (self, items, base, error);
}
