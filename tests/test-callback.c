/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test-callback.c: parsing redirect URLs as browsers deliver them and as users paste them, and
 * every way hostile or broken input is refused without echoing a secret. */

#include "config.h"

#include <string.h>

#include "kh-callback.h"
#include "kh-error.h"
#include "kh-test-util.h"

/* The seed example from the seller's guide. */
#define SEED_URL \
  "https://localhost/?app_key=6idt36ueoum3i&code=ROW_xxxxx&locale=en-GB&shop_region=MY"

static KhCallback *
parse_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  KhCallback *cb = kh_callback_parse (text, &error);

  g_assert_no_error (error);
  g_assert_nonnull (cb);
  return cb;
}

/* Parses text that must be refused; checks the message never quotes the secret values. */
static void
assert_refused (const char *text,
                const char *message_part)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhCallback) cb = kh_callback_parse (text, &error);

  g_assert_null (cb);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  if (message_part != NULL && strstr (error->message, message_part) == NULL)
    g_error ("message “%s” lacks “%s”", error->message, message_part);
  g_assert_null (strstr (error->message, "SECRETCODE"));
  g_assert_null (strstr (error->message, "SECRETSTATE"));
}

static void
test_seed_example (void)
{
  g_autoptr(KhCallback) cb = parse_ok (SEED_URL);

  g_assert_cmpstr (cb->code, ==, "ROW_xxxxx");
  g_assert_cmpstr (cb->app_key, ==, "6idt36ueoum3i");
  g_assert_cmpstr (cb->locale, ==, "en-GB");
  g_assert_cmpstr (cb->shop_region, ==, "MY");
  g_assert_null (cb->state);
  g_assert_null (cb->error);
  g_assert_cmpstr (cb->redirect_base, ==, "https://localhost/");
  g_assert_false (kh_callback_is_denied (cb, NULL));
}

static void
test_seed_with_ellipsis (void)
{
  /* The guide prints the code as "ROW_xxxxx..." and users copy the dots. */
  g_autoptr(KhCallback) cb =
    parse_ok ("https://localhost/?app_key=6idt36ueoum3i&locale=en-GB&code=ROW_xxxxx...");

  g_assert_cmpstr (cb->code, ==, "ROW_xxxxx");
}

static void
test_shop_with_state (void)
{
  g_autoptr(KhCallback) cb =
    parse_ok ("http://localhost:8765/callback?code=ROW_abc-DEF_123&state=Zm9vYmFyLWJhel8x");

  g_assert_cmpstr (cb->code, ==, "ROW_abc-DEF_123");
  g_assert_cmpstr (cb->state, ==, "Zm9vYmFyLWJhel8x");
  g_assert_cmpstr (cb->redirect_base, ==, "http://localhost:8765/callback");
}

static void
test_advertiser_both_codes (void)
{
  g_autoptr(KhCallback) cb =
    parse_ok ("http://127.0.0.1:8080/cb?auth_code=a1b2c3d4e5&code=a1b2c3d4e5&state=s1");

  g_assert_cmpstr (cb->code, ==, "a1b2c3d4e5");
  g_assert_cmpstr (cb->state, ==, "s1");
  g_assert_cmpstr (cb->redirect_base, ==, "http://127.0.0.1:8080/cb");
}

static void
test_advertiser_auth_code_only (void)
{
  g_autoptr(KhCallback) cb = parse_ok ("https://example.com/oauth?auth_code=abc123&state=xyz");

  g_assert_cmpstr (cb->code, ==, "abc123");
  g_assert_cmpstr (cb->state, ==, "xyz");
}

static void
test_tt_user_code (void)
{
  g_autoptr(KhCallback) cb =
    parse_ok ("http://[::1]:9000/tt/?code=act.Example-Code_1%21&scopes=user.info.basic&state=abc");

  g_assert_cmpstr (cb->code, ==, "act.Example-Code_1!");
  g_assert_cmpstr (cb->state, ==, "abc");
  g_assert_cmpstr (cb->redirect_base, ==, "http://[::1]:9000/tt/");
}

static void
test_html_escaped (void)
{
  g_autoptr(KhCallback) cb =
    parse_ok ("https://localhost/?app_key=6idt36ueoum3i&amp;code=ROW_x&amp;state=st"
              "&amp;amp;locale=en");
  g_autoptr(KhCallback) cb2 = parse_ok ("https://localhost/?code=c1&#38;state=s1");

  g_assert_cmpstr (cb->code, ==, "ROW_x");
  g_assert_cmpstr (cb->state, ==, "st");
  g_assert_cmpstr (cb->locale, ==, "en");
  g_assert_cmpstr (cb2->state, ==, "s1");
}

