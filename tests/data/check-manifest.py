#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Flatpak manifests are what a Flathub reviewer expects.

  check-manifest.py SOURCE_ROOT

Both manifests are valid JSON; the app id matches the metainfo and desktop file templates
(stable: io.github.keyhold.Keyhold, Devel: the same + .Devel, built from the checkout with
-Ddevelopment=true); the runtime is a numbered stable branch of org.gnome.Platform; the command
is the `keyhold` binary the metainfo provides; and finish-args are exactly the minimal set.
Secrets go through the Secret portal and the browser through the OpenURI portal, so neither
--talk-name=org.freedesktop.secrets nor any filesystem access may appear."""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET

APP_ID = "io.github.keyhold.Keyhold"
FINISH_ARGS = ["--share=network", "--share=ipc", "--socket=fallback-x11", "--socket=wayland",
               "--device=dri"]


def check(path, app_id, devel, problems):
    def bad(msg):
        problems.append(f"{os.path.basename(path)}: {msg}")

    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        bad(f"not valid JSON: {e}")
        return
    if manifest.get("id") != app_id:
        bad(f"id is {manifest.get('id')!r}, expected {app_id!r}")
    if manifest.get("runtime") != "org.gnome.Platform" or manifest.get("sdk") != "org.gnome.Sdk":
        bad("runtime must be org.gnome.Platform with the org.gnome.Sdk")
    if not re.fullmatch(r"[0-9]+", str(manifest.get("runtime-version", ""))):
        bad("runtime-version must be a stable GNOME branch (a number), not master or nightly")
    if manifest.get("command") != "keyhold":
        bad("command must be keyhold")
    args = manifest.get("finish-args", [])
    if len(args) != len(set(args)) or sorted(args) != sorted(FINISH_ARGS):
        bad(f"finish-args must be exactly {FINISH_ARGS}, got {args}")
    modules = manifest.get("modules", [])
    if not modules or not isinstance(modules[-1], dict) or modules[-1].get("name") != "keyhold":
        bad("the last module must be keyhold")
        return
    # The GNOME runtime has neither libsodium nor libpq (the team store): both are built first,
    # from release archives pinned by checksum.
    names = [m.get("name") for m in modules if isinstance(m, dict)]
    for dep in ("libsodium", "libpq"):
        if dep not in names[:-1]:
            bad(f"the module {dep} must be built before keyhold (the runtime lacks it)")
            continue
        for src in modules[names.index(dep)].get("sources", []):
            if not str(src.get("url", "")).startswith("https://") or \
               not re.fullmatch(r"[0-9a-f]{64}", str(src.get("sha256", ""))):
                bad(f"the {dep} module's sources need an https url and a sha256")
    main = modules[-1]
    if main.get("buildsystem") != "meson":
        bad("keyhold must be built with meson")
    sources = main.get("sources", [])
    opts = main.get("config-opts", [])
    if devel:
        if "-Ddevelopment=true" not in opts:
            bad("the Devel build needs -Ddevelopment=true (app id .Devel)")
        if not any(s.get("type") == "dir" and s.get("path") == ".." for s in sources):
            bad("the Devel build must build the current checkout (type dir, path ..)")
    else:
        if any(o.startswith("-Ddevelopment=true") for o in opts):
            bad("the stable build must not be a development build")
        if not any(s.get("type") == "git" and (s.get("tag") or s.get("commit")) for s in sources):
            bad("the stable build must build a tagged git release")


def main(root):
    problems = []
    data = os.path.join(root, "data")
    # The templates carry @APP_ID@; the built files carry the substituted id.
    tree = ET.parse(os.path.join(data, "io.github.keyhold.Keyhold.metainfo.xml.in.in"))
    comp = tree.getroot()
    if comp.findtext("id") != "@APP_ID@":
        problems.append("metainfo: <id> must be @APP_ID@ (substituted by meson)")
    if comp.findtext("launchable") != "@APP_ID@.desktop":
        problems.append("metainfo: launchable must be @APP_ID@.desktop")
    binaries = [b.text for b in comp.iter("binary")]
    for b in ("keyhold", "keyhold-cli"):
        if b not in binaries:
            problems.append(f"metainfo: <provides> lacks the binary {b}")
    with open(os.path.join(data, "io.github.keyhold.Keyhold.desktop.in.in"), encoding="utf-8") as f:
        desktop = f.read()
    if not re.search(r"^Icon=@APP_ID@$", desktop, re.M):
        problems.append("desktop file: Icon must be @APP_ID@")
    if not re.search(r"^DBusActivatable=true$", desktop, re.M):
        problems.append("desktop file: DBusActivatable must be true")

    check(os.path.join(root, "flatpak", APP_ID + ".json"), APP_ID, False, problems)
    check(os.path.join(root, "flatpak", APP_ID + ".Devel.json"), APP_ID + ".Devel", True, problems)

    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print("flatpak manifests: ids, runtime, command, finish-args and modules as expected")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check-manifest.py SOURCE_ROOT", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
