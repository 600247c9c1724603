/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-loopback.c: the redirect listener against a real libsoup client on 127.0.0.1 / ::1:
 * what ends the flow, what does not, the pages' headers and bodies, and that the port is free
 * again after every ending. */

#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "kh-error.h"
#include "kh-loopback.h"
#include "kh-test-util.h"

#define STATE "c3RhdGUtZm9yLXRlc3RzLW9ubHktMTIzNDU2Nzg5MA"
#define CODE "ROW_TestCode_0123456789abcdef"
#define WAIT_MS 10000

typedef struct {
  guint       port;
  KhLoopback *loopback;
  SoupSession *session;
  GAsyncResult *result;
} Fixture;

typedef struct {
  gboolean            done;
  guint               status;
  char               *body;
  SoupMessageHeaders *headers;
  GError             *error;
} Response;

static void
response_clear (Response *r)
{
  g_clear_pointer (&r->body, g_free);
  g_clear_pointer (&r->headers, soup_message_headers_unref);
  g_clear_error (&r->error);
  memset (r, 0, sizeof *r);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Response, response_clear)

static gboolean
have_ipv6_loopback (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string ("::1", 0);

  return socket != NULL && g_socket_bind (socket, address, TRUE, NULL);
}

/* Binds address:port the way another program would; fails the test if that is impossible. */
static GSocketListener *
occupy_port (const char *address,
             guint       port)
{
  GSocketListener *listener = g_socket_listener_new ();
  g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new_from_string (address,
                                                                                    port);
  g_autoptr(GError) error = NULL;

  g_socket_listener_add_address (listener, socket_address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error);
  g_assert_no_error (error);
  return listener;
}

/* The port must be bindable again once the listener has closed. */
static void
assert_port_free (guint port)
{
  g_autoptr(GSocketListener) listener = occupy_port ("127.0.0.1", port);

  g_socket_listener_close (listener);
}

static KhLoopback *
loopback_new_on (const char *host,
                 guint       port,
                 const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strdup_printf ("http://%s:%u%s", host, port, path);
  KhLoopback *loopback = kh_loopback_new (uri, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (kh_loopback_get_port (loopback), ==, port);
  return loopback;
}

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  f->port = kh_test_free_port ();
  f->loopback = loopback_new_on ("localhost", f->port, "/callback");
  f->session = soup_session_new ();
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->result);
  g_clear_object (&f->session);
  g_assert_finalize_object (f->loopback);
}

static void
send_done_cb (GObject      *source,
              GAsyncResult *res,
              gpointer      user_data)
{
  Response *r = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), res);
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), res,
                                                              &r->error);

  if (body != NULL)
    {
      gsize size;
      const char *data = g_bytes_get_data (body, &size);

      r->body = g_strndup (data != NULL ? data : "", size);
      r->status = soup_message_get_status (msg);
      r->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
    }
  r->done = TRUE;
}

/* Starts a request; the response lands in r while the main context runs. */
static void
request_start (Fixture    *f,
               const char *method,
               const char *host,
               const char *path_and_query,
               const char *host_header,
               Response   *r)
{
  g_autofree char *url = g_strdup_printf ("http://%s:%u%s", host, f->port, path_and_query);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);

  g_assert_nonnull (msg);
  if (host_header != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Host", host_header);
  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, send_done_cb, r);
}

static void
request (Fixture    *f,
         const char *method,
         const char *path_and_query,
         const char *host_header,
         Response   *r)
{
  request_start (f, method, "127.0.0.1", path_and_query, host_header, r);
  kh_test_wait_flag (&r->done, WAIT_MS);
}

/* Every page: static, uncacheable, no referrer, no external resources, and no secret in it. */
static void
assert_safe_page (Response *r)
{
  g_assert_no_error (r->error);
  g_assert_cmpstr (soup_message_headers_get_one (r->headers, "Cache-Control"), ==, "no-store");
  g_assert_cmpstr (soup_message_headers_get_one (r->headers, "Referrer-Policy"), ==,
                   "no-referrer");
  g_assert_cmpstr (soup_message_headers_get_one (r->headers, "Content-Security-Policy"), ==,
                   "default-src 'none'; style-src 'unsafe-inline'");
  g_assert_cmpstr (soup_message_headers_get_one (r->headers, "X-Content-Type-Options"), ==,
                   "nosniff");
  g_assert_true (g_str_has_prefix (soup_message_headers_get_content_type (r->headers, NULL),
                                   "text/html"));
  g_assert_nonnull (strstr (r->body, "You can close this tab and return to Keyhold"));
  g_assert_null (strstr (r->body, CODE));
  g_assert_null (strstr (r->body, STATE));
  g_assert_null (strstr (r->body, "WRONGSTATE"));
  g_assert_null (strstr (r->body, "<script"));
  g_assert_null (strstr (r->body, "http"));
  g_assert_null (strstr (r->body, "src="));
}

