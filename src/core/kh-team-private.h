/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-private.h: the pieces of the team store that kh-team.c shares with its two helpers:
 * sealing and key handling (kh-team-crypto.c) and the schema (kh-team-schema.c). */
#pragma once

#include <glib.h>
#include <libpq-fe.h>

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

G_END_DECLS
