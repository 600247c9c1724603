/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-history.c: one history record (kh-history.h): building it, its one-line JSON form, reading
 * it back with every field checked, and the sentence the UI and the CLI show. The detail of each
 * action is a closed list of typed members: a reader refuses anything else, which keeps the
 * file free of secrets even if a writer went wrong. */

#define G_LOG_DOMAIN "kh-history"

#include "config.h"

#include <glib/gi18n.h>

#include "kh-history.h"

#include "kh-error.h"
#include "kh-json.h"
#include "kh-provider.h"
#include "kh-util.h"

#include <string.h>

/* Lengths past which a field is not something Keyhold wrote. */
#define MAX_ID_LEN    128
#define MAX_TEXT_LEN  1024

struct _KhHistoryEntry
{
  gint64      at;
  char       *action;
  char       *grant_id;
  char       *type;
  char       *client;
  char       *actor;
  char       *machine;
  JsonObject *detail;     /* NULL until a member is set */
};

G_DEFINE_BOXED_TYPE (KhHistoryEntry, kh_history_entry, kh_history_entry_ref, kh_history_entry_unref)

/* ---- the closed set ------------------------------------------------------------------------- */

typedef enum {
  MEMBER_TEXT,          /* a string */
  MEMBER_WORD,          /* a kebab-case word: [a-z0-9-]+ */
  MEMBER_INT,           /* an integer >= 0 */
  MEMBER_BOOL,
  MEMBER_STRV,          /* an array of strings */
  MEMBER_ACCOUNTS,      /* an array of {id: string, name: string|null} */
  MEMBER_TIME,          /* ISO 8601 */
  MEMBER_TIME_OR_NULL,
  MEMBER_COUNTS,        /* {known action: integer >= 0} */
} MemberKind;

typedef struct {
  const char *name;
  MemberKind  kind;
  const char * const *choices;   /* MEMBER_WORD only: NULL = any word */
} Member;

typedef struct {
  const char   *action;
  const Member *members;         /* all required; NULL-name terminated; NULL = no detail */
} ActionSpec;

static const char * const flows[] = { "browser", "link", "paste", "quick-connect", NULL };
static const char * const formats[] = { "n8n", "mcp-shops", "env", NULL };

static const Member authorized_members[] = {
  { "flow", MEMBER_WORD, flows },
  { "scopes", MEMBER_STRV, NULL },
  { NULL, 0, NULL },
};
static const Member refresh_failed_members[] = {
  { "code", MEMBER_INT, NULL },
  { "message", MEMBER_TEXT, NULL },
  { NULL, 0, NULL },
};
static const Member accounts_changed_members[] = {
  { "added", MEMBER_ACCOUNTS, NULL },
  { "removed", MEMBER_ACCOUNTS, NULL },
  { NULL, 0, NULL },
};
static const Member revoked_members[] = {
  { "manual", MEMBER_BOOL, NULL },
  { NULL, 0, NULL },
};
static const Member token_read_members[] = {
  { "command", MEMBER_WORD, NULL },
  { NULL, 0, NULL },
};
static const Member exported_members[] = {
  { "format", MEMBER_WORD, formats },
  { "stale_at", MEMBER_TIME_OR_NULL, NULL },
  { NULL, 0, NULL },
};
static const Member access_changed_members[] = {
  { "role", MEMBER_WORD, NULL },
  { "clients", MEMBER_STRV, NULL },
  { NULL, 0, NULL },
};
static const Member needs_reauth_members[] = {
  { "reason", MEMBER_TEXT, NULL },
  { NULL, 0, NULL },
};
static const Member rolled_up_members[] = {
  { "since", MEMBER_TIME, NULL },
  { "until", MEMBER_TIME, NULL },
  { "counts", MEMBER_COUNTS, NULL },
  { NULL, 0, NULL },
};

