/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-callback.c: reads what TikTok's redirect carried. Two sources feed it: the loopback
 * listener (a raw or decoded query) and text the user pasted from a browser, a chat app or a
 * mail. Pasted text is cleaned of the decorations those add, then every parameter we use is
 * validated. Error messages name parameters, never their values: codes and states are secrets. */

#define G_LOG_DOMAIN "kh-callback"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-callback.h"

#include "kh-error.h"

#include <string.h>

/* How much of error_description a denial message quotes. */
#define DESCRIPTION_MAX_CHARS 200

typedef enum {
  PARAM_CODE,
  PARAM_AUTH_CODE,
  PARAM_STATE,
  PARAM_ERROR,
  PARAM_ERROR_DESCRIPTION,
  PARAM_APP_KEY,
  PARAM_LOCALE,
  PARAM_SHOP_REGION,
  N_PARAMS
} Param;

static const char * const param_names[N_PARAMS] = {
  [PARAM_CODE] = "code",
  [PARAM_AUTH_CODE] = "auth_code",
  [PARAM_STATE] = "state",
  [PARAM_ERROR] = "error",
  [PARAM_ERROR_DESCRIPTION] = "error_description",
  [PARAM_APP_KEY] = "app_key",
  [PARAM_LOCALE] = "locale",
  [PARAM_SHOP_REGION] = "shop_region",
};

typedef struct {
  char *values[N_PARAMS];
} ParamSet;

static void
param_set_clear (ParamSet *set)
{
  for (guint i = 0; i < N_PARAMS; i++)
    g_clear_pointer (&set->values[i], g_free);
}

static int
param_lookup (const char *name)
{
  for (guint i = 0; i < N_PARAMS; i++)
    {
      if (strcmp (name, param_names[i]) == 0)
        return (int) i;
    }
  return -1;
}

/* Invisible characters that chat apps and word processors slip into copied text. They can never
 * be part of a URL, so they are treated like whitespace. */
static gboolean
is_invisible_or_space (gunichar c)
{
  return g_unichar_isspace (c) ||
         c == 0x200B || c == 0x200C || c == 0x200D || c == 0x2060 || c == 0xFEFF;
}

static gboolean
is_typographic_quote (gunichar c)
{
  switch (c)
    {
    case 0x201C: case 0x201D: case 0x2018: case 0x2019:   /* “ ” ‘ ’ */
    case 0x00AB: case 0x00BB: case 0x2039: case 0x203A:   /* « » ‹ › */
      return TRUE;
    default:
      return FALSE;
    }
}

/* Quotes, brackets and Markdown emphasis around a pasted URL. */
static gboolean
is_leading_decoration (gunichar c)
{
  if (c > 0 && c < 128)
    return strchr ("\"'<`([{*", (int) c) != NULL;
  return is_typographic_quote (c);
}

/* Closing quotes and brackets, and the punctuation a sentence or a chat app puts after a URL.
 * None of them ends a real code or state (base64url and TikTok's codes are alphanumeric with
 * '_' and '-'). */
static gboolean
is_trailing_decoration (gunichar c)
{
  if (c > 0 && c < 128)
    return strchr ("\"'>`)]}*.,;:!?", (int) c) != NULL;
  return is_typographic_quote (c) || c == 0x2026 || c == 0x3002 || c == 0xFF0C;
}

/* Splits on whitespace and invisible characters. Several words mean the URL came with prose
 * ("here you go: https://..."): the word that carries a query is the callback. */
