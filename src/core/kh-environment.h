/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-environment.h: where Keyhold runs and where its secrets therefore are. Inside Flatpak,
 * libsecret (>= 0.20) does not talk to the desktop keyring: it keeps the items in an encrypted
 * file in the app's own data folder, keyed by the Secret portal. Those items are invisible to
 * Passwords and Keys (Seahorse), so the app must say where they are and offer its own way to
 * forget them all. */
#pragma once

#include <gio/gio.h>

#include "kh-store.h"

G_BEGIN_DECLS

typedef enum {
  KH_SECRET_BACKEND_SERVICE,  /* the desktop's Secret Service (gnome-keyring, KeePassXC...) */
  KH_SECRET_BACKEND_FILE,     /* libsecret's encrypted file (Flatpak with the Secret portal) */
} KhSecretBackend;

/* TRUE inside a Flatpak sandbox (/.flatpak-info exists). */
gboolean         kh_environment_is_flatpak              (void);

/* The backend libsecret uses in this process, decided as libsecret decides it: the file backend
 * inside Flatpak when the Secret portal answers, or when SECRET_BACKEND=file; otherwise the
 * Secret Service. Inside Flatpak the first call asks the portal over D-Bus (at most 2 s); the
 * answer is cached for the life of the process. */
KhSecretBackend  kh_environment_get_secret_backend      (void);

/* The file the file backend keeps its items in: $SECRET_FILE_TEST_PATH, else
 * $XDG_DATA_HOME/keyrings/default.keyring (inside Flatpak, XDG_DATA_HOME is
 * ~/.var/app/<app id>/data). Returned whichever backend is in use. */
char            *kh_environment_get_secret_file_path    (void);

/* One translated paragraph for the preferences or about page: where the secrets are, whether
 * Passwords and Keys shows them, and where the non-secret index of store is. */
char            *kh_environment_describe_secret_storage (KhStore       *store);

/* Removes everything store holds: every grant, pending request and app profile (keyring item
 * and index entry), then any keyring item of this store left without an index entry. Nothing
 * is revoked at TikTok. n_removed (may be NULL) is the number of index entries removed.
 * Blocks on the keyring: call it from a worker thread, or use the async variant. */
gboolean         kh_environment_forget_all              (KhStore       *store,
                                                         guint         *n_removed,
                                                         GError       **error);
void             kh_environment_forget_all_async        (KhStore            *store,
                                                         GCancellable       *cancellable,
                                                         GAsyncReadyCallback callback,
                                                         gpointer            user_data);
gboolean         kh_environment_forget_all_finish       (GAsyncResult  *result,
                                                         guint         *n_removed,
                                                         GError       **error);

G_END_DECLS
