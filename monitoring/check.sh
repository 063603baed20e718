#!/usr/bin/env bash
# Checks the monitoring assets: monitoring/metrics.json (the catalogue),
# monitoring/grafana/*.json, monitoring/prometheus/alerts.yml and
# alerts_test.yml, docs/monitoring.md. ctest runs each step as its own test
# (tests/monitoring/monitoring.cmake).
#
#   monitoring/check.sh [--root DIR] [STEP...]
#
# Steps (default: lint promql rules-test; `all` adds types):
#   lint        check.mjs lint: catalogue sane; dashboards in provisioning form
#               (datasource variable, unique panel ids, gridPos inside the grid
#               and not overlapping); every metric an expression, a variable or
#               a test series reads is in the catalogue, with the labels it
#               filters and groups by; every alert has severity, summary,
#               description and runbook_url = docs/monitoring.md#<alert>, a
#               heading there, a firing and a quiet test case; the docs name
#               every metric of the catalogue
#   promql      promtool parses every dashboard expression (Grafana variables
#               substituted) and checks alerts.yml; the YAML reader of
#               check.mjs finds as many rules as promtool
#   rules-test  promtool test rules alerts_test.yml
#   types       dashboards type-check against @grafana/schema with tsc
#               (pinned in tools/grafana, installed by scripts/npm-tools.sh)
#   selftest NAME
#               breaks a copy of the assets one way and expects the check
#               that should catch it to fail with its message (NAME: one of
#               the selftest_* functions below, without the prefix)
#
# --root DIR checks the assets under DIR instead of this checkout (same
# layout). PROMTOOL and NODE override the tool commands. A missing tool is a
# failure, never a skip. Exit 0 when every step passes.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
readonly REPO="${HERE%/monitoring}"
readonly PROMTOOL="${PROMTOOL:-promtool}"
readonly NODE="${NODE:-node}"
ROOT="$REPO"

say() { echo "check.sh: $*"; }
die() {
  echo "check.sh: $*" >&2
  exit 1
}

TMP_DIRS=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local d
  for d in "${TMP_DIRS[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

# new_tmpdir [PARENT]: sets TMP to a new scratch directory, removed at exit.
# (Not a $(...) function: a subshell could not record it for cleanup.)
TMP=""
new_tmpdir() {
  TMP="$(mktemp -d "${1:-${TMPDIR:-/tmp}}/baton-monitoring-check.XXXXXX")"
  TMP_DIRS+=("$TMP")
}

need_node() {
  command -v "$NODE" >/dev/null 2>&1 ||
    die "node not found (NODE=${NODE}); install Node.js 18+ (scripts/install-deps.sh installs nodejs)"
}

need_promtool() {
  command -v "$PROMTOOL" >/dev/null 2>&1 ||
    die "promtool not found (PROMTOOL=${PROMTOOL}); install Debian's prometheus package (scripts/install-deps.sh)"
}

step_lint() {
  need_node
  "$NODE" "${HERE}/check.mjs" lint "$ROOT"
  say "lint: ok"
}

step_promql() {
  need_node
  need_promtool
  local tmp out
  new_tmpdir
  tmp="$TMP"
  # The dashboard expressions as recording rules: promtool parses each one
  # and names a failing one by its record (dashboard_<uid>:panel_<id>_<refId>).
  "$NODE" "${HERE}/check.mjs" promql-rules "$ROOT" "${tmp}/dashboards.yml" >"${tmp}/index.tsv"
  if ! out="$("$PROMTOOL" check rules "${tmp}/dashboards.yml" 2>&1)"; then
    echo "$out" >&2
    local record
    for record in $(grep -o '"dashboard_[a-zA-Z0-9_]*:[^"]*"' <<<"$out" | tr -d '"' | sort -u); do
      echo "check.sh: ${record} is $(grep -F "${record}"$'\t' "${tmp}/index.tsv" | cut -f2-)" >&2
    done
    die "promql: a dashboard expression does not parse"
  fi
  local alerts="${ROOT}/monitoring/prometheus/alerts.yml"
  if ! out="$("$PROMTOOL" check rules "$alerts" 2>&1)"; then
    echo "$out" >&2
    die "promql: promtool rejects ${alerts}"
  fi
  local promtool_count mine
  promtool_count="$(sed -n 's/.*SUCCESS: \([0-9][0-9]*\) rules found.*/\1/p' <<<"$out")"
  mine="$("$NODE" "${HERE}/check.mjs" count-rules "$alerts")"
  [[ -n "$promtool_count" && "$promtool_count" == "$mine" ]] ||
    die "promql: promtool finds '${promtool_count}' rules in ${alerts}, check.mjs reads '${mine}'; check.mjs's YAML reader misreads the file"
  say "promql: ok ($(wc -l <"${tmp}/index.tsv") dashboard expressions, ${mine} rules)"
}

