/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-pg.c: the private PostgreSQL cluster of a test binary (see kh-test-pg.h). */

#define G_LOG_DOMAIN "kh-test-pg"

#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kh-test-pg.h"

#include "kh-team-private.h"

#include "kh-test-util.h"

#define DEBIAN_BINDIR "/usr/lib/postgresql/15/bin"
/* The unprivileged user that runs the cluster when the tests run as root. */
#define CLUSTER_USER "nobody"

struct _KhTestPg {
  char        *bindir;
  char        *dir;
  char        *data_dir;
  guint        port;
  gboolean     as_root;
  GSubprocess *watchdog;
  guint        n_databases;
};

static char *
find_bindir (void)
{
  const char *env = g_getenv ("KEYHOLD_TEST_PG_BINDIR");
  g_autofree char *initdb = NULL;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  if (g_file_test (DEBIAN_BINDIR "/initdb", G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (DEBIAN_BINDIR);
  initdb = g_find_program_in_path ("initdb");
  if (initdb != NULL)
    return g_path_get_dirname (initdb);
  return NULL;
}

static gboolean
has_runuser (void)
{
  g_autofree char *path = g_find_program_in_path ("runuser");

  return path != NULL || g_file_test ("/usr/sbin/runuser", G_FILE_TEST_IS_EXECUTABLE);
}

gboolean
kh_test_pg_available (char **why_out)
{
  g_autofree char *bindir = find_bindir ();
  const char *programs[] = { "initdb", "pg_ctl", "postgres" };

  for (gsize i = 0; i < G_N_ELEMENTS (programs); i++)
    {
      g_autofree char *path = bindir ? g_build_filename (bindir, programs[i], NULL) : NULL;

      if (path == NULL || !g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        {
          if (why_out != NULL)
            *why_out = g_strdup_printf ("PostgreSQL's %s is not installed (apt-get install "
                                        "postgresql, or set KEYHOLD_TEST_PG_BINDIR)", programs[i]);
          return FALSE;
        }
    }
  if (geteuid () == 0 && !has_runuser ())
    {
      if (why_out != NULL)
        *why_out = g_strdup ("running as root without runuser to start PostgreSQL as nobody");
      return FALSE;
    }
  return TRUE;
}

void
kh_test_pg_skip_unless_available (void)
{
  g_autofree char *why = NULL;

  if (kh_test_pg_available (&why))
    return;
  g_print ("1..0 # SKIP %s\n", why);
  exit (0);
}

/* argv of a cluster program: through runuser as nobody when we are root. */
static GPtrArray *
cluster_argv (KhTestPg   *pg,
              const char *program)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  if (pg->as_root)
    {
      char *runuser = g_find_program_in_path ("runuser");

      g_ptr_array_add (argv, runuser ? runuser : g_strdup ("/usr/sbin/runuser"));
      g_ptr_array_add (argv, g_strdup ("-u"));
      g_ptr_array_add (argv, g_strdup (CLUSTER_USER));
      g_ptr_array_add (argv, g_strdup ("--"));
    }
  g_ptr_array_add (argv, g_build_filename (pg->bindir, program, NULL));
  return argv;
}

static void
run_cluster_program (KhTestPg   *pg,
                     GPtrArray  *argv,
                     gboolean    must_succeed)
{
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  g_ptr_array_add (argv, NULL);
  /* stdin from /dev/null and output captured: pg_ctl start hands the server a log file, so
   * nothing keeps the pipe open after pg_ctl exits. */
  proc = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                            &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  if (must_succeed && !g_subprocess_get_successful (proc))
    {
      g_autofree char *log_path = g_build_filename (pg->dir, "server.log", NULL);
      g_autofree char *log = NULL;

      g_file_get_contents (log_path, &log, NULL, NULL);
      g_printerr ("%s failed:\n%s\nserver log:\n%s\n", (char *) argv->pdata[0], out,
                  log ? log : "(none)");
      g_assert_not_reached ();
    }
}

static void
append_config (KhTestPg *pg)
{
  g_autofree char *conf_path = g_build_filename (pg->data_dir, "postgresql.conf", NULL);
  g_autofree char *conf = NULL;
  FILE *file;

  /* Speed over durability (a test cluster: no fsync; commits stay synchronous so that an
   * immediate stop, the "database down" cases, loses nothing committed), loopback only,
   * messages in English so that the client's error mapping sees the words it matches. */
  conf = g_strdup_printf ("\n# keyhold test cluster\n"
                          "listen_addresses = '127.0.0.1'\n"
                          "port = %u\n"
                          "unix_socket_directories = '%s'\n"
                          "fsync = off\n"
                          "full_page_writes = off\n"
                          "max_connections = 80\n"
                          "shared_buffers = 16MB\n"
                          "password_encryption = 'scram-sha-256'\n"
                          "lc_messages = 'C'\n",
                          pg->port, pg->dir);
  file = fopen (conf_path, "a");
  g_assert_nonnull (file);
  g_assert_cmpint (fputs (conf, file), >=, 0);
  g_assert_cmpint (fclose (file), ==, 0);
}

/* The watchdog: sh waiting for EOF on its stdin, which only this process holds. When this
 * process ends, however it ends, the pipe closes and the watchdog stops the cluster and removes
 * its directory. It ignores the signals meson sends the process group on a timeout. */
static void
spawn_watchdog (KhTestPg *pg)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) pg_ctl = cluster_argv (pg, "pg_ctl");
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, g_strdup ("/bin/sh"));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup ("trap '' TERM INT HUP; cat >/dev/null; dir=$1; shift; "
                                   "\"$@\" stop -D \"$dir/data\" -m immediate -w "
                                   ">/dev/null 2>&1; rm -rf \"$dir\""));
  g_ptr_array_add (argv, g_strdup ("kh-test-pg-watchdog"));
  g_ptr_array_add (argv, g_strdup (pg->dir));
  for (guint i = 0; i < pg_ctl->len; i++)
    g_ptr_array_add (argv, g_strdup (pg_ctl->pdata[i]));
  g_ptr_array_add (argv, NULL);

  pg->watchdog = g_subprocess_newv ((const char * const *) argv->pdata,
                                    G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                    G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                    G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                    &error);
  g_assert_no_error (error);
}