static char *
pick_candidate (const char *text)
{
  g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  GString *word = g_string_new (NULL);
  const char *p;

  for (p = text; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (is_invisible_or_space (c))
        {
          if (word->len > 0)
            {
              g_ptr_array_add (words, g_string_free (word, FALSE));
              word = g_string_new (NULL);
            }
          continue;
        }
      g_string_append_unichar (word, c);
    }
  if (word->len > 0)
    g_ptr_array_add (words, g_string_free (word, FALSE));
  else
    g_string_free (word, TRUE);

  if (words->len == 0)
    return NULL;
  if (words->len == 1)
    return g_strdup (g_ptr_array_index (words, 0));

  /* Prefer a word holding both '?' and '=', then any word with '='. */
  for (guint i = 0; i < words->len; i++)
    {
      const char *w = g_ptr_array_index (words, i);

      if (strchr (w, '?') != NULL && strchr (w, '=') != NULL)
        return g_strdup (w);
    }
  for (guint i = 0; i < words->len; i++)
    {
      const char *w = g_ptr_array_index (words, i);

      if (strchr (w, '=') != NULL)
        return g_strdup (w);
    }
  return g_strdup (g_ptr_array_index (words, 0));
}

static char *
strip_decorations (const char *word)
{
  const char *start = word;
  const char *end = word + strlen (word);
  const char *md;
  gboolean changed = TRUE;

  /* Markdown links: "[text](https://...)" keeps what is inside the parentheses. */
  md = strstr (word, "](");
  if (md != NULL)
    start = md + 2;

  while (changed && start < end)
    {
      changed = FALSE;
      if (is_leading_decoration (g_utf8_get_char (start)))
        {
          start = g_utf8_next_char (start);
          changed = TRUE;
        }
      if (start < end)
        {
          const char *last = g_utf8_find_prev_char (start, end);

          if (last != NULL && is_trailing_decoration (g_utf8_get_char (last)))
            {
              end = last;
              changed = TRUE;
            }
        }
    }

  return g_strndup (start, end - start);
}

/* Undoes the HTML escaping of '&' that mail clients and web pages apply ("&amp;", "&#38;",
 * "&#x26;"), repeatedly, for text that was escaped twice. */
static char *
unescape_ampersands (const char *text)
{
  static const char * const forms[] = { "&amp;", "&#38;", "&#x26;" };
  g_autoptr(GString) s = g_string_new (text);
  gboolean changed = TRUE;

  while (changed)
    {
      changed = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
        {
          gsize flen = strlen (forms[i]);
          gsize pos = 0;

          while (pos + flen <= s->len)
            {
              if (g_ascii_strncasecmp (s->str + pos, forms[i], flen) == 0)
                {
                  g_string_erase (s, pos + 1, flen - 1);
                  changed = TRUE;
                }
              pos++;
            }
        }
    }

  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gboolean
has_control_chars (const char *value)
{
  for (const char *p = value; *p; p = g_utf8_next_char (p))
    {
      if (g_unichar_iscntrl (g_utf8_get_char (p)))
        return TRUE;
    }
  return FALSE;
}

/* Checks one decoded value: bounded, UTF-8, no control characters. */
static gboolean
check_value (Param        param,
             const char  *value,
             GError     **error)
{
  const char *name = param_names[param];

  if (strlen (value) > KH_CALLBACK_MAX_VALUE)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the “%s” parameter is longer than %d bytes"),
                   name, KH_CALLBACK_MAX_VALUE);
      return FALSE;
    }
  if (!g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the “%s” parameter is not valid UTF-8 text"), name);
      return FALSE;
    }
  if (has_control_chars (value))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the “%s” parameter contains control characters"), name);
      return FALSE;
    }
  return TRUE;
}

/* Records one checked value. A parameter may repeat only with the same value. */
static gboolean
param_set_add (ParamSet    *set,
               Param        param,
               const char  *value,
               GError     **error)
{
  if (!check_value (param, value, error))
    return FALSE;

  if (set->values[param] != NULL)
    {
      if (strcmp (set->values[param], value) != 0)
        {
          g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                       _("the “%s” parameter appears twice with different values"),
                       param_names[param]);
          return FALSE;
        }
      return TRUE;
    }

  set->values[param] = g_strdup (value);
  return TRUE;
}

