/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-origin-map.h: the test-endpoint hook of DESIGN.md. KEYHOLD_ORIGIN_MAP is a ';'-separated
 * list of ORIGIN=TARGET pairs, e.g. "https://auth.tiktok-shops.com=http://127.0.0.1:8001".
 * A TARGET may carry a path prefix ("http://127.0.0.1:8001/_host/services.us.tiktokshop.com"):
 * it is prepended to the rewritten path, which lets one sandbox tell the hosts apart.
 * The map is process-wide, read lazily from the environment, and thread-safe. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Replaces the process-wide map (NULL or "" clears it). KH_ERROR_INVALID_INPUT on a bad spec:
 * each ORIGIN must be scheme://host[:port] with no path, each TARGET http(s) on any host. */
gboolean   kh_origin_map_set              (const char  *spec,
                                           GError     **error);
/* TRUE when any mapping is active (the app shows a "test endpoints" banner, the CLI warns). */
gboolean   kh_origin_map_is_active        (void);
/* The active spec, or NULL. */
char      *kh_origin_map_dup_spec         (void);
/* Rewrites url when its origin is mapped; otherwise returns a copy. Never NULL for valid input. */
char      *kh_origin_map_rewrite          (const char  *url);
/* TRUE when url points at (is under) one of the active map's targets. */
gboolean   kh_origin_map_is_target_url    (const char  *url);
/* Forgets the map, so that the next use reads KEYHOLD_ORIGIN_MAP again (tests). */
void       kh_origin_map_reset            (void);

G_END_DECLS
