/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-export.h: a grant's access token written in the form another tool reads (issue #11,
 * "Export on demand"): n8n's credential import file, an MCP server's shops.json, or a dotenv
 * file. An export is a copy: it goes stale when the access token expires, or sooner when
 * Keyhold refreshes the grant, which is why `keyhold-cli token` stays the safer default.
 *
 * What an export holds, and what it never holds: the app key, shop ids and ciphers (or
 * advertiser ids) and the access token; never the refresh token (a second refresher would
 * spend TikTok's rotating refresh token under Keyhold's feet) and never the app secret
 * (DESIGN.md: no command prints it). */
#pragma once

#include <glib.h>

#include "kh-app-profile.h"
#include "kh-grant.h"

G_BEGIN_DECLS

typedef enum {
  KH_EXPORT_N8N,         /* "n8n": n8n import:credentials JSON, type tiktokShopApi, per shop */
  KH_EXPORT_MCP_SHOPS,   /* "mcp-shops": shops.json: app key, per shop id, name, cipher, token */
  KH_EXPORT_ENV,         /* "env": dotenv, TIKTOK_* variables */
} KhExportFormat;

const char  *kh_export_format_to_string   (KhExportFormat  format);
gboolean     kh_export_format_from_string (const char     *text,
                                           KhExportFormat *out);

/* The export text (ending in a newline). KH_ERROR_INVALID_INPUT when the format does not fit
 * the grant (n8n and mcp-shops need a Shop grant that covers shops). The text says when it
 * goes stale: tokens->access_expires_at (0: never, until revoked). */
char        *kh_export_render             (KhExportFormat     format,
                                           KhGrant           *grant,
                                           KhAppProfile      *app,
                                           const KhTokenSet  *tokens,
                                           GError           **error);

/* Writes text to path as a new 0600 file that replaces path atomically (temporary file in the
 * same folder, created 0600, flushed, renamed): never readable by others, not even briefly, and
 * never half-written. A symbolic link at path is replaced, not followed. */
gboolean     kh_export_write_file         (const char        *path,
                                           const char        *text,
                                           GError           **error);

G_END_DECLS
