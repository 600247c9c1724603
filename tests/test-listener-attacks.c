/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-listener-attacks.c: the redirect listener against hostile local clients, spoken to over
 * raw TCP (so that nothing "fixes" the request the way an HTTP client library would): a local
 * process racing the browser with forged callbacks, DNS-rebinding Host headers, slow-loris
 * connections, 1 MB requests, invalid UTF-8, and header/HTML injection in echoed parameters.
 * Complements test-loopback.c, which covers the well-formed cases. */

#include "config.h"

#include <string.h>

#include "kh-error.h"
#include "kh-loopback.h"
#include "kh-test-util.h"

#define STATE   "YXR0YWNrLXRlc3RzLXN0YXRlLTAxMjM0NTY3ODlhYmNkZWY"
#define CODE    "ROW_RealCode_9f8e7d6c5b4a"
#define EVIL    "ROW_EvilCode_0000000000"
#define WAIT_MS 20000

typedef struct {
  guint       port;
  KhLoopback *loopback;
  GAsyncResult *result;
} Fixture;

/* ---- raw HTTP over TCP, in a worker thread so the listener keeps running here ------------- */

typedef struct {
  guint    port;
  GBytes  *request;
  guint    byte_delay_ms;   /* > 0: send one byte at a time (slow-loris) */
  guint    max_ms;          /* give up sending/reading after this long */
  /* Out. */
  char    *response;
  gsize    response_len;
  gboolean closed_by_peer;  /* the listener closed the connection (EOF or reset) */
  gint64   closed_after_ms;
} Raw;

static void
raw_free (Raw *raw)
{
  g_bytes_unref (raw->request);
  g_free (raw->response);
  g_free (raw);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Raw, raw_free)

static void
raw_thread (GTask        *task,
            gpointer      source,
            gpointer      task_data,
            GCancellable *cancellable)
{
  Raw *raw = task_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GByteArray) received = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  GOutputStream *out;
  GInputStream *in;
  gsize size;
  const guint8 *data = g_bytes_get_data (raw->request, &size);
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + (gint64) raw->max_ms * 1000;
  gboolean write_failed = FALSE;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", raw->port, NULL, &error);
  if (connection == NULL)
    {
      /* A listener that already closed (a request racing the end of the flow) refuses the
       * connection: that is an answer too, with no response at all (status 0). */
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
      raw->closed_by_peer = TRUE;
      raw->response = g_strdup ("");
      raw->response_len = 0;
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_socket_set_timeout (g_socket_connection_get_socket (connection), 1);
  out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  in = g_io_stream_get_input_stream (G_IO_STREAM (connection));

  if (raw->byte_delay_ms == 0)
    write_failed = !g_output_stream_write_all (out, data, size, NULL, NULL, NULL);
  else
    {
      for (gsize i = 0; i < size && g_get_monotonic_time () < deadline; i++)
        {
          if (!g_output_stream_write_all (out, data + i, 1, NULL, NULL, NULL))
            {
              write_failed = TRUE;
              break;
            }
          /* Pacing is the attack itself; this is a worker thread, the test's loop runs on. */
          g_usleep (raw->byte_delay_ms * 1000);
          /* A closed connection shows as a readable EOF. */
          if (g_socket_condition_check (g_socket_connection_get_socket (connection),
                                        G_IO_IN | G_IO_HUP | G_IO_ERR) != 0)
            break;
        }
    }

  while (g_get_monotonic_time () < deadline)
    {
      guint8 buffer[4096];
      gssize n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error);

      if (n > 0)
        {
          g_byte_array_append (received, buffer, n);
          continue;
        }
      if (n == 0 || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        {
          raw->closed_by_peer = TRUE;
          break;
        }
      g_clear_error (&error);
    }
  if (!raw->closed_by_peer && write_failed)
    raw->closed_by_peer = TRUE;
  raw->closed_after_ms = (g_get_monotonic_time () - start) / 1000;
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  raw->response_len = received->len;
  g_byte_array_append (received, (const guint8 *) "", 1);
  raw->response = (char *) g_byte_array_free (g_steal_pointer (&received), FALSE);
  g_task_return_boolean (task, TRUE);
}

