/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-json.h: type-checked readers for untrusted JSON (STYLE rule 11). Every getter returns
 * NULL / FALSE when the member is missing or of another type; none of them warn or abort. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Deeper documents are refused before json-glib sees them (its parser recurses per level). */
#define KH_JSON_MAX_DEPTH 64

/* Parses data (not NUL-terminated, may be invalid UTF-8) into a node; KH_ERROR_BAD_RESPONSE. */
JsonNode     *kh_json_parse          (const char  *data,
                                      gsize        length,
                                      GError     **error);
char         *kh_json_to_string      (JsonNode    *node,
                                      gboolean     pretty);

/* The object inside node, or NULL if node is not an object. */
JsonObject   *kh_json_node_object    (JsonNode    *node);

const char   *kh_json_get_string     (JsonObject  *object,
                                      const char  *member);
/* Accepts JSON integers, and integral doubles within gint64; not strings. */
gboolean      kh_json_get_int        (JsonObject  *object,
                                      const char  *member,
                                      gint64      *out);
/* Accepts JSON integers and decimal strings of digits (TikTok sends ids both ways). */
gboolean      kh_json_get_int_or_string (JsonObject *object,
                                         const char *member,
                                         gint64     *out);
gboolean      kh_json_get_bool       (JsonObject  *object,
                                      const char  *member,
                                      gboolean    *out);
JsonObject   *kh_json_get_object     (JsonObject  *object,
                                      const char  *member);
JsonArray    *kh_json_get_array      (JsonObject  *object,
                                      const char  *member);
/* A string array; NULL if the member is not an array or any element is not a string. */
char        **kh_json_get_strv       (JsonObject  *object,
                                      const char  *member);

/* Builders used by store and sandbox. */
void          kh_json_set_strv       (JsonObject        *object,
                                      const char        *member,
                                      const char * const *strv);
JsonArray    *kh_json_array_from_strv (const char * const *strv);

G_END_DECLS
