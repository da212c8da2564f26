# shellcheck shell=bash
# The linekeeper topology on one machine, from Debian's packages; sourced by
# deploy/up and deploy/failover-test.
#
#   clients ─► haproxy :8440 ─► linekeeper :8451 :8452 :8453 (checked on /readyz)
#                                   │
#              haproxy :5440 ◄──────┘ (checked on Patroni's GET /primary)
#                 ├─► PostgreSQL pg1 :5433 (Patroni REST :8433)
#                 └─► PostgreSQL pg2 :5434 (Patroni REST :8434)
#              etcd :2479 (Patroni's leader key)
#
# topo_install installs what is missing; topo_up brings everything up in a
# fresh directory ($TOPO_RUN) and waits until it works; topo_down stops
# every process it started (by pid) and removes the directory. The system
# PostgreSQL on 5432 is neither used nor touched.

TOPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPO_REPO=$(cd "$TOPO_DIR/.." && pwd)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
ETCD_PORT=2479
ETCD_PEER_PORT=2480
NODES=(pg1 pg2)
declare -A PG_PORT=([pg1]=5433 [pg2]=5434)
declare -A REST_PORT=([pg1]=8433 [pg2]=8434)
HAPROXY_PG_PORT=5440
HAPROXY_HTTP_PORT=8440
HAPROXY_STATS_PORT=8441
LK_NAMES=(lk1 lk2 lk3)
declare -A LK_PORT=([lk1]=8451 [lk2]=8452 [lk3]=8453)
LK_BIN=${LK_BIN:-$TOPO_REPO/target/debug/linekeeper}
declare -A TOPO_PID=()
TOPO_RUN=""

topo_log() { echo "[$(date -u +%H:%M:%S)] $*"; }
topo_fail() { echo "FAIL: $*" >&2; return 1; }

