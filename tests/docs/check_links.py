#!/usr/bin/env python3
"""Checks that every relative link in README.md and docs/*.md resolves.

A link resolves when its file exists inside the repository and its anchor (`file.md#anchor`
or `#anchor`) names a heading of that file, slugged as GitHub does. (The alerts' runbook_url
anchors are checked against docs/runbook.md by tests/rules/lint_rules.py.)

Usage: check_links.py SOURCE_DIR. Prints every broken link, exits 1 if any.
"""
import os
import re
import sys



def slug(heading):
    """GitHub's anchor for a heading text: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # link text only
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every heading anchor of a Markdown file (fenced code skipped; duplicates get -N)."""
    seen = {}
    result = set()
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            result.add(base if n == 0 else f"{base}-{n}")
    return result


def links(path):
    """(line number, target) of every inline Markdown link outside fenced code."""
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            if in_fence:
                continue
            line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
            for m in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
                yield number, m.group(1)


def check_docs(root):
    problems = []
    files = ["README.md"] + sorted(
        os.path.join("docs", n) for n in os.listdir(os.path.join(root, "docs")) if n.endswith(".md"))
    cache = {}
    for rel in files:
        path = os.path.join(root, rel)
        for number, target in links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if not os.path.realpath(dest).startswith(os.path.realpath(root) + os.sep):
                problems.append(f"{rel}:{number}: link {target} leaves the repository")
                continue
            if not os.path.exists(dest):
                problems.append(f"{rel}:{number}: link {target}: {os.path.relpath(dest, root)} does not exist")
                continue
            if anchor:
                if not dest.endswith(".md"):
                    problems.append(f"{rel}:{number}: link {target}: anchor into a non-Markdown file")
                    continue
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if anchor not in cache[dest]:
                    problems.append(f"{rel}:{number}: link {target}: no heading #{anchor} in "
                                    f"{os.path.relpath(dest, root)}")
    return problems, len(files)


def main():
    root = sys.argv[1]
    problems, files = check_docs(root)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"ok: every relative link of {files} Markdown files resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
