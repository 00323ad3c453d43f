#!/usr/bin/env python3
"""Checks that metric names are declared once: every family the exporter can publish is a
MetricDef in exporter/metrics/names.h, no other file of exporter/ spells a family name in a
string literal (producers and readers use the constants), and the families of names.h are
exactly the families docs/metrics-spec.md documents.

Usage: check_metric_names.py [SOURCE_DIR]   (exit 0 clean, 1 with every finding listed)
"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
sys.path.insert(0, str(root / "tests/common"))
from metrics_spec import spec_metric_names  # noqa: E402

names_h = root / "exporter/metrics/names.h"
declared = re.findall(r'MetricDef\s+k\w+\{"(sockstate_[a-z0-9_]+)"', names_h.read_text())
errors = []
for name in sorted({n for n in declared if declared.count(n) > 1}):
    errors.append(f"{name} is declared more than once in metrics/names.h")

# A family name in a literal anywhere else: "sockstate_<word>_<word>..." that is not the
# program's own name.
literal = re.compile(r'"\^?(sockstate_[a-z0-9_]+)')
allowed = {"sockstate_exporter"}
for path in sorted((root / "exporter").rglob("*")):
    if path.suffix not in (".h", ".cpp") or path == names_h or not path.is_file():
        continue
    text = path.read_text()
    for m in literal.finditer(text):
        if m.group(1) in allowed or m.group(1).startswith("sockstate_exporter"):
            continue
        line = text[: m.start()].count("\n") + 1
        errors.append(f"exporter/{path.relative_to(root / 'exporter')}:{line}: "
                      f"{m.group(1)} spelled out; use its constant from metrics/names.h")

spec = spec_metric_names(root / "docs/metrics-spec.md")
for name in sorted(set(declared) - spec):
    errors.append(f"{name} (metrics/names.h) is not documented in docs/metrics-spec.md")
for name in sorted(spec - set(declared)):
    errors.append(f"{name} (docs/metrics-spec.md) is not declared in metrics/names.h")

for e in errors:
    print(e)
print(f"check_metric_names: {len(set(declared))} families declared, {len(spec)} documented, "
      f"{len(errors)} finding(s)")
sys.exit(1 if errors else 0)
