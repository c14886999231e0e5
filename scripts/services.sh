#!/usr/bin/env bash
# Finds or starts the PostgreSQL and NATS JetStream servers potledger needs, and exports
# DATABASE_URL and NATS_URL. Rules, for each service on its own (docs/OPERATIONS.md):
#   1. the URL already in the environment, if it answers (else fail);
#   2. a server on the default port (127.0.0.1:5432 / 127.0.0.1:4222), if it answers
#      (and, for Postgres, lets "postgres" in without a password);
#   3. a project-local server with its data under .local/ (127.0.0.1:54329 / 127.0.0.1:42229),
#      started here, or reused if this script started it before.
#
# Source it and call services_ensure / services_stop (as ./dev and .ci/run do), or run it:
#   scripts/services.sh ensure|stop
# Progress goes to stderr; every failure exits non-zero with a message saying what to do.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=$ROOT/.local
PG_DIR=$LOCAL/pg
PG_DATA=$PG_DIR/data
PG_PORT=54329
NATS_DIR=$LOCAL/nats
NATS_PID=$NATS_DIR/nats.pid
NATS_PORT=42229
NATS_HTTP_PORT=48229
PG_LOCAL_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres
NATS_LOCAL_URL=nats://127.0.0.1:$NATS_PORT
# Development defaults of the NATS users' passwords (the same as docker-compose.yml's): never use them elsewhere.
NATS_DEV_PUBLISHER_PASSWORD=potledger-publisher-dev
NATS_DEV_WORKER_PASSWORD=potledger-worker-dev
NATS_DEV_SIMULATOR_PASSWORD=potledger-simulator-dev

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
# A URL with its password masked, for messages.
redact() { sed -E 's#//([^:/@]+):[^@/]*@#//\1:***@#' <<<"$1"; }

