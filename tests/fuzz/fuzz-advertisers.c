/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-advertisers.c: oauth2/advertiser/get answers, and the index form of what they give. */
#define G_LOG_DOMAIN "kh-fuzz-advertisers"

#include "config.h"

#include "kh-fuzz.h"
#include "kh-grant.h"
#include "kh-token-client.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  kh_fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(GPtrArray) advertisers = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(JsonNode) node = NULL;
  GPtrArray *back_advertisers;

  advertisers = kh_parse_advertisers (size > 0 ? (const char *) data : NULL, size, &error);
  if (advertisers == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  g_assert_no_error (error);

  for (guint i = 0; i < advertisers->len; i++)
    {
      KhAdvertiser *advertiser = g_ptr_array_index (advertisers, i);
      g_autoptr(KhAdvertiser) copy = kh_advertiser_copy (advertiser);

      g_assert_nonnull (advertiser->id);
      g_assert_cmpstr (copy->id, ==, advertiser->id);
      g_assert_cmpstr (copy->name, ==, advertiser->name);
    }

  grant = kh_grant_new (KH_ACCOUNT_ADVERTISER, NULL, "Fuzz App");
  kh_grant_set_advertisers (grant, advertisers);
  node = kh_grant_to_json (grant);
  back = kh_grant_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  back_advertisers = kh_grant_get_advertisers (back);
  g_assert_nonnull (back_advertisers);
  g_assert_cmpuint (back_advertisers->len, ==, advertisers->len);

  return 0;
}
