/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-browser-profile.c: browser profile discovery from fake `Local State` and `profiles.ini`
 * files in a temporary HOME (well-formed and malformed), the executables it requires, the
 * Flatpak case, the command a launch runs, and the remembered choice per client label. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "kh-browser-profile.h"
#include "kh-error.h"
#include "kh-test-util.h"

#define URL "https://services.tiktokshop.com/open/authorize?service_id=1&state=s"

typedef struct
{
  char            *home;
  char            *config;
  char            *bin;
  char            *data;
  const char      *data_dirs[2];
  KhBrowserPlaces  places;
} Fixture;

static void
write_file (const char *path,
            const char *contents)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

/* An executable in the fake bin dir: it writes its arguments, one a line, to <name>.args. */
static char *
add_program (Fixture    *fixture,
             const char *dir,
             const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree char *script = g_strdup_printf ("#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s.args'\n",
                                             path);

  write_file (path, script);
  g_assert_cmpint (g_chmod (path, 0700), ==, 0);
  return path;
}

static void
write_home_file (Fixture    *fixture,
                 const char *relative,
                 const char *contents)
{
  g_autofree char *path = g_build_filename (fixture->home, relative, NULL);

  write_file (path, contents);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *template = g_build_filename (kh_test_get_tmpdir (), "home-XXXXXX", NULL);

  fixture->home = g_mkdtemp (g_steal_pointer (&template));
  g_assert_nonnull (fixture->home);
  fixture->config = g_build_filename (fixture->home, ".config", NULL);
  fixture->bin = g_build_filename (fixture->home, "bin", NULL);
  fixture->data = g_build_filename (fixture->home, "share", NULL);
  fixture->data_dirs[0] = fixture->data;
  fixture->places.home_dir = fixture->home;
  fixture->places.config_dir = fixture->config;
  fixture->places.search_path = fixture->bin;
  fixture->places.user_data_dir = NULL;
  fixture->places.data_dirs = fixture->data_dirs;
  fixture->places.sandboxed = FALSE;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_free (fixture->home);
  g_free (fixture->config);
  g_free (fixture->bin);
  g_free (fixture->data);
}

/* "id=title" of every profile found, joined by "|". */
static char *
discover (Fixture *fixture)
{
  g_autoptr(GPtrArray) profiles = kh_browser_profile_discover (&fixture->places);
  g_autoptr(GString) found = g_string_new (NULL);

  for (guint i = 0; i < profiles->len; i++)
    {
      KhBrowserProfile *profile = g_ptr_array_index (profiles, i);

      g_string_append_printf (found, "%s%s=%s", i > 0 ? "|" : "",
                              kh_browser_profile_get_id (profile),
                              kh_browser_profile_get_title (profile));
    }

  return g_string_free (g_steal_pointer (&found), FALSE);
}

static char *
argv_of (Fixture    *fixture,
         const char *id)
{
  g_autoptr(GPtrArray) profiles = kh_browser_profile_discover (&fixture->places);
  KhBrowserProfile *profile = kh_browser_profile_find (profiles, id);
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (profile);
  argv = kh_browser_profile_build_argv (profile, URL, &error);
  g_assert_no_error (error);
  return g_strjoinv ("\n", argv);
}

static const char chromium_state[] =
  "{\"profile\":{\"info_cache\":{"
  "\"Default\":{\"name\":\"Person 1\",\"is_using_default_name\":true},"
  "\"Profile 3\":{\"name\":\"Work\"}},\"last_used\":\"Profile 3\"},"
  "\"browser\":{\"enabled_labs_experiments\":[]}}";

static void
test_chromium (Fixture       *fixture,
               gconstpointer  user_data)
{
  g_autofree char *chromium = add_program (fixture, fixture->bin, "chromium");
  g_autofree char *found = NULL;
  g_autofree char *argv = NULL;
  g_autofree char *expected = NULL;

  write_home_file (fixture, ".config/chromium/Local State", chromium_state);
  /* Brave keeps its profiles one level deeper; Vivaldi is not installed. */
  add_program (fixture, fixture->bin, "brave-browser");
  write_home_file (fixture, ".config/BraveSoftware/Brave-Browser/Local State",
                   "{\"profile\":{\"info_cache\":{\"Default\":{\"name\":\"Shop B\"}}}}");
  write_home_file (fixture, ".config/vivaldi/Local State", chromium_state);

  found = discover (fixture);
  g_assert_cmpstr (found, ==, "brave:Default=Brave — Shop B|"
                              "chromium:Default=Chromium — Person 1|"
                              "chromium:Profile 3=Chromium — Work");

  argv = argv_of (fixture, "chromium:Profile 3");
  expected = g_strdup_printf ("%s\n--user-data-dir=%s/chromium\n--profile-directory=Profile 3\n%s",
                              chromium, fixture->config, URL);
  g_assert_cmpstr (argv, ==, expected);
}

