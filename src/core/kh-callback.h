/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-callback.h: what TikTok's redirect carried, from the loopback listener or from text the
 * user pasted (chat apps and mail add whitespace, "&amp;", quotes, trailing punctuation and drop
 * the scheme; all of that is tolerated). Every field is validated; nothing here is trusted. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *code;               /* from code or auth_code; NULL when absent, empty or "null" */
  char *state;              /* NULL when absent */
  char *error;              /* error=auth_denied | access_denied | ..., NULL on success */
  char *error_description;
  char *app_key;            /* Shop extras (3P seed): app_key, locale, shop_region */
  char *locale;
  char *shop_region;
  char *redirect_base;      /* scheme://host[:port]/path the callback went to, or NULL */
} KhCallback;

/* Limits that keep hostile input cheap. */
#define KH_CALLBACK_MAX_LENGTH 8192   /* pasted text or request URI, bytes */
#define KH_CALLBACK_MAX_VALUE  2048   /* one parameter value, bytes */

/* Parses pasted text. KH_ERROR_INVALID_INPUT with a specific message: empty text, no query,
 * neither code nor error, oversized, control characters, invalid UTF-8, a parameter given twice
 * with different values. */
KhCallback  *kh_callback_parse        (const char   *text,
                                       GError      **error);
/* Builds a callback from an already-decoded query (the listener's), same validation. */
KhCallback  *kh_callback_new_from_query (const char *redirect_base,
                                         GHashTable *query,
                                         GError    **error);
/* Builds a callback from a raw, still percent-encoded query string (no leading '?'), same
 * validation; used by the loopback listener so that a parameter repeated with different values
 * is caught (a decoded GHashTable has already lost one of them). */
KhCallback  *kh_callback_new_from_raw_query (const char *redirect_base,
                                             const char *raw_query,
                                             GError    **error);
/* The state a raw query carries, or NULL when it has none, has an unreadable one or has two
 * different ones. Lets the listener decide whether a request is its own before validating the
 * rest (a stranger's request must not end the flow). The result is a secret: never log it. */
char        *kh_callback_dup_raw_query_state (const char *raw_query);
KhCallback  *kh_callback_copy         (const KhCallback *self);
void         kh_callback_free         (KhCallback   *self);

/* TRUE when the account holder refused (error present). Fills error with KH_ERROR_DENIED and a
 * message that quotes error_description (sanitised) when there is one. */
gboolean     kh_callback_is_denied    (const KhCallback *self,
                                       GError          **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhCallback, kh_callback_free)

G_END_DECLS
