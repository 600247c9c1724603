#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keyhold starts in every translated locale without a warning.

  run-locales.py KEYHOLD_BINARY SOURCE_ROOT SCREENSHOT_DIR

For each language of po/LINGUAS (and English), starts `keyhold --sandbox` with that language on
the current X display (run under .ci/session, which provides Xvfb, a session bus and a keyring),
waits for its window to be mapped, and fails if it exits early or writes any warning or critical
to stderr. The Thai run leaves a screenshot, SCREENSHOT_DIR/keyhold-th.png, to check by eye that
the text is Thai and shaped (fonts-thai-tlwg)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 30.0
SETTLE = 5.0
BAD_MARKERS = ("WARNING", "CRITICAL", "Gtk-", "Adwaita-", "GLib-", "GLib-GIO-", "Pango-",
               "Fontconfig", "ERROR")


def window_mapped():
    """TRUE once a Keyhold toplevel is viewable and laid out (xwininfo also lists windows that
    exist but are not mapped yet, such as the client leader)."""
    proc = subprocess.run(["xwininfo", "-root", "-tree"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("0x") or "keyhold" not in line.lower():
            continue
        info = subprocess.run(["xwininfo", "-id", fields[0]], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True).stdout
        width = re.search(r"Width: (\d+)", info)
        if ("IsViewable" in info and width is not None and int(width.group(1)) >= 300):
            return True
    return False


def run_one(binary, lang, shot):
    with tempfile.TemporaryDirectory(prefix=f"keyhold-locale-{lang}-") as tmp:
        env = dict(os.environ)
        env.pop("LC_ALL", None)
        env.pop("G_MESSAGES_DEBUG", None)
        env.update({
            "LANG": "C.UTF-8",
            "LANGUAGE": lang,
            "KEYHOLD_DATA_DIR": os.path.join(tmp, "data"),
            "KEYHOLD_STORE": f"locale-test-{lang}-{os.getpid()}",
            "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
            "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
            "GSETTINGS_BACKEND": "memory",
            "NO_AT_BRIDGE": "1",
            "GTK_A11Y": "none",
        })
        if lang == "en":
            env["LANGUAGE"] = "C"
        stderr_path = os.path.join(tmp, "stderr")
        with open(stderr_path, "w") as err:
            proc = subprocess.Popen([binary, "--sandbox"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None and not window_mapped():
                time.sleep(0.1)
            mapped = proc.poll() is None and window_mapped()
            if mapped:
                time.sleep(SETTLE)
                if shot is not None:
                    subprocess.run(["import", "-window", "root", shot], check=True)
            early_exit = proc.poll()
            if early_exit is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        with open(stderr_path, encoding="utf-8", errors="replace") as f:
            output = f.read()
        problems = []
        if early_exit is not None:
            problems.append(f"exited early with status {early_exit}")
        elif not mapped:
            problems.append(f"no window within {START_TIMEOUT:.0f} s")
        bad = [l for l in output.splitlines() if any(m in l for m in BAD_MARKERS)]
        if bad:
            problems.append("warnings on stderr:\n    " + "\n    ".join(bad[:20]))
        return problems


def main(binary, root, shots):
    if not os.environ.get("DISPLAY"):
        print("no X display: run under .ci/session")
        return 77
    if shutil.which("xwininfo") is None:
        print("xwininfo not installed (x11-utils)")
        return 77
    languages = []
    with open(os.path.join(root, "po", "LINGUAS"), encoding="utf-8") as f:
        for line in f:
            languages += line.split("#", 1)[0].split()
    os.makedirs(shots, exist_ok=True)
    failed = False
    for lang in ["en"] + languages:
        shot = os.path.join(shots, f"keyhold-{lang}.png") if lang == "th" else None
        problems = run_one(binary, lang, shot)
        if problems:
            failed = True
            print(f"{lang}: " + "; ".join(problems), file=sys.stderr)
        else:
            print(f"{lang}: started without warnings" + (f", screenshot {shot}" if shot else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print("usage: run-locales.py KEYHOLD_BINARY SOURCE_ROOT SCREENSHOT_DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
