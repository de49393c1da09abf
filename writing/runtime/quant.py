"""Weight-only int8 / int4 quantisation of a loaded transformers causal LM, in place.

Decode on a CPU reads every weight once per token, so it runs at memory bandwidth / weight
bytes: int8 halves the bytes of bf16, int4 (0.625 bytes a weight with its scales) quarters
them. Activations stay bf16 between layers; inside a layer the fused kernel
(writing/kernels/qmm.cpp) quantises the input row to int8 blocks, as llama.cpp does.

    int8: every decoder Linear and the tied embedding / lm_head: int8, one scale per output row.
    int4: decoder Linears: 4-bit, groups of 32 with an fp16 scale and offset (like Q4_1), stored in
          strips of 8 rows as the kernels read them (qmm.h; N rounded up to a multiple of 8);
          embedding / lm_head stay int8 (one shared copy): 4-bit there costs quality for ~4% speed.

Backends per layer: "fused" (the C++ kernels of writing/runtime/kernels, on the instruction path
the CPU runs: avx512, avx2_vnni or avx2; K % 128 == 0) or "stock" (torch's `_weight_int8pack_mm` /
`_weight_int4pack_mm_for_cpu`, slower but everywhere, ARM64 included).
Long prompts (more than the path's fused-row limit) dequantise the layer into a reused buffer and
use torch's GEMM: bf16 (oneDNN) where the CPU multiplies bf16 natively (the avx512 path), fp32
elsewhere, so a CPU without native bf16 never runs a bf16 GEMM by emulation. Only one layer
(or a slice of a large one) is ever dequantised at a time: the weights stay int8/int4 in RAM.
Exception: the AVX2 paths, whose kernels have an int8 GEMM (q8_uses_gemm says from how many rows)
and an int4 GEMM (from torch.ops.studio_qmm.q4_gemm_from() rows, no upper limit): prompts stay
quantised end to end there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("none", "int8", "int4")
CHOICES = ("auto", *MODES)
# Chosen by measurement (bench/run.py, README Performance, 4B shape, AMD EPYC Zen 4, 2026-11-29): int8
# decoded 1.6x faster than the studio's bf16 (4.64 vs 2.82 tok/s) with ~1% error per layer; int4 was
# faster still (6.06) but much lossier, so it is opt-in.
DEFAULT_MODE = "int8"
GROUP = 32  # int4 group size (weights per scale/offset)
STRIP = 8  # int4 rows stored together (qmm.h): the 8 lanes of a 256-bit register in the kernels
GEMV_MAX_ROWS = 8  # bf16 weights: up to this many rows the fused GEMV, above a GEMM
# Quantised layers: up to this many rows the fused kernel, above it dequantise into a reused buffer and
# run torch's GEMM. Measured on a [9728, 2560] layer (2 cores, AMD EPYC Zen 4, avx512 path), fused /
# dequantise + bf16 GEMM: int8 3.2 / ~6.6 ms at 16 rows, 6.1 / ~8.5 at 32, 12.1 / 11.2 at 64; int4 5.3 /
# ~6.6 at 16, 10.8 / ~8.5 at 32 with the row-major int4 GEMV. The strip GEMV (qmm_q4strip.inc) moved int4's
# limit to 32: [9728, 2560] on the AMD EPYC Zen 5's avx512 path (2026-12-03, two runs) 2.5-3.3 / 4.6-8.8 ms at
# 16 rows, 4.2-7.6 / 4.8-9.2 at 24, 4.8-9.1 / 7.6-10.3 at 32, 10.6-11.1 / 8.6-10.3 at 40; [2560, 9728] 5.8 /
# 5.8 at 32, 8.3 / 6.6 at 48. The AVX2 paths use the same limits, except that they multiply longer prompts
# on the kernel's int8 and int4 GEMMs (q8_uses_gemm, q4_gemm_from; qmm_avx2.inc).
Q8_FUSED_MAX_ROWS = 32
Q4_FUSED_MAX_ROWS = 32
_SCRATCH_BYTES = 128 * 2**20  # larger matrices (a 150k-row lm_head) are dequantised a slice of rows at a time
_scratch = threading.local()


def _dequant_buffer(n: int, k: int, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """A [n, k] buffer for one layer's dequantised weights, reused layer after layer on this thread.

    A fresh 50-100 MB tensor per layer costs ~15 ms of page faults, more than the dequantisation itself.
    """
    name = f"flat_{str(dtype).rsplit('.', 1)[-1]}"
    flat = getattr(_scratch, name, None)
    if flat is None or flat.numel() < n * k:
        # A normal tensor even when first asked for under inference mode (generate): an inference tensor
        # could not be written in place outside it later (a layer called without inference mode).
        with torch.inference_mode(False):
            flat = torch.empty(n * k, dtype=dtype)
        setattr(_scratch, name, flat)
    return flat[: n * k].view(n, k)


def prompt_dtype() -> torch.dtype:
    """The GEMM dtype for prompt rows: bf16 on the avx512 path (native bf16), fp32 on every other path."""
    from writing.runtime import kernels

    return torch.bfloat16 if kernels.current_path() == "avx512" else torch.float32


def dense_matmul(rows: torch.Tensor, n: int, k: int, fill: Any) -> torch.Tensor:
    """rows [M, k] @ W^T for a [n, k] weight that `fill(start, stop, out)` writes, rows start..stop at a time.

    One layer (or one slice of a large one) exists densely at a time, in a reused buffer; prompts
    get torch's GEMM in prompt_dtype(), never bf16 by emulation.
    """
    dtype = prompt_dtype()
    x = rows.to(dtype)
    step = max(STRIP, _SCRATCH_BYTES // (k * torch.finfo(dtype).bits // 8) // STRIP * STRIP)  # whole int4 strips
    if n <= step:
        dense = _dequant_buffer(n, k, dtype)
        fill(0, n, dense)
        return F.linear(x, dense).to(rows.dtype)
    y = torch.empty((rows.shape[0], n), dtype=dtype)
    for start in range(0, n, step):
        stop = min(n, start + step)
        dense = _dequant_buffer(stop - start, k, dtype)
        fill(start, stop, dense)
        y[:, start:stop] = F.linear(x, dense)
    return y.to(rows.dtype)


def q4_uses_fused(rows: int) -> bool:
    """Whether an int4 layer sends `rows` rows to q4_mm (which picks its GEMV or, from q4_gemm_from() rows, the
    path's int4 GEMM): up to Q4_FUSED_MAX_ROWS on every fused path, any number on a path with the GEMM (the
    AVX2 paths). Otherwise the layer is dequantised for torch's GEMM."""
    if rows <= Q4_FUSED_MAX_ROWS:
        return True
    gemm_from = torch.ops.studio_qmm.q4_gemm_from()
    return 0 < gemm_from <= rows