static void
test_not_installed (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *elsewhere = g_build_filename (fixture->home, "elsewhere", NULL);
  g_autofree char *directory = g_build_filename (fixture->bin, "chromium", NULL);
  g_autofree char *search_path = g_strdup_printf ("%s::elsewhere", fixture->bin);
  g_autofree char *firefox = NULL;
  g_autofree char *found = NULL;

  write_home_file (fixture, ".config/chromium/Local State", chromium_state);
  write_home_file (fixture, ".mozilla/firefox/profiles.ini",
                   "[Profile0]\nName=default\nIsRelative=1\nPath=x.default\n");
  write_home_file (fixture, ".mozilla/firefox/x.default/prefs.js", "");
  /* A directory of the program's name does not count, nor does a program found only through
   * an empty or relative entry of the search path. */
  g_assert_cmpint (g_mkdir_with_parents (directory, 0700), ==, 0);
  firefox = add_program (fixture, elsewhere, "firefox");
  fixture->places.search_path = search_path;
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "");
}

static void
test_chromium_malformed (Fixture       *fixture,
                         gconstpointer  user_data)
{
  static const char * const bad_states[] = {
    "",
    "not json",
    "[1,2,3]",
    "{\"profile\":[]}",
    "{\"profile\":{\"info_cache\":[{\"name\":\"x\"}]}}",
    "{\"profile\":{\"info_cache\":\"Default\"}}",
    "{\"profile\":{\"info_cache\":{\"Default\":\"Work\"}}}",
    "{\"profile\":{\"info_cache\":{\"Default\":{\"name\":\"Work\"}}",   /* truncated */
  };
  g_autofree char *big = NULL;
  g_autofree char *found = NULL;

  add_program (fixture, fixture->bin, "chromium");
  for (guint i = 0; i < G_N_ELEMENTS (bad_states); i++)
    {
      g_test_message ("Local State: %s", bad_states[i]);
      write_home_file (fixture, ".config/chromium/Local State", bad_states[i]);
      found = discover (fixture);
      g_assert_cmpstr (found, ==, "");
      g_clear_pointer (&found, g_free);
    }

  /* Entries are judged one by one: a directory that could be an option or a path is skipped,
   * a name that is not a string or holds control characters falls back to the directory. */
  write_home_file (fixture, ".config/chromium/Local State",
                   "{\"profile\":{\"info_cache\":{"
                   "\"../../etc\":{\"name\":\"Up\"},"
                   "\"--remote-debugging-port=9\":{\"name\":\"Option\"},"
                   "\".hidden\":{\"name\":\"Hidden\"},"
                   "\"\":{\"name\":\"Empty\"},"
                   "\"Profile 1\":{\"name\":42},"
                   "\"Profile 2\":{\"name\":\"Bad\\u0007Bell\"},"
                   "\"Profile 4\":{\"name\":\"Fine\"},"
                   "\"Profile 5\":null}}}");
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "chromium:Profile 4=Chromium — Fine|"
                              "chromium:Profile 1=Chromium — Profile 1|"
                              "chromium:Profile 2=Chromium — Profile 2");
  g_clear_pointer (&found, g_free);

  /* A file bigger than any real Local State is not read. */
  big = g_strnfill (9 * 1024 * 1024, ' ');
  memcpy (big, "{\"profile\":{\"info_cache\":{\"Default\":{\"name\":\"Big\"}}}}",
          strlen ("{\"profile\":{\"info_cache\":{\"Default\":{\"name\":\"Big\"}}}}"));
  write_home_file (fixture, ".config/chromium/Local State", big);
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "");
}

