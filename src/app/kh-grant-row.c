/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant-row.c: a row of the grants list. GtkListView builds a couple of hundred rows at once
 * and recycles them, so a row is light (one label with markup for the three lines, the status
 * pill, a "more" icon; no button and no popover of its own) and binding is cheap: the text is
 * computed once per grant object. The menu is the page's, built when it opens. */

#define G_LOG_DOMAIN "kh-grant-row"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-grant-row.h"

#include "kh-provider.h"
#include "kh-util.h"

struct _KhGrantRow
{
  AdwBin         parent_instance;

  /* child widgets */
  GtkLabel      *text_label;
  GtkWidget     *shared_icon;
  GtkLabel      *status_label;

  /* owned */
  KhGrant       *grant;
  GMenuModel    *menu;
};

G_DEFINE_FINAL_TYPE (KhGrantRow, kh_grant_row, ADW_TYPE_BIN)

/* ---- wording -------------------------------------------------------------------------------- */

char *
kh_format_time (gint64 unix_time)
{
  g_autoptr(GDateTime) utc = NULL;
  g_autoptr(GDateTime) local = NULL;

  if (unix_time == 0)
    return g_strdup (_("never"));

  utc = g_date_time_new_from_unix_utc (unix_time);
  if (utc == NULL)
    return g_strdup ("?");
  local = g_date_time_to_local (utc);

  /* Translators: a date and time in local time, see g_date_time_format() */
  return g_date_time_format (local, _("%e %b %Y, %H:%M"));
}

char *
kh_format_relative (gint64 unix_time,
                    gint64 now)
{
  gint64 delta = unix_time - now;
  gint64 span = ABS (delta);
  int amount;

  if (span < 60)
    return g_strdup (delta >= 0 ? _("in less than a minute") : _("just now"));

  if (span < 3600)
    {
      amount = (int) (span / 60);
      return g_strdup_printf (delta >= 0
                              ? g_dngettext (GETTEXT_PACKAGE, "in %d minute", "in %d minutes",
                                             amount)
                              : g_dngettext (GETTEXT_PACKAGE, "%d minute ago", "%d minutes ago",
                                             amount), amount);
    }

  if (span < 2 * 86400)
    {
      amount = (int) (span / 3600);
      return g_strdup_printf (delta >= 0
                              ? g_dngettext (GETTEXT_PACKAGE, "in %d hour", "in %d hours", amount)
                              : g_dngettext (GETTEXT_PACKAGE, "%d hour ago", "%d hours ago",
                                             amount), amount);
    }

  amount = (int) (span / 86400);
  return g_strdup_printf (delta >= 0
                          ? g_dngettext (GETTEXT_PACKAGE, "in %d day", "in %d days", amount)
                          : g_dngettext (GETTEXT_PACKAGE, "%d day ago", "%d days ago", amount),
                          amount);
}

gint64
kh_grant_get_end (KhGrant *grant)
{
  gint64 end;

  g_return_val_if_fail (KH_IS_GRANT (grant), 0);

  end = kh_grant_get_refresh_expires_at (grant);

  return end != 0 ? end : kh_grant_get_access_expires_at (grant);
}

char *
kh_grant_describe_status (KhGrant *grant,
                          gint64   now)
{
  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);

  switch (kh_grant_compute_status (grant, now))
    {
    case KH_GRANT_STATUS_EXPIRING:
      {
        gint64 left = kh_grant_get_end (grant) - now;
        int days = (int) ((MAX (left, 0) + 86399) / 86400);

        return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Expires in %d day",
                                             "Expires in %d days", days), days);
      }
    case KH_GRANT_STATUS_NEEDS_REAUTH:
      return g_strdup (_("Needs Re-authorization"));
    case KH_GRANT_STATUS_REVOKED:
      return g_strdup (_("Revoked"));
    case KH_GRANT_STATUS_ACTIVE:
    default:
      return g_strdup (_("Active"));
    }
}

