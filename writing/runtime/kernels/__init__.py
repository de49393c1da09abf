"""Optional fused int8/int4 kernels (C++, AVX512-VNNI), built on first use with torch's extension tools.

`load()` returns True when `torch.ops.studio_qmm` is ready. It builds once per machine into
~/.cache/writing-studio/kernels (about a minute on 2 cores; needs a C++ compiler and ninja) and
only on CPUs with the instructions the kernel uses; anything else returns False with a reason in
`why_not()`, and writing.runtime.quant falls back to torch's stock kernels.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

NEEDED_FLAGS = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "f16c", "fma"})
_CFLAGS = ["-O3", "-fopenmp", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni",
           "-mavx512bf16", "-mf16c", "-mfma"]
_SOURCE = Path(__file__).with_name("qmm.cpp")
_lock = threading.Lock()
_state: dict[str, object] = {}


def build_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "writing-studio" / "kernels"


def why_not() -> str:
    """Why the fused kernels are not in use ("" when they are)."""
    return str(_state.get("why", ""))


def load(*, verbose: bool = False) -> bool:
    """Build (first time) and load the kernels; False, with why_not() set, where they cannot run."""
    with _lock:
        if "ok" in _state:
            return bool(_state["ok"])
        _state["ok"], _state["why"] = _load(verbose=verbose)
        return bool(_state["ok"])


def _load(*, verbose: bool) -> tuple[bool, str]:
    if os.environ.get("STUDIO_NO_KERNELS"):
        return False, "disabled by STUDIO_NO_KERNELS"
    from writing.runtime.cpu import cpu_flags

    missing = sorted(NEEDED_FLAGS - cpu_flags())
    if missing:
        return False, f"this CPU lacks {', '.join(missing)}"
    import torch

    if hasattr(torch.ops, "studio_qmm") and hasattr(torch.ops.studio_qmm, "q8_mm"):
        return True, ""
    try:
        from torch.utils.cpp_extension import load as build

        folder = build_dir()
        folder.mkdir(parents=True, exist_ok=True)
        # OpenMP pragmas compile in, but libgomp is not linked: the symbols resolve to the copy
        # torch already loaded, so the kernel shares torch's thread pool instead of a second one.
        build(name="studio_qmm", sources=[str(_SOURCE)], extra_cflags=_CFLAGS, build_directory=str(folder),
              is_python_module=False, verbose=verbose)
    except Exception as exc:  # noqa: BLE001 - no compiler, no ninja, odd toolchain: fall back, say why
        return False, f"could not build the kernel: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    _register_fakes(torch)
    return True, ""


def _register_fakes(torch) -> None:
    """Shape-only versions of the ops, so torch.compile can trace through them."""
    fake = torch.library.register_fake
    fake("studio_qmm::q8_mm")(lambda x, w, scales: x.new_empty((x.shape[0], w.shape[0])))
    fake("studio_qmm::q4_mm")(lambda x, w, d, mn: x.new_empty((x.shape[0], w.shape[0])))
    fake("studio_qmm::q8_dequant")(lambda w, scales: w.new_empty(w.shape, dtype=torch.bfloat16))
    fake("studio_qmm::q4_dequant")(lambda w, d, mn: w.new_empty((w.shape[0], w.shape[1] * 2), dtype=torch.bfloat16))
