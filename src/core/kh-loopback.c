/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-loopback.c: the redirect listener of one authorization (RFC 8252 section 7.3, DESIGN
 * security rule 2). It listens on loopback only, on the registered redirect URI's port, answers
 * every request with a static page that echoes nothing, and ends the wait only for a GET on the
 * exact path that carries our state. A stranger's request (another tab, another program, a
 * DNS-rebinding page) gets an error page and the wait goes on. */

#define G_LOG_DOMAIN "kh-loopback"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-loopback.h"

#include "kh-error.h"
#include "kh-util.h"

#include <libsoup/soup.h>
#include <string.h>

/* How long the last response may take to reach the browser before the listener closes anyway. */
#define FINAL_RESPONSE_GRACE_SECONDS 5

/* How long a client may take to send its request headers (or to start a next request on a
 * kept-alive connection). A browser sends them at once; a slow-loris client would otherwise
 * hold its connection for the whole wait. */
#define HEADER_DEADLINE_SECONDS 10
#define HEADER_DEADLINE_KEY "kh-loopback-header-deadline"

typedef enum {
  PAGE_SUCCESS,
  PAGE_DENIED,
  PAGE_UNREADABLE,
  PAGE_WRONG_STATE,
  PAGE_MISSING_STATE,
  PAGE_WAITING,
  PAGE_NOT_WAITING,
  PAGE_DONE,
  PAGE_NOT_FOUND,
  PAGE_METHOD_NOT_ALLOWED,
  PAGE_REFUSED_HOST,
  PAGE_TOO_LONG,
} Page;

typedef struct {
  guint       status;
  const char *title;
  const char *text;
} PageInfo;

static const PageInfo pages[] = {
  [PAGE_SUCCESS] = {
    SOUP_STATUS_OK,
    N_("Authorization received"),
    N_("Keyhold received the authorization and is finishing the sign-in."),
  },
  [PAGE_DENIED] = {
    SOUP_STATUS_OK,
    N_("Authorization declined"),
    N_("The authorization was declined, so Keyhold received no access. Keyhold shows the "
       "details."),
  },
  [PAGE_UNREADABLE] = {
    SOUP_STATUS_BAD_REQUEST,
    N_("Authorization not readable"),
    N_("This address was meant for Keyhold, but what it carried could not be read. Keyhold "
       "shows the details; start the authorization again there."),
  },
  [PAGE_WRONG_STATE] = {
    SOUP_STATUS_BAD_REQUEST,
    N_("Not the expected authorization"),
    N_("This sign-in link does not belong to the authorization Keyhold is waiting for. "
       "Keyhold is still waiting; if you started several authorizations, finish the newest one, "
       "or start again from Keyhold."),
  },
  [PAGE_MISSING_STATE] = {
    SOUP_STATUS_BAD_REQUEST,
    N_("Not the expected authorization"),
    N_("This sign-in link does not belong to the authorization Keyhold is waiting for: it "
       "carries no state. If you authorized from Seller Center, copy this page's address and "
       "paste it into Keyhold instead. Keyhold is still waiting."),
  },
  [PAGE_WAITING] = {
    SOUP_STATUS_OK,
    N_("Keyhold is waiting"),
    N_("Keyhold is waiting for the authorization to come back from the browser."),
  },
  [PAGE_NOT_WAITING] = {
    SOUP_STATUS_SERVICE_UNAVAILABLE,
    N_("Keyhold is not waiting"),
    N_("Keyhold is not waiting for an authorization any more. Start it again from Keyhold."),
  },
  [PAGE_DONE] = {
    SOUP_STATUS_OK,
    N_("Authorization already received"),
    N_("Keyhold has already received the answer to this authorization."),
  },
  [PAGE_NOT_FOUND] = {
    SOUP_STATUS_NOT_FOUND,
    N_("Not found"),
    N_("There is nothing at this address."),
  },
  [PAGE_METHOD_NOT_ALLOWED] = {
    SOUP_STATUS_METHOD_NOT_ALLOWED,
    N_("Not allowed"),
    N_("This address only accepts the browser's redirect."),
  },
  [PAGE_REFUSED_HOST] = {
    SOUP_STATUS_BAD_REQUEST,
    N_("Request refused"),
    N_("This request did not come through this computer's own address, so Keyhold refused it."),
  },
  [PAGE_TOO_LONG] = {
    SOUP_STATUS_REQUEST_URI_TOO_LONG,
    N_("Address too long"),
    N_("This address is too long to be an authorization redirect. Keyhold is still waiting."),
  },
};