static void
wait_start (Fixture      *f,
            guint         timeout_seconds,
            GCancellable *cancellable)
{
  kh_loopback_wait_async (f->loopback, STATE, timeout_seconds, cancellable,
                          kh_test_store_result_cb, &f->result);
}

static KhCallback *
wait_finish (Fixture  *f,
             GError  **error)
{
  g_autoptr(GAsyncResult) result = kh_test_wait_result (&f->result, WAIT_MS);

  return kh_loopback_wait_finish (f->loopback, result, error);
}

/* Lets the loop run until r's response is in, then checks the wait is still going. */
static void
assert_still_waiting (Fixture *f)
{
  g_assert_null (f->result);
}

static void
finish_with_success (Fixture *f)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  request (f, "GET", "/callback?code=" CODE "&state=" STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);
  g_assert_nonnull (strstr (r.body, "Authorization received"));

  cb = wait_finish (f, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, CODE);
  g_assert_cmpstr (cb->state, ==, STATE);
  assert_port_free (f->port);
}

static void
test_success (Fixture       *f,
              gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *base = g_strdup_printf ("http://localhost:%u/callback", f->port);

  kh_loopback_start (f->loopback, &error);
  g_assert_no_error (error);
  wait_start (f, 30, NULL);

  request (f, "GET",
           "/callback?app_key=6idt36ueoum3i&code=" CODE "&locale=en-GB&shop_region=MY&state="
           STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);
  g_assert_nonnull (strstr (r.body, "Authorization received"));

  cb = wait_finish (f, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, CODE);
  g_assert_cmpstr (cb->state, ==, STATE);
  g_assert_cmpstr (cb->app_key, ==, "6idt36ueoum3i");
  g_assert_cmpstr (cb->shop_region, ==, "MY");
  g_assert_cmpstr (cb->redirect_base, ==, base);
  assert_port_free (f->port);
}

static void
test_success_ipv6 (Fixture       *f,
                   gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  if (!have_ipv6_loopback ())
    {
      g_test_skip ("no IPv6 loopback on this machine");
      return;
    }

  /* "localhost" listens on ::1 too, where a browser may go first. */
  wait_start (f, 30, NULL);
  request_start (f, "GET", "[::1]", "/callback?auth_code=" CODE "&state=" STATE, NULL, &r);
  kh_test_wait_flag (&r.done, WAIT_MS);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);

  cb = wait_finish (f, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, CODE);
  assert_port_free (f->port);
}

static void
test_ipv6_only_host (void)
{
  g_autoptr(KhLoopback) loopback = NULL;
  g_autoptr(GError) error = NULL;
  guint port;

  if (!have_ipv6_loopback ())
    {
      g_test_skip ("no IPv6 loopback on this machine");
      return;
    }

  port = kh_test_free_port ();
  loopback = loopback_new_on ("[::1]", port, "/");
  kh_loopback_start (loopback, &error);
  g_assert_no_error (error);
  /* [::1] binds ::1 only: 127.0.0.1 stays free. */
  assert_port_free (port);
  kh_loopback_stop (loopback);
}

