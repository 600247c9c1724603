/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-browser-profile.c: the installed browsers' profiles, read from the browsers' own files
 * (Chromium's `Local State`, Firefox's `profiles.ini`), and a launch of one of them. The files
 * belong to other programs and may hold anything: every node is checked, a profile whose
 * directory or name could be read as an option or a path is skipped, and a URL is launched only
 * after the same check as the system browser's (security rule 3). */

#define G_LOG_DOMAIN "kh-browser-profile"

#include "config.h"

#include <glib/gi18n.h>
#include <gio/gdesktopappinfo.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kh-browser-profile.h"

#include "kh-environment.h"
#include "kh-json.h"
#include "kh-provider.h"

/* Local State grows with the browser's history of settings; a few hundred KiB is typical. */
#define PROFILE_FILE_MAX_SIZE (8 * 1024 * 1024)
#define PROFILES_PER_BROWSER_MAX 200
#define NAME_MAX_LEN 200
#define PATH_MAX_LEN 4096

struct _KhBrowserProfile
{
  GObject  parent_instance;

  char    *id;
  char    *browser;
  char    *name;
  char    *title;
  char    *executable;
  char    *user_data_dir;   /* Chromium family: the dir of Local State */
  char    *directory;       /* Chromium family: "Profile 1" */
  char    *firefox_path;    /* Firefox: the profile's absolute path */
  gboolean name_is_unique;  /* Firefox: -P NAME finds this profile */
};

G_DEFINE_FINAL_TYPE (KhBrowserProfile, kh_browser_profile, G_TYPE_OBJECT)

typedef struct
{
  const char *id;
  const char *name;
  const char *config_subdir;          /* NULL: Firefox */
  const char *executables[3];
  const char *desktop_ids[3];
} Browser;

/* Browser names are trademarks, not translated. */
static const Browser browsers[] = {
  { "chromium", "Chromium", "chromium",
    { "chromium", "chromium-browser", NULL }, { "chromium.desktop", "chromium-browser.desktop" } },
  { "google-chrome", "Google Chrome", "google-chrome",
    { "google-chrome", "google-chrome-stable", NULL }, { "google-chrome.desktop", NULL } },
  { "brave", "Brave", "BraveSoftware/Brave-Browser",
    { "brave-browser", "brave", NULL }, { "brave-browser.desktop", NULL } },
  { "microsoft-edge", "Microsoft Edge", "microsoft-edge",
    { "microsoft-edge", "microsoft-edge-stable", NULL }, { "microsoft-edge.desktop", NULL } },
  { "vivaldi", "Vivaldi", "vivaldi",
    { "vivaldi", "vivaldi-stable", NULL }, { "vivaldi-stable.desktop", NULL } },
  { "firefox", "Firefox", NULL,
    { "firefox", "firefox-esr", NULL }, { "firefox.desktop", "firefox-esr.desktop" } },
};

static void
kh_browser_profile_finalize (GObject *object)
{
  KhBrowserProfile *self = KH_BROWSER_PROFILE (object);

  g_free (self->id);
  g_free (self->browser);
  g_free (self->name);
  g_free (self->title);
  g_free (self->executable);
  g_free (self->user_data_dir);
  g_free (self->directory);
  g_free (self->firefox_path);

  G_OBJECT_CLASS (kh_browser_profile_parent_class)->finalize (object);
}

static void
kh_browser_profile_class_init (KhBrowserProfileClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = kh_browser_profile_finalize;
}

static void
kh_browser_profile_init (KhBrowserProfile *self)
{
}

static KhBrowserProfile *
profile_new (const Browser *browser,
             const char    *executable,
             const char    *key,
             const char    *name)
{
  KhBrowserProfile *self = g_object_new (KH_TYPE_BROWSER_PROFILE, NULL);

  self->id = g_strconcat (browser->id, ":", key, NULL);
  self->browser = g_strdup (browser->id);
  self->name = g_strdup (name);
  self->title = g_strdup_printf ("%s — %s", browser->name, name);
  self->executable = g_strdup (executable);

  return self;
}

const char *
kh_browser_profile_get_id (KhBrowserProfile *self)
{
  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);

  return self->id;
}

