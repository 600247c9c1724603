/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz-token-response.c: the Shop, Marketing API and Accounts API token answers. The first byte
 * picks the KhTokenKind, the rest is the body; a token set that parses must also survive the
 * keyring's JSON form, or a grant would be saved that can never be loaded. */
#define G_LOG_DOMAIN "kh-fuzz-token-response"

#include "config.h"

#include "kh-fuzz.h"
#include "kh-grant.h"
#include "kh-token-client.h"

/* 2022-08-15T09:46:23Z, the official example's access_token_expire_in, minus a week. */
#define FUZZ_NOW G_GINT64_CONSTANT (1659951983)

static void
check_round_trip (const KhTokenSet *tokens)
{
  g_autoptr(JsonNode) node = kh_token_set_to_json (tokens);
  g_autoptr(KhTokenSet) back = NULL;
  g_autoptr(KhTokenSet) copy = kh_token_set_copy (tokens);
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (node);
  back = kh_token_set_new_from_json (node, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpstr (back->access_token, ==, tokens->access_token);
  g_assert_cmpstr (back->refresh_token, ==, tokens->refresh_token);
  g_assert_cmpint (back->access_expires_at, ==, tokens->access_expires_at);
  g_assert_cmpint (back->refresh_expires_at, ==, tokens->refresh_expires_at);
  g_assert_cmpstr (copy->access_token, ==, tokens->access_token);
}

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
  g_autoptr(KhTokenResponse) response = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  const char *body;
  KhTokenKind kind;
  gsize length;

  if (size < 1)
    return 0;

  kind = (KhTokenKind) (data[0] % 3);
  body = (const char *) data + 1;
  length = size - 1;

  response = kh_parse_token_response (kind, length > 0 ? body : NULL, length, FUZZ_NOW, &error);
  if (response == NULL)
    {
      g_assert_nonnull (error);
    }
  else
    {
      g_assert_no_error (error);
      g_assert_nonnull (response->tokens);
      g_assert_nonnull (response->tokens->access_token);
      g_assert_nonnull (response->scopes);
      g_assert_nonnull (response->advertiser_ids);
      if (kind == KH_TOKEN_KIND_ADVERTISER)
        {
          g_assert_null (response->tokens->refresh_token);
          g_assert_cmpint (response->tokens->access_expires_at, ==, 0);
        }
      else
        {
          g_assert_nonnull (response->tokens->refresh_token);
        }
      check_round_trip (response->tokens);
    }
  g_clear_error (&error);

  /* business/get shares the envelope decoding: cheap to cover here too. */
  name = kh_parse_account_name (length > 0 ? body : NULL, length, &error);
  g_assert_true ((name == NULL) == (error != NULL));

  return 0;
}