@dataclass(frozen=True)
class QuantReport:
    mode: str
    backend: str  # "fused", "stock" or "mixed"
    layers: int
    bytes_before: int
    bytes_after: int
    seconds: float
    note: str = ""

    def line(self) -> str:
        if self.mode == "none":
            return (f"unquantised: {self.bytes_after / 1e9:.2f} GB of weights, "
                    + (f"{self.layers} layers decode through the fused bf16 GEMV" if self.layers
                       else "torch's own kernels") + (f"; {self.note}" if self.note else ""))
        return (f"{self.mode}: {self.layers} layers, {self.bytes_before / 1e9:.2f} GB -> "
                f"{self.bytes_after / 1e9:.2f} GB of weights, {self.backend} kernels, {self.seconds:.1f}s"
                f"{'; ' + self.note if self.note else ''}")


@dataclass(frozen=True)
class QuantChoice:
    mode: str
    reason: str


def choose_mode(requested: str, *, fused: bool | None = None) -> QuantChoice:
    """`--quantize auto|none|int8|int4` -> the mode to use and why (printed at start-up)."""
    if requested not in CHOICES:
        raise ValueError(f"--quantize must be one of {', '.join(CHOICES)}, got {requested!r}")
    if requested != "auto":
        return QuantChoice(requested, "chosen with --quantize")
    from writing.runtime import kernels

    fused = kernels_ready() if fused is None else fused
    if fused:
        where = "" if kernels.current_path() == kernels.STOCK else f" on the {kernels.current_path()} path"
        return QuantChoice(DEFAULT_MODE, f"fused int8 kernel{where}: decode reads every weight once a token, and "
                                         "int8 halves the bytes of bf16")
    return QuantChoice("none", f"no fused kernel ({kernels.why_not() or 'unavailable'}): torch's stock int8 "
                               "kernels slow long prompts down, so weights stay unquantised")


