/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-refresh-journal.c: one small JSON file per refresh in flight, written atomically and
 * synced before the refresh call, removed after the new tokens are stored. See the header for
 * why it exists and where it lives. Nothing secret is written: a grant id, times, a process and
 * a short fingerprint of the refresh token. */

#define G_LOG_DOMAIN "kh-refresh-journal"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kh-refresh-journal.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define INTENT_SUFFIX       ".intent"
#define INTENT_VERSION      1
/* 64 bits of SHA-256: tells two refresh tokens apart, reveals nothing about either. */
#define FINGERPRINT_CHARS   16

struct _KhRefreshJournal
{
  GObject  parent_instance;

  char    *dir;
};

G_DEFINE_FINAL_TYPE (KhRefreshJournal, kh_refresh_journal, G_TYPE_OBJECT)

void
kh_refresh_intent_free (KhRefreshIntent *intent)
{
  if (intent == NULL)
    return;
  g_free (intent->grant_id);
  g_free (intent->fingerprint);
  g_free (intent->host);
  g_free (intent);
}

static void
kh_refresh_journal_finalize (GObject *object)
{
  KhRefreshJournal *self = KH_REFRESH_JOURNAL (object);

  g_free (self->dir);

  G_OBJECT_CLASS (kh_refresh_journal_parent_class)->finalize (object);
}

static void
kh_refresh_journal_class_init (KhRefreshJournalClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = kh_refresh_journal_finalize;
}

static void
kh_refresh_journal_init (KhRefreshJournal *self)
{
}

KhRefreshJournal *
kh_refresh_journal_new (const char *dir)
{
  KhRefreshJournal *self;

  g_return_val_if_fail (dir != NULL && *dir != '\0', NULL);

  self = g_object_new (KH_TYPE_REFRESH_JOURNAL, NULL);
  self->dir = g_strdup (dir);

  return self;
}

KhRefreshJournal *
kh_refresh_journal_new_for_store (KhStore *store)
{
  g_autofree char *index_dir = NULL;
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  index_dir = g_path_get_dirname (kh_store_get_index_path (store));
  dir = g_build_filename (index_dir, "refresh-intents", NULL);

  return kh_refresh_journal_new (dir);
}

const char *
kh_refresh_journal_get_dir (KhRefreshJournal *self)
{
  g_return_val_if_fail (KH_IS_REFRESH_JOURNAL (self), NULL);

  return self->dir;
}

char *
kh_refresh_journal_fingerprint (const char *refresh_token)
{
  g_autofree char *digest = NULL;

  g_return_val_if_fail (refresh_token != NULL, NULL);

  digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, refresh_token, -1);
  return g_strndup (digest, FINGERPRINT_CHARS);
}

/* Grant ids are random hex, but an index may carry any id: whatever is a plain file name
 * (letters, digits, "-" and "_") gets an intent, and nothing else can ever make a path leave
 * the folder. */
static gboolean
is_grant_id (const char *text,
             gsize       length)
{
  if (length == 0 || length > 128)
    return FALSE;
  for (gsize i = 0; i < length; i++)
    if (!g_ascii_isalnum (text[i]) && text[i] != '-' && text[i] != '_')
      return FALSE;

  return TRUE;
}

/* The grant id an entry of the folder is about: "<id>.intent", or "<id>.intent.XXXXXX", the temp
 * file of a write that a kill cut short (g_file_set_contents_full names it so). 0 otherwise. */
static gsize
entry_grant_id_length (const char *name,
                       gboolean   *temp_out)
{
  const char *suffix = strstr (name, INTENT_SUFFIX);
  gsize length;

  if (suffix == NULL)
    return 0;
  length = (gsize) (suffix - name);
  suffix += strlen (INTENT_SUFFIX);
  if (!is_grant_id (name, length))
    return 0;
  if (*suffix != '\0' && (suffix[0] != '.' || strlen (suffix) != strlen (".XXXXXX")))
    return 0;

  *temp_out = *suffix != '\0';
  return length;
}

static char *
intent_path (KhRefreshJournal *self,
             const char       *grant_id)
{
  g_autofree char *file = g_strconcat (grant_id, INTENT_SUFFIX, NULL);

  return g_build_filename (self->dir, file, NULL);
}

