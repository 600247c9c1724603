/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team.c: KhTeam, the team store in PostgreSQL (see kh-team.h for the contract and
 * kh-team-schema.c for the tables and their row-level security).
 *
 * Only sealed bytes, non-secret columns and the audit reach the database: every token set and
 * app secret is sealed here under the team key (kh-team-crypto.c) before a parameterised query
 * (PQexecParams, bytea as binary parameters) sends it. No SQL is built from input; the only
 * identifiers put into SQL text are role names, quoted with PQescapeIdentifier.
 *
 * The offline cache (<store dir>/team-cache/<grant>.json, 0600 in a 0700 directory) holds the
 * last row this machine read of a grant: the database's own ciphertext, nonce and key id, and
 * the non-secret grant. It is no weaker than the database: whoever can read it learns what any
 * reader of the database (its operator, a backup) already has, ciphertext that opens only with
 * the team key, which is in the keyring or the key file and never beside the cache. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-team-private.h"
#include "kh-util.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <libsecret/secret.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_VERSION 1
#define CACHE_VERSION 1
#define KEY_ITEM_VERSION 1
#define NOTIFY_CHANNEL "keyhold_grants"
#define DEFAULT_CONNECT_TIMEOUT "10"
#define PREFIX_MIN_LENGTH 6
#define KEY_CHECK_TEXT "keyhold-team-key-check"

struct _KhTeam
{
  GObject   parent_instance;

  /* owned */
  KhStore  *store;
  char     *store_dir;
  char     *config_path;
  char     *cache_dir;
  char     *conninfo;
  char     *team_id;
  char     *role;
  char     *key_file;        /* non-NULL: the key lives in this file, nothing in the keyring */
  guint8   *key;             /* kh_team_key_new */
  guint32   key_id;
  guint8   *box_secret;      /* kh_team_key_new; NULL for key-file members */
  guint8    box_public[KH_TEAM_BOX_PUBLIC_BYTES];
  char     *password;        /* given at create/join, or from the keyring; wiped */
  char     *last_error_message;
  GList    *watches;         /* Watch *, borrowed (their sources own them) */

  /* guarded by lock */
  GMutex    lock;
  PGconn   *conn;
  gboolean  checked;         /* meta read and the key verified on this connection */
  gboolean  is_admin;
  int       schema_version;
};

G_DEFINE_FINAL_TYPE (KhTeam, kh_team, G_TYPE_OBJECT)

/* ---- small helpers ------------------------------------------------------------------------ */

static void
secret_clear (char **secret)
{
  kh_team_secret_free (g_steal_pointer (secret));
}

#define kh_autowipe __attribute__ ((cleanup (secret_clear)))

static void
pq_clear (PGresult **result)
{
  g_clear_pointer (result, PQclear);
}

#define kh_autoresult __attribute__ ((cleanup (pq_clear)))

/* Longest part of a server message kept in an error: the server is not trusted to be brief. */
#define SERVER_TEXT_MAX 200

/* The first line of a libpq or server message, valid UTF-8 without control characters (no
 * terminal escapes from a hostile server), bounded. */
static char *
first_line (const char *text)
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

static char *
bytes_to_b64 (GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return g_base64_encode (data, len);
}

static GBytes *
b64_to_bytes (const char *text)
{
  guchar *data;
  gsize len = 0;

  if (text == NULL || *text == '\0')
    return NULL;
  data = g_base64_decode (text, &len);
  return g_bytes_new_take (data, len);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void
set_unreachable (GError    **error,
                 const char *detail)
{
  g_autofree char *line = first_line (detail);

  g_set_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE,
               _("The team database does not answer (%s): check that it is running and the "
                 "host and port of the URL, then try again"), line);
}

/* A failed connection attempt, as one of the team errors. libpq gives no SQLSTATE here, so the
 * words of its (English, client-side or C-locale server) message decide. */
static void
set_connect_error (GError    **error,
                   PGconn     *conn,
                   const char *role)
{
  const char *message = PQerrorMessage (conn);
  g_autofree char *line = first_line (message);

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
    set_unreachable (error, message);
}

/* A failed query: connection lost (transient), access refused (RLS or privileges), or else. */
static void
set_query_error (KhTeam      *self,
                 PGresult    *result,
                 GError     **error)
{
  const char *sqlstate = result ? PQresultErrorField (result, PG_DIAG_SQLSTATE) : NULL;
  g_autofree char *line = first_line (result ? PQresultErrorMessage (result)
                                             : PQerrorMessage (self->conn));

  if (PQstatus (self->conn) != CONNECTION_OK || sqlstate == NULL ||
      g_str_has_prefix (sqlstate, "08") || g_str_has_prefix (sqlstate, "57P") ||
      g_str_equal (sqlstate, "40001") || g_str_equal (sqlstate, "40P01"))
    {
      /* Drop the connection: the next call makes a new one. */
      g_clear_pointer (&self->conn, PQfinish);
      self->checked = FALSE;
      set_unreachable (error, line);
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

/* A parameter list: text values, or bytea as binary. */
typedef struct {
  const char *values[12];
  int         lengths[12];
  int         formats[12];
  int         n;
} Params;

static void
param_text (Params     *p,
            const char *value)
{
  g_assert (p->n < (int) G_N_ELEMENTS (p->values));
  p->values[p->n] = value;
  p->lengths[p->n] = 0;
  p->formats[p->n] = 0;
  p->n++;
}

static void
param_bytes (Params *p,
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
static PGresult *
exec_locked (KhTeam      *self,
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
static gboolean
exec_simple_locked (KhTeam      *self,
                    const char  *sql,
                    GError     **error)
{
  kh_autoresult PGresult *result = check_result (self, PQexec (self->conn, sql), error);

  return result != NULL;
}

static void
rollback_locked (KhTeam *self)
{
  if (self->conn != NULL && PQtransactionStatus (self->conn) != PQTRANS_IDLE)
    {
      PGresult *result = PQexec (self->conn, "ROLLBACK");

      PQclear (result);
    }
}

static GBytes *
get_bytea (PGresult *result,
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

static const char *
get_text (PGresult *result,
          int       row,
          int       column)
{
  return PQgetisnull (result, row, column) ? NULL : PQgetvalue (result, row, column);
}

/* ---- local files ------------------------------------------------------------------------ */

/* Writes a 0600 file in a 0700 folder, replacing it atomically (a temporary file renamed over
 * it). durable FALSE skips the fsync: for the offline cache, which `token` rewrites on every
 * read and which may lose a copy in a crash without harm. */
static gboolean
write_private_file (const char  *path,
                    const char  *contents,
                    gboolean     durable,
                    GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = NULL;
  g_autoptr(GError) local_error = NULL;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not create the folder %s: %s"), dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (durable)
    {
      if (g_file_set_contents_full (path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                    &local_error))
        return TRUE;
    }
  else
    {
      tmp = g_strdup_printf ("%s.%d-%08x.tmp", path, (int) getpid (), g_random_int ());
      if (g_file_set_contents_full (tmp, contents, -1, G_FILE_SET_CONTENTS_NONE, 0600,
                                    &local_error))
        {
          if (g_rename (tmp, path) == 0)
            return TRUE;
          g_set_error_literal (&local_error, G_FILE_ERROR, g_file_error_from_errno (errno),
                               g_strerror (errno));
        }
      g_unlink (tmp);
    }
  g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not write %s: %s"), path,
               local_error->message);
  return FALSE;
}

static JsonObject *
read_json_file (const char  *path,
                GError     **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(JsonNode) node = NULL;
  gsize length = 0;
  JsonObject *object;

  if (!g_file_get_contents (path, &contents, &length, error))
    return NULL;
  node = kh_json_parse (contents, length, error);
  if (node == NULL)
    return NULL;
  /* Not an object: NULL without an error; the callers say what the file was for. */
  object = kh_json_node_object (node);
  return object ? json_object_ref (object) : NULL;
}

char *
kh_team_dup_config_path (KhStore *store)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);

  dir = g_path_get_dirname (kh_store_get_index_path (store));
  return g_build_filename (dir, "team.json", NULL);
}

static gboolean
write_config (KhTeam  *self,
              GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  json_object_set_int_member (object, "v", CONFIG_VERSION);
  json_object_set_string_member (object, "conninfo", self->conninfo);
  json_object_set_string_member (object, "team_id", self->team_id);
  json_object_set_string_member (object, "role", self->role);
  json_object_set_int_member (object, "key_id", self->key_id);
  json_object_set_string_member (object, "key_source", self->key_file ? "file" : "keyring");
  node = json_node_init_object (json_node_alloc (), object);
  text = kh_json_to_string (node, TRUE);
  return write_private_file (self->config_path, text, TRUE, error);
}

/* ---- the key ------------------------------------------------------------------------------ */

/* The keyring item of the team key: {"v":1,"key_id":N,"key":B64,"box_public":B64,
 * "box_secret":B64}. */
static char *
key_item_text (KhTeam *self)
{
  g_autofree char *key = kh_team_b64_encode (self->key, KH_TEAM_KEY_BYTES);
  g_autofree char *pub = kh_team_b64_encode (self->box_public, KH_TEAM_BOX_PUBLIC_BYTES);
  g_autofree char *sec = kh_team_b64_encode (self->box_secret, KH_TEAM_BOX_SECRET_BYTES);
  char *text = g_strdup_printf ("{\"v\":%d,\"key_id\":%u,\"key\":\"%s\",\"box_public\":\"%s\","
                                "\"box_secret\":\"%s\"}",
                                KEY_ITEM_VERSION, self->key_id, key, pub, sec);

  kh_team_secret_free (g_steal_pointer (&key));
  kh_team_secret_free (g_steal_pointer (&sec));
  return text;
}

static gboolean
parse_key_item (KhTeam      *self,
                const char  *text,
                GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), NULL);
  JsonObject *object = node ? kh_json_node_object (node) : NULL;
  gint64 version = 0;
  gint64 key_id = 0;

  if (self->box_secret == NULL)
    self->box_secret = kh_team_key_new ();
  if (object == NULL || !kh_json_get_int (object, "v", &version) || version != KEY_ITEM_VERSION ||
      !kh_json_get_int (object, "key_id", &key_id) || key_id <= 0 || key_id > G_MAXUINT32 ||
      !kh_team_b64_decode (kh_json_get_string (object, "key"), self->key, KH_TEAM_KEY_BYTES) ||
      !kh_team_b64_decode (kh_json_get_string (object, "box_public"), self->box_public,
                           KH_TEAM_BOX_PUBLIC_BYTES) ||
      !kh_team_b64_decode (kh_json_get_string (object, "box_secret"), self->box_secret,
                           KH_TEAM_BOX_SECRET_BYTES))
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                           _("The team key is missing from the keyring or damaged: join the "
                             "team again with a join code from an admin"));
      return FALSE;
    }
  self->key_id = (guint32) key_id;
  return TRUE;
}

