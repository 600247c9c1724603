/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store.c: KhStore keeps every secret in the desktop keyring (libsecret) and a non-secret
 * index on disk so that listing 2,000 grants never enumerates the keyring.
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

/* Index format 2 is format 1 once the store's grants live in bucket items: an index of
 * format 1 says that per-grant items may still be waiting to move (see migrate_grant_items). */
#define INDEX_VERSION 2
#define INDEX_VERSION_PER_GRANT_ITEMS 1
#define ITEM_DOC_VERSION 1
/* App and pending items, and the per-grant items of earlier Keyholds, are generation 1. */
#define SCHEMA_GEN "1"
/* Grants' tokens live in N_BUCKETS items of kind "grants", generation 2, id the bucket number:
 * each holds {"v":2,"grants":{<grant id>:{"tokens":...,"grant":...}}} for the grants whose id
 * hashes to it. gnome-keyring and libsecret's file backend rewrite and re-encrypt their whole
 * file on every write, and that cost grows with the number of items: a few dozen items keep
 * each write cheap, and one write can carry several refreshes of one bucket. */
#define BUCKET_GEN "2"
#define BUCKET_KIND "grants"
#define BUCKET_DOC_VERSION 2
#define N_BUCKETS 32
#define PREFIX_MIN_LENGTH 6

/* SECRET_SCHEMA_NONE: libsecret adds xdg:schema to every item and matches on it, so items of
 * other programs that happen to use the same attribute names are never touched. */
static const SecretSchema item_schema = {
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

static void
secret_str_free (char *str)
{
  if (str == NULL)
    return;
  secret_password_wipe (str);
  g_free (str);
}

static void
secret_str_clear (char **str)
{
  secret_str_free (g_steal_pointer (str));
}

/* A char * that is wiped before it is freed. */
#define kh_autosecret __attribute__ ((cleanup (secret_str_clear)))

/* ---- index sections ------------------------------------------------------------------------ */

typedef enum {
  SECTION_GRANTS,
  SECTION_APPS,
  SECTION_PENDING,
  N_SECTIONS,
} Section;

typedef struct {
  const char *member;     /* array name in index.json */
  const char *id_member;  /* member of each entry that identifies it */
  const char *kind;       /* keyring "kind" attribute */
  const char *doc_member; /* member of the keyring document that holds the index entry */
} SectionInfo;

static const SectionInfo sections[N_SECTIONS] = {
  [SECTION_GRANTS] = { "grants", "id", "grant", "grant" },
  [SECTION_APPS] = { "apps", "name", "app", "app" },
  [SECTION_PENDING] = { "pending", "id", "pending", "request" },
};

/* One entry of the index, shared between snapshots and so between threads. It has its JSON text
 * (an entry read from disk keeps its exact bytes) and, once used, the object parsed from it,
 * computed once, atomically. json-glib counts references without atomics: the entry holds the
 * only reference to its object from the moment it is published to the entry's end, and readers
 * borrow it (the *_new_from_json_object functions), never ref it or wrap it in a JsonNode. */
typedef struct {
  char       *id;
  JsonObject *object;
  char       *text;
} Entry;

static void
entry_clear (gpointer data)
{
  Entry *entry = data;

  g_free (entry->id);
  g_clear_pointer (&entry->object, json_object_unref);
  g_free (entry->text);
}

static Entry *
entry_ref (Entry *entry)
{
  return g_atomic_rc_box_acquire (entry);
}

static void
entry_unref (gpointer entry)
{
  g_atomic_rc_box_release_full (entry, entry_clear);
}

/* Takes text, the entry's exact bytes in the index file; parsed on first use. */
static Entry *
entry_new_from_text (const char *id,
                     char       *text)
{
  Entry *entry = g_atomic_rc_box_new0 (Entry);

  entry->id = g_strdup (id);
  entry->text = text;
  return entry;
}

/* Takes text, object's serialization, or serializes object when text is NULL. The entry keeps
 * no reference to object: the caller's references to it (its nodes, its parser) go away in the
 * caller's thread, perhaps while other threads already read the entry. */
static Entry *
entry_new (const char *id,
           JsonObject *object,
           char       *text)
{
  if (text == NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), object);

      text = json_to_string (node, FALSE);
    }
  return entry_new_from_text (id, text);
}

/* Publishes object, which must hold no reference but the one it gives the entry; FALSE (and
 * object freed) when another thread published one first. */
static gboolean
entry_publish_object (Entry      *entry,
                      JsonObject *object)
{
  if (g_atomic_pointer_compare_and_exchange (&entry->object, NULL, object))
    return TRUE;
  json_object_unref (object);
  return FALSE;
}

/* NULL when the entry's text is not a JSON object (a damaged line in the index). */
static JsonObject *
entry_get_object (Entry *entry)
{
  JsonObject *object = g_atomic_pointer_get (&entry->object);

  if (object == NULL)
    {
      JsonParser *parser = json_parser_new_immutable ();

      if (json_parser_load_from_data (parser, entry->text, -1, NULL))
        object = kh_json_node_object (json_parser_get_root (parser));
      if (object != NULL)
        json_object_ref (object);
      /* The parser's references go before the object is shared. */
      g_object_unref (parser);
      if (object == NULL)
        return NULL;
      if (!entry_publish_object (entry, object))
        object = g_atomic_pointer_get (&entry->object);
    }
  return object;
}

/* ---- index snapshots ----------------------------------------------------------------------- */

typedef struct {
  GPtrArray  *entries[N_SECTIONS];  /* Entry, in file order */
  GHashTable *by_id[N_SECTIONS];    /* id -> Entry (borrowed from entries) */
  int         version;              /* INDEX_VERSION, or 1 while grant items wait to move */
} Index;

static void
index_clear (gpointer data)
{
  Index *index = data;

  for (int s = 0; s < N_SECTIONS; s++)
    {
      g_clear_pointer (&index->by_id[s], g_hash_table_unref);
      g_clear_pointer (&index->entries[s], g_ptr_array_unref);
    }
}

static Index *
index_new (void)
{
  Index *index = g_atomic_rc_box_new0 (Index);

  for (int s = 0; s < N_SECTIONS; s++)
    {
      index->entries[s] = g_ptr_array_new_with_free_func (entry_unref);
      index->by_id[s] = g_hash_table_new (g_str_hash, g_str_equal);
    }
  index->version = INDEX_VERSION;
  return index;
}

static Index *
index_ref (Index *index)
{
  return g_atomic_rc_box_acquire (index);
}

