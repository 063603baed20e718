#!/usr/bin/env bash
# For each binary: copies it (stripped) to OUT/NAME and writes OUT/NAME.packages,
# the Debian packages that hold the shared libraries it links (per ldd, mapped
# with dpkg -S), one a line. The image build installs exactly those in the
# runtime stage, so the list never drifts from what the binary needs.
#
#   docker/runtime-packages.sh OUT BINARY...
set -euo pipefail

# Prints, for each library path given, the package that holds it: one
# dpkg -S call for all of them (it is slow), trying the /usr-merged spellings.
owners_of() {
  local lib real candidates=()
  for lib in "$@"; do
    real="$(readlink -f "$lib")"
    candidates+=("$lib" "$real" "/usr${lib}" "/usr${real}" "${lib#/usr}" "${real#/usr}")
  done
  local -A owner=()
  local line pkgs path
  while IFS= read -r line; do
    [[ "$line" == *": /"* ]] || continue  # skips "diversion by ..." lines
    pkgs="${line%%: /*}"
    path="/${line#*: /}"
    owner["$path"]="${pkgs%%[:,]*}"
  done < <(dpkg -S "${candidates[@]}" 2>/dev/null || true)
  local i=0 found
  for lib in "$@"; do
    found=""
    for path in "${candidates[@]:i:6}"; do
      if [[ -n "${owner[$path]:-}" ]]; then found="${owner[$path]}"; break; fi
    done
    i=$((i + 6))
    if [[ -z "$found" ]]; then
      echo "runtime-packages: no Debian package holds ${lib}" >&2
      return 1
    fi
    echo "$found"
  done
}

main() {
  local out="${1:?usage: runtime-packages.sh OUT BINARY...}"
  shift
  (($# > 0)) || { echo "usage: runtime-packages.sh OUT BINARY..." >&2; exit 2; }
  mkdir -p "$out"
  local bin name
  for bin in "$@"; do
    name="$(basename "$bin")"
    if ldd "$bin" | grep -q 'not found'; then
      echo "runtime-packages: ${bin} has unresolved libraries:" >&2
      ldd "$bin" | grep 'not found' >&2
      exit 1
    fi
    local libs=()
    mapfile -t libs < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
    owners_of "${libs[@]}" | sort -u >"${out}/${name}.packages"
    cp "$bin" "${out}/${name}"
    strip --strip-unneeded "${out}/${name}" 2>/dev/null || true
    echo "runtime-packages: ${name}: $(tr '\n' ' ' <"${out}/${name}.packages")" >&2
  done
}

main "$@"
