/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-team.c: the team store (KhTeam) against a private PostgreSQL 15 cluster (kh-test-pg)
 * and the real gnome-keyring of .ci/session: sealing, create/join/open, row-level security
 * checked through KhTeam and by SQL directly, key rotation, the one refresh writer across
 * threads and processes (and a process killed inside the refresh), errors, the offline cache,
 * the audit and NOTIFY. Every case has its own database, roles and stores. */

#include "config.h"

#include <glib/gstdio.h>
#include <libsecret/secret.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kh-broker.h"
#include "kh-error.h"
#include "kh-json.h"
#include "kh-store.h"
#include "kh-team.h"
#include "kh-team-private.h"
#include "kh-test-pg.h"
#include "kh-test-util.h"
#include "kh-util.h"

static KhTestPg *pg;
static guint counter;

/* ---- fixtures ------------------------------------------------------------------------------- */

typedef struct {
  char    *data_dir;
  char    *store_name;
  KhStore *store;
} Desk;

static Desk *
desk_new (void)
{
  Desk *desk = g_new0 (Desk, 1);
  g_autofree char *template = g_build_filename (kh_test_get_tmpdir (), "desk-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;

  desk->data_dir = g_mkdtemp (g_steal_pointer (&template));
  g_assert_nonnull (desk->data_dir);
  desk->store_name = g_strdup_printf ("test-team-%d-%08x-%u", (int) getpid (), g_random_int (),
                                      ++counter);
  desk->store = kh_store_new (desk->data_dir, desk->store_name, &error);
  g_assert_no_error (error);
  return desk;
}

static void
desk_free (Desk *desk)
{
  secret_password_clear_sync (kh_store_get_item_schema (), NULL, NULL, "store", desk->store_name,
                              NULL);
  g_object_unref (desk->store);
  g_free (desk->data_dir);
  g_free (desk->store_name);
  g_free (desk);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Desk, desk_free)

/* A database with an admin role (CREATEROLE) and n member roles "m1".."mN" of this case. */
typedef struct {
  char *db;
  char *admin;
  char *members[3];
} Cluster;

static void
cluster_init (Cluster *c)
{
  guint n = ++counter;

  c->db = kh_test_pg_create_database (pg, "team");
  c->admin = g_strdup_printf ("admin_%u", n);
  kh_test_pg_create_role (pg, c->admin, "pw-admin", TRUE, c->db);
  for (guint i = 0; i < G_N_ELEMENTS (c->members); i++)
    {
      c->members[i] = g_strdup_printf ("m%u_%u", i + 1, n);
      kh_test_pg_create_role (pg, c->members[i], "pw-member", FALSE, c->db);
    }
}

static void
cluster_clear (Cluster *c)
{
  g_free (c->db);
  g_free (c->admin);
  for (guint i = 0; i < G_N_ELEMENTS (c->members); i++)
    g_free (c->members[i]);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Cluster, cluster_clear)

static KhTeam *
create_team (Cluster *c,
             Desk    *desk,
             char   **join_code_out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = kh_test_pg_url (pg, c->admin, c->db);
  g_autofree char *code = NULL;
  KhTeam *team;

  team = kh_team_create (desk->store, url, "pw-admin", &code, &error);
  g_assert_no_error (error);
  g_assert_nonnull (team);
  g_assert_true (g_str_has_prefix (code, "khjoin1:"));
  if (join_code_out != NULL)
    *join_code_out = g_steal_pointer (&code);
  return team;
}

static KhTeam *
join_team (Cluster    *c,
           guint       member,
           Desk       *desk,
           const char *code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *url = kh_test_pg_url (pg, c->members[member], c->db);
  KhTeam *team;

  team = kh_team_join (desk->store, url, "pw-member", code, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (team);
  return team;
}

static void
grant_access (KhTeam     *admin,
              const char *role,
              const char *client)
{
  g_autoptr(GError) error = NULL;
  const char *clients[] = { client, NULL };

  kh_team_grant_access (admin, role, client ? clients : NULL, &error);
  g_assert_no_error (error);
}

static KhTokenSet *
make_tokens (const char *tag,
             gint64      access_valid)
{
  KhTokenSet *tokens = kh_token_set_new ();

  tokens->access_token = g_strdup_printf ("AT-secret-%s", tag);
  tokens->refresh_token = g_strdup_printf ("RT-secret-%s", tag);
  tokens->access_expires_at = kh_now () + access_valid;
  tokens->refresh_expires_at = kh_now () + 365 * 24 * 3600;
  return tokens;
}

/* Shares a seller grant of client (NULL: none) with tokens tagged tag; returns its id. */
static char *
put_grant (KhTeam     *team,
           const char *client,
           const char *name,
           const char *tag,
           gint64      access_valid)
{
  g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "shop-app");
  g_autoptr(KhTokenSet) tokens = make_tokens (tag, access_valid);
  g_autoptr(GError) error = NULL;

  kh_grant_set_client_label (grant, client);
  kh_grant_set_display_name (grant, name);
  kh_team_put_grant (team, grant, tokens, &error);
  g_assert_no_error (error);
  return g_strdup (kh_grant_get_id (grant));
}

static char *
sql_value (const char *role,
           const char *password,
           const char *db,
           const char *sql,
           char      **sqlstate_out)
{
  PGconn *conn = kh_test_pg_connect (pg, role, password, db);
  char *value = kh_test_pg_query_value (conn, sql, sqlstate_out);

  PQfinish (conn);
  return value;
}

static GBytes *
hex_bytes (const char *hex)
{
  gsize len = strlen (hex) / 2;
  guint8 *data = g_malloc (len);

  for (gsize i = 0; i < len; i++)
    data[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) << 4 |
                        g_ascii_xdigit_value (hex[2 * i + 1]));
  return g_bytes_new_take (data, len);
}

static gboolean
bytes_contain (GBytes     *bytes,
               const char *needle)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  gsize n = strlen (needle);

  for (gsize i = 0; i + n <= len; i++)
    if (memcmp (data + i, needle, n) == 0)
      return TRUE;
  return FALSE;
}

