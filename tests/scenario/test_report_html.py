"""The HTML report as a browser sees it: headless Chromium loads OUTDIR/prepix-report.html,
and the DOM it builds must hold what the JSON report says (DESIGN.md section 5)."""
import csv
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from lib import Skip, check, main, report, run, tmpdir  # noqa: E402

# A failing file whose name would become markup if the report did not escape it.
HOSTILE = "<img src=x onerror=alert(1)> & \"q\" 'a'.jpg"


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag=None, cls=None, **attrs):
        out = []
        for c in self.children:
            if isinstance(c, str):
                continue
            if ((tag is None or c.tag == tag)
                    and (cls is None or cls in c.attrs.get("class", "").split())
                    and all(c.attrs.get(k) == v for k, v in attrs.items())):
                out.append(c)
            out += c.find_all(tag, cls, **attrs)
        return out

    def find(self, tag=None, cls=None, **attrs):
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None


class Dom(html.parser.HTMLParser):
    """A small tree from Chromium's serialised DOM (well formed: every element closed)."""
    VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "source", "area", "base", "col",
            "embed", "param", "track"}

    def __init__(self, markup):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#root", {}, None)
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in self.VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, d):
        self.cur.children.append(d)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise Skip("chromium not installed")


def load(page, extra=()):
    """(DOM as Chromium serialises it after loading page, console lines it logged); extra:
    more Chromium options."""
    profile = tmpdir()
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--no-default-browser-check", "--disable-extensions", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           # Nothing is fetched even if the page asked: a reference would show as an error.
           "--host-resolver-rules=MAP * ~NOTFOUND",
           *extra, "--dump-dom", "file://" + os.path.abspath(page)]
    # Its own process group, so that a hung browser goes with all its helper processes.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError("chromium did not end within 180 s")
    err = err.decode(errors="replace")
    check(p.returncode == 0, f"chromium exit {p.returncode}: {err[-3000:]}")
    dom = out.decode("utf-8")
    check("</html>" in dom, f"no DOM from chromium: {err[-3000:]}")
    # Every console message is a fault: the page has no script, so a message is a refused
    # resource, a policy violation or an error.
    console = [l for l in err.splitlines() if ":CONSOLE" in l or "Uncaught" in l]
    return dom, console


def cells(table):
    return [[td.text().strip() for td in tr.find_all("td")] for tr in table.find_all("tr")
            if tr.find("td")]


