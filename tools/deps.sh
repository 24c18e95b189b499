#!/usr/bin/env bash
# Installs the Debian packages Shoal builds and tests with. Sourced by
# tools/test and tools/up. As root it runs apt-get; otherwise it prints the
# one command to run and fails.
shoal_packages=(
  build-essential cmake ninja-build pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev liblmdb-dev lmdb-utils libsodium-dev redis-server redis-tools
  libboost-dev libboost-program-options-dev libgoogle-perftools-dev
  catch2 libbenchmark-dev libxxhash-dev libspdlog-dev libfmt-dev libreadline-dev
  python3-zmq python3-msgpack python3-redis
  clang-14 libclang-rt-14-dev
  iptables iproute2 faketime
)

shoal_missing_packages() {
  local missing=() p
  for p in "${shoal_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  echo "${missing[@]}"
}

shoal_install_deps() {
  local missing
  missing=$(shoal_missing_packages)
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Shoal needs these Debian packages; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $missing" >&2
    return 1
  fi
  echo "Installing missing packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null
}
