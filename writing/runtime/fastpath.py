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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from writing.runtime import kernels


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


def _lean_forward(layer: Any, original: Any) -> Any:
    attn, mlp = layer.self_attn, layer.mlp
    ln_in, ln_post = layer.input_layernorm, layer.post_attention_layernorm
    q_norm, k_norm = attn.q_norm, attn.k_norm
    head_dim, scaling, index = attn.head_dim, attn.scaling, attn.layer_idx

    def forward(hidden_states: torch.Tensor, attention_mask: Any = None, position_ids: Any = None,
                cache: Any = None, use_cache: Any = False, position_embeddings: Any = None, **kwargs: Any):
        cache = cache if cache is not None else kwargs.get("past_key_values")
        if (hidden_states.shape[0] != 1 or hidden_states.shape[1] != 1 or attention_mask is not None
                or cache is None or position_embeddings is None or layer.training):
            return original(hidden_states, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                            use_cache=use_cache, position_embeddings=position_embeddings, **kwargs)
        # hidden_states [1, 1, hidden]; q [1, heads, 1, head_dim]; k, v [1, kv_heads, 1, head_dim]
        residual = hidden_states
        x = _rms(hidden_states, ln_in.weight, ln_in.variance_epsilon)
        q = _rms(attn.q_proj(x).view(1, 1, -1, head_dim), q_norm.weight, q_norm.variance_epsilon).transpose(1, 2)
        k = _rms(attn.k_proj(x).view(1, 1, -1, head_dim), k_norm.weight, k_norm.variance_epsilon).transpose(1, 2)
        v = attn.v_proj(x).view(1, 1, -1, head_dim).transpose(1, 2)
        cos, sin = position_embeddings
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q = (q * cos) + (_rotate_half(q) * sin)
        k = (k * cos) + (_rotate_half(k) * sin)
        k, v = cache.update(k, v, index)  # [1, kv_heads, cached, head_dim]
        out = _one_query_attention(q, k, v, scaling)
        out = attn.o_proj(out.transpose(1, 2).contiguous().reshape(1, 1, -1))
        hidden_states = residual + out
        residual = hidden_states
        x = _rms(hidden_states, ln_post.weight, ln_post.variance_epsilon)
        return residual + mlp.down_proj(F.silu(mlp.gate_proj(x)) * mlp.up_proj(x))

    return forward