def make_inputs(inp):
    data.make(inp, n=6)  # RGB, RGBA and gray, in JPEG, PNG and TIFF
    import numpy as np
    from PIL import Image
    ramp = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(ramp).save(os.path.join(inp, "deep16.png"))  # a 16-bit gray group
    with open(os.path.join(inp, "empty.jpg"), "wb"):
        pass
    good = os.path.join(inp, "cat", "img0000.jpg")
    with open(good, "rb") as f:
        head = f.read()[:300]
    with open(os.path.join(inp, "truncated.jpg"), "wb") as f:
        f.write(head)
    with open(os.path.join(inp, HOSTILE), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")


def html_dom():
    """Summary, per-group histograms with band names and real ranges, ranks, failures and
    warnings are in the DOM Chromium builds; no console error, no network reference, and the
    hostile file name is text, not markup."""
    chromium()  # skip before making anything
    t = tmpdir()
    inp = os.path.join(t, "in")
    make_inputs(inp)
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "-f", "png", "-w", "2", "--progress", "none"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    rep = report(out)
    page = os.path.join(out, "prepix-report.html")
    with open(page, encoding="utf-8") as f:
        markup = f.read()
    # No reference the browser could follow (the hostile name's "src=x" is escaped text).
    for ref in ("http://", "https://", "<script", "<link", "@import", "url(", "src="):
        check(ref not in markup.replace("src=x", ""), f"the page holds {ref!r}")

    dom_text, console = load(page)
    check(not console, "console messages:\n" + "\n".join(console))
    for ref in ("http://", "https://"):
        check(ref not in dom_text, f"the DOM holds {ref!r}")
    dom = Dom(dom_text).root
    check(not dom.find_all("img") and not dom.find_all("script"),
          "a file name became markup")

    def section(sid):
        s = dom.find(id=sid)
        check(s is not None, f"no element with id {sid!r}")
        return s

    # Summary: the counts of the JSON.
    cards = {c.find(cls="k").text().strip(): c.find(cls="v").text().strip()
             for c in section("summary").find_all(cls="card")}
    im = rep["images"]
    want = {"images": im["total"], "ok": im["ok"], "failed": im["failed"],
            "skipped (not images)": im["skipped"]}
    for k, v in want.items():
        check(cards.get(k) == str(v), f"summary {k}: {cards.get(k)!r}, JSON {v}")
    check(im["failed"] == 3, im)

    # What was asked and how it ended.
    run_text = section("run").text()
    for s in (rep["version"], rep["input"], rep["outdir"], rep["format"], "exit code",
              str(rep["exit_code"]), "report date", "command line", "pipeline"):
        check(s in run_text, f"run section lacks {s!r}: {run_text!r}")
    check("complete" in section("status").text(), section("status").text())

    # One block per channel group, band names as the JSON spells them, two histograms each
    # (log and linear) with one curve per band, and an axis in the group's real range.
    groups = section("channels").find_all("section", cls="group")
    check(len(groups) == len(rep["channel_stats"]),
          f"{len(groups)} groups in the page, {len(rep['channel_stats'])} in the JSON")
    kinds = {(g["channels"], g["bits"]) for g in rep["channel_stats"]}
    check({(3, 8), (4, 8), (1, 8), (1, 16)} <= kinds, kinds)
    for g in rep["channel_stats"]:
        sec = section(f"group-{g['channels']}ch-{g['bits']}bit")
        names = [b["name"] for b in g["bands"]]
        legend = [s.find("strong").text().strip()
                  for s in sec.find(cls="legend").find_all("span", cls="entry")]
        check(legend == names, f"legend {legend}, JSON bands {names}")
        rows = cells(sec.find("table"))
        check([r[0] for r in rows] == names, f"band rows {rows}")
        for row, b in zip(rows, g["bands"]):
            check(abs(float(row[1]) - b["mean"]) < 1e-4, f"mean {row} vs {b['mean']}")
        svgs = sec.find_all("svg", cls="hist")
        check(len(svgs) == 2, f"{len(svgs)} histograms")
        labels = [s.attrs.get("aria-label", "") for s in svgs]
        check(any("logarithmic" in l for l in labels), labels)
        for svg in svgs:
            lines = svg.find_all("polyline")
            check(len(lines) == len(names), f"{len(lines)} curves for {names}")
            check([l.text().strip() for l in lines] == names, "curve titles")
            ticks = [x.text().strip() for x in svg.find_all("text")]
            top = "65535" if g["bits"] == 16 else "255"
            check(top in ticks, f"no {top} on the value axis: {ticks}")
            if g["bits"] == 16:
                check("255" not in ticks, f"16-bit group on a 0..255 axis: {ticks}")
    if (3, 8) in kinds:
        check("R" in dom_text and "G" in dom_text and "B" in dom_text, "RGB band names")

    # Per-rank table.
    rows = cells(section("ranks").find("table"))
    check(len(rows) == rep["ranks"] == len(rep["per_rank"]), rows)
    for row, pr in zip(rows, rep["per_rank"]):
        check(row[0] == str(pr["rank"]) and row[1] == pr["host"]
              and row[3] == str(pr["images"]), f"rank row {row} vs {pr}")

    # Failures: every path of the JSON, exactly, hostile name included.
    fs = section("failures")
    check(f"({len(rep['failures'])})" in fs.find("h2").text(), fs.find("h2").text())
    rows = cells(fs.find("table"))
    check([r[0] for r in rows] == [f["path"] for f in rep["failures"]],
          f"failure rows {[r[0] for r in rows]}")
    check(any(r[0].endswith(HOSTILE) for r in rows), "hostile name not shown as text")
    for name in ("empty.jpg", "truncated.jpg"):
        check(any(r[0].endswith(name) for r in rows), f"{name} not in the failures")
    for r, f in zip(rows, rep["failures"]):
        check(r[1] == f["stage"] and r[2] == f["code"], f"{r} vs {f}")

    # Warnings: the section is there, with each warning of the JSON.
    w = section("warnings")
    check(isinstance(rep.get("warnings"), list), "JSON lacks warnings")
    for s in rep["warnings"]:
        check(s in w.text(), f"warning {s!r} not shown")
    if not rep["warnings"]:
        check("No warnings" in w.text(), w.text())
    # ... and the page shows them before the statistics.
    check(dom_text.index('id="warnings"') < dom_text.index('id="channels"'), "warnings order")


def json_keys():
    """stop_reason and warnings are in every report, also a complete one."""
    t = tmpdir()
    inp = os.path.join(t, "in")
    data.make(inp, n=3)
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "--progress", "none"])
    check(p.returncode == 0, p.stderr)
    rep = report(out)
    check(rep["complete"] is True and rep.get("stop_reason") == "", rep.get("stop_reason"))
    check(rep.get("warnings") == [], rep.get("warnings"))
    check(re.search(r"^prepix: report: .*prepix-report\.json$", p.stderr, re.M), p.stderr)