static const ActionSpec actions[] = {
  { KH_HISTORY_AUTHORIZED, authorized_members },
  { KH_HISTORY_REFRESHED, NULL },
  { KH_HISTORY_REFRESH_FAILED, refresh_failed_members },
  { KH_HISTORY_ACCOUNTS_CHANGED, accounts_changed_members },
  { KH_HISTORY_RENEWAL_COPIED, NULL },
  { KH_HISTORY_REVOKED, revoked_members },
  { KH_HISTORY_REMOVED, NULL },
  { KH_HISTORY_TOKEN_READ, token_read_members },
  { KH_HISTORY_EXPORTED, exported_members },
  { KH_HISTORY_SHARED, NULL },
  { KH_HISTORY_UNSHARED, NULL },
  { KH_HISTORY_ACCESS_CHANGED, access_changed_members },
  { KH_HISTORY_NEEDS_REAUTH, needs_reauth_members },
  { KH_HISTORY_ROLLED_UP, rolled_up_members },
};

static const ActionSpec *
find_action (const char *action)
{
  if (action == NULL)
    return NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    if (strcmp (actions[i].action, action) == 0)
      return &actions[i];
  return NULL;
}

gboolean
kh_history_action_is_known (const char *action)
{
  return find_action (action) != NULL;
}

/* ---- building ------------------------------------------------------------------------------- */

static void
entry_clear (KhHistoryEntry *self)
{
  g_free (self->action);
  g_free (self->grant_id);
  g_free (self->type);
  g_free (self->client);
  g_free (self->actor);
  g_free (self->machine);
  g_clear_pointer (&self->detail, json_object_unref);
}

KhHistoryEntry *
kh_history_entry_new_full (gint64      at,
                           const char *action,
                           const char *grant_id,
                           const char *type,
                           const char *client,
                           const char *actor,
                           const char *machine)
{
  KhHistoryEntry *self;

  g_return_val_if_fail (kh_history_action_is_known (action), NULL);
  g_return_val_if_fail (grant_id != NULL, NULL);
  g_return_val_if_fail (actor != NULL, NULL);
  g_return_val_if_fail (machine != NULL, NULL);

  self = g_atomic_rc_box_new0 (KhHistoryEntry);
  self->at = at;
  self->action = g_strdup (action);
  self->grant_id = g_strdup (grant_id);
  self->type = g_strdup (type);
  self->client = g_strdup (client);
  self->actor = g_strdup (actor);
  self->machine = g_strdup (machine);
  return self;
}

KhHistoryEntry *
kh_history_entry_new (const char *action,
                      KhGrant    *grant)
{
  g_return_val_if_fail (kh_history_action_is_known (action), NULL);
  g_return_val_if_fail (KH_IS_GRANT (grant), NULL);

  return kh_history_entry_new_full (kh_now (), action, kh_grant_get_id (grant),
                                    kh_provider_get (kh_grant_get_account_type (grant))->id,
                                    kh_grant_get_client_label (grant),
                                    g_get_user_name (), g_get_host_name ());
}

KhHistoryEntry *
kh_history_entry_ref (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return g_atomic_rc_box_acquire (self);
}

void
kh_history_entry_unref (KhHistoryEntry *self)
{
  g_return_if_fail (self != NULL);

  g_atomic_rc_box_release_full (self, (GDestroyNotify) entry_clear);
}

void
kh_history_entry_set_detail (KhHistoryEntry *self,
                             const char     *name,
                             JsonNode       *value)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (name != NULL);
  g_return_if_fail (value != NULL);

  if (self->detail == NULL)
    self->detail = json_object_new ();
  json_object_set_member (self->detail, name, value);
}

void
kh_history_entry_set_detail_string (KhHistoryEntry *self,
                                    const char     *name,
                                    const char     *value)
{
  JsonNode *node = json_node_new (JSON_NODE_NULL);

  if (value != NULL)
    json_node_init_string (node, value);
  kh_history_entry_set_detail (self, name, node);
}