step_rules_test() {
  need_promtool
  local out
  if ! out="$("$PROMTOOL" test rules "${ROOT}/monitoring/prometheus/alerts_test.yml" 2>&1)"; then
    echo "$out" >&2
    die "rules-test: alert unit tests fail"
  fi
  say "rules-test: ok"
}

step_types() {
  local tools tmp f
  tools="$("${REPO}/scripts/npm-tools.sh" grafana)" ||
    die "types: scripts/npm-tools.sh grafana failed (needs npm and the registry, or a filled .cache/tools/grafana)"
  [[ -x "${tools}/node_modules/.bin/tsc" ]] || die "types: ${tools} has no tsc"
  # Inside the tools directory so that '@grafana/schema' resolves.
  new_tmpdir "$tools"
  tmp="$TMP"
  local files=()
  for f in "${ROOT}"/monitoring/grafana/*.json; do
    [[ -e "$f" ]] || die "types: no dashboard in ${ROOT}/monitoring/grafana"
    local ts
    ts="${tmp}/$(basename "$f" .json).ts"
    {
      echo "// Generated from ${f} by monitoring/check.sh types."
      echo "import type { Dashboard } from '@grafana/schema';"
      echo "// Grafana's types use TypeScript enums; JSON holds their values."
      echo "type Json<T> = 0 extends 1 & T ? any"
      echo "  : T extends string ? \`\${T}\`"
      echo "  : T extends number | boolean | null | undefined ? T"
      echo "  : T extends Array<infer U> ? Array<Json<U>>"
      echo "  : T extends object ? { [K in keyof T]: Json<T[K]> }"
      echo "  : T;"
      echo -n "export const dashboard: Json<Dashboard> = "
      cat "$f"
      echo ";"
    } >"$ts"
    files+=("\"$(basename "$ts")\"")
  done
  local IFS=,
  cat >"${tmp}/tsconfig.json" <<EOF
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "skipLibCheck": true, "types": [],
    "target": "ES2022", "module": "ESNext", "moduleResolution": "bundler"
  },
  "files": [${files[*]}]
}
EOF
  unset IFS
  local out
  if ! out="$("${tools}/node_modules/.bin/tsc" -p "${tmp}/tsconfig.json" --pretty false 2>&1)"; then
    # Line numbers are the dashboard's plus 9 (the generated header).
    echo "$out" | head -40 >&2
    die "types: a dashboard does not match @grafana/schema's Dashboard (line numbers above are the JSON's + 9)"
  fi
  say "types: ok"
}

# ------------------------------------------------------------------ selftest
# Each case: copy the assets to a scratch root, break them one way, run one
# step, and require that it fails and prints the expected message.

copy_assets() {
  local dest="$1"
  mkdir -p "${dest}/monitoring/grafana" "${dest}/monitoring/prometheus" "${dest}/docs"
  cp "${REPO}/monitoring/metrics.json" "${dest}/monitoring/"
  cp "${REPO}"/monitoring/grafana/*.json "${dest}/monitoring/grafana/"
  cp "${REPO}"/monitoring/prometheus/*.yml "${dest}/monitoring/prometheus/"
  cp "${REPO}/docs/monitoring.md" "${dest}/docs/"
}

# expect_failure STEP PATTERN [ENV...]: runs check.sh --root $SCRATCH STEP
# and requires a non-zero exit and PATTERN (grep -E) in its output.
expect_failure() {
  local step="$1" pattern="$2"
  shift 2
  local out rc=0
  out="$(env "$@" bash "${HERE}/check.sh" --root "$SCRATCH" "$step" 2>&1)" || rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "$out" >&2
    die "selftest: step '${step}' passed on broken input; expected a failure matching /${pattern}/"
  fi
  if ! grep -Eq -- "$pattern" <<<"$out"; then
    echo "$out" >&2
    die "selftest: step '${step}' failed (exit ${rc}) without a message matching /${pattern}/"
  fi
  say "selftest: step '${step}' rejects the broken copy as expected: $(grep -E -m1 -- "$pattern" <<<"$out")"
}

# Replaces the first occurrence of FROM by TO in FILE; the case is void if
# FROM is not there.
edit_first() {
  local file="$1" from="$2" to="$3"
  grep -qF -- "$from" "$file" || die "selftest: '${from}' not found in ${file}; update the selftest"
  FROM="$from" TO="$to" "$NODE" -e '
    const fs = require("fs");
    const f = process.argv[1];
    const s = fs.readFileSync(f, "utf8");
    const i = s.indexOf(process.env.FROM);
    fs.writeFileSync(f, s.slice(0, i) + process.env.TO + s.slice(i + process.env.FROM.length));
  ' "$file"
}

DASH=""
selftest_unknown_metric() {
  edit_first "$DASH" 'baton_orchestrations_started_total{' 'baton_orchestrations_begun_total{'
  expect_failure lint "metric 'baton_orchestrations_begun_total' is not defined in monitoring/metrics.json"
}

# shellcheck disable=SC2016  # a literal $namespace, as in the JSON
selftest_unknown_label() {
  edit_first "$DASH" 'baton_orchestrations_started_total{namespace=~\"$namespace\"}' \
    'baton_orchestrations_started_total{namespace=~\"$namespace\", task_queue=~\"$task_queue\"}'
  expect_failure lint "metric 'baton_orchestrations_started_total' has no label 'task_queue'"
}

selftest_duplicate_panel_id() {
  edit_first "$DASH" '"id": 3,' '"id": 2,'
  expect_failure lint "duplicate panel id 2"
}

selftest_export_form() {
  edit_first "$DASH" '"uid": "baton-overview",' '"__inputs": [], "uid": "baton-overview",'
  expect_failure lint "has '__inputs'"
}

selftest_bad_promql() {
  edit_first "$DASH" 'sum(baton_scheduler_timers)' 'sum(baton_scheduler_timers'
  expect_failure promql "a dashboard expression does not parse"
}

selftest_alert_without_test() {
  cat >>"${SCRATCH}/monitoring/prometheus/alerts.yml" <<'EOF'
  - name: baton.selftest
    rules:
      - alert: BatonSelftestUntested
        expr: baton_ready == 0
        labels:
          severity: warning
        annotations:
          summary: "untested"
          description: "untested"
          runbook_url: "docs/monitoring.md#batonselftestuntested"
EOF
  echo "### BatonSelftestUntested" >>"${SCRATCH}/docs/monitoring.md"
  expect_failure lint "alert BatonSelftestUntested has no test case where it fires"
}

selftest_alert_behaviour() {
  edit_first "${SCRATCH}/monitoring/prometheus/alerts.yml" \
    'sum(baton_scheduler_partitions_owned) < 16' 'sum(baton_scheduler_partitions_owned) < 12'
  expect_failure rules-test "BatonPartitionsNotOwned"
}

# shellcheck disable=SC2016  # literal backticks
selftest_undocumented_metric() {
  edit_first "${SCRATCH}/docs/monitoring.md" '`baton_db_commit_ops`' 'the commit size'
  expect_failure lint 'does not mention metric `baton_db_commit_ops`'
}

selftest_dashboard_type() {
  edit_first "$DASH" '"schemaVersion": 39' '"schemaVersion": "39"'
  expect_failure types "Type 'string' is not assignable to type 'number'"
}

selftest_missing_promtool() {
  expect_failure rules-test "promtool not found" PROMTOOL=/nonexistent/promtool
}

step_selftest() {
  local name="${1:-}"
  declare -F "selftest_${name}" >/dev/null ||
    die "selftest: unknown case '${name}'; cases: $(declare -F | sed -n 's/^declare -f selftest_//p' | tr '\n' ' ')"
  need_node
  new_tmpdir
  SCRATCH="$TMP"
  copy_assets "$SCRATCH"
  DASH="${SCRATCH}/monitoring/grafana/baton.json"
  "selftest_${name}"
}

main() {
  if [[ "${1:-}" == "--root" ]]; then
    ROOT="$(cd "${2:?--root needs a directory}" && pwd)"
    shift 2
  fi
  local steps=("$@")
  [[ ${#steps[@]} -gt 0 ]] || steps=(lint promql rules-test)
  if [[ "${steps[0]}" == "all" ]]; then steps=(lint promql rules-test types); fi
  if [[ "${steps[0]}" == "selftest" ]]; then
    step_selftest "${steps[1]:-}"
    return
  fi
  local s
  for s in "${steps[@]}"; do
    case "$s" in
      lint) step_lint ;;
      promql) step_promql ;;
      rules-test) step_rules_test ;;
      types) step_types ;;
      *) die "unknown step '${s}' (lint, promql, rules-test, types, all, selftest NAME)" ;;
    esac
  done
}

main "$@"
