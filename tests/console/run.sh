#!/usr/bin/env bash
# The reseller console in a real browser: Debian's chromium driven by
# playwright-core (the version pinned in package-lock.json, installed with
# `npm ci --ignore-scripts` into tests/console/node_modules; no browser is
# downloaded, `npx playwright install` is never run).
#
# Installs chromium with apt-get if it is missing (and fails loudly if it
# cannot), serves `serve --demo` on a temporary SQLite database on
# 127.0.0.1:0 (with a few more numbers added through `linekeeper admin`), runs console.test.mjs (node:test), stops the
# server. Screenshots of the numbers page in each language go to
# target/console-shots/. Ends with `N passed, M failed`; exits non-zero on
# any failure.
#
#   tests/console/run.sh        # needs target/debug/linekeeper (cargo build --bin linekeeper)
#   LINEKEEPER_BIN=path/to/linekeeper tests/console/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/console
bin=${LINEKEEPER_BIN:-target/debug/linekeeper}
[ -x "$bin" ] || { echo "FAIL: $bin not found; run cargo build --bin linekeeper first" >&2; exit 1; }
started=$(date +%s%N)

# --- the browser
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "chromium is missing; installing Debian's chromium with apt-get"
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }; then
    echo "FAIL: could not install chromium with apt-get (install it: apt-get install -y chromium)" >&2
    exit 1
  fi
fi
[ -x "$chromium" ] || { echo "FAIL: $chromium not found after installing chromium" >&2; exit 1; }
"$chromium" --version 2>/dev/null | head -n1 || true

# --- playwright-core at its pinned version
stamp() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }
want=$(stamp "$here/package.json" "$here/package-lock.json")
if [ "$(cat "$here/node_modules/.pins" 2>/dev/null)" != "$want" ]; then
  echo "installing playwright-core into $here/node_modules"
  rm -rf "$here/node_modules"
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$here/node_modules/.pins"
fi

# --- the server and its accounts
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The demo world (`serve --demo`): its reseller is the one who walks every
# flow, with its sub-reseller and that one's customer (testuser) beneath it.
# The demo prints their passwords; a few more numbers are added beside it,
# while it runs, so that the reseller's list has two pages (25 numbers, 20 a
# page) and the pool holds three more to reserve and subscribe to.
db="sqlite://$work/console.db"
"$bin" serve --demo --listen 127.0.0.1:0 --database-url "$db" --sweep-interval-secs 0 >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/^linekeeper listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/server.out")
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: server did not start: $(cat "$work/server.err")" >&2; exit 1; }
# "  reseller     Demo-...-9!   lkk_..." in the demo's account table.
pw_of() { awk -v u="$1" '$1 == u && $2 ~ /^Demo-/ { print $2; exit }' "$work/server.out"; }
reseller_pw=$(pw_of reseller); sub_pw=$(pw_of subreseller); leaf_pw=$(pw_of testuser)
[ -n "$reseller_pw" ] && [ -n "$sub_pw" ] && [ -n "$leaf_pw" ] \
  || { echo "FAIL: the demo printed no passwords: $(head -n 8 "$work/server.out")" >&2; exit 1; }
admin() { "$bin" admin "$@" --database-url "$db" | tail -n1; }
# The demo's reseller holds +983000505 and +983000506; 23 more make 25.
for i in $(seq 508 530); do
  admin add-number --number "+983000$i" --owner reseller --monthly-price 1000 >/dev/null
done
for i in 901 902 903; do
  admin add-number --number "+983000$i" --monthly-price 2500 --yearly-price 25000 >/dev/null
done
echo "server at $url"

# --- the browser test; its TAP summary gives the counts. A run that dies
# without a summary counts as one failure.
mkdir -p target/console-shots
rc=0
LK_URL=$url LK_USER=reseller LK_PASSWORD=$reseller_pw CHROMIUM=$chromium \
  LK_SUB=subreseller LK_SUB_PASSWORD=$sub_pw LK_LEAF=testuser LK_LEAF_PASSWORD=$leaf_pw \
  LK_SCREENS="$PWD/target/console-shots" \
  timeout 120 node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$work/tap" \
  "$here/console.test.mjs" || rc=$?
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$work/tap" 2>/dev/null | tail -n1)
failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$work/tap" 2>/dev/null | tail -n1)
passed=${passed:-0}
failed=${failed:-0}
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "FAIL console: node exited with status $rc"
  failed=1
fi
if [ "$failed" -ne 0 ]; then
  echo "-- server log (stderr):"
  tail -n 20 "$work/server.err"
fi
ls target/console-shots/*.png 2>/dev/null | sed 's/^/screenshot: /'
ms=$((($(date +%s%N) - started) / 1000000))
echo "console took $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
