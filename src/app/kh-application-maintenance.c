/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-application-maintenance.c: the application's background work, every few minutes and after
 * the grants are first read: refresh what is due through the broker (so never twice with
 * another process), and notify 30, 7 and 1 days before an authorization ends, once per
 * threshold (remembered in GSettings). */

#define G_LOG_DOMAIN "kh-application"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-application.h"
#include "kh-application-private.h"

#include "kh-broker.h"
#include "kh-error.h"
#include "kh-grant-list.h"
#include "kh-provider.h"
#include "kh-util.h"

/* ---- background work: refresh and notifications -------------------------------------------- */

/* The grant ids being refreshed in the background point back to the application. */
typedef struct
{
  KhApplication *self;
  char          *grant_id;
} Background;

static void
background_refresh_cb (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  Background *data = user_data;
  g_autoptr(KhApplication) self = data->self;
  g_autofree char *grant_id = data->grant_id;
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(GError) error = NULL;

  g_free (data);
  g_hash_table_remove (self->refreshing, grant_id);
  tokens = kh_broker_get_token_finish (KH_BROKER (object), result, &error);
  if (tokens == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("Background refresh of %s failed: %s", grant_id, error->message);
  if (g_hash_table_size (self->refreshing) == 0)
    kh_application_reload (self);
}

static gboolean
threshold_notified (GStrv       notified,
                    const char *key)
{
  return notified != NULL && g_strv_contains ((const char * const *) notified, key);
}

static void
send_grant_notification (KhApplication *self,
                         KhGrant       *grant,
                         const char    *title,
                         const char    *body)
{
  g_autoptr(GNotification) notification = NULL;
  g_autofree char *id = NULL;

  /* Notification servers identify the sender by application id (tests run without one). */
  if (g_application_get_application_id (G_APPLICATION (self)) == NULL)
    {
      g_debug ("Not sending a notification without an application id: %s", title);
      return;
    }

  notification = g_notification_new (title);
  id = g_strdup_printf ("grant-%s", kh_grant_get_id (grant));
  g_notification_set_body (notification, body);
  g_notification_set_priority (notification, G_NOTIFICATION_PRIORITY_HIGH);
  g_notification_set_default_action_and_target (notification, "app.show-grant", "s",
                                                 kh_grant_get_id (grant));
  g_notification_add_button_with_target (notification, _("Open"), "app.show-grant", "s",
                                         kh_grant_get_id (grant));
  g_application_send_notification (G_APPLICATION (self), id, notification);
}

/* Sends each notification once: GRANT:THRESHOLD keys are kept in GSettings across runs. */
static void
check_notifications (KhApplication *self,
                     gint64         now)
{
  g_auto(GStrv) notified = g_settings_get_strv (self->settings, "notified");
  g_autoptr(GStrvBuilder) keep = g_strv_builder_new ();
  g_autoptr(GVariant) thresholds_v = g_settings_get_value (self->settings, "notify-thresholds");
  gsize n_thresholds = 0;
  const guint32 *thresholds = g_variant_get_fixed_array (thresholds_v, &n_thresholds,
                                                         sizeof (guint32));
  gboolean notify = g_settings_get_boolean (self->settings, "notify");
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->grants));
  g_auto(GStrv) result = NULL;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KhGrant) grant = g_list_model_get_item (G_LIST_MODEL (self->grants), i);
      const char *id = kh_grant_get_id (grant);
      KhGrantStatus status = kh_grant_compute_status (grant, now);
      gint64 end = kh_grant_get_refresh_expires_at (grant);
      const char *name = kh_grant_get_display_name (grant);
      guint best = G_MAXUINT;

      if (status == KH_GRANT_STATUS_NEEDS_REAUTH)
        {
          g_autofree char *key = g_strdup_printf ("%s:reauth", id);

          if (notify && !threshold_notified (notified, key))
            {
              g_autofree char *title = g_strdup_printf (_("%s needs re-authorization"), name);

              send_grant_notification (self, grant, title,
                                       _("TikTok no longer accepts this authorization. Open it "
                                         "and choose Re-authorize."));
            }
          g_strv_builder_add (keep, key);
          continue;
        }

      if (status == KH_GRANT_STATUS_REVOKED || end == 0 || end <= now)
        continue;

      /* The smallest threshold the remaining time is under is the one that counts now. */
      for (gsize t = 0; t < n_thresholds; t++)
        if ((end - now) <= (gint64) thresholds[t] * 86400 && thresholds[t] < best)
          best = thresholds[t];

      if (best != G_MAXUINT)
        {
          g_autofree char *key = g_strdup_printf ("%s:%u", id, best);

          if (notify && !threshold_notified (notified, key))
            {
              int days = (int) ((end - now + 86399) / 86400);
              g_autofree char *title = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                                     "%s ends in %d day",
                                                                     "%s ends in %d days",
                                                                     days), name, days);

              send_grant_notification (self, grant, title,
                                       _("Renew the authorization before it ends, or the "
                                         "account's tokens stop working."));
            }
          g_strv_builder_add (keep, key);
          /* Keep the larger thresholds too, so they do not fire again. */
          for (gsize t = 0; t < n_thresholds; t++)
            if (thresholds[t] > best)
              {
                g_autofree char *larger = g_strdup_printf ("%s:%u", id, thresholds[t]);

                g_strv_builder_add (keep, larger);
              }
        }
    }

  result = g_strv_builder_end (keep);
  if (!g_strv_equal ((const char * const *) result, (const char * const *) notified))
    g_settings_set_strv (self->settings, "notified", (const char * const *) result);
}

void
kh_application_run_maintenance (KhApplication *self)
{
  gint64 now = kh_now ();
  gint64 margin;
  guint n;

  g_return_if_fail (KH_IS_APPLICATION (self));

  if (self->store == NULL)
    return;

  margin = (gint64) g_settings_get_uint (self->settings, "refresh-margin") * 60;
  n = g_list_model_get_n_items (G_LIST_MODEL (self->grants));

  if (g_settings_get_boolean (self->settings, "background-refresh"))
    for (guint i = 0; i < n; i++)
      {
        g_autoptr(KhGrant) grant = g_list_model_get_item (G_LIST_MODEL (self->grants), i);
        const char *id = kh_grant_get_id (grant);
        gint64 access = kh_grant_get_access_expires_at (grant);
        gint64 refresh = kh_grant_get_refresh_expires_at (grant);
        KhGrantStatus status = kh_grant_get_stored_status (grant);

        if (access == 0 || access > now + margin
            || kh_grant_get_token_kind (grant) == KH_TOKEN_KIND_ADVERTISER
            || status == KH_GRANT_STATUS_NEEDS_REAUTH || status == KH_GRANT_STATUS_REVOKED
            || (refresh != 0 && refresh <= now)
            || g_hash_table_contains (self->refreshing, id))
          continue;

        {
          Background *data = g_new0 (Background, 1);

          data->self = g_object_ref (self);
          data->grant_id = g_strdup (id);
          g_hash_table_add (self->refreshing, g_strdup (id));
          kh_broker_get_token_async (self->broker, id, margin, self->cancellable,
                                     background_refresh_cb, data);
        }
      }

  check_notifications (self, now);
}

gboolean
kh_application_maintenance_tick (gpointer user_data)
{
  KhApplication *self = user_data;

  kh_application_reload (self);
  kh_application_run_maintenance (self);

  return G_SOURCE_CONTINUE;
}