/* ---- sealing ------------------------------------------------------------------------------ */

static void
test_seal (void)
{
  guint8 *key = kh_team_key_new_random ();
  guint8 *other = kh_team_key_new_random ();
  g_autoptr(GBytes) nonce = NULL;
  g_autoptr(GBytes) sealed = NULL;
  g_autoptr(GBytes) nonce2 = NULL;
  g_autoptr(GBytes) sealed2 = NULL;
  g_autoptr(GBytes) flipped = NULL;
  g_autoptr(GError) error = NULL;
  const char *plain = "{\"access_token\":\"secret\"}";
  char *opened;
  guint8 *bytes;
  gsize len;

  kh_team_seal (key, 3, "grants", "g1", plain, strlen (plain), &nonce, &sealed);
  g_assert_cmpuint (g_bytes_get_size (nonce), ==, KH_TEAM_NONCE_BYTES);
  g_assert_false (bytes_contain (sealed, "secret"));
  opened = kh_team_unseal (key, 3, "grants", "g1", nonce, sealed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (opened, ==, plain);
  kh_team_secret_free (opened);

  /* A fresh nonce every time. */
  kh_team_seal (key, 3, "grants", "g1", plain, strlen (plain), &nonce2, &sealed2);
  g_assert_false (g_bytes_equal (nonce, nonce2));

  /* Another row, table or key generation, a wrong key, a flipped byte: nothing opens. */
  g_assert_null (kh_team_unseal (key, 3, "grants", "g2", nonce, sealed, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_clear_error (&error);
  g_assert_null (kh_team_unseal (key, 3, "apps", "g1", nonce, sealed, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_clear_error (&error);
  g_assert_null (kh_team_unseal (key, 4, "grants", "g1", nonce, sealed, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_clear_error (&error);
  g_assert_null (kh_team_unseal (other, 3, "grants", "g1", nonce, sealed, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_clear_error (&error);
  bytes = g_bytes_unref_to_data (g_bytes_ref (sealed), &len);
  bytes[len / 2] ^= 0x01;
  flipped = g_bytes_new_take (bytes, len);
  g_assert_null (kh_team_unseal (key, 3, "grants", "g1", nonce, flipped, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_clear_error (&error);

  kh_team_key_free (key);
  kh_team_key_free (other);
}

static void
test_join_code (void)
{
  g_autofree char *team_id = g_uuid_string_random ();
  g_autofree char *decoded_id = NULL;
  g_autofree char *code = NULL;
  g_autoptr(GError) error = NULL;
  guint8 *key = kh_team_key_new_random ();
  guint8 *out = kh_team_key_new ();
  guint32 key_id = 0;

  code = kh_team_join_code_encode (team_id, 70000, key);
  g_assert_true (g_str_has_prefix (code, "khjoin1:"));
  g_assert_true (kh_team_join_code_decode (code, &decoded_id, &key_id, out, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (decoded_id, ==, team_id);
  g_assert_cmpuint (key_id, ==, 70000);
  g_assert_cmpmem (out, KH_TEAM_KEY_BYTES, key, KH_TEAM_KEY_BYTES);

  g_assert_false (kh_team_join_code_decode ("khjoin1:short", &decoded_id, &key_id, out, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_clear_error (&error);
  g_assert_false (kh_team_join_code_decode (code + 1, &decoded_id, &key_id, out, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);

  kh_team_key_free (key);
  kh_team_key_free (out);
}

/* ---- create, join, open ------------------------------------------------------------------- */

static void
test_create_join_open (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) member_desk = desk_new ();
  g_autoptr(Desk) other_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) member = NULL;
  g_autoptr(KhTeam) again = NULL;
  g_autoptr(KhTeam) none = NULL;
  g_autoptr(KhTeam) failed = NULL;
  g_autoptr(JsonObject) status = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autofree char *code = NULL;
  g_autofree char *url = NULL;
  g_autofree char *bad_url = NULL;
  g_autofree char *config = NULL;
  g_autofree char *grant_id = NULL;
  g_autofree char *wrong_code = NULL;
  guint8 *wrong_key = kh_team_key_new_random ();
  char *code2 = NULL;
  struct stat st;

  cluster_init (&c);
  /* Not in a team: NULL, no error. */
  none = kh_team_open (admin_desk->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (none);

  /* A password in the URL is refused before anything happens. */
  bad_url = g_strdup_printf ("postgresql://%s:pw-admin@127.0.0.1:%u/%s", c.admin,
                             kh_test_pg_get_port (pg), c.db);
  failed = kh_team_create (admin_desk->store, bad_url, NULL, &code2, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_URL);
  g_assert_nonnull (strstr (error->message, "password"));
  g_assert_null (failed);
  g_clear_error (&error);

  admin = create_team (&c, admin_desk, &code);
  config = kh_team_dup_config_path (admin_desk->store);
  g_assert_cmpint (g_stat (config, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  {
    g_autofree char *text = NULL;

    g_assert_true (g_file_get_contents (config, &text, NULL, NULL));
    g_assert_null (strstr (text, "pw-admin"));
    g_assert_null (strstr (text, code + 8));
  }

  /* The key is a keyring item of the store's schema, which an index rebuild passes over. */
  {
    char *item = kh_store_load_secret (admin_desk->store, KH_TEAM_KEY_KIND,
                                       kh_team_get_id (admin), &error);
    g_autoptr(GPtrArray) local = NULL;

    g_assert_no_error (error);
    g_assert_nonnull (item);
    g_assert_null (strstr (item, "pw-admin"));
    secret_password_wipe (item);
    g_free (item);
    g_assert_true (kh_store_rebuild_index (admin_desk->store, &error));
    g_assert_no_error (error);
    local = kh_store_list_grants (admin_desk->store);
    g_assert_cmpuint (local->len, ==, 0);
  }

  /* The same database twice, or the same store twice: refused. */
  url = kh_test_pg_url (pg, c.admin, c.db);
  failed = kh_team_create (other_desk->store, url, "pw-admin", &code2, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_EXISTS);
  g_clear_error (&error);
  failed = kh_team_create (admin_desk->store, url, "pw-admin", &code2, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_EXISTS);
  g_clear_error (&error);

  grant_access (admin, c.members[0], "Acme");
  grant_id = put_grant (admin, "Acme", "Acme Shop", "1", 3600);

  /* A join code with the team's id but another key: refused, nothing written locally. */
  {
    g_autofree char *member_url = kh_test_pg_url (pg, c.members[0], c.db);

    wrong_code = kh_team_join_code_encode (kh_team_get_id (admin), 1, wrong_key);
    failed = kh_team_join (member_desk->store, member_url, "pw-member", wrong_code, NULL, &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
    g_assert_null (failed);
    g_clear_error (&error);
    none = kh_team_open (member_desk->store, NULL, &error);
    g_assert_no_error (error);
    g_assert_null (none);
  }

  member = join_team (&c, 0, member_desk, code);
  tokens = kh_team_load_tokens (member, grant_id, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "AT-secret-1");
  g_clear_object (&member);
  g_clear_pointer (&tokens, kh_token_set_free);

  /* Opened again from team.json and the keyring (key and password). */
  again = kh_team_open (member_desk->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);
  tokens = kh_team_load_tokens (again, grant_id, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->refresh_token, ==, "RT-secret-1");

  status = kh_team_describe (again, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (status, "role"), ==, c.members[0]);
  g_assert_false (json_object_get_boolean_member (status, "admin"));
  g_assert_cmpint (json_object_get_int_member (status, "grants"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (status, "schema_version"), ==,
                   KH_TEAM_SCHEMA_VERSION);
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (status, "members")), ==,
                   1);
  g_clear_pointer (&status, json_object_unref);
  status = kh_team_describe (admin, &error);
  g_assert_no_error (error);
  g_assert_true (json_object_get_boolean_member (status, "admin"));
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (status, "members")), ==,
                   2);

  /* Leaving forgets everything local. */
  g_assert_true (kh_team_leave (again, &error));
  g_assert_no_error (error);
  g_clear_object (&again);
  none = kh_team_open (member_desk->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (none);
  g_assert_null (kh_store_load_secret (member_desk->store, KH_TEAM_KEY_KIND,
                                       kh_team_get_id (admin), &error));
  g_assert_no_error (error);
  kh_team_key_free (wrong_key);
}

/* ---- row-level security ------------------------------------------------------------------ */

static void
test_rls (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) member_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) member = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) found = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autofree char *code = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *unlabelled = NULL;
  g_autofree char *value = NULL;
  g_autofree char *sqlstate = NULL;
  g_autofree char *query = NULL;

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");
  a = put_grant (admin, "Acme", "Acme Shop", "a", 3600);
  b = put_grant (admin, "Bolt", "Bolt Shop", "b", 3600);
  unlabelled = put_grant (admin, NULL, "Nobody's Shop", "n", 3600);
  member = join_team (&c, 0, member_desk, code);

  grants = kh_team_list_grants (admin, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (grants->len, ==, 3);
  g_clear_pointer (&grants, g_ptr_array_unref);

  grants = kh_team_list_grants (member, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (grants->len, ==, 1);
  g_assert_cmpstr (kh_grant_get_id (g_ptr_array_index (grants, 0)), ==, a);
  g_assert_cmpstr (kh_grant_get_client_label (g_ptr_array_index (grants, 0)), ==, "Acme");
  g_clear_pointer (&grants, g_ptr_array_unref);

  found = kh_team_find_grant (member, "acme shop", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_grant_get_id (found), ==, a);
  g_clear_object (&found);
  found = kh_team_find_grant (member, "Bolt Shop", &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);
  tokens = kh_team_load_tokens (member, b, NULL, NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_assert_null (tokens);
  g_clear_error (&error);
  g_assert_false (kh_team_remove_grant (member, b, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* A member cannot share into a client it does not have, nor without a client. */
  {
    g_autoptr(KhGrant) grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "shop-app");
    g_autoptr(KhTokenSet) t = make_tokens ("x", 3600);

    kh_grant_set_client_label (grant, "Bolt");
    g_assert_false (kh_team_put_grant (member, grant, t, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
    g_clear_error (&error);
    kh_grant_set_client_label (grant, NULL);
    g_assert_false (kh_team_put_grant (member, grant, t, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
    g_clear_error (&error);
  }

  /* The same from SQL directly, as the member role. */
  value = sql_value (c.members[0], "pw-member", c.db, "SELECT count (*) FROM keyhold.grants",
                     NULL);
  g_assert_cmpstr (value, ==, "1");
  g_clear_pointer (&value, g_free);
  query = g_strdup_printf ("UPDATE keyhold.grants SET client = 'Acme' WHERE id = '%s'", b);
  value = sql_value (c.members[0], "pw-member", c.db, query, NULL);
  g_assert_cmpstr (value, ==, "");   /* 0 rows: RLS hides the row */
  g_clear_pointer (&value, g_free);
  value = sql_value (c.admin, "pw-admin", c.db,
                     "SELECT count (*) FROM keyhold.grants WHERE client = 'Acme'", NULL);
  g_assert_cmpstr (value, ==, "1");
  g_clear_pointer (&value, g_free);

  /* No secret in clear anywhere in the database. */
  value = sql_value (NULL, NULL, c.db,
                     "SELECT count (*) FROM keyhold.grants WHERE position ('AT-secret' IN "
                     "encode (sealed_tokens, 'escape')) > 0 OR info::text LIKE '%secret%'",
                     NULL);
  g_assert_cmpstr (value, ==, "0");
  g_clear_pointer (&value, g_free);

  /* The audit is append-only for a member, whose actor the database sets. */
  g_assert_null (sql_value (c.members[0], "pw-member", c.db, "UPDATE keyhold.audit SET "
                            "action = 'x'", &sqlstate));
  g_assert_cmpstr (sqlstate, ==, "42501");
  g_clear_pointer (&sqlstate, g_free);
  g_assert_null (sql_value (c.members[0], "pw-member", c.db, "DELETE FROM keyhold.audit",
                            &sqlstate));
  g_assert_cmpstr (sqlstate, ==, "42501");
  g_clear_pointer (&sqlstate, g_free);
  g_clear_pointer (&query, g_free);
  query = g_strdup_printf ("INSERT INTO keyhold.audit (actor, action) VALUES ('%s', 'revoked')",
                           c.admin);
  g_assert_null (sql_value (c.members[0], "pw-member", c.db, query, &sqlstate));
  g_assert_cmpstr (sqlstate, ==, "42501");
  g_clear_pointer (&sqlstate, g_free);
  /* ...and the access table is the admins'. */
  g_clear_pointer (&query, g_free);
  query = g_strdup_printf ("INSERT INTO keyhold.access (role, client) VALUES ('%s', 'Bolt')",
                           c.members[0]);
  g_assert_null (sql_value (c.members[0], "pw-member", c.db, query, &sqlstate));
  g_assert_cmpstr (sqlstate, ==, "42501");
  g_clear_pointer (&sqlstate, g_free);

  /* Taking the client away: the member sees nothing, at once. */
  {
    const char *clients[] = { "Acme", NULL };

    g_assert_true (kh_team_revoke_access (admin, c.members[0], clients, &error));
    g_assert_no_error (error);
  }
  grants = kh_team_list_grants (member, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (grants->len, ==, 0);
  value = sql_value (c.members[0], "pw-member", c.db, "SELECT count (*) FROM keyhold.grants",
                     NULL);
  g_assert_cmpstr (value, ==, "0");

  /* Members cannot manage access. */
  g_assert_false (kh_team_grant_access (member, c.members[1], NULL, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
}

/* ---- audit, apps -------------------------------------------------------------------------- */

static void
test_audit_and_apps (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) member_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) member = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhAppProfile) app = kh_app_profile_new ("shop-app", KH_FAMILY_SHOP, "6a1b2c3d4e5f6");
  g_autoptr(KhAppProfile) got = NULL;
  g_autoptr(JsonObject) record = json_object_new ();
  g_autoptr(JsonObject) detail = json_object_new ();
  g_autofree char *code = NULL;
  g_autofree char *a = NULL;
  g_autofree char *secret = NULL;
  JsonObject *last;

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");
  a = put_grant (admin, "Acme", "Acme Shop", "a", 3600);
  member = join_team (&c, 0, member_desk, code);

  json_object_set_string_member (record, "action", "token-read");
  json_object_set_string_member (record, "grant", a);
  json_object_set_string_member (record, "type", "seller");
  json_object_set_string_member (record, "client", "Acme");
  json_object_set_string_member (record, "actor", "someone-else");
  json_object_set_string_member (detail, "command", "token");
  json_object_set_object_member (record, "detail", json_object_ref (detail));
  g_assert_true (kh_team_audit (member, record, &error));
  g_assert_no_error (error);

  records = kh_team_read_audit (admin, a, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  last = json_node_get_object (g_ptr_array_index (records, 0));
  g_assert_cmpint (json_object_get_int_member (last, "v"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (last, "action"), ==, "token-read");
  /* The actor is the database's current_user, whatever the client said. */
  g_assert_cmpstr (json_object_get_string_member (last, "actor"), ==, c.members[0]);
  g_assert_cmpstr (json_object_get_string_member (last, "machine"), ==, g_get_host_name ());
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (last, "detail"),
                                                  "command"), ==, "token");
  g_clear_pointer (&records, g_ptr_array_unref);
  records = kh_team_read_audit (admin, NULL, "acme", kh_now () + 3600, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 0);
  g_clear_pointer (&records, g_ptr_array_unref);
  /* The access change of the setup is there too, with the clients after it. */
  records = kh_team_read_audit (admin, NULL, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 2);
  last = json_node_get_object (g_ptr_array_index (records, 0));
  g_assert_cmpstr (json_object_get_string_member (last, "action"), ==, "access-changed");

  /* Apps: admins write, members read the secret (their refreshes need it). */
  g_assert_true (kh_team_put_app (admin, app, "app-secret-value", &error));
  g_assert_no_error (error);
  g_assert_false (kh_team_put_app (member, app, "other", &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
  g_clear_error (&error);
  got = kh_team_get_app (member, "shop-app", &secret, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (kh_app_profile_get_app_key (got), ==, "6a1b2c3d4e5f6");
  g_assert_cmpstr (secret, ==, "app-secret-value");
  g_clear_object (&got);
  got = kh_team_get_app (member, "nope", NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_NOT_FOUND);
  g_assert_null (got);
  g_clear_error (&error);

  /* After a rotation the member's checked connection still holds key 1; the app's row, sealed
   * under key 2, makes it pick up the new key (as a grant's row does) instead of failing. */
  g_assert_true (kh_team_rotate_key (admin, NULL, &error));
  g_assert_no_error (error);
  g_clear_pointer (&secret, g_free);
  got = kh_team_get_app (member, "shop-app", &secret, &error);
  g_assert_no_error (error);
  g_assert_nonnull (got);
  g_assert_cmpstr (secret, ==, "app-secret-value");
}

/* ---- key rotation ------------------------------------------------------------------------ */

static void
test_rotate (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) stay_desk = desk_new ();
  g_autoptr(Desk) gone_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) stay = NULL;
  g_autoptr(KhTeam) gone = NULL;
  g_autoptr(KhTeam) stay_again = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autofree char *code = NULL;
  g_autofree char *new_code = NULL;
  g_autofree char *a = NULL;
  g_autofree char *old_team_id = NULL;
  g_autofree char *query = NULL;
  g_autofree char *value = NULL;
  guint8 *old_key = kh_team_key_new ();
  guint32 old_key_id = 0;

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");
  grant_access (admin, c.members[1], "Acme");
  a = put_grant (admin, "Acme", "Acme Shop", "a", 3600);
  stay = join_team (&c, 0, stay_desk, code);
  gone = join_team (&c, 1, gone_desk, code);
  g_assert_true (kh_team_join_code_decode (code, &old_team_id, &old_key_id, old_key, NULL));

  g_assert_true (kh_team_revoke_member (admin, c.members[1], &new_code, &error));
  g_assert_no_error (error);
  g_assert_nonnull (new_code);
  g_assert_cmpstr (new_code, !=, code);

  /* Every row is sealed under key 2 now. */
  value = sql_value (NULL, NULL, c.db, "SELECT string_agg (DISTINCT key_id::text, ',') FROM "
                     "keyhold.grants", NULL);
  g_assert_cmpstr (value, ==, "2");
  g_clear_pointer (&value, g_free);

  /* The admin goes on with the new key. */
  tokens = kh_team_load_tokens (admin, a, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "AT-secret-a");
  g_clear_pointer (&tokens, kh_token_set_free);

  /* The remaining member picks the new key up from the database, without a new join code. */
  g_clear_object (&stay);
  stay_again = kh_team_open (stay_desk->store, NULL, &error);
  g_assert_no_error (error);
  tokens = kh_team_load_tokens (stay_again, a, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "AT-secret-a");
  g_clear_pointer (&tokens, kh_token_set_free);

  /* The removed member sees nothing... */
  grants = kh_team_list_grants (gone, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
  g_assert_null (grants);
  g_clear_error (&error);

  /* ...and its old key opens nothing new, even with the row in hand (a database dump). */
  query = g_strdup_printf ("SELECT encode (sealed_tokens, 'hex') || ' ' || "
                           "encode (nonce, 'hex') FROM keyhold.grants WHERE id = '%s'", a);
  value = sql_value (NULL, NULL, c.db, query, NULL);
  {
    g_auto(GStrv) parts = g_strsplit (value, " ", 2);
    g_autoptr(GBytes) sealed = hex_bytes (parts[0]);
    g_autoptr(GBytes) nonce = hex_bytes (parts[1]);

    g_assert_null (kh_team_unseal (old_key, 2, "grants", a, nonce, sealed, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
    g_clear_error (&error);
    g_assert_null (kh_team_unseal (old_key, old_key_id, "grants", a, nonce, sealed, &error));
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
    g_clear_error (&error);
  }

  /* New rows are sealed under the current key, and the database refuses a row that claims an
   * older one. */
  {
    g_autofree char *b = put_grant (stay_again, "Acme", "Acme Two", "b", 3600);
    g_autofree char *check = g_strdup_printf ("SELECT key_id FROM keyhold.grants WHERE id = '%s'",
                                              b);
    g_autofree char *sqlstate = NULL;
    g_autofree char *stale = g_strdup_printf ("UPDATE keyhold.grants SET key_id = 1 WHERE id = "
                                              "'%s'", b);

    g_clear_pointer (&value, g_free);
    value = sql_value (NULL, NULL, c.db, check, NULL);
    g_assert_cmpstr (value, ==, "2");
    g_assert_null (sql_value (c.members[0], "pw-member", c.db, stale, &sqlstate));
    g_assert_cmpstr (sqlstate, ==, "42501");
  }

  /* A plain rotation: the admin keeps working, and the remaining member follows again. */
  g_assert_true (kh_team_rotate_key (admin, NULL, &error));
  g_assert_no_error (error);
  /* stay_again still holds key 2: its write is refused, it picks key 3 up and writes again. */
  {
    g_autofree char *c_id = put_grant (stay_again, "Acme", "Acme Three", "c", 3600);
    g_autofree char *check = g_strdup_printf ("SELECT key_id FROM keyhold.grants WHERE id = '%s'",
                                              c_id);

    g_clear_pointer (&value, g_free);
    value = sql_value (NULL, NULL, c.db, check, NULL);
    g_assert_cmpstr (value, ==, "3");
  }
  tokens = kh_team_load_tokens (stay_again, a, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (tokens->access_token, ==, "AT-secret-a");
  kh_team_key_free (old_key);
}

/* ---- the one refresh writer --------------------------------------------------------------- */

typedef struct {
  int     refreshed;       /* atomic */
  guint   delay_ms;
  gboolean kill_inside;
} RefreshCtx;

static KhTokenSet *
refresh_func (KhGrant          *grant,
              const KhTokenSet *current,
              gpointer          user_data,
              GError          **error)
{
  RefreshCtx *ctx = user_data;
  KhTokenSet *fresh;

  if (!kh_token_set_needs_refresh (current, KH_BROKER_DEFAULT_MIN_VALID, kh_now ()))
    return kh_token_set_copy (current);
  if (ctx->kill_inside)
    {
      g_print ("LOCKED\n");
      fflush (stdout);
      kill (getpid (), SIGKILL);
    }
  if (ctx->delay_ms > 0)
    g_usleep (ctx->delay_ms * 1000);
  g_atomic_int_inc (&ctx->refreshed);
  fresh = kh_token_set_copy (current);
  g_free (fresh->access_token);
  fresh->access_token = g_strdup_printf ("AT-refreshed-%08x", g_random_int ());
  fresh->access_expires_at = kh_now () + 24 * 3600;
  return fresh;
}

typedef struct {
  KhStore    *store;
  const char *grant_id;
  RefreshCtx *ctx;
  char       *token;
} RefreshThread;

static gpointer
refresh_thread (gpointer data)
{
  RefreshThread *t = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTeam) team = kh_team_open (t->store, NULL, &error);
  g_autoptr(KhTokenSet) tokens = NULL;

  g_assert_no_error (error);
  tokens = kh_team_refresh_locked (team, t->grant_id, refresh_func, t->ctx, &error);
  g_assert_no_error (error);
  t->token = g_strdup (tokens->access_token);
  return NULL;
}

static void
test_refresh_threads (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTokenSet) stored = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *a = NULL;
  RefreshCtx ctx = { 0, 100, FALSE };
  RefreshThread threads[8];
  GThread *handles[8];

  cluster_init (&c);
  admin = create_team (&c, desk, NULL);
  a = put_grant (admin, "Acme", "Acme Shop", "a", 60);

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      threads[i] = (RefreshThread) { desk->store, a, &ctx, NULL };
      handles[i] = g_thread_new ("refresh", refresh_thread, &threads[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (handles[i]);

  g_assert_cmpint (ctx.refreshed, ==, 1);
  stored = kh_team_load_tokens (admin, a, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (stored->access_token, "AT-refreshed-"));
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    {
      g_assert_cmpstr (threads[i].token, ==, stored->access_token);
      g_free (threads[i].token);
    }

  /* One refreshed row in the audit. */
  records = kh_team_read_audit (admin, a, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (records->len, ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (records->pdata[0]),
                                                  "action"), ==, "refreshed");
}

/* A child process: `test-team --child-refresh DATA_DIR STORE GRANT KEY_FILE [kill]`, a headless
 * server with a key file. Prints "REFRESHED TOKEN" or "ADOPTED TOKEN". */
static int
child_refresh (char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhTeam) team = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  RefreshCtx ctx = { 0, 200, argv[6] != NULL };

  /* No KhStore: a headless server reads neither the keyring nor the index. */
  team = kh_team_open_headless (argv[2], argv[3], argv[5], &error);
  if (team == NULL)
    {
      g_printerr ("open: %s\n", error ? error->message : "not in a team");
      return 1;
    }
  tokens = kh_team_refresh_locked (team, argv[4], refresh_func, &ctx, &error);
  if (tokens == NULL)
    {
      g_printerr ("refresh: %s\n", error->message);
      return 1;
    }
  g_print ("%s %s\n", ctx.refreshed ? "REFRESHED" : "ADOPTED", tokens->access_token);
  return 0;
}

/* A headless server that joined with a key file and a passfile; returns the key file. */
static char *
join_server (Cluster    *c,
             guint       member,
             Desk       *desk,
             const char *code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *passfile = kh_test_pg_write_passfile (pg, c->members[member], "pw-member",
                                                         c->db);
  g_autofree char *url = g_strdup_printf ("postgresql://%s@127.0.0.1:%u/%s?passfile=%s",
                                          c->members[member], kh_test_pg_get_port (pg), c->db,
                                          passfile);
  g_autofree char *name = g_strdup_printf ("key-%u", ++counter);
  char *key_file = g_build_filename (desk->data_dir, name, NULL);
  g_autoptr(KhTeam) team = NULL;

  /* A key file others may read is refused, with the fix. */
  g_assert_true (g_file_set_contents_full (key_file, code, -1, G_FILE_SET_CONTENTS_NONE, 0644,
                                           NULL));
  team = kh_team_join_headless (desk->data_dir, desk->store_name, url, key_file, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_assert_nonnull (strstr (error->message, "chmod 600"));
  g_clear_error (&error);
  g_assert_cmpint (g_chmod (key_file, 0600), ==, 0);

  team = kh_team_join_headless (desk->data_dir, desk->store_name, url, key_file, &error);
  g_assert_no_error (error);
  g_assert_true (kh_team_uses_key_file (team));
  g_clear_object (&team);

  /* Opened again, the key file is required, and nothing went to the keyring. */
  team = kh_team_open_headless (desk->data_dir, desk->store_name, NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_KEY);
  g_assert_nonnull (strstr (error->message, "--key-file"));
  g_assert_null (team);
  g_clear_error (&error);
  {
    g_autoptr(GList) items = secret_password_search_sync (kh_store_get_item_schema (),
                                                         SECRET_SEARCH_ALL, NULL, &error,
                                                         "store", desk->store_name, NULL);

    g_assert_no_error (error);
    g_assert_null (items);
  }
  return key_file;
}

static GSubprocess *
spawn_child (Desk       *desk,
             const char *grant_id,
             const char *key_file,
             gboolean    kill_inside)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *self_path = kh_test_build_path ("tests/test-team");
  const char *argv[] = { self_path, "--child-refresh", desk->data_dir, desk->store_name,
                         grant_id, key_file, kill_inside ? "kill" : NULL, NULL };
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  GSubprocess *child;

  g_subprocess_launcher_set_child_setup (launcher, kh_test_die_with_parent, NULL, NULL);
  child = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return child;
}

static void
test_refresh_processes (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) server_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTokenSet) stored = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *a = NULL;
  g_autofree char *key_file = NULL;
  GSubprocess *children[8];
  guint refreshed = 0;

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");
  a = put_grant (admin, "Acme", "Acme Shop", "a", 60);
  key_file = join_server (&c, 0, server_desk, code);

  for (guint i = 0; i < G_N_ELEMENTS (children); i++)
    children[i] = spawn_child (server_desk, a, key_file, FALSE);
  stored = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (children); i++)
    {
      g_autofree char *out = NULL;
      g_auto(GStrv) words = NULL;

      g_subprocess_communicate_utf8 (children[i], NULL, NULL, &out, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (g_subprocess_get_successful (children[i]));
      words = g_strsplit (g_strstrip (out), " ", 2);
      g_assert_cmpuint (g_strv_length (words), ==, 2);
      if (g_str_equal (words[0], "REFRESHED"))
        refreshed++;
      if (stored == NULL)
        stored = kh_team_load_tokens (admin, a, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (words[1], ==, stored->access_token);
      g_object_unref (children[i]);
    }
  g_assert_cmpuint (refreshed, ==, 1);
}

static void
test_refresh_killed (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) server_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTokenSet) before = NULL;
  g_autoptr(KhTokenSet) after = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *a = NULL;
  g_autofree char *key_file = NULL;
  g_autofree char *out = NULL;
  RefreshCtx ctx = { 0, 0, FALSE };

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");
  a = put_grant (admin, "Acme", "Acme Shop", "a", 60);
  key_file = join_server (&c, 0, server_desk, code);

  child = spawn_child (server_desk, a, key_file, TRUE);
  g_subprocess_communicate_utf8 (child, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (out, ==, "LOCKED\n");
  g_assert_true (g_subprocess_get_if_signaled (child));
  g_assert_cmpint (g_subprocess_get_term_sig (child), ==, SIGKILL);

  /* The old tokens are still there, and the lock is free: the next caller refreshes. */
  before = kh_team_load_tokens (admin, a, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (before->access_token, ==, "AT-secret-a");
  after = kh_team_refresh_locked (admin, a, refresh_func, &ctx, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ctx.refreshed, ==, 1);
  g_assert_true (g_str_has_prefix (after->access_token, "AT-refreshed-"));
}

/* ---- errors ------------------------------------------------------------------------------- */

/* A URL that holds a secret is refused before it is stored in team.json: the password of the
 * role, and the passphrase of an SSL client key (sslpassword) alike. */
static void
test_conninfo (void)
{
  static const char * const refused[] = {
    "postgresql://keyhold:secret@localhost/keyhold",
    "host=localhost dbname=keyhold password=secret",
    "postgresql://keyhold@localhost/keyhold?sslpassword=secret",
    "host=localhost dbname=keyhold sslpassword=secret",
  };

  g_assert_true (kh_team_check_conninfo ("postgresql://keyhold@localhost/keyhold", NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (kh_team_check_conninfo (refused[i], &error));
      g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_URL);
      g_assert_null (strstr (error->message, "secret"));
    }
}

static void
test_errors (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) member_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) failed = NULL;
  g_autoptr(KhTeam) reopened = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *url = NULL;
  g_autofree char *query = NULL;

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");

  /* A role without CREATEROLE cannot set a team up. */
  {
    g_autoptr(Desk) desk = desk_new ();
    g_autofree char *other_db = kh_test_pg_create_database (pg, "plain");
    g_autofree char *grant = g_strdup_printf ("GRANT CONNECT, CREATE ON DATABASE %s TO %s",
                                              other_db, c.members[2]);
    char *other_code = NULL;

    kh_test_pg_exec (pg, NULL, grant);
    url = kh_test_pg_url (pg, c.members[2], other_db);
    failed = kh_team_create (desk->store, url, "pw-member", &other_code, &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
    g_assert_nonnull (strstr (error->message, "CREATEROLE"));
    g_assert_null (other_code);
    g_clear_error (&error);
    g_clear_pointer (&url, g_free);
    /* Nothing was left behind: no schema, no keyring item, no team.json. */
    {
      g_autofree char *value = sql_value (NULL, NULL, other_db,
                                          "SELECT to_regnamespace ('keyhold') IS NULL", NULL);

      g_assert_cmpstr (value, ==, "t");
    }
    reopened = kh_team_open (desk->store, NULL, &error);
    g_assert_no_error (error);
    g_assert_null (reopened);
  }

  /* Wrong password. */
  url = kh_test_pg_url (pg, c.members[0], c.db);
  failed = kh_team_join (member_desk->store, url, "wrong", code, NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_AUTH);
  g_assert_nonnull (strstr (error->message, c.members[0]));
  g_assert_cmpint (kh_error_exit_code (error), ==, 1);
  g_clear_error (&error);
  g_clear_pointer (&url, g_free);

  /* No such database. */
  url = kh_test_pg_url (pg, c.members[0], "no_such_db");
  failed = kh_team_join (member_desk->store, url, "pw-member", code, NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_URL);
  g_clear_error (&error);
  g_clear_pointer (&url, g_free);

  /* Nothing listens there: transient, exit 4. */
  url = g_strdup_printf ("postgresql://%s@127.0.0.1:%u/%s?connect_timeout=3", c.members[0],
                         kh_test_free_port (), c.db);
  failed = kh_team_join (member_desk->store, url, "pw-member", code, NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE);
  g_assert_cmpint (kh_error_exit_code (error), ==, 4);
  g_clear_error (&error);
  g_clear_pointer (&url, g_free);

  /* A role that is no member of the team. */
  url = kh_test_pg_url (pg, c.members[1], c.db);
  failed = kh_team_join (member_desk->store, url, "pw-member", code, NULL, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_ACCESS);
  g_assert_nonnull (strstr (error->message, "team grant"));
  g_clear_error (&error);
  reopened = kh_team_open (member_desk->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (reopened);

  /* A schema from a newer Keyhold is refused, with the fix. */
  kh_test_pg_exec (pg, c.db, "UPDATE keyhold.meta SET schema_version = 99");
  reopened = kh_team_open (admin_desk->store, NULL, &error);
  g_assert_no_error (error);
  grants = kh_team_list_grants (reopened, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA);
  g_assert_nonnull (strstr (error->message, "upgrade Keyhold"));
  g_assert_null (grants);
  g_clear_error (&error);
  kh_test_pg_exec (pg, c.db, "UPDATE keyhold.meta SET schema_version = 1");

  /* A database without a team. */
  {
    g_autofree char *empty = kh_test_pg_create_database (pg, "empty");
    g_autoptr(Desk) desk = desk_new ();

    g_clear_pointer (&query, g_free);
    query = g_strdup_printf ("GRANT CONNECT ON DATABASE %s TO %s", empty, c.members[0]);
    kh_test_pg_exec (pg, NULL, query);
    g_clear_pointer (&url, g_free);
    url = kh_test_pg_url (pg, c.members[0], empty);
    failed = kh_team_join (desk->store, url, "pw-member", code, NULL, &error);
    g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_SCHEMA);
    g_clear_error (&error);
  }
}

/* ---- offline ------------------------------------------------------------------------------ */

static void
test_offline (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) reopened = NULL;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GPtrArray) grants = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;
  g_autofree char *cache = NULL;
  RefreshCtx ctx = { 0, 0, FALSE };
  gboolean cached = TRUE;
  struct stat st;

  cluster_init (&c);
  admin = create_team (&c, desk, NULL);
  a = put_grant (admin, "Acme", "Acme Shop", "a", 3600);
  b = put_grant (admin, "Acme", "Bolt Shop", "b", 3600);
  tokens = kh_team_load_tokens (admin, a, NULL, &cached, &error);
  g_assert_no_error (error);
  g_assert_false (cached);
  g_clear_pointer (&tokens, kh_token_set_free);

  /* The cache holds the database's ciphertext only, 0600. */
  {
    g_autofree char *store_dir = g_path_get_dirname (kh_store_get_index_path (desk->store));

    cache = g_build_filename (store_dir, "team-cache", NULL);
  }
  {
    g_autofree char *file = g_strconcat (cache, "/", a, ".json", NULL);
    g_autofree char *text = NULL;

    g_assert_cmpint (g_stat (file, &st), ==, 0);
    g_assert_cmpint (st.st_mode & 0777, ==, 0600);
    g_assert_true (g_file_get_contents (file, &text, NULL, NULL));
    g_assert_null (strstr (text, "AT-secret"));
    g_assert_null (strstr (text, "RT-secret"));
  }

  kh_test_pg_stop (pg);
  reopened = kh_team_open (desk->store, NULL, &error);
  g_assert_no_error (error);
  tokens = kh_team_load_tokens (reopened, a, &grant, &cached, &error);
  g_assert_no_error (error);
  g_assert_true (cached);
  g_assert_cmpstr (tokens->access_token, ==, "AT-secret-a");
  g_assert_cmpstr (kh_grant_get_display_name (grant), ==, "Acme Shop");
  g_assert_nonnull (kh_team_get_last_error_message (reopened));
  g_clear_pointer (&tokens, kh_token_set_free);

  /* The running KhTeam loses its connection and answers from the cache too. */
  tokens = kh_team_load_tokens (admin, a, NULL, &cached, &error);
  g_assert_no_error (error);
  g_assert_true (cached);
  g_clear_pointer (&tokens, kh_token_set_free);

  /* Never refresh offline; a grant never seen here has no answer. */
  tokens = kh_team_refresh_locked (admin, a, refresh_func, &ctx, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE);
  g_assert_null (tokens);
  g_assert_cmpint (ctx.refreshed, ==, 0);
  g_clear_error (&error);
  {
    g_autofree char *file = g_strconcat (cache, "/", b, ".json", NULL);

    g_unlink (file);
  }
  tokens = kh_team_load_tokens (reopened, b, NULL, &cached, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE);
  g_clear_error (&error);
  grants = kh_team_list_grants (admin, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TEAM_UNREACHABLE);
  g_clear_error (&error);

  /* Back up: the same KhTeam reconnects by itself. */
  kh_test_pg_start (pg);
  tokens = kh_team_load_tokens (admin, b, NULL, &cached, &error);
  g_assert_no_error (error);
  g_assert_false (cached);
  g_assert_cmpstr (tokens->access_token, ==, "AT-secret-b");
}

/* ---- NOTIFY ------------------------------------------------------------------------------- */

typedef struct {
  GPtrArray *ids;
  gboolean   lost;
  gboolean   freed;
} WatchData;

static void
changed_cb (const char *grant_id,
            gpointer    user_data)
{
  WatchData *data = user_data;

  if (grant_id == NULL)
    data->lost = TRUE;
  else
    g_ptr_array_add (data->ids, g_strdup (grant_id));
}

static void
watch_freed (gpointer user_data)
{
  WatchData *data = user_data;

  data->freed = TRUE;
}

static gboolean
has_one_id (gpointer user_data)
{
  WatchData *data = user_data;

  return data->ids->len >= 1;
}

static void
test_notify (void)
{
  g_auto(Cluster) c = { 0 };
  g_autoptr(Desk) admin_desk = desk_new ();
  g_autoptr(Desk) member_desk = desk_new ();
  g_autoptr(KhTeam) admin = NULL;
  g_autoptr(KhTeam) member = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  g_autofree char *a = NULL;
  WatchData data = { g_ptr_array_new_with_free_func (g_free), FALSE, FALSE };
  guint id;

  cluster_init (&c);
  admin = create_team (&c, admin_desk, &code);
  grant_access (admin, c.members[0], "Acme");
  member = join_team (&c, 0, member_desk, code);

  id = kh_team_watch (member, NULL, changed_cb, &data, watch_freed, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (id, >, 0);

  /* Another desktop shares a grant: the watcher hears of it without polling. */
  a = put_grant (admin, "Acme", "Acme Shop", "a", 3600);
  kh_test_wait_until (has_one_id, &data, 5000);
  g_assert_cmpstr (data.ids->pdata[0], ==, a);
  g_assert_false (data.lost);

  kh_team_unwatch (member, id);
  g_assert_true (data.freed);
  g_ptr_array_unref (data.ids);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  if (argc >= 6 && g_str_equal (argv[1], "--child-refresh"))
    return child_refresh (argv);

  kh_test_pg_skip_unless_available ();
  kh_test_init (&argc, &argv);
  pg = kh_test_pg_new ();

  g_test_add_func ("/keyhold/team/seal", test_seal);
  g_test_add_func ("/keyhold/team/join-code", test_join_code);
  g_test_add_func ("/keyhold/team/create-join-open", test_create_join_open);
  g_test_add_func ("/keyhold/team/rls", test_rls);
  g_test_add_func ("/keyhold/team/audit-and-apps", test_audit_and_apps);
  g_test_add_func ("/keyhold/team/rotate", test_rotate);
  g_test_add_func ("/keyhold/team/refresh-threads", test_refresh_threads);
  g_test_add_func ("/keyhold/team/refresh-processes", test_refresh_processes);
  g_test_add_func ("/keyhold/team/refresh-killed", test_refresh_killed);
  g_test_add_func ("/keyhold/team/conninfo", test_conninfo);
  g_test_add_func ("/keyhold/team/errors", test_errors);
  g_test_add_func ("/keyhold/team/offline", test_offline);
  g_test_add_func ("/keyhold/team/notify", test_notify);

  status = g_test_run ();
  kh_test_pg_free (pg);
  return status;
}
