/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow-link.c: creating an authorization link for a client: checked against its app's
 * secret now, saved as a pending request that kh-flow-complete.c completes later. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-flow.h"
#include "kh-flow-private.h"


/* ---- create a link ----------------------------------------------------------------------- */

KhAuthRequest *
kh_flow_create_link (KhStore        *store,
                     KhAccountType   type,
                     const char     *role,
                     KhAppProfile   *app,
                     KhRegion        region,
                     const char     *client_label,
                     KhFlowFlags     flags,
                     GError        **error)
{
  g_autoptr(KhAuthRequest) request = NULL;
  g_autofree char *secret = NULL;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (KH_IS_APP_PROFILE (app), NULL);

  /* A link whose completion would fail for want of a secret helps nobody: check it now. */
  secret = kh_store_load_app_secret (store, kh_app_profile_get_name (app), error);
  if (secret == NULL)
    return NULL;
  memset (secret, 0, strlen (secret));

  request = kh_auth_request_new (type, role, app, region, client_label,
                                 (flags & KH_FLOW_FLAGS_FORCE_CONSENT) != 0, error);
  if (request == NULL)
    return NULL;

  if (!kh_store_save_pending (store, request, error))
    return NULL;

  return g_steal_pointer (&request);
}