static gboolean
save_key_item (KhTeam  *self,
               GError **error)
{
  kh_autowipe char *text = key_item_text (self);
  g_autofree char *label = g_strdup_printf (_("Keyhold team key (%s)"), self->team_id);

  return kh_store_save_secret (self->store, KH_TEAM_KEY_KIND, self->team_id, label, text, error);
}

/* Reads a key file: a regular file owned by this user that nobody else may read, holding a
 * join code. */
static gboolean
read_key_file (const char  *path,
               char       **team_id_out,
               guint32     *key_id_out,
               guint8      *key_out,
               GError     **error)
{
  kh_autowipe char *contents = NULL;
  g_autoptr(GError) read_error = NULL;
  struct stat st;

  if (g_stat (path, &st) != 0)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY, _("Cannot read the key file %s: %s"),
                   path, g_strerror (saved));
      return FALSE;
    }
  if (!S_ISREG (st.st_mode) || (st.st_mode & 077) != 0 || st.st_uid != geteuid ())
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                   _("The key file %s may be read by others: make it yours alone with "
                     "“chmod 600 %s”"), path, path);
      return FALSE;
    }
  if (!g_file_get_contents (path, &contents, NULL, &read_error))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY, _("Cannot read the key file %s: %s"),
                   path, read_error->message);
      return FALSE;
    }
  return kh_team_join_code_decode (contents, team_id_out, key_id_out, key_out, error);
}

/* ---- the object ------------------------------------------------------------------------- */

typedef struct {
  KhTeam            *team;   /* borrowed: the watch ends in dispose */
  PGconn            *conn;
  GSource           *source;
  KhTeamChangedFunc  changed;
  gpointer           user_data;
  GDestroyNotify     notify;
} Watch;

static void
kh_team_dispose (GObject *object)
{
  KhTeam *self = KH_TEAM (object);

  while (self->watches != NULL)
    {
      Watch *watch = self->watches->data;

      g_source_destroy (watch->source);
    }

  G_OBJECT_CLASS (kh_team_parent_class)->dispose (object);
}

static void
kh_team_finalize (GObject *object)
{
  KhTeam *self = KH_TEAM (object);

  g_clear_pointer (&self->conn, PQfinish);
  g_clear_object (&self->store);
  g_free (self->store_dir);
  g_free (self->config_path);
  g_free (self->cache_dir);
  g_free (self->conninfo);
  g_free (self->team_id);
  g_free (self->role);
  g_free (self->key_file);
  g_free (self->last_error_message);
  kh_team_key_free (self->key);
  kh_team_key_free (self->box_secret);
  kh_team_secret_free (self->password);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (kh_team_parent_class)->finalize (object);
}

static void
kh_team_class_init (KhTeamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_team_dispose;
  object_class->finalize = kh_team_finalize;
}

static void
kh_team_init (KhTeam *self)
{
  g_mutex_init (&self->lock);
}

/* store NULL: a headless server (key file), which never touches the keyring. */
static KhTeam *
team_new (const char *store_dir,
          KhStore    *store)
{
  KhTeam *self = g_object_new (KH_TYPE_TEAM, NULL);

  self->store = store ? g_object_ref (store) : NULL;
  self->store_dir = g_strdup (store_dir);
  self->config_path = g_build_filename (self->store_dir, "team.json", NULL);
  self->cache_dir = g_build_filename (self->store_dir, "team-cache", NULL);
  self->key = kh_team_key_new ();
  return self;
}

/* ---- configuration ---------------------------------------------------------------------- */

gboolean
kh_team_check_conninfo (const char  *conninfo,
                        GError     **error)
{
  char *parse_error = NULL;
  PQconninfoOption *options;
  gboolean has_password = FALSE;

  if (conninfo == NULL || *conninfo == '\0')
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                           _("Give the team database as a URL, e.g. "
                             "postgresql://ROLE@HOST/DATABASE"));
      return FALSE;
    }
  options = PQconninfoParse (conninfo, &parse_error);
  if (options == NULL)
    {
      g_autofree char *line = first_line (parse_error);

      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_URL,
                   _("The team database URL does not work (%s): check it"),
                   line[0] ? line : "?");
      PQfreemem (parse_error);
      return FALSE;
    }
  for (PQconninfoOption *o = options; o->keyword != NULL; o++)
    if (g_str_equal (o->keyword, "password") && o->val != NULL && o->val[0] != '\0')
      has_password = TRUE;
  PQconninfoFree (options);
  if (has_password)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                           _("The team database URL contains a password: remove it; Keyhold "
                             "reads the password from stdin or ~/.pgpass"));
      return FALSE;
    }
  return TRUE;
}

const char *
kh_team_get_id (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->team_id;
}

const char *
kh_team_get_role (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->role;
}

const char *
kh_team_get_conninfo (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->conninfo;
}

gboolean
kh_team_uses_key_file (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  return self->key_file != NULL;
}

const char *
kh_team_get_last_error_message (KhTeam *self)
{
  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  return self->last_error_message;
}

/* ---- connecting ------------------------------------------------------------------------- */

/* The server's notices and warnings ("role is not a member"...) go to the debug log, not to
 * stderr where libpq would print them. */
static void
notice_processor (void       *arg,
                  const char *message)
{
  g_autofree char *line = first_line (message);

  g_debug ("team database: %s", line);
}

/* A connection for conninfo: our defaults first, then the conninfo (expanded), then the
 * password (NULL: libpq's passfile). */
static PGconn *
connect_raw (const char  *conninfo,
             const char  *password,
             GError     **error)
{
  /* A refresher that vanished without closing its connection (a laptop lid, a cut cable)
   * would hold its grant's row lock until TCP gave up: the server ends such a transaction after
   * two minutes (longer than any TikTok call with its retries), and keepalives notice a dead
   * server within about half a minute. */
  static const char * const defaults[][2] = {
    { "connect_timeout", DEFAULT_CONNECT_TIMEOUT },
    { "keepalives_idle", "15" },
    { "keepalives_interval", "5" },
    { "keepalives_count", "3" },
    { "options", "-c idle_in_transaction_session_timeout=120000" },
  };
  const char *keys[G_N_ELEMENTS (defaults) + 4];
  const char *values[G_N_ELEMENTS (defaults) + 4];
  int n = 0;
  PGconn *conn;

  /* libpq keeps the last value of a repeated keyword: the conninfo, expanded from dbname,
   * overrides these defaults, and nothing overrides the password given last. */
  for (gsize i = 0; i < G_N_ELEMENTS (defaults); i++)
    {
      keys[n] = defaults[i][0];
      values[n++] = defaults[i][1];
    }
  keys[n] = "application_name";
  values[n++] = "keyhold";
  keys[n] = "dbname";
  values[n++] = conninfo;
  if (password != NULL)
    {
      keys[n] = "password";
      values[n++] = password;
    }
  keys[n] = NULL;
  values[n] = NULL;

  conn = PQconnectdbParams (keys, values, 1);
  if (conn == NULL || PQstatus (conn) != CONNECTION_OK)
    {
      set_connect_error (error, conn, conn ? PQuser (conn) : NULL);
      PQfinish (conn);
      return NULL;
    }
  PQsetNoticeProcessor (conn, notice_processor, NULL);
  return conn;
}

/* The password of a keyring member, read once. */
static void
load_password (KhTeam *self)
{
  g_autoptr(GError) error = NULL;

  if (self->password != NULL || self->key_file != NULL)
    return;
  self->password = kh_store_load_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id,
                                         &error);
  if (error != NULL)
    g_debug ("No team password from the keyring: %s", error->message);
}

/* A rotated key: the one an admin sealed to this member's public key. */
static gboolean
adopt_rotated_key_locked (KhTeam   *self,
                          guint32   key_id,
                          GError  **error)
{
  g_autofree char *key_id_text = g_strdup_printf ("%u", key_id);
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GBytes) sealed = NULL;
  Params p = { 0 };

  if (self->box_secret == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                   _("The team key was changed (rotated): put the new join code from an admin "
                     "into the key file %s"), self->key_file ? self->key_file : "");
      return FALSE;
    }
  param_text (&p, key_id_text);
  result = exec_locked (self, "SELECT sealed_key FROM keyhold.key_grants "
                              "WHERE role = current_user AND key_id = $1::integer", &p, error);
  if (result == NULL)
    return FALSE;
  if (PQntuples (result) != 1 || (sealed = get_bytea (result, 0, 0)) == NULL)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                           _("The team key was changed (rotated) and none was left for you: "
                             "join again with a new join code from an admin"));
      return FALSE;
    }
  if (!kh_team_box_open_key (sealed, self->box_public, self->box_secret, self->key, error))
    return FALSE;
  self->key_id = key_id;
  return TRUE;
}

/* Reads meta and checks the schema version, the team id and the key. */
static gboolean
check_team_locked (KhTeam   *self,
                   gboolean  for_join,
                   GError  **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GBytes) check_nonce = NULL;
  kh_autowipe char *plain = NULL;
  g_autoptr(GError) key_error = NULL;
  guint32 key_id;
  int version;

  result = exec_locked (self, "SELECT schema_version, team_id::text, key_id, key_check, "
                              "key_check_nonce, pg_has_role (current_user, admin_role, 'MEMBER'), "
                              "current_user FROM keyhold.meta", NULL, error);
  if (result == NULL)
    {
      if (error != NULL && g_error_matches (*error, KH_ERROR, KH_ERROR_TEAM_ACCESS))
        {
          g_clear_error (error);
          g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
                       _("Role “%s” is not a member of this team: ask an admin to run "
                         "“keyhold-cli team grant %s”"),
                       PQuser (self->conn), PQuser (self->conn));
        }
      return FALSE;
    }
  if (PQntuples (result) != 1)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                           _("The database has no Keyhold team: check the URL, or create the "
                             "team with “keyhold-cli team create”"));
      return FALSE;
    }
  version = atoi (PQgetvalue (result, 0, 0));
  if (version > KH_TEAM_SCHEMA_VERSION)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                   _("The team database was set up by a newer Keyhold (schema %d, this one "
                     "knows %d): upgrade Keyhold"), version, KH_TEAM_SCHEMA_VERSION);
      return FALSE;
    }
  if (g_strcmp0 (PQgetvalue (result, 0, 1), self->team_id) != 0)
    {
      if (for_join)
        g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                             _("This join code belongs to another team than the one in this "
                               "database: check the URL and the code"));
      else
        g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_URL,
                             _("This database holds another team than the one this computer "
                               "joined: check the URL"));
      return FALSE;
    }

  key_id = (guint32) strtoul (PQgetvalue (result, 0, 2), NULL, 10);
  if (key_id != self->key_id)
    {
      if (for_join)
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                               _("This join code is from before the team key was changed: ask "
                                 "an admin for a new one"));
          return FALSE;
        }
      if (!adopt_rotated_key_locked (self, key_id, error))
        return FALSE;
    }
  check = get_bytea (result, 0, 3);
  check_nonce = get_bytea (result, 0, 4);
  if (check == NULL || check_nonce == NULL)
    plain = NULL;
  else
    plain = kh_team_unseal (self->key, self->key_id, "meta", self->team_id, check_nonce, check,
                            &key_error);
  if (plain == NULL || !g_str_equal (plain, KEY_CHECK_TEXT))
    {
      kh_team_set_wrong_key_error (error);
      return FALSE;
    }

  self->schema_version = version;
  self->is_admin = g_str_equal (PQgetvalue (result, 0, 5), "t");
  if (self->role == NULL || !g_str_equal (self->role, PQgetvalue (result, 0, 6)))
    {
      g_free (self->role);
      self->role = g_strdup (PQgetvalue (result, 0, 6));
    }
  if (version < KH_TEAM_SCHEMA_VERSION)
    {
      /* Schema 1 is the first: there is nothing older to migrate yet. */
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA,
                   _("The team database uses an older schema (%d): ask an admin to open the "
                     "team with this Keyhold"), version);
      return FALSE;
    }
  return TRUE;
}

