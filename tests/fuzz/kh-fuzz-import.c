/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-fuzz-import.c: the from_json readers, shared by fuzz-json-import and fuzz-index. */
#define G_LOG_DOMAIN "kh-fuzz"

#include "config.h"

#include "kh-fuzz-import.h"

#include "kh-app-profile.h"
#include "kh-auth-request.h"
#include "kh-json.h"
#ifdef KH_FUZZ_HAVE_GRANT
#include "kh-grant.h"
#endif

static void
import_app_profile (JsonNode *node)
{
  g_autoptr(KhAppProfile) app = NULL;
  g_autoptr(KhAppProfile) back = NULL;
  g_autoptr(JsonNode) written = NULL;
  g_autoptr(JsonNode) rewritten = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *link_state = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  app = kh_app_profile_new_from_json (node, &error);
  if (app == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  g_assert_no_error (error);
  g_assert_true (kh_app_profile_validate (app, &error));
  g_assert_nonnull (kh_app_profile_get_redirect_uri (app));
  g_assert_nonnull (kh_app_profile_get_scopes (app));
  link_state = kh_app_profile_dup_auth_link_param (app, "state");

  written = kh_app_profile_to_json (app);
  back = kh_app_profile_new_from_json (written, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  rewritten = kh_app_profile_to_json (back);
  first = kh_json_to_string (written, FALSE);
  second = kh_json_to_string (rewritten, FALSE);
  g_assert_cmpstr (first, ==, second);
}

static void
import_auth_request (JsonNode *node)
{
  g_autoptr(KhAuthRequest) request = NULL;
  g_autoptr(KhAuthRequest) back = NULL;
  g_autoptr(KhAuthRequest) public_back = NULL;
  g_autoptr(JsonNode) written = NULL;
  g_autoptr(JsonNode) public_form = NULL;
  g_autoptr(GError) error = NULL;

  request = kh_auth_request_new_from_json (node, &error);
  if (request == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  g_assert_no_error (error);
  g_assert_nonnull (kh_auth_request_get_id (request));

  written = kh_auth_request_to_json (request);
  back = kh_auth_request_new_from_json (written, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpstr (kh_auth_request_get_id (back), ==, kh_auth_request_get_id (request));

  /* The index holds the public form: reading it back may fail (no state) but never crash. */
  public_form = kh_auth_request_to_public_json (request);
  public_back = kh_auth_request_new_from_json (public_form, &error);
  g_assert_true ((public_back == NULL) == (error != NULL));
}

#ifdef KH_FUZZ_HAVE_GRANT
static void
import_grant (JsonNode *node)
{
  g_autoptr(KhGrant) grant = NULL;
  g_autoptr(KhGrant) back = NULL;
  g_autoptr(JsonNode) written = NULL;
  g_autoptr(GError) error = NULL;

  grant = kh_grant_new_from_json (node, &error);
  if (grant == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  g_assert_no_error (error);
  g_assert_nonnull (kh_grant_get_id (grant));
  g_assert_nonnull (kh_grant_get_display_name (grant));
  g_assert_nonnull (kh_grant_get_scopes (grant));
  g_assert_nonnull (kh_grant_get_missing_scopes (grant));
  g_assert_nonnull (kh_grant_get_warnings (grant));

  written = kh_grant_to_json (grant);
  back = kh_grant_new_from_json (written, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpstr (kh_grant_get_id (back), ==, kh_grant_get_id (grant));
}

static void
import_token_set (JsonNode *node)
{
  g_autoptr(KhTokenSet) tokens = NULL;
  g_autoptr(KhTokenSet) back = NULL;
  g_autoptr(JsonNode) written = NULL;
  g_autoptr(GError) error = NULL;

  tokens = kh_token_set_new_from_json (node, &error);
  if (tokens == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  g_assert_no_error (error);

  written = kh_token_set_to_json (tokens);
  back = kh_token_set_new_from_json (written, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpstr (back->access_token, ==, tokens->access_token);
  g_assert_cmpstr (back->refresh_token, ==, tokens->refresh_token);
  g_assert_cmpint (back->access_expires_at, ==, tokens->access_expires_at);
  g_assert_cmpint (back->refresh_expires_at, ==, tokens->refresh_expires_at);
}
#endif

void
kh_fuzz_import_node (JsonNode *node)
{
  g_assert_nonnull (node);

  import_app_profile (node);
  import_auth_request (node);
#ifdef KH_FUZZ_HAVE_GRANT
  import_grant (node);
  import_token_set (node);
#endif
}
