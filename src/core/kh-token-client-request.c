/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client-request.c: one logical call to TikTok: building its URL and body, sending it
 * with libsoup, reading a bounded answer, retrying transient failures with backoff, and handing
 * the answer to its parser. Secrets in a request are wiped when it is freed and never logged. */

#define G_LOG_DOMAIN "kh-token-client"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-token-client.h"
#include "kh-token-client-private.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-origin-map.h"
#include "kh-util.h"

#include <libsoup/soup.h>
#include <string.h>

/* TikTok's answers are a few kilobytes; anything bigger is not TikTok (or is an attack). */
#define MAX_BODY_SIZE       (1024 * 1024)
#define READ_CHUNK_SIZE     (16 * 1024)
#define MAX_BACKOFF_MS      30000

/* ---- helpers --------------------------------------------------------------------------------- */

static void
wipe_free (gpointer data)
{
  char *str = data;

  if (str != NULL)
    {
      explicit_bzero (str, strlen (str));
      g_free (str);
    }
}

typedef struct {
  guint8 *data;
  gsize   length;
} WipeBlock;

static void
wipe_block_free (gpointer data)
{
  WipeBlock *block = data;

  explicit_bzero (block->data, block->length);
  g_free (block->data);
  g_free (block);
}

/* A GBytes owning a secret-bearing body (JSON with app secrets or tokens), wiped when freed. */
static GBytes *
secret_bytes_new_take (char *text)
{
  WipeBlock *block = g_new0 (WipeBlock, 1);

  block->data = (guint8 *) text;
  block->length = strlen (text);
  return g_bytes_new_with_free_func (block->data, block->length, wipe_block_free, block);
}

static void
wipe_byte_array (GByteArray *array)
{
  if (array == NULL)
    return;
  explicit_bzero (array->data, array->len);
  g_byte_array_unref (array);
}

static void
request_clear_sources (Request *request)
{
  if (request->retry_source != NULL)
    {
      g_source_destroy (request->retry_source);
      g_clear_pointer (&request->retry_source, g_source_unref);
    }
  if (request->cancel_source != NULL)
    {
      g_source_destroy (request->cancel_source);
      g_clear_pointer (&request->cancel_source, g_source_unref);
    }
}

static void
request_free (Request *request)
{
  request_clear_sources (request);
  wipe_free (request->url);
  g_free (request->log_path);
  wipe_free (request->token);
  g_clear_pointer (&request->body, g_bytes_unref);
  g_clear_object (&request->message);
  g_clear_object (&request->stream);
  g_clear_pointer (&request->buffer, wipe_byte_array);
  g_free (request);
}

/* ---- request plumbing ------------------------------------------------------------------------ */

/* "key=value&key=value" with every value percent-encoded; NULL-terminated key/value pairs. */
char *
kh_tc_build_query (const char *first_key,
                   ...)
{
  GString *query = g_string_new (NULL);
  const char *key = first_key;
  va_list args;

  va_start (args, first_key);
  while (key != NULL)
    {
      const char *value = va_arg (args, const char *);
      g_autofree char *escaped = g_uri_escape_string (value, NULL, FALSE);

      if (query->len > 0)
        g_string_append_c (query, '&');
      g_string_append (query, key);
      g_string_append_c (query, '=');
      g_string_append (query, escaped);
      explicit_bzero (escaped, strlen (escaped));
      key = va_arg (args, const char *);
    }
  va_end (args);

  return g_string_free (query, FALSE);
}

/* A JSON body from NULL-terminated string member/value pairs, as a wiped-on-free GBytes. */
GBytes *
kh_tc_build_json_body (const char *first_member,
                       ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  const char *member = first_member;
  va_list args;

  json_builder_begin_object (builder);
  va_start (args, first_member);
  while (member != NULL)
    {
      json_builder_set_member_name (builder, member);
      json_builder_add_string_value (builder, va_arg (args, const char *));
      member = va_arg (args, const char *);
    }
  va_end (args);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  return secret_bytes_new_take (kh_json_to_string (root, FALSE));
}