/* Connects if needed and checks the team once per connection. Called with the lock held. */
static gboolean recheck_team_locked (KhTeam  *self,
                                     GError **error);

static gboolean
ensure_connected_locked (KhTeam  *self,
                         GError **error)
{

  if (self->conn != NULL && PQstatus (self->conn) != CONNECTION_OK)
    {
      PQreset (self->conn);
      if (PQstatus (self->conn) != CONNECTION_OK)
        {
          set_connect_error (error, self->conn, self->role);
          g_clear_pointer (&self->conn, PQfinish);
          return FALSE;
        }
      self->checked = FALSE;
    }
  if (self->conn == NULL)
    {
      load_password (self);
      self->conn = connect_raw (self->conninfo, self->password, error);
      if (self->conn == NULL)
        return FALSE;
      self->checked = FALSE;
    }
  if (self->checked)
    return TRUE;
  return recheck_team_locked (self, error);
}

/* Reads meta again (after a rotation another member made, say) and keeps a new key. */
static gboolean
recheck_team_locked (KhTeam  *self,
                     GError **error)
{
  guint32 old_key_id = self->key_id;

  if (!check_team_locked (self, FALSE, error))
    return FALSE;
  self->checked = TRUE;
  if (self->key_id != old_key_id)
    {
      g_autoptr(GError) local_error = NULL;

      /* A rotated key picked up from key_grants: keep it for the next run. The database keeps
       * it too, so a failure here only costs a lookup next time. */
      if (!save_key_item (self, &local_error) || !write_config (self, &local_error))
        g_warning ("Could not keep the new team key: %s", local_error->message);
    }
  return TRUE;
}

/* The lock and a checked connection, or FALSE with an error (and the lock released). */
static gboolean
begin_locked (KhTeam  *self,
              GError **error)
{
  g_mutex_lock (&self->lock);
  if (!ensure_connected_locked (self, error))
    {
      g_mutex_unlock (&self->lock);
      return FALSE;
    }
  return TRUE;
}

static void
end_locked (KhTeam *self)
{
  rollback_locked (self);
  g_mutex_unlock (&self->lock);
}

static gboolean
require_admin_locked (KhTeam  *self,
                      GError **error)
{
  if (self->is_admin)
    return TRUE;
  g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
               _("Only a team admin can do this, and role “%s” is not one"), self->role);
  return FALSE;
}

static gboolean
crypto_ready (GError **error)
{
  if (kh_team_crypto_init ())
    return TRUE;
  g_set_error_literal (error, KH_ERROR, KH_ERROR_FAILED,
                       _("libsodium could not start: this system has no source of randomness"));
  return FALSE;
}

/* One statement on a checked connection, with the lock taken around it. */
static PGresult *
run_query (KhTeam      *self,
           const char  *sql,
           Params      *params,
           GError     **error)
{
  PGresult *result;

  if (!begin_locked (self, error))
    return NULL;
  result = exec_locked (self, sql, params, error);
  end_locked (self);
  return result;
}

/* A NOT_FOUND for a grant this role cannot see (or that does not exist: RLS makes them one). */
static void
set_grant_not_found (KhTeam      *self,
                     const char  *id_or_name,
                     GError     **error)
{
  g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
               _("No shared grant “%s” that role “%s” may see"), id_or_name, self->role);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static const char *
resolve_key_file (const char *key_file)
{
  const char *env;

  if (key_file != NULL && *key_file != '\0')
    return key_file;
  env = g_getenv (KH_TEAM_KEY_FILE_ENV);
  return env != NULL && *env != '\0' ? env : NULL;
}

static char *
store_dir_of (KhStore *store)
{
  return g_path_get_dirname (kh_store_get_index_path (store));
}

static void
set_key_file_needed (GError **error)
{
  g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
               _("This computer keeps the team key in a file: give it with --key-file or %s"),
               KH_TEAM_KEY_FILE_ENV);
}

static KhTeam *
open_at (const char  *store_dir,
         KhStore     *store,
         const char  *key_file,
         GError     **error)
{
  g_autoptr(KhTeam) self = NULL;
  g_autoptr(JsonObject) config = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *source;
  gint64 version = 0;
  gint64 key_id = 0;

  if (!crypto_ready (error))
    return NULL;
  self = team_new (store_dir, store);
  config = read_json_file (self->config_path, &local_error);
  if (config == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return NULL;
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The team configuration %s cannot be read: join the team again"),
                   self->config_path);
      return NULL;
    }
  source = kh_json_get_string (config, "key_source");
  self->conninfo = g_strdup (kh_json_get_string (config, "conninfo"));
  self->team_id = g_strdup (kh_json_get_string (config, "team_id"));
  self->role = g_strdup (kh_json_get_string (config, "role"));
  if (!kh_json_get_int (config, "v", &version) || version != CONFIG_VERSION ||
      self->conninfo == NULL || self->team_id == NULL || !g_uuid_string_is_valid (self->team_id) ||
      !kh_json_get_int (config, "key_id", &key_id) || key_id <= 0 || key_id > G_MAXUINT32 ||
      (g_strcmp0 (source, "file") != 0 && g_strcmp0 (source, "keyring") != 0))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_STORE,
                   _("The team configuration %s cannot be read: join the team again"),
                   self->config_path);
      return NULL;
    }
  self->key_id = (guint32) key_id;

  key_file = resolve_key_file (key_file);
  if (key_file != NULL)
    {
      g_autofree char *team_id = NULL;
      guint32 file_key_id = 0;

      if (!read_key_file (key_file, &team_id, &file_key_id, self->key, error))
        return NULL;
      if (!g_str_equal (team_id, self->team_id))
        {
          g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                       _("The key file %s belongs to another team: use this team’s key file"),
                       key_file);
          return NULL;
        }
      self->key_file = g_strdup (key_file);
      self->key_id = file_key_id;
    }
  else if (g_str_equal (source, "file") || store == NULL)
    {
      set_key_file_needed (error);
      return NULL;
    }
  else
    {
      kh_autowipe char *item = kh_store_load_secret (store, KH_TEAM_KEY_KIND, self->team_id,
                                                     error);

      if (item == NULL)
        {
          if (error == NULL || *error == NULL)
            g_set_error_literal (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                                 _("The team key is missing from the keyring or damaged: join "
                                   "the team again with a join code from an admin"));
          return NULL;
        }
      if (!parse_key_item (self, item, error))
        return NULL;
    }
  return g_steal_pointer (&self);
}

KhTeam *
kh_team_open (KhStore     *store,
              const char  *key_file,
              GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = store_dir_of (store);
  return open_at (dir, store, key_file, error);
}

KhTeam *
kh_team_open_headless (const char  *data_dir,
                       const char  *store_name,
                       const char  *key_file,
                       GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = kh_store_dup_dir (data_dir, store_name, error);
  return dir ? open_at (dir, NULL, key_file, error) : NULL;
}

static gboolean
already_in_team (const char  *store_dir,
                 GError     **error)
{
  g_autofree char *path = g_build_filename (store_dir, "team.json", NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return FALSE;
  g_set_error_literal (error, KH_ERROR, KH_ERROR_EXISTS,
                       _("This computer is already in a team: leave it first "
                         "(“keyhold-cli team leave”)"));
  return TRUE;
}

/* Keeps the key (and password) in the keyring for a keyring member. */
static gboolean
save_local_secrets (KhTeam  *self,
                    GError **error)
{
  if (self->key_file != NULL)
    return TRUE;
  if (!save_key_item (self, error))
    return FALSE;
  if (self->password != NULL)
    {
      g_autofree char *label = g_strdup_printf (_("Keyhold team database password (%s)"),
                                                self->team_id);

      if (!kh_store_save_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id, label,
                                 self->password, error))
        return FALSE;
    }
  return TRUE;
}

static void
forget_local_secrets (KhTeam *self)
{
  if (self->key_file != NULL)
    return;
  kh_store_remove_secret (self->store, KH_TEAM_KEY_KIND, self->team_id, NULL);
  kh_store_remove_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id, NULL);
}

static gboolean
register_member_key_locked (KhTeam  *self,
                            GError **error)
{
  g_autoptr(GBytes) pub = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  if (self->box_secret == NULL)
    self->box_secret = kh_team_key_new ();
  kh_team_box_keypair (self->box_public, self->box_secret);
  pub = g_bytes_new (self->box_public, KH_TEAM_BOX_PUBLIC_BYTES);
  param_bytes (&p, pub);
  result = exec_locked (self, "INSERT INTO keyhold.member_keys (public_key) VALUES ($1) "
                              "ON CONFLICT (role) DO UPDATE SET public_key = EXCLUDED.public_key, "
                              "registered_at = now()", &p, error);
  return result != NULL;
}

