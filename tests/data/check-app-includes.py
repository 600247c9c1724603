#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# check-app-includes.py: prints src/app/'s include graph and fails on a circle in it. A unit is a
# file name without .c/.h (kh-window.c and kh-window.h are one node "kh-window"; a split page's
# kh-account-page-form.c is its own node); an edge is a quoted #include of another unit of
# src/app/. Pages and dialogs reach the application through KhAppContext (kh-app-context.h),
# signals and GActions, so the graph stays a tree-like DAG: application -> window -> pages.
#
# usage: check-app-includes.py SRC_APP_DIR

import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def graph(directory):
    units = {}
    for name in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(name)
        if ext in ('.c', '.h'):
            units.setdefault(stem, []).append(os.path.join(directory, name))
    edges = {}
    for stem, paths in units.items():
        deps = set()
        for path in paths:
            with open(path, encoding='utf-8') as f:
                deps.update(INCLUDE.findall(f.read()))
        # A unit's -private.h belongs to it: kh-account-page-private.h is kh-account-page's.
        own = {stem, stem + '-private'}
        edges[stem] = sorted(d for d in deps if d in units and d not in own)
    return edges


def find_cycle(edges):
    """Returns one circle as a list of units (first == last), or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for dep in edges[node]:
            if state.get(dep) == 'open':
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 'done'
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main():
    if len(sys.argv) != 2:
        print('usage: check-app-includes.py SRC_APP_DIR', file=sys.stderr)
        return 2
    edges = graph(sys.argv[1])
    for node, deps in edges.items():
        print('%s -> %s' % (node, ', '.join(deps) if deps else '(nothing)'))
    cycle = find_cycle(edges)
    if cycle:
        print('circle in src/app/\'s includes: %s' % ' -> '.join(cycle), file=sys.stderr)
        return 1
    print('no circle')
    return 0


if __name__ == '__main__':
    sys.exit(main())
