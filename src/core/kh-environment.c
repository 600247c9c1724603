/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-environment.c: Flatpak detection, the secret backend libsecret picks, a description of
 * where the secrets are for the user, and "forget all" over a KhStore. */

#define G_LOG_DOMAIN "kh-environment"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-environment.h"

#include "kh-app-profile.h"
#include "kh-auth-request.h"
#include "kh-error.h"
#include "kh-grant.h"
#include "kh-history-log.h"
#include "kh-team.h"

#include <libsecret/secret.h>

#define FLATPAK_INFO "/.flatpak-info"
#define PORTAL_TIMEOUT_MS 2000

gboolean
kh_environment_is_flatpak (void)
{
  return g_file_test (FLATPAK_INFO, G_FILE_TEST_EXISTS);
}

/* libsecret uses its file backend in Flatpak only when the Secret portal exists (it reads the
 * portal's version property); without it, it falls back to the Secret Service. */
static gboolean
secret_portal_available (void)
{
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;

  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, NULL);
  if (bus == NULL)
    return FALSE;
  reply = g_dbus_connection_call_sync (bus,
                                       "org.freedesktop.portal.Desktop",
                                       "/org/freedesktop/portal/desktop",
                                       "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", "org.freedesktop.portal.Secret",
                                                      "version"),
                                       G_VARIANT_TYPE ("(v)"),
                                       G_DBUS_CALL_FLAGS_NONE, PORTAL_TIMEOUT_MS, NULL, NULL);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32) && g_variant_get_uint32 (value) >= 1;
}

KhSecretBackend
kh_environment_get_secret_backend (void)
{
  static gsize cached = 0;

  if (g_once_init_enter (&cached))
    {
      const char *requested = g_getenv ("SECRET_BACKEND");
      KhSecretBackend backend = KH_SECRET_BACKEND_SERVICE;

      if (kh_environment_is_flatpak () && secret_portal_available ())
        backend = KH_SECRET_BACKEND_FILE;
      else if (g_strcmp0 (requested, "file") == 0)
        backend = KH_SECRET_BACKEND_FILE;
      /* 0 means "not yet decided" to g_once_init_enter, hence the offset. */
      g_once_init_leave (&cached, (gsize) backend + 1);
    }
  return (KhSecretBackend) (cached - 1);
}

char *
kh_environment_get_secret_file_path (void)
{
  const char *test_path = g_getenv ("SECRET_FILE_TEST_PATH");

  if (test_path != NULL && *test_path != '\0')
    return g_strdup (test_path);
  return g_build_filename (g_get_user_data_dir (), "keyrings", "default.keyring", NULL);
}

char *
kh_environment_describe_secret_storage (KhStore *store)
{
  g_autofree char *index_dir = NULL;
  g_autofree char *file = NULL;
  g_autofree char *secrets = NULL;
  g_autofree char *index = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  switch (kh_environment_get_secret_backend ())
    {
    case KH_SECRET_BACKEND_FILE:
      file = kh_environment_get_secret_file_path ();
      if (kh_environment_is_flatpak ())
        /* Translators: %s is a file path. "Passwords and Keys" is the GNOME app (Seahorse). */
        secrets = g_strdup_printf (_("Tokens and app secrets are kept in an encrypted file, %s, "
                                     "that only Keyhold can unlock: the desktop’s Secret portal "
                                     "gives the key to this app alone. They do not appear in "
                                     "Passwords and Keys; use “Forget All” here to remove them."),
                                   file);
      else
        /* Translators: %s is a file path. "Passwords and Keys" is the GNOME app (Seahorse). */
        secrets = g_strdup_printf (_("Tokens and app secrets are kept in libsecret’s encrypted "
                                     "file %s. They do not appear in Passwords and Keys; use "
                                     "“Forget All” here to remove them."),
                                   file);
      break;
    case KH_SECRET_BACKEND_SERVICE:
      /* Translators: "Passwords and Keys" is the GNOME app (Seahorse). */
      secrets = g_strdup (_("Tokens and app secrets are kept in the desktop keyring’s default "
                            "collection, where Passwords and Keys lists them as “Keyhold” "
                            "items: the tokens of many accounts share each of up to 32 items "
                            "“Keyhold grants, part … of 32”, and each app secret and pending "
                            "authorization has an item of its own."));
      break;
    default:
      g_assert_not_reached ();
    }

  index_dir = g_path_get_dirname (kh_store_get_index_path (store));
  /* Translators: %s is a folder path. */
  index = g_strdup_printf (_("The list of accounts, without any secret, is in %s."), index_dir);
  return g_strconcat (secrets, " ", index, NULL);
}