/* A rename is durable only once its folder is: without this a power cut could undo it. */
static gboolean
sync_dir (const char  *dir,
          GError     **error)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd < 0 || fsync (fd) != 0)
    {
      int saved = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("Could not write the refresh journal %s: %s"), dir,
                   g_strerror (saved));
      return FALSE;
    }

  close (fd);
  return TRUE;
}

static KhRefreshIntent *
intent_from_json (const char  *grant_id,
                  const char  *text,
                  gsize        length,
                  GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, length, NULL);
  JsonObject *object = node != NULL ? kh_json_node_object (node) : NULL;
  g_autoptr(KhRefreshIntent) intent = g_new0 (KhRefreshIntent, 1);
  const char *fingerprint;
  const char *host;
  gint64 version = 0;
  gint64 pid = 0;

  fingerprint = object != NULL ? kh_json_get_string (object, "fingerprint") : NULL;
  host = object != NULL ? kh_json_get_string (object, "host") : NULL;
  if (object == NULL || !kh_json_get_int (object, "version", &version) ||
      version != INTENT_VERSION ||
      g_strcmp0 (kh_json_get_string (object, "grant"), grant_id) != 0 ||
      fingerprint == NULL || strlen (fingerprint) != FINGERPRINT_CHARS ||
      !kh_json_get_int (object, "started_at", &intent->started_at) ||
      !kh_json_get_int (object, "first_started_at", &intent->first_started_at) ||
      !kh_json_get_int (object, "pid", &pid) || pid < 0 || pid > G_MAXINT)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("The refresh intent of grant %s is damaged"), grant_id);
      return NULL;
    }

  intent->grant_id = g_strdup (grant_id);
  intent->fingerprint = g_strdup (fingerprint);
  intent->pid = (int) pid;
  intent->host = g_strdup (host);

  return g_steal_pointer (&intent);
}

KhRefreshIntent *
kh_refresh_journal_lookup (KhRefreshJournal  *self,
                           const char        *grant_id,
                           GError           **error)
{
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize length = 0;

  g_return_val_if_fail (KH_IS_REFRESH_JOURNAL (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!is_grant_id (grant_id, strlen (grant_id)))
    return NULL;

  path = intent_path (self, grant_id);
  if (!g_file_get_contents (path, &text, &length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return NULL;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("Could not read the refresh journal %s: %s"), path,
                   local_error->message);
      return NULL;
    }

  return intent_from_json (grant_id, text, length, error);
}

gboolean
kh_refresh_journal_begin (KhRefreshJournal  *self,
                          const char        *grant_id,
                          const char        *refresh_token,
                          KhRefreshIntent  **interrupted_out,
                          GError           **error)
{
  g_autoptr(KhRefreshIntent) previous = NULL;
  g_autoptr(GError) damaged = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *fingerprint = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GError) local_error = NULL;
  gint64 now = kh_now ();
  gint64 first;

  g_return_val_if_fail (KH_IS_REFRESH_JOURNAL (self), FALSE);
  g_return_val_if_fail (grant_id != NULL, FALSE);
  g_return_val_if_fail (refresh_token != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (interrupted_out != NULL)
    *interrupted_out = NULL;
  if (!is_grant_id (grant_id, strlen (grant_id)))
    return TRUE;

  fingerprint = kh_refresh_journal_fingerprint (refresh_token);
  /* A damaged intent tells nothing about the token: this refresh replaces it. */
  previous = kh_refresh_journal_lookup (self, grant_id, &damaged);
  if (damaged != NULL)
    g_message ("%s; replacing it", damaged->message);
  if (previous != NULL && g_strcmp0 (previous->fingerprint, fingerprint) != 0)
    g_clear_pointer (&previous, kh_refresh_intent_free);
  first = previous != NULL ? previous->first_started_at : now;

  if (g_mkdir_with_parents (self->dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("Could not write the refresh journal %s: %s"), self->dir,
                   g_strerror (saved));
      return FALSE;
    }

  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, INTENT_VERSION);
  json_builder_set_member_name (builder, "grant");
  json_builder_add_string_value (builder, grant_id);
  json_builder_set_member_name (builder, "fingerprint");
  json_builder_add_string_value (builder, fingerprint);
  json_builder_set_member_name (builder, "started_at");
  json_builder_add_int_value (builder, now);
  json_builder_set_member_name (builder, "first_started_at");
  json_builder_add_int_value (builder, first);
  json_builder_set_member_name (builder, "pid");
  json_builder_add_int_value (builder, getpid ());
  json_builder_set_member_name (builder, "host");
  json_builder_add_string_value (builder, g_get_host_name ());
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  text = kh_json_to_string (root, FALSE);

  /* Temp file, fsync, rename: the intent is whole or absent, never half written. */
  path = intent_path (self, grant_id);
  if (!g_file_set_contents_full (path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("Could not write the refresh journal %s: %s"), path,
                   local_error->message);
      return FALSE;
    }
  if (!sync_dir (self->dir, error))
    return FALSE;

  if (interrupted_out != NULL)
    *interrupted_out = g_steal_pointer (&previous);

  return TRUE;
}

