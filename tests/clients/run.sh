#!/usr/bin/env bash
# Real clients against a real server: the official IPPanel Edge Python SDK
# (panel face) and the Cellcast page's axios sample (virtual-number face),
# each at the exact versions pinned here (requirements.txt, package-lock.json).
#
# Seeds a temporary SQLite database through `linekeeper admin`, serves it on
# 127.0.0.1:0, runs both clients, stops the server. Prints a PASS or FAIL line
# per check and ends with `N passed, M failed`; exits non-zero on any failure.
#
# The venv (target/clients-venv) and node_modules (target/clients-node) are
# kept between runs and reinstalled only when their pins change.
#
#   tests/clients/run.sh        # needs target/debug/linekeeper (cargo build --bin linekeeper)
#   LINEKEEPER_BIN=path/to/linekeeper tests/clients/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/clients
bin=${LINEKEEPER_BIN:-target/debug/linekeeper}
[ -x "$bin" ] || { echo "FAIL: $bin not found; run cargo build --bin linekeeper first" >&2; exit 1; }
started=$(date +%s%N)

# --- the clients, at their pinned versions
venv=target/clients-venv
stamp() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }
want=$(stamp "$here/requirements.txt")
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$want" ]; then
  echo "installing the Python client into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"
  echo "$want" >"$venv/.pins"
fi

node_dir=target/clients-node
want=$(stamp "$here/package.json" "$here/package-lock.json")
if [ "$(cat "$node_dir/.pins" 2>/dev/null)" != "$want" ]; then
  echo "installing the Node client into $node_dir"
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
  # npm ci installs exactly the lock file's versions (checked against its
  # integrity hashes); no package's install scripts run.
  (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$node_dir/.pins"
fi

# --- the server and its accounts
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/clients.db"
admin() { "$bin" admin "$@" --database-url "$db" | tail -n1; }
password='Client-Test-Pass-1!'
admin create-account --username clients_admin --password "$password" --admin >/dev/null
admin create-account --username clients_reseller --password "$password" --reseller --parent clients_admin >/dev/null
user_id=$(admin create-account --username clients_user --password "$password" --parent clients_reseller | jq -er .id)
number_id=$(admin add-number --number +61400000701 --owner clients_reseller | jq -er .id)
vn_id=$(admin add-number --number +61400000702 --owner clients_user | jq -er .uid)
reseller_key=$(admin create-key --username clients_reseller)
user_key=$(admin create-key --username clients_user)

"$bin" serve --listen 127.0.0.1:0 --database-url "$db" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/^linekeeper listening on \(http:\/\/[^ ]*\).*/\1/p' "$work/server.out")
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL: server did not start: $(cat "$work/server.err")" >&2; exit 1; }
echo "server at $url"

# --- the clients; each prints PASS/FAIL lines. A client that dies without
# printing a FAIL line still counts as one failure.
export LK_URL=$url
run_client() { # name, command...
  local name=$1 rc=0 out
  shift
  out=$(timeout 30 "$@" 2>&1) || rc=$?
  printf '%s\n' "$out"
  if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' <<<"$out"; then
    echo "FAIL $name: exited with status $rc"
  fi
}
results=$(
  LK_RESELLER_KEY=$reseller_key LK_NUMBER_ID=$number_id LK_TARGET_USER_ID=$user_id \
    run_client "python ippanel-python-sdk" "$venv/bin/python" "$here/ippanel_sdk.py"
  LK_USER_KEY=$user_key LK_VN_ID=$vn_id NODE_PATH="$PWD/$node_dir/node_modules" \
    run_client "node axios" node "$here/cellcast_axios.js"
)
printf '%s\n' "$results"

passed=$(grep -c '^PASS ' <<<"$results" || true)
failed=$(grep -c '^FAIL ' <<<"$results" || true)
if [ "$failed" -ne 0 ]; then
  echo "-- server log (stderr):"
  tail -n 20 "$work/server.err"
fi
ms=$((($(date +%s%N) - started) / 1000000))
echo "real clients took $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
