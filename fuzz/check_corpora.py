#!/usr/bin/env python3
"""Checks the fuzz corpora against what fuzz/README.md promises (CTest label `fuzz`):

- every fuzz/fuzz_<name>.cpp has a corpus/fuzz_<name>/ with 1 to MAX_FILES files, together
  under MAX_BYTES, and every corpus directory belongs to a target;
- no corpus file is empty, and no two corpus files hold the same bytes, within a target or across targets (a seed lives in
  the one corpus whose parser it exercises; set-cover merge leaves no duplicate in a target);
- the README's target table (before its first "## " section) has one row per target, and every exporter/ file a row names
  exists (so the table follows the sources when they move).

Usage: check_corpora.py [<repository root>]   (default: the parent of this file's folder)
Prints one line per problem and exits 1, or a summary and exits 0.
"""
import hashlib
import pathlib
import re
import sys

MAX_FILES = 60  # fuzz/README.md: "<= 60 files, < 500 KB"
MAX_BYTES = 500 * 1000


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    fuzz = root / "fuzz"
    targets = sorted(p.stem for p in fuzz.glob("fuzz_*.cpp"))
    problems = []
    if not targets:
        problems.append(f"no fuzz_*.cpp in {fuzz}")

    seen = {}  # sha256 -> first path
    for target in targets:
        corpus = fuzz / "corpus" / target
        files = sorted(p for p in corpus.rglob("*") if p.is_file()) if corpus.is_dir() else []
        size = sum(p.stat().st_size for p in files)
        if not files:
            problems.append(f"{target}: no seeds in fuzz/corpus/{target}/")
        if len(files) > MAX_FILES:
            problems.append(f"{target}: {len(files)} seeds, over the limit of {MAX_FILES} "
                            "(set-cover merge, fuzz/README.md)")
        if size >= MAX_BYTES:
            problems.append(f"{target}: {size} bytes of seeds, over the limit of {MAX_BYTES}")
        for p in files:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            rel = p.relative_to(fuzz / "corpus")
            if p.stat().st_size == 0:
                problems.append(f"{rel}: empty (libFuzzer and replay_main.cpp always run the "
                                "empty input)")
                continue
            if digest in seen:
                problems.append(f"{rel}: same bytes as {seen[digest]} (keep one)")
            else:
                seen[digest] = rel
    for d in sorted((fuzz / "corpus").iterdir()):
        if d.is_dir() and d.name not in targets:
            problems.append(f"fuzz/corpus/{d.name}/: no fuzz/{d.name}.cpp for it")

    # The target table is the one before the README's first "## " section.
    readme = (fuzz / "README.md").read_text().split("\n## ")[0]
    rows = {}
    for line in readme.splitlines():
        m = re.match(r"\|\s*`(fuzz_[a-z0-9_]+)`\s*\|(.*)", line)
        if m:
            rows.setdefault(m.group(1), []).append(m.group(2))
    for target in targets:
        if target not in rows:
            problems.append(f"{target}: no row in the target table of fuzz/README.md")
        elif len(rows[target]) > 1:
            problems.append(f"{target}: {len(rows[target])} rows in the target table")
    for target, cells in rows.items():
        if target not in targets:
            problems.append(f"fuzz/README.md: a row for {target}, which has no fuzz/{target}.cpp")
        for path in re.findall(r"`([a-z0-9_/]+\.(?:h|cpp))`", "".join(cells)):
            if not (root / "exporter" / path).is_file():
                problems.append(f"fuzz/README.md: {target}'s row names exporter/{path}, "
                                "which does not exist")

    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{len(targets)} targets, {len(seen)} distinct seeds, every target in the README table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
