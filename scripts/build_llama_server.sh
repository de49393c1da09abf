#!/usr/bin/env bash
# Install llama-cpp-python[server] (a real OpenAI-compatible server for the remote-engine tests),
# built from source by pip, with the built wheel cached so CI builds it once per machine type.
#
#   bash scripts/build_llama_server.sh [PYTHON]      (PYTHON defaults to .venv/bin/python)
#
# Why clang: Debian 12's gcc 12 miscompiles llama.cpp's AMX tile-config load with -march=native,
# which crashes quantized kernels on Sapphire Rapids. clang-19 (Debian bookworm) builds it correctly.
# Without clang we fall back to gcc with GGML_NATIVE=OFF and AMX off (slower, but correct).
# The build is native (-march=native), so the cache key includes the CPU's feature flags: a wheel
# built on one CPU type is never installed on another.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${WRITING_STUDIO_WHEELS:-$HOME/.cache/writing-studio/wheels}"

if command -v clang-19 >/dev/null 2>&1; then
    COMPILER="-DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19"
elif command -v clang >/dev/null 2>&1; then
    COMPILER="-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++"
else
    COMPILER="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
fi
# LLAVA_BUILD=OFF: the multimodal library is not needed to serve text and adds minutes of build.
CMAKE_ARGS="${CMAKE_ARGS:-$COMPILER -DLLAVA_BUILD=OFF}"
export CMAKE_ARGS

pytag="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
cpuflags="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"
key="$(printf '%s|%s|%s|%s' "$VERSION" "$pytag" "$CMAKE_ARGS" "$cpuflags" | sha256sum | cut -c1-16)"
dir="$CACHE/$key"

wheel="$(ls "$dir"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $VERSION from source ($CMAKE_ARGS) into $dir; this takes 10-20 min on 2 cores" >&2
    mkdir -p "$dir.tmp"
    # nice + two parallel jobs: the build shares the machine with everything else.
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" nice -n 10 \
        "$PY" -m pip wheel --no-deps --no-binary llama-cpp-python -w "$dir.tmp" "llama-cpp-python==$VERSION"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"   # publish atomically: a half-built cache is never used
    printf 'version=%s\npython=%s\ncmake_args=%s\n' "$VERSION" "$pytag" "$CMAKE_ARGS" > "$dir/BUILD_INFO"
    wheel="$(ls "$dir"/llama_cpp_python-"$VERSION"-*.whl | head -n1)"
else
    echo "using cached wheel $wheel" >&2
fi
"$PY" -m pip install -q "${wheel}[server]"
"$PY" -c 'import llama_cpp, llama_cpp.server; print("llama-cpp-python", llama_cpp.__version__)'