static void
index_unref (Index *index)
{
  g_atomic_rc_box_release_full (index, index_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Index, index_unref)

static Index *
index_copy (Index *index)
{
  Index *copy = index_new ();

  copy->version = index->version;
  for (int s = 0; s < N_SECTIONS; s++)
    {
      g_ptr_array_set_size (copy->entries[s], 0);
      for (guint i = 0; i < index->entries[s]->len; i++)
        {
          Entry *entry = g_ptr_array_index (index->entries[s], i);

          g_ptr_array_add (copy->entries[s], entry_ref (entry));
          g_hash_table_insert (copy->by_id[s], entry->id, entry);
        }
    }
  return copy;
}

static Entry *
index_lookup (Index      *index,
              Section     section,
              const char *id)
{
  return g_hash_table_lookup (index->by_id[section], id);
}

/* Adds entry (taking it), replacing an entry of the same id in place. */
static void
index_take_entry (Index   *index,
                  Section  section,
                  Entry   *entry)
{
  Entry *old = g_hash_table_lookup (index->by_id[section], entry->id);

  if (old != NULL)
    {
      guint pos;

      if (!g_ptr_array_find (index->entries[section], old, &pos))
        g_assert_not_reached ();
      /* replace, not insert: the key must become entry->id, old->id is about to be freed. */
      g_hash_table_replace (index->by_id[section], entry->id, entry);
      index->entries[section]->pdata[pos] = entry;
      entry_unref (old);
    }
  else
    {
      g_ptr_array_add (index->entries[section], entry);
      g_hash_table_insert (index->by_id[section], entry->id, entry);
    }
}

static gboolean
index_remove (Index      *index,
              Section     section,
              const char *id)
{
  Entry *old = g_hash_table_lookup (index->by_id[section], id);

  if (old == NULL)
    return FALSE;

  g_hash_table_remove (index->by_id[section], id);
  g_ptr_array_remove (index->entries[section], old);
  return TRUE;
}

static GString *
index_serialize (Index *index)
{
  GString *out = g_string_sized_new (4096);

  g_string_append_printf (out, "{\"version\":%d", index->version);
  for (int s = 0; s < N_SECTIONS; s++)
    {
      g_string_append_printf (out, ",\n\"%s\":[", sections[s].member);
      for (guint i = 0; i < index->entries[s]->len; i++)
        {
          Entry *entry = g_ptr_array_index (index->entries[s], i);

          /* One entry per line keeps the file readable and diffable. */
          g_string_append (out, i == 0 ? "\n" : ",\n");
          g_string_append (out, entry->text);
        }
      g_string_append (out, "]");
    }
  g_string_append (out, "}\n");
  return out;
}

/* ---- a fast first pass over index.json ------------------------------------------------------ */

/* json-glib builds a tree of every member of every entry: about 60 ms for 2,000 grants. Opening
 * the store to fetch one grant's token must not pay that, so a strict structural scan splits the
 * file into its entries and reads only their ids; each entry is parsed when it is first used.
 * Anything the scan does not recognise falls back to json-glib, which then has the last word on
 * whether the file is damaged. */

typedef struct {
  const char *p;
  const char *end;
  int         depth;
} Scanner;

static void
scan_ws (Scanner *sc)
{
  while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
    sc->p++;
}

static gboolean
scan_char (Scanner *sc,
           char     c)
{
  scan_ws (sc);
  if (sc->p >= sc->end || *sc->p != c)
    return FALSE;
  sc->p++;
  return TRUE;
}

/* A string literal: [*start, *stop) is its raw content; *simple is FALSE if it has escapes. */
static gboolean
scan_string (Scanner     *sc,
             const char **start,
             const char **stop,
             gboolean    *simple)
{
  if (!scan_char (sc, '"'))
    return FALSE;
  *start = sc->p;
  *simple = TRUE;
  while (sc->p < sc->end)
    {
      guchar c = (guchar) *sc->p;

      if (c == '"')
        {
          *stop = sc->p++;
          return TRUE;
        }
      if (c < 0x20)
        return FALSE;
      if (c == '\\')
        {
          *simple = FALSE;
          if (++sc->p >= sc->end)
            return FALSE;
        }
      sc->p++;
    }
  return FALSE;
}

static gboolean
scan_literal (Scanner *sc)
{
  const char *start;
  g_autofree char *token = NULL;
  char *endptr;

  scan_ws (sc);
  start = sc->p;
  while (sc->p < sc->end && (g_ascii_isalnum (*sc->p) || *sc->p == '-' || *sc->p == '+' ||
                             *sc->p == '.'))
    sc->p++;
  if (sc->p == start)
    return FALSE;
  token = g_strndup (start, sc->p - start);
  if (g_str_equal (token, "true") || g_str_equal (token, "false") || g_str_equal (token, "null"))
    return TRUE;
  g_ascii_strtod (token, &endptr);
  return *endptr == '\0' && (g_ascii_isdigit (token[0]) || token[0] == '-');
}

static gboolean scan_value (Scanner *sc);

/* An object or array, the opening character not yet consumed. */
static gboolean
scan_container (Scanner *sc,
                char     open,
                char     close)
{
  if (!scan_char (sc, open) || ++sc->depth > 64)
    return FALSE;
  if (scan_char (sc, close))
    {
      sc->depth--;
      return TRUE;
    }
  for (;;)
    {
      if (open == '{')
        {
          const char *start;
          const char *stop;
          gboolean simple;

          if (!scan_string (sc, &start, &stop, &simple) || !scan_char (sc, ':'))
            return FALSE;
        }
      if (!scan_value (sc))
        return FALSE;
      if (scan_char (sc, ','))
        continue;
      if (scan_char (sc, close))
        {
          sc->depth--;
          return TRUE;
        }
      return FALSE;
    }
}

static gboolean
scan_value (Scanner *sc)
{
  const char *start;
  const char *stop;
  gboolean simple;

  scan_ws (sc);
  if (sc->p >= sc->end)
    return FALSE;
  switch (*sc->p)
    {
    case '"':
      return scan_string (sc, &start, &stop, &simple);
    case '{':
      return scan_container (sc, '{', '}');
    case '[':
      return scan_container (sc, '[', ']');
    default:
      return scan_literal (sc);
    }
}

static gboolean
literal_equal (const char *start,
               const char *stop,
               const char *str)
{
  gsize len = strlen (str);

  return (gsize) (stop - start) == len && memcmp (start, str, len) == 0;
}

/* The string member of one entry (an object, already scanned), if plain. */
static char *
scan_entry_member (const char *start,
                   const char *stop,
                   const char *member)
{
  Scanner sc = { start, stop, 0 };
  char *found = NULL;

  if (!scan_char (&sc, '{'))
    return NULL;
  if (scan_char (&sc, '}'))
    return NULL;
  for (;;)
    {
      const char *key_start;
      const char *key_stop;
      gboolean simple;

      if (!scan_string (&sc, &key_start, &key_stop, &simple) || !scan_char (&sc, ':'))
        break;
      scan_ws (&sc);
      if (literal_equal (key_start, key_stop, member) && sc.p < sc.end && *sc.p == '"')
        {
          const char *value_start;
          const char *value_stop;

          if (!scan_string (&sc, &value_start, &value_stop, &simple))
            break;
          g_free (found);
          /* Escaped ids never come from Keyhold: leave them to json-glib. */
          found = simple ? g_strndup (value_start, value_stop - value_start) : NULL;
          if (found == NULL)
            return NULL;
        }
      else if (!scan_value (&sc))
        break;
      if (scan_char (&sc, ','))
        continue;
      if (scan_char (&sc, '}'))
        return found;
      break;
    }
  g_free (found);
  return NULL;
}

/* NULL unless data is a well-formed index of the current format whose entries all have a plain
 * id; the slow path then decides. */
static Index *
index_scan (const char *data,
            gsize       length)
{
  Scanner sc = { data, data + length, 0 };
  g_autoptr(Index) index = index_new ();
  gboolean seen[N_SECTIONS] = { FALSE, };
  gint64 version = -1;

  if (!scan_char (&sc, '{'))
    return NULL;
  for (;;)
    {
      const char *key_start;
      const char *key_stop;
      gboolean simple;
      int section = -1;

      if (!scan_string (&sc, &key_start, &key_stop, &simple) || !simple || !scan_char (&sc, ':'))
        return NULL;

      for (int s = 0; s < N_SECTIONS; s++)
        if (literal_equal (key_start, key_stop, sections[s].member))
          section = s;

      if (literal_equal (key_start, key_stop, "version"))
        {
          const char *start;
          g_autofree char *token = NULL;

          scan_ws (&sc);
          start = sc.p;
          if (version != -1 || !scan_literal (&sc))
            return NULL;
          token = g_strndup (start, sc.p - start);
          if (!g_ascii_string_to_signed (token, 10, 0, G_MAXINT, &version, NULL))
            return NULL;
        }
      else if (section >= 0)
        {
          if (seen[section] || !scan_char (&sc, '['))
            return NULL;
          seen[section] = TRUE;
          if (!scan_char (&sc, ']'))
            for (;;)
              {
                const char *start;
                char *id;

                scan_ws (&sc);
                start = sc.p;
                if (sc.p >= sc.end || *sc.p != '{' || !scan_value (&sc))
                  return NULL;
                id = scan_entry_member (start, sc.p, sections[section].id_member);
                if (id == NULL || *id == '\0')
                  {
                    g_free (id);
                    return NULL;
                  }
                index_take_entry (index, section,
                                  entry_new_from_text (id, g_strndup (start, sc.p - start)));
                g_free (id);
                if (scan_char (&sc, ','))
                  continue;
                if (scan_char (&sc, ']'))
                  break;
                return NULL;
              }
        }
      else if (!scan_value (&sc))
        return NULL;

      if (scan_char (&sc, ','))
        continue;
      if (scan_char (&sc, '}'))
        break;
      return NULL;
    }

  scan_ws (&sc);
  if (sc.p != sc.end || version < INDEX_VERSION_PER_GRANT_ITEMS || version > INDEX_VERSION)
    return NULL;
  index->version = (int) version;
  return g_steal_pointer (&index);
}

/* Parses index.json; FALSE with a message when it is not an index (the caller decides what a
 * corrupt index means). newer_version is set when the file is a valid index of a later format,
 * which must never be treated as corrupt. */
static Index *
index_parse (const char  *data,
             gsize        length,
             gboolean    *newer_version,
             GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) local_error = NULL;
  g_autoptr(Index) index = NULL;
  JsonObject *root;
  gint64 version;

  *newer_version = FALSE;

  if (length == 0 || !g_utf8_validate (data, length, NULL))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The index is empty or not text"));
      return NULL;
    }

  index = index_scan (data, length);
  if (index != NULL)
    return g_steal_pointer (&index);

  if (!json_parser_load_from_data (parser, data, length, &local_error))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("The index is not valid JSON: %s"),
                   local_error->message);
      return NULL;
    }

  root = kh_json_node_object (json_parser_get_root (parser));
  if (root == NULL || !kh_json_get_int (root, "version", &version))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE,
                           _("The index has no version: it is not a Keyhold index"));
      return NULL;
    }
  if (version > INDEX_VERSION)
    {
      *newer_version = TRUE;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The index was written by a newer version of Keyhold (format %d); update "
                     "Keyhold to use it"), (int) version);
      return NULL;
    }
  if (version < INDEX_VERSION_PER_GRANT_ITEMS)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("The index has an unknown format (%d)"),
                   (int) version);
      return NULL;
    }

  index = index_new ();
  index->version = (int) version;
  for (int s = 0; s < N_SECTIONS; s++)
    {
      JsonArray *array;
      guint n;

      if (!json_object_has_member (root, sections[s].member))
        continue;
      array = kh_json_get_array (root, sections[s].member);
      if (array == NULL)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("The index member “%s” is not a list"),
                       sections[s].member);
          return NULL;
        }

      n = json_array_get_length (array);
      for (guint i = 0; i < n; i++)
        {
          JsonObject *object = kh_json_node_object (json_array_get_element (array, i));
          const char *id = object ? kh_json_get_string (object, sections[s].id_member) : NULL;

          if (id == NULL || *id == '\0')
            {
              g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                           _("Entry %u of “%s” in the index has no “%s”"), i + 1,
                           sections[s].member, sections[s].id_member);
              return NULL;
            }
          index_take_entry (index, s, entry_new (id, object, NULL));
        }
    }

  return g_steal_pointer (&index);
}

