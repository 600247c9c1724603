/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-pg.h: a private PostgreSQL cluster for one test binary. initdb into a fresh temporary
 * directory (as "nobody" through runuser when the tests run as root, since PostgreSQL refuses to
 * run as root), listening on 127.0.0.1 only on a free port, with its unix socket in that
 * directory, trust for the socket (the fixture's superuser "postgres") and scram-sha-256 for
 * TCP (so a wrong password is a real authentication failure). A watchdog process stops the
 * cluster (pg_ctl stop -m immediate) and removes the directory when the test process ends in
 * any way, including a failed assertion or SIGKILL. */
#pragma once

#include <glib.h>
#include <libpq-fe.h>

G_BEGIN_DECLS

typedef struct _KhTestPg KhTestPg;

/* TRUE when initdb, pg_ctl and postgres are installed ($KEYHOLD_TEST_PG_BINDIR, Debian's
 * /usr/lib/postgresql/15/bin, or PATH); else FALSE and *why_out says what is missing. */
gboolean     kh_test_pg_available      (char        **why_out);
/* Skips the whole test binary with a TAP plan "1..0 # SKIP ..." and exits when PostgreSQL is not
 * installed. Call first in main. */
void         kh_test_pg_skip_unless_available (void);

/* initdb + start; asserts on failure (the server log is printed). */
KhTestPg    *kh_test_pg_new            (void);
/* Stops the cluster and removes its directory (also done by the watchdog if never called). */
void         kh_test_pg_free           (KhTestPg     *pg);

guint        kh_test_pg_get_port       (KhTestPg     *pg);
/* The directory of the cluster (its socket is there). */
const char  *kh_test_pg_get_dir        (KhTestPg     *pg);

/* Creates a fresh database (name prefix + counter) owned by the superuser; returns its name. */
char        *kh_test_pg_create_database (KhTestPg    *pg,
                                          const char  *prefix);
/* Creates a LOGIN role with this password (CREATEROLE and CREATEDB when creator is TRUE,
 * CONNECT and CREATE on dbname when dbname is given). */
void         kh_test_pg_create_role    (KhTestPg     *pg,
                                        const char   *role,
                                        const char   *password,
                                        gboolean      creator,
                                        const char   *dbname);
/* "postgresql://ROLE@127.0.0.1:PORT/DBNAME?connect_timeout=60": what a member would type. */
char        *kh_test_pg_url            (KhTestPg     *pg,
                                        const char   *role,
                                        const char   *dbname);
/* Writes a 0600 passfile with one line for role@dbname and returns its path. */
char        *kh_test_pg_write_passfile (KhTestPg     *pg,
                                        const char   *role,
                                        const char   *password,
                                        const char   *dbname);

/* Runs sql (no parameters) as the superuser in dbname; asserts it succeeds. */
void         kh_test_pg_exec           (KhTestPg     *pg,
                                        const char   *dbname,
                                        const char   *sql);
/* A connection as the superuser (role NULL, over the socket) or as role with password over TCP;
 * asserts it succeeds. */
PGconn      *kh_test_pg_connect        (KhTestPg     *pg,
                                        const char   *role,
                                        const char   *password,
                                        const char   *dbname);
/* The first column of the first row of sql run by conn, or NULL when the query failed (then
 * *sqlstate_out, if given, receives the SQLSTATE). */
char        *kh_test_pg_query_value    (PGconn       *conn,
                                        const char   *sql,
                                        char        **sqlstate_out);

/* "The database is down": pg_ctl stop -m immediate, and start again (same port, same data). */
void         kh_test_pg_stop           (KhTestPg     *pg);
void         kh_test_pg_start          (KhTestPg     *pg);

G_END_DECLS