static GTask *
raw_start (guint        port,
           const char  *request,
           gsize        length,
           guint        byte_delay_ms,
           guint        max_ms,
           GAsyncResult **result)
{
  Raw *raw = g_new0 (Raw, 1);
  GTask *task = g_task_new (NULL, NULL, kh_test_store_result_cb, result);

  raw->port = port;
  raw->request = g_bytes_new (request, length);
  raw->byte_delay_ms = byte_delay_ms;
  raw->max_ms = max_ms;
  g_task_set_task_data (task, raw, (GDestroyNotify) raw_free);
  g_task_run_in_thread (task, raw_thread);
  return task;
}

/* One request, its whole answer (the listener closes or the client gives up after 10 s). */
static Raw *
raw_request_len (guint       port,
                 const char *request,
                 gsize       length)
{
  GAsyncResult *pending = NULL;
  g_autoptr(GTask) task = raw_start (port, request, length, 0, 10000, &pending);
  Raw *raw = g_task_get_task_data (task);
  Raw *copy = g_new0 (Raw, 1);

  g_object_unref (kh_test_wait_result (&pending, WAIT_MS));
  *copy = *raw;
  copy->request = g_bytes_ref (raw->request);
  copy->response = g_strdup (raw->response);
  return copy;
}

static Raw *
raw_request (guint       port,
             const char *request)
{
  return raw_request_len (port, request, strlen (request));
}

static guint
raw_status (Raw *raw)
{
  guint status = 0;

  if (!g_str_has_prefix (raw->response, "HTTP/1.1 ") &&
      !g_str_has_prefix (raw->response, "HTTP/1.0 "))
    return 0;
  for (guint i = 9; i < 12; i++)
    {
      if (!g_ascii_isdigit (raw->response[i]))
        return 0;
      status = status * 10 + (guint) (raw->response[i] - '0');
    }
  return status;
}

/* The header block (lower-cased) and the body of a response. */
static void
raw_split (Raw   *raw,
           char **headers,
           const char **body)
{
  const char *end = strstr (raw->response, "\r\n\r\n");

  g_assert_nonnull (end);
  *headers = g_ascii_strdown (raw->response, end - raw->response);
  *body = end + 4;
}

/* An error page of Keyhold's: security headers there, nothing of the request echoed. */
static void
assert_keyhold_page (Raw        *raw,
                     guint       status,
                     const char *text)
{
  g_autofree char *headers = NULL;
  const char *body;

  g_assert_cmpuint (raw_status (raw), ==, status);
  raw_split (raw, &headers, &body);
  g_assert_nonnull (strstr (headers, "\r\ncache-control: no-store"));
  g_assert_nonnull (strstr (headers, "\r\nreferrer-policy: no-referrer"));
  g_assert_nonnull (strstr (headers, "\r\ncontent-security-policy: default-src 'none'"));
  if (text != NULL)
    g_assert_nonnull (strstr (body, text));
  g_assert_null (strstr (raw->response, STATE));
  g_assert_null (strstr (raw->response, CODE));
  g_assert_null (strstr (raw->response, EVIL));
}

static char *
get_request (const char *target,
             const char *host)
{
  return g_strdup_printf ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target,
                          host);
}

/* ---- the fixture --------------------------------------------------------------------------- */

static void
fixture_setup (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *uri = NULL;
  g_autoptr(GError) error = NULL;

  f->port = kh_test_free_port ();
  uri = g_strdup_printf ("http://127.0.0.1:%u/callback", f->port);
  f->loopback = kh_loopback_new (uri, &error);
  g_assert_no_error (error);
  g_assert_true (kh_loopback_start (f->loopback, &error));
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data)
{
  g_clear_object (&f->result);
  g_assert_finalize_object (f->loopback);
}

