/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-private.h: what the files of the team store share (not installed, not API). The map:
 *   kh-team.c            the KhTeam object, its accessors, the status
 *   kh-team-config.c     team.json, the team key in the keyring or a key file, the URL check
 *   kh-team-db.c         error mapping, parameters, statements and results
 *   kh-team-connect.c    the connection, its lock, the team check once per connection
 *   kh-team-lifecycle.c  open, create, join, leave
 *   kh-team-grants.c     the grants' rows and reading their tokens
 *   kh-team-refresh.c    the refresh under the row lock
 *   kh-team-cache.c      the offline cache
 *   kh-team-audit.c      the audit log
 *   kh-team-apps.c       shared app profiles
 *   kh-team-access.c     member access to clients
 *   kh-team-rotate.c     key rotation and removing a member
 *   kh-team-watch.c      LISTEN/NOTIFY
 *   kh-team-crypto.c     sealing and key handling (libsodium)
 *   kh-team-schema.c     the schema and its migrations */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libpq-fe.h>

#include "kh-store.h"
#include "kh-team.h"

G_BEGIN_DECLS

#define KH_TEAM_KEY_BYTES 32
#define KH_TEAM_NONCE_BYTES 24
#define KH_TEAM_BOX_PUBLIC_BYTES 32
#define KH_TEAM_BOX_SECRET_BYTES 32

/* ---- kh-team-crypto.c ---------------------------------------------------------------------- */

/* sodium_init, once. FALSE only when libsodium cannot initialise (no entropy source). */
gboolean  kh_team_crypto_init       (void);
/* A key buffer from sodium_malloc (guarded, locked, wiped by kh_team_key_free). */
guint8   *kh_team_key_new           (void);
guint8   *kh_team_key_new_random    (void);
void      kh_team_key_free          (guint8        *key);

/* XChaCha20-Poly1305 with a fresh random nonce; associated data "keyhold:TABLE:ROW:KEY_ID", so
 * a sealed value opens only in its own row, table and key generation. */
void      kh_team_seal              (const guint8  *key,
                                     guint32        key_id,
                                     const char    *table,
                                     const char    *row_id,
                                     const char    *plain,
                                     gsize          plain_len,
                                     GBytes       **nonce_out,
                                     GBytes       **sealed_out);
/* The plaintext (NUL-terminated; wipe and free it with kh_team_secret_free), or NULL with
 * KH_ERROR_TEAM_KEY when the key, the row, the table, the key id or a byte does not fit. */
char     *kh_team_unseal            (const guint8  *key,
                                     guint32        key_id,
                                     const char    *table,
                                     const char    *row_id,
                                     GBytes        *nonce,
                                     GBytes        *sealed,
                                     GError       **error);
void      kh_team_secret_free       (char          *secret);
/* KH_ERROR_TEAM_KEY: "the team key does not open the team's data", with the fix. */
void      kh_team_set_wrong_key_error (GError      **error);

/* "khjoin1:" + base64url (team uuid 16 bytes, key id 4 bytes big-endian, key 32 bytes). */
char     *kh_team_join_code_encode  (const char    *team_id,
                                     guint32        key_id,
                                     const guint8  *key);
/* KH_ERROR_TEAM_KEY for anything but a well-formed code; key_out is a kh_team_key_new buffer. */
gboolean  kh_team_join_code_decode  (const char    *code,
                                     char         **team_id_out,
                                     guint32       *key_id_out,
                                     guint8        *key_out,
                                     GError       **error);

/* The member key pair that receives rotated team keys (crypto_box_seal). */
void      kh_team_box_keypair       (guint8        *public_out,
                                     guint8        *secret_out);
GBytes   *kh_team_box_seal_key      (const guint8  *team_key,
                                     const guint8  *public_key);
/* FALSE with KH_ERROR_TEAM_KEY when sealed is not for this pair. */
gboolean  kh_team_box_open_key      (GBytes        *sealed,
                                     const guint8  *public_key,
                                     const guint8  *secret_key,
                                     guint8        *team_key_out,
                                     GError       **error);

/* Base64 of bytes (the local files and keyring items), and back into a fixed-size buffer. */
char     *kh_team_b64_encode        (const guint8  *data,
                                     gsize          len);
gboolean  kh_team_b64_decode        (const char    *text,
                                     guint8        *out,
                                     gsize          len);

/* ---- kh-team-schema.c ---------------------------------------------------------------------- */

/* The group role names of a team (cluster-wide, so derived from its id). */
char     *kh_team_schema_admin_role  (const char   *team_id);
char     *kh_team_schema_member_role (const char   *team_id);
/* text quoted for SQL on conn: an identifier (PQescapeIdentifier) or a literal
 * (PQescapeLiteral). Only for role names; values always go as parameters. */
char     *kh_team_sql_quote          (PGconn       *conn,
                                      const char   *text,
                                      gboolean      literal);
/* The DDL that brings a database from schema version from to from + 1, with the team's role
 * names quoted for conn (PQescapeIdentifier/PQescapeLiteral). NULL when from is the newest. */
char     *kh_team_schema_migration   (PGconn       *conn,
                                      int           from,
                                      const char   *team_id);

/* ---- the object and its helpers' shared pieces --------------------------------------------- */

#define CONFIG_VERSION 1
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

typedef struct {
  KhTeam            *team;   /* borrowed: the watch ends in dispose */
  PGconn            *conn;
  GSource           *source;
  KhTeamChangedFunc  changed;
  gpointer           user_data;
  GDestroyNotify     notify;
} Watch;

static inline void
kh_team_secret_clear (char **secret)
{
  kh_team_secret_free (g_steal_pointer (secret));
}

