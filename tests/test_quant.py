"""Weight-only int8/int4: quantiser round trips, fused kernel vs reference, model numerics, mode selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from writing.engines.base import GenerationStats
from writing.engines.local import LocalEngine
from writing.engines.params import make_params
from writing.runtime import kernels, quant

FUSED = kernels.load()
needs_fused = pytest.mark.skipif(not FUSED, reason=f"fused kernel unavailable: {kernels.why_not()}")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.fixture(scope="module")
def weight() -> torch.Tensor:
    return (torch.randn(192, 384, generator=torch.Generator().manual_seed(0)) * 0.02).to(torch.bfloat16)


def test_int8_round_trip_is_within_half_a_step(weight):
    q, s = quant.quantize_int8(weight)
    assert q.dtype == torch.int8 and s.shape == (192,)
    back = q.float() * s[:, None]
    assert (back - weight.float()).abs().max() <= s.max() / 2 + 1e-6
    assert rel(back, weight) < 0.01


def test_int4_round_trip_and_packing(weight):
    packed, d, m = quant.quantize_int4(weight)
    assert packed.shape == (192, 192) and packed.dtype == torch.uint8 and d.shape == (192, 12)
    back = quant.dequantize_int4(packed, d, m)
    assert (back - weight.float()).abs().max() <= d.float().max() * 0.51 + 1e-4
    assert rel(back, weight) < 0.1
    with pytest.raises(ValueError, match="divisible by 128"):
        quant.quantize_int4(weight[:, :100])


@needs_fused
@pytest.mark.parametrize("rows", [1, 3, 8])
def test_fused_int8_matches_reference(weight, rows):
    x = torch.randn(rows, 384, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
    q, s = quant.quantize_int8(weight)
    exact = F.linear(x.float(), q.float() * s[:, None])  # same weights, no activation quantisation
    out = torch.ops.studio_qmm.q8_mm(x, q, s)
    assert out.dtype == torch.bfloat16 and out.shape == (rows, 192)
    assert rel(out, exact) < 0.02  # int8 blocks of 32 on the activations
    deq = torch.ops.studio_qmm.q8_dequant(q, s)
    assert rel(deq, q.float() * s[:, None]) < 0.005  # bf16 rounding only


@needs_fused
@pytest.mark.parametrize("rows", [1, 5])
def test_fused_int4_matches_reference(weight, rows):
    x = torch.randn(rows, 384, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
    packed, d, m = quant.quantize_int4(weight)
    dense = quant.dequantize_int4(packed, d, m)
    out = torch.ops.studio_qmm.q4_mm(x, packed, d, m)
    assert rel(out, F.linear(x.float(), dense)) < 0.02
    assert rel(torch.ops.studio_qmm.q4_dequant(packed, d, m), dense) < 0.005


def load(path: Path):
    from writing.runtime.load import load as load_model

    return load_model(str(path), dtype="bfloat16")


def last_logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(ids).logits[0].float()


# Random weights are a worst case (no outliers for scales to fit, flat logits); measured on this
# tiny model: int8 ~0.02, int4 ~0.16 relative error. The bench reports the 4B-shape numbers.
@pytest.mark.parametrize(("mode", "bound"), [("int8", 0.05), ("int4", 0.25)])
@pytest.mark.parametrize("fused", [True, False])
def test_quantized_logits_stay_close_to_bf16(tiny128, monkeypatch, mode, bound, fused):
    if fused and not FUSED:
        pytest.skip(f"fused kernel unavailable: {kernels.why_not()}")
    monkeypatch.setattr(quant, "kernels_ready", lambda: fused)
    ids = torch.randint(3, 700, (1, 48), generator=torch.Generator().manual_seed(1))
    ref = last_logits(load(tiny128).model, ids)
    model = load(tiny128).model
    report = quant.quantize_model(model, mode)
    assert report.layers == 2 * 7 + 1 and report.backend == ("fused" if fused else "stock")
    assert report.bytes_after < report.bytes_before * (0.75 if mode == "int8" else 0.6)
    kinds = {type(module).__name__ for module in model.modules()}
    assert "Linear" not in kinds and "Int8Embedding" in kinds
    assert ("Int4Linear" in kinds) == (mode == "int4")
    for rows in (48, 12, 1):  # prompt (dequantise + GEMM), a short prompt (fused), decode (fused)
        assert rel(last_logits(model, ids[:, :rows]), ref[:rows]) < bound


def test_quantized_model_generates_through_the_engine(tiny_loaded, tiny_model_dir):
    from writing.runtime.load import load as load_model

    loaded = load_model(str(tiny_model_dir), dtype="bfloat16")
    quant.quantize_model(loaded.model, "int8")
    engine = LocalEngine(loaded.model, loaded.tokenizer, name="tiny-int8", context=2048)
    stats = GenerationStats()
    text = "".join(engine.stream([{"role": "user", "content": "Hello"}],
                                 make_params(temperature=0.0, max_new_tokens=8), stats=stats))
    assert stats.new_tokens == 8 and isinstance(text, str)


def test_mode_selection(tiny_model_dir):
    from writing.runtime.load import load as load_model

    loaded = load_model(str(tiny_model_dir), dtype="bfloat16")
    with pytest.raises(ValueError, match="int8"):
        quant.quantize_model(loaded.model, "int3")
    report = quant.quantize_model(loaded.model, "none")
    assert report.layers == 0 and report.bytes_after == report.bytes_before
    assert any(type(m).__name__ == "Linear" for m in loaded.model.modules())
    # hidden 64 is not a multiple of 128: int4 keeps those layers int8 rather than failing
    report = quant.quantize_model(loaded.model, "int4")
    kinds = [type(m).__name__ for m in loaded.model.modules()]
    assert "Linear" not in kinds and "Int8Linear" in kinds


def test_choose_mode_states_its_reason():
    assert quant.choose_mode("int4", fused=True).mode == "int4"
    auto = quant.choose_mode("auto", fused=True)
    assert auto.mode == quant.DEFAULT_MODE and auto.reason
    assert quant.choose_mode("auto", fused=False).mode == "none"
    with pytest.raises(ValueError, match="auto"):
        quant.choose_mode("int2", fused=True)


def test_studio_cli_accepts_quantize():
    import studio

    args = studio.build_parser().parse_args(["--quantize", "int4"])
    assert args.quantize == "int4"
    assert studio.build_parser().parse_args([]).quantize == "auto"
    with pytest.raises(SystemExit):
        studio.build_parser().parse_args(["--quantize", "int3"])


@needs_fused
@pytest.mark.parametrize("rows", [1, 3, 8])
def test_fused_bf16_gemv_matches_torch(weight, rows):
    x = torch.randn(rows, 384, generator=torch.Generator().manual_seed(rows)).to(torch.bfloat16)
    out = torch.ops.studio_qmm.bf16_mm(x, weight)
    assert out.dtype == torch.bfloat16 and out.shape == (rows, 192)
    assert rel(out, F.linear(x.float(), weight.float())) < 0.005  # fp32 sums; only the output is rounded


@needs_fused
def test_unquantised_bf16_decodes_through_the_kernel_with_the_same_weights(tiny128):
    from transformers import AutoModelForCausalLM

    reference = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.bfloat16)  # torch's kernels only
    model = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.bfloat16)
    embed_ptr = model.get_input_embeddings().weight.data_ptr()
    report = quant.quantize_model(model, "none")
    assert report.mode == "none" and report.backend == "fused" and report.layers == 2 * 7 + 1
    assert report.bytes_after == report.bytes_before  # nothing copied
    head = model.get_output_embeddings()
    assert type(head).__name__ == "Bf16Linear" and head.weight.data_ptr() == embed_ptr  # still tied
    ids = torch.randint(3, 700, (1, 24), generator=torch.Generator().manual_seed(2))
    assert torch.equal(last_logits(model, ids), last_logits(reference, ids))  # prompt rows: F.linear as before
    assert rel(last_logits(model, ids[:, :1]), last_logits(reference, ids[:, :1])) < 0.01  # decode: the kernel


@needs_fused
def test_dequantise_into_a_reused_buffer(weight):
    q, s = quant.quantize_int8(weight)
    packed, d, m = quant.quantize_int4(weight)
    buffer = quant._dequant_buffer(192, 384)
    torch.ops.studio_qmm.q8_dequant_into(q, s, buffer)
    assert torch.equal(buffer, torch.ops.studio_qmm.q8_dequant(q, s))
    again = quant._dequant_buffer(192, 384)
    assert again.data_ptr() == buffer.data_ptr()  # the same memory, layer after layer
    torch.ops.studio_qmm.q4_dequant_into(packed, d, m, again)
    assert torch.equal(again, torch.ops.studio_qmm.q4_dequant(packed, d, m))
    with pytest.raises(RuntimeError, match="out must be contiguous bf16"):
        torch.ops.studio_qmm.q8_dequant_into(q, s, torch.empty(10, 10, dtype=torch.bfloat16))
