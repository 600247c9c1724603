/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-util.h: the small helper library every test links. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "kh-app-profile.h"
#include "kh-store.h"
#include "kh-token-client.h"

G_BEGIN_DECLS

/* g_test_init plus Keyhold's environment: a fresh temporary KEYHOLD_DATA_DIR and
 * XDG_RUNTIME_DIR-like dir under the test's tmp dir, a unique KEYHOLD_STORE name (so keyring
 * items of concurrent tests never meet), no origin map. Removes the temp dir at exit. */
void         kh_test_init                 (int           *argc,
                                           char        ***argv);
/* The per-process temporary directory created by kh_test_init. */
const char  *kh_test_get_tmpdir           (void);

/* Iterates the default main context until condition(user_data) is TRUE; fails the test after
 * timeout_ms. Never sleeps. */
typedef gboolean (*KhTestCondition) (gpointer user_data);
void         kh_test_wait_until           (KhTestCondition condition,
                                           gpointer        user_data,
                                           guint           timeout_ms);
/* TRUE when the test runs under valgrind (.ci/valgrind), which serializes threads. */
gboolean     kh_test_under_valgrind       (void);
/* Convenience: waits until *flag is TRUE. */
void         kh_test_wait_flag            (gboolean      *flag,
                                           guint          timeout_ms);
/* Waits for an async result: iterates until *result is set, then returns it (transfer full). */
GAsyncResult *kh_test_wait_result         (GAsyncResult **result,
                                           guint          timeout_ms);
/* A GAsyncReadyCallback that stores a ref of res in *(GAsyncResult **) user_data. */
void         kh_test_store_result_cb      (GObject       *source,
                                           GAsyncResult  *res,
                                           gpointer       user_data);

/* The port a listening SoupServer got (without soup_server_get_uris, which leaks in 3.2). */
typedef struct _SoupServer SoupServer;
guint        kh_test_server_get_port      (SoupServer    *server);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
guint        kh_test_free_port            (void);

/* One blocking request to a loopback URL (the sandbox's control endpoints, a consent page),
 * never following a redirect: the status, and if asked the body and the Location header. A JSON
 * body is sent when json_body is not NULL. session may be NULL for a fresh one. */
typedef struct _SoupSession SoupSession;
guint        kh_test_http_request         (SoupSession   *session,
                                           const char    *method,
                                           const char    *url,
                                           const char    *json_body,
                                           char         **body_out,
                                           char         **location_out);

/* Blocking HTTP GET with libsoup on a private context, following redirects only to loopback
 * hosts; returns the final status and, if body_out, the body. For "the browser" in tests. */
guint        kh_test_http_get             (const char    *url,
                                           gboolean       follow_redirects,
                                           char         **body_out,
                                           char         **final_url_out);

/* A path inside the build tree (KEYHOLD_TEST_BUILDDIR), e.g. "src/cli/keyhold-cli". */
char        *kh_test_build_path           (const char    *relative);
/* Headless Chromium as the tests run it: as root, with no GPU and no network but loopback. */
#define KH_TEST_CHROMIUM_FLAGS "--headless --no-sandbox --disable-gpu --disable-quic " \
                               "--no-first-run --disable-background-networking " \
                               "--disable-component-update --disable-sync"
/* Writes an executable script at path that plays a browser: it writes its arguments, one a line,
 * to args_file, then runs headless Chromium (the program at chromium) on them, quietly. */
void         kh_test_write_chromium_wrapper (const char  *path,
                                             const char  *chromium,
                                             const char  *args_file);
/* Asserts that the wrapper was started with that Chromium profile (--user-data-dir and
 * --profile-directory first, as Keyhold passes them) and that Chromium opened it. */
void         kh_test_assert_chromium_profile (const char *args_file,
                                              const char *user_data_dir,
                                              const char *directory);
/* A GSpawnChildSetupFunc: the child gets SIGTERM when the test process dies, so an aborted test
 * never leaves a sandbox or CLI running (and holding the test log's pipes). */
void         kh_test_die_with_parent      (gpointer       user_data);
/* Starts this build's keyhold-sandbox program on a free loopback port with extra_args
 * (NULL-terminated, may be NULL), waits for it to announce its origin map, and returns it.
 * port_out and origin_map_out (both optional) receive what it announced. It dies with the test;
 * stop it with g_subprocess_force_exit + g_subprocess_wait. */
GSubprocess *kh_test_sandbox_spawn        (const char * const *extra_args,
                                           guint         *port_out,
                                           char         **origin_map_out);

/* A count from the environment variable name (1 or more), or fallback when it is unset or not
 * a count: the torture suites' knobs. */
guint        kh_test_env_uint             (const char    *name,
                                           guint          fallback);

/* In a sandbox ledger (GET /_sandbox/ledger): the authorization that issued token (any of its
 * tokens), or NULL; and the entry of token among an authorization's tokens, or NULL. */
JsonObject  *kh_test_ledger_find_authorization (JsonNode   *ledger,
                                                const char *token);
JsonObject  *kh_test_ledger_find_token    (JsonObject    *authorization,
                                           const char    *token);

/* The value of the query parameter name of url (a redirect's Location); asserts it is there. */
char        *kh_test_query_value          (const char    *url,
                                           const char    *name);

/* A seller grant from a Shop authorization code, as `complete` makes one minus the shop list:
 * the code exchanged (blocking, on the default main context), the grant named and saved in
 * store. client_label and region may be NULL. *refresh_out (optional) gets the refresh token it
 * was issued. Asserts that all of it works. */
KhGrant     *kh_test_seed_seller          (KhStore       *store,
                                           KhTokenClient *client,
                                           KhAppProfile  *app,
                                           const char    *app_secret,
                                           const char    *code,
                                           const char    *display_name,
                                           const char    *client_label,
                                           const char    *region,
                                           char         **refresh_out);

#ifdef KH_TEST_WITH_SANDBOX
G_END_DECLS
#include "kh-sandbox.h"
G_BEGIN_DECLS
/* Starts an in-process sandbox on a free loopback port, and points the process-wide origin map
 * at it (kh_origin_map_set with kh_sandbox_dup_origin_map). */
KhSandbox   *kh_test_sandbox_start        (void);
#endif

G_END_DECLS
