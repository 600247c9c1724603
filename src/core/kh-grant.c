/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-grant.c: one authorization. KhTokenSet holds the secrets (keyring only, wiped on free);
 * KhGrant is the non-secret description kept in the index and printed by `list --json`. This
 * file is the values and the GObject; their JSON form is kh-grant-json.c. */

#define G_LOG_DOMAIN "kh-grant"

#include "config.h"

#include "kh-grant-private.h"

#include "kh-error.h"
#include "kh-provider.h"
#include "kh-util.h"

#include <string.h>

/* Seller Center warns 30 days before an authorization ends (webhook type 7): so do we. */
#define EXPIRING_WINDOW (30 * G_GINT64_CONSTANT (86400))

/* ---- small helpers -------------------------------------------------------------------------- */

/* Overwrites a secret before its memory goes back to the allocator, so that tokens do not
 * linger in freed heap pages (core dumps, swap). explicit_bzero is never optimised away. */
static void
wipe_string (char *str)
{
  if (str != NULL)
    {
      explicit_bzero (str, strlen (str));
      g_free (str);
    }
}

static const char * const empty_strv[] = { NULL };

/* g_set_str arrived in GLib 2.76, above our floor. TRUE when the value changed. */
static gboolean
replace_str (char       **field,
             const char  *value)
{
  char *copy;

  if (g_strcmp0 (*field, value) == 0)
    return FALSE;
  copy = g_strdup (value);
  g_free (*field);
  *field = copy;
  return TRUE;
}

static char **
strv_copy_or_empty (const char * const *strv)
{
  if (strv == NULL)
    return g_new0 (char *, 1);
  return g_strdupv ((char **) strv);
}

static gboolean
strv_equal0 (const char * const *a,
             const char * const *b)
{
  return g_strv_equal (a != NULL ? a : empty_strv, b != NULL ? b : empty_strv);
}

/* ---- KhTokenSet ------------------------------------------------------------------------------ */

KhTokenSet *
kh_token_set_new (void)
{
  return g_new0 (KhTokenSet, 1);
}

KhTokenSet *
kh_token_set_copy (const KhTokenSet *self)
{
  KhTokenSet *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = kh_token_set_new ();
  copy->access_token = g_strdup (self->access_token);
  copy->refresh_token = g_strdup (self->refresh_token);
  copy->access_expires_at = self->access_expires_at;
  copy->refresh_expires_at = self->refresh_expires_at;
  return copy;
}

void
kh_token_set_free (KhTokenSet *self)
{
  if (self == NULL)
    return;

  wipe_string (self->access_token);
  wipe_string (self->refresh_token);
  explicit_bzero (self, sizeof *self);
  g_free (self);
}

/* ---- KhShop, KhAdvertiser -------------------------------------------------------------------- */

KhShop *
kh_shop_copy (const KhShop *self)
{
  KhShop *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = g_new0 (KhShop, 1);
  copy->id = g_strdup (self->id);
  copy->name = g_strdup (self->name);
  copy->region = g_strdup (self->region);
  copy->seller_type = g_strdup (self->seller_type);
  copy->cipher = g_strdup (self->cipher);
  copy->code = g_strdup (self->code);
  return copy;
}

void
kh_shop_free (KhShop *self)
{
  if (self == NULL)
    return;

  g_free (self->id);
  g_free (self->name);
  g_free (self->region);
  g_free (self->seller_type);
  g_free (self->cipher);
  g_free (self->code);
  g_free (self);
}

static gboolean
kh_shop_equal (const KhShop *a,
               const KhShop *b)
{
  return g_strcmp0 (a->id, b->id) == 0
         && g_strcmp0 (a->name, b->name) == 0
         && g_strcmp0 (a->region, b->region) == 0
         && g_strcmp0 (a->seller_type, b->seller_type) == 0
         && g_strcmp0 (a->cipher, b->cipher) == 0
         && g_strcmp0 (a->code, b->code) == 0;
}

KhAdvertiser *
kh_advertiser_copy (const KhAdvertiser *self)
{
  KhAdvertiser *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = g_new0 (KhAdvertiser, 1);
  copy->id = g_strdup (self->id);
  copy->name = g_strdup (self->name);
  return copy;
}

