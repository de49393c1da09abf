"""Give back the calling thread's OpenMP worker threads (torch's libgomp), so the model thread spins alone.

torch runs its parallel regions on an OpenMP team owned by the thread that calls them. The studio
loads the model on one thread and generates on another, so two teams exist. libgomp counts every
worker of every team, and once they outnumber the CPUs it "throttles": idle workers spin ~100 times
instead of ~300,000 before sleeping, so each of the ~500 parallel regions of a decode step pays a
futex wake-up. Measured on the 2-core bench machine, Qwen3-4B int8: 3.9-4.2 tok/s with the loading
thread's team alive, 5.9-6.2 tok/s after releasing it (tests/test_omp.py; bench/run.py).
`omp_pause_resource_all(omp_pause_hard)` (OpenMP 5.0) frees the calling thread's team.
"""

from __future__ import annotations

import ctypes
import glob
import os

OMP_PAUSE_HARD = 2


def _libgomp() -> ctypes.CDLL | None:
    import torch

    found = sorted(glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libgomp*.so*")))
    if not found:
        return None  # a torch built with another OpenMP (macOS, Windows): nothing to release
    try:
        return ctypes.CDLL(found[0])  # already loaded by torch: this returns the same library
    except OSError:
        return None


def release_thread_pool() -> bool:
    """Free this thread's OpenMP workers (they are re-created if it computes again). True if released."""
    lib = _libgomp()
    if lib is None or not hasattr(lib, "omp_pause_resource_all"):
        return False
    return lib.omp_pause_resource_all(OMP_PAUSE_HARD) == 0
