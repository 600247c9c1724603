/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-shops.c: Get Authorized Shops answers. Whatever list parses must also go into a grant's
 * index form and come back, or one odd shop would make the whole index unreadable. */
#define G_LOG_DOMAIN "kh-fuzz-shops"

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
  g_autoptr(GPtrArray) shops = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(JsonNode) node = NULL;
  GPtrArray *back_shops;

  shops = kh_parse_shops (size > 0 ? (const char *) data : NULL, size, &error);
  if (shops == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  g_assert_no_error (error);

  for (guint i = 0; i < shops->len; i++)
    {
      KhShop *shop = g_ptr_array_index (shops, i);
      g_autoptr(KhShop) copy = kh_shop_copy (shop);

      g_assert_nonnull (shop->id);
      g_assert_cmpstr (copy->id, ==, shop->id);
      g_assert_cmpstr (copy->cipher, ==, shop->cipher);
    }

  grant = kh_grant_new (KH_ACCOUNT_SELLER, NULL, "Fuzz App");
  kh_grant_set_shops (grant, shops);
  node = kh_grant_to_json (grant);
  back = kh_grant_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  back_shops = kh_grant_get_shops (back);
  g_assert_nonnull (back_shops);
  g_assert_cmpuint (back_shops->len, ==, shops->len);

  return 0;
}