static char *
describe_expiry (const char *what,
                 gint64      when,
                 gint64      now)
{
  g_autofree char *time = NULL;
  g_autofree char *relative = NULL;

  if (when == 0)
    /* Translators: "Access token: never expires" */
    return g_strdup_printf (_("%s: never expires"), what);

  time = kh_format_time (when);
  relative = kh_format_relative (when, now);

  /* Translators: "Access token: 21 Nov 2026, 22:10 (in 4 hours)" */
  return g_strdup_printf (_("%s: %s (%s)"), what, time, relative);
}

/* ---- menu ----------------------------------------------------------------------------------- */

static void
append_item (GMenu      *menu,
             const char *label,
             const char *action,
             const char *grant_id)
{
  g_autoptr(GMenuItem) item = g_menu_item_new (label, NULL);

  g_menu_item_set_action_and_target_value (item, action, g_variant_new_string (grant_id));
  g_menu_append_item (menu, item);
}

GMenuModel *
kh_grant_menu_new (KhGrant *grant)
{
  const char *id;
  KhAccountType type;
  GMenu *menu;
  g_autoptr(GMenu) use = g_menu_new ();
  g_autoptr(GMenu) renew = g_menu_new ();
  g_autoptr(GMenu) end = g_menu_new ();
  const char *details;

  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);

  id = kh_grant_get_id (grant);
  type = kh_grant_get_account_type (grant);
  menu = g_menu_new ();

  append_item (use, _("_Copy Access Token"), "grant.copy-token", id);
  if (kh_grant_get_token_kind (grant) != KH_TOKEN_KIND_ADVERTISER)
    append_item (use, _("_Refresh Now"), "grant.refresh", id);
  if (type == KH_ACCOUNT_SELLER || type == KH_ACCOUNT_PARTNER)
    details = _("_Shops");
  else if (type == KH_ACCOUNT_ADVERTISER
           || kh_grant_get_token_kind (grant) == KH_TOKEN_KIND_ADVERTISER)
    details = _("_Advertisers");
  else
    details = _("_Details");
  append_item (use, details, "grant.details", id);
  /* A shared grant's client label decides who in the team sees it: admins change it. */
  if (!kh_grant_get_shared (grant))
    append_item (use, _("Set Client _Label…"), "grant.set-label", id);

  append_item (renew, _("Renewal _Pack"), "grant.renewal-pack", id);
  append_item (renew, _("Re-_authorize"), "grant.reauthorize", id);

  append_item (end, _("Re_voke…"), "grant.revoke", id);
  append_item (end, _("Re_move…"), "grant.remove", id);

  g_menu_append_section (menu, NULL, G_MENU_MODEL (use));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (renew));
  g_menu_append_section (menu, NULL, G_MENU_MODEL (end));

  return G_MENU_MODEL (menu);
}

GMenuModel *
kh_grant_row_get_menu (KhGrantRow *self)
{
  g_return_val_if_fail (KH_IS_GRANT_ROW (self), NULL);

  if (self->menu == NULL && self->grant != NULL)
    self->menu = kh_grant_menu_new (self->grant);

  return self->menu;
}

/* ---- row ------------------------------------------------------------------------------------ */

static const char *
status_class (KhGrantStatus status)
{
  switch (status)
    {
    case KH_GRANT_STATUS_EXPIRING:
      return "warning";
    case KH_GRANT_STATUS_NEEDS_REAUTH:
      return "error";
    case KH_GRANT_STATUS_REVOKED:
      return "revoked";
    case KH_GRANT_STATUS_ACTIVE:
    default:
      return "success";
    }
}

/* What a row shows, computed once per grant object: rows are rebound constantly while the
 * user scrolls or searches, and the wording (dates in local time, relative times) is the
 * costly part. Reloads bring new grant objects, so the text stays current. */
typedef struct
{
  char       *status;
  const char *status_class;
  char       *markup;       /* name, subtitle, expiries */
  char       *accessible;   /* name and status */
  char       *description;  /* subtitle and expiries, plain; the mark's reason */
  char       *reason;       /* why it is marked (the status' tooltip), or NULL */
} RowText;

static GQuark row_text_quark;

