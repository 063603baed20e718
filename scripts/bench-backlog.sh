#!/usr/bin/env bash
# Scheduler memory under a large backlog: starts the local stack (examples
# worker), schedules ORCHESTRATIONS x fan_out_fan_in(ITEMS) (default 20 x
# 5,000 = 100,000 activities at once), samples the scheduler's resident
# memory and the parked tasks every second until all finish, and prints one
# JSON line. Run it once with the default cap and once with
# MAX_HELD=1000000 (effectively no cap) to compare.
#
#   ORCHESTRATIONS (20)  ITEMS (5000)  MAX_HELD (10000)  WORKERS (2)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BUILD="${BATON_BUILD_DIR:-${ROOT}/build}"
readonly N="${ORCHESTRATIONS:-20}" ITEMS="${ITEMS:-5000}" MAX_HELD="${MAX_HELD:-10000}"

export BATON_WORKER_BIN="${BUILD}/examples/examples_worker"
export BATON_WORKERS="${WORKERS:-2}"
export BATON_SCHEDULER_ARGS="--max-held-activities ${MAX_HELD}"
"${ROOT}/scripts/stack.sh" up >&2
trap '"${ROOT}/scripts/stack.sh" down >&2' EXIT
# shellcheck disable=SC1091
source "${ROOT}/.baton/env"
export BATON_ADDRESS
readonly PID="$(cat "${ROOT}/.baton/pids/scheduler.pid")"

ids=()
for ((i = 0; i < N; i++)); do
  ids+=("$("${BUILD}/client/batonctl" start fan_out_fan_in --input "${ITEMS}")")
done
start=$SECONDS
max_rss_kb=0 max_parked=0 max_tasks=0
psql_count() { psql "$BATON_DB_URL" -Atc "$1" 2>/dev/null || echo 0; }
while true; do
  rss="$(awk '/VmRSS/ {print $2}' "/proc/${PID}/status")"
  parked="$(psql_count "SELECT count(*) FROM baton_tasks WHERE parked")"
  tasks="$(psql_count "SELECT count(*) FROM baton_tasks")"
  ((rss > max_rss_kb)) && max_rss_kb=$rss
  ((parked > max_parked)) && max_parked=$parked
  ((tasks > max_tasks)) && max_tasks=$tasks
  open="$(psql_count "SELECT count(*) FROM baton_instances WHERE status NOT IN (2, 3, 4)")"
  [[ "$open" == "0" ]] && break
  ((SECONDS - start > 900)) && { echo "bench-backlog: not done after 900 s" >&2; exit 1; }
  sleep 1
done
for id in "${ids[@]}"; do "${BUILD}/client/batonctl" wait "$id" --timeout 60 >/dev/null; done
printf '{"scenario":"backlog","orchestrations":%d,"activities":%d,"max_held":%d,"max_tasks_in_pg":%d,"max_parked":%d,"scheduler_max_rss_mb":%.1f,"seconds":%d}\n' \
  "$N" $((N * ITEMS)) "$MAX_HELD" "$max_tasks" "$max_parked" "$(echo "$max_rss_kb / 1024" | bc -l)" $((SECONDS - start))
