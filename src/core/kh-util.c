/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-util.c: randomness from the kernel, constant-time comparison, time formatting and the
 * redaction every log line passes through (security rules 1 and 4 of DESIGN.md). */
#define G_LOG_DOMAIN "kh-util"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-util.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* Fills buf from getrandom(2). A state or id must never come from a guessable generator, so
 * there is no fallback: if the kernel refuses, Keyhold stops. */
static void
random_fill (guint8 *buf,
             gsize   len)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = getrandom (buf + done, len - done, 0);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          g_error ("getrandom failed: %s", g_strerror (errno));
        }

      done += (gsize) n;
    }
}

char *
kh_random_token (gsize n_bytes)
{
  g_autofree guint8 *buf = NULL;
  char *out;
  gsize len;

  g_return_val_if_fail (n_bytes > 0, NULL);

  buf = g_malloc (n_bytes);
  random_fill (buf, n_bytes);
  out = g_base64_encode (buf, n_bytes);
  memset (buf, 0, n_bytes);

  /* base64url (RFC 4648 §5) without padding: safe in query strings and file names as is. */
  len = strlen (out);
  while (len > 0 && out[len - 1] == '=')
    out[--len] = '\0';
  for (gsize i = 0; i < len; i++)
    {
      if (out[i] == '+')
        out[i] = '-';
      else if (out[i] == '/')
        out[i] = '_';
    }

  return out;
}

char *
kh_random_hex (gsize n_bytes)
{
  static const char digits[] = "0123456789abcdef";
  g_autofree guint8 *buf = NULL;
  char *out;

  g_return_val_if_fail (n_bytes > 0, NULL);

  buf = g_malloc (n_bytes);
  random_fill (buf, n_bytes);

  out = g_malloc (n_bytes * 2 + 1);
  for (gsize i = 0; i < n_bytes; i++)
    {
      out[2 * i] = digits[buf[i] >> 4];
      out[2 * i + 1] = digits[buf[i] & 0x0f];
    }
  out[n_bytes * 2] = '\0';
  memset (buf, 0, n_bytes);

  return out;
}

gboolean
kh_const_time_equal (const char *a,
                     const char *b)
{
  gsize len_a;
  gsize len_b;
  gsize max_len;
  volatile guint8 diff = 0;

  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);

  len_a = strlen (a);
  len_b = strlen (b);
  max_len = MAX (len_a, len_b);

  /* Always walk the longer length and never stop early, so the time taken reveals nothing
   * about where the first difference is. Bytes past the end of the shorter string compare
   * against 0, and the length check below catches "abc" vs "abc\0..." style prefixes. */
  for (gsize i = 0; i < max_len; i++)
    {
      guint8 ca = i < len_a ? (guint8) a[i] : 0;
      guint8 cb = i < len_b ? (guint8) b[i] : 0;

      diff |= ca ^ cb;
    }

  return diff == 0 && len_a == len_b;
}

/* The offset is read from the environment once, on first use: setenv() is not safe once other
 * threads exist (a GTK or GIO worker may be inside getenv() at that moment), so a test that moves
 * the clock while running calls kh_set_clock_offset instead. */
G_LOCK_DEFINE_STATIC (clock_offset);
static gboolean clock_offset_initialized;
static gint64   clock_offset;

static gint64
parse_clock_offset (const char *text)
{
  gint64 offset;

  /* A malformed value is ignored rather than half-parsed: a wrong clock is worse than the real
   * one. */
  if (text == NULL || *text == '\0' ||
      !g_ascii_string_to_signed (text, 10, -G_MAXINT32 * (gint64) 100,
                                 G_MAXINT32 * (gint64) 100, &offset, NULL))
    return 0;

  return offset;
}

gint64
kh_now (void)
{
  gint64 offset;

  G_LOCK (clock_offset);
  if (!clock_offset_initialized)
    {
      clock_offset = parse_clock_offset (g_getenv ("KEYHOLD_CLOCK_OFFSET"));
      clock_offset_initialized = TRUE;
    }
  offset = clock_offset;
  G_UNLOCK (clock_offset);

  return g_get_real_time () / G_USEC_PER_SEC + offset;
}

void
kh_set_clock_offset (gint64 seconds)
{
  G_LOCK (clock_offset);
  clock_offset = seconds;
  clock_offset_initialized = TRUE;
  G_UNLOCK (clock_offset);
}

void
kh_reload_clock_offset (void)
{
  G_LOCK (clock_offset);
  clock_offset_initialized = FALSE;
  G_UNLOCK (clock_offset);
}

char *
kh_iso8601_from_unix (gint64 unix_time)
{
  g_autoptr(GDateTime) dt = NULL;

  if (unix_time == 0)
    return NULL;

  dt = g_date_time_new_from_unix_utc (unix_time);
  if (dt == NULL)
    return NULL;

  return g_date_time_format (dt, "%Y-%m-%dT%H:%M:%SZ");
}

