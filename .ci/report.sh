#!/usr/bin/env bash
# The HTML reports in a real browser: render a monitoring report (two
# versions, a swap and a rollback, feedback for both) and an offline drift
# report in headless Chromium, and fail on any console message (the pages
# have no script, so every message is an error: an invalid SVG attribute,
# a blocked resource), on missing elements (a chart per feature, swap and
# rollback markers, one quality series per version), and on a layout that
# leaves most of a wide window empty.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
TARGET="${CARGO_TARGET_DIR:-target}"

if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
fi
chromium --version

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== generating the reports"
MODELHOST_REPORT_OUT="$WORK/monitor.html" cargo test --quiet --all-features --test monitor_drift \
    the_report_has_a_time_axis_markers_per_version_series_and_distributions -- --exact
cargo build --quiet --all-features --bin modelhost
cp "$TARGET/debug/modelhost" "$WORK/modelhost"
"$WORK/modelhost" drift --schema tests/data/drift/large_mixed/schema.json \
    --reference tests/data/drift/large_mixed/reference.csv \
    --current tests/data/drift/large_mixed/current.csv --html "$WORK/drift.html" >/dev/null
printf '<!DOCTYPE html><html><body><svg><rect height="-1"/></svg></body></html>' >"$WORK/broken.html"

render() { # FILE -> FILE.dom, FILE.png, FILE.console
    local f="$1"
    timeout 120 chromium --headless --disable-gpu --no-sandbox --hide-scrollbars \
        --enable-logging=stderr --log-level=0 --window-size=1600,1200 \
        --dump-dom "file://$f" >"$f.dom" 2>"$f.log"
    timeout 120 chromium --headless --disable-gpu --no-sandbox --hide-scrollbars \
        --window-size=1600,1200 --screenshot="$f.png" "file://$f" >/dev/null 2>&1
    if [ -n "${REPORT_KEEP:-}" ]; then mkdir -p "$REPORT_KEEP" && cp "$f" "$f.png" "$REPORT_KEEP/"; fi
    grep -F ':CONSOLE' "$f.log" >"$f.console" || true
}

for page in broken monitor drift; do
    render "$WORK/$page.html"
done

python3 - "$WORK" <<'PY'
import re, struct, sys, zlib
work = sys.argv[1]
failures, passed = [], []

def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    (passed if cond else failures).append(what)

def console(page):
    return open(f"{work}/{page}.html.console").read().strip()

def dom(page):
    return open(f"{work}/{page}.html.dom").read()

def used_width(page):
    """Share of the screenshot's width up to its rightmost non-white pixel."""
    data = open(f"{work}/{page}.html.png", "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, color = ihdr[:4]
    bpp = {2: 3, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride, prev, right = w * bpp, bytearray(w * bpp), 0
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(w - 1, right, -1):
            px = line[x * bpp:x * bpp + 3]
            if min(px) < 235:
                right = x
                break
        prev = line
    return (right + 1) / w

# The detector itself: a page with an invalid SVG attribute must be caught.
check("negative value is not valid" in console("broken"), "console errors are detected (self-check)")

m = dom("monitor")
check(console("monitor") == "", "monitoring report: no console messages " + console("monitor")[:300])
check(len(re.findall(r'<figure class="dist" data-feature="', m)) == 2, "monitoring report: a distribution chart per feature (2)")
check(len(re.findall(r'class="swap-marker"', m)) >= 1, "monitoring report: swap markers")
check(len(re.findall(r'class="rollback-marker"', m)) >= 1, "monitoring report: rollback markers")
for v in (1, 2):
    check(f'data-series="accuracy v{v}"' in m, f"monitoring report: a quality series of version {v}")
check("time (UTC)" in m and re.search(r">\d\d:\d\d:\d\d(\.\d{3})?<", m) is not None, "monitoring report: a UTC time axis")
def nice_step(step):
    mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
    return any(abs(mantissa - k) < 1e-9 for k in (1, 2, 5))
steps = []
for svg in m.split("<svg")[1:]:
    ticks = [float(t) for t in re.findall(r'text-anchor="end" fill="#555">([-0-9.e]+)<', svg)]
    steps += [round(b - a, 12) for a, b in zip(ticks, ticks[1:])]
check(bool(steps) and all(s > 0 and nice_step(s) for s in steps),
      f"monitoring report: y ticks step by 1, 2 or 5 x 10^k (steps {sorted(set(steps))})")
wm = used_width("monitor")
check(wm > 0.75, f"monitoring report: uses {wm:.0%} of a 1600 px window")

d = dom("drift")
check(console("drift") == "", "drift report: no console messages " + console("drift")[:300])
check(len(re.findall(r'<figure class="dist" data-feature="', d)) == 4, "drift report: a chart per feature (4)")
check("http://" not in d.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in d, "drift report: no network, no script")
wd = used_width("drift")
check(wd > 0.75, f"drift report: uses {wd:.0%} of a 1600 px window")
print(f"report checks: {len(passed)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
