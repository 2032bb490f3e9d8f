#!/usr/bin/env bash
# Installs the Debian 12 packages agentring builds and tests with, only those that are missing.
# Idempotent and quiet when everything is already there. Later features append to PACKAGES.
set -euo pipefail

PACKAGES=(
  build-essential cmake make pkg-config
  libboost1.81-dev                   # Interprocess (segment), Asio/Beast (HTTP), headers
  libboost-program-options1.81-dev   # command-line parsing for the reader and the CLI
  libboost-json1.81-dev              # parsing OTLP JSON files (agentring tree)
  libflatbuffers-dev flatbuffers-compiler  # 64-byte ring records are FlatBuffers structs
  libgtest-dev libgmock-dev googletest     # unit and integration tests
  libbenchmark-dev                   # Google Benchmark
  zlib1g-dev                         # gzip for exporters
  libyaml-cpp-dev                    # the reader's config file (--config FILE, tail_sampling:)
  libssl-dev                         # HTTPS for the OTLP exporter (Boost.Asio SSL)
  openssl                            # makes the certificates of the OTLP HTTPS tests
  libjemalloc-dev                    # the reader's allocator: spans are built on one thread and
                                     # freed on the export thread, which glibc malloc serialises
  python3                            # the integration harness helpers and the Python package
  prometheus                         # promtool: the tests run `promtool check metrics` on /metrics
  libasan8 libubsan1 libtsan2        # gcc's sanitizer runtimes (make test-asan, make test-tsan)
  clang-14 libclang-rt-14-dev        # libFuzzer and clang's sanitizer runtimes (make fuzz)
  llvm                               # llvm-symbolizer: source lines in sanitizer reports
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