const char *
kh_browser_profile_get_browser (KhBrowserProfile *self)
{
  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);

  return self->browser;
}

const char *
kh_browser_profile_get_name (KhBrowserProfile *self)
{
  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);

  return self->name;
}

const char *
kh_browser_profile_get_title (KhBrowserProfile *self)
{
  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);

  return self->title;
}

const char *
kh_browser_profile_get_executable (KhBrowserProfile *self)
{
  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);

  return self->executable;
}

/* ---- places --------------------------------------------------------------------------- */

void
kh_browser_places_init (KhBrowserPlaces *places)
{
  g_return_if_fail (places != NULL);

  places->home_dir = g_get_home_dir ();
  places->config_dir = g_get_user_config_dir ();
  places->search_path = g_getenv ("PATH");
  places->user_data_dir = g_get_user_data_dir ();
  places->data_dirs = g_get_system_data_dirs ();
  places->sandboxed = kh_environment_is_flatpak ();
}

const char *
kh_browser_places_unavailable_reason (const KhBrowserPlaces *places)
{
  g_return_val_if_fail (places != NULL, NULL);

  if (places->sandboxed)
    return _("Inside Flatpak only the system browser can be opened (through the desktop "
             "portal): choose the profile in the browser");

  return NULL;
}

/* ---- finding the executable ----------------------------------------------------------- */

static char *
find_in_path (const char *search_path,
              const char *program)
{
  g_auto(GStrv) dirs = NULL;

  if (search_path == NULL)
    return NULL;

  dirs = g_strsplit (search_path, G_SEARCHPATH_SEPARATOR_S, -1);
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *path = NULL;

      /* An empty or relative entry means the current directory: never trusted. */
      if (!g_path_is_absolute (dirs[i]))
        continue;
      path = g_build_filename (dirs[i], program, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE) &&
          !g_file_test (path, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&path);
    }

  return NULL;
}

/* The absolute executable the browser's .desktop file in data_dir names, if there is one. */
static char *
desktop_file_executable (const Browser *browser,
                         const char    *data_dir)
{
  for (guint i = 0; data_dir != NULL && i < G_N_ELEMENTS (browser->desktop_ids) &&
                    browser->desktop_ids[i] != NULL; i++)
    {
      g_autofree char *file = g_build_filename (data_dir, "applications", browser->desktop_ids[i],
                                                NULL);
      g_autoptr(GDesktopAppInfo) info = NULL;
      const char *executable;

      if (!g_file_test (file, G_FILE_TEST_IS_REGULAR))
        continue;
      info = g_desktop_app_info_new_from_filename (file);
      executable = info != NULL ? g_app_info_get_executable (G_APP_INFO (info)) : NULL;
      if (executable != NULL && g_path_is_absolute (executable) &&
          g_file_test (executable, G_FILE_TEST_IS_EXECUTABLE))
        return g_strdup (executable);
    }

  return NULL;
}

/* The browser's executable: on the search path, else an absolute one its .desktop file names
 * (the user's applications first). */
static char *
find_executable (const Browser         *browser,
                 const KhBrowserPlaces *places)
{
  char *executable;

  for (guint i = 0; i < G_N_ELEMENTS (browser->executables) && browser->executables[i]; i++)
    {
      char *path = find_in_path (places->search_path, browser->executables[i]);

      if (path != NULL)
        return path;
    }

  executable = desktop_file_executable (browser, places->user_data_dir);
  for (guint d = 0; executable == NULL && places->data_dirs != NULL &&
                    places->data_dirs[d] != NULL; d++)
    executable = desktop_file_executable (browser, places->data_dirs[d]);

  return executable;
}

/* ---- untrusted names ------------------------------------------------------------------ */

/* Text from another program's file: valid UTF-8, no control characters, of a sane length. */
static gboolean
check_text (const char *name,
            gsize       max_length)
{
  gsize length;

  if (name == NULL)
    return FALSE;
  length = strlen (name);
  if (length == 0 || length > max_length || !g_utf8_validate (name, length, NULL))
    return FALSE;
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;

  return TRUE;
}

/* A name shown in the UI. */
static gboolean
check_name (const char *name)
{
  return check_text (name, NAME_MAX_LEN);
}

