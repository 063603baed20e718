#!/usr/bin/env bash
# Installs the pinned npm packages of one tools/<name>/ directory (its
# package.json and package-lock.json) into .cache/tools/<name>/ and prints
# that directory. Idempotent: reinstalls only when the lock file changed.
# The only downloads the project makes outside Debian are these.
#
#   scripts/npm-tools.sh NAME        e.g. scripts/npm-tools.sh grafana
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT

main() {
  local name="${1:?usage: npm-tools.sh NAME (a directory under tools/)}"
  local src="${ROOT}/tools/${name}"
  local dest="${BATON_TOOLS_CACHE:-${ROOT}/.cache/tools}/${name}"
  [[ -f "${src}/package.json" && -f "${src}/package-lock.json" ]] || {
    echo "npm-tools: ${src} has no package.json + package-lock.json" >&2
    exit 2
  }
  command -v npm >/dev/null 2>&1 || {
    echo "npm-tools: npm not found; run scripts/install-deps.sh" >&2
    exit 1
  }
  local stamp
  stamp="$(cat "${src}/package.json" "${src}/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [[ -f "${dest}/.stamp" && "$(cat "${dest}/.stamp")" == "${stamp}" ]]; then
    echo "${dest}"
    return 0
  fi
  mkdir -p "${dest}"
  cp "${src}/package.json" "${src}/package-lock.json" "${dest}/"
  (cd "${dest}" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "${stamp}" >"${dest}/.stamp"
  echo "${dest}"
}

main "$@"
