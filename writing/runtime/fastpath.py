"""A lean decode step for Qwen3 decoder layers: transformers' math in fewer Python calls.

At batch 1 on a CPU, a decode step of Qwen3-4B is 36 layers of ~25 module calls. transformers'
generic plumbing around them (deprecation shims, the attention-function registry, kwargs passing,
module hooks) costs about 1 ms a layer here: ~35 ms a token, a fifth of an int8 step. For the case
that dominates writing (one new token, batch 1, no mask), `install` gives each layer a forward that
does the same operations as plain torch calls, except attention: one query over the cache is done
in fp32 by the fused kernels reading the cache in place (fp32 or bf16; tests/test_attention.py), or
by fp32 matmuls where they do not run, instead of torch's CPU flash kernel, which is slow for a
single query (see `_one_query_attention`; logits stay within 1e-2 relative, tests/test_fastpath.py). Everything else
(prompts, batches, masks, sliding windows) goes through the layer's original forward.

Where the fused kernels run, the step is shorter still:
- the norms, the q/k norms and the rotary embedding are four ops of kernels/decode_ops.cpp instead of about 40
  torch ops (same arithmetic and rounding; tests/test_decode_ops.py). A layer's step outside its Linears took
  205-220 us in torch ops and 124-142 us with them, and 154-172 against 90-104 in a second run (Qwen3-4B shape,
  fp32, avx2 path, AMD EPYC Zen 5, 2026-12-03);
- q, k and v, and gate and up, are each one kernel call on stacked weights (quant.StackedRows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from writing.runtime import heap, kernels, quant


def install(model: Any) -> int:
    """Give every Qwen3-style decoder layer of `model` the lean decode step; how many layers got it."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(decoder, "layers", [])
    if getattr(model.config, "hidden_act", "silu") != "silu":
        return 0
    count = 0
    for layer in layers:
        if _shaped_like_qwen3(layer) and not getattr(layer, "_studio_lean", False):
            layer.forward = _lean_forward(layer, layer.forward)
            layer._studio_lean = True
            count += 1
            # The layer's own weight tensors, replaced by stacked ones (quant.StackedRows), are free now and may sit
            # between kept ones: give their pages back layer by layer (trimmed once at the end, the int4 load's
            # peak rose from under 1.3x to 1.37x the weights in tests/test_load_memory.py).
            heap.trim()
    return count


def _shaped_like_qwen3(layer: Any) -> bool:
    attn, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
    needed = (attn, mlp, getattr(layer, "input_layernorm", None), getattr(layer, "post_attention_layernorm", None))
    if any(part is None for part in needed):
        return False
    return (all(hasattr(attn, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm",
                                                 "head_dim", "scaling", "layer_idx"))
            and all(hasattr(mlp, name) for name in ("gate_proj", "up_proj", "down_proj"))
            and getattr(attn, "sliding_window", None) is None)


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen3RMSNorm.forward, op for op (fp32 statistics, result cast back, then the gain)."""
    dtype = x.dtype
    x = x.to(torch.float32)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _fused_attention(k: torch.Tensor, v: torch.Tensor) -> bool:
    """An fp32 or bf16 cache the fused kernels can read in place (rows of head_dim values, contiguous)."""
    if k.dtype not in (torch.float32, torch.bfloat16) or v.dtype != k.dtype or k.shape[-1] % 8:
        return False
    if not all(t.dim() == 4 and t.shape[0] == 1 and t.stride(-1) == 1 and t.stride(-2) == t.shape[-1]
               for t in (k, v)):
        return False
    path = kernels.current_path()
    if path not in _ATTENTION:
        _ATTENTION[path] = path != kernels.STOCK and bool(torch.ops.studio_qmm.attn_available())
    return _ATTENTION[path]


_ATTENTION: dict[str, bool] = {}  # kernel path -> whether it has the attention kernel


@contextlib.contextmanager
def torch_attention() -> Iterator[None]:
    """Attention by torch's matmuls only, for a while (bench/context.py compares the two)."""
    saved = dict(_ATTENTION)
    _ATTENTION.update(dict.fromkeys((*kernels.PATHS, kernels.STOCK), False))
    try:
        yield
    finally:
        _ATTENTION.clear()
        _ATTENTION.update(saved)


def _one_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Attention of one new token over the cache, in fp32: q [1, heads, 1, d], k/v [1, kv_heads, T, d].

    torch's CPU flash-attention kernel is slow for a single query: 2-4 ms a layer with 600 cached
    tokens (measured 4.4 ms against 0.42 ms here at 640 tokens), 80+ ms a token over 36 layers. Query
    heads are grouped onto their key/value head (h -> h // group, as repeat_kv does), so it is one small
    matmul per kv head; fp32 scores and softmax are also closer to exact than the bf16 kernel.
    Where the fused kernels run, they read the cache in place instead (fp32 or bf16, in fp32 arithmetic):
    torch's batched matmuls read a long fp32 cache at a third of the machine's bandwidth, and a bf16 cache
    had to be copied to fp32 first, every step (qmm_avx2.inc).
    """
    if _fused_attention(k, v):
        scores = torch.ops.studio_qmm.attn_scores(q.float().contiguous(), k, scale)  # [1, kv_heads, group, T]
        return torch.ops.studio_qmm.attn_mix(torch.softmax(scores, dim=-1), v).to(q.dtype)  # [1, heads, 1, d]
    kv_heads, head_dim = k.shape[1], k.shape[-1]
    grouped = q.reshape(1, kv_heads, -1, head_dim).float()  # [1, kv_heads, group, d]
    scores = torch.matmul(grouped, k.float().transpose(-1, -2)) * scale  # [1, kv_heads, group, T]
    out = torch.matmul(torch.softmax(scores, dim=-1), v.float())  # [1, kv_heads, group, d]
    return out.reshape(1, -1, 1, head_dim).to(q.dtype)


@dataclass(frozen=True)
class _Parts:
    """What a layer's decode step uses, gathered once at install."""

    attn: Any
    mlp: Any
    ln_in: Any
    ln_post: Any
    q_norm: Any
    k_norm: Any
    head_dim: int
    scaling: float
    index: int
    qkv: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]  # x -> (q, k, v) projections, [1, 1, N] each
    gate_up: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]
    norm_dtype: torch.dtype | None  # the four norm gains' dtype, None if they differ