void
kh_history_entry_set_detail_int (KhHistoryEntry *self,
                                 const char     *name,
                                 gint64          value)
{
  kh_history_entry_set_detail (self, name, json_node_init_int (json_node_alloc (), value));
}

void
kh_history_entry_set_detail_bool (KhHistoryEntry *self,
                                  const char     *name,
                                  gboolean        value)
{
  kh_history_entry_set_detail (self, name, json_node_init_boolean (json_node_alloc (), value));
}

void
kh_history_entry_set_detail_strv (KhHistoryEntry     *self,
                                  const char         *name,
                                  const char * const *value)
{
  static const char * const empty[] = { NULL };
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);

  json_node_take_array (node, kh_json_array_from_strv (value != NULL ? value : empty));
  kh_history_entry_set_detail (self, name, node);
}

/* ---- the event sites' entries ---------------------------------------------------------------- */

/* Messages from elsewhere (a GError) go into the file redacted, on one line, and short. */
#define MAX_MESSAGE_CHARS 200

static char *
safe_message (const char *message)
{
  g_autofree char *redacted = kh_redact (message != NULL ? message : "");
  g_autofree char *valid = g_utf8_make_valid (redacted, -1);
  g_autofree char *head = NULL;
  char *end;

  for (char *p = valid; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  if (g_utf8_strlen (valid, -1) <= MAX_MESSAGE_CHARS)
    return g_steal_pointer (&valid);
  end = g_utf8_offset_to_pointer (valid, MAX_MESSAGE_CHARS);
  head = g_strndup (valid, (gsize) (end - valid));
  return g_strconcat (head, "…", NULL);
}

KhHistoryEntry *
kh_history_entry_new_authorized (KhGrant    *grant,
                                 const char *flow)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_AUTHORIZED, grant);

  g_return_val_if_fail (g_strv_contains (flows, flow), self);

  kh_history_entry_set_detail_string (self, "flow", flow);
  kh_history_entry_set_detail_strv (self, "scopes", kh_grant_get_scopes (grant));
  return self;
}

KhHistoryEntry *
kh_history_entry_new_refresh_failed (KhGrant      *grant,
                                     const GError *error)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_REFRESH_FAILED, grant);

  g_return_val_if_fail (error != NULL, self);

  if (error->domain == KH_API_ERROR)
    {
      kh_history_entry_set_detail_int (self, "code", MAX (error->code, 0));
      /* The untranslated meaning: each reader shows it in their own language. */
      kh_history_entry_set_detail_string (self, "message",
                                          kh_api_error_lookup (error->code)->meaning);
    }
  else
    {
      g_autofree char *message = safe_message (error->message);

      kh_history_entry_set_detail_int (self, "code", 0);
      kh_history_entry_set_detail_string (self, "message", message);
    }
  return self;
}

static JsonNode *
accounts_node (const char * const *changes,
               char                sign)
{
  JsonNode *node = json_node_new (JSON_NODE_ARRAY);
  JsonArray *array = json_array_new ();

  for (guint i = 0; changes != NULL && changes[i] != NULL; i++)
    {
      g_auto(GStrv) parts = NULL;
      JsonObject *account;

      if (changes[i][0] != sign)
        continue;
      parts = g_strsplit (changes[i] + 1, "\t", 2);
      account = json_object_new ();
      json_object_set_string_member (account, "id", parts[0] != NULL ? parts[0] : "");
      if (parts[0] != NULL && parts[1] != NULL && *parts[1] != '\0')
        json_object_set_string_member (account, "name", parts[1]);
      else
        json_object_set_null_member (account, "name");
      json_array_add_object_element (array, account);
    }
  json_node_take_array (node, array);
  return node;
}

KhHistoryEntry *
kh_history_entry_new_accounts_changed (KhGrant            *grant,
                                       const char * const *changes)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_ACCOUNTS_CHANGED, grant);

  kh_history_entry_set_detail (self, "added", accounts_node (changes, '+'));
  kh_history_entry_set_detail (self, "removed", accounts_node (changes, '-'));
  return self;
}