static void
wait_start (Fixture *f,
            guint    timeout_seconds)
{
  kh_loopback_wait_async (f->loopback, STATE, timeout_seconds, NULL, kh_test_store_result_cb,
                          &f->result);
}

static char *
host_ok (Fixture *f)
{
  return g_strdup_printf ("127.0.0.1:%u", f->port);
}

/* The real browser's redirect: it must still end the flow with the real code. */
static void
finish_with_real_callback (Fixture *f)
{
  g_autofree char *host = host_ok (f);
  g_autofree char *request = get_request ("/callback?code=" CODE "&state=" STATE, host);
  g_autoptr(Raw) raw = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhCallback) callback = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_null (f->result);
  raw = raw_request (f->port, request);
  assert_keyhold_page (raw, 200, "Authorization received");
  result = kh_test_wait_result (&f->result, WAIT_MS);
  callback = kh_loopback_wait_finish (f->loopback, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (callback->code, ==, CODE);
  g_assert_cmpstr (callback->state, ==, STATE);
}

/* ---- forged callbacks ------------------------------------------------------------------------ */

/* Another local process knows the port (it is in the app's redirect URI) and floods it with
 * callbacks carrying its own code, with guessed, empty, repeated or truncated states, some at
 * the same moment as the real redirect. Only the real one ends the flow, with the real code. */
static void
test_forged_race (Fixture       *f,
                  gconstpointer  data)
{
  const char *forged[] = {
    "/callback?code=" EVIL "&state=guessed",
    "/callback?code=" EVIL "&state=",
    "/callback?code=" EVIL,
    "/callback?state=" EVIL "&code=" EVIL,
    "/callback?code=" EVIL "&state=" "YXR0YWNrLXRlc3RzLXN0YXRlLTAxMjM0NTY3ODlhYmNkZW",
    "/callback?code=" EVIL "&state=" STATE "x",
    "/callback?code=" EVIL "&state=" "yxr0ywnrlxrlc3rzlxn0yxrllTaxmjm0nty3odlhymnkzwy",
    "/Callback?code=" EVIL "&state=" STATE,
    "/callback/?code=" EVIL "&state=" STATE,
    "/callback;x?code=" EVIL "&state=" STATE,
  };
  g_autofree char *host = host_ok (f);
  GTask *tasks[G_N_ELEMENTS (forged)];
  GAsyncResult *results[G_N_ELEMENTS (forged)] = { NULL, };
  g_autofree char *real = get_request ("/callback?code=" CODE "&state=" STATE, host);
  GAsyncResult *real_pending = NULL;
  g_autoptr(GTask) real_task = NULL;
  g_autoptr(GAsyncResult) real_result = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhCallback) callback = NULL;
  g_autoptr(GError) error = NULL;
  Raw *real_raw;

  wait_start (f, 30);

  /* First the forgeries alone: each gets an error page, the wait goes on. */
  for (guint i = 0; i < G_N_ELEMENTS (forged); i++)
    {
      g_autofree char *request = get_request (forged[i], host);
      g_autoptr(Raw) raw = raw_request (f->port, request);

      g_test_message ("forged %s -> %u", forged[i], raw_status (raw));
      g_assert_cmpuint (raw_status (raw), >=, 400);
      g_assert_cmpuint (raw_status (raw), <, 500);
      assert_keyhold_page (raw, raw_status (raw), NULL);
      g_assert_null (f->result);
    }

  /* Then all of them at once, with the real redirect in the middle. */
  for (guint i = 0; i < G_N_ELEMENTS (forged); i++)
    {
      g_autofree char *request = get_request (forged[i], host);

      tasks[i] = raw_start (f->port, request, strlen (request), 0, 10000, &results[i]);
      if (i == G_N_ELEMENTS (forged) / 2)
        real_task = raw_start (f->port, real, strlen (real), 0, 10000, &real_pending);
    }
  real_result = kh_test_wait_result (&real_pending, WAIT_MS);
  real_raw = g_task_get_task_data (real_task);
  assert_keyhold_page (real_raw, 200, "Authorization received");
  for (guint i = 0; i < G_N_ELEMENTS (forged); i++)
    {
      Raw *raw = g_task_get_task_data (tasks[i]);

      g_object_unref (kh_test_wait_result (&results[i], WAIT_MS));
      /* Refused, or (after the flow ended) not answered at all. */
      g_assert_true (raw_status (raw) == 0 || raw_status (raw) >= 400 ||
                     strstr (raw->response, "already received") != NULL);
      g_assert_null (strstr (raw->response, "Authorization received"));
      g_object_unref (tasks[i]);
    }

  result = kh_test_wait_result (&f->result, WAIT_MS);
  callback = kh_loopback_wait_finish (f->loopback, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (callback->code, ==, CODE);
}