/* Decodes one name or value of a query. Form encoding: '+' is a space. NULL on a broken escape
 * or an escaped NUL. */
static char *
decode_component (const char *raw,
                  gsize       len)
{
  g_autofree char *plain = g_strndup (raw, len);

  g_strdelimit (plain, "+", ' ');
  return g_uri_unescape_string (plain, NULL);
}

/* Decodes the value of one of our parameters; an escape-heavy raw value is refused before any
 * work is spent on it. */
static char *
decode_value (Param        param,
              const char  *raw,
              gsize        len,
              GError     **error)
{
  char *value;

  if (len > 3 * KH_CALLBACK_MAX_VALUE)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the “%s” parameter is longer than %d bytes"),
                   param_names[param], KH_CALLBACK_MAX_VALUE);
      return NULL;
    }
  value = decode_component (raw, len);
  if (value == NULL)
    g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                 _("the “%s” parameter is not correctly percent-encoded"), param_names[param]);
  return value;
}

typedef gboolean (*PairFunc) (const char  *raw_name,
                              gsize        name_len,
                              const char  *raw_value,
                              gsize        value_len,
                              gpointer     user_data,
                              GError     **error);

static gboolean
foreach_pair (const char  *raw_query,
              PairFunc     func,
              gpointer     user_data,
              GError     **error)
{
  const char *p = raw_query;

  while (*p)
    {
      const char *amp = strchr (p, '&');
      const char *end = amp != NULL ? amp : p + strlen (p);
      const char *eq = memchr (p, '=', end - p);

      if (end > p)
        {
          const char *name_end = eq != NULL ? eq : end;
          const char *value = eq != NULL ? eq + 1 : end;

          if (!func (p, name_end - p, value, end - value, user_data, error))
            return FALSE;
        }
      if (amp == NULL)
        break;
      p = amp + 1;
    }
  return TRUE;
}

static gboolean
collect_pair (const char  *raw_name,
              gsize        name_len,
              const char  *raw_value,
              gsize        value_len,
              gpointer     user_data,
              GError     **error)
{
  ParamSet *set = user_data;
  g_autofree char *name = decode_component (raw_name, name_len);
  g_autofree char *value = NULL;
  int param;

  /* A name we cannot read is not one of ours: ignore it like any other unknown parameter. */
  if (name == NULL)
    return TRUE;
  param = param_lookup (name);
  if (param < 0)
    return TRUE;

  value = decode_value (param, raw_value, value_len, error);
  if (value == NULL)
    return FALSE;

  return param_set_add (set, param, value, error);
}

/* TikTok sends code= empty or the literal "null" next to a denial. */
static char *
take_meaningful (char **value,
                 gboolean null_means_none)
{
  char *v = g_steal_pointer (value);

  if (v == NULL)
    return NULL;
  if (*v == '\0' || (null_means_none && g_ascii_strcasecmp (v, "null") == 0))
    {
      g_free (v);
      return NULL;
    }
  return v;
}

static KhCallback *
param_set_finish (ParamSet    *set,
                  const char  *redirect_base,
                  GError     **error)
{
  g_autoptr(KhCallback) self = NULL;
  g_autofree char *code = take_meaningful (&set->values[PARAM_CODE], TRUE);
  g_autofree char *auth_code = take_meaningful (&set->values[PARAM_AUTH_CODE], TRUE);

  /* Advertiser callbacks carry both; they must agree. */
  if (code != NULL && auth_code != NULL && strcmp (code, auth_code) != 0)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the address carries both “code” and “auth_code” with different "
                     "values"));
      return NULL;
    }

  self = g_new0 (KhCallback, 1);
  self->code = code != NULL ? g_steal_pointer (&code) : g_steal_pointer (&auth_code);
  self->state = take_meaningful (&set->values[PARAM_STATE], FALSE);
  self->error = take_meaningful (&set->values[PARAM_ERROR], FALSE);
  self->error_description = take_meaningful (&set->values[PARAM_ERROR_DESCRIPTION], FALSE);
  self->app_key = take_meaningful (&set->values[PARAM_APP_KEY], FALSE);
  self->locale = take_meaningful (&set->values[PARAM_LOCALE], FALSE);
  self->shop_region = take_meaningful (&set->values[PARAM_SHOP_REGION], FALSE);
  self->redirect_base = g_strdup (redirect_base);

  if (self->code == NULL && self->error == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("this URL has no authorization code: copy the whole address from the "
                     "browser after approving"));
      return NULL;
    }

  return g_steal_pointer (&self);
}

