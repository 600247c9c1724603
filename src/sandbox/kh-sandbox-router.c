/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox-router.c: the sandbox's HTTP side, shared by every family: it refuses oversized
 * bodies, strips the "/_host/<tiktok-host>" prefix of the origin map, finds the route of a
 * request in the families' tables, counts the call, applies an injected fault or delay and calls
 * the route's handler; and it holds the response helpers the handlers answer with. Requests may
 * arrive as "/_host/<tiktok-host>/<path>" or as plain "/<path>"; control endpoints live under
 * /_sandbox/ (kh-sandbox-control.c). */

#define G_LOG_DOMAIN "kh-sandbox-router"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-sandbox-private.h"

#include <string.h>

/* The families' route tables, searched in this order: without a /_host prefix the first route
 * of a path wins. */
static const Route * const route_tables[] = {
  sb_consent_routes,
  sb_shop_routes,
  sb_business_routes,
};

static const char * const tiktok_hosts[] = {
  "services.us.tiktokshop.com",
  "services.tiktokshops.us",
  "services.tiktokshop.com",
  "auth.tiktok-shops.com",
  "shop.tiktok.com",
  "partner.us.tiktokshop.com",
  "partner.tiktokshop.com",
  "open-api.tiktokglobalshop.com",
  "business-api.tiktok.com",
  "ads.tiktok.com",
  "www.tiktok.com",
};

/* ---- responses -------------------------------------------------------------------------- */

const char *
sb_qget (Req        *req,
         const char *name)
{
  return req->query != NULL ? g_hash_table_lookup (req->query, name) : NULL;
}

void
sb_set_common_headers (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
}

void
sb_respond_json (SoupServerMessage *msg,
                 guint              status,
                 JsonNode          *node)
{
  g_autofree char *text = kh_json_to_string (node, FALSE);

  sb_set_common_headers (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, text,
                                    strlen (text));
}

static void
respond_json_object (SoupServerMessage *msg,
                     guint              status,
                     JsonObject        *object)   /* transfer full */
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, object);
  sb_respond_json (msg, status, node);
}

static char *
new_request_id (KhSandbox *self)
{
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc (sb_now (self));
  g_autofree char *stamp = NULL;
  g_autofree char *tail = sb_random_string (self, "0123456789ABCDEF", 20);

  stamp = when != NULL ? g_date_time_format (when, "%Y%m%d%H%M%S") : g_strdup ("19700101000000");
  return g_strconcat (stamp, tail, NULL);
}

/* TikTok's envelope, HTTP 200 whatever the code (both families). */
void
sb_respond_envelope (Req        *req,
                     int         code,
                     const char *message,
                     JsonObject *data)   /* transfer full, NULL: {} */
{
  JsonObject *root = json_object_new ();
  g_autofree char *request_id = new_request_id (req->self);

  json_object_set_int_member (root, "code", code);
  json_object_set_string_member (root, "message", message);
  json_object_set_string_member (root, "request_id", request_id);
  json_object_set_object_member (root, "data", data != NULL ? data : json_object_new ());
  respond_json_object (req->msg, SOUP_STATUS_OK, root);
}

void
sb_respond_html (SoupServerMessage *msg,
                 guint              status,
                 const char        *title,
                 const char        *body_html)
{
  g_autofree char *escaped_title = g_markup_escape_text (title, -1);
  g_autofree char *page = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  page = g_strdup_printf ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                          "<title>%s</title></head>\n<body>\n<h1>%s</h1>\n%s\n</body></html>\n",
                          escaped_title, escaped_title, body_html);
  sb_set_common_headers (msg);
  /* A static page: no scripts, no external resources. form-action is left open on purpose:
   * browsers apply it to the redirect that follows the consent form. */
  soup_message_headers_replace (headers, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY, page,
                                    strlen (page));
}

void
sb_respond_error_page (SoupServerMessage *msg,
                       guint              status,
                       const char        *message)
{
  g_autofree char *escaped = g_markup_escape_text (message, -1);
  g_autofree char *body = g_strdup_printf ("<p id=\"error\">%s</p>", escaped);

  sb_respond_html (msg, status, _("Authorization failed"), body);
}