static void
test_firefox (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autofree char *firefox = add_program (fixture, fixture->bin, "firefox-esr");
  g_autofree char *custom = g_build_filename (fixture->home, "custom-profile", NULL);
  g_autofree char *ini = NULL;
  g_autofree char *found = NULL;
  g_autofree char *argv = NULL;
  g_autofree char *expected = NULL;

  ini = g_strdup_printf ("[General]\nStartWithLastProfile=1\nVersion=2\n\n"
                         "[Install4F96D1932A9F858E]\nDefault=a.work\nLocked=1\n\n"
                         "[Profile0]\nName=Work\nIsRelative=1\nPath=a.work\nDefault=1\n\n"
                         "[Profile1]\nName=Shop A\nIsRelative=0\nPath=%s\n\n"
                         "[Profile2]\nName=Gone\nIsRelative=1\nPath=c.gone\n\n"
                         "[Profile3]\nName=-P\nIsRelative=1\nPath=a.work\n\n"
                         "[Profile4]\nName=Escape\nIsRelative=1\nPath=../custom-profile\n\n"
                         "[Profile5]\nName=Shop A\nIsRelative=1\nPath=d.shop\n\n"
                         "[Profile6]\nIsRelative=1\nPath=a.work\n", custom);
  write_home_file (fixture, ".mozilla/firefox/profiles.ini", ini);
  write_home_file (fixture, ".mozilla/firefox/a.work/prefs.js", "");
  write_home_file (fixture, ".mozilla/firefox/d.shop/prefs.js", "");
  write_home_file (fixture, "custom-profile/prefs.js", "");

  found = discover (fixture);
  expected = g_strdup_printf ("firefox:%s=Firefox — Shop A|firefox:d.shop=Firefox — Shop A|"
                              "firefox:a.work=Firefox — Work", custom);
  g_assert_cmpstr (found, ==, expected);
  g_clear_pointer (&expected, g_free);

  argv = argv_of (fixture, "firefox:a.work");
  expected = g_strdup_printf ("%s\n-P\nWork\n%s", firefox, URL);
  g_assert_cmpstr (argv, ==, expected);
  g_clear_pointer (&argv, g_free);
  g_clear_pointer (&expected, g_free);

  /* Two profiles named "Shop A": -P could open either, so the path names it. */
  argv = argv_of (fixture, "firefox:d.shop");
  expected = g_strdup_printf ("%s\n--profile\n%s/.mozilla/firefox/d.shop\n%s", firefox,
                              fixture->home, URL);
  g_assert_cmpstr (argv, ==, expected);
}

static void
test_firefox_malformed (Fixture       *fixture,
                        gconstpointer  user_data)
{
  static const char * const bad_inis[] = {
    "",
    "not an ini file",
    "[Profile0\nName=Work\nPath=a.work\n",
    "[Profile0]\nName=Work\n",
    "[Profile0]\nPath=a.work\n",
    "[Profile0]\nName=Work\nIsRelative=0\nPath=a.work\n",
    "[Profile0]\nName=Work\nIsRelative=1\nPath=/etc/../a.work\n",
    "[Profile0]\nName=Wo\\nrk\nIsRelative=1\nPath=a.work\n",
    "[Other]\nName=Work\nIsRelative=1\nPath=a.work\n",
  };

  add_program (fixture, fixture->bin, "firefox");
  write_home_file (fixture, ".mozilla/firefox/a.work/prefs.js", "");
  for (guint i = 0; i < G_N_ELEMENTS (bad_inis); i++)
    {
      g_autofree char *found = NULL;

      g_test_message ("profiles.ini: %s", bad_inis[i]);
      write_home_file (fixture, ".mozilla/firefox/profiles.ini", bad_inis[i]);
      found = discover (fixture);
      g_assert_cmpstr (found, ==, "");
    }
}

/* Firefox's newer XDG place counts too; a profile listed in both places shows once. */
static void
test_firefox_xdg (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autofree char *found = NULL;
  const char *ini = "[Profile0]\nName=Work\nIsRelative=1\nPath=a.work\n";

  add_program (fixture, fixture->bin, "firefox");
  write_home_file (fixture, ".config/mozilla/firefox/profiles.ini", ini);
  write_home_file (fixture, ".config/mozilla/firefox/a.work/prefs.js", "");
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "firefox:a.work=Firefox — Work");
  g_clear_pointer (&found, g_free);

  write_home_file (fixture, ".mozilla/firefox/profiles.ini", ini);
  write_home_file (fixture, ".mozilla/firefox/a.work/prefs.js", "");
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "firefox:a.work=Firefox — Work");
}

