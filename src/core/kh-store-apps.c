/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-store-apps.c: the KhStore API for app profiles (an item each, app secret included) and
 * pending authorization requests (an item each, state included). */

#define G_LOG_DOMAIN "kh-store-apps"

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

/* ---- async wrappers ------------------------------------------------------------------------ */

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
