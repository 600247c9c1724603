/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-token-client.c: the KhTokenClient object itself: its libsoup session and its retry and
 * timeout settings. The calls live beside it: kh-token-client-tokens.c (exchange, refresh,
 * revoke), kh-token-client-enrich.c (shops, advertisers, account name), on the plumbing of
 * kh-token-client-request.c (one call, its attempts and retries) and the pure parsers of
 * kh-token-client-decode.c. */

#define G_LOG_DOMAIN "kh-token-client"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-token-client.h"
#include "kh-token-client-private.h"

#define DEFAULT_MAX_ATTEMPTS   3
#define DEFAULT_BASE_DELAY_MS  500
#define DEFAULT_TIMEOUT_S      30

G_DEFINE_FINAL_TYPE (KhTokenClient, kh_token_client, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_TIMEOUT,
  PROP_MAX_ATTEMPTS,
  PROP_BASE_DELAY_MS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
kh_token_client_dispose (GObject *object)
{
  KhTokenClient *self = KH_TOKEN_CLIENT (object);

  if (self->session != NULL)
    soup_session_abort (self->session);
  g_clear_object (&self->session);

  G_OBJECT_CLASS (kh_token_client_parent_class)->dispose (object);
}

static void
kh_token_client_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  KhTokenClient *self = KH_TOKEN_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      g_value_set_uint (value, self->timeout);
      break;
    case PROP_MAX_ATTEMPTS:
      g_value_set_uint (value, self->max_attempts);
      break;
    case PROP_BASE_DELAY_MS:
      g_value_set_uint (value, self->base_delay_ms);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_token_client_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  KhTokenClient *self = KH_TOKEN_CLIENT (object);

  switch (prop_id)
    {
    case PROP_TIMEOUT:
      kh_token_client_set_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_ATTEMPTS:
      kh_token_client_set_retry (self, g_value_get_uint (value), self->base_delay_ms);
      break;
    case PROP_BASE_DELAY_MS:
      kh_token_client_set_retry (self, self->max_attempts, g_value_get_uint (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_token_client_class_init (KhTokenClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = kh_token_client_dispose;
  object_class->get_property = kh_token_client_get_property;
  object_class->set_property = kh_token_client_set_property;

  properties[PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL, 0, G_MAXUINT, DEFAULT_TIMEOUT_S, rw);
  properties[PROP_MAX_ATTEMPTS] =
    g_param_spec_uint ("max-attempts", NULL, NULL, 1, G_MAXUINT, DEFAULT_MAX_ATTEMPTS, rw);
  properties[PROP_BASE_DELAY_MS] =
    g_param_spec_uint ("base-delay-ms", NULL, NULL, 0, G_MAXUINT, DEFAULT_BASE_DELAY_MS, rw);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_token_client_init (KhTokenClient *self)
{
  self->max_attempts = DEFAULT_MAX_ATTEMPTS;
  self->base_delay_ms = DEFAULT_BASE_DELAY_MS;
  self->timeout = DEFAULT_TIMEOUT_S;
  /* libsoup allows two connections per host by default, and every token call goes to one host:
   * `refresh --all --jobs 8` would wait for TikTok two calls at a time. The callers bound the
   * concurrency themselves (--jobs, at most 256, and --per-app). */
  self->session = soup_session_new_with_options ("user-agent", "Keyhold/" PACKAGE_VERSION,
                                                 "timeout", self->timeout,
                                                 "max-conns", 256,
                                                 "max-conns-per-host", 256,
                                                 NULL);
}

KhTokenClient *
kh_token_client_new (void)
{
  return g_object_new (KH_TYPE_TOKEN_CLIENT, NULL);
}

void
kh_token_client_set_retry (KhTokenClient *self,
                           guint          max_attempts,
                           guint          base_delay_ms)
{
  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));
  g_return_if_fail (max_attempts >= 1);

  g_object_freeze_notify (G_OBJECT (self));
  if (self->max_attempts != max_attempts)
    {
      self->max_attempts = max_attempts;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_ATTEMPTS]);
    }
  if (self->base_delay_ms != base_delay_ms)
    {
      self->base_delay_ms = base_delay_ms;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BASE_DELAY_MS]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
kh_token_client_set_timeout (KhTokenClient *self,
                             guint          seconds)
{
  g_return_if_fail (KH_IS_TOKEN_CLIENT (self));

  if (self->timeout == seconds)
    return;
  self->timeout = seconds;
  g_object_set (self->session, "timeout", seconds, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIMEOUT]);
}
