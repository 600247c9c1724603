/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-private.h: what the parts of KhStore share (see kh-store.c for the design and the map
 * of its files): formats and constants, the index's types, the KhStore instance, and each
 * part's helpers. Not installed; not part of the API. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsecret/secret.h>
#include <sys/stat.h>

#include "kh-store.h"

G_BEGIN_DECLS

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

/* A char * that is wiped before it is freed. */
#define kh_autosecret __attribute__ ((cleanup (secret_str_clear)))

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

typedef struct {
  GPtrArray  *entries[N_SECTIONS];  /* Entry, in file order */
  GHashTable *by_id[N_SECTIONS];    /* id -> Entry (borrowed from entries) */
  int         version;              /* INDEX_VERSION, or 1 while grant items wait to move */
} Index;

typedef struct {
  const char *p;
  const char *end;
  int         depth;
} Scanner;

typedef struct {
  gboolean exists;
  dev_t    dev;
  ino_t    ino;
  off_t    size;
  gint64   mtime_ns;
  gint64   ctime_ns;
} Stamp;

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

typedef int StoreLock;

/* An int file descriptor holding the store lock, released when it goes out of scope. */
#define kh_autolock __attribute__ ((cleanup (store_lock_clear)))

typedef gboolean KeyringGuard;

/* Holds the file backend's guard until the end of the scope (nothing with the Secret Service).
 * Unused to clang, which does not count the cleanup as a use of the variable. */
#define KEYRING_GUARD() \
  G_GNUC_UNUSED __attribute__ ((cleanup (keyring_guard_clear))) KeyringGuard keyring_guard_ = \
    (keyring_enter (), TRUE)

/* One grant of a bucket: its id and the exact text of {"tokens":...,"grant":...}, wiped when
 * freed since it holds the grant's tokens. */
typedef struct {
  char *id;
  char *text;
} BucketEntry;

typedef gboolean (*MutateFunc) (KhStore  *self,
                                Index    *index,
                                gpointer  user_data,
                                GError  **error);

/* A change to one bucket's entries; *changed says whether it changed them. */
typedef gboolean (*BucketFunc) (KhStore   *self,
                                GPtrArray *entries,
                                gpointer   user_data,
                                gboolean  *changed,
                                GError   **error);

extern const SecretSchema item_schema;
extern const SectionInfo sections[N_SECTIONS];

/* ---- kh-store-keyring.c -------------------------------------------------------------------- */

void secret_str_free (char *str);
void secret_str_clear (char **str);
void keyring_enter (void);
void keyring_guard_clear (KeyringGuard *entered);
void propagate_keyring_error (GError     **dest,
                              GError      *src,
                              const char  *what);
GHashTable *item_attributes (KhStore    *self,
                             const char *kind,
                             const char *id);
gboolean keyring_store (KhStore    *self,
                        GHashTable *attributes,
                        const char *label,
                        const char *secret,
                        GError    **error);
void item_list_free (GList *items);
JsonObject *parse_doc (Section     section,
                       const char *id,
                       const char *text,
                       gssize      length,
                       gboolean   *damaged,
                       GError    **error);
char *keyring_lookup_secret (GHashTable  *attributes,
                             GError     **error);
SecretValue *item_secret (SecretRetrievable *item,
                          GError           **error);
guint grant_bucket (const char *grant_id);
void bucket_entry_free (gpointer data);
BucketEntry *bucket_entry_new (const char *id,
                               char       *text);
BucketEntry *bucket_find (GPtrArray  *entries,
                          const char *id,
                          guint      *pos_out);
gboolean read_bucket (const char *store_name,
                      guint       bucket,
                      GPtrArray  *entries,
                      GError    **error);
gboolean read_bucket_for_write (const char  *store_name,
                                guint        bucket,
                                GPtrArray   *entries,
                                SecretItem **item_out,
                                GError     **error);
gboolean write_bucket (const char *store_name,
                       guint       bucket,
                       GPtrArray  *entries,
                       SecretItem *item,
                       GError    **error);
JsonObject *lookup_grant_doc (const char *store_name,
                              const char *grant_id,
                              GError    **error);
