"""Decode's weight reads on 4 KB pages against 2 MB pages (writing/runtime/pages.py), in one process.

    python -m bench.pages                                  # int4 and int8, 12 copies of one Qwen3-4B block
    bash scripts/as_avx2.sh .venv/bin/python -m bench.pages   # as an AVX2-only machine runs it

What it is for: the studio asks for transparent huge pages for its weights (THP_MEM_ALLOC_ENABLE=1, set by
the `writing` package). Here the same quantised weights of one Qwen3-4B block (q, k, v, o, gate, up, down;
random values) are held twice: copied into memory advised MADV_HUGEPAGE before it is touched, and into
memory that is not (this process is started with THP_MEM_ALLOC_ENABLE=0, so torch asks for nothing itself).
Each round runs the decode GEMV (one row, the fused kernels' q4_mm / q8_mm) over every layer of 12 copies
of the block (more than any cache holds), first on 4 KB pages, then on 2 MB pages; the table gives each
one's median GB/s and the median of the rounds' ratios. Where the system's THP mode is "never" both
sides get 4 KB pages (the header says the mode). Compare only rows of one run.
Results: bench/results/pages-<time>.json.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BLOCK = [(4096, 2560), (1024, 2560), (1024, 2560), (2560, 4096), (9728, 2560), (9728, 2560), (2560, 9728)]
HUGE = 2 << 20
MADV_HUGEPAGE = 14


class HugeCopies:
    """Copies of tensors into fresh anonymous memory (mmap: never touched before), 2 MB aligned and advised
    MADV_HUGEPAGE before the copy writes it."""

    def __init__(self) -> None:
        self.madvise = ctypes.CDLL(None, use_errno=True).madvise
        self.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.maps: list = []  # keep the memory the views point into

    def copy(self, tensor):
        import torch

        size = tensor.numel() * tensor.element_size()
        region = mmap.mmap(-1, size + 2 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # shared: no THP
        address = ctypes.addressof(ctypes.c_char.from_buffer(region))
        start = -address % HUGE
        if self.madvise(address + start, (size + HUGE - 1) // HUGE * HUGE, MADV_HUGEPAGE) != 0:
            raise OSError(ctypes.get_errno(), "madvise(MADV_HUGEPAGE) failed")
        raw = torch.frombuffer(region, dtype=torch.uint8)
        view = raw[start:start + size].view(tensor.dtype).view(tensor.shape)
        view.copy_(tensor)
        self.maps.append((region, raw))
        return view


def measure(mode: str, copies: int, rounds: int) -> dict:
    import torch

    from writing.runtime import quant
    from writing.runtime.cpu import huge_page_bytes

    huge = HugeCopies()
    small, large, nbytes = [], [], 0
    for _ in range(copies):
        for n, k in BLOCK:
            weights = quant.quantize_int4(torch.randn(n, k) * 0.02) if mode == "int4" else \
                quant.quantize_int8(torch.randn(n, k) * 0.02)
            small.append((k, tuple(t.clone() for t in weights)))
            large.append((k, tuple(huge.copy(t) for t in weights)))
            nbytes += sum(t.numel() * t.element_size() for t in weights)
    gemv = torch.ops.studio_qmm.q4_mm if mode == "int4" else torch.ops.studio_qmm.q8_mm
    x = {k: torch.randn(1, k) for _, k in BLOCK}

    def seconds(layers) -> float:
        started = time.perf_counter()
        for k, weights in layers:
            gemv(x[k], *weights)
        return time.perf_counter() - started

    seconds(small), seconds(large)  # first touch of the outputs, thread start-up
    on_huge = min(1.0, huge_page_bytes() / nbytes)  # how much of the 2 MB side the system really gave
    small_s, large_s, ratios = [], [], []
    for _ in range(rounds):
        a, b = seconds(small), seconds(large)
        small_s.append(a), large_s.append(b), ratios.append(a / b)
    mid = rounds // 2
    return {"mode": mode, "bytes_per_round": nbytes, "gbps_4k": nbytes / sorted(small_s)[mid] / 1e9,
            "gbps_2m": nbytes / sorted(large_s)[mid] / 1e9, "ratio_median": sorted(ratios)[mid],
            "ratio_min": min(ratios), "ratio_max": max(ratios), "share_on_2m_pages": on_huge}


def main(argv: list[str] | None = None) -> int:
    if os.environ.get("THP_MEM_ALLOC_ENABLE") != "0":  # torch must ask for nothing itself: start again so
        env = dict(os.environ, THP_MEM_ALLOC_ENABLE="0")
        return os.spawnve(os.P_WAIT, sys.executable, [sys.executable, "-m", "bench.pages", *(argv or sys.argv[1:])],
                          env)
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="int4,int8")
    parser.add_argument("--copies", type=int, default=12, help="copies of the block's layers (12: about 0.8 GB int4)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)


    from bench.run import one_process_header
    from writing.runtime import kernels
    from writing.runtime.cpu import huge_page_mode

    if not kernels.load():
        print(f"no fused kernel here ({kernels.why_not()}): the GEMVs this measures do not run", file=sys.stderr)
        return 2
    info = one_process_header(f"{kernels.describe()}; transparent huge pages: {huge_page_mode()}")
    print("| weights | GB a round | 4 KB pages GB/s | 2 MB pages GB/s | ratio (median of rounds) | range | "
          "2 MB side really on 2 MB pages |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for mode in args.modes.split(","):
        row = measure(mode, args.copies, args.rounds)
        rows.append(row)
        print(f"| {mode} | {row['bytes_per_round'] / 1e9:.2f} | {row['gbps_4k']:.1f} | {row['gbps_2m']:.1f} | "
              f"{row['ratio_median']:.2f} | {row['ratio_min']:.2f}-{row['ratio_max']:.2f} | "
              f"{row['share_on_2m_pages']:.0%} |", flush=True)
    info["load_avg_end"] = os.getloadavg()[0]
    print(f"load avg at the end {info['load_avg_end']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"pages-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": info, "thp_mode": huge_page_mode(), "copies": args.copies,
                               "rounds": args.rounds, "rows": rows}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
