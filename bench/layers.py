"""Prompt rows through one int8 or int4 layer, per kernel path: the GEMM, the GEMV and dequantise + torch's GEMM.

    python -m bench.layers                        # every path this CPU runs, [9728, 2560] (Qwen3-4B's MLP)
    python -m bench.layers --rows 2,8,32,128,512 --threads 1 --paths avx2,avx2_vnni
    python -m bench.layers --format int4          # the int4 layer (q4_mm) instead

What it is for: the row counts from which the studio switches routes (qmm_avx2.inc's kGemmMinRows and
kQ4GemmMinRows, quant.py's Q8_FUSED_MAX_ROWS and Q4_FUSED_MAX_ROWS) are chosen from these figures. Per
path and row count, the best of --repeats runs (ms) of:
    gemm      torch.ops.studio_qmm.q8_mm (q4_mm) with the path's GEMM forced (the AVX2 paths only)
    gemv      the same op with the GEMV forced (x quantised in blocks of 32, one row at a time)
    dequant   the layer dequantised into a reused buffer, then torch's GEMM in the path's prompt dtype
              (bf16 on avx512, fp32 elsewhere), which is what quant.Int8Linear does above its fused limit
and each route's relative error against the unquantised-activation product. The header names the CPU,
its class, the paths and the load average before and after; compare only rows of one run.
Results: bench/results/layers-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
FORCE = "STUDIO_QMM_GEMM_MIN_ROWS"  # read by the kernels on every call


def best_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: the first call allocates the buffers
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1e3 * min(times)


class Layer:
    """One quantised weight: its fused op, its dequantiser into a buffer, and its exact fp64 value."""

    def __init__(self, fmt: str, weight) -> None:
        import torch

        from writing.runtime import quant

        self.shape = tuple(weight.shape)
        if fmt == "int8":
            q, s = quant.quantize_int8(weight)
            self.parts = (q, s)
            self.exact = q.double() * s.double()[:, None]
            self.mm, self.dequant_into = torch.ops.studio_qmm.q8_mm, torch.ops.studio_qmm.q8_dequant_into
        else:
            self.parts = quant.quantize_int4(weight)
            self.exact = quant.dequantize_int4(*self.parts).double()
            self.mm, self.dequant_into = torch.ops.studio_qmm.q4_mm, torch.ops.studio_qmm.q4_dequant_into


def measure(path: str, rows: int, layer: Layer, repeats: int) -> dict[str, float]:
    import torch

    from writing.runtime import kernels, quant

    x = torch.randn(rows, layer.shape[1], generator=torch.Generator().manual_seed(rows))
    exact = x.double() @ layer.exact.T
    dtype = quant.prompt_dtype()
    buffer = torch.empty(layer.shape, dtype=dtype)

    def dequant() -> torch.Tensor:
        layer.dequant_into(*layer.parts, buffer)
        return x.to(dtype) @ buffer.T

    routes: dict[str, Callable[[], torch.Tensor]] = {}
    if path.startswith("avx2"):
        routes["gemm"] = lambda: layer.mm(x, *layer.parts)
    routes["gemv"] = lambda: layer.mm(x, *layer.parts)
    routes["dequant"] = dequant
    row: dict[str, float] = {}
    for name, run in routes.items():
        os.environ[FORCE] = "1" if name == "gemm" else str(2**40)
        try:
            out = run().double()
            row[f"{name}_ms"] = best_ms(run, repeats)
            row[f"{name}_err"] = float((out - exact).norm() / exact.norm())
        finally:
            os.environ.pop(FORCE, None)
    assert kernels.current_path() == path
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="9728,2560", help="N,K of the weight (default Qwen3-4B's MLP up)")
    parser.add_argument("--format", choices=("int8", "int4"), default="int8")
    parser.add_argument("--rows", default="1,2,8,32,64,128,512")
    parser.add_argument("--paths", default="", help="comma list (default: every path this CPU runs)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    os.environ.pop(FORCE, None)

    import torch

    from bench.run import one_process_header
    from writing.runtime import kernels

    if args.threads:
        torch.set_num_threads(args.threads)
    if not kernels.load():
        print(f"no fused kernel path here: {kernels.why_not()}")
        return 1
    paths = [p for p in args.paths.split(",") if p] or kernels.runnable_paths()
    n, k = (int(v) for v in args.shape.split(","))
    weight = torch.randn(n, k, generator=torch.Generator().manual_seed(0)) * 0.02
    layer = Layer(args.format, weight)
    info = one_process_header(f"paths {', '.join(paths)} (not runnable: {kernels.unavailable_paths() or 'none'}); "
                              f"weight [{n}, {k}] {args.format}")
    print(f"| path | rows | {args.format} GEMM ms | GEMV ms | dequantise + GEMM ms | error GEMM / GEMV / dequant |")
    print("|---|---|---|---|---|---|")
    results = []
    for path in paths:
        with kernels.use_path(path):
            for rows in (int(r) for r in args.rows.split(",")):
                row = {"path": path, "rows": rows, **measure(path, rows, layer, args.repeats)}
                results.append(row)
                gemm = f"{row['gemm_ms']:.1f}" if "gemm_ms" in row else "-"
                errors = " / ".join(f"{row[f'{r}_err']:.4f}" if f"{r}_err" in row else "-"
                                    for r in ("gemm", "gemv", "dequant"))
                print(f"| {path} | {rows} | {gemm} | {row['gemv_ms']:.1f} | {row['dequant_ms']:.1f} | {errors} |",
                      flush=True)
    info["load_avg_end"] = os.getloadavg()[0]
    print(f"load avg at the end {info['load_avg_end']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"layers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": info, "shape": [n, k], "format": args.format, "rows": results}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