KhCallback *
kh_callback_new_from_raw_query (const char  *redirect_base,
                                const char  *raw_query,
                                GError     **error)
{
  ParamSet set = { { NULL } };
  KhCallback *self;

  g_return_val_if_fail (raw_query != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (strnlen (raw_query, KH_CALLBACK_MAX_LENGTH + 1) > KH_CALLBACK_MAX_LENGTH)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the address is longer than %d bytes"), KH_CALLBACK_MAX_LENGTH);
      return NULL;
    }

  if (!foreach_pair (raw_query, collect_pair, &set, error))
    {
      param_set_clear (&set);
      return NULL;
    }

  self = param_set_finish (&set, redirect_base, error);
  param_set_clear (&set);
  return self;
}

typedef struct {
  char     *state;
  gboolean  bad;
} StatePeek;

static gboolean
peek_state_pair (const char  *raw_name,
                 gsize        name_len,
                 const char  *raw_value,
                 gsize        value_len,
                 gpointer     user_data,
                 GError     **error)
{
  StatePeek *peek = user_data;
  g_autofree char *name = decode_component (raw_name, name_len);
  g_autofree char *value = NULL;

  if (name == NULL || strcmp (name, "state") != 0)
    return TRUE;

  value = decode_value (PARAM_STATE, raw_value, value_len, NULL);
  if (value == NULL || !check_value (PARAM_STATE, value, NULL))
    peek->bad = TRUE;
  else if (peek->state != NULL && strcmp (peek->state, value) != 0)
    peek->bad = TRUE;
  else if (peek->state == NULL)
    peek->state = g_steal_pointer (&value);

  return TRUE;
}

char *
kh_callback_dup_raw_query_state (const char *raw_query)
{
  StatePeek peek = { NULL, FALSE };

  g_return_val_if_fail (raw_query != NULL, NULL);

  if (strnlen (raw_query, KH_CALLBACK_MAX_LENGTH + 1) > KH_CALLBACK_MAX_LENGTH)
    return NULL;

  foreach_pair (raw_query, peek_state_pair, &peek, NULL);
  if (peek.bad || peek.state == NULL || *peek.state == '\0')
    {
      g_free (peek.state);
      return NULL;
    }
  return peek.state;
}

KhCallback *
kh_callback_new_from_query (const char  *redirect_base,
                            GHashTable  *query,
                            GError     **error)
{
  ParamSet set = { { NULL } };
  GHashTableIter iter;
  gpointer key, value;
  KhCallback *self;

  g_return_val_if_fail (query != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_hash_table_iter_init (&iter, query);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      int param = key != NULL ? param_lookup (key) : -1;

      if (param < 0)
        continue;
      if (!param_set_add (&set, param, value != NULL ? value : "", error))
        {
          param_set_clear (&set);
          return NULL;
        }
    }

  self = param_set_finish (&set, redirect_base, error);
  param_set_clear (&set);
  return self;
}

