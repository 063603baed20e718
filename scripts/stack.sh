#!/usr/bin/env bash
# A local Baton stack for trying things out: PostgreSQL, scheduler, broker and
# two function_chaining example workers, all on 127.0.0.1.
#
#   scripts/stack.sh up     start everything (state in .baton/, logs in .baton/logs)
#   scripts/stack.sh down   stop everything `up` started (idempotent)
#   scripts/stack.sh demo   up, run function_chaining through batonctl, down
#
# Binaries come from $BATON_BUILD_DIR (default: build/ in the repo).
#
# A second stack can run beside the first (e.g. a benchmark next to a
# development stack) with its own state directory and ports:
#   BATON_STATE_DIR          state, pids and logs (default: .baton in the repo)
#   BATON_PORT_BASE          scheduler port; the broker's is the next (default 7233)
#   BATON_METRICS_PORT_BASE  scheduler metrics port; broker +1, workers +2, +3, ...
#                            (default 9233)
# `down` must be given the same BATON_STATE_DIR as `up`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

# Fails unless the value of variable $1 (default $2) is a port number.
port_setting() {
  local value="${!1:-$2}"
  if [[ ! "$value" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65000)); then
    echo "stack: $1 must be a port number (1-65000), not '${value}'" >&2
    exit 2
  fi
  echo "$value"
}

readonly BUILD="${BATON_BUILD_DIR:-${ROOT}/build}"
if [[ -n "${BATON_STATE_DIR:-}" ]]; then
  STATE="$(realpath -m "$BATON_STATE_DIR")"
else
  STATE="${ROOT}/.baton"
fi
readonly STATE
readonly LOGS="${STATE}/logs"
readonly PIDS="${STATE}/pids"
SCHEDULER_PORT="$(port_setting BATON_PORT_BASE 7233)"
readonly SCHEDULER_PORT
readonly BROKER_PORT=$((SCHEDULER_PORT + 1))
# Metrics, /healthz and /readyz: scheduler 9233, broker 9234, workers 9235, 9236, ...
SCHEDULER_METRICS_PORT="$(port_setting BATON_METRICS_PORT_BASE 9233)"
readonly SCHEDULER_METRICS_PORT
readonly BROKER_METRICS_PORT=$((SCHEDULER_METRICS_PORT + 1))
readonly WORKER_METRICS_PORT=$((SCHEDULER_METRICS_PORT + 2))
readonly SCHEDULER_ADDRESS="tcp://127.0.0.1:${SCHEDULER_PORT}"
readonly BROKER_ADDRESS="tcp://127.0.0.1:${BROKER_PORT}"
readonly SCHEDULER_BIN="${BUILD}/scheduler/baton-scheduler"
readonly BROKER_BIN="${BUILD}/broker/baton-broker"
# BATON_WORKER_BIN / BATON_WORKERS choose the worker binary and how many run;
# BATON_SCHEDULER_ARGS adds `serve` flags (e.g. "--max-held-activities 1000").
readonly WORKER_BIN="${BATON_WORKER_BIN:-${BUILD}/examples/function_chaining_worker}"
readonly BATONCTL_BIN="${BUILD}/client/batonctl"
WORKERS=()
for ((i = 1; i <= ${BATON_WORKERS:-2}; i++)); do WORKERS+=("worker-${i}"); done
readonly WORKERS
readonly READY_TIMEOUT_S=15
readonly STOP_TIMEOUT_S=10
readonly DEMO_EXPECTED="Hello World! How are you today? I hope you're doing well!"

say() { echo "stack: $*"; }
warn() { echo "stack: $*" >&2; }

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_of() {
  local file="${PIDS}/$1.pid"
  [[ -f "$file" ]] && cat "$file"
}

# The start time (in clock ticks since boot) of process PID, from /proc.
start_time_of() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"  # the fields after "(comm) "; comm may contain spaces
  local fields
  read -r -a fields <<<"$stat"
  echo "${fields[19]}"
}