KhHistoryEntry *
kh_history_entry_new_revoked (KhGrant  *grant,
                              gboolean  manual)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_REVOKED, grant);

  kh_history_entry_set_detail_bool (self, "manual", manual);
  return self;
}

KhHistoryEntry *
kh_history_entry_new_token_read (KhGrant    *grant,
                                 const char *command)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_TOKEN_READ, grant);

  kh_history_entry_set_detail_string (self, "command", command);
  return self;
}

KhHistoryEntry *
kh_history_entry_new_exported (KhGrant    *grant,
                               const char *format,
                               gint64      stale_at)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_EXPORTED, grant);
  g_autofree char *when = stale_at > 0 ? kh_iso8601_from_unix (stale_at) : NULL;

  g_return_val_if_fail (g_strv_contains (formats, format), self);

  kh_history_entry_set_detail_string (self, "format", format);
  kh_history_entry_set_detail_string (self, "stale_at", when);
  return self;
}

KhHistoryEntry *
kh_history_entry_new_needs_reauth (KhGrant    *grant,
                                   const char *reason)
{
  KhHistoryEntry *self = kh_history_entry_new (KH_HISTORY_NEEDS_REAUTH, grant);

  kh_history_entry_set_detail_string (self, "reason", reason);
  return self;
}

/* ---- getters -------------------------------------------------------------------------------- */

gint64
kh_history_entry_get_at (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->at;
}

const char *
kh_history_entry_get_action (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->action;
}

const char *
kh_history_entry_get_grant_id (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->grant_id;
}

const char *
kh_history_entry_get_type_id (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->type;
}

const char *
kh_history_entry_get_client (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->client;
}

const char *
kh_history_entry_get_actor (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->actor;
}

const char *
kh_history_entry_get_machine (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->machine;
}

JsonObject *
kh_history_entry_get_detail (KhHistoryEntry *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->detail;
}

/* ---- JSON out ------------------------------------------------------------------------------- */

static void
add_string_or_null (JsonObject *object,
                    const char *name,
                    const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, name, value);
  else
    json_object_set_null_member (object, name);
}

JsonNode *
kh_history_entry_to_json_node (KhHistoryEntry *self)
{
  JsonNode *node = NULL;
  JsonObject *object;
  g_autofree char *at = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  /* Members in the documented order, so that lines read well in a terminal. */
  object = json_object_new ();
  at = kh_iso8601_from_unix (self->at);
  json_object_set_int_member (object, "v", KH_HISTORY_VERSION);
  add_string_or_null (object, "at", at);
  json_object_set_string_member (object, "action", self->action);
  json_object_set_string_member (object, "grant", self->grant_id);
  add_string_or_null (object, "type", self->type);
  add_string_or_null (object, "client", self->client);
  json_object_set_string_member (object, "actor", self->actor);
  json_object_set_string_member (object, "machine", self->machine);
  if (self->detail != NULL)
    json_object_set_object_member (object, "detail", json_object_ref (self->detail));
  else
    json_object_set_object_member (object, "detail", json_object_new ());
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, object);
  return node;
}

char *
kh_history_entry_to_json (KhHistoryEntry *self)
{
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (self != NULL, NULL);

  node = kh_history_entry_to_json_node (self);
  return kh_json_to_string (node, FALSE);
}

/* ---- JSON in -------------------------------------------------------------------------------- */

static gboolean
bad_field (GError    **error,
           const char *field)
{
  g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
               _("History record: the field “%s” is missing or malformed"), field);
  return FALSE;
}

