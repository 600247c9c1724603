/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-cli.h: keyhold-cli's entry point, in the static library so tests can link it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int kh_cli_main (int    argc,
                 char **argv);

G_END_DECLS
