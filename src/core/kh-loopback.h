/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-loopback.h: the one-flow redirect listener (RFC 8252 loopback redirect, DESIGN security
 * rule 2). It binds 127.0.0.1 (and ::1 when the redirect host is "localhost") on the redirect
 * URI's port; only GET on the exact path with our state completes the flow. */
#pragma once

#include <gio/gio.h>

#include "kh-callback.h"

G_BEGIN_DECLS

#define KH_TYPE_LOOPBACK (kh_loopback_get_type ())
G_DECLARE_FINAL_TYPE (KhLoopback, kh_loopback, KH, LOOPBACK, GObject)

/* KH_ERROR_INVALID_INPUT unless redirect_uri is http:// on localhost, 127.0.0.1 or [::1] with
 * an explicit or default (80) port. */
KhLoopback  *kh_loopback_new             (const char    *redirect_uri,
                                          GError       **error);
guint        kh_loopback_get_port        (KhLoopback    *self);
/* Binds now. KH_ERROR_PORT_IN_USE: "port 8765 is in use by another program; change the Redirect
 * URL or close it". */
gboolean     kh_loopback_start           (KhLoopback    *self,
                                          GError       **error);

/* Waits for the redirect that carries expected_state. Wrong or missing state: an error page, the
 * wait goes on. Our state + code: success page, returns the callback. Our state + error: denied
 * page, fails with KH_ERROR_DENIED. timeout_seconds 0 = no timeout (KH_ERROR_TIMEOUT).
 * The listener closes when the wait ends in any way (success, error, cancel, timeout). */
void         kh_loopback_wait_async      (KhLoopback          *self,
                                          const char          *expected_state,
                                          guint                timeout_seconds,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
KhCallback  *kh_loopback_wait_finish     (KhLoopback    *self,
                                          GAsyncResult  *result,
                                          GError       **error);
void         kh_loopback_stop            (KhLoopback    *self);

G_END_DECLS