static void
row_text_free (RowText *text)
{
  g_free (text->status);
  g_free (text->markup);
  g_free (text->accessible);
  g_free (text->description);
  g_free (text->reason);
  g_free (text);
}

static RowText *
row_text_new (KhGrant *grant)
{
  RowText *text = g_new0 (RowText, 1);
  g_autoptr(GString) subtitle = g_string_new (NULL);
  g_autofree char *access = NULL;
  g_autofree char *authorization = NULL;
  g_autofree char *expiry = NULL;
  const KhProvider *provider = kh_provider_get (kh_grant_get_account_type (grant));
  const char *region = kh_grant_get_region (grant);
  const char *client = kh_grant_get_client_label (grant);
  GPtrArray *shops = kh_grant_get_shops (grant);
  GPtrArray *advertisers = kh_grant_get_advertisers (grant);
  const char *storage;
  gint64 now = kh_now ();

  text->status = kh_grant_describe_status (grant, now);
  text->status_class = status_class (kh_grant_compute_status (grant, now));

  if (client != NULL)
    g_string_append (subtitle, client);
  if (kh_grant_get_role (grant) != NULL)
    {
      const KhProviderRole *role = kh_provider_get_role (provider, kh_grant_get_role (grant));

      if (role != NULL)
        g_string_append_printf (subtitle, "%s%s", subtitle->len ? " · " : "", _(role->title));
    }
  if (region != NULL)
    {
      g_autofree char *upper = g_ascii_strup (region, -1);

      g_string_append_printf (subtitle, "%s%s", subtitle->len ? " · " : "",
                              g_str_equal (upper, "ROW") ? _("Rest of the World") : upper);
    }
  g_string_append_printf (subtitle, "%s%s", subtitle->len ? " · " : "",
                          kh_grant_get_app_name (grant));
  if (shops != NULL && shops->len > 0)
    {
      g_string_append (subtitle, " · ");
      g_string_append_printf (subtitle, g_dngettext (GETTEXT_PACKAGE, "%u shop", "%u shops",
                                                     shops->len), shops->len);
    }
  if (advertisers != NULL && advertisers->len > 0)
    {
      g_string_append (subtitle, " · ");
      g_string_append_printf (subtitle, g_dngettext (GETTEXT_PACKAGE, "%u advertiser",
                                                     "%u advertisers", advertisers->len),
                              advertisers->len);
    }
  access = describe_expiry (_("Access token"), kh_grant_get_access_expires_at (grant), now);
  if (kh_grant_get_refresh_expires_at (grant) != 0)
    {
      authorization = describe_expiry (_("Authorization"),
                                       kh_grant_get_refresh_expires_at (grant), now);
      expiry = g_strdup_printf ("%s · %s", access, authorization);
    }
  else
    expiry = g_steal_pointer (&access);

  /* The three lines the row used to have as three labels: bold name, dimmed details, small
   * dimmed expiries (the alpha of libadwaita's dim-label, so dark styles follow). */
  text->markup = g_markup_printf_escaped ("<b>%s</b>\n"
                                          "<span alpha=\"55%%\">%s</span>\n"
                                          "<span size=\"small\" alpha=\"55%%\">%s</span>",
                                          kh_grant_get_display_name (grant), subtitle->str,
                                          expiry);
  text->accessible = g_strdup_printf ("%s, %s", kh_grant_get_display_name (grant),
                                      text->status);
  /* An interrupted refresh, a cancelled authorization: the row says why it needs attention. */
  if (kh_grant_compute_status (grant, now) == KH_GRANT_STATUS_NEEDS_REAUTH)
    text->reason = g_strdup (kh_grant_get_status_reason (grant));
  /* Translators: the end of a grant row's description for screen readers. */
  storage = kh_grant_get_shared (grant) ? _("Shared with the team") : _("Kept on this computer");
  if (text->reason != NULL)
    text->description = g_strdup_printf ("%s. %s. %s. %s", subtitle->str, expiry, text->reason,
                                         storage);
  else
    text->description = g_strdup_printf ("%s. %s. %s", subtitle->str, expiry, storage);

  return text;
}