/* A browser not on PATH is still found through the absolute Exec of its .desktop file. */
static void
test_desktop_file (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autofree char *opt = g_build_filename (fixture->home, "opt", NULL);
  g_autofree char *chrome = add_program (fixture, opt, "chrome");
  g_autofree char *desktop = g_build_filename (fixture->data, "applications",
                                               "google-chrome.desktop", NULL);
  g_autofree char *text = g_strdup_printf ("[Desktop Entry]\nType=Application\n"
                                           "Name=Google Chrome\nExec=%s %%U\n", chrome);
  g_autofree char *found = NULL;
  g_autofree char *argv = NULL;

  write_file (desktop, text);
  write_home_file (fixture, ".config/google-chrome/Local State", chromium_state);
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "google-chrome:Default=Google Chrome — Person 1|"
                              "google-chrome:Profile 3=Google Chrome — Work");
  argv = argv_of (fixture, "google-chrome:Default");
  g_assert_true (g_str_has_prefix (argv, chrome));

  /* A relative Exec would be whatever the search path finds: not trusted. */
  g_clear_pointer (&found, g_free);
  write_file (desktop, "[Desktop Entry]\nType=Application\nName=Google Chrome\n"
                       "Exec=chrome %U\n");
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "");
  g_clear_pointer (&found, g_free);

  /* The user's own applications count too, before the system's. */
  {
    g_autofree char *own_data = g_build_filename (fixture->home, ".local", "share", NULL);
    g_autofree char *user_desktop = g_build_filename (own_data, "applications",
                                                      "google-chrome.desktop", NULL);

    write_file (user_desktop, text);
    fixture->places.user_data_dir = own_data;
    found = discover (fixture);
    fixture->places.user_data_dir = NULL;
  }
  g_assert_cmpstr (found, ==, "google-chrome:Default=Google Chrome — Person 1|"
                              "google-chrome:Profile 3=Google Chrome — Work");
}

static void
test_flatpak (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autofree char *found = NULL;

  add_program (fixture, fixture->bin, "chromium");
  write_home_file (fixture, ".config/chromium/Local State", chromium_state);
  g_assert_null (kh_browser_places_unavailable_reason (&fixture->places));
  found = discover (fixture);
  g_assert_cmpstr (found, !=, "");
  g_clear_pointer (&found, g_free);

  fixture->places.sandboxed = TRUE;
  g_assert_nonnull (strstr (kh_browser_places_unavailable_reason (&fixture->places), "Flatpak"));
  found = discover (fixture);
  g_assert_cmpstr (found, ==, "");
}

static void
test_unsafe_url (Fixture       *fixture,
                 gconstpointer  user_data)
{
  static const char * const urls[] = {
    "http://services.tiktokshop.com/open/authorize",
    "https://evil.example/open/authorize",
    "https://www.tiktok.com@evil.example/",
    "-https://services.tiktokshop.com/",
    "https://services.tiktokshop.com/ --remote-debugging-port=9",
  };
  g_autofree char *chromium = add_program (fixture, fixture->bin, "chromium");
  g_autofree char *args = g_strconcat (chromium, ".args", NULL);
  g_autoptr(GPtrArray) profiles = NULL;
  KhBrowserProfile *profile;

  write_home_file (fixture, ".config/chromium/Local State", chromium_state);
  profiles = kh_browser_profile_discover (&fixture->places);
  profile = kh_browser_profile_find (profiles, "chromium:Default");
  g_assert_nonnull (profile);
  g_assert_null (kh_browser_profile_find (profiles, "chromium:Nope"));
  g_assert_null (kh_browser_profile_find (profiles, NULL));

  for (guint i = 0; i < G_N_ELEMENTS (urls); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) argv = kh_browser_profile_build_argv (profile, urls[i], &error);
      g_autoptr(GSubprocess) process = NULL;

      g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
      g_assert_null (argv);
      g_clear_error (&error);
      process = kh_browser_profile_launch (profile, urls[i], &error);
      g_assert_error (error, KH_ERROR, KH_ERROR_UNSAFE_URL);
      g_assert_null (process);
    }
  g_assert_false (g_file_test (args, G_FILE_TEST_EXISTS));
}