/* ---- DNS rebinding ------------------------------------------------------------------------- */

static void
test_rebinding_hosts (Fixture       *f,
                      gconstpointer  data)
{
  g_autofree char *suffix = g_strdup_printf ("127.0.0.1.evil.example:%u", f->port);
  g_autofree char *userinfo = g_strdup_printf ("user@127.0.0.1:%u", f->port);
  g_autofree char *userinfo2 = g_strdup_printf ("127.0.0.1:%u@evil.example", f->port);
  g_autofree char *double_port = g_strdup_printf ("localhost:%u:%u", f->port, f->port);
  g_autofree char *v6_suffix = g_strdup_printf ("[::1].evil.example:%u", f->port);
  g_autofree char *v6_mapped = g_strdup_printf ("[::ffff:7f00:1]:%u", f->port);
  g_autofree char *zero = g_strdup_printf ("0.0.0.0:%u", f->port);
  g_autofree char *decimal = g_strdup_printf ("2130706433:%u", f->port);
  g_autofree char *other_loop = g_strdup_printf ("127.0.0.2:%u", f->port);
  g_autofree char *trailing = g_strdup_printf ("localhost.:%u", f->port);
  g_autofree char *space = g_strdup_printf ("localhost :%u", f->port);
  const char *refused_hosts[] = {
    "evil.example",
    suffix,
    "localhost.evil",
    "",
    userinfo,
    userinfo2,
    double_port,
    v6_suffix,
    v6_mapped,
    "[::1",
    zero,
    decimal,
    other_loop,
    trailing,
    space,
  };
  g_autofree char *v4 = g_strdup_printf ("127.0.0.1:%u", f->port);
  g_autofree char *name = g_strdup_printf ("localhost:%u", f->port);
  g_autofree char *upper = g_strdup_printf ("LocalHost:%u", f->port);
  g_autofree char *v6 = g_strdup_printf ("[::1]:%u", f->port);
  const char *accepted_hosts[] = { v4, name, upper, v6, "localhost", "127.0.0.1", "[::1]" };
  const char *target = "/callback?code=" EVIL "&state=wrong";

  wait_start (f, 30);

  for (guint i = 0; i < G_N_ELEMENTS (refused_hosts); i++)
    {
      g_autofree char *request = get_request ("/callback?code=" CODE "&state=" STATE,
                                              refused_hosts[i]);
      g_autoptr(Raw) raw = raw_request (f->port, request);

      g_test_message ("Host: '%s' -> %u", refused_hosts[i], raw_status (raw));
      g_assert_cmpuint (raw_status (raw), ==, 400);
      /* Keyhold's refusal, or libsoup's own 400 for a Host it cannot parse. */
      if (strstr (raw->response, "Content-Security-Policy") != NULL)
        assert_keyhold_page (raw, 400, "refused");
      g_assert_null (strstr (raw->response, CODE));
      g_assert_null (f->result);
    }

  /* No Host at all (HTTP/1.0 allows it; a rebinding page cannot send it, but nor may anyone
   * skip the check that way), two Host headers, and an absolute-form target naming another
   * host behind a loopback Host. */
  {
    const char *others[] = {
      "GET /callback?code=" CODE "&state=" STATE " HTTP/1.0\r\n\r\n",
      "GET /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Host: evil.example\r\nConnection: close\r\n\r\n",
      "GET http://evil.example/callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\nConnection: close\r\n\r\n",
    };

    for (guint i = 0; i < G_N_ELEMENTS (others); i++)
      {
        g_autoptr(Raw) raw = raw_request (f->port, others[i]);

        g_test_message ("request %u -> %u", i, raw_status (raw));
        g_assert_cmpuint (raw_status (raw), ==, 400);
        g_assert_null (strstr (raw->response, CODE));
        g_assert_null (f->result);
      }
  }

  /* Loopback names pass the Host check (then meet the state check). */
  for (guint i = 0; i < G_N_ELEMENTS (accepted_hosts); i++)
    {
      g_autofree char *request = get_request (target, accepted_hosts[i]);
      g_autoptr(Raw) raw = raw_request (f->port, request);

      g_test_message ("Host: '%s' -> %u", accepted_hosts[i], raw_status (raw));
      assert_keyhold_page (raw, 400, "Not the expected authorization");
      g_assert_null (f->result);
    }

  finish_with_real_callback (f);
}