KhTestPg *
kh_test_pg_new (void)
{
  KhTestPg *pg = g_new0 (KhTestPg, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) initdb = NULL;

  pg->bindir = find_bindir ();
  g_assert_nonnull (pg->bindir);
  pg->as_root = geteuid () == 0;
  pg->port = kh_test_free_port ();
  /* Not under the test's own tmp dir: that one is 0700 and root's, which nobody cannot enter. */
  pg->dir = g_dir_make_tmp ("keyhold-pg-XXXXXX", &error);
  g_assert_no_error (error);
  pg->data_dir = g_build_filename (pg->dir, "data", NULL);
  spawn_watchdog (pg);

  if (pg->as_root)
    {
      struct passwd *user = getpwnam (CLUSTER_USER);

      g_assert_nonnull (user);
      g_assert_cmpint (chown (pg->dir, user->pw_uid, user->pw_gid), ==, 0);
    }

  initdb = cluster_argv (pg, "initdb");
  g_ptr_array_add (initdb, g_strdup ("-D"));
  g_ptr_array_add (initdb, g_strdup (pg->data_dir));
  g_ptr_array_add (initdb, g_strdup ("-U"));
  g_ptr_array_add (initdb, g_strdup ("postgres"));
  g_ptr_array_add (initdb, g_strdup ("--auth-local=trust"));
  g_ptr_array_add (initdb, g_strdup ("--auth-host=scram-sha-256"));
  g_ptr_array_add (initdb, g_strdup ("--encoding=UTF8"));
  g_ptr_array_add (initdb, g_strdup ("--locale=C"));
  g_ptr_array_add (initdb, g_strdup ("--no-sync"));
  g_ptr_array_add (initdb, g_strdup ("--no-instructions"));
  run_cluster_program (pg, initdb, TRUE);
  append_config (pg);
  kh_test_pg_start (pg);
  return pg;
}

void
kh_test_pg_start (KhTestPg *pg)
{
  g_autoptr(GPtrArray) argv = cluster_argv (pg, "pg_ctl");

  g_ptr_array_add (argv, g_strdup ("start"));
  g_ptr_array_add (argv, g_strdup ("-D"));
  g_ptr_array_add (argv, g_strdup (pg->data_dir));
  g_ptr_array_add (argv, g_strdup ("-l"));
  g_ptr_array_add (argv, g_build_filename (pg->dir, "server.log", NULL));
  g_ptr_array_add (argv, g_strdup ("-w"));
  g_ptr_array_add (argv, g_strdup ("-t"));
  g_ptr_array_add (argv, g_strdup ("120"));
  run_cluster_program (pg, argv, TRUE);
}

void
kh_test_pg_stop (KhTestPg *pg)
{
  g_autoptr(GPtrArray) argv = cluster_argv (pg, "pg_ctl");

  g_ptr_array_add (argv, g_strdup ("stop"));
  g_ptr_array_add (argv, g_strdup ("-D"));
  g_ptr_array_add (argv, g_strdup (pg->data_dir));
  g_ptr_array_add (argv, g_strdup ("-m"));
  g_ptr_array_add (argv, g_strdup ("immediate"));
  g_ptr_array_add (argv, g_strdup ("-w"));
  run_cluster_program (pg, argv, TRUE);
}

