/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-keyring.h: the store's keyring layout as tests see it from outside, to check it and to
 * build stores of an earlier layout: grants' tokens in 32 bucket items (kind "grants",
 * generation 2, id the bucket number "00".."31", bucket = FNV-1a of the grant id mod 32), each
 * {"v":2,"grants":{<id>:{"tokens":...,"grant":...}}}; before that, one item per grant (kind
 * "grant", generation 1, {"v":1,"tokens":...,"grant":...}) and an index of format 1. */
#pragma once

#include <json-glib/json-glib.h>

#include "kh-grant.h"

G_BEGIN_DECLS

#define KH_TEST_N_BUCKETS 32

guint        kh_test_grant_bucket         (const char       *grant_id);
/* The "grants" object of a bucket item, or NULL when there is no such item. */
JsonObject  *kh_test_read_bucket          (const char       *store_name,
                                           guint             bucket);
/* Stores grants as the bucket item's document (a raw text when raw is not NULL). */
void         kh_test_write_bucket         (const char       *store_name,
                                           guint             bucket,
                                           JsonObject       *grants,
                                           const char       *raw);
/* Puts the grant's entry into its bucket behind the store's back, as a save that stopped
 * between its keyring write and its index write leaves it. */
void         kh_test_put_bucket_entry     (const char       *store_name,
                                           KhGrant          *grant,
                                           const KhTokenSet *tokens);
void         kh_test_remove_bucket_entry  (const char       *store_name,
                                           const char       *grant_id);
/* Grants held by all bucket items of the store. */
guint        kh_test_count_bucket_grants  (const char       *store_name);
/* Items of the store of one kind (NULL: any). */
guint        kh_test_count_items          (const char       *store_name,
                                           const char       *kind);
void         kh_test_assert_tokens_equal  (const KhTokenSet *a,
                                           const KhTokenSet *b);
/* A per-grant item of an earlier Keyhold, under generation gen. */
void         kh_test_write_grant_item     (const char       *store_name,
                                           const char       *gen,
                                           KhGrant          *grant,
                                           const KhTokenSet *tokens);
/* An index of format 1 listing grants (KhGrant), as an earlier Keyhold wrote it. */
void         kh_test_write_old_index      (const char       *data_dir,
                                           const char       *store_name,
                                           GPtrArray        *grants);

G_END_DECLS