/* A name that reaches the browser's argv: it must not read as an option. A directory must also
 * stay inside its user data dir. */
static gboolean
check_argument (const char *value,
                gboolean    is_directory)
{
  if (!check_name (value) || value[0] == '-')
    return FALSE;
  if (is_directory && (strchr (value, '/') != NULL || value[0] == '.'))
    return FALSE;

  return TRUE;
}

static gboolean
read_small_file (const char  *path,
                 char       **contents,
                 gsize       *length)
{
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    return FALSE;
  if (!S_ISREG (st.st_mode) || st.st_size > PROFILE_FILE_MAX_SIZE)
    {
      g_debug ("%s: not a regular file or too big, skipped", path);
      return FALSE;
    }
  if (!g_file_get_contents (path, contents, length, &error))
    {
      g_debug ("%s: %s", path, error->message);
      return FALSE;
    }

  return TRUE;
}

/* ---- Chromium family ------------------------------------------------------------------ */

static void
discover_chromium (const Browser         *browser,
                   const char            *executable,
                   const KhBrowserPlaces *places,
                   GPtrArray             *out)
{
  g_autofree char *user_data_dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *profile;
  JsonObject *info_cache;
  g_autoptr(GList) members = NULL;
  gsize length;
  guint added = 0;

  if (places->config_dir == NULL)
    return;
  user_data_dir = g_build_filename (places->config_dir, browser->config_subdir, NULL);
  path = g_build_filename (user_data_dir, "Local State", NULL);
  if (!read_small_file (path, &contents, &length))
    return;

  root = kh_json_parse (contents, length, &error);
  if (root == NULL)
    {
      g_debug ("%s: %s", path, error->message);
      return;
    }
  profile = kh_json_get_object (kh_json_node_object (root), "profile");
  info_cache = profile != NULL ? kh_json_get_object (profile, "info_cache") : NULL;
  if (info_cache == NULL)
    {
      g_debug ("%s: no profile.info_cache object", path);
      return;
    }

  members = json_object_get_members (info_cache);
  for (GList *l = members; l != NULL && added < PROFILES_PER_BROWSER_MAX; l = l->next)
    {
      const char *directory = l->data;
      JsonObject *entry = kh_json_get_object (info_cache, directory);
      const char *name = entry != NULL ? kh_json_get_string (entry, "name") : NULL;
      KhBrowserProfile *self;

      if (entry == NULL || !check_argument (directory, TRUE))
        {
          g_debug ("%s: a profile entry is not an object or has an unusable directory", path);
          continue;
        }
      /* A profile without a usable name is still a profile: its directory names it. */
      if (!check_name (name))
        name = directory;

      self = profile_new (browser, executable, directory, name);
      self->user_data_dir = g_strdup (user_data_dir);
      self->directory = g_strdup (directory);
      g_ptr_array_add (out, self);
      added++;
    }
}

/* ---- Firefox -------------------------------------------------------------------------- */