/* ---- slow-loris ---------------------------------------------------------------------------- */

#define N_SLOW 4

static gboolean
set_flag_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_slow_loris (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *host = host_ok (f);
  g_autofree char *slow_request = get_request ("/callback?code=" EVIL "&state=" STATE, host);
  GTask *tasks[N_SLOW];
  GAsyncResult *results[N_SLOW] = { NULL, };
  gboolean tick = FALSE;
  gint64 ended;

  wait_start (f, 30);

  /* Each sends its headers one byte every 250 ms: 20 s for the whole request. */
  for (guint i = 0; i < N_SLOW; i++)
    tasks[i] = raw_start (f->port, slow_request, strlen (slow_request), 250, 25000,
                          &results[i]);

  /* Let them get going, then the browser arrives: the listener is not stuck on them. */
  g_timeout_add (1000, set_flag_cb, &tick);
  kh_test_wait_flag (&tick, WAIT_MS);
  finish_with_real_callback (f);
  ended = g_get_monotonic_time ();

  /* The flow is over: the slow connections must not outlive the listener for long. */
  for (guint i = 0; i < N_SLOW; i++)
    {
      Raw *raw = g_task_get_task_data (tasks[i]);

      g_object_unref (kh_test_wait_result (&results[i], 30000));
      g_test_message ("slow connection %u: %s after %" G_GINT64_FORMAT " ms (%" G_GINT64_FORMAT
                      " ms after the flow ended), answer %u", i,
                      raw->closed_by_peer ? "closed by the listener" : "still open",
                      raw->closed_after_ms, (g_get_monotonic_time () - ended) / 1000,
                      raw_status (raw));
      g_assert_true (raw->closed_by_peer);
      g_assert_null (strstr (raw->response, "Authorization received"));
      g_object_unref (tasks[i]);
    }
}

/* Nobody but slow-loris clients: the wait ends at its timeout and takes them down with it. */
static void
test_slow_loris_timeout (Fixture       *f,
                         gconstpointer  data)
{
  g_autofree char *host = host_ok (f);
  g_autofree char *slow_request = get_request ("/callback?code=" EVIL "&state=" STATE, host);
  GTask *tasks[N_SLOW];
  GAsyncResult *results[N_SLOW] = { NULL, };
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhCallback) callback = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();

  wait_start (f, 2);
  for (guint i = 0; i < N_SLOW; i++)
    tasks[i] = raw_start (f->port, slow_request, strlen (slow_request), 250, 25000,
                          &results[i]);

  result = kh_test_wait_result (&f->result, WAIT_MS);
  callback = kh_loopback_wait_finish (f->loopback, result, &error);
  g_assert_error (error, KH_ERROR, KH_ERROR_TIMEOUT);
  g_assert_null (callback);

  for (guint i = 0; i < N_SLOW; i++)
    {
      Raw *raw = g_task_get_task_data (tasks[i]);

      g_object_unref (kh_test_wait_result (&results[i], 30000));
      g_test_message ("slow connection %u: %s after %" G_GINT64_FORMAT " ms", i,
                      raw->closed_by_peer ? "closed by the listener" : "still open",
                      raw->closed_after_ms);
      g_assert_true (raw->closed_by_peer);
      /* Closed with the listener (2 s timeout), long before its 20 s of headers were sent. */
      g_assert_cmpint (raw->closed_after_ms, <, 6000);
      g_assert_null (strstr (raw->response, "Authorization received"));
      g_object_unref (tasks[i]);
    }
  g_assert_cmpint ((g_get_monotonic_time () - start) / 1000, <, 10000);
}

