"""The decode step's norm and rotary ops (kernels/decode_ops.cpp, used by writing/runtime/fastpath.py) against
transformers' own torch formulas, in fp32 (AVX2 machines' activations) and bf16 (native-bf16 machines'), on every
fused path this CPU runs; and a whole decoder layer's step with them against the same step in torch ops, on
every path, the stock one (no kernels: ARM64) included."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.support.kernel_paths import FUSED, PATHS, on_path
from writing.runtime import fastpath, kernels
from writing.runtime.kvcache import ReservedCache


def torch_norm_rope(x: torch.Tensor, w: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, eps: float):
    """transformers' q_norm + apply_rotary_pos_emb for one position: x [heads, d] -> [heads, d]."""
    x = fastpath._rms(x, w, eps)
    return x * cos + fastpath._rotate_half(x) * sin


def agree(got: torch.Tensor, want: torch.Tensor) -> None:
    """Equal up to the last place: fp32 within 1e-6 relative; bf16 off by one unit in at most 2% of the values
    (a sum of squares added in another order can round a normalised value the other way)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype == torch.float32:
        assert float((got - want).abs().max()) <= 1e-6 * float(want.abs().max())
        return
    diff = (got.float() - want.float()).abs()
    ulp = want.float().abs().clamp(min=1e-30) * 2.0**-7
    assert bool((diff <= ulp).all()), float((diff / ulp).max())
    assert float((diff > 0).float().mean()) <= 0.02


@pytest.mark.parametrize("path", PATHS[:-1] or ["(none)"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_ops_repeat_transformers_arithmetic(path, dtype):
    if not FUSED:
        pytest.fail(f"no fused kernels on this machine ({kernels.why_not()}): the decode step uses torch's ops "
                    "(test_a_layer_step_is_the_same_with_either_ops covers that)")
    g = torch.Generator().manual_seed(0)
    h, o = (torch.randn(1, 1, 640, generator=g) * 3).to(dtype), torch.randn(1, 1, 640, generator=g).to(dtype)
    w = (torch.rand(640, generator=g) + 0.5).to(dtype)
    heads = (torch.randn(12, 128, generator=g) * 4).to(dtype)
    hw = (torch.rand(128, generator=g) + 0.5).to(dtype)
    angle = torch.rand(1, 1, 64, generator=g) * 6.3
    cos, sin = torch.cat([angle.cos()] * 2, -1).to(dtype), torch.cat([angle.sin()] * 2, -1).to(dtype)
    with on_path(path):
        ops = torch.ops.studio_qmm
        agree(ops.rms_norm(h, w, 1e-6), fastpath._rms(h, w, 1e-6))
        total, normed = ops.add_rms_norm(h, o, w, 1e-6)
        assert torch.equal(total, h + o)
        agree(normed, fastpath._rms(h + o, w, 1e-6))
        rotated = ops.norm_rope(heads.reshape(1, 1, -1), hw, cos, sin, 1e-6)
        agree(rotated, torch_norm_rope(heads, hw, cos[0], sin[0], 1e-6))
        strided = torch.randn(12, 256, generator=g).to(dtype)[:, ::2]  # not contiguous: copied first
        agree(ops.norm_rope(strided, hw, cos, sin, 1e-6), torch_norm_rope(strided, hw, cos[0], sin[0], 1e-6))


@pytest.mark.parametrize("path", PATHS[:-1] or ["(none)"])
def test_the_ops_refuse_what_they_cannot_compute(path):
    if not FUSED:
        pytest.fail(f"no fused kernels on this machine ({kernels.why_not()})")
    ops = torch.ops.studio_qmm
    x, w = torch.randn(2, 64), torch.ones(64)
    with on_path(path):
        with pytest.raises(RuntimeError, match="fp32 or bf16 only"):
            ops.rms_norm(x.half(), w.half(), 1e-6)
        with pytest.raises(RuntimeError, match="the input's dtype"):
            ops.rms_norm(x, w.bfloat16(), 1e-6)
        with pytest.raises(RuntimeError, match="rows of 48 values"):
            ops.rms_norm(x, torch.ones(48), 1e-6)
        with pytest.raises(RuntimeError, match="one shape and dtype"):
            ops.add_rms_norm(x, x[:1], w, 1e-6)
        with pytest.raises(RuntimeError, match="one position"):
            ops.norm_rope(x, w, torch.ones(2, 64), torch.ones(2, 64), 1e-6)
        with pytest.raises(RuntimeError, match="must be even"):
            ops.norm_rope(torch.randn(2, 63), torch.ones(63), torch.ones(63), torch.ones(63), 1e-6)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_layer_step_is_the_same_with_either_ops(tiny128, path, dtype):
    model = AutoModelForCausalLM.from_pretrained(tiny128, dtype=dtype).eval()
    layer = model.model.layers[1]
    parts = fastpath._parts(layer)
    g = torch.Generator().manual_seed(3)
    prompt = torch.randn(1, 7, model.config.hidden_size, generator=g).to(dtype)
    token = torch.randn(1, 1, model.config.hidden_size, generator=g).to(dtype)
    kv_heads = model.config.num_key_value_heads
    cached = [torch.randn(1, kv_heads, 7, parts.head_dim, generator=g).to(dtype) for _ in range(2)]
    cos, sin = model.model.rotary_emb(prompt, torch.tensor([[7]]))  # the 8th position
    out = {}
    with torch.inference_mode(), on_path(path):
        for glue in ("decode_ops", "torch"):
            cache = ReservedCache(config=model.config)
            cache.update(*cached, 1)  # 7 tokens cached before this one
            with fastpath.torch_glue() if glue == "torch" else mock.patch.dict(fastpath._GLUE):
                glued = fastpath._glue_ops(token, parts) is not None
                assert glued == (glue == "decode_ops" and path != kernels.STOCK)
                out[glue] = fastpath._decode_step(parts, token, cache, (cos, sin))
    assert out["torch"].shape == token.shape
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    assert float((out["decode_ops"].float() - out["torch"].float()).norm() / out["torch"].float().norm()) < tolerance