/* ---- forget all ---------------------------------------------------------------------------- */

/* A removal that finds nothing is fine: another process may have removed the entry meanwhile. */
static gboolean
removal_failed (gboolean   ok,
                GError   **local_error,
                GError   **error)
{
  if (ok)
    return FALSE;
  if (g_error_matches (*local_error, KH_ERROR, KH_ERROR_NOT_FOUND))
    {
      g_clear_error (local_error);
      return FALSE;
    }
  g_propagate_error (error, g_steal_pointer (local_error));
  return TRUE;
}

gboolean
kh_environment_forget_all (KhStore  *store,
                           guint    *n_removed,
                           GError  **error)
{
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GPtrArray) pending = NULL;
  g_autoptr(GPtrArray) apps = NULL;
  g_autofree char *history = NULL;
  g_autoptr(KhTeam) team = NULL;
  GError *local_error = NULL;
  guint removed = 0;

  g_return_val_if_fail (KH_IS_STORE (store), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (n_removed != NULL)
    *n_removed = 0;
  if (!kh_store_reload (store, error))
    return FALSE;

  /* A team this computer is in is left first (its configuration, key, password and cache; no
   * database call): clearing the keyring below would otherwise leave a team.json whose key is
   * gone. The team's shared grants stay in its database: they are the team's. */
  team = kh_team_open (store, NULL, &local_error);
  if (local_error != NULL)
    {
      g_propagate_prefixed_error (error, local_error, _("Could not leave the team: "));
      return FALSE;
    }
  if (team != NULL && !kh_team_leave (team, error))
    return FALSE;

  /* Grants first, then the requests and apps they came from, so that an interruption never
   * leaves a grant whose app profile is already gone. */
  grants = kh_store_list_grants (store);
  for (guint i = 0; i < grants->len; i++)
    {
      KhGrant *grant = g_ptr_array_index (grants, i);

      if (removal_failed (kh_store_remove_grant (store, kh_grant_get_id (grant), &local_error),
                          &local_error, error))
        return FALSE;
      removed++;
    }

  pending = kh_store_list_pending (store);
  for (guint i = 0; i < pending->len; i++)
    {
      KhAuthRequest *request = g_ptr_array_index (pending, i);

      if (removal_failed (kh_store_remove_pending (store, kh_auth_request_get_id (request),
                                                   &local_error),
                          &local_error, error))
        return FALSE;
      removed++;
    }

  apps = kh_store_list_apps (store);
  for (guint i = 0; i < apps->len; i++)
    {
      KhAppProfile *app = g_ptr_array_index (apps, i);

      if (removal_failed (kh_store_remove_app (store, kh_app_profile_get_name (app),
                                               &local_error),
                          &local_error, error))
        return FALSE;
      removed++;
    }

  /* Items the index never knew about (an interrupted save, an older index, grant items of an
   * earlier layout, empty buckets) go as well. */
  if (!kh_store_clear_keyring (store, error))
    return FALSE;

  /* Forgetting everything includes what happened to it: the history names clients and shops. */
  history = kh_history_log_path_for_store (store);
  if (!kh_history_log_forget (history, error))
    return FALSE;

  if (n_removed != NULL)
    *n_removed = removed;
  return TRUE;
}

static void
forget_all_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  KhStore *store = task_data;
  GError *error = NULL;
  guint removed = 0;

  if (!kh_environment_forget_all (store, &removed, &error))
    g_task_return_error (task, error);
  else
    g_task_return_int (task, removed);
}

void
kh_environment_forget_all_async (KhStore            *store,
                                 GCancellable       *cancellable,
                                 GAsyncReadyCallback callback,
                                 gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KH_IS_STORE (store));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_environment_forget_all_async);
  g_task_set_task_data (task, g_object_ref (store), g_object_unref);
  /* Once started, forgetting runs to the end: stopping halfway would leave a partial store. */
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, forget_all_thread);
}

gboolean
kh_environment_forget_all_finish (GAsyncResult  *result,
                                  guint         *n_removed,
                                  GError       **error)
{
  gssize removed;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_environment_forget_all_async,
                        FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  removed = g_task_propagate_int (G_TASK (result), error);
  if (removed < 0)
    return FALSE;
  if (n_removed != NULL)
    *n_removed = (guint) removed;
  return TRUE;
}
