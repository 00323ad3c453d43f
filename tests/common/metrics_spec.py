"""Metric names defined in docs/metrics-spec.md (python3 stdlib only).

The spec writes most names in full (`sockstate_tcp_sockets{...}`) and abbreviates families:
"`sockstate_netstat_tcpext_tw_total`, `..._twkilled_total` ... (prefix `sockstate_netstat_tcpext_`)".
Abbreviated names are expanded with the prefix named in the same bullet.
"""
import re

_NAME = re.compile(r"`(sockstate_[a-z0-9_]+)(?=[`{])")
_ABBREV = re.compile(r"`\.\.\._([a-z0-9_]+)`")
_PREFIX = re.compile(r"prefix `(sockstate_[a-z0-9_]+_)`")
# Suffixes a histogram or summary adds to its base name.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")


def _bullets(text):
    """Yield each markdown bullet (with its continuation lines) and each other paragraph."""
    cur = []
    for line in text.splitlines():
        if line.startswith("- ") or line.startswith("#") or not line.strip():
            if cur:
                yield " ".join(cur)
            cur = [line] if line.strip() else []
        else:
            cur.append(line.strip())
    if cur:
        yield " ".join(cur)


def spec_metric_names(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names = set()
    for block in _bullets(text):
        names.update(_NAME.findall(block))
        prefixes = _PREFIX.findall(block)
        for short in _ABBREV.findall(block):
            for p in prefixes:
                names.add(p + short)
    # A bare prefix such as `sockstate_netstat_tcpext_` is not a metric.
    return {n for n in names if not n.endswith("_")}


def base_name(name):
    for s in SERIES_SUFFIXES:
        if name.endswith(s):
            return name[: -len(s)]
    return name


def metric_names_in_expr(expr):
    """sockstate_* identifiers used in a PromQL expression (recording rule names have ':')."""
    return set(re.findall(r"(?<![A-Za-z0-9_:])(sockstate_[A-Za-z0-9_]+)(?![A-Za-z0-9_:])", expr))


if __name__ == "__main__":
    import sys
    for n in sorted(spec_metric_names(sys.argv[1])):
        print(n)