void
kh_advertiser_free (KhAdvertiser *self)
{
  if (self == NULL)
    return;

  g_free (self->id);
  g_free (self->name);
  g_free (self);
}

static gboolean
kh_advertiser_equal (const KhAdvertiser *a,
                     const KhAdvertiser *b)
{
  return g_strcmp0 (a->id, b->id) == 0 && g_strcmp0 (a->name, b->name) == 0;
}

typedef gboolean (*ItemEqualFunc) (gconstpointer a,
                                   gconstpointer b);

static gboolean
ptr_array_equal (GPtrArray     *a,
                 GPtrArray     *b,
                 ItemEqualFunc  equal)
{
  if (a == b)
    return TRUE;
  if (a == NULL || b == NULL || a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (!equal (g_ptr_array_index (a, i), g_ptr_array_index (b, i)))
      return FALSE;
  return TRUE;
}

/* ---- KhGrant --------------------------------------------------------------------------------- */

G_DEFINE_FINAL_TYPE (KhGrant, kh_grant, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ID,
  PROP_ACCOUNT_TYPE,
  PROP_ROLE,
  PROP_APP_NAME,
  PROP_CLIENT_LABEL,
  PROP_DISPLAY_NAME,
  PROP_REGION,
  PROP_OPEN_ID,
  PROP_ACCESS_EXPIRES_AT,
  PROP_REFRESH_EXPIRES_AT,
  PROP_SCOPES,
  PROP_MISSING_SCOPES,
  PROP_SHOPS,
  PROP_ADVERTISERS,
  PROP_STORED_STATUS,
  PROP_STATUS_REASON,
  PROP_WITHOUT_STATE,
  PROP_SHARED,
  PROP_WARNINGS,
  PROP_CREATED_AT,
  PROP_UPDATED_AT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
kh_grant_constructed (GObject *object)
{
  KhGrant *self = KH_GRANT (object);

  G_OBJECT_CLASS (kh_grant_parent_class)->constructed (object);

  /* 128 random bits: ids are unguessable and never collide across machines. */
  if (self->id == NULL)
    self->id = kh_random_hex (16);
}

static void
kh_grant_finalize (GObject *object)
{
  KhGrant *self = KH_GRANT (object);

  g_free (self->id);
  g_free (self->role);
  g_free (self->app_name);
  g_free (self->client_label);
  g_free (self->display_name);
  g_free (self->region);
  g_free (self->open_id);
  g_strfreev (self->scopes);
  g_strfreev (self->missing_scopes);
  g_clear_pointer (&self->shops, g_ptr_array_unref);
  g_clear_pointer (&self->advertisers, g_ptr_array_unref);
  g_strfreev (self->warnings);
  g_free (self->status_reason);

  G_OBJECT_CLASS (kh_grant_parent_class)->finalize (object);
}

static void
kh_grant_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  KhGrant *self = KH_GRANT (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case PROP_ACCOUNT_TYPE:
      g_value_set_int (value, self->type);
      break;
    case PROP_ROLE:
      g_value_set_string (value, self->role);
      break;
    case PROP_APP_NAME:
      g_value_set_string (value, self->app_name);
      break;
    case PROP_CLIENT_LABEL:
      g_value_set_string (value, self->client_label);
      break;
    case PROP_DISPLAY_NAME:
      g_value_set_string (value, kh_grant_get_display_name (self));
      break;
    case PROP_REGION:
      g_value_set_string (value, self->region);
      break;
    case PROP_OPEN_ID:
      g_value_set_string (value, self->open_id);
      break;
    case PROP_ACCESS_EXPIRES_AT:
      g_value_set_int64 (value, self->access_expires_at);
      break;
    case PROP_REFRESH_EXPIRES_AT:
      g_value_set_int64 (value, self->refresh_expires_at);
      break;
    case PROP_SCOPES:
      g_value_set_boxed (value, self->scopes);
      break;
    case PROP_MISSING_SCOPES:
      g_value_set_boxed (value, self->missing_scopes);
      break;
    case PROP_SHOPS:
      g_value_set_boxed (value, self->shops);
      break;
    case PROP_ADVERTISERS:
      g_value_set_boxed (value, self->advertisers);
      break;
    case PROP_STORED_STATUS:
      g_value_set_int (value, self->stored_status);
      break;
    case PROP_STATUS_REASON:
      g_value_set_string (value, self->status_reason);
      break;
    case PROP_WITHOUT_STATE:
      g_value_set_boolean (value, self->without_state);
      break;
    case PROP_SHARED:
      g_value_set_boolean (value, self->shared);
      break;
    case PROP_WARNINGS:
      g_value_set_boxed (value, self->warnings);
      break;
    case PROP_CREATED_AT:
      g_value_set_int64 (value, self->created_at);
      break;
    case PROP_UPDATED_AT:
      g_value_set_int64 (value, self->updated_at);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_grant_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  KhGrant *self = KH_GRANT (object);

  switch (prop_id)
    {
    case PROP_ID:
      replace_str (&self->id, g_value_get_string (value));
      break;
    case PROP_ACCOUNT_TYPE:
      self->type = g_value_get_int (value);
      break;
    case PROP_ROLE:
      replace_str (&self->role, g_value_get_string (value));
      break;
    case PROP_APP_NAME:
      replace_str (&self->app_name, g_value_get_string (value));
      break;
    case PROP_CLIENT_LABEL:
      kh_grant_set_client_label (self, g_value_get_string (value));
      break;
    case PROP_DISPLAY_NAME:
      kh_grant_set_display_name (self, g_value_get_string (value));
      break;
    case PROP_REGION:
      kh_grant_set_region (self, g_value_get_string (value));
      break;
    case PROP_OPEN_ID:
      kh_grant_set_open_id (self, g_value_get_string (value));
      break;
    case PROP_SCOPES:
      kh_grant_set_scopes (self, g_value_get_boxed (value));
      break;
    case PROP_MISSING_SCOPES:
      kh_grant_set_missing_scopes (self, g_value_get_boxed (value));
      break;
    case PROP_STORED_STATUS:
      kh_grant_set_stored_status (self, g_value_get_int (value));
      break;
    case PROP_STATUS_REASON:
      kh_grant_set_status_reason (self, g_value_get_string (value));
      break;
    case PROP_WITHOUT_STATE:
      kh_grant_set_without_state (self, g_value_get_boolean (value));
      break;
    case PROP_SHARED:
      kh_grant_set_shared (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kh_grant_class_init (KhGrantClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  const GParamFlags construct = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->constructed = kh_grant_constructed;
  object_class->finalize = kh_grant_finalize;
  object_class->get_property = kh_grant_get_property;
  object_class->set_property = kh_grant_set_property;

  properties[PROP_ID] =
    g_param_spec_string ("id", NULL, NULL, NULL, construct);
  properties[PROP_ACCOUNT_TYPE] =
    g_param_spec_int ("account-type", NULL, NULL,
                      0, KH_N_ACCOUNT_TYPES - 1, KH_ACCOUNT_SELLER, construct);
  properties[PROP_ROLE] =
    g_param_spec_string ("role", NULL, NULL, NULL, construct);
  properties[PROP_APP_NAME] =
    g_param_spec_string ("app-name", NULL, NULL, NULL, construct);
  properties[PROP_CLIENT_LABEL] =
    g_param_spec_string ("client-label", NULL, NULL, NULL, rw);
  properties[PROP_DISPLAY_NAME] =
    g_param_spec_string ("display-name", NULL, NULL, NULL, rw);
  properties[PROP_REGION] =
    g_param_spec_string ("region", NULL, NULL, NULL, rw);
  properties[PROP_OPEN_ID] =
    g_param_spec_string ("open-id", NULL, NULL, NULL, rw);
  properties[PROP_ACCESS_EXPIRES_AT] =
    g_param_spec_int64 ("access-expires-at", NULL, NULL, 0, G_MAXINT64, 0, ro);
  properties[PROP_REFRESH_EXPIRES_AT] =
    g_param_spec_int64 ("refresh-expires-at", NULL, NULL, 0, G_MAXINT64, 0, ro);
  properties[PROP_SCOPES] =
    g_param_spec_boxed ("scopes", NULL, NULL, G_TYPE_STRV, rw);
  properties[PROP_MISSING_SCOPES] =
    g_param_spec_boxed ("missing-scopes", NULL, NULL, G_TYPE_STRV, rw);
  properties[PROP_SHOPS] =
    g_param_spec_boxed ("shops", NULL, NULL, G_TYPE_PTR_ARRAY, ro);
  properties[PROP_ADVERTISERS] =
    g_param_spec_boxed ("advertisers", NULL, NULL, G_TYPE_PTR_ARRAY, ro);
  properties[PROP_STORED_STATUS] =
    g_param_spec_int ("stored-status", NULL, NULL,
                      KH_GRANT_STATUS_ACTIVE, KH_GRANT_STATUS_REVOKED,
                      KH_GRANT_STATUS_ACTIVE, rw);
  properties[PROP_STATUS_REASON] =
    g_param_spec_string ("status-reason", NULL, NULL, NULL, rw);
  properties[PROP_WITHOUT_STATE] =
    g_param_spec_boolean ("without-state", NULL, NULL, FALSE, rw);
  properties[PROP_SHARED] =
    g_param_spec_boolean ("shared", NULL, NULL, FALSE, rw);
  properties[PROP_WARNINGS] =
    g_param_spec_boxed ("warnings", NULL, NULL, G_TYPE_STRV, ro);
  properties[PROP_CREATED_AT] =
    g_param_spec_int64 ("created-at", NULL, NULL, 0, G_MAXINT64, 0, ro);
  properties[PROP_UPDATED_AT] =
    g_param_spec_int64 ("updated-at", NULL, NULL, 0, G_MAXINT64, 0, ro);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
kh_grant_init (KhGrant *self)
{
  self->scopes = g_new0 (char *, 1);
  self->missing_scopes = g_new0 (char *, 1);
  self->warnings = g_new0 (char *, 1);
  self->shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  self->advertisers = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  self->stored_status = KH_GRANT_STATUS_ACTIVE;
}

KhGrant *
kh_grant_new (KhAccountType  type,
              const char    *role,
              const char    *app_name)
{
  KhGrant *self;

  g_return_val_if_fail ((guint) type < KH_N_ACCOUNT_TYPES, NULL);
  g_return_val_if_fail (kh_provider_get_role (kh_provider_get (type), role) != NULL, NULL);
  g_return_val_if_fail (app_name != NULL, NULL);

  self = g_object_new (KH_TYPE_GRANT,
                       "account-type", (int) type,
                       "role", role,
                       "app-name", app_name,
                       NULL);
  self->created_at = kh_now ();
  self->updated_at = self->created_at;
  return self;
}

const char *
kh_grant_get_id (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->id;
}

KhAccountType
kh_grant_get_account_type (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), KH_ACCOUNT_SELLER);
  return self->type;
}

const char *
kh_grant_get_role (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->role;
}

KhTokenKind
kh_grant_get_token_kind (KhGrant *self)
{
  const KhProviderRole *role;

  g_return_val_if_fail (KH_IS_GRANT (self), KH_TOKEN_KIND_SHOP);

  role = kh_provider_get_role (kh_provider_get (self->type), self->role);
  g_return_val_if_fail (role != NULL, KH_TOKEN_KIND_SHOP);
  return role->token_kind;
}

const char *
kh_grant_get_app_name (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->app_name;
}

/* Shared by the string setters: empty strings count as unset, and notify fires only when the
 * value really changes (EXPLICIT_NOTIFY). */
static void
set_string_prop (KhGrant     *self,
                 char       **field,
                 const char  *value,
                 int          prop)
{
  if (value != NULL && *value == '\0')
    value = NULL;
  if (replace_str (field, value))
    g_object_notify_by_pspec (G_OBJECT (self), properties[prop]);
}

const char *
kh_grant_get_client_label (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->client_label;
}

void
kh_grant_set_client_label (KhGrant    *self,
                           const char *label)
{
  g_return_if_fail (KH_IS_GRANT (self));
  set_string_prop (self, &self->client_label, label, PROP_CLIENT_LABEL);
}

const char *
kh_grant_get_display_name (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->display_name != NULL ? self->display_name : self->id;
}

void
kh_grant_set_display_name (KhGrant    *self,
                           const char *name)
{
  g_return_if_fail (KH_IS_GRANT (self));
  set_string_prop (self, &self->display_name, name, PROP_DISPLAY_NAME);
}

const char *
kh_grant_get_region (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->region;
}

void
kh_grant_set_region (KhGrant    *self,
                     const char *region)
{
  g_return_if_fail (KH_IS_GRANT (self));
  set_string_prop (self, &self->region, region, PROP_REGION);
}

const char *
kh_grant_get_open_id (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->open_id;
}

void
kh_grant_set_open_id (KhGrant    *self,
                      const char *open_id)
{
  g_return_if_fail (KH_IS_GRANT (self));
  set_string_prop (self, &self->open_id, open_id, PROP_OPEN_ID);
}

gint64
kh_grant_get_access_expires_at (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), 0);
  return self->access_expires_at;
}

gint64
kh_grant_get_refresh_expires_at (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), 0);
  return self->refresh_expires_at;
}