/* ---- the index file ------------------------------------------------------------------------ */

typedef struct {
  gboolean exists;
  dev_t    dev;
  ino_t    ino;
  off_t    size;
  gint64   mtime_ns;
  gint64   ctime_ns;
} Stamp;

static void
stamp_from_stat (Stamp             *stamp,
                 const struct stat *st)
{
  stamp->exists = TRUE;
  stamp->dev = st->st_dev;
  stamp->ino = st->st_ino;
  stamp->size = st->st_size;
  stamp->mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) +
                    st->st_mtim.tv_nsec;
  stamp->ctime_ns = (gint64) st->st_ctim.tv_sec * G_GINT64_CONSTANT (1000000000) +
                    st->st_ctim.tv_nsec;
}

static gboolean
stamp_equal (const Stamp *a,
             const Stamp *b)
{
  if (a->exists != b->exists)
    return FALSE;
  if (!a->exists)
    return TRUE;
  return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

typedef enum {
  READ_OK,
  READ_MISSING,
  READ_CORRUPT,   /* unparsable or unreadable: moved aside and rebuilt */
  READ_FAILED,    /* a newer format or an I/O problem that moving aside would not fix */
} ReadResult;

/* Changes that wait for one shared write: of the index (one committer), or of one grant bucket
 * (one committer per bucket). */
typedef struct {
  GMutex     mutex;
  GCond      cond;
  GPtrArray *queue;     /* Commit *, waiting for the next write */
  gboolean   busy;      /* a thread is writing a batch */
} Committer;

struct _KhStore
{
  GObject parent_instance;

  char   *store_name;
  char   *dir;
  char   *index_path;
  char   *lock_path;

  char   *items_lock_path;

  char   *migrate_lock_path;

  GMutex  mutex;      /* guards index and stamp */
  Index  *index;
  Stamp   stamp;      /* of the file index was read from or written to */

  /* Group commit (see group_commit): of index changes, and of each bucket's changes. */
  Committer index_committer;
  Committer bucket_committers[N_BUCKETS];

  /* kh_store_new_headless: a missing index with no keyring to rebuild it from starts empty. */
  gboolean   headless;
};

G_DEFINE_FINAL_TYPE (KhStore, kh_store, G_TYPE_OBJECT)

static gboolean
stat_index (KhStore *self,
            Stamp   *stamp,
            GError **error)
{
  struct stat st;

  memset (stamp, 0, sizeof *stamp);
  if (g_stat (self->index_path, &st) == 0)
    {
      stamp_from_stat (stamp, &st);
      return TRUE;
    }
  if (errno == ENOENT || errno == ENOTDIR)
    return TRUE;

  {
    int saved_errno = errno;

    g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not read the index %s: %s"),
                 self->index_path, g_strerror (saved_errno));
    return FALSE;
  }
}

/* Reads and parses the index file. The stamp comes from the open file itself, so it always
 * describes the contents that were parsed even if the file is replaced meanwhile. */
static ReadResult
read_index (KhStore  *self,
            Index   **out,
            Stamp    *stamp,
            GError  **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GError) local_error = NULL;
  gboolean newer = FALSE;
  struct stat st;
  int fd;
  int saved_errno;

  *out = NULL;
  memset (stamp, 0, sizeof *stamp);

  fd = g_open (self->index_path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    {
      saved_errno = errno;
      if (saved_errno == ENOENT || saved_errno == ENOTDIR)
        return READ_MISSING;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not read the index %s: %s"),
                   self->index_path, g_strerror (saved_errno));
      return saved_errno == EACCES || saved_errno == EISDIR ? READ_CORRUPT : READ_FAILED;
    }

  if (fstat (fd, &st) != 0)
    {
      saved_errno = errno;
      close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not read the index %s: %s"),
                   self->index_path, g_strerror (saved_errno));
      return READ_FAILED;
    }
  stamp_from_stat (stamp, &st);

  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("The index %s is not a regular file"),
                   self->index_path);
      return READ_CORRUPT;
    }

  if (st.st_size > 0)
    {
      mapped = g_mapped_file_new_from_fd (fd, FALSE, &local_error);
      close (fd);
      if (mapped == NULL)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not read the index %s: %s"),
                       self->index_path, local_error->message);
          return READ_CORRUPT;
        }
      *out = index_parse (g_mapped_file_get_contents (mapped), g_mapped_file_get_length (mapped),
                          &newer, error);
    }
  else
    {
      close (fd);
      *out = index_parse ("", 0, &newer, error);
    }

  if (*out == NULL)
    return newer ? READ_FAILED : READ_CORRUPT;
  return READ_OK;
}

static gboolean
ensure_dir (KhStore *self,
            GError **error)
{
  if (g_mkdir_with_parents (self->dir, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not create the folder %s: %s"),
                   self->dir, g_strerror (saved_errno));
      return FALSE;
    }
  /* The index holds no secret, but client names and shop ids are nobody else's business. */
  if (g_chmod (self->dir, 0700) != 0)
    g_debug ("could not restrict %s: %s", self->dir, g_strerror (errno));
  return TRUE;
}

static gboolean
write_index (KhStore *self,
             Index   *index,
             Stamp   *stamp,
             GError **error)
{
  g_autoptr(GString) text = NULL;
  g_autoptr(GError) local_error = NULL;

  if (!ensure_dir (self, error))
    return FALSE;

  text = index_serialize (index);
  if (!g_file_set_contents_full (self->index_path, text->str, text->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not write the index: %s"),
                   local_error->message);
      return FALSE;
    }

  return stat_index (self, stamp, error);
}

