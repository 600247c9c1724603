/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-fuzz.h: what every libFuzzer target shares: quiet, strict logging and input copies. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* libFuzzer's entry points; declared here so that -Wmissing-prototypes stays quiet. */
int    LLVMFuzzerInitialize   (int            *argc,
                               char         ***argv);
int    LLVMFuzzerTestOneInput (const guint8   *data,
                               size_t          size);

/* Drops debug and info output (millions of runs) and aborts on any warning or critical: hostile
 * input must give a GError, never a failed precondition, so libFuzzer reports those as crashes. */
void   kh_fuzz_init           (void);

/* A NUL-terminated copy of the input (which may itself contain NUL bytes). */
char  *kh_fuzz_dup_text       (const guint8   *data,
                               size_t          size);

G_END_DECLS