gboolean
kh_refresh_journal_end (KhRefreshJournal  *self,
                        const char        *grant_id,
                        GError           **error)
{
  g_autofree char *path = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;

  g_return_val_if_fail (KH_IS_REFRESH_JOURNAL (self), FALSE);
  g_return_val_if_fail (grant_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!is_grant_id (grant_id, strlen (grant_id)))
    return TRUE;

  /* Not synced: an unlink a power cut undoes leaves an intent for a token that is no longer
   * stored, which begin() tells by its fingerprint and recovery settles with one refresh. */
  path = intent_path (self, grant_id);
  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("Could not write the refresh journal %s: %s"), path,
                   g_strerror (saved));
      return FALSE;
    }

  /* The temp file of a write a kill cut short: only a holder of the grant's lock writes one,
   * and that is us now. */
  dir = g_dir_open (self->dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      gboolean temp = FALSE;
      gsize length = entry_grant_id_length (name, &temp);

      if (temp && length == strlen (grant_id) && strncmp (name, grant_id, length) == 0)
        {
          g_autofree char *leftover = g_build_filename (self->dir, name, NULL);

          g_unlink (leftover);
        }
    }

  return TRUE;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

GStrv
kh_refresh_journal_list (KhRefreshJournal  *self,
                         GError           **error)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const char *name;

  g_return_val_if_fail (KH_IS_REFRESH_JOURNAL (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = g_dir_open (self->dir, 0, &local_error);
  if (dir == NULL)
    {
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                       _("Could not read the refresh journal %s: %s"), self->dir,
                       local_error->message);
          return NULL;
        }
      return g_new0 (char *, 1);
    }

  /* A leftover temp file names its grant too: kh_refresh_journal_end clears it. */
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      gboolean temp = FALSE;
      gsize length = entry_grant_id_length (name, &temp);
      char *id;

      if (length == 0)
        continue;
      id = g_strndup (name, length);
      if (g_hash_table_contains (seen, id))
        {
          g_free (id);
          continue;
        }
      g_hash_table_add (seen, id);
      g_ptr_array_add (ids, id);
    }

  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&ids), FALSE);
}

/* TikTok's answers to a refresh token it no longer accepts: a rotated one (Shop: "no related
 * auth record"; Accounts API: "invalid refresh token"). */
static gboolean
is_spent_token_error (const GError *error)
{
  return error != NULL && error->domain == KH_API_ERROR &&
         (error->code == 36004005 || error->code == 40107);
}

char *
kh_refresh_journal_explain (const KhRefreshIntent *interrupted,
                            const GError          *error)
{
  g_autofree char *when = NULL;

  g_return_val_if_fail (error != NULL, NULL);

  if (interrupted == NULL || !is_spent_token_error (error))
    /* Translators: %s is TikTok's error: its code, meaning and fix. */
    return g_strdup_printf (_("TikTok refused to refresh this grant (%s)"), error->message);

  when = kh_iso8601_from_unix (interrupted->first_started_at);
  return g_strdup_printf (_("A refresh started at %s was interrupted after TikTok had rotated "
                            "the refresh token, before Keyhold stored the new one, and TikTok "
                            "no longer accepts the previous token (%s): the account holder "
                            "must authorize again"), when, error->message);
}