def kernels_ready() -> bool:
    from writing.runtime import kernels

    return kernels.load()


# --------------------------------------------------------------------------- quantisers (pure torch)

CHUNK_WEIGHTS = 1 << 22  # weights per quantisation step: fp32 temporaries stay ~50 MB, not 3x a 1.5 GB lm_head


def _chunk_rows(k: int) -> int:
    """Rows of k weights per quantisation step."""
    return max(1, CHUNK_WEIGHTS // max(1, k))


def _row_chunks(weight: torch.Tensor) -> list[slice]:
    rows = _chunk_rows(weight.shape[1])
    return [slice(i, i + rows) for i in range(0, weight.shape[0], rows)]


def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, K] float -> (int8 [N, K], fp32 scales [N]); symmetric, one scale per output row."""
    q = torch.empty(weight.shape, dtype=torch.int8)
    scales = torch.empty(weight.shape[0], dtype=torch.float32)
    for rows in _row_chunks(weight):
        w = weight[rows].float()
        s = (w.abs().amax(dim=1) / 127.0).clamp_(min=1e-12)
        q[rows] = w.div_(s[:, None]).round_().clamp_(-127, 127).to(torch.int8)
        scales[rows] = s
    return q, scales


def quantize_int4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[N, K] float -> (uint8 [N8, K/2] packed, fp16 scales [N8, K/32], fp16 offsets [N8, K/32]).

    w ~= d * q + m with q in 0..15 per group of 32. N8 is N rounded up to whole strips of 8 rows (the extra
    rows are zero); the bytes and the scales are in the kernels' strip layout (qmm.h, pack_int4).
    """
    n, k = weight.shape
    if k % 128:
        raise ValueError(f"int4 needs in_features divisible by 128, got {k}")
    n8 = -(-n // STRIP) * STRIP
    packed = torch.empty((n8, k // 2), dtype=torch.uint8)
    d = torch.empty((n8, k // GROUP), dtype=torch.float16)
    m = torch.empty((n8, k // GROUP), dtype=torch.float16)
    read = _chunk_rows(k)  # `weight` (a lazy slice in qload) is read CHUNK_WEIGHTS at a time ...
    step = max(STRIP, read // STRIP * STRIP)  # ... and quantised in whole strips
    for start in range(0, n8, step):
        stop = min(n8, start + step)
        w = torch.zeros((stop - start, k), dtype=torch.float32)
        for row in range(start, min(n, stop), read):
            end = min(n, stop, row + read)
            w[row - start: end - start] = weight[row:end]
        w = w.reshape(-1, k // GROUP, GROUP)
        lo, hi = w.amin(dim=-1), w.amax(dim=-1)
        dc = ((hi - lo) / 15.0).clamp_(min=1e-7).half()  # fp16 as stored, so q is computed against it
        mc = lo.half()
        q = w.sub_(mc.float()[..., None]).div_(dc.float()[..., None]).round_().clamp_(0, 15).to(torch.uint8)
        packed[start:stop] = pack_int4(q.reshape(-1, k))
        d[start:stop], m[start:stop] = to_strips(dc), to_strips(mc)
    return packed, d, m  # padding rows: q = 0 and m = 0, so w = 0


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """q uint8 [R, K] (0..15, R a multiple of 8) -> the strip bytes [R, K/2] (qmm.h): in strip s, group g,
    byte 32 j + 4 r + t = q[8 s + r, 32 g + 4 j + t] | q[8 s + r, 32 g + 16 + 4 j + t] << 4."""
    rows, k = q.shape
    parts = q.reshape(rows // STRIP, STRIP, k // GROUP, 2, 4, 4)  # strip, r, g, half, j, t
    nibbles = parts[:, :, :, 0] | (parts[:, :, :, 1] << 4)  # strip, r, g, j, t
    return nibbles.permute(0, 2, 3, 1, 4).reshape(rows, k // 2)  # strip, g, j, r, t


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of pack_int4: q uint8 [R, K] in row order."""
    rows, half = packed.shape
    k = half * 2
    nibbles = packed.reshape(rows // STRIP, k // GROUP, 4, STRIP, 4).permute(0, 3, 1, 2, 4)  # strip, r, g, j, t
    return torch.stack([nibbles & 0x0F, nibbles >> 4], dim=3).reshape(rows, k)


def to_strips(values: torch.Tensor) -> torch.Tensor:
    """Per-group values [R, G] in row order -> the strip order of qmm.h (strip, g, r), same shape."""
    rows, groups = values.shape
    return values.reshape(rows // STRIP, STRIP, groups).transpose(1, 2).reshape(rows, groups)


def from_strips(values: torch.Tensor) -> torch.Tensor:
    """Inverse of to_strips."""
    rows, groups = values.shape
    return values.reshape(rows // STRIP, groups, STRIP).transpose(1, 2).reshape(rows, groups)


def dequantize_int4(packed: torch.Tensor, d: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Inverse of quantize_int4 (fp32 [N8, K], padding rows included), for tests and the bench."""
    q = unpack_int4(packed).reshape(packed.shape[0], -1, GROUP).float()
    w = q * from_strips(d).float()[..., None] + from_strips(m).float()[..., None]
    return w.reshape(packed.shape[0], -1)


# --------------------------------------------------------------------------- modules

class Int8Linear(nn.Module):
    """y = x @ (q * scale)^T (+ bias). q int8 [N, K]; may be shared with an Int8Embedding."""

    def __init__(self, q: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None, *, fused: bool):
        super().__init__()
        self.out_features, self.in_features = q.shape
        self.register_buffer("q", q, persistent=False)
        self.register_buffer("scales", scales, persistent=False)  # fp32 [N]
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.fused = fused and self.in_features % 128 == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features)
        if self.fused and (rows.shape[0] <= Q8_FUSED_MAX_ROWS or torch.ops.studio_qmm.q8_uses_gemm(rows.shape[0])):
            y = torch.ops.studio_qmm.q8_mm(rows, self.q, self.scales)
        elif self.fused:
            y = dense_matmul(rows, self.out_features, self.in_features, lambda a, b, out: (
                torch.ops.studio_qmm.q8_dequant_into(self.q[a:b], self.scales[a:b], out)))
        elif self.in_features % 16 == 0:
            y = torch.ops.aten._weight_int8pack_mm(rows, self.q, self.scales.to(rows.dtype))
        else:  # torch 2.13's stock int8 kernel crashes (SIGSEGV) when K % 16 != 0, e.g. K = 200
            y = F.linear(rows, (self.q.float() * self.scales[:, None]).to(rows.dtype))
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, int8, {'fused' if self.fused else 'stock'}"


class Int4Linear(nn.Module):
    """Weight-only 4-bit Linear (groups of 32, fp16 scale + offset)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, *, fused: bool):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.fused = fused
        packed, d, m = quantize_int4(weight)
        if fused:
            self.register_buffer("packed", packed, persistent=False)  # [N8, K/2]: N rounded up to strips of 8
            self.register_buffer("d", d, persistent=False)
            self.register_buffer("m", m, persistent=False)
        else:
            # torch's layout: w = (q - 8) * scale + zero, scale_and_zero [K/32, N, 2] bf16
            n = self.out_features
            q = unpack_int4(packed)[:n]
            self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32), 1),
                                 persistent=False)
            d, m = from_strips(d)[:n].float(), from_strips(m)[:n].float()
            sz = torch.stack([d, m + 8.0 * d], dim=2).transpose(0, 1).contiguous().to(torch.bfloat16)
            self.register_buffer("scale_zero", sz, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features)
        if self.fused:
            if q4_uses_fused(rows.shape[0]):
                y = torch.ops.studio_qmm.q4_mm(rows, self.packed, self.d, self.m)
            else:
                y = dense_matmul(rows, self.packed.shape[0], self.in_features, lambda a, b, out: (
                    torch.ops.studio_qmm.q4_dequant_into(self.packed[a:b], self.d[a:b], self.m[a:b], out)))
            if y.shape[1] != self.out_features:  # rows padded to whole strips of 8
                y = y[:, : self.out_features]
        else:
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(rows.to(torch.bfloat16), self.packed, GROUP,
                                                           self.scale_zero).to(rows.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, int4 g{GROUP}, {'fused' if self.fused else 'stock'}"


class StackedRows:
    """Fused int8 or int4 Linears that read the same input (q, k and v; gate and up), multiplied as one matrix.

    A decode step then makes one kernel call where it made three (or two): the input is quantised once, the
    threads wake once, and the small k and v projections stream with the large q one (on their own, in int4,
    they took 62-68 us a call for 1.6 MB, 24-26 GB/s, where the large layers read 32-38: Qwen3-4B shape, avx2
    path, AMD EPYC Zen 5, 2026-12-03). The layers keep working on their own (prompts go through them): their
    weights become views of the stacked tensors, so nothing is held twice once the old tensors are freed (the
    caller trims the heap after stacking a model's layers). For decode rows only (at most the fused row limit);
    not a module, so not in the model's tree.
    """

    def __init__(self, linears: list[nn.Module], names: tuple[str, ...], op: Any):
        self.sizes = [linear.out_features for linear in linears]
        self.in_features = linears[0].in_features
        self.op = op
        stacked = [torch.cat([getattr(linear, name) for linear in linears]) for name in names]
        start = 0
        for linear, size in zip(linears, self.sizes, strict=True):
            for name, whole in zip(names, stacked, strict=True):
                setattr(linear, name, whole[start:start + size])  # a view: contiguous, as the kernels need
            start += size
        self.tensors = stacked

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x [..., in_features] (a few rows) -> each layer's output [..., out_features], views of one tensor."""
        y = self.op(x.reshape(-1, self.in_features), *self.tensors)
        return tuple(part.view(*x.shape[:-1], part.shape[-1]) for part in y.split(self.sizes, dim=-1))


def stack_rows(linears: list[nn.Module]) -> StackedRows | None:
    """`linears` stacked for one kernel call (StackedRows), or None where they cannot be: not all fused int8 or
    all fused int4 layers of one input size, a bias, or int4 rows that are not whole strips of 8."""
    first = linears[0]
    if not all(type(linear) is type(first) and getattr(linear, "fused", False) and linear.bias is None
               and linear.in_features == first.in_features for linear in linears):
        return None
    if isinstance(first, Int8Linear):
        return StackedRows(linears, ("q", "scales"), torch.ops.studio_qmm.q8_mm)
    if isinstance(first, Int4Linear) and all(linear.out_features % STRIP == 0 for linear in linears):
        return StackedRows(linears, ("packed", "d", "m"), torch.ops.studio_qmm.q4_mm)
    return None


class Bf16Linear(nn.Linear):  # still an nn.Linear: quantize_model and tied-head checks see it as one
    """A bf16 Linear whose decode rows go through the fused GEMV (same weights, shared, not copied).

    oneDNN's bf16 matrix-vector product read weights at ~15-20 GB/s on AMD EPYC Zen 4; the kernel's
    streaming loop at ~28 GB/s. Prompts (more than GEMV_MAX_ROWS rows) use F.linear where the CPU has
    native bf16, and elsewhere an fp32 GEMM on the weights converted a slice at a time into a reused buffer.
    """

    def __init__(self, linear: nn.Linear):
        nn.Module.__init__(self)  # not nn.Linear's: it would allocate a fresh weight
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight  # the same Parameter: a tied lm_head stays tied
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] <= GEMV_MAX_ROWS and rows.dtype == torch.bfloat16:
            y = torch.ops.studio_qmm.bf16_mm(rows, self.weight)
            if self.bias is not None:
                y = y + self.bias
        elif prompt_dtype() == torch.bfloat16:
            y = F.linear(rows, self.weight, self.bias)
        else:
            y = dense_matmul(rows, self.out_features, self.in_features,
                             lambda a, b, out: out.copy_(self.weight[a:b]))
            if self.bias is not None:
                y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, bf16, fused GEMV"


def use_bf16_kernel(model: Any) -> int:
    """Swap the bf16 Linear layers (decoder and lm_head) for Bf16Linear; how many. Needs the kernels."""
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (type(child) is nn.Linear and child.weight.dtype == torch.bfloat16 and child.in_features % 128 == 0
                    and child.weight.is_contiguous()):
                setattr(parent, name, Bf16Linear(child))
                count += 1
    return count


class Int8Embedding(nn.Module):
    """Embedding lookup from int8 rows (the same tensor as the tied Int8Linear lm_head)."""

    def __init__(self, q: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype, padding_idx: int | None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = q.shape
        self.register_buffer("q", q, persistent=False)
        self.register_buffer("scales", scales, persistent=False)
        self.dtype = dtype
        self.padding_idx = padding_idx

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = F.embedding(ids, self.q)  # int8 [..., H]
        return (rows.float() * F.embedding(ids, self.scales[:, None])).to(self.dtype)


# --------------------------------------------------------------------------- whole model

def param_bytes(model: nn.Module) -> int:
    seen: set[int] = set()
    total = 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        total += tensor.numel() * tensor.element_size()
    return total


def quantize_model(model: Any, mode: str) -> QuantReport:
    """Replace the Linear layers (and the tied embedding) of `model` in place. Frees bf16 weights as it goes."""
    if mode not in MODES:
        raise ValueError(f"--quantize must be one of {', '.join(MODES)}, got {mode!r}")
    started = time.perf_counter()
    before = param_bytes(model)
    fused = kernels_ready()
    if mode == "none":  # bf16 weights as they are; decode through the fused bf16 GEMV where it applies
        swapped = use_bf16_kernel(model) if fused else 0
        return QuantReport(mode, "fused" if swapped else "none", swapped, before, before,
                           time.perf_counter() - started)
    note = ""
    if not fused:
        from writing.runtime import kernels

        note = f"fused kernel unavailable ({kernels.why_not()}); torch's stock kernels are slower"
    dtype = next(model.parameters()).dtype
    count = 0
    backends: set[str] = set()
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    head = model.get_output_embeddings()
    for parent in list(decoder.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Linear):
                continue
            weight, bias = child.weight.detach(), None if child.bias is None else child.bias.detach()
            new = quantize_linear(weight, bias, mode=mode, fused=fused)
            backends.add("fused" if getattr(new, "fused", False) else "stock")
            setattr(parent, name, new)
            del child, weight
            count += 1
    if isinstance(head, nn.Linear):
        count += _quantize_head(model, head, dtype=dtype, fused=fused, backends=backends)
    _own_remaining_params(model)
    after = param_bytes(model)
    backend = backends.pop() if len(backends) == 1 else "mixed"
    return QuantReport(mode, backend, count, before, after, time.perf_counter() - started, note)


def quantize_linear(weight: torch.Tensor, bias: torch.Tensor | None, *, mode: str, fused: bool) -> nn.Module:
    """One Linear's weight [N, K] (and bias) -> its int8 or int4 replacement."""
    n, k = weight.shape
    if mode == "int4" and k % 128 == 0 and (fused or n % 16 == 0):  # torch's int4 packing needs N % 16 == 0
        return Int4Linear(weight, bias, fused=fused)
    q, s = quantize_int8(weight)  # int8, or a shape the int4 layout (or torch's) cannot hold
    return Int8Linear(q, s, bias, fused=fused)


def _own_remaining_params(model: nn.Module) -> None:
    """Copy the small params left (norm gains) out of the checkpoint's mmap, so it can be unmapped.

    transformers maps the safetensors files; a 10 KB norm gain would otherwise keep a whole
    shard's pages mapped (and counted in RSS) next to the quantised copy.
    """
    import gc

    with torch.no_grad():
        for param in model.parameters():
            param.data = param.data.clone()
    gc.collect()


def _quantize_head(model: Any, head: nn.Linear, *, dtype: torch.dtype, fused: bool, backends: set[str]) -> int:
    """lm_head to int8; a tied input embedding shares the int8 tensor (one copy, not two)."""
    embed = model.get_input_embeddings()
    tied = embed is not None and embed.weight.data_ptr() == head.weight.data_ptr()
    bias = None if head.bias is None else head.bias.detach()
    new_head = install_int8_head(model, head.weight.detach(), bias, tied=tied, dtype=dtype, fused=fused)
    backends.add("fused" if new_head.fused else "stock")
    return 1


def install_int8_head(model: Any, weight: torch.Tensor, bias: torch.Tensor | None, *, tied: bool,
                      dtype: torch.dtype, fused: bool) -> Int8Linear:
    """Put an int8 lm_head from `weight` on `model`; a tied input embedding shares its int8 tensor."""
    q, s = quantize_int8(weight)
    new_head = Int8Linear(q, s, bias, fused=fused)
    if tied:
        embed = model.get_input_embeddings()
        model.set_input_embeddings(Int8Embedding(q, s, dtype, getattr(embed, "padding_idx", None)))
    _set_output_embeddings(model, new_head)
    return new_head


def _set_output_embeddings(model: Any, module: nn.Module) -> None:
    # set_output_embeddings would re-tie the weights on some versions: assign the attribute directly
    for name, child in model.named_children():
        if child is model.get_output_embeddings():
            setattr(model, name, module)
            return
    raise ValueError("could not find the output embedding module to replace")
