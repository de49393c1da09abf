"""The decode step's attention over the key/value cache (qmm_avx2.inc attn_scores / attn_mix, used by
writing/runtime/fastpath.py): against an fp64 reference on every fused path this CPU runs, on views of an in-place
cache's buffers, fp32 and bf16, with ragged head groups and dims; and the fallbacks (stock path, fp16, strided rows)."""

from __future__ import annotations

import pytest
import torch

from tests.support.kernel_paths import FUSED, PATHS, on_path
from writing.runtime import fastpath, kernels
from writing.runtime.kvcache import ReservedCache


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    heads, kv_heads, dim = q.shape[1], k.shape[1], k.shape[-1]
    grouped = q.double().reshape(1, kv_heads, heads // kv_heads, dim)
    weights = torch.softmax(grouped @ k.double().transpose(-1, -2) * scale, dim=-1)
    return (weights @ v.double()).reshape(1, heads, 1, dim)


def cache_views(kv_heads: int, tokens: int, dim: int, *, seed: int, dtype=torch.float32):
    """k, v as the in-place cache hands them to attention: views of buffers with room past the end."""
    g = torch.Generator().manual_seed(seed)
    room = torch.randn(2, 1, kv_heads, tokens + 37, dim, generator=g).to(dtype)
    return room[0, :, :, :tokens], room[1, :, :, :tokens]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("kv_heads", "group", "tokens", "dim"),
                         [(8, 4, 300, 128), (2, 1, 1, 8), (3, 3, 17, 24), (1, 7, 64, 16), (2, 5, 129, 40)])
def test_fp32_cache_attention_matches_the_exact_result_on_every_path(path, kv_heads, group, tokens, dim):
    k, v = cache_views(kv_heads, tokens, dim, seed=tokens)
    assert kv_heads == 1 or not k.is_contiguous()  # a view into room: the kernels read it in place
    q = torch.randn(1, kv_heads * group, 1, dim, generator=torch.Generator().manual_seed(1))
    scale = dim ** -0.5
    with on_path(path):
        fused = fastpath._fused_attention(k, v)
        out = fastpath._one_query_attention(q, k, v, scale)
    assert fused == (path != kernels.STOCK)  # every fused path has the kernel (avx512 runs the AVX2 code)
    assert out.shape == (1, kv_heads * group, 1, dim) and out.dtype == torch.float32
    exact = reference(q, k, v, scale)
    assert float((out.double() - exact).norm() / exact.norm()) < 1e-5


@pytest.mark.parametrize("path", PATHS)
def test_a_bf16_cache_is_read_as_it_is_and_a_strided_one_takes_torchs_matmuls(path):
    k, v = cache_views(3, 130, 40, seed=3, dtype=torch.bfloat16)  # a native-bf16 machine's cache
    q = torch.randn(1, 6, 1, 40, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    with on_path(path):
        assert fastpath._fused_attention(k, v) == (path != kernels.STOCK)
        out = fastpath._one_query_attention(q, k, v, 0.25)
        k32, v32 = cache_views(2, 40, 32, seed=4)
        assert not fastpath._fused_attention(k32[..., ::2], v32[..., ::2])  # rows not contiguous
        assert not fastpath._fused_attention(k.half(), v.half())  # fp16: torch's matmuls
    exact = reference(q, k, v, 0.25)
    assert out.dtype == torch.bfloat16  # fp32 arithmetic, the layer's dtype out: within bf16's rounding
    assert float((out.double() - exact).norm() / exact.norm()) < 4e-3


@pytest.mark.parametrize("path", PATHS[:-1] or ["(none)"])
def test_the_ops_refuse_what_they_cannot_read(path):
    k, v = cache_views(2, 8, 16, seed=5)
    q = torch.randn(1, 4, 1, 16)
    if path == "(none)":  # no fused path built or runnable here (the summary says why): the ops are never called
        assert not FUSED or not kernels.runnable_paths()
        assert not fastpath._fused_attention(k, v)
        return
    with on_path(path):
        check_refusals(q, k, v)


def check_refusals(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    with pytest.raises(RuntimeError, match="k must be fp32 or bf16"):
        torch.ops.studio_qmm.attn_scores(q, k.half(), 0.25)
    with pytest.raises(RuntimeError, match="q must be contiguous fp32"):
        torch.ops.studio_qmm.attn_scores(torch.randn(1, 3, 1, 16), k, 0.25)  # 3 heads over 2 kv heads
    with pytest.raises(RuntimeError, match="p must be contiguous fp32"):
        torch.ops.studio_qmm.attn_mix(torch.randn(1, 2, 2, 9), v)  # 9 weights for 8 tokens


def test_decode_with_the_in_place_cache_matches_the_exact_model(tiny128):
    """The whole lean step on an fp32 model (as an AVX2 machine runs it): the fused attention reads the
    in-place cache's views, and the logits are those of transformers' own fp32 layers."""
    from transformers import AutoModelForCausalLM, DynamicCache

    reference_model = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.float32).eval()
    lean = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.float32).eval()
    assert fastpath.install(lean) == 2
    ids = torch.randint(3, 700, (1, 30), generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        caches = DynamicCache(config=reference_model.config), ReservedCache(config=lean.config)
        outs = [m(input_ids=ids, cache=c, use_cache=True).logits for m, c in
                zip((reference_model, lean), caches, strict=True)]
        token = outs[0][:, -1:].argmax(-1)
        for _ in range(12):
            want = reference_model(input_ids=token, cache=caches[0], use_cache=True).logits
            got = lean(input_ids=token, cache=caches[1], use_cache=True).logits
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
            token = want[:, -1:].argmax(-1)
    assert fastpath._fused_attention(caches[1].layers[0].keys, caches[1].layers[0].values) == FUSED