gboolean
kh_unix_from_iso8601 (const char *text,
                      gint64     *out)
{
  g_autoptr(GDateTime) dt = NULL;

  g_return_val_if_fail (out != NULL, FALSE);

  if (text == NULL || *text == '\0')
    return FALSE;

  /* No default zone: a time without one is ambiguous and rejected. */
  dt = g_date_time_new_from_iso8601 (text, NULL);
  if (dt == NULL)
    return FALSE;

  *out = g_date_time_to_unix (dt);
  return TRUE;
}

/* Redaction.
 *
 * kh_redact is a single left-to-right scan that copies the input and, at each position, checks
 * three patterns:
 *   - a query parameter: NAME= preceded by start, '?', '&', ';', '#', whitespace or quote
 *     (also the percent-encoded forms %3F / %26 and %3D, for URLs nested in a redirect_uri);
 *   - a JSON member: "NAME" then ':' then a string (also \"NAME\":\"...\" inside a JSON string);
 *   - a header: NAME ':' value, with NAME Access-Token or x-tts-access-token (also as JSON
 *     member names, for headers dumped as JSON).
 * Matching is ASCII case-insensitive. Every index is bounds-checked against the length, so
 * arbitrary bytes (fuzzed input, binary bodies) are safe; the scan is linear in the input. */

static const char * const secret_names[] = {
  "app_secret",
  "client_secret",
  "secret",
  "access_token",
  "refresh_token",
  "auth_code",
  "code",
  "state",
  "sign",
};

static const char * const header_names[] = {
  "x-tts-access-token",
  "access-token",
};

#define REDACTED "[redacted]"

static gboolean
match_name_at (const char *text,
               gsize       len,
               gsize       pos,
               const char *name,
               gsize      *name_len)
{
  gsize n = strlen (name);

  if (pos > len || len - pos < n)
    return FALSE;
  if (g_ascii_strncasecmp (text + pos, name, n) != 0)
    return FALSE;

  *name_len = n;
  return TRUE;
}

static gboolean
has_prefix_at (const char *text,
               gsize       len,
               gsize       pos,
               const char *prefix)
{
  gsize n = strlen (prefix);

  return pos <= len && len - pos >= n && g_ascii_strncasecmp (text + pos, prefix, n) == 0;
}

static gboolean
is_name_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '-' || c == '.';
}

/* Whether a query parameter name may start at pos: the byte before must separate it from a
 * longer name (so "auth_code" does not match "code", nor "xstate" "state"). */
static gboolean
param_boundary_before (const char *text,
                       gsize       pos)
{
  char c;

  if (pos == 0)
    return TRUE;

  c = text[pos - 1];
  if (c == '?' || c == '&' || c == ';' || c == '#' || c == '"' || c == '\'' ||
      g_ascii_isspace (c))
    return TRUE;

  /* %3F and %26 are '?' and '&' inside a percent-encoded URL. */
  if (pos >= 3 && text[pos - 3] == '%' &&
      (g_ascii_strncasecmp (text + pos - 2, "3F", 2) == 0 ||
       g_ascii_strncasecmp (text + pos - 2, "26", 2) == 0))
    return TRUE;

  return FALSE;
}

/* Where a query value ends: at the next separator. A percent-encoded value (nested URL) also
 * ends at %26. */
static gsize
param_value_end (const char *text,
                 gsize       len,
                 gsize       pos,
                 gboolean    encoded)
{
  while (pos < len)
    {
      char c = text[pos];

      if (c == '&' || c == '#' || c == ';' || c == '"' || c == '\'' || c == '<' || c == '>' ||
          g_ascii_isspace (c))
        break;
      if (encoded && c == '%' && has_prefix_at (text, len, pos, "%26"))
        break;
      pos++;
    }

  return pos;
}

/* Tries NAME=VALUE at pos. On a match appends the redacted form and returns the position after
 * the value. */
static gboolean
try_query_param (GString    *out,
                 const char *text,
                 gsize       len,
                 gsize       pos,
                 gsize      *next)
{
  if (!param_boundary_before (text, pos))
    return FALSE;

  for (gsize k = 0; k < G_N_ELEMENTS (secret_names); k++)
    {
      gsize name_len;
      gsize eq_len;
      gboolean encoded;
      gsize value_start;

      if (!match_name_at (text, len, pos, secret_names[k], &name_len))
        continue;

      if (pos + name_len < len && text[pos + name_len] == '=')
        {
          eq_len = 1;
          encoded = FALSE;
        }
      else if (has_prefix_at (text, len, pos + name_len, "%3D"))
        {
          eq_len = 3;
          encoded = TRUE;
        }
      else
        continue;

      value_start = pos + name_len + eq_len;
      g_string_append_len (out, text + pos, name_len + eq_len);
      g_string_append (out, REDACTED);
      *next = param_value_end (text, len, value_start, encoded);
      return TRUE;
    }

  return FALSE;
}

