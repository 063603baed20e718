#!/usr/bin/env bash
# `make chaos`: a long randomized fault run, separate from `make test`.
#
# Builds what it needs (RelWithDebInfo, $BATON_BUILD_DIR), then runs
# baton_chaos (tests/chaos/chaos.cc): a private PostgreSQL cluster, a local
# stack, a stream of orchestrations, and random kill -9 / SIGSTOP+SIGCONT /
# SIGTERM of workers, broker and scheduler and PostgreSQL restarts, crashes
# and outages; at the end it waits for every orchestration, checks every
# output and history and runs `batonctl admin verify`.
#
#   CHAOS_SECONDS        how long faults are injected (default 600: 10 minutes)
#   CHAOS_SEED           the run's seed (default: random, printed first)
#   CHAOS_WORKERS        worker processes (default 3)
#   CHAOS_RATE           orchestrations started per second (default 15)
#   CHAOS_DRAIN_SECONDS  how long to wait for the last ones (default 240)
#
# Exits 0 when nothing was lost, 1 on any loss or wrong result, 2 when the
# run could not be set up. Logs: $BATON_BUILD_DIR/chaos-logs/seed-<seed>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
BUILD="${BATON_BUILD_DIR:-${ROOT}/build}"
mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd)"
readonly BUILD
export BATON_BUILD_DIR="$BUILD"

"${ROOT}/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C "$BUILD" baton_chaos baton-scheduler baton-broker batonctl baton_test_worker

exec "${BUILD}/tests/baton_chaos" "$@"
