"""Does torch.compile pay for decode here? Eager against compiled decoder layers, same process.

    python -m bench.compile_probe                 # 4B shape, int8 (what the studio runs by default)
    python -m bench.compile_probe --mode none --steps 24

Compiles each decoder layer's forward (dynamic shapes: the KV cache grows every step), then times
single-token decode steps: warm-up seconds (first compiled steps, including compilation) and the
median step afterwards, against eager steps measured in the same process. The studio keeps
torch.compile off unless this shows a win after warm-up (README, Performance).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.shaped import build


def decode_steps(model, cache, token, steps: int) -> tuple[list[float], object]:
    import torch

    times = []
    with torch.inference_mode():
        for _ in range(steps):
            started = time.perf_counter()
            out = model(token, cache=cache, use_cache=True)
            token = out.logits[:, -1:].argmax(-1)
            times.append(time.perf_counter() - started)
    return times, token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compile_probe", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", default="int8", choices=["none", "int8", "int4"])
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--model", default="", help="checkpoint folder (default: the cached 4B shape)")
    args = parser.parse_args(argv)

    import torch
    from transformers import DynamicCache

    from writing.runtime.load import load

    folder = Path(args.model) if args.model else build("qwen3-4b")
    model = load(str(folder), dtype="bfloat16", quantize=args.mode).model
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        token = model(torch.randint(3, 700, (1, 16)), cache=cache, use_cache=True).logits[:, -1:].argmax(-1)
    eager, token = decode_steps(model, cache, token, args.steps)
    layers = model.get_decoder().layers
    for layer in layers:
        layer.forward = torch.compile(layer.forward, dynamic=True)
    started = time.perf_counter()
    warm, token = decode_steps(model, cache, token, 2)
    warm_up_s = time.perf_counter() - started
    compiled, _ = decode_steps(model, cache, token, args.steps)
    print(f"mode {args.mode}: eager median {statistics.median(eager) * 1000:.0f} ms/token "
          f"(min {min(eager) * 1000:.0f}); compiled: warm-up {warm_up_s:.1f} s for 2 steps, then median "
          f"{statistics.median(compiled) * 1000:.0f} ms/token (min {min(compiled) * 1000:.0f}, "
          f"max {max(compiled) * 1000:.0f}: recompiles as the cache grows)")
    print("steps ms eager   ", [round(t * 1000) for t in eager])
    print("steps ms compiled", [round(t * 1000) for t in compiled])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