static void
test_wrong_state_continues (Fixture       *f,
                            gconstpointer  data)
{
  g_auto(Response) r = { 0 };

  wait_start (f, 30, NULL);
  request (f, "GET", "/callback?code=" CODE "&state=WRONGSTATE", NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  assert_safe_page (&r);
  g_assert_nonnull (strstr (r.body, "does not belong to the authorization Keyhold is waiting"));
  assert_still_waiting (f);

  /* A state that shares our prefix is still wrong. */
  response_clear (&r);
  request (f, "GET", "/callback?code=" CODE "&state=" STATE "x", NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  assert_still_waiting (f);

  /* Two different states, ours among them, are not ours. */
  response_clear (&r);
  request (f, "GET", "/callback?code=" CODE "&state=" STATE "&state=WRONGSTATE", NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  assert_still_waiting (f);

  finish_with_success (f);
}

static void
test_missing_state_continues (Fixture       *f,
                              gconstpointer  data)
{
  g_auto(Response) r = { 0 };

  wait_start (f, 30, NULL);
  request (f, "GET", "/callback?code=" CODE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  assert_safe_page (&r);
  g_assert_nonnull (strstr (r.body, "does not belong to the authorization Keyhold is waiting"));
  assert_still_waiting (f);

  response_clear (&r);
  request (f, "GET", "/callback", NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  assert_still_waiting (f);

  finish_with_success (f);
}

static void
test_other_paths_404 (Fixture       *f,
                      gconstpointer  data)
{
  const char *paths[] = {
    "/?code=" CODE "&state=" STATE,
    "/callback/?code=" CODE "&state=" STATE,
    "/callbackx?code=" CODE "&state=" STATE,
    "/favicon.ico",
    "/Callback?code=" CODE "&state=" STATE,
  };

  wait_start (f, 30, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_auto(Response) r = { 0 };

      request (f, "GET", paths[i], NULL, &r);
      g_assert_cmpuint (r.status, ==, 404);
      assert_safe_page (&r);
      assert_still_waiting (f);
    }

  finish_with_success (f);
}

static void
test_root_path (Fixture       *f,
                gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *base = g_strdup_printf ("http://127.0.0.1:%u/", f->port);

  /* A Redirect URL without a path means "/". */
  g_object_unref (f->loopback);
  f->loopback = loopback_new_on ("127.0.0.1", f->port, "");
  wait_start (f, 30, NULL);

  request (f, "GET", "/callback?code=" CODE "&state=" STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 404);
  response_clear (&r);

  request (f, "GET", "/?code=" CODE "&state=" STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);
  cb = wait_finish (f, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->redirect_base, ==, base);
  assert_port_free (f->port);
}

static void
test_methods (Fixture       *f,
              gconstpointer  data)
{
  const char *refused[] = { "POST", "PUT", "DELETE", "OPTIONS", "PATCH" };
  g_auto(Response) head = { 0 };

  wait_start (f, 30, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_auto(Response) r = { 0 };

      request (f, refused[i], "/callback?code=" CODE "&state=" STATE, NULL, &r);
      g_assert_cmpuint (r.status, ==, 405);
      g_assert_cmpstr (soup_message_headers_get_one (r.headers, "Allow"), ==, "GET, HEAD");
      assert_safe_page (&r);
      assert_still_waiting (f);
    }

  /* HEAD is answered but never ends the flow. */
  request (f, "HEAD", "/callback?code=" CODE "&state=" STATE, NULL, &head);
  g_assert_no_error (head.error);
  g_assert_cmpuint (head.status, ==, 200);
  g_assert_cmpstr (soup_message_headers_get_one (head.headers, "Cache-Control"), ==, "no-store");
  assert_still_waiting (f);

  finish_with_success (f);
}

static void
test_post_with_body (Fixture       *f,
                     gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/callback", f->port);
  g_autoptr(GBytes) body = g_bytes_new_static ("code=" CODE "&state=" STATE,
                                               strlen ("code=" CODE "&state=" STATE));

  wait_start (f, 30, NULL);
  msg = soup_message_new ("POST", url);
  soup_message_set_request_body_from_bytes (msg, "application/x-www-form-urlencoded", body);
  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, send_done_cb, &r);
  kh_test_wait_flag (&r.done, WAIT_MS);
  g_assert_cmpuint (r.status, ==, 405);
  assert_safe_page (&r);
  assert_still_waiting (f);

  finish_with_success (f);
}

static void
test_foreign_host_refused (Fixture       *f,
                           gconstpointer  data)
{
  g_autofree char *with_port = g_strdup_printf ("127.0.0.1:%u", f->port);
  g_autofree char *other_port = g_strdup_printf ("localhost:%u", f->port + 1);
  g_autofree char *suffix = g_strdup_printf ("localhost.evil.example:%u", f->port);
  const char *hosts[] = {
    "evil.example",
    "evil.example:80",
    "127.0.0.1.nip.io",
    "localhost.",
    suffix,
    other_port,
    "localhost:abc",
    "[::2]",
  };
  g_auto(Response) ok = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  wait_start (f, 30, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (hosts); i++)
    {
      g_auto(Response) r = { 0 };

      request (f, "GET", "/callback?code=" CODE "&state=" STATE, hosts[i], &r);
      g_test_message ("Host: %s -> %u", hosts[i], r.status);
      g_assert_no_error (r.error);
      g_assert_cmpuint (r.status, ==, 400);
      /* libsoup itself answers a Host it cannot parse, before Keyhold sees the request. */
      if (soup_message_headers_get_one (r.headers, "Content-Security-Policy") != NULL)
        {
          assert_safe_page (&r);
          g_assert_nonnull (strstr (r.body, "refused"));
        }
      else
        g_assert_null (strstr (r.body, CODE));
      assert_still_waiting (f);
    }

  /* Loopback names, with our port, are fine. */
  request (f, "GET", "/callback?code=" CODE "&state=" STATE, with_port, &ok);
  g_assert_cmpuint (ok.status, ==, 200);
  cb = wait_finish (f, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, CODE);
  assert_port_free (f->port);
}

static void
test_long_uri (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(GString) query = g_string_new ("/callback?code=" CODE "&state=" STATE "&pad=");
  g_autoptr(GString) medium = g_string_new ("/callback?code=" CODE "&state=" STATE "&pad=");
  g_autoptr(GString) large = g_string_new ("/callback?code=" CODE "&state=" STATE "&pad=");
  g_auto(Response) r = { 0 };
  g_auto(Response) r2 = { 0 };
  g_auto(Response) r3 = { 0 };

  while (query->len < 100 * 1024)
    g_string_append (query, "aaaaaaaaaaaaaaaa");
  while (medium->len <= KH_CALLBACK_MAX_LENGTH)
    g_string_append_c (medium, 'b');
  while (large->len < 32 * 1024)
    g_string_append (large, "cccccccccccccccc");

  wait_start (f, 30, NULL);

  /* Within libsoup's header limit but over Keyhold's: Keyhold's 414 page. */
  request (f, "GET", large->str, NULL, &r3);
  g_assert_cmpuint (r3.status, ==, 414);
  assert_safe_page (&r3);
  assert_still_waiting (f);

  /* 100 KB: refused, by Keyhold (414) or by libsoup's header limit (it closes the
   * connection); either way the flow goes on. */
  request (f, "GET", query->str, NULL, &r);
  g_test_message ("100 KB request: status %u, error %s", r.status,
                  r.error != NULL ? r.error->message : "none");
  if (r.error == NULL)
    {
      g_assert_cmpuint (r.status, >=, 400);
      g_assert_cmpuint (r.status, <, 500);
      g_assert_null (strstr (r.body, CODE));
    }
  assert_still_waiting (f);

  /* Just over Keyhold's limit: Keyhold's own 414 page. */
  request (f, "GET", medium->str, NULL, &r2);
  g_assert_cmpuint (r2.status, ==, 414);
  assert_safe_page (&r2);
  assert_still_waiting (f);

  finish_with_success (f);
}

static void
test_port_in_use (void)
{
  g_autoptr(GSocketListener) listener = NULL;
  g_autoptr(KhLoopback) loopback = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GAsyncResult) stored = NULL;
  g_autoptr(KhCallback) cb = NULL;
  g_autofree char *expected = NULL;
  guint port;

  port = kh_test_free_port ();
  listener = occupy_port ("127.0.0.1", port);
  expected = g_strdup_printf ("port %u is in use by another program; change the Redirect URL "
                              "or close it", port);
  loopback = loopback_new_on ("localhost", port, "/callback");

  g_assert_false (kh_loopback_start (loopback, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_PORT_IN_USE);
  g_assert_cmpstr (error->message, ==, expected);
  g_clear_error (&error);

  /* Waiting without a successful start reports the same. */
  kh_loopback_wait_async (loopback, STATE, 5, NULL, kh_test_store_result_cb, &result);
  stored = kh_test_wait_result (&result, WAIT_MS);
  cb = kh_loopback_wait_finish (loopback, stored, &error);
  g_assert_null (cb);
  g_assert_error (error, KH_ERROR, KH_ERROR_PORT_IN_USE);
  g_assert_cmpstr (error->message, ==, expected);

  g_socket_listener_close (listener);
}

static void
test_port_in_use_ipv6 (void)
{
  g_autoptr(GSocketListener) listener = NULL;
  g_autoptr(KhLoopback) loopback = NULL;
  g_autoptr(GError) error = NULL;
  guint port;

  if (!have_ipv6_loopback ())
    {
      g_test_skip ("no IPv6 loopback on this machine");
      return;
    }

  /* Another program on [::1]:port would get the code of a browser that tries ::1 first. */
  port = kh_test_free_port ();
  listener = occupy_port ("::1", port);
  loopback = loopback_new_on ("localhost", port, "/callback");
  g_assert_false (kh_loopback_start (loopback, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_PORT_IN_USE);
  g_socket_listener_close (listener);

  /* The 127.0.0.1 socket it had opened is closed again. */
  assert_port_free (port);
}

static void
test_timeout (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  wait_start (f, 1, NULL);
  cb = wait_finish (f, &error);
  g_assert_null (cb);
  g_assert_error (error, KH_ERROR, KH_ERROR_TIMEOUT);
  g_assert_cmpstr (error->message, ==, "No answer from the browser within 1 second");
  assert_port_free (f->port);
}

static gboolean
cancel_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(Response) r = { 0 };

  wait_start (f, 30, cancellable);
  /* One request first, so the cancel ends a flow that is really in use. */
  request (f, "GET", "/callback?code=" CODE "&state=WRONGSTATE", NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  g_idle_add (cancel_cb, cancellable);
  cb = wait_finish (f, &error);
  g_assert_null (cb);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_port_free (f->port);
}

static void
test_cancel_before (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  kh_loopback_start (f->loopback, &error);
  g_assert_no_error (error);
  g_cancellable_cancel (cancellable);
  wait_start (f, 30, cancellable);
  cb = wait_finish (f, &error);
  g_assert_null (cb);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_port_free (f->port);
}

static void
test_stop (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  wait_start (f, 30, NULL);
  kh_loopback_stop (f->loopback);
  cb = wait_finish (f, &error);
  g_assert_null (cb);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_port_free (f->port);
  g_clear_error (&error);

  /* Stopping a listener that is not waiting just closes it. */
  kh_loopback_start (f->loopback, &error);
  g_assert_no_error (error);
  kh_loopback_stop (f->loopback);
  assert_port_free (f->port);
}

static void
test_second_wait (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GAsyncResult) second = NULL;
  g_autoptr(GAsyncResult) stored = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhCallback) cb = NULL;

  wait_start (f, 30, NULL);
  kh_loopback_wait_async (f->loopback, STATE, 30, NULL, kh_test_store_result_cb, &second);
  stored = kh_test_wait_result (&second, WAIT_MS);
  cb = kh_loopback_wait_finish (f->loopback, stored, &error);
  g_assert_null (cb);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  assert_still_waiting (f);

  finish_with_success (f);
}

static void
test_denied (Fixture       *f,
             gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  wait_start (f, 30, NULL);
  request (f, "GET",
           "/callback?code=null&error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E&state="
           STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);
  g_assert_nonnull (strstr (r.body, "Authorization declined"));
  /* The description is not echoed, escaped or not. */
  g_assert_null (strstr (r.body, "<b>"));
  g_assert_null (strstr (r.body, "&lt;b&gt;"));

  cb = wait_finish (f, &error);
  g_assert_null (cb);
  g_assert_error (error, KH_ERROR, KH_ERROR_DENIED);
  g_assert_cmpstr (error->message, ==,
                   "The account holder declined the authorization: <b>no</b>");
  assert_port_free (f->port);
}

static void
test_denied_auth_denied (Fixture       *f,
                         gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  wait_start (f, 30, NULL);
  request (f, "GET", "/callback?error=auth_denied&code=&state=" STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);
  cb = wait_finish (f, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_DENIED);
  g_assert_cmpstr (error->message, ==, "The account holder declined the authorization");
  assert_port_free (f->port);
}

static void
test_unreadable_ends (Fixture       *f,
                      gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  /* Our state, but two different codes: the one redirect we get is broken, so the wait ends
   * with the reason instead of running into its timeout. */
  wait_start (f, 30, NULL);
  request (f, "GET", "/callback?code=" CODE "&code=OTHER&state=" STATE, NULL, &r);
  g_assert_cmpuint (r.status, ==, 400);
  assert_safe_page (&r);
  g_assert_null (strstr (r.body, "OTHER"));

  cb = wait_finish (f, &error);
  g_assert_null (cb);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_null (strstr (error->message, CODE));
  assert_port_free (f->port);
}

static void
test_request_before_wait (Fixture       *f,
                          gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_auto(Response) stray = { 0 };
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  kh_loopback_start (f->loopback, &error);
  g_assert_no_error (error);

  /* The redirect arrives between start and wait: it is held, then handled. */
  request_start (f, "GET", "127.0.0.1", "/callback?code=" CODE "&state=" STATE, NULL, &r);
  request (f, "GET", "/favicon.ico", NULL, &stray);
  g_assert_cmpuint (stray.status, ==, 404);
  g_assert_false (r.done);

  wait_start (f, 30, NULL);
  kh_test_wait_flag (&r.done, WAIT_MS);
  g_assert_cmpuint (r.status, ==, 200);
  assert_safe_page (&r);

  cb = wait_finish (f, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, CODE);
  assert_port_free (f->port);
}

static void
test_held_request_released (Fixture       *f,
                            gconstpointer  data)
{
  g_auto(Response) r = { 0 };
  g_auto(Response) stray = { 0 };
  g_autoptr(GError) error = NULL;

  kh_loopback_start (f->loopback, &error);
  g_assert_no_error (error);
  request_start (f, "GET", "127.0.0.1", "/callback?code=" CODE "&state=" STATE, NULL, &r);
  /* A later request that is answered lets the held one reach the listener first. */
  request (f, "GET", "/favicon.ico", NULL, &stray);
  g_assert_false (r.done);

  /* Stopping answers the held request instead of leaving its tab spinning. */
  kh_loopback_stop (f->loopback);
  kh_test_wait_flag (&r.done, WAIT_MS);
  g_test_message ("held request: status %u, error %s", r.status,
                  r.error != NULL ? r.error->message : "none");
  if (r.error == NULL)
    {
      g_assert_cmpuint (r.status, ==, 503);
      assert_safe_page (&r);
    }
  assert_port_free (f->port);
}

static void
test_listener_reusable (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(GError) error = NULL;

  /* After one flow ends, a new wait listens again. */
  wait_start (f, 1, NULL);
  cb = wait_finish (f, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TIMEOUT);
  g_clear_error (&error);

  wait_start (f, 30, NULL);
  finish_with_success (f);
}

static void
test_new_validation (void)
{
  const char *bad[] = {
    "",
    "not a url",
    "https://localhost:8765/callback",
    "http://example.com:8765/callback",
    "http://localhost.example.com/callback",
    "http://192.168.1.2:8765/",
    "http://0.0.0.0:8765/",
    "http://localhost:0/",
    "http://user@localhost:8765/",
    "http://localhost:8765/cb#frag",
    "ftp://localhost/",
  };
  const char *good[] = {
    "http://localhost:8765/callback",
    "http://127.0.0.1:8765/",
    "http://[::1]:8765/x/y",
    "http://LOCALHOST:8765/",
    "HTTP://localhost:8765",
  };
  g_autoptr(KhLoopback) plain = NULL;
  g_autoptr(GError) plain_error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhLoopback) loopback = kh_loopback_new (bad[i], &error);

      g_assert_null (loopback);
      g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
    }
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhLoopback) loopback = kh_loopback_new (good[i], &error);

      g_assert_no_error (error);
      g_assert_cmpuint (kh_loopback_get_port (loopback), ==, 8765);
    }

  plain = kh_loopback_new ("http://localhost/callback", &plain_error);
  g_assert_no_error (plain_error);
  g_assert_cmpuint (kh_loopback_get_port (plain), ==, 80);
}

