/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-error.c: Keyhold's error domains, the table that turns every TikTok error code of
 * tiktok-api.md into what it means and what the user should do, the classification the
 * refresher and the broker act on, and the keyhold-cli exit codes. */
#define G_LOG_DOMAIN "kh-error"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-error.h"
#include "kh-util.h"

#include <libsoup/soup.h>
#include <string.h>

G_DEFINE_QUARK (kh-error-quark, kh_error)
G_DEFINE_QUARK (kh-api-error-quark, kh_api_error)

/* Longest part of a server message kept in an error, in characters: enough for TikTok's
 * explanations, short enough that a hostile server cannot flood a terminal or a log. */
#define SERVER_MESSAGE_MAX_CHARS 200
#define REQUEST_ID_MAX_CHARS 64

/* The strings are phrased for the person in front of the screen: "CODE: meaning: fix". */
static const KhApiErrorInfo api_errors[] = {
  /* TikTok Shop */
  { 105001,
    N_("the access token is invalid or the authorization was removed"),
    N_("authorize the account again"),
    KH_ERROR_CLASS_TERMINAL },
  { 105002,
    N_("the access token has expired"),
    N_("refresh the token; Keyhold does this by itself when the refresh token is still valid"),
    KH_ERROR_CLASS_REFRESH },
  { 105005,
    N_("the app was not granted a scope this call needs, or the scope was turned off"),
    N_("enable the scopes in Partner Center, publish the app and authorize again"),
    KH_ERROR_CLASS_OTHER },
  { 106001,
    N_("the request signature is invalid"),
    N_("check that the app secret stored for this app is the current one"),
    KH_ERROR_CLASS_OTHER },
  { 106013,
    N_("the request names no shop"),
    N_("refresh the grant's shop list and choose one of its shops"),
    KH_ERROR_CLASS_OTHER },
  { 101000,
    N_("the token belongs to another kind of account or to another shop"),
    N_("use a grant of the right account type for this shop"),
    KH_ERROR_CLASS_OTHER },
  { 36004001,
    N_("the refresh token has expired"),
    N_("authorize the account again"),
    KH_ERROR_CLASS_TERMINAL },
  { 36004004,
    N_("the authorization code is invalid, used or older than 30 minutes"),
    N_("create a new link: a code lives 30 minutes and works once"),
    KH_ERROR_CLASS_OTHER },
  { 36004005,
    N_("TikTok has no record of this authorization"),
    N_("authorize the account again"),
    KH_ERROR_CLASS_TERMINAL },
  { 36009002,
    N_("too many requests"),
    N_("wait a moment and try again"),
    KH_ERROR_CLASS_TRANSIENT },
  { 36009003,
    N_("TikTok had an internal error"),
    N_("try again later"),
    KH_ERROR_CLASS_TRANSIENT },
  { 36009004,
    N_("the app key, the token or the request time was not accepted"),
    N_("check the app key, and that the computer's clock is correct"),
    KH_ERROR_CLASS_OTHER },
  { 36009007,
    N_("TikTok timed out"),
    N_("try again later"),
    KH_ERROR_CLASS_TRANSIENT },
  { 36009033,
    N_("this computer's IP address is not on the app's allow list"),
    N_("add the IP address to the app's allow list in Partner Center"),
    KH_ERROR_CLASS_OTHER },

  /* TikTok for Business */
  { 20001,
    N_("the request succeeded only in part"),
    N_("check which items failed and try them again"),
    KH_ERROR_CLASS_OTHER },
  { 40000,
    N_("a parameter is invalid, or the app and the token do not belong together"),
    N_("check the app ID and secret, and that the grant was made for this app"),
    KH_ERROR_CLASS_OTHER },
  { 40001,
    N_("the app has no permission for this call"),
    N_("enable the scopes in the app's settings on the TikTok for Business developer portal, "
       "publish the app and authorize again"),
    KH_ERROR_CLASS_OTHER },
  { 40002,
    N_("a parameter is invalid"),
    N_("check the app's settings and try again"),
    KH_ERROR_CLASS_OTHER },
  { 40016,
    N_("too many requests"),
    N_("wait a moment and try again"),
    KH_ERROR_CLASS_TRANSIENT },
  { 40100,
    N_("too many requests"),
    N_("wait a moment and try again"),
    KH_ERROR_CLASS_TRANSIENT },
  { 40101,
    N_("the authorization parameters are invalid"),
    N_("check the app ID, the secret and the redirect URI"),
    KH_ERROR_CLASS_OTHER },
  { 40102,
    N_("the access token has expired"),
    N_("refresh the token; Keyhold does this by itself when the refresh token is still valid"),
    KH_ERROR_CLASS_REFRESH },
  { 40103,
    N_("the refresh token has expired"),
    N_("authorize the account again"),
    KH_ERROR_CLASS_TERMINAL },
  { 40104,
    N_("the request carries no access token"),
    N_("authorize the account, then try again"),
    KH_ERROR_CLASS_OTHER },
  { 40105,
    N_("the access token is invalid or was revoked"),
    N_("authorize the account again"),
    KH_ERROR_CLASS_TERMINAL },
  { 40107,
    N_("the refresh token is invalid"),
    N_("authorize the account again"),
    KH_ERROR_CLASS_TERMINAL },
  { 40108,
    N_("the grant type is invalid"),
    N_("update Keyhold; if it persists, report it as a bug"),
    KH_ERROR_CLASS_OTHER },
  { 40110,
    N_("the authorization code was cancelled, used or has expired"),
    N_("create a new link: a code lives one hour and works once"),
    KH_ERROR_CLASS_TERMINAL },
  { 40113,
    N_("the app is blocked, or its ID or secret is wrong"),
    N_("check the app ID and secret on the TikTok for Business developer portal"),
    KH_ERROR_CLASS_OTHER },
  { 40115,
    N_("the request time has expired"),
    N_("check that the computer's clock is correct"),
    KH_ERROR_CLASS_OTHER },
  { 40116,
    N_("the request signature is invalid"),
    N_("check that the app secret stored for this app is the current one"),
    KH_ERROR_CLASS_OTHER },
  { 40118,
    N_("the app or this computer's IP address is not on TikTok's allow list"),
    N_("ask TikTok to add the app or the IP address to the allow list"),
    KH_ERROR_CLASS_OTHER },
  { 40119,
    N_("the developer and the advertiser do not belong to the same company"),
    N_("authorize an advertiser account of the developer's own company"),
    KH_ERROR_CLASS_OTHER },
  { 40121,
    N_("the account is not a Creator Marketplace creator"),
    N_("join Creator Marketplace first, then authorize again"),
    KH_ERROR_CLASS_OTHER },
  { 40122,
    N_("the creator is not in a region Creator Marketplace serves"),
    N_("use a creator account from a supported region"),
    KH_ERROR_CLASS_OTHER },
  { 40133,
    N_("too many requests"),
    N_("wait a moment and try again"),
    KH_ERROR_CLASS_TRANSIENT },
  { 50000,
    N_("TikTok had an internal error"),
    N_("try again later"),
    KH_ERROR_CLASS_TRANSIENT },
};

