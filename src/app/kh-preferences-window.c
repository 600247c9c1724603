/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-preferences-window.c: every control is bound straight to its GSettings key, so the app
 * and the background refresh see a change at once. */

#define G_LOG_DOMAIN "kh-preferences-window"

#include "config.h"

#include <glib/gi18n.h>
#include <stdlib.h>

#include "kh-preferences-window.h"

struct _KhPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  /* template widgets */
  GtkSpinButton        *port_spin;
  GtkSwitch            *background_switch;
  GtkSpinButton        *margin_spin;
  GtkSwitch            *notify_switch;
  AdwEntryRow          *thresholds_row;

  /* owned */
  GSettings            *settings;
};

G_DEFINE_FINAL_TYPE (KhPreferencesWindow, kh_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
show_thresholds (KhPreferencesWindow *self)
{
  g_autoptr(GVariant) value = g_settings_get_value (self->settings, "notify-thresholds");
  g_autoptr(GString) text = g_string_new (NULL);
  gsize n = 0;
  const guint32 *days = g_variant_get_fixed_array (value, &n, sizeof (guint32));

  for (gsize i = 0; i < n; i++)
    g_string_append_printf (text, "%s%u", i > 0 ? ", " : "", days[i]);
  gtk_editable_set_text (GTK_EDITABLE (self->thresholds_row), text->str);
}

static void
on_thresholds_apply (KhPreferencesWindow *self)
{
  g_auto(GStrv) parts = g_strsplit_set (gtk_editable_get_text (GTK_EDITABLE (self->thresholds_row)),
                                        ", ", -1);
  GVariantBuilder builder;
  gboolean valid = TRUE;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("au"));
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 days;

      if (*parts[i] == '\0')
        continue;
      if (!g_ascii_string_to_unsigned (parts[i], 10, 1, 365, &days, NULL))
        {
          valid = FALSE;
          break;
        }
      g_variant_builder_add (&builder, "u", (guint32) days);
    }

  if (!valid)
    {
      g_variant_builder_clear (&builder);
      gtk_widget_add_css_class (GTK_WIDGET (self->thresholds_row), "error");
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (_("Use whole numbers of days from 1 to "
                                                         "365, e.g. 30, 7, 1")));
      return;
    }

  gtk_widget_remove_css_class (GTK_WIDGET (self->thresholds_row), "error");
  g_settings_set_value (self->settings, "notify-thresholds", g_variant_builder_end (&builder));
  show_thresholds (self);
}

static void
kh_preferences_window_dispose (GObject *object)
{
  KhPreferencesWindow *self = KH_PREFERENCES_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), KH_TYPE_PREFERENCES_WINDOW);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (kh_preferences_window_parent_class)->dispose (object);
}

static void
kh_preferences_window_class_init (KhPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kh_preferences_window_dispose;

  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/keyhold/Keyhold/kh-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, port_spin);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, background_switch);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, margin_spin);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, notify_switch);
  gtk_widget_class_bind_template_child (widget_class, KhPreferencesWindow, thresholds_row);
  gtk_widget_class_bind_template_callback (widget_class, on_thresholds_apply);
}

static void
kh_preferences_window_init (KhPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

KhPreferencesWindow *
kh_preferences_window_new (GSettings *settings)
{
  KhPreferencesWindow *self;

  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  self = g_object_new (KH_TYPE_PREFERENCES_WINDOW, NULL);
  self->settings = g_object_ref (settings);

  g_settings_bind (settings, "redirect-port", self->port_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "refresh-margin", self->margin_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "background-refresh", self->background_switch, "active",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify", self->notify_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "notify", self->thresholds_row, "sensitive",
                   G_SETTINGS_BIND_GET);
  show_thresholds (self);

  return self;
}