KhTeam *
kh_team_create (KhStore     *store,
                const char  *conninfo,
                const char  *password,
                char       **join_code_out,
                GError     **error)
{
  g_autoptr(KhTeam) self = NULL;
  g_autofree char *migration = NULL;
  g_autofree char *admin = NULL;
  g_autofree char *member = NULL;
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GBytes) check_nonce = NULL;
  kh_autoresult PGresult *exists = NULL;
  kh_autoresult PGresult *inserted = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *dir = NULL;
  Params p = { 0 };
  gboolean ok;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (join_code_out != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = store_dir_of (store);
  if (!kh_team_check_conninfo (conninfo, error) || already_in_team (dir, error))
    return NULL;
  if (!crypto_ready (error))
    return NULL;

  self = team_new (dir, store);
  self->conninfo = g_strdup (conninfo);
  self->password = g_strdup (password);
  self->team_id = g_uuid_string_random ();
  self->key_id = 1;
  kh_team_key_free (self->key);
  self->key = kh_team_key_new_random ();

  g_mutex_lock (&self->lock);
  self->conn = connect_raw (conninfo, password, error);
  if (self->conn == NULL)
    {
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->role = g_strdup (PQuser (self->conn));
  admin = kh_team_schema_admin_role (self->team_id);
  member = kh_team_schema_member_role (self->team_id);
  migration = kh_team_schema_migration (self->conn, 0, self->team_id);
  kh_team_seal (self->key, self->key_id, "meta", self->team_id, KEY_CHECK_TEXT,
                strlen (KEY_CHECK_TEXT), &check_nonce, &check);

  ok = exec_simple_locked (self, "BEGIN", error) &&
       exec_simple_locked (self, "SELECT pg_advisory_xact_lock (hashtext ('keyhold-schema'))",
                           error);
  if (ok)
    {
      exists = exec_locked (self, "SELECT to_regnamespace ('keyhold') IS NOT NULL", NULL, error);
      ok = exists != NULL;
      if (ok && g_str_equal (PQgetvalue (exists, 0, 0), "t"))
        {
          g_set_error_literal (error, KH_ERROR, KH_ERROR_EXISTS,
                               _("This database already has a Keyhold team: join it with "
                                 "“keyhold-cli team join”"));
          ok = FALSE;
        }
    }
  if (ok && !exec_simple_locked (self, migration, &local_error))
    {
      if (g_error_matches (local_error, KH_ERROR, KH_ERROR_TEAM_ACCESS))
        g_set_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS,
                     _("Role “%s” cannot create a team in this database: it needs CREATEROLE "
                       "and CREATE on the database"), self->role);
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      ok = FALSE;
    }
  if (ok)
    {
      g_autofree char *version = g_strdup_printf ("%d", KH_TEAM_SCHEMA_VERSION);

      param_text (&p, version);
      param_text (&p, self->team_id);
      param_bytes (&p, check);
      param_bytes (&p, check_nonce);
      param_text (&p, admin);
      param_text (&p, member);
      inserted = exec_locked (self, "INSERT INTO keyhold.meta (schema_version, team_id, key_id, "
                                    "key_check, key_check_nonce, admin_role, member_role) "
                                    "VALUES ($1::integer, $2::uuid, 1, $3, $4, $5, $6)",
                              &p, error);
      ok = inserted != NULL;
    }
  ok = ok && register_member_key_locked (self, error);
  /* The key goes to the keyring before the team exists, so a failure leaves no team whose key
   * nobody has. */
  ok = ok && save_local_secrets (self, error);
  if (ok && !exec_simple_locked (self, "COMMIT", error))
    {
      forget_local_secrets (self);
      ok = FALSE;
    }
  if (!ok)
    {
      rollback_locked (self);
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->checked = TRUE;
  self->is_admin = TRUE;
  self->schema_version = KH_TEAM_SCHEMA_VERSION;
  g_mutex_unlock (&self->lock);

  if (!write_config (self, error))
    return NULL;
  *join_code_out = kh_team_join_code_encode (self->team_id, self->key_id, self->key);
  return g_steal_pointer (&self);
}

static KhTeam *
join_at (const char  *store_dir,
         KhStore     *store,
         const char  *conninfo,
         const char  *password,
         const char  *join_code,
         const char  *key_file,
         GError     **error)
{
  g_autoptr(KhTeam) self = NULL;
  gboolean ok;

  if (!kh_team_check_conninfo (conninfo, error) || already_in_team (store_dir, error))
    return NULL;
  if (!crypto_ready (error))
    return NULL;

  self = team_new (store_dir, store);
  self->conninfo = g_strdup (conninfo);
  self->password = g_strdup (password);
  if (key_file != NULL)
    {
      if (!read_key_file (key_file, &self->team_id, &self->key_id, self->key, error))
        return NULL;
      self->key_file = g_strdup (key_file);
    }
  else if (!kh_team_join_code_decode (join_code, &self->team_id, &self->key_id, self->key,
                                      error))
    return NULL;

  g_mutex_lock (&self->lock);
  self->conn = connect_raw (conninfo, password, error);
  ok = self->conn != NULL && check_team_locked (self, TRUE, error);
  if (ok && self->key_file == NULL)
    ok = exec_simple_locked (self, "BEGIN", error) &&
         register_member_key_locked (self, error) &&
         save_local_secrets (self, error) &&
         exec_simple_locked (self, "COMMIT", error);
  if (!ok)
    {
      rollback_locked (self);
      g_mutex_unlock (&self->lock);
      return NULL;
    }
  self->checked = TRUE;
  g_mutex_unlock (&self->lock);

  if (!write_config (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

KhTeam *
kh_team_join (KhStore     *store,
              const char  *conninfo,
              const char  *password,
              const char  *join_code,
              const char  *key_file,
              GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail ((join_code == NULL) != (key_file == NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = store_dir_of (store);
  return join_at (dir, store, conninfo, password, join_code, key_file, error);
}

KhTeam *
kh_team_join_headless (const char  *data_dir,
                       const char  *store_name,
                       const char  *conninfo,
                       const char  *key_file,
                       GError     **error)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (key_file != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  dir = kh_store_dup_dir (data_dir, store_name, error);
  return dir ? join_at (dir, NULL, conninfo, NULL, NULL, key_file, error) : NULL;
}

static void
remove_cache_dir (KhTeam *self)
{
  g_autoptr(GDir) dir = g_dir_open (self->cache_dir, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (self->cache_dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (self->cache_dir);
}

gboolean
kh_team_leave (KhTeam  *self,
               GError **error)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* team.json first: once it is gone the computer is out of the team even if removing the
   * secrets fails halfway. */
  if (g_unlink (self->config_path) != 0 && errno != ENOENT)
    {
      int saved = errno;

      g_set_error (error, KH_ERROR, KH_ERROR_STORE, _("Could not remove %s: %s"),
                   self->config_path, g_strerror (saved));
      return FALSE;
    }
  remove_cache_dir (self);
  if (self->key_file == NULL)
    {
      if (!kh_store_remove_secret (self->store, KH_TEAM_KEY_KIND, self->team_id, error) ||
          !kh_store_remove_secret (self->store, KH_TEAM_PASSWORD_KIND, self->team_id, error))
        return FALSE;
    }
  return TRUE;
}

/* ---- grants ------------------------------------------------------------------------------- */

#define GRANT_COLUMNS "info::text, sealed_tokens, nonce, key_id, version"

static KhGrant *
grant_from_text (const char  *text,
                 GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), error);

  return node ? kh_grant_new_from_json (node, error) : NULL;
}

static char *
grant_to_text (KhGrant *grant)
{
  g_autoptr(JsonNode) node = kh_grant_to_json (grant);

  return kh_json_to_string (node, FALSE);
}

static char *
tokens_to_text (const KhTokenSet *tokens)
{
  g_autoptr(JsonNode) node = kh_token_set_to_json (tokens);

  return kh_json_to_string (node, FALSE);
}

static KhTokenSet *
tokens_from_text (const char  *text,
                  GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), error);

  return node ? kh_token_set_new_from_json (node, error) : NULL;
}

static gboolean
tokens_equal (const KhTokenSet *a,
              const KhTokenSet *b)
{
  return g_strcmp0 (a->access_token, b->access_token) == 0 &&
         g_strcmp0 (a->refresh_token, b->refresh_token) == 0 &&
         a->access_expires_at == b->access_expires_at &&
         a->refresh_expires_at == b->refresh_expires_at;
}

static char *
cache_path (KhTeam     *self,
            const char *grant_id)
{
  g_autofree char *name = g_strconcat (grant_id, ".json", NULL);

  return g_build_filename (self->cache_dir, name, NULL);
}

/* Grant ids are ours (hex), but a name for a file is checked anyway. */
static gboolean
grant_id_is_safe (const char *grant_id)
{
  if (grant_id == NULL || *grant_id == '\0' || strlen (grant_id) > 128)
    return FALSE;
  for (const char *p = grant_id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static void
cache_write (KhTeam     *self,
             const char *grant_id,
             const char *info,
             GBytes     *sealed,
             GBytes     *nonce,
             guint32     key_id)
{
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) info_node = NULL;
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autofree char *sealed_b64 = NULL;
  g_autofree char *nonce_b64 = NULL;

  info_node = kh_json_parse (info, strlen (info), NULL);
  if (!grant_id_is_safe (grant_id) || kh_json_node_object (info_node) == NULL)
    return;
  sealed_b64 = bytes_to_b64 (sealed);
  nonce_b64 = bytes_to_b64 (nonce);
  object = json_object_new ();
  json_object_set_int_member (object, "v", CACHE_VERSION);
  json_object_set_string_member (object, "team_id", self->team_id);
  json_object_set_string_member (object, "grant_id", grant_id);
  json_object_set_int_member (object, "key_id", key_id);
  json_object_set_string_member (object, "nonce", nonce_b64);
  json_object_set_string_member (object, "sealed", sealed_b64);
  json_object_set_member (object, "grant", g_steal_pointer (&info_node));
  node = json_node_init_object (json_node_alloc (), object);
  text = kh_json_to_string (node, FALSE);
  path = cache_path (self, grant_id);
  if (!write_private_file (path, text, FALSE, &error))
    g_debug ("Could not keep the offline copy of grant %s: %s", grant_id, error->message);
}

/* The cached row of grant_id, unsealed: FALSE when there is none usable. */
static gboolean
cache_read (KhTeam      *self,
            const char  *grant_id,
            KhGrant    **grant_out,
            KhTokenSet **tokens_out)
{
  g_autofree char *path = NULL;
  g_autoptr(JsonObject) object = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) nonce = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(JsonNode) grant_node = NULL;
  kh_autowipe char *plain = NULL;
  JsonObject *grant_object;
  gint64 version = 0;
  gint64 key_id = 0;

  if (!grant_id_is_safe (grant_id))
    return FALSE;
  path = cache_path (self, grant_id);
  object = read_json_file (path, NULL);
  if (object == NULL || !kh_json_get_int (object, "v", &version) || version != CACHE_VERSION ||
      g_strcmp0 (kh_json_get_string (object, "team_id"), self->team_id) != 0 ||
      g_strcmp0 (kh_json_get_string (object, "grant_id"), grant_id) != 0 ||
      !kh_json_get_int (object, "key_id", &key_id) || key_id != self->key_id ||
      (grant_object = kh_json_get_object (object, "grant")) == NULL)
    return FALSE;
  sealed = b64_to_bytes (kh_json_get_string (object, "sealed"));
  nonce = b64_to_bytes (kh_json_get_string (object, "nonce"));
  if (sealed == NULL || nonce == NULL)
    return FALSE;
  plain = kh_team_unseal (self->key, self->key_id, "grants", grant_id, nonce, sealed, &error);
  if (plain == NULL)
    return FALSE;
  grant_node = json_node_init_object (json_node_alloc (), grant_object);
  grant = kh_grant_new_from_json (grant_node, NULL);
  if (grant == NULL || g_strcmp0 (kh_grant_get_id (grant), grant_id) != 0)
    return FALSE;
  *tokens_out = tokens_from_text (plain, NULL);
  if (*tokens_out == NULL)
    return FALSE;
  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&grant);
  return TRUE;
}

static void
cache_remove (KhTeam     *self,
              const char *grant_id)
{
  g_autofree char *path = NULL;

  if (!grant_id_is_safe (grant_id))
    return;
  path = cache_path (self, grant_id);
  g_unlink (path);
}

/* The non-secret columns, from the grant's JSON j (kh_grant_to_json). Expiries are separate:
 * they follow the tokens. */
#define GRANT_INFO_TARGETS \
  "type, app, client, display_name, region, status, scopes, shops, advertisers, info"
#define GRANT_INFO_VALUES \
  "j->>'type', j->>'app', j->>'client', j->>'display_name', j->>'region', " \
  "COALESCE (j->>'stored_status', 'active'), " \
  "ARRAY (SELECT jsonb_array_elements_text (COALESCE (j->'scopes', '[]'))), " \
  "COALESCE (j->'shops', '[]'), COALESCE (j->'advertisers', '[]'), j"
#define GRANT_SECRET_TARGETS \
  "access_expires_at, refresh_expires_at, sealed_tokens, nonce, key_id"
#define GRANT_SECRET_VALUES \
  "to_timestamp (NULLIF ($3::bigint, 0)), to_timestamp (NULLIF ($4::bigint, 0)), $5::bytea, " \
  "$6::bytea, " \
  "$7::integer"

/* Parameters $1 id, $2 grant JSON, $3 $4 expiries, $5 sealed tokens, $6 nonce, $7 key id. */
typedef struct {
  char   *id;
  char   *info;
  char   *access_expires;
  char   *refresh_expires;
  char   *key_id;
  GBytes *sealed;
  GBytes *nonce;
} SealedRow;

static void
sealed_row_clear (SealedRow *row)
{
  g_free (row->id);
  g_free (row->info);
  g_free (row->access_expires);
  g_free (row->refresh_expires);
  g_free (row->key_id);
  g_clear_pointer (&row->sealed, g_bytes_unref);
  g_clear_pointer (&row->nonce, g_bytes_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SealedRow, sealed_row_clear)

static void
sealed_row_init (KhTeam           *self,
                 SealedRow        *row,
                 KhGrant          *grant,
                 const KhTokenSet *tokens)
{
  kh_autowipe char *plain = tokens_to_text (tokens);

  kh_grant_set_expiries_from_tokens (grant, tokens);
  row->id = g_strdup (kh_grant_get_id (grant));
  row->info = grant_to_text (grant);
  row->access_expires = g_strdup_printf ("%" G_GINT64_FORMAT, tokens->access_expires_at);
  row->refresh_expires = g_strdup_printf ("%" G_GINT64_FORMAT, tokens->refresh_expires_at);
  row->key_id = g_strdup_printf ("%u", self->key_id);
  kh_team_seal (self->key, self->key_id, "grants", row->id, plain, strlen (plain), &row->nonce,
                &row->sealed);
}

static void
sealed_row_params (SealedRow *row,
                   Params    *p)
{
  param_text (p, row->id);
  param_text (p, row->info);
  param_text (p, row->access_expires);
  param_text (p, row->refresh_expires);
  param_bytes (p, row->sealed);
  param_bytes (p, row->nonce);
  param_text (p, row->key_id);
}

/* TRUE when a write was refused because an admin rotated the key since this connection read
 * it: then this KhTeam holds the new key (picked up from key_grants) and may write again. */
static gboolean
key_was_rotated_locked (KhTeam       *self,
                        const GError *error)
{
  guint32 key_id = self->key_id;

  if (!g_error_matches (error, KH_ERROR, KH_ERROR_TEAM_ACCESS))
    return FALSE;
  return recheck_team_locked (self, NULL) && self->key_id != key_id;
}

static const char put_grant_sql[] =
  "INSERT INTO keyhold.grants AS g (id, " GRANT_INFO_TARGETS ", " GRANT_SECRET_TARGETS ") "
  "SELECT $1, " GRANT_INFO_VALUES ", " GRANT_SECRET_VALUES " FROM (SELECT $2::jsonb AS j) s "
  "ON CONFLICT (id) DO UPDATE SET (" GRANT_INFO_TARGETS ", " GRANT_SECRET_TARGETS ", version, "
  "updated_at, updated_by) = (EXCLUDED.type, EXCLUDED.app, EXCLUDED.client, "
  "EXCLUDED.display_name, EXCLUDED.region, EXCLUDED.status, EXCLUDED.scopes, EXCLUDED.shops, "
  "EXCLUDED.advertisers, EXCLUDED.info, EXCLUDED.access_expires_at, "
  "EXCLUDED.refresh_expires_at, EXCLUDED.sealed_tokens, EXCLUDED.nonce, EXCLUDED.key_id, "
  "g.version + 1, now (), current_user)";

static const char refresh_grant_sql[] =
  "UPDATE keyhold.grants g SET (" GRANT_INFO_TARGETS ", " GRANT_SECRET_TARGETS ", version, "
  "updated_at, updated_by) = (SELECT " GRANT_INFO_VALUES ", " GRANT_SECRET_VALUES ", "
  "g.version + 1, now (), current_user FROM (SELECT $2::jsonb AS j) s) WHERE g.id = $1";

/* Keeps the stored expiries: they belong to the tokens, which a labels-only change does not
 * see (another machine may have refreshed meanwhile). */
static const char update_grant_sql[] =
  "UPDATE keyhold.grants g SET (" GRANT_INFO_TARGETS ", version, updated_at, updated_by) = "
  "(SELECT " GRANT_INFO_VALUES ", g.version + 1, now (), current_user FROM "
  "(SELECT $2::jsonb || jsonb_build_object ('access_expires_at', "
  "g.info->'access_expires_at', 'refresh_expires_at', g.info->'refresh_expires_at') AS j) s) "
  "WHERE g.id = $1";

gboolean
kh_team_put_grant (KhTeam           *self,
                   KhGrant          *grant,
                   const KhTokenSet *tokens,
                   GError          **error)
{
  g_auto(SealedRow) row = { 0 };
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GError) local_error = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);
  g_return_val_if_fail (tokens != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!begin_locked (self, error))
    return FALSE;
  sealed_row_init (self, &row, grant, tokens);
  sealed_row_params (&row, &p);
  result = exec_locked (self, put_grant_sql, &p, &local_error);
  if (result == NULL && key_was_rotated_locked (self, local_error))
    {
      /* Sealed under a key an admin replaced meanwhile: seal again under the new one. */
      g_auto(SealedRow) again = { 0 };
      Params q = { 0 };

      g_clear_error (&local_error);
      sealed_row_init (self, &again, grant, tokens);
      sealed_row_params (&again, &q);
      result = exec_locked (self, put_grant_sql, &q, &local_error);
      if (result != NULL)
        cache_write (self, again.id, again.info, again.sealed, again.nonce, self->key_id);
    }
  else if (result != NULL)
    cache_write (self, row.id, row.info, row.sealed, row.nonce, self->key_id);
  end_locked (self);
  if (local_error != NULL)
    g_propagate_error (error, g_steal_pointer (&local_error));
  return result != NULL;
}

gboolean
kh_team_update_grant (KhTeam   *self,
                      KhGrant  *grant,
                      GError  **error)
{
  g_autofree char *info = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (KH_IS_GRANT (grant), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  info = grant_to_text (grant);
  param_text (&p, kh_grant_get_id (grant));
  param_text (&p, info);
  result = run_query (self, update_grant_sql, &p, error);
  if (result != NULL && g_str_equal (PQcmdTuples (result), "0"))
    {
      set_grant_not_found (self, kh_grant_get_id (grant), error);
      return FALSE;
    }
  return result != NULL;
}

static GPtrArray *
grants_from_result (PGresult  *result,
                    GError   **error)
{
  g_autoptr(GPtrArray) grants = g_ptr_array_new_with_free_func (g_object_unref);

  for (int i = 0; i < PQntuples (result); i++)
    {
      KhGrant *grant = grant_from_text (PQgetvalue (result, i, 0), error);

      if (grant == NULL)
        return NULL;
      g_ptr_array_add (grants, grant);
    }
  return g_steal_pointer (&grants);
}

GPtrArray *
kh_team_list_grants (KhTeam  *self,
                     GError **error)
{
  kh_autoresult PGresult *result = NULL;

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  result = run_query (self, "SELECT info::text FROM keyhold.grants "
                            "ORDER BY lower (display_name), id", NULL, error);
  return result ? grants_from_result (result, error) : NULL;
}

KhGrant *
kh_team_find_grant (KhTeam      *self,
                    const char  *id_or_name,
                    GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (id_or_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  param_text (&p, id_or_name);
  /* An exact id wins; else an id prefix of six or more characters, or a name. */
  result = run_query (self, "SELECT info::text FROM keyhold.grants WHERE id = $1 "
                            "UNION ALL SELECT info::text FROM keyhold.grants "
                            "WHERE NOT EXISTS (SELECT 1 FROM keyhold.grants WHERE id = $1) AND "
                            "((length ($1) >= 6 AND left (id, length ($1)) = $1) OR "
                            "lower (display_name) = lower ($1)) LIMIT 2",
                      &p, error);
  grants = result ? grants_from_result (result, error) : NULL;
  if (grants == NULL)
    return NULL;
  if (grants->len == 0)
    {
      set_grant_not_found (self, id_or_name, error);
      return NULL;
    }
  if (grants->len > 1)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_AMBIGUOUS,
                   _("“%s” names several shared grants: use the grant id"), id_or_name);
      return NULL;
    }
  return g_object_ref (g_ptr_array_index (grants, 0));
}

/* Unseals a row of GRANT_COLUMNS. */
static gboolean
unseal_row (KhTeam      *self,
            PGresult    *result,
            const char  *grant_id,
            KhGrant    **grant_out,
            KhTokenSet **tokens_out,
            GError     **error)
{
  g_autoptr(GBytes) sealed = get_bytea (result, 0, 1);
  g_autoptr(GBytes) nonce = get_bytea (result, 0, 2);
  guint32 key_id = (guint32) strtoul (PQgetvalue (result, 0, 3), NULL, 10);
  kh_autowipe char *plain = NULL;
  g_autoptr(KhGrant) grant = NULL;

  /* Sealed under a newer key than ours: an admin rotated it since this connection checked. */
  if (key_id > self->key_id && !recheck_team_locked (self, error))
    return FALSE;
  if (sealed == NULL || nonce == NULL || key_id != self->key_id)
    plain = NULL;
  else
    plain = kh_team_unseal (self->key, key_id, "grants", grant_id, nonce, sealed, NULL);
  if (plain == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                   _("The tokens of shared grant %s do not open with the team key: share the "
                     "grant again from a computer that has them"), grant_id);
      return FALSE;
    }
  grant = grant_from_text (PQgetvalue (result, 0, 0), error);
  if (grant == NULL)
    return FALSE;
  *tokens_out = tokens_from_text (plain, error);
  if (*tokens_out == NULL)
    return FALSE;
  cache_write (self, grant_id, PQgetvalue (result, 0, 0), sealed, nonce, key_id);
  if (grant_out != NULL)
    *grant_out = g_steal_pointer (&grant);
  return TRUE;
}

