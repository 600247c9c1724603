/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-lifecycle.c: the pure lifecycle of a grant, declared in kh-broker.h: whether tokens need a
 * refresh, the status of a grant and why, and the renewal pack. No I/O: the clock is passed in. */

#define G_LOG_DOMAIN "kh-lifecycle"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-broker.h"

#include "kh-provider.h"
#include "kh-util.h"

gboolean
kh_token_set_needs_refresh (const KhTokenSet *tokens,
                            gint64            min_valid_seconds,
                            gint64            now)
{
  g_return_val_if_fail (tokens != NULL, TRUE);

  if (tokens->access_token == NULL || *tokens->access_token == '\0')
    return TRUE;
  if (tokens->access_expires_at == 0)
    return FALSE;

  /* A token is dead at its expiry second, whatever the margin asked for. */
  return tokens->access_expires_at - now <= 0 ||
         tokens->access_expires_at - now < min_valid_seconds;
}

static char *
format_days (gint64 seconds)
{
  gint64 days = seconds / (24 * 3600);

  if (seconds <= 0)
    return g_strdup (_("now"));
  if (days < 1)
    return g_strdup (_("in less than a day"));

  /* Translators: a deadline, "in 3 days". */
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "in %d day", "in %d days",
                                       (gulong) MIN (days, G_MAXINT)),
                          (int) MIN (days, G_MAXINT));
}

KhGrantStatus
kh_grant_explain_status (KhGrant  *grant,
                         gint64    now,
                         char    **reason_out,
                         gint64   *deadline_out)
{
  const KhProvider *provider;
  const char * const *missing;
  KhGrantStatus status;
  gint64 refresh_expires;
  gint64 access_expires;
  char *reason = NULL;
  gint64 deadline = 0;

  g_return_val_if_fail (KH_IS_GRANT (grant), KH_GRANT_STATUS_ACTIVE);

  provider = kh_provider_get (kh_grant_get_account_type (grant));
  status = kh_grant_compute_status (grant, now);
  refresh_expires = kh_grant_get_refresh_expires_at (grant);
  access_expires = kh_grant_get_access_expires_at (grant);
  missing = kh_grant_get_missing_scopes (grant);

  switch (status)
    {
    case KH_GRANT_STATUS_REVOKED:
      reason = g_strdup (_("The authorization was revoked: authorize the account again"));
      break;

    case KH_GRANT_STATUS_NEEDS_REAUTH:
      /* The mark's own reason says exactly what happened (an interrupted refresh, say). */
      if (kh_grant_get_stored_status (grant) == KH_GRANT_STATUS_NEEDS_REAUTH &&
          kh_grant_get_status_reason (grant) != NULL)
        reason = g_strdup (kh_grant_get_status_reason (grant));
      else if (kh_grant_get_stored_status (grant) == KH_GRANT_STATUS_NEEDS_REAUTH)
        reason = g_strdup (_("TikTok no longer accepts this authorization (ended, cancelled or "
                             "deauthorized): the account holder must authorize again"));
      else
        reason = g_strdup (_("The authorization has ended: the account holder must authorize "
                             "again"));
      deadline = refresh_expires != 0 ? refresh_expires : access_expires;
      break;

    case KH_GRANT_STATUS_EXPIRING:
      if (refresh_expires != 0 && refresh_expires - now <= KH_EXPIRING_WINDOW)
        {
          g_autofree char *when = format_days (refresh_expires - now);
          const char *renew = provider->renew_path != NULL ? _(provider->renew_path)
                                                           : _("re-open the authorization link");

          /* Only the shop owner can renew: say who must act and where. */
          reason = g_strdup_printf (_("The authorization ends %s: the owner must renew it (%s)"),
                                    when, renew);
          deadline = refresh_expires;
        }
      else
        {
          g_autofree char *list = g_strjoinv (", ", (char **) missing);

          reason = g_strdup_printf (_("Scopes the app needs were not granted (%s): the account "
                                      "holder must remove all access and authorize again"),
                                    list);
        }
      break;

    case KH_GRANT_STATUS_ACTIVE:
    default:
      reason = g_strdup (_("Active"));
      break;
    }

  if (reason_out != NULL)
    *reason_out = reason;
  else
    g_free (reason);
  if (deadline_out != NULL)
    *deadline_out = deadline;

  return status;
}

char *
kh_grant_renewal_pack (KhGrant       *grant,
                       KhAppProfile  *app,
                       const char    *auth_url,
                       gint64         now)
{
  const KhProvider *provider;
  g_autoptr(GString) text = g_string_new (NULL);
  gint64 deadline;
  const char *link;

  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);
  g_return_val_if_fail (app == NULL || KH_IS_APP_PROFILE (app), NULL);

  provider = kh_provider_get (kh_grant_get_account_type (grant));
  deadline = kh_grant_get_refresh_expires_at (grant);
  link = auth_url != NULL ? auth_url : (app != NULL ? kh_app_profile_get_auth_link (app) : NULL);

  g_string_append_printf (text, _("Hello,\n\nThe authorization you gave for “%s” (%s) "),
                          kh_grant_get_display_name (grant), _(provider->title));
  if (deadline != 0 && deadline > now)
    {
      g_autofree char *date = kh_iso8601_from_unix (deadline);
      g_autofree char *when = format_days (deadline - now);

      g_string_append_printf (text, _("ends on %s (%s).\n"), date, when);
    }
  else if (deadline != 0)
    g_string_append (text, _("has ended.\n"));
  else
    g_string_append (text, _("needs to be renewed.\n"));

  g_string_append (text, _("Only the shop owner can renew it. Please do one of these:\n\n"));
  if (link != NULL)
    g_string_append_printf (text, _("1. Open this authorization link and approve: %s\n"), link);
  else
    g_string_append (text, _("1. Open the authorization link we send you and approve.\n"));
  if (provider->family == KH_FAMILY_SHOP && provider->type != KH_ACCOUNT_CREATOR)
    {
      const char *path = provider->type == KH_ACCOUNT_PARTNER
                         ? _("Partner Center > My account > My authorizations")
                         : _("Seller Center > App Store > My apps and incidents");

      g_string_append_printf (text, _("2. Or in %s, find the app and renew the "
                                      "authorization.\n"), path);
    }
  else if (provider->renew_path != NULL)
    g_string_append_printf (text, _("2. Or: %s.\n"), _(provider->renew_path));

  if (deadline != 0 && deadline > now)
    {
      g_autofree char *date = kh_iso8601_from_unix (deadline);

      g_string_append_printf (text, _("\nDeadline: %s. After it, the connection stops until the "
                                      "owner authorizes again.\n"), date);
    }

  return g_string_free (g_steal_pointer (&text), FALSE);
}
