/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-application-private.h: KhApplication's fields, shared by kh-application.c (the object,
 * models, operations, actions) and kh-application-maintenance.c (background refresh and
 * notifications). Not installed. */
#pragma once

#include "kh-application.h"

#include "kh-broker.h"
#include "kh-grant-list.h"

#ifdef KH_HAVE_SANDBOX
#include "kh-sandbox.h"
#endif

G_BEGIN_DECLS

#define MAINTENANCE_INTERVAL_SECONDS (5 * 60)

struct _KhApplication
{
  AdwApplication  parent_instance;

  /* owned */
  KhStore        *store;
  GError         *store_error;
  KhBroker       *broker;
  KhTokenClient  *client;
  GSettings      *settings;
  KhGrantList    *grants;          /* NULL without a store */
  KhTeam         *team;            /* NULL: not in a team (or not read yet) */
  GListStore     *no_grants;       /* what the pages show without a store */
  GListStore     *apps;
  GCancellable   *cancellable;
  GHashTable     *refreshing;      /* grant id -> TRUE while a background refresh runs */
#ifdef KH_HAVE_SANDBOX
  KhSandbox      *sandbox;
#endif

  guint           maintenance_id;
  guint           first_load_id;     /* reads the grants if no window asks first */
  gboolean        first_pass_done;   /* background work waits for the grants to be read */
  gboolean        sandbox_mode;
  gboolean        demo_ready;
};

/* The periodic tick: re-reads the store, then kh_application_run_maintenance. */
gboolean kh_application_maintenance_tick (gpointer user_data);

G_END_DECLS
