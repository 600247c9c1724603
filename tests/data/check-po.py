#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every language in po/LINGUAS has a complete, valid translation of the current strings.

  check-po.py SOURCE_ROOT WORK_DIR

For each language: `msgfmt --check` (format strings, headers, plural forms) must be clean, no
message may be fuzzy or untranslated, and `msgcmp` against a template extracted now from the
files in po/POTFILES.in must find every current string translated (a translation made before a
string changed fails here instead of silently showing English)."""

import os
import re
import subprocess
import sys

# meson's i18n 'glib' preset, the one po/meson.build uses.
XGETTEXT_ARGS = [
    "--from-code=UTF-8", "--add-comments",
    "--keyword=_", "--keyword=N_", "--keyword=C_:1c,2", "--keyword=NC_:1c,2",
    "--keyword=g_dcgettext:2", "--keyword=g_dngettext:2,3", "--keyword=g_dpgettext2:2c,3",
    "--flag=N_:1:pass-c-format", "--flag=C_:2:pass-c-format", "--flag=NC_:2:pass-c-format",
    "--flag=g_dngettext:2:pass-c-format", "--flag=g_strdup_printf:1:c-format",
    "--flag=g_string_printf:2:c-format", "--flag=g_string_append_printf:2:c-format",
    "--flag=g_error_new:3:c-format", "--flag=g_set_error:4:c-format",
    "--flag=g_markup_printf_escaped:1:c-format", "--flag=g_log:3:c-format",
    "--flag=g_print:1:c-format", "--flag=g_printerr:1:c-format", "--flag=g_printf:1:c-format",
    "--flag=g_fprintf:2:c-format", "--flag=g_sprintf:2:c-format", "--flag=g_snprintf:3:c-format",
]

STATS = re.compile(r"(\d+) translated messages?(?:, (\d+) fuzzy translations?)?"
                   r"(?:, (\d+) untranslated messages?)?")


def run(cmd, **kw):
    # Judge the tools' own findings, not the GLib debug lines a debug-enabled run adds.
    env = dict(os.environ)
    env.pop("G_MESSAGES_DEBUG", None)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, **kw)


def main(root, work):
    os.makedirs(work, exist_ok=True)
    languages = []
    with open(os.path.join(root, "po", "LINGUAS"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0]
            languages += line.split()
    if not languages:
        # Exit status 77: meson reports the test as skipped, not passed.
        print("po/LINGUAS lists no language yet")
        return 77

    pot = os.path.join(work, "keyhold.pot")
    proc = run(["xgettext", *XGETTEXT_ARGS, "--directory=" + root,
                "--files-from=" + os.path.join(root, "po", "POTFILES.in"), "-o", pot])
    if proc.returncode != 0:
        print("xgettext: " + proc.stdout, file=sys.stderr)
        return 1
    if proc.stdout.strip():
        # A source bug (e.g. a G_GINT64_FORMAT inside a translatable string), not a translation
        # bug: shown in the log for the file's owner, the translations are still checked.
        print("xgettext warnings:\n" + proc.stdout)

    failed = False
    for lang in languages:
        po = os.path.join(root, "po", lang + ".po")
        if not os.path.isfile(po):
            print(f"{lang}: po/{lang}.po is missing", file=sys.stderr)
            failed = True
            continue
        proc = run(["msgfmt", "--check", "--check-accelerators=_", "--statistics",
                    "-o", os.path.join(work, lang + ".mo"), po])
        stats = STATS.search(proc.stdout)
        other = [l for l in proc.stdout.splitlines() if not STATS.search(l)]
        if proc.returncode != 0 or other or stats is None:
            print(f"{lang}: msgfmt --check failed:\n{proc.stdout}", file=sys.stderr)
            failed = True
            continue
        fuzzy = int(stats.group(2) or 0)
        untranslated = int(stats.group(3) or 0)
        complete = True
        if fuzzy or untranslated:
            print(f"{lang}: {fuzzy} fuzzy and {untranslated} untranslated messages",
                  file=sys.stderr)
            complete = False
        proc = run(["msgcmp", po, pot])
        if proc.returncode != 0:
            missing = proc.stdout.count("this message is used but not defined")
            print(f"{lang}: {missing} current strings have no translation "
                  f"(update with msgmerge):\n{proc.stdout[:2000]}", file=sys.stderr)
            complete = False
        if complete:
            print(f"{lang}: {stats.group(1)} messages, complete")
        else:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: check-po.py SOURCE_ROOT WORK_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
