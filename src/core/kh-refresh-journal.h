/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-refresh-journal.h: the durable record of refreshes in flight. A refresh spends the grant's
 * refresh token: TikTok rotates it, and until the new pair is stored, a killed process (or a
 * lost answer) leaves the keyring holding a token TikTok no longer accepts. So, under the
 * grant's lock, just before the refresh call, an intent is written and synced to disk (grant
 * id, when, which process, a fingerprint of the token being spent: never a secret), and it is
 * removed once the new tokens are stored. An intent still there when its grant's lock is free
 * names a refresh that did not finish: the next start retries it with the stored token, which
 * TikTok answers with the current pair inside its rotation grace (KhBroker's recovery).
 *
 * The intents live beside the index (<data>/<store>/refresh-intents/<grant id>.intent), not in
 * the runtime dir: that one is wiped at reboot, and a grant must be recovered after a crash of
 * the whole machine too. A grant id that is not a plain file name has no intent: begin and end
 * do nothing for it. Every function blocks on the disk: call them from a worker thread. */
#pragma once

#include <gio/gio.h>

#include "kh-store.h"

G_BEGIN_DECLS

typedef struct {
  char   *grant_id;
  char   *fingerprint;        /* hex SHA-256 prefix of the refresh token being spent */
  gint64  started_at;         /* this attempt, Unix seconds on Keyhold's clock */
  gint64  first_started_at;   /* the first attempt that spent this same token */
  int     pid;
  char   *host;
} KhRefreshIntent;

void             kh_refresh_intent_free          (KhRefreshIntent *intent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KhRefreshIntent, kh_refresh_intent_free)

#define KH_TYPE_REFRESH_JOURNAL (kh_refresh_journal_get_type ())
G_DECLARE_FINAL_TYPE (KhRefreshJournal, kh_refresh_journal, KH, REFRESH_JOURNAL, GObject)

/* The journal kept in dir (created on first write). */
KhRefreshJournal *kh_refresh_journal_new          (const char       *dir);
/* The journal of store: "refresh-intents" beside its index. */
KhRefreshJournal *kh_refresh_journal_new_for_store (KhStore         *store);
const char       *kh_refresh_journal_get_dir      (KhRefreshJournal *self);

/* The fingerprint an intent records for refresh_token: enough to tell tokens apart, useless to
 * anyone who reads the file. */
char             *kh_refresh_journal_fingerprint  (const char       *refresh_token);

/* Call holding the grant's lock, just before the refresh call: writes the intent durably
 * (temp file, fsync, rename, fsync of the folder). When an intent for the same token was
 * already there (its refresh was interrupted: the lock is ours, so its owner is gone),
 * *interrupted_out receives it and the new intent keeps its first_started_at. A damaged intent
 * file is replaced. */
gboolean          kh_refresh_journal_begin        (KhRefreshJournal *self,
                                                   const char       *grant_id,
                                                   const char       *refresh_token,
                                                   KhRefreshIntent **interrupted_out,
                                                   GError          **error);
/* Call holding the grant's lock once the new tokens (or the needs-reauth mark) are stored.
 * Also removes the temp file a write cut short by a kill left. No intent is not an error. */
gboolean          kh_refresh_journal_end          (KhRefreshJournal *self,
                                                   const char       *grant_id,
                                                   GError          **error);
/* The intent of grant_id; NULL without error when there is none. */
KhRefreshIntent  *kh_refresh_journal_lookup       (KhRefreshJournal *self,
                                                   const char       *grant_id,
                                                   GError          **error);
/* The grant ids that have an intent or a leftover temp file of one (sorted); an empty array
 * when none or no folder yet. */
GStrv             kh_refresh_journal_list         (KhRefreshJournal *self,
                                                   GError          **error);

/* The needs-reauth reason to store when refreshing failed terminally with error: says what
 * happened and what to do. interrupted: the intent kh_refresh_journal_begin found, or NULL.
 * Translated, one line. */
char             *kh_refresh_journal_explain      (const KhRefreshIntent *interrupted,
                                                   const GError          *error);

G_END_DECLS
