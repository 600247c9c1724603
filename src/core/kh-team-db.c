/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-db.c: talking to the team database: libpq and server messages turned into the
 * team errors, parameter lists (text, or bytea as binary), statements on the locked connection
 * and reading their results. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <string.h>

/* Longest part of a server message kept in an error: the server is not trusted to be brief. */
#define SERVER_TEXT_MAX 200

/* The first line of a libpq or server message, valid UTF-8 without control characters (no
 * terminal escapes from a hostile server), bounded. */
char *
kh_team_first_line (const char *text)
{
  const char *start = text ? text : "";
  const char *end;
  g_autofree char *line = NULL;
  g_autofree char *valid = NULL;
  GString *out;

  if (g_str_has_prefix (start, "ERROR:  ") || g_str_has_prefix (start, "FATAL:  "))
    start += 8;
  end = strchr (start, '\n');
  line = end ? g_strndup (start, end - start) : g_strdup (start);
  valid = g_utf8_make_valid (line, -1);
  out = g_string_new (NULL);
  for (const char *p = valid; *p != '\0' && g_utf8_strlen (out->str, -1) < SERVER_TEXT_MAX;
       p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      g_string_append_unichar (out, g_unichar_iscntrl (c) ? ' ' : c);
    }
  return g_string_free (out, FALSE);
}

/* ---- errors ----------------------------------------------------------------------------- */

void
kh_team_set_unreachable (GError    **error,
                         const char *detail)
{
  g_autofree char *line = kh_team_first_line (detail);

  g_set_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE,
               _("The team database does not answer (%s): check that it is running and the "
                 "host and port of the URL, then try again"), line);
}

/* A failed connection attempt, as one of the team errors. libpq gives no SQLSTATE here, so the
 * words of its (English, client-side or C-locale server) message decide. */
void
kh_team_set_connect_error (GError    **error,
                           PGconn     *conn,
                           const char *role)
{
  const char *message = PQerrorMessage (conn);
  g_autofree char *line = kh_team_first_line (message);

  if (strstr (message, "password authentication failed") != NULL ||
      strstr (message, "no password supplied") != NULL ||
      strstr (message, "SCRAM authentication") != NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_TEAM_AUTH,
                 _("The team database refused the password of role “%s”: give the right "
                   "password (on stdin, or in ~/.pgpass)"), role ? role : "");
  else if (strstr (message, "database \"") != NULL && strstr (message, "does not exist") != NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_TEAM_URL,
                 _("The team database does not exist (%s): check the database name in the "
                   "URL"), line);
  else if (strstr (message, "could not translate host name") != NULL ||
           strstr (message, "invalid connection option") != NULL ||
           strstr (message, "invalid port") != NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_TEAM_URL,
                 _("The team database URL does not work (%s): check it"), line);
  else if (strstr (message, "pg_hba.conf") != NULL ||
           strstr (message, "permission denied") != NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
                 _("Role “%s” may not use the team database (%s): ask an admin"),
                 role ? role : "", line);
  else
    kh_team_set_unreachable (error, message);
}

/* A failed query: connection lost (transient), access refused (RLS or privileges), or else. */
static void
set_query_error (KhTeam      *self,
                 PGresult    *result,
                 GError     **error)
{
  const char *sqlstate = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
  g_autofree char *line = kh_team_first_line (result ? PQresultErrorMessage (result)
                                                     : PQerrorMessage (self->conn));

  if (PQstatus (self->conn) != CONNECTION_OK || sqlstate == NULL ||
      g_str_has_prefix (sqlstate, "08") || g_str_has_prefix (sqlstate, "57P") ||
      g_str_equal (sqlstate, "40001") || g_str_equal (sqlstate, "40P01"))
    {
      /* Drop the connection: the next call makes a new one. */
      g_clear_pointer (&self->conn, PQfinish);
      self->checked = FALSE;
      kh_team_set_unreachable (error, line);
    }
  else if (g_str_equal (sqlstate, "42501"))
    g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
                 _("Role “%s” may not do this in the team (%s): ask an admin for access to "
                   "the client"), self->role, line);
  else if (g_str_equal (sqlstate, "3F000") || g_str_equal (sqlstate, "42P01"))
    g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                         _("The database has no Keyhold team: check the URL, or create the "
                           "team with “keyhold-cli team create”"));
  else
    g_set_error (error, KH_ERROR, KH_ERROR_FAILED, _("The team database refused: %s"), line);
}

/* ---- queries ---------------------------------------------------------------------------- */

void
kh_team_param_text (Params     *p,
                    const char *value)
{
  g_assert (p->n < (int) G_N_ELEMENTS (p->values));
  p->values[p->n] = value;
  p->lengths[p->n] = 0;
  p->formats[p->n] = 0;
  p->n++;
}

void
kh_team_param_bytes (Params *p,
                     GBytes *bytes)
{
  gsize len = 0;

  g_assert (p->n < (int) G_N_ELEMENTS (p->values));
  p->values[p->n] = g_bytes_get_data (bytes, &len);
  p->lengths[p->n] = (int) len;
  p->formats[p->n] = 1;
  p->n++;
}

/* result if the statement succeeded; else NULL with the error (and result freed). */
static PGresult *
check_result (KhTeam    *self,
              PGresult  *result,
              GError   **error)
{
  ExecStatusType status = PQresultStatus (result);

  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    return result;
  set_query_error (self, result, error);
  PQclear (result);
  return NULL;
}

/* Runs one statement on the locked connection. NULL with an error unless it succeeded. */
PGresult *
kh_team_exec_locked (KhTeam      *self,
                     const char  *sql,
                     Params      *params,
                     GError     **error)
{
  g_assert (self->conn != NULL);
  return check_result (self,
                       PQexecParams (self->conn, sql, params ? params->n : 0, NULL,
                                     params ? params->values : NULL,
                                     params ? params->lengths : NULL,
                                     params ? params->formats : NULL, 0),
                       error);
}

/* A statement without parameters (the simple query protocol, which also runs the several
 * statements of a migration): only for SQL of this file, never for text from input. */
gboolean
kh_team_exec_simple_locked (KhTeam      *self,
                            const char  *sql,
                            GError     **error)
{
  kh_autoresult PGresult *result = check_result (self, PQexec (self->conn, sql), error);

  return result != NULL;
}

void
kh_team_rollback_locked (KhTeam *self)
{
  if (self->conn != NULL && PQtransactionStatus (self->conn) != PQTRANS_IDLE)
    {
      PGresult *result = PQexec (self->conn, "ROLLBACK");

      PQclear (result);
    }
}

GBytes *
kh_team_result_bytea (PGresult *result,
                      int       row,
                      int       column)
{
  size_t len = 0;
  unsigned char *data;
  GBytes *bytes;

  if (PQgetisnull (result, row, column))
    return NULL;
  data = PQunescapeBytea ((const unsigned char *) PQgetvalue (result, row, column), &len);
  if (data == NULL)
    return NULL;
  bytes = g_bytes_new (data, len);
  PQfreemem (data);
  return bytes;
}

const char *
kh_team_result_text (PGresult *result,
                     int       row,
                     int       column)
{
  return PQgetisnull (result, row, column) ? NULL : PQgetvalue (result, row, column);
}
