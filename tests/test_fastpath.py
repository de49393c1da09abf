"""The lean decode step (writing/fastpath.py): same tokens and logits as transformers' own layers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from writing import fastpath, quant


@pytest.fixture(scope="module")
def tiny128(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from writing.tiny import build

    return build(tmp_path_factory.mktemp("tiny128"), hidden_size=128)


def model_in(folder: Path, mode: str):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    quant.quantize_model(model, mode)
    return model.eval()


def greedy(model, ids: torch.Tensor, mask: torch.Tensor | None = None):
    with torch.inference_mode():
        return model.generate(ids, attention_mask=torch.ones_like(ids) if mask is None else mask, max_new_tokens=24,
                              do_sample=False, temperature=None, top_p=None, top_k=None, output_logits=True,
                              return_dict_in_generate=True)


@pytest.mark.parametrize("mode", ["none", "int8", "int4"])
def test_lean_decode_gives_identical_tokens_and_logits(tiny128, monkeypatch, mode):
    reference, lean = model_in(tiny128, mode), model_in(tiny128, mode)
    assert fastpath.install(lean) == 2 and fastpath.install(lean) == 0  # once per layer
    taken = []
    rotate = fastpath._rotate_half  # only the lean step calls it
    monkeypatch.setattr(fastpath, "_rotate_half", lambda x: taken.append(1) or rotate(x))
    ids = torch.randint(3, 700, (1, 20), generator=torch.Generator().manual_seed(4))
    want, got = greedy(reference, ids), greedy(lean, ids)
    assert torch.equal(got.sequences, want.sequences)
    assert all(torch.equal(a, b) for a, b in zip(got.logits, want.logits, strict=True))
    assert len(taken) == 2 * 2 * (len(got.logits) - 1)  # q and k, every layer, every step after the prompt


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
