"""Fused int8/int4/bf16 CPU kernels (C++), one extension with several instruction paths.

Paths, best first (each needs the CPU flags in NEEDS, read from /proc/cpuinfo; the C++ side checks
CPUID again, and a path CPUID refuses (a VM or emulator whose /proc/cpuinfo shows the host's flags)
is dropped for the next one down instead of the whole library):

    avx512     AVX512-VNNI + AVX512-BF16 (Sapphire Rapids, Zen 4/5)
    avx2_vnni  AVX2 + FMA + F16C + AVX-VNNI (Intel 12th gen and later)
    avx2       AVX2 + FMA + F16C (Haswell .. 11th gen, Zen 1-3)
    stock      no fused kernel: torch's own kernels (ARM64, old x86, no compiler)

All paths are compiled into one extension (per-function target attributes, see qmm.h), built on
first use with torch's extension tools into ~/.cache/writing-studio/kernels (about a minute on 2
cores; needs a C++ compiler and ninja), and the best path the CPU runs is chosen at run time.
STUDIO_KERNEL_PATH=avx512|avx2_vnni|avx2|stock caps the choice (tests, the bench, or a CPU class
to imitate): the named path is used and only it and the paths below it count as runnable; a path
this CPU cannot run is refused with KernelPathError. STUDIO_NO_KERNELS=1 is the same as stock.
On anything but x86-64 nothing is built and the stock path is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from writing.errors import StudioError

PATHS = ("avx512", "avx2_vnni", "avx2")  # best first
STOCK = "stock"
ENV = "STUDIO_KERNEL_PATH"
NEEDS = {
    "avx512": frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "avx2", "fma",
                         "f16c"}),
    "avx2_vnni": frozenset({"avx2", "fma", "f16c", "avx_vnni"}),
    "avx2": frozenset({"avx2", "fma", "f16c"}),
}
DESCRIPTIONS = {
    "avx512": "AVX512-VNNI int8/int4, AVX512-BF16 bf16",
    "avx2_vnni": "AVX2 + AVX-VNNI int8/int4, AVX2 bf16",
    "avx2": "AVX2 + FMA int8/int4/bf16",
    STOCK: "torch's stock kernels",
}
_FOLDER = Path(__file__).parent
_SOURCES = [_FOLDER / "qmm.cpp", _FOLDER / "qmm_avx512.cpp", _FOLDER / "qmm_avx2.cpp", _FOLDER / "decode_ops.cpp"]
_INCLUDED = [_FOLDER / "qmm.h", _FOLDER / "qmm_avx2.inc", _FOLDER / "qmm_q4strip.inc"]
_lock = threading.Lock()
_state: dict[str, object] = {}
_refused: dict[str, str] = {}  # path -> why CPUID refused it (set by load())


class KernelPathError(StudioError, ValueError):
    """STUDIO_KERNEL_PATH names a path that does not exist or that this CPU cannot run."""


def build_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "writing-studio" / "kernels"


def cpu_paths(flags: set[str] | None = None) -> dict[str, str]:
    """Every fused path -> "" if this CPU can run it, else why not ("lacks avx512_vnni, avx512_bf16")."""
    from writing.runtime.cpu import cpu_flags, is_x86_64, machine

    if not is_x86_64():
        return {path: f"not an x86-64 CPU ({machine()})" for path in PATHS}
    this_cpu = flags is None  # CPUID's refusals (load()) hold for this machine, not for given flags
    flags = cpu_flags() if this_cpu else flags
    out = {}
    for path in PATHS:
        missing = sorted(NEEDS[path] - flags)
        out[path] = f"lacks {', '.join(missing)}" if missing else ""
        if not missing and this_cpu and path in _refused:
            out[path] = _refused[path]
    return out


def forced_path() -> str | None:
    """The path STUDIO_KERNEL_PATH (or STUDIO_NO_KERNELS) asks for; None when unset. Refuses impossible ones."""
    if os.environ.get("STUDIO_NO_KERNELS"):
        return STOCK
    value = os.environ.get(ENV, "").strip().lower()
    if not value:
        return None
    if value not in (*PATHS, STOCK):
        raise KernelPathError(f"{ENV}={value!r}: choose one of {', '.join((*PATHS, STOCK))}")
    if value != STOCK and (why := cpu_paths()[value]):
        runnable = [p for p, reason in cpu_paths().items() if not reason] + [STOCK]
        raise KernelPathError(f"{ENV}={value}: this CPU cannot run the {value} path ({why}); "
                              f"paths it can run: {', '.join(runnable)}")
    return value


def runnable_paths() -> list[str]:
    """Fused paths this process may use, best first: what the CPU runs, capped by STUDIO_KERNEL_PATH."""
    forced = forced_path()
    if forced == STOCK:
        return []
    allowed = PATHS[PATHS.index(forced):] if forced else PATHS
    return [path for path, why in cpu_paths().items() if not why and path in allowed]


def unavailable_paths() -> dict[str, str]:
    """Fused paths this process will not use -> why (for the test summary and the bench)."""
    forced = forced_path()
    runnable = runnable_paths()
    out = {}
    for path, why in cpu_paths().items():
        if path in runnable:
            continue
        out[path] = why or f"above {ENV}={forced}"
    return out


def native_bf16() -> bool:
    """bf16 GEMM runs natively here (avx512_bf16 / amx_bf16), and no AVX2-class path is forced.

    Forcing avx2 or avx2_vnni imitates those CPUs fully: prompts then take the fp32 route they would.
    """
    from writing.runtime.cpu import cpu_flags

    if os.environ.get(ENV, "").strip().lower() in ("avx2", "avx2_vnni"):
        return False
    if not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return False
    load()  # CPUID's word (refuse_by_cpuid): a VM may list avx512_bf16 in /proc/cpuinfo and hide it
    return "avx512" not in _refused


def attempted() -> bool:
    """load() has run in this process (so why_not() means something)."""
    return "ok" in _state


def why_not() -> str:
    """Why the fused kernels are not in use ("" when they are)."""
    return str(_state.get("why", ""))


def active_path() -> str:
    """The path in use (loading the kernels first): one of PATHS, or "stock"."""
    load()
    return current_path()


def current_path() -> str:
    """The path in use without loading anything ("stock" before load()): cheap, for every forward call."""
    return str(_state.get("path", STOCK))


def describe() -> str:
    """One line for start-up and the bench: the path in use and why."""
    path = active_path()
    if path == STOCK:
        return f"kernel path stock ({DESCRIPTIONS[STOCK]}: {why_not()})"
    how = f"forced by {ENV}" if os.environ.get(ENV) else "the best this CPU runs"
    return f"kernel path {path} ({DESCRIPTIONS[path]}; {how}; {prompt_route()})"


def prompt_route() -> str:
    """How the active fused path multiplies int8 and int4 prompt rows (int8's range depends on the CPU's vendor)."""
    import torch

    low, high = torch.ops.studio_qmm.q8_gemm_rows()
    q4_from = torch.ops.studio_qmm.q4_gemm_from()
    if not low or not q4_from:  # the avx512 path: prompts take oneDNN's native bf16 GEMM
        return "prompts: dequantised for torch's GEMM"
    vendor = torch.ops.studio_qmm.cpu_vendor()
    rows = f"{low}-{high} rows" if high else f"{low} rows and more"
    return f"int8 prompts of {rows} on the int8 GEMM ({vendor} CPU), int4 from {q4_from} rows on the int4 GEMM"


def load(*, verbose: bool = False) -> bool:
    """Build (first time) and load the kernels, select the path; False, with why_not() set, where none runs."""
    with _lock:
        if "ok" in _state:
            return bool(_state["ok"])
        _state["ok"], _state["why"] = _load(verbose=verbose)
        if _state["ok"]:
            _state["path"] = runnable_paths()[0]
        return bool(_state["ok"])


def _load(*, verbose: bool) -> tuple[bool, str]:
    paths = runnable_paths()  # raises KernelPathError for an impossible STUDIO_KERNEL_PATH
    if not paths:
        forced = forced_path()
        if forced == STOCK:
            return False, f"{ENV}=stock" if not os.environ.get("STUDIO_NO_KERNELS") else "disabled by STUDIO_NO_KERNELS"
        from writing.runtime.cpu import cpu_class

        return False, f"no fused path for this CPU ({cpu_class()}: {cpu_paths()['avx2']})"
    import torch

    if not (hasattr(torch.ops, "studio_qmm") and hasattr(torch.ops.studio_qmm, "set_path")):
        try:
            from torch.utils.cpp_extension import load as build

            # One folder per version of the sources (headers included): two studios of different
            # versions on one machine (or an upgrade while an old one runs) never load each other's
            # half-rebuilt library. OpenMP pragmas compile in, but libgomp is not linked: the symbols
            # resolve to the copy torch already loaded, so the kernels share torch's thread pool.
            digest = hashlib.sha1(b"".join(f.read_bytes() for f in [*_SOURCES, *_INCLUDED])).hexdigest()[:12]
            folder = build_dir() / digest
            folder.mkdir(parents=True, exist_ok=True)
            build(name="studio_qmm", sources=[str(s) for s in _SOURCES], build_directory=str(folder),
                  extra_cflags=["-O3", "-fopenmp"], is_python_module=False, verbose=verbose)
        except Exception as exc:  # noqa: BLE001 - no compiler, no ninja, odd toolchain: fall back, say why
            return False, f"could not build the kernel: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        _register_fakes(torch)
    if not hasattr(torch.ops.studio_qmm, "cpu_lacks"):  # a library of another studio version is loaded
        return False, "the loaded kernel library is from another version of the studio: restart it"
    refuse_by_cpuid(paths, torch.ops.studio_qmm.cpu_lacks)
    if not (usable := runnable_paths()):
        refused = "; ".join(f"{path}: {_refused[path]}" for path in paths)
        return False, f"CPUID refused every path /proc/cpuinfo allows ({refused})"
    torch.ops.studio_qmm.set_path(usable[0])
    return True, ""


def refuse_by_cpuid(paths: list[str], cpuid_lacks: Callable[[str], str]) -> None:
    """Drop the paths CPUID says this CPU cannot run, whatever /proc/cpuinfo listed.

    CPUID (with the OS's register-state support) is the last word: a VM or an emulator may show the
    host's flags in /proc/cpuinfo while hiding the instructions. The next path down is used instead.
    """
    for path in paths:
        if lacks := cpuid_lacks(path):
            _refused[path] = f"/proc/cpuinfo lists it, but CPUID says the CPU lacks {lacks}"


@contextlib.contextmanager
def use_path(path: str) -> Iterator[None]:
    """Run a block on another fused path (tests, the bench); must be one of runnable_paths()."""
    if path not in runnable_paths():
        raise KernelPathError(f"path {path} is not runnable here ({unavailable_paths().get(path, 'unknown path')})")
    if not load():
        raise KernelPathError(f"kernels unavailable: {why_not()}")
    import torch

    before = current_path()
    torch.ops.studio_qmm.set_path(path)
    _state["path"] = path
    try:
        yield
    finally:
        torch.ops.studio_qmm.set_path(before)
        _state["path"] = before


def _register_fakes(torch) -> None:
    """Shape-only versions of the ops, so torch.compile can trace through them."""
    fake = torch.library.register_fake
    fake("studio_qmm::q8_mm")(lambda x, w, scales: x.new_empty((x.shape[0], w.shape[0])))
    fake("studio_qmm::q4_mm")(lambda x, w, d, mn: x.new_empty((x.shape[0], w.shape[0])))
    fake("studio_qmm::q8_dequant")(lambda w, scales: w.new_empty(w.shape, dtype=torch.bfloat16))
    fake("studio_qmm::q4_dequant")(lambda w, d, mn: w.new_empty((w.shape[0], w.shape[1] * 2), dtype=torch.bfloat16))
    fake("studio_qmm::bf16_mm")(lambda x, w: x.new_empty((x.shape[0], w.shape[0])))
    fake("studio_qmm::attn_scores")(lambda q, k, scale: q.new_empty((1, k.shape[1], q.shape[1] // k.shape[1],
                                                                      k.shape[2])))
    fake("studio_qmm::rms_norm")(lambda x, w, eps: torch.empty_like(x))
    fake("studio_qmm::add_rms_norm")(lambda h, o, w, eps: (torch.empty_like(h), torch.empty_like(h)))
    fake("studio_qmm::norm_rope")(lambda x, w, cos, sin, eps: x.new_empty((x.numel() // w.numel(), w.numel())))
    fake("studio_qmm::attn_mix")(lambda p, v: p.new_empty((1, p.shape[1] * p.shape[2], 1, v.shape[3])))