KhTokenSet *
kh_team_load_tokens (KhTeam      *self,
                     const char  *grant_id,
                     KhGrant    **grant_out,
                     gboolean    *cached_out,
                     GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GError) local_error = NULL;
  KhTokenSet *tokens = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (cached_out != NULL)
    *cached_out = FALSE;
  if (begin_locked (self, &local_error))
    {
      param_text (&p, grant_id);
      result = exec_locked (self, "SELECT " GRANT_COLUMNS " FROM keyhold.grants WHERE id = $1",
                            &p, &local_error);
      if (result != NULL && PQntuples (result) == 0)
        set_grant_not_found (self, grant_id, &local_error);
      else if (result != NULL)
        unseal_row (self, result, grant_id, grant_out, &tokens, &local_error);
      end_locked (self);
    }
  if (tokens != NULL)
    return tokens;

  /* Only an unreachable database falls back to the last row seen: a refusal (access removed,
   * grant gone, wrong key) is an answer, and stands. */
  if (g_error_matches (local_error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE) &&
      cache_read (self, grant_id, grant_out, &tokens))
    {
      g_free (self->last_error_message);
      self->last_error_message = g_strdup (local_error->message);
      if (cached_out != NULL)
        *cached_out = TRUE;
      return tokens;
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

gboolean
kh_team_remove_grant (KhTeam      *self,
                      const char  *grant_id,
                      GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (grant_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  param_text (&p, grant_id);
  result = run_query (self, "DELETE FROM keyhold.grants WHERE id = $1", &p, error);
  if (result == NULL)
    return FALSE;
  if (g_str_equal (PQcmdTuples (result), "0"))
    {
      set_grant_not_found (self, grant_id, error);
      return FALSE;
    }
  cache_remove (self, grant_id);
  return TRUE;
}

static const char *
grant_type_id (KhGrant *grant)
{
  return kh_provider_get (kh_grant_get_account_type (grant))->id;
}

/* ---- audit -------------------------------------------------------------------------------- */

static gboolean
insert_audit_locked (KhTeam      *self,
                     const char  *action,
                     const char  *grant_id,
                     const char  *type,
                     const char  *client,
                     JsonObject  *detail,
                     GError     **error)
{
  g_autofree char *detail_text = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  if (detail != NULL)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), detail);

      detail_text = kh_json_to_string (node, FALSE);
    }
  param_text (&p, g_get_host_name ());
  param_text (&p, action);
  param_text (&p, grant_id);
  param_text (&p, type);
  param_text (&p, client);
  param_text (&p, detail_text);
  result = exec_locked (self, "INSERT INTO keyhold.audit (machine, action, grant_id, type, "
                              "client, detail) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                        &p, error);
  return result != NULL;
}