/* A long wait: the listener still drops a connection that has not sent its headers within its
 * header deadline (10 s), and closes a connection that asked for keep-alive once its page is
 * out, while the flow goes on and completes. */
static void
test_slow_loris_deadline (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *host = host_ok (f);
  g_autofree char *slow_request = get_request ("/callback?code=" EVIL "&state=" STATE, host);
  g_autofree char *keep_alive = g_strdup_printf ("GET /callback?code=" EVIL "&state=wrong "
                                                 "HTTP/1.1\r\nHost: %s\r\n\r\n", host);
  GAsyncResult *slow_pending = NULL;
  GAsyncResult *idle_pending = NULL;
  g_autoptr(GTask) slow = NULL;
  g_autoptr(GTask) idle = NULL;
  g_autoptr(GAsyncResult) slow_result = NULL;
  g_autoptr(GAsyncResult) idle_result = NULL;
  Raw *raw;

  wait_start (f, 120);
  /* 20 s of headers, one byte every 250 ms. */
  slow = raw_start (f->port, slow_request, strlen (slow_request), 250, 30000, &slow_pending);
  idle = raw_start (f->port, keep_alive, strlen (keep_alive), 0, 30000, &idle_pending);

  slow_result = kh_test_wait_result (&slow_pending, 30000);
  raw = g_task_get_task_data (slow);
  g_test_message ("slow-loris connection: %s after %" G_GINT64_FORMAT " ms",
                  raw->closed_by_peer ? "closed by the listener" : "still open",
                  raw->closed_after_ms);
  g_assert_true (raw->closed_by_peer);
  g_assert_cmpint (raw->closed_after_ms, >=, 9000);
  g_assert_cmpint (raw->closed_after_ms, <, 15000);
  g_assert_cmpuint (raw_status (raw), ==, 0);

  idle_result = kh_test_wait_result (&idle_pending, 30000);
  raw = g_task_get_task_data (idle);
  g_test_message ("idle kept-alive connection: %s after %" G_GINT64_FORMAT " ms",
                  raw->closed_by_peer ? "closed by the listener" : "still open",
                  raw->closed_after_ms);
  assert_keyhold_page (raw, 400, "Not the expected authorization");
  g_assert_true (raw->closed_by_peer);
  /* No keep-alive on the listener: closed right after its page. */
  g_assert_cmpint (raw->closed_after_ms, <, 5000);

  /* The wait went on all along. */
  finish_with_real_callback (f);
}

/* ---- big requests -------------------------------------------------------------------------- */

