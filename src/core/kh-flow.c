/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-flow.c: the KhFlow object: its stage, its pending request and the warnings of its last
 * run. One run of a flow goes from an entrance to a stored grant: authorize (kh-flow-authorize.c,
 * with kh-flow-browser.c), complete (kh-flow-complete.c) or Quick Connect
 * (kh-flow-quick-connect.c) obtain the callback and the app; from there they share one pipeline:
 * exchange (kh-flow-exchange.c) -> enrich (kh-flow-enrich.c) -> store (kh-flow-store.c), with the
 * run's data and its ends in kh-flow-run.c. Links for clients are made in kh-flow-link.c. */

#define G_LOG_DOMAIN "kh-flow"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-flow.h"
#include "kh-flow-private.h"

G_DEFINE_FINAL_TYPE (KhFlow, kh_flow, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_STAGE,
  PROP_REQUEST,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* ---- the object ------------------------------------------------------------------------- */

void
kh_flow_set_stage (KhFlow      *self,
                   KhFlowStage  stage)
{
  if (self->stage == stage)
    return;

  self->stage = stage;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STAGE]);
}

void
kh_flow_set_request (KhFlow        *self,
                     KhAuthRequest *request)
{
  if (!g_set_object (&self->request, request))
    return;

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REQUEST]);
}

void
kh_flow_reset (KhFlow *self)
{
  g_ptr_array_set_size (self->warnings, 0);
  g_ptr_array_add (self->warnings, NULL);
  kh_flow_set_request (self, NULL);
  kh_flow_set_stage (self, KH_FLOW_STAGE_IDLE);
}

void
kh_flow_add_warning (KhFlow     *self,
                     const char *warning)
{
  /* Keep the array NULL-terminated so it can be handed out as a strv. */
  g_ptr_array_remove_index (self->warnings, self->warnings->len - 1);
  g_ptr_array_add (self->warnings, g_strdup (warning));
  g_ptr_array_add (self->warnings, NULL);
  g_debug ("warning: %s", warning);
}

static void
kh_flow_dispose (GObject *object)
{
  KhFlow *self = (KhFlow *) object;

  g_clear_object (&self->request);
  g_clear_object (&self->browser);
  g_clear_object (&self->client);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (kh_flow_parent_class)->dispose (object);
}

static void
kh_flow_finalize (GObject *object)
{
  KhFlow *self = (KhFlow *) object;

  g_clear_pointer (&self->warnings, g_ptr_array_unref);

  G_OBJECT_CLASS (kh_flow_parent_class)->finalize (object);
}

static void
kh_flow_get_property (GObject    *object,
                      guint       prop_id,
                      GValue     *value,
                      GParamSpec *pspec)
{
  KhFlow *self = KH_FLOW (object);

  switch (prop_id)
    {
    case PROP_STAGE:
      g_value_set_int (value, self->stage);
      break;

    case PROP_REQUEST:
      g_value_set_object (value, self->request);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_flow_class_init (KhFlowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_flow_dispose;
  object_class->finalize = kh_flow_finalize;
  object_class->get_property = kh_flow_get_property;

  properties[PROP_STAGE] =
    g_param_spec_int ("stage", NULL, NULL,
                      KH_FLOW_STAGE_IDLE, KH_FLOW_STAGE_FAILED, KH_FLOW_STAGE_IDLE,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_REQUEST] =
    g_param_spec_object ("request", NULL, NULL,
                         KH_TYPE_AUTH_REQUEST,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_flow_init (KhFlow *self)
{
  self->warnings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->warnings, NULL);
}

KhFlow *
kh_flow_new (KhStore       *store,
             KhTokenClient *client)
{
  KhFlow *self;

  g_return_val_if_fail (KH_IS_STORE (store), NULL);
  g_return_val_if_fail (KH_IS_TOKEN_CLIENT (client), NULL);

  self = g_object_new (KH_TYPE_FLOW, NULL);
  self->store = g_object_ref (store);
  self->client = g_object_ref (client);

  return self;
}

KhFlowStage
kh_flow_get_stage (KhFlow *self)
{
  g_return_val_if_fail (KH_IS_FLOW (self), KH_FLOW_STAGE_IDLE);

  return self->stage;
}

const char *
kh_flow_stage_describe (KhFlowStage stage)
{
  switch (stage)
    {
    case KH_FLOW_STAGE_IDLE:
      return _("Ready");
    case KH_FLOW_STAGE_WAITING:
      return _("Waiting for the authorization in the browser");
    case KH_FLOW_STAGE_EXCHANGING:
      return _("Exchanging the authorization code for tokens");
    case KH_FLOW_STAGE_ENRICHING:
      return _("Fetching the authorized accounts");
    case KH_FLOW_STAGE_STORING:
      return _("Storing the tokens in the keyring");
    case KH_FLOW_STAGE_DONE:
      return _("Authorized");
    case KH_FLOW_STAGE_FAILED:
      return _("Authorization failed");
    default:
      g_assert_not_reached ();
    }
}

KhAuthRequest *
kh_flow_get_request (KhFlow *self)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);

  return self->request;
}

void
kh_flow_set_browser_profile (KhFlow           *self,
                             KhBrowserProfile *profile)
{
  g_return_if_fail (KH_IS_FLOW (self));
  g_return_if_fail (profile == NULL || KH_IS_BROWSER_PROFILE (profile));

  g_set_object (&self->browser, profile);
}

const char * const *
kh_flow_get_warnings (KhFlow *self)
{
  g_return_val_if_fail (KH_IS_FLOW (self), NULL);

  return (const char * const *) self->warnings->pdata;
}
