/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli-private.h: what keyhold-cli's command files share: the exit codes, the command table's
 * row, the argument and output layer (kh-cli-common.c) and each group's entry points, which the
 * dispatch table in kh-cli.c names. Not installed. */
#pragma once

#include <glib.h>

#include "kh-broker.h"
#include "kh-grant.h"
#include "kh-store.h"
#include "kh-team.h"

G_BEGIN_DECLS

#define EXIT_OK        0
#define EXIT_ERROR     1
#define EXIT_USAGE     2

typedef struct
{
  const char *name;
  const char *synopsis;
  const char *summary;
  int       (*run) (int argc, char **argv);
} KhCliCommand;

/* --key-file FILE, which every command accepts (a headless server's team key); NULL: the
 * keyring, or $KEYHOLD_TEAM_KEY_FILE. */
extern char *kh_cli_key_file_option;

/* ---- kh-cli-common.c ----------------------------------------------------------------------- */

int            kh_cli_report_error    (const GError    *error);
/* --json output of the list commands: array, pretty-printed, then a newline (array borrowed). */
void           kh_cli_print_json_array (JsonArray      *array);
int            kh_cli_usage_error     (GOptionContext  *context,
                                       const char      *message);
gboolean       kh_cli_parse_options   (GOptionContext  *context,
                                       int             *argc,
                                       char          ***argv,
                                       int             *exit_code);

typedef struct
{
  GAsyncResult *result;
  GCancellable *cancellable;
} KhCliWait;

void           kh_cli_wait_cb         (GObject         *object,
                                       GAsyncResult    *result,
                                       gpointer         user_data);
GAsyncResult  *kh_cli_wait_for_result (KhCliWait       *wait);

char          *kh_cli_read_stdin_line (const char      *prompt,
                                       gboolean         secret,
                                       GError         **error);

KhStore       *kh_cli_open_store      (GError         **error);
gboolean       kh_cli_open_session    (KhStore        **store_out,
                                       KhTeam         **team_out,
                                       GError         **error);
gboolean       kh_cli_open_team       (KhStore        **store_out,
                                       KhTeam         **team_out,
                                       int             *exit_code);
KhBroker      *kh_cli_new_broker      (KhStore         *store,
                                       KhTeam          *team,
                                       gboolean         client_now);

gboolean       kh_cli_parse_type      (const char      *id,
                                       KhAccountType   *out,
                                       GError         **error);
char          *kh_cli_format_expiry   (gint64           when);

/* ---- one entry point per command (and per command group) ------------------------------------ */

/* kh-cli-apps.c */
int kh_cli_cmd_app           (int argc, char **argv);
/* kh-cli-authorize.c */
int kh_cli_cmd_authorize     (int argc, char **argv);
int kh_cli_cmd_browsers      (int argc, char **argv);
int kh_cli_cmd_link          (int argc, char **argv);
int kh_cli_cmd_complete      (int argc, char **argv);
int kh_cli_cmd_quick_connect (int argc, char **argv);
/* kh-cli-grants.c */
int kh_cli_cmd_list          (int argc, char **argv);
int kh_cli_cmd_status        (int argc, char **argv);
int kh_cli_cmd_shops         (int argc, char **argv);
int kh_cli_cmd_renewal       (int argc, char **argv);
int kh_cli_cmd_revoke        (int argc, char **argv);
int kh_cli_cmd_remove        (int argc, char **argv);
int kh_cli_cmd_history       (int argc, char **argv);
int kh_cli_cmd_export        (int argc, char **argv);
/* kh-cli-tokens.c */
int kh_cli_cmd_token         (int argc, char **argv);
int kh_cli_cmd_refresh       (int argc, char **argv);
int kh_cli_cmd_recover       (int argc, char **argv);
/* kh-cli-team.c */
int kh_cli_cmd_team          (int argc, char **argv);
int kh_cli_cmd_share         (int argc, char **argv);
int kh_cli_cmd_unshare       (int argc, char **argv);
int kh_cli_cmd_audit         (int argc, char **argv);

G_END_DECLS