/* Static: only translated text from the table above goes in, escaped. Nothing from the
 * request, no external resource (the CSP would block one anyway). */
static const char page_template[] =
  "<!DOCTYPE html>\n"
  "<html><head><meta charset=\"utf-8\">"
  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
  "<meta name=\"referrer\" content=\"no-referrer\">"
  "<title>%s</title>"
  "<style>"
  "body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;"
  "color:#241f31;background:#fafafa;line-height:1.5}"
  "h1{font-size:1.6em;font-weight:600}"
  "@media (prefers-color-scheme:dark){body{color:#fff;background:#242424}}"
  "</style></head>\n"
  "<body><h1>%s</h1><p>%s</p><p>%s</p></body></html>\n";

struct _KhLoopback
{
  GObject parent_instance;

  char *host;            /* "localhost", "127.0.0.1" or "::1" */
  char *path;            /* percent-encoded, as it appears in a request */
  char *redirect_base;   /* what KhCallback.redirect_base reports */
  guint port;

  SoupServer *server;
  gboolean listening;

  /* The wait in progress. */
  GTask *task;
  char *expected_state;
  guint timeout_seconds;
  GSource *timeout_source;
  GSource *cancel_source;

  /* Requests on our path that arrived before the wait started, held (paused) until it does. */
  GPtrArray *held;

  /* The request that ended the flow: the wait completes once its response is out. */
  SoupServerMessage *final_msg;
  gulong final_finished_id;
  KhCallback *final_callback;
  GError *final_error;
  GSource *finish_source;
};

G_DEFINE_FINAL_TYPE (KhLoopback, kh_loopback, G_TYPE_OBJECT)

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
clear_secret (char **secret)
{
  if (*secret == NULL)
    return;
  memset (*secret, 0, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

static void
set_page (SoupServerMessage *msg,
          Page               page)
{
  const PageInfo *info = &pages[page];
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autofree char *body = NULL;
  gsize length;

  body = g_markup_printf_escaped (page_template, _(info->title), _(info->title), _(info->text),
                                  _("You can close this tab and return to Keyhold."));

  soup_server_message_set_status (msg, info->status, NULL);
  soup_message_headers_replace (headers, "Cache-Control", "no-store");
  soup_message_headers_replace (headers, "Pragma", "no-cache");
  soup_message_headers_replace (headers, "Referrer-Policy", "no-referrer");
  soup_message_headers_replace (headers, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "X-Frame-Options", "DENY");
  /* One page per connection: a listener that lives for one flow gains nothing from keep-alive,
   * and an idle kept-alive connection would sit there until the flow ends. */
  soup_message_headers_replace (headers, "Connection", "close");
  if (page == PAGE_METHOD_NOT_ALLOWED)
    soup_message_headers_replace (headers, "Allow", "GET, HEAD");
  length = strlen (body);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_TAKE,
                                    g_steal_pointer (&body), length);
}

static gboolean
is_loopback_name (const char *host,
                  gsize       len)
{
  static const char * const names[] = { "localhost", "127.0.0.1", "[::1]", "::1" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      if (strlen (names[i]) == len && g_ascii_strncasecmp (host, names[i], len) == 0)
        return TRUE;
    }
  return FALSE;
}

/* DNS rebinding: a web page whose name now resolves to 127.0.0.1 reaches the listener with its
 * own name in Host. Only loopback names, with no port or our port, are accepted. */
static gboolean
host_header_is_loopback (KhLoopback *self,
                         const char *value)
{
  const char *port_part;
  gsize host_len;
  guint64 port;
  char *end = NULL;

  if (value == NULL || *value == '\0')
    return FALSE;

  if (value[0] == '[')
    {
      const char *bracket = strchr (value, ']');

      if (bracket == NULL)
        return FALSE;
      host_len = bracket - value + 1;
    }
  else
    host_len = strcspn (value, ":");

  if (!is_loopback_name (value, host_len))
    return FALSE;

  port_part = value + host_len;
  if (*port_part == '\0')
    return TRUE;
  if (*port_part != ':' || !g_ascii_isdigit (port_part[1]))
    return FALSE;
  port = g_ascii_strtoull (port_part + 1, &end, 10);
  return end != NULL && *end == '\0' && port == self->port;
}

static gboolean
uri_host_is_loopback (GUri *uri)
{
  const char *host = g_uri_get_host (uri);

  return host != NULL && is_loopback_name (host, strlen (host));
}

static void
server_disconnect (KhLoopback *self)
{
  if (self->server != NULL && self->listening)
    {
      soup_server_disconnect (self->server);
      g_debug ("stopped listening on port %u", self->port);
    }
  self->listening = FALSE;
}

/* Answers every held request (their browser tabs would otherwise spin) and lets them go. */
static void
release_held (KhLoopback *self,
              Page        page)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&self->held);

  if (held == NULL)
    return;
  for (guint i = 0; i < held->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (held, i);

      set_page (msg, page);
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      soup_server_unpause_message (self->server, msg);
      G_GNUC_END_IGNORE_DEPRECATIONS
    }
}

