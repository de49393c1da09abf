"""Give the C heap's freed pages back to the OS while a model is quantised (glibc; a no-op elsewhere).

Quantising one Linear allocates fp32 temporaries of up to ~17 MB and keeps an int8 / int4 tensor of
a few to 25 MB. glibc's malloc serves blocks below its mmap threshold from its heap, and the
threshold rises (up to 32 MB) to the size of the largest mapped block freed, so after the first
few layers both the temporaries and the kept tensors come from the heap, interleaved. The freed
temporaries then sit as holes between kept tensors: the heap only shrinks from its top, so those
pages stay resident. Measured on the Qwen3-4B shape (Sapphire-Rapids-class Xeon, 2 vCPU): ~0.6 GB
still resident after an int8 load that holds 4.0 GB of weights. `malloc_trim(0)` also releases
whole free pages in the middle of the heap (MADV_DONTNEED), so calling it after each quantised
layer keeps the resident heap to what is live.

Other C libraries (musl, macOS, Windows) have no malloc_trim: `trim` then does nothing and says so.
"""

from __future__ import annotations

import ctypes
import platform
from functools import cache


@cache
def _malloc_trim() -> object | None:
    """glibc's malloc_trim, or None where the C library is another one."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        func = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    func.argtypes, func.restype = [ctypes.c_size_t], ctypes.c_int
    return func


def available() -> bool:
    return _malloc_trim() is not None


def trim() -> bool:
    """Release the heap's free pages to the OS; True if any were (False also where unsupported)."""
    func = _malloc_trim()
    return bool(func(0)) if func is not None else False