static void
test_trailing_punctuation (void)
{
  const char *forms[] = {
    "https://localhost/?code=C1&state=S1.",
    "https://localhost/?code=C1&state=S1,",
    "https://localhost/?code=C1&state=S1)",
    "https://localhost/?code=C1&state=S1!",
    "https://localhost/?code=C1&state=S1).",
    "(https://localhost/?code=C1&state=S1)",
    "https://localhost/?code=C1&state=S1…",
  };

  for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autoptr(KhCallback) cb = parse_ok (forms[i]);

      g_assert_cmpstr (cb->code, ==, "C1");
      g_assert_cmpstr (cb->state, ==, "S1");
    }
}

static void
test_missing_scheme (void)
{
  g_autoptr(KhCallback) cb = parse_ok ("localhost:8765/callback?code=C2&state=S2");

  g_assert_cmpstr (cb->code, ==, "C2");
  g_assert_cmpstr (cb->state, ==, "S2");
  /* The scheme the browser used cannot be known, so none is claimed. */
  g_assert_null (cb->redirect_base);
}

static void
test_quotes_and_whitespace (void)
{
  const char *forms[] = {
    "  https://localhost/?code=C3&state=S3  ",
    "\n\n\thttps://localhost/?code=C3&state=S3\r\n",
    "\"https://localhost/?code=C3&state=S3\"",
    "'https://localhost/?code=C3&state=S3'",
    "<https://localhost/?code=C3&state=S3>",
    "`https://localhost/?code=C3&state=S3`",
    "```\nhttps://localhost/?code=C3&state=S3\n```",
    "“https://localhost/?code=C3&state=S3”",
    " \"<https://localhost/?code=C3&state=S3>\". ",
    "\xe2\x80\x8bhttps://localhost/?code=C3&state=S3\xef\xbb\xbf",
    "Here you go: https://localhost/?code=C3&state=S3 thanks!",
    "[link](https://localhost/?code=C3&state=S3)",
  };

  for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autoptr(KhCallback) cb = parse_ok (forms[i]);

      g_assert_cmpstr (cb->code, ==, "C3");
      g_assert_cmpstr (cb->state, ==, "S3");
    }
}

static void
test_bare_query (void)
{
  g_autoptr(KhCallback) cb = parse_ok ("?code=C4&state=S4");
  g_autoptr(KhCallback) cb2 = parse_ok ("code=C4&state=S4");

  g_assert_cmpstr (cb->code, ==, "C4");
  g_assert_cmpstr (cb->state, ==, "S4");
  g_assert_null (cb->redirect_base);
  g_assert_cmpstr (cb2->code, ==, "C4");
}

static void
test_fragment (void)
{
  g_autoptr(KhCallback) cb = parse_ok ("https://localhost/cb?code=C5&state=S5#_=_");
  g_autoptr(KhCallback) cb2 = parse_ok ("https://localhost/cb#code=C5&state=S5");
  g_autoptr(KhCallback) cb3 = parse_ok ("https://localhost/#/callback?code=C5&state=S5");

  g_assert_cmpstr (cb->code, ==, "C5");
  g_assert_cmpstr (cb->state, ==, "S5");
  g_assert_cmpstr (cb->redirect_base, ==, "https://localhost/cb");
  g_assert_cmpstr (cb2->code, ==, "C5");
  g_assert_cmpstr (cb2->state, ==, "S5");
  g_assert_cmpstr (cb3->code, ==, "C5");
}

