#!/usr/bin/env python3
"""Checks the layer rule of docs/architecture.md against the code: every `#include "dir/..."`
in exporter/ names its own folder or a folder of a LOWER layer. The layers are read from the
table under "## Layers" in docs/architecture.md (first column: the layer number, second: the
folder in backquotes), so the document and the check cannot drift apart. Also fails on a
folder of exporter/ that the table does not list, and on a table folder that does not exist.

Usage: check_layers.py [SOURCE_DIR]   (exit 0 clean, 1 with every violation listed)
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
doc = (root / "docs/architecture.md").read_text()
section = re.search(r"^## Layers\n(.*?)(?=^## )", doc, re.S | re.M)
if not section:
    sys.exit("check_layers: docs/architecture.md has no '## Layers' section")
rank = {}
for m in re.finditer(r"^\|\s*(\d+)\s*\|\s*`exporter/([a-z_]+)/`", section.group(1), re.M):
    rank[m.group(2)] = int(m.group(1))
if len(rank) < 3:
    sys.exit("check_layers: fewer than 3 layer rows found in docs/architecture.md")

exporter = root / "exporter"
errors = []
folders = {p.name for p in exporter.iterdir() if p.is_dir()}
for f in sorted(folders - set(rank)):
    errors.append(f"exporter/{f}/ is not in the layer table of docs/architecture.md")
for f in sorted(set(rank) - folders):
    errors.append(f"the layer table names exporter/{f}/, which does not exist")

include = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
checked = 0
for path in sorted(exporter.rglob("*")):
    if path.suffix not in (".h", ".cpp", ".c") or not path.is_file():
        continue
    rel = path.relative_to(exporter)
    if len(rel.parts) == 1:  # main.cpp stands above every layer
        continue
    own = rel.parts[0]
    for m in include.finditer(path.read_text()):
        target = m.group(1)
        checked += 1
        if target not in rank:
            continue  # a generated header or a path relative to the file's folder
        if own in rank and rank[target] > rank[own]:
            line = path.read_text()[: m.start()].count("\n") + 1
            errors.append(f"exporter/{rel}:{line}: includes {target}/ (layer {rank[target]}) "
                          f"from {own}/ (layer {rank[own]}): includes only go down")

for e in errors:
    print(e)
print(f"check_layers: {checked} includes in exporter/, {len(rank)} layers, "
      f"{len(errors)} violation(s)")
sys.exit(1 if errors else 0)
