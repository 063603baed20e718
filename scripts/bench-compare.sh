#!/usr/bin/env bash
# Compares this tree with a base revision on the same machine, in the same
# run: builds BASE (a git revision, default HEAD~1) in Release into a git
# worktree, then for ROUNDS (3) rounds starts a fresh stack of each side in
# turn (throwaway PostgreSQL, durable defaults) and runs the same
# baton-bench client (this tree's) on it: chain 3 times, chain-serial,
# fanout. Prints each JSON line tagged with "side", then the medians per
# side and the ratio new/base on stderr.
#
#   scripts/bench-compare.sh [BASE]      env: ROUNDS, CHAIN_M, CHAIN_C, SEQ_N, FANOUT_N, FANOUT_RUNS, FANOUT_LIST, WORKERS
#
# A BASE older than the `fan_out` example (2026-11-21, tenth session) cannot
# run the fanout scenario's orchestrator: set FANOUT_LIST=1 to compare both
# sides on fan_out_fan_in.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BASE_REV="${1:-HEAD~1}"
readonly NEW_BUILD="${ROOT}/build-release"
readonly BASE_TREE="${ROOT}/.cache/bench-base"
readonly BASE_BUILD="${BASE_TREE}/build-release"
OUT="$(mktemp)"
readonly OUT

release_build() {  # release_build SOURCE BUILD TARGETS...
  local src="$1" build="$2"
  shift 2
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBATON_BUILD_TESTS=OFF >&2
  ninja -C "$build" "$@" >&2
}

# run_side NAME BUILD: a fresh stack from BUILD, the scenarios, the stack down.
run_side() {
  local side="$1" build="$2" scenario
  BATON_BUILD_DIR="$build" BATON_WORKER_BIN="${build}/examples/examples_worker" \
    BATON_WORKERS="${WORKERS:-2}" "${ROOT}/scripts/stack.sh" up >&2
  # shellcheck disable=SC1091
  source "${ROOT}/.baton/env"
  export BATON_ADDRESS
  for scenario in chain chain chain chain-serial fanout; do
    "${NEW_BUILD}/bench/baton-bench" --scenario "$scenario" 2>/dev/null |
      sed "s/^{/{\"side\":\"${side}\",/" | tee -a "$OUT"
  done
  BATON_BUILD_DIR="$build" "${ROOT}/scripts/stack.sh" down >&2
}

main() {
  trap '"${ROOT}/scripts/stack.sh" down >/dev/null 2>&1 || true; rm -f "$OUT"' EXIT
  "${ROOT}/scripts/install-deps.sh" >&2
  release_build "$ROOT" "$NEW_BUILD" baton-scheduler baton-broker examples_worker baton-bench
  mkdir -p "${ROOT}/.cache"
  local base_commit
  base_commit="$(git -C "$ROOT" rev-parse --verify "${BASE_REV}^{commit}")"
  if [[ "$(git -C "$BASE_TREE" rev-parse HEAD 2>/dev/null)" != "$base_commit" ]]; then
    git -C "$ROOT" worktree remove --force "$BASE_TREE" >/dev/null 2>&1 || true
    git -C "$ROOT" worktree add --force --detach "$BASE_TREE" "$base_commit" >&2
  fi
  release_build "$BASE_TREE" "$BASE_BUILD" baton-scheduler baton-broker examples_worker
  echo "bench-compare: base $(git -C "$BASE_TREE" log --oneline -1), new $(git -C "$ROOT" log --oneline -1)" >&2
  for ((round = 1; round <= ${ROUNDS:-3}; round++)); do
    run_side base "$BASE_BUILD"
    run_side new "$NEW_BUILD"
  done
  python3 - "$OUT" >&2 <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(side, scenario, field):
    v = [r[field] for r in rows if r["side"] == side and r["scenario"] == scenario]
    return statistics.median(v) if v else float("nan")
print("bench-compare: medians (base -> new, ratio new/base)")
for scenario, field in [("chain", "per_s"), ("chain", "p50_ms"), ("chain-serial", "p50_ms"),
                        ("chain-serial", "p99_ms"), ("fanout", "p50_ms")]:
    b, n = med("base", scenario, field), med("new", scenario, field)
    print(f"  {scenario:13s} {field:7s} {b:9.1f} -> {n:9.1f}   x{n / b:.2f}")
PY
}

main "$@"