static void
clear_final (KhLoopback *self)
{
  if (self->final_msg != NULL)
    {
      g_clear_signal_handler (&self->final_finished_id, self->final_msg);
      g_clear_object (&self->final_msg);
    }
  clear_source (&self->finish_source);
  g_clear_pointer (&self->final_callback, kh_callback_free);
  g_clear_error (&self->final_error);
}

/* Every ending goes through here: the listener closes, then the task returns. Returning may run
 * the caller's callback at once and drop the last reference to self, so nothing touches self
 * afterwards. */
static void
end_wait (KhLoopback *self,
          KhCallback *callback,
          GError     *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  g_assert (task != NULL);
  g_assert ((callback == NULL) != (error == NULL));

  clear_source (&self->timeout_source);
  clear_source (&self->cancel_source);
  clear_secret (&self->expected_state);
  release_held (self, PAGE_NOT_WAITING);
  clear_final (self);
  server_disconnect (self);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, callback, (GDestroyNotify) kh_callback_free);
}

static void
end_wait_with_final (KhLoopback *self)
{
  KhCallback *callback = g_steal_pointer (&self->final_callback);
  GError *error = g_steal_pointer (&self->final_error);

  end_wait (self, callback, error);
}

static gboolean
finish_cb (gpointer user_data)
{
  KhLoopback *self = user_data;

  g_clear_pointer (&self->finish_source, g_source_unref);
  end_wait_with_final (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_finish (KhLoopback *self,
                 GSource    *source)
{
  clear_source (&self->finish_source);
  self->finish_source = source;
  g_source_set_callback (source, finish_cb, self, NULL);
  g_source_attach (source, g_task_get_context (self->task));
}

/* The last response is out: close from an idle, outside libsoup's I/O callback. */
static void
final_finished_cb (SoupServerMessage *msg,
                   KhLoopback        *self)
{
  g_clear_signal_handler (&self->final_finished_id, msg);
  schedule_finish (self, g_idle_source_new ());
}

static void
complete_after_response (KhLoopback        *self,
                         SoupServerMessage *msg,
                         Page               page,
                         KhCallback        *callback,
                         GError            *error)
{
  set_page (msg, page);
  /* No keep-alive: the browser must not hold a connection to a listener about to close. */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");

  self->final_msg = g_object_ref (msg);
  self->final_callback = callback;
  self->final_error = error;
  self->final_finished_id = g_signal_connect (msg, "finished",
                                              G_CALLBACK (final_finished_cb), self);
  /* A client that never reads its response must not keep the port open. */
  schedule_finish (self, g_timeout_source_new_seconds (FINAL_RESPONSE_GRACE_SECONDS));
}

/* A GET on our path while a wait is in progress: our state or not? */
static void
handle_redirect (KhLoopback        *self,
                 SoupServerMessage *msg)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *raw_query = g_uri_get_query (uri);
  g_autofree char *state = NULL;
  g_autoptr(KhCallback) callback = NULL;
  g_autoptr(GError) error = NULL;

  if (self->final_msg != NULL)
    {
      set_page (msg, PAGE_DONE);
      return;
    }

  state = kh_callback_dup_raw_query_state (raw_query != NULL ? raw_query : "");
  if (state == NULL)
    {
      g_debug ("redirect without a state: still waiting");
      set_page (msg, PAGE_MISSING_STATE);
      return;
    }
  if (!kh_const_time_equal (state, self->expected_state))
    {
      g_debug ("redirect with another state: still waiting");
      clear_secret (&state);
      set_page (msg, PAGE_WRONG_STATE);
      return;
    }
  clear_secret (&state);

  callback = kh_callback_new_from_raw_query (self->redirect_base, raw_query, &error);
  if (callback == NULL)
    {
      g_debug ("our redirect could not be read: %s", error->message);
      complete_after_response (self, msg, PAGE_UNREADABLE, NULL, g_steal_pointer (&error));
      return;
    }
  if (kh_callback_is_denied (callback, &error))
    {
      g_debug ("the authorization was declined");
      complete_after_response (self, msg, PAGE_DENIED, NULL, g_steal_pointer (&error));
      return;
    }

  g_debug ("received the authorization redirect");
  complete_after_response (self, msg, PAGE_SUCCESS, g_steal_pointer (&callback), NULL);
}

static void
destroy_source (gpointer data)
{
  GSource *source = data;

  g_source_destroy (source);
  g_source_unref (source);
}

/* The headers did not come in time: shutting the socket down makes libsoup see the end of the
 * stream and drop the connection and its message the usual way. The source is owned by the
 * message's data, so this never runs on a finalized message. */
static gboolean
header_deadline_cb (gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);

  g_debug ("closed a connection that sent no request headers within %u s",
           HEADER_DEADLINE_SECONDS);
  if (socket != NULL)
    g_socket_shutdown (socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
request_started_cb (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  GSource *source = g_timeout_source_new_seconds (HEADER_DEADLINE_SECONDS);

  g_source_set_callback (source, header_deadline_cb, msg, NULL);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_object_set_data_full (G_OBJECT (msg), HEADER_DEADLINE_KEY, source, destroy_source);
}

/* Called once the request headers are in, before any body is read: every refusal happens here,
 * so a hostile request costs nothing. The log never shows paths or queries. */
static void
early_handler_cb (SoupServer        *server,
                  SoupServerMessage *msg,
                  const char        *path,
                  GHashTable        *query,
                  gpointer           user_data)
{
  KhLoopback *self = user_data;
  GUri *uri = soup_server_message_get_uri (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *host = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Host");
  const char *raw_path = g_uri_get_path (uri);
  const char *raw_query = g_uri_get_query (uri);
  gsize length;

  /* The headers are in: the slow-loris deadline is over for this request. */
  g_object_set_data (G_OBJECT (msg), HEADER_DEADLINE_KEY, NULL);

  if (!host_header_is_loopback (self, host) || !uri_host_is_loopback (uri))
    {
      g_debug ("refused a request whose Host is not loopback");
      set_page (msg, PAGE_REFUSED_HOST);
      return;
    }

  length = strlen (raw_path) + (raw_query != NULL ? strlen (raw_query) + 1 : 0);
  if (length > KH_CALLBACK_MAX_LENGTH)
    {
      g_debug ("refused a request of %" G_GSIZE_FORMAT " bytes", length);
      set_page (msg, PAGE_TOO_LONG);
      return;
    }

  if (strcmp (raw_path, self->path) != 0)
    {
      g_debug ("%s on another path: 404", method);
      set_page (msg, PAGE_NOT_FOUND);
      return;
    }

  if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD)
    {
      g_debug ("%s on the redirect path: 405", method);
      set_page (msg, PAGE_METHOD_NOT_ALLOWED);
      return;
    }

  /* HEAD never counts: a redirect is always a GET, and a probe must not use up the flow. */
  if (method == SOUP_METHOD_HEAD)
    set_page (msg, PAGE_WAITING);
}

static void
handler_cb (SoupServer        *server,
            SoupServerMessage *msg,
            const char        *path,
            GHashTable        *query,
            gpointer           user_data)
{
  KhLoopback *self = user_data;

  /* Refused or answered by the early handler. */
  if (soup_server_message_get_status (msg) != 0)
    return;

  if (self->task == NULL)
    {
      /* Listening but not yet waiting (the caller opens the browser between start and wait):
       * hold the request until the wait begins. */
      g_debug ("holding a redirect until the wait starts");
      if (self->held == NULL)
        self->held = g_ptr_array_new_with_free_func (g_object_unref);
      g_ptr_array_add (self->held, g_object_ref (msg));
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      soup_server_pause_message (server, msg);
      G_GNUC_END_IGNORE_DEPRECATIONS
      return;
    }

  handle_redirect (self, msg);
}

static void
kh_loopback_dispose (GObject *object)
{
  KhLoopback *self = KH_LOOPBACK (object);

  /* A pending wait holds a reference, so none is in progress here. */
  g_assert (self->task == NULL);

  if (self->server != NULL)
    {
      release_held (self, PAGE_NOT_WAITING);
      server_disconnect (self);
      g_clear_object (&self->server);
    }
  clear_final (self);

  G_OBJECT_CLASS (kh_loopback_parent_class)->dispose (object);
}

static void
kh_loopback_finalize (GObject *object)
{
  KhLoopback *self = KH_LOOPBACK (object);

  g_free (self->host);
  g_free (self->path);
  g_free (self->redirect_base);
  clear_secret (&self->expected_state);

  G_OBJECT_CLASS (kh_loopback_parent_class)->finalize (object);
}

static void
kh_loopback_class_init (KhLoopbackClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_loopback_dispose;
  object_class->finalize = kh_loopback_finalize;
}

static void
kh_loopback_init (KhLoopback *self)
{
}

KhLoopback *
kh_loopback_new (const char  *redirect_uri,
                 GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(KhLoopback) self = NULL;
  g_autofree char *host = NULL;
  const char *path;
  int port;

  g_return_val_if_fail (redirect_uri != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  uri = g_uri_parse (redirect_uri, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the Redirect URL is not a valid address"));
      return NULL;
    }

  if (g_ascii_strcasecmp (g_uri_get_scheme (uri), "http") != 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Keyhold can only catch a Redirect URL that starts with http://; with "
                     "another one, copy the address from the browser after approving and paste "
                     "it into Keyhold"));
      return NULL;
    }

  host = g_ascii_strdown (g_uri_get_host (uri) != NULL ? g_uri_get_host (uri) : "", -1);
  if (g_strcmp0 (host, "localhost") != 0 && g_strcmp0 (host, "127.0.0.1") != 0 &&
      g_strcmp0 (host, "::1") != 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("Keyhold can only catch a Redirect URL on localhost, 127.0.0.1 or [::1]; "
                     "with another one, copy the address from the browser after approving and "
                     "paste it into Keyhold"));
      return NULL;
    }

  if (g_uri_get_userinfo (uri) != NULL || g_uri_get_fragment (uri) != NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the Redirect URL must not contain a user name or a #fragment"));
      return NULL;
    }

  port = g_uri_get_port (uri);
  if (port == 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the Redirect URL needs a real port number, not 0"));
      return NULL;
    }

  path = g_uri_get_path (uri);

  self = g_object_new (KH_TYPE_LOOPBACK, NULL);
  self->host = g_steal_pointer (&host);
  self->port = port > 0 ? (guint) port : 80;
  self->path = g_strdup (*path != '\0' ? path : "/");
  self->redirect_base = g_uri_join (G_URI_FLAGS_ENCODED, "http", NULL, self->host, port,
                                    self->path, NULL, NULL);

  return g_steal_pointer (&self);
}