void
sb_respond_plain (SoupServerMessage *msg,
                  guint              status,
                  const char        *text)
{
  sb_set_common_headers (msg);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, text,
                                    strlen (text));
}

void
sb_respond_control_error (SoupServerMessage *msg,
                          guint              status,
                          const char        *message)
{
  JsonObject *root = json_object_new ();

  json_object_set_boolean_member (root, "ok", FALSE);
  json_object_set_int_member (root, "code", 40002);
  json_object_set_string_member (root, "message", message);
  respond_json_object (msg, status, root);
}

void
sb_respond_control_ok (SoupServerMessage *msg,
                       JsonObject        *root)   /* transfer full, NULL: {} */
{
  if (root == NULL)
    root = json_object_new ();
  json_object_set_boolean_member (root, "ok", TRUE);
  respond_json_object (msg, SOUP_STATUS_OK, root);
}

JsonObject *
sb_req_json_object (Req *req)
{
  gsize size = 0;
  const char *data = req->body != NULL ? g_bytes_get_data (req->body, &size) : NULL;

  if (req->json == NULL && size > 0)
    req->json = kh_json_parse (data, size, NULL);

  return kh_json_node_object (req->json);
}

/* TikTok sends ids as strings or numbers; both are accepted. */
char *
sb_json_dup_id (JsonObject *object,
                const char *member)
{
  const char *str = kh_json_get_string (object, member);
  gint64 value;

  if (str != NULL)
    return g_strdup (str);
  if (kh_json_get_int (object, member, &value))
    return g_strdup_printf ("%" G_GINT64_FORMAT, value);

  return NULL;
}

/* ---- the request dispatcher ------------------------------------------------------------- */

static gboolean
is_known_host (const char *host)
{
  for (guint i = 0; i < G_N_ELEMENTS (tiktok_hosts); i++)
    if (g_str_equal (tiktok_hosts[i], host))
      return TRUE;

  return FALSE;
}

static const Route *
find_route (const char *host,
            const char *path)
{
  for (guint t = 0; t < G_N_ELEMENTS (route_tables); t++)
    for (const Route *route = route_tables[t]; route->path != NULL; route++)
      if (g_str_equal (route->path, path) && (host == NULL || g_str_equal (route->host, host)))
        return route;

  return NULL;
}

static void
count_call (KhSandbox  *self,
            const char *path)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->counters, path));

  /* path is one of the static route paths, so the table never grows with hostile input. */
  g_hash_table_replace (self->counters, (gpointer) path, GUINT_TO_POINTER (count + 1));
}

static GBytes *
dup_request_body (SoupServerMessage *msg)
{
  GByteArray *own = g_object_get_data (G_OBJECT (msg), "kh-sandbox-body");

  if (own != NULL)
    return g_bytes_new (own->data, own->len);

  return soup_message_body_flatten (soup_server_message_get_request_body (msg));
}