void
kh_test_pg_free (KhTestPg *pg)
{
  g_autoptr(GError) error = NULL;

  if (pg == NULL)
    return;
  /* Closing the watchdog's stdin makes it stop the cluster and remove the directory. */
  g_output_stream_close (g_subprocess_get_stdin_pipe (pg->watchdog), NULL, &error);
  g_assert_no_error (error);
  g_subprocess_wait (pg->watchdog, NULL, &error);
  g_assert_no_error (error);
  g_object_unref (pg->watchdog);
  g_free (pg->bindir);
  g_free (pg->dir);
  g_free (pg->data_dir);
  g_free (pg);
}

guint
kh_test_pg_get_port (KhTestPg *pg)
{
  return pg->port;
}

const char *
kh_test_pg_get_dir (KhTestPg *pg)
{
  return pg->dir;
}

PGconn *
kh_test_pg_connect (KhTestPg   *pg,
                    const char *role,
                    const char *password,
                    const char *dbname)
{
  g_autofree char *port = g_strdup_printf ("%u", pg->port);
  const char *keys[] = { "host", "port", "user", "password", "dbname", "connect_timeout", NULL };
  const char *values[] = { role ? "127.0.0.1" : pg->dir, port, role ? role : "postgres",
                           password, dbname ? dbname : "postgres", "10", NULL };
  PGconn *conn;

  conn = PQconnectdbParams (keys, values, FALSE);
  if (PQstatus (conn) != CONNECTION_OK)
    {
      g_printerr ("could not connect as %s: %s", role ? role : "postgres", PQerrorMessage (conn));
      g_assert_not_reached ();
    }
  return conn;
}

void
kh_test_pg_exec (KhTestPg   *pg,
                 const char *dbname,
                 const char *sql)
{
  PGconn *conn = kh_test_pg_connect (pg, NULL, NULL, dbname);
  PGresult *result = PQexec (conn, sql);
  ExecStatusType status = PQresultStatus (result);

  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    {
      g_printerr ("%s: %s", sql, PQerrorMessage (conn));
      g_assert_not_reached ();
    }
  PQclear (result);
  PQfinish (conn);
}

char *
kh_test_pg_query_value (PGconn     *conn,
                        const char *sql,
                        char      **sqlstate_out)
{
  PGresult *result = PQexec (conn, sql);
  ExecStatusType status = PQresultStatus (result);
  char *value = NULL;

  if (status == PGRES_TUPLES_OK && PQntuples (result) > 0 && PQnfields (result) > 0)
    value = g_strdup (PQgetvalue (result, 0, 0));
  else if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
    value = g_strdup ("");
  else if (sqlstate_out != NULL)
    *sqlstate_out = g_strdup (PQresultErrorField (result, PG_DIAG_SQLSTATE));
  PQclear (result);
  return value;
}

char *
kh_test_pg_create_database (KhTestPg   *pg,
                            const char *prefix)
{
  char *name = g_strdup_printf ("%s_%u", prefix, ++pg->n_databases);
  g_autofree char *sql = g_strdup_printf ("CREATE DATABASE %s", name);

  kh_test_pg_exec (pg, NULL, sql);
  return name;
}

void
kh_test_pg_create_role (KhTestPg   *pg,
                        const char *role,
                        const char *password,
                        gboolean    creator,
                        const char *dbname)
{
  PGconn *conn = kh_test_pg_connect (pg, NULL, NULL, NULL);
  g_autofree char *ident = kh_team_sql_quote (conn, role, FALSE);
  g_autofree char *literal = kh_team_sql_quote (conn, password, TRUE);
  g_autofree char *sql = NULL;

  PQfinish (conn);
  sql = g_strdup_printf ("CREATE ROLE %s LOGIN PASSWORD %s%s", ident, literal,
                         creator ? " CREATEROLE CREATEDB" : "");
  kh_test_pg_exec (pg, NULL, sql);
  if (dbname != NULL)
    {
      g_autofree char *grant = g_strdup_printf ("GRANT CONNECT, CREATE ON DATABASE %s TO %s",
                                                dbname, ident);
      kh_test_pg_exec (pg, NULL, grant);
    }
}

char *
kh_test_pg_url (KhTestPg   *pg,
                const char *role,
                const char *dbname)
{
  /* A long timeout: under valgrind a SCRAM handshake takes seconds. */
  return g_strdup_printf ("postgresql://%s@127.0.0.1:%u/%s?connect_timeout=60", role, pg->port,
                          dbname);
}

char *
kh_test_pg_write_passfile (KhTestPg   *pg,
                           const char *role,
                           const char *password,
                           const char *dbname)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup_printf ("pgpass-%s-%s", role, dbname);
  char *path = g_build_filename (kh_test_get_tmpdir (), name, NULL);
  g_autofree char *line = g_strdup_printf ("127.0.0.1:%u:%s:%s:%s\n", pg->port, dbname, role,
                                           password);

  g_file_set_contents_full (path, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error);
  g_assert_no_error (error);
  return path;
}
