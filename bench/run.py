"""Benchmark: plain transformers bf16 against the studio engine in each mode, in one run.

    python -m bench.run              # Qwen3-4B shape (builds it once, ~8 GB on disk), ~15-25 min on 2 cores
    python -m bench.run --quick      # small shape, under two minutes (CI runs it)
    python -m bench.run --modes baseline,int8 --new-tokens 64
    python -m bench.run --modes baseline,int8,int4 --peer     # + llama.cpp Q8_0/Q4_0 on the same weights
    STUDIO_KERNEL_PATH=avx2 python -m bench.run ...          # the AVX2 kernel path (as on an AVX2 CPU)

Each mode runs in a fresh subprocess, so load time and peak RSS are clean and two copies of the
weights are never in RAM together. Per mode: load seconds, peak RSS when loading ends (and its
ratio to the weight bytes: README's load-memory target), peak RSS, prefill tokens/s on a
512-token prompt, time to first token, decode tokens/s over 128 greedy new tokens; in engine
modes also the time to first token of a 2nd long-form section with and without prefix reuse,
and the quantised logits' relative error against bf16. The machine's read bandwidth is
measured in the same run and gives each mode's decode limit (weight bytes read per token /
bandwidth). `--peer` adds llama.cpp rows (bench/peer.py) timed on the same weights in the same run.
Every row names its kernel path; the header names the CPU, its class and the load average at the
start and the end. Results: bench/results/<time>.json and .md; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from writing.runtime.cpu import current_rss_bytes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENGINE_MODES = ("bf16", "int8", "int4")
ALL_MODES = ("baseline", *ENGINE_MODES)


# --------------------------------------------------------------------------- measurements (child side)

def peak_rss_bytes() -> int:
    from writing.runtime.cpu import peak_rss_bytes as own_peak

    # VmHWM where /proc exists; else getrusage (which may include the forking parent's peak)
    return own_peak() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def prompt_ids(length: int, *, seed: int, low: int = 3, high: int = 700) -> Any:
    """Random ids inside the tiny tokenizer's vocab (speed does not depend on which ids)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (1, length), generator=gen)