void
sb_server_handler_cb (SoupServer        *server,
                      SoupServerMessage *msg,
                      const char        *path,
                      GHashTable        *query,
                      gpointer           user_data)
{
  KhSandbox *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  g_autofree char *host = NULL;
  g_autoptr(GBytes) body = NULL;
  const char *subpath = path;
  const Route *route;
  SbFault fault = { 0, };
  gint64 delay_ms;
  Req req = { 0, };

  /* Only the path: queries carry secrets (the Shop token call has app_secret in it). */
  g_debug ("%s %s", method, path);

  if (g_object_get_data (G_OBJECT (msg), "kh-sandbox-oversize") != NULL)
    {
      sb_respond_plain (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "Request body too large\n");
      return;
    }

  body = dup_request_body (msg);
  if (g_bytes_get_size (body) > MAX_BODY)
    {
      sb_respond_plain (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "Request body too large\n");
      return;
    }

  if (g_str_has_prefix (path, "/_sandbox/"))
    {
      sb_handle_control (self, msg, path, query, body);
      return;
    }

  if (g_str_has_prefix (path, "/_host/"))
    {
      const char *start = path + strlen ("/_host/");
      const char *slash = strchr (start, '/');

      host = slash != NULL ? g_strndup (start, (gsize) (slash - start)) : g_strdup (start);
      subpath = slash != NULL ? slash : "/";
      if (!is_known_host (host))
        {
          sb_respond_plain (msg, SOUP_STATUS_NOT_FOUND, "Unknown TikTok host\n");
          return;
        }
    }

  route = find_route (host, subpath);
  if (route == NULL)
    {
      sb_respond_plain (msg, SOUP_STATUS_NOT_FOUND, "Not found\n");
      return;
    }

  count_call (self, route->path);

  if (g_strcmp0 (method, route->method) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow",
                                    route->method);
      sb_respond_plain (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "Method not allowed\n");
      return;
    }

  req.self = self;
  req.server = server;
  req.msg = msg;
  req.route = route;
  req.host = host;
  req.path = subpath;
  req.query = query;
  req.body = body;
  delay_ms = self->latency_ms;

  if (!sb_take_fault (self, route->path, route->handle != sb_handle_authorize, &fault))
    route->handle (&req);
  else
    {
      switch (fault.kind)
        {
        case KH_SANDBOX_FAULT_DROP:
          sb_drop_connection (msg);
          return;
        case KH_SANDBOX_FAULT_HTTP_STATUS:
          sb_respond_plain (msg, (guint) fault.value, "Service unavailable (injected fault)\n");
          break;
        case KH_SANDBOX_FAULT_ERROR_CODE:
          sb_respond_envelope (&req, fault.value, "injected fault", NULL);
          break;
        case KH_SANDBOX_FAULT_GARBAGE:
          {
            static const char garbage[] = "<html><body>upstream error</body></html>{\"code\":0,"
                                          "\"data\":{\"access_tok";

            sb_set_common_headers (msg);
            soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
            soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                              garbage, sizeof garbage - 1);
          }
          break;
        case KH_SANDBOX_FAULT_DELAY:
          delay_ms += fault.value;
          route->handle (&req);
          break;
        default:
          g_assert_not_reached ();
        }
    }

  g_clear_pointer (&req.json, json_node_unref);

  if (delay_ms > 0)
    sb_delay_response (self, server, msg, route->path, (guint) delay_ms);
}

static void
got_chunk_cb (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  GByteArray *own = g_object_get_data (G_OBJECT (msg), "kh-sandbox-body");
  gsize size;
  const guint8 *data = g_bytes_get_data (chunk, &size);

  if (own == NULL || g_object_get_data (G_OBJECT (msg), "kh-sandbox-oversize") != NULL)
    return;

  if (own->len + size > MAX_BODY)
    {
      g_object_set_data (G_OBJECT (msg), "kh-sandbox-oversize", GINT_TO_POINTER (1));
      g_byte_array_set_size (own, 0);
      return;
    }

  g_byte_array_append (own, data, (guint) size);
}

/* Runs when the headers are in, before the body: refuses bodies over 64 KiB without reading
 * them, and keeps a body of unknown length from growing past the cap in memory. */
void
sb_early_handler_cb (SoupServer        *server,
                     SoupServerMessage *msg,
                     const char        *path,
                     GHashTable        *query,
                     gpointer           user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding = soup_message_headers_get_encoding (headers);

  if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (headers) > MAX_BODY)
    {
      sb_respond_plain (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "Request body too large\n");
      return;
    }

  if (encoding == SOUP_ENCODING_CHUNKED || encoding == SOUP_ENCODING_EOF)
    {
      soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
      g_object_set_data_full (G_OBJECT (msg), "kh-sandbox-body", g_byte_array_new (),
                              (GDestroyNotify) g_byte_array_unref);
      g_signal_connect (msg, "got-chunk", G_CALLBACK (got_chunk_cb), NULL);
    }
}

/* ---- public API ------------------------------------------------------------------------- */

char *
kh_sandbox_dup_origin_map (KhSandbox *self)
{
  GString *spec;

  g_return_val_if_fail (KH_IS_SANDBOX (self), NULL);

  spec = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (tiktok_hosts); i++)
    g_string_append_printf (spec, "%shttps://%s=http://127.0.0.1:%u/_host/%s",
                            i > 0 ? ";" : "", tiktok_hosts[i], self->port, tiktok_hosts[i]);

  return g_string_free (spec, FALSE);
}
