/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-fuzz-import.h: the JSON forms Keyhold reads back from its index and its keyring. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Feeds node to every from_json reader (app profile, grant, token set, auth request) and checks
 * that whatever one accepts is written back in a form the same reader accepts again. */
void  kh_fuzz_import_node  (JsonNode *node);

G_END_DECLS
