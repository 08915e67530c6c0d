#!/usr/bin/env bash
# Render a bench report (HTML) to a PNG with headless Chromium, to check it draws in a real
# browser with no network: scripts/screenshot_report.sh report.html out.png [WIDTH] [HEIGHT]
# Needs Debian's chromium (apt-get install -y chromium) or CHROMIUM=/path/to/chrome.
set -euo pipefail
html=${1:?usage: $0 report.html out.png [width] [height]}
png=${2:?usage: $0 report.html out.png [width] [height]}
width=${3:-1400}
height=${4:-3000}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$browser" ] || { echo "$0: no chromium found (apt-get install -y chromium, or set CHROMIUM)" >&2; exit 2; }
[ -f "$html" ] || { echo "$0: $html: no such file" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --virtual-time-budget lets plotly's scripts draw before the shot; the network flags keep the
# browser from fetching anything, so a report that needed the network would show it here.
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$profile" --virtual-time-budget=10000 --window-size="$width,$height" \
  --screenshot="$(realpath -m "$png")" "file://$(realpath "$html")" 2>"$profile/stderr" || {
    cat "$profile/stderr" >&2; exit 1; }
[ -s "$png" ] || { echo "$0: chromium wrote no $png" >&2; cat "$profile/stderr" >&2; exit 1; }
echo "screenshot: $png"
