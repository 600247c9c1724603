/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox.h: keyhold-sandbox, a local emulator of every TikTok authorization endpoint in
 * tiktok-api.md, with single-use expiring codes, rotating refresh tokens, an accelerated clock,
 * fault injection and a ledger. Embeddable in-process (tests, `keyhold --sandbox`). */
#pragma once

#include <gio/gio.h>

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

G_END_DECLS
