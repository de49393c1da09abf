"""What this machine is: CPU model and instruction flags, free RAM, this process's RSS, its huge pages.

The one reader of /proc (and of /sys's transparent-huge-page setting) in the studio. Every function
degrades to "unknown" (empty set, "", None, 0) where /proc is missing or different (macOS, Windows; ARM
Linux lists "Features", not "flags"), so callers fall back instead of failing to import or start.
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


# Family / model numbers -> generation, for the bench's header: a VM often shows only "AMD EPYC" or
# "Intel(R) Xeon(R) Processor" as the model name. AMD by family (and model range within 0x19); Intel
# family 6 by model. Ranges from AMD's and Intel's published family/model tables; unknown ones print as
# numbers only.
_AMD_FAMILIES = {0x17: "Zen 1/Zen 2", 0x1A: "Zen 5"}
_AMD_19H_ZEN4_MODELS = (range(0x10, 0x20), range(0x60, 0xB0))  # the rest of family 0x19 is Zen 3
_INTEL_FAMILY6 = {0x55: "Skylake-SP/Cascade Lake", 0x6A: "Ice Lake-SP", 0x8F: "Sapphire Rapids",
                  0xCF: "Emerald Rapids", 0xAD: "Granite Rapids", 0x97: "Alder Lake", 0x9A: "Alder Lake",
                  0xB7: "Raptor Lake", 0xBA: "Raptor Lake", 0xBF: "Raptor Lake", 0xAA: "Meteor Lake",
                  0x9E: "Coffee Lake", 0x8E: "Kaby/Whiskey/Comet Lake", 0xA5: "Comet Lake", 0x7E: "Ice Lake",
                  0x8C: "Tiger Lake", 0xA7: "Rocket Lake", 0x3C: "Haswell", 0x3F: "Haswell-EP", 0x4F: "Broadwell-EP"}


def cpu_generation() -> str:
    """The CPU's generation, e.g. "AMD family 26 model 2 (Zen 5)"; "" where /proc/cpuinfo lacks them (ARM)."""
    family, model = _first_field("cpuinfo", "cpu family"), _first_field("cpuinfo", "model\t")
    if family is None or model is None or not (family.isdigit() and model.isdigit()):
        return ""
    vendor, fam, mod = cpu_vendor(), int(family), int(model)
    name = ""
    if vendor == "amd":
        zen4 = fam == 0x19 and any(mod in models for models in _AMD_19H_ZEN4_MODELS)
        name = "Zen 4" if zen4 else "Zen 3" if fam == 0x19 else _AMD_FAMILIES.get(fam, "")
    elif vendor == "intel" and fam == 6:
        name = _INTEL_FAMILY6.get(mod, "")
    label = {"amd": "AMD", "intel": "Intel"}.get(vendor, "x86")
    return f"{label} family {fam} model {mod}" + (f" ({name})" if name else "")


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


def huge_page_bytes() -> int:
    """This process's memory on transparent huge pages (AnonHugePages); 0 where unknown."""
    value = _first_field("self/smaps_rollup", "AnonHugePages")
    return int(value.split()[0]) * 1024 if value else 0


THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def huge_page_mode(setting: Path = THP_SETTING) -> str:
    """The system's transparent-huge-page mode: "always", "madvise", "never", or "unknown" (not Linux)."""
    try:
        text = setting.read_text()
    except OSError:
        return "unknown"
    chosen = text[text.find("[") + 1: text.find("]")] if "[" in text and "]" in text else ""
    return chosen if chosen in ("always", "madvise", "never") else "unknown"


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
