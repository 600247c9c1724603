/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-index.c: the store's index (see kh-store.c for the design): its entries and their
 * immutable, reference-counted snapshots, the fast first pass over index.json and its parser,
 * and reading, writing (atomically) and publishing the index file. No keyring, no locks. */

#define G_LOG_DOMAIN "kh-store-index"

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

/* ---- index sections ------------------------------------------------------------------------ */


const SectionInfo sections[N_SECTIONS] = {
  [SECTION_GRANTS] = { "grants", "id", "grant", "grant" },
  [SECTION_APPS] = { "apps", "name", "app", "app" },
  [SECTION_PENDING] = { "pending", "id", "pending", "request" },
};


static void
entry_clear (gpointer data)
{
  Entry *entry = data;

  g_free (entry->id);
  g_clear_pointer (&entry->object, json_object_unref);
  g_free (entry->text);
}

Entry *
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
Entry *
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
gboolean
entry_publish_object (Entry      *entry,
                      JsonObject *object)
{
  if (g_atomic_pointer_compare_and_exchange (&entry->object, NULL, object))
    return TRUE;
  json_object_unref (object);
  return FALSE;
}

/* NULL when the entry's text is not a JSON object (a damaged line in the index). */
JsonObject *
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

Index *
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

Index *
index_ref (Index *index)
{
  return g_atomic_rc_box_acquire (index);
}

void
index_unref (Index *index)
{
  g_atomic_rc_box_release_full (index, index_clear);
}


Index *
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

Entry *
index_lookup (Index      *index,
              Section     section,
              const char *id)
{
  return g_hash_table_lookup (index->by_id[section], id);
}

/* Adds entry (taking it), replacing an entry of the same id in place. */
void
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

gboolean
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


void
scan_ws (Scanner *sc)
{
  while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\n' || *sc->p == '\r' || *sc->p == '\t'))
    sc->p++;
}

gboolean
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
gboolean
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

gboolean
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

gboolean
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

gboolean
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


void
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

gboolean
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




gboolean
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
ReadResult
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

gboolean
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

gboolean
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


gboolean
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

void
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

Index *
snapshot (KhStore *self)
{
  G_GNUC_UNUSED g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->mutex);

  return index_ref (self->index);
}
