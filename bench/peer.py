"""llama.cpp on the same random-weight shape, timed in the same bench run (`python -m bench.run --peer`).

The shaped checkpoint is written as a BF16 GGUF with gguf-py (tests/support/gguf_tiny.py's
converter: matrices BF16, norm gains f32), quantised with llama-cpp-python's `llama_model_quantize`
(Q8_0, Q4_0, Q4_1, Q4_K_M), and timed through its bindings with the bench's thread count:

    pp  one batch of `prompt_tokens` ids from an empty cache (prefill tokens/s)
    tg  `new_tokens` single-token evals after it (decode tokens/s)

GGUF files are cached next to the shaped checkpoint (built once). Each type is timed in its own
subprocess (bench/run.py), so its mapped weights and peak RSS are its own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

# llama.cpp's file types (llama.h LLAMA_FTYPE_*); BF16 is the converted file itself. Q4_1 stores what the
# studio's int4 stores (4-bit weights, a 16-bit scale and offset per 32: 5 bits a weight); Q4_0 has no offset.
FTYPES = {"BF16": None, "Q8_0": 7, "Q4_0": 2, "Q4_1": 3, "Q4_K_M": 15}
DEFAULT_TYPES = ("Q8_0", "Q4_0")


def gguf_dir(model_dir: Path) -> Path:
    return model_dir.parent / f"{model_dir.name}-gguf"


def prepare(model_dir: Path, qtype: str, threads: int) -> tuple[Path, float]:
    """The GGUF of `model_dir` in `qtype`, built (and quantised) if missing; seconds spent building."""
    if qtype not in FTYPES:
        raise ValueError(f"peer type must be one of {', '.join(FTYPES)}, got {qtype!r}")
    started = time.perf_counter()
    folder = gguf_dir(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    bf16 = folder / "BF16.gguf"
    if not bf16.is_file():
        from tests.support.gguf_tiny import convert

        partial = folder / "BF16.gguf.partial"
        convert(model_dir, partial, dtype="bf16")
        partial.rename(bf16)
    out = folder / f"{qtype}.gguf"
    if qtype != "BF16" and not out.is_file():
        import llama_cpp

        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = FTYPES[qtype]
        params.nthread = threads
        partial = folder / f"{qtype}.gguf.partial"
        status = llama_cpp.llama_model_quantize(str(bf16).encode(), str(partial).encode(), params)
        if status != 0:
            raise RuntimeError(f"llama_model_quantize to {qtype} failed with status {status}")
        partial.rename(out)
    return out, time.perf_counter() - started


def run_peer(model_dir: Path, qtype: str, *, prompt_tokens: int, new_tokens: int, threads: int,
             seed: int) -> dict[str, Any]:
    """Time llama.cpp on `qtype`: load, pp `prompt_tokens`, tg `new_tokens` (child side of bench/run.py)."""
    import llama_cpp
    import torch

    path, build_s = prepare(model_dir, qtype, threads)
    started = time.perf_counter()
    llm = llama_cpp.Llama(str(path), n_ctx=prompt_tokens + new_tokens + 16, n_batch=prompt_tokens,
                          n_ubatch=prompt_tokens, n_threads=threads, n_threads_batch=threads, verbose=False)
    load_s = time.perf_counter() - started
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 700, (prompt_tokens + new_tokens,), generator=gen).tolist()
    llm.eval(ids[:8])  # warm-up: thread pool, first-touch of the graph buffers
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids[:prompt_tokens])
    t1 = time.perf_counter()
    for token in ids[prompt_tokens:]:
        llm.eval([token])
    t2 = time.perf_counter()
    return {"load_s": load_s, "gguf_build_s": build_s, "weight_bytes": path.stat().st_size,
            "ttft_s": t1 - t0, "prefill_tok_s": prompt_tokens / (t1 - t0), "decode_tok_s": new_tokens / (t2 - t1),
            "new_tokens": new_tokens, "threads": threads, "llama_cpp": llama_cpp.__version__,
            "kernel_path": f"llama.cpp {llama_cpp.__version__} ({os.path.basename(path)}; {built_isa(llama_cpp)})"}


def built_isa(llama_cpp) -> str:
    """The vector instruction sets this llama.cpp build uses ("AVX2 F16C FMA"), from its system info line."""
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    wanted = ("AVX2", "AVX_VNNI", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8", "F16C", "FMA")
    on = {item.split("=")[0].strip() for item in info.split("|") if item.strip().endswith("= 1")}
    return " ".join(isa for isa in wanted if isa in on) or "no x86 vector extensions"
