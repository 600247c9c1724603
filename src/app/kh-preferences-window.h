/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-preferences-window.h: Keyhold's preferences, bound to GSettings. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KH_TYPE_PREFERENCES_WINDOW (kh_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (KhPreferencesWindow, kh_preferences_window, KH, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

KhPreferencesWindow *kh_preferences_window_new (GSettings *settings);

G_END_DECLS
