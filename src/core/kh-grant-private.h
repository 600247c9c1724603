/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-private.h: the fields of a KhGrant, shared by the GObject (kh-grant.c) and its JSON
 * form (kh-grant-json.c). Not installed, not public API. */
#pragma once

#include "kh-grant.h"

G_BEGIN_DECLS

struct _KhGrant
{
  GObject        parent_instance;

  char          *id;
  KhAccountType  type;
  char          *role;
  char          *app_name;
  char          *client_label;
  char          *display_name;
  char          *region;
  char          *open_id;
  gint64         access_expires_at;
  gint64         refresh_expires_at;
  char         **scopes;
  char         **missing_scopes;
  GPtrArray     *shops;
  GPtrArray     *advertisers;
  KhGrantStatus  stored_status;
  char          *status_reason;
  gboolean       without_state;
  gboolean       shared;
  char         **warnings;
  gint64         created_at;
  gint64         updated_at;
};

G_END_DECLS
