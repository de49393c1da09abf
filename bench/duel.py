"""The studio and llama.cpp taking turns in one process: ratios a drifting machine cannot skew.

    python -m bench.duel                                      # int8 : Q8_0 and int4 : Q4_0, 6 rounds each
    bash scripts/as_avx2.sh .venv/bin/python -m bench.duel    # as an AVX2-only machine runs it
    python -m bench.duel --pairs int4:Q4_0 --rounds 8 --prompt-tokens 512 --new-tokens 32

What it is for: `bench.run --peer` times each engine in its own process, minutes apart, and on a shared
machine the speed drifts in between: llama.cpp's Q4_0 decoded at 8.97 and at 12.32 tok/s in two runs 10
minutes apart (AMD EPYC Zen 5 as an AVX2 machine, 2026-12-02). Here a studio mode and a llama.cpp type are
loaded side by side (the same random weights of the shaped checkpoint, bench/shaped.py and bench/peer.py)
and take turns. A round is, on each side, one prefill of `--prompt-tokens` ids from an empty cache, then
`--new-tokens` decode steps (the studio's engine greedy; llama.cpp single-token evals, as bench.run does);
the side that goes first alternates. Each round gives a ratio studio / llama.cpp for prefill and for decode,
both measured within a minute of each other; the table gives the medians of those ratios and their range.
Compare nothing across rows of different runs. Results: bench/results/duel-<time>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.run import RESULTS, one_process_header, prompt_ids


class StudioSide:
    """A studio mode on the shaped checkpoint, through the engine writers use (fresh cache each round)."""

    def __init__(self, model_dir: Path, mode: str, prompt_tokens: int, new_tokens: int, seed: int):
        from writing.engines.local import LocalEngine
        from writing.engines.params import make_params
        from writing.runtime.load import load

        loaded = load(str(model_dir), dtype="auto", quantize=mode)
        self.name = f"studio {mode}"
        self.engine = LocalEngine(loaded.model, loaded.tokenizer, name=mode, context=prompt_tokens + new_tokens + 64)
        self.ids = prompt_ids(prompt_tokens, seed=seed)
        self.params = make_params(temperature=0.0, max_new_tokens=new_tokens, seed=seed)
        self.turn(prompt_ids(8, seed=seed + 1), make_params(temperature=0.0, max_new_tokens=2))  # warm-up

    def turn(self, ids: Any = None, params: Any = None) -> dict[str, float]:
        from writing.engines.base import GenerationStats

        self.engine.reset_cache()  # no prefix reuse between rounds: every prefill starts from nothing
        ids = self.ids if ids is None else ids
        stats = GenerationStats()
        for _ in self.engine.stream_encoded({"input_ids": ids}, params or self.params, stats=stats):
            pass
        ttft = stats.time_to_first_token or float("nan")
        return {"prefill_tok_s": stats.prompt_tokens / ttft, "decode_tok_s": stats.tokens_per_second,
                "new_tokens": stats.new_tokens}

    def close(self) -> None:
        del self.engine
        gc.collect()


class LlamaSide:
    """A llama.cpp type of the same checkpoint (llama-cpp-python), timed as bench/peer.py times it."""

    def __init__(self, model_dir: Path, qtype: str, prompt_tokens: int, new_tokens: int, threads: int, seed: int):
        import llama_cpp

        from bench.peer import built_isa, prepare

        path, _ = prepare(model_dir, qtype, threads)
        self.name = f"llama.cpp {qtype}"
        self.isa = f"llama.cpp {llama_cpp.__version__} ({built_isa(llama_cpp)})"
        self.llm = llama_cpp.Llama(str(path), n_ctx=prompt_tokens + new_tokens + 16, n_batch=prompt_tokens,
                                   n_ubatch=prompt_tokens, n_threads=threads, n_threads_batch=threads, verbose=False)
        self.ids = prompt_ids(prompt_tokens, seed=seed)[0].tolist()
        self.new_tokens = new_tokens
        self.llm.eval(self.ids[:8])  # warm-up: thread pool, graph buffers

    def turn(self) -> dict[str, float]:
        self.llm.reset()
        t0 = time.perf_counter()
        self.llm.eval(self.ids)
        t1 = time.perf_counter()
        for token in self.ids[: self.new_tokens]:  # fixed ids: the work of a step does not depend on them
            self.llm.eval([token])
        t2 = time.perf_counter()
        return {"prefill_tok_s": len(self.ids) / (t1 - t0), "decode_tok_s": self.new_tokens / (t2 - t1),
                "new_tokens": self.new_tokens}

    def close(self) -> None:
        self.llm.close()


def duel(studio: StudioSide, llama: LlamaSide, rounds: int) -> dict[str, Any]:
    """`rounds` rounds, studio first in even rounds and llama.cpp first in odd ones; per-round ratios."""
    per_round = []
    for number in range(rounds):
        order = (studio, llama) if number % 2 == 0 else (llama, studio)
        timed = {side.name: side.turn() for side in order}
        mine, theirs = timed[studio.name], timed[llama.name]
        row = {"round": number + 1, "first": order[0].name, "studio": mine, "llama": theirs,
               "prefill_ratio": mine["prefill_tok_s"] / theirs["prefill_tok_s"],
               "decode_ratio": mine["decode_tok_s"] / theirs["decode_tok_s"]}
        per_round.append(row)
        print(f"[duel] round {row['round']} ({row['first']} first): prefill {mine['prefill_tok_s']:.1f} / "
              f"{theirs['prefill_tok_s']:.1f} tok/s = {row['prefill_ratio']:.2f}x, decode {mine['decode_tok_s']:.2f} / "
              f"{theirs['decode_tok_s']:.2f} tok/s = {row['decode_ratio']:.2f}x", flush=True)
    return {"studio": studio.name, "llama": llama.name, "llama_build": llama.isa, "rounds": per_round,
            **{f"{what}_{stat}": fn([r[what] for r in per_round]) for what in ("prefill_ratio", "decode_ratio")
               for stat, fn in (("median", statistics.median), ("min", min), ("max", max))},
            **{f"{side}_{what}_median": statistics.median(r[side][what] for r in per_round)
               for side in ("studio", "llama") for what in ("prefill_tok_s", "decode_tok_s")}}


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| studio | llama.cpp | prefill tok/s studio / llama.cpp (medians) | prefill ratio, median (range) | "
            "decode tok/s studio / llama.cpp (medians) | decode ratio, median (range) |", "|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['studio']} | {r['llama']} | {r['studio_prefill_tok_s_median']:.1f} / "
                    f"{r['llama_prefill_tok_s_median']:.1f} | {r['prefill_ratio_median']:.2f}x "
                    f"({r['prefill_ratio_min']:.2f}-{r['prefill_ratio_max']:.2f}) | "
                    f"{r['studio_decode_tok_s_median']:.2f} / "
                    f"{r['llama_decode_tok_s_median']:.2f} | {r['decode_ratio_median']:.2f}x "
                    f"({r['decode_ratio_min']:.2f}-{r['decode_ratio_max']:.2f}) |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duel", description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", default="int8:Q8_0,int4:Q4_0", help="studio mode:llama.cpp type, comma list")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the cached Qwen3-4B shape)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    args = parser.parse_args(argv)
    from bench.peer import FTYPES
    from writing.runtime.quant import MODES

    pairs = [tuple(p.strip().split(":", 1)) for p in args.pairs.split(",") if p.strip()]
    for pair in pairs:
        if len(pair) != 2 or pair[0] not in MODES[1:] or pair[1] not in FTYPES:
            parser.error(f"--pairs wants mode:type with mode in int8, int4 and type in {', '.join(FTYPES)}; "
                         f"got {':'.join(pair)}")
    import torch

    from bench.shaped import build
    from writing.runtime import kernels

    model_dir = Path(args.model) if args.model else build("qwen3-4b")
    threads = torch.get_num_threads()
    info = one_process_header(f"{kernels.describe()}; prompt {args.prompt_tokens}, new {args.new_tokens}, "
                              f"{args.rounds} rounds; {model_dir.name}")
    results = []
    for mode, qtype in pairs:
        studio = StudioSide(model_dir, mode, args.prompt_tokens, args.new_tokens, args.seed)
        llama = LlamaSide(model_dir, qtype, args.prompt_tokens, args.new_tokens, threads, args.seed)
        try:
            results.append(duel(studio, llama, args.rounds))
        finally:
            studio.close()
            llama.close()
    info["load_avg_end"] = os.getloadavg()[0]
    text = table(results)
    print(f"\n{text}\n\nload avg {info['load_avg_start']:.2f} -> {info['load_avg_end']:.2f}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"duel-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"machine": info, "threads": threads, "prompt_tokens": args.prompt_tokens,
                               "new_tokens": args.new_tokens, "results": results}, indent=1))
    print(f"[duel] wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