# Installs Debian's haproxy, Patroni and etcd (and PostgreSQL 15) if they
# are missing. The packages' own services are not started (policy-rc.d):
# this topology runs its own processes on its own ports.
topo_install() {
  local need=()
  # (Debian's Python: Patroni runs on /usr/bin/python3, not a pyenv shim.)
  command -v haproxy >/dev/null || need+=(haproxy)
  command -v patroni >/dev/null || need+=(patroni)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v etcdctl >/dev/null || need+=(etcd-client)
  /usr/bin/python3 -c 'import etcd' 2>/dev/null || need+=(python3-etcd)
  /usr/bin/python3 -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
  [ -x "$PG_BIN/postgres" ] || need+=(postgresql-15)
  command -v psql >/dev/null || need+=(postgresql-client-15)
  command -v curl >/dev/null || need+=(curl)
  command -v setpriv >/dev/null || need+=(util-linux)
  [ ${#need[@]} -eq 0 ] && return 0
  topo_log "installing ${need[*]}"
  [ "$(id -u)" = 0 ] || { topo_fail "need root to install ${need[*]}"; return 1; }
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    policy=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } || rc=$?
  [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
  [ $rc -eq 0 ] || { topo_fail "apt-get install ${need[*]}"; return 1; }
}

# The prefix that runs a command as postgres when we are root (PostgreSQL
# refuses to run as root). setpriv and env exec, so a background job's pid
# is the program's own, and killing it kills the program.
as_pg_prefix() {
  if [ "$(id -u)" = 0 ]; then
    AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$TOPO_RUN")
  else
    AS_PG=(env)
  fi
}
as_pg() { "${AS_PG[@]}" "$@"; }

# topo_bg NAME CMD...: starts CMD in the background, output to NAME.log.
topo_bg() {
  local name=$1
  shift
  "$@" >"$TOPO_RUN/$name.log" 2>&1 &
  TOPO_PID[$name]=$!
}

# topo_wait SECONDS WHAT CMD...: polls CMD every 0.2 s until it succeeds.
topo_wait() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { topo_fail "$what (not within ${secs}s)"; return 1; }
    sleep 0.2
  done
}

rest_is() { curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:${REST_PORT[$1]}/$2"; }
# The node Patroni says is the primary (empty if none).
topo_primary() {
  local n
  for n in "${NODES[@]}"; do rest_is "$n" primary && { echo "$n"; return 0; }; done
  return 1
}
# haproxy's view of one server: UP, DOWN, MAINT... (stats CSV).
haproxy_status() {
  curl -fsS --max-time 1 "http://127.0.0.1:$HAPROXY_STATS_PORT/;csv" |
    awk -F, -v px="$1" -v sv="$2" '$1==px && $2==sv {print $18}'
}
haproxy_is() { [ "$(haproxy_status "$1" "$2")" = "$3" ]; }
# A PostgreSQL URL through haproxy (always the primary).
topo_url() { echo "postgres://linekeeper:$LK_DB_PASSWORD@127.0.0.1:$HAPROXY_PG_PORT/linekeeper"; }
psql_primary() { PGPASSWORD=$SUPERUSER_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$HAPROXY_PG_PORT" -U postgres "$@"; }

topo_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts (or restarts) the Patroni of node $1.
topo_start_node() {
  local n=$1
  topo_bg "patroni-$n" "${AS_PG[@]}" patroni "$TOPO_RUN/$n.yml"
}

# Starts linekeeper instance $1 against haproxy's PostgreSQL address.
topo_start_lk() {
  local n=$1
  topo_bg "$n" "$LK_BIN" serve --config "$TOPO_DIR/linekeeper.toml" \
    --listen "127.0.0.1:${LK_PORT[$n]}" --database-url "$(topo_url)"
}

topo_up() {
  [ -x "$LK_BIN" ] || { topo_fail "no linekeeper binary at $LK_BIN (cargo build first)"; return 1; }
  local p
  for p in $ETCD_PORT $ETCD_PEER_PORT "${PG_PORT[@]}" "${REST_PORT[@]}" $HAPROXY_PG_PORT \
    $HAPROXY_HTTP_PORT $HAPROXY_STATS_PORT "${LK_PORT[@]}"; do
    topo_port_free "$p" || { topo_fail "port $p is already in use"; return 1; }
  done
  TOPO_RUN=$(mktemp -d /tmp/linekeeper-topology.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$TOPO_RUN"
  chmod 0750 "$TOPO_RUN"
  local secret
  secret() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  SUPERUSER_PASSWORD=$(secret)
  LK_DB_PASSWORD=$(secret)
  local replication rewind
  replication=$(secret)
  rewind=$(secret)
  as_pg_prefix
  topo_log "run directory $TOPO_RUN"

  topo_log "etcd on :$ETCD_PORT"
  topo_bg etcd "${AS_PG[@]}" etcd --name lk-etcd --data-dir "$TOPO_RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lk-etcd=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new
  topo_wait 20 "etcd answers" curl -fsS --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" || return 1

  local n
  for n in "${NODES[@]}"; do
    mkdir -p "$TOPO_RUN/$n"
    sed -e "s|@NAME@|$n|g" -e "s|@RUN@|$TOPO_RUN|g" -e "s|@PG_PORT@|${PG_PORT[$n]}|g" \
      -e "s|@REST_PORT@|${REST_PORT[$n]}|g" -e "s|@ETCD_PORT@|$ETCD_PORT|g" \
      -e "s|@SUPERUSER_PASSWORD@|$SUPERUSER_PASSWORD|g" -e "s|@REPLICATION_PASSWORD@|$replication|g" \
      -e "s|@REWIND_PASSWORD@|$rewind|g" "$TOPO_DIR/patroni.yml.in" >"$TOPO_RUN/$n.yml"
    chmod 0700 "$TOPO_RUN/$n"
    chmod 0600 "$TOPO_RUN/$n.yml"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$TOPO_RUN/$n" "$TOPO_RUN/$n.yml"
  done
  # pg1 bootstraps the cluster (initdb); pg2 then clones it and streams.
  topo_log "Patroni pg1 (PostgreSQL :${PG_PORT[pg1]}), bootstrapping"
  topo_start_node pg1
  topo_wait 60 "pg1 becomes the primary" rest_is pg1 primary || return 1
  topo_log "Patroni pg2 (PostgreSQL :${PG_PORT[pg2]}), cloning pg1"
  topo_start_node pg2
  topo_wait 90 "pg2 becomes the synchronous standby" rest_is pg2 sync || return 1

  topo_log "haproxy (HTTP :$HAPROXY_HTTP_PORT, PostgreSQL primary :$HAPROXY_PG_PORT, stats :$HAPROXY_STATS_PORT)"
  sed -e "s|@RUN@|$TOPO_RUN|g" "$TOPO_DIR/haproxy.cfg.in" >"$TOPO_RUN/haproxy.cfg"
  haproxy -c -q -f "$TOPO_RUN/haproxy.cfg" || { topo_fail "haproxy rejects its configuration"; return 1; }
  topo_bg haproxy haproxy -db -f "$TOPO_RUN/haproxy.cfg"
  topo_wait 20 "haproxy routes PostgreSQL to pg1" haproxy_is postgres_primary pg1 UP || return 1

  psql_primary -d postgres -c "CREATE ROLE linekeeper LOGIN PASSWORD '$LK_DB_PASSWORD'" \
    -c "CREATE DATABASE linekeeper OWNER linekeeper" || { topo_fail "creating the database"; return 1; }

  for n in "${LK_NAMES[@]}"; do
    topo_log "linekeeper $n on :${LK_PORT[$n]}"
    topo_start_lk "$n"
  done
  for n in "${LK_NAMES[@]}"; do
    topo_wait 60 "haproxy sees $n ready" haproxy_is linekeeper "$n" UP || {
      tail -n 20 "$TOPO_RUN/$n.log" >&2
      return 1
    }
  done
  topo_log "up: http://127.0.0.1:$HAPROXY_HTTP_PORT (haproxy stats on http://127.0.0.1:$HAPROXY_STATS_PORT/)"
}

# Kills node $1 as a machine failure would: its Patroni, its postmaster and
# every PostgreSQL process under it, at once, with SIGKILL (killing the
# postmaster alone would only make Patroni restart it in place).
topo_crash_node() {
  local n=$1 pids=() pm
  [ -n "${TOPO_PID[patroni-$n]:-}" ] && pids+=("${TOPO_PID[patroni-$n]}")
  if [ -f "$TOPO_RUN/$n/data/postmaster.pid" ]; then
    pm=$(head -n1 "$TOPO_RUN/$n/data/postmaster.pid")
    pids+=("$pm")
    # shellcheck disable=SC2207
    pids+=($(pgrep -P "$pm" || true))
  fi
  kill -9 "${pids[@]}" 2>/dev/null || true
  unset "TOPO_PID[patroni-$n]"
}

# topo_stop NAME...: SIGTERM to each, then SIGKILL to any still there after 10 s.
topo_stop() {
  local name pids=() pid
  for name in "$@"; do
    pid=${TOPO_PID[$name]:-}
    [ -n "$pid" ] && pids+=("$pid")
    unset "TOPO_PID[$name]"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

topo_down() {
  [ -n "$TOPO_RUN" ] && [ -d "$TOPO_RUN" ] || return 0
  # linekeeper and haproxy first, then Patroni (which stops its
  # PostgreSQL), then etcd; each group at once, SIGKILL after 10 s.
  topo_stop "${LK_NAMES[@]}" haproxy
  topo_stop patroni-pg1 patroni-pg2
  topo_stop etcd
  # A PostgreSQL left behind (its Patroni was killed) is stopped by its data directory.
  local n
  for n in "${NODES[@]}"; do
    if [ -f "$TOPO_RUN/$n/data/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" stop -D "$TOPO_RUN/$n/data" -m immediate >/dev/null 2>&1 || true
    fi
  done
  rm -rf "$TOPO_RUN"
  TOPO_RUN=""
}