static void
set_expiries (KhGrant *self,
              gint64   access_expires_at,
              gint64   refresh_expires_at)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->access_expires_at != access_expires_at)
    {
      self->access_expires_at = access_expires_at;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ACCESS_EXPIRES_AT]);
    }
  if (self->refresh_expires_at != refresh_expires_at)
    {
      self->refresh_expires_at = refresh_expires_at;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REFRESH_EXPIRES_AT]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
kh_grant_set_expiries_from_tokens (KhGrant          *self,
                                   const KhTokenSet *tokens)
{
  g_return_if_fail (KH_IS_GRANT (self));
  g_return_if_fail (tokens != NULL);
  g_return_if_fail (tokens->access_expires_at >= 0 && tokens->refresh_expires_at >= 0);

  set_expiries (self, tokens->access_expires_at, tokens->refresh_expires_at);
}

const char * const *
kh_grant_get_scopes (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), empty_strv);
  return (const char * const *) self->scopes;
}

void
kh_grant_set_scopes (KhGrant            *self,
                     const char * const *scopes)
{
  g_return_if_fail (KH_IS_GRANT (self));

  if (strv_equal0 ((const char * const *) self->scopes, scopes))
    return;
  g_strfreev (self->scopes);
  self->scopes = strv_copy_or_empty (scopes);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCOPES]);
}

