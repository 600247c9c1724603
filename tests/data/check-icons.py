#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The icons data/meson.build installs exist and have the shape GNOME expects.

  check-icons.py SOURCE_ROOT

The app icon is a 128x128 SVG named after the app id; the symbolic icons (the app's and one per
account page, keyhold-<type>-symbolic, used by name) are 16x16 SVGs drawn only with fills in a
single colour, which GTK recolours to the theme's foreground."""

import os
import re
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
APP_ID = "io.github.keyhold.Keyhold"
TYPES = ["seller", "creator", "partner", "advertiser", "tiktok-account", "creator-marketplace"]


def check_svg(path, size, symbolic, problems):
    rel = os.path.relpath(path)
    if not os.path.isfile(path):
        problems.append(f"missing: {rel}")
        return
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        problems.append(f"{rel}: not valid XML: {e}")
        return
    if root.tag != SVG + "svg":
        problems.append(f"{rel}: not an SVG document")
        return
    if (root.get("width"), root.get("height"), root.get("viewBox")) != \
            (str(size), str(size), f"0 0 {size} {size}"):
        problems.append(f"{rel}: must be {size}x{size} with viewBox 0 0 {size} {size}")
    for el in root.iter():
        if el.tag in (SVG + "image", SVG + "text", SVG + "script"):
            problems.append(f"{rel}: <{el.tag[len(SVG):]}> is not allowed in an icon")
    if symbolic:
        colours = set()
        for el in root.iter():
            if el.get("stroke") not in (None, "none"):
                problems.append(f"{rel}: symbolic icons use fills, not strokes")
            if el.get("fill") not in (None, "none"):
                colours.add(el.get("fill").lower())
            if "url(" in (el.get("fill") or ""):
                problems.append(f"{rel}: symbolic icons have no gradients")
        if len(colours) > 1:
            problems.append(f"{rel}: symbolic icons use a single colour, not {sorted(colours)}")


def main(root):
    problems = []
    icons = os.path.join(root, "data", "icons", "hicolor")
    check_svg(os.path.join(icons, "scalable", "apps", APP_ID + ".svg"), 128, False, problems)
    check_svg(os.path.join(icons, "symbolic", "apps", APP_ID + "-symbolic.svg"), 16, True,
              problems)
    for t in TYPES:
        check_svg(os.path.join(icons, "scalable", "actions", f"keyhold-{t}-symbolic.svg"), 16, True,
                  problems)
    with open(os.path.join(root, "data", "io.github.keyhold.Keyhold.metainfo.xml.in.in"),
              encoding="utf-8") as f:
        metainfo = f.read()
    for shot in re.findall(r"data/screenshots/([a-z-]+\.png)</image>", metainfo):
        if not os.path.isfile(os.path.join(root, "data", "screenshots", shot)):
            problems.append(f"metainfo names data/screenshots/{shot}, which is not in the tree")
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"icons: app, symbolic and {len(TYPES)} page icons as expected; screenshots present")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: check-icons.py SOURCE_ROOT", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
