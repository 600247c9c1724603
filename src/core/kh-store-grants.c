/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-grants.c: the KhStore API for grants: saving tokens (bucket first, index second),
 * updating, listing and finding entries, loading tokens (healing an index entry older than
 * its bucket entry), peeking without a store, removing, and the async variants. */

#define G_LOG_DOMAIN "kh-store-grants"

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