const char * const *
kh_grant_get_missing_scopes (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), empty_strv);
  return (const char * const *) self->missing_scopes;
}

void
kh_grant_set_missing_scopes (KhGrant            *self,
                             const char * const *scopes)
{
  g_return_if_fail (KH_IS_GRANT (self));

  if (strv_equal0 ((const char * const *) self->missing_scopes, scopes))
    return;
  g_strfreev (self->missing_scopes);
  self->missing_scopes = strv_copy_or_empty (scopes);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MISSING_SCOPES]);
}

GPtrArray *
kh_grant_get_shops (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->shops;
}

void
kh_grant_set_shops (KhGrant   *self,
                    GPtrArray *shops)
{
  g_return_if_fail (KH_IS_GRANT (self));

  if (shops == NULL)
    shops = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_shop_free);
  else
    g_ptr_array_ref (shops);

  if (ptr_array_equal (self->shops, shops, (ItemEqualFunc) kh_shop_equal))
    {
      g_ptr_array_unref (shops);
      return;
    }
  g_clear_pointer (&self->shops, g_ptr_array_unref);
  self->shops = shops;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOPS]);
}

GPtrArray *
kh_grant_get_advertisers (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->advertisers;
}

void
kh_grant_set_advertisers (KhGrant   *self,
                          GPtrArray *advertisers)
{
  g_return_if_fail (KH_IS_GRANT (self));

  if (advertisers == NULL)
    advertisers = g_ptr_array_new_with_free_func ((GDestroyNotify) kh_advertiser_free);
  else
    g_ptr_array_ref (advertisers);

  if (ptr_array_equal (self->advertisers, advertisers, (ItemEqualFunc) kh_advertiser_equal))
    {
      g_ptr_array_unref (advertisers);
      return;
    }
  g_clear_pointer (&self->advertisers, g_ptr_array_unref);
  self->advertisers = advertisers;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ADVERTISERS]);
}

