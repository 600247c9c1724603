#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Takes the metainfo screenshots (main.png, grant.png, link.png in this folder) from the running
# app, with made-up data authorized through keyhold-sandbox. Run it from the top of the source
# tree inside the CI session, on a build with the GTK app:
#   .ci/session data/screenshots/take-screenshots.sh _build
# Keyhold runs against a standalone keyhold-sandbox (KEYHOLD_ORIGIN_MAP), not `keyhold --sandbox`,
# so that it owns its bus name and `gapplication action` can open the grant and link views.
set -euo pipefail
build=$(realpath "$1")
out=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cli="$build/src/cli/keyhold-cli"
sandbox="$build/src/sandbox/keyhold-sandbox"
app="$build/src/app/keyhold"
work=$(mktemp -d -t keyhold-shots-XXXXXX)
export KEYHOLD_DATA_DIR="$work/data" KEYHOLD_STORE=screenshots
export GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1 LANG=C.UTF-8 LANGUAGE=C
# Made-up Chromium profiles for the Browser row (the app lists them when chromium is installed),
# never the profiles of whoever takes the screenshots.
export XDG_CONFIG_HOME="$work/config"
mkdir -p "$XDG_CONFIG_HOME/chromium"
printf '%s' '{"profile":{"info_cache":{"Default":{"name":"Agency"},"Profile 1":{"name":"Acme Outdoor"}}}}' \
  >"$XDG_CONFIG_HOME/chromium/Local State"
app_id=$(sed -n 's/^#define APP_ID "\(.*\)"$/\1/p' "$build/config.h")
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

"$sandbox" --port 0 >"$work/sandbox.out" 2>"$work/sandbox.err" &
pids+=($!)
for _ in $(seq 100); do
  grep -q '^KEYHOLD_ORIGIN_MAP=' "$work/sandbox.out" 2>/dev/null && break
  sleep 0.1
done
KEYHOLD_ORIGIN_MAP=$(sed -n 's/^KEYHOLD_ORIGIN_MAP=//p' "$work/sandbox.out")
export KEYHOLD_ORIGIN_MAP

echo demo-shop-secret | "$cli" app add --family shop --name "Demo Shop App" --app-key demoshop \
  --service-id 7000000000000000001 --redirect-uri http://localhost:8765/callback 2>/dev/null
echo demo-business-secret | "$cli" app add --family business --name "Demo Business App" \
  --app-key 7000000000000000002 --redirect-uri http://localhost:8765/callback 2>/dev/null

# One authorization through the sandbox's consent page ("the browser" is curl); prints its id.
authorize () {
  local type=$1 app=$2; shift 2
  local log="$work/authorize-$RANDOM.out"
  "$cli" authorize --type "$type" --app "$app" --no-browser --timeout 60 "$@" >"$log" 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do grep -qs '^URL: ' "$log" && break; sleep 0.1; done
  curl -sSL -o /dev/null "$(sed -n 's/^URL: //p' "$log")&auto=approve"
  wait "$pid"
  sed -n 's/^GRANT: //p' "$log"
}

first=$(authorize seller "Demo Shop App" --region us --client "Acme Outdoor")
authorize seller "Demo Shop App" --region row --client "Blue Harbour Tea" >/dev/null
authorize seller "Demo Shop App" --region row --client "Kedai Batik Sari" >/dev/null
authorize seller "Demo Shop App" --region us --client "Northwind Goods" >/dev/null
authorize advertiser "Demo Business App" --client "Acme Ads" >/dev/null

# A window manager places dialogs over their window as on a desktop (Debian: openbox).
if command -v openbox >/dev/null; then
  openbox >/dev/null 2>&1 &
  pids+=($!)
  sleep 1
fi

"$app" >"$work/app.out" 2>"$work/app.err" &
pids+=($!)

# The id of the first viewable window of at least min_width pixels whose line in the window
# tree matches pattern and whose id is not skip.
window_id () {
  local pattern=$1 min_width=$2 skip=${3:-none}
  xwininfo -root -tree | awk -v t="$pattern" 'index($0, t) && $1 ~ /^0x/ {print $1}' |
    while read -r id; do
      [ "$id" = "$skip" ] && continue
      info=$(xwininfo -id "$id")
      width=$(sed -n 's/ *Width: //p' <<<"$info")
      if grep -q IsViewable <<<"$info" && [ "$width" -ge "$min_width" ]; then echo "$id"; break; fi
    done
}

wait_window () {
  for _ in $(seq 300); do
    id=$(window_id "$@")
    [ -n "$id" ] && { sleep 3; echo "$id"; return 0; }
    sleep 0.1
  done
  echo "no window matching $1" >&2
  return 1
}

main=$(wait_window '"Keyhold"' 600)
import -window "$main" "$out/main.png"

gapplication action "$app_id" show-grant "'$first'"
grant=$(wait_window '"' 300 "$main")
import -window "$grant" "$out/grant.png"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
unset 'pids[-1]'

"$app" >"$work/app2.out" 2>"$work/app2.err" &
pids+=($!)
main=$(wait_window '"Keyhold"' 600)
gapplication action "$app_id" link "'seller'"
# The link opens in a dialog over the main window: the shot is the screen, cut to the window.
wait_window '"' 200 "$main" >/dev/null
info=$(xwininfo -id "$main")
geometry=$(awk '/Absolute upper-left X/ {x=$NF} /Absolute upper-left Y/ {y=$NF}
                /Width:/ {w=$NF} /Height:/ {h=$NF} END {printf "%dx%d+%d+%d", w, h, x, y}' <<<"$info")
import -window root -crop "$geometry" +repage "$out/link.png"
echo "screenshots written to $out"
