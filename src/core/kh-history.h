/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-history.h: one event in a grant's life (issue #11's local history, issue #10's team audit
 * rows): what happened, to which grant, when, by whom and on which machine, with a small
 * per-action detail. The JSON form is one line of the local history file and the `detail` column
 * of the team audit table:
 *
 *   {"v":1,"at":"2026-12-04T21:00:00Z","action":"refreshed","grant":"<id>","type":"seller",
 *    "client":"Acme","actor":"alice","machine":"alice-laptop","detail":{...}}
 *
 * An entry never holds a secret: the detail members are a closed set per action (see
 * kh_history_entry_from_json), none of which is a token, code, state, app secret or key. */
#pragma once

#include <json-glib/json-glib.h>

#include "kh-grant.h"

G_BEGIN_DECLS

/* The record format's version, the "v" member. */
#define KH_HISTORY_VERSION 1

/* The closed set of actions (kebab-case on disk). */
#define KH_HISTORY_AUTHORIZED       "authorized"        /* detail: flow, scopes */
#define KH_HISTORY_REFRESHED        "refreshed"
#define KH_HISTORY_REFRESH_FAILED   "refresh-failed"    /* detail: code, message */
#define KH_HISTORY_ACCOUNTS_CHANGED "accounts-changed"  /* detail: added, removed [{id,name}] */
#define KH_HISTORY_RENEWAL_COPIED   "renewal-copied"
#define KH_HISTORY_REVOKED          "revoked"           /* detail: manual */
#define KH_HISTORY_REMOVED          "removed"
#define KH_HISTORY_TOKEN_READ       "token-read"        /* detail: command */
#define KH_HISTORY_EXPORTED         "exported"          /* detail: format, stale_at */
#define KH_HISTORY_SHARED           "shared"
#define KH_HISTORY_UNSHARED         "unshared"
#define KH_HISTORY_ACCESS_CHANGED   "access-changed"    /* detail: role, clients */
#define KH_HISTORY_NEEDS_REAUTH     "needs-reauth"      /* detail: reason */
/* Written only by the local history's roll-up: older entries of one grant summarised.
 * detail: since, until (ISO 8601), counts {action: n}. */
#define KH_HISTORY_ROLLED_UP        "rolled-up"

#define KH_TYPE_HISTORY_ENTRY (kh_history_entry_get_type ())

typedef struct _KhHistoryEntry KhHistoryEntry;   /* boxed, refcounted, immutable once shared */

GType           kh_history_entry_get_type    (void) G_GNUC_CONST;

/* TRUE when action is one of the closed set above. */
gboolean        kh_history_action_is_known   (const char     *action);

/* A new entry for grant: at = kh_now (), actor = the OS user, machine = g_get_host_name (),
 * grant, type and client from grant. action must be known. */
KhHistoryEntry *kh_history_entry_new         (const char     *action,
                                              KhGrant        *grant);
/* Every field given (team audit rows, whose actor and time the database sets; roll-up records).
 * type and client may be NULL; at is Unix seconds. */
KhHistoryEntry *kh_history_entry_new_full    (gint64          at,
                                              const char     *action,
                                              const char     *grant_id,
                                              const char     *type,
                                              const char     *client,
                                              const char     *actor,
                                              const char     *machine);
/* The entries of the event sites, with their detail (kh_history_entry_new plus setters).
 * flow: "browser" "link" "paste" "quick-connect"; scopes come from grant. */
KhHistoryEntry *kh_history_entry_new_authorized       (KhGrant            *grant,
                                                       const char         *flow);
/* code: TikTok's (KH_API_ERROR) or 0; message: the code's meaning, else error's message
 * (redacted, shortened). */
KhHistoryEntry *kh_history_entry_new_refresh_failed   (KhGrant            *grant,
                                                       const GError       *error);
/* changes: kh_broker_update_accounts_finish's lines, "+ID\tNAME" added, "-ID\tNAME" removed. */
KhHistoryEntry *kh_history_entry_new_accounts_changed (KhGrant            *grant,
                                                       const char * const *changes);
KhHistoryEntry *kh_history_entry_new_revoked          (KhGrant            *grant,
                                                       gboolean            manual);
/* command: what handed the token out: "token" (keyhold-cli token), "copy" (the app). */
KhHistoryEntry *kh_history_entry_new_token_read       (KhGrant            *grant,
                                                       const char         *command);
/* format: "n8n" "mcp-shops" "env"; stale_at: when the copy goes stale (0: never). */
KhHistoryEntry *kh_history_entry_new_exported         (KhGrant            *grant,
                                                       const char         *format,
                                                       gint64              stale_at);
/* reason: an untranslated N_() sentence fragment; describe translates it. */
KhHistoryEntry *kh_history_entry_new_needs_reauth     (KhGrant            *grant,
                                                       const char         *reason);

KhHistoryEntry *kh_history_entry_ref         (KhHistoryEntry *self);
void            kh_history_entry_unref       (KhHistoryEntry *self);

/* Sets detail member name to value (transfer full, like json_object_set_member). Members the
 * action does not define make kh_history_entry_to_json's output unreadable by from_json, so
 * the writers (kh-history-log) refuse such an entry: only set the members listed above. */
void            kh_history_entry_set_detail  (KhHistoryEntry *self,
                                              const char     *name,
                                              JsonNode       *value);
void            kh_history_entry_set_detail_string (KhHistoryEntry *self,
                                                    const char     *name,
                                                    const char     *value);   /* NULL: null */
void            kh_history_entry_set_detail_int    (KhHistoryEntry *self,
                                                    const char     *name,
                                                    gint64          value);
void            kh_history_entry_set_detail_bool   (KhHistoryEntry *self,
                                                    const char     *name,
                                                    gboolean        value);
void            kh_history_entry_set_detail_strv   (KhHistoryEntry *self,
                                                    const char     *name,
                                                    const char * const *value);

gint64          kh_history_entry_get_at      (KhHistoryEntry *self);   /* Unix seconds */
const char     *kh_history_entry_get_action  (KhHistoryEntry *self);
const char     *kh_history_entry_get_grant_id (KhHistoryEntry *self);
const char     *kh_history_entry_get_type_id (KhHistoryEntry *self);   /* "seller"...; may be NULL */
const char     *kh_history_entry_get_client  (KhHistoryEntry *self);   /* may be NULL */
const char     *kh_history_entry_get_actor   (KhHistoryEntry *self);
const char     *kh_history_entry_get_machine (KhHistoryEntry *self);
JsonObject     *kh_history_entry_get_detail  (KhHistoryEntry *self);   /* may be NULL */

/* The record as a JsonNode (an object) or as one line of JSON without a newline. */
JsonNode       *kh_history_entry_to_json_node (KhHistoryEntry *self);
char           *kh_history_entry_to_json     (KhHistoryEntry *self);
/* Parses and validates every field (version, time, action, ids, and the action's detail
 * members, their types and no others): KH_ERROR_INVALID_INPUT naming the first bad field. */
KhHistoryEntry *kh_history_entry_from_json   (const char     *line,
                                              GError        **error);
KhHistoryEntry *kh_history_entry_from_json_node (JsonNode    *node,
                                                 GError     **error);

/* One translated sentence for the UI and the CLI ("Refreshed.", "Refresh failed with TikTok
 * code 105002: ..."), without the time, the actor or the machine. */
char           *kh_history_entry_describe    (KhHistoryEntry *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhHistoryEntry, kh_history_entry_unref)

G_END_DECLS