KhGrantStatus
kh_grant_get_stored_status (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), KH_GRANT_STATUS_ACTIVE);
  return self->stored_status;
}

void
kh_grant_set_stored_status (KhGrant       *self,
                            KhGrantStatus  status)
{
  g_return_if_fail (KH_IS_GRANT (self));
  g_return_if_fail ((guint) status <= KH_GRANT_STATUS_REVOKED);

  if (self->stored_status == status)
    return;
  self->stored_status = status;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STORED_STATUS]);
  /* A reason explains a mark; a grant back in use (authorized again) has none. */
  if (status != KH_GRANT_STATUS_NEEDS_REAUTH && status != KH_GRANT_STATUS_REVOKED)
    kh_grant_set_status_reason (self, NULL);
}

const char *
kh_grant_get_status_reason (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), NULL);
  return self->status_reason;
}

void
kh_grant_set_status_reason (KhGrant    *self,
                            const char *reason)
{
  g_return_if_fail (KH_IS_GRANT (self));

  if (reason != NULL && *reason == '\0')
    reason = NULL;
  if (replace_str (&self->status_reason, reason))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATUS_REASON]);
}

KhGrantStatus
kh_grant_compute_status (KhGrant *self,
                         gint64   now)
{
  gboolean refresh_over;

  g_return_val_if_fail (KH_IS_GRANT (self), KH_GRANT_STATUS_ACTIVE);

  /* What TikTok told us (a terminal error, a revoke) outranks anything the clock says. */
  if (self->stored_status == KH_GRANT_STATUS_NEEDS_REAUTH
      || self->stored_status == KH_GRANT_STATUS_REVOKED)
    return self->stored_status;

  refresh_over = self->refresh_expires_at != 0 && self->refresh_expires_at <= now;

  /* Nothing can mint a new access token any more: only the account holder can fix this. */
  if (self->access_expires_at != 0 && self->access_expires_at <= now && refresh_over)
    return KH_GRANT_STATUS_NEEDS_REAUTH;

  /* The authorization ends within 30 days (Seller Center warns then too), or the account
   * holder left out scopes the app needs: both need the holder's attention soon. */
  if (self->refresh_expires_at != 0 && self->refresh_expires_at - now <= EXPIRING_WINDOW)
    return KH_GRANT_STATUS_EXPIRING;
  if (self->missing_scopes[0] != NULL)
    return KH_GRANT_STATUS_EXPIRING;

  return KH_GRANT_STATUS_ACTIVE;
}

