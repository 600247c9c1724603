/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-bench-seed.c: fills a store with N seller grants for the benchmarks, straight through
 * KhStore (not the flow): each grant is a real authorization in the running keyhold-sandbox
 * (consent approved, code exchanged), so that its refresh token works, spread over A apps so
 * that a bulk refresh stays under the sandbox's per-app rate limit.
 *   kh-bench-seed SANDBOX_ORIGIN N APPS
 * Environment: KEYHOLD_ORIGIN_MAP, KEYHOLD_DATA_DIR, KEYHOLD_STORE. Prints the grant ids.
 * KEYHOLD_BENCH_TEAM=1: the grants and apps go into the store's team (kh_team_put_grant and
 * kh_team_put_app) instead of the keyring, for tests/bench/run-team. */

#define G_LOG_DOMAIN "kh-bench-seed"

#include "config.h"

#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

#include "kh-store.h"
#include "kh-team.h"
#include "kh-token-client.h"
#include "kh-util.h"

#define SERVICE_BASE G_GINT64_CONSTANT (7100000000000100000)
#define IN_FLIGHT    16

typedef struct
{
  SoupSession   *session;
  KhTokenClient *client;
  KhStore       *store;
  KhTeam        *team;       /* NULL: into the keyring */
  GPtrArray     *apps;       /* KhAppProfile */
  GPtrArray     *secrets;    /* char * */
  GAsyncQueue   *to_store;   /* Item */
  char          *origin;
  char          *redirect_uri;
  guint          total;
  guint          next;
  guint          running;
  guint          exchanged;
  guint          failed;
} Seed;

typedef struct
{
  Seed            *seed;
  guint            index;
  KhAppProfile    *app;
  KhTokenResponse *response;
} Item;

static void start_next (Seed *seed);

static void
exchanged_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Item *item = user_data;
  g_autoptr(GError) error = NULL;

  item->response = kh_token_client_exchange_finish (KH_TOKEN_CLIENT (object), result, &error);
  if (item->response == NULL)
    {
      g_printerr ("kh-bench-seed: exchange %u: %s\n", item->index, error->message);
      item->seed->failed++;
    }
  else
    item->seed->exchanged++;

  /* Failed ones too: the writer counts every item. */
  g_async_queue_push (item->seed->to_store, item);
}

static void
consent_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Item *item = user_data;
  Seed *seed = item->seed;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (object), result);
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GHashTable) params = NULL;
  const char *location;
  const char *code;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  location = body != NULL ? soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                                          "Location") : NULL;
  uri = location != NULL ? g_uri_parse (location, G_URI_FLAGS_NONE, NULL) : NULL;
  params = uri != NULL && g_uri_get_query (uri) != NULL
           ? g_uri_parse_params (g_uri_get_query (uri), -1, "&", G_URI_PARAMS_NONE, NULL) : NULL;
  code = params != NULL ? g_hash_table_lookup (params, "code") : NULL;
  if (code == NULL)
    {
      g_printerr ("kh-bench-seed: consent %u failed\n", item->index);
      seed->failed++;
      g_async_queue_push (seed->to_store, item);
      seed->running--;
      start_next (seed);
      return;
    }

  kh_token_client_exchange_async (seed->client, item->app,
                                  g_ptr_array_index (seed->secrets, item->index % seed->apps->len),
                                  KH_TOKEN_KIND_SHOP, code, NULL, NULL, exchanged_cb, item);
  seed->running--;
  start_next (seed);
}

static void
start_next (Seed *seed)
{
  while (seed->running < IN_FLIGHT && seed->next < seed->total)
    {
      Item *item = g_new0 (Item, 1);
      g_autofree char *url = NULL;
      g_autoptr(SoupMessage) msg = NULL;
      guint app = seed->next % seed->apps->len;

      item->seed = seed;
      item->index = seed->next++;
      item->app = g_ptr_array_index (seed->apps, app);
      url = g_strdup_printf ("%s/_host/services.tiktokshop.com/open/authorize?service_id=%"
                             G_GINT64_FORMAT "&state=bench%u&auto=approve", seed->origin,
                             SERVICE_BASE + app, item->index);
      msg = soup_message_new ("GET", url);
      soup_message_add_flags (msg, SOUP_MESSAGE_NO_REDIRECT);
      seed->running++;
      soup_session_send_and_read_async (seed->session, msg, G_PRIORITY_DEFAULT, NULL,
                                        consent_cb, item);
    }
}

