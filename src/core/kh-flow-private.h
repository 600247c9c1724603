/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-private.h: what the flow's files share and nobody else sees: the object's fields, the
 * Run one authorization carries through the pipeline, and the steps one file hands to the next.
 * Not installed. */
#pragma once

#include "kh-flow.h"

#include "kh-callback.h"
#include "kh-loopback.h"
#include "kh-provider.h"

G_BEGIN_DECLS

struct _KhFlow
{
  GObject        parent_instance;

  /* owned */
  KhStore       *store;
  KhTokenClient *client;
  KhAuthRequest *request;
  KhBrowserProfile *browser;   /* NULL: the system browser */
  GPtrArray     *warnings;     /* char *, NULL-terminated */

  KhFlowStage    stage;
};

/* Everything one run of the pipeline needs; the GTask owns it. */
typedef struct
{
  KhAccountType          type;
  const KhProviderRole  *role;
  KhAppProfile          *app;
  char                  *app_secret;
  KhAuthRequest         *request;      /* NULL for Quick Connect and state-less completion */
  gboolean               request_is_pending;  /* persisted: remove it once done */
  KhLoopback            *loopback;
  KhBrowserProfile      *browser;      /* NULL: the system browser */
  GCancellable          *browser_cancellable;  /* watching the browser process */
  KhCallback            *callback;
  KhTokenResponse       *response;
  GPtrArray             *shops;
  GPtrArray             *advertisers;
  char                  *account_name;
  KhGrant               *grant;
  char                  *client_label;
  KhRegion               region;
  gboolean               region_known;
  gboolean               without_state;
  gboolean               save_app;     /* Quick Connect: store the profile after success */
  KhFlowFlags            flags;
  guint                  timeout_seconds;
  GCancellable          *wait_cancellable;  /* the loopback wait: cancelled by the caller's
                                              * cancellable, or when the browser cannot open */
  GCancellable          *outer_cancellable;
  gulong                 outer_handler;
  GError                *launch_error;
} Run;

void kh_flow_run_free (Run *run);   /* kh-flow-run.c */

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Run, kh_flow_run_free)

/* A step that continues a run once something asynchronous is done. */
typedef void (*RunStep) (GTask *task);

/* What kh-flow-complete.c and kh-flow-quick-connect.c look up in the store in a thread. */
typedef struct
{
  char          *state;
  char          *app_key;      /* for a state-less completion */
  KhAuthRequest *request;
  KhAppProfile  *app;
} Lookup;

void kh_flow_lookup_free (Lookup *lookup);   /* kh-flow-complete.c */

/* ---- kh-flow.c --------------------------------------------------------------------------- */

void kh_flow_set_stage           (KhFlow        *self,
                                  KhFlowStage    stage);
void kh_flow_set_request         (KhFlow        *self,
                                  KhAuthRequest *request);
void kh_flow_reset               (KhFlow        *self);
void kh_flow_add_warning         (KhFlow        *self,
                                  const char    *warning);

/* ---- kh-flow-run.c ----------------------------------------------------------------------- */

void kh_flow_fail                (GTask               *task,
                                  GError              *error);
void kh_flow_succeed             (GTask               *task);
void kh_flow_remove_pending_cb   (GObject             *object,
                                  GAsyncResult        *result,
                                  gpointer             user_data);
void kh_flow_remove_pending_then (KhFlow              *self,
                                  KhAuthRequest       *request,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data);
void kh_flow_load_secret_then    (GTask               *task,
                                  RunStep              next);

/* ---- the pipeline: kh-flow-exchange.c, kh-flow-enrich.c, kh-flow-store.c ------------------ */

void kh_flow_accept_callback     (GTask *task);
void kh_flow_enrich              (GTask *task);
void kh_flow_store_grant         (GTask *task);

/* ---- kh-flow-browser.c ------------------------------------------------------------------- */

void kh_flow_launch_browser_profile (GTask        *task);
void kh_flow_launch_cb              (GObject      *object,
                                     GAsyncResult *result,
                                     gpointer      user_data);

G_END_DECLS