/* Opens (creating) one of the store's lock files; -1 with error set when it cannot. */
static int
open_lock_file (KhStore     *self,
                const char  *path,
                GError     **error)
{
  int fd;

  if (!ensure_dir (self, error))
    return -1;

  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not open the lock file %s: %s"),
                   path, g_strerror (saved_errno));
      return -1;
    }

  return fd;
}

/* Takes the exclusive lock that serializes every change to this store, across threads (each
 * call opens its own descriptor) and processes. Returns the descriptor; close it to unlock. */
static int
lock_store (KhStore *self,
            GError **error)
{
  int fd;

  fd = open_lock_file (self, self->lock_path, error);
  if (fd < 0)
    return -1;

  while (flock (fd, LOCK_EX) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == EINTR)
        continue;
      close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not lock %s: %s"),
                   self->lock_path, g_strerror (saved_errno));
      return -1;
    }

  return fd;
}

static void
unlock_store (int fd)
{
  if (fd >= 0)
    close (fd);
}

typedef int StoreLock;

static void
store_lock_clear (StoreLock *fd)
{
  unlock_store (*fd);
  *fd = -1;
}

/* An int file descriptor holding the store lock, released when it goes out of scope. */
#define kh_autolock __attribute__ ((cleanup (store_lock_clear)))

static gboolean
move_aside (KhStore *self,
            GError **error)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *aside = g_strdup_printf ("%s.corrupt-%" G_GINT64_FORMAT, self->index_path, now);

  /* Never overwrite an earlier damaged copy: it may be the one someone wants to look at. */
  for (guint n = 1; g_file_test (aside, G_FILE_TEST_EXISTS); n++)
    {
      g_free (aside);
      aside = g_strdup_printf ("%s.corrupt-%" G_GINT64_FORMAT "-%u", self->index_path, now, n);
    }

  if (g_rename (self->index_path, aside) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        return TRUE;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The index %s is damaged and could not be moved aside: %s"),
                   self->index_path, g_strerror (saved_errno));
      return FALSE;
    }

  g_message ("The index %s was damaged: kept it as %s and rebuilt it from the keyring",
             self->index_path, aside);
  return TRUE;
}

static void
publish (KhStore     *self,
         Index       *index,
         const Stamp *stamp)
{
  g_autoptr(Index) old = NULL;
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

  old = g_steal_pointer (&self->index);
  self->index = index_ref (index);
  self->stamp = *stamp;
}

static Index *
snapshot (KhStore *self)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

  return index_ref (self->index);
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

static void
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

typedef gboolean KeyringGuard;

static void
keyring_guard_clear (KeyringGuard *entered)
{
  if (*entered)
    keyring_leave ();
}

/* Holds the file backend's guard until the end of the scope (nothing with the Secret Service). */
#define KEYRING_GUARD() \
  G_GNUC_UNUSED __attribute__ ((cleanup (keyring_guard_clear))) KeyringGuard keyring_guard_ = \
    (keyring_enter (), TRUE)

/* ---- the keyring --------------------------------------------------------------------------- */

/* Turns a libsecret/GDBus error into a KH_ERROR. Errors that mean "there is no Secret Service
 * to talk to" become KH_ERROR_NO_KEYRING; cancellation stays G_IO_ERROR_CANCELLED. */
static void
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

static GHashTable *
item_attributes (KhStore    *self,
                 const char *kind,
                 const char *id)
{
  return attributes_for (self->store_name, kind, id);
}

static gboolean
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

static void
item_list_free (GList *items)
{
  g_list_free_full (items, g_object_unref);
}

typedef GList ItemList;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ItemList, item_list_free)

/* Parses the document of an item; NULL (and *damaged) when it is not one this Keyhold reads. */
static JsonObject *
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
static char *
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
static SecretValue *
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
static guint
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

/* One grant of a bucket: its id and the exact text of {"tokens":...,"grant":...}, wiped when
 * freed since it holds the grant's tokens. */
typedef struct {
  char *id;
  char *text;
} BucketEntry;

static void
bucket_entry_free (gpointer data)
{
  BucketEntry *entry = data;

  g_free (entry->id);
  secret_str_free (entry->text);
  g_free (entry);
}

static BucketEntry *
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

static BucketEntry *
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
static gboolean
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
static gboolean
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
static gboolean
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
static JsonObject *
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
static char *
grant_entry_text (const char *tokens_text,
                  const char *grant_text)
{
  return g_strdup_printf ("{\"tokens\":%s,\"grant\":%s}", tokens_text, grant_text);
}

static JsonObject *
keyring_lookup_doc (KhStore    *self,
                    Section     section,
                    const char *id,
                    gboolean   *damaged,
                    GError    **error)
{
  return lookup_doc_by_name (self->store_name, section, id, damaged, error);
}

/* Deletes an item; *deleted says whether there was one. */
static gboolean
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

static GList *
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

static Section
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
static Index *
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

static Index *
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

/* With the lock held: the current index, re-read if the file changed, rebuilt from the keyring
 * if it is missing or damaged (*needs_write then says the result is not on disk yet). */
static Index *
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

typedef gboolean (*MutateFunc) (KhStore  *self,
                                Index    *index,
                                gpointer  user_data,
                                GError  **error);

/* Every change: lock, bring the index up to date, apply func (which may write the keyring and
 * edits index, a private copy), write the index, publish, unlock. */
static gboolean
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

/* ---- group commit -------------------------------------------------------------------------- */

typedef struct {
  gpointer  func;       /* MutateFunc for the index, BucketFunc for a bucket */
  gpointer  user_data;
  gboolean  done;
  GError   *error;
} Commit;

/* Writes batch (Commit *, in their order) to target (a bucket number, or 0 for the index). */
typedef void (*BatchFunc) (KhStore   *self,
                           guint      target,
                           GPtrArray *batch);

static void
committer_init (Committer *committer)
{
  g_mutex_init (&committer->mutex);
  g_cond_init (&committer->cond);
  committer->queue = g_ptr_array_new ();
}

static void
committer_clear (Committer *committer)
{
  g_mutex_clear (&committer->mutex);
  g_cond_clear (&committer->cond);
  g_clear_pointer (&committer->queue, g_ptr_array_unref);
}

/* Gives every change of batch without an error of its own a copy of error. */
static void
batch_fail (GPtrArray    *batch,
            const GError *error)
{
  for (guint i = 0; i < batch->len; i++)
    {
      Commit *commit = g_ptr_array_index (batch, i);

      if (commit->error == NULL)
        commit->error = g_error_copy (error);
    }
}

/* Applies one change and returns once it is written. Changes from threads that arrive while a
 * write of the same target is under way are merged into the next one: with many refreshes at
 * once, the 2,000-entry index and each keyring bucket are written once per batch instead of once
 * per grant, and no lock is held while the network is waited on. Every caller still returns only
 * after its change is stored. */
static gboolean
group_commit (KhStore    *self,
              Committer  *committer,
              BatchFunc   run,
              guint       target,
              gpointer    func,
              gpointer    user_data,
              GError    **error)
{
  Commit commit = { func, user_data, FALSE, NULL };

  g_mutex_lock (&committer->mutex);
  g_ptr_array_add (committer->queue, &commit);
  while (!commit.done)
    {
      g_autoptr(GPtrArray) batch = NULL;

      if (committer->busy)
        {
          g_cond_wait (&committer->cond, &committer->mutex);
          continue;
        }

      committer->busy = TRUE;
      batch = g_steal_pointer (&committer->queue);
      committer->queue = g_ptr_array_new ();
      g_mutex_unlock (&committer->mutex);

      run (self, target, batch);

      g_mutex_lock (&committer->mutex);
      for (guint i = 0; i < batch->len; i++)
        ((Commit *) g_ptr_array_index (batch, i))->done = TRUE;
      committer->busy = FALSE;
      g_cond_broadcast (&committer->cond);
    }
  g_mutex_unlock (&committer->mutex);

  if (commit.error != NULL)
    {
      g_propagate_error (error, commit.error);
      return FALSE;
    }
  return TRUE;
}

/* One index write for every change in batch, in their order: lock, bring the index up to date,
 * apply each change (a failing one is reported to its caller and changes nothing), write once,
 * publish, unlock. */
