#!/usr/bin/env bash
# Builds the fuzz targets with clang for libFuzzer + AddressSanitizer (in
# build-fuzz/, apart from the g++ build) and runs each for a bounded time.
# `make test` runs it (ctest fuzz.libfuzzer); crashes fail it and leave their
# input in build-fuzz/fuzz-out/.
#
#   FUZZ_SECONDS   per target (default 20)
#   BATON_FUZZ_BUILD_DIR  (default build-fuzz)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BUILD="${BATON_FUZZ_BUILD_DIR:-${ROOT}/build-fuzz}"
readonly SECONDS_EACH="${FUZZ_SECONDS:-20}"
readonly TARGETS=(wire_decode wire_frames json_codec)

command -v clang++ >/dev/null 2>&1 || {
  echo "fuzz.sh: clang++ not found; run scripts/install-deps.sh" >&2
  exit 1
}
CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBATON_FUZZ_CLANG=ON -DCMAKE_CXX_FLAGS="-fsanitize=address,fuzzer-no-link" >/dev/null
ninja -C "$BUILD" baton_fuzz_corpus "${TARGETS[@]/%/_fuzz}"

"$BUILD/tests/baton_fuzz_corpus" "$BUILD/fuzz-corpus" >/dev/null
mkdir -p "$BUILD/fuzz-out"
rc=0
for t in "${TARGETS[@]}"; do
  corpora=("$BUILD/fuzz-corpus/$t")
  [[ -d "$ROOT/tests/fuzz/corpus/$t" ]] && corpora+=("$ROOT/tests/fuzz/corpus/$t")
  echo "fuzz.sh: $t for ${SECONDS_EACH} s"
  if ! (cd "$BUILD/fuzz-out" && "$BUILD/tests/${t}_fuzz" -max_total_time="$SECONDS_EACH" \
          -seed=1 -print_final_stats=1 "${corpora[@]}" 2>&1 | tail -n 12); then
    echo "fuzz.sh: $t FAILED (inputs in $BUILD/fuzz-out)" >&2
    rc=1
  fi
done
exit "$rc"
