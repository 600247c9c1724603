#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""POTFILES.in lists exactly the files with translatable strings.

  check-potfiles.py SOURCE_ROOT

Every C file under src/ that marks a string with _(), N_(), C_(), NC_(), Q_() or the ngettext
family, every .ui file with translatable="yes", and the translated data templates (desktop
file, metainfo, GSettings schema) must be listed; every listed file must exist."""

import os
import re
import sys

C_MARK = re.compile(r'(?<![A-Za-z0-9_])(?:N?C?_|Q_|g_dngettext|ngettext|g_dpgettext2?)\s*\(\s*"')
UI_MARK = re.compile(r'translatable\s*=\s*"(?:yes|true|1)"')
DATA_SUFFIXES = (".desktop.in.in", ".desktop.in", ".metainfo.xml.in.in", ".metainfo.xml.in",
                 ".gschema.xml")


def needs_listing(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".c", ".h")):
        return C_MARK.search(text) is not None
    if path.endswith(".ui"):
        return UI_MARK.search(text) is not None
    return path.endswith(DATA_SUFFIXES)


def main(root):
    listed = []
    with open(os.path.join(root, "po", "POTFILES.in"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                listed.append(line)

    problems = []
    seen = set()
    for entry in listed:
        if entry in seen:
            problems.append(f"listed twice: {entry}")
        seen.add(entry)
        if not os.path.isfile(os.path.join(root, entry)):
            problems.append(f"listed but missing: {entry}")

    for top in ("src", "data"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                if not rel.endswith((".c", ".h", ".ui") + DATA_SUFFIXES):
                    continue
                if needs_listing(path) and rel not in seen:
                    problems.append(f"has translatable strings but is not in po/POTFILES.in: {rel}")

    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"po/POTFILES.in: {len(listed)} files, complete")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check-potfiles.py SOURCE_ROOT", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
