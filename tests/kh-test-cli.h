/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-cli.h: the fixture of the end-to-end suites that run the real programs (test-cli,
 * test-concurrency, test-leak-audit): a keyhold-sandbox process of their own, a private data dir
 * and keyring store name, a free redirect port, and keyhold-cli runs that see only those. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct
{
  GSubprocess *sandbox;
  guint        sandbox_port;
  char        *origin_map;
  guint        redirect_port;
  char        *redirect_uri;     /* http://localhost:<redirect_port>/callback */
  char        *data_dir;
  char        *store;
  GHashTable  *env;              /* extra environment of keyhold-cli runs; NULL value: unset */
  gboolean     quiet;            /* TRUE: kh_test_cli_finish never puts the output in the log */
} KhTestCli;

/* Starts keyhold-sandbox with sandbox_args (NULL-terminated, may be NULL) and picks a data dir
 * under the test's tmp dir and a store name, both "<name>-..." and unique in this process. */
void                 kh_test_cli_set_up          (KhTestCli           *cli,
                                                  const char          *name,
                                                  const char * const  *sandbox_args);
/* Stops the sandbox and frees what set_up made. */
void                 kh_test_cli_tear_down       (KhTestCli           *cli);
/* Every keyhold-cli started from now on gets variable=value; value NULL unsets it. */
void                 kh_test_cli_setenv          (KhTestCli           *cli,
                                                  const char          *variable,
                                                  const char          *value);

/* A request to the sandbox (its control endpoints under /_sandbox/); returns the HTTP status. */
guint                kh_test_cli_sandbox_request (KhTestCli           *cli,
                                                  const char          *method,
                                                  const char          *path,
                                                  const char          *json_body,
                                                  char               **body_out);
/* The sandbox's ledger: every secret it handed out, and its authorizations and counters. */
JsonNode            *kh_test_cli_ledger          (KhTestCli           *cli);
/* Registers an app with the sandbox (family "shop" or "business"), redirecting to
 * cli->redirect_uri. service_id and scopes (NULL-terminated) may be NULL. */
void                 kh_test_cli_register_app    (KhTestCli           *cli,
                                                  const char          *family,
                                                  const char          *app_key,
                                                  const char          *app_secret,
                                                  const char          *service_id,
                                                  const char * const  *scopes);

/* A launcher for keyhold-cli: the sandbox's origin map, the data dir and store, LC_ALL=C.UTF-8,
 * G_DEBUG=fatal-warnings, the kh_test_cli_setenv variables; the child dies with the test. */
GSubprocessLauncher *kh_test_cli_launcher        (KhTestCli           *cli,
                                                  GSubprocessFlags     flags);
/* Starts this build's keyhold-cli with args (NULL-terminated), stdin, stdout and stderr piped. */
GSubprocess         *kh_test_cli_spawn           (KhTestCli           *cli,
                                                  const char * const  *args);
/* Writes stdin_text, reads stdout and stderr to the end and, unless cli->quiet, logs them with
 * the exit status; returns the exit status, or -1 when the process did not exit normally. */
int                  kh_test_cli_finish          (KhTestCli           *cli,
                                                  GSubprocess         *process,
                                                  const char          *stdin_text,
                                                  char               **stdout_out,
                                                  char               **stderr_out);
/* kh_test_cli_spawn, then kh_test_cli_finish. */
int                  kh_test_cli_run             (KhTestCli           *cli,
                                                  const char          *stdin_text,
                                                  char               **stdout_out,
                                                  char               **stderr_out,
                                                  const char * const  *args);
/* The same with the arguments inline: kh_test_cli_run_args (cli, NULL, &out, NULL, "list"). */
#define kh_test_cli_run_args(cli, stdin_text, stdout_out, stderr_out, ...) \
  kh_test_cli_run ((cli), (stdin_text), (stdout_out), (stderr_out), \
                   (const char * const []) { __VA_ARGS__, NULL })

/* Plays the account holder's browser on a consent page link: approves it (auto=approve) and
 * returns the redirect's Location, the URL a user would paste back, without following it. */
char                *kh_test_cli_approve         (const char          *url);
/* The rest of the first line of output that starts with prefix ("GRANT: "), or NULL. */
char                *kh_test_line_value          (const char          *output,
                                                  const char          *prefix);

G_END_DECLS
