/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-bench-keyring.c: what one keyring write costs as the collection grows, and how that
 * depends on the number of items and on their size. Fills the default collection with items of
 * its own schema (attribute "bench" = a run tag) and times SetSecret on one of them.
 *   kh-bench-keyring TAG STEPS SIZE [SIZE...]
 * STEPS: comma-separated item counts (e.g. 16,64,256,1000,2000); for each SIZE (bytes of one
 * item's secret) the collection is filled to each count in turn and one item is rewritten 9
 * times (median printed). SIZE "T/N" means total T bytes spread over the items. Every item of
 * the run is deleted at the end. Run inside .ci/session (or with SECRET_BACKEND=file). */

#include <libsecret/secret.h>
#include <stdlib.h>
#include <string.h>

static const SecretSchema schema = {
  "io.github.keyhold.Keyhold.Bench", SECRET_SCHEMA_NONE,
  { { "bench", SECRET_SCHEMA_ATTRIBUTE_STRING }, { "n", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 } }
};

static int
compare_doubles (const void *a,
                 const void *b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static char *
make_secret (gsize size,
             guint salt)
{
  char *secret = g_malloc (size + 1);

  for (gsize i = 0; i < size; i++)
    secret[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 + salt) % 36];
  secret[size] = '\0';
  return secret;
}

static void
store_item (const char *tag,
            guint       n,
            gsize       size)
{
  g_autofree char *secret = make_secret (size, n);
  g_autofree char *number = g_strdup_printf ("%u", n);
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_sync (&schema, SECRET_COLLECTION_DEFAULT, "keyhold bench", secret,
                                   NULL, &error, "bench", tag, "n", number, NULL))
    g_error ("store: %s", error->message);
}

static void
clear_all (const char *tag)
{
  g_autoptr(GError) error = NULL;

  secret_password_clear_sync (&schema, NULL, &error, "bench", tag, NULL);
}

/* Median of 9 rewrites of item 0, in ms. On the Secret Service, SetSecret on the item (what
 * Keyhold does); elsewhere libsecret's store with replace. */
static double
time_write (const char *tag,
            gsize       size)
{
  g_autoptr(GList) items = NULL;
  g_autoptr(GError) error = NULL;
  SecretItem *item = NULL;
  double times[9];

  items = secret_password_search_sync (&schema, SECRET_SEARCH_ALL, NULL, &error, "bench", tag,
                                       "n", "0", NULL);
  if (items != NULL && SECRET_IS_ITEM (items->data))
    item = items->data;

  for (guint r = 0; r < G_N_ELEMENTS (times); r++)
    {
      g_autofree char *secret = make_secret (size, r + 1000);
      gint64 start = g_get_monotonic_time ();

      if (item != NULL)
        {
          g_autoptr(SecretValue) value = secret_value_new (secret, -1, "text/plain");

          if (!secret_item_set_secret_sync (item, value, NULL, &error))
            g_error ("set secret: %s", error->message);
        }
      else
        store_item (tag, 0, size);
      times[r] = (g_get_monotonic_time () - start) / 1000.0;
    }
  qsort (times, G_N_ELEMENTS (times), sizeof times[0], compare_doubles);
  g_list_free_full (g_steal_pointer (&items), g_object_unref);
  return times[G_N_ELEMENTS (times) / 2];
}

/* Median of 9 lookups of item 0, in ms. */
static double
time_lookup (const char *tag)
{
  double times[9];

  for (guint r = 0; r < G_N_ELEMENTS (times); r++)
    {
      g_autoptr(GError) error = NULL;
      gint64 start = g_get_monotonic_time ();
      char *secret = secret_password_lookup_sync (&schema, NULL, &error, "bench", tag, "n", "0",
                                                  NULL);

      if (secret == NULL)
        g_error ("lookup failed");
      secret_password_free (secret);
      times[r] = (g_get_monotonic_time () - start) / 1000.0;
    }
  qsort (times, G_N_ELEMENTS (times), sizeof times[0], compare_doubles);
  return times[G_N_ELEMENTS (times) / 2];
}

int
main (int   argc,
      char *argv[])
{
  g_auto(GStrv) steps = NULL;

  if (argc < 4)
    {
      g_printerr ("usage: kh-bench-keyring TAG STEPS SIZE [SIZE...]\n");
      return 2;
    }
  steps = g_strsplit (argv[2], ",", -1);

  g_print ("| items | bytes per item | total bytes | one write (ms) | one lookup (ms) |\n");
  g_print ("|---|---|---|---|---|\n");
  for (int a = 3; a < argc; a++)
    {
      g_autofree char *tag = g_strdup_printf ("%s-%d", argv[1], a);
      const char *slash = strchr (argv[a], '/');
      gsize total = slash != NULL ? (gsize) g_ascii_strtoull (argv[a], NULL, 10) : 0;
      guint have = 0;

      clear_all (tag);
      for (guint s = 0; steps[s] != NULL; s++)
        {
          guint n = (guint) atoi (steps[s]);
          gsize size = total > 0 ? total / n : (gsize) g_ascii_strtoull (argv[a], NULL, 10);

          /* Spread totals are refilled from scratch, since every item changes size. */
          if (total > 0)
            {
              clear_all (tag);
              have = 0;
            }
          for (; have < n; have++)
            store_item (tag, have, size);
          g_print ("| %u | %" G_GSIZE_FORMAT " | %" G_GSIZE_FORMAT " | %.1f | %.1f |\n", n, size,
                   size * n, time_write (tag, size), time_lookup (tag));
        }
      clear_all (tag);
    }
  return 0;
}
