#!/usr/bin/env bash
# Run a command as on an AVX2-only CPU (AMD Zen 3 flags), natively, on a bigger x86-64 Linux machine:
#
#   bash scripts/as_avx2.sh bash scripts/test.sh          # the whole suite
#   bash scripts/as_avx2.sh .venv/bin/python studio.py    # the start-up line and defaults an AVX2 writer gets
#
# A private mount namespace shows every process of the command a /proc/cpuinfo whose flags are a Zen 3's
# (avx2 fma f16c, no avx512, no avx_vnni), so the studio picks its avx2 path, fp32 activations and int8 on
# its own, as it would there; torch's own kernels are capped to AVX2 by their environment variables.
# What it cannot change is CPUID: code that asks the CPU directly (llama.cpp's native build) still sees
# this machine. scripts/emulate_cpu.sh emulates CPUID too, for the in-process kernel tests. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || { echo "usage: bash scripts/as_avx2.sh COMMAND [ARGS...]" >&2; exit 2; }
ZEN3="fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht
syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid pni
pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm
cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext invpcid_single ssbd ibrs ibpb stibp
vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt
xsavec xgetbv1 xsaves clzero xsaveerptr rdpru wbnoinvd arat npt nrip_save umip pku ospke vaes vpclmulqdq
rdpid fsrm"
tmp="$(mktemp -d -t studio-avx2-XXXX)"
trap 'rm -rf "$tmp"' EXIT
FLAGS="$(echo $ZEN3)" awk '
  /^flags[ \t]*:/      { print "flags\t\t: " ENVIRON["FLAGS"]; next }
  /^model name[ \t]*:/ { print $0 " (imitating an AVX2-only AMD Zen 3)"; next }
  { print }' /proc/cpuinfo > "$tmp/cpuinfo"
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
# shellcheck disable=SC2016  # expanded by the inner shell
unshare -m sh -c 'mount --bind "$1" /proc/cpuinfo && shift && exec "$@"' sh "$tmp/cpuinfo" "$@"
