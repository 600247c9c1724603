/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-sandbox-private.h: what the files of the sandbox share and nothing else: the data model
 * (apps, authorizations, codes, tokens, consents, faults, the KhSandbox instance), a request
 * being answered (Req), the route tables and the helpers more than one file calls. Not
 * installed, not public API: kh-sandbox.h is. */

#pragma once

#include "kh-sandbox.h"

#include "kh-json.h"
#include "kh-sign.h"
#include "kh-util.h"

#include <libsoup/soup.h>

G_BEGIN_DECLS

#define MAX_BODY            (64 * 1024)
#define SHOP_CODE_TTL       (30 * 60)
#define BUSINESS_CODE_TTL   (60 * 60)
#define CONSENT_TTL         (60 * 60)
#define MAX_CONSENTS        1024
#define MAX_FAULTS          1024
#define MAX_TTL             G_GINT64_CONSTANT (3153600000)   /* 100 years */
#define MAX_LATENCY_MS      600000
#define CREATOR_REFRESH_EXPIRY G_GINT64_CONSTANT (4903858076)
/* Get Authorized Shops accepts a timestamp 5 minutes before to 30 s after server time. */
#define TIMESTAMP_BEFORE    300
#define TIMESTAMP_AFTER     30
/* Received values shorter than this are not listed as secrets: a leak audit that looked for
 * "x" in every log would only find noise. Issued values are always listed. */
#define MIN_SECRET_LENGTH   8

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define HEX   "0123456789abcdef"
#define DIGITS "0123456789"
#define UPPER_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* ---- the data model --------------------------------------------------------------------- */

typedef enum {
  FLOW_SELLER,
  FLOW_CREATOR,
  FLOW_PARTNER,
  FLOW_ADVERTISER,
  FLOW_TT_USER,
} Flow;

typedef struct _Req Req;

/* One endpoint: each family file lists its own in a table ended by { NULL }, the router
 * (kh-sandbox-router.c) finds the route of a request and calls its handler. */
typedef struct {
  const char *host;
  const char *path;
  const char *method;
  void      (*handle) (Req *req);
  Flow        flow;      /* consent pages only */
  gboolean    us;        /* consent pages only: a US link */
} Route;

typedef struct {
  char    *family;        /* "shop" | "business" */
  char    *app_key;       /* Shop app key, Business app id / client key */
  char    *app_secret;
  char    *service_id;
  char    *redirect_uri;
  char    *category;      /* "seller" | "partner" | NULL */
  GStrv    scopes;        /* what a consent grants; may be NULL */
  gint64   rate_second;
  guint    rate_count;
} SbApp;

typedef enum {
  TOKEN_ACCESS,
  TOKEN_REFRESH,
} TokenKind;

typedef struct _SbAuthorization SbAuthorization;

typedef struct {
  char            *value;
  TokenKind        kind;
  SbAuthorization *auth;          /* the owner */
  gint64           issued_at;
  gint64           expires_at;    /* 0: never */
  gboolean         superseded;    /* a refresh token replaced by rotation */
  gint64           superseded_at;
} SbToken;

typedef struct {
  char *id;
  char *name;
  char *region;
  char *seller_type;
  char *cipher;
  char *code;
} SbShop;

typedef struct {
  char *id;
  char *name;
} SbAdvertiser;

struct _SbAuthorization {
  char       *id;
  Flow        flow;
  char       *app_key;
  gboolean    us;
  char       *open_id;
  char       *seller_name;
  char       *seller_base_region;
  char       *display_name;
  char       *redirect_uri;
  GStrv       scopes;
  GPtrArray  *shops;             /* SbShop */
  GPtrArray  *advertisers;       /* SbAdvertiser */
  GPtrArray  *tokens;            /* SbToken, owned, in issue order */
  SbToken    *access;            /* current pair, borrowed from tokens */
  SbToken    *refresh;
  SbToken    *previous_refresh;  /* the one the last rotation replaced */
  gint64      refresh_expires_at;  /* end of the refresh window, fixed at the first issue */
  guint       refresh_count;
  gboolean    revoked;
  char       *revoked_reason;    /* "revoke" | "deauthorize" */
};

typedef struct {
  char            *value;
  SbAuthorization *auth;
  gint64           expires_at;
  gboolean         used;
} SbCode;

typedef struct {
  char     *id;
  Flow      flow;
  gboolean  us;
  char     *app_key;
  char     *redirect_uri;
  char     *state;
  GStrv     scopes;
  gint64    expires_at;
} SbConsent;

typedef struct {
  char               *path;
  guint               remaining;
  KhSandboxFaultKind  kind;
  int                 value;
} SbFault;

typedef struct {
  KhSandbox          *self;     /* borrowed: dispose drops every delay first */
  SoupServer         *server;
  SoupServerMessage  *msg;
  const char         *path;     /* the route's static path */
  guint               source_id;
} SbDelay;

struct _KhSandbox
{
  GObject      parent_instance;

  SoupServer  *server;
  guint        port;
  gint64       latency_ms;
  GRand       *rand;

  /* The sandbox clock: anchor_sandbox + (real now - anchor_real) * speed, in microseconds. */
  gint64       clock_anchor_real;
  gint64       clock_anchor_sandbox;
  double       clock_speed;