#define kh_autowipe __attribute__ ((cleanup (kh_team_secret_clear)))

static inline void
kh_team_pq_clear (PGresult **result)
{
  g_clear_pointer (result, PQclear);
}

#define kh_autoresult __attribute__ ((cleanup (kh_team_pq_clear)))

/* A parameter list: text values, or bytea as binary. */
typedef struct {
  const char *values[12];
  int         lengths[12];
  int         formats[12];
  int         n;
} Params;

#define GRANT_COLUMNS "info::text, sealed_tokens, nonce, key_id, version"

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

/* ---- kh-team.c ----------------------------------------------------------------------------- */

KhTeam *kh_team_object_new (const char *store_dir,
                            KhStore    *store);

/* ---- kh-team-db.c -------------------------------------------------------------------------- */

PGresult *kh_team_exec_locked (KhTeam      *self,
                               const char  *sql,
                               Params      *params,
                               GError     **error);
gboolean kh_team_exec_simple_locked (KhTeam      *self,
                                     const char  *sql,
                                     GError     **error);
char *kh_team_first_line (const char *text);
GBytes *kh_team_result_bytea (PGresult *result,
                              int       row,
                              int       column);
const char *kh_team_result_text (PGresult *result,
                                 int       row,
                                 int       column);
void kh_team_param_bytes (Params *p,
                          GBytes *bytes);
void kh_team_param_text (Params     *p,
                         const char *value);
void kh_team_rollback_locked (KhTeam *self);
void kh_team_set_connect_error (GError     **error,
                                PGconn      *conn,
                                const char  *role);
void kh_team_set_unreachable (GError     **error,
                              const char  *detail);

/* ---- kh-team-connect.c --------------------------------------------------------------------- */

gboolean kh_team_begin_locked (KhTeam  *self,
                               GError **error);
gboolean kh_team_check_locked (KhTeam    *self,
                               gboolean   for_join,
                               GError   **error);
PGconn *kh_team_connect_raw (const char  *conninfo,
                             const char  *password,
                             GError     **error);
gboolean kh_team_crypto_ready (GError **error);
void kh_team_end_locked (KhTeam *self);
gboolean kh_team_recheck_locked (KhTeam  *self,
                                 GError **error);
gboolean kh_team_require_admin_locked (KhTeam  *self,
                                       GError **error);
PGresult *kh_team_run_query (KhTeam      *self,
                             const char  *sql,
                             Params      *params,
                             GError     **error);

/* ---- kh-team-config.c ---------------------------------------------------------------------- */

gboolean kh_team_parse_key_item (KhTeam      *self,
                                 const char  *text,
                                 GError     **error);
JsonObject *kh_team_read_json_file (const char  *path,
                                    GError     **error);
gboolean kh_team_read_key_file (const char  *path,
                                char       **team_id_out,
                                guint32     *key_id_out,
                                guint8      *key_out,
                                GError     **error);
gboolean kh_team_save_key_item (KhTeam  *self,
                                GError **error);
gboolean kh_team_write_config (KhTeam  *self,
                               GError **error);
gboolean kh_team_write_private_file (const char  *path,
                                     const char  *contents,
                                     gboolean     durable,
                                     GError     **error);

/* ---- kh-team-cache.c ----------------------------------------------------------------------- */

gboolean kh_team_cache_read (KhTeam      *self,
                             const char  *grant_id,
                             KhGrant    **grant_out,
                             KhTokenSet **tokens_out);
void kh_team_cache_remove (KhTeam     *self,
                           const char *grant_id);
void kh_team_cache_write (KhTeam     *self,
                          const char *grant_id,
                          const char *info,
                          GBytes     *sealed,
                          GBytes     *nonce,
                          guint32     key_id);
gboolean kh_team_grant_id_is_safe (const char *grant_id);
void kh_team_remove_cache_dir (KhTeam *self);

/* ---- kh-team-grants.c ---------------------------------------------------------------------- */

const char *kh_team_grant_type_id (KhGrant *grant);
void kh_team_sealed_row_clear (SealedRow *row);
void kh_team_sealed_row_init (KhTeam           *self,
                              SealedRow        *row,
                              KhGrant          *grant,
                              const KhTokenSet *tokens);
void kh_team_sealed_row_params (SealedRow *row,
                                Params    *p);
void kh_team_set_grant_not_found (KhTeam      *self,
                                  const char  *id_or_name,
                                  GError     **error);
gboolean kh_team_tokens_equal (const KhTokenSet *a,
                               const KhTokenSet *b);
KhTokenSet *kh_team_tokens_from_text (const char  *text,
                                      GError     **error);
gboolean kh_team_unseal_row (KhTeam      *self,
                             PGresult    *result,
                             const char  *grant_id,
                             KhGrant    **grant_out,
                             KhTokenSet **tokens_out,
                             GError     **error);

/* ---- kh-team-audit.c ----------------------------------------------------------------------- */

gboolean kh_team_insert_audit_locked (KhTeam      *self,
                                      const char  *action,
                                      const char  *grant_id,
                                      const char  *type,
                                      const char  *client,
                                      JsonObject  *detail,
                                      GError     **error);

/* ---- kh-team-access.c ---------------------------------------------------------------------- */

gboolean kh_team_audit_access_locked (KhTeam      *self,
                                      const char  *role,
                                      GError     **error);
gboolean kh_team_delete_access_locked (KhTeam              *self,
                                       const char          *role,
                                       const char * const  *clients,
                                       GError             **error);
char *kh_team_member_ident_locked (KhTeam      *self,
                                   const char  *role,
                                   GError     **error);
char *kh_team_role_ident (KhTeam   *self,
                          gboolean  admin);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SealedRow, kh_team_sealed_row_clear)

G_END_DECLS
