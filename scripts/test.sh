#!/usr/bin/env bash
# The whole test suite, as CI runs it: dependencies, a RelWithDebInfo build,
# a throwaway PostgreSQL for the tests that need one, then ctest.
#
#   BATON_TEST_PG_URL  exported for tests/pg and tests/integration
#   BATON_BUILD_DIR    exported (absolute) so tests find the built binaries
#   CTEST_ARGS         extra ctest arguments, e.g. CTEST_ARGS="-L unit"
#
# Exits with ctest's exit code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
BUILD="${BATON_BUILD_DIR:-${ROOT}/build}"
mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd)"
readonly BUILD
readonly STARTED=$SECONDS

PG_DIR=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [[ -n "$PG_DIR" ]]; then "${ROOT}/scripts/pg.sh" stop "$PG_DIR" || true; fi
  echo "test.sh: total $((SECONDS - STARTED)) s"
}
trap cleanup EXIT

"${ROOT}/scripts/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C "$BUILD"

PG_DIR="$(mktemp -d /tmp/baton-test-pg.XXXXXX)"
BATON_TEST_PG_URL="$("${ROOT}/scripts/pg.sh" start "$PG_DIR")"
export BATON_TEST_PG_URL
export BATON_BUILD_DIR="$BUILD"
echo "test.sh: PostgreSQL at ${BATON_TEST_PG_URL}"

rc=0
# shellcheck disable=SC2086  # CTEST_ARGS is a list of words on purpose
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 600 ${CTEST_ARGS:-} || rc=$?
exit "$rc"
