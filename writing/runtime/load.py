"""Resolve a model id or folder, download it with a progress bar, pick a dtype, load it.

Resolution order: a local folder is used as is; otherwise the id is fetched into the normal
Hugging Face cache (honouring HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE). Unquantised loading goes
through `AutoModelForCausalLM.from_pretrained`, which in transformers 5 streams safetensors shards
into place, so peak memory stays near the weight bytes; int8/int4 are quantised while loading
(writing/runtime/qload.py). Then the decode speed-ups are put in place: the fused bf16 GEMV or quantised
layers (writing/runtime/quant.py), the lean decode step (writing/runtime/fastpath.py), and the loading thread's
OpenMP workers are released (writing/runtime/omp.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writing.errors import ModelUnavailableError
from writing.runtime.cpu import cpu_class, cpu_flags

DEFAULT_MODEL = "Qwen/Qwen3-4B-Instruct-2507"
DTYPES = ("auto", "bfloat16", "float32")
# Files a causal LM needs; skips other formats (gguf, onnx, original/ consolidated weights).
_NEEDED = ["*.json", "*.safetensors", "*.txt", "*.jinja", "tokenizer*", "vocab*", "merges*"]


@dataclass(frozen=True)
class DtypeChoice:
    dtype: str  # "bfloat16" or "float32"
    reason: str


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    path: Path
    dtype: str
    dtype_reason: str
    load_seconds: float
    quant: Any = None  # writing.runtime.quant.QuantReport: what quantize= did (for "none": the bf16 kernel swap)


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def resolve(model: str, *, offline: bool | None = None) -> Path:
    """Return a local folder holding `model` (a folder path or a hub id), downloading if needed."""
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelUnavailableError(f"{local} is a folder but has no config.json: not a model checkpoint.")
        return local
    if local.is_absolute() or model.startswith((".", "~")) or model.count("/") != 1:
        raise ModelUnavailableError(
            f"Model folder {model!r} does not exist, and it is not a hub id like {DEFAULT_MODEL!r}."
        )

    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    if offline is None:
        offline = constants.HF_HUB_OFFLINE
    try:
        # tqdm progress bars are on by default: a writer sees the 8 GB download move.
        return Path(snapshot_download(model, allow_patterns=_NEEDED, local_files_only=offline))
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        message = f"Model {model!r} was not found on the Hugging Face Hub ({type(exc).__name__})."
        raise ModelUnavailableError(message) from None
    except Exception as exc:  # noqa: BLE001 - offline, DNS, proxy, partial cache: one clear message
        if not offline:
            try:  # the hub is unreachable but a complete copy may already be cached
                return Path(snapshot_download(model, allow_patterns=_NEEDED, local_files_only=True))
            except Exception:  # noqa: BLE001
                pass
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ModelUnavailableError(_missing_message(model, reason=reason)) from None


def _missing_message(model: str, *, reason: str) -> str:
    return (
        f"The weights of {model} are not on this machine and could not be downloaded.\n"
        f"  cache folder: {hub_cache_dir()}  (set HF_HOME to use another)\n"
        f"  reason: {reason[:300]}\n"
        f"Fetch them once with a network connection:\n"
        f"  hf download {model}\n"
        f"or pass a local folder: python studio.py --model /path/to/checkpoint"
    )


def checkpoint_bytes(path: Path) -> int:
    """Bytes of the weight files on disk (bf16 checkpoints: 2 bytes a parameter)."""
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def choose_dtype(requested: str, *, weight_bytes_bf16: int, flags: set[str] | None = None,
                 quantize: str = "none") -> DtypeChoice:
    """The activation / unquantised-weight dtype. Never fp32 weights by default (2x the RAM of bf16).

    Native bf16 (avx512_bf16 / amx_bf16): bf16. Without it and quantising (int8/int4): fp32, which
    then only holds activations, norms and the KV cache (the weights are quantised straight from the
    file); prompts run fp32 GEMMs. Without it and unquantised: bf16 weights (half of fp32's RAM),
    decode through the fused bf16 GEMV and prompts through fp32 GEMMs a layer at a time
    (writing/runtime/quant.py), so no bf16 GEMM runs by emulation where the kernels exist.
    `flags` given (tests): decide from them; else from this CPU and STUDIO_KERNEL_PATH.
    """
    if requested not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {requested!r}")
    if requested != "auto":
        return DtypeChoice(requested, "chosen with --dtype")
    from writing.runtime import kernels

    if flags is None:
        native, cls = kernels.native_bf16(), cpu_class()
        if not native and cpu_flags() & {"avx512_bf16", "amx_bf16"}:
            cls += f", imitating {kernels.forced_path()} ({kernels.ENV})"
    else:
        native, cls = bool(flags & {"avx512_bf16", "amx_bf16"}), cpu_class(flags, arch="x86_64")
    if native:
        have = sorted((flags if flags is not None else cpu_flags()) & {"avx512_bf16", "amx_bf16"})
        return DtypeChoice("bfloat16", f"CPU has native bf16 ({', '.join(have)})")
    if quantize in ("int8", "int4"):
        return DtypeChoice("float32", f"no native bf16 ({cls}): {quantize} weights with fp32 activations; "
                                      "no weight is ever held in fp32")
    return DtypeChoice("bfloat16", f"no native bf16 ({cls}), but fp32 weights would take "
                                   f"{2 * weight_bytes_bf16 / 2**30:.1f} GiB: bf16 weights, prompts multiplied "
                                   "in fp32 a layer at a time")


def load(model: str = DEFAULT_MODEL, *, dtype: str = "auto", offline: bool | None = None,
         quantize: str = "none") -> LoadedModel:
    """Resolve, pick a dtype, load model and tokenizer (quantised while loading with int8/int4).

    Prints what it chose and why.
    """
    started = time.perf_counter()
    path = resolve(model, offline=offline)
    choice = choose_dtype(dtype, weight_bytes_bf16=checkpoint_bytes(path), quantize=quantize)
    print(f"[studio] loading {model} from {path} as {choice.dtype}: {choice.reason}", flush=True)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    try:
        llm, report = _load_weights(path, getattr(torch, choice.dtype), quantize, AutoModelForCausalLM)
    except Exception as exc:  # noqa: BLE001 - corrupt shards, wrong architecture: one line, no wall
        raise ModelUnavailableError(f"Could not load {model} from {path}: {type(exc).__name__}: {exc}") from None
    llm.eval()
    from writing.runtime import fastpath, omp

    fastpath.install(llm)  # the lean one-token decode step (same math, less Python per layer)
    omp.release_thread_pool()  # generation runs on other threads: this one's OpenMP workers would slow them
    name = model if not Path(model).expanduser().is_dir() else Path(model).expanduser().resolve().name
    return LoadedModel(llm, tokenizer, name, path, choice.dtype, choice.reason, time.perf_counter() - started,
                       report)


def _load_weights(path: Path, dtype: Any, quantize: str, auto_class: Any) -> tuple[Any, Any]:
    """The model, quantised while loading where the checkpoint allows (peak RSS near the int8 bytes)."""
    from writing.runtime.qload import NotStreamable, load_quantized
    from writing.runtime.quant import quantize_model

    if quantize == "none":
        llm = auto_class.from_pretrained(path, dtype=dtype)
        return llm, quantize_model(llm, "none")  # bf16: the fused GEMV for decode, weights untouched

    try:
        return load_quantized(path, mode=quantize, dtype=dtype)
    except NotStreamable as exc:
        print(f"[studio] quantising after a full load ({exc}): peak memory is higher", flush=True)
    llm = auto_class.from_pretrained(path, dtype=dtype)
    return llm, quantize_model(llm, quantize)


def startup_line(mode: str, mode_reason: str, loaded: LoadedModel) -> str:
    """CPU class, kernel path, precision and why, in one line (studio.py prints it at start-up)."""
    from writing.runtime import kernels, pages
    from writing.runtime.cpu import cpu_model

    weights = {"none": f"{loaded.dtype} weights"}.get(mode, f"{mode} weights")
    return (f"CPU {cpu_model() or 'unknown'} ({cpu_class()}); {kernels.describe()}; precision: {weights}, "
            f"{loaded.dtype} activations ({mode_reason}; {loaded.dtype_reason}); {pages.describe()}")


def set_threads(threads: int | None) -> int:
    """Use all physical cores by default (torch's choice); an explicit count wins."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