static gboolean
text_is_valid (const char *text,
               gsize       max_len)
{
  gsize len;

  if (text == NULL)
    return FALSE;
  len = strlen (text);
  if (len > max_len || !g_utf8_validate (text, len, NULL))
    return FALSE;
  /* No control characters: a record prints on one terminal line. */
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

static gboolean
id_is_valid (const char *id)
{
  gsize len = id != NULL ? strlen (id) : 0;

  if (len == 0 || len > MAX_ID_LEN)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

static gboolean
word_is_valid (const char         *word,
               const char * const *choices)
{
  gsize len = word != NULL ? strlen (word) : 0;

  if (len == 0 || len > MAX_ID_LEN)
    return FALSE;
  if (choices != NULL)
    return g_strv_contains (choices, word);
  for (const char *p = word; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-')
      return FALSE;
  return TRUE;
}

/* A string member that may also be null or absent. */
static gboolean
get_optional_text (JsonObject  *object,
                   const char  *name,
                   const char **out)
{
  JsonNode *node = json_object_get_member (object, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  *out = kh_json_get_string (object, name);
  return text_is_valid (*out, MAX_TEXT_LEN);
}

static gboolean
member_is_valid (JsonObject   *detail,
                 const Member *member)
{
  JsonNode *node = json_object_get_member (detail, member->name);
  gint64 number;
  gboolean flag;

  if (node == NULL)
    return FALSE;

  switch (member->kind)
    {
    case MEMBER_TEXT:
      return text_is_valid (kh_json_get_string (detail, member->name), MAX_TEXT_LEN);

    case MEMBER_WORD:
      return word_is_valid (kh_json_get_string (detail, member->name), member->choices);

    case MEMBER_INT:
      return kh_json_get_int (detail, member->name, &number) && number >= 0;

    case MEMBER_BOOL:
      return kh_json_get_bool (detail, member->name, &flag);

    case MEMBER_STRV:
      {
        g_auto(GStrv) strv = kh_json_get_strv (detail, member->name);

        if (strv == NULL)
          return FALSE;
        for (guint i = 0; strv[i] != NULL; i++)
          if (!text_is_valid (strv[i], MAX_TEXT_LEN))
            return FALSE;
        return TRUE;
      }

    case MEMBER_ACCOUNTS:
      {
        JsonArray *array = kh_json_get_array (detail, member->name);

        if (array == NULL)
          return FALSE;
        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            JsonObject *account = kh_json_node_object (json_array_get_element (array, i));
            const char *name;

            if (account == NULL || json_object_get_size (account) > 2
                || !text_is_valid (kh_json_get_string (account, "id"), MAX_ID_LEN)
                || !get_optional_text (account, "name", &name)
                || (json_object_get_size (account) == 2
                    && !json_object_has_member (account, "name")))
              return FALSE;
          }
        return TRUE;
      }

    case MEMBER_TIME:
      return kh_unix_from_iso8601 (kh_json_get_string (detail, member->name), &number);

    case MEMBER_TIME_OR_NULL:
      return JSON_NODE_HOLDS_NULL (node)
             || kh_unix_from_iso8601 (kh_json_get_string (detail, member->name), &number);

    case MEMBER_COUNTS:
      {
        JsonObject *counts = kh_json_get_object (detail, member->name);
        g_autoptr(GList) names = NULL;

        if (counts == NULL)
          return FALSE;
        names = json_object_get_members (counts);
        for (GList *l = names; l != NULL; l = l->next)
          if (!kh_history_action_is_known (l->data)
              || !kh_json_get_int (counts, l->data, &number) || number < 0)
            return FALSE;
        return TRUE;
      }

    default:
      g_assert_not_reached ();
    }
}

/* Every member the action defines, of its type, and no other member. */
static gboolean
detail_is_valid (const ActionSpec *spec,
                 JsonObject       *detail,
                 GError          **error)
{
  guint n_members = 0;

  if (spec->members != NULL)
    for (const Member *m = spec->members; m->name != NULL; m++, n_members++)
      if (!member_is_valid (detail, m))
        return bad_field (error, m->name);

  if (json_object_get_size (detail) != n_members)
    return bad_field (error, "detail");
  return TRUE;
}

KhHistoryEntry *
kh_history_entry_from_json_node (JsonNode  *node,
                                 GError   **error)
{
  static const char * const top_members[] = {
    "v", "at", "action", "grant", "type", "client", "actor", "machine", "detail", NULL
  };
  JsonObject *object = kh_json_node_object (node);
  g_autoptr(GList) names = NULL;
  const ActionSpec *spec;
  JsonObject *detail;
  JsonNode *detail_node;
  const char *grant_id, *type, *client, *actor, *machine;
  gint64 version, at;
  KhHistoryEntry *self;

  g_return_val_if_fail (node != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (object == NULL)
    {
      bad_field (error, "record");
      return NULL;
    }
  names = json_object_get_members (object);
  for (GList *l = names; l != NULL; l = l->next)
    if (!g_strv_contains (top_members, l->data))
      {
        bad_field (error, l->data);
        return NULL;
      }

  if (!kh_json_get_int (object, "v", &version) || version != KH_HISTORY_VERSION)
    {
      bad_field (error, "v");
      return NULL;
    }
  if (!kh_unix_from_iso8601 (kh_json_get_string (object, "at"), &at) || at <= 0)
    {
      bad_field (error, "at");
      return NULL;
    }
  spec = find_action (kh_json_get_string (object, "action"));
  if (spec == NULL)
    {
      bad_field (error, "action");
      return NULL;
    }
  grant_id = kh_json_get_string (object, "grant");
  if (!id_is_valid (grant_id))
    {
      bad_field (error, "grant");
      return NULL;
    }
  if (!get_optional_text (object, "type", &type)
      || (type != NULL && kh_provider_from_id (type) == NULL))
    {
      bad_field (error, "type");
      return NULL;
    }
  if (!get_optional_text (object, "client", &client))
    {
      bad_field (error, "client");
      return NULL;
    }
  actor = kh_json_get_string (object, "actor");
  if (!text_is_valid (actor, MAX_ID_LEN * 2) || *actor == '\0')
    {
      bad_field (error, "actor");
      return NULL;
    }
  machine = kh_json_get_string (object, "machine");
  if (!text_is_valid (machine, MAX_ID_LEN * 2) || *machine == '\0')
    {
      bad_field (error, "machine");
      return NULL;
    }

  /* An absent or null detail reads as an empty one. */
  detail_node = json_object_get_member (object, "detail");
  detail = NULL;
  if (detail_node != NULL && !JSON_NODE_HOLDS_NULL (detail_node))
    {
      detail = kh_json_node_object (detail_node);
      if (detail == NULL)
        {
          bad_field (error, "detail");
          return NULL;
        }
    }
  if (detail != NULL && !detail_is_valid (spec, detail, error))
    return NULL;
  if (detail == NULL && spec->members != NULL)
    {
      bad_field (error, spec->members[0].name);
      return NULL;
    }

  self = kh_history_entry_new_full (at, spec->action, grant_id, type, client, actor, machine);
  if (detail != NULL && json_object_get_size (detail) > 0)
    self->detail = json_object_ref (detail);
  return self;
}

KhHistoryEntry *
kh_history_entry_from_json (const char  *line,
                            GError     **error)
{
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (line != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  node = kh_json_parse (line, strlen (line), &local_error);
  if (node == NULL)
    {
      g_set_error (error, KH_ERROR, KH_ERROR_INVALID_INPUT,
                   _("History record: not a JSON object"));
      return NULL;
    }
  return kh_history_entry_from_json_node (node, error);
}

/* ---- the sentence --------------------------------------------------------------------------- */

static char *
format_local_time (gint64 unix_time)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (unix_time);
  g_autoptr(GDateTime) local = utc != NULL ? g_date_time_to_local (utc) : NULL;

  return local != NULL ? g_date_time_format (local, "%Y-%m-%d %H:%M") : g_strdup ("?");
}

/* "Name (id), Other (id2)" from an accounts array. */
static char *
join_accounts (JsonArray *array)
{
  g_autoptr(GString) text = g_string_new (NULL);

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonObject *account = kh_json_node_object (json_array_get_element (array, i));
      const char *id = kh_json_get_string (account, "id");
      const char *name = kh_json_get_string (account, "name");

      if (text->len > 0)
        g_string_append (text, ", ");
      if (name != NULL && *name != '\0')
        g_string_append_printf (text, "%s (%s)", name, id);
      else
        g_string_append (text, id);
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* A message stored untranslated (an N_() string of Keyhold's) in the reader's language. */
static const char *
translate_stored (const char *message)
{
  if (message == NULL || *message == '\0')
    return "";
  return g_dgettext (GETTEXT_PACKAGE, message);
}

static char *
describe_authorized (JsonObject *detail)
{
  const char *flow = kh_json_get_string (detail, "flow");
  g_auto(GStrv) scopes = kh_json_get_strv (detail, "scopes");
  const char *sentence;

  if (g_strcmp0 (flow, "link") == 0)
    sentence = _("Authorized through a link sent to the account holder.");
  else if (g_strcmp0 (flow, "paste") == 0)
    sentence = _("Authorized from a pasted callback URL.");
  else if (g_strcmp0 (flow, "quick-connect") == 0)
    sentence = _("Authorized with Quick Connect.");
  else
    sentence = _("Authorized in the browser.");

  if (scopes != NULL && scopes[0] != NULL)
    {
      g_autofree char *joined = g_strjoinv (", ", scopes);
      g_autofree char *granted = g_strdup_printf (_("Scopes granted: %s."), joined);

      return g_strconcat (sentence, " ", granted, NULL);
    }
  return g_strdup (sentence);
}

static char *
describe_accounts_changed (JsonObject *detail)
{
  g_autofree char *added = join_accounts (kh_json_get_array (detail, "added"));
  g_autofree char *removed = join_accounts (kh_json_get_array (detail, "removed"));

  if (*added != '\0' && *removed != '\0')
    return g_strdup_printf (_("Shops or advertisers changed: added %s; removed %s."),
                            added, removed);
  if (*added != '\0')
    return g_strdup_printf (_("Shops or advertisers added: %s."), added);
  if (*removed != '\0')
    return g_strdup_printf (_("Shops or advertisers removed: %s."), removed);
  return g_strdup (_("Shops or advertisers changed."));
}

static char *
describe_token_read (JsonObject *detail)
{
  const char *command = kh_json_get_string (detail, "command");

  if (g_strcmp0 (command, "token") == 0)
    return g_strdup (_("Access token handed to a script by “keyhold-cli token”."));
  if (g_strcmp0 (command, "copy") == 0)
    return g_strdup (_("Access token copied to the clipboard."));
  return g_strdup_printf (_("Access token handed out by “%s”."), command ? command : "?");
}

static char *
describe_exported (JsonObject *detail)
{
  const char *format = kh_json_get_string (detail, "format");
  const char *stale_at = kh_json_get_string (detail, "stale_at");
  const char *label;
  gint64 stale;

  if (g_strcmp0 (format, "n8n") == 0)
    label = _("an n8n credential");
  else if (g_strcmp0 (format, "mcp-shops") == 0)
    label = _("an MCP shops.json");
  else
    label = _("a dotenv file");

  if (kh_unix_from_iso8601 (stale_at, &stale))
    {
      g_autofree char *when = format_local_time (stale);

      return g_strdup_printf (_("Exported as %s; the copy goes stale at %s."), label, when);
    }
  return g_strdup_printf (_("Exported as %s."), label);
}

static char *
describe_rolled_up (JsonObject *detail)
{
  JsonObject *counts = kh_json_get_object (detail, "counts");
  g_autoptr(GList) names = counts != NULL ? json_object_get_members (counts) : NULL;
  g_autofree char *since = NULL;
  g_autofree char *until = NULL;
  gint64 total = 0, since_at = 0, until_at = 0;

  for (GList *l = names; l != NULL; l = l->next)
    {
      gint64 n;

      if (kh_json_get_int (counts, l->data, &n))
        total += n;
    }
  kh_unix_from_iso8601 (kh_json_get_string (detail, "since"), &since_at);
  kh_unix_from_iso8601 (kh_json_get_string (detail, "until"), &until_at);
  since = format_local_time (since_at);
  until = format_local_time (until_at);
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "%u earlier event from %s to %s, summarised to keep the "
                                       "history small.",
                                       "%u earlier events from %s to %s, summarised to keep the "
                                       "history small.",
                                       (gulong) total),
                          (guint) total, since, until);
}

char *
kh_history_entry_describe (KhHistoryEntry *self)
{
  JsonObject *detail;
  const char *action;

  g_return_val_if_fail (self != NULL, NULL);

  detail = self->detail;
  action = self->action;

  if (strcmp (action, KH_HISTORY_AUTHORIZED) == 0)
    return describe_authorized (detail);
  if (strcmp (action, KH_HISTORY_REFRESHED) == 0)
    return g_strdup (_("Tokens refreshed."));
  if (strcmp (action, KH_HISTORY_REFRESH_FAILED) == 0)
    {
      const char *message = translate_stored (kh_json_get_string (detail, "message"));
      gint64 code = 0;

      kh_json_get_int (detail, "code", &code);
      if (code != 0)
        return g_strdup_printf (_("Refresh failed with TikTok code %d: %s."),
                                (int) code, message);
      return g_strdup_printf (_("Refresh failed: %s."), message);
    }
  if (strcmp (action, KH_HISTORY_ACCOUNTS_CHANGED) == 0)
    return describe_accounts_changed (detail);
  if (strcmp (action, KH_HISTORY_RENEWAL_COPIED) == 0)
    return g_strdup (_("Renewal pack copied."));
  if (strcmp (action, KH_HISTORY_REVOKED) == 0)
    {
      gboolean manual = FALSE;

      kh_json_get_bool (detail, "manual", &manual);
      return g_strdup (manual ? _("Not revoked at TikTok, which has no revoke API for this "
                                  "account type: the account holder cancels it there.")
                              : _("Revoked at TikTok."));
    }
  if (strcmp (action, KH_HISTORY_REMOVED) == 0)
    return g_strdup (_("Removed from Keyhold."));
  if (strcmp (action, KH_HISTORY_TOKEN_READ) == 0)
    return describe_token_read (detail);
  if (strcmp (action, KH_HISTORY_EXPORTED) == 0)
    return describe_exported (detail);
  if (strcmp (action, KH_HISTORY_SHARED) == 0)
    return g_strdup (_("Shared with the team."));
  if (strcmp (action, KH_HISTORY_UNSHARED) == 0)
    return g_strdup (_("No longer shared with the team."));
  if (strcmp (action, KH_HISTORY_ACCESS_CHANGED) == 0)
    {
      g_auto(GStrv) clients = kh_json_get_strv (detail, "clients");
      g_autofree char *joined = clients != NULL ? g_strjoinv (", ", clients) : g_strdup ("");

      const char *role = kh_json_get_string (detail, "role");

      return g_strdup_printf (_("Team access changed: role %s, clients %s."),
                              role ? role : "?", joined);
    }
  if (strcmp (action, KH_HISTORY_NEEDS_REAUTH) == 0)
    {
      const char *reason = translate_stored (kh_json_get_string (detail, "reason"));

      return g_strdup_printf (_("Needs re-authorization: %s."), reason);
    }
  if (strcmp (action, KH_HISTORY_ROLLED_UP) == 0)
    return describe_rolled_up (detail);

  g_assert_not_reached ();
}