static void
index_batch (KhStore   *self,
             guint      target,
             GPtrArray *batch)
{
  kh_autolock StoreLock fd = -1;
  g_autoptr(Index) current = NULL;
  g_autoptr(Index) next = NULL;
  g_autoptr(GError) error = NULL;
  gboolean needs_write;
  gboolean changed = FALSE;
  Stamp stamp;

  fd = lock_store (self, &error);
  if (fd >= 0)
    current = load_locked (self, &needs_write, &stamp, &error);
  if (current == NULL)
    {
      batch_fail (batch, error);
      return;
    }

  next = index_copy (current);
  for (guint i = 0; i < batch->len; i++)
    {
      Commit *commit = g_ptr_array_index (batch, i);

      if (((MutateFunc) commit->func) (self, next, commit->user_data, &commit->error))
        changed = TRUE;
    }

  if (!changed && !needs_write)
    {
      publish (self, current, &stamp);
      return;
    }
  if (!write_index (self, next, &stamp, &error))
    {
      batch_fail (batch, error);
      return;
    }
  publish (self, next, &stamp);
  g_debug ("wrote the index once for %u changes", batch->len);
}

/* An index-only change (the keyring was written before, if at all). */
static gboolean
commit_index (KhStore    *self,
              MutateFunc  func,
              gpointer    user_data,
              GError    **error)
{
  return group_commit (self, &self->index_committer, index_batch, 0, func, user_data, error);
}

/* ---- item locks ---------------------------------------------------------------------------- */

#ifndef F_OFD_SETLKW
/* Linux's open-file-description locks (glibc defines the name only with _GNU_SOURCE). */
#define F_OFD_SETLKW 38
#endif

/* Bytes of items.lock: [0, GRANT_LOCKS) one per grant id hash, then one per bucket. */
#define GRANT_LOCKS 65521

/* Takes a write lock on one byte of items.lock, across threads (each call has its own open file
 * description) and processes. Returns the descriptor; close it to unlock. */
static int
lock_byte (KhStore *self,
           off_t    offset,
           GError **error)
{
  struct flock lock = { 0, };
  int fd;

  fd = open_lock_file (self, self->items_lock_path, error);
  if (fd < 0)
    return -1;

  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = offset;
  lock.l_len = 1;
  while (fcntl (fd, F_OFD_SETLKW, &lock) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == EINTR)
        continue;
      close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not lock %s: %s"),
                   self->items_lock_path, g_strerror (saved_errno));
      return -1;
    }

  return fd;
}

/* The lock of one grant: saving a grant writes its bucket and then the index without the store
 * lock held across both, so this keeps two saves (or a save and a removal) of the same grant
 * from interleaving. Two grants that share a byte just wait for each other. */
static int
lock_item (KhStore    *self,
           const char *id,
           GError    **error)
{
  return lock_byte (self, g_str_hash (id) % GRANT_LOCKS, error);
}

/* ---- writing buckets ----------------------------------------------------------------------- */

/* A change to one bucket's entries; *changed says whether it changed them. */
typedef gboolean (*BucketFunc) (KhStore   *self,
                                GPtrArray *entries,
                                gpointer   user_data,
                                gboolean  *changed,
                                GError   **error);

/* One keyring write for every change of batch to one bucket: under the bucket's lock (another
 * process may write it too), read the bucket as the keyring has it now, apply each change, and
 * write it once. A bucket that cannot be read (damaged, locked keyring) is never overwritten. */
static void
bucket_batch (KhStore   *self,
              guint      bucket,
              GPtrArray *batch)
{
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (bucket_entry_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(SecretItem) item = NULL;
  kh_autolock StoreLock fd = -1;
  gboolean changed = FALSE;

  fd = lock_byte (self, GRANT_LOCKS + bucket, &error);
  if (fd < 0 || !read_bucket_for_write (self->store_name, bucket, entries, &item, &error))
    {
      batch_fail (batch, error);
      return;
    }

  for (guint i = 0; i < batch->len; i++)
    {
      Commit *commit = g_ptr_array_index (batch, i);
      gboolean this_changed = FALSE;

      if (((BucketFunc) commit->func) (self, entries, commit->user_data, &this_changed,
                                       &commit->error))
        changed = changed || this_changed;
    }

  if (changed && !write_bucket (self->store_name, bucket, entries, item, &error))
    batch_fail (batch, error);
  else if (changed)
    g_debug ("wrote grants part %u once for %u changes", bucket + 1, batch->len);
}

static gboolean
commit_bucket (KhStore    *self,
               guint       bucket,
               BucketFunc  func,
               gpointer    user_data,
               GError    **error)
{
  return group_commit (self, &self->bucket_committers[bucket], bucket_batch, bucket, func,
                       user_data, error);
}

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
static void
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
static const char *
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

static KhGrant *
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

static KhAppProfile *
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
static void
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

static GPtrArray *
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

/* ---- apps ---------------------------------------------------------------------------------- */

typedef struct {
  KhAppProfile *app;
  const char   *secret;
  gboolean      replace;
} SaveAppData;

static gboolean
save_app_func (KhStore  *self,
               Index    *index,
               gpointer  user_data,
               GError  **error)
{
  SaveAppData *data = user_data;
  const char *name = kh_app_profile_get_name (data->app);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GHashTable) attributes = NULL;
  g_autofree char *text = NULL;
  g_autofree char *label = NULL;
  kh_autosecret char *quoted_secret = NULL;
  kh_autosecret char *doc = NULL;
  kh_autosecret char *kept_secret = NULL;
  const char *secret = data->secret;
  gboolean exists = index_lookup (index, SECTION_APPS, name) != NULL;

  if (exists && !data->replace)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_EXISTS, _("An app named “%s” already exists"), name);
      return FALSE;
    }

  if (secret == NULL)
    {
      g_autoptr(JsonObject) old = NULL;
      const char *old_secret;

      if (!exists)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("The app “%s” is new: enter its app secret"), name);
          return FALSE;
        }
      old = keyring_lookup_doc (self, SECTION_APPS, name, NULL, error);
      if (old == NULL)
        {
          if (error != NULL && *error == NULL)
            g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                         _("The secret of app “%s” is not in the keyring: enter it again"), name);
          return FALSE;
        }
      old_secret = kh_json_get_string (old, "secret");
      if (old_secret == NULL || *old_secret == '\0')
        {
          g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                       _("The keyring item of app “%s” has no secret: enter it again"), name);
          return FALSE;
        }
      kept_secret = g_strdup (old_secret);
      secret = kept_secret;
    }

  node = kh_app_profile_to_json (data->app);
  text = json_to_string (node, FALSE);
  {
    /* The secret is quoted by json-glib's escaping rules through a string node. */
    g_autoptr(JsonNode) secret_node = json_node_new (JSON_NODE_VALUE);

    json_node_set_string (secret_node, secret);
    quoted_secret = json_to_string (secret_node, FALSE);
  }
  doc = g_strdup_printf ("{\"v\":%d,\"secret\":%s,\"app\":%s}", ITEM_DOC_VERSION, quoted_secret,
                         text);

  attributes = item_attributes (self, sections[SECTION_APPS].kind, name);
  g_hash_table_insert (attributes, (char *) "app", g_strdup (name));
  label = g_strdup_printf (_("Keyhold app %s"), name);
  if (!keyring_store (self, attributes, label, doc, error))
    return FALSE;

  index_take_entry (index, SECTION_APPS,
                    entry_new (name, json_node_get_object (node), g_steal_pointer (&text)));
  return TRUE;
}

gboolean
kh_store_save_app (KhStore       *self,
                   KhAppProfile  *app,
                   const char    *secret,
                   gboolean       replace,
                   GError       **error)
{
  SaveAppData data = { app, secret, replace };

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_app_profile_validate (app, error))
    return FALSE;
  if (secret != NULL && *secret == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The app secret is empty"));
      return FALSE;
    }

  return mutate (self, save_app_func, &data, error);
}