def _parts(layer: Any) -> _Parts:
    attn, mlp = layer.self_attn, layer.mlp
    qkv = quant.stack_rows([attn.q_proj, attn.k_proj, attn.v_proj])  # None unless fused int8 or int4
    gate_up = quant.stack_rows([mlp.gate_proj, mlp.up_proj])
    norms = (layer.input_layernorm, layer.post_attention_layernorm, attn.q_norm, attn.k_norm)
    dtypes = {norm.weight.dtype for norm in norms}
    return _Parts(attn, mlp, *norms, attn.head_dim, attn.scaling, attn.layer_idx,
                  qkv or (lambda x: (attn.q_proj(x), attn.k_proj(x), attn.v_proj(x))),
                  gate_up or (lambda x: (mlp.gate_proj(x), mlp.up_proj(x))),
                  dtypes.pop() if len(dtypes) == 1 else None)


def _lean_forward(layer: Any, original: Any) -> Any:
    parts = _parts(layer)

    def forward(hidden_states: torch.Tensor, attention_mask: Any = None, position_ids: Any = None,
                cache: Any = None, use_cache: Any = False, position_embeddings: Any = None, **kwargs: Any):
        cache = cache if cache is not None else kwargs.get("past_key_values")
        if (hidden_states.shape[0] != 1 or hidden_states.shape[1] != 1 or attention_mask is not None
                or cache is None or position_embeddings is None or layer.training):
            return original(hidden_states, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                            use_cache=use_cache, position_embeddings=position_embeddings, **kwargs)
        return _decode_step(parts, hidden_states, cache, position_embeddings)

    return forward


def _decode_step(p: _Parts, hidden_states: torch.Tensor, cache: Any, position_embeddings: Any) -> torch.Tensor:
    """One token through one layer: hidden_states [1, 1, hidden] -> the same shape."""
    cos, sin = position_embeddings  # [1, 1, head_dim]
    ops = _glue_ops(hidden_states, p)
    if ops is not None:
        x = ops.rms_norm(hidden_states, p.ln_in.weight, p.ln_in.variance_epsilon)
        q, k, v = p.qkv(x)
        q = ops.norm_rope(q, p.q_norm.weight, cos, sin, p.q_norm.variance_epsilon).view(1, -1, 1, p.head_dim)
        k = ops.norm_rope(k, p.k_norm.weight, cos, sin, p.k_norm.variance_epsilon).view(1, -1, 1, p.head_dim)
    else:  # transformers' ops, one by one
        x = _rms(hidden_states, p.ln_in.weight, p.ln_in.variance_epsilon)
        q, k, v = p.qkv(x)
        q = _rms(q.view(1, 1, -1, p.head_dim), p.q_norm.weight, p.q_norm.variance_epsilon).transpose(1, 2)
        k = _rms(k.view(1, 1, -1, p.head_dim), p.k_norm.weight, p.k_norm.variance_epsilon).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = (q * cos) + (_rotate_half(q) * sin)
        k = (k * cos) + (_rotate_half(k) * sin)
    # q [1, heads, 1, head_dim]; k, v [1, kv_heads, 1, head_dim]
    v = v.view(1, 1, -1, p.head_dim).transpose(1, 2)
    k, v = cache.update(k, v, p.index)  # [1, kv_heads, cached, head_dim]
    out = _one_query_attention(q, k, v, p.scaling)
    out = p.attn.o_proj(out.transpose(1, 2).reshape(1, 1, -1))
    if ops is not None:
        hidden_states, x = ops.add_rms_norm(hidden_states, out, p.ln_post.weight, p.ln_post.variance_epsilon)
    else:
        hidden_states = hidden_states + out
        x = _rms(hidden_states, p.ln_post.weight, p.ln_post.variance_epsilon)
    gate, up = p.gate_up(x)
    return hidden_states + p.mlp.down_proj(F.silu(gate) * up)


def _glue_ops(hidden_states: torch.Tensor, p: _Parts) -> Any:
    """torch.ops.studio_qmm where its norm and rotary ops (kernels/decode_ops.cpp) take this step, else None."""
    dtype = hidden_states.dtype
    if dtype not in (torch.float32, torch.bfloat16) or dtype != p.norm_dtype:
        return None
    return torch.ops.studio_qmm if _GLUE.get(kernels.current_path(), False) else None


_GLUE = dict.fromkeys(kernels.PATHS, True)  # kernel path -> whether decode steps use decode_ops.cpp


@contextlib.contextmanager
def torch_glue() -> Iterator[None]:
    """Norms and the rotary embedding by transformers' torch ops, for a while (tests compare the two)."""
    saved = dict(_GLUE)
    _GLUE.update(dict.fromkeys(kernels.PATHS, False))
    try:
        yield
    finally:
        _GLUE.update(saved)
