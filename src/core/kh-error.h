/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-error.h: Keyhold's own errors, TikTok's error codes decoded into what the user should do,
 * and the mapping onto keyhold-cli exit codes. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define KH_ERROR (kh_error_quark ())
#define KH_API_ERROR (kh_api_error_quark ())   /* error->code is TikTok's numeric code */

typedef enum {
  KH_ERROR_FAILED,
  KH_ERROR_INVALID_INPUT,     /* bad user input: malformed URL, unknown type, bad app profile */
  KH_ERROR_NOT_FOUND,         /* no such grant, app or pending request */
  KH_ERROR_AMBIGUOUS,         /* a name matches several grants */
  KH_ERROR_EXISTS,            /* an app profile of that name already exists */
  KH_ERROR_STATE_MISMATCH,    /* callback state matches no pending request */
  KH_ERROR_STATE_MISSING,     /* callback has no state and the user did not confirm */
  KH_ERROR_REQUEST_EXPIRED,   /* the pending request (and so its code) is too old */
  KH_ERROR_DENIED,            /* the account holder refused in the browser */
  KH_ERROR_PORT_IN_USE,       /* the redirect URI's port is taken */
  KH_ERROR_TIMEOUT,           /* no callback or no answer in time */
  KH_ERROR_NETWORK,           /* transient: connection failed, HTTP 5xx */
  KH_ERROR_BAD_RESPONSE,      /* transient: the server sent something that is not the envelope */
  KH_ERROR_UNSAFE_URL,        /* a URL Keyhold refuses to open (not https, unknown host) */
  KH_ERROR_NO_KEYRING,        /* no Secret Service and no portal: nothing is stored */
  KH_ERROR_STORE,             /* keyring or index could not be written */
  KH_ERROR_NO_SHOPS,          /* a seller grant that covers no shop */
  KH_ERROR_WRONG_ACCOUNT,     /* user_type or app_key of the callback does not fit the request */
  KH_ERROR_NEEDS_REAUTH,      /* the grant is marked needs-reauth or revoked locally */
  /* The team store (kh-team.h). */
  KH_ERROR_TEAM_URL,          /* bad conninfo, unknown host or database, another team's database */
  KH_ERROR_TEAM_AUTH,         /* the database refused the role's password */
  KH_ERROR_TEAM_UNREACHABLE,  /* transient: the database is down or the connection was lost */
  KH_ERROR_TEAM_SCHEMA,       /* no Keyhold schema, or one from a newer Keyhold */
  KH_ERROR_TEAM_KEY,          /* wrong team key, bad join code, unsafe key file */
  KH_ERROR_TEAM_ACCESS,       /* the role may not see or change this (row-level security) */
} KhErrorCode;

typedef enum {
  KH_ERROR_CLASS_OTHER,       /* a permanent error that re-authorizing does not fix */
  KH_ERROR_CLASS_TERMINAL,    /* the grant is dead: re-authorize, stop refreshing */
  KH_ERROR_CLASS_TRANSIENT,   /* retry with backoff */
  KH_ERROR_CLASS_REFRESH,     /* the access token expired: refresh and retry */
} KhErrorClass;

typedef struct {
  int           code;
  const char   *meaning;      /* N_(): "the authorization code is invalid, used or older than 30 minutes" */
  const char   *fix;          /* N_(): "create a new link" */
  KhErrorClass  klass;
} KhApiErrorInfo;

GQuark                 kh_error_quark       (void);
GQuark                 kh_api_error_quark   (void);

/* Never NULL: an unknown code gets a generic entry (5xxxx and 36009xxx are transient). */
const KhApiErrorInfo  *kh_api_error_lookup  (int           code);
const KhApiErrorInfo  *kh_api_error_all     (guint        *n_entries);

/* "36004004: the authorization code is invalid, used or older than 30 minutes: create a new link"
 * server_message and request_id are appended only as " (TikTok: ..., request ...)" when given. */
GError                *kh_api_error_new     (int           code,
                                             const char   *server_message,
                                             const char   *request_id);

KhErrorClass           kh_error_classify    (const GError *error);

/* 0 ok (error == NULL); 1 error; 2 usage (KH_ERROR_INVALID_INPUT from argument parsing is the
 * caller's to map); 3 needs re-authorization; 4 transient. */
int                    kh_error_exit_code   (const GError *error);

G_END_DECLS