  gint64       shop_access_ttl;
  gint64       shop_refresh_ttl;
  gint64       tt_access_ttl;
  gint64       tt_refresh_ttl;
  gint64       refresh_grace;
  gint64       rate_limit;      /* calls per second per app; 0: no limit */
  char        *auto_consent;    /* "approve" | "deny": consent pages decide by themselves */

  GHashTable  *apps;            /* app_key -> SbApp */
  GPtrArray   *authorizations;  /* SbAuthorization, in creation order */
  GHashTable  *tokens;          /* value -> SbToken, borrowed from its authorization */
  GHashTable  *codes;           /* value -> SbCode */
  GHashTable  *consents;        /* id -> SbConsent */
  GQueue       faults;          /* SbFault, FIFO */
  GHashTable  *counters;        /* path -> call count */
  GHashTable  *in_flight;       /* path -> answers held back now (latency, delay faults) */
  GHashTable  *in_flight_peak;  /* path -> the most held back at once */
  GPtrArray   *secrets;         /* every secret issued or received, first-seen order */
  GHashTable  *secret_set;
  GPtrArray   *pending;         /* SbDelay */
  guint        serial;
};

struct _Req {
  KhSandbox          *self;
  SoupServer         *server;
  SoupServerMessage  *msg;
  const Route        *route;
  const char         *host;      /* from the /_host prefix, or NULL */
  const char         *path;      /* after the prefix */
  GHashTable         *query;     /* may be NULL */
  GBytes             *body;
  JsonNode           *json;      /* the parsed body, read on demand */
};

/* kh-sandbox.c */
void sb_consent_free (gpointer data);
void sb_fault_free (gpointer data);
gboolean sb_is_empty (const char *str);
gboolean sb_is_shop_flow (Flow flow);
gboolean sb_is_printable_ascii (const char *str);
gboolean sb_is_valid_redirect_uri (const char *uri);
char *sb_random_string (KhSandbox *self, const char *alphabet, guint length);
void sb_note_secret (KhSandbox *self, const char *value, gboolean issued);
char **sb_split_scopes (const char *text);
gboolean sb_is_decimal (const char *str);
void sb_register_app (KhSandbox *self,
                      const char *family,
                      const char *app_key,
                      const char *app_secret,
                      const char *service_id,
                      const char *redirect_uri,
                      const char *category,
                      const char * const *scopes);
SbApp *sb_find_app (KhSandbox *self, const char *family, const char *app_key);
SbApp *sb_find_shop_app_by_service_id (KhSandbox *self, const char *service_id);
gboolean sb_secret_matches (SbApp *app, const char *secret);
gboolean sb_rate_allowed (KhSandbox *self, SbApp *app);
SbAuthorization *sb_create_authorization (KhSandbox *self,
                                          Flow flow,
                                          SbApp *app,
                                          gboolean us,
                                          const char *redirect_uri,
                                          const char * const *scopes);
SbCode *sb_issue_code (KhSandbox *self, SbAuthorization *auth);
void sb_issue_tokens (KhSandbox *self, SbAuthorization *auth);
gboolean sb_token_is_valid (KhSandbox *self, SbToken *token);
void sb_revoke_authorization (SbAuthorization *auth, const char *reason);

/* kh-sandbox-router.c */
const char *sb_qget (Req *req, const char *name);
void sb_set_common_headers (SoupServerMessage *msg);
void sb_respond_json (SoupServerMessage *msg, guint status, JsonNode *node);
void sb_respond_envelope (Req *req, int code, const char *message, JsonObject *data);
void sb_respond_html (SoupServerMessage *msg,
                      guint status,
                      const char *title,
                      const char *body_html);
void sb_respond_error_page (SoupServerMessage *msg, guint status, const char *message);
void sb_respond_plain (SoupServerMessage *msg, guint status, const char *text);
void sb_respond_control_error (SoupServerMessage *msg, guint status, const char *message);
void sb_respond_control_ok (SoupServerMessage *msg, JsonObject *root);
JsonObject *sb_req_json_object (Req *req);
char *sb_json_dup_id (JsonObject *object, const char *member);
void sb_server_handler_cb (SoupServer *server,
                           SoupServerMessage *msg,
                           const char *path,
                           GHashTable *query,
                           gpointer user_data);
void sb_early_handler_cb (SoupServer *server,
                          SoupServerMessage *msg,
                          const char *path,
                          GHashTable *query,
                          gpointer user_data);

/* kh-sandbox-consent.c */
void sb_handle_authorize (Req *req);
void sb_handle_consent_decision (KhSandbox *self,
                                 SoupServerMessage *msg,
                                 GHashTable *query,
                                 GBytes *body);

/* kh-sandbox-control.c */
gint64 sb_now (KhSandbox *self);
void sb_delay_response (KhSandbox *self,
                        SoupServer *server,
                        SoupServerMessage *msg,
                        const char *path,
                        guint ms);
gboolean sb_take_fault (KhSandbox *self, const char *path, gboolean is_api, SbFault *out);
void sb_drop_connection (SoupServerMessage *msg);
void sb_handle_control (KhSandbox *self,
                        SoupServerMessage *msg,
                        const char *path,
                        GHashTable *query,
                        GBytes *body);

/* the route tables of the families, each ended by { NULL } */
extern const Route sb_consent_routes[];
extern const Route sb_shop_routes[];
extern const Route sb_business_routes[];

G_END_DECLS