gboolean
kh_team_audit (KhTeam      *self,
               JsonObject  *record,
               GError     **error)
{
  const char *action;
  gboolean ok;

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (record != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  action = kh_json_get_string (record, "action");
  g_return_val_if_fail (action != NULL && *action != '\0', FALSE);
  if (!begin_locked (self, error))
    return FALSE;
  ok = insert_audit_locked (self, action, kh_json_get_string (record, "grant"),
                            kh_json_get_string (record, "type"),
                            kh_json_get_string (record, "client"),
                            kh_json_get_object (record, "detail"), error);
  end_locked (self);
  return ok;
}

static void
set_member_or_null (JsonObject *object,
                    const char *name,
                    const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, name, value);
  else
    json_object_set_null_member (object, name);
}

GPtrArray *
kh_team_read_audit (KhTeam      *self,
                    const char  *grant_id,
                    const char  *client,
                    gint64       since,
                    GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autofree char *since_text = g_strdup_printf ("%" G_GINT64_FORMAT, since);
  GPtrArray *records = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  param_text (&p, grant_id);
  param_text (&p, client);
  param_text (&p, since_text);
  result = run_query (self, "SELECT extract (epoch FROM at)::bigint, action, grant_id, type, "
                            "client, actor, machine, detail::text FROM keyhold.audit "
                            "WHERE ($1::text IS NULL OR grant_id = $1) AND "
                            "($2::text IS NULL OR lower (client) = lower ($2)) AND "
                            "at >= to_timestamp ($3::bigint) ORDER BY id",
                      &p, error);
  if (result != NULL)
    {
      records = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
      for (int i = 0; i < PQntuples (result); i++)
        {
          g_autoptr(JsonObject) object = json_object_new ();
          g_autofree char *at = kh_iso8601_from_unix (g_ascii_strtoll (PQgetvalue (result, i, 0),
                                                                       NULL, 10));
          const char *detail = get_text (result, i, 7);

          json_object_set_int_member (object, "v", 1);
          json_object_set_string_member (object, "at", at);
          json_object_set_string_member (object, "action", PQgetvalue (result, i, 1));
          set_member_or_null (object, "grant", get_text (result, i, 2));
          set_member_or_null (object, "type", get_text (result, i, 3));
          set_member_or_null (object, "client", get_text (result, i, 4));
          set_member_or_null (object, "actor", get_text (result, i, 5));
          set_member_or_null (object, "machine", get_text (result, i, 6));
          if (detail != NULL)
            {
              JsonNode *node = kh_json_parse (detail, strlen (detail), NULL);

              if (node != NULL)
                json_object_set_member (object, "detail", node);
            }
          g_ptr_array_add (records, json_node_init_object (json_node_alloc (), object));
        }
    }
  return records;
}

/* ---- the refresh writer ------------------------------------------------------------------- */

KhTokenSet *
kh_team_refresh_locked (KhTeam            *self,
                        const char        *grant_id,
                        KhTeamRefreshFunc  func,
                        gpointer           user_data,
                        GError           **error)
{
  kh_autoresult PGresult *result = NULL;
  kh_autoresult PGresult *updated = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhTokenSet) current = NULL;
  g_autoptr(KhTokenSet) fresh = NULL;
  g_auto(SealedRow) row = { 0 };
  Params p = { 0 };
  Params q = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!begin_locked (self, error))
    return NULL;
  if (!exec_simple_locked (self, "BEGIN", error))
    {
      end_locked (self);
      return NULL;
    }
  param_text (&p, grant_id);
  /* Every other refresher of this grant, on any machine, waits here until COMMIT. */
  result = exec_locked (self, "SELECT " GRANT_COLUMNS " FROM keyhold.grants WHERE id = $1 "
                              "FOR UPDATE", &p, error);
  if (result == NULL)
    {
      end_locked (self);
      return NULL;
    }
  if (PQntuples (result) == 0)
    {
      set_grant_not_found (self, grant_id, error);
      end_locked (self);
      return NULL;
    }
  if (!unseal_row (self, result, grant_id, &grant, &current, error))
    {
      end_locked (self);
      return NULL;
    }

  fresh = func (grant, current, user_data, error);
  if (fresh == NULL)
    {
      end_locked (self);
      return NULL;
    }
  if (tokens_equal (fresh, current))
    {
      /* Someone refreshed before us: adopt, write nothing. */
      end_locked (self);
      return g_steal_pointer (&fresh);
    }

  sealed_row_init (self, &row, grant, fresh);
  sealed_row_params (&row, &q);
  updated = exec_locked (self, refresh_grant_sql, &q, error);
  if (updated == NULL ||
      !insert_audit_locked (self, "refreshed", grant_id,
                            grant_type_id (grant),
                            kh_grant_get_client_label (grant), NULL, error) ||
      !exec_simple_locked (self, "COMMIT", error))
    {
      end_locked (self);
      return NULL;
    }
  cache_write (self, row.id, row.info, row.sealed, row.nonce, self->key_id);
  end_locked (self);
  return g_steal_pointer (&fresh);
}

/* ---- apps --------------------------------------------------------------------------------- */

gboolean
kh_team_put_app (KhTeam        *self,
                 KhAppProfile  *app,
                 const char    *secret,
                 GError       **error)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *info = NULL;
  g_autofree char *key_id = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) nonce = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), FALSE);
  g_return_val_if_fail (secret != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!kh_app_profile_validate (app, error) || !begin_locked (self, error))
    return FALSE;
  if (!require_admin_locked (self, error))
    {
      end_locked (self);
      return FALSE;
    }
  node = kh_app_profile_to_json (app);
  info = kh_json_to_string (node, FALSE);
  key_id = g_strdup_printf ("%u", self->key_id);
  kh_team_seal (self->key, self->key_id, "apps", kh_app_profile_get_name (app), secret,
                strlen (secret), &nonce, &sealed);
  param_text (&p, kh_app_profile_get_name (app));
  param_text (&p, kh_family_to_string (kh_app_profile_get_family (app)));
  param_text (&p, info);
  param_bytes (&p, sealed);
  param_bytes (&p, nonce);
  param_text (&p, key_id);
  result = exec_locked (self, "INSERT INTO keyhold.apps AS a (name, family, info, sealed_secret, "
                              "nonce, key_id) VALUES ($1, $2, $3::jsonb, $4, $5, $6::integer) "
                              "ON CONFLICT (name) DO UPDATE SET (family, info, sealed_secret, "
                              "nonce, key_id, updated_at, updated_by) = (EXCLUDED.family, "
                              "EXCLUDED.info, EXCLUDED.sealed_secret, EXCLUDED.nonce, "
                              "EXCLUDED.key_id, now (), current_user)",
                        &p, error);
  end_locked (self);
  return result != NULL;
}