/* A JSON quote at pos: '"' (1 byte) or, inside a JSON string that holds JSON, '\"' (2 bytes). */
static gsize
quote_len_at (const char *text,
              gsize       len,
              gsize       pos,
              gboolean    escaped)
{
  if (escaped)
    return (pos + 1 < len && text[pos] == '\\' && text[pos + 1] == '"') ? 2 : 0;

  return (pos < len && text[pos] == '"') ? 1 : 0;
}

static gsize
skip_json_space (const char *text,
                 gsize       len,
                 gsize       pos)
{
  while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' ||
                       text[pos] == '\n'))
    pos++;

  return pos;
}

static gboolean
try_json_member (GString    *out,
                 const char *text,
                 gsize       len,
                 gsize       pos,
                 gsize      *next)
{
  gboolean escaped;
  gsize qlen;

  if (text[pos] == '"')
    escaped = FALSE;
  else if (text[pos] == '\\' && pos + 1 < len && text[pos + 1] == '"')
    escaped = TRUE;
  else
    return FALSE;

  /* An escaped quote preceded by another backslash is a literal backslash + quote. */
  if (escaped && pos > 0 && text[pos - 1] == '\\')
    return FALSE;

  qlen = escaped ? 2 : 1;

  for (gsize list = 0; list < 2; list++)
    {
      const char * const *names = list == 0 ? secret_names : header_names;
      gsize n_names = list == 0 ? G_N_ELEMENTS (secret_names) : G_N_ELEMENTS (header_names);

      for (gsize k = 0; k < n_names; k++)
        {
          gsize name_len;
          gsize p;
          gsize vq;

          if (!match_name_at (text, len, pos + qlen, names[k], &name_len))
            continue;

          p = pos + qlen + name_len;
          if (quote_len_at (text, len, p, escaped) == 0)
            continue;
          p = skip_json_space (text, len, p + qlen);
          if (p >= len || text[p] != ':')
            continue;
          p = skip_json_space (text, len, p + 1);

          /* Only string values hold secrets; numbers stay, because the envelope's numeric
           * "code" is the one thing a log needs to explain a failure. */
          vq = quote_len_at (text, len, p, escaped);
          if (vq == 0)
            continue;

          g_string_append_len (out, text + pos, p + vq - pos);
          g_string_append (out, REDACTED);
          p += vq;

          while (p < len)
            {
              if (escaped)
                {
                  if (quote_len_at (text, len, p, TRUE) != 0)
                    break;
                  p++;
                }
              else if (text[p] == '\\')
                p = MIN (p + 2, len);
              else if (text[p] == '"')
                break;
              else
                p++;
            }

          if (p < len)
            {
              g_string_append_len (out, text + p, vq);
              p += vq;
            }

          *next = p;
          return TRUE;
        }
    }

  return FALSE;
}

static gboolean
try_header (GString    *out,
            const char *text,
            gsize       len,
            gsize       pos,
            gsize      *next)
{
  if (pos > 0 && (is_name_char (text[pos - 1]) || text[pos - 1] == '"'))
    return FALSE;

  for (gsize k = 0; k < G_N_ELEMENTS (header_names); k++)
    {
      gsize name_len;
      gsize p;

      if (!match_name_at (text, len, pos, header_names[k], &name_len))
        continue;

      p = pos + name_len;
      while (p < len && (text[p] == ' ' || text[p] == '\t'))
        p++;
      if (p >= len || text[p] != ':')
        continue;
      p++;

      /* The value runs to the end of the line: a header value may contain anything. */
      g_string_append_len (out, text + pos, p - pos);
      g_string_append (out, " " REDACTED);
      while (p < len && text[p] != '\r' && text[p] != '\n')
        p++;

      *next = p;
      return TRUE;
    }

  return FALSE;
}

char *
kh_redact (const char *text)
{
  GString *out;
  gsize len;
  gsize pos = 0;

  if (text == NULL)
    return NULL;

  len = strlen (text);
  out = g_string_sized_new (len + 16);

  while (pos < len)
    {
      gsize next = pos;

      if (try_json_member (out, text, len, pos, &next) ||
          try_header (out, text, len, pos, &next) ||
          try_query_param (out, text, len, pos, &next))
        {
          g_assert (next > pos);
          pos = next;
          continue;
        }

      g_string_append_c (out, text[pos]);
      pos++;
    }

  return g_string_free (out, FALSE);
}
