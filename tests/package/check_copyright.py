#!/usr/bin/env python3
"""Checks packaging/debian/copyright against the DEP-5 format and the source tree.

lintian checks a DEP-5 file only in source packages; the project ships a binary one, so the
package tier runs this instead:
  - the header paragraph has the 1.0 Format URL and Upstream-Name;
  - every Files paragraph has Files, Copyright and License; every licence short name it uses
    has a stand-alone License paragraph with text (or text of its own);
  - every Files pattern other than '*' matches a file of the source tree (DEP-5 globs: '*'
    matches any string, '/' included), so a moved file cannot leave its paragraph behind;
  - every BPF program (*.bpf.c) falls under a paragraph whose licence is the one its
    SPDX-License-Identifier line states, and declares a license section string the kernel
    accepts as GPL-compatible (its GPL-only helpers need one).

usage: check_copyright.py COPYRIGHT_FILE SOURCE_DIR
Prints one line per problem and exits 1, or prints a summary and exits 0.
"""
import fnmatch
import os
import re
import sys

FORMAT = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
# DEP-5 short name(s) of a Files paragraph -> the SPDX expression its files state.
SPDX = {"bsd-2-clause": "BSD-2-Clause", "gpl-2 or bsd-2-clause": "(GPL-2.0-only OR BSD-2-Clause)"}
# license_is_gpl_compatible() in include/linux/license.h.
KERNEL_GPL_COMPATIBLE = {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                         "Dual MIT/GPL", "Dual MPL/GPL"}


def paragraphs(text):
    """deb822 paragraphs: [{field (lower case): (first line, [continuation lines])}]."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        para, key = {}, None
        for line in block.splitlines():
            if line.startswith((" ", "\t")):
                if key is None:
                    raise ValueError(f"continuation line before any field: {line!r}")
                para[key][1].append(line.strip())
            else:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ValueError(f"not a field: {line!r}")
                key = name.strip().lower()
                para[key] = (value.strip(), [])
        out.append(para)
    return out


def source_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
        for f in files:
            yield os.path.relpath(os.path.join(d, f), root)


def main(copyright_path, src):
    problems = []
    try:
        paras = paragraphs(open(copyright_path, encoding="utf-8").read())
    except ValueError as e:
        print(f"{copyright_path}: {e}")
        return 1
    header, rest = paras[0], paras[1:]
    if header.get("format", ("",))[0] != FORMAT:
        problems.append(f"header: Format is not {FORMAT}")
    if not header.get("upstream-name", ("",))[0]:
        problems.append("header: no Upstream-Name")

    files_paras = [p for p in rest if "files" in p]
    licence_texts = {p["license"][0].lower() for p in rest if "files" not in p and "license" in p
                     and p["license"][1]}
    tree = sorted(source_files(src))
    for p in files_paras:
        patterns = [p["files"][0]] + p["files"][1]
        patterns = [x for line in patterns for x in line.split()]
        for field in ("copyright", "license"):
            if not p.get(field, ("",))[0]:
                problems.append(f"Files: {' '.join(patterns)}: no {field.capitalize()}")
        licence, text = p.get("license", ("", []))
        if not text:
            for name in re.split(r"\s+(?:or|and)\s+", licence.lower()):
                if name and name not in licence_texts:
                    problems.append(f"Files: {' '.join(patterns)}: no License paragraph for '{name}'")
        for pat in patterns:
            if pat != "*" and not any(fnmatch.fnmatchcase(f, pat) for f in tree):
                problems.append(f"Files: pattern {pat} matches no file in {src}")

    def licence_of(path):  # the last matching paragraph wins (DEP-5)
        found = None
        for p in files_paras:
            pats = [x for line in [p["files"][0]] + p["files"][1] for x in line.split()]
            if any(fnmatch.fnmatchcase(path, x) for x in pats):
                found = p["license"][0].lower()
        return found

    bpf = [f for f in tree if f.endswith(".bpf.c")]
    if not bpf:
        problems.append(f"no *.bpf.c in {src}")
    for f in bpf:
        text = open(os.path.join(src, f), encoding="utf-8").read()
        m = re.search(r"SPDX-License-Identifier:\s*(.+?)\s*(?:\*/)?$", text.splitlines()[0])
        spdx = m.group(1) if m else None
        want = SPDX.get(licence_of(f) or "")
        if spdx != want:
            problems.append(f"{f}: SPDX line says {spdx!r}, debian/copyright says {want!r}")
        sec = re.search(r'SEC\("license"\)\s*=\s*"([^"]*)"', text)
        if not sec or sec.group(1) not in KERNEL_GPL_COMPATIBLE:
            problems.append(f"{f}: license section {sec.group(1) if sec else None!r} is not one "
                            "the kernel accepts as GPL-compatible")

    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"copyright: DEP-5, {len(files_paras)} Files paragraphs, every pattern matches, "
          f"{len(bpf)} BPF program(s) licensed as their SPDX line says")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
