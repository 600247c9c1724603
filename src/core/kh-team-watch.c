/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-team-watch.c: live updates: a second connection that LISTENs for changed grants and
 * calls back on a main context. */

#define G_LOG_DOMAIN "kh-team"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-team.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-team-private.h"

#include <glib-unix.h>

#define NOTIFY_CHANNEL "keyhold_grants"

static gboolean
watch_dispatch (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  Watch *watch = user_data;
  PGnotify *notify;

  if (!PQconsumeInput (watch->conn))
    {
      g_debug ("The team watch lost its connection: %s", PQerrorMessage (watch->conn));
      watch->changed (NULL, watch->user_data);
      return G_SOURCE_REMOVE;
    }
  while ((notify = PQnotifies (watch->conn)) != NULL)
    {
      if (notify->extra != NULL && kh_team_grant_id_is_safe (notify->extra))
        watch->changed (notify->extra, watch->user_data);
      PQfreemem (notify);
    }
  return G_SOURCE_CONTINUE;
}

static void
watch_free (gpointer data)
{
  Watch *watch = data;

  if (watch->team != NULL)
    watch->team->watches = g_list_remove (watch->team->watches, watch);
  PQfinish (watch->conn);
  if (watch->notify != NULL)
    watch->notify (watch->user_data);
  g_free (watch);
}

guint
kh_team_watch (KhTeam            *self,
               GMainContext      *context,
               KhTeamChangedFunc  changed,
               gpointer           user_data,
               GDestroyNotify     notify,
               GError           **error)
{
  Watch *watch;
  PGconn *conn;
  PGresult *result;
  guint id;

  g_return_val_if_fail (KH_IS_TEAM (self), 0);
  g_return_val_if_fail (changed != NULL, 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  /* Checks the team (and the key) on the main connection first, so a watch never runs for a
   * database this member cannot use. */
  if (!kh_team_begin_locked (self, error))
    return 0;
  kh_team_end_locked (self);

  conn = kh_team_connect_raw (self->conninfo, self->password, error);
  if (conn == NULL)
    return 0;
  result = PQexec (conn, "LISTEN " NOTIFY_CHANNEL);
  if (PQresultStatus (result) != PGRES_COMMAND_OK)
    {
      kh_team_set_unreachable (error, PQerrorMessage (conn));
      PQclear (result);
      PQfinish (conn);
      return 0;
    }
  PQclear (result);
  PQsetnonblocking (conn, 1);

  watch = g_new0 (Watch, 1);
  watch->team = self;
  watch->conn = conn;
  watch->changed = changed;
  watch->user_data = user_data;
  watch->notify = notify;
  watch->source = g_unix_fd_source_new (PQsocket (conn), G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_name (watch->source, "[keyhold] team watch");
  g_source_set_callback (watch->source, G_SOURCE_FUNC (watch_dispatch), watch, watch_free);
  self->watches = g_list_prepend (self->watches, watch);
  id = g_source_attach (watch->source, context);
  g_source_unref (watch->source);
  return id;
}

void
kh_team_unwatch (KhTeam *self,
                 guint   watch_id)
{
  g_return_if_fail (KH_IS_TEAM (self));

  for (GList *l = self->watches; l != NULL; l = l->next)
    {
      Watch *watch = l->data;

      if (g_source_get_id (watch->source) == watch_id)
        {
          g_source_destroy (watch->source);
          return;
        }
    }
}
