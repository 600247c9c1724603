/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-util.h: randomness, constant-time comparison, time formatting and log redaction. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* n_bytes from getrandom(2), as unpadded base64url. Aborts only if the kernel cannot supply
 * randomness at all (never falls back to a time-seeded generator). */
char      *kh_random_token          (gsize        n_bytes);
/* n_bytes of randomness as lowercase hex (ids). */
char      *kh_random_hex            (gsize        n_bytes);

/* Compares two NUL-terminated strings in time that depends only on their lengths. */
gboolean   kh_const_time_equal      (const char  *a,
                                     const char  *b);

/* Unix seconds now, honouring KEYHOLD_CLOCK_OFFSET (seconds, test hook) when set. The
 * environment is read once, on first use. */
gint64     kh_now                   (void);
/* Test hooks: set the offset directly (thread-safe, unlike setenv), or have the next kh_now
 * read KEYHOLD_CLOCK_OFFSET again. */
void       kh_set_clock_offset      (gint64       seconds);
void       kh_reload_clock_offset   (void);

/* "2022-08-15T09:46:23Z"; NULL for 0 (never). */
char      *kh_iso8601_from_unix     (gint64       unix_time);
/* Parses ISO 8601 (with zone) into Unix seconds; FALSE on bad input. */
gboolean   kh_unix_from_iso8601     (const char  *text,
                                     gint64      *out);

/* Returns a copy of text safe to log: values of secret-bearing query parameters and JSON members
 * (app_secret, secret, client_secret, access_token, refresh_token, code, auth_code, state,
 * sign...) and Access-Token / x-tts-access-token header values become "[redacted]". */
char      *kh_redact                (const char  *text);

/* Logs through g_debug after kh_redact. Use this for anything that may hold a URL or a body. */
#define kh_debug_redacted(fmt, ...) \
  G_STMT_START { \
    g_autofree char *kh__raw = g_strdup_printf (fmt, __VA_ARGS__); \
    g_autofree char *kh__safe = kh_redact (kh__raw); \
    g_debug ("%s", kh__safe); \
  } G_STMT_END

G_END_DECLS
