"""A decode step at long contexts: transformers' DynamicCache against the studio's cache and attention.

    python -m bench.context                               # int8, contexts 32, 1024, 2048, 4096
    python -m bench.context --quantize int4 --contexts 512,4096
    bash scripts/as_avx2.sh .venv/bin/python -m bench.context   # as an AVX2-only machine runs it (fp32)

What it is for: writing/runtime/kvcache.py and the fused attention of writing/runtime/fastpath.py.
DynamicCache appends a token with torch.cat, copying every layer's cache each step, so a step costs more
the longer the context; ReservedCache writes the token into reserved room. Attention then reads the whole
cache once a step: torch's batched matmuls (a bf16 cache converted to fp32 first), or the kernels' own
attn_scores / attn_mix, which read an fp32 or bf16 cache in place. Three setups: DynamicCache with torch's
attention (before both), the in-place cache with torch's attention, and the in-place cache with the fused
attention (the studio). The model is Qwen3-4B's exact shape with random
weights (bench/shaped.py), loaded as the studio loads it. Every cache is filled with the same random keys
and values of each context length (what they hold does not change the work), then decode steps take turns,
so the setups are measured in the same minutes of a noisy machine; the table gives each one's median step
and the ratio of the first to the last. The header names the CPU, its class, the kernel path and the load
average before and after; compare only rows of one run. Results: bench/results/context-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def step_ms(model, caches: dict, steps: int) -> dict[str, float]:
    """Median ms of a one-token decode step of each setup, the setups taking turns step by step."""
    import contextlib

    import torch

    from writing.runtime.fastpath import torch_attention

    tokens = {name: torch.tensor([[100]]) for name in caches}
    times: dict[str, list[float]] = {name: [] for name in caches}
    for _ in range(steps + 2):  # the first two steps of each are warm-up
        for name, cache in caches.items():
            started = time.perf_counter()
            with torch_attention() if name != "fused" else contextlib.nullcontext():
                logits = model(input_ids=tokens[name], cache=cache, use_cache=True).logits
            tokens[name] = logits[:, -1:].argmax(-1)
            times[name].append(time.perf_counter() - started)
    return {name: 1e3 * sorted(t[2:])[len(t[2:]) // 2] for name, t in times.items()}


def filled(make, config, context: int, dtype) -> object:
    import torch

    cache = make(config=config)
    g = torch.Generator().manual_seed(context)
    for layer in range(config.num_hidden_layers):
        keys = torch.randn(1, config.num_key_value_heads, context, config.head_dim, generator=g).to(dtype)
        cache.update(keys, keys.clone(), layer)
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.context", description=__doc__.splitlines()[0])
    parser.add_argument("--quantize", default="int8", choices=("none", "int8", "int4"))
    parser.add_argument("--contexts", default="32,1024,2048,4096", help="cached tokens before the measured steps")
    parser.add_argument("--steps", type=int, default=12, help="measured steps per cache and context")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: Qwen3-4B's shape, built once)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)

    import torch
    from transformers import DynamicCache

    from bench import shaped
    from bench.run import one_process_header
    from writing.runtime import kernels
    from writing.runtime.kvcache import ReservedCache
    from writing.runtime.load import load

    loaded = load(str(args.model or shaped.build("qwen3-4b")), dtype="auto", quantize=args.quantize)
    model = loaded.model
    info = one_process_header(f"{kernels.describe()}; {args.quantize} weights, {model.dtype} activations and cache")
    print("| context | DynamicCache, torch attention step ms | in-place cache, torch attention | "
          "in-place cache, fused attention | ratio first / last |")
    print("|---|---|---|---|---|")
    rows = []
    with torch.inference_mode():
        for context in (int(c) for c in args.contexts.split(",")):
            caches = {"dynamic": filled(DynamicCache, model.config, context, model.dtype),
                      "reserved": filled(ReservedCache, model.config, context, model.dtype),
                      "fused": filled(ReservedCache, model.config, context, model.dtype)}
            ms = step_ms(model, caches, args.steps)
            row = {"context": context, "dynamic_ms": ms["dynamic"], "reserved_ms": ms["reserved"],
                   "fused_ms": ms["fused"], "ratio": ms["dynamic"] / ms["fused"]}
            rows.append(row)
            print(f"| {context} | {row['dynamic_ms']:.1f} | {row['reserved_ms']:.1f} | {row['fused_ms']:.1f} | "
                  f"{row['ratio']:.2f} |", flush=True)
            del caches
    info["load_avg_end"] = os.getloadavg()[0]
    print(f"load avg at the end {info['load_avg_end']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"context-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": info, "quantize": args.quantize, "dtype": str(model.dtype),
                               "steps": args.steps, "rows": rows}, indent=1))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