/* Codes not in the table share these entries, so their code field is 0: callers format the
 * code they were given, never the entry's. */
static const KhApiErrorInfo unknown_error = {
  0,
  N_("TikTok reported an error Keyhold does not know"),
  N_("look the code up in TikTok's documentation"),
  KH_ERROR_CLASS_OTHER,
};

static const KhApiErrorInfo unknown_server_error = {
  0,
  N_("TikTok had a server error"),
  N_("try again later"),
  KH_ERROR_CLASS_TRANSIENT,
};

const KhApiErrorInfo *
kh_api_error_lookup (int code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (api_errors); i++)
    {
      if (api_errors[i].code == code)
        return &api_errors[i];
    }

  /* Business 5xxxx codes are server errors, and Shop 36009xxx codes are the gateway's
   * (rate limits, internal errors, timeouts): both are worth a retry. */
  if ((code >= 50000 && code <= 59999) || (code >= 36009000 && code <= 36009999))
    return &unknown_server_error;

  return &unknown_error;
}

const KhApiErrorInfo *
kh_api_error_all (guint *n_entries)
{
  g_return_val_if_fail (n_entries != NULL, NULL);

  *n_entries = G_N_ELEMENTS (api_errors);
  return api_errors;
}

/* Makes untrusted text from the server safe to show on one line: valid UTF-8, no control
 * characters (no terminal escapes, no fake extra lines), no secrets, and bounded. */
static char *
sanitize_server_text (const char *text,
                      glong       max_chars)
{
  g_autofree char *valid = NULL;
  g_autofree char *redacted = NULL;
  GString *out;
  glong n_chars = 0;

  valid = g_utf8_make_valid (text, -1);
  redacted = kh_redact (valid);
  out = g_string_new (NULL);

  for (const char *p = redacted; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (n_chars == max_chars)
        {
          g_string_append (out, "…");
          break;
        }

      if (g_unichar_iscntrl (c) || c == 0x2028 || c == 0x2029)
        {
          /* Collapse runs of control characters into one space. */
          if (out->len > 0 && out->str[out->len - 1] != ' ')
            {
              g_string_append_c (out, ' ');
              n_chars++;
            }
          continue;
        }

      g_string_append_unichar (out, c);
      n_chars++;
    }

  return g_strstrip (g_string_free (out, FALSE));
}