# "host port" of the first URL in $1 (scheme, credentials, path and query dropped), $2 the default port.
url_host_port() {
  local u=${1%%,*} host port
  u=${u#*://}; u=${u##*@}; u=${u%%[/?]*}
  if [[ $u == \[* ]]; then host=${u%%]*}; host=${host#[}; port=${u#*]}; port=${port#:}  # [ipv6]:port
  elif [[ $u == *:* ]]; then host=${u%%:*}; port=${u#*:}
  else host=$u; port=
  fi
  echo "${host:-127.0.0.1} ${port:-$2}"
}

# True when a TCP connection to $1:$2 opens within 2 seconds.
# shellcheck disable=SC2016  # $0 and $1 are the inner shell's arguments
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# True when psql logs in to $1 and runs a query (never prompts for a password).
pg_login() { have psql && [[ $(PGCONNECT_TIMEOUT=5 psql -w -X -Atc 'select 1' "$1" 2>/dev/null </dev/null) == 1 ]]; }

# ---------------------------------------------------------------- missing binaries

APT_UPDATED=
# Installs Debian package $1 when we are root with apt-get; otherwise says what to do and exits.
install_or_explain() {
  local pkg=$1 what=$2
  if [[ $EUID -eq 0 ]] && have apt-get; then
    log "$what not found: installing Debian package $pkg"
    if [[ -z $APT_UPDATED ]]; then apt-get update >&2 || die "apt-get update failed"; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >&2 \
      || die "apt-get install $pkg failed"
    return
  fi
  die "$what not found. Install it:
    sudo apt-get install postgresql nats-server
or run the services in Docker instead and point the scripts at them:
    docker compose up -d postgres nats
    export DATABASE_URL=postgres://postgres:potledger-dev@127.0.0.1:54329/postgres
    export NATS_URL=nats://127.0.0.1:42229
    export DATABASE_SERVICE_PASSWORD=potledger-service-dev NATS_USER=worker NATS_PASSWORD=potledger-worker-dev"
}

# Directory of initdb and pg_ctl: the highest /usr/lib/postgresql/*/bin (Debian), else PATH.
pg_bindir() {
  local dir
  dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then echo "$dir"
  elif have initdb && have pg_ctl; then dirname "$(command -v pg_ctl)"
  else return 1
  fi
}

nats_bin() { command -v nats-server 2>/dev/null || { [[ -x /usr/sbin/nats-server ]] && echo /usr/sbin/nats-server; }; }

# ---------------------------------------------------------------- PostgreSQL

# initdb and postgres refuse to run as root: then they run as the OS user "postgres" (or
# "potledger-pg", created here when there is no "postgres"), which must own .local/pg.
PG_OS_USER=
as_pg() {
  if [[ $EUID -eq 0 ]]; then (cd "$PG_DIR" && runuser -u "$PG_OS_USER" -- "$@"); else "$@"; fi
}

pg_prepare_user() {
  mkdir -p "$PG_DIR/run"
  [[ $EUID -eq 0 ]] || return 0
  if id -u postgres >/dev/null 2>&1; then PG_OS_USER=postgres
  else
    PG_OS_USER=potledger-pg
    id -u "$PG_OS_USER" >/dev/null 2>&1 \
      || useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER" \
      || die "could not create the OS user $PG_OS_USER to run Postgres"
  fi
  [[ $(stat -c %U "$PG_DIR") == "$PG_OS_USER" ]] || chown -R "$PG_OS_USER:" "$PG_DIR"
  # Every directory from / down to .local/pg must be searchable (x) by that user: report the first that is not.
  local dir='' part parts
  IFS=/ read -ra parts <<<"${PG_DIR#/}"
  for part in "${parts[@]}"; do
    dir=$dir/$part
    runuser -u "$PG_OS_USER" -- test -x "$dir" \
      || die "Postgres runs as the OS user $PG_OS_USER (it refuses to run as root), which cannot enter $dir.
Allow it (chmod o+x $dir), or move the project elsewhere, or set DATABASE_URL to a server of yours."
  done
}

pg_start_local() {
  local bindir
  bindir=$(pg_bindir) || { install_or_explain postgresql "PostgreSQL server (initdb, pg_ctl)"; bindir=$(pg_bindir) || die "initdb/pg_ctl still not found after installing postgresql"; }
  pg_prepare_user
  if as_pg "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1 && tcp_open 127.0.0.1 "$PG_PORT"; then
    log "postgres: reusing the project-local server on 127.0.0.1:$PG_PORT (started earlier by this script)"
    return
  fi
  if tcp_open 127.0.0.1 "$PG_PORT"; then
    # Not ours (another checkout's local server, or docker compose's): use it only if we can log in.
    pg_login "$PG_LOCAL_URL" || die "127.0.0.1:$PG_PORT is taken by a server this script did not start, and it does not let postgres in without a password.
If it is docker compose's: export DATABASE_URL=postgres://postgres:potledger-dev@127.0.0.1:$PG_PORT/postgres DATABASE_SERVICE_PASSWORD=potledger-service-dev"
    log "postgres: using the server already on 127.0.0.1:$PG_PORT (not started by this checkout, so ./dev stop leaves it alone)"
    return
  fi
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    log "postgres: creating a cluster in $PG_DATA"
    # --no-locale: the C locale always exists, whatever LANG says.
    as_pg "$bindir/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
      || die "initdb failed; see $PG_DIR/initdb.log"
  fi
  # A Unix socket path is limited to ~107 bytes: with a deeper checkout, listen on TCP only.
  local sockdir="'$PG_DIR/run'"
  (( ${#PG_DIR} + 20 < 100 )) || sockdir="''"
  log "postgres: starting a project-local server on 127.0.0.1:$PG_PORT (log: $PG_DIR/postgres.log)"
  as_pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -t 60 -w \
    -o "-p $PG_PORT -k $sockdir -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB" \
    start >/dev/null || { tail -n 20 "$PG_DIR/postgres.log" >&2; die "the project-local Postgres did not start; see $PG_DIR/postgres.log"; }
  log "postgres: started a project-local server on 127.0.0.1:$PG_PORT (data in $PG_DATA)"
}

pg_ensure() {
  if [[ -n ${DATABASE_URL:-} ]]; then
    local shown out
    shown=$(redact "$DATABASE_URL")
    if have pg_isready; then
      out=$(pg_isready -t 5 -d "$DATABASE_URL" 2>&1) || die "DATABASE_URL is set ($shown) but that server does not answer: $out"
    elif have psql; then
      pg_login "$DATABASE_URL" || die "DATABASE_URL is set ($shown) but psql cannot run 'select 1' there"
    else
      read -r host port < <(url_host_port "$DATABASE_URL" 5432)
      tcp_open "$host" "$port" || die "DATABASE_URL is set ($shown) but nothing answers on $host:$port"
    fi
    log "postgres: using DATABASE_URL from the environment ($shown)"
    return
  fi
  local default=postgres://postgres@127.0.0.1:5432/postgres
  if tcp_open 127.0.0.1 5432; then
    if pg_login "$default"; then
      use_ledger_database "$default"
      log "postgres: using the server on the default port 127.0.0.1:5432 (postgres logs in without a password), database potledger"
      return
    fi
    log "postgres: 127.0.0.1:5432 answers but postgres cannot log in there without a password (or psql is missing): starting a project-local one"
  fi
  pg_start_local
  use_ledger_database "$PG_LOCAL_URL"
}

# On a server this script found or started, the ledger lives in a database of its own, `potledger`,
# created once (tests create and drop their own databases beside it).
use_ledger_database() {
  local base=$1
  local url=${base%/postgres}/potledger
  if have psql; then
    if [[ $(psql "$base" -Atc "SELECT 1 FROM pg_database WHERE datname = 'potledger'" 2>/dev/null) != 1 ]]; then
      psql "$base" -qc 'CREATE DATABASE potledger' >/dev/null 2>&1 || die "could not create the database potledger on ${base%/postgres}"
      log "postgres: created the database potledger"
    fi
    export DATABASE_URL=$url
  else
    export DATABASE_URL=$base
  fi
}

pg_stop() {
  [[ -f $PG_DATA/PG_VERSION ]] || { log "postgres: no project-local cluster in $PG_DATA"; return 0; }
  local bindir
  bindir=$(pg_bindir) || die "pg_ctl not found: cannot stop the server in $PG_DATA"
  pg_prepare_user
  as_pg "$bindir/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1 || { log "postgres: no project-local server running"; return 0; }
  if as_pg "$bindir/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null; then
    log "postgres: stopped the project-local server"
  else
    log "postgres: pg_ctl stop failed (see $PG_DIR/postgres.log)"; return 1
  fi
}

# ---------------------------------------------------------------- NATS

# True when the pid file names a live nats-server (not a pid reused by something else).
nats_running() { [[ -f $NATS_PID && $(cat "/proc/$(cat "$NATS_PID")/comm" 2>/dev/null) == nats-server ]]; }

nats_ready() {
  if have curl; then curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$NATS_HTTP_PORT/healthz?js-enabled-only=true" 2>/dev/null
  else tcp_open 127.0.0.1 "$NATS_PORT"
  fi
}

nats_start_local() {
  if nats_running && tcp_open 127.0.0.1 "$NATS_PORT"; then
    log "nats: reusing the project-local nats-server on 127.0.0.1:$NATS_PORT (started earlier by this script)"
    return
  fi
  if tcp_open 127.0.0.1 "$NATS_PORT"; then
    log "nats: using the server already on 127.0.0.1:$NATS_PORT (not started by this checkout, so ./dev stop leaves it alone)"
    return
  fi
  # The ledger's NATS users (src/config/nats-permissions.ts), and an unrestricted development user
  # that clients without credentials become (tests with prefixes of their own, the demo).
  local authorization
  authorization=$(cd "$ROOT" && npx --no-install tsx src/config/write-nats-authorization.ts local "${NATS_PREFIX:-potledger}") \
    || die "could not render the NATS users (npx tsx src/config/write-nats-authorization.ts): run npm ci first"

  local bin
  bin=$(nats_bin) || { install_or_explain nats-server "nats-server"; bin=$(nats_bin) || die "nats-server still not found after installing it"; }
  mkdir -p "$NATS_DIR/data"
  cat >"$NATS_DIR/nats.conf" <<EOF
# Written by scripts/services.sh on every start: edit the script, not this file.
listen: 127.0.0.1:$NATS_PORT
http: 127.0.0.1:$NATS_HTTP_PORT
max_payload: 1MB
pid_file: "$NATS_PID"
jetstream {
  store_dir: "$NATS_DIR/data"
  max_memory_store: 1GB
  max_file_store: 20GB
}
$authorization
EOF
  rm -f "$NATS_PID"
  log "nats: starting a project-local nats-server on 127.0.0.1:$NATS_PORT (log: $NATS_DIR/nats.log)"
  # setsid + nohup: the server outlives this shell and its terminal; it writes its own pid file.
  # The passwords: development defaults unless set; the anonymous user's is random (nobody logs in as it).
  NATS_PUBLISHER_PASSWORD=${NATS_PUBLISHER_PASSWORD:-$NATS_DEV_PUBLISHER_PASSWORD} \
  NATS_WORKER_PASSWORD=${NATS_WORKER_PASSWORD:-$NATS_DEV_WORKER_PASSWORD} \
  NATS_SIMULATOR_PASSWORD=${NATS_SIMULATOR_PASSWORD:-$NATS_DEV_SIMULATOR_PASSWORD} \
  NATS_DEVELOPMENT_PASSWORD=development-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
    setsid nohup "$bin" -c "$NATS_DIR/nats.conf" >>"$NATS_DIR/nats.log" 2>&1 </dev/null &
  local child=$! _
  for _ in $(seq 1 30); do
    nats_ready && { log "nats: started a project-local nats-server on 127.0.0.1:$NATS_PORT (data in $NATS_DIR/data)"; return; }
    kill -0 "$child" 2>/dev/null || nats_running || break  # it exited: no point waiting
    sleep 0.5
  done
  tail -n 20 "$NATS_DIR/nats.log" >&2
  die "the project-local nats-server did not become ready within 15 s; see $NATS_DIR/nats.log"
}

nats_ensure() {
  if [[ -n ${NATS_URL:-} ]]; then
    local host port
    read -r host port < <(url_host_port "$NATS_URL" 4222)
    tcp_open "$host" "$port" || die "NATS_URL is set ($(redact "$NATS_URL")) but nothing answers on $host:$port"
    log "nats: using NATS_URL from the environment ($(redact "$NATS_URL"))"
    return
  fi
  if tcp_open 127.0.0.1 4222; then
    export NATS_URL=nats://127.0.0.1:4222
    log "nats: using the server on the default port 127.0.0.1:4222"
    return
  fi
  nats_start_local
  export NATS_URL=$NATS_LOCAL_URL
  # The service logs in as the NATS user `worker` (docs/ARCHITECTURE.md, "Least privilege").
  export NATS_USER=${NATS_USER:-worker}
  export NATS_PASSWORD=${NATS_PASSWORD:-${NATS_WORKER_PASSWORD:-$NATS_DEV_WORKER_PASSWORD}}
}

nats_stop() {
  nats_running || { log "nats: no project-local nats-server running"; rm -f "$NATS_PID"; return 0; }
  local pid _
  pid=$(cat "$NATS_PID")
  kill "$pid"
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "nats: nats-server (pid $pid) did not stop within 10 s"; return 1; fi
  rm -f "$NATS_PID"
  log "nats: stopped the project-local nats-server"
}

# ---------------------------------------------------------------- entry points

services_ensure() { pg_ensure; nats_ensure; }
# The chaos run and the tests that crash servers start private ones: they need the binaries even where
# the servers in use are someone else's (installed from Debian's packages when missing, as above).
services_binaries() {
  pg_bindir >/dev/null || { install_or_explain postgresql "PostgreSQL server (initdb, pg_ctl)"; pg_bindir >/dev/null || die "initdb/pg_ctl still not found after installing postgresql"; }
  nats_bin >/dev/null || { install_or_explain nats-server "nats-server"; nats_bin >/dev/null || die "nats-server still not found after installing it"; }
}
# The environment services_ensure found or set, as shell exports (NATS_USER/NATS_PASSWORD only when set).
services_env() {
  printf 'export DATABASE_URL=%q\nexport NATS_URL=%q\n' "$DATABASE_URL" "$NATS_URL"
  if [[ -n ${NATS_USER:-} ]]; then printf 'export NATS_USER=%q\nexport NATS_PASSWORD=%q\n' "$NATS_USER" "${NATS_PASSWORD:-}"; fi
}
services_stop() { local rc=0; pg_stop || rc=1; nats_stop || rc=1; return "$rc"; }

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  case ${1:-} in
    ensure) services_ensure; services_env ;;
    stop) services_stop ;;
    *) echo "usage: $0 ensure|stop" >&2; exit 2 ;;
  esac
fi
