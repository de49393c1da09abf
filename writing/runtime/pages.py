"""2 MB pages for the model's weights (Linux transparent huge pages), where the system leaves it to programs.

A decode step reads every weight once: 2.7 GB (int4) to 4 GB (int8) for Qwen3-4B, about a million 4 KB
pages a token. With 2 MB pages the TLB covers a whole layer and the hardware prefetchers, which stop at
every 4 KB boundary, stream on. Measured with `python -m bench.pages` (the decode GEMVs of 12 copies of one
Qwen3-4B block, the same weights on either page size, alternating in one process, median of 12 rounds; AMD
EPYC Zen 5, 2 vCPU, 2026-12-02): 2 MB pages 1.13x (int4) and 1.15x (int8) faster on the avx512 path,
1.11x and 1.20x on the avx2 path.

Most Linux distributions set transparent huge pages to "madvise": a program gets them only for memory it
asks for. torch's CPU allocator asks for every allocation of 2 MB or more (it aligns it to 2 MB and calls
madvise(MADV_HUGEPAGE)) when THP_MEM_ALLOC_ENABLE=1 is in the environment, and it reads that once, at its
first allocation. So `enable()` runs when the `writing` package is imported, before any of its modules
imports torch; a process that imported torch first keeps 4 KB pages (nothing breaks). Set
THP_MEM_ALLOC_ENABLE=0 to opt out. Where THP is "always" or "never", this changes nothing.
Peak memory did not grow: bench.run's int8 / int4 peak RSS was 5.03 / 3.86 GB with 2 MB pages against
5.07 / 3.97 GB before (the same Zen 5, as an AVX2 machine; resident pages are the same, only their size
differs).
"""

from __future__ import annotations

import os

from writing.runtime.cpu import huge_page_mode

ENV = "THP_MEM_ALLOC_ENABLE"


def enable() -> None:
    """Ask torch for 2 MB pages for its large allocations, unless the environment already says either way."""
    os.environ.setdefault(ENV, "1")


def describe() -> str:
    """One line for the start-up log and the bench."""
    mode = huge_page_mode()
    asked = os.environ.get(ENV, "")
    if mode == "madvise":
        return "2 MB pages for the weights" if asked == "1" else f"4 KB pages ({ENV}={asked or 'unset'})"
    if mode == "always":
        return "2 MB pages (the system gives them to every program)"
    return "4 KB pages (transparent huge pages are off here)" if mode == "never" else "page size: system default"