Request *
kh_tc_request_new (KhTokenClient *self,
                   Operation      op,
                   KhTokenKind    kind,
                   const char    *method,
                   const char    *origin,
                   const char    *path,
                   char          *query)   /* taken, may be NULL */
{
  Request *request = g_new0 (Request, 1);

  request->op = op;
  request->kind = kind;
  request->method = method;
  request->log_host = origin + strlen ("https://");
  request->log_path = g_strdup (path);
  request->url = query != NULL ? g_strconcat (origin, path, "?", query, NULL)
                               : g_strconcat (origin, path, NULL);
  request->max_attempts = self->max_attempts;
  request->base_delay_ms = self->base_delay_ms;
  wipe_free (query);
  return request;
}

GTask *
kh_tc_request_task_new (KhTokenClient       *self,
                        Request             *request,
                        gpointer             source_tag,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, request, (GDestroyNotify) request_free);
  return task;
}

/* A failure to talk to TikTok at all. Names the host, never the URL: the Shop token URL carries
 * the app secret in its query. */
static GError *
network_error_new (Request      *request,
                   const GError *cause)
{
  g_autofree char *detail = kh_redact (cause->message);

  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_error_new (KH_ERROR, KH_ERROR_NETWORK,
                        _("%s did not answer in time"), request->log_host);
  return g_error_new (KH_ERROR, KH_ERROR_NETWORK,
                      _("Could not reach %s: %s"), request->log_host, detail);
}

static guint
backoff_delay_ms (Request *request)
{
  guint64 delay = request->base_delay_ms;

  for (guint i = 1; i < request->attempt && delay < MAX_BACKOFF_MS; i++)
    delay *= 2;
  delay = MIN (delay, MAX_BACKOFF_MS);
  if (delay == 0)
    return 0;
  /* Full-range jitter on the upper half: many clients that failed together spread out. */
  return (guint) (delay / 2 + g_random_int_range (0, (gint32) (delay / 2) + 1));
}

static gboolean
retry_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);

  /* The source's reference goes away with the source; the next attempt takes its own. */
  g_object_ref (task);
  request_clear_sources (request);
  kh_tc_start_attempt (task);
  return G_SOURCE_REMOVE;
}

static gboolean
retry_cancelled_cb (GCancellable *cancellable,
                    gpointer      user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);

  request_clear_sources (request);
  g_task_return_error_if_cancelled (task);
  return G_SOURCE_REMOVE;
}

static gboolean
should_retry (Request      *request,
              const GError *error,
              gboolean      answered)
{
  if (request->attempt >= request->max_attempts)
    return FALSE;
  if (kh_error_classify (error) != KH_ERROR_CLASS_TRANSIENT)
    return FALSE;
  /* A code is single-use: once TikTok answered an exchange with its envelope, asking again
   * can only fail, unless TikTok itself said "try again" (rate limit, internal error). */
  if (request->op == OP_EXCHANGE && answered && error->domain != KH_API_ERROR)
    return FALSE;
  return TRUE;
}

/* Ends one attempt with error: retries after a backoff when that can help, else fails the task. */
static void
attempt_failed (GTask    *task,
                GError   *error,
                gboolean  answered)
{
  Request *request = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  guint delay;

  g_clear_object (&request->message);
  g_clear_object (&request->stream);
  g_clear_pointer (&request->buffer, wipe_byte_array);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || g_cancellable_is_cancelled (cancellable))
    {
      g_error_free (error);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               _("The operation was cancelled"));
      g_object_unref (task);
      return;
    }

  if (!should_retry (request, error, answered))
    {
      g_debug ("%s %s%s failed after %u attempt(s)",
               request->method, request->log_host, request->log_path, request->attempt);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }

  delay = backoff_delay_ms (request);
  g_debug ("%s %s%s: transient failure, retrying in %u ms",
           request->method, request->log_host, request->log_path, delay);
  g_error_free (error);

  /* The task reference of this attempt moves to the sources: whichever fires first wins and
   * destroys the other. Nothing sleeps; the main loop keeps running. */
  request->retry_source = g_timeout_source_new (delay);
  g_source_set_callback (request->retry_source, retry_timeout_cb,
                         g_object_ref (task), g_object_unref);
  g_source_attach (request->retry_source, g_task_get_context (task));
  if (cancellable != NULL)
    {
      request->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (request->cancel_source, G_SOURCE_FUNC (retry_cancelled_cb),
                             g_object_ref (task), g_object_unref);
      g_source_attach (request->cancel_source, g_task_get_context (task));
    }
  g_object_unref (task);
}