# True when NAME's recorded pid is alive and is still the process we started
# (same start time), so a recycled pid is never signalled.
is_alive() {
  local pid
  pid="$(pid_of "$1")" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  local recorded now
  recorded="$(cat "${PIDS}/$1.start" 2>/dev/null)" || return 1
  now="$(start_time_of "$pid")" || return 1
  [[ "$recorded" == "$now" ]]
}

show_log() {
  local log="${LOGS}/$1.log"
  if [[ -f "$log" ]]; then
    warn "last lines of ${log}:"
    tail -n 20 "$log" | sed 's/^/    /' >&2
  fi
}

# start_bg NAME COMMAND...: runs COMMAND in the background, output to
# .baton/logs/NAME.log, pid in .baton/pids/NAME.pid (its start time in NAME.start).
start_bg() {
  local name="$1"
  shift
  "$@" </dev/null >"${LOGS}/${name}.log" 2>&1 &
  local pid=$!
  echo "$pid" >"${PIDS}/${name}.pid"
  start_time_of "$pid" >"${PIDS}/${name}.start" || true  # exited already: is_alive says so
}

# Waits until NAME listens on PORT (or, with no port, stays alive for a
# moment); fails with the tail of its log if it dies first.
wait_ready() {
  local name="$1" port="${2:-}"
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  local alive_checks=0
  while ((SECONDS < deadline)); do
    if ! is_alive "$name"; then
      warn "${name} exited during start"
      show_log "$name"
      return 1
    fi
    if [[ -n "$port" ]]; then
      port_in_use "$port" && return 0
    else
      # Nothing to connect to: alive across ten checks (~1 s) counts as started.
      ((++alive_checks >= 10)) && return 0
    fi
    sleep 0.1
  done
  warn "${name} is not ready after ${READY_TIMEOUT_S} s"
  show_log "$name"
  return 1
}

stop_one() {
  local name="$1"
  local pid
  pid="$(pid_of "$name")" || return 0
  if is_alive "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      warn "${name} (pid ${pid}) ignored SIGTERM for ${STOP_TIMEOUT_S} s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped ${name}"
  fi
  rm -f "${PIDS}/${name}.pid" "${PIDS}/${name}.start"
}

cmd_down() {
  local name pidfile
  # Every worker `up` started, however many that was.
  for pidfile in "${PIDS}"/worker-*.pid; do
    [[ -e "$pidfile" ]] || continue
    name="$(basename "$pidfile" .pid)"
    stop_one "$name"
  done
  for name in scheduler broker; do stop_one "$name"; done
  if [[ -d "${STATE}/pg" ]]; then
    "${ROOT}/scripts/pg.sh" stop "${STATE}/pg"
    say "stopped PostgreSQL"
  fi
  rm -f "${STATE}/env"
}

fail_up() {
  warn "$*"
  warn "stopping what was started; logs stay in ${LOGS}"
  cmd_down >&2
  exit 1
}

