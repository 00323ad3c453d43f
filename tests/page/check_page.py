#!/usr/bin/env python3
"""Checks the landing page's DOM (chromium --dump-dom) against a /metrics scrape and against
the known population, and a screenshot of it (python3 stdlib only).

usage: check_page.py dom DOM.html METRICS.txt POPULATION.json SELF

SELF (addr:port) is the exporter itself: the browser's and curl's connections to it are
outgoing destinations too, that change between the page load and the scrape; their row is
left out of the comparison.
       check_page.py png PAGE.png WIDTH HEIGHT

dom: the destination rows are the scrape's destinations with sockets, fullest first (occupancy,
     then ports used by the fullest tuple), at most 10, each cell equal to the scrape's numbers;
     they are exactly the population's destinations; the settings table shows the scrape's
     sysctls, each with a line saying what it does; no script and no external resource.
png: a PNG of the requested size, not blank, that shows the critical and the warning occupancy
     bars (pixels of their colours, #d23c3c and #e8902a).
"""
import html.parser
import json
import re
import struct
import sys
import zlib


def fail(msg):
    print("check_page: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Dom(html.parser.HTMLParser):
    """Rows of table#destinations, table#udp and table#settings as lists of {class: text}."""

    def __init__(self):
        super().__init__()
        self.table = None
        self.rows = {"destinations": [], "udp": [], "settings": []}
        self.row = None
        self.cell = None
        self.text = []
        self.tags = []
        self.attrs_seen = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen += [k for k, _ in attrs]
        if tag == "table":
            self.table = a.get("id")
        elif tag == "tr" and self.table in self.rows:
            self.row = {"_class": a.get("class", "")}
        elif tag == "td" and self.row is not None:
            self.cell = a.get("class", "")
            self.text = []
        elif tag == "br" and self.cell is not None:
            self.text.append("\n")

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row[self.cell] = "".join(self.text).strip()
            self.cell = None
        elif tag == "tr" and self.row is not None:
            if len(self.row) > 1:
                self.rows[self.table].append(self.row)
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.text.append(data)


def parse_metrics(text):
    """{name: [(labels dict, value)]} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            fail(f"unparsable metrics line: {line}")
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out


def num(v):
    return str(int(v)) if v == int(v) else f"{v:.3f}".rstrip("0").rstrip(".")


def check_dom(dom_path, metrics_path, pop_path, self_addr):
    text = open(dom_path, encoding="utf-8").read()
    d = Dom()
    d.feed(text)
    for banned in ("script", "link", "iframe", "img", "object", "embed"):
        if banned in d.tags:
            fail(f"the page has a <{banned}> element")
    if "src" in d.attrs_seen:
        fail("the page loads a resource (src=)")
    if re.search(r"url\(|@import", text):
        fail("the page's style loads a resource")

    metrics = parse_metrics(open(metrics_path, encoding="utf-8").read())
    key = lambda labels: (labels.get("netns", ""), labels["destination"])
    g = lambda name: {key(l): v for l, v in metrics.get(name, [])}
    occ = g("sockstate_destination_occupancy_ratio")
    used_max = g("sockstate_destination_ephemeral_ports_used_max")
    used = g("sockstate_destination_ephemeral_ports_used")
    tuples = g("sockstate_destination_tuples")
    usable = {l.get("netns", ""): v for l, v in metrics["sockstate_ephemeral_port_usable_ports"]}
    states = {}
    for l, v in metrics.get("sockstate_destination_sockets", []):
        if v:
            states.setdefault(key(l), {})[l["state"]] = v
    tw_total = {key(l): v for l, v in metrics.get("sockstate_destination_time_wait_remaining_seconds_count", [])}
    # Who holds the ports: per destination, its workloads' ports and states.
    wl = {}
    for l, v in metrics.get("sockstate_destination_workload_ephemeral_ports_used", []):
        wl.setdefault(key(l), {}).setdefault((l["workload_kind"], l["workload"]), [0, {}])[0] = v
    for l, v in metrics.get("sockstate_destination_workload_sockets", []):
        if v:
            wl.setdefault(key(l), {}).setdefault((l["workload_kind"], l["workload"]), [0, {}])[1][l["state"]] = v

    def workloads_cell(k):
        def name(kind, w):
            return {"container": "container " + w[:12], "pod": "pod " + w}.get(kind, w)
        cells = sorted(wl.get(k, {}).items(), key=lambda i: (-i[1][0], -sum(i[1][1].values()), i[0]))
        parts = []
        for (kind, w), (ports, sts) in cells[:3]:
            top = sorted(sts.items(), key=lambda s: -s[1])
            parts.append(f"{name(kind, w)} {num(ports)}" + (f" ({top[0][0]})" if top else ""))
        return ", ".join(parts) or "-"

    with_sockets = [k for k in used if used[k] > 0 or occ.get(k, 0) > 0 or states.get(k)]
    with_sockets.sort(key=lambda k: (-occ.get(k, -1), -used_max.get(k, -1), -used[k], k))
    want = [k for k in with_sockets[:10] if k[1] != self_addr]

    rows = [r for r in d.rows["destinations"] if r.get("dest") != self_addr]
    # Ranks run 1..n down the table. (Where the exporter's own row sits can differ between the
    # page load and the scrape, so order is compared on the other rows, below.)
    ranks = [r.get("num rank") for r in d.rows["destinations"]]
    if ranks != [str(i) for i in range(1, len(ranks) + 1)]:
        fail(f"page ranks {ranks} are not 1..{len(ranks)}")
    got = [r["dest"] for r in rows]
    if got != [k[1] for k in want]:
        fail(f"page rows {got} != scrape's fullest destinations {[k[1] for k in want]}")
    for r, k in zip(rows, want):
        where = f"row {r['num rank']} ({k[1]})"
        expect = {
            "num ports": f"{num(used_max[k])} of {num(usable[k[0]])}",
            "num tuples": num(tuples[k]),
            "states": " · ".join(f"{s} {num(n)}" for s, n in states.get(k, {}).items()) or "none",
        }
        if wl:
            expect["workloads"] = workloads_cell(k)
        for cls, value in expect.items():
            if r.get(cls) != value:
                fail(f"{where}: cell {cls} is {r.get(cls)!r}, the scrape says {value!r}")
        pct = f"{occ[k] * 100:.1f}%"
        if not r["occ"].endswith(pct):
            fail(f"{where}: occupancy {r['occ']!r}, the scrape says {pct}")
        level = "crit" if occ[k] >= 0.85 else "warn" if occ[k] >= 0.5 else "ok"
        if r["_class"] != level:
            fail(f"{where}: row class {r['_class']!r}, want {level!r}")
        # TIME_WAIT ports coming back: the last bucket shown (60 s) holds every TIME_WAIT socket;
        # the earlier ones drift with time between the page load and the scrape, so only their
        # order is checked.
        if tw_total.get(k, 0) > 0:
            counts = [float(x) for x in re.findall(r"(\d+) in \d+ s", r["tw"])]
            if not counts or counts[-1] != tw_total[k] or counts != sorted(counts):
                fail(f"{where}: TIME_WAIT cell {r['tw']!r}, the scrape has {num(tw_total[k])} in TIME_WAIT")
        elif r["tw"] != "none in TIME_WAIT":
            fail(f"{where}: TIME_WAIT cell {r['tw']!r}, want 'none in TIME_WAIT'")

    pop = json.load(open(pop_path))
    if [(r["dest"], r["num ports"], r["states"]) for r in rows] != [
            (p["destination"], f"{p['ports_used']} of {pop['usable']}",
             " · ".join(f"{s} {n}" for s, n in p["states"].items())) for p in pop["destinations"]]:
        fail(f"page rows {[(r['dest'], r['num ports'], r['states']) for r in rows]} are not the population made")

    # UDP: one row, the namespace's one budget, as the scrape has it and as the population made it.
    u = pop["udp"]
    udp_states = {}
    for l, v in metrics.get("sockstate_udp_sockets", []):
        udp_states[l["state"]] = udp_states.get(l["state"], 0) + v
    scrape_udp = {
        "num ports": f"{num(metrics['sockstate_udp_ephemeral_ports_used'][0][1])} of "
                     f"{num(metrics['sockstate_udp_ephemeral_port_usable_ports'][0][1])}",
        "states": " · ".join(f"{s} {num(udp_states[s])}" for s in ("unconnected", "connected")
                             if udp_states.get(s)),
        "num sharing": num(metrics["sockstate_udp_sockets_sharing_ports"][0][1]),
        "dests": " · ".join(f"{l['destination']} {num(v)}"
                            for l, v in metrics.get("sockstate_udp_destination_sockets", []) if v) or "-",
    }
    made_udp = {
        "num ports": f"{u['ports_used']} of {u['usable']}",
        "states": " · ".join(f"{s} {n}" for s, n in u["states"].items()),
        "num sharing": str(u["sharing"]),
        "dests": " · ".join(f"{dst} {n}" for dst, n in u["destinations"].items()),
    }
    if scrape_udp != made_udp:
        fail(f"the scrape's UDP figures {scrape_udp} are not the population made {made_udp}")
    if len(d.rows["udp"]) != 1:
        fail(f"UDP table has {len(d.rows['udp'])} rows, want 1 (the namespace)")
    r = d.rows["udp"][0]
    for cls, value in made_udp.items():
        if r.get(cls) != value:
            fail(f"UDP row: cell {cls} is {r.get(cls)!r}, want {value!r}")
    ratio = u["ports_used"] / u["usable"]
    level = "crit" if ratio >= 0.85 else "warn" if ratio >= 0.5 else "ok"
    if not r["occ"].endswith(f"{ratio * 100:.1f}%") or r["_class"] != level:
        fail(f"UDP row: occupancy {r['occ']!r} class {r['_class']!r}, want {ratio * 100:.1f}% {level}")

    settings = {r["name"]: r for r in d.rows["settings"]}
    sysctl = lambda name: num(metrics[name][0][1])
    expect = {
        "net.ipv4.ip_local_port_range": f"{sysctl('sockstate_sysctl_ip_local_port_range_low')}-"
                                        f"{sysctl('sockstate_sysctl_ip_local_port_range_high')} "
                                        f"({sysctl('sockstate_ephemeral_port_range_ports')} ports)",
        "ports held by bind()": sysctl("sockstate_ephemeral_port_bind_held_ports"),
        "usable ports per tuple": sysctl("sockstate_ephemeral_port_usable_ports"),
        "net.ipv4.tcp_tw_reuse": sysctl("sockstate_sysctl_tcp_tw_reuse") + " (off)",
        "net.ipv4.tcp_timestamps": sysctl("sockstate_sysctl_tcp_timestamps"),
        "net.ipv4.tcp_fin_timeout": sysctl("sockstate_sysctl_tcp_fin_timeout_seconds") + " s",
    }
    for name, value in expect.items():
        if name not in settings:
            fail(f"settings table has no {name}")
        if settings[name]["value"] != value:
            fail(f"setting {name}: page {settings[name]['value']!r}, scrape {value!r}")
    if settings["net.ipv4.ip_local_port_range"]["value"] != "40000-40099 (100 ports)":
        fail("the port range is not the one the population set")
    for name, r in settings.items():
        if len(r.get("meaning", "")) < 20:
            fail(f"setting {name} has no line saying what it does")
    print(f"check_page: {len(rows)} destination rows, the UDP row and {len(settings)} settings match the scrape")


def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = ihdr
    if depth != 8 or color not in (2, 6) or interlace:
        fail(f"unexpected PNG format depth={depth} color={color} interlace={interlace}")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(height):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_png(path, want_w, want_h):
    w, h, bpp, rows = png_pixels(path)
    if (w, h) != (int(want_w), int(want_h)):
        fail(f"screenshot is {w}x{h}, want {want_w}x{want_h}")
    colours = {}
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x:x + 3]
            colours[px] = colours.get(px, 0) + 1
    red = colours.get(bytes((0xd2, 0x3c, 0x3c)), 0)
    orange = colours.get(bytes((0xe8, 0x90, 0x2a)), 0)
    if red < 50:
        fail(f"screenshot shows no critical (red) occupancy bar: {red} red pixels")
    if orange < 50:
        fail(f"screenshot shows no warning (orange) occupancy bar: {orange} orange pixels")
    if len(colours) < 20:
        fail(f"screenshot has only {len(colours)} colours: blank page?")
    print(f"check_page: screenshot {w}x{h}, {len(colours)} colours, {red} pixels of the red bar, {orange} orange")


if __name__ == "__main__":
    if sys.argv[1:2] == ["dom"]:
        check_dom(*sys.argv[2:6])
    elif sys.argv[1:2] == ["png"]:
        check_png(*sys.argv[2:5])
    else:
        print(__doc__)
        sys.exit(2)
