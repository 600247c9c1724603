/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-preferences-window.h: Keyhold's preferences, bound to GSettings, and the Storage page: where
 * the secrets are (the desktop keyring, or libsecret's own file inside Flatpak, which Passwords and
 * Keys does not show) and "Forget All". */
#pragma once

#include <adwaita.h>

#include "kh-app-context.h"

G_BEGIN_DECLS

#define KH_TYPE_PREFERENCES_WINDOW (kh_preferences_window_get_type ())
G_DECLARE_FINAL_TYPE (KhPreferencesWindow, kh_preferences_window, KH, PREFERENCES_WINDOW,
                      AdwPreferencesWindow)

/* Settings only, without the Storage page. */
KhPreferencesWindow *kh_preferences_window_new                 (GSettings           *settings);
/* The application's settings, and its store on the Storage page. */
KhPreferencesWindow *kh_preferences_window_new_for_application (KhAppContext        *context);
/* Shows the Storage page and asks before forgetting everything the store holds (the
 * "Forget All…" button and `app.forget-all`). Nothing happens without the user's yes. */
void                 kh_preferences_window_ask_forget_all      (KhPreferencesWindow *self);
/* TRUE while forgetting runs. */
gboolean             kh_preferences_window_get_busy            (KhPreferencesWindow *self);
/* A widget of the template by its id ("storage_label", "forget_button"...), for tests. */
GtkWidget           *kh_preferences_window_get_control         (KhPreferencesWindow *self,
                                                                const char          *id);

G_END_DECLS
