"""Load a safetensors checkpoint straight into int8 / int4, one tensor at a time.

Loading bf16 and quantising afterwards holds both copies at once: transformers maps the
shards, every weight page is touched while quantising, and the int8 copy grows next to them
(13 GB peak for Qwen3-4B int8, 8 GB of bf16 + 4 GB of int8). Here the model is built with
empty ("meta") parameters, each tensor is read from its shard with plain file reads (no mmap,
so no file page counts against the process), quantised if it is a Linear weight, and put in
place. The only extra memory at any moment is one bf16 tensor and its fp32 chunk temporaries.

Only plain checkpoints qualify: every parameter must be in the files under its own name (no
key renaming, no sharded-tensor tricks). Anything else raises NotStreamable, and the caller
falls back to from_pretrained followed by quantize_model.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from writing.runtime import kernels, quant

# safetensors dtype names -> torch dtypes (the ones causal-LM checkpoints use)
_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


class NotStreamable(Exception):
    """The checkpoint cannot be quantised while loading; load it the ordinary way."""


@dataclass(frozen=True)
class Entry:
    file: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # byte offset in the file
    end: int


def read_index(folder: Path) -> dict[str, Entry]:
    """Every tensor of every *.safetensors shard in `folder`: name -> where its bytes are."""
    entries: dict[str, Entry] = {}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise NotStreamable(f"no .safetensors files in {folder}")
    for file in files:
        with file.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        base = 8 + size
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] not in _DTYPES:
                raise NotStreamable(f"{name}: dtype {info['dtype']} is not one this loader reads")
            start, end = info["data_offsets"]
            entries[name] = Entry(file, _DTYPES[info["dtype"]], tuple(info["shape"]), base + start, base + end)
    return entries


def read_tensor(entry: Entry, *, into: torch.Tensor | None = None) -> torch.Tensor:
    """The tensor's bytes read into memory (not a view of a mapped file): fresh, or the front of `into`.

    `into` is a reusable uint8 staging buffer for tensors that are quantised and dropped: one buffer
    for all of them instead of an allocation each, which would leave freed holes between the kept
    int8 tensors that the allocator cannot give back (measured: 7.2 GB peak for 4.0 GB of int8).
    """
    size = entry.end - entry.start
    raw = torch.empty(size, dtype=torch.uint8) if into is None else into[:size]
    with entry.file.open("rb") as f:
        f.seek(entry.start)
        if f.readinto(memoryview(raw.numpy())) != raw.numel():
            raise NotStreamable(f"{entry.file.name} is shorter than its header says")
    return raw.view(entry.dtype).reshape(entry.shape)


def load_quantized(folder: Path, *, mode: str, dtype: torch.dtype) -> tuple[Any, quant.QuantReport]:
    """Build the causal LM in `folder` with int8 / int4 Linear layers, never holding its full bf16 weights."""
    if mode not in ("int8", "int4"):
        raise ValueError(f"load_quantized needs int8 or int4, got {mode!r}")
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    started = time.perf_counter()
    entries = read_index(folder)
    config = AutoConfig.from_pretrained(folder)
    with init_empty_weights(include_buffers=False):  # buffers (rotary tables) are computed for real
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    names = {module: name for name, module in model.named_modules()}
    expected = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    unknown = sorted(set(entries) - expected)
    if unknown:  # renamed keys (old formats, conversions): from_pretrained knows how to map them
        raise NotStreamable(f"checkpoint names the model does not have: {', '.join(unknown[:3])}")
    bytes_before = sum(e.end - e.start for e in entries.values())

    staging = torch.empty(max(e.end - e.start for e in entries.values()), dtype=torch.uint8)

    def read(name: str, *, keep: bool = True) -> torch.Tensor:
        """`keep=False`: the tensor lives in the staging buffer until the next read (quantise it at once)."""
        if name not in entries:
            raise NotStreamable(f"{name} is missing from the checkpoint")
        tensor = read_tensor(entries[name], into=None if keep else staging)
        if not keep and dtype == torch.float32:
            # about to be quantised, which upcasts to fp32 a chunk at a time: converting first would
            # only add an fp32 copy (1.5 GB for a 4B model's lm_head) and give the same values
            return tensor
        return tensor.to(dtype)

    fused = quant.kernels_ready()
    layers = 0
    head = model.get_output_embeddings()
    decoder = model.get_decoder()
    for parent in list(decoder.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                prefix = names[child]
                bias = read(f"{prefix}.bias") if child.bias is not None else None
                weight = read(f"{prefix}.weight", keep=False)
                setattr(parent, child_name, quant.quantize_linear(weight, bias, mode=mode, fused=fused))
                layers += 1
    if isinstance(head, nn.Linear):
        head_key = f"{names[head]}.weight"
        tied = head_key not in entries  # tie_word_embeddings: the checkpoint stores the embedding only
        embed_key = f"{names[model.get_input_embeddings()]}.weight"
        bias = read(f"{names[head]}.bias") if head.bias is not None else None
        quant.install_int8_head(model, read(embed_key if tied else head_key, keep=False), bias, tied=tied,
                                dtype=dtype, fused=fused)
        layers += 1
    staging = torch.empty(0, dtype=torch.uint8)  # freed: what is left to read (norm gains) is kept
    _fill_remaining(model, read)
    if (folder / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(folder)
    model.eval()
    backend = "fused" if fused else "stock"
    note = "" if fused else f"fused kernel unavailable ({kernels.why_not()}); torch's stock kernels are slower"
    report = quant.QuantReport(mode, backend, layers, bytes_before, quant.param_bytes(model),
                               time.perf_counter() - started, note)
    return model, report


def _fill_remaining(model: nn.Module, read: Any) -> None:
    """Read every parameter still empty (norm gains, an untied embedding) and check nothing is left."""
    for name, param in list(model.named_parameters()):
        if param.is_meta:
            owner_name, _, attr = name.rpartition(".")
            owner = model.get_submodule(owner_name)
            setattr(owner, attr, nn.Parameter(read(name), requires_grad=False))
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise NotStreamable(f"still empty after loading: {', '.join(left[:3])}")
