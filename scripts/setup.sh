#!/usr/bin/env bash
# Installs everything Tideline's build, demo and tests need on a fresh Debian 12 machine.
# Idempotent: quiet and fast when everything is already present. Runs `apt-get update` at
# most once per invocation and only when a package is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libsqlite3-dev sqlite3
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev libcurl4-openssl-dev openssl  # openssl: the secured test servers' certificates
  libprotobuf-dev protobuf-compiler
  zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev
  libjemalloc-dev  # the tideline binary's allocator (src/CMakeLists.txt, docs/performance.md)
  clang-14 libclang-rt-14-dev clang-format-14
  clang-16 libclang-rt-16-dev  # libFuzzer build (scripts/fuzz.sh, docs/fuzzing.md)
  python3 python3-venv
  openjdk-17-jre-headless maven curl netcat-openbsd procps
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python reference peers and baselines live in a virtualenv outside the repo.
if [ -x "$here/setup_python.sh" ] && [ "${TIDELINE_SKIP_PYTHON:-0}" != "1" ]; then
  "$here/setup_python.sh"
fi