/* The browser gets its arguments as they are: no shell reads a profile name. */
static void
test_launch (Fixture       *fixture,
             gconstpointer  user_data)
{
  g_autofree char *firefox = add_program (fixture, fixture->bin, "firefox");
  g_autofree char *args_file = g_strconcat (firefox, ".args", NULL);
  g_autofree char *args = NULL;
  g_autofree char *expected = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  const char *name = "Shop $(touch pwned) `id` \"q\" 'x'; &";

  {
    g_autofree char *ini = g_strdup_printf ("[Profile0]\nName=%s\nIsRelative=1\nPath=a.b\n",
                                            name);

    write_home_file (fixture, ".mozilla/firefox/profiles.ini", ini);
    write_home_file (fixture, ".mozilla/firefox/a.b/prefs.js", "");
  }
  profiles = kh_browser_profile_discover (&fixture->places);
  g_assert_cmpuint (profiles->len, ==, 1);
  g_assert_cmpstr (kh_browser_profile_get_name (g_ptr_array_index (profiles, 0)), ==, name);
  g_assert_cmpstr (kh_browser_profile_get_browser (g_ptr_array_index (profiles, 0)), ==,
                   "firefox");
  g_assert_cmpstr (kh_browser_profile_get_executable (g_ptr_array_index (profiles, 0)), ==,
                   firefox);

  process = kh_browser_profile_launch (g_ptr_array_index (profiles, 0), URL, &error);
  g_assert_no_error (error);
  g_subprocess_wait_check (process, NULL, &error);
  g_assert_no_error (error);

  g_file_get_contents (args_file, &args, NULL, &error);
  g_assert_no_error (error);
  expected = g_strdup_printf ("-P\n%s\n%s\n", name, URL);
  g_assert_cmpstr (args, ==, expected);
  g_assert_false (g_file_test ("pwned", G_FILE_TEST_EXISTS));
}

static void
remember (GVariant   **choices,
          const char  *client_label,
          const char  *id)
{
  GVariant *next = g_variant_ref_sink (kh_browser_profile_remember_choice (*choices,
                                                                           client_label, id));

  g_variant_unref (*choices);
  *choices = next;
}

static void
test_choice (void)
{
  g_autoptr(GVariant) choices = g_variant_ref_sink (g_variant_new_parsed ("@a{ss} {}"));
  g_autofree char *id = NULL;

  g_assert_null (kh_browser_profile_lookup_choice (choices, "Shop A"));

  remember (&choices, "Shop A", "chromium:Profile 3");
  remember (&choices, "Shop B", "firefox:b.shop");
  remember (&choices, NULL, "chromium:Default");
  id = kh_browser_profile_lookup_choice (choices, "Shop A");
  g_assert_cmpstr (id, ==, "chromium:Profile 3");
  g_clear_pointer (&id, g_free);
  id = kh_browser_profile_lookup_choice (choices, "");
  g_assert_cmpstr (id, ==, "chromium:Default");
  g_clear_pointer (&id, g_free);
  g_assert_null (kh_browser_profile_lookup_choice (choices, "Shop C"));

  /* A new choice replaces the old one; the system browser forgets the label. */
  remember (&choices, "Shop A", "firefox:b.shop");
  id = kh_browser_profile_lookup_choice (choices, "Shop A");
  g_assert_cmpstr (id, ==, "firefox:b.shop");
  g_clear_pointer (&id, g_free);
  remember (&choices, "Shop B", NULL);
  g_assert_null (kh_browser_profile_lookup_choice (choices, "Shop B"));
  g_assert_cmpuint (g_variant_n_children (choices), ==, 2);
  g_assert_true (g_variant_is_of_type (choices, G_VARIANT_TYPE ("a{ss}")));
}

/* The async discovery reads this process's own places (the test's isolated XDG dirs). */
static void
test_discover_async (void)
{
  GAsyncResult *pending = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  g_autoptr(GPtrArray) direct = NULL;
  g_autoptr(GError) error = NULL;
  KhBrowserPlaces places;

  kh_browser_places_init (&places);
  g_assert_cmpstr (places.config_dir, ==, g_get_user_config_dir ());
  direct = kh_browser_profile_discover (&places);

  kh_browser_profile_discover_async (NULL, kh_test_store_result_cb, &pending);
  result = kh_test_wait_result (&pending, 10000);
  profiles = kh_browser_profile_discover_finish (result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (profiles->len, ==, direct->len);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add ("/keyhold/browser-profile/" path, Fixture, NULL, fixture_set_up, func, \
              fixture_tear_down)
  ADD ("chromium", test_chromium);
  ADD ("not-installed", test_not_installed);
  ADD ("chromium-malformed", test_chromium_malformed);
  ADD ("firefox", test_firefox);
  ADD ("firefox-malformed", test_firefox_malformed);
  ADD ("firefox-xdg", test_firefox_xdg);
  ADD ("desktop-file", test_desktop_file);
  ADD ("flatpak", test_flatpak);
  ADD ("unsafe-url", test_unsafe_url);
  ADD ("launch", test_launch);
#undef ADD
  g_test_add_func ("/keyhold/browser-profile/choice", test_choice);
  g_test_add_func ("/keyhold/browser-profile/discover-async", test_discover_async);

  return g_test_run ();
}