guint
kh_loopback_get_port (KhLoopback *self)
{
  g_return_val_if_fail (KH_IS_LOOPBACK (self), 0);

  return self->port;
}

static gboolean
listen_on (KhLoopback  *self,
           const char  *address,
           GError     **error)
{
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GError) local_error = NULL;

  socket_address = g_inet_socket_address_new_from_string (address, self->port);
  if (soup_server_listen (self->server, socket_address, 0, &local_error))
    return TRUE;

  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
    g_set_error (error, KH_ERROR, KH_ERROR_PORT_IN_USE,
                 _("port %u is in use by another program; change the Redirect URL or close it"),
                 self->port);
  else if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    g_set_error (error, KH_ERROR, KH_ERROR_FAILED,
                 _("port %u needs administrator rights on this system; use a Redirect URL "
                   "with a port above 1023"),
                 self->port);
  else
    g_set_error (error, KH_ERROR, KH_ERROR_FAILED,
                 _("could not listen on %s port %u: %s"),
                 address, self->port, local_error->message);
  return FALSE;
}

gboolean
kh_loopback_start (KhLoopback  *self,
                   GError     **error)
{
  g_return_val_if_fail (KH_IS_LOOPBACK (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->listening)
    return TRUE;

  if (self->server == NULL)
    {
      self->server = soup_server_new ("server-header", "Keyhold", NULL);
      soup_server_add_early_handler (self->server, NULL, early_handler_cb, self, NULL);
      soup_server_add_handler (self->server, NULL, handler_cb, self, NULL);
      g_signal_connect (self->server, "request-started", G_CALLBACK (request_started_cb), NULL);
    }

  if (strcmp (self->host, "::1") == 0)
    {
      if (!listen_on (self, "::1", error))
        return FALSE;
    }
  else
    {
      g_autoptr(GError) v6_error = NULL;

      if (!listen_on (self, "127.0.0.1", error))
        return FALSE;

      /* A browser may resolve "localhost" to ::1 first. If another program holds [::1]:port it
       * would receive the code, so that is an error; a machine without IPv6 is not. */
      if (strcmp (self->host, "localhost") == 0 && !listen_on (self, "::1", &v6_error))
        {
          if (g_error_matches (v6_error, KH_ERROR, KH_ERROR_PORT_IN_USE))
            {
              soup_server_disconnect (self->server);
              g_propagate_error (error, g_steal_pointer (&v6_error));
              return FALSE;
            }
          g_debug ("listening on 127.0.0.1 only: %s", v6_error->message);
        }
    }

  self->listening = TRUE;
  g_debug ("listening on port %u", self->port);
  return TRUE;
}

static gboolean
timeout_cb (gpointer user_data)
{
  KhLoopback *self = user_data;
  guint seconds = self->timeout_seconds;

  g_clear_pointer (&self->timeout_source, g_source_unref);

  /* The answer came in and its page is on its way: that ending wins over the clock. */
  if (self->final_msg != NULL)
    return G_SOURCE_REMOVE;

  g_debug ("no redirect within %u s", seconds);
  end_wait (self, NULL,
            g_error_new (KH_ERROR, KH_ERROR_TIMEOUT,
                         ngettext ("No answer from the browser within %u second",
                                   "No answer from the browser within %u seconds", seconds),
                         seconds));
  return G_SOURCE_REMOVE;
}

static gboolean
cancelled_cb (GCancellable *cancellable,
              gpointer      user_data)
{
  KhLoopback *self = user_data;
  GError *error = NULL;

  g_clear_pointer (&self->cancel_source, g_source_unref);
  g_cancellable_set_error_if_cancelled (cancellable, &error);
  end_wait (self, NULL, error);
  return G_SOURCE_REMOVE;
}

void
kh_loopback_wait_async (KhLoopback          *self,
                        const char          *expected_state,
                        guint                timeout_seconds,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (KH_IS_LOOPBACK (self));
  g_return_if_fail (expected_state != NULL && *expected_state != '\0');
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, kh_loopback_wait_async);

  if (self->task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _("Keyhold is already waiting for a browser redirect on port %u"),
                               self->port);
      return;
    }

  /* Ending before it began still ends: the port is closed. */
  if (g_cancellable_set_error_if_cancelled (cancellable, &error) ||
      (!self->listening && !kh_loopback_start (self, &error)))
    {
      release_held (self, PAGE_NOT_WAITING);
      server_disconnect (self);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  self->task = g_object_ref (task);
  self->expected_state = g_strdup (expected_state);
  self->timeout_seconds = timeout_seconds;

  if (timeout_seconds > 0)
    {
      self->timeout_source = g_timeout_source_new_seconds (timeout_seconds);
      g_source_set_callback (self->timeout_source, timeout_cb, self, NULL);
      g_source_attach (self->timeout_source, g_task_get_context (task));
    }
  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (cancelled_cb), self, NULL);
      g_source_attach (self->cancel_source, g_task_get_context (task));
    }

  /* Requests that came in between start and now. The first one with our state ends the wait;
   * the rest are answered like any later request. */
  if (self->held != NULL)
    {
      g_autoptr(GPtrArray) held = g_steal_pointer (&self->held);

      for (guint i = 0; i < held->len; i++)
        {
          SoupServerMessage *msg = g_ptr_array_index (held, i);

          handle_redirect (self, msg);
          G_GNUC_BEGIN_IGNORE_DEPRECATIONS
          soup_server_unpause_message (self->server, msg);
          G_GNUC_END_IGNORE_DEPRECATIONS
        }
    }
}

KhCallback *
kh_loopback_wait_finish (KhLoopback    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (KH_IS_LOOPBACK (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == kh_loopback_wait_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
kh_loopback_stop (KhLoopback *self)
{
  g_return_if_fail (KH_IS_LOOPBACK (self));

  if (self->task != NULL)
    {
      /* Keeps self alive while the task's callback runs (used only by its cleanup). */
      G_GNUC_UNUSED g_autoptr(KhLoopback) keep = g_object_ref (self);

      end_wait (self, NULL,
                g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                     _("Stopped waiting for the browser")));
      return;
    }

  release_held (self, PAGE_NOT_WAITING);
  server_disconnect (self);
}