cmd_up() {
  local name
  for name in broker scheduler "${WORKERS[@]}"; do
    if is_alive "$name"; then
      warn "${name} is already running (pid $(pid_of "$name")): run '$0 down' first"
      exit 1
    fi
  done
  local bin
  for bin in "$SCHEDULER_BIN" "$BROKER_BIN" "$WORKER_BIN"; do
    [[ -x "$bin" ]] || { warn "missing ${bin}: build first (make build)"; exit 1; }
  done
  local port
  for port in "$SCHEDULER_PORT" "$BROKER_PORT" "$SCHEDULER_METRICS_PORT" "$BROKER_METRICS_PORT"; do
    if port_in_use "$port"; then
      warn "port ${port} on 127.0.0.1 is already taken (another Baton stack? '$0 down')"
      exit 1
    fi
  done

  mkdir -p "$LOGS" "$PIDS"
  local db_url
  db_url="$("${ROOT}/scripts/pg.sh" start "${STATE}/pg")" || fail_up "PostgreSQL did not start"
  say "PostgreSQL at ${db_url}"

  "$SCHEDULER_BIN" migrate --db "$db_url" >"${LOGS}/migrate.log" 2>&1 || {
    show_log migrate
    fail_up "migration failed"
  }

  start_bg broker "$BROKER_BIN" --bind "$BROKER_ADDRESS" \
    --metrics-address "127.0.0.1:${BROKER_METRICS_PORT}"
  wait_ready broker "$BROKER_PORT" || fail_up "broker did not start"
  # shellcheck disable=SC2086  # BATON_SCHEDULER_ARGS is a list of flags on purpose
  start_bg scheduler "$SCHEDULER_BIN" serve --db "$db_url" --listen "$SCHEDULER_ADDRESS" \
    --broker "$BROKER_ADDRESS" --metrics-address "127.0.0.1:${SCHEDULER_METRICS_PORT}" \
    ${BATON_SCHEDULER_ARGS:-}
  wait_ready scheduler "$SCHEDULER_PORT" || fail_up "scheduler did not start"
  local worker_metrics=() i=0
  for name in "${WORKERS[@]}"; do
    worker_metrics+=("127.0.0.1:$((WORKER_METRICS_PORT + i))")
    start_bg "$name" env BATON_BROKER_ADDRESS="$BROKER_ADDRESS" \
      BATON_METRICS_ADDRESS="${worker_metrics[$i]}" "$WORKER_BIN"
    i=$((i + 1))
  done
  for name in "${WORKERS[@]}"; do
    wait_ready "$name" || fail_up "${name} did not start"
  done

  cat >"${STATE}/env" <<EOF
BATON_ADDRESS=${SCHEDULER_ADDRESS}
BATON_BROKER_ADDRESS=${BROKER_ADDRESS}
BATON_DB_URL=${db_url}
BATON_METRICS_SCHEDULER=127.0.0.1:${SCHEDULER_METRICS_PORT}
BATON_METRICS_BROKER=127.0.0.1:${BROKER_METRICS_PORT}
BATON_METRICS_WORKERS=$(IFS=,; echo "${worker_metrics[*]}")
EOF
  say "up: scheduler ${SCHEDULER_ADDRESS}, broker ${BROKER_ADDRESS}, ${#WORKERS[@]} workers"
  say "metrics: http://127.0.0.1:${SCHEDULER_METRICS_PORT}/metrics (scheduler)," \
    "http://127.0.0.1:${BROKER_METRICS_PORT}/metrics (broker), workers from :${WORKER_METRICS_PORT}"
  say "logs in ${LOGS}"
  say "use it:  source ${STATE#"${ROOT}"/}/env && ${BATONCTL_BIN#"${ROOT}"/} start function_chaining --input '\"World\"' --wait"
}

cmd_demo() {
  [[ -x "$BATONCTL_BIN" ]] || { warn "missing ${BATONCTL_BIN}: build first (make build)"; exit 1; }
  trap 'cmd_down; say "logs are in ${LOGS}"' EXIT
  cmd_up
  local result rc=0
  result="$("$BATONCTL_BIN" --address "$SCHEDULER_ADDRESS" start function_chaining \
    --input '"World"' --wait --timeout 60)" || rc=$?
  if ((rc != 0)); then
    warn "demo failed: batonctl exited with ${rc}"
    local name
    for name in scheduler broker "${WORKERS[@]}"; do show_log "$name"; done
    return 1
  fi
  echo "result: ${result}"
  if [[ "$result" != "$DEMO_EXPECTED" ]]; then
    warn "expected: ${DEMO_EXPECTED}"
    return 1
  fi
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    demo) cmd_demo ;;
    *)
      echo "usage: $0 {up|down|demo}" >&2
      exit 2
      ;;
  esac
}

main "$@"
