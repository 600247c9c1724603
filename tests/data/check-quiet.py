#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs a validator and fails on any complaint, not only on errors.

  check-quiet.py [--allow REGEX]... -- COMMAND [ARGS...]

desktop-file-validate prints hints and warnings with exit status 0, and appstreamcli reports
infos without failing: the data files must produce none of them. Every line of output must
match one of the --allow expressions (used for appstreamcli's summary line and for issues that
only exist because the installed validator is older than the AppStream format, named in
tests/data/meson.build)."""

import re
import os
import subprocess
import sys


def main(argv):
    allowed = []
    while argv and argv[0] != "--":
        if argv[0] == "--allow" and len(argv) > 1:
            allowed.append(re.compile(argv[1]))
            argv = argv[2:]
        else:
            print(f"usage: check-quiet.py [--allow REGEX]... -- COMMAND", file=sys.stderr)
            return 2
    command = argv[1:]
    if not command:
        print("check-quiet.py: no command", file=sys.stderr)
        return 2
    # Judge the validator's own findings, not the GLib debug lines a debug-enabled run adds.
    env = dict(os.environ)
    env.pop("G_MESSAGES_DEBUG", None)
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env)
    complaints = [line for line in proc.stdout.splitlines()
                  if line.strip() and not any(a.search(line) for a in allowed)]
    print(proc.stdout, end="")
    if proc.returncode != 0:
        print(f"{command[0]} exited with status {proc.returncode}", file=sys.stderr)
        return 1
    if complaints:
        print(f"{command[0]} reported {len(complaints)} issue(s):", file=sys.stderr)
        for line in complaints:
            print("  " + line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