gboolean
kh_grant_get_without_state (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), FALSE);
  return self->without_state;
}

void
kh_grant_set_without_state (KhGrant  *self,
                            gboolean  without_state)
{
  g_return_if_fail (KH_IS_GRANT (self));

  without_state = !!without_state;
  if (self->without_state == without_state)
    return;
  self->without_state = without_state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WITHOUT_STATE]);
}

gboolean
kh_grant_get_shared (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), FALSE);
  return self->shared;
}

void
kh_grant_set_shared (KhGrant  *self,
                     gboolean  shared)
{
  g_return_if_fail (KH_IS_GRANT (self));

  shared = !!shared;
  if (self->shared == shared)
    return;
  self->shared = shared;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHARED]);
}

const char * const *
kh_grant_get_warnings (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), empty_strv);
  return (const char * const *) self->warnings;
}

void
kh_grant_add_warning (KhGrant    *self,
                      const char *warning)
{
  guint n;

  g_return_if_fail (KH_IS_GRANT (self));
  g_return_if_fail (warning != NULL);

  /* The same flow step may run twice (retry, re-enrichment): say each thing once. */
  if (*warning == '\0' || g_strv_contains ((const char * const *) self->warnings, warning))
    return;

  n = g_strv_length (self->warnings);
  self->warnings = g_renew (char *, self->warnings, n + 2);
  self->warnings[n] = g_strdup (warning);
  self->warnings[n + 1] = NULL;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WARNINGS]);
}

gint64
kh_grant_get_created_at (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), 0);
  return self->created_at;
}

gint64
kh_grant_get_updated_at (KhGrant *self)
{
  g_return_val_if_fail (KH_IS_GRANT (self), 0);
  return self->updated_at;
}

void
kh_grant_touch (KhGrant *self,
                gint64   now)
{
  g_return_if_fail (KH_IS_GRANT (self));
  g_return_if_fail (now >= 0);

  if (self->updated_at == now)
    return;
  self->updated_at = now;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_UPDATED_AT]);
}
