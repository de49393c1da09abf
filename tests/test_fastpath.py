"""The lean decode step (writing/runtime/fastpath.py): same tokens and logits as transformers' own layers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from writing.runtime import fastpath, quant


def model_in(folder: Path, mode: str):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    quant.quantize_model(model, mode)
    return model.eval()


def greedy(model, ids: torch.Tensor, mask: torch.Tensor | None = None):
    with torch.inference_mode():
        return model.generate(ids, attention_mask=torch.ones_like(ids) if mask is None else mask, max_new_tokens=24,
                              do_sample=False, temperature=None, top_p=None, top_k=None, output_logits=True,
                              return_dict_in_generate=True)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.mark.parametrize("mode", ["none", "int8", "int4"])
def test_lean_decode_matches_the_original_layers(tiny128, monkeypatch, mode):
    reference, lean = model_in(tiny128, mode), model_in(tiny128, mode)
    assert fastpath.install(lean) == 2 and fastpath.install(lean) == 0  # once per layer
    taken = []
    rotate = fastpath._rotate_half  # only the lean step calls it
    monkeypatch.setattr(fastpath, "_rotate_half", lambda x: taken.append(1) or rotate(x))
    ids = torch.randint(3, 700, (1, 20), generator=torch.Generator().manual_seed(4))
    want = greedy(reference, ids)
    lean_run = greedy(lean, ids)
    assert torch.equal(lean_run.logits[0], want.logits[0])  # the prompt: the original path, bit for bit
    assert len(taken) == 2 * 2 * (len(lean_run.logits) - 1)  # q and k, every layer, every step after the prompt
    # Decode steps on the same tokens: fp32 attention instead of torch's bf16 flash kernel, so close, not equal.
    # Quantised layers re-quantise their input, which turns tiny differences into ~1-3% on this random model:
    # the fair check is that the lean path is as close to the exact (fp32, unquantised) model as the original.
    exact_model = AutoModelForCausalLM.from_pretrained(tiny128, dtype=torch.float32).eval()
    exact = stepwise(exact_model, want.sequences, 20)
    original, mine = stepwise(reference, want.sequences, 20), stepwise(lean, want.sequences, 20)
    if mode == "none":
        assert max(rel(a, b) for a, b in zip(mine, original, strict=True)) < 1e-2
    error_original = sum(rel(a, e) for a, e in zip(original, exact, strict=True)) / len(exact)
    error_mine = sum(rel(a, e) for a, e in zip(mine, exact, strict=True)) / len(exact)
    assert error_mine <= error_original * 1.05 + 1e-3, (error_mine, error_original)


def stepwise(model, sequence: torch.Tensor, prompt: int) -> list[torch.Tensor]:
    """Logits of each token after the prompt, fed one at a time through the cache (the decode path)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        model(sequence[:, :prompt], cache=cache, use_cache=True)
        return [model(sequence[:, i:i + 1], cache=cache, use_cache=True).logits[0, -1].float()
                for i in range(prompt, sequence.shape[1])]


def test_one_query_attention_is_exact_attention():
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(1, 8, 1, 32, generator=gen).bfloat16()
    k, v = torch.randn(1, 2, 50, 32, generator=gen).bfloat16(), torch.randn(1, 2, 50, 32, generator=gen).bfloat16()
    heads = torch.arange(8) // 4  # query head -> its key/value head
    scores = (q.float()[0, :, 0, None, :] @ k.float()[0, heads].transpose(-1, -2))[:, 0] / 32**0.5  # [8, 50]
    exact = (torch.softmax(scores, -1)[:, None, :] @ v.float()[0, heads])[:, 0]  # [8, 32]
    got = fastpath._one_query_attention(q, k, v, 32**-0.5)
    assert got.shape == (1, 8, 1, 32) and rel(got[0, :, 0], exact) < 5e-3  # bf16 output rounding only


def test_batches_and_padding_take_the_original_path(tiny128, monkeypatch):
    reference, lean = model_in(tiny128, "int8"), model_in(tiny128, "int8")
    fastpath.install(lean)
    taken = []
    rotate = fastpath._rotate_half
    monkeypatch.setattr(fastpath, "_rotate_half", lambda x: taken.append(1) or rotate(x))
    ids = torch.randint(3, 700, (2, 12), generator=torch.Generator().manual_seed(5))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # left padding in the second row
    want, got = greedy(reference, ids, mask), greedy(lean, ids, mask)
    assert torch.equal(got.sequences, want.sequences) and not taken


def test_models_it_does_not_know_are_left_alone(tiny128):
    model = model_in(tiny128, "none")
    model.config.hidden_act = "gelu"
    assert fastpath.install(model) == 0
    model.config.hidden_act = "silu"
    model.model.layers[0].self_attn.sliding_window = 128
    assert fastpath.install(model) == 1  # the sliding-window layer keeps its own forward