static void
test_link_wrappers (void)
{
  g_autoptr(KhCallback) outlook =
    parse_ok ("https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Flocalhost"
              "%3A8765%2Fcallback%3Fcode%3DC10%26state%3DS10&data=05%7C01%7C&reserved=0");
  g_autoptr(KhCallback) slack =
    parse_ok ("<https://slack-redir.net/link?url=https%3A%2F%2Flocalhost%2F%3Fcode%3DC11"
              "%26state%3DS11>");
  g_autoptr(KhCallback) own = NULL;

  g_assert_cmpstr (outlook->code, ==, "C10");
  g_assert_cmpstr (outlook->state, ==, "S10");
  g_assert_cmpstr (outlook->redirect_base, ==, "https://localhost:8765/callback");
  g_assert_cmpstr (slack->code, ==, "C11");
  g_assert_cmpstr (slack->state, ==, "S11");

  /* A wrapper inside a wrapper is not unwrapped, and a URL of our own is never unwrapped. */
  assert_refused ("https://a.example/?u=https%3A%2F%2Fb.example%2F%3Furl%3Dhttps%253A%252F%252F"
                  "localhost%252F%253Fcode%253DSECRETCODE", "no authorization code");
  own = parse_ok ("https://localhost/?code=C12&next=https%3A%2F%2Fx.example%2F%3Fcode%3DOTHER");
  g_assert_cmpstr (own->code, ==, "C12");
}

static void
test_same_value_twice (void)
{
  g_autoptr(KhCallback) cb = parse_ok ("https://localhost/?code=C6&state=S6&code=C6");

  g_assert_cmpstr (cb->code, ==, "C6");
}

static void
test_percent_and_plus (void)
{
  g_autoptr(KhCallback) cb =
    parse_ok ("https://localhost/?error=access_denied&error_description=User+said+%22no%22");

  g_assert_cmpstr (cb->error, ==, "access_denied");
  g_assert_cmpstr (cb->error_description, ==, "User said \"no\"");
}

static void
test_denied (void)
{
  const char *forms[] = {
    "https://localhost/?error=auth_denied&state=S7",
    "https://localhost/?error=access_denied&state=S7",
    "https://localhost/?code=&error=auth_denied&state=S7",
    "https://localhost/?code=null&error=access_denied&state=S7",
  };

  for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(KhCallback) cb = parse_ok (forms[i]);

      g_assert_null (cb->code);
      g_assert_cmpstr (cb->state, ==, "S7");
      g_assert_true (kh_callback_is_denied (cb, &error));
      g_assert_error (error, KH_ERROR, KH_ERROR_DENIED);
      g_assert_cmpstr (error->message, ==, "The account holder declined the authorization");
    }
}

static void
test_denied_description (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) error2 = NULL;
  g_autoptr(KhCallback) cb =
    parse_ok ("https://localhost/?error=access_denied&error_description=The+user+cancelled");
  g_autoptr(KhCallback) cb2 = parse_ok ("https://localhost/?error=server_error&state=S");
  g_autoptr(KhCallback) handmade = g_new0 (KhCallback, 1);
  g_autoptr(GError) error3 = NULL;
  g_autoptr(GString) longtext = g_string_new (NULL);

  g_assert_true (kh_callback_is_denied (cb, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_DENIED);
  g_assert_cmpstr (error->message, ==,
                   "The account holder declined the authorization: The user cancelled");

  /* Any error value ends the flow as a refusal; its name is shown when nothing else is. */
  g_assert_true (kh_callback_is_denied (cb2, &error2));
  g_assert_cmpstr (error2->message, ==,
                   "The account holder declined the authorization: server_error");

  /* A description built by hand (not through the parser) is still sanitised and capped. */
  for (guint i = 0; i < 100; i++)
    g_string_append (longtext, "abcdefghij");
  handmade->error = g_strdup ("access_denied");
  handmade->error_description = g_strdup_printf ("evil\x1b[31m\n\xe2\x80\xaeok %s", longtext->str);
  g_assert_true (kh_callback_is_denied (handmade, &error3));
  g_assert_error (error3, KH_ERROR, KH_ERROR_DENIED);
  g_assert_null (strchr (error3->message, '\x1b'));
  g_assert_null (strchr (error3->message, '\n'));
  g_assert_null (strstr (error3->message, "\xe2\x80\xae"));
  g_assert_true (g_str_has_prefix (error3->message, "The account holder declined the "
                                   "authorization: evil[31mok abc"));
  g_assert_cmpuint (g_utf8_strlen (error3->message, -1), <, 300);
}

static void
test_code_null (void)
{
  assert_refused ("https://localhost/?code=null&state=SECRETSTATE", "no authorization code");
  assert_refused ("https://localhost/?code=&state=SECRETSTATE", "no authorization code");
  assert_refused ("https://localhost/?auth_code=NULL&state=SECRETSTATE", "no authorization code");
}

static void
test_reject_empty (void)
{
  g_autoptr(GError) error = NULL;

  assert_refused ("", "empty");
  assert_refused ("   \n\t ", "empty");
  assert_refused ("\"\"", "empty");
  g_assert_null (kh_callback_parse (NULL, &error));
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
}

