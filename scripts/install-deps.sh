#!/usr/bin/env bash
# Installs the Debian 12 packages Baton builds, tests and runs with.
# Idempotent: when every package is already installed it does nothing (no
# apt-get update, no network). Uses sudo only when not root.
set -euo pipefail

readonly PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libpqxx-dev libpq-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libcli11-dev libtomlplusplus-dev libsodium-dev
  postgresql-15 prometheus unzip clang
)
# Node.js and npm fetch the pinned npm tools of tools/ (Helm, Kubernetes and
# Grafana schemas). Any npm on PATH will do (for example NodeSource's nodejs,
# which conflicts with Debian's npm package), so these are only installed when
# npm is missing.
readonly NODE_PACKAGES=(nodejs npm)

is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

main() {
  local missing=()
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if ! command -v npm >/dev/null 2>&1; then
    for pkg in "${NODE_PACKAGES[@]}"; do
      is_installed "$pkg" || missing+=("$pkg")
    done
  fi
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    return 0
  fi

  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

main "$@"