static void
return_result (GTask    *task,
               JsonNode *root,
               GError  **error)
{
  Request *request = g_task_get_task_data (task);

  switch (request->op)
    {
    case OP_EXCHANGE:
    case OP_REFRESH:
      {
        KhTokenResponse *response = kh_tc_parse_token_node (request->kind, root, kh_now (), error);

        if (response != NULL)
          g_task_return_pointer (task, response, (GDestroyNotify) kh_token_response_free);
      }
      break;
    case OP_REVOKE:
      if (kh_tc_parse_envelope_full (root, FALSE, error) != NULL)
        g_task_return_boolean (task, TRUE);
      break;
    case OP_SHOPS:
      {
        GPtrArray *shops = kh_tc_parse_shops_node (root, error);

        if (shops != NULL)
          g_task_return_pointer (task, shops, (GDestroyNotify) g_ptr_array_unref);
      }
      break;
    case OP_ADVERTISERS:
      {
        GPtrArray *advertisers = kh_tc_parse_advertisers_node (root, error);

        if (advertisers != NULL)
          g_task_return_pointer (task, advertisers, (GDestroyNotify) g_ptr_array_unref);
      }
      break;
    case OP_ACCOUNT_NAME:
      {
        char *name = kh_tc_parse_account_name_node (root, error);

        if (name != NULL)
          g_task_return_pointer (task, name, g_free);
      }
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
attempt_complete (GTask *task)
{
  Request *request = g_task_get_task_data (task);
  guint status = soup_message_get_status (request->message);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) parse_error = NULL;
  GError *error = NULL;
  gboolean answered;

  kh_tc_parse_body ((const char *) request->buffer->data, request->buffer->len, &root,
                    &parse_error);
  g_clear_pointer (&request->buffer, wipe_byte_array);
  answered = kh_tc_is_envelope (root);

  g_debug ("%s %s%s: HTTP %u", request->method, request->log_host, request->log_path, status);

  /* TikTok's envelope is authoritative whatever the HTTP status; without one, the status
   * says what went wrong. */
  if (!answered && !SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      if (status >= 500 || status == 429)
        error = g_error_new (KH_ERROR, KH_ERROR_NETWORK,
                             _("TikTok answered HTTP %u"), status);
      else
        error = g_error_new (KH_ERROR, KH_ERROR_BAD_RESPONSE,
                             _("TikTok answered HTTP %u without a valid reply"), status);
      attempt_failed (task, error, FALSE);
      return;
    }
  if (root == NULL)
    {
      attempt_failed (task, g_steal_pointer (&parse_error), FALSE);
      return;
    }

  return_result (task, root, &error);
  if (error != NULL)
    {
      attempt_failed (task, error, answered);
      return;
    }
  g_object_unref (task);
}

static void
read_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gsize size;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (bytes == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        attempt_failed (task, g_steal_pointer (&error), FALSE);
      else
        attempt_failed (task, network_error_new (request, error), FALSE);
      return;
    }

  size = g_bytes_get_size (bytes);
  if (size == 0)
    {
      attempt_complete (task);
      return;
    }

  if (request->buffer->len + size > MAX_BODY_SIZE)
    {
      attempt_failed (task,
                      g_error_new (KH_ERROR, KH_ERROR_BAD_RESPONSE,
                                   _("The answer of %s is larger than 1 MiB"), request->log_host),
                      FALSE);
      return;
    }
  g_byte_array_append (request->buffer, g_bytes_get_data (bytes, NULL), size);
  /* The chunk may hold a token: wipe libsoup's copy now that it is in our buffer. */
  explicit_bzero ((gpointer) g_bytes_get_data (bytes, NULL), size);

  g_input_stream_read_bytes_async (request->stream, READ_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), read_cb, task);
}