KhAppProfile *
kh_store_get_app (KhStore    *self,
                  const char *name)
{
  g_autoptr(Index) index = NULL;
  g_autoptr(GError) error = NULL;
  Entry *entry;
  KhAppProfile *app;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  index = snapshot (self);
  entry = index_lookup (index, SECTION_APPS, name);
  if (entry == NULL)
    return NULL;
  app = app_from_entry (entry, &error);
  if (app == NULL)
    g_message ("%s", error->message);
  return app;
}

KhAppProfile *
kh_store_find_app_by_key (KhStore    *self,
                          const char *app_key)
{
  g_autoptr(GPtrArray) apps = NULL;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (app_key != NULL, NULL);

  apps = kh_store_list_apps (self);
  for (guint i = 0; i < apps->len; i++)
    {
      KhAppProfile *app = g_ptr_array_index (apps, i);

      if (g_strcmp0 (kh_app_profile_get_app_key (app), app_key) == 0)
        return g_object_ref (app);
    }
  return NULL;
}

static int
compare_apps (gconstpointer a,
              gconstpointer b)
{
  KhAppProfile *app_a = *(KhAppProfile **) a;
  KhAppProfile *app_b = *(KhAppProfile **) b;

  return g_strcmp0 (kh_app_profile_get_name (app_a), kh_app_profile_get_name (app_b));
}

GPtrArray *
kh_store_list_apps (KhStore *self)
{
  GPtrArray *apps;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);

  apps = list_section (self, SECTION_APPS);
  g_ptr_array_sort (apps, compare_apps);
  return apps;
}

char *
kh_store_load_app_secret (KhStore     *self,
                          const char  *name,
                          GError     **error)
{
  g_autoptr(JsonObject) doc = NULL;
  GError *local_error = NULL;
  const char *secret;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  doc = keyring_lookup_doc (self, SECTION_APPS, name, NULL, &local_error);
  if (doc == NULL)
    {
      if (local_error != NULL)
        g_propagate_error (error, local_error);
      else
        g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                     _("The secret of app “%s” is not in the keyring"), name);
      return NULL;
    }

  secret = kh_json_get_string (doc, "secret");
  if (secret == NULL || *secret == '\0')
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The keyring item of app “%s” has no secret: enter it again"), name);
      return NULL;
    }
  return g_strdup (secret);
}

typedef struct {
  Section     section;
  const char *id;
} RemoveData;

static gboolean
remove_func (KhStore  *self,
             Index    *index,
             gpointer  user_data,
             GError  **error)
{
  RemoveData *data = user_data;
  gboolean deleted = FALSE;
  gboolean listed;

  /* The secret goes first (see the top of this file). */
  if (!keyring_clear (self, data->section, data->id, &deleted, error))
    return FALSE;

  listed = index_remove (index, data->section, data->id);
  if (!listed && !deleted)
    {
      switch (data->section)
        {
        case SECTION_GRANTS:
          g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("No grant matches “%s”"),
                       data->id);
          break;
        case SECTION_APPS:
          g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("There is no app named “%s”"),
                       data->id);
          break;
        case SECTION_PENDING:
        case N_SECTIONS:
        default:
          g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                       _("There is no pending authorization %s"), data->id);
          break;
        }
      return FALSE;
    }
  return TRUE;
}

gboolean
kh_store_remove_app (KhStore     *self,
                     const char  *name,
                     GError     **error)
{
  RemoveData data = { SECTION_APPS, name };

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return mutate (self, remove_func, &data, error);
}

/* ---- pending requests ---------------------------------------------------------------------- */

static const char *
account_type_id (KhAccountType type)
{
  const KhProvider *provider = kh_provider_get (type);

  return provider != NULL ? provider->id : "unknown";
}

static gboolean
save_pending_func (KhStore  *self,
                   Index    *index,
                   gpointer  user_data,
                   GError  **error)
{
  KhAuthRequest *request = user_data;
  const char *id = kh_auth_request_get_id (request);
  g_autoptr(JsonNode) full = kh_auth_request_to_json (request);
  g_autoptr(JsonNode) public = kh_auth_request_to_public_json (request);
  g_autoptr(GHashTable) attributes = NULL;
  g_autofree char *label = NULL;
  kh_autosecret char *full_text = NULL;
  kh_autosecret char *doc = NULL;
  JsonObject *public_object = kh_json_node_object (public);

  if (public_object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE,
                           _("The pending request could not be described"));
      return FALSE;
    }

  full_text = json_to_string (full, FALSE);
  doc = g_strdup_printf ("{\"v\":%d,\"request\":%s}", ITEM_DOC_VERSION, full_text);

  attributes = item_attributes (self, sections[SECTION_PENDING].kind, id);
  g_hash_table_insert (attributes, (char *) "type",
                       g_strdup (account_type_id (kh_auth_request_get_account_type (request))));
  if (kh_auth_request_get_app_name (request) != NULL)
    g_hash_table_insert (attributes, (char *) "app",
                         g_strdup (kh_auth_request_get_app_name (request)));
  label = g_strdup_printf (_("Keyhold pending authorization %s"), id);
  if (!keyring_store (self, attributes, label, doc, error))
    return FALSE;

  index_take_entry (index, SECTION_PENDING, entry_new (id, public_object, NULL));
  return TRUE;
}

gboolean
kh_store_save_pending (KhStore        *self,
                       KhAuthRequest  *request,
                       GError        **error)
{
  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (KH_IS_AUTH_REQUEST (request), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return mutate (self, save_pending_func, request, error);
}

GPtrArray *
kh_store_list_pending (KhStore *self)
{
  g_return_val_if_fail (KH_IS_STORE (self), NULL);

  return list_section (self, SECTION_PENDING);
}

KhAuthRequest *
kh_store_find_pending_by_state (KhStore     *self,
                                const char  *state,
                                GError     **error)
{
  g_autoptr(Index) index = NULL;
  g_autoptr(JsonObject) match = NULL;
  g_autoptr(JsonNode) node = NULL;
  GError *reload_error = NULL;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (state != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* This call reads the keyring anyway; a request created by another process since this store
   * was opened (a link made with the CLI, pasted into the app) must be found. */
  if (!kh_store_reload (self, &reload_error))
    {
      g_propagate_error (error, reload_error);
      return NULL;
    }

  index = snapshot (self);
  for (guint i = 0; i < index->entries[SECTION_PENDING]->len; i++)
    {
      Entry *entry = g_ptr_array_index (index->entries[SECTION_PENDING], i);
      g_autoptr(JsonObject) doc = NULL;
      GError *local_error = NULL;
      JsonObject *request;
      const char *stored_state;
      gboolean damaged;
      gboolean equal;

      doc = keyring_lookup_doc (self, SECTION_PENDING, entry->id, &damaged, &local_error);
      if (local_error != NULL)
        {
          /* No keyring, or a locked one: no state can be checked at all. A damaged item only
           * rules itself out. */
          if (!damaged)
            {
              g_propagate_error (error, local_error);
              return NULL;
            }
          g_message ("%s", local_error->message);
          g_clear_error (&local_error);
          continue;
        }
      if (doc == NULL)
        continue;

      request = kh_json_get_object (doc, "request");
      stored_state = request ? kh_json_get_string (request, "state") : NULL;
      if (stored_state == NULL)
        continue;

      /* Every candidate is compared, a match does not end the loop. */
      equal = kh_const_time_equal (stored_state, state);
      if (equal && match == NULL)
        match = json_object_ref (request);
    }

  if (match == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_STATE_MISMATCH,
                           _("This URL does not belong to any pending authorization (it may have "
                             "been completed already, or created by another computer)"));
      return NULL;
    }

  node = json_node_init_object (json_node_alloc (), match);
  {
    g_autoptr(GError) local_error = NULL;
    KhAuthRequest *found = kh_auth_request_new_from_json (node, &local_error);

    if (found == NULL)
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The pending authorization in the keyring is damaged: %s"),
                   local_error->message);
    return found;
  }
}