static void
test_reject_no_code (void)
{
  const char *message =
    "this URL has no authorization code: copy the whole address from the browser after approving";
  g_autoptr(GError) error = NULL;
  g_autoptr(KhCallback) cb = kh_callback_parse ("https://localhost/?state=SECRETSTATE", &error);

  g_assert_null (cb);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_cmpstr (error->message, ==, message);

  assert_refused ("https://localhost/", message);
  assert_refused ("https://localhost/callback", message);
  assert_refused ("hello", message);
  assert_refused ("https://localhost/?app_key=6idt36ueoum3i&locale=en-GB", message);
}

static void
test_reject_oversized (void)
{
  g_autoptr(GString) text =
    g_string_new ("https://localhost/?code=SECRETCODE&state=SECRETSTATE&x=");
  g_autoptr(GString) value = g_string_new ("https://localhost/?state=SECRETSTATE&code=");

  while (text->len <= KH_CALLBACK_MAX_LENGTH)
    g_string_append_c (text, 'a');
  assert_refused (text->str, "longer than");

  /* One value over its own limit, inside a text under the total limit. */
  for (guint i = 0; i <= KH_CALLBACK_MAX_VALUE; i++)
    g_string_append_c (value, 'b');
  assert_refused (value->str, "“code” parameter is longer than");
}

static void
test_reject_control_chars (void)
{
  assert_refused ("https://localhost/?code=SECRETCODE%0Aevil&state=SECRETSTATE",
                  "“code” parameter contains control characters");
  assert_refused ("https://localhost/?code=SECRETCODE&state=SECRETSTATE%1B",
                  "“state” parameter contains control characters");
  assert_refused ("https://localhost/?error=access_denied&error_description=a%07b",
                  "“error_description” parameter contains control characters");
  assert_refused ("https://localhost/?code=SECRETCODE%C2%85&state=SECRETSTATE",
                  "control characters");
  /* An escaped NUL would cut the value short: refused, not truncated. */
  assert_refused ("https://localhost/?code=SECRETCODE%00x&state=SECRETSTATE", "“code”");
}

static void
test_reject_invalid_utf8 (void)
{
  assert_refused ("https://localhost/?code=SECRET\xff\xfe&state=SECRETSTATE", "UTF-8");
  assert_refused ("https://localhost/?code=SECRETCODE%FF%FE&state=SECRETSTATE",
                  "“code” parameter is not valid UTF-8");
  assert_refused ("https://localhost/?code=SECRETCODE%zz&state=SECRETSTATE", "“code”");
}

static void
test_reject_conflicting (void)
{
  assert_refused ("https://localhost/?code=SECRETCODE&state=SECRETSTATE&code=SECRETCODE2",
                  "“code” parameter appears twice with different values");
  assert_refused ("https://localhost/?code=SECRETCODE&state=SECRETSTATE&state=SECRETSTATE2",
                  "“state” parameter appears twice");
  assert_refused ("https://localhost/?auth_code=SECRETCODE&code=SECRETCODE2&state=SECRETSTATE",
                  "both “code” and “auth_code”");
}

static void
test_unknown_parameters_ignored (void)
{
  /* Parameters Keyhold does not read are neither validated nor kept. */
  g_autoptr(KhCallback) cb =
    parse_ok ("https://localhost/?x=%zz&y=1&y=2&code=C8&%zz=1&&=&state=S8&flag");

  g_assert_cmpstr (cb->code, ==, "C8");
  g_assert_cmpstr (cb->state, ==, "S8");
}

static void
test_from_query (void)
{
  g_autoptr(GHashTable) query = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  g_autoptr(KhCallback) cb = NULL;
  g_autoptr(KhCallback) copy = NULL;
  g_autoptr(KhCallback) bad = NULL;

  g_hash_table_insert (query, (char *) "code", (char *) "C9");
  g_hash_table_insert (query, (char *) "auth_code", (char *) "C9");
  g_hash_table_insert (query, (char *) "state", (char *) "S9");
  g_hash_table_insert (query, (char *) "shop_region", (char *) "GB");
  g_hash_table_insert (query, (char *) "other", (char *) "\x01");
  cb = kh_callback_new_from_query ("http://localhost:8765/callback", query, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, "C9");
  g_assert_cmpstr (cb->state, ==, "S9");
  g_assert_cmpstr (cb->shop_region, ==, "GB");
  g_assert_cmpstr (cb->redirect_base, ==, "http://localhost:8765/callback");

  copy = kh_callback_copy (cb);
  g_assert_cmpstr (copy->code, ==, "C9");
  g_assert_cmpstr (copy->state, ==, "S9");
  g_assert_cmpstr (copy->shop_region, ==, "GB");
  g_assert_cmpstr (copy->redirect_base, ==, cb->redirect_base);
  g_assert_true (copy->code != cb->code);

  g_hash_table_insert (query, (char *) "state", (char *) "S9\n");
  bad = kh_callback_new_from_query (NULL, query, &error);
  g_assert_null (bad);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
  g_assert_null (strstr (error->message, "S9"));
}