static void
discover_firefox_ini (const Browser *browser,
                      const char    *executable,
                      const char    *root,
                      GPtrArray     *out)
{
  g_autofree char *path = g_build_filename (root, "profiles.ini", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GKeyFile) ini = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) groups = NULL;
  guint first = out->len;
  guint added = 0;
  gsize length;

  if (!read_small_file (path, &contents, &length))
    return;
  if (!g_key_file_load_from_data (ini, contents, length, G_KEY_FILE_NONE, &error))
    {
      g_debug ("%s: %s", path, error->message);
      return;
    }

  groups = g_key_file_get_groups (ini, NULL);
  for (guint i = 0; groups[i] != NULL && added < PROFILES_PER_BROWSER_MAX; i++)
    {
      g_autofree char *name = NULL;
      g_autofree char *profile_path = NULL;
      g_autofree char *absolute = NULL;
      g_autoptr(GError) key_error = NULL;
      gboolean is_relative;
      KhBrowserProfile *self;

      if (!g_str_has_prefix (groups[i], "Profile"))
        continue;
      name = g_key_file_get_string (ini, groups[i], "Name", NULL);
      profile_path = g_key_file_get_string (ini, groups[i], "Path", NULL);
      is_relative = g_key_file_get_integer (ini, groups[i], "IsRelative", &key_error) != 0;
      if (key_error != NULL)
        is_relative = TRUE;
      if (!check_argument (name, FALSE) || !check_text (profile_path, PATH_MAX_LEN) ||
          (is_relative && (profile_path[0] == '/' || strstr (profile_path, "..") != NULL)) ||
          (!is_relative && !g_path_is_absolute (profile_path)))
        {
          g_debug ("%s: [%s] has an unusable Name or Path", path, groups[i]);
          continue;
        }

      absolute = is_relative ? g_build_filename (root, profile_path, NULL)
                             : g_strdup (profile_path);
      /* A profile Firefox removed but left in profiles.ini would open as a new empty one. */
      if (!g_file_test (absolute, G_FILE_TEST_IS_DIR))
        {
          g_debug ("%s: [%s] names a missing directory", path, groups[i]);
          continue;
        }

      self = profile_new (browser, executable, profile_path, name);
      self->firefox_path = g_steal_pointer (&absolute);
      self->name_is_unique = TRUE;
      g_ptr_array_add (out, self);
      added++;
    }

  /* Two profiles of one name: -P cannot tell them apart, --profile PATH can. */
  for (guint i = first; i < out->len; i++)
    for (guint j = i + 1; j < out->len; j++)
      {
        KhBrowserProfile *a = g_ptr_array_index (out, i);
        KhBrowserProfile *b = g_ptr_array_index (out, j);

        if (g_str_equal (a->name, b->name))
          a->name_is_unique = b->name_is_unique = FALSE;
      }
}

static void
discover_firefox (const Browser         *browser,
                  const char            *executable,
                  const KhBrowserPlaces *places,
                  GPtrArray             *out)
{
  guint first = out->len;

  /* The classic place, and the XDG one newer Firefox releases use. */
  if (places->home_dir != NULL)
    {
      g_autofree char *root = g_build_filename (places->home_dir, ".mozilla", "firefox", NULL);

      discover_firefox_ini (browser, executable, root, out);
    }
  if (places->config_dir != NULL)
    {
      g_autofree char *root = g_build_filename (places->config_dir, "mozilla", "firefox", NULL);

      discover_firefox_ini (browser, executable, root, out);
    }

  /* A profile listed twice (in one file, or in both when one place links to the other) shows
   * once: the first stays. */
  for (guint i = first; i < out->len; i++)
    if (kh_browser_profile_find (out, kh_browser_profile_get_id (g_ptr_array_index (out, i))) !=
        g_ptr_array_index (out, i))
      g_ptr_array_remove_index (out, i--);
}

/* ---- discovery ------------------------------------------------------------------------ */

static int
compare_titles (gconstpointer a,
                gconstpointer b)
{
  KhBrowserProfile *pa = *(KhBrowserProfile **) a;
  KhBrowserProfile *pb = *(KhBrowserProfile **) b;
  int result = g_utf8_collate (pa->title, pb->title);

  return result != 0 ? result : strcmp (pa->id, pb->id);
}

GPtrArray *
kh_browser_profile_discover (const KhBrowserPlaces *places)
{
  GPtrArray *profiles = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_val_if_fail (places != NULL, profiles);

  if (places->sandboxed)
    return profiles;

  for (guint i = 0; i < G_N_ELEMENTS (browsers); i++)
    {
      g_autofree char *executable = find_executable (&browsers[i], places);

      /* Profiles of a browser that is not installed any more cannot be opened. */
      if (executable == NULL)
        continue;
      if (browsers[i].config_subdir != NULL)
        discover_chromium (&browsers[i], executable, places, profiles);
      else
        discover_firefox (&browsers[i], executable, places, profiles);
    }

  g_ptr_array_sort (profiles, compare_titles);

  return profiles;
}

static void
discover_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  KhBrowserPlaces places;

  kh_browser_places_init (&places);
  g_task_return_pointer (task, kh_browser_profile_discover (&places),
                         (GDestroyNotify) g_ptr_array_unref);
}

