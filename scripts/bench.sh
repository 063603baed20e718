#!/usr/bin/env bash
# make bench: a Release build, its own local stack (throwaway PostgreSQL with
# durable defaults, scheduler, broker, WORKERS example workers), then
# baton-bench's scenarios, one JSON line each, RUNS times.
#
#   CHAIN_M (2000) CHAIN_C (64) SEQ_N (200) FANOUT_N (100) FANOUT_RUNS (20)
#   WORKERS (2) RUNS (3) SCENARIOS ("chain chain-serial fanout")
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
BUILD="${ROOT}/build-release"
readonly BUILD

"${ROOT}/scripts/install-deps.sh" >&2
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF >&2
ninja -C "$BUILD" baton-scheduler baton-broker examples_worker baton-bench >&2

export BATON_BUILD_DIR="$BUILD"
export BATON_WORKER_BIN="${BUILD}/examples/examples_worker"
export BATON_WORKERS="${WORKERS:-2}"
trap '"${ROOT}/scripts/stack.sh" down >/dev/null 2>&1 || true' EXIT
"${ROOT}/scripts/stack.sh" up >&2
# shellcheck disable=SC1091
source "${ROOT}/.baton/env"
export BATON_ADDRESS

echo "bench: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ), workers=${BATON_WORKERS}" >&2
for ((run = 1; run <= ${RUNS:-3}; run++)); do
  for scenario in ${SCENARIOS:-chain chain-serial fanout}; do
    "${BUILD}/bench/baton-bench" --scenario "$scenario"
  done
done