# --- the page as a person sees it (issue 25 item 4) --------------------------------------------

SHARD_SIZE = 4


def look_inputs(inp):
    """Every kind of group and histogram the checks below look at: RGB, RGBA and gray from
    data.make; gray+alpha whose alpha spikes at 255; RGB with a third of its samples clipped
    to 0 or 255; a 16-bit gray image of 64 pixels (its log axis tops out below 10); an image at
    the top of INPUT (label -1); a file that fails (exit 3, and one image fewer in a shard)."""
    data.make(inp, n=6)
    for i in range(3):
        data.gray_alpha(120 + 10 * i, 90, 70 + i).save(os.path.join(inp, "dog", f"la{i}.png"))
    data.clipped(160, 120, 80).save(os.path.join(inp, "fish", "clipped.png"))
    import numpy as np
    from PIL import Image
    # 6 pixels in each of ten bins, 4 in the last: the largest bin holds 6.
    tiny = (np.arange(64, dtype=np.uint32) // 6 * 4096).reshape(8, 8).astype(np.uint16)
    Image.fromarray(tiny).save(os.path.join(inp, "cat", "tiny16.png"))
    data.photo_like(90, 70, 81).save(os.path.join(inp, "top.png"))
    with open(os.path.join(inp, "cat", "empty.jpg"), "wb"):
        pass


def look_run():
    """A -f tar run of look_inputs with shards of SHARD_SIZE: (JSON report, OUTDIR, stderr,
    DOM of the HTML report as Chromium builds it)."""
    chromium()  # skip before making anything
    t = tmpdir()
    inp = os.path.join(t, "in")
    look_inputs(inp)
    out = os.path.join(t, "out")
    p = run(["run", "-i", inp, "-o", out, "-f", "tar", "--shard-size", str(SHARD_SIZE),
             "-w", "2", "--progress", "none"])
    check(p.returncode == 3, f"exit {p.returncode}: {p.stderr}")
    dom_text, console = load(os.path.join(out, "prepix-report.html"))
    check(not console, "console messages:\n" + "\n".join(console))
    return report(out), out, p.stderr, Dom(dom_text).root


def count_value(label):
    """A count axis label back to a number: "950", "12k", "3.4M"."""
    m = re.fullmatch(r"([0-9.]+)([kMGTP]?)", label)
    check(m is not None, f"count label {label!r}")
    return float(m.group(1)) * 1000 ** " kMGTP".index(m.group(2) or " ")


def plots(dom, g):
    """{"log": svg, "linear": svg} of the group g of the JSON report."""
    sec = dom.find(id=f"group-{g['channels']}ch-{g['bits']}bit")
    check(sec is not None, f"no section for {g['channels']}ch {g['bits']}bit")
    out = {}
    for svg in sec.find_all("svg", cls="hist"):
        out["log" if "logarithmic" in svg.attrs.get("aria-label", "") else "linear"] = svg
    check(set(out) == {"log", "linear"}, f"plots {sorted(out)}")
    return out


def area(svg):
    r = svg.find("rect", cls="area")
    check(r is not None, "plot without its area")
    return tuple(float(r.attrs[k]) for k in ("x", "y", "width", "height"))


def curve(line):
    """[(x, y), ...] of a polyline."""
    return [tuple(map(float, p.split(","))) for p in line.attrs["points"].split()]


def y_labels(svg):
    """[(y, value), ...] of the count axis' labels, top to bottom."""
    return sorted((float(t.attrs["y"]), count_value(t.text().strip()))
                  for t in svg.find_all("text", cls="ylab"))


def html_axes():
    """Count axes a person can read: labels never closer than their height, a log axis that
    tops out below 10 labelled above 1; linear axes scaled to the bins between the end bins,
    so that spikes of clipped values (and alpha) at 0 and 255 do not flatten the bulk, each
    such bin marked with its exact count; no curve point on the plot's border."""
    rep, _, _, dom = look_run()
    la = [g for g in rep["channel_stats"] if g["channels"] == 2]
    check(la, "no gray+alpha group")
    tiny = [g for g in rep["channel_stats"] if g["channels"] == 1 and g["bits"] == 16]
    check(tiny and max(max(b["histogram"]) for b in tiny[0]["bands"]) < 10,
          "no 16-bit group with its largest bin below 10")
    clip_marks = 0
    for g in rep["channel_stats"]:
        what = f"{g['channels']}ch {g['bits']}bit"
        hists = {b["name"]: b["histogram"] for b in g["bands"]}
        mx = max(max(h) for h in hists.values())
        inner = max(max(h[1:255]) for h in hists.values())
        for kind, svg in plots(dom, g).items():
            x0, y0, w, ht = area(svg)
            labels = y_labels(svg)
            for (ya, a), (yb, b) in zip(labels, labels[1:]):
                check(yb - ya >= 11, f"{what} {kind}: labels {a:g} and {b:g} are "
                      f"{yb - ya:.1f} px apart: {labels}")
            for line in svg.find_all("polyline"):
                xs = [x for x, _ in curve(line)]
                check(min(xs) >= x0 + 4 and max(xs) <= x0 + w - 4,
                      f"{what} {kind}: curve {line.text().strip()} spans x {min(xs)}..{max(xs)},"
                      f" on the border of the area {x0}..{x0 + w}")
            values = [v for _, v in labels]
            if kind == "log" and mx >= 2:
                check(any(1 < v <= mx for v in values),
                      f"{what}: log axis up to {mx} has no label above 1: {values}")
            if kind != "linear":
                continue
            top = max(values)
            check(inner <= top <= 1.25 * inner or inner == 0,
                  f"{what}: linear axis tops at {top:g}, bins 1..254 reach {inner}")
            # The bulk stands tall: the highest point between the end bins is at least
            # half the plot's height.
            peak = min(y for line in svg.find_all("polyline") for y in
                       [p[1] for p in curve(line)[1:255]])
            check(y0 + ht - peak >= ht / 2,
                  f"{what}: bulk flattened, peak {peak} in {y0}..{y0 + ht}")
            marks = {}
            for t in svg.find_all("text", cls="clip"):
                m = re.search(r"^(\w+): (\d+) samples at (\d+)", t.find("title").text())
                check(m is not None, f"clip mark title {t.find('title').text()!r}")
                marks[(m.group(1), int(m.group(3)))] = int(m.group(2))
            for name, h in hists.items():
                # A mark names its bin by the bin's first value: 65280 is 65280..65535.
                for end, v in ((0, 0), (255, 255 << (g["bits"] - 8))):
                    if h[end] > top:
                        check(marks.get((name, v)) == h[end],
                              f"{what}: {name}'s bin {v} holds {h[end]} > {top:g}: mark "
                              f"{marks.get((name, v))}")
            check(len(marks) == sum(h[e] > top for h in hists.values() for e in (0, 255)),
                  f"{what}: marks {marks}")
            clip_marks += len(marks)
    check(clip_marks > 0, "no clipped end bin marked: the dataset lacks spikes")

def rgb(colour):
    check(re.fullmatch(r"#[0-9a-fA-F]{6}", colour or "") is not None, f"colour {colour!r}")
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def html_bands():
    """Gray and alpha in distinct colours (alpha a hue, not another gray), each curve keyed
    in the legend by its own colour and dash; the normalize line gives the colour bands only
    (1 or 3 values, what `normalize` takes), on the page and on stderr."""
    rep, _, stderr, dom = look_run()
    for g in rep["channel_stats"]:
        ch, what = g["channels"], f"{g['channels']}ch {g['bits']}bit"
        sec = dom.find(id=f"group-{ch}ch-{g['bits']}bit")
        names = [b["name"] for b in g["bands"]]
        keys = {}
        for e in sec.find(cls="legend").find_all("span", cls="entry"):
            line = e.find("line")
            check(line is not None, f"{what}: legend entry {e.text()!r} without its line")
            keys[e.find("strong").text().strip()] = (line.attrs.get("stroke"),
                                               line.attrs.get("stroke-dasharray"))
        check(list(keys) == names, f"{what}: legend {list(keys)}, bands {names}")
        for svg in plots(dom, g).values():
            for line in svg.find_all("polyline"):
                name = line.text().strip()
                got = (line.attrs.get("stroke"), line.attrs.get("stroke-dasharray"))
                check(keys[name] == got, f"{what}: curve {name} drawn {got}, keyed {keys[name]}")
            # A mark of a clipped end bin is in its band's colour (a style: the page's CSS
            # colours SVG text, and CSS wins over a fill attribute).
            for t in svg.find_all("text", cls="clip"):
                name = t.find("title").text().split(":")[0]
                check(t.attrs.get("style") == f"fill:{keys[name][0]}",
                      f"{what}: mark of {name} styled {t.attrs.get('style')!r}")
        if ch in (2, 4):
            a = rgb(keys["A"][0])
            check(max(a) - min(a) >= 100, f"{what}: alpha drawn in a gray, {keys['A'][0]}")
            for n in names[:-1]:
                check(keys[n][0].lower() != keys["A"][0].lower(), f"{what}: {n} and A alike")
        colour = 1 if ch <= 2 else 3
        code = sec.find("p", cls="norm").find("code").text()
        m = re.search(r"mean=([0-9.,]+) std=([0-9.,]+)", code)
        check(m is not None, f"{what}: normalize line {code!r}")
        for i, key in enumerate(("mean", "std")):
            vals = [float(v) for v in m.group(i + 1).split(",")]
            check(len(vals) == colour, f"{what}: normalize {key} has {len(vals)} values: {code!r}")
            for v, b in zip(vals, g["bands"]):
                check(abs(v - b[key]) < 6e-5, f"{what}: {key} {v} vs {b[key]} ({b['name']})")
        m = re.search(rf"^prepix: {ch}-channel {g['bits']}-bit .*normalize mean=(\S+) std=(\S+)$",
                      stderr, re.M)
        check(m is not None, f"{what}: no normalize line on stderr: {stderr}")
        check(len(m.group(1).split(",")) == colour and len(m.group(2).split(",")) == colour,
              f"{what}: stderr {m.group(0)!r}")


def html_shards():
    """-f tar: the JSON lists each shard written with its images and each label with its
    images, as index.csv and classes.txt say; the HTML shows both tables."""
    rep, out, _, dom = look_run()
    with open(os.path.join(out, "index.csv"), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    with open(os.path.join(out, "classes.txt"), encoding="utf-8") as f:
        names = f.read().splitlines()
    listed = rep["images"]["total"]
    want = [{"file": f"shard-{i:06d}.tar", "images": sum(r[1] == f"shard-{i:06d}.tar"
                                                         for r in rows)}
            for i in range((listed + SHARD_SIZE - 1) // SHARD_SIZE)]
    check(rep.get("shards") == want, f"shards {rep.get('shards')}, expected {want}")
    check(sum(s["images"] for s in want) == rep["images"]["ok"], "shards hold every ok image")
    for s in want:
        check(os.path.isfile(os.path.join(out, s["file"])), f"{s['file']} not written")
    labels = sorted({int(r[2]) for r in rows} | set(range(len(names))))
    want = [{"label": l, "name": names[l] if 0 <= l < len(names) else None,
             "images": sum(int(r[2]) == l for r in rows)} for l in labels]
    check(rep.get("classes") == want, f"classes {rep.get('classes')}, expected {want}")
    check(any(c["label"] == -1 for c in want) and len(names) == 3, f"dataset: {want}")

    sec = dom.find(id="shards")
    check(sec is not None, "no shards section")
    got = [r[:2] for r in cells(sec.find("table"))]
    check(got == [[s["file"], str(s["images"])] for s in rep["shards"]], f"shard rows {got}")
    sec = dom.find(id="classes")
    check(sec is not None, "no classes section")
    got = [r[:3] for r in cells(sec.find("table"))]
    check(got == [[str(c["label"]), c["name"] or "\u2014", str(c["images"])]
                  for c in rep["classes"]], f"class rows {got}")


def screenshot(page, width, path):
    profile = tmpdir()
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--no-default-browser-check", "--disable-extensions", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={profile}",
           "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--window-size={width},2400", f"--screenshot={path}", "file://" + page]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        _, err = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError("chromium did not end within 180 s")
    check(p.returncode == 0 and os.path.isfile(path),
          f"no screenshot: {err.decode(errors='replace')[-3000:]}")
    from PIL import Image
    img = Image.open(path).convert("RGB")
    check(img.size == (width, 2400), f"screenshot {img.size}")
    ink = sum(n for v, n in enumerate(img.convert("L").histogram()) if v < 200)
    check(ink > 0.01 * width * 2400, f"{width} px: a blank page ({ink} dark pixels)")
    check(len(img.getcolors(1 << 20) or []) > 50, f"{width} px: too few colours to be the report")


# The page as a frame of each width, measured by a script in the page that holds it (the
# report's own policy forbids scripts): what sticks out past the frame's right edge, unless
# it is inside a box that scrolls or clips it.
PROBE = """<!DOCTYPE html><html><body>%s<pre id="probe"></pre><script>
window.onload = function () {
  var r = {};
  document.querySelectorAll("iframe").forEach(function (f) {
    var d = f.contentDocument, w = f.contentWindow, vw = d.documentElement.clientWidth, out = [];
    function contained(e) {
      for (var a = e.parentElement; a && a !== d.body; a = a.parentElement)
        if (w.getComputedStyle(a).overflowX !== "visible") return true;
      return false;
    }
    d.querySelectorAll("body *").forEach(function (e) {
      var b = e.getBoundingClientRect(), p = e.parentElement.getBoundingClientRect();
      if (b.width && b.right > vw + 0.5 && p.right <= vw + 0.5 && !contained(e))
        out.push(e.tagName + "." + (e.getAttribute("class") || "") + "#" + e.id
                 + " right " + Math.round(b.right));
    });
    r[f.width] = {scroll: d.documentElement.scrollWidth, view: vw, out: out};
  });
  document.getElementById("probe").textContent = JSON.stringify(r);
};
</script></body></html>"""


def html_screens():
    """The page at 1280 and 420 px: screenshots that show a report (not blank), and nothing
    wider than the window (a wide table scrolls in its own box)."""
    rep, out, _, dom = look_run()
    for sid in ("summary", "run", "shards", "classes", "channels", "ranks", "failures"):
        check(dom.find(id=sid) is not None, f"no element with id {sid!r}")
    page = os.path.abspath(os.path.join(out, "prepix-report.html"))
    keep = os.environ.get("PPX_SCREENS_DIR")
    for width in (1280, 420):
        png = os.path.join(out, f"screen-{width}.png")
        screenshot(page, width, png)
        if keep:
            shutil.copy(png, os.path.join(keep, f"report-{width}.png"))
    with open(page, encoding="utf-8") as f:
        markup = f.read()
    import html as html_mod
    frames = "".join(f'<iframe width="{w}" height="900" srcdoc="{html_mod.escape(markup)}">'
                     "</iframe>" for w in (1280, 420))
    probe = os.path.join(out, "probe.html")
    with open(probe, "w", encoding="utf-8") as f:
        f.write(PROBE % frames)
    dom_text, _ = load(probe, extra=["--window-size=1800,1000"])
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom_text, re.S)
    check(m is not None and m.group(1), f"the probe did not run: {dom_text[-2000:]}")
    for width, r in json.loads(html_mod.unescape(m.group(1))).items():
        check(r["scroll"] <= r["view"] and not r["out"],
              f"{width} px: the page is {r['scroll']} px wide in a {r['view']} px window: "
              f"{r['out']}")


if __name__ == "__main__":
    sys.exit(main({f.__name__: f for f in (html_dom, json_keys, html_axes, html_bands,
                                       html_shards, html_screens)}))