static KhAppProfile *
app_from_text (const char  *text,
               GError     **error)
{
  g_autoptr(JsonNode) node = kh_json_parse (text, strlen (text), error);

  return node ? kh_app_profile_new_from_json (node, error) : NULL;
}

KhAppProfile *
kh_team_get_app (KhTeam      *self,
                 const char  *name,
                 char       **secret_out,
                 GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(KhAppProfile) app = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!begin_locked (self, error))
    return NULL;
  param_text (&p, name);
  result = exec_locked (self, "SELECT info::text, sealed_secret, nonce, key_id "
                              "FROM keyhold.apps WHERE name = $1", &p, error);
  if (result != NULL && PQntuples (result) == 0)
    g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND, _("The team has no app “%s”"), name);
  else if (result != NULL)
    {
      app = app_from_text (PQgetvalue (result, 0, 0), error);
      if (app != NULL && secret_out != NULL)
        {
          g_autoptr(GBytes) sealed = get_bytea (result, 0, 1);
          g_autoptr(GBytes) nonce = get_bytea (result, 0, 2);
          guint32 key_id = (guint32) strtoul (PQgetvalue (result, 0, 3), NULL, 10);

          *secret_out = NULL;
          if (sealed != NULL && nonce != NULL && key_id == self->key_id)
            *secret_out = kh_team_unseal (self->key, key_id, "apps", name, nonce, sealed, error);
          else
            kh_team_set_wrong_key_error (error);
          if (*secret_out == NULL)
            g_clear_object (&app);
        }
    }
  end_locked (self);
  return g_steal_pointer (&app);
}

GPtrArray *
kh_team_list_apps (KhTeam  *self,
                   GError **error)
{
  kh_autoresult PGresult *result = NULL;
  g_autoptr(GPtrArray) apps = NULL;

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  result = run_query (self, "SELECT info::text FROM keyhold.apps ORDER BY name", NULL, error);
  if (result == NULL)
    return NULL;
  apps = g_ptr_array_new_with_free_func (g_object_unref);
  for (int i = 0; i < PQntuples (result); i++)
    {
      KhAppProfile *app = app_from_text (PQgetvalue (result, i, 0), error);

      if (app == NULL)
        return NULL;
      g_ptr_array_add (apps, app);
    }
  return g_steal_pointer (&apps);
}

/* ---- access ------------------------------------------------------------------------------- */

static JsonNode *
strv_node (const char * const *strv)
{
  static const char * const none[] = { NULL };
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  json_node_take_array (node, kh_json_array_from_strv (strv ? strv : none));
  return node;
}

static char *
strv_json (const char * const *strv)
{
  g_autoptr(JsonNode) node = strv_node (strv);

  return kh_json_to_string (node, FALSE);
}

/* An access-changed row whose detail lists the clients the role has after the change. */
static gboolean
audit_access_locked (KhTeam      *self,
                     const char  *role,
                     GError     **error)
{
  g_autoptr(JsonObject) detail = json_object_new ();
  g_autoptr(GPtrArray) clients = g_ptr_array_new ();
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  param_text (&p, role);
  result = exec_locked (self, "SELECT client FROM keyhold.access WHERE role = $1 ORDER BY client",
                        &p, error);
  if (result == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (result); i++)
    g_ptr_array_add (clients, PQgetvalue (result, i, 0));
  g_ptr_array_add (clients, NULL);
  json_object_set_string_member (detail, "role", role);
  json_object_set_member (detail, "clients", strv_node ((const char * const *) clients->pdata));
  return insert_audit_locked (self, "access-changed", NULL, NULL, NULL, detail, error);
}

/* The role name as an identifier, after checking it is a LOGIN role. */
static char *
member_ident_locked (KhTeam      *self,
                     const char  *role,
                     GError     **error)
{
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  param_text (&p, role);
  result = exec_locked (self, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", &p, error);
  if (result == NULL)
    return NULL;
  if (PQntuples (result) == 0 || !g_str_equal (PQgetvalue (result, 0, 0), "t"))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_NOT_FOUND,
                   _("The database has no login role “%s”: create it first (CREATE ROLE … "
                     "LOGIN PASSWORD …)"), role);
      return NULL;
    }
  return kh_team_sql_quote (self->conn, role, FALSE);
}

static char *
team_role_ident (KhTeam   *self,
                 gboolean  admin)
{
  g_autofree char *name = admin ? kh_team_schema_admin_role (self->team_id)
                                : kh_team_schema_member_role (self->team_id);

  return kh_team_sql_quote (self->conn, name, FALSE);
}

gboolean
kh_team_grant_access (KhTeam              *self,
                      const char          *role,
                      const char * const  *clients,
                      GError             **error)
{
  g_autofree char *ident = NULL;
  g_autofree char *member = NULL;
  g_autofree char *grant_sql = NULL;
  gboolean ok;

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (role != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!begin_locked (self, error))
    return FALSE;
  ok = require_admin_locked (self, error) && exec_simple_locked (self, "BEGIN", error) &&
       (ident = member_ident_locked (self, role, error)) != NULL;
  if (ok)
    {
      member = team_role_ident (self, FALSE);
      grant_sql = g_strdup_printf ("GRANT %s TO %s", member, ident);
      ok = exec_simple_locked (self, grant_sql, error);
    }
  for (guint i = 0; ok && clients != NULL && clients[i] != NULL; i++)
    {
      kh_autoresult PGresult *result = NULL;
      Params p = { 0 };

      param_text (&p, role);
      param_text (&p, clients[i]);
      result = exec_locked (self, "INSERT INTO keyhold.access (role, client) VALUES ($1, $2) "
                                  "ON CONFLICT DO NOTHING", &p, error);
      ok = result != NULL;
    }
  ok = ok && audit_access_locked (self, role, error) &&
       exec_simple_locked (self, "COMMIT", error);
  end_locked (self);
  return ok;
}

static gboolean
delete_access_locked (KhTeam              *self,
                      const char          *role,
                      const char * const  *clients,
                      GError             **error)
{
  g_autofree char *list = clients ? strv_json (clients) : NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  param_text (&p, role);
  param_text (&p, list);
  result = exec_locked (self, "DELETE FROM keyhold.access WHERE role = $1 AND ($2::jsonb IS NULL "
                              "OR client IN (SELECT jsonb_array_elements_text ($2::jsonb)))",
                        &p, error);
  return result != NULL;
}

gboolean
kh_team_revoke_access (KhTeam              *self,
                       const char          *role,
                       const char * const  *clients,
                       GError             **error)
{
  gboolean ok;

  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (role != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!begin_locked (self, error))
    return FALSE;
  ok = require_admin_locked (self, error) && exec_simple_locked (self, "BEGIN", error) &&
       delete_access_locked (self, role, clients, error) &&
       audit_access_locked (self, role, error) &&
       exec_simple_locked (self, "COMMIT", error);
  end_locked (self);
  return ok;
}

/* ---- key rotation ----------------------------------------------------------------------- */

/* Re-seals every row of table (grants or apps; the admin sees them all) from the current key to
 * new_key. */