static void
test_megabyte_requests (Fixture       *f,
                        gconstpointer  data)
{
  g_autofree char *host = host_ok (f);
  const gsize mb = 1024 * 1024;
  g_autoptr(GString) line = g_string_new ("GET /callback?code=" CODE "&state=" STATE "&pad=");
  g_autoptr(GString) header = NULL;
  g_autoptr(GString) many = NULL;
  g_autoptr(GString) body = NULL;
  GString *requests[4];

  wait_start (f, 60);

  /* A 1 MB request line. */
  while (line->len < mb)
    g_string_append (line, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  g_string_append_printf (line, " HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);

  /* One 1 MB header. */
  header = g_string_new (NULL);
  g_string_append_printf (header, "GET /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                          "Host: %s\r\nX-Pad: ", host);
  while (header->len < mb)
    g_string_append (header, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  g_string_append (header, "\r\nConnection: close\r\n\r\n");

  /* 1 MB of small headers. */
  many = g_string_new (NULL);
  g_string_append_printf (many, "GET /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                          "Host: %s\r\n", host);
  for (guint i = 0; many->len < mb; i++)
    g_string_append_printf (many, "X-H%u: c\r\n", i);
  g_string_append (many, "Connection: close\r\n\r\n");

  /* A 1 MB body on the redirect path. */
  body = g_string_new (NULL);
  g_string_append_printf (body, "POST /callback?code=" CODE "&state=" STATE " HTTP/1.1\r\n"
                          "Host: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n",
                          host, mb);
  for (gsize i = 0; i < mb; i += 16)
    g_string_append (body, "code=" EVIL);

  requests[0] = line;
  requests[1] = header;
  requests[2] = many;
  requests[3] = body;
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autoptr(Raw) raw = raw_request_len (f->port, requests[i]->str, requests[i]->len);

      g_test_message ("1 MB request %u: status %u, %s", i, raw_status (raw),
                      raw->closed_by_peer ? "closed" : "open");
      /* Refused with a 4xx, or the connection dropped: never accepted. */
      g_assert_true (raw_status (raw) == 0 || (raw_status (raw) >= 400 &&
                                               raw_status (raw) < 500));
      g_assert_null (strstr (raw->response, CODE));
      g_assert_null (f->result);
    }

  finish_with_real_callback (f);
}

/* ---- invalid UTF-8 ------------------------------------------------------------------------- */

static void
test_invalid_utf8 (Fixture       *f,
                   gconstpointer  data)
{
  g_autofree char *host = host_ok (f);
  const char *targets[] = {
    "/callback?code=" EVIL "&state=%FF%FE%FD",
    "/callback?code=%C0%AF&state=%ED%A0%80",
    "/callback?code=" EVIL "&state=\xff\xfe",
    "/callback?code=\xc3\x28&state=" STATE "\xa0",
    "/callback?state=%00" STATE "&code=" EVIL,
    "/callback\xff?code=" EVIL "&state=" STATE,
    "/callback?code=" EVIL "&state=" STATE "%00",
  };

  wait_start (f, 30);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autofree char *request = get_request (targets[i], host);
      g_autoptr(Raw) raw = raw_request (f->port, request);

      g_test_message ("invalid UTF-8 %u -> %u", i, raw_status (raw));
      g_assert_cmpuint (raw_status (raw), >=, 400);
      g_assert_cmpuint (raw_status (raw), <, 500);
      if (strstr (raw->response, "Content-Security-Policy") != NULL)
        assert_keyhold_page (raw, raw_status (raw), NULL);
      g_assert_true (g_utf8_validate (raw->response, raw->response_len, NULL));
      g_assert_null (f->result);
    }

  /* A Host header that is not UTF-8 either. */
  {
    g_autofree char *request = get_request ("/callback?code=" CODE "&state=" STATE,
                                            "local\xffhost");
    g_autoptr(Raw) raw = raw_request (f->port, request);

    g_assert_cmpuint (raw_status (raw), ==, 400);
    g_assert_null (f->result);
  }

  finish_with_real_callback (f);
}

/* ---- injection ----------------------------------------------------------------------------- */

static const char * const injections[] = {
  "%0D%0ASet-Cookie:%20injected=1",
  "%0d%0aX-Injected:%20yes%0d%0a%0d%0a%3Cscript%3Ealert(1)%3C/script%3E",
  "%3Cscript%3Ealert(%22injected%22)%3C/script%3E",
  "%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E",
  "%27%20onload=%27alert(1)",
  "%3C/title%3E%3Ch1%3Einjected%3C/h1%3E",
  "%26lt;script%26gt;injected",
};

static void
assert_nothing_injected (Raw *raw)
{
  g_autofree char *headers = NULL;
  const char *body;

  raw_split (raw, &headers, &body);
  g_assert_null (strstr (headers, "set-cookie"));
  g_assert_null (strstr (headers, "injected"));
  g_assert_null (strstr (headers, "x-injected"));
  g_assert_null (strstr (body, "<script"));
  g_assert_null (strstr (body, "alert"));
  g_assert_null (strstr (body, "onerror"));
  g_assert_null (strstr (body, "onload"));
  g_assert_null (strstr (body, "injected"));
  g_assert_null (strstr (body, "<img"));
  g_assert_null (strstr (body, "<h1>injected"));
}

static void
test_injection_wrong_state (Fixture       *f,
                            gconstpointer  data)
{
  g_autofree char *host = host_ok (f);

  wait_start (f, 30);
  for (guint i = 0; i < G_N_ELEMENTS (injections); i++)
    {
      const char *targets[] = { "error", "error_description", "state", "code", "shop_region" };

      for (guint j = 0; j < G_N_ELEMENTS (targets); j++)
        {
          g_autofree char *target = g_strdup_printf ("/callback?%s=%s&error=access_denied"
                                                     "&state=%s", targets[j], injections[i],
                                                     g_str_equal (targets[j], "state")
                                                     ? "x" : "wrong");
          g_autofree char *request = get_request (target, host);
          g_autoptr(Raw) raw = raw_request (f->port, request);

          assert_keyhold_page (raw, 400, "Not the expected authorization");
          assert_nothing_injected (raw);
          g_assert_null (f->result);
        }
    }

  /* Raw CR/LF and quotes in the request line itself: refused before Keyhold sees it, or
   * answered with a page that repeats none of it. */
  {
    g_autofree char *request = g_strdup_printf ("GET /callback?error=a\r\nSet-Cookie: injected=1"
                                                "&state=" STATE " HTTP/1.1\r\nHost: %s\r\n"
                                                "Connection: close\r\n\r\n", host);
    g_autoptr(Raw) raw = raw_request (f->port, request);

    g_assert_cmpuint (raw_status (raw), >=, 400);
    assert_nothing_injected (raw);
    g_assert_null (f->result);
  }

  finish_with_real_callback (f);
}

/* Our state with an error: the flow ends as declined, and the page still echoes nothing. */
static void
test_injection_denied (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *host = host_ok (f);
  g_autofree char *target = g_strdup_printf ("/callback?error=access_denied%s"
                                             "&error_description=%s%s&state=" STATE,
                                             injections[0], injections[1], injections[3]);
  g_autofree char *request = get_request (target, host);
  g_autoptr(Raw) raw = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(KhCallback) callback = NULL;
  g_autoptr(GError) error = NULL;

  wait_start (f, 30);
  raw = raw_request (f->port, request);
  g_assert_cmpuint (raw_status (raw), <, 500);
  assert_keyhold_page (raw, raw_status (raw), NULL);
  assert_nothing_injected (raw);

  result = kh_test_wait_result (&f->result, WAIT_MS);
  callback = kh_loopback_wait_finish (f->loopback, result, &error);
  g_assert_null (callback);
  g_assert_nonnull (error);
  g_test_message ("declined: %s", error->message);
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

#define ADD(name, func) \
  g_test_add ("/keyhold/listener-attacks/" name, Fixture, NULL, fixture_setup, func, \
              fixture_teardown)

  ADD ("forged-callback-race", test_forged_race);
  ADD ("dns-rebinding-hosts", test_rebinding_hosts);
  ADD ("slow-loris", test_slow_loris);
  ADD ("slow-loris-timeout", test_slow_loris_timeout);
  ADD ("slow-loris-deadline", test_slow_loris_deadline);
  ADD ("megabyte-requests", test_megabyte_requests);
  ADD ("invalid-utf8", test_invalid_utf8);
  ADD ("injection-wrong-state", test_injection_wrong_state);
  ADD ("injection-denied", test_injection_denied);

#undef ADD

  return g_test_run ();
}