static void
send_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  GTask *task = user_data;
  Request *request = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  goffset content_length;

  request->stream = soup_session_send_finish (SOUP_SESSION (object), result, &error);
  if (request->stream == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        attempt_failed (task, g_steal_pointer (&error), FALSE);
      else
        attempt_failed (task, network_error_new (request, error), FALSE);
      return;
    }

  content_length =
    soup_message_headers_get_content_length (soup_message_get_response_headers (request->message));
  if (content_length > MAX_BODY_SIZE)
    {
      attempt_failed (task,
                      g_error_new (KH_ERROR, KH_ERROR_BAD_RESPONSE,
                                   _("The answer of %s is larger than 1 MiB"), request->log_host),
                      FALSE);
      return;
    }

  request->buffer = g_byte_array_sized_new (content_length > 0 ? (guint) content_length
                                                               : READ_CHUNK_SIZE);
  g_input_stream_read_bytes_async (request->stream, READ_CHUNK_SIZE, G_PRIORITY_DEFAULT,
                                   g_task_get_cancellable (task), read_cb, task);
}

/* Each attempt owns one reference to the task, released when the attempt ends in a result, an
 * error, or is handed to the retry timer. */
void
kh_tc_start_attempt (GTask *task)
{
  KhTokenClient *self = g_task_get_source_object (task);
  Request *request = g_task_get_task_data (task);
  g_autofree char *url = NULL;
  SoupMessageHeaders *headers;

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }

  request->attempt++;
  url = kh_origin_map_rewrite (request->url);
  request->message = url != NULL ? soup_message_new (request->method, url) : NULL;
  if (url != NULL)
    explicit_bzero (url, strlen (url));
  if (request->message == NULL)
    {
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("Could not build a request for %s"), request->log_host);
      g_object_unref (task);
      return;
    }

  headers = soup_message_get_request_headers (request->message);
  soup_message_headers_replace (headers, "Accept", "application/json");
  if (request->token_header != NULL)
    soup_message_headers_replace (headers, request->token_header, request->token);
  if (request->json_content_type)
    soup_message_headers_replace (headers, "Content-Type", "application/json");
  if (request->body != NULL)
    soup_message_set_request_body_from_bytes (request->message, "application/json",
                                              request->body);

  /* Method, host and path only: the query and the body carry secrets. */
  g_debug ("%s %s%s (attempt %u of %u)", request->method, request->log_host,
           request->log_path, request->attempt, request->max_attempts);

  soup_session_send_async (self->session, request->message, G_PRIORITY_DEFAULT,
                           g_task_get_cancellable (task), send_cb, task);
}

gboolean
kh_tc_check_family (GTask         *task,
                    KhAppProfile  *app,
                    KhTokenKind    kind)
{
  KhFamily wanted = kind == KH_TOKEN_KIND_SHOP ? KH_FAMILY_SHOP : KH_FAMILY_BUSINESS;

  if (kh_app_profile_get_family (app) != wanted)
    {
      g_task_return_new_error (task, KH_ERROR, KH_ERROR_INVALID_INPUT,
                               _("The app “%s” belongs to the other family of TikTok apps"),
                               kh_app_profile_get_name (app));
      g_object_unref (task);
      return FALSE;
    }
  return TRUE;
}

/* The access token goes into an HTTP header: refuse one that could split or corrupt it before
 * libsoup sees it. */
gboolean
kh_tc_check_header_token (KhTokenClient       *self,
                          const char          *access_token,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data,
                          gpointer             source_tag)
{
  if (kh_tc_is_token_text (access_token))
    return TRUE;
  g_task_report_new_error (self, callback, user_data, source_tag,
                           KH_ERROR, KH_ERROR_INVALID_INPUT,
                           _("The stored access token is malformed"));
  return FALSE;
}

char *
kh_tc_business_path (const char *path)
{
  return g_strconcat (BUSINESS_BASE_PATH, path, NULL);
}
