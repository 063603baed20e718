#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and the local stack.
#
#   scripts/pg.sh start DIR   initdb + start; prints the URL and writes DIR/url
#   scripts/pg.sh stop DIR    pg_ctl -m fast stop, then remove DIR (idempotent)
#   scripts/pg.sh url DIR     prints the URL of a started cluster
#
# The cluster listens on 127.0.0.1 at a port chosen free at start, and on a
# private unix-socket directory; trust auth (local + 127.0.0.1 only); durable
# defaults (fsync and synchronous_commit untouched); max_connections 200;
# database `baton`. initdb refuses to run as root, so as root the server runs
# as the `postgres` OS user. When that user cannot reach DIR (a parent
# directory it cannot traverse, or a socket path too long for unix sockets),
# the cluster lives in /tmp/baton-pg-XXXXXX and DIR/cluster records where.
set -euo pipefail

readonly PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
readonly PORT_MIN=20000
readonly PORT_SPAN=20000
readonly START_ATTEMPTS=5
readonly MAX_SOCKET_PATH=100   # sun_path is 108 bytes including ".s.PGSQL.NNNNN"

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 {start|stop|url} DIR" >&2
  exit 2
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Runs a PostgreSQL binary as the server's OS user, from a directory that user
# can read (pg_ctl and initdb look at the current directory).
as_pg() {
  local cwd="$1"
  shift
  if is_root; then
    (cd "$cwd" && runuser -u postgres -- "$@")
  else
    (cd "$cwd" && "$@")
  fi
}

can_reach() {
  local dir="$1"
  if is_root; then
    runuser -u postgres -- test -x "$dir" -a -w "$dir"
  else
    test -x "$dir" -a -w "$dir"
  fi
}

port_is_free() {
  local port="$1"
  if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    return 1
  fi
  if command -v ss >/dev/null 2>&1 && [[ -n "$(ss -Htan "sport = :${port}" 2>/dev/null)" ]]; then
    return 1
  fi
  return 0
}

pick_port() {
  local port i
  for ((i = 0; i < 50; i++)); do
    port=$((PORT_MIN + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
    if port_is_free "$port"; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found in ${PORT_MIN}-$((PORT_MIN + PORT_SPAN - 1))"
}

# The directory that holds data/, sock/ and server.log for DIR.
cluster_of() {
  local dir="$1"
  if [[ -f "${dir}/cluster" ]]; then
    cat "${dir}/cluster"
  else
    echo "${dir}"
  fi
}

is_running() {
  local cluster="$1"
  [[ -f "${cluster}/data/postmaster.pid" ]] &&
    as_pg "$cluster" "${PG_BIN}/pg_ctl" -D "${cluster}/data" status >/dev/null 2>&1
}

cmd_start() {
  local dir="$1"
  [[ -x "${PG_BIN}/initdb" ]] ||
    die "${PG_BIN}/initdb not found: install postgresql-15 (scripts/install-deps.sh)"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' does not exist (install postgresql-15)"
  fi

  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ -f "${dir}/url" ]] && is_running "$(cluster_of "$dir")"; then
    cat "${dir}/url"
    return 0
  fi

  chmod 0755 "$dir"
  if is_root; then chown postgres: "$dir"; fi
  local cluster="$dir"
  local socket_suffix="/sock/.s.PGSQL.40000"
  if ! can_reach "$dir" || ((${#dir} + ${#socket_suffix} > MAX_SOCKET_PATH)); then
    cluster="$(mktemp -d /tmp/baton-pg-XXXXXX)"
    chmod 0755 "$cluster"
    if is_root; then chown postgres: "$cluster"; fi
    echo "$cluster" >"${dir}/cluster"
  fi
  if [[ -d "${cluster}/data" ]]; then
    rm -rf "${cluster}/data" "${cluster}/sock"   # a stopped leftover: start clean
  fi
  mkdir -p "${cluster}/sock"
  if is_root; then chown postgres: "${cluster}/sock"; fi

  as_pg "$cluster" "${PG_BIN}/initdb" -D "${cluster}/data" -U postgres --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"${cluster}/initdb.log" 2>&1 ||
    { cat "${cluster}/initdb.log" >&2; die "initdb failed"; }

  local port attempt
  for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
    port="$(pick_port)"
    cat >>"${cluster}/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${cluster}/sock'
max_connections = 200
EOF
    if as_pg "$cluster" "${PG_BIN}/pg_ctl" -D "${cluster}/data" -l "${cluster}/server.log" \
      -w -t 30 start >/dev/null; then
      break
    fi
    # Most likely someone took the port between the check and the bind.
    ((attempt < START_ATTEMPTS)) || { tail -n 20 "${cluster}/server.log" >&2; die "start failed"; }
  done

  as_pg "$cluster" "${PG_BIN}/createdb" -h 127.0.0.1 -p "$port" -U postgres baton ||
    die "createdb baton failed (see ${cluster}/server.log)"

  local url="postgresql://postgres@127.0.0.1:${port}/baton"
  echo "$url" >"${dir}/url"
  echo "$url"
}

cmd_stop() {
  local dir="$1"
  [[ -d "$dir" ]] || return 0
  dir="$(cd "$dir" && pwd)"
  local cluster
  cluster="$(cluster_of "$dir")"
  if [[ -f "${cluster}/data/postmaster.pid" ]]; then
    as_pg "$cluster" "${PG_BIN}/pg_ctl" -D "${cluster}/data" -m fast -w stop >/dev/null 2>&1 ||
      true # already stopped
  fi
  if [[ "$cluster" != "$dir" ]]; then rm -rf "$cluster"; fi
  rm -rf "$dir"
}

cmd_url() {
  local dir="$1"
  [[ -f "${dir}/url" ]] || die "no cluster started in ${dir}"
  cat "${dir}/url"
}

main() {
  [[ $# -eq 2 ]] || usage
  case "$1" in
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    url) cmd_url "$2" ;;
    *) usage ;;
  esac
}

main "$@"
