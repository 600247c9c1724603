/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-test-sandbox.c: an in-process keyhold-sandbox for tests, kept apart from kh-test-util.c so
 * that tests which do not need the sandbox do not link it. */

#define G_LOG_DOMAIN "kh-test-util"

#include "config.h"

#define KH_TEST_WITH_SANDBOX 1
#include "kh-test-util.h"

#include "kh-origin-map.h"

KhSandbox *
kh_test_sandbox_start (void)
{
  g_autoptr(KhSandbox) sandbox = kh_sandbox_new (42);
  g_autoptr(GError) error = NULL;
  g_autofree char *map = NULL;

  kh_sandbox_listen (sandbox, 0, &error);
  g_assert_no_error (error);

  map = kh_sandbox_dup_origin_map (sandbox);
  kh_origin_map_set (map, &error);
  g_assert_no_error (error);

  return g_steal_pointer (&sandbox);
}