gboolean
kh_store_remove_pending (KhStore     *self,
                         const char  *request_id,
                         GError     **error)
{
  RemoveData data = { SECTION_PENDING, request_id };

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (request_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return mutate (self, remove_func, &data, error);
}

/* ---- grants -------------------------------------------------------------------------------- */

/* Everything a grant save needs, prepared on the caller's thread so that the async variant never
 * touches the caller's KhGrant from the worker thread. */
typedef struct {
  char       *id;
  char       *grant_text;
  JsonNode   *grant_node;
  KhTokenSet *tokens;
  char       *entry_text;   /* the bucket entry, tokens included: wiped */
} GrantSave;

static void
grant_save_free (GrantSave *save)
{
  g_free (save->id);
  g_free (save->grant_text);
  g_clear_pointer (&save->grant_node, json_node_unref);
  g_clear_pointer (&save->tokens, kh_token_set_free);
  secret_str_free (save->entry_text);
  g_free (save);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GrantSave, grant_save_free)

static GrantSave *
grant_save_new (KhGrant          *grant,
                const KhTokenSet *tokens)
{
  GrantSave *save = g_new0 (GrantSave, 1);

  /* The index mirrors the expiry times of the tokens it describes. */
  kh_grant_set_expiries_from_tokens (grant, tokens);

  save->id = g_strdup (kh_grant_get_id (grant));
  save->grant_node = kh_grant_to_json (grant);
  save->grant_text = json_to_string (save->grant_node, FALSE);
  save->tokens = tokens ? kh_token_set_copy (tokens) : NULL;
  return save;
}

/* Index part of a grant save: the entry the keyring item now describes. */
static gboolean
put_grant_entry_func (KhStore  *self,
                      Index    *index,
                      gpointer  user_data,
                      GError  **error)
{
  GrantSave *save = user_data;

  index_take_entry (index, SECTION_GRANTS,
                    entry_new (save->id, kh_json_node_object (save->grant_node),
                               g_strdup (save->grant_text)));
  return TRUE;
}

/* Bucket part of a grant save: its entry holds the new tokens. */
static gboolean
put_grant_bucket_func (KhStore   *self,
                       GPtrArray *entries,
                       gpointer   user_data,
                       gboolean  *changed,
                       GError   **error)
{
  GrantSave *save = user_data;
  guint pos;
  BucketEntry *entry = bucket_find (entries, save->id, &pos);
  BucketEntry *next = bucket_entry_new (save->id, g_strdup (save->entry_text));

  if (entry != NULL)
    {
      entries->pdata[pos] = next;
      bucket_entry_free (entry);
    }
  else
    g_ptr_array_add (entries, next);
  *changed = TRUE;
  return TRUE;
}

/* Keyring first, then the index (see the top of this file), under the grant's item lock only:
 * the bucket's lock is taken for its read-modify-write alone and the store lock for the index
 * write alone, and both writes are shared between concurrent saves (group commit). */
static gboolean
save_grant (KhStore    *self,
            GrantSave  *save,
            GError    **error)
{
  kh_autolock StoreLock item_fd = -1;
  g_autoptr(JsonNode) tokens_node = kh_token_set_to_json (save->tokens);
  kh_autosecret char *tokens_text = NULL;

  if (kh_json_node_object (save->grant_node) == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The grant could not be described"));
      return FALSE;
    }

  tokens_text = json_to_string (tokens_node, FALSE);
  secret_str_clear (&save->entry_text);
  save->entry_text = grant_entry_text (tokens_text, save->grant_text);

  item_fd = lock_item (self, save->id, error);
  if (item_fd < 0)
    return FALSE;
  if (!commit_bucket (self, grant_bucket (save->id), put_grant_bucket_func, save, error))
    return FALSE;

  return commit_index (self, put_grant_entry_func, save, error);
}

gboolean
kh_store_save_grant (KhStore           *self,
                     KhGrant           *grant,
                     const KhTokenSet  *tokens,
                     GError           **error)
{
  g_autoptr(GrantSave) save = NULL;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);
  g_return_val_if_fail (tokens != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  save = grant_save_new (grant, tokens);
  return save_grant (self, save, error);
}

typedef struct {
  const char *id;
  JsonNode   *node;
} UpdateGrantData;

static gboolean
update_grant_func (KhStore  *self,
                   Index    *index,
                   gpointer  user_data,
                   GError  **error)
{
  UpdateGrantData *data = user_data;
  JsonObject *object = kh_json_node_object (data->node);

  if (index_lookup (index, SECTION_GRANTS, data->id) == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("No grant matches “%s”"), data->id);
      return FALSE;
    }
  if (object == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_STORE, _("The grant could not be described"));
      return FALSE;
    }

  index_take_entry (index, SECTION_GRANTS, entry_new (data->id, object, NULL));
  return TRUE;
}

gboolean
kh_store_update_grant (KhStore  *self,
                       KhGrant  *grant,
                       GError  **error)
{
  g_autoptr(JsonNode) node = NULL;
  UpdateGrantData data;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  node = kh_grant_to_json (grant);
  data.id = kh_grant_get_id (grant);
  data.node = node;
  return commit_index (self, update_grant_func, &data, error);
}

GPtrArray *
kh_store_list_grants (KhStore *self)
{
  g_return_val_if_fail (KH_IS_STORE (self), NULL);

  return list_section (self, SECTION_GRANTS);
}

static gboolean
casefold_equal (const char *value,
                const char *folded_query)
{
  g_autofree char *folded = NULL;

  if (value == NULL || *value == '\0')
    return FALSE;
  folded = g_utf8_casefold (value, -1);
  return strcmp (folded, folded_query) == 0;
}

static void
set_ambiguous (GError    **error,
               const char *query,
               GPtrArray  *matches)
{
  g_autoptr(GString) ids = g_string_new (NULL);

  for (guint i = 0; i < matches->len && i < 10; i++)
    {
      Entry *entry = g_ptr_array_index (matches, i);

      if (i > 0)
        g_string_append (ids, ", ");
      g_string_append (ids, entry->id);
    }
  if (matches->len > 10)
    g_string_append_printf (ids, _(" and %u more"), matches->len - 10);

  g_set_error (error, KH_ERROR, KH_ERROR_AMBIGUOUS,
               _("“%s” matches %u grants: %s. Use the grant id."), query, matches->len,
               ids->str);
}

KhGrant *
kh_store_find_grant (KhStore     *self,
                     const char  *id_or_name,
                     GError     **error)
{
  g_autoptr(Index) index = NULL;
  g_autoptr(GPtrArray) matches = NULL;
  g_autofree char *folded = NULL;
  GPtrArray *grants;
  Entry *entry;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (id_or_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  index = snapshot (self);
  grants = index->entries[SECTION_GRANTS];

  entry = index_lookup (index, SECTION_GRANTS, id_or_name);
  if (entry != NULL)
    return grant_from_entry (entry, error);

  matches = g_ptr_array_new ();
  if (strlen (id_or_name) >= PREFIX_MIN_LENGTH)
    {
      for (guint i = 0; i < grants->len; i++)
        {
          Entry *candidate = g_ptr_array_index (grants, i);

          if (g_str_has_prefix (candidate->id, id_or_name))
            g_ptr_array_add (matches, candidate);
        }
    }

  if (matches->len == 0 && *id_or_name != '\0')
    {
      index_materialize (index, SECTION_GRANTS);
      folded = g_utf8_casefold (id_or_name, -1);
      for (guint i = 0; i < grants->len; i++)
        {
          Entry *candidate = g_ptr_array_index (grants, i);

          /* Read straight from the index entry: no grant object per candidate. */
          JsonObject *object = entry_get_object (candidate);

          if (object == NULL)
            continue;
          if (casefold_equal (kh_json_get_string (object, "display_name"), folded) ||
              casefold_equal (kh_json_get_string (object, "client"), folded))
            g_ptr_array_add (matches, candidate);
        }
    }

  if (matches->len == 1)
    return grant_from_entry (g_ptr_array_index (matches, 0), error);

  if (matches->len > 1)
    set_ambiguous (error, id_or_name, matches);
  else
    g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("No grant matches “%s”"), id_or_name);
  return NULL;
}

/* A save that stopped between its keyring write and its index write (a crash, a killed
 * process) leaves the index describing older tokens. The keyring copy of the grant is the newer
 * one when it was touched later or holds a later expiry: then it replaces the index entry.
 * Index-only changes (kh_store_update_grant) are newer than the keyring copy and stay. */