static void
test_raw_query (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(KhCallback) cb = kh_callback_new_from_raw_query (NULL, "code=A&state=B", &error);
  g_autoptr(KhCallback) bad = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (cb->code, ==, "A");
  g_assert_null (cb->redirect_base);

  bad = kh_callback_new_from_raw_query (NULL, "code=A&state=B&state=C", &error);
  g_assert_null (bad);
  g_assert_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT);
}

static void
test_peek_state (void)
{
  struct {
    const char *query;
    const char *state;
  } cases[] = {
    { "code=a&state=abc", "abc" },
    { "state=a%2Bb", "a+b" },
    { "state=abc&state=abc", "abc" },
    { "state=abc&state=abd", NULL },
    { "state=", NULL },
    { "code=a", NULL },
    { "state=a%0Ab", NULL },
    { "state=%zz", NULL },
    { "", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *state = kh_callback_dup_raw_query_state (cases[i].query);

      g_assert_cmpstr (state, ==, cases[i].state);
    }
}

int
main (int   argc,
      char *argv[])
{
  kh_test_init (&argc, &argv);

  g_test_add_func ("/keyhold/callback/seed-example", test_seed_example);
  g_test_add_func ("/keyhold/callback/seed-with-ellipsis", test_seed_with_ellipsis);
  g_test_add_func ("/keyhold/callback/shop-with-state", test_shop_with_state);
  g_test_add_func ("/keyhold/callback/advertiser-both-codes", test_advertiser_both_codes);
  g_test_add_func ("/keyhold/callback/advertiser-auth-code-only", test_advertiser_auth_code_only);
  g_test_add_func ("/keyhold/callback/tt-user-code", test_tt_user_code);
  g_test_add_func ("/keyhold/callback/html-escaped", test_html_escaped);
  g_test_add_func ("/keyhold/callback/trailing-punctuation", test_trailing_punctuation);
  g_test_add_func ("/keyhold/callback/missing-scheme", test_missing_scheme);
  g_test_add_func ("/keyhold/callback/quotes-and-whitespace", test_quotes_and_whitespace);
  g_test_add_func ("/keyhold/callback/bare-query", test_bare_query);
  g_test_add_func ("/keyhold/callback/fragment", test_fragment);
  g_test_add_func ("/keyhold/callback/link-wrappers", test_link_wrappers);
  g_test_add_func ("/keyhold/callback/same-value-twice", test_same_value_twice);
  g_test_add_func ("/keyhold/callback/percent-and-plus", test_percent_and_plus);
  g_test_add_func ("/keyhold/callback/denied", test_denied);
  g_test_add_func ("/keyhold/callback/denied-description", test_denied_description);
  g_test_add_func ("/keyhold/callback/code-null", test_code_null);
  g_test_add_func ("/keyhold/callback/reject-empty", test_reject_empty);
  g_test_add_func ("/keyhold/callback/reject-no-code", test_reject_no_code);
  g_test_add_func ("/keyhold/callback/reject-oversized", test_reject_oversized);
  g_test_add_func ("/keyhold/callback/reject-control-chars", test_reject_control_chars);
  g_test_add_func ("/keyhold/callback/reject-invalid-utf8", test_reject_invalid_utf8);
  g_test_add_func ("/keyhold/callback/reject-conflicting", test_reject_conflicting);
  g_test_add_func ("/keyhold/callback/unknown-parameters-ignored", test_unknown_parameters_ignored);
  g_test_add_func ("/keyhold/callback/from-query", test_from_query);
  g_test_add_func ("/keyhold/callback/raw-query", test_raw_query);
  g_test_add_func ("/keyhold/callback/peek-state", test_peek_state);

  return g_test_run ();
}
