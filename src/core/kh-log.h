/* SPDX-License-Identifier: GPL-3.0-or-later */
/* kh-log.h: the log writer every Keyhold program installs. Each line goes through kh_redact
 * (DESIGN security rule 4) and to stderr, never stdout: scripts parse keyhold-cli's stdout, and
 * GLib's default writer would put debug and info lines there. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Installs the writer (once per process; later calls do nothing). Levels made fatal by
 * G_DEBUG=fatal-warnings or g_test_init stay fatal, as with GLib's own writer. */
void              kh_log_init           (void);

/* Test hook: func sees every record, before redaction and filtering (its return value is
 * ignored). Set it before other threads log. */
void              kh_log_set_observer   (GLogWriterFunc   func);

/* The writer itself, exposed for tests. */
GLogWriterOutput  kh_log_writer         (GLogLevelFlags   log_level,
                                         const GLogField *fields,
                                         gsize            n_fields,
                                         gpointer         user_data);

G_END_DECLS