void
kh_browser_profile_discover_async (GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_browser_profile_discover_async);
  g_task_run_in_thread (task, discover_thread);
}

GPtrArray *
kh_browser_profile_discover_finish (GAsyncResult  *result,
                                    GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

KhBrowserProfile *
kh_browser_profile_find (GPtrArray  *profiles,
                         const char *id)
{
  g_return_val_if_fail (profiles != NULL, NULL);

  for (guint i = 0; id != NULL && i < profiles->len; i++)
    {
      KhBrowserProfile *self = g_ptr_array_index (profiles, i);

      if (g_str_equal (self->id, id))
        return self;
    }

  return NULL;
}

/* ---- launching ------------------------------------------------------------------------ */

GStrv
kh_browser_profile_build_argv (KhBrowserProfile  *self,
                               const char        *url,
                               GError           **error)
{
  g_autoptr(GStrvBuilder) builder = NULL;

  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);
  g_return_val_if_fail (url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!kh_provider_check_launch_url (url, error))
    return NULL;

  builder = g_strv_builder_new ();
  g_strv_builder_add (builder, self->executable);
  if (self->directory != NULL)
    {
      g_autofree char *data_dir = g_strconcat ("--user-data-dir=", self->user_data_dir, NULL);
      g_autofree char *directory = g_strconcat ("--profile-directory=", self->directory, NULL);

      /* Always named: the directory means something only beside the Local State it came from,
       * whatever the browser's wrapper or environment would pick as its default. */
      g_strv_builder_add_many (builder, data_dir, directory, NULL);
    }
  else if (self->name_is_unique)
    g_strv_builder_add_many (builder, "-P", self->name, NULL);
  else
    g_strv_builder_add_many (builder, "--profile", self->firefox_path, NULL);
  /* The URL passed the check, so it starts with "https://" or the origin map's target and
   * cannot read as an option. */
  g_strv_builder_add (builder, url);

  return g_strv_builder_end (builder);
}

GSubprocess *
kh_browser_profile_launch (KhBrowserProfile  *self,
                           const char        *url,
                           GError           **error)
{
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) local_error = NULL;
  GSubprocess *process;

  g_return_val_if_fail (KH_IS_BROWSER_PROFILE (self), NULL);
  g_return_val_if_fail (url != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  argv = kh_browser_profile_build_argv (self, url, error);
  if (argv == NULL)
    return NULL;

  /* The browser's chatter would mix with keyhold-cli's output, which scripts parse. */
  process = g_subprocess_newv ((const char * const *) argv,
                               G_SUBPROCESS_FLAGS_STDIN_INHERIT |
                               G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                               G_SUBPROCESS_FLAGS_STDERR_SILENCE, &local_error);
  if (process == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s could not be started: %s"),
                 self->title, local_error->message);
  g_debug ("started %s for profile %s", self->executable, self->id);

  return process;
}

/* ---- the remembered choice ------------------------------------------------------------ */

char *
kh_browser_profile_lookup_choice (GVariant   *choices,
                                  const char *client_label)
{
  const char *id = NULL;

  g_return_val_if_fail (choices != NULL, NULL);
  g_return_val_if_fail (g_variant_is_of_type (choices, G_VARIANT_TYPE ("a{ss}")), NULL);

  if (!g_variant_lookup (choices, client_label != NULL ? client_label : "", "&s", &id) ||
      *id == '\0')
    return NULL;

  return g_strdup (id);
}

GVariant *
kh_browser_profile_remember_choice (GVariant   *choices,
                                    const char *client_label,
                                    const char *id)
{
  GVariantBuilder builder;
  GVariantIter iter;
  const char *key;
  const char *value;

  g_return_val_if_fail (choices != NULL, NULL);
  g_return_val_if_fail (g_variant_is_of_type (choices, G_VARIANT_TYPE ("a{ss}")), NULL);

  if (client_label == NULL)
    client_label = "";

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  g_variant_iter_init (&iter, choices);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    if (!g_str_equal (key, client_label))
      g_variant_builder_add (&builder, "{ss}", key, value);
  if (id != NULL && *id != '\0')
    g_variant_builder_add (&builder, "{ss}", client_label, id);

  return g_variant_builder_end (&builder);
}
