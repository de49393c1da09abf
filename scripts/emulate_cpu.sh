#!/usr/bin/env bash
# Run tests as another x86-64 CPU would: an AVX2-only Zen 3 by default, on any x86-64 Linux machine.
#
#   bash scripts/emulate_cpu.sh                          # the kernel tests, as an AMD Zen 3 (EPYC-Milan)
#   EMULATED_CPU=Haswell bash scripts/emulate_cpu.sh tests/test_quant.py -k int8
#   EMULATED_CPUINFO=host bash scripts/emulate_cpu.sh    # /proc/cpuinfo keeps this machine's flags (not its vendor)
#
# How: qemu-user (Debian's qemu-user) runs the pytest process on QEMU's CPU model EMULATED_CPU, so
# CPUID reports that model (QEMU's software CPU has no AVX512 at all; EPYC-Milan = AVX2 + FMA + F16C,
# no AVX-VNNI), and an instruction the model lacks kills the process with SIGILL instead of running.
# A private mount namespace shows a /proc/cpuinfo whose flags line is what the emulated CPUID reports
# (probed by a small C program run on the same model), so the studio's flag check and torch's CPUID
# check agree, as on a real machine of that kind (its vendor_id too). EMULATED_CPUINFO=host leaves this machine's
# /proc/cpuinfo in place: a VM or emulator that lists flags CPUID hides, which the kernels must survive.
#
# Needs root (the namespace's bind mount) and time: about 10x slower than native (the default set, the
# fused-kernel, streamed-load, fast-path, decode-op and prefix-cache tests, takes ~7 minutes on 2 cores). Only the
# pytest process is emulated: subprocesses it starts (the compiler, a studio.py) run natively, seeing
# the emulated /proc/cpuinfo, so use it for in-process tests. Not part of scripts/test.sh or CI.
set -euo pipefail
cd "$(dirname "$0")/.."
CPU="${EMULATED_CPU:-EPYC-Milan}"
PY="${PYTHON:-.venv/bin/python}"
[ "$#" -gt 0 ] || set -- tests/test_quant.py tests/test_qload.py tests/test_fastpath.py tests/test_decode_ops.py tests/test_prefix_cache.py
command -v qemu-x86_64 >/dev/null || apt-get install -y -q qemu-user >/dev/null
tmp="$(mktemp -d -t studio-emulated-XXXX)"
trap 'rm -rf "$tmp"' EXIT

# The emulated CPUID, in /proc/cpuinfo's names: GCC's __builtin_cpu_supports asks CPUID and XGETBV.
cat > "$tmp/probe.c" <<'C'
#include <stdio.h>
#define F(gcc, linux_name) if (__builtin_cpu_supports(gcc)) printf(" %s", linux_name);
int main(int argc, char** argv) {
  __builtin_cpu_init();
  if (argc > 1) {  /* the vendor, in /proc/cpuinfo's words */
    puts(__builtin_cpu_is("amd") ? "AuthenticAMD" : __builtin_cpu_is("intel") ? "GenuineIntel" : "unknown");
    return 0;
  }
  F("sse", "sse") F("sse2", "sse2") F("sse3", "pni") F("ssse3", "ssse3") F("sse4.1", "sse4_1")
  F("sse4.2", "sse4_2") F("popcnt", "popcnt") F("avx", "avx") F("avx2", "avx2") F("fma", "fma")
  F("f16c", "f16c") F("bmi", "bmi1") F("bmi2", "bmi2") F("avxvnni", "avx_vnni") F("avx512f", "avx512f")
  F("avx512bw", "avx512bw") F("avx512vl", "avx512vl") F("avx512dq", "avx512dq") F("avx512cd", "avx512cd")
  F("avx512vnni", "avx512_vnni") F("avx512bf16", "avx512_bf16")
  printf("\n");
  return 0;
}
C
gcc -O1 -o "$tmp/probe" "$tmp/probe.c"
flags="$(qemu-x86_64 -cpu "$CPU" "$tmp/probe" 2>/dev/null)"
vendor="$(qemu-x86_64 -cpu "$CPU" "$tmp/probe" vendor 2>/dev/null)"
echo "emulated CPU: QEMU $CPU; CPUID flags:$flags" >&2

# The vendor is always CPUID's (a VM passes it through; the kernels route prompts by it); flags and
# model name too unless EMULATED_CPUINFO=host.
cpuinfo="$tmp/cpuinfo"
HOST="${EMULATED_CPUINFO:-emulated}" FLAGS="$flags" MODEL="QEMU-emulated $CPU" VENDOR="$vendor" awk '
  /^vendor_id[ \t]*:/                              { print "vendor_id\t: " ENVIRON["VENDOR"]; next }
  ENVIRON["HOST"] != "host" && /^flags[ \t]*:/      { print "flags\t\t:" ENVIRON["FLAGS"]; next }
  ENVIRON["HOST"] != "host" && /^model name[ \t]*:/ { print "model name\t: " ENVIRON["MODEL"]; next }
  { print }' /proc/cpuinfo > "$cpuinfo"
# shellcheck disable=SC2016  # expanded by the inner shell
unshare -m sh -c 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"' sh "$cpuinfo" \
  qemu-x86_64 -cpu "$CPU" "$PY" -m pytest -q -rs -p no:cacheprovider "$@" 2> >(grep -v "TCG doesn't support" >&2)
