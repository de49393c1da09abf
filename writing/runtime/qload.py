"""Load a safetensors checkpoint straight into int8 / int4, one tensor at a time.

Loading bf16 and quantising afterwards holds both copies at once: transformers maps the
shards, every weight page is touched while quantising, and the int8 copy grows next to them
(13 GB peak for Qwen3-4B int8, 8 GB of bf16 + 4 GB of int8). Here the model is built with
empty ("meta") parameters, each tensor is read from its shard with plain file reads (no mmap,
so no file page counts against the process), quantised if it is a Linear weight, and put in
place. A weight to be quantised is read a slice of rows at a time (FileRows), so the only extra
memory at any moment is one slice of 4M bf16 weights (8 MB) and its fp32 temporaries; after each
layer the C heap's freed pages go back to the OS (writing/runtime/heap.py). Measured on the
Qwen3-4B shape: peak RSS 1.12x the int8 weight bytes, 1.18x the int4 ones (note in tests/test_load_memory.py).

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

from writing.runtime import heap, kernels, quant

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


def read_tensor(entry: Entry) -> torch.Tensor:
    """The tensor's bytes read into fresh memory (not a view of a mapped file)."""
    raw = torch.empty(entry.end - entry.start, dtype=torch.uint8)
    _read_bytes(entry, entry.start, raw)
    return raw.view(entry.dtype).reshape(entry.shape)


def _read_bytes(entry: Entry, offset: int, into: torch.Tensor) -> None:
    with entry.file.open("rb") as f:
        f.seek(offset)
        if f.readinto(memoryview(into.numpy())) != into.numel():
            raise NotStreamable(f"{entry.file.name} is shorter than its header says")


class FileRows:
    """A 2-D weight still on disk: `rows[a:b]` reads only rows a..b, into one reused staging buffer.

    The quantisers (quant.quantize_int8 / quantize_int4) take a row slice at a time and quantise
    each row on its own, so they get the same values from this as from the whole tensor, while
    only one slice (a few MB) of bf16 is ever in memory: not the 778 MB embedding of a 4B model.
    A slice is valid until the next one is read.
    """

    def __init__(self, entry: Entry, staging: torch.Tensor, cast: torch.dtype | None):
        if len(entry.shape) != 2:
            raise NotStreamable(f"a {len(entry.shape)}-D tensor where a Linear weight was expected")
        self.entry, self.staging, self.cast = entry, staging, cast
        self.shape = torch.Size(entry.shape)
        self.row_bytes = (entry.end - entry.start) // max(1, entry.shape[0])

    def __getitem__(self, rows: slice) -> torch.Tensor:
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ValueError("FileRows reads contiguous row slices only")
        size = (stop - start) * self.row_bytes
        if self.staging.numel() < size:  # only a quantiser with larger chunks than quant's own gets here
            self.staging = torch.empty(size, dtype=torch.uint8)
        raw = self.staging[:size]
        _read_bytes(self.entry, self.entry.start + start * self.row_bytes, raw)
        tensor = raw.view(self.entry.dtype).reshape(stop - start, self.shape[1])
        return tensor if self.cast is None else tensor.to(self.cast)


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

    # one slice of quant's row chunks (4M weights), in the file's dtype: every quantised weight goes through it
    staging = torch.empty(quant.CHUNK_WEIGHTS * max(e.dtype.itemsize for e in entries.values()), dtype=torch.uint8)

    def read(name: str) -> torch.Tensor:
        """A tensor kept as it is (bias, norm gain, untied embedding): read whole, in the model's dtype."""
        return read_tensor(entry(name)).to(dtype)

    def rows(name: str) -> FileRows:
        """A weight about to be quantised: read a row slice at a time by the quantiser, never whole.

        An fp32 model quantises from the file's own values (the quantiser upcasts each slice anyway);
        otherwise each slice is cast to `dtype` first, as load-then-quantise would have it.
        """
        return FileRows(entry(name), staging, None if dtype == torch.float32 else dtype)

    def entry(name: str) -> Entry:
        if name not in entries:
            raise NotStreamable(f"{name} is missing from the checkpoint")
        return entries[name]

    fused = quant.kernels_ready()
    layers = 0
    head = model.get_output_embeddings()
    decoder = model.get_decoder()
    for parent in list(decoder.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                prefix = names[child]
                bias = read(f"{prefix}.bias") if child.bias is not None else None
                weight = rows(f"{prefix}.weight")
                setattr(parent, child_name, quant.quantize_linear(weight, bias, mode=mode, fused=fused))
                heap.trim()  # the layer's freed temporaries sit between kept tensors: give their pages back
                layers += 1
    if isinstance(head, nn.Linear):
        head_key = f"{names[head]}.weight"
        tied = head_key not in entries  # tie_word_embeddings: the checkpoint stores the embedding only
        embed_key = f"{names[model.get_input_embeddings()]}.weight"
        bias = read(f"{names[head]}.bias") if head.bias is not None else None
        quant.install_int8_head(model, rows(embed_key if tied else head_key), bias, tied=tied,
                                dtype=dtype, fused=fused)
        heap.trim()
        layers += 1
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
