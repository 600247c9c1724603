/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-app-profile-dialog.h: add or edit an app profile (app key or id, secret, service id,
 * redirect URL, pasted authorization link, required scopes) with field-by-field validation
 * through the core's checks. Emits "saved" (the profile name) once the store has it. */
#pragma once

#include <adwaita.h>

#include "kh-app-profile.h"
#include "kh-app-context.h"

G_BEGIN_DECLS

#define KH_TYPE_APP_PROFILE_DIALOG (kh_app_profile_dialog_get_type ())
G_DECLARE_FINAL_TYPE (KhAppProfileDialog, kh_app_profile_dialog, KH, APP_PROFILE_DIALOG,
                      AdwWindow)

/* existing NULL: a new profile of that family. */
KhAppProfileDialog *kh_app_profile_dialog_new            (KhAppContext       *context,
                                                          KhFamily            family,
                                                          KhAppProfile       *existing);
/* A field row by id: "name_row" "key_row" "secret_row" "service_row" "redirect_row" "link_row"
 * "scopes_row" (tests type into them like a user). */
GtkWidget          *kh_app_profile_dialog_get_row        (KhAppProfileDialog *self,
                                                          const char         *id);
/* The validation messages shown under the form, "" when none. */
const char         *kh_app_profile_dialog_get_error_text (KhAppProfileDialog *self);
gboolean            kh_app_profile_dialog_get_can_save   (KhAppProfileDialog *self);
/* What the Save button does. */
void                kh_app_profile_dialog_save           (KhAppProfileDialog *self);

G_END_DECLS
