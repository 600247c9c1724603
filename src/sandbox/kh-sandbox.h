/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox.h: keyhold-sandbox, a local emulator of every TikTok authorization endpoint in
 * tiktok-api.md, with single-use expiring codes, rotating refresh tokens, an accelerated clock,
 * fault injection and a ledger. Embeddable in-process (tests, `keyhold --sandbox`). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define KH_TYPE_SANDBOX (kh_sandbox_get_type ())
G_DECLARE_FINAL_TYPE (KhSandbox, kh_sandbox, KH, SANDBOX, GObject)

/* seed: makes issued ids/tokens reproducible (0 = random). Demo apps are registered at once. */
KhSandbox   *kh_sandbox_new                (guint64      seed);
/* Binds 127.0.0.1 on port (0 = any free port). */
gboolean     kh_sandbox_listen             (KhSandbox   *self,
                                            guint        port,
                                            GError     **error);
guint        kh_sandbox_get_port           (KhSandbox   *self);
/* "http://127.0.0.1:PORT" */
char        *kh_sandbox_dup_origin         (KhSandbox   *self);
/* A KEYHOLD_ORIGIN_MAP spec mapping every TikTok host of tiktok-api.md onto this sandbox, each
 * with a "/_host/<hostname>" path prefix so the sandbox knows which host was meant. */
char        *kh_sandbox_dup_origin_map     (KhSandbox   *self);
void         kh_sandbox_set_latency        (KhSandbox   *self,
                                            guint        latency_ms);
/* Registers (or replaces) an app, as POST /_sandbox/apps does. redirect_uri NULL: the consent
 * page redirects to the redirect_uri of the link (Business) or refuses (Shop).
 * family: "shop" or "business"; service_id may be NULL. */
void         kh_sandbox_add_app            (KhSandbox   *self,
                                            const char  *family,
                                            const char  *app_key,
                                            const char  *app_secret,
                                            const char  *service_id,
                                            const char  *redirect_uri);
/* Sandbox clock: seconds added to real time. */
void         kh_sandbox_advance_clock      (KhSandbox   *self,
                                            gint64       seconds);
gint64       kh_sandbox_now                (KhSandbox   *self);

/* ---- additions: the control endpoint's operations, for in-process tests ------------------- */

/* The sandbox clock runs speed times faster than real time from now on (speed > 0; 1 = real). */
void         kh_sandbox_set_clock_speed    (KhSandbox   *self,
                                            double       speed);

/* Registers an app from the same JSON object POST /_sandbox/apps takes:
 * {"family","app_key","app_secret","service_id","redirect_uri","category","scopes"}.
 * G_IO_ERROR_INVALID_ARGUMENT naming the bad member; nothing changes then. */
gboolean     kh_sandbox_add_app_json       (KhSandbox   *self,
                                            JsonObject  *app,
                                            GError     **error);

/* Applies the same JSON object POST /_sandbox/config takes: any of "shop_access_ttl",
 * "shop_refresh_ttl", "tt_access_ttl", "tt_refresh_ttl", "refresh_grace" (seconds),
 * "rate_limit" (calls per second per app, 0 = off), "latency_ms" and "auto_consent"
 * ("approve" | "deny": every consent page decides at once, as auto= does; "none" = show the
 * page). All-or-nothing; an unknown key is an error. */
gboolean     kh_sandbox_configure          (KhSandbox   *self,
                                            JsonObject  *config,
                                            GError     **error);

typedef enum {
  KH_SANDBOX_FAULT_ERROR_CODE,   /* value: the TikTok code of the envelope (HTTP 200) */
  KH_SANDBOX_FAULT_HTTP_STATUS,  /* value: 500-599 */
  KH_SANDBOX_FAULT_DELAY,        /* value: milliseconds; the call is then served normally */
  KH_SANDBOX_FAULT_GARBAGE,      /* HTTP 200 with a body that is not JSON */
  KH_SANDBOX_FAULT_DROP,         /* the connection is closed without an answer */
} KhSandboxFaultKind;

/* Queues a fault for the next count calls of path (the path after any /_host prefix, or "*" for
 * every API call). Faults apply in FIFO order, as POST /_sandbox/faults. */
void         kh_sandbox_add_fault          (KhSandbox          *self,
                                            const char         *path,
                                            guint               count,
                                            KhSandboxFaultKind  kind,
                                            int                 value);
void         kh_sandbox_clear_faults       (KhSandbox   *self);

/* The seller or account holder cancels every authorization of open_id (Seller Center, Partner
 * Center, "remove all access"). Returns how many authorizations that ended. */
guint        kh_sandbox_deauthorize        (KhSandbox   *self,
                                            const char  *open_id);
/* Forgets authorizations, codes, consents, faults and counters (apps and config stay). */
void         kh_sandbox_reset              (KhSandbox   *self);
/* The ledger GET /_sandbox/ledger serves: authorizations with every issued token and its
 * validity (refresh tokens also say whether a refresh with them is "accepted" now: the current
 * one, or the replaced one inside the grace), call counters per path, the most answers of each path held back at once by latency
 * or a delay fault (in_flight_peak), and every secret seen. */
JsonNode    *kh_sandbox_dup_ledger         (KhSandbox   *self);

G_END_DECLS