class _Clock:
    """A generate() streamer that only records when each chunk of tokens arrives."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first puts the prompt
            self.prompt_seen = True
            return
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass


def timed(started: float, times: list[float], prompt_tokens: int) -> dict[str, float]:
    first, last = times[0], times[-1]
    ttft = first - started
    decode = (len(times) - 1) / (last - first) if len(times) > 1 and last > first else 0.0
    return {"ttft_s": ttft, "prefill_tok_s": prompt_tokens / ttft, "decode_tok_s": decode, "new_tokens": len(times)}


def run_baseline(model_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """What a user writes: from_pretrained in bf16, then generate()."""
    import torch
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    load_s = time.perf_counter() - started
    result: dict[str, Any] = {"load_s": load_s, "load_peak_rss": peak_rss_bytes(),
                              "rss_after_load": current_rss_bytes()}
    greedy = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        model.generate(prompt_ids(8, seed=1), max_new_tokens=2, **greedy)  # warm-up: oneDNN, allocator
        ids = prompt_ids(args.prompt_tokens, seed=args.seed)
        clock = _Clock()
        t0 = time.perf_counter()
        model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.new_tokens, streamer=clock,
                       **greedy)
    result.update(timed(t0, clock.times, args.prompt_tokens))
    result["weight_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    result["kernel_path"] = "torch (plain bf16 generate)"
    return result


def run_engine(model_dir: Path, mode: str, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from writing.engines.base import GenerationStats
    from writing.engines.local import LocalEngine
    from writing.engines.params import make_params
    from writing.runtime.load import load

    quantize = {"bf16": "none"}.get(mode, mode)
    started = time.perf_counter()
    # --dtype auto (the default) is what `python studio.py` picks on this CPU: bf16 activations where
    # bf16 is native, fp32 activations for int8/int4 elsewhere (AVX2). int8/int4: quantised while loading.
    loaded = load(str(model_dir), dtype=args.dtype, quantize=quantize)
    report = loaded.quant
    load_s = time.perf_counter() - started
    from writing.runtime import kernels

    result: dict[str, Any] = {"load_s": load_s, "load_peak_rss": peak_rss_bytes(),
                              "rss_after_load": current_rss_bytes(), "weight_bytes": report.bytes_after,
                              "quant": report.line(), "kernel_path": kernels.current_path(), "dtype": loaded.dtype}
    engine = LocalEngine(loaded.model, loaded.tokenizer, name=mode, context=args.prompt_tokens + 4096)
    greedy = make_params(temperature=0.0, max_new_tokens=args.new_tokens, seed=args.seed)

    def go(ids: Any, params: Any) -> GenerationStats:
        stats = GenerationStats()
        for _ in engine.stream_encoded({"input_ids": ids}, params, stats=stats):
            pass
        return stats

    go(prompt_ids(8, seed=1), make_params(temperature=0.0, max_new_tokens=2))  # warm-up
    engine.reset_cache()
    stats = go(prompt_ids(args.prompt_tokens, seed=args.seed), greedy)
    ttft = stats.time_to_first_token or 0.0
    result.update(ttft_s=ttft, prefill_tok_s=stats.prompt_tokens / ttft if ttft else 0.0,
                  decode_tok_s=stats.tokens_per_second, new_tokens=stats.new_tokens)
    engine.reset_cache()
    result.update(prefix_reuse(engine, args))
    result.update(logits_error(loaded.model, mode, scratch))
    return result


def prefix_reuse(engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    """TTFT of a 2nd long-form section: brief + outline first (shared), the section request last."""
    from writing.engines.base import GenerationStats
    from writing.engines.params import make_params

    words = ("Plan each section with a word target, then write section by section with continuity. "
             "Use headings, short paragraphs and concrete examples for new writers. ")
    brief = "Brief: a long guide on outlining for new writers. Outline:\n" + "".join(
        f"{n}. {words}\n" for n in range(1, 200))
    brief = _trim_to_tokens(engine, brief, args.shared_tokens)
    params = make_params(temperature=0.0, max_new_tokens=16)

    def section(number: int) -> GenerationStats:
        stats = GenerationStats()
        messages = [{"role": "system", "content": brief}, {"role": "user", "content": f"Write section {number}."}]
        for _ in engine.stream(messages, params, stats=stats):
            pass
        return stats

    engine.prefix_reuse = True
    section(1)
    with_reuse = section(2)
    reused = engine.last_reused_tokens
    engine.prefix_reuse = False
    engine.reset_cache()
    without = section(2)
    engine.prefix_reuse = True
    return {"section_prompt_tokens": with_reuse.prompt_tokens, "reused_tokens": reused,
            "ttft_reuse_s": with_reuse.time_to_first_token, "ttft_no_reuse_s": without.time_to_first_token}


def _trim_to_tokens(engine: Any, text: str, tokens: int) -> str:
    ids = engine.tokenizer(text)["input_ids"][:tokens]
    return engine.tokenizer.decode(ids)


def logits_error(model: Any, mode: str, scratch: Path) -> dict[str, Any]:
    """Last-position logits on a fixed prompt; bf16 saves them, quantised modes compare."""
    import torch

    with torch.inference_mode():
        logits = model(prompt_ids(64, seed=3)).logits[0].float()
    ref_file = scratch / "bf16_logits.pt"
    if mode == "bf16":
        torch.save(logits, ref_file)
        return {}
    if not ref_file.is_file():
        return {}
    ref = torch.load(ref_file)
    rel = float((logits - ref).norm() / ref.norm())
    agree = float((logits.argmax(-1) == ref.argmax(-1)).float().mean())
    return {"logits_rel_err": rel, "argmax_agree": agree}


def child(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir, scratch = Path(args.model), Path(args.scratch)
    if args.child.startswith("peer:"):
        from bench.peer import run_peer

        result = run_peer(model_dir, args.child[5:], prompt_tokens=args.prompt_tokens, new_tokens=args.new_tokens,
                          threads=args.threads or torch.get_num_threads(), seed=args.seed)
        result["mode"] = f"llama.cpp {args.child[5:]}"
    elif args.child == "baseline":
        result = run_baseline(model_dir, args)
    else:
        result = run_engine(model_dir, args.child, args, scratch)
    result.setdefault("mode", args.child)
    result.update(peak_rss=peak_rss_bytes(), threads=result.get("threads", torch.get_num_threads()))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------- orchestration (parent side)

def read_bandwidth(*, gib: float = 1.0) -> dict[str, float]:
    """Best-of-5 read bandwidth of a buffer far larger than the caches (GB/s).

    The C++ kernel's 4-accumulator sum (512-bit loads on the avx512 path, 256-bit on the AVX2 paths)
    is the closest to what decode does (a plain C read loop); a torch `sum` is reported too, as
    DESIGN.md notes it reads low.
    """
    import torch

    buf = torch.ones(int(gib * 2**30) // 8, dtype=torch.int64)
    out: dict[str, float] = {}
    from writing.runtime import kernels

    if kernels.load():
        best = 0.0
        for _ in range(5):
            t = time.perf_counter()
            torch.ops.studio_qmm.read_sum(buf)
            best = max(best, buf.numel() * 8 / (time.perf_counter() - t) / 1e9)
        out["kernel_read_gbs"] = best
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        buf.sum()
        best = max(best, buf.numel() * 8 / (time.perf_counter() - t) / 1e9)
    out["torch_sum_gbs"] = best
    out["read_gbs"] = max(out.values())
    return out


def machine() -> dict[str, Any]:
    from writing.runtime import kernels, pages
    from writing.runtime.cpu import cpu_class, cpu_flags, cpu_generation, cpu_model

    generation = cpu_generation()  # a VM may name only "AMD EPYC"
    model_name = f"{cpu_model()} [{generation}]" if generation else cpu_model()
    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "avx_vnni"})
    import torch
    import transformers

    return {"cpu": model_name, "cpu_class": cpu_class(), "cores": os.cpu_count(), "flags": flags,
            "kernel_path": kernels.describe(), "paths_not_run": kernels.unavailable_paths(), "pages": pages.describe(),
            "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "load_avg_start": os.getloadavg()[0],
            # settings that change which instructions torch / the kernels use (imitating a smaller CPU)
            # (and STUDIO_QMM_GEMM_MIN_ROWS, which moves prompt rows between the int8 GEMM and the other routes)
            "isa_env": {k: os.environ[k] for k in ("STUDIO_KERNEL_PATH", "STUDIO_QMM_GEMM_MIN_ROWS",
                                                   "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA",
                                                   "MKL_ENABLE_INSTRUCTIONS") if k in os.environ}}


def one_process_header(setup: str) -> dict[str, Any]:
    """The header line of a bench that measures in one process (bench.context, bench.layers, bench.pages):
    CPU, class, cores, threads, `setup` (kernel path, weights...), load average. Returns machine() with the
    thread count."""
    import torch

    info = machine()
    info["threads"] = torch.get_num_threads()
    print(f"CPU {info['cpu']} ({info['cpu_class']}), {info['cores']} cores, {info['threads']} threads; {setup}; "
          f"load avg {info['load_avg_start']:.2f}", flush=True)
    return info


def run_child(mode: str, model_dir: Path, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.run", "--child", mode, "--model", str(model_dir), "--scratch", str(scratch),
           "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
           "--shared-tokens", str(args.shared_tokens), "--seed", str(args.seed), "--dtype", args.dtype]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    # the repository first, then the caller's PYTHONPATH (e.g. a llama-cpp-python built for another ISA)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=pythonpath, TOKENIZERS_PARALLELISM="false")
    if mode == "baseline":  # plain transformers, as a user runs it: torch asks for no 2 MB pages (runtime/pages.py)
        env["THP_MEM_ALLOC_ENABLE"] = "0"
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["wall_s"] = time.perf_counter() - started
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    raise RuntimeError(f"mode {mode} failed (exit {proc.returncode}):\n" + "\n".join(tail))


def load_peak(result: dict[str, Any]) -> str:
    """Peak RSS (VmHWM) when loading finished, and its ratio to the weights held: "5.21 (1.29x)".

    The whole process's high-water mark (Python, torch and everything loading left behind), so it is
    the figure a user's free RAM must cover before the first token. Blank where not measured (peers).
    """
    peak = result.get("load_peak_rss") or 0
    if not peak or not result.get("weight_bytes"):
        return ""
    return f"{peak / 1e9:.2f} ({peak / result['weight_bytes']:.2f}x)"


def table(results: list[dict[str, Any]], bandwidth: float) -> str:
    base = next((r for r in results if r["mode"] == "baseline"), None)

    def ratio(r: dict[str, Any], key: str) -> str:
        if not base or not base.get(key):
            return ""
        return f" ({r[key] / base[key]:.2f}x)"

    rows = ["| mode | kernel path | load s | load peak RSS GB (x weights) | peak RSS GB | weights GB | prefill tok/s | "
            "TTFT s | decode tok/s | bandwidth limit tok/s | % of limit | logits rel err |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        limit = bandwidth * 1e9 / r["weight_bytes"]
        err = f"{r['logits_rel_err']:.4f}" if "logits_rel_err" in r else ("ref" if r["mode"] == "bf16" else "")
        path = r.get("kernel_path", "")
        if r.get("dtype"):
            path += f", {r['dtype']} activations"
        rows.append(
            f"| {r['mode']} | {path} | {r['load_s']:.1f} | {load_peak(r)} | {r['peak_rss'] / 1e9:.2f} | "
            f"{r['weight_bytes'] / 1e9:.2f} | "
            f"{r['prefill_tok_s']:.1f}{ratio(r, 'prefill_tok_s')} | {r['ttft_s']:.2f} | "
            f"{r['decode_tok_s']:.2f}{ratio(r, 'decode_tok_s')} | {limit:.2f} | "
            f"{100 * r['decode_tok_s'] / limit:.0f}% | "
            f"{err} |")
    prefix = [r for r in results if r.get("ttft_reuse_s")]
    if prefix:
        rows += ["", "| mode | section prompt tokens | reused | TTFT with reuse s | TTFT without s | speed-up |",
                 "|---|---|---|---|---|---|"]
        for r in prefix:
            rows.append(f"| {r['mode']} | {r['section_prompt_tokens']} | {r['reused_tokens']} | "
                        f"{r['ttft_reuse_s']:.2f} | {r['ttft_no_reuse_s']:.2f} | "
                        f"{r['ttft_no_reuse_s'] / r['ttft_reuse_s']:.1f}x |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shape, short prompts: CI smoke run")
    parser.add_argument("--modes", default=",".join(ALL_MODES), help=f"comma list of {', '.join(ALL_MODES)}")
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the cached shaped model)")
    parser.add_argument("--prompt-tokens", type=int, default=None, help="prefill prompt length (default 512)")
    parser.add_argument("--new-tokens", type=int, default=None, help="greedy new tokens (default 128)")
    parser.add_argument("--shared-tokens", type=int, default=None, help="brief+outline tokens for prefix reuse")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default="auto", choices=("auto", "bfloat16", "float32"),
                        help="studio modes' activation dtype (default auto: what the studio picks on this CPU)")
    parser.add_argument("--peer", action="store_true",
                        help="also time llama.cpp (llama-cpp-python) on the same weights: see bench/peer.py")
    parser.add_argument("--peer-types", default="Q8_0,Q4_0", help="llama.cpp types for --peer: BF16, Q8_0, Q4_0, "
                        "Q4_K_M (default Q8_0,Q4_0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per mode")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.prompt_tokens = args.prompt_tokens or (64 if quick else 512)
    args.new_tokens = args.new_tokens or (16 if quick else 128)
    args.shared_tokens = args.shared_tokens or (96 if quick else 500)
    if args.child:
        return child(args)

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(ALL_MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(ALL_MODES)}")
    from bench.peer import FTYPES

    bad = sorted({t.strip() for t in args.peer_types.split(",") if t.strip()} - set(FTYPES))
    if args.peer and bad:
        parser.error(f"unknown --peer-types {', '.join(bad)}; choose from {', '.join(FTYPES)}")
    if "bf16" in modes:  # bf16 writes the reference logits the quantised modes compare with
        modes = ["bf16"] + [m for m in modes if m != "bf16"]
        if "baseline" in modes:
            modes = ["baseline"] + [m for m in modes if m != "baseline"]

    from bench.shaped import build

    model_dir = Path(args.model) if args.model else build("quick" if quick else "qwen3-4b")
    info = machine()
    bw = read_bandwidth(gib=0.25 if quick else 1.0)
    print(f"[bench] {info['cpu']} ({info['cpu_class']}; {info['cores']} cores, {', '.join(info['flags'])}); "
          f"{info['kernel_path']}; {info['pages']}; load {info['load_avg_start']:.2f}; "
          f"read bandwidth {bw['read_gbs']:.1f} GB/s",
          flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    scratch = args.out / f".scratch-{stamp}"
    scratch.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        peers = [f"peer:{t.strip()}" for t in args.peer_types.split(",") if t.strip()] if args.peer else []
        for mode in modes + peers:
            print(f"[bench] {mode} ...", flush=True)
            result = run_child(mode, model_dir, args, scratch)
            loaded = f", load peak RSS {load_peak(result)} weights" if load_peak(result) else ""
            print(f"[bench] {result['mode']} ({result.get('kernel_path', '')}): decode {result['decode_tok_s']:.2f} "
                  f"tok/s, prefill {result['prefill_tok_s']:.1f} tok/s, load {result['load_s']:.1f}s{loaded}, peak RSS "
                  f"{result['peak_rss'] / 1e9:.2f} GB; load avg {os.getloadavg()[0]:.2f}", flush=True)
            results.append(result)
    finally:
        for file in scratch.glob("*"):
            file.unlink()
        scratch.rmdir()
    info["load_avg_end"] = os.getloadavg()[0]
    text = table(results, bw["read_gbs"])
    header = (f"Qwen3-4B-Instruct-2507 shape{' (quick shape)' if quick else ''}, random bf16 weights; "
              f"{info['cpu']} ({info['cpu_class']}), {info['cores']} cores, {bw['read_gbs']:.1f} GB/s read; "
              f"{info['kernel_path']}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load avg {info['load_avg_start']:.1f} -> "
              f"{info['load_avg_end']:.1f}; prompt {args.prompt_tokens}, new {args.new_tokens} greedy")
    record = {"machine": info, "bandwidth": bw, "quick": quick, "model": str(model_dir),
              "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "results": results}
    (args.out / f"{stamp}.json").write_text(json.dumps(record, indent=1))
    (args.out / f"{stamp}.md").write_text(header + "\n\n" + text + "\n")
    print("\n" + header + "\n\n" + text, flush=True)
    print(f"\n[bench] wrote {args.out / (stamp + '.json')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