#define ADD(name, func) \
  g_test_add ("/keyhold/loopback/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/loopback/new-validation", test_new_validation);
  ADD ("success", test_success);
  ADD ("root-path", test_root_path);
  ADD ("success-ipv6", test_success_ipv6);
  g_test_add_func ("/keyhold/loopback/ipv6-only-host", test_ipv6_only_host);
  ADD ("wrong-state-continues", test_wrong_state_continues);
  ADD ("missing-state-continues", test_missing_state_continues);
  ADD ("other-paths-404", test_other_paths_404);
  ADD ("methods", test_methods);
  ADD ("post-with-body", test_post_with_body);
  ADD ("foreign-host-refused", test_foreign_host_refused);
  ADD ("long-uri", test_long_uri);
  g_test_add_func ("/keyhold/loopback/port-in-use", test_port_in_use);
  g_test_add_func ("/keyhold/loopback/port-in-use-ipv6", test_port_in_use_ipv6);
  ADD ("timeout", test_timeout);
  ADD ("cancel", test_cancel);
  ADD ("cancel-before", test_cancel_before);
  ADD ("stop", test_stop);
  ADD ("second-wait", test_second_wait);
  ADD ("denied", test_denied);
  ADD ("denied-auth-denied", test_denied_auth_denied);
  ADD ("unreadable-ends", test_unreadable_ends);
  ADD ("request-before-wait", test_request_before_wait);
  ADD ("held-request-released", test_held_request_released);
  ADD ("listener-reusable", test_listener_reusable);

  return g_test_run ();
}
