"""What this machine is: CPU model and instruction flags, free RAM, this process's RSS.

The one reader of /proc in the studio. Every function degrades to "unknown" (empty set, "", None,
0) where /proc is missing or different (macOS, Windows; ARM Linux lists "Features", not "flags"),
so callers fall back instead of failing to import or start.
"""

from __future__ import annotations

import platform
from pathlib import Path


def _proc_lines(name: str) -> list[str]:
    try:
        return Path("/proc", name).read_text().splitlines()
    except OSError:
        return []


def _first_field(name: str, key: str) -> str | None:
    """The value after ':' of the first line of /proc/<name> that starts with `key`."""
    for line in _proc_lines(name):
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return None


def cpu_flags() -> set[str]:
    """x86 instruction-set flags of CPU 0 (avx2, avx512_vnni, ...); empty where unknown."""
    return set((_first_field("cpuinfo", "flags") or "").split())


def cpu_vendor() -> str:
    """"amd", "intel" or "other", from the vendor_id line ("other" where unknown)."""
    vendor_id = _first_field("cpuinfo", "vendor_id") or ""
    return {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(vendor_id, "other")


def cpu_model() -> str:
    """The CPU's marketing name ("AMD EPYC 7B13"), "" where unknown."""
    return _first_field("cpuinfo", "model name") or ""


def available_ram_bytes() -> int | None:
    """MemAvailable: what can be allocated without swapping; None where unknown."""
    value = _first_field("meminfo", "MemAvailable")
    return int(value.split()[0]) * 1024 if value else None


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM); 0 where unknown.

    Unlike getrusage's ru_maxrss, which Linux carries across exec from the parent that forked, this
    is the process's own high-water mark (the bench's child processes start from a large parent).
    """
    value = _first_field("self/status", "VmHWM")
    return int(value.split()[0]) * 1024 if value else 0


def current_rss_bytes() -> int:
    """This process's resident memory now (VmRSS); 0 where unknown."""
    value = _first_field("self/status", "VmRSS")
    return int(value.split()[0]) * 1024 if value else 0


def machine() -> str:
    """The architecture as Python reports it: "x86_64", "AMD64" (Windows), "arm64", "aarch64", ..."""
    return platform.machine() or "unknown"


def is_x86_64() -> bool:
    return machine().lower() in ("x86_64", "amd64")


def cpu_class(flags: set[str] | None = None, *, arch: str | None = None) -> str:
    """A short name for what the CPU can do, for start-up lines and the bench ("x86-64 AVX2 + AVX-VNNI")."""
    arch = arch or machine()
    if arch.lower() not in ("x86_64", "amd64"):
        return f"{arch} (no x86 vector kernels)"
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return "x86-64 (instruction flags unknown)"
    if {"avx512f", "avx512_vnni", "avx512_bf16"} <= flags:
        return "x86-64 AVX512-VNNI/BF16" + (" + AMX" if "amx_bf16" in flags else "")
    if "avx512f" in flags:
        return "x86-64 AVX512 (no BF16)" + (" + AVX-VNNI" if "avx_vnni" in flags else "")
    if "avx2" in flags:
        return "x86-64 AVX2" + (" + AVX-VNNI" if "avx_vnni" in flags else "")
    return "x86-64 without AVX2"
