/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sign.h: the TikTok Shop Open API request signature (tiktok-api.md "Signing"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* query: string -> string of every query parameter (sign and access_token are skipped).
 * body may be NULL. content_type may be NULL; a multipart/form-data body is not signed.
 * Returns the lowercase hex HMAC-SHA256. */
char      *kh_sign                  (const char  *app_secret,
                                     const char  *path,
                                     GHashTable  *query,
                                     const char  *body,
                                     gsize        body_length,
                                     const char  *content_type);

/* Constant-time check of a received sign. */
gboolean   kh_sign_verify           (const char  *app_secret,
                                     const char  *path,
                                     GHashTable  *query,
                                     const char  *body,
                                     gsize        body_length,
                                     const char  *content_type,
                                     const char  *sign);

G_END_DECLS
