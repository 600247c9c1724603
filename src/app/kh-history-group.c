/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-history-group.c: the History section (kh-history-group.h). The rows are data: the group
 * replaces them whenever it is given a new list. */

#define G_LOG_DOMAIN "kh-history-group"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-history-group.h"

#include "kh-grant-row.h"

struct _KhHistoryGroup
{
  AdwPreferencesGroup  parent_instance;

  /* owned */
  GPtrArray           *rows;      /* the GtkWidgets this group added */
  guint                n_events;
};

G_DEFINE_FINAL_TYPE (KhHistoryGroup, kh_history_group, ADW_TYPE_PREFERENCES_GROUP)

static void
clear_rows (KhHistoryGroup *self)
{
  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (ADW_PREFERENCES_GROUP (self), g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);
  self->n_events = 0;
}

static AdwActionRow *
add_row (KhHistoryGroup *self,
         const char     *title,
         const char     *subtitle)
{
  AdwActionRow *row = ADW_ACTION_ROW (adw_action_row_new ());

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (subtitle != NULL)
    adw_action_row_set_subtitle (row, subtitle);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (self), GTK_WIDGET (row));
  g_ptr_array_add (self->rows, row);
  return row;
}

/* When, and by whom when it was not this user on this computer (a team's audit rows). */
static char *
format_subtitle (KhHistoryEntry *entry)
{
  g_autofree char *when = kh_format_time (kh_history_entry_get_at (entry));
  const char *actor = kh_history_entry_get_actor (entry);
  const char *machine = kh_history_entry_get_machine (entry);

  if (g_strcmp0 (actor, g_get_user_name ()) == 0 && g_strcmp0 (machine, g_get_host_name ()) == 0)
    return g_steal_pointer (&when);
  /* TRANSLATORS: "<time> · by <user> on <computer>" under an event of the history. */
  return g_strdup_printf (_("%s · by %s on %s"), when, actor, machine);
}

static int
compare_newest_first (gconstpointer a,
                      gconstpointer b)
{
  gint64 at_a = kh_history_entry_get_at (*(KhHistoryEntry **) a);
  gint64 at_b = kh_history_entry_get_at (*(KhHistoryEntry **) b);

  return at_a < at_b ? 1 : at_a > at_b ? -1 : 0;
}

void
kh_history_group_set_entries (KhHistoryGroup *self,
                              GPtrArray      *entries)
{
  g_autoptr(GPtrArray) sorted = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_history_entry_unref);
  guint shown;

  g_return_if_fail (KH_IS_HISTORY_GROUP (self));

  clear_rows (self);
  /* Taken last to first, then sorted stably: events of the same second (a list is kept oldest
   * first) come out newest first too. */
  for (guint i = entries != NULL ? entries->len : 0; i > 0; i--)
    g_ptr_array_add (sorted, kh_history_entry_ref (g_ptr_array_index (entries, i - 1)));
  g_ptr_array_sort (sorted, compare_newest_first);

  if (sorted->len == 0)
    {
      adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self),
                                             _("Nothing has happened to this grant yet."));
      return;
    }

  shown = MIN (sorted->len, KH_HISTORY_GROUP_MAX_ROWS);
  for (guint i = 0; i < shown; i++)
    {
      KhHistoryEntry *entry = g_ptr_array_index (sorted, i);
      g_autofree char *sentence = kh_history_entry_describe (entry);
      g_autofree char *subtitle = format_subtitle (entry);

      add_row (self, sentence, subtitle);
    }
  self->n_events = shown;

  if (sorted->len > shown)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "Newest first; %u older event is "
                                                            "not shown: “keyhold-cli history” "
                                                            "lists them all.",
                                                            "Newest first; %u older events are "
                                                            "not shown: “keyhold-cli history” "
                                                            "lists them all.",
                                                            sorted->len - shown),
                                               sorted->len - shown);

      adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self), text);
    }
  else
    adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self), _("Newest first."));
}

void
kh_history_group_set_error (KhHistoryGroup *self,
                            const GError   *error)
{
  AdwActionRow *row;

  g_return_if_fail (KH_IS_HISTORY_GROUP (self));
  g_return_if_fail (error != NULL);

  clear_rows (self);
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (self), NULL);
  row = add_row (self, _("The history could not be read"), error->message);
  gtk_widget_add_css_class (GTK_WIDGET (row), "error");
}

guint
kh_history_group_get_n_events (KhHistoryGroup *self)
{
  g_return_val_if_fail (KH_IS_HISTORY_GROUP (self), 0);

  return self->n_events;
}

static void
kh_history_group_finalize (GObject *object)
{
  KhHistoryGroup *self = KH_HISTORY_GROUP (object);

  g_ptr_array_unref (self->rows);

  G_OBJECT_CLASS (kh_history_group_parent_class)->finalize (object);
}

static void
kh_history_group_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), KH_TYPE_HISTORY_GROUP);

  G_OBJECT_CLASS (kh_history_group_parent_class)->dispose (object);
}

static void
kh_history_group_class_init (KhHistoryGroupClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kh_history_group_dispose;
  object_class->finalize = kh_history_group_finalize;

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/keyhold/Keyhold/kh-history-group.ui");
}

static void
kh_history_group_init (KhHistoryGroup *self)
{
  self->rows = g_ptr_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}

KhHistoryGroup *
kh_history_group_new (void)
{
  return g_object_new (KH_TYPE_HISTORY_GROUP, NULL);
}