void
kh_grant_row_set_grant (KhGrantRow *self,
                        KhGrant    *grant)
{
  const char *classes[] = { "kh-status", NULL, NULL };
  RowText *text;

  g_return_if_fail (KH_IS_GRANT_ROW (self));
  g_return_if_fail (grant == NULL || KH_IS_GRANT (grant));

  if (!g_set_object (&self->grant, grant))
    return;

  /* The menu of the previous grant must never act on this one. */
  g_clear_object (&self->menu);

  if (grant == NULL)
    return;

  text = g_object_get_qdata (G_OBJECT (grant), row_text_quark);
  if (text == NULL)
    {
      text = row_text_new (grant);
      g_object_set_qdata_full (G_OBJECT (grant), row_text_quark, text,
                               (GDestroyNotify) row_text_free);
    }

  gtk_label_set_markup (self->text_label, text->markup);
  gtk_widget_set_visible (self->shared_icon, kh_grant_get_shared (grant));
  gtk_label_set_text (self->status_label, text->status);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), text->reason);
  classes[1] = text->status_class;
  gtk_widget_set_css_classes (GTK_WIDGET (self->status_label), classes);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, text->accessible,
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, text->description,
                                  -1);
}

KhGrant *
kh_grant_row_get_grant (KhGrantRow *self)
{
  g_return_val_if_fail (KH_IS_GRANT_ROW (self), NULL);

  return self->grant;
}

static void
kh_grant_row_dispose (GObject *object)
{
  KhGrantRow *self = KH_GRANT_ROW (object);

  g_clear_object (&self->grant);
  g_clear_object (&self->menu);

  G_OBJECT_CLASS (kh_grant_row_parent_class)->dispose (object);
}

static void
kh_grant_row_class_init (KhGrantRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = kh_grant_row_dispose;

  row_text_quark = g_quark_from_static_string ("kh-grant-row-text");
}

/* Rows are built in code rather than from a template: the list builds a few hundred of them at
 * startup, and GtkBuilder parsing was a large part of the time to the first frame. */
static void
kh_grant_row_init (KhGrantRow *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *more = gtk_image_new_from_icon_name ("view-more-symbolic");

  gtk_widget_set_margin_top (box, 8);
  gtk_widget_set_margin_bottom (box, 8);
  gtk_widget_set_margin_start (box, 6);
  gtk_widget_set_margin_end (box, 6);

  self->text_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->text_label, 0);
  /* Each line ends in "…" on its own when the window is narrow. */
  gtk_label_set_ellipsize (self->text_label, PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (GTK_WIDGET (self->text_label), TRUE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->text_label));

  /* Shared grants live in the team's database; the row's description says so in words. */
  self->shared_icon = gtk_image_new_from_icon_name ("system-users-symbolic");
  gtk_widget_set_tooltip_text (self->shared_icon, _("Shared with the team"));
  gtk_widget_add_css_class (self->shared_icon, "dim-label");
  gtk_widget_set_visible (self->shared_icon, FALSE);
  gtk_accessible_update_state (GTK_ACCESSIBLE (self->shared_icon), GTK_ACCESSIBLE_STATE_HIDDEN,
                               TRUE, -1);
  gtk_box_append (GTK_BOX (box), self->shared_icon);

  self->status_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_set_valign (GTK_WIDGET (self->status_label), GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (GTK_WIDGET (self->status_label), "kh-status");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->status_label));

  /* What a click on the row opens; the row itself is the button (and has the popup). */
  gtk_widget_add_css_class (more, "dim-label");
  gtk_accessible_update_state (GTK_ACCESSIBLE (more), GTK_ACCESSIBLE_STATE_HIDDEN, TRUE, -1);
  gtk_box_append (GTK_BOX (box), more);

  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_HAS_POPUP, TRUE,
                                  -1);
  adw_bin_set_child (ADW_BIN (self), box);
}

KhGrantRow *
kh_grant_row_new (void)
{
  return g_object_new (KH_TYPE_GRANT_ROW, NULL);
}
