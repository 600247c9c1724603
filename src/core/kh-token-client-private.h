/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client-private.h: what the token client's files share and nobody else sees: the
 * object's fields, one call's Request, the plumbing of kh-token-client-request.c and the
 * parsers of kh-token-client-decode.c. The kh_tc_ prefix marks these private names. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "kh-token-client.h"

G_BEGIN_DECLS

#define SHOP_AUTH_ORIGIN    "https://auth.tiktok-shops.com"
#define SHOP_API_ORIGIN     "https://open-api.tiktokglobalshop.com"
#define BUSINESS_ORIGIN     "https://business-api.tiktok.com"
#define BUSINESS_BASE_PATH  "/open_api/v1.3"
#define SHOPS_PATH          "/authorization/202309/shops"

struct _KhTokenClient
{
  GObject      parent_instance;

  SoupSession *session;
  guint        max_attempts;
  guint        base_delay_ms;
  guint        timeout;
};

typedef enum {
  OP_EXCHANGE,
  OP_REFRESH,
  OP_REVOKE,
  OP_SHOPS,
  OP_ADVERTISERS,
  OP_ACCOUNT_NAME,
} Operation;

/* One logical call, possibly several HTTP attempts. Everything secret in here (the URL's query,
 * the body, the token header) is wiped when the request is freed. */
typedef struct {
  Operation     op;
  KhTokenKind   kind;
  const char   *method;
  char         *url;            /* original TikTok URL (secrets in the query) */
  const char   *log_host;       /* original host, for logs and error messages */
  char         *log_path;       /* path without query */
  const char   *token_header;   /* "Access-Token", "x-tts-access-token" or NULL */
  char         *token;
  gboolean      json_content_type;  /* GET with content-type: application/json (Open API) */
  GBytes       *body;
  guint         attempt;
  guint         max_attempts;
  guint         base_delay_ms;
  SoupMessage  *message;
  GInputStream *stream;
  GByteArray   *buffer;
  GSource      *retry_source;
  GSource      *cancel_source;
} Request;

/* ---- kh-token-client-decode.c ------------------------------------------------------------- */

gboolean         kh_tc_is_token_text           (const char   *text);
gboolean         kh_tc_parse_body              (const char   *body,
                                                gsize         length,
                                                JsonNode    **root,
                                                GError      **error);
JsonObject      *kh_tc_parse_envelope_full     (JsonNode     *root,
                                                gboolean      require_data,
                                                GError      **error);
gboolean         kh_tc_is_envelope             (JsonNode     *root);
KhTokenResponse *kh_tc_parse_token_node        (KhTokenKind   kind,
                                                JsonNode     *root,
                                                gint64        now,
                                                GError      **error);
GPtrArray       *kh_tc_parse_shops_node        (JsonNode     *root,
                                                GError      **error);
GPtrArray       *kh_tc_parse_advertisers_node  (JsonNode     *root,
                                                GError      **error);
char            *kh_tc_parse_account_name_node (JsonNode     *root,
                                                GError      **error);

/* ---- kh-token-client-request.c ------------------------------------------------------------ */

char            *kh_tc_build_query             (const char   *first_key,
                                                ...) G_GNUC_NULL_TERMINATED;
GBytes          *kh_tc_build_json_body         (const char   *first_member,
                                                ...) G_GNUC_NULL_TERMINATED;
Request         *kh_tc_request_new             (KhTokenClient *self,
                                                Operation      op,
                                                KhTokenKind    kind,
                                                const char    *method,
                                                const char    *origin,
                                                const char    *path,
                                                char          *query);
GTask           *kh_tc_request_task_new        (KhTokenClient       *self,
                                                Request             *request,
                                                gpointer             source_tag,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
void             kh_tc_start_attempt           (GTask         *task);
gboolean         kh_tc_check_family            (GTask         *task,
                                                KhAppProfile  *app,
                                                KhTokenKind    kind);
gboolean         kh_tc_check_header_token      (KhTokenClient       *self,
                                                const char          *access_token,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data,
                                                gpointer             source_tag);
char            *kh_tc_business_path           (const char   *path);

G_END_DECLS