GError *
kh_api_error_new (int         code,
                  const char *server_message,
                  const char *request_id)
{
  const KhApiErrorInfo *info = kh_api_error_lookup (code);
  g_autofree char *message = NULL;
  g_autofree char *rid = NULL;
  g_autoptr(GString) text = NULL;

  if (server_message != NULL)
    message = sanitize_server_text (server_message, SERVER_MESSAGE_MAX_CHARS);
  if (request_id != NULL)
    rid = sanitize_server_text (request_id, REQUEST_ID_MAX_CHARS);

  text = g_string_new (NULL);
  g_string_append_printf (text, "%d: %s: %s", code, _(info->meaning), _(info->fix));

  if (message != NULL && *message != '\0' && rid != NULL && *rid != '\0')
    /* TRANSLATORS: the first %s is TikTok's own error message, the second a request id. */
    g_string_append_printf (text, _(" (TikTok: %s, request %s)"), message, rid);
  else if (message != NULL && *message != '\0')
    g_string_append_printf (text, _(" (TikTok: %s)"), message);
  else if (rid != NULL && *rid != '\0')
    g_string_append_printf (text, _(" (TikTok request %s)"), rid);

  return g_error_new_literal (KH_API_ERROR, code, text->str);
}

static KhErrorClass
classify_kh_error (int code)
{
  switch (code)
    {
    case KH_ERROR_NETWORK:
    case KH_ERROR_BAD_RESPONSE:
    case KH_ERROR_TIMEOUT:
    case KH_ERROR_TEAM_UNREACHABLE:
      return KH_ERROR_CLASS_TRANSIENT;

    case KH_ERROR_NEEDS_REAUTH:
      return KH_ERROR_CLASS_TERMINAL;

    default:
      /* Denied, expired requests, bad input...: retrying or re-authorizing a grant does not
       * help; the user has to act on the message. */
      return KH_ERROR_CLASS_OTHER;
    }
}

static KhErrorClass
classify_io_error (int code)
{
  switch (code)
    {
    case G_IO_ERROR_CONNECTION_REFUSED:
    case G_IO_ERROR_TIMED_OUT:
    case G_IO_ERROR_HOST_NOT_FOUND:
    case G_IO_ERROR_HOST_UNREACHABLE:
    case G_IO_ERROR_NETWORK_UNREACHABLE:
    case G_IO_ERROR_CONNECTION_CLOSED:
    case G_IO_ERROR_NOT_CONNECTED:
    case G_IO_ERROR_PROXY_FAILED:
    case G_IO_ERROR_BUSY:
    case G_IO_ERROR_WOULD_BLOCK:
    case G_IO_ERROR_PARTIAL_INPUT:
      return KH_ERROR_CLASS_TRANSIENT;

    default:
      /* Including G_IO_ERROR_CANCELLED: the user asked to stop, so nothing is retried. */
      return KH_ERROR_CLASS_OTHER;
    }
}

KhErrorClass
kh_error_classify (const GError *error)
{
  g_return_val_if_fail (error != NULL, KH_ERROR_CLASS_OTHER);

  if (error->domain == KH_API_ERROR)
    return kh_api_error_lookup (error->code)->klass;

  if (error->domain == KH_ERROR)
    return classify_kh_error (error->code);

  if (error->domain == G_IO_ERROR)
    return classify_io_error (error->code);

  if (error->domain == G_RESOLVER_ERROR)
    return error->code == G_RESOLVER_ERROR_INTERNAL ? KH_ERROR_CLASS_OTHER
                                                    : KH_ERROR_CLASS_TRANSIENT;

  /* libsoup reports broken and unparsable HTTP exchanges here: the next try may succeed. */
  if (error->domain == SOUP_SESSION_ERROR)
    return KH_ERROR_CLASS_TRANSIENT;

  return KH_ERROR_CLASS_OTHER;
}

int
kh_error_exit_code (const GError *error)
{
  if (error == NULL)
    return 0;

  switch (kh_error_classify (error))
    {
    case KH_ERROR_CLASS_TERMINAL:
      return 3;
    case KH_ERROR_CLASS_TRANSIENT:
      return 4;
    case KH_ERROR_CLASS_OTHER:
    case KH_ERROR_CLASS_REFRESH:
    default:
      /* Usage errors (2) are decided by the CLI's argument parser, not here. */
      return 1;
    }
}