/* Worker thread: the keyring writes, one after another (that is what gnome-keyring does). */
static gpointer
store_thread (gpointer data)
{
  Seed *seed = data;

  for (guint stored = 0; stored < seed->total;)
    {
      Item *item = g_async_queue_pop (seed->to_store);
      g_autoptr(KhGrant) grant = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *name = NULL;
      g_autofree char *client = NULL;

      if (item->response == NULL)
        {
          /* A failed one, counted by the main thread. */
          g_free (item);
          stored++;
          continue;
        }

      grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, kh_app_profile_get_name (item->app));
      name = g_strdup_printf ("Bench shop %04u", item->index);
      client = g_strdup_printf ("Client %02u", item->index % 40);
      kh_grant_set_display_name (grant, name);
      kh_grant_set_client_label (grant, client);
      kh_grant_set_region (grant, "GB");
      kh_grant_set_open_id (grant, item->response->open_id);
      kh_grant_set_expiries_from_tokens (grant, item->response->tokens);
      kh_grant_set_shared (grant, seed->team != NULL);
      if (seed->team != NULL
          ? !kh_team_put_grant (seed->team, grant, item->response->tokens, &error)
          : !kh_store_save_grant (seed->store, grant, item->response->tokens, &error))
        g_printerr ("kh-bench-seed: store %u: %s\n", item->index, error->message);
      else
        g_print ("%s\n", kh_grant_get_id (grant));
      kh_token_response_free (item->response);
      g_free (item);
      stored++;
    }

  return NULL;
}

int
main (int   argc,
      char *argv[])
{
  Seed seed = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autoptr(GThread) writer = NULL;
  guint n_apps;

  if (argc != 4)
    {
      g_printerr ("usage: kh-bench-seed SANDBOX_ORIGIN N APPS\n");
      return 2;
    }

  /* Benchmarks talk to the local sandbox only, never to TikTok. */
  if (g_getenv ("KEYHOLD_ORIGIN_MAP") == NULL || *g_getenv ("KEYHOLD_ORIGIN_MAP") == '\0')
    {
      g_printerr ("kh-bench-seed: KEYHOLD_ORIGIN_MAP must point at keyhold-sandbox\n");
      return 2;
    }

  seed.origin = argv[1];
  seed.total = (guint) atoi (argv[2]);
  n_apps = (guint) atoi (argv[3]);
  seed.redirect_uri = (char *) "http://localhost:8765/callback";
  seed.session = soup_session_new_with_options ("max-conns", 64, "max-conns-per-host", 64, NULL);
  seed.client = kh_token_client_new ();
  seed.to_store = g_async_queue_new ();
  seed.apps = g_ptr_array_new_with_free_func (g_object_unref);
  seed.secrets = g_ptr_array_new_with_free_func (g_free);
  seed.store = kh_store_new (NULL, NULL, &error);
  if (seed.store == NULL)
    {
      g_printerr ("kh-bench-seed: %s\n", error->message);
      return 1;
    }

  if (g_strcmp0 (g_getenv ("KEYHOLD_BENCH_TEAM"), "1") == 0)
    {
      seed.team = kh_team_open (seed.store, NULL, &error);
      if (seed.team == NULL)
        {
          g_printerr ("kh-bench-seed: not in a team: %s\n", error != NULL ? error->message : "");
          return 1;
        }
    }

  for (guint i = 0; i < n_apps; i++)
    {
      g_autofree char *name = g_strdup_printf ("bench-%u", i);
      g_autofree char *key = g_strdup_printf ("benchkey%u", i);
      g_autofree char *service = g_strdup_printf ("%" G_GINT64_FORMAT, SERVICE_BASE + i);
      g_autofree char *secret = g_strdup_printf ("bench-secret-%u-5f1c9e", i);
      g_autofree char *body = NULL;
      g_autofree char *apps_url = g_strconcat (seed.origin, "/_sandbox/apps", NULL);
      g_autoptr(SoupMessage) msg = NULL;
      g_autoptr(GBytes) request = NULL;
      g_autoptr(GBytes) reply = NULL;
      KhAppProfile *app = kh_app_profile_new (name, KH_FAMILY_SHOP, key);

      kh_app_profile_set_service_id (app, service);
      kh_app_profile_set_redirect_uri (app, seed.redirect_uri);
      if (seed.team != NULL
          ? !kh_team_put_app (seed.team, app, secret, &error)
          : !kh_store_save_app (seed.store, app, secret, TRUE, &error))
        {
          g_printerr ("kh-bench-seed: %s\n", error->message);
          return 1;
        }
      g_ptr_array_add (seed.apps, app);
      g_ptr_array_add (seed.secrets, g_strdup (secret));

      body = g_strdup_printf ("{\"family\":\"shop\",\"app_key\":\"%s\",\"app_secret\":\"%s\","
                              "\"service_id\":\"%s\",\"redirect_uri\":\"%s\"}", key, secret,
                              service, seed.redirect_uri);
      msg = soup_message_new ("POST", apps_url);
      request = g_bytes_new (body, strlen (body));
      soup_message_set_request_body_from_bytes (msg, "application/json", request);
      reply = soup_session_send_and_read (seed.session, msg, NULL, &error);
      if (reply == NULL || soup_message_get_status (msg) != 200)
        {
          g_printerr ("kh-bench-seed: could not register the app in the sandbox\n");
          return 1;
        }
    }

  writer = g_thread_new ("store", store_thread, &seed);
  start_next (&seed);
  while (seed.exchanged + seed.failed < seed.total)
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (g_steal_pointer (&writer));

  return seed.failed > 0 ? 1 : 0;
}
