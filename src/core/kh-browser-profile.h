/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-browser-profile.h: the browser profiles installed on this computer (Chromium family and
 * Firefox, read from their own profile files) and launching one of them on an authorization
 * URL, so the consent page opens in the profile signed in to the right account. Outside Flatpak
 * only: inside it, only the OpenURI portal can open a browser. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Where discovery looks. kh_browser_places_init() fills in this process's own places; tests
 * point them at a temporary HOME. */
typedef struct
{
  const char         *home_dir;       /* ~/.mozilla/firefox */
  const char         *config_dir;     /* ~/.config/<browser>, ~/.config/mozilla/firefox */
  const char         *search_path;    /* PATH-style list the executables are looked up in */
  const char         *user_data_dir;  /* <dir>/applications/<browser>.desktop, then... */
  const char * const *data_dirs;      /* ...<dir>/applications/<browser>.desktop */
  gboolean            sandboxed;      /* inside Flatpak: no profile can be chosen */
} KhBrowserPlaces;

void                kh_browser_places_init                (KhBrowserPlaces *places);

/* NULL when a profile can be chosen; else why not (translated). */
const char         *kh_browser_places_unavailable_reason  (const KhBrowserPlaces *places);

#define KH_TYPE_BROWSER_PROFILE (kh_browser_profile_get_type ())
G_DECLARE_FINAL_TYPE (KhBrowserProfile, kh_browser_profile, KH, BROWSER_PROFILE, GObject)

/* "chromium:Profile 1", "firefox:abcd1234.default-release": stable across runs. */
const char         *kh_browser_profile_get_id             (KhBrowserProfile *self);
/* "chromium", "google-chrome", "brave", "microsoft-edge", "vivaldi", "firefox". */
const char         *kh_browser_profile_get_browser        (KhBrowserProfile *self);
/* The profile's own name, as the browser shows it ("Work"). */
const char         *kh_browser_profile_get_name           (KhBrowserProfile *self);
/* "Chromium — Work". */
const char         *kh_browser_profile_get_title          (KhBrowserProfile *self);
const char         *kh_browser_profile_get_executable     (KhBrowserProfile *self);

/* The command that opens url in this profile; url must pass kh_provider_check_launch_url. */
GStrv               kh_browser_profile_build_argv         (KhBrowserProfile *self,
                                                           const char       *url,
                                                           GError          **error);
/* Starts the browser on url (no shell). The process is returned so the caller can notice a
 * browser that exits with an error; a browser already running hands the URL over and exits. */
GSubprocess        *kh_browser_profile_launch             (KhBrowserProfile *self,
                                                           const char       *url,
                                                           GError          **error);

/* Every profile of every installed browser, sorted by title: KhBrowserProfile *. Blocking
 * (reads a few small files); files that are missing, malformed or too big are skipped. Empty
 * when places->sandboxed. */
GPtrArray          *kh_browser_profile_discover           (const KhBrowserPlaces *places);
/* The same for this process's own places, in a thread. */
void                kh_browser_profile_discover_async     (GCancellable          *cancellable,
                                                           GAsyncReadyCallback    callback,
                                                           gpointer               user_data);
GPtrArray          *kh_browser_profile_discover_finish    (GAsyncResult          *result,
                                                           GError               **error);
/* The profile of that id in profiles (from discover), or NULL. */
KhBrowserProfile   *kh_browser_profile_find               (GPtrArray             *profiles,
                                                           const char            *id);

/* The remembered choice per client label: an a{ss} of label -> profile id (the label "" stands
 * for no label). lookup returns NULL for the system browser; remember returns the new map
 * (floating), with the label removed when id is NULL (the system browser). */
char               *kh_browser_profile_lookup_choice      (GVariant              *choices,
                                                           const char            *client_label);
GVariant           *kh_browser_profile_remember_choice    (GVariant              *choices,
                                                           const char            *client_label,
                                                           const char            *id);

G_END_DECLS
