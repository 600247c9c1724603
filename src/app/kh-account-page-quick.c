/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page-quick.c: an account page's Quick Connect: the App Secret and the address an App
 * Store install landed on, straight to a grant through KhFlow. */

#define G_LOG_DOMAIN "kh-account-page"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "kh-account-page-private.h"

/* ---- Quick Connect -------------------------------------------------------------------------- */

static void
quick_connect_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(KhAccountPage) self = user_data;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(GError) error = NULL;

  grant = kh_flow_quick_connect_finish (KH_FLOW (object), result, &error);
  kh_account_page_set_busy (self, FALSE);

  if (grant == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        gtk_label_set_text (self->quick_error_label, error->message);
      return;
    }

  gtk_label_set_text (self->quick_error_label, "");
  gtk_editable_set_text (GTK_EDITABLE (self->quick_secret_row), "");
  gtk_editable_set_text (GTK_EDITABLE (self->quick_url_row), "");
  kh_account_page_flow_succeeded (self, grant);
}

void
kh_account_page_on_quick_connect_clicked (KhAccountPage *self)
{
  g_autofree char *secret = g_strstrip (g_strdup (gtk_editable_get_text (
                                          GTK_EDITABLE (self->quick_secret_row))));
  g_autofree char *url = g_strstrip (g_strdup (gtk_editable_get_text (
                                       GTK_EDITABLE (self->quick_url_row))));
  KhFlow *flow;

  if (self->busy || kh_app_context_get_store (self->context) == NULL)
    return;

  if (*secret == '\0')
    {
      gtk_label_set_text (self->quick_error_label, _("Enter the App Secret of the app"));
      gtk_widget_grab_focus (GTK_WIDGET (self->quick_secret_row));
      return;
    }
  if (*url == '\0')
    {
      gtk_label_set_text (self->quick_error_label,
                          _("Paste the address the browser landed on after the install"));
      gtk_widget_grab_focus (GTK_WIDGET (self->quick_url_row));
      return;
    }

  gtk_label_set_text (self->quick_error_label, "");
  flow = kh_account_page_new_flow (self);
  kh_account_page_set_busy (self, TRUE);
  kh_flow_quick_connect_async (flow, secret, url, self->cancellable, quick_connect_cb,
                               g_object_ref (self));
  memset (secret, 0, strlen (secret));
}