static void
heal_grant_entry (KhStore    *self,
                  const char *grant_id,
                  JsonObject *doc)
{
  g_autoptr(Index) index = snapshot (self);
  g_autoptr(KhGrant) listed = NULL;
  g_autoptr(KhGrant) stored = NULL;
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_object_get_member (doc, "grant");
  Entry *entry = index_lookup (index, SECTION_GRANTS, grant_id);
  UpdateGrantData data;

  if (entry == NULL || node == NULL)
    return;
  listed = grant_from_entry (entry, NULL);
  stored = kh_grant_new_from_json (node, NULL);
  if (listed == NULL || stored == NULL || g_strcmp0 (kh_grant_get_id (stored), grant_id) != 0)
    return;
  if (kh_grant_get_updated_at (stored) < kh_grant_get_updated_at (listed))
    return;
  if (kh_grant_get_updated_at (stored) == kh_grant_get_updated_at (listed) &&
      kh_grant_get_access_expires_at (stored) <= kh_grant_get_access_expires_at (listed))
    return;

  g_message ("The index entry of grant %s was older than its keyring item: updated it",
             grant_id);
  data.id = grant_id;
  data.node = node;
  if (!commit_index (self, update_grant_func, &data, &error))
    g_debug ("could not update the index entry of grant %s: %s", grant_id, error->message);
}

KhTokenSet *
kh_store_load_tokens (KhStore     *self,
                      const char  *grant_id,
                      GError     **error)
{
  g_autoptr(JsonObject) doc = NULL;
  GError *local_error = NULL;
  JsonNode *tokens;

  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  doc = lookup_grant_doc (self->store_name, grant_id, &local_error);
  if (doc == NULL)
    {
      if (local_error != NULL)
        g_propagate_error (error, local_error);
      else
        g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                     _("The tokens of grant %s are not in the keyring: authorize it again"),
                     grant_id);
      return NULL;
    }
  heal_grant_entry (self, grant_id, doc);

  tokens = json_object_get_member (doc, "tokens");
  if (tokens == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The keyring item of grant %s holds no tokens: authorize it again"),
                   grant_id);
      return NULL;
    }
  return kh_token_set_new_from_json (tokens, error);
}

gboolean
kh_store_peek_grant (const char   *store_name,
                     const char   *grant_id,
                     KhGrant     **grant_out,
                     KhTokenSet  **tokens_out,
                     GError      **error)
{
  g_autoptr(JsonObject) doc = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  JsonNode *grant_node;
  JsonNode *tokens_node;

  g_return_val_if_fail (grant_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  store_name = resolve_store_name (store_name, error);
  if (store_name == NULL)
    return FALSE;

  doc = lookup_grant_doc (store_name, grant_id, error);
  if (doc == NULL)
    return FALSE;

  grant_node = json_object_get_member (doc, "grant");
  tokens_node = json_object_get_member (doc, "tokens");
  if (grant_node != NULL)
    grant = kh_grant_new_from_json (grant_node, NULL);
  if (tokens_node != NULL)
    tokens = kh_token_set_new_from_json (tokens_node, NULL);
  if (grant == NULL || tokens == NULL || g_strcmp0 (kh_grant_get_id (grant), grant_id) != 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The keyring item of grant %s is damaged: authorize it again"), grant_id);
      return FALSE;
    }

  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&grant);
  if (tokens_out != NULL)
    *tokens_out = g_steal_pointer (&tokens);

  return TRUE;
}

typedef struct {
  const char *id;
  gboolean    removed;   /* the bucket had the grant, or an item of an earlier Keyhold did */
} RemoveGrantData;

static gboolean
remove_grant_bucket_func (KhStore   *self,
                          GPtrArray *entries,
                          gpointer   user_data,
                          gboolean  *changed,
                          GError   **error)
{
  RemoveGrantData *data = user_data;
  guint pos;

  if (bucket_find (entries, data->id, &pos) != NULL)
    {
      g_ptr_array_remove_index (entries, pos);
      data->removed = TRUE;
      *changed = TRUE;
    }
  return TRUE;
}

static gboolean
remove_grant_entry_func (KhStore  *self,
                         Index    *index,
                         gpointer  user_data,
                         GError  **error)
{
  RemoveGrantData *data = user_data;

  if (!index_remove (index, SECTION_GRANTS, data->id) && !data->removed)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("No grant matches “%s”"), data->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
kh_store_remove_grant (KhStore     *self,
                       const char  *grant_id,
                       GError     **error)
{
  RemoveGrantData data = { grant_id, FALSE };
  kh_autolock StoreLock item_fd = -1;
  g_autoptr(KhGrant) grant = NULL;
  gboolean deleted = FALSE;

  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (grant_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Not between a save's keyring write and its index entry. The secret goes first (see the top
   * of this file): out of its bucket, and any item of its own an earlier Keyhold wrote (of any
   * generation), then the index entry. */
  item_fd = lock_item (self, grant_id, error);
  if (item_fd < 0)
    return FALSE;
  grant = kh_store_find_grant (self, grant_id, NULL);
  if (!commit_bucket (self, grant_bucket (grant_id), remove_grant_bucket_func, &data, error))
    return FALSE;
  if (!keyring_clear (self, SECTION_GRANTS, grant_id, &deleted, error))
    return FALSE;
  data.removed = data.removed || deleted;
  if (!mutate (self, remove_grant_entry_func, &data, error))
    return FALSE;
  /* The history stays (it holds no secret) and says what became of the grant. */
  if (grant != NULL)
    kh_history_record_action (self, KH_HISTORY_REMOVED, grant);
  return TRUE;
}

/* ---- async wrappers ------------------------------------------------------------------------ */

static void
save_grant_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  GError *error = NULL;

  if (g_task_return_error_if_cancelled (task))
    return;
  if (save_grant (source_object, task_data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
kh_store_save_grant_async (KhStore            *self,
                           KhGrant            *grant,
                           const KhTokenSet   *tokens,
                           GCancellable       *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KH_IS_STORE (self));
  g_return_if_fail (KH_IS_GRANT (grant));
  g_return_if_fail (tokens != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_store_save_grant_async);
  g_task_set_task_data (task, grant_save_new (grant, tokens), (GDestroyNotify) grant_save_free);
  g_task_run_in_thread (task, save_grant_thread);
}

gboolean
kh_store_save_grant_finish (KhStore       *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (KH_IS_STORE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_store_save_grant_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
load_tokens_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  GError *error = NULL;
  KhTokenSet *tokens;

  if (g_task_return_error_if_cancelled (task))
    return;
  tokens = kh_store_load_tokens (source_object, task_data, &error);
  if (tokens != NULL)
    g_task_return_pointer (task, tokens, (GDestroyNotify) kh_token_set_free);
  else
    g_task_return_error (task, error);
}

void
kh_store_load_tokens_async (KhStore            *self,
                            const char         *grant_id,
                            GCancellable       *cancellable,
                            GAsyncReadyCallback callback,
                            gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KH_IS_STORE (self));
  g_return_if_fail (grant_id != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_store_load_tokens_async);
  g_task_set_task_data (task, g_strdup (grant_id), g_free);
  g_task_run_in_thread (task, load_tokens_thread);
}

KhTokenSet *
kh_store_load_tokens_finish (KhStore       *self,
                             GAsyncResult  *result,
                             GError       **error)
{
  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_store_load_tokens_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
load_app_secret_thread (GTask        *task,
                        gpointer      source_object,
                        gpointer      task_data,
                        GCancellable *cancellable)
{
  GError *error = NULL;
  char *secret;

  if (g_task_return_error_if_cancelled (task))
    return;
  secret = kh_store_load_app_secret (source_object, task_data, &error);
  if (secret != NULL)
    g_task_return_pointer (task, secret, (GDestroyNotify) secret_str_free);
  else
    g_task_return_error (task, error);
}

void
kh_store_load_app_secret_async (KhStore            *self,
                                const char         *name,
                                GCancellable       *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KH_IS_STORE (self));
  g_return_if_fail (name != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_store_load_app_secret_async);
  g_task_set_task_data (task, g_strdup (name), g_free);
  g_task_run_in_thread (task, load_app_secret_thread);
}

char *
kh_store_load_app_secret_finish (KhStore       *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  g_return_val_if_fail (KH_IS_STORE (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_store_load_app_secret_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