char *grant_entry_text (const char *tokens_text,
                        const char *grant_text);
JsonObject *keyring_lookup_doc (KhStore    *self,
                                Section     section,
                                const char *id,
                                gboolean   *damaged,
                                GError    **error);
gboolean keyring_clear (KhStore    *self,
                        Section     section,
                        const char *id,
                        gboolean   *deleted,
                        GError    **error);
GList *keyring_search_store (KhStore *self,
                             GError **error);
Section section_from_kind (const char *kind);
Index *index_from_items (KhStore *self,
                         GList   *items,
                         Index   *base,
                         GError **error);
Index *rebuild_from_keyring (KhStore *self,
                             Index   *base,
                             GError **error);

/* ---- kh-store-index.c ---------------------------------------------------------------------- */

Entry *entry_ref (Entry *entry);
Entry *entry_new (const char *id,
                  JsonObject *object,
                  char       *text);
gboolean entry_publish_object (Entry      *entry,
                               JsonObject *object);
JsonObject *entry_get_object (Entry *entry);
Index *index_new (void);
Index *index_ref (Index *index);
void index_unref (Index *index);
Index *index_copy (Index *index);
Entry *index_lookup (Index      *index,
                     Section     section,
                     const char *id);
void index_take_entry (Index   *index,
                       Section  section,
                       Entry   *entry);
gboolean index_remove (Index      *index,
                       Section     section,
                       const char *id);
void scan_ws (Scanner *sc);
gboolean scan_char (Scanner *sc,
                    char     c);
gboolean scan_string (Scanner     *sc,
                      const char **start,
                      const char **stop,
                      gboolean    *simple);
gboolean scan_literal (Scanner *sc);
gboolean scan_value (Scanner *sc);
gboolean literal_equal (const char *start,
                        const char *stop,
                        const char *str);
void stamp_from_stat (Stamp             *stamp,
                      const struct stat *st);
gboolean stamp_equal (const Stamp *a,
                      const Stamp *b);
gboolean stat_index (KhStore *self,
                     Stamp   *stamp,
                     GError **error);
ReadResult read_index (KhStore  *self,
                       Index   **out,
                       Stamp    *stamp,
                       GError  **error);
gboolean ensure_dir (KhStore *self,
                     GError **error);
gboolean write_index (KhStore *self,
                      Index   *index,
                      Stamp   *stamp,
                      GError **error);
gboolean move_aside (KhStore *self,
                     GError **error);
void publish (KhStore     *self,
              Index       *index,
              const Stamp *stamp);
Index *snapshot (KhStore *self);

/* ---- kh-store-lock.c ----------------------------------------------------------------------- */

int open_lock_file (KhStore     *self,
                    const char  *path,
                    GError     **error);
int lock_store (KhStore *self,
                GError **error);
void store_lock_clear (StoreLock *fd);
void committer_init (Committer *committer);
void committer_clear (Committer *committer);
gboolean commit_index (KhStore    *self,
                       MutateFunc  func,
                       gpointer    user_data,
                       GError    **error);
int lock_item (KhStore    *self,
               const char *id,
               GError    **error);
gboolean commit_bucket (KhStore    *self,
                        guint       bucket,
                        BucketFunc  func,
                        gpointer    user_data,
                        GError    **error);

/* ---- kh-store.c ---------------------------------------------------------------------------- */

Index *load_locked (KhStore  *self,
                    gboolean *needs_write,
                    Stamp    *stamp_out,
                    GError  **error);
gboolean mutate (KhStore    *self,
                 MutateFunc  func,
                 gpointer    user_data,
                 GError    **error);
const char *resolve_store_name (const char  *store_name,
                                GError     **error);
KhGrant *grant_from_entry (Entry   *entry,
                           GError **error);
KhAppProfile *app_from_entry (Entry   *entry,
                              GError **error);
void index_materialize (Index   *index,
                        Section  section);
GPtrArray *list_section (KhStore *self,
                         Section  section);

/* ---- kh-store-migrate.c -------------------------------------------------------------------- */

void maybe_migrate (KhStore *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Index, index_unref)
typedef GList ItemList;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ItemList, item_list_free)

G_END_DECLS
