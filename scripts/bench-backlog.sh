#!/usr/bin/env bash
# Scheduler memory with a large backlog of pending activities: starts the
# local stack with the test worker, whose `echo` activity is made slow
# (BATON_TEST_ECHO_DELAY_MS), schedules ORCHESTRATIONS x fan_out_echo(ITEMS)
# (default 20 x 5,000 = 100,000 activities, nearly all pending), samples the
# scheduler's resident memory for HOLD_S seconds once they exist, then
# terminates them. Prints one JSON line. Compare MAX_HELD=10000 (default)
# with MAX_HELD=1000000 (effectively no cap).
#
#   ORCHESTRATIONS (20)  ITEMS (5000)  MAX_HELD (10000)  HOLD_S (15)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BUILD="${BATON_BUILD_DIR:-${ROOT}/build}"
readonly N="${ORCHESTRATIONS:-20}" ITEMS="${ITEMS:-5000}" MAX_HELD="${MAX_HELD:-10000}"
readonly HOLD_S="${HOLD_S:-15}"

ninja -C "$BUILD" baton-scheduler baton-broker baton_test_worker batonctl >&2
export BATON_WORKER_BIN="${BUILD}/tests/baton_test_worker"
export BATON_WORKERS=2 BATON_TEST_ECHO_DELAY_MS=1000
export BATON_SCHEDULER_ARGS="--max-held-activities ${MAX_HELD}"
"${ROOT}/scripts/stack.sh" up >&2
trap '"${ROOT}/scripts/stack.sh" down >&2' EXIT
# shellcheck disable=SC1091
source "${ROOT}/.baton/env"
export BATON_ADDRESS
readonly PID="$(cat "${ROOT}/.baton/pids/scheduler.pid")"
q() { psql "$BATON_DB_URL" -Atc "$1"; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/${PID}/status"; }

readonly idle_rss="$(rss_mb)"
ids=()
for ((i = 0; i < N; i++)); do
  ids+=("$("${BUILD}/client/batonctl" start fan_out_echo --input "${ITEMS}")")
done
readonly want=$((N * ITEMS))
start=$SECONDS
until (($(q "SELECT count(*) FROM baton_tasks") >= want * 9 / 10)); do
  ((SECONDS - start > 120)) && { echo "bench-backlog: backlog did not build" >&2; exit 1; }
  sleep 0.5
done
max_rss=0
for ((s = 0; s < HOLD_S; s++)); do
  r="$(rss_mb)"
  (($(echo "$r > $max_rss" | bc) == 1)) && max_rss=$r
  sleep 1
done
pending="$(q "SELECT count(*) FROM baton_tasks")"
parked="$(q "SELECT count(*) FROM baton_tasks WHERE parked")"
in_flight="$(curl -s "127.0.0.1:9233/metrics" 2>/dev/null |
  awk '/^baton_scheduler_in_flight\{kind="activity"\}/ {print $2}' || true)"
for id in "${ids[@]}"; do "${BUILD}/client/batonctl" terminate "$id" --reason bench >/dev/null; done
printf '{"scenario":"backlog","activities":%d,"max_held":%d,"pending":%d,"parked":%d,"held_in_memory":"%s","scheduler_rss_mb_idle":%s,"scheduler_rss_mb_max":%s}\n' \
  "$want" "$MAX_HELD" "$pending" "$parked" "${in_flight:-?}" "$idle_rss" "$max_rss"