/* scheme://host[:port]/path of what was pasted, or NULL when it cannot be told. */
static char *
make_redirect_base (const char *base)
{
  g_autoptr(GUri) uri = NULL;
  const char *path;

  if (base == NULL || *base == '\0' || strstr (base, "://") == NULL)
    return NULL;

  uri = g_uri_parse (base, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0')
    return NULL;

  path = g_uri_get_path (uri);
  return g_uri_join (G_URI_FLAGS_ENCODED, g_uri_get_scheme (uri), NULL, g_uri_get_host (uri),
                     g_uri_get_port (uri), *path != '\0' ? path : "/", NULL, NULL);
}

static gboolean
result_pair (const char  *raw_name,
             gsize        name_len,
             const char  *raw_value,
             gsize        value_len,
             gpointer     user_data,
             GError     **error)
{
  gboolean *found = user_data;
  g_autofree char *name = decode_component (raw_name, name_len);
  int param = name != NULL ? param_lookup (name) : -1;

  if (param == PARAM_CODE || param == PARAM_AUTH_CODE || param == PARAM_ERROR)
    *found = TRUE;
  return TRUE;
}

static gboolean
wrapped_url_pair (const char  *raw_name,
                  gsize        name_len,
                  const char  *raw_value,
                  gsize        value_len,
                  gpointer     user_data,
                  GError     **error)
{
  char **found = user_data;
  g_autofree char *value = NULL;

  if (*found != NULL)
    return TRUE;
  value = decode_component (raw_value, value_len);
  if (value != NULL && strchr (value, '?') != NULL &&
      (g_str_has_prefix (value, "http://") || g_str_has_prefix (value, "https://")))
    *found = g_steal_pointer (&value);
  return TRUE;
}

/* Mail and chat services pass links through their own redirector (Outlook "Safe Links",
 * Slack, Facebook): the callback then sits percent-encoded in one of the wrapper's parameters.
 * Returns that URL when the query carries none of our own results. */
static char *
find_wrapped_url (const char *raw_query)
{
  gboolean has_result = FALSE;
  char *wrapped = NULL;

  foreach_pair (raw_query, result_pair, &has_result, NULL);
  if (has_result)
    return NULL;
  foreach_pair (raw_query, wrapped_url_pair, &wrapped, NULL);
  return wrapped;
}

static KhCallback *
parse_text (const char  *text,
            gboolean     may_unwrap,
            GError     **error)
{
  g_autofree char *word = NULL;
  g_autofree char *stripped = NULL;
  g_autofree char *cleaned = NULL;
  g_autofree char *base = NULL;
  g_autofree char *redirect_base = NULL;
  const char *query = NULL;
  char *hash;
  char *question;

  if (strnlen (text, KH_CALLBACK_MAX_LENGTH + 1) > KH_CALLBACK_MAX_LENGTH)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the pasted text is longer than %d bytes, too long for an authorization "
                     "address"), KH_CALLBACK_MAX_LENGTH);
      return NULL;
    }
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the pasted text is not valid UTF-8 text"));
      return NULL;
    }

  word = pick_candidate (text);
  if (word != NULL)
    stripped = strip_decorations (word);
  if (stripped == NULL || *stripped == '\0')
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("the pasted text is empty: copy the whole address from the browser after "
                     "approving"));
      return NULL;
    }

  cleaned = unescape_ampersands (stripped);

  /* The fragment never reaches a server; it only matters when it is all there is
   * ("...#code=...&state=..."). */
  hash = strchr (cleaned, '#');
  question = strchr (cleaned, '?');
  if (question != NULL && (hash == NULL || question < hash))
    {
      if (hash != NULL)
        *hash = '\0';
      *question = '\0';
      query = question + 1;
      base = g_strdup (cleaned);
    }
  else if (hash != NULL && strchr (hash, '=') != NULL)
    {
      /* Also "#/callback?code=..." from single-page apps that route in the fragment. */
      char *inner = strchr (hash, '?');

      *hash = '\0';
      query = inner != NULL ? inner + 1 : hash + 1;
      base = g_strdup (cleaned);
    }
  else if (hash == NULL && strchr (cleaned, '/') == NULL && strchr (cleaned, '=') != NULL)
    {
      /* A bare "code=...&state=..." without the '?'. */
      query = cleaned;
    }
  else
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("this URL has no authorization code: copy the whole address from the "
                     "browser after approving"));
      return NULL;
    }

  if (may_unwrap)
    {
      g_autofree char *wrapped = find_wrapped_url (query);

      /* One level only: a wrapper inside a wrapper is not something a browser produced. */
      if (wrapped != NULL)
        return parse_text (wrapped, FALSE, error);
    }

  /* Without a scheme ("localhost:8765/callback?...") the scheme the browser used cannot be
   * known, so no redirect_base is claimed. */
  redirect_base = make_redirect_base (base);

  return kh_callback_new_from_raw_query (redirect_base, query, error);
}