static gboolean
reseal_table_locked (KhTeam        *self,
                     const char    *table,
                     const guint8  *new_key,
                     guint32        new_key_id,
                     GError       **error)
{
  gboolean grants = g_str_equal (table, "grants");
  kh_autoresult PGresult *rows = NULL;
  g_autofree char *key_id_text = g_strdup_printf ("%u", new_key_id);

  rows = exec_locked (self, grants ? "SELECT id, sealed_tokens, nonce, key_id FROM "
                                     "keyhold.grants FOR UPDATE"
                                   : "SELECT name, sealed_secret, nonce, key_id FROM "
                                     "keyhold.apps FOR UPDATE",
                      NULL, error);
  if (rows == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (rows); i++)
    {
      const char *id = PQgetvalue (rows, i, 0);
      g_autoptr(GBytes) sealed = get_bytea (rows, i, 1);
      g_autoptr(GBytes) nonce = get_bytea (rows, i, 2);
      guint32 key_id = (guint32) strtoul (PQgetvalue (rows, i, 3), NULL, 10);
      g_autoptr(GBytes) new_sealed = NULL;
      g_autoptr(GBytes) new_nonce = NULL;
      kh_autowipe char *plain = NULL;
      kh_autoresult PGresult *result = NULL;
      Params p = { 0 };

      if (sealed != NULL && nonce != NULL && key_id == self->key_id)
        plain = kh_team_unseal (self->key, key_id, table, id, nonce, sealed, NULL);
      if (plain == NULL)
        {
          /* A row this admin cannot open cannot be moved to the new key either: stop, change
           * nothing. */
          g_set_error (error, KH_ERROR, KH_ERROR_TEAM_KEY,
                       _("Row “%s” of the team does not open with the current team key, so the "
                         "key was not changed: remove or share that grant again"), id);
          return FALSE;
        }
      kh_team_seal (new_key, new_key_id, table, id, plain, strlen (plain), &new_nonce,
                    &new_sealed);
      param_text (&p, id);
      param_bytes (&p, new_sealed);
      param_bytes (&p, new_nonce);
      param_text (&p, key_id_text);
      result = exec_locked (self, grants ? "UPDATE keyhold.grants SET sealed_tokens = $2, "
                                           "nonce = $3, key_id = $4::integer, "
                                           "version = version + 1, "
                                           "updated_at = now (), updated_by = current_user "
                                           "WHERE id = $1"
                                         : "UPDATE keyhold.apps SET sealed_secret = $2, "
                                           "nonce = $3, key_id = $4::integer, updated_at = now (), "
                                           "updated_by = current_user WHERE name = $1",
                            &p, error);
      if (result == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Seals new_key to every registered member's public key. */
static gboolean
distribute_key_locked (KhTeam        *self,
                       const guint8  *new_key,
                       guint32        new_key_id,
                       GError       **error)
{
  g_autofree char *key_id_text = g_strdup_printf ("%u", new_key_id);
  kh_autoresult PGresult *members = NULL;

  members = exec_locked (self, "SELECT role, public_key FROM keyhold.member_keys", NULL, error);
  if (members == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (members); i++)
    {
      g_autoptr(GBytes) public_key = get_bytea (members, i, 1);
      g_autoptr(GBytes) sealed = NULL;
      kh_autoresult PGresult *result = NULL;
      Params p = { 0 };

      if (public_key == NULL || g_bytes_get_size (public_key) != KH_TEAM_BOX_PUBLIC_BYTES)
        continue;
      sealed = kh_team_box_seal_key (new_key, g_bytes_get_data (public_key, NULL));
      param_text (&p, PQgetvalue (members, i, 0));
      param_text (&p, key_id_text);
      param_bytes (&p, sealed);
      result = exec_locked (self, "INSERT INTO keyhold.key_grants (role, key_id, sealed_key) "
                                  "VALUES ($1, $2::integer, $3)", &p, error);
      if (result == NULL)
        return FALSE;
    }
  return exec_simple_locked (self, "DELETE FROM keyhold.key_grants WHERE key_id < "
                                   "(SELECT max (key_id) FROM keyhold.key_grants)", error);
}

/* Inside a transaction: the new key replaces the old one everywhere in the database. On
 * success the KhTeam holds the new key (the caller commits, then keeps it locally). */
static gboolean
rotate_locked (KhTeam  *self,
               guint8  *new_key,
               GError **error)
{
  guint32 new_key_id = self->key_id + 1;
  g_autofree char *key_id_text = g_strdup_printf ("%u", new_key_id);
  g_autoptr(GBytes) check = NULL;
  g_autoptr(GBytes) check_nonce = NULL;
  kh_autoresult PGresult *result = NULL;
  Params p = { 0 };

  /* meta first: the policies accept rows sealed under meta's key only. */
  kh_team_seal (new_key, new_key_id, "meta", self->team_id, KEY_CHECK_TEXT,
                strlen (KEY_CHECK_TEXT), &check_nonce, &check);
  param_text (&p, key_id_text);
  param_bytes (&p, check);
  param_bytes (&p, check_nonce);
  result = exec_locked (self, "UPDATE keyhold.meta SET key_id = $1::integer, key_check = $2, "
                              "key_check_nonce = $3", &p, error);
  return result != NULL &&
         reseal_table_locked (self, "grants", new_key, new_key_id, error) &&
         reseal_table_locked (self, "apps", new_key, new_key_id, error) &&
         distribute_key_locked (self, new_key, new_key_id, error);
}

/* Runs the rotation (after the optional member removal) in one transaction, then keeps the
 * new key locally. */
static gboolean
rotate_with (KhTeam      *self,
             const char  *removed_role,
             char       **join_code_out,
             GError     **error)
{
  guint8 *new_key = kh_team_key_new_random ();
  guint32 old_key_id;
  gboolean ok;

  if (!begin_locked (self, error))
    {
      kh_team_key_free (new_key);
      return FALSE;
    }
  ok = require_admin_locked (self, error) && exec_simple_locked (self, "BEGIN", error) &&
       exec_simple_locked (self, "LOCK TABLE keyhold.meta IN EXCLUSIVE MODE", error) &&
       recheck_team_locked (self, error);
  old_key_id = self->key_id;
  if (ok && removed_role != NULL)
    {
      g_autofree char *ident = member_ident_locked (self, removed_role, error);
      kh_autoresult PGresult *keys = NULL;
      Params p = { 0 };

      ok = ident != NULL && delete_access_locked (self, removed_role, NULL, error);
      if (ok)
        {
          g_autofree char *member = team_role_ident (self, FALSE);
          g_autofree char *admin = team_role_ident (self, TRUE);
          g_autofree char *revoke = g_strdup_printf ("REVOKE %s, %s FROM %s", member, admin,
                                                     ident);

          ok = exec_simple_locked (self, revoke, error);
        }
      param_text (&p, removed_role);
      ok = ok && (keys = exec_locked (self, "DELETE FROM keyhold.member_keys WHERE role = $1",
                                      &p, error)) != NULL;
      ok = ok && audit_access_locked (self, removed_role, error);
    }
  ok = ok && rotate_locked (self, new_key, error) && exec_simple_locked (self, "COMMIT", error);
  if (ok)
    {
      g_autoptr(GError) local_error = NULL;

      memcpy (self->key, new_key, KH_TEAM_KEY_BYTES);
      self->key_id = old_key_id + 1;
      /* The database has committed: if the keyring write fails, this admin still finds the key
       * sealed to its own public key at the next open. */
      if (self->key_file == NULL && (!save_key_item (self, &local_error) ||
                                     !write_config (self, &local_error)))
        g_warning ("Could not keep the new team key: %s", local_error->message);
      remove_cache_dir (self);
      if (join_code_out != NULL)
        *join_code_out = kh_team_join_code_encode (self->team_id, self->key_id, self->key);
    }
  kh_team_key_free (new_key);
  end_locked (self);
  return ok;
}

gboolean
kh_team_rotate_key (KhTeam  *self,
                    char   **join_code_out,
                    GError **error)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return rotate_with (self, NULL, join_code_out, error);
}

gboolean
kh_team_revoke_member (KhTeam      *self,
                       const char  *role,
                       char       **join_code_out,
                       GError     **error)
{
  g_return_val_if_fail (KH_IS_TEAM (self), FALSE);
  g_return_val_if_fail (role != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_strcmp0 (role, self->role) == 0)
    {
      g_set_error_literal (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("An admin cannot remove themselves: use "
                             "“keyhold-cli team leave”"));
      return FALSE;
    }
  return rotate_with (self, role, join_code_out, error);
}

/* ---- live updates ------------------------------------------------------------------------- */

static gboolean
watch_dispatch (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  Watch *watch = user_data;
  PGnotify *notify;

  if (!PQconsumeInput (watch->conn))
    {
      g_debug ("The team watch lost its connection: %s", PQerrorMessage (watch->conn));
      watch->changed (NULL, watch->user_data);
      return G_SOURCE_REMOVE;
    }
  while ((notify = PQnotifies (watch->conn)) != NULL)
    {
      if (notify->extra != NULL && grant_id_is_safe (notify->extra))
        watch->changed (notify->extra, watch->user_data);
      PQfreemem (notify);
    }
  return G_SOURCE_CONTINUE;
}

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  if (watch->team != NULL)
    watch->team->watches = g_list_remove (watch->team->watches, watch);
  PQfinish (watch->conn);
  if (watch->notify != NULL)
    watch->notify (watch->user_data);
  g_free (watch);
}

guint
kh_team_watch (KhTeam            *self,
               GMainContext      *context,
               KhTeamChangedFunc  changed,
               gpointer           user_data,
               GDestroyNotify     notify,
               GError           **error)
{
  Watch *watch;
  PGconn *conn;
  PGresult *result;
  guint id;

  g_return_val_if_fail (KH_IS_TEAM (self), 0);
  g_return_val_if_fail (changed != NULL, 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  /* Checks the team (and the key) on the main connection first, so a watch never runs for a
   * database this member cannot use. */
  if (!begin_locked (self, error))
    return 0;
  end_locked (self);

  conn = connect_raw (self->conninfo, self->password, error);
  if (conn == NULL)
    return 0;
  result = PQexec (conn, "LISTEN " NOTIFY_CHANNEL);
  if (PQresultStatus (result) != PGRES_COMMAND_OK)
    {
      set_unreachable (error, PQerrorMessage (conn));
      PQclear (result);
      PQfinish (conn);
      return 0;
    }
  PQclear (result);
  PQsetnonblocking (conn, 1);

  watch = g_new0 (Watch, 1);
  watch->team = self;
  watch->conn = conn;
  watch->changed = changed;
  watch->user_data = user_data;
  watch->notify = notify;
  watch->source = g_unix_fd_source_new (PQsocket (conn), G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_name (watch->source, "[keyhold] team watch");
  g_source_set_callback (watch->source, G_SOURCE_FUNC (watch_dispatch), watch, watch_free);
  self->watches = g_list_prepend (self->watches, watch);
  id = g_source_attach (watch->source, context);
  g_source_unref (watch->source);
  return id;
}

void
kh_team_unwatch (KhTeam *self,
                 guint   watch_id)
{
  g_return_if_fail (KH_IS_TEAM (self));

  for (GList *l = self->watches; l != NULL; l = l->next)
    {
      Watch *watch = l->data;

      if (g_source_get_id (watch->source) == watch_id)
        {
          g_source_destroy (watch->source);
          return;
        }
    }
}

/* ---- status ------------------------------------------------------------------------------- */

JsonObject *
kh_team_describe (KhTeam  *self,
                  GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();
  kh_autoresult PGresult *count = NULL;
  kh_autoresult PGresult *members = NULL;
  g_autofree char *member_role = NULL;
  g_autofree char *admin_role = NULL;
  Params p = { 0 };

  g_return_val_if_fail (KH_IS_TEAM (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!begin_locked (self, error))
    return NULL;
  count = exec_locked (self, "SELECT count (*) FROM keyhold.grants", NULL, error);
  if (count == NULL)
    {
      end_locked (self);
      return NULL;
    }
  member_role = kh_team_schema_member_role (self->team_id);
  admin_role = kh_team_schema_admin_role (self->team_id);
  param_text (&p, member_role);
  param_text (&p, admin_role);
  /* RLS on access shows a member only its own clients; the roles themselves are public in
   * pg_roles, so a non-admin is shown only itself. */
  members = exec_locked (self, "SELECT r.rolname, pg_has_role (r.oid, $2, 'MEMBER'), "
                               "COALESCE ((SELECT json_agg (a.client ORDER BY a.client) FROM "
                               "keyhold.access a WHERE a.role = r.rolname), '[]')::text "
                               "FROM pg_roles r WHERE r.rolcanlogin AND NOT r.rolsuper AND "
                               "pg_has_role (r.oid, $1, 'MEMBER') AND "
                               "(keyhold.is_admin () OR r.rolname = current_user) "
                               "ORDER BY r.rolname", &p, error);
  if (members == NULL)
    {
      end_locked (self);
      return NULL;
    }

  json_object_set_string_member (object, "team_id", self->team_id);
  json_object_set_string_member (object, "host", PQhost (self->conn));
  json_object_set_string_member (object, "port", PQport (self->conn));
  json_object_set_string_member (object, "database", PQdb (self->conn));
  json_object_set_string_member (object, "role", self->role);
  json_object_set_boolean_member (object, "admin", self->is_admin);
  json_object_set_int_member (object, "schema_version", self->schema_version);
  json_object_set_int_member (object, "key_id", self->key_id);
  json_object_set_string_member (object, "key_source", self->key_file ? "file" : "keyring");
  json_object_set_int_member (object, "grants", g_ascii_strtoll (PQgetvalue (count, 0, 0),
                                                                 NULL, 10));
  {
    JsonArray *array = json_array_new ();

    for (int i = 0; i < PQntuples (members); i++)
      {
        JsonObject *member = json_object_new ();
        const char *clients = PQgetvalue (members, i, 2);

        json_object_set_string_member (member, "role", PQgetvalue (members, i, 0));
        json_object_set_boolean_member (member, "admin",
                                        g_str_equal (PQgetvalue (members, i, 1), "t"));
        json_object_set_member (member, "clients",
                                kh_json_parse (clients, strlen (clients), NULL));
        json_array_add_object_element (array, member);
      }
    json_object_set_array_member (object, "members", array);
  }
  end_locked (self);
  return g_steal_pointer (&object);
}
