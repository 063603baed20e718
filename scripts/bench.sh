#!/usr/bin/env bash
# make bench: a Release build, its own local stack (throwaway PostgreSQL with
# durable defaults, scheduler, broker, WORKERS example workers), then
# baton-bench's scenarios, one JSON line each on stdout, RUNS times; at the
# end a summary (medians over the runs) on stderr. stdout is JSON lines only.
#
#   CHAIN_M (2000) CHAIN_C (64) SEQ_N (200) FANOUT_N (100) FANOUT_RUNS (20) FANOUT_LIST (0)
#   FANOUT_BIG_N (10000) FANOUT_BIG_RUNS (1) MEM_N (10000) MEM_C (64)
#   WORKERS (2) RUNS (3) SCENARIOS ("chain chain-serial fanout fanout-10000 sequence memory")
#   SCALING (0)  SCALING_WORKERS ("1 2 4")  SCALING_RUNS (1)
#   BENCH_BUILD_DIR (build-release)
#   BENCH_CLIENTS (1): baton::Clients the client threads share
#   START_THEN_WAIT (0): 1 = start, then wait (two requests per orchestration)
#
# Scaling (SCALING=1, or `scaling` in SCENARIOS; SCENARIOS=scaling runs it
# alone): for each count in SCALING_WORKERS, a fresh stack with that many
# worker processes runs chain SCALING_RUNS times, summarized apart. Every
# line has a "workers" field.
#
# baton-bench gets the stack's process ids in BATON_BENCH_PIDS
# ("scheduler=PID,broker=PID,worker-1=PID,...,postgres=PID") and reads
# BATON_METRICS_SCHEDULER and BATON_DB_URL from the stack's env file.
# BATON_STATE_DIR, BATON_PORT_BASE and BATON_METRICS_PORT_BASE are passed to
# scripts/stack.sh, so a benchmark can run beside another stack.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
BUILD="$(realpath -m "${BENCH_BUILD_DIR:-${ROOT}/build-release}")"
readonly BUILD
if [[ -n "${BATON_STATE_DIR:-}" ]]; then
  STATE="$(realpath -m "$BATON_STATE_DIR")"
else
  STATE="${ROOT}/.baton"  # scripts/stack.sh's default
fi
readonly STATE
readonly BENCH="${BUILD}/bench/baton-bench"
readonly DEFAULT_SCENARIOS="chain chain-serial fanout fanout-10000 sequence memory"

# name=PID for every process scripts/stack.sh started, then the postmaster.
stack_pids() {
  local pidfile entries=()
  for pidfile in "${STATE}/pids"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    entries+=("$(basename "$pidfile" .pid)=$(cat "$pidfile")")
  done
  # scripts/pg.sh keeps the cluster in STATE/pg, or where STATE/pg/cluster says.
  local cluster="${STATE}/pg"
  [[ -f "${cluster}/cluster" ]] && cluster="$(cat "${cluster}/cluster")"
  entries+=("postgres=$(head -n 1 "${cluster}/data/postmaster.pid")")
  (IFS=,; echo "${entries[*]}")
}

# stack_up N: a fresh stack with N workers; exports what baton-bench reads.
stack_up() {
  export BATON_WORKERS="$1"
  "${ROOT}/scripts/stack.sh" up >&2
  # shellcheck disable=SC1091
  source "${STATE}/env"
  export BATON_ADDRESS BATON_METRICS_SCHEDULER BATON_DB_URL
  BATON_BENCH_PIDS="$(stack_pids)"
  export BATON_BENCH_PIDS
  echo "bench: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ), workers=${BATON_WORKERS}," \
    "build ${BUILD}, pids ${BATON_BENCH_PIDS}" >&2
}

stack_down() {
  "${ROOT}/scripts/stack.sh" down >&2
}

# bench SCENARIO FILE: its JSON line to stdout and to FILE.
bench() {
  "$BENCH" --scenario "$1" | tee -a "$2"
}

main() {
  "${ROOT}/scripts/install-deps.sh" >&2
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF >&2
  ninja -C "$BUILD" baton-scheduler baton-broker examples_worker baton-bench >&2

  export BATON_BUILD_DIR="$BUILD"
  export BATON_WORKER_BIN="${BUILD}/examples/examples_worker"
  # Scaling runs each start from an empty database: summarized apart.
  RESULTS="$(mktemp)"
  SCALING_RESULTS="$(mktemp)"
  trap 'stack_down >/dev/null 2>&1 || true; rm -f "$RESULTS" "$SCALING_RESULTS"' EXIT

  local scenario run workers scaling="${SCALING:-0}" scenarios=()
  for scenario in ${SCENARIOS:-$DEFAULT_SCENARIOS}; do
    if [[ "$scenario" == scaling ]]; then scaling=1; else scenarios+=("$scenario"); fi
  done

  if ((${#scenarios[@]} > 0)); then
    stack_up "${WORKERS:-2}"
    for ((run = 1; run <= ${RUNS:-3}; run++)); do
      for scenario in "${scenarios[@]}"; do bench "$scenario" "$RESULTS"; done
    done
    stack_down
  fi

  if [[ "$scaling" == 1 ]]; then
    for workers in ${SCALING_WORKERS:-1 2 4}; do
      stack_up "$workers"
      for ((run = 1; run <= ${SCALING_RUNS:-1}; run++)); do bench chain "$SCALING_RESULTS"; done
      stack_down
    done
  fi

  if ((${#scenarios[@]} > 0)); then "$BENCH" --summary "$RESULTS"; fi
  if [[ "$scaling" == 1 ]]; then
    echo "scaling (a fresh stack per worker count):" >&2
    "$BENCH" --summary "$SCALING_RESULTS"
  fi
}

main "$@"