KhCallback *
kh_callback_parse (const char  *text,
                   GError     **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return parse_text (text != NULL ? text : "", TRUE, error);
}

KhCallback *
kh_callback_copy (const KhCallback *self)
{
  KhCallback *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = g_new0 (KhCallback, 1);
  copy->code = g_strdup (self->code);
  copy->state = g_strdup (self->state);
  copy->error = g_strdup (self->error);
  copy->error_description = g_strdup (self->error_description);
  copy->app_key = g_strdup (self->app_key);
  copy->locale = g_strdup (self->locale);
  copy->shop_region = g_strdup (self->shop_region);
  copy->redirect_base = g_strdup (self->redirect_base);
  return copy;
}

void
kh_callback_free (KhCallback *self)
{
  if (self == NULL)
    return;

  /* The code and state are secrets: do not leave them in freed memory. */
  if (self->code != NULL)
    memset (self->code, 0, strlen (self->code));
  if (self->state != NULL)
    memset (self->state, 0, strlen (self->state));

  g_free (self->code);
  g_free (self->state);
  g_free (self->error);
  g_free (self->error_description);
  g_free (self->app_key);
  g_free (self->locale);
  g_free (self->shop_region);
  g_free (self->redirect_base);
  g_free (self);
}

/* Text from the network shown to the user: control and bidirectional-override characters go
 * (they could rearrange or hide the rest of the message), and the length is capped. */
static char *
sanitize_for_display (const char *text)
{
  GString *out = g_string_new (NULL);
  const char *p;
  guint n = 0;

  if (!g_utf8_validate (text, -1, NULL))
    {
      g_autofree char *valid = g_utf8_make_valid (text, -1);

      return sanitize_for_display (valid);
    }

  for (p = text; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iscntrl (c) ||
          (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) ||
          c == 0x200E || c == 0x200F || c == 0x061C)
        continue;
      if (n == DESCRIPTION_MAX_CHARS)
        {
          g_string_append (out, "…");
          break;
        }
      g_string_append_unichar (out, c);
      n++;
    }

  g_strstrip (out->str);
  out->len = strlen (out->str);
  return g_string_free (out, FALSE);
}

gboolean
kh_callback_is_denied (const KhCallback  *self,
                       GError           **error)
{
  g_autofree char *description = NULL;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->error == NULL || *self->error == '\0')
    return FALSE;

  if (self->error_description != NULL)
    description = sanitize_for_display (self->error_description);

  /* auth_denied and access_denied are plain refusals; any other value is also an ending
   * the account holder (or TikTok) chose, so its name is worth showing when nothing else is. */
  if ((description == NULL || *description == '\0') &&
      g_strcmp0 (self->error, "auth_denied") != 0 &&
      g_strcmp0 (self->error, "access_denied") != 0)
    {
      g_free (description);
      description = sanitize_for_display (self->error);
    }

  if (description != NULL && *description != '\0')
    g_set_error (error, KH_ERROR, KH_ERROR_DENIED,
                 _("The account holder declined the authorization: %s"), description);
  else
    g_set_error_literal (error, KH_ERROR, KH_ERROR_DENIED,
                         _("The account holder declined the authorization"));
  return TRUE;
}
