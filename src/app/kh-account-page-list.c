/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-account-page-list.c: an account page's grant list: its rows (KhGrantRow), activating one, and
 * the one row menu (Menu, Shift+F10, secondary click). */

#define G_LOG_DOMAIN "kh-account-page"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-account-page-private.h"

#include "kh-grant-row.h"

/* ---- list ----------------------------------------------------------------------------------- */

void
kh_account_page_setup_row (GtkSignalListItemFactory *factory,
                           GtkListItem              *item,
                           gpointer                  user_data)
{
  gtk_list_item_set_child (item, GTK_WIDGET (kh_grant_row_new ()));
}

void
kh_account_page_bind_row (GtkSignalListItemFactory *factory,
                          GtkListItem              *item,
                          gpointer                  user_data)
{
  kh_grant_row_set_grant (KH_GRANT_ROW (gtk_list_item_get_child (item)),
                          gtk_list_item_get_item (item));
}

void
kh_account_page_unbind_row (GtkSignalListItemFactory *factory,
                            GtkListItem              *item,
                            gpointer                  user_data)
{
  kh_grant_row_set_grant (KH_GRANT_ROW (gtk_list_item_get_child (item)), NULL);
}

/* -- the row menu: one popover for the page, for the row it was opened on -- */

static void
row_menu_closed_cb (KhAccountPage *self)
{
  GtkWidget *row = self->menu_row;

  /* Back to the row the menu came from, so the keyboard goes on where it was. */
  if (row != NULL && gtk_widget_get_mapped (row) && gtk_widget_get_parent (row) != NULL)
    gtk_widget_grab_focus (gtk_widget_get_parent (row));
  g_clear_weak_pointer (&self->menu_row);
}

static void
open_row_menu (KhAccountPage         *self,
               KhGrantRow            *row,
               const graphene_rect_t *at)
{
  KhGrant *grant = kh_grant_row_get_grant (row);
  g_autoptr(GMenuModel) menu = NULL;
  graphene_rect_t bounds;
  GdkRectangle rect;

  if (grant == NULL)
    return;

  if (self->row_menu == NULL)
    {
      self->row_menu = GTK_POPOVER_MENU (gtk_popover_menu_new_from_model (NULL));
      gtk_widget_set_parent (GTK_WIDGET (self->row_menu), GTK_WIDGET (self));
      gtk_popover_set_position (GTK_POPOVER (self->row_menu), GTK_POS_BOTTOM);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->row_menu),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Authorization Menu"), -1);
      g_signal_connect_object (self->row_menu, "closed", G_CALLBACK (row_menu_closed_cb), self,
                               G_CONNECT_SWAPPED);
    }

  /* A new model each time: the menu of one grant must never act on another. */
  menu = kh_grant_menu_new (grant);
  gtk_popover_menu_set_menu_model (self->row_menu, menu);
  g_set_weak_pointer (&self->menu_row, GTK_WIDGET (row));

  if (at != NULL)
    bounds = *at;
  else if (!gtk_widget_compute_bounds (GTK_WIDGET (row), GTK_WIDGET (self), &bounds))
    graphene_rect_init (&bounds, 0, 0, gtk_widget_get_width (GTK_WIDGET (self)), 1);
  else
    /* Under the row's end, where the "more" icon is. */
    graphene_rect_init (&bounds, bounds.origin.x + bounds.size.width - 32,
                        bounds.origin.y + bounds.size.height / 2, 1, 1);
  rect.x = (int) bounds.origin.x;
  rect.y = (int) bounds.origin.y;
  rect.width = MAX ((int) bounds.size.width, 1);
  rect.height = MAX ((int) bounds.size.height, 1);
  gtk_popover_set_pointing_to (GTK_POPOVER (self->row_menu), &rect);
  gtk_popover_popup (GTK_POPOVER (self->row_menu));
}

/* The row of the list that has the keyboard focus. */
static KhGrantRow *
focused_row (KhAccountPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;

  if (focus == NULL || self->list_view == NULL
      || !gtk_widget_is_ancestor (focus, GTK_WIDGET (self->list_view)))
    return NULL;
  if (KH_IS_GRANT_ROW (focus))
    return KH_GRANT_ROW (focus);
  /* The list's item widget has the focus; the row is its child. */
  focus = gtk_widget_get_first_child (focus);

  return focus != NULL && KH_IS_GRANT_ROW (focus) ? KH_GRANT_ROW (focus) : NULL;
}

/* Enter, a click or a double click on a row: its menu. */
void
kh_account_page_on_list_activate (KhAccountPage *self,
                                  guint          position)
{
  g_autoptr(KhGrant) grant = g_list_model_get_item (self->model, position);
  KhGrantRow *row = focused_row (self);

  if (grant == NULL)
    return;
  if (row == NULL || kh_grant_row_get_grant (row) != grant)
    {
      /* Activated without the focus on it (a click lands there first, a test does not): find
       * the row among the list's children. */
      row = NULL;
      for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->list_view));
           child != NULL && row == NULL; child = gtk_widget_get_next_sibling (child))
        {
          GtkWidget *inner = gtk_widget_get_first_child (child);

          if (inner != NULL && KH_IS_GRANT_ROW (inner)
              && kh_grant_row_get_grant (KH_GRANT_ROW (inner)) == grant)
            row = KH_GRANT_ROW (inner);
        }
    }
  if (row != NULL)
    open_row_menu (self, row, NULL);
}

/* Right click (or a long press) on a row: its menu, where the pointer is. */
void
kh_account_page_on_list_secondary_click (GtkGestureClick *gesture,
                                         int              n_press,
                                         double           x,
                                         double           y,
                                         KhAccountPage   *self)
{
  GtkWidget *picked = gtk_widget_pick (GTK_WIDGET (self->list_view), x, y, GTK_PICK_DEFAULT);
  graphene_point_t point;

  while (picked != NULL && !KH_IS_GRANT_ROW (picked))
    picked = gtk_widget_get_parent (picked);
  if (picked == NULL)
    return;

  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  if (!gtk_widget_compute_point (GTK_WIDGET (self->list_view), GTK_WIDGET (self),
                                 &GRAPHENE_POINT_INIT (x, y), &point))
    point = GRAPHENE_POINT_INIT (x, y);
  open_row_menu (self, KH_GRANT_ROW (picked),
                 &GRAPHENE_RECT_INIT (point.x, point.y, 1, 1));
}

/* The Menu key or Shift+F10 on a row. */
void
kh_account_page_row_menu_action (GtkWidget  *widget,
                                 const char *action_name,
                                 GVariant   *parameter)
{
  KhAccountPage *self = KH_ACCOUNT_PAGE (widget);
  KhGrantRow *row = focused_row (self);

  if (row != NULL)
    open_row_menu (self, row, NULL);
}

GtkPopover *
kh_account_page_get_row_menu (KhAccountPage *self)
{
  g_return_val_if_fail (KH_IS_ACCOUNT_PAGE (self), NULL);

  return self->row_menu != NULL ? GTK_POPOVER (self->row_menu) : NULL;
}
