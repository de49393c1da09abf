#!/usr/bin/env bash
# System tools the tests drive for real: Debian's Chromium (browser tests, via Playwright's
# executable_path; Playwright's own browser download is not used) and clang-19 + cmake to build
# llama-cpp-python's server from source (remote-engine tests; wheel cached by the build script).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v clang-19 >/dev/null 2>&1 || need+=(clang-19)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
if [ "${#need[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing with apt-get: ${need[*]}" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
bash scripts/build_llama_server.sh .venv/bin/python
